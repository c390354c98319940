//! Releases on real hosts: deploy, the bytes a change costs, health checks
//! that put hosts back, failed migrations, cut hosts and resume, locks,
//! rollback, cleanup, setup_release, hotfix — the example app served by
//! gunicorn under supervisor on every host, asked over HTTP.

mod common;

use std::collections::BTreeMap;

use common::app::{self, App, current, get, releases, stall_session, supervise, wait_for};
use common::ferry::{Ferry, Ran};
use common::hosts::{Host, Lab};

fn lab(n: usize, extra: &str) -> (Lab, App) {
    let lab = Lab::start(n);
    let app = App::new(&lab, extra);
    for host in lab.hosts() {
        supervise(host);
    }
    (lab, app)
}

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

/// Digest and mtime of every file under a release: what must never change.
fn snapshot(host: &Host, release: &str) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    let root = host.path(&format!("/srv/app/releases/{release}"));
    let mut files = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() && entry.file_name() != "venv" {
                stack.push(entry.path());
            } else if meta.is_file() {
                let key = entry
                    .path()
                    .strip_prefix(&root)
                    .unwrap()
                    .display()
                    .to_string();
                files.insert(
                    key,
                    (
                        std::fs::read(entry.path()).unwrap(),
                        meta.modified().unwrap(),
                    ),
                );
            }
        }
    }
    files
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
