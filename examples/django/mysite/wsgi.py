"""The WSGI application gunicorn serves (`mysite.wsgi:application`)."""

import json
import os
import sqlite3

from mysite import settings, signing


def allowed(host):
    """Django's ALLOWED_HOSTS check: exact names, `.example.com` for a
    domain and its subdomains, `*` for any."""
    host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    host = host.lower()
    for pattern in settings.ALLOWED_HOSTS:
        pattern = pattern.lower()
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith(".") and (host == pattern[1:] or host.endswith(pattern)):
            return True
    return False


def release():
    """What ferry recorded about this release."""
    try:
        with open(os.path.join(settings.BASE_DIR, ".ferry", "release.json")) as record:
            return json.load(record)
    except (FileNotFoundError, ValueError):
        return {}


def database():
    return sqlite3.connect(settings.DATABASE)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if not allowed(environ.get("HTTP_HOST", "")):
        body, status = "Bad Request (400)\n", "400 Bad Request"
    elif path == "/health":
        # Healthy when the database is migrated.
        try:
            with database() as db:
                db.execute("SELECT count(*) FROM visit").fetchone()
            body, status = "ok\n", "200 OK"
        except sqlite3.Error as error:
            body, status = "database error: %s\n" % error, "500 Internal Server Error"
    elif path == "/":
        with database() as db:
            db.execute("INSERT INTO visit DEFAULT VALUES")
            count = db.execute("SELECT count(*) FROM visit").fetchone()[0]
        body = "mysite %s, visit %d, signed hello %s\n" % (
            release().get("id", "unreleased"),
            count,
            signing.signature("hello"),
        )
        status = "200 OK"
    else:
        body, status = "Not Found\n", "404 Not Found"
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
