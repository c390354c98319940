# The container's command: busybox httpd on $PORT (ferry passes this port or
# the next), after writing the greeting that comes from the .env.
/bin/busybox echo "$GREETING from $APP_ENV" >/app/www/greeting.txt
/bin/busybox echo "serving on port $PORT" >&2
exec /bin/busybox httpd -f -p "$PORT" -h /app/www
