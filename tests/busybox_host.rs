//! A host whose `sh` and tools are BusyBox's, as on Alpine: the deploy
//! user's PATH starts with a directory of BusyBox applets (set in its own
//! ~/.ssh/environment, on this test host alone). Two deploys (the second
//! copies unchanged files from the first, after reading their digests and
//! modes) and a rollback work there, and `check` says what BusyBox lacks.

mod common;

use common::ferry::{Ferry, lab_config, write_config};
use common::hosts::{Host, Lab};

fn busybox_first(host: &Host) {
    host.exec_ok(
        "mkdir -p /home/deploy/bb && cd /home/deploy/bb && \
         for a in $(busybox --list); do ln -sf /usr/bin/busybox \"$a\"; done && \
         echo PATH=/home/deploy/bb:/usr/bin:/bin >/home/deploy/.ssh/environment && \
         chown -R deploy /home/deploy/bb /home/deploy/.ssh/environment",
    );
}

const PROJECT: &str = r#"
[deploy]
source = "dir"
path = "site"

[tasks.shell]
description = "Say which sh and sha256sum run the steps"
steps = ["readlink /proc/$$/exe", "command -v sha256sum"]
"#;

#[test]
fn a_deploy_and_a_rollback_work_with_busybox_tools() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    busybox_first(host);
    write_config(lab.dir(), &lab_config(&lab, PROJECT));
    let site = lab.dir().join("site");
    std::fs::create_dir_all(site.join("sub")).unwrap();
    std::fs::write(site.join("a.txt"), "v1\n").unwrap();
    std::fs::write(site.join("sub/b.txt"), "unchanged\n").unwrap();
    std::fs::write(site.join("back\\slash.txt"), "odd name\n").unwrap();

    let shell = Ferry::lab(&lab).run(&["lab", "shell"]);
    shell.success();
    let lines = shell.lines_of(&host.target());
    // BusyBox sh runs its own applets first (`command -v` names the bare
    // applet), else finds them first on PATH.
    assert_eq!(lines[0], "/usr/bin/busybox", "{lines:?}");
    assert!(
        ["sha256sum", "/home/deploy/bb/sha256sum"].contains(&lines[1].as_str()),
        "{lines:?}"
    );

    Ferry::lab(&lab).run(&["lab", "deploy"]).success();
    let first = std::fs::read_link(host.path("/srv/app/current")).unwrap();
    std::fs::write(site.join("a.txt"), "v2\n").unwrap();
    Ferry::lab(&lab).run(&["lab", "deploy"]).success();
    let read = |path: &str| std::fs::read_to_string(host.path(path)).unwrap();
    assert_eq!(read("/srv/app/current/a.txt"), "v2\n");
    assert_eq!(read("/srv/app/current/sub/b.txt"), "unchanged\n");
    assert_eq!(read("/srv/app/current/back\\slash.txt"), "odd name\n");

    Ferry::lab(&lab).run(&["lab", "rollback"]).success();
    assert_eq!(
        std::fs::read_link(host.path("/srv/app/current")).unwrap(),
        first
    );
    assert_eq!(read("/srv/app/current/a.txt"), "v1\n");

    // What BusyBox lacks is named: GNU tar's --null -T, for promotions.
    let check = Ferry::lab(&lab).run(&["lab", "check"]);
    check.code(1);
    assert_eq!(
        check.failure(&host.target()),
        "not ready: without an option ferry uses: tar -czf --no-recursion --null -T"
    );
}
