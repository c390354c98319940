//! A Django app's redeploy to one test host with `[deploy.virtualenv]`:
//! the first deploy builds the environment (Django, gunicorn and whitenoise
//! from wheels), a redeploy with one app file changed and the requirements
//! unchanged links the same environment and runs no pip. For contrast, the
//! same two steps with a virtualenv per release (`copy_from_current =
//! ["venv"]` and `pip install -r` in the build, as the example app does).
//! Each deploy also collects static files (whitenoise), migrates a SQLite
//! database in `shared/` and restarts gunicorn under supervisor, with a
//! health check: what a small Django app's deploy does. Each setup has a
//! host of its own and they take turns, so that both see the same moments
//! of a shared machine's load. For each step: wall time (a redeploy: median
//! of 3), ferry's phase timings, and the size of the virtualenvs on the host.
//!
//! The test hosts have no route to PyPI: the wheels are fetched once, with
//! `pip download` on this machine, into a directory the hosts read.
//!
//! Run as root: `cargo bench --bench venv`.

// A benchmark reports on stdout; the print lints guard the library, not this.
#![allow(clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::figures::ms;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::app::{App, ferry, supervise};
use common::ferry::{Ran, write_config};
use common::hosts::{Host, Lab, require_root};

const RUNS: usize = 3;
/// Outside the hosts' private directories, so every host reads it.
const WHEELS: &str = "/var/cache/ferry-bench/wheels";
const REQUIREMENTS: &str = "Django==5.2.19\ngunicorn==27.0.1\nwhitenoise==6.12.0\n";
/// The hosts' interpreter (not this machine's first `python3` on PATH).
const PYTHON: &str = "/usr/bin/python3";

/// What both setups share: the database, static files, the service and its probe.
const COMMON: &str = r#"
[deploy]
shared_files = ["db.sqlite3"]
exclude = ["__pycache__"]
migrate = ["venv/bin/python manage.py migrate --noinput -v0"]
BUILD

[deploy.health]
url = "http://127.0.0.1:8000/health/"
expect = "ok"
deadline = 30

[services.web]
roles = ["app"]
command = "/srv/app/current/venv/bin/gunicorn --bind 0.0.0.0:8000 --workers 2 --chdir /srv/app/current app:application"
user = "deploy"
on_deploy = "restart"
"#;

fn main() {
    require_root();
    fetch_wheels();
    let install =
        format!("pip install --quiet --no-index --find-links {WHEELS} -r requirements.txt");
    let shared = format!(
        "{}\n[deploy.virtualenv]\npython = \"{PYTHON}\"\ninstall = [\"{install}\"]\n",
        COMMON.replace(
            "BUILD",
            "build = [\"venv/bin/python manage.py collectstatic --noinput -v0\"]"
        )
    );
    let per_release = COMMON.replace(
        "BUILD",
        &format!(
            "copy_from_current = [\"venv\"]\nbuild = [\n  \"[ -x venv/bin/python ] || {PYTHON} -m venv venv\",\n  \"venv/bin/{install}\",\n  \"venv/bin/python manage.py collectstatic --noinput -v0\",\n]"
        ),
    );
    // One host for each setup; they take turns, so that both see the same
    // moments of a shared machine's load.
    let lab = Lab::start(2);
    let setups = [
        Setup::new(
            &lab,
            0,
            "`[deploy.virtualenv]` (one, shared)",
            &shared,
            "/srv/app/.ferry/venvs/*",
        ),
        Setup::new(
            &lab,
            1,
            "`copy_from_current = [\"venv\"]` (one per release)",
            &per_release,
            "/srv/app/releases/*/venv",
        ),
    ];
    let first: Vec<(Duration, Ran)> = setups.iter().map(|s| deploy(&lab, &s.app)).collect();
    let links: Vec<String> = setups.iter().map(|s| venv_link(s.host)).collect();
    let sizes: Vec<String> = setups.iter().map(|s| du(s.host, s.venvs)).collect();
    let mut redeploys: Vec<Vec<(Duration, Ran)>> = setups.iter().map(|_| Vec::new()).collect();
    for n in 0..RUNS {
        for (setup, runs) in setups.iter().zip(&mut redeploys) {
            setup.app.write(
                "lists/views.py",
                &VIEWS.replace("VERSION = 1", &format!("VERSION = {}", n + 2)),
            );
            setup.app.commit("one view changed");
            runs.push(deploy(&lab, &setup.app));
        }
    }
    // With [deploy.virtualenv], every redeploy linked the first deploy's
    // environment; with a copy per release, each has its own.
    assert_eq!(
        venv_link(setups[0].host),
        links[0],
        "the environment was not reused"
    );
    assert_eq!(
        venv_link(setups[1].host).trim(),
        "none",
        "a copy, not a link"
    );

    println!(
        "| virtualenv | step | wall time | ferry's phases | virtualenvs on the host (`du -sh`) |"
    );
    println!("|---|---|---:|---|---:|");
    for (((setup, first), size), mut runs) in setups.iter().zip(&first).zip(&sizes).zip(redeploys) {
        let label = setup.label;
        println!(
            "| {label} | first deploy (builds the virtualenv) | {} | {} | {size} |",
            ms(first.0),
            first.1.phase_list(),
        );
        runs.sort_by_key(|(wall, _)| *wall);
        let (wall, ran) = &runs[RUNS / 2];
        println!(
            "| {label} | one app file changed, same requirements (median of {RUNS}) | {} | {} | {} |",
            ms(*wall),
            ran.phase_list(),
            du(setup.host, setup.venvs)
        );
        // The app serves the last change, from the environment it was deployed with.
        let page = setup.host.exec_ok("curl -fsS http://127.0.0.1:8000/");
        assert!(page.contains(&format!("version {}", RUNS + 1)), "{page}");
    }
}

