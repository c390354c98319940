//! Deploys to the `local` target: the same scripts as over SSH, run by `sh`
//! on this machine. Quick checks of what does not need several hosts.

mod common;

use std::path::Path;

use common::ferry::Ferry;

fn project(dir: &Path, deploy: &str) {
    std::fs::create_dir_all(dir.join("app/static")).unwrap();
    std::fs::write(dir.join("app/main.py"), "print('v1')\n").unwrap();
    std::fs::write(dir.join("app/static/site.css"), "body {}\n").unwrap();
    std::fs::write(dir.join("app/notes.pyc"), "compiled\n").unwrap();
    let config = format!(
        "app = \"demo\"\ndeploy_to = \"{}\"\n\n[deploy]\n{deploy}\n\n[environments.here]\nhosts = [\"local\"]\n",
        dir.join("srv").display()
    );
    std::fs::write(dir.join("ferry.toml"), config).unwrap();
}

fn git(dir: &Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

fn live(dir: &Path) -> String {
    std::fs::read_link(dir.join("srv/current"))
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_directory_source_ships_the_tree_minus_excludes() {
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "source = \"dir\"\nexclude = [\"*.pyc\", \"/srv\", \".home\"]",
    );
    Ferry::new(dir.path()).run(&["here", "deploy"]).success();
    let current = dir.path().join("srv/current");
    assert_eq!(
        std::fs::read_to_string(current.join("app/main.py")).unwrap(),
        "print('v1')\n"
    );
    assert!(current.join("app/static/site.css").exists());
    assert!(!current.join("app/notes.pyc").exists(), "excluded");
    let record = std::fs::read_to_string(current.join(".ferry/release.json")).unwrap();
    assert!(
        record.contains("\"ref\":\"dir\"") && record.contains("\"state\":\"deployed\""),
        "{record}"
    );
}

#[test]
fn a_dirty_work_tree_is_named_and_the_commit_ships_as_committed() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), "");
    std::fs::write(dir.path().join(".gitignore"), "srv/\n.home/\n").unwrap();
    git(dir.path(), &["init", "--quiet", "--initial-branch=main"]);
    git(dir.path(), &["add", "--all"]);
    git(dir.path(), &["commit", "--quiet", "-m", "v1"]);
    std::fs::write(dir.path().join("app/main.py"), "print('not committed')\n").unwrap();
    let ran = Ferry::new(dir.path()).run(&["here", "deploy"]);
    ran.success();
    assert!(
        ran.stdout
            .contains("warning: the work tree has uncommitted changes (app/main.py)"),
        "{}",
        ran.stdout
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("srv/current/app/main.py")).unwrap(),
        "print('v1')\n"
    );

    let ran = Ferry::new(dir.path()).run(&["here", "deploy:ref=nope"]);
    ran.code(2);
    assert!(
        ran.stderr.contains("no commit named `nope`"),
        "{}",
        ran.stderr
    );
}

#[test]
fn rollback_to_a_named_release_and_back_again() {
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "source = \"dir\"\nexclude = [\"/srv\", \".home\"]",
    );
    Ferry::new(dir.path()).run(&["here", "deploy"]).success();
    let first = live(dir.path());
    std::fs::write(dir.path().join("app/main.py"), "print('v2')\n").unwrap();
    Ferry::new(dir.path()).run(&["here", "deploy"]).success();
    std::fs::write(dir.path().join("app/main.py"), "print('v3')\n").unwrap();
    Ferry::new(dir.path()).run(&["here", "deploy"]).success();
    let third = live(dir.path());
    Ferry::new(dir.path())
        .run(&["here", &format!("rollback:to={first}")])
        .success();
    assert_eq!(live(dir.path()), first);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("srv/current/app/main.py")).unwrap(),
        "print('v1')\n"
    );
    let refused = Ferry::new(dir.path()).run(&["here", &format!("rollback:to={third}")]);
    refused.code(1);
    assert!(
        refused
            .stdout
            .contains(&format!("release {third} is marked failed")),
        "{}",
        refused.stdout
    );
    let ran = Ferry::new(dir.path()).run(&["here", "rollback:to=20000101T000000Z"]);
    ran.code(1);
    assert!(
        ran.stdout
            .contains("local does not have release 20000101T000000Z"),
        "{}",
        ran.stdout
    );
}

#[test]
fn ctrl_c_during_a_deploy_stops_it_and_releases_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "source = \"dir\"\nexclude = [\"/srv\", \".home\"]\nbuild = [\"touch built; sleep 2\", \"touch never\"]",
    );
    let child = Ferry::new(dir.path()).spawn(&["here", "deploy", "check"]);
    let lock = dir.path().join("srv/.ferry/lock");
    let partial_built = || {
        std::fs::read_dir(dir.path().join("srv/releases"))
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("built").exists())
    };
    common::app::wait_for("the build to start", partial_built);
    assert!(lock.exists(), "the deploy holds the lock");
    common::ferry::interrupt(&child);
    let ran = common::ferry::finish(child);
    ran.code(130);
    assert!(!lock.exists(), "the lock was released");
    assert!(
        !dir.path().join("srv/current").exists(),
        "nothing was switched"
    );
    assert!(
        !ran.stdout.contains("==> check"),
        "no new task starts: {}",
        ran.stdout
    );
    let resumed = Ferry::new(dir.path()).run(&["here", "deploy:resume=yes"]);
    resumed.success();
    // The build that was running when Ctrl-C came finished; resume switches to it.
    assert!(dir.path().join("srv/current/never").exists());
}

