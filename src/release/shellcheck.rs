//! Every release script ferry can send, rendered with sample data, passes
//! `shellcheck -s sh`: the helpers file and what Rust strings around it.

use super::artifact::Artifact;
use super::record::LockInfo;
use super::steps::{self, Commands, Health, HealthTiming};
use super::survey::{self, Options, Survey};
use super::upload::{self, Dotenv, Extras, Payloads};
use super::{Layout, keeper, listing, travel};
use crate::secret::Secret;
use crate::shell::tests::shellcheck;
use crate::shell::{Command, Script};
use crate::switch;

fn layout() -> Layout {
    Layout::new("/srv/my app's")
}

fn commands() -> Commands {
    Commands {
        steps: vec![
            (
                "pip".into(),
                Command::user("venv/bin/pip install -r requirements.txt"),
            ),
            (
                "migrate".into(),
                Command::user("venv/bin/python manage.py migrate"),
            ),
        ],
        exports: vec![("FERRY_VAR_GREETING".into(), "it's $(x)".into())],
        env_file: Some("/srv/my app's/shared/.env".into()),
    }
}

/// A locked host whose live release has `app.py`.
fn live_app_py() -> Survey {
    Survey {
        current: Some("20260101T000000Z".into()),
        releases: Default::default(),
        lock: survey::Lock::Taken,
        pending: None,
        files: std::sync::Arc::new([("app.py".to_string(), ("0".to_string(), 0o644))].into()),
        missing_tools: vec![],
        error: None,
        took_over: None,
    }
}

fn lock_info() -> LockInfo {
    LockInfo {
        who: "me@here".into(),
        pid: 1,
        since: "now".into(),
        what: "deploy of main".into(),
        release: String::new(),
    }
}

fn secrets() -> Vec<Secret> {
    vec![Secret::new("DJANGO_SECRET_KEY".into(), "x'y\nz".into())]
}

#[test]
fn surveys_and_locks() {
    let info = lock_info();
    for (lock, takeover, sums) in [
        (None, survey::Takeover::No, false),
        (Some(&info), survey::Takeover::Resume, true),
    ] {
        let options = Options {
            lock,
            takeover,
            sums,
        };
        shellcheck("survey", &survey::script(&layout(), &options));
    }
    let mut kept = survey::builder(
        &layout(),
        &Options {
            lock: Some(&info),
            takeover: survey::Takeover::No,
            sums: true,
        },
    );
    keeper::keep(&mut kept, 15);
    shellcheck("survey and keeper", &kept.build());
    shellcheck("unlock", &keeper::unlock_script(&layout(), true));
    shellcheck("history", &listing::history_script(&layout(), 20));
}

/// The scripts a deploy and a rollback send their keepers carry no
/// function: the survey defined each one they call (`AHEAD`), so that they
/// are small enough to go as lines.
#[test]
fn a_keepers_scripts_carry_no_function_the_survey_could_define() {
    let info = lock_info();
    let survey_with = |ahead: &[&'static str]| {
        let options = Options {
            lock: Some(&info),
            takeover: survey::Takeover::No,
            sums: true,
        };
        let mut script = survey::builder(&layout(), &options);
        script.ahead(ahead);
        keeper::keep(&mut script, 15);
        crate::shell::Defined::by(&script.build())
    };
    let id = "20260102T000000Z";
    let artifact = Artifact::for_tests(&[("app.py", b"print()", 0o644)]);
    let survey = live_app_py();
    let extras = Extras {
        id,
        release_json: "{}",
        pending_json: "{}",
        shared_files: &[],
        shared_dirs: &[],
        copy_from_current: &[],
        dotenv: None,
    };
    let upload = upload_script(&artifact, &survey, &extras);
    let mut switch = layout().script();
    steps::switch(&mut switch, id, None);
    let mut finish = layout().script();
    steps::finish(
        &mut finish,
        id,
        Some("{}"),
        "{}",
        &["20250101T000000Z".to_string()],
    );
    let deploy = survey_with(super::phases::AHEAD);
    for (name, script) in [
        ("upload", upload),
        ("switch", switch.build()),
        ("finish", finish.build()),
    ] {
        let sent = deploy.strip(&script);
        assert!(
            crate::shell::Defined::by(&sent).is_empty(),
            "{name}:\n{sent}"
        );
    }
    let mut rollback = layout().script();
    steps::switch(&mut rollback, "20260101T000000Z", None);
    steps::write_record(&mut rollback, steps::record_path(id), "{}");
    steps::append_history(&mut rollback, "{}");
    rollback.code("ferry_done");
    let sent = survey_with(super::rollback::AHEAD)
        .strip(&rollback.build())
        .into_owned();
    assert!(
        crate::shell::Defined::by(&sent).is_empty(),
        "rollback:\n{sent}"
    );
}

