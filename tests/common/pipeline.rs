//! Helpers for the pipeline's tests: a small project (the example app's
//! files without services) in a git repository, environments on Lab hosts,
//! and what a user reads on a host afterwards.

use std::path::{Path, PathBuf};

use super::ferry::{Ferry, Ran};
use super::hosts::{Host, Lab};

pub fn ferry(lab: &Lab, dir: &Path, args: &[&str]) -> Ran {
    let config = dir.join("ferry.toml");
    Ferry::lab(lab).run(&[&["--config", config.to_str().unwrap()], args].concat())
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

pub fn commit(dir: &Path, file: &str, text: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "-m", text]);
    git(dir, &["rev-parse", "HEAD"])
}

/// The live release.json of `deploy_to` on a host, as JSON.
pub fn record(host: &Host, deploy_to: &str) -> serde_json::Value {
    let path = host.path(&format!("{deploy_to}/current/.ferry/release.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The id of the release `current` points at under `deploy_to`.
pub fn live_id(host: &Host, deploy_to: &str) -> String {
    record(host, deploy_to)["id"].as_str().unwrap().to_string()
}

pub fn history(host: &Host, deploy_to: &str) -> String {
    std::fs::read_to_string(host.path(&format!("{deploy_to}/.ferry/history.jsonl")))
        .unwrap_or_default()
}

/// An environment on `hosts`, all `app` and the first `db`, at `deploy_to`.
pub fn environment(name: &str, hosts: &[&Host], deploy_to: &str, extra: &str) -> String {
    let targets: Vec<String> = hosts
        .iter()
        .map(|h| format!("\"{}\"", h.target()))
        .collect();
    format!(
        "\n[environments.{name}]\nhosts = [{all}]\nroles.app = [{all}]\nroles.db = [{first}]\ndeploy_to = \"{deploy_to}\"\n{extra}\n",
        all = targets.join(", "),
        first = targets[0],
    )
}

/// A small project without services: files, a shared database migrated on
/// deploy, and whatever `tail` adds (environments, [pipeline]).
pub fn small_project(lab: &Lab, tail: &str) -> PathBuf {
    let dir = lab.dir().join("small");
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("example");
    for file in ["app.py", "manage.py", "migrations/0001_initial.sql"] {
        std::fs::copy(example.join(file), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("VERSION"), "v1\n").unwrap();
    let config = format!(
        "app = \"small\"\nconnect_timeout = 3\nkeepalive = 2\n\n[deploy]\nshared_files = [\"db.sqlite3\"]\nmigrate = [\"python3 manage.py migrate\"]\n{tail}"
    );
    std::fs::write(dir.join("ferry.toml"), config).unwrap();
    git(&dir, &["init", "--quiet", "--initial-branch=main"]);
    git(&dir, &["add", "--all"]);
    git(&dir, &["commit", "--quiet", "-m", "v1"]);
    dir
}

pub fn visits_in(host: &Host, database: &str) -> String {
    host.exec_ok(&format!(
        "python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from visit\").fetchone()[0])' {database}"
    ))
    .trim()
    .to_string()
}