#[test]
fn old_releases_leave_at_once_and_are_deleted_after() {
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "source = \"dir\"\nexclude = [\"/srv\", \".home\"]",
    );
    let config = dir.path().join("ferry.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("app = \"demo\"", "app = \"demo\"\nkeep_releases = 1"),
    )
    .unwrap();
    let mut ids = Vec::new();
    for n in 1..=4 {
        std::fs::write(dir.path().join("app/main.py"), format!("print({n})\n")).unwrap();
        let ran = Ferry::new(dir.path()).run(&["here", "deploy"]);
        ran.success();
        ids.push(live(dir.path()));
    }
    let mut left: Vec<String> = std::fs::read_dir(dir.path().join("srv/releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    // The live one and the previous good one stay; the rest were renamed away.
    assert_eq!(left, ids[2..], "releases left");
    let trash = dir.path().join("srv/.ferry/trash");
    common::app::wait_for("the trash to be emptied", || empty(&trash));
}

#[test]
fn a_directory_source_skips_what_gitignore_lists() {
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "source = \"dir\"\nexclude = [\"/srv\", \".home\"]",
    );
    let write = |path: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x\n").unwrap();
    };
    write(".venv/bin/python");
    write("web/node_modules/react/index.js");
    write("app/logs/today.log");
    write("app/logs/keep.log");
    write("app/data/a/b/cache.bin");
    write("app/notes.tmp");
    std::fs::write(
        dir.path().join(".gitignore"),
        ".venv/\nnode_modules/\n*.log\n!keep.log\napp/**/cache.bin\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("app/.ignore"), "*.tmp\n").unwrap();
    Ferry::new(dir.path()).run(&["here", "deploy"]).success();
    let current = dir.path().join("srv/current");
    assert!(current.join("app/main.py").exists());
    assert!(
        current.join(".gitignore").exists(),
        "like git, the file ships"
    );
    for gone in [
        ".venv",
        "web/node_modules",
        "app/logs/today.log",
        "app/data/a/b/cache.bin",
        "app/notes.tmp",
    ] {
        assert!(!current.join(gone).exists(), "{gone} shipped");
    }
    assert!(
        current.join("app/logs/keep.log").exists(),
        "a negation keeps it"
    );
    assert!(
        current.join("app/notes.pyc").exists(),
        "listed nowhere, shipped"
    );
}

/// A deploy_to whose name holds what awk would read as an escape (`\t`)
/// is only a name: the unchanged files of the next release are linked
/// from the live one (the same inode), not sent again, and the collector
/// removes the store entries no release names once the trash is gone.
#[test]
fn a_deploy_to_with_a_backslash_in_its_name_keeps_its_files_linked() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "source = \"dir\"\nexclude = [\"/srv\", \".home\"]",
    );
    let outside = tempfile::tempdir().unwrap();
    let srv = outside.path().join("a\\tb").join("srv");
    let config = dir.path().join("ferry.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let toml_path = srv.display().to_string().replace('\\', "\\\\");
    std::fs::write(
        &config,
        text.replace(&dir.path().join("srv").display().to_string(), &toml_path)
            .replace("app = \"demo\"", "app = \"demo\"\nkeep_releases = 1"),
    )
    .unwrap();
    let css = |release: &str| {
        std::fs::metadata(
            srv.join("releases")
                .join(release)
                .join("app/static/site.css"),
        )
        .unwrap()
        .ino()
    };
    let mut ids = Vec::new();
    for n in 1..=3 {
        std::fs::write(dir.path().join("app/main.py"), format!("print({n})\n")).unwrap();
        Ferry::new(dir.path()).run(&["here", "deploy"]).success();
        let id = std::fs::read_link(srv.join("current")).unwrap();
        ids.push(id.file_name().unwrap().to_string_lossy().into_owned());
    }
    assert_eq!(css(&ids[1]), css(&ids[2]), "an unchanged file is linked");
    // Store entries are named `<sha256>-<mode>`: print(1) belonged only to
    // the release removed.
    let entry = |text: &str| {
        use sha2::Digest;
        let digest: String = sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        srv.join(".ferry/store").join(format!("{digest}-0444"))
    };
    common::app::wait_for("the collector", || {
        empty(&srv.join(".ferry/trash")) && !entry("print(1)\n").exists()
    });
    for kept in ["print(2)\n", "print(3)\n", "body {}\n"] {
        assert!(entry(kept).exists(), "{kept:?} stays in the store");
    }
}

/// A directory with nothing in it, or none at all (the trash is kept for
/// the next deploy's removals once emptied).
fn empty(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
}
