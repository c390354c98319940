//! The example app as its own git repository, for tests that run the
//! project's ferry.toml unchanged (its `staging` environment, `-H` hosts):
//! deploys ship a commit, so the app must be one.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::hosts::Lab;

/// `example/` committed in a fresh repository in the Lab's directory; its
/// ferry.toml is the one in the source tree.
pub fn example_repo(lab: &Lab) -> PathBuf {
    let dir = lab.dir().join("example");
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("example"), &dir);
    for args in [
        &["init", "--quiet", "--initial-branch=main"][..],
        &["add", "--all"],
        &[
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.invalid",
            "commit",
            "--quiet",
            "-m",
            "example",
        ],
    ] {
        assert!(
            Command::new("git")
                .arg("-C")
                .arg(&dir)
                .args(args)
                .status()
                .unwrap()
                .success()
        );
    }
    dir
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
