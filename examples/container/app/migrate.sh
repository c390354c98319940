# The "migration": run once per deploy, in a one-off container of the new
# image, before it goes live. It writes to the data directory, which lives on
# the host (shared/data) and outlives every release.
/bin/busybox mkdir -p /data
/bin/busybox echo "migrated $(/bin/busybox cat /app/www/version.txt)" >>/data/migrations.log