/// The program services run through to see the .env.
#[test]
fn with_env() {
    shellcheck("with-env", &crate::shell::with_env_program());
}

#[test]
fn upload() {
    let artifact = Artifact::for_tests(&[("app.py", b"print()", 0o644), ("-rf", b"x", 0o755)]);
    let survey = live_app_py();
    let dotenv = Dotenv {
        file: ".env".into(),
        lines: "A=1\n".into(),
        secrets: vec![("KEY".into(), "\"a'b \\$c\"".into())],
        generate: vec!["SECRET_KEY".into()],
    };
    let extras = Extras {
        id: "20260102T000000Z",
        release_json: "{}",
        pending_json: "{}",
        shared_files: &["db.sqlite3".into()],
        shared_dirs: &["media".into()],
        copy_from_current: &["venv".into()],
        dotenv: Some(&dotenv),
    };
    shellcheck("upload", &upload_script(&artifact, &survey, &extras));
}

fn upload_script(artifact: &Artifact, survey: &Survey, extras: &Extras<'_>) -> String {
    let mut payloads = Payloads::default();
    upload::plan(artifact, survey, &layout(), extras, &mut payloads)
        .unwrap()
        .script
}

#[test]
fn build_switch_restart_finish_and_rollback() {
    let mut build = layout().script();
    steps::in_release(
        &mut build,
        "20260102T000000Z",
        &secrets(),
        &commands(),
        Some("{}"),
    );
    shellcheck("build", &build.build());
    let hook = Commands {
        steps: vec![(
            "after_upload: touch".into(),
            Command::user("touch \"$FERRY_RELEASE\""),
        )],
        exports: vec![("FERRY_WHO".into(), "me'; rm -rf / #$(x)".into())],
        env_file: None,
    };
    for install in [
        vec![],
        vec![(
            "install".into(),
            Command::user("pip install --no-index -r 'req s.txt'"),
        )],
    ] {
        let venv = steps::Venv {
            path: ".venv's".into(),
            python: "/opt/py $(x)/python3".into(),
            requirements: vec!["-r.txt".into(), "req s.txt".into()],
            install,
        };
        let mut build = layout().script();
        steps::build(
            &mut build,
            "20260102T000000Z",
            &secrets(),
            &hook,
            Some(&venv),
            &commands(),
            Some("{}"),
        );
        shellcheck("build with a virtualenv and a hook", &build.build());
    }

    // `[hooks]` around the switch, with hostile facts.
    let facts = [("FERRY_WHO".to_string(), "me'; rm -rf / #$(x)".to_string())];
    let mut hooked = layout().script();
    steps::switch_with_hooks(
        &mut hooked,
        "20260102T000000Z",
        &secrets(),
        &commands().with_facts(&facts),
        &commands(),
    );
    shellcheck("switch with hooks", &hooked.build());

    let timing = HealthTiming {
        deadline: 30,
        interval: 1,
    };
    let url = Health::Url {
        url: "http://127.0.0.1:8000/health".into(),
        expect: Some("ok".into()),
        headers: vec!["Host: example.com".into()],
    };
    let command = Health::Command(Command::user("curl -fsS http://127.0.0.1:8000/"));
    for health in [&url, &command] {
        // A rollback: switch, mark the abandoned release, history, restart.
        let mut script: Script = layout().script();
        steps::switch(&mut script, "20260101T000000Z", None);
        steps::write_record(&mut script, steps::record_path("20260102T000000Z"), "{}");
        steps::append_history(&mut script, "{}");
        steps::restart(
            &mut script,
            &secrets(),
            &[],
            &commands(),
            Some((health, &timing)),
        );
        shellcheck("rollback", &script.build());
    }

    let mut finish = layout().script();
    let remove = ["20250101T000000Z".to_string()];
    steps::finish(&mut finish, "20260102T000000Z", Some("{}"), "{}", &remove);
    shellcheck("finish", &finish.build());

    let mut again = layout().script();
    super::ending::finish_again(
        &mut again,
        "deploy",
        "20260102T000000Z",
        "{}",
        "{}",
        &remove,
    );
    shellcheck("finish again", &again.build());
}

