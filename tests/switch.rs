//! The switch behind nginx on real hosts: the example app provisioned by
//! `ferry provision` (supervisor running two slots of gunicorn, nginx
//! including the upstream file), deployed and rolled back under a steady
//! load that must see no failed request; a changed requirements.txt that
//! takes effect with its deploy; and `restart` that never has two hosts down
//! at once.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::app::{App, current, get, releases, supervise};
use common::ferry::{Ferry, Ran};
use common::hosts::Lab;
use common::http::{self, Seen};

fn ferry(lab: &Lab, app: &App, args: &[&str]) -> Ran {
    let mut ferry = Ferry::lab(lab);
    ferry.env("FERRY_CONFIG_DIR", &app.dir);
    ferry.run(
        &[
            &["--config", app.dir.join("ferry.toml").to_str().unwrap()],
            args,
        ]
        .concat(),
    )
}

/// `n` hosts provisioned with the example's own [provision]: supervisor
/// with the two slot programs, nginx with the site and the upstream file.
fn provisioned(n: usize) -> (Lab, App) {
    let lab = Lab::start(n);
    let app = App::slotted(&lab, "");
    ferry(&lab, &app, &["lab", "provision"]).success();
    (lab, app)
}

/// The release named in an answer: "Hello from example <id> (revision …)".
fn release_of(body: &str) -> String {
    body.split_whitespace().nth(3).unwrap_or("").to_string()
}

