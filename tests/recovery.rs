#![allow(dead_code, unused_imports)]
//! Recovery that tells the truth, on real hosts: after a host is cut in the
//! middle of a deploy, what ferry says and what `releases` shows match what
//! the hosts hold; resume finishes what can be finished and refuses what
//! must not come back; failed deploys are in `history`; `--check` writes
//! nothing at all.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::app::{App, current, get, stall, supervise, wait_for};
use common::ferry::{Ferry, Ran};
use common::hosts::{Host, Lab};

fn lab(n: usize) -> (Lab, App) {
    let lab = Lab::start(n);
    let app = App::new(&lab, "");
    for host in lab.hosts() {
        supervise(host);
    }
    (lab, app)
}

fn ferry(lab: &Lab, app: &App, args: &[&str]) -> Ran {
    let mut ferry = Ferry::lab(lab);
    ferry.env("FERRY_CONFIG_DIR", &app.dir);
    let config = app.dir.join("ferry.toml");
    ferry.run(&[&["--config", config.to_str().unwrap()], args].concat())
}

fn spawn_deploy(lab: &Lab, app: &App) -> std::process::Child {
    let config = app.dir.join("ferry.toml");
    Ferry::lab(lab).spawn(&["--config", config.to_str().unwrap(), "lab", "deploy"])
}

/// Every host's live release, which must be one and the same.
fn live(lab: &Lab) -> String {
    let ids: Vec<Option<String>> = lab.hosts().iter().map(current).collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "hosts disagree: {ids:?}"
    );
    ids[0].clone().expect("a live release")
}

fn serves(host: &Host) -> String {
    let (status, body) =
        get(host.addr(), "/").unwrap_or_else(|| panic!("{} does not answer", host.target()));
    assert_eq!(status, 200, "{body}");
    body
}

/// Every entry under `dirs` on the host: kind, mode, owner, mtime and
/// contents (a symlink's target). Any write shows, even of a file created
/// and removed again (its directory's mtime moves).
fn tree(host: &Host, dirs: &[&str]) -> BTreeMap<String, String> {
    use std::os::unix::fs::MetadataExt;
    let mut entries = BTreeMap::new();
    let mut stack: Vec<_> = dirs.iter().map(|d| host.path(d)).collect();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let contents = if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
            String::new()
        } else if meta.is_symlink() {
            std::fs::read_link(&path).unwrap().display().to_string()
        } else {
            format!("{:?}", std::fs::read(&path).unwrap())
        };
        entries.insert(
            path.display().to_string(),
            format!(
                "{:o} {}:{} {}.{} {contents}",
                meta.mode(),
                meta.uid(),
                meta.gid(),
                meta.mtime(),
                meta.mtime_nsec()
            ),
        );
    }
    entries
}

fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut changes = Vec::new();
    for (path, entry) in after {
        match before.get(path) {
            None => changes.push(format!("created {path}")),
            Some(old) if old != entry => changes.push(format!("changed {path}")),
            _ => {}
        }
    }
    changes.extend(
        before
            .keys()
            .filter(|p| !after.contains_key(*p))
            .map(|p| format!("removed {p}")),
    );
    changes
}

const WATCHED: &[&str] = &["/srv", "/home/deploy", "/tmp", "/var/tmp"];

#[test]
fn check_on_a_fresh_host_and_on_a_live_one_leaves_every_byte_as_it_was() {
    let (lab, app) = lab(1);
    let host = lab.host(0);
    let before = tree(host, WATCHED);
    let ran = ferry(&lab, &app, &["lab", "deploy", "--check"]);
    ran.success();
    assert!(
        ran.lines_of(&host.target())
            .iter()
            .any(|l| l.contains("beside nothing yet")),
        "{}",
        ran.stdout
    );
    let changes = diff(&before, &tree(host, WATCHED));
    assert!(changes.is_empty(), "a fresh host changed: {changes:#?}");

    ferry(&lab, &app, &["lab", "deploy"]).success();
    let v1 = live(&lab);
    app.write("static/style.css", "body { color: olive; }\n");
    app.commit("v2");
    let before = tree(host, WATCHED);
    let ran = ferry(&lab, &app, &["lab", "deploy", "--check"]);
    ran.success();
    assert!(
        ran.lines_of(&host.target())
            .iter()
            .any(|l| l.starts_with("would send 1 files")),
        "{}",
        ran.stdout
    );
    let changes = diff(&before, &tree(host, WATCHED));
    assert!(changes.is_empty(), "a live host changed: {changes:#?}");
    assert_eq!(live(&lab), v1);
    let _ = (Path::new("/"), stall, serves, spawn_deploy);
}
