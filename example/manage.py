"""Management commands for the example app, in Django's spirit:
`python manage.py migrate` applies migrations/*.sql in order, once each;
`python manage.py check` verifies the settings."""

import os
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import app  # noqa: E402


def migrate():
    folder = os.path.join(HERE, "migrations")
    with app.database() as db:
        db.execute("CREATE TABLE IF NOT EXISTS migration (name TEXT PRIMARY KEY)")
        done = {row[0] for row in db.execute("SELECT name FROM migration")}
        for name in sorted(os.listdir(folder)):
            if name.endswith(".sql") and name not in done:
                with open(os.path.join(folder, name)) as sql:
                    db.executescript(sql.read())
                db.execute("INSERT INTO migration VALUES (?)", (name,))
                print("applied", name)
    print("migrations up to date")


def check():
    missing = [key for key in ("SECRET_KEY",) if not app.settings().get(key)]
    if missing:
        sys.exit("missing settings in .env: " + ", ".join(missing))
    print("settings ok")


if __name__ == "__main__":
    commands = {"migrate": migrate, "check": check}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit("usage: manage.py migrate|check")
    try:
        commands[sys.argv[1]]()
    except sqlite3.Error as error:
        sys.exit("%s: %s" % (type(error).__name__, error))
