//! Recovery that tells the truth, on real hosts: after a host is cut in the
//! middle of a deploy, what ferry says and what `releases` shows match what
//! the hosts hold; resume finishes what can be finished and refuses what
//! must not come back; failed deploys are in `history`; `--check` writes
//! nothing at all.

mod common;

use std::collections::BTreeMap;

use common::app::{App, current, ferry, live, serves, spawn_deploy, stall, wait_for};
use common::ferry::Ran;
use common::hosts::{Host, Lab};

fn lab(n: usize) -> (Lab, App) {
    common::app::lab(n, "")
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
            .any(|l| l.starts_with("would send 1 file ")),
        "{}",
        ran.stdout
    );
    let changes = diff(&before, &tree(host, WATCHED));
    assert!(changes.is_empty(), "a live host changed: {changes:#?}");
    assert_eq!(live(&lab), v1);
}

/// The `error:` paragraph of a run: the message and its hints.
fn error(ran: &Ran) -> String {
    let start = ran
        .stdout
        .find("error: ")
        .unwrap_or_else(|| panic!("no error in:\n{}", ran.stdout));
    let text = &ran.stdout[start..];
    text.split("\nRECAP").next().unwrap().to_string()
}

/// The recap's `live` column for a host.
fn recap_live(ran: &Ran, host: &Host) -> String {
    let recap = ran.stdout.split("\nRECAP").nth(1).expect("a recap");
    let row = recap
        .lines()
        .find(|l| l.split_whitespace().next() == Some(host.target().as_str()))
        .unwrap_or_else(|| panic!("no recap row for {}:\n{recap}", host.target()));
    row.split_whitespace().skip(7).collect::<Vec<_>>().join(" ")
}

fn history(lab: &Lab, app: &App, host: &Host) -> Vec<String> {
    let ran = ferry(lab, app, &["lab", "history", "-H", &host.target()]);
    ran.success();
    ran.lines_of(&host.target())
}

#[test]
fn a_host_cut_during_restart_is_named_live_on_the_failed_release_and_resume_refuses_it() {
    let (lab, app) = lab(3);
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let v1 = live(&lab);
    let cut = lab.host(2);
    stall(cut, "curl", "/health", 20);
    app.write("static/style.css", "body { color: maroon; }\n");
    app.commit("v2");
    let child = spawn_deploy(&lab, &app);
    wait_for("the health check to stall", || {
        cut.path("/tmp/stalled").exists()
    });
    cut.cut();
    let ran = common::ferry::finish(child);
    ran.code(1);
    let on: Vec<Option<String>> = lab.hosts().iter().map(current).collect();
    let v2 = on[2].clone().expect("the cut host has a live release");
    assert_ne!(v2, v1, "the cut host stayed on the new release");
    assert_eq!(on[0].as_deref(), Some(v1.as_str()));
    assert_eq!(on[1].as_deref(), Some(v1.as_str()));
    let message = error(&ran);
    let (h0, h1, h2) = (lab.host(0).target(), lab.host(1).target(), cut.target());
    for expected in [
        format!("release {v2} is marked failed on {h0}, {h1} (not on {h2}"),
        format!("{h0} on {v1} (put back)"),
        format!("{h1} on {v1} (put back)"),
        format!("{h2} still on {v2}, the failed release (could not be put back"),
        format!("`ferry lab rollback` puts {h2} back on the release before {v2}"),
    ] {
        assert!(
            message.contains(&expected),
            "{expected:?} in:\n{}",
            ran.stdout
        );
    }
    assert!(!message.contains("every host is back"), "{message}");
    assert_eq!(recap_live(&ran, cut), format!("{v2} (the failed release)"));
    assert_eq!(recap_live(&ran, lab.host(0)), format!("{v1} (put back)"));

    cut.reconnect();
    let listing = ferry(&lab, &app, &["lab", "releases"]);
    listing.success();
    // `releases` and resume name hosts in sorted order.
    let mut back = [h0.clone(), h1.clone()];
    back.sort();
    let back = back.join(", ");
    assert!(
        listing
            .stdout
            .contains(&format!("the hosts disagree: {back} on {v1}; {h2} on {v2}")),
        "{}",
        listing.stdout
    );
    assert!(
        listing
            .lines_of(&h0)
            .iter()
            .any(|l| l.starts_with(&format!("{v2}  failed"))),
        "{}",
        listing.stdout
    );
    assert!(
        listing
            .lines_of(&h2)
            .iter()
            .any(|l| l.starts_with(&format!("{v2}  live"))),
        "{}",
        listing.stdout
    );

    let resumed = ferry(&lab, &app, &["lab", "deploy:resume=yes"]);
    resumed.code(1);
    let refusal = error(&resumed);
    assert!(
        refusal.contains(&format!(
            "cannot resume {v2}: it failed and is marked failed on {back}"
        )),
        "{refusal}"
    );
    assert!(
        refusal.contains(&format!("{h2} on {v2}, the failed release")),
        "{refusal}"
    );
    let after: Vec<Option<String>> = lab.hosts().iter().map(current).collect();
    assert_eq!(after, on, "resume changed where current points");
    assert!(
        history(&lab, &app, lab.host(0))
            .iter()
            .any(|l| l.contains(&format!("deploy        {v2}")) && l.contains("failed at restart")),
        "the put-back is in the history"
    );

    // The hint works: rollback takes the cut host's stale lock and puts it back.
    ferry(&lab, &app, &["lab", "rollback"]).success();
    assert_eq!(live(&lab), v1);
    for host in lab.hosts() {
        assert!(serves(host).contains(&v1));
    }
    let listing = ferry(&lab, &app, &["lab", "releases"]);
    assert!(!listing.stdout.contains("unfinished"), "{}", listing.stdout);
}

