//! What users see without any host: help, task listings, config errors with
//! their file:line:column, `init`, the embedded demo, and the recap of a
//! local run. Snapshots, so a change to any of it shows up in review.

mod common;

use std::path::Path;

use common::ferry::{Ferry, Ran, write_config};

fn project(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), config);
    dir
}

/// Paths and timings differ per run; snapshots should not.
fn filtered(dir: &Path, text: &str) -> String {
    without_times(&text.replace(&dir.display().to_string(), "[DIR]"))
}

/// `0.01s`, `12.34s` become `[T]`.
fn without_times(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if rest[..len].contains('.') && rest[len..].starts_with('s') {
            out.push_str("[T]");
            rest = &rest[len + 1..];
        } else {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    out
}

fn snapshot(ran: &Ran, dir: &Path) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        ran.code,
        filtered(dir, &ran.stdout),
        filtered(dir, &ran.stderr)
    )
}

#[test]
fn help() {
    let dir = tempfile::tempdir().unwrap();
    let ran = Ferry::new(dir.path()).run(&["--help"]);
    insta::assert_snapshot!(snapshot(&ran, dir.path()));
}

#[test]
fn task_listing_of_the_example_app() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("example");
    let ran = Ferry::new(&example).run(&["-l"]);
    ran.success();
    insta::assert_snapshot!(ran.stdout);
    assert_eq!(Ferry::new(&example).run(&["tasks"]).stdout, ran.stdout);
}

const LOCAL: &str = r#"app = "demo"
deploy_to = "/tmp/ferry-cli-test"

[vars]
who = "world"

[environments.here]
hosts = ["local"]

[tasks.greet]
description = "Say hello"
args = { name = "you" }
steps = ["echo hello {{ args.name }} and {{ who }}"]

[tasks.fail]
steps = ["echo first", "echo about to fail; exit 4", "echo never"]
"#;

#[test]
fn recap_of_a_local_run() {
    let dir = project(LOCAL);
    let ran = Ferry::new(dir.path()).run(&["here", "greet:name=ferry", "fail", "greet"]);
    insta::assert_snapshot!(snapshot(&ran, dir.path()));
}

#[test]
fn quiet_shows_results_but_not_the_hosts_output() {
    let dir = project(LOCAL);
    let ran = Ferry::new(dir.path()).run(&["here", "greet", "-q"]);
    ran.success();
    assert!(ran.lines_of("local").is_empty(), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("local : changed") && ran.stdout.contains("RECAP"),
        "{}",
        ran.stdout
    );
}

#[test]
fn config_errors_point_at_file_line_and_column() {
    let cases = [
        ("unknown key", "app = \"x\"\ndeplo_to = \"/srv/x\"\n"),
        ("wrong type", "app = \"x\"\nkeep_releases = \"five\"\n"),
        ("unknown value", "on_failure = \"stp\"\n"),
        (
            "bad host",
            "[environments.here]\nhosts = [\"deploy@web1\", \"deploy@-oProxyCommand=evil\"]\n",
        ),
        (
            "bad port",
            "[environments.here]\nhosts = [\"web1:99999\"]\n",
        ),
        (
            "missing variable",
            "[environments.here]\nhosts = [\"deploy@${FERRY_TEST_UNSET_HOST}\"]\n",
        ),
        (
            "unknown key in a task",
            "[environments.here]\nhosts = [\"local\"]\n[tasks.t]\nstep = [\"true\"]\n",
        ),
        (
            "undefined template name",
            "[vars]\ngreeting = \"hi\"\n[environments.here]\nhosts = [\"local\"]\n[tasks.t]\nsteps = [\"echo {{ greting }}\"]\n",
        ),
        (
            "role naming an unknown host",
            "[environments.here]\nhosts = [\"web1\"]\nroles.app = [\"web2\"]\n",
        ),
        (
            "secret name that is no shell variable",
            "[secrets]\n\"API-TOKEN\" = \"x\"\n[environments.here]\nhosts = [\"local\"]\n",
        ),
        (
            "relative deploy_to",
            "deploy_to = \"srv/app\"\n[environments.here]\nhosts = [\"local\"]\n",
        ),
        (
            "unknown key in an environment's [deploy] override",
            "[deploy]\nbuild = [\"make\"]\n[environments.here]\nhosts = [\"local\"]\n[environments.other]\nhosts = [\"local\"]\n[environments.other.deploy]\nbiuld = [\"make debug\"]\n",
        ),
        (
            "wrong type in an environment's service override",
            "[services.web]\ncommand = \"app\"\n[environments.here]\nhosts = [\"local\"]\n[environments.here.services.web]\ncommand = [\"app\", \"--workers\", \"4\"]\n",
        ),
        (
            "local build whose output would not ship",
            "[deploy]\nlocal_build = [\"npm run build\"]\n[environments.here]\nhosts = [\"local\"]\n",
        ),
    ];
    let mut all = String::new();
    for (name, config) in cases {
        let dir = project(config);
        let ran = Ferry::new(dir.path()).run(&["here", "t"]);
        assert_eq!(ran.code, 2, "{name}: {ran:?}");
        assert!(ran.stdout.is_empty(), "{name}: nothing runs");
        all.push_str(&format!(
            "=== {name}\n{}\n",
            filtered(dir.path(), &ran.stderr)
        ));
    }
    insta::assert_snapshot!(all);
}

