"""Settings in the shape of a Django project's: everything secret or
particular to a server comes from the environment (the deploy's .env,
which ferry puts in the environment of the service, the build, migrations,
tasks and `ferry <env> run`), nothing from the repository."""

import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ImproperlyConfigured(Exception):
    pass


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured("set %s in the environment (the deploy's .env)" % name)
    return value


SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env("DJANGO_DEBUG", "") == "y"
# Hosts this site answers for; any other Host header gets a 400, as Django does.
ALLOWED_HOSTS = [h.strip() for h in env("DJANGO_ALLOWED_HOSTS", "localhost").split(",") if h.strip()]
# SQLite in shared/ (linked into the release), or a path every server shares.
DATABASE = os.path.join(BASE_DIR, env("DATABASE_PATH", "db.sqlite3"))
STATIC_URL = "/static/"
STATICFILES_DIRS = [os.path.join(BASE_DIR, "static")]
STATIC_ROOT = os.path.join(BASE_DIR, "staticfiles")  # what collectstatic fills, nginx serves
