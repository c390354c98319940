#!/usr/bin/env python3
"""Management commands in Django's shape, with the standard library only:

    python manage.py check                  the settings load (DJANGO_SECRET_KEY is set)
    python manage.py migrate                migrations/*.sql, once each, in order
    python manage.py collectstatic --noinput    static/ into staticfiles/
    python manage.py sign VALUE             VALUE signed with the secret key
"""

import os
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv):
    from mysite import settings, signing

    command, args = (argv[1], argv[2:]) if len(argv) > 1 else ("help", [])
    if command == "check":
        print("System check identified no issues (0 silenced).")
    elif command == "migrate":
        folder = os.path.join(settings.BASE_DIR, "migrations")
        with sqlite3.connect(settings.DATABASE) as db:
            db.execute("CREATE TABLE IF NOT EXISTS migration (name TEXT PRIMARY KEY)")
            done = {row[0] for row in db.execute("SELECT name FROM migration")}
            for name in sorted(os.listdir(folder)):
                if name.endswith(".sql") and name not in done:
                    with open(os.path.join(folder, name)) as sql:
                        db.executescript(sql.read())
                    db.execute("INSERT INTO migration VALUES (?)", (name,))
                    print("  Applying %s... OK" % name)
        print("Migrations up to date.")
    elif command == "collectstatic":
        copied = 0
        for source in settings.STATICFILES_DIRS:
            for root, _, files in os.walk(source):
                target = os.path.join(settings.STATIC_ROOT, os.path.relpath(root, source))
                os.makedirs(target, exist_ok=True)
                for name in files:
                    shutil.copy2(os.path.join(root, name), target)
                    copied += 1
        print("%d static files copied to '%s'." % (copied, settings.STATIC_ROOT))
    elif command == "sign" and len(args) == 1:
        print(signing.signature(args[0]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Exception as error:  # ImproperlyConfigured, sqlite3.Error
        sys.exit("%s: %s" % (type(error).__name__, error))
