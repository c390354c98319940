//! Service tasks on real sshd hosts with real supervisord: `restart` only
//! where the role runs the service, `status` as one table, `logs` from all
//! hosts until Ctrl-C, the `supervisorctl` passthrough, and systemd
//! services (no systemd runs in test hosts) shown through `--check`.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::ferry::{Ferry, Ran, lab_config, write_config};
use common::hosts::{Host, Lab};

const SERVICES: &str = r#"[services.web]
roles = ["web"]
command = "sh -c 'while :; do echo web tick; sleep 0.2; done'"
user = "deploy"

[services.worker]
roles = ["worker"]
command = "sh -c 'while :; do echo worker tick; sleep 0.2; done'"
user = "deploy"

# A service with its own commands, beside web.
[services.cron]
roles = ["web"]
manager = "command"
start = "touch /tmp/cron-on"
stop = "rm -f /tmp/cron-on"
restart = "date +%s.%N > /tmp/cron-on"
status = "test -e /tmp/cron-on"

[provision]
services = ["supervisor"]

[provision.files."/etc/supervisor/conf.d/app-web.conf"]
template = "supervisor.conf"
service = "web"

[provision.files."/etc/supervisor/conf.d/app-worker.conf"]
template = "supervisor.conf"
service = "worker"
"#;

/// Host 0 has role web, host 1 role worker; both provisioned, programs running.
fn lab() -> Lab {
    let lab = Lab::start(2);
    let config = format!(
        "{}roles.web = [\"{}\"]\nroles.worker = [\"{}\"]\n",
        lab_config(&lab, SERVICES),
        lab.host(0).target(),
        lab.host(1).target()
    );
    write_config(lab.dir(), &config);
    Ferry::lab(&lab).run(&["lab", "provision"]).success();
    running_pid(lab.host(0), "app-web");
    running_pid(lab.host(1), "app-worker");
    lab
}

/// Whether a line of the run starts with the host's label (10.77.1.1 is a
/// prefix of 10.77.1.10: compare whole words).
fn mentions(ran: &Ran, host: &Host) -> bool {
    let target = host.target();
    ran.stdout
        .lines()
        .any(|line| line.split_whitespace().next() == Some(target.as_str()))
}

fn ferry(lab: &Lab, args: &[&str]) -> Ran {
    Ferry::lab(lab).run(&[&["lab"], args].concat())
}

/// The program's pid once supervisor says it runs.
fn running_pid(host: &Host, program: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = host.exec_ok(&format!("supervisorctl status {program} || true"));
        if status.contains("RUNNING") {
            return host.exec_ok(&format!("supervisorctl pid {program}"));
        }
        assert!(Instant::now() < deadline, "{program} never ran: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn restart_on_a_role_restarts_only_that_roles_hosts() {
    let lab = lab();
    let [web, worker] = [lab.host(0), lab.host(1)];
    let web_pid = running_pid(web, "app-web");
    let worker_pid = running_pid(worker, "app-worker");

    let ran = ferry(&lab, &["restart", "--roles", "worker"]);
    ran.success();
    assert_eq!(ran.recap(&worker.target()), [0, 1, 0, 0, 0]);
    assert!(!mentions(&ran, web), "{}", ran.stdout);
    assert_eq!(running_pid(web, "app-web"), web_pid, "web was restarted");
    let worker_pid_now = running_pid(worker, "app-worker");
    assert_ne!(worker_pid_now, worker_pid, "worker was not restarted");
    assert!(
        !web.path("/tmp/cron-on").exists(),
        "cron runs on web hosts only"
    );

    // Naming a service: the hosts that run it, whatever their other roles.
    let ran = ferry(&lab, &["restart:web"]);
    ran.success();
    assert_eq!(ran.recap(&web.target()), [0, 1, 0, 0, 0]);
    assert!(!mentions(&ran, worker), "{}", ran.stdout);
    assert_ne!(running_pid(web, "app-web"), web_pid);
    assert_eq!(running_pid(worker, "app-worker"), worker_pid_now);
    assert!(!web.path("/tmp/cron-on").exists(), "only web was named");

    // Everything: each host restarts what runs there, cron through its own command.
    ferry(&lab, &["restart"]).success();
    assert!(web.path("/tmp/cron-on").exists());
    assert!(!worker.path("/tmp/cron-on").exists());

    let ran = ferry(&lab, &["restart:wbe"]);
    ran.code(2);
    assert!(ran.stderr.contains("did you mean `web`?"), "{}", ran.stderr);
}

#[test]
fn status_shows_each_service_per_host_in_one_table() {
    let lab = lab();
    let [web, worker] = [lab.host(0), lab.host(1)];
    ferry(&lab, &["stop:worker"]).success();
    let ran = ferry(&lab, &["status"]);
    ran.success();
    let table: Vec<Vec<&str>> = ran
        .stdout
        .split("\nSTATUS\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no table:\n{}", ran.stdout))
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().take(4).collect())
        .collect();
    let (w, k) = (web.target(), worker.target());
    assert_eq!(
        table,
        [
            vec!["host", "service", "manager", "state"],
            vec![w.as_str(), "cron", "command", "not"],
            vec![w.as_str(), "web", "supervisor", "RUNNING"],
            vec![k.as_str(), "worker", "supervisor", "STOPPED"],
        ],
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("not running  exit 1"), "{}", ran.stdout);
    assert_eq!(
        ran.recap(&k),
        [1, 0, 0, 0, 0],
        "a stopped service is not a failed host"
    );

    // The rare case: supervisorctl itself, one command, on supervisor hosts;
    // its exit code is the host's (status exits 3 for a stopped program).
    let ran = ferry(&lab, &["supervisorctl:cmd=status"]);
    ran.code(1);
    assert!(
        ran.lines_of(&k)
            .iter()
            .any(|l| l.starts_with("app-worker") && l.contains("STOPPED")),
        "{}",
        ran.stdout
    );
    assert_eq!(ran.recap(&w), [0, 1, 0, 0, 0]);
    assert_eq!(ran.recap(&k), [0, 0, 1, 0, 0]);
    let ran = ferry(
        &lab,
        &["supervisorctl:start app-worker", "--roles", "worker"],
    );
    ran.success();
    assert_eq!(ran.lines_of(&k), ["app-worker: started"]);
    running_pid(worker, "app-worker");
}

