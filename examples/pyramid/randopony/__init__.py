"""A web app in the shape of a Pyramid project (RandoPony's): `main` is the
application factory a paste .ini names (`use = egg:randopony`), here
called once for gunicorn (`randopony:application`). Settings come from the
environment, which ferry fills from the deploy's .env: one .env per
environment, so staging and production can share a host."""

import os

from randopony import views


def main(global_config=None, **settings):
    settings = dict(settings)
    settings.setdefault("environment", os.environ.get("RANDOPONY_ENV", "development"))
    settings.setdefault("session_secret", os.environ.get("SESSION_SECRET", ""))
    if not settings["session_secret"]:
        raise RuntimeError("set SESSION_SECRET in the environment (the deploy's .env)")
    routes = {"/": views.home, "/health": views.health}

    def application(environ, start_response):
        view = routes.get(environ.get("PATH_INFO", "/"), views.not_found)
        status, body = view(environ, settings)
        data = body.encode()
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
        return [data]

    return application


application = main()