#[test]
fn usage_errors_say_what_would_work() {
    let dir = project(LOCAL);
    let cases: [&[&str]; 9] = [
        &["hre", "greet"],
        &["deploy"],
        &["greet"],
        &["completions"],
        &["here", "gret"],
        &["here", "greet:nme=x"],
        &["here", "run"],
        &["here", "greet", "--set", "whoo=x"],
        &["here", "greet", "--set", "parallel=0"],
    ];
    let mut all = String::new();
    for args in cases {
        let ran = Ferry::new(dir.path()).run(args);
        assert_eq!(ran.code, 2, "{args:?}: {ran:?}");
        all.push_str(&format!(
            "=== ferry {}\n{}\n",
            args.join(" "),
            filtered(dir.path(), &ran.stderr)
        ));
    }
    insta::assert_snapshot!(all);
}

#[test]
fn set_overrides_settings_and_vars_for_one_run() {
    let dir = project(&LOCAL.replace(
        "steps = [\"echo hello",
        "steps = [\"echo {{ deploy_to }}; echo hello",
    ));
    let ran = Ferry::new(dir.path()).run(&[
        "here",
        "greet",
        "--set",
        "deploy_to=/srv/other",
        "--set",
        "who=everyone",
    ]);
    ran.success();
    assert_eq!(
        ran.lines_of("local"),
        vec!["/srv/other", "hello you and everyone"]
    );
    let ran = Ferry::new(dir.path())
        .env("FERRY_DEPLOY_TO", "/srv/from-env")
        .run(&["here", "greet"]);
    assert_eq!(ran.lines_of("local")[0], "/srv/from-env");
}

#[test]
fn init_writes_a_starter_file_once() {
    let dir = tempfile::tempdir().unwrap();
    Ferry::new(dir.path()).run(&["init"]).success();
    let written = std::fs::read_to_string(dir.path().join("ferry.toml")).unwrap();
    assert!(written.contains("[environments.production]"));
    let ran = Ferry::new(dir.path()).run(&["init"]);
    ran.code(2);
    assert!(ran.stderr.contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ferry.toml")).unwrap(),
        written
    );
    Ferry::new(dir.path()).run(&["-l"]).success();
}

#[test]
fn with_no_ferry_toml_ferry_deploys_the_bundled_example_locally() {
    let dir = tempfile::tempdir().unwrap();
    let ran = Ferry::new(dir.path()).run(&[]);
    ran.success();
    assert!(
        ran.stderr.contains("running the bundled example app"),
        "{}",
        ran.stderr
    );
    let state = dir.path().join(".home/.local/state/ferry/demo");
    let live = std::fs::read_link(state.join("srv/current")).unwrap();
    let id = live.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        ran.stdout.contains(&format!("deploy {id}")) && ran.stdout.contains("is live on 1 host"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!("local | {id}  live")),
        "releases lists it: {}",
        ran.stdout
    );
    assert!(state.join("srv/current/app.py").exists());
    assert!(
        state
            .join("srv/shared/db.sqlite3")
            .metadata()
            .unwrap()
            .len()
            > 0,
        "migrated"
    );

    // A second run is a second release, and the first becomes the previous one.
    let again = Ferry::new(dir.path()).run(&[]);
    again.success();
    assert!(
        again.stdout.contains(&format!("{id}  previous")),
        "{}",
        again.stdout
    );
}