/// What nginx on `addr` answers on `/` now, through the live slot.
fn served(addr: Ipv4Addr) -> String {
    let answer = http::get(addr, "/").expect("nginx answers");
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

/// Sequential GETs of `/release` (the app names the release that answers,
/// without writing to the database the hosts share) through nginx on
/// `addr` until `stop`; what answered is each body's first word.
fn load(addr: Ipv4Addr, stop: Arc<AtomicBool>) -> JoinHandle<Seen> {
    http::load(addr, "/release", stop, |body| {
        body.split_whitespace().next().unwrap_or("").to_string()
    })
}

/// Deploy+rollback cycles in the test below: twenty, each a deploy (upload,
/// build, a slot started and probed, nginx reloaded, the old slot drained)
/// and the same move back. On two shared cores a cycle on three hosts takes
/// 10 to 20 s; this is the suite's longest test, and worth it.
const CYCLES: usize = 20;

#[test]
fn no_request_is_lost_over_deploys_and_rollbacks_with_a_requirements_change() {
    let (lab, app) = provisioned(3);
    // Keep only two releases: cleanup runs on every deploy, and must never
    // remove what a slot still runs from.
    app.write(
        "ferry.toml",
        &app.read("ferry.toml")
            .replace("keep_releases = 5", "keep_releases = 2")
            .replace("user = \"deploy\"\n\n", "user = \"deploy\"\ndrain = 1\n\n"),
    );
    app.commit("v1, two releases kept");
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let first = current(lab.host(0)).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let loads: Vec<_> = lab
        .hosts()
        .iter()
        .map(|h| load(h.addr(), stop.clone()))
        .collect();
    let started = Instant::now();
    let mut deployed = vec![first.clone()];
    for cycle in 0..CYCLES {
        if cycle == 1 {
            // A new requirement and code that imports it: the new slot runs
            // the release's own venv, so both arrive together.
            app.write("requirements.txt", "gunicorn\npackaging==26.3\n");
            app.write(
                "app.py",
                &app.read("app.py")
                    .replace("import sqlite3\n", "import sqlite3\n\nimport packaging\n"),
            );
        }
        app.write("static/style.css", &format!("body {{ order: {cycle}; }}\n"));
        app.commit(&format!("cycle {cycle}"));
        ferry(&lab, &app, &["lab", "deploy"]).success();
        let new = current(lab.host(0)).unwrap();
        for host in lab.hosts() {
            assert_eq!(current(host).as_deref(), Some(new.as_str()));
            assert_eq!(
                release_of(&served(host.addr())),
                new,
                "the switch is done when deploy returns"
            );
            assert!(releases(host).len() <= 4, "{:?}", releases(host));
        }
        let back = ferry(&lab, &app, &["lab", "rollback"]);
        back.success();
        let previous = current(lab.host(0)).unwrap();
        assert_ne!(previous, new);
        for host in lab.hosts() {
            assert_eq!(release_of(&served(host.addr())), previous);
        }
        deployed.push(new);
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for (host, load) in lab.hosts().iter().zip(loads) {
        let seen = load.join().unwrap();
        assert!(
            seen.failed.is_empty(),
            "{}: {} of {} requests failed over {CYCLES} cycles ({elapsed:?}): {:?}",
            host.target(),
            seen.failed.len(),
            seen.ok + seen.failed.len(),
            &seen.failed[..seen.failed.len().min(5)]
        );
        // Every release deployed answered, and the rollbacks brought the
        // first one back between them.
        let answered: BTreeSet<&String> = seen.answers.iter().collect();
        for id in &deployed {
            assert!(
                answered.contains(id),
                "{}: {id} never answered: {:?}",
                host.target(),
                seen.answers
            );
        }
        assert!(seen.answers.len() >= 2 * CYCLES, "{:?}", seen.answers);
    }
}

#[test]
fn a_changed_requirements_txt_takes_effect_on_the_deploy_that_changes_it() {
    let (lab, app) = provisioned(1);
    let host = lab.host(0);
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let v1 = current(host).unwrap();
    assert!(!served(host.addr()).contains("packaging"));

    app.write("requirements.txt", "gunicorn\npackaging==26.3\n");
    app.write(
        "app.py",
        &app.read("app.py")
            .replace("import sqlite3\n", "import sqlite3\n\nimport packaging\n")
            .replace(
                "greeting = settings().get(\"GREETING\", \"Hello\")",
                "greeting = settings().get(\"GREETING\", \"Hello\") + \" (packaging \" + packaging.__version__ + \")\"",
            ),
    );
    app.commit("v2 needs packaging");
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let v2 = current(host).unwrap();
    assert_ne!(v1, v2);
    let body = served(host.addr());
    assert!(
        body.starts_with("Hello (packaging 26.3) from example"),
        "{body}"
    );
    assert_eq!(release_of(&body.replace(" (packaging 26.3)", "")), v2);
    // The venv copied from v1 got the new requirement; v1's own did not.
    let venv = |id: &str| {
        host.exec_ok(&format!(
            "/srv/app/releases/{id}/venv/bin/python -c 'import importlib.util as u; print(u.find_spec(\"packaging\") is not None)'"
        ))
    };
    assert_eq!(venv(&v2).trim(), "True");
    assert_eq!(venv(&v1).trim(), "False");
}

/// For each host, when it stopped answering and for how long.
fn outages(addr: Ipv4Addr, stop: Arc<AtomicBool>) -> JoinHandle<Vec<(Instant, Instant)>> {
    std::thread::spawn(move || {
        let mut down: Vec<(Instant, Instant)> = Vec::new();
        let mut since: Option<Instant> = None;
        while !stop.load(Ordering::Relaxed) {
            let at = Instant::now();
            let up = matches!(get(addr, "/health"), Some((200, _)));
            match (up, since) {
                (false, None) => since = Some(at),
                (true, Some(start)) => {
                    down.push((start, at));
                    since = None;
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(start) = since {
            down.push((start, Instant::now()));
        }
        down
    })
}

#[test]
fn restart_with_serial_1_never_has_two_hosts_down_at_once() {
    let lab = Lab::start(3);
    let app = App::new(&lab, "");
    for host in lab.hosts() {
        supervise(host);
    }
    app.write(
        "ferry.toml",
        &app.read("ferry.toml")
            .replace("migrate_role = \"db\"", "migrate_role = \"db\"\nserial = 1"),
    );
    app.commit("one host at a time");
    ferry(&lab, &app, &["lab", "deploy"]).success();

    let stop = Arc::new(AtomicBool::new(false));
    let watchers: Vec<_> = lab
        .hosts()
        .iter()
        .map(|h| outages(h.addr(), stop.clone()))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let ran = ferry(&lab, &app, &["lab", "restart"]);
    ran.success();
    assert_eq!(
        ran.stdout.matches("==> restart (1 host)").count(),
        3,
        "{}",
        ran.stdout
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let down: Vec<Vec<(Instant, Instant)>> =
        watchers.into_iter().map(|w| w.join().unwrap()).collect();
    for (host, outages) in lab.hosts().iter().zip(&down) {
        assert!(
            !outages.is_empty(),
            "{} never went down: a restart that stops nothing proves nothing",
            host.target()
        );
    }
    for (i, a) in down.iter().enumerate() {
        for (j, b) in down.iter().enumerate().skip(i + 1) {
            for &(a_from, a_to) in a {
                for &(b_from, b_to) in b {
                    assert!(
                        a_to <= b_from || b_to <= a_from,
                        "hosts {i} and {j} were down at once: {:?} and {:?} after the first",
                        (a_from - down[0][0].0, a_to - down[0][0].0),
                        (
                            b_from.saturating_duration_since(down[0][0].0),
                            b_to.saturating_duration_since(down[0][0].0)
                        ),
                    );
                }
            }
        }
    }
}

#[test]
fn a_failed_probe_puts_the_switched_slots_back_without_a_failed_request() {
    let (lab, app) = provisioned(2);
    app.write(
        "ferry.toml",
        &app.read("ferry.toml")
            .replace("migrate_role = \"db\"", "migrate_role = \"db\"\nserial = 1")
            .replace("deadline = 20", "deadline = 3")
            .replace("user = \"deploy\"\n\n", "user = \"deploy\"\ndrain = 1\n\n"),
    );
    app.commit("v1, one host at a time");
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let v1 = current(lab.host(0)).unwrap();

    // v2 is healthy on the first host only: its slot goes live there, then
    // the second host's new slot fails its probe and the deploy puts back.
    app.write(
        "app.py",
        &app.read("app.py").replace(
            "    with database() as db:\n        db.execute(\"SELECT count(*) FROM visit\").fetchone()\n    return \"ok\\n\"",
            "    if os.path.exists(\"/tmp/unhealthy\"):\n        raise sqlite3.Error(\"unhealthy here\")\n    with database() as db:\n        db.execute(\"SELECT count(*) FROM visit\").fetchone()\n    return \"ok\\n\"",
        ),
    );
    assert!(app.read("app.py").contains("/tmp/unhealthy"));
    app.commit("v2, unhealthy on the second host");
    std::fs::write(lab.host(1).path("/tmp/unhealthy"), "").unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let loads: Vec<_> = lab
        .hosts()
        .iter()
        .map(|h| load(h.addr(), stop.clone()))
        .collect();
    let ran = ferry(&lab, &app, &["lab", "deploy"]);
    ran.code(1);
    assert_eq!(
        ran.stdout.matches("==> deploy/switch (1 host)").count(),
        2,
        "{}",
        ran.stdout
    );
    for host in lab.hosts() {
        assert_eq!(current(host).as_deref(), Some(v1.as_str()));
        assert_eq!(release_of(&served(host.addr())), v1, "{}", host.target());
    }
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = loads.into_iter().map(|l| l.join().unwrap()).collect();
    for (host, seen) in lab.hosts().iter().zip(&seen) {
        assert!(
            seen.failed.is_empty(),
            "{}: {:?}",
            host.target(),
            &seen.failed[..seen.failed.len().min(5)]
        );
    }
    // The first host served v2 for a while, then v1 again; nginx on the
    // second never sent a request to its unhealthy slot.
    assert_eq!(seen[0].answers.first(), Some(&v1));
    assert_eq!(seen[0].answers.last(), Some(&v1));
    assert!(seen[0].answers.len() >= 3, "{:?}", seen[0].answers);
    assert_eq!(seen[1].answers, std::slice::from_ref(&v1));
}
