//! A PEM-shaped canary secret through every form ferry's output takes, on the
//! `local` target: a step that prints it (whole, and in pieces with a pause
//! between them), a step that prints it and fails, a health check whose
//! output holds it, a provisioned file that holds it. No line of the key
//! shows in plain output, `-v`, `--json`, `-q`, failure messages, the recap,
//! `history`, the records ferry writes on the host or `provision --diff`.
//! One test runs over SSH to a real host, where output crosses a network.
//! Also: a provisioned file holding a secret is 0600, and a secret written
//! literally in ferry.toml is refused before anything runs.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::ferry::{Ferry, Ran, lab_config, write_config};
use common::hosts::Lab;

const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIICdgIBADANBgkqhkiG9w0BcanaryAQEFAASCAmAwggJcAgEAAoGBAMx7
yQ2canaryLd9tTr3fGq0Vb8kPzW4mNcE1uJhR6sXo5aT7dKi2LpYw0vB
canaryQIDAQABAoGAE3fQ8pTk2Wm9yVxN1bR4cH7jL0sZ6uKaD5gO3iPq
-----END PRIVATE KEY-----";

/// The same shape, another key: what a rotated secret leaves on the host.
const OLD_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIICeAIBADANBgkqhkiG9w0BoldkeyAQEFAASCAmIwggJeAgEAAoGBANq1
Zt4oldkeyWx8uYk2pLmN0aB3cD5eF7gH9iJ1kL3mN5oP7qR9sT1uV3wX
oldkeyQIDAQABAoGBAKx2yZ4aB6cD8eF0gH2iJ4kL6mN8oP0qR2sT4uVw
-----END PRIVATE KEY-----";

/// A piece of a secret's lines shown anywhere in `text`, if any: any eight
/// characters in a row of a line of the key's body (the BEGIN and END lines
/// are the same in every key).
fn leak(key: &str, text: &str) -> Option<String> {
    key.lines()
        .filter(|line| !line.starts_with("-----"))
        .flat_map(|line| line.as_bytes().windows(8))
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .find(|piece| text.contains(piece.as_str()))
}

fn assert_masked(what: &str, text: &str) {
    for key in [KEY, OLD_KEY] {
        if let Some(piece) = leak(key, text) {
            panic!("{what} shows `{piece}` of a secret:\n{text}");
        }
    }
}

fn assert_ran_masked(what: &str, ran: &Ran) {
    assert_masked(&format!("{what} (stdout)"), &ran.stdout);
    assert_masked(&format!("{what} (stderr)"), &ran.stderr);
}

/// The key comes from the environment, and two tasks print it.
const TASKS: &str = r#"
[secrets]
TLS_KEY = "${TLS_KEY}"

[tasks.show]
description = "Print the key, whole and in pieces"
steps = [
    "printf '%s\n' \"$TLS_KEY\"",
    "printf '%s' \"${TLS_KEY%%cana*}\"; sleep 0.3; printf 'cana%s\n' \"${TLS_KEY#*cana}\"",
]

[tasks.leak]
description = "Print the key, then fail"
steps = ["printf '%s\n' \"$TLS_KEY\" >&2; printf 'last: %s\n' \"$(printf '%s' \"$TLS_KEY\" | sed -n 2p)\"; exit 3"]
"#;

/// A deploy whose build prints the key, and files that hold it.
const DEPLOY_AND_PROVISION: &str = r#"
[deploy]
source = "dir"
exclude = ["/srv", ".home"]
build = ["printf '%s\n' \"$TLS_KEY\""]

[provision]
become = false

[provision.files."{{ deploy_to }}/shared/tls.key"]
content = "{{ secrets.TLS_KEY }}\n"

[provision.files."{{ deploy_to }}/shared/public.txt"]
content = "nothing to hide\n"

[provision.files."{{ deploy_to }}/shared/chosen.key"]
content = "{{ secrets.TLS_KEY }}\n"
mode = "0640"
"#;