#[test]
fn a_config_that_cannot_be_read_is_a_usage_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere/ferry.toml");
    let missing = missing.to_str().unwrap();
    for args in [
        &["--config", missing, "here", "greet"][..],
        &["--config", missing, "-l"][..],
        &["--config", dir.path().to_str().unwrap(), "here", "greet"][..],
    ] {
        let ran = Ferry::new(dir.path()).run(args);
        ran.code(2);
        assert!(ran.stdout.is_empty(), "{args:?}: nothing runs: {ran:?}");
        assert!(
            ran.stderr
                .starts_with(&format!("error: cannot read {}", args[1])),
            "{args:?}: {}",
            ran.stderr
        );
    }
}

#[test]
fn a_config_that_is_not_utf8_points_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferry.toml"),
        b"app = \"x\"\n# caf\xe9 in Latin-1\n[environments.here]\nhosts = [\"local\"]\n",
    )
    .unwrap();
    let ran = Ferry::new(dir.path()).run(&["here", "check"]);
    ran.code(2);
    assert!(ran.stdout.is_empty(), "nothing runs: {ran:?}");
    let stderr = filtered(dir.path(), &ran.stderr);
    assert!(stderr.contains("error: not UTF-8 text"), "{stderr}");
    assert!(stderr.contains("[DIR]/ferry.toml:2:6"), "{stderr}");
    assert!(
        stderr.contains("help: save ferry.toml as UTF-8"),
        "{stderr}"
    );
    // `-l` does not quietly list the built-ins alone over a broken file.
    Ferry::new(dir.path()).run(&["-l"]).code(2);
}

