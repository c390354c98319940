"""The example app ferry deploys: a small WSGI application in the shape of a
Django or Pyramid project (settings from .env, a SQLite database in shared/,
migrations, static files), with no dependencies beyond the standard library
so any host with python3 can run it. gunicorn serves it in production."""

import json
import os
import sqlite3

# The release this process started in (a slot's link resolved once): the
# code, the venv and release.json of one release for the process's life.
HERE = os.path.dirname(os.path.realpath(__file__))


def settings():
    """KEY=value lines of .env (shared, linked into every release)."""
    values = {}
    try:
        with open(os.path.join(HERE, ".env")) as env:
            for line in env:
                key, sep, value = line.strip().partition("=")
                if sep and not key.startswith("#"):
                    values[key] = value.strip().strip('"')
    except FileNotFoundError:
        pass
    return values


def release():
    """What ferry recorded about this release, if it was deployed by ferry."""
    try:
        with open(os.path.join(HERE, ".ferry", "release.json")) as manifest:
            return json.load(manifest)
    except (FileNotFoundError, ValueError):
        return {}


def database():
    """DATABASE in .env: a path shared by every app server (the way they
    share a PostgreSQL server), or db.sqlite3 in shared/ by default."""
    return sqlite3.connect(os.path.join(HERE, settings().get("DATABASE", "db.sqlite3")))


def visits():
    with database() as db:
        db.execute("INSERT INTO visit DEFAULT VALUES")
        return db.execute("SELECT count(*) FROM visit").fetchone()[0]


def health():
    """Healthy when the database answers and is migrated."""
    with database() as db:
        db.execute("SELECT count(*) FROM visit").fetchone()
    return "ok\n"


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    try:
        if path == "/health":
            body, status = health(), "200 OK"
        elif path == "/release":
            # Which release answers, without touching the database: what a
            # load balancer's or a test's many requests may ask.
            info = release()
            body = "%s %s\n" % (info.get("id", "unreleased"), info.get("revision", "unknown")[:12])
            status = "200 OK"
        elif path == "/":
            info = release()
            greeting = settings().get("GREETING", "Hello")
            body = "%s from example %s (revision %s), visit %d\n" % (
                greeting,
                info.get("id", "unreleased"),
                info.get("revision", "unknown")[:12],
                visits(),
            )
            status = "200 OK"
        else:
            body, status = "not found\n", "404 Not Found"
    except sqlite3.Error as error:
        body, status = "database error: %s\n" % error, "500 Internal Server Error"
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    port = int(os.environ.get("PORT", "8000"))
    make_server("0.0.0.0", port, application).serve_forever()
