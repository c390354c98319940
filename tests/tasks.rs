//! Project tasks and `run` on real OpenSSH hosts: parallel fan-out, the
//! recap, failure policy, unreachable hosts, host keys, injection.

mod common;

use common::ferry::{Ferry, lab_config, write_config};
use common::hosts::Lab;

fn lab(n: usize, extra: &str) -> Lab {
    let lab = Lab::start(n);
    write_config(lab.dir(), &lab_config(&lab, extra));
    lab
}

#[test]
fn a_task_runs_on_three_hosts_in_parallel() {
    let lab = lab(
        3,
        r#"[tasks.stamp]
description = "record when each host ran"
steps = ["date +%s.%N > /tmp/started; sleep 1; date +%s.%N > /tmp/ended", "hostname -I"]"#,
    );
    let ran = Ferry::lab(&lab).run(&["lab", "stamp"]);
    ran.success();
    for host in lab.hosts() {
        let lines = ran.lines_of(&host.target());
        assert!(
            lines.iter().any(|l| l.contains(&host.addr().to_string())),
            "{} printed {lines:?}",
            host.target()
        );
        assert_eq!(ran.recap(&host.target()), [0, 1, 0, 0, 0]);
    }
    // Parallel, shown by the hosts' own clocks: every host started before any finished.
    let times = |file: &str| -> Vec<f64> {
        lab.hosts()
            .iter()
            .map(|h| {
                std::fs::read_to_string(h.path(file))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let (started, ended) = (times("/tmp/started"), times("/tmp/ended"));
    let last_start = started.iter().cloned().fold(f64::MIN, f64::max);
    let first_end = ended.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        last_start < first_end,
        "hosts ran one after another: started {started:?}, ended {ended:?}"
    );
}

#[test]
fn an_unreachable_host_is_reported_as_such_and_the_others_finish() {
    let lab = lab(3, "[tasks.touch]\nsteps = [\"touch /srv/touched\"]");
    let gone = lab.host(1);
    gone.cut();
    let ran = Ferry::lab(&lab).run(&["lab", "touch"]);
    ran.code(1);
    assert_eq!(ran.recap(&gone.target()), [0, 0, 0, 1, 0]);
    // Labels are padded to the longest (10.77.1.8 beside 10.77.1.10).
    assert!(
        ran.stdout.lines().any(|l| l.starts_with(&gone.target())
            && l[gone.target().len()..]
                .trim_start()
                .starts_with(": unreachable")),
        "{}",
        ran.stdout
    );
    for host in [lab.host(0), lab.host(2)] {
        assert_eq!(ran.recap(&host.target()), [0, 1, 0, 0, 0]);
        assert!(host.path("/srv/touched").exists());
    }
    gone.reconnect();
    assert!(!gone.path("/srv/touched").exists());
}

#[test]
fn a_failed_step_stops_new_work_but_continue_lets_other_hosts_go_on() {
    let tasks = r#"[tasks.first]
steps = ["if [ \"$(hostname -I | tr -d ' ')\" = \"$FAIL_ON\" ]; then echo broken >&2; exit 3; fi", "echo after"]

[tasks.second]
steps = ["touch /srv/second"]"#;
    let lab = lab(2, tasks);
    let failing = lab.host(0);
    let ran = Ferry::lab(&lab).run(&[
        "lab",
        "first",
        "second",
        "--set",
        &format!("fail_on={}", failing.addr()),
    ]);
    // `fail_on` is not declared: --set refuses unknown keys before anything runs.
    ran.code(2);
    assert!(
        ran.stderr
            .contains("`fail_on` is neither a setting nor a var"),
        "{}",
        ran.stderr
    );

    // A secret reaches steps as a shell variable; its value comes from the environment.
    let config = lab_config(
        &lab,
        &format!("[secrets]\nFAIL_ON = \"${{TEST_FAIL_ON}}\"\n\n{tasks}"),
    );
    write_config(lab.dir(), &config);
    let ferry = || {
        let mut ferry = Ferry::lab(&lab);
        ferry.env("TEST_FAIL_ON", failing.addr().to_string());
        ferry
    };
    let ran = ferry().run(&["lab", "first", "second"]);
    ran.code(1);
    assert!(
        ran.stdout.contains("step 1 `if [ \"$(hostname -I"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("exited with 3: broken"),
        "{}",
        ran.stdout
    );
    // stop (the default): the second task starts nowhere.
    assert!(!lab.host(1).path("/srv/second").exists());

    write_config(
        lab.dir(),
        &config.replace("keepalive = 2", "keepalive = 2\non_failure = \"continue\""),
    );
    let ran = ferry().run(&["lab", "first", "second"]);
    ran.code(1);
    assert!(
        lab.host(1).path("/srv/second").exists(),
        "continue lets the healthy host go on"
    );
    assert!(
        !failing.path("/srv/second").exists(),
        "a failed host drops out of later tasks"
    );
    assert_eq!(ran.recap(&failing.target()), [0, 0, 1, 0, 0]);
    assert_eq!(ran.recap(&lab.host(1).target()), [0, 2, 0, 0, 0]);
}

#[test]
fn a_changed_host_key_is_refused_with_what_to_do() {
    let lab = lab(1, "[tasks.touch]\nsteps = [\"touch /srv/touched\"]");
    let host = lab.host(0);
    host.change_host_key();
    let ran = Ferry::lab(&lab).run(&["lab", "touch"]);
    ran.code(1);
    let addr = host.addr().to_string();
    assert!(
        ran.stdout
            .contains(&format!("the host key of {addr} has changed")),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!("ssh-keygen -R {addr}")),
        "{}",
        ran.stdout
    );
    assert_eq!(ran.recap(&host.target()), [0, 0, 0, 1, 0]);
    assert!(!host.path("/srv/touched").exists());
}

#[test]
fn arguments_and_run_words_reach_the_host_as_literal_words() {
    let lab = lab(
        1,
        r#"[tasks.say]
args = { msg = "hi" }
steps = ["printf '%s\n' {{ args.msg }} > /srv/said"]"#,
    );
    let host = lab.host(0);
    let canary = "x; touch /srv/pwned1 $(touch /srv/pwned2) `touch /srv/pwned3`";
    Ferry::lab(&lab)
        .run(&["lab", &format!("say:msg={canary}")])
        .success();
    assert_eq!(
        std::fs::read_to_string(host.path("/srv/said")).unwrap(),
        format!("{canary}\n")
    );

    let ran = Ferry::lab(&lab).run(&[
        "lab",
        "run",
        "--",
        "printf",
        "%s|",
        "a b",
        "; touch /srv/pwned4",
        "$(touch /srv/pwned5)",
    ]);
    ran.success();
    assert_eq!(
        ran.lines_of(&host.target()),
        vec!["a b|; touch /srv/pwned4|$(touch /srv/pwned5)|"]
    );
    for n in 1..=5 {
        assert!(
            !host.path(&format!("/srv/pwned{n}")).exists(),
            "canary {n} was created"
        );
    }
}

#[test]
fn run_works_in_the_current_release_when_there_is_one() {
    let lab = lab(1, "");
    let host = lab.host(0);
    let ran = Ferry::lab(&lab).run(&["lab", "run", "--", "pwd"]);
    ran.success();
    assert_eq!(ran.lines_of(&host.target()), vec!["/home/deploy"]);
    host.exec_ok("mkdir -p /srv/app/releases/1 && ln -s releases/1 /srv/app/current && chown -R deploy /srv/app");
    let ran = Ferry::lab(&lab).run(&["lab", "run", "--", "pwd", "-P"]);
    assert_eq!(ran.lines_of(&host.target()), vec!["/srv/app/releases/1"]);
}

#[test]
fn hosts_can_be_overridden_narrowed_and_named_by_ssh_alias() {
    let lab = Lab::start(3);
    let [a, b, c] = [lab.host(0), lab.host(1), lab.host(2)];
    let config = format!(
        "app = \"app\"\nconnect_timeout = 3\n[tasks.where]\nroles = [\"web\"]\nsteps = [\"hostname -I\"]\n\n[environments.lab]\nhosts = [\"{}\", \"{}\"]\nroles.web = [\"{}\"]\nroles.db = [\"{}\"]\n",
        a.alias(),
        b.target(),
        a.alias(),
        b.target()
    );
    write_config(lab.dir(), &config);

    // An alias that only the ssh_config knows.
    let ran = Ferry::lab(&lab).run(&["lab", "where"]);
    ran.success();
    assert!(
        ran.lines_of(a.alias())[0].contains(&a.addr().to_string()),
        "{}",
        ran.stdout
    );
    assert!(
        ran.lines_of(&b.target()).is_empty(),
        "b lacks role web: {}",
        ran.stdout
    );

    // -H replaces the hosts; they take every role.
    let ran = Ferry::lab(&lab).run(&["lab", "where", "-H", &c.target()]);
    ran.success();
    assert!(ran.lines_of(&c.target())[0].contains(&c.addr().to_string()));
    assert!(ran.lines_of(a.alias()).is_empty());

    // --roles and --hosts narrow; naming what is not there is an error.
    let ran = Ferry::lab(&lab).run(&["lab", "run", "--roles", "db", "--", "true"]);
    ran.success();
    assert_eq!(ran.recap(&b.target()), [0, 1, 0, 0, 0]);
    assert!(!ran.stdout.contains(a.alias()));
    let ran = Ferry::lab(&lab).run(&["lab", "run", "--hosts", "lab-hx", "--", "true"]);
    ran.code(2);
    assert!(ran.stderr.contains("no host `lab-hx`"), "{}", ran.stderr);
    let ran = Ferry::lab(&lab).run(&["lab", "where", "-H", "deploy@-oProxyCommand=touch"]);
    ran.code(2);
    assert!(
        ran.stderr.contains("cannot start with `-`"),
        "{}",
        ran.stderr
    );
}

#[test]
fn once_runs_on_one_host_of_the_role() {
    let lab = lab(
        3,
        "[tasks.migrate]\nonce = true\nroles = [\"app\"]\nsteps = [\"touch /srv/migrated\"]",
    );
    Ferry::lab(&lab).run(&["lab", "migrate"]).success();
    let migrated: Vec<bool> = lab
        .hosts()
        .iter()
        .map(|h| h.path("/srv/migrated").exists())
        .collect();
    assert_eq!(migrated, vec![true, false, false]);
}

#[test]
fn secrets_reach_steps_as_variables_and_never_argv_or_output() {
    let lab = lab(
        1,
        r#"[secrets]
API_TOKEN = "${TEST_API_TOKEN}"

[tasks.use]
steps = ["printf '%s' \"$API_TOKEN\" > /srv/token; ps -eo args > /srv/ps; echo \"token is $API_TOKEN\""]"#,
    );
    let host = lab.host(0);
    let secret = "s3cr3t-v4lue-42";
    let ran = Ferry::lab(&lab)
        .env("TEST_API_TOKEN", secret)
        .run(&["lab", "use", "--json"]);
    ran.success();
    assert_eq!(
        std::fs::read_to_string(host.path("/srv/token")).unwrap(),
        secret
    );
    let ps = std::fs::read_to_string(host.path("/srv/ps")).unwrap();
    assert!(ps.contains("sh -c IFS= read"), "ps saw the bootstrap: {ps}");
    assert!(
        !ps.contains(secret),
        "the secret is in a process's argv:\n{ps}"
    );
    assert!(!ran.stdout.contains(secret) && !ran.stderr.contains(secret));
    assert!(ran.stdout.contains("token is ********"), "{}", ran.stdout);

    let ran = Ferry::lab(&lab).run(&["lab", "use"]);
    ran.code(2);
    assert!(
        ran.stderr
            .contains("environment variable `TEST_API_TOKEN` is not set"),
        "{}",
        ran.stderr
    );
}

#[test]
fn one_connection_per_host_carries_every_task() {
    let lab = lab(
        1,
        "[tasks.a]\nsteps = [\"true\"]\n[tasks.b]\nsteps = [\"true\"]",
    );
    let host = lab.host(0);
    let before = (host.connections(), host.sessions());
    Ferry::lab(&lab)
        .run(&["lab", "a", "b", "run", "--", "true"])
        .success();
    assert_eq!(host.connections() - before.0, 1, "{}", host.sshd_log());
    assert_eq!(host.sessions() - before.1, 3, "one session per task");
}

#[test]
fn json_events_are_one_object_per_line() {
    let lab = lab(2, "[tasks.hi]\nsteps = [\"echo hi\"]");
    let ran = Ferry::lab(&lab).run(&["lab", "hi", "--json"]);
    ran.success();
    let events: Vec<serde_json::Value> = ran
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "host_finished").count(), 2);
    let output = events.iter().find(|e| e["event"] == "output").unwrap();
    assert_eq!(output["line"], "hi");
    let recap = &events.last().unwrap()["recap"];
    assert_eq!(recap.as_array().unwrap().len(), 2);
    assert_eq!(recap[0]["changed"], 1);
}