/// A slotted service on both runners, each probe kind: the switch inside a
/// deploy's restart script, and the service tasks' start, stop and status.
#[test]
fn slot_switches() {
    let probes = [
        switch::Probe::Url {
            url: "http://127.0.0.1:8001/health".into(),
            expect: "ok".into(),
            headers: vec!["Host: example.com".into(), "X-Odd: 'a\" $(b) `c`".into()],
        },
        switch::Probe::Command(Command::user("curl -fsS http://127.0.0.1:8001/")),
        switch::Probe::Started,
    ];
    let runners = [
        switch::Runner::Supervisor {
            program: "app-web".into(),
        },
        switch::Runner::Systemd {
            unit: "app-web".into(),
        },
    ];
    for (probe, runner) in probes.iter().zip(runners.iter().cycle()) {
        let upstream = switch::Upstream {
            service: "web".into(),
            name: "app_web".into(),
            deploy_to: "/srv/my app's".into(),
            runner: runner.clone(),
            as_root: true,
            slots: [
                switch::Slot {
                    address: "127.0.0.1:8001".into(),
                    probe: probe.clone(),
                },
                switch::Slot {
                    address: "127.0.0.1:8002".into(),
                    probe: probe.clone(),
                },
            ],
            drain: 3,
            deadline: 20,
            interval: 1,
            nginx: true,
        };
        let mut script = layout().script();
        steps::restart(
            &mut script,
            &secrets(),
            std::slice::from_ref(&upstream),
            &commands(),
            None,
        );
        shellcheck("slot switch", &script.build());
        for action in ["start", "stop", "status"] {
            let mut script = Script::new();
            upstream.control(&mut script, action);
            shellcheck("slot control", &script.build());
        }
        let mut script = Script::new();
        upstream.switch(&mut script, true);
        shellcheck("slot restart", &script.build());
    }
}

#[test]
fn promotion_and_functional_test_verdicts() {
    shellcheck("pack", &travel::pack_script(&layout(), "20261201T000000Z"));
    let record: super::record::ReleaseRecord = serde_json::from_str(
        r#"{"id":"20261201T000000Z","ref":"main","digest":"d","who":"a@b","at":"t","state":"deployed"}"#,
    )
    .unwrap();
    shellcheck(
        "mark failed",
        &travel::mark_script(
            &layout(),
            &record,
            "functional test `curl 'x'` exited with 1",
        ),
    );
}