/// One way to give the app its virtualenv, on a host of its own.
struct Setup<'a> {
    label: &'static str,
    host: &'a Host,
    app: App,
    /// The virtualenvs on the host, as a shell pattern.
    venvs: &'static str,
}

impl<'a> Setup<'a> {
    /// The app, committed, with a ferry.toml that deploys it to host `i`
    /// alone, the service under supervisor there.
    fn new(lab: &'a Lab, i: usize, label: &'static str, extra: &str, venvs: &'static str) -> Self {
        let host = lab.host(i);
        supervise(host);
        let app = App::at(&lab.dir().join(format!("django-app-{i}")));
        make_django(&app);
        let target = host.target();
        write_config(
            &app.dir,
            &format!(
                "app = \"app\"\ndeploy_to = \"/srv/app\"\nconnect_timeout = 3\nkeepalive = 2\n\n{extra}\n\n\
                 [environments.lab]\nhosts = [\"{target}\"]\nroles.app = [\"{target}\"]\n"
            ),
        );
        app.commit("v1");
        Setup {
            label,
            host,
            app,
            venvs,
        }
    }
}

fn deploy(lab: &Lab, app: &App) -> (Duration, Ran) {
    let started = Instant::now();
    let ran = ferry(lab, app, &["lab", "deploy", "--json"]);
    let wall = started.elapsed();
    ran.success();
    (wall, ran)
}

/// Where the live release's `venv` points (itself, for a copied one).
fn venv_link(host: &Host) -> String {
    host.exec_ok("readlink /srv/app/current/venv || echo none")
}

/// Disk used by the virtualenvs matching `pattern` on the host, all together
/// (a file hard-linked from several counts once), and how many there are.
fn du(host: &Host, pattern: &str) -> String {
    let script =
        format!("set -- {pattern}; echo \"$(du -shc \"$@\" | tail -n 1 | cut -f 1) in $#\"");
    let out = host.exec_ok(&script);
    let (size, n) = out.trim().split_once(" in ").unwrap();
    format!("{size} ({n} env{})", if n == "1" { "" } else { "s" })
}

/// The wheels REQUIREMENTS need (and theirs), fetched once from PyPI.
fn fetch_wheels() {
    let have = std::fs::read_dir(WHEELS)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("django-5.2.19"))
        })
        .unwrap_or(false);
    if have {
        return;
    }
    std::fs::create_dir_all(WHEELS).unwrap();
    let requirements = Path::new(WHEELS).join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS).unwrap();
    let status = Command::new(PYTHON)
        .args(["-m", "pip", "download", "--quiet", "--only-binary=:all:"])
        .args(["--dest", WHEELS, "--requirement"])
        .arg(&requirements)
        .status()
        .unwrap();
    assert!(status.success(), "pip download into {WHEELS}");
}

