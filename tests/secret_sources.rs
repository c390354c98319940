//! Secrets fetched on this machine: from a command's stdout and from a file.
//! A step on a real SSH host sees the value (it writes its digest), no output
//! shows it (plain, -vv, --json), the command runs once per run however many
//! tasks use it, never for a run that needs no secret, and a command that
//! fails stops the run before any host changes, naming the secret and what
//! the command said on stderr.

mod common;

use std::path::Path;
use std::process::Command;

use common::ferry::{Ferry, Ran, lab_config, write_config};
use common::hosts::Lab;

const FROM_COMMAND: &str = "canary-from-a-command-7f3a9c";
const FROM_FILE: &str = "canary-from-a-file-2b8e41";

/// Prints the canary and counts its runs in `count`.
const FETCH: &str = "#!/bin/sh\necho run >>count\nprintf '%s\\n' canary-from-a-command-7f3a9c\n";

const TASKS: &str = r#"
[secrets]
DB_PASSWORD = { command = "sh ./fetch.sh" }
API_KEY = { file = "keys/api" }

[tasks.digest]
description = "Write each secret's digest, then print them"
steps = [
    "printf '%s' \"$DB_PASSWORD\" | sha256sum | cut -d' ' -f1 >/srv/db.sha",
    "printf '%s' \"$API_KEY\" | sha256sum | cut -d' ' -f1 >/srv/api.sha",
    "echo \"db=$DB_PASSWORD api=$API_KEY\"",
]

[tasks.again]
description = "Print them once more"
steps = ["echo \"$DB_PASSWORD\" >&2; echo \"$API_KEY\""]
"#;

fn sha256(text: &str) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("count"))
        .unwrap_or_default()
        .lines()
        .count()
}

fn assert_no_canary(what: &str, ran: &Ran) {
    for canary in [FROM_COMMAND, FROM_FILE] {
        for (stream, text) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
            assert!(
                !text.contains(canary) && !text.contains(&canary[7..20]),
                "{what} shows a secret on {stream}:\n{text}"
            );
        }
    }
}

fn project(lab: &Lab, secrets_and_tasks: &str) {
    write_config(lab.dir(), &lab_config(lab, secrets_and_tasks));
    std::fs::write(lab.dir().join("fetch.sh"), FETCH).unwrap();
    std::fs::create_dir_all(lab.dir().join("keys")).unwrap();
    std::fs::write(lab.dir().join("keys/api"), format!("{FROM_FILE}\n")).unwrap();
}

#[test]
fn secrets_from_a_command_and_a_file_reach_a_step_once_and_masked() {
    let lab = Lab::start(1);
    project(&lab, TASKS);
    let host = lab.host(0);
    for (n, flags) in [&[][..], &["-vv"], &["--json"]].into_iter().enumerate() {
        let ran = Ferry::lab(&lab).run(&[&["lab", "digest", "again"], flags].concat());
        ran.success();
        assert_no_canary(&format!("digest again {flags:?}"), &ran);
        assert_eq!(
            runs(lab.dir()),
            n + 1,
            "the command runs once per run, for two tasks"
        );
        if flags.is_empty() {
            assert!(
                ran.lines_of(&host.target())
                    .iter()
                    .any(|l| l == "db=******** api=********"),
                "{}",
                ran.stdout
            );
        }
    }
    let on_host = |path: &str| std::fs::read_to_string(host.path(path)).unwrap();
    assert_eq!(on_host("/srv/db.sha").trim(), sha256(FROM_COMMAND));
    assert_eq!(on_host("/srv/api.sha").trim(), sha256(FROM_FILE));

    // Runs that need no secret do not run the command.
    Ferry::lab(&lab).run(&["lab", "config"]).success();
    Ferry::lab(&lab).run(&["lab", "releases"]).success();
    assert_eq!(runs(lab.dir()), 3, "config and releases fetch nothing");
    let shown = Ferry::lab(&lab).run(&["lab", "config"]);
    assert!(
        shown.stdout.contains("command: sh ./fetch.sh") && shown.stdout.contains("file: keys/api"),
        "config shows where each secret comes from:\n{}",
        shown.stdout
    );
}

#[test]
fn a_failing_secret_command_stops_the_run_before_any_host_changes() {
    let lab = Lab::start(1);
    project(&lab, &TASKS.replace("./fetch.sh", "./sealed.sh"));
    // Half a value on stdout, then a failure: the value is never shown.
    let sealed =
        "#!/bin/sh\nprintf canary-from-a-command-7f3a9c\necho 'the vault is sealed' >&2\nexit 7\n";
    std::fs::write(lab.dir().join("sealed.sh"), sealed).unwrap();
    for flags in [&[][..], &["--json"]] {
        let ran = Ferry::lab(&lab).run(&[&["lab", "digest"], flags].concat());
        ran.code(2);
        assert_no_canary("a failed fetch", &ran);
        let said = format!("{}{}", ran.stdout, ran.stderr);
        assert!(said.contains("secret `DB_PASSWORD`"), "{said}");
        assert!(said.contains("the vault is sealed"), "{said}");
        assert!(said.contains("status 7"), "{said}");
    }
    assert!(!lab.host(0).path("/srv/db.sha").exists(), "no step ran");
    assert!(!lab.host(0).path("/srv/api.sha").exists(), "no step ran");
}

/// `ship` walks two environments, each resolving its secrets: a command
/// both use runs once for the whole run.
#[test]
fn a_ship_through_two_environments_fetches_a_secret_once() {
    let lab = Lab::start(1);
    let target = lab.host(0).target();
    let config = format!(
        r#"app = "app"
connect_timeout = 3

[secrets]
DB_PASSWORD = {{ command = "sh ./fetch.sh" }}

[deploy]
source = "dir"
path = "site"
build = ["printf '%s' \"$DB_PASSWORD\" | sha256sum | cut -d' ' -f1 >db.sha"]

[pipeline]
stages = ["staging", "production"]

[environments.staging]
hosts = ["{target}"]
deploy_to = "/srv/staging"

[environments.production]
hosts = ["{target}"]
deploy_to = "/srv/production"
"#
    );
    write_config(lab.dir(), &config);
    std::fs::write(lab.dir().join("fetch.sh"), FETCH).unwrap();
    std::fs::create_dir_all(lab.dir().join("site")).unwrap();
    std::fs::write(lab.dir().join("site/index.html"), "hello\n").unwrap();
    let ran = Ferry::lab(&lab).run(&["ship"]);
    ran.success();
    assert_no_canary("ship", &ran);
    assert_eq!(runs(lab.dir()), 1, "one fetch for two stages");
    for env in ["staging", "production"] {
        let sha = std::fs::read_to_string(lab.host(0).path(&format!("/srv/{env}/current/db.sha")));
        assert_eq!(sha.unwrap().trim(), sha256(FROM_COMMAND), "{env}");
    }
}