#[test]
fn logs_follow_every_host_with_prefixes_until_ctrl_c() {
    let lab = lab();
    let mut child = Ferry::lab(&lab).spawn(&["lab", "logs:lines=1"]);
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    // Host labels are padded to the longest of the run: compare them trimmed.
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let line = match line.split_once(" | ") {
                Some((host, rest)) => format!("{} | {rest}", host.trim_end()),
                None => line,
            };
            let _ = tx.send(line);
        }
    });
    let wanted = [
        format!("{} | web tick", lab.host(0).target()),
        format!("{} | worker tick", lab.host(1).target()),
    ];
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !wanted.iter().all(|w| seen.contains(w)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no line from every host, got:\n{}", seen.join("\n")),
        }
    }
    common::ferry::interrupt(&child);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    assert_eq!(status.code(), Some(130), "{}", seen.join("\n"));
    assert!(
        seen.iter().any(|l| l.starts_with("RECAP")),
        "{}",
        seen.join("\n")
    );
    // Nothing is left following on the hosts (they notice within a heartbeat).
    for host in lab.hosts() {
        let deadline = Instant::now() + Duration::from_secs(15);
        while host.pids().iter().any(|pid| comm(*pid) == "tail") {
            assert!(
                Instant::now() < deadline,
                "tail still runs on {}",
                host.target()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

const SYSTEMD: &str = r#"[services.web]
manager = "systemd"
description = "the app under gunicorn"
command = "{{ deploy_to }}/current/venv/bin/gunicorn --bind unix:/run/app/web.sock app:application"
dir = "{{ deploy_to }}/current"
user = "deploy"
environment = { DJANGO_SETTINGS_MODULE = "app.settings" }

[provision]
[provision.files."/etc/systemd/system/app-web.service"]
template = "systemd.service"
service = "web"

[provision.files."/etc/nginx/sites-available/app"]
template = "nginx.conf"
vars = { upstream = "unix:/run/app/web.sock", server_name = "app.example.com" }
notify = []
"#;

#[test]
fn systemd_services_are_rendered_and_their_commands_shown_with_check() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    write_config(lab.dir(), &lab_config(&lab, SYSTEMD));
    let ran = ferry(&lab, &["provision", "--check", "--diff"]);
    ran.success();
    assert_eq!(ran.recap(&host.target()), [0, 1, 0, 0, 0]);
    insta::assert_snapshot!(ran.lines_of(&host.target()).join("\n"));
    assert!(!host.path("/etc/systemd/system/app-web.service").exists());

    for (task, command) in [
        ("restart", "systemctl restart app-web (as root)"),
        ("reload", "systemctl reload-or-restart app-web (as root)"),
        ("stop", "systemctl stop app-web (as root)"),
    ] {
        let ran = ferry(&lab, &[task, "--check"]);
        ran.success();
        assert_eq!(
            ran.lines_of(&host.target()),
            [format!("would run: {command}")]
        );
    }

    // Applied on a host without systemd: the unit is written, enabling it
    // is what fails, and says why.
    let ran = ferry(&lab, &["provision"]);
    ran.code(1);
    assert!(
        ran.stdout.contains(
            "service app-web: cannot enable app-web: this host runs no systemd and has no /etc/init.d/app-web"
        ),
        "{}",
        ran.stdout
    );
    assert!(host.path("/etc/systemd/system/app-web.service").exists());
}