#[test]
fn container_release() {
    let raw = r#"
[container]
image = "shop"
port = 8000
migrate = ["python", "manage.py", "migrate"]
files = { "db.sqlite3" = "/app/db.sqlite3" }
dirs = { "media" = "/app/media" }
user = "1000:1000"
"#;
    let file = crate::diagnostic::SourceFile::new(std::path::Path::new("ferry.toml"), raw.into());
    let project = crate::config::parse(file).expect("a valid config");
    let def = project.deploy.container.expect("[container]");
    let mut script = layout().script();
    crate::container::probe_layers(&mut script, "sha256:ab");
    shellcheck("container layers", &script.build());
    let mut script = layout().script();
    crate::container::load(&mut script, "sha256:ab", "shop", "20260102T000000Z");
    shellcheck("container load", &script.build());
    let mut script = layout().script();
    crate::container::save(&mut script, "sha256:ab'; rm -rf /");
    shellcheck("container save", &script.build());
    let migrate = crate::container::migrate(&def, Some(".env")).expect("a migration");
    let commands = Commands {
        steps: vec![("migrate".into(), migrate)],
        ..Commands::default()
    };
    let mut script = layout().script();
    steps::in_release(&mut script, "20260102T000000Z", &secrets(), &commands, None);
    shellcheck("container migrate", &script.build());
    let host =
        crate::inventory::Host::parse("deploy@web1", ["app".to_string()].into()).expect("a host");
    for nginx in [true, false] {
        let def = crate::config::ContainerDef {
            nginx,
            ..def.clone()
        };
        let upstream =
            crate::container::upstream(&def, "shop's", &host, "/srv/my app's", Some(".env"));
        let prune = Commands {
            steps: vec![("prune".into(), crate::container::prune(&def, "shop-app"))],
            ..Commands::default()
        };
        let mut script = layout().script();
        steps::restart(
            &mut script,
            &secrets(),
            std::slice::from_ref(&upstream),
            &prune,
            None,
        );
        shellcheck("container switch", &script.build());
        let mut script = Script::new();
        crate::container::switch(&mut script, &upstream, true);
        shellcheck("container restart", &script.build());
        let mut script = Script::new();
        crate::container::status(&mut script, &upstream);
        shellcheck("container status", &script.build());
    }
    let command = crate::container::exec("/srv/my app's", "shop-app", &["ls".into(), "-l".into()]);
    let mut script = Script::new();
    script
        .library(&crate::container::HELPERS)
        .step(1, "ls", &command);
    shellcheck("container exec", &script.build());
    let mut script = Script::new();
    crate::container::live(&mut script, "/srv/my app's", "shop-app");
    script.code(r#"echo "$ferry_name""#);
    shellcheck("container live", &script.build());
}

#[test]
fn a_hostile_release_id_is_data_in_the_scripts_that_take_one() {
    use crate::protocol::Marker;
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("canary");
    let id = format!(
        "x'\"; touch {0}; $(touch {0})`touch {0}`\n-rf",
        canary.display()
    );
    let layout = Layout::new(dir.path().to_str().unwrap());
    let mut script = layout.script();
    steps::switch(&mut script, &id, None);
    let (markers, output) = crate::shell::tests::run_sh(&script.build());
    assert!(!canary.exists(), "the id ran as shell: {output}");
    assert_eq!(
        markers,
        [
            Marker::Error(format!("release {id} is not on this host")),
            Marker::Exit(1)
        ]
    );
    let mut script = layout.script();
    steps::remove_releases(&mut script, std::slice::from_ref(&id));
    let (_, output) = crate::shell::tests::run_sh(&script.build());
    assert!(!canary.exists(), "the id ran as shell: {output}");
    assert!(dir.path().exists());
}

/// The survey reads each record with the shell: what it reports is what
/// `$(cat FILE)` holds, for a record with or without its last newline,
/// with trailing blank lines, over several lines, with quotes, `$(…)` and
/// multi-byte letters, and nothing for one that is missing.
#[test]
fn the_survey_reports_each_record_as_the_file_holds_it() {
    use crate::protocol::Marker;
    let dir = tempfile::tempdir().unwrap();
    let texts: [&[u8]; 5] = [
        b"{\"state\":\"deployed\",\"note\":\"\xc3\xa9 $(touch x) 'q' \\\"\"}\n",
        b"{\"no\":\"newline\"}",
        b"{\"blank\":1}\n\n\n",
        b"line one\n  line two\t\n\nline four\n",
        b"",
    ];
    for (i, text) in texts.iter().enumerate() {
        let meta = dir
            .path()
            .join(format!("releases/2026010{i}T000000Z/.ferry"));
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(meta.join("release.json"), text).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("releases/20260109T000000Z")).unwrap();
    let mut script = Layout::new(dir.path().to_str().unwrap()).script();
    script.code("ferry_listing");
    let (markers, output) = crate::shell::tests::run_sh(&script.build());
    let records: Vec<(String, String)> = markers
        .into_iter()
        .filter_map(|m| match m {
            Marker::Release { id, record } => Some((id, record)),
            _ => None,
        })
        .collect();
    let cat = |text: &[u8]| {
        String::from_utf8(text.to_vec())
            .unwrap()
            .trim_end_matches('\n')
            .to_string()
    };
    let mut expected: Vec<(String, String)> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| (format!("2026010{i}T000000Z"), cat(text)))
        .collect();
    expected.push(("20260109T000000Z".into(), String::new()));
    assert_eq!(records, expected, "{output}");
    assert!(!dir.path().join("x").exists());
}