#[test]
fn a_cut_in_finish_completes_on_the_host_which_lets_go_of_the_lock() {
    let (lab, app) = lab(2);
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let cut = lab.host(1);
    stall(cut, "rm", "deploy.json", 4);
    app.write("static/style.css", "body { color: navy; }\n");
    app.commit("v2");
    let child = spawn_deploy(&lab, &app);
    wait_for("the finish to stall", || cut.path("/tmp/stalled").exists());
    cut.cut();
    let ran = common::ferry::finish(child);
    ran.code(1);
    let v2 = live(&lab);
    let message = error(&ran);
    assert!(
        message.contains(&format!(
            "deploy {v2} is live on every host and passed its health check, but its finish failed on {}",
            cut.target()
        )),
        "{message}"
    );
    assert!(
        message.contains("`ferry lab deploy:resume=yes` finishes it"),
        "{message}"
    );
    // The finish runs in the lock's own session, so it went on without
    // ferry: the pending deploy is gone there, and the host let go of the
    // lock once its finish was done.
    wait_for("the cut host's finish to complete", || {
        !cut.path("/srv/app/.ferry/deploy.json").exists()
            && !cut.path("/srv/app/.ferry/lock").exists()
    });

    cut.reconnect();
    let resumed = ferry(&lab, &app, &["lab", "deploy:resume=yes"]);
    resumed.success();
    assert!(
        resumed.stdout.contains(&format!(
            "nothing left to resume: {v2}, the last deploy, is live and finished on every host"
        )),
        "{}",
        resumed.stdout
    );
    assert!(!cut.path("/srv/app/.ferry/lock").exists());
    assert_eq!(live(&lab), v2);
    let lines = history(&lab, &app, cut);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(&format!("deploy        {v2}")))
            .count(),
        1,
        "{lines:?}"
    );
    // Nothing is left in the way of the next deploy.
    app.write("static/style.css", "body { color: teal; }\n");
    app.commit("v3");
    ferry(&lab, &app, &["lab", "deploy"]).success();
    assert_ne!(live(&lab), v2);
}

#[test]
fn a_failed_build_is_in_the_history_and_its_hint_is_not_rollback() {
    let (lab, app) = lab(2);
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let v1 = live(&lab);
    app.write("requirements.txt", "gunicorn\nno-such-package-anywhere\n");
    app.commit("v2: a requirement that cannot be installed");
    let ran = ferry(&lab, &app, &["lab", "deploy"]);
    ran.code(1);
    let message = error(&ran);
    assert!(
        message.contains("stopped at build")
            && message.contains("current is unchanged on every host"),
        "{message}"
    );
    assert!(!message.contains("rollback"), "{message}");
    assert!(
        message.contains("commit a fix and run `ferry lab deploy`"),
        "{message}"
    );
    assert_eq!(live(&lab), v1);
    for host in lab.hosts() {
        let lines = history(&lab, &app, host);
        let failed = lines
            .iter()
            .find(|l| l.contains("failed at build"))
            .unwrap_or_else(|| panic!("{}: {lines:?}", host.target()));
        assert!(
            failed.contains("no-such-package-anywhere") || failed.contains("pip"),
            "{failed}"
        );
    }
}

#[test]
fn a_finish_cut_before_its_end_completes_on_the_host_and_resume_waits_for_it() {
    let (lab, app) = lab(2);
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let cut = lab.host(1);
    // Long enough that the cut host is still finishing when resume comes,
    // short enough that it is done within resume's wait for its own keeper.
    stall(cut, "rm", "deploy.json", 40);
    app.write("static/style.css", "body { color: olive; }\n");
    app.commit("v2");
    let child = spawn_deploy(&lab, &app);
    wait_for("the finish to stall", || cut.path("/tmp/stalled").exists());
    cut.cut();
    common::ferry::finish(child).code(1);
    let v2 = live(&lab);
    // Still finishing there, under the lock its session holds.
    assert!(cut.path("/srv/app/.ferry/deploy.json").exists());
    assert!(cut.path("/srv/app/.ferry/lock").exists());

    cut.reconnect();
    let resumed = ferry(&lab, &app, &["lab", "deploy:resume=yes"]);
    resumed.success();
    assert!(
        resumed.stdout.contains(&format!(
            "nothing left to resume: {v2}, the last deploy, is live and finished on every host"
        )),
        "{}",
        resumed.stdout
    );
    assert!(!cut.path("/srv/app/.ferry/deploy.json").exists());
    assert!(!cut.path("/srv/app/.ferry/lock").exists());
    assert_eq!(live(&lab), v2);
    for host in lab.hosts() {
        let lines = history(&lab, &app, host);
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains(&format!("deploy        {v2}")))
                .count(),
            1,
            "{}: {lines:?}",
            host.target()
        );
        assert!(serves(host).contains(&v2));
    }
}
