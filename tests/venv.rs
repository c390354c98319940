//! `[deploy.virtualenv]` on a real host: one environment per set of
//! requirements and interpreter, built once, read-only, linked into every
//! release that needs it, rebuilt when the requirements change, removed
//! when no release uses it. pip reads the test wheels, not PyPI.

mod common;

use std::os::unix::fs::MetadataExt;

use common::app::{App, WHEELS, current, ferry, wait_for};
use common::ferry::{lab_config, write_config};
use common::hosts::{Host, Lab};

fn project(lab: &Lab) -> App {
    let app = App::at(&lab.dir().join("venv-app"));
    std::fs::create_dir_all(&app.dir).unwrap();
    app.write("app.py", "VERSION = 1\n");
    app.write("requirements.txt", "gunicorn\n");
    // Each install appends a line on the host: how many times pip ran.
    let extra = format!(
        "[deploy]\nbuild = [\"venv/bin/python -c 'import gunicorn'\"]\n\n[deploy.virtualenv]\ninstall = [\n  \"echo ran >> /tmp/installs\",\n  \"pip install --quiet --no-index --find-links {WHEELS} -r requirements.txt\",\n]\n"
    );
    write_config(&app.dir, &lab_config(lab, &extra));
    app.git(&["init", "--quiet", "--initial-branch=main"]);
    app.commit("v1");
    app
}

fn installs(host: &Host) -> usize {
    std::fs::read_to_string(host.path("/tmp/installs"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// Where the live release's `venv` link points.
fn venv(host: &Host) -> String {
    let link = host.path("/srv/app/current/venv");
    std::fs::read_link(link)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_virtualenv_is_reused_while_the_requirements_stay_and_rebuilt_when_they_change() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let app = project(&lab);
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let first = venv(host);
    assert!(first.starts_with("/srv/app/.ferry/venvs/"), "{first}");
    assert_eq!(installs(host), 1);
    let env = host.path(&first);
    let inode = std::fs::metadata(&env).unwrap().ino();
    assert_eq!(
        std::fs::metadata(&env).unwrap().mode() & 0o222,
        0,
        "read-only once built"
    );

    // New code, same requirements: the same environment, no pip.
    app.write("app.py", "VERSION = 2\n");
    app.commit("v2");
    let ran = ferry(&lab, &app, &["lab", "deploy"]);
    ran.success();
    assert_eq!(venv(host), first);
    assert_eq!(std::fs::metadata(&env).unwrap().ino(), inode);
    assert_eq!(installs(host), 1, "pip ran again:\n{}", ran.stdout);

    // Changed requirements: a new environment, installed once.
    app.write("requirements.txt", "gunicorn\npackaging\n");
    app.commit("v3");
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let second = venv(host);
    assert_ne!(second, first);
    assert_eq!(installs(host), 2);
    host.exec_ok("/srv/app/current/venv/bin/python -c 'import packaging, gunicorn'");

    // Once no kept release uses the first environment, it goes.
    app.write("app.py", "VERSION = 4\n");
    app.commit("v4");
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let releases = current(host).unwrap();
    ferry(&lab, &app, &["lab", "cleanup", "--set", "keep_releases=1"]).success();
    wait_for("the first environment to be removed", || !env.exists());
    assert!(host.path(&second).exists(), "the live one stays");
    assert_eq!(current(host).unwrap(), releases);
}
