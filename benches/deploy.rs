//! Deploy figures for the README: on 10 test hosts, an app of ~300 files and
//! ~5 MB without build commands — first deploy, unchanged redeploy, a
//! one-file change, rollback — wall time, round trips (SSH sessions) per
//! host from each sshd's log, and bytes ferry sent per host.
//!
//! Run as root: `cargo bench --bench deploy`.

// A benchmark reports on stdout; the print lints guard the library, not this.
#![allow(clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::ferry::{Ferry, Ran};
use common::hosts::{Lab, require_root};

const HOSTS: usize = 10;
const FILES: usize = 300;
const RUNS: usize = 3;

fn main() {
    require_root();
    let lab = Lab::start(HOSTS);
    let repo = lab.dir().join("bench-app");
    make_app(&repo);
    write_config(&lab, &repo);
    println!("| step | wall time (median of {RUNS}) | round trips per host | sent per host |");
    println!("|---|---:|---:|---:|");
    let mut n = 0;
    let mut measure = |label: &str, before: &mut dyn FnMut(usize), args: &[&str]| {
        let mut samples = Vec::new();
        let mut figures = (0, 0);
        for _ in 0..RUNS {
            before(n);
            n += 1;
            let sessions: usize = lab.hosts().iter().map(|h| h.sessions()).sum();
            let started = Instant::now();
            let ran = ferry(&lab, &repo, args);
            samples.push(started.elapsed());
            assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
            let after: usize = lab.hosts().iter().map(|h| h.sessions()).sum();
            figures = ((after - sessions) / HOSTS, sent(&ran) / HOSTS as u64);
        }
        samples.sort();
        println!(
            "| {label} | {} | {} | {} |",
            ms(samples[RUNS / 2]),
            figures.0,
            kib(figures.1)
        );
    };
    // The first deploy of each run needs a fresh deploy_to.
    measure(
        "first deploy",
        &mut |n| clear(&lab, n),
        &["lab", "deploy", "--json", "--set", "deploy_to=/srv/bench0"],
    );
    measure(
        "unchanged redeploy",
        &mut |_| {},
        &["lab", "deploy", "--json", "--set", "deploy_to=/srv/bench0"],
    );
    measure(
        "one file changed",
        &mut |n| change_one_file(&repo, n),
        &["lab", "deploy", "--json", "--set", "deploy_to=/srv/bench0"],
    );
    measure(
        "rollback",
        &mut |_| {},
        &[
            "lab",
            "rollback",
            "--json",
            "--set",
            "deploy_to=/srv/bench0",
        ],
    );
}

fn clear(lab: &Lab, _: usize) {
    for host in lab.hosts() {
        host.exec_ok("rm -rf /srv/bench0");
    }
}

fn ferry(lab: &Lab, repo: &std::path::Path, args: &[&str]) -> Ran {
    let config = repo.join("ferry.toml");
    Ferry::lab(lab).run(&[&["--config", config.to_str().unwrap(), "-q"], args].concat())
}

/// Bytes sent to all hosts, from the recap in the last JSON event.
fn sent(ran: &Ran) -> u64 {
    let last = ran.stdout.lines().last().unwrap();
    let event: serde_json::Value = serde_json::from_str(last).unwrap();
    event["recap"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["bytes_sent"].as_u64().unwrap())
        .sum()
}

/// ~300 files, ~5 MB: Python modules, templates, and a few larger assets,
/// with text that compresses the way source does (about 4:1).
fn make_app(repo: &std::path::Path) {
    std::fs::create_dir_all(repo).unwrap();
    let mut state: u64 = 42;
    let mut word = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        [
            "def", "self", "return", "import", "request", "value", "items", "for", "in", "if",
            "user", "data", "render", "query", "None",
        ][(state >> 33) as usize % 15]
    };
    for i in 0..FILES {
        let dir = repo.join(format!("app/module{}", i % 12));
        std::fs::create_dir_all(&dir).unwrap();
        let size = if i % 50 == 0 { 150_000 } else { 12_000 };
        let mut text = String::with_capacity(size);
        while text.len() < size {
            text.push_str(word());
            text.push(if text.len() % 60 < 8 { '\n' } else { ' ' });
        }
        std::fs::write(dir.join(format!("file{i}.py")), text).unwrap();
    }
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    commit(repo);
}

fn write_config(lab: &Lab, repo: &std::path::Path) {
    let targets: Vec<String> = lab
        .hosts()
        .iter()
        .map(|h| format!("\"{}\"", h.target()))
        .collect();
    let config = format!(
        "app = \"bench\"\ndeploy_to = \"/srv/bench0\"\nconnect_timeout = 5\nparallel = 16\n\n[environments.lab]\nhosts = [{}]\n",
        targets.join(", ")
    );
    std::fs::write(repo.join("ferry.toml"), config).unwrap();
    commit(repo);
}

fn change_one_file(repo: &std::path::Path, n: usize) {
    std::fs::write(
        repo.join("app/module1/file1.py"),
        format!("VERSION = {n}\n{}", "x = 1\n".repeat(1500)),
    )
    .unwrap();
    commit(repo);
}

fn commit(repo: &std::path::Path) {
    git(repo, &["add", "--all"]);
    git(
        repo,
        &[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "bench",
        ],
    );
}

fn git(repo: &std::path::Path, args: &[&str]) {
    assert!(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .status()
            .unwrap()
            .success()
    );
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn kib(bytes: u64) -> String {
    if bytes > 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / 1048576.0)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