/// A health check that fails at first retries after 0.1, 0.2 and 0.4 s,
/// then every interval (a `sleep` on PATH records what it is asked).
#[test]
fn the_health_check_retries_sooner_at_first() {
    use crate::protocol::Marker;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("slept");
    std::fs::write(
        bin.join("sleep"),
        format!("#!/bin/sh\necho \"$1\" >>'{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("sleep"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut script = Layout::new(dir.path().to_str().unwrap()).script();
    // Healthy on the fifth try.
    script.code(
        r#"ferry_probe() { ferry_tried=$((${ferry_tried:-0} + 1)); [ "$ferry_tried" -ge 5 ]; }"#,
    );
    script.call(
        "ferry_health",
        [
            crate::shell::Word::lit("/health"),
            crate::shell::Word::num(60u32),
            crate::shell::Word::num(7u32),
        ],
    );
    let mut shell = std::process::Command::new("sh");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    shell.env("PATH", path);
    let output = crate::shell::tests::through_bootstrap(shell, &script.build());
    let mut reader = crate::protocol::Reader::default();
    let markers = reader.feed(&output.stdout).unwrap();
    assert!(markers.contains(&Marker::Healthy), "{markers:?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "0.1\n0.2\n0.4\n7\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The keeper runs each script it is sent with exactly its payload on
/// stdin — what a script leaves unread is not taken for the next command —
/// says `ran` with the exit code and a failed one's last lines, and lets
/// go of the lock on `r`; under dash, bash and BusyBox alike (each reads
/// the command lines itself). Scripts come in both frames (lines when
/// small, gzipped when large) and both modes (output as it comes, `s`, or
/// at the end, `q`), without the functions the survey defined.
#[test]
fn the_keeper_runs_each_script_with_its_payload_and_keeps_its_place() {
    for shell in ["dash", "bash", "busybox sh"] {
        keeper_keeps_its_place(shell);
    }
}

fn keeper_keeps_its_place(shell: &str) {
    use crate::protocol::Marker;
    use keeper::Command::Run;
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path().to_str().unwrap());
    let mut keeper = layout.script();
    keeper.code("ferry_prepare && mkdir \"$L\"");
    keeper.ahead(&["ferry_put"]);
    keeper::keep(&mut keeper, 5);
    let keeper = keeper.build();
    let defined = crate::shell::Defined::by(&keeper);
    let command = |script: &str, payload: &[u8], quiet: bool| {
        let payload = [std::sync::Arc::from(payload)];
        let script = defined.strip(script);
        let message = Run {
            script: &script,
            payload: &payload,
            quiet,
        }
        .message();
        message.concat()
    };
    let got = dir.path().join("got");
    let put = dir.path().join("put");
    let mut stdin = b".\n".to_vec();
    // Reads two bytes of its payload; the rest, more than a pipe holds and
    // all lines like commands, is none.
    let mut unread = b"ab".to_vec();
    unread.extend(b"r\nf\n".repeat(64 * 1024));
    stdin.extend(command(
        "dd bs=2 count=1 2>/dev/null >/dev/null; echo first",
        &unread,
        false,
    ));
    stdin.extend(command(
        &format!(
            "cat >'{}'; echo one; echo two >&2; printf 'last words'; exit 7",
            got.display()
        ),
        b"payload\0with a NUL\n",
        true,
    ));
    // Large enough to go gzipped; it calls a function the survey defined,
    // which it does not carry.
    let mut put_script = layout.script();
    put_script.call(
        "ferry_put",
        [
            crate::shell::Word::lit(put.to_str().unwrap()),
            crate::shell::Word::lit(&"x".repeat(5000)),
        ],
    );
    put_script.code("echo second");
    let put_script = put_script.build();
    assert!(put_script.contains("ferry_put() {"));
    assert!(!defined.strip(&put_script).contains("ferry_put() {"));
    stdin.extend(command(&put_script, b"", true));
    stdin.extend(b".\nr\n");
    let mut words = shell.split(' ');
    let mut program = std::process::Command::new(words.next().unwrap());
    program.args(words);
    let output = crate::shell::tests::through_bootstrap_with(program, &keeper, &stdin, false);
    let mut reader = crate::protocol::Reader::default();
    let markers = reader.feed(&output.stdout).unwrap();
    reader.finish().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let ran = |code| Marker::Ran {
        code,
        tail: Vec::new(),
    };
    assert_eq!(
        markers,
        [
            Marker::Kept,
            ran(0),
            Marker::Ran {
                code: 7,
                tail: vec!["one".into(), "two".into(), "last words".into()],
            },
            ran(0),
            Marker::Released,
            Marker::Exit(0),
        ],
        "{shell}: {stderr}"
    );
    assert_eq!(
        std::fs::read(&got).unwrap(),
        b"payload\0with a NUL\n",
        "{shell}"
    );
    assert_eq!(std::fs::read_to_string(&put).unwrap(), "x".repeat(5000));
    // What each printed reaches the session, as it came or at the end.
    for said in ["first", "one", "two", "second"] {
        assert!(stderr.contains(said), "{shell}: {stderr}");
    }
    assert!(
        !dir.path().join(".ferry/lock").exists(),
        "{shell}: the lock is let go"
    );
}

/// A keeper that hears nothing from ferry for three heartbeats lets the
/// lock go stale (it ends, and the lock stays); one that runs a script
/// longer than that is not silent, and keeps the lock.
#[test]
fn a_silent_ferry_ends_the_keeper_but_a_long_script_does_not() {
    let run = |after: &[u8], close: bool| {
        let dir = tempfile::tempdir().unwrap();
        let mut keeper = Layout::new(dir.path().to_str().unwrap()).script();
        keeper.code("ferry_prepare && mkdir \"$L\"");
        // Heartbeats every second: silence is three of them.
        keeper::keep(&mut keeper, 1);
        // Held open unless `close`: silence, not the end of stdin.
        let output = crate::shell::tests::through_bootstrap_with(
            std::process::Command::new("sh"),
            &keeper.build(),
            after,
            !close,
        );
        let mut reader = crate::protocol::Reader::default();
        let markers = reader.feed(&output.stdout).unwrap();
        (markers, dir.path().join(".ferry/lock").exists())
    };
    use crate::protocol::Marker;
    let (markers, locked) = run(b"", false);
    assert_eq!(markers.first(), Some(&Marker::Kept));
    assert!(!markers.contains(&Marker::Released), "{markers:?}");
    assert!(locked, "the lock stays, to read as stale");

    let mut long = keeper::Command::Run {
        script: "sleep 7",
        payload: &[],
        quiet: false,
    }
    .message()
    .concat();
    long.extend(b"r\n");
    let (markers, locked) = run(&long, true);
    assert!(
        markers.contains(&Marker::Ran {
            code: 0,
            tail: Vec::new()
        }) && markers.contains(&Marker::Released),
        "{markers:?}"
    );
    assert!(!locked);
}
