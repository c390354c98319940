//! Releases on real hosts: deploy, the bytes a change costs, health checks
//! that put hosts back, failed migrations, cut hosts and resume, locks,
//! rollback, cleanup, setup_release, hotfix — the example app served by
//! gunicorn under supervisor on every host, asked over HTTP.

mod common;

use std::collections::BTreeMap;

use common::app::{
    App, current, ferry, lab, live, releases, serves, spawn_deploy, stall, wait_for,
};
use common::ferry::Ran;
use common::hosts::{Host, Lab};
use common::release::release_files;

/// Bytes and mtime of every file under a release (its venv aside): what
/// must never change.
fn snapshot(host: &Host, release: &str) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    release_files(host, release, &["venv"])
        .into_iter()
        .map(|(path, (bytes, meta))| (path, (bytes, meta.modified().unwrap())))
        .collect()
}

/// Bytes the `deploy/upload` phase sent to each host, from `--json` events.
fn upload_bytes(ran: &Ran) -> Vec<u64> {
    ran.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "host_finished" && e["task"] == "deploy/upload")
        .map(|e| e["bytes_sent"].as_u64().unwrap())
        .collect()
}

/// Each host's bytes sent and read back over the run, from the recap of `--json`.
fn recap_bytes(ran: &Ran) -> Vec<(String, u64, u64)> {
    let last = ran.stdout.lines().last().unwrap();
    let event: serde_json::Value = serde_json::from_str(last).unwrap();
    event["recap"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let bytes = |key: &str| row[key].as_u64().unwrap();
            let host = row["host"].as_str().unwrap().to_string();
            (host, bytes("bytes_sent"), bytes("bytes_received"))
        })
        .collect()
}

/// Text that gzip cannot shrink much, so the bytes on the wire show it.
fn noise(len: usize) -> String {
    let mut state: u64 = 0x9e3779b97f4a7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
                    [(state % 64) as usize],
            )
        })
        .collect()
}