#[test]
fn a_reload_with_a_venv_per_release_is_refused_where_it_is_written() {
    let config = "[deploy]\ncopy_from_current = [\"venv\"]\n\n[services.web]\ncommand = \"venv/bin/gunicorn app:application\"\non_deploy = \"reload\"\n\n[environments.here]\nhosts = [\"local\"]\n[tasks.t]\nsteps = [\"true\"]\n";
    let dir = project(config);
    let ran = Ferry::new(dir.path()).run(&["here", "t"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stdout.is_empty(), "nothing runs: {ran:?}");
    let stderr = filtered(dir.path(), &ran.stderr);
    // Line 6, column 13: the value of on_deploy.
    assert!(stderr.contains("ferry.toml:6:13"), "{stderr}");
    assert!(
        stderr.contains("service `web` reloads on deploy")
            && stderr.contains("switch = \"upstream\"")
            && stderr.contains("on_deploy = \"restart\""),
        "{stderr}"
    );
    // The same service restarting on deploy loads.
    let dir = project(&config.replace("\"reload\"", "\"restart\""));
    Ferry::new(dir.path()).run(&["here", "t"]).success();
    // A shared virtualenv is replaced when the requirements change: the same.
    let shared = config.replace(
        "copy_from_current = [\"venv\"]\n",
        "[deploy.virtualenv]\npath = \"venv\"\n",
    );
    let dir = project(&shared);
    let ran = Ferry::new(dir.path()).run(&["here", "t"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    let stderr = filtered(dir.path(), &ran.stderr);
    assert!(
        stderr.contains("ferry.toml:7:13") && stderr.contains("[deploy.virtualenv]"),
        "{stderr}"
    );
}

#[test]
fn a_slotted_service_needs_a_port_it_listens_on_and_a_unit_per_slot() {
    let base = "[environments.here]\nhosts = [\"local\"]\n[tasks.t]\nsteps = [\"true\"]\n";
    let cases = [
        (
            "[services.web]\nswitch = \"upstream\"\ncommand = \"gunicorn --bind 127.0.0.1:{{ port }} app:application\"\n",
            "ferry.toml:2:11",
            "has switch = \"upstream\" but no `port`",
        ),
        (
            "[services.web]\nswitch = \"upstream\"\nport = 8001\ncommand = \"gunicorn --bind 127.0.0.1:8000 app:application\"\n",
            "ferry.toml:5:11",
            "it must listen on `{{ port }}`",
        ),
        (
            "[services.web]\nmanager = \"systemd\"\nswitch = \"upstream\"\nport = 8001\ncommand = \"gunicorn --bind 127.0.0.1:{{ port }} app:application\"\n[provision.files.\"/etc/systemd/system/app-web.service\"]\ntemplate = \"systemd.service\"\nservice = \"web\"\n",
            "ferry.toml:8:12",
            "write its templated unit `app-web@.service` yourself",
        ),
    ];
    for (config, at, message) in cases {
        let dir = project(&format!("app = \"app\"\n{config}{base}"));
        let ran = Ferry::new(dir.path()).run(&["here", "t"]);
        assert_eq!(ran.code, 2, "{ran:?}");
        let stderr = filtered(dir.path(), &ran.stderr);
        assert!(
            stderr.contains(at) && stderr.contains(message),
            "{at} {message}\n{stderr}"
        );
    }
}

/// Completions and the man page come from the clap definition; the copies
/// under docs/ must be what this ferry prints (`FERRY_UPDATE_DOCS=1`
/// rewrites them).
#[test]
fn completions_and_the_man_page_are_generated_and_current() {
    let dir = tempfile::tempdir().unwrap();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["completions", "bash"],
            "completions/ferry.bash",
            "complete -F",
        ),
        (
            &["completions", "zsh"],
            "completions/_ferry",
            "#compdef ferry",
        ),
        (
            &["completions", "fish"],
            "completions/ferry.fish",
            "complete -c ferry",
        ),
        (&["man"], "ferry.1", ".TH ferry 1"),
    ];
    for (args, file, shape) in cases {
        let ran = Ferry::new(dir.path()).run(args);
        ran.success();
        assert!(ran.stdout.contains(shape), "{args:?}:\n{}", ran.stdout);
        assert!(ran.stdout.contains("limit"), "{args:?} knows --limit");
        let path = docs.join(file);
        if std::env::var_os("FERRY_UPDATE_DOCS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &ran.stdout).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == ran.stdout,
            "docs/{file} is stale: FERRY_UPDATE_DOCS=1 cargo nextest run --test cli"
        );
    }
}

#[test]
fn color_follows_the_flag_no_color_and_clicolor_force() {
    let dir = project(LOCAL);
    let colored = |ran: &Ran| ran.stdout.contains("\x1b[");
    let run = |set: &[(&str, &str)], args: &[&str]| {
        let mut ferry = Ferry::new(dir.path());
        ferry.env_remove("NO_COLOR");
        for (k, v) in set {
            ferry.env(k, v);
        }
        let ran = ferry.run(&[&["here", "greet"], args].concat());
        ran.success();
        ran
    };
    assert!(!colored(&run(&[], &[])), "a pipe is not a terminal");
    assert!(colored(&run(&[], &["--color", "always"])));
    assert!(colored(&run(&[("CLICOLOR_FORCE", "1")], &[])));
    assert!(!colored(&run(
        &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
        &[]
    )));
    assert!(!colored(&run(
        &[("CLICOLOR_FORCE", "1")],
        &["--color", "never"]
    )));
    assert!(colored(&run(&[("NO_COLOR", "1")], &["--color=always"])));
}

#[test]
fn very_verbose_shows_each_hosts_command_and_script() {
    let dir = project(LOCAL);
    let ran = Ferry::new(dir.path()).run(&["here", "greet", "-vv"]);
    ran.success();
    assert!(ran.stdout.contains("local $ sh -c "), "{}", ran.stdout);
    assert!(
        ran.stdout
            .lines()
            .any(|l| l.starts_with("local < ") && l.contains("hello")),
        "the script's step is shown: {}",
        ran.stdout
    );
    let once = Ferry::new(dir.path()).run(&["here", "greet", "-v"]);
    assert!(!once.stdout.contains("local $ "), "{}", once.stdout);
}

/// `confirm = true` guards what changes hosts; looking never asks.
#[test]
fn only_tasks_that_change_hosts_ask_for_confirmation() {
    let dir = project(&LOCAL.replace(
        "[environments.here]\nhosts = [\"local\"]",
        "[environments.here]\nhosts = [\"local\"]\nconfirm = true",
    ));
    for read_only in [&["releases"][..], &["history", "releases"], &["check"]] {
        let ran = Ferry::new(dir.path()).run(&[&["here"], read_only].concat());
        ran.success();
        assert!(
            !ran.stderr.contains("confirmation"),
            "{read_only:?}: {}",
            ran.stderr
        );
    }
    for changing in [&["greet"][..], &["releases", "greet"], &["cleanup"]] {
        let ran = Ferry::new(dir.path()).run(&[&["here"], changing].concat());
        ran.code(2);
        assert!(
            ran.stderr
                .contains("environment `here` asks for confirmation, and there is no terminal"),
            "{changing:?}: {}",
            ran.stderr
        );
        assert!(ran.stdout.is_empty(), "nothing ran: {}", ran.stdout);
    }
}

const CANARY: &str = "canary-7f3a9c1e-not-for-your-eyes";

/// `ferry <env> config`: each value with the layer it came from, and the
/// secret masked everywhere, even copied into a var.
#[test]
fn config_shows_each_values_origin_and_masks_secrets() {
    let dir = project(
        r#"app = "demo"
deploy_to = "/srv/demo"
keep_releases = 4

[vars]
who = "world"
copied = "${APP_TOKEN}"

[secrets]
APP_TOKEN = "${APP_TOKEN}"

[environments.here]
hosts = ["local"]
keep_releases = 3
confirm = true

[environments.here.vars]
greeting = "hi"
"#,
    );
    let run = |args: &[&str]| {
        let ran = Ferry::new(dir.path())
            .env("APP_TOKEN", CANARY)
            .env("FERRY_BRANCH", "release")
            .run(&[&["here", "config", "--set", "who=everyone"], args].concat());
        ran.success();
        assert!(!ran.stdout.contains(CANARY), "{}", ran.stdout);
        assert!(
            !ran.stdout.contains("canary"),
            "no piece either: {}",
            ran.stdout
        );
        ran
    };
    let ran = run(&[]);
    insta::assert_snapshot!(filtered(dir.path(), &ran.stdout));
    let json: serde_json::Value = serde_json::from_str(run(&["--json"]).stdout.trim()).unwrap();
    assert_eq!(json["event"], "config");
    let origin = |key: &str| {
        json["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["key"] == key)
            .unwrap_or_else(|| panic!("no {key}: {json}"))["origin"]
            .as_str()
            .unwrap()
            .replace(&dir.path().display().to_string(), "[DIR]")
    };
    assert_eq!(
        origin("keep_releases"),
        "[DIR]/ferry.toml:14",
        "the environment wins over the base"
    );
    assert_eq!(origin("deploy_to"), "[DIR]/ferry.toml:2");
    assert_eq!(origin("branch"), "env FERRY_BRANCH");
    assert_eq!(origin("vars.who"), "--set");
    assert_eq!(origin("parallel"), "default");
}

/// `ferry init` in a Django project writes a starter for it: its WSGI
/// module, a virtualenv build, gunicorn, provisioning; and ferry reads it.
#[test]
fn init_in_a_django_project_writes_a_django_starter() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("shop");
    std::fs::create_dir_all(app.join("superlists")).unwrap();
    std::fs::write(app.join("manage.py"), "#!/usr/bin/env python\n").unwrap();
    std::fs::write(app.join("requirements.txt"), "django\ngunicorn\n").unwrap();
    std::fs::write(app.join("superlists/wsgi.py"), "application = None\n").unwrap();
    let ran = Ferry::new(&app).run(&["init"]);
    ran.success();
    assert!(
        ran.stdout
            .contains("for a Django app (found manage.py, requirements.txt)"),
        "{}",
        ran.stdout
    );
    let written = std::fs::read_to_string(app.join("ferry.toml")).unwrap();
    for expected in [
        "app = \"shop\"",
        "\n[deploy]\n",
        "venv/bin/pip install --quiet -r requirements.txt",
        "manage.py collectstatic --noinput",
        "gunicorn --bind 127.0.0.1:{{ port }} superlists.wsgi:application",
        "switch = \"upstream\"",
        "\n[provision]\n",
        "/etc/supervisor/conf.d/shop-web.conf",
    ] {
        assert!(written.contains(expected), "{expected}:\n{written}");
    }
    let listed = Ferry::new(&app).run(&["-l"]);
    listed.success();
    assert!(listed.stdout.contains("manage:cmd=…"), "{}", listed.stdout);
    let config = Ferry::new(&app).run(&["staging", "config"]);
    config.success();
    assert!(config.stdout.contains("/srv/shop"), "{}", config.stdout);
}