#[test]
fn an_environment_that_asks_for_confirmation_refuses_without_a_terminal() {
    let lab = Lab::start(1);
    let config = lab_config(&lab, "[tasks.touch]\nsteps = [\"touch /srv/touched\"]")
        .replace("[environments.lab]", "[environments.lab]\nconfirm = true");
    write_config(lab.dir(), &config);
    let ran = Ferry::lab(&lab).run(&["lab", "touch"]);
    ran.code(2);
    assert!(
        ran.stderr.contains("asks for confirmation"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("--yes"));
    assert!(!lab.host(0).path("/srv/touched").exists());
    Ferry::lab(&lab).run(&["lab", "touch", "--yes"]).success();
    assert!(lab.host(0).path("/srv/touched").exists());
}

#[test]
fn ctrl_c_lets_running_steps_finish_skips_the_rest_and_prints_the_recap() {
    let lab = lab(
        1,
        "[tasks.slow]\nsteps = [\"touch /srv/started; sleep 2; touch /srv/finished\"]\n[tasks.next]\nsteps = [\"touch /srv/next\"]",
    );
    let host = lab.host(0);
    let child = Ferry::lab(&lab).spawn(&["lab", "slow", "next"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !host.path("/srv/started").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    common::ferry::interrupt(&child);
    let ran = common::ferry::finish(child);
    ran.code(130);
    assert!(
        host.path("/srv/finished").exists(),
        "the running step was cut short"
    );
    assert!(
        !host.path("/srv/next").exists(),
        "a new task started after Ctrl-C"
    );
    assert!(
        ran.stdout.contains("RECAP") && ran.stdout.contains("interrupted"),
        "{}",
        ran.stdout
    );
}

#[test]
fn check_shows_what_ssh_makes_of_a_host_and_what_ferry_needs_there() {
    let lab = lab(1, "");
    let host = lab.host(0);
    let ran = Ferry::lab(&lab).run(&["lab", "check"]);
    ran.success();
    let lines = ran.lines_of(&host.target());
    let ssh = lines
        .iter()
        .find(|l| l.starts_with("ssh -G: "))
        .expect("ssh -G line");
    assert!(
        ssh.contains(&format!("hostname={}", host.addr())) && ssh.contains("user=deploy"),
        "{ssh}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("remote: deploy@")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"deploy_to: /srv/app (missing; the first deploy creates it)".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"tools: all present".to_string()),
        "{lines:?}"
    );
    assert_eq!(ran.recap(&host.target()), [1, 0, 0, 0, 0]);
}

#[test]
fn parallel_one_works_on_one_host_at_a_time() {
    let lab = lab(
        2,
        r#"[tasks.stamp]
steps = ["date +%s.%N > /tmp/started; sleep 0.5; date +%s.%N > /tmp/ended"]"#,
    );
    Ferry::lab(&lab)
        .run(&["lab", "stamp", "--parallel", "1"])
        .success();
    let time = |host: &common::hosts::Host, file: &str| -> f64 {
        std::fs::read_to_string(host.path(file))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (a, b) = (lab.host(0), lab.host(1));
    let one_after_the_other = time(b, "/tmp/started") >= time(a, "/tmp/ended")
        || time(a, "/tmp/started") >= time(b, "/tmp/ended");
    assert!(
        one_after_the_other,
        "the two hosts overlapped with --parallel 1"
    );
}

#[test]
fn task_arguments_with_quotes_spaces_and_commas_reach_the_host_as_data() {
    let lab = lab(
        1,
        r#"[tasks.manage]
required = ["cmd"]
args = { x = "0" }
steps = [
    'printf "cmd=[%s] x=[%s]\n" "$FERRY_ARG_CMD" "$FERRY_ARG_X"',
    'printf "<%s>" {{ args.cmd }} > /tmp/words',
]"#,
    );
    let host = lab.host(0);
    let target = host.target();
    let cases = [
        // What the user's shell leaves of `manage:cmd="check --deploy"`.
        ("manage:cmd=check --deploy", "check --deploy", "0"),
        // `'manage:cmd="a,b",x=1'`: ferry's own quotes.
        (r#"manage:cmd="a,b",x=1"#, "a,b", "1"),
        (r"manage:cmd=a\,b=c,x=2", "a,b=c", "2"),
        (
            r#"manage:cmd='$(touch /tmp/pwned) "q" `id`'"#,
            r#"$(touch /tmp/pwned) "q" `id`"#,
            "0",
        ),
    ];
    for (call, cmd, x) in cases {
        let ran = Ferry::lab(&lab).run(&["lab", call]);
        ran.success();
        assert_eq!(
            ran.lines_of(&target),
            [format!("cmd=[{cmd}] x=[{x}]")],
            "{call}"
        );
        // `{{ args.cmd }}` bare in a step is one word whatever it holds.
        let wrote = std::fs::read_to_string(host.path("/tmp/words")).unwrap();
        assert_eq!(wrote, format!("<{cmd}>"), "{call}");
    }
    assert!(!host.path("/tmp/pwned").exists());
    // A quote left open runs nothing and says why.
    let ran = Ferry::lab(&lab).run(&["lab", r#"manage:cmd="a,b"#]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("quote is not closed"), "{}", ran.stderr);
}
