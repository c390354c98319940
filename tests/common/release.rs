//! Releases as tests look at them: the example app as its own git
//! repository, for tests that run the project's ferry.toml unchanged (its
//! `staging` environment, `-H` hosts: deploys ship a commit, so the app must
//! be one), and the files of a release on a host.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::hosts::{Host, Lab};

/// Every file under release `release` of `/srv/app` on `host` (its path in
/// the release, its bytes, its metadata), not descending into directories
/// named in `skip`: what a test asserts never changes.
pub fn release_files(
    host: &Host,
    release: &str,
    skip: &[&str],
) -> BTreeMap<String, (Vec<u8>, Metadata)> {
    let root = host.path(&format!("/srv/app/releases/{release}"));
    let mut files = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() && !skip.iter().any(|s| entry.file_name() == *s) {
                stack.push(entry.path());
            } else if meta.is_file() {
                let key = entry
                    .path()
                    .strip_prefix(&root)
                    .unwrap()
                    .display()
                    .to_string();
                files.insert(key, (std::fs::read(entry.path()).unwrap(), meta));
            }
        }
    }
    files
}

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