/// The body is longer than the 300 bytes a failure message quotes, so the
/// quote starts inside the key.
const HEALTH_COMMAND: &str = r#"
[deploy.health]
command = "printf '%s\n' \"$TLS_KEY\"; printf 'and more %.0s' 1 2 3 4 5 6 7 8 9 10 11 12 13 14; exit 1"
deadline = 1
interval = 1
"#;

fn project(dir: &Path) {
    project_with(dir, HEALTH_COMMAND);
}

fn project_with(dir: &Path, health: &str) {
    std::fs::write(dir.join("main.py"), "print('v1')\n").unwrap();
    let config = format!(
        "app = \"demo\"\ndeploy_to = \"{}\"\n{TASKS}{DEPLOY_AND_PROVISION}\n{health}\n[environments.here]\nhosts = [\"local\"]\n",
        dir.join("srv").display()
    );
    std::fs::write(dir.join("ferry.toml"), config).unwrap();
}

/// An HTTP server on this machine that answers every request with a 500
/// whose body holds the key, cut by the 300 bytes a failure quotes (the
/// quote ends inside the key).
fn leaky_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let body = format!("database error: {} {KEY}\n", "x".repeat(120));
            let answer = format!(
                "HTTP/1.0 500 Internal Server Error\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut stream, answer.as_bytes());
        }
    });
    port
}

fn ferry(dir: &Path, key: &str, args: &[&str]) -> Ran {
    Ferry::new(dir).env("TLS_KEY", key).run(args)
}

#[test]
fn a_step_printing_a_multi_line_secret_shows_it_masked_in_every_form() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    for flags in [
        &[][..],
        &["-v"],
        &["-vv"],
        &["-vv", "--json"],
        &["--json"],
        &["-q"],
    ] {
        let ran = ferry(dir.path(), KEY, &[&["here", "show"], flags].concat());
        ran.success();
        assert_ran_masked(&format!("show {flags:?}"), &ran);
        if flags.is_empty() {
            // Every line of the key, the one printed in two pieces too.
            let masked = ran.lines_of("local");
            assert_eq!(
                masked.iter().filter(|l| *l == "********").count(),
                2 * KEY.lines().count(),
                "{}",
                ran.stdout
            );
        }
    }
}

#[test]
fn a_failing_step_quotes_its_last_line_masked() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    for flags in [&[][..], &["-q"], &["--json"]] {
        let ran = ferry(dir.path(), KEY, &[&["here", "leak"], flags].concat());
        ran.code(1);
        assert_ran_masked(&format!("leak {flags:?}"), &ran);
        if flags == ["-q"] {
            assert!(
                ran.stdout.contains("exited with 3: last: ********"),
                "{}",
                ran.stdout
            );
        }
    }
}

#[test]
fn a_failed_deploy_and_its_records_never_show_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    for flags in [&[][..], &["--json"]] {
        let ran = ferry(dir.path(), KEY, &[&["here", "deploy"], flags].concat());
        ran.code(1);
        assert_ran_masked(&format!("deploy {flags:?}"), &ran);
        if flags.is_empty() {
            assert!(
                ran.stdout.contains("health check failed: ") && ran.stdout.contains("and more"),
                "{}",
                ran.stdout
            );
        }
    }
    let ran = ferry(dir.path(), KEY, &["here", "history"]);
    ran.success();
    assert_ran_masked("history", &ran);
    assert!(ran.stdout.contains("failed"), "{}", ran.stdout);
    let srv = dir.path().join("srv");
    let history = std::fs::read_to_string(srv.join(".ferry/history.jsonl")).unwrap();
    assert_masked("history.jsonl", &history);
    for release in std::fs::read_dir(srv.join("releases")).unwrap() {
        let record = release.unwrap().path().join(".ferry/release.json");
        let text = std::fs::read_to_string(&record).unwrap();
        assert!(text.contains("\"state\":\"failed\""), "{text}");
        assert_masked("release.json", &text);
    }
}

