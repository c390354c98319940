//! The content store on real hosts: a release's files are hard links into
//! `<deploy_to>/.ferry/store/`, read-only, so a new release costs links for
//! what did not change, and an older release never changes when a newer one
//! is written or built — whatever its build does to the files they share.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use common::app::{App, current, ferry};
use common::ferry::{lab_config, write_config};
use common::hosts::{Host, Lab};
use common::release::release_files;

/// Bytes and mode of every file under a release: what must never change.
fn snapshot(host: &Host, release: &str) -> BTreeMap<String, (Vec<u8>, u32)> {
    release_files(host, release, &[])
        .into_iter()
        .map(|(path, (bytes, meta))| (path, (bytes, meta.mode())))
        .collect()
}

fn project(lab: &Lab, build: &[&str]) -> App {
    let app = App::at(&lab.dir().join("store-app"));
    std::fs::create_dir_all(&app.dir).unwrap();
    app.write("app.py", "GREETING = 'hello'\n");
    app.write("lib/util.py", "def util():\n    return 1\n");
    app.write("lib/same.txt", "same bytes\n");
    app.write("lib/also-same.txt", "same bytes\n");
    configure(lab, &app, build);
    app.git(&["init", "--quiet", "--initial-branch=main"]);
    app.commit("v1");
    app
}

fn configure(lab: &Lab, app: &App, build: &[&str]) {
    let build: Vec<String> = build.iter().map(|c| format!("{c:?}")).collect();
    write_config(
        &app.dir,
        &lab_config(lab, &format!("[deploy]\nbuild = [{}]\n", build.join(", "))),
    );
}

fn ino(host: &Host, path: &str) -> u64 {
    std::fs::metadata(host.path(path)).unwrap().ino()
}

#[test]
fn an_older_release_is_unchanged_by_a_build_that_writes_into_files_it_shares() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let app = project(&lab, &[]);
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let first = current(host).unwrap();
    let v1 = snapshot(host, &first);

    // v2 changes one file; its build rewrites a shared file with `sed -i`,
    // which replaces it: the link breaks, the older release keeps its bytes.
    app.write("app.py", "GREETING = 'hi'\n");
    configure(&lab, &app, &["sed -i s/1/2/ lib/util.py"]);
    app.commit("v2");
    ferry(&lab, &app, &["lab", "deploy"]).success();
    let second = current(host).unwrap();
    assert_ne!(first, second);
    assert_eq!(snapshot(host, &first), v1, "the older release changed");
    let release = |id: &str, path: &str| format!("/srv/app/releases/{id}/{path}");
    assert_eq!(
        std::fs::read_to_string(host.path(&release(&second, "lib/util.py"))).unwrap(),
        "def util():\n    return 2\n"
    );
    // What did not change is the same inode, read-only, in both releases and the store.
    let kept = ino(host, &release(&first, "lib/same.txt"));
    assert_eq!(kept, ino(host, &release(&second, "lib/same.txt")));
    assert_eq!(kept, ino(host, &release(&second, "lib/also-same.txt")));
    let meta = std::fs::metadata(host.path(&release(&second, "lib/same.txt"))).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o444);
    let store = host.path("/srv/app/.ferry/store");
    assert!(
        std::fs::read_dir(&store)
            .unwrap()
            .any(|e| e.unwrap().metadata().unwrap().ino() == kept),
        "the shared file is the store's"
    );
    assert_eq!(
        std::fs::metadata(&store).unwrap().mode() & 0o222,
        0,
        "the store's directory is read-only between deploys"
    );

    // v3's build writes into a shared file in place: it is refused, the
    // deploy fails, and neither older release changed.
    let v2 = snapshot(host, &second);
    app.write("app.py", "GREETING = 'hey'\n");
    configure(&lab, &app, &["echo tampered >> lib/same.txt"]);
    app.commit("v3");
    let ran = ferry(&lab, &app, &["lab", "deploy"]);
    ran.code(1);
    assert!(
        ran.stdout.contains("Permission denied"),
        "the write was refused:\n{}",
        ran.stdout
    );
    assert_eq!(current(host).unwrap(), second);
    assert_eq!(snapshot(host, &first), v1, "the first release changed");
    assert_eq!(snapshot(host, &second), v2, "the second release changed");
}

/// Store entries: name -> link count.
fn store(host: &Host) -> BTreeMap<String, u64> {
    std::fs::read_dir(host.path("/srv/app/.ferry/store"))
        .map(|dir| {
            dir.map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, e.metadata().unwrap().nlink())
            })
            .collect()
        })
        .unwrap_or_default()
}

#[test]
fn cleanup_removes_store_entries_no_release_links_to() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let app = project(&lab, &[]);
    for n in 0..3 {
        app.write("app.py", &format!("VERSION = {n}\n"));
        app.commit("next");
        ferry(&lab, &app, &["lab", "deploy"]).success();
    }
    // Three versions of app.py, one of each other file (same.txt twice, one
    // inode; ferry.toml ships too).
    assert_eq!(store(host).len(), 6, "{:?}", store(host));
    ferry(&lab, &app, &["lab", "cleanup", "--set", "keep_releases=1"]).success();
    common::app::wait_for("the collector", || {
        store(host).len() == 5 && !host.path("/srv/app/.ferry/store.lock").exists()
    });
    assert!(store(host).values().all(|links| *links > 1));
    let trash = host.path("/srv/app/.ferry/trash");
    assert!(
        std::fs::read_dir(&trash).map_or(true, |mut entries| entries.next().is_none()),
        "the trash is emptied"
    );
}