#[test]
fn deploy_serves_on_every_host_and_a_change_sends_about_its_own_size() {
    let (lab, app) = lab(3, "");
    let v1 = ferry(&lab, &app, &["lab", "deploy", "--json"]);
    v1.success();
    let first = live(&lab);
    for host in lab.hosts() {
        assert!(serves(host).contains(&format!("Hello from example {first}")));
        let env = host.path("/srv/app/shared/.env");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let full = upload_bytes(&v1);
    assert_eq!(full.len(), 3);
    let before = snapshot(lab.host(0), &first);
    let secret_before = std::fs::read_to_string(lab.host(0).path("/srv/app/shared/.env")).unwrap();

    let changed = noise(40_000);
    app.write("static/big.txt", &changed);
    app.commit("v2: one new file");
    let v2 = ferry(&lab, &app, &["lab", "deploy", "--json"]);
    v2.success();
    let second = live(&lab);
    assert_ne!(first, second);
    for (host, sent) in lab.hosts().iter().zip(upload_bytes(&v2)) {
        // gzip takes base64 noise down to about 3/4; the script around it is a few KiB.
        assert!(
            sent > 25_000 && sent < 40_000 + 12_000,
            "{}: {sent} bytes sent for a 40000-byte file",
            host.target()
        );
        assert!(serves(host).contains(&second));
    }
    assert_eq!(
        snapshot(lab.host(0), &first),
        before,
        "a file of the older release changed"
    );
    let secret_after = std::fs::read_to_string(lab.host(0).path("/srv/app/shared/.env")).unwrap();
    assert_eq!(
        secret_before, secret_after,
        "the generated SECRET_KEY is kept"
    );
}

/// Deploy v1 everywhere and return its id.
fn first_deploy(lab: &Lab, app: &App) -> String {
    ferry(lab, app, &["lab", "deploy"]).success();
    live(lab)
}

#[test]
fn a_failing_health_check_puts_every_host_back_on_the_previous_release() {
    let (lab, app) = lab(3, "");
    let v1 = first_deploy(&lab, &app);
    app.write(
        "ferry.toml",
        &app.read("ferry.toml")
            .replace("deadline = 20", "deadline = 4"),
    );
    app.write(
        "app.py",
        &app.read("app.py").replace(
            "return \"ok\\n\"",
            "raise sqlite3.Error(\"broken on purpose\")",
        ),
    );
    app.commit("v2: a broken health check");
    let ran = ferry(&lab, &app, &["lab", "deploy"]);
    ran.code(1);
    assert!(
        ran.stdout
            .contains("health check failed: HTTP 500: database error: broken on purpose"),
        "{}",
        ran.stdout
    );
    assert_eq!(live(&lab), v1, "every host is back on v1");
    for host in lab.hosts() {
        assert!(
            serves(host).contains(&v1),
            "{} serves v1 again",
            host.target()
        );
    }
    let listing = ferry(&lab, &app, &["lab", "releases"]);
    listing.success();
    let bad = releases(lab.host(0))
        .into_iter()
        .find(|r| *r != v1)
        .unwrap();
    assert!(
        listing.stdout.contains(&format!("{bad}  failed")),
        "{}",
        listing.stdout
    );
    assert!(
        listing.stdout.contains("all 3 hosts are live on"),
        "{}",
        listing.stdout
    );
}

#[test]
fn a_failing_migration_leaves_current_untouched_and_shows_why() {
    let (lab, app) = lab(2, "");
    let v1 = first_deploy(&lab, &app);
    app.write(
        "migrations/0002_unique_items.sql",
        "CREATE TABLE item (text TEXT);\nINSERT INTO item VALUES ('milk');\nINSERT INTO item VALUES ('milk');\nCREATE UNIQUE INDEX item_text ON item (text);\n",
    );
    app.commit("v2: a constraint the data breaks");
    let ran = ferry(&lab, &app, &["lab", "deploy"]);
    ran.code(1);
    assert!(
        ran.stdout
            .contains("IntegrityError: UNIQUE constraint failed: item.text"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("current is unchanged on every host"),
        "{}",
        ran.stdout
    );
    assert_eq!(live(&lab), v1);
    for host in lab.hosts() {
        assert!(serves(host).contains(&v1));
    }
}

#[test]
fn a_host_cut_off_during_upload_stops_the_deploy_and_resume_finishes_it() {
    let (lab, app) = lab(3, "");
    let v1 = first_deploy(&lab, &app);
    let cut = lab.host(1);
    stall(cut, "tar", "-xzpf", 30);
    app.write("static/style.css", "body { color: navy; }\n");
    app.commit("v2");
    let child = spawn_deploy(&lab, &app);
    wait_for("the upload to stall", || cut.path("/tmp/stalled").exists());
    cut.cut();
    let ran = common::ferry::finish(child);
    ran.code(1);
    assert_eq!(
        ran.recap(&cut.target())[3],
        1,
        "unreachable, not failed:\n{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("current is unchanged on every host"),
        "{}",
        ran.stdout
    );
    assert_eq!(live(&lab), v1);
    let pending = std::fs::read_to_string(lab.host(0).path("/srv/app/.ferry/deploy.json")).unwrap();

    cut.reconnect();
    let resumed = ferry(&lab, &app, &["lab", "deploy:resume=yes"]);
    resumed.success();
    let v2 = live(&lab);
    assert!(
        pending.contains(&format!("\"release\":\"{v2}\"")),
        "resume finished the pending deploy {pending}"
    );
    for host in lab.hosts() {
        assert!(serves(host).contains(&v2));
    }
    assert!(!lab.host(0).path("/srv/app/.ferry/deploy.json").exists());
}

#[test]
fn a_host_cut_off_during_the_switch_leaves_no_broken_current_and_resume_finishes() {
    let (lab, app) = lab(3, "");
    let v1 = first_deploy(&lab, &app);
    let cut = lab.host(2);
    stall(cut, "mv", "current.tmp", 30);
    app.write("static/style.css", "body { color: teal; }\n");
    app.commit("v2");
    let child = spawn_deploy(&lab, &app);
    wait_for("the switch to stall", || cut.path("/tmp/stalled").exists());
    cut.cut();
    let ran = common::ferry::finish(child);
    ran.code(1);
    let on: Vec<Option<String>> = lab.hosts().iter().map(current).collect();
    assert_eq!(
        on[2].as_deref(),
        Some(v1.as_str()),
        "the cut host still points at v1"
    );
    let v2 = on[0].clone().unwrap();
    assert_ne!(v2, v1);
    assert_eq!(on[1], on[0]);
    assert!(ran.stdout.contains("hosts are split"), "{}", ran.stdout);
    // Its switch was under way when the link went: the script may still
    // rename `current` there, so ferry cannot say where it points.
    assert!(
        ran.stdout.contains(&format!("{} unknown", cut.target())),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("`ferry lab releases` shows it"),
        "{}",
        ran.stdout
    );

    cut.reconnect();
    ferry(&lab, &app, &["lab", "deploy:resume=yes"]).success();
    assert_eq!(live(&lab), v2);
    for host in lab.hosts() {
        assert!(serves(host).contains(&v2));
    }
}

#[test]
fn a_second_deploy_is_refused_naming_who_holds_the_lock() {
    let (lab, app) = lab(1, "");
    first_deploy(&lab, &app);
    let host = lab.host(0);
    stall(host, "tar", "-xzpf", 4);
    app.commit("v2");
    let first = spawn_deploy(&lab, &app);
    let pid = first.id();
    wait_for("the first deploy to hold the lock", || {
        host.path("/tmp/stalled").exists()
    });
    let second = ferry(&lab, &app, &["lab", "deploy"]);
    second.code(1);
    assert!(
        second.stdout.contains("locked by ") && second.stdout.contains(&format!("(pid {pid})")),
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("deploy of main"),
        "{}",
        second.stdout
    );
    common::ferry::finish(first).success();
}

#[test]
fn a_killed_deploy_leaves_a_stale_lock_that_unlock_clears() {
    let (lab, app) = lab(1, "");
    let v1 = first_deploy(&lab, &app);
    let host = lab.host(0);
    stall(host, "tar", "-xzpf", 5);
    app.commit("v2");
    let mut killed = spawn_deploy(&lab, &app);
    wait_for("the deploy to hold the lock", || {
        host.path("/tmp/stalled").exists()
    });
    killed.kill().unwrap();
    killed.wait().unwrap();
    // The upload runs in the lock's session: the host finishes the step it
    // is in, and the lock reads as held until its keeper is gone.
    let keeper = host.exec_ok("cat /srv/app/.ferry/lock/keeper");
    let gone = format!("! kill -0 {} 2>/dev/null", keeper.trim());
    wait_for("the keeper to end with its script", || {
        host.exec(&gone).status.success()
    });

    let refused = ferry(&lab, &app, &["lab", "deploy"]);
    refused.code(1);
    assert!(
        refused.stdout.contains("a stale lock: the run of"),
        "{}",
        refused.stdout
    );
    assert!(
        refused.stdout.contains("`ferry lab unlock` removes it"),
        "{}",
        refused.stdout
    );
    assert_eq!(live(&lab), v1);

    let unlocked = ferry(&lab, &app, &["lab", "unlock"]);
    unlocked.success();
    assert!(
        unlocked.stdout.contains("removed a stale lock held by"),
        "{}",
        unlocked.stdout
    );
    ferry(&lab, &app, &["lab", "deploy"]).success();
    assert_ne!(live(&lab), v1);
    assert!(!host.path("/srv/app/.ferry/lock").exists());
}

#[test]
fn rollback_refuses_when_a_host_lacks_the_target_and_otherwise_goes_back() {
    let (lab, app) = lab(2, "");
    let v1 = first_deploy(&lab, &app);
    app.write("static/style.css", "body { color: red; }\n");
    app.commit("v2");
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let v2 = live(&lab);

    let lacking = lab.host(1);
    lacking.exec_ok(&format!("mv /srv/app/releases/{v1} /srv/app/v1-elsewhere"));
    let refused = ferry(&lab, &app, &["lab", "rollback"]);
    refused.code(1);
    assert!(
        refused
            .stdout
            .contains(&format!("{} does not have release {v1}", lacking.target())),
        "{}",
        refused.stdout
    );
    assert_eq!(live(&lab), v2);

    lacking.exec_ok(&format!("mv /srv/app/v1-elsewhere /srv/app/releases/{v1}"));
    let back = ferry(&lab, &app, &["lab", "rollback"]);
    back.success();
    assert_eq!(live(&lab), v1);
    for host in lab.hosts() {
        assert!(serves(host).contains(&v1));
    }
    let listing = ferry(&lab, &app, &["lab", "releases"]);
    assert!(
        listing.stdout.contains(&format!("{v2}  failed")),
        "{}",
        listing.stdout
    );
    let history = ferry(&lab, &app, &["lab", "history"]);
    assert!(
        history.stdout.contains(&format!("rollback      {v1}")),
        "{}",
        history.stdout
    );
    // A second rollback has nowhere to go: v2 failed, nothing before v1.
    ferry(&lab, &app, &["lab", "rollback"]).code(1);
}

#[test]
fn cleanup_keeps_n_never_current_and_a_pinned_release_survives() {
    let (lab, app) = lab(1, "");
    app.write(
        "ferry.toml",
        &app.read("ferry.toml")
            .replace("keep_releases = 5", "keep_releases = 2"),
    );
    app.commit("keep two");
    let host = lab.host(0);
    first_deploy(&lab, &app);
    let pinned = ferry(&lab, &app, &["lab", "setup_release:keep_days=10"]);
    pinned.success();
    let prepared = releases(host).into_iter().max().unwrap();
    assert!(
        pinned
            .stdout
            .contains(&format!("release prepared at /srv/app/releases/{prepared}")),
        "{}",
        pinned.stdout
    );
    assert_ne!(
        current(host).unwrap(),
        prepared,
        "setup_release does not switch"
    );
    for n in 0..3 {
        app.write("static/style.css", &format!("/* {n} */\n"));
        app.commit("another");
        ferry(&lab, &app, &["lab", "deploy"]).success();
    }
    let left = releases(host);
    let live = current(host).unwrap();
    assert!(left.contains(&live) && left.contains(&prepared), "{left:?}");
    assert_eq!(left.len(), 3, "two kept plus the pinned one: {left:?}");
    let listing = ferry(&lab, &app, &["lab", "releases"]);
    assert!(
        listing
            .stdout
            .contains(&format!("{prepared}  pinned until")),
        "{}",
        listing.stdout
    );
    let cleanup = ferry(&lab, &app, &["lab", "cleanup"]);
    cleanup.success();
    assert_eq!(releases(host), left, "nothing more to remove");
}

#[test]
fn check_mode_says_what_would_happen_and_changes_nothing() {
    let (lab, app) = lab(1, "");
    let v1 = first_deploy(&lab, &app);
    let host = lab.host(0);
    app.write("static/style.css", "body { color: olive; }\n");
    app.commit("v2");
    let ran = ferry(&lab, &app, &["lab", "deploy", "--check"]);
    ran.success();
    let lines = ran.lines_of(&host.target());
    assert!(
        lines.iter().any(|l| l.starts_with("would send 1 file (")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("would migrate: venv/bin/python manage.py migrate")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("would run: ") && l.contains("supervisorctl")),
        "{lines:?}"
    );
    assert_eq!(releases(host), vec![v1.clone()]);
    assert_eq!(current(host).unwrap(), v1);
    assert!(!host.path("/srv/app/.ferry/lock").exists());
}

#[test]
fn hotfix_reuses_the_live_venv_and_runs_neither_build_nor_migrations() {
    let (lab, app) = lab(1, "");
    first_deploy(&lab, &app);
    let host = lab.host(0);
    app.write("migrations/0002_more.sql", "CREATE TABLE more (x TEXT);\n");
    app.write(
        "app.py",
        &app.read("app.py")
            .replace("from example", "from the hotfixed example"),
    );
    app.commit("hotfix");
    let ran = ferry(&lab, &app, &["lab", "hotfix"]);
    ran.success();
    assert!(
        !ran.stdout.contains("hotfix/build") && !ran.stdout.contains("hotfix/migrate"),
        "{}",
        ran.stdout
    );
    assert!(serves(host).contains("Hello from the hotfixed example"));
    assert!(host.path("/srv/app/current/venv/bin/gunicorn").exists());
    let tables = host.exec_ok(&format!("sqlite3 {} .tables 2>/dev/null || python3 -c \"import sqlite3; print([r[0] for r in sqlite3.connect('{}').execute('select name from sqlite_master')])\"", app.db.path().join("db.sqlite3").display(), app.db.path().join("db.sqlite3").display()));
    assert!(
        !tables.contains("more"),
        "the migration did not run: {tables}"
    );
}

#[test]
fn serial_restarts_one_batch_at_a_time_and_a_failed_batch_stops_the_rollout() {
    let (lab, app) = lab(3, "");
    let v1 = first_deploy(&lab, &app);
    let config = app
        .read("ferry.toml")
        .replace("migrate_role = \"db\"", "migrate_role = \"db\"\nserial = 1");
    app.write(
        "ferry.toml",
        &config.replace("deadline = 20", "deadline = 3"),
    );
    app.write("static/style.css", "body { color: gray; }\n");
    app.commit("v2, one host at a time");
    let ran = ferry(&lab, &app, &["lab", "deploy"]);
    ran.success();
    assert_eq!(
        ran.stdout.matches("==> deploy/switch (1 host)").count(),
        3,
        "{}",
        ran.stdout
    );
    let v2 = live(&lab);

    app.write(
        "app.py",
        &app.read("app.py")
            .replace("return \"ok\\n\"", "raise sqlite3.Error(\"broken\")"),
    );
    app.commit("v3, broken");
    let ran = ferry(&lab, &app, &["lab", "deploy"]);
    ran.code(1);
    // The first batch failed its health check: the others were never restarted on v3.
    assert_eq!(
        ran.stdout.matches("==> deploy/switch (1 host)").count(),
        1,
        "{}",
        ran.stdout
    );
    assert_eq!(live(&lab), v2);
    assert_ne!(v1, v2);
    for host in lab.hosts() {
        assert!(serves(host).contains(&v2));
    }
}

#[test]
fn a_deploy_takes_one_session_per_host_build_or_not_and_so_does_a_rollback() {
    let (lab, app) = lab(2, "");
    let sessions = |lab: &Lab| -> Vec<usize> { lab.hosts().iter().map(|h| h.sessions()).collect() };
    let before = sessions(&lab);
    // The first deploy builds (a venv, migrations) and restarts the app.
    let v1 = first_deploy(&lab, &app);
    for ((host, b), a) in lab.hosts().iter().zip(&before).zip(sessions(&lab)) {
        // Every script runs in the lock's session, under the lock.
        assert_eq!(
            a - b,
            1,
            "{}: sessions of a deploy that builds",
            host.target()
        );
    }
    // The venv comes from the live release (`copy_from_current`): nothing to build.
    app.write(
        "ferry.toml",
        &format!(
            "{}\n[environments.lab.deploy]\nbuild = []\nmigrate = []\n",
            app.read("ferry.toml")
        ),
    );
    app.write("static/style.css", "body { color: plum; }\n");
    app.commit("v2, nothing to build");
    let sessions = |lab: &Lab| -> Vec<usize> { lab.hosts().iter().map(|h| h.sessions()).collect() };
    let before = sessions(&lab);
    let deployed = ferry(&lab, &app, &["lab", "deploy", "--json"]);
    deployed.success();
    // Both ways, every script and the changed file included: within 16 KiB.
    for (host, sent, received) in recap_bytes(&deployed) {
        assert!(received > 0, "{host}: nothing read back");
        assert!(
            sent + received <= 16 * 1024,
            "{host}: {sent} bytes sent and {received} read back for a 22-byte change"
        );
    }
    let v2 = live(&lab);
    assert_ne!(v2, v1);
    let after = sessions(&lab);
    for ((host, b), a) in lab.hosts().iter().zip(&before).zip(&after) {
        assert_eq!(a - b, 1, "{}: sessions of a deploy", host.target());
        assert!(serves(host).contains(&v2));
    }
    ferry(&lab, &app, &["lab", "rollback"]).success();
    assert_eq!(live(&lab), v1);
    for ((host, b), a) in lab.hosts().iter().zip(&after).zip(sessions(&lab)) {
        // The rollback runs in the lock's session.
        assert_eq!(a - b, 1, "{}: sessions of a rollback", host.target());
        assert!(serves(host).contains(&v1));
    }
}

/// A deploy opens its connections while it reads its commit; when the
/// commit cannot be read, it says why, runs nothing on the hosts, and
/// leaves no ssh connection behind.
#[test]
fn a_deploy_that_cannot_be_planned_runs_nothing_and_leaves_no_connection() {
    let (lab, app) = lab(1, "");
    let host = lab.host(0);
    let sessions = host.sessions();
    let ran = ferry(&lab, &app, &["lab", "deploy:ref=no-such-ref"]);
    ran.code(2);
    assert!(
        ran.stderr.contains("no commit named `no-such-ref`"),
        "{}",
        ran.stderr
    );
    assert_eq!(host.connections(), 1, "the connection opened ahead");
    assert_eq!(host.sessions(), sessions, "nothing ran on the host");
    let config = lab.ssh_config().display().to_string();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("ssh ") && c.contains(&config))
        .collect();
    assert!(left.is_empty(), "ssh processes left: {left:?}");
}