#[test]
fn a_health_check_answered_with_the_key_shows_it_masked() {
    let dir = tempfile::tempdir().unwrap();
    let health = format!(
        "[deploy.health]\nurl = \"http://127.0.0.1:{}/\"\ndeadline = 1\ninterval = 1\n",
        leaky_server()
    );
    project_with(dir.path(), &health);
    let ran = ferry(dir.path(), KEY, &["here", "deploy"]);
    ran.code(1);
    assert_ran_masked("deploy with a leaky health URL", &ran);
    assert!(
        ran.stdout
            .contains("health check failed: database error: xxx"),
        "{}",
        ran.stdout
    );
}

#[test]
fn provisioned_secret_files_are_private_and_their_diff_is_masked() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let shared = dir.path().join("srv/shared");
    let mode = |name: &str| {
        std::fs::metadata(shared.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };

    let ran = ferry(dir.path(), OLD_KEY, &["here", "provision", "--diff"]);
    ran.success();
    assert_ran_masked("provision --diff", &ran);
    assert_eq!(mode("tls.key"), 0o600, "a file holding a secret");
    assert_eq!(mode("chosen.key"), 0o640, "the config's mode wins");
    assert_eq!(mode("public.txt"), 0o644, "a file without one");
    let held = std::fs::read_to_string(shared.join("tls.key")).unwrap();
    assert_eq!(held, format!("{OLD_KEY}\n"));

    // A rotated key: neither the old one on the host nor the new one shows.
    for flags in [&["--check", "--diff"][..], &["--check", "--diff", "--json"]] {
        let ran = ferry(dir.path(), KEY, &[&["here", "provision"], flags].concat());
        ran.success();
        assert_ran_masked(&format!("provision {flags:?}"), &ran);
    }
    let ran = ferry(dir.path(), KEY, &["here", "provision", "--check", "--diff"]);
    let diff = ran.lines_of("local");
    assert!(
        diff.iter().any(|l| l == "-********") && diff.iter().any(|l| l == "+********"),
        "{}",
        ran.stdout
    );

    // A file made 0644 by hand is made private again.
    std::fs::set_permissions(
        shared.join("tls.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    ferry(dir.path(), KEY, &["here", "provision"]).success();
    assert_eq!(mode("tls.key"), 0o600);
}

#[test]
fn a_secret_written_in_ferry_toml_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "app = \"demo\"\ndeploy_to = \"{}\"\n\n[secrets]\nAPI_TOKEN = \"tok-written-in-the-file\"\n\n[tasks.hi]\nsteps = [\"true\"]\n\n[environments.here]\nhosts = [\"local\"]\n",
        dir.path().join("srv").display()
    );
    std::fs::write(dir.path().join("ferry.toml"), config).unwrap();
    let ran = Ferry::new(dir.path()).run(&["here", "hi"]);
    ran.code(2);
    assert!(
        ran.stderr
            .contains("secret `API_TOKEN` is written in ferry.toml"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("ferry.toml:5:13"), "{}", ran.stderr);
    assert!(ran.stderr.contains("${API_TOKEN}"), "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("tok-written-in-the-file"),
        "the error does not repeat the value: {}",
        ran.stderr
    );
    assert!(!dir.path().join("srv").exists(), "nothing ran");
}

#[test]
fn over_ssh_a_key_printed_in_pieces_is_masked() {
    let lab = Lab::start(1);
    write_config(lab.dir(), &lab_config(&lab, TASKS));
    let host = lab.host(0).target();
    for (task, code) in [("show", 0), ("leak", 1)] {
        for flags in [&[][..], &["-v"], &["--json"], &["-q"]] {
            let ran = Ferry::lab(&lab)
                .env("TLS_KEY", KEY)
                .run(&[&["lab", task], flags].concat());
            ran.code(code);
            assert_ran_masked(&format!("{task} {flags:?} over ssh"), &ran);
            if task == "show" && flags.is_empty() {
                let masked = ran.lines_of(&host);
                assert_eq!(
                    masked.iter().filter(|l| *l == "********").count(),
                    2 * KEY.lines().count(),
                    "{}",
                    ran.stdout
                );
            }
        }
    }
}
