//! What crosses between ferry and a host is data, whatever it holds: hostile
//! file names in a repository, output that forges or swallows ferry's
//! reports, exit codes the ssh client would take for its own. Real sshd
//! hosts, a real git repository.

mod common;

use std::path::Path;

use common::ferry::{Ferry, lab_config, write_config};
use common::hosts::Lab;

fn git(dir: &Path, args: &[&str]) {
    common::pipeline::git(dir, args);
}

fn commit(dir: &Path, message: &str) {
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "--message", message]);
}

/// Names that once broke the upload, or could: each must arrive as itself.
const HOSTILE: &[&str] = &[
    "FERRY_END",
    "-rf",
    "'\";$(touch canary)`touch canary2`",
    "é à ü.txt",
    "back\\slash",
    " leading space",
    "dir with space/$HOME",
];

#[test]
fn hostile_file_names_ship_intact_and_unshippable_ones_change_nothing() {
    let lab = Lab::start(2);
    let dir = lab.dir();
    write_config(dir, &lab_config(&lab, "keep_releases = 3"));
    std::fs::write(dir.join(".gitignore"), "/.home\n/.ssh*\n/known_hosts\n").unwrap();
    for (n, name) in HOSTILE.iter().enumerate() {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("file {n}\n")).unwrap();
    }
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    commit(dir, "hostile names");

    let deploy = || Ferry::lab(&lab).run(&["lab", "deploy"]);
    deploy().success();
    let arrived = |n: usize, name: &str| {
        for host in lab.hosts() {
            let body = std::fs::read_to_string(host.path(&format!("/srv/app/current/{name}")))
                .unwrap_or_else(|e| panic!("{name:?} on {}: {e}", host.target()));
            assert_eq!(body, format!("file {n}\n"), "{name:?}");
        }
    };
    for (n, name) in HOSTILE.iter().enumerate() {
        arrived(n, name);
    }
    // Changing the file once named as the upload's sentinel deploys like any other.
    std::fs::write(dir.join("FERRY_END"), "file 0\nchanged\n").unwrap();
    commit(dir, "change FERRY_END");
    let second = deploy();
    second.success();
    for host in lab.hosts() {
        let body = std::fs::read_to_string(host.path("/srv/app/current/FERRY_END")).unwrap();
        assert_eq!(body, "file 0\nchanged\n");
        for canary in ["canary", "canary2"] {
            for place in ["/srv/app/current", "/srv/app", "/home/deploy", "/tmp"] {
                assert!(
                    !host.path(&format!("{place}/{canary}")).exists(),
                    "a file name ran as shell on {}",
                    host.target()
                );
            }
        }
    }

    // A name no manifest line can carry is refused before any host changes.
    let releases = |host: &common::hosts::Host| {
        let mut ids: Vec<String> = std::fs::read_dir(host.path("/srv/app/releases"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        ids
    };
    let before: Vec<Vec<String>> = lab.hosts().iter().map(releases).collect();
    std::fs::write(dir.join("a\nb"), "newline\n").unwrap();
    commit(dir, "a newline in a name");
    let refused = deploy();
    refused.code(2);
    assert!(
        refused.stderr.contains("a\\nb") && refused.stderr.contains("nothing was sent"),
        "{}",
        refused.stderr
    );
    let after: Vec<Vec<String>> = lab.hosts().iter().map(releases).collect();
    assert_eq!(before, after, "no host changed");
}

#[test]
fn a_failing_step_is_named_with_its_own_last_words() {
    let lab = Lab::start(1);
    write_config(
        lab.dir(),
        &lab_config(
            &lab,
            r#"[tasks.migrate]
steps = ["""printf 'Applying lists.0008_item_text_unique...'
printf '%s\n' 'django.db.utils.IntegrityError: UNIQUE constraint failed' >&2
exit 1"""]

[tasks.typo]
steps = ["echo before", "manage_py_that_does_not_exist migrate"]

[tasks.forge]
steps = ["printf 'exit 4\\n000\\0'; printf '\\036ferry:failed 1 0\\n' ; echo 'healthy 1' >&3 || true; exit 3"]"#,
        ),
    );
    let target = lab.hosts()[0].target();

    // Output without a final newline cannot swallow the report of the failure.
    let ran = Ferry::lab(&lab).run(&["lab", "migrate"]);
    ran.code(1);
    let failure = ran.failure(&target);
    assert!(
        failure.contains("exited with 1")
            && failure.contains("IntegrityError: UNIQUE constraint failed")
            && !failure.contains("ferry:"),
        "{failure}"
    );

    // 127 is the step's own exit code, not ssh's word for a lost connection.
    let ran = Ferry::lab(&lab).run(&["lab", "typo"]);
    ran.code(1);
    let failure = ran.failure(&target);
    assert!(
        failure.contains("step 2 `manage_py_that_does_not_exist migrate`")
            && failure.contains("127 (command not found)"),
        "{failure}"
    );
    assert_eq!(ran.recap(&target), [0, 0, 1, 0, 0]);

    // What a step prints cannot pass for a report, on either stream.
    let ran = Ferry::lab(&lab).run(&["lab", "forge"]);
    ran.code(1);
    let failure = ran.failure(&target);
    assert!(failure.contains("exited with 3"), "{failure}");
}
