//! `ferry <env> check` on a host whose deploy user lacks a tool ferry's
//! scripts run, and has another that lacks an option ferry uses: the check
//! names both and exits non-zero. The deploy user's PATH is set in its own
//! ~/.ssh/environment on that host alone (the test sshd permits PATH there),
//! so no other host or test sees it.

mod common;

use common::ferry::{Ferry, lab_config, write_config};
use common::hosts::{Host, Lab};

/// PATH=~/bin alone, holding every program of /usr/bin but `timeout`, and
/// BusyBox's `tar` (which has no `--null`) for GNU's.
fn without_timeout_and_with_busybox_tar(host: &Host) {
    host.exec_ok(
        "mkdir -p /home/deploy/bin && cd /home/deploy/bin && \
         for f in /usr/bin/*; do ln -sf \"$f\" .; done && \
         rm -f timeout && ln -sf /usr/bin/busybox tar && \
         echo PATH=/home/deploy/bin >/home/deploy/.ssh/environment && \
         chown -R deploy /home/deploy/bin /home/deploy/.ssh/environment",
    );
}

#[test]
fn check_names_a_missing_tool_and_one_without_an_option_ferry_uses() {
    let lab = Lab::start(1);
    write_config(lab.dir(), &lab_config(&lab, ""));
    let host = lab.host(0);
    without_timeout_and_with_busybox_tar(host);
    let ran = Ferry::lab(&lab).run(&["lab", "check"]);
    ran.code(1);
    let lines = ran.lines_of(&host.target());
    assert!(
        lines
            .iter()
            .any(|l| l == "missing tools (PATH=/home/deploy/bin): timeout"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "tools without an option ferry uses: tar -czf --no-recursion --null -T"),
        "{lines:?}"
    );
    let failure = ran.failure(&host.target());
    assert_eq!(
        failure,
        "not ready: missing: timeout; without an option ferry uses: tar -czf --no-recursion --null -T",
        "{}",
        ran.stdout
    );
    assert_eq!(ran.recap(&host.target())[2], 1, "the host failed");
}
