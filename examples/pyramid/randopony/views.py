"""The views: what each route answers, given the request and the settings."""

import json
import os

HERE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def release():
    """What ferry recorded about the release this process runs."""
    try:
        with open(os.path.join(HERE, ".ferry", "release.json")) as record:
            return json.load(record).get("id", "unreleased")
    except (FileNotFoundError, ValueError):
        return "unreleased"


def home(environ, settings):
    return "200 OK", "RandoPony %s, release %s\n" % (settings["environment"], release())


def health(environ, settings):
    return "200 OK", "ok\n"


def not_found(environ, settings):
    return "404 Not Found", "Not Found\n"