/// A small Django site in the shape of a tutorial's to-do lists app: one
/// app with a model, a migration, a template and a stylesheet served by
/// whitenoise; `app.py` is its WSGI entry for gunicorn.
fn make_django(app: &App) {
    std::fs::create_dir_all(&app.dir).unwrap();
    app.write("requirements.txt", REQUIREMENTS);
    app.write(
        "manage.py",
        "import os\nimport sys\n\nif __name__ == \"__main__\":\n    \
         os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"superlists.settings\")\n    \
         from django.core.management import execute_from_command_line\n\n    \
         execute_from_command_line(sys.argv)\n",
    );
    app.write(
        "app.py",
        "import os\n\nos.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"superlists.settings\")\n\n\
         from django.core.wsgi import get_wsgi_application\n\napplication = get_wsgi_application()\n",
    );
    app.write("superlists/__init__.py", "");
    app.write("superlists/settings.py", SETTINGS);
    app.write(
        "superlists/urls.py",
        "from django.urls import path\n\nfrom lists import views\n\nurlpatterns = [\n    \
         path(\"\", views.home_page, name=\"home\"),\n    path(\"health/\", views.health),\n]\n",
    );
    app.write("lists/__init__.py", "");
    app.write(
        "lists/models.py",
        "from django.db import models\n\n\nclass Item(models.Model):\n    text = models.TextField(default=\"\")\n",
    );
    app.write("lists/migrations/__init__.py", "");
    app.write(
        "lists/migrations/0001_initial.py",
        "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n    \
         initial = True\n    dependencies = []\n    operations = [\n        migrations.CreateModel(\n            \
         name=\"Item\",\n            fields=[\n                (\"id\", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),\n                \
         (\"text\", models.TextField(default=\"\")),\n            ],\n        ),\n    ]\n",
    );
    app.write("lists/views.py", VIEWS);
    app.write(
        "lists/templates/home.html",
        "{% load static %}<!doctype html>\n<html><head><link rel=\"stylesheet\" href=\"{% static 'lists.css' %}\">\
         <title>To-Do lists</title></head>\n<body><h1>Your To-Do list</h1><p>version {{ version }}, {{ count }} items</p></body></html>\n",
    );
    app.write(
        "lists/static/lists.css",
        "body { font-family: sans-serif; margin: 2em; }\nh1 { font-size: 2em; }\n",
    );
    app.git(&["init", "--quiet", "--initial-branch=main"]);
}

const VIEWS: &str = "from django.http import HttpResponse\nfrom django.shortcuts import render\n\n\
from lists.models import Item\n\nVERSION = 1\n\n\ndef home_page(request):\n    \
return render(request, \"home.html\", {\"version\": VERSION, \"count\": Item.objects.count()})\n\n\n\
def health(request):\n    return HttpResponse(\"ok\")\n";

const SETTINGS: &str = "from pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n\
SECRET_KEY = \"bench-only\"\nDEBUG = False\nALLOWED_HOSTS = [\"*\"]\n\
INSTALLED_APPS = [\n    \"django.contrib.contenttypes\",\n    \"django.contrib.staticfiles\",\n    \"lists\",\n]\n\
MIDDLEWARE = [\n    \"django.middleware.security.SecurityMiddleware\",\n    \
\"whitenoise.middleware.WhiteNoiseMiddleware\",\n    \"django.middleware.common.CommonMiddleware\",\n]\n\
ROOT_URLCONF = \"superlists.urls\"\n\
TEMPLATES = [\n    {\n        \"BACKEND\": \"django.template.backends.django.DjangoTemplates\",\n        \
\"APP_DIRS\": True,\n    }\n]\n\
WSGI_APPLICATION = \"app.application\"\n\
DATABASES = {\"default\": {\"ENGINE\": \"django.db.backends.sqlite3\", \"NAME\": BASE_DIR / \"db.sqlite3\"}}\n\
STATIC_URL = \"/static/\"\nSTATIC_ROOT = BASE_DIR / \"static\"\n\
STORAGES = {\n    \"default\": {\"BACKEND\": \"django.core.files.storage.FileSystemStorage\"},\n    \"staticfiles\": {\"BACKEND\": \"whitenoise.storage.CompressedManifestStaticFilesStorage\"},\n}\n\
DEFAULT_AUTO_FIELD = \"django.db.models.BigAutoField\"\n";
