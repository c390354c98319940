//! Proves the test-host harness (`tests/common/hosts.rs`) with the plain `ssh` client:
//! hosts look like separate machines, faults behave as real ones do, and nothing outlives
//! a Lab, whether it is dropped, its test panics, or its process is killed.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};
use std::{fs, thread};

use common::hosts::{self, Host, Lab};

fn ssh(lab: &Lab, dest: &str, command: &str) -> Output {
    lab.ssh()
        .arg(dest)
        .arg(command)
        .output()
        .expect("cannot run ssh")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `command` over ssh and fails the test unless it succeeds; returns stdout.
fn ssh_ok(lab: &Lab, dest: &str, command: &str) -> String {
    let out = ssh(lab, dest, command);
    assert!(
        out.status.success(),
        "ssh {dest} {command}: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// An ssh session left running on `dest`, returned once the remote command has started.
fn open_session(lab: &Lab, dest: &str) -> Child {
    let mut cmd = lab.ssh();
    cmd.arg(dest).arg("echo started; sleep 60");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh");
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line);
    assert_eq!(line, "started\n", "the session did not start");
    child
}

fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

#[test]
fn hosts_have_their_own_address_and_filesystem() {
    hosts::require_root();
    let lab = Lab::start(3);
    for host in lab.hosts() {
        let addrs = ssh_ok(&lab, &host.target(), "hostname -I");
        assert_eq!(
            addrs.split_whitespace().collect::<Vec<_>>(),
            [host.addr().to_string()]
        );
    }
    let marker = format!("/srv/harness-marker-{}", std::process::id());
    ssh_ok(&lab, &lab.host(0).target(), &format!("echo one > {marker}"));
    assert_eq!(
        fs::read_to_string(lab.host(0).path(&marker)).unwrap(),
        "one\n"
    );
    ssh_ok(&lab, &lab.host(1).target(), &format!("test ! -e {marker}"));
    assert!(
        !Path::new(&marker).exists(),
        "the write reached the machine's /srv"
    );
}

#[test]
fn root_logs_in_with_the_key_and_deploy_has_sudo() {
    hosts::require_root();
    let lab = Lab::start(1);
    let addr = lab.host(0).addr();
    assert_eq!(ssh_ok(&lab, &format!("root@{addr}"), "id -un"), "root\n");
    assert_eq!(
        ssh_ok(&lab, &lab.host(0).target(), "sudo -n id -un"),
        "root\n"
    );
    assert_eq!(
        lab.host(0).exec_ok("stat -c %U /srv /home/deploy"),
        "deploy\ndeploy\n"
    );
}

#[test]
fn the_alias_works_and_a_changed_host_key_is_refused() {
    hosts::require_root();
    let lab = Lab::start(1);
    let host = lab.host(0);
    assert_eq!(ssh_ok(&lab, host.alias(), "whoami"), "deploy\n");
    host.change_host_key();
    let out = ssh(&lab, host.alias(), "true");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_cut_link_times_out_new_connections_until_reconnected() {
    hosts::require_root();
    let lab = Lab::start(1);
    let host = lab.host(0);
    ssh_ok(&lab, host.alias(), "true");
    host.cut();
    let started = Instant::now();
    let out = ssh(&lab, host.alias(), "true");
    let took = started.elapsed();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Connection timed out"),
        "{}",
        stderr(&out)
    );
    // ConnectTimeout is 3 s: quicker would be a refusal, slower the kernel's own timeout.
    assert!(
        took > Duration::from_millis(2500) && took < Duration::from_secs(6),
        "{took:?}"
    );
    host.reconnect();
    ssh_ok(&lab, host.alias(), "true");
}

#[test]
fn a_cut_link_stalls_an_open_session_until_keepalives_give_up() {
    hosts::require_root();
    let lab = Lab::start(1);
    let mut session = open_session(&lab, lab.host(0).alias());
    lab.host(0).cut();
    // ServerAliveInterval 2 x ServerAliveCountMax 2: about 6 s.
    let status = wait_within(&mut session, Duration::from_secs(15)).expect("ssh hung on");
    assert_eq!(status.code(), Some(255));
    let out = session.wait_with_output().expect("ssh");
    assert!(stderr(&out).contains("not responding"), "{}", stderr(&out));
}

#[test]
fn a_killed_sshd_refuses_connections_until_started() {
    hosts::require_root();
    let lab = Lab::start(1);
    let host = lab.host(0);
    host.kill_sshd();
    let out = ssh(&lab, host.alias(), "true");
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        stderr(&out)
    );
    host.start_sshd();
    ssh_ok(&lab, host.alias(), "true");
}

#[test]
fn connections_and_sessions_are_counted() {
    hosts::require_root();
    let lab = Lab::start(1);
    let host = lab.host(0);
    assert_eq!((host.connections(), host.sessions()), (0, 0));
    ssh_ok(&lab, host.alias(), "true");
    ssh_ok(&lab, host.alias(), "true");
    assert_eq!((host.connections(), host.sessions()), (2, 2));
    // One multiplexed connection carrying two sessions.
    let socket = lab.dir().join("mux");
    let master = lab
        .ssh()
        .args(["-M", "-N", "-f", "-S"])
        .arg(&socket)
        .arg(host.alias())
        .status();
    assert!(master.expect("ssh").success());
    for _ in 0..2 {
        let out = lab
            .ssh()
            .arg("-S")
            .arg(&socket)
            .args([host.alias(), "true"])
            .output();
        assert!(out.expect("ssh").status.success());
    }
    let _ = lab
        .ssh()
        .arg("-S")
        .arg(&socket)
        .args(["-O", "exit", host.alias()])
        .output();
    assert_eq!((host.connections(), host.sessions()), (3, 4));
}

/// What a host puts on the machine, noted before it goes, to check it has gone.
struct Traces {
    netns: String,
    veth: String,
    pids: Vec<i32>,
    fs_root: PathBuf,
}

impl Traces {
    fn of(host: &Host) -> Traces {
        let pids = host.pids();
        assert!(
            pids.len() >= 2,
            "expected at least the holder and sshd: {pids:?}"
        );
        let fs_root = host.path("/srv").parent().unwrap().to_owned();
        Traces {
            netns: host.netns(),
            veth: host.veth(),
            pids,
            fs_root,
        }
    }

    fn to_lines(&self) -> String {
        let pids: Vec<_> = self.pids.iter().map(i32::to_string).collect();
        let (netns, veth, root) = (&self.netns, &self.veth, self.fs_root.display());
        format!("{netns}\n{veth}\n{root}\n{}\n", pids.join(" "))
    }

    fn from_lines(text: &str) -> Traces {
        let lines: Vec<_> = text.lines().collect();
        let [netns, veth, root, pids] = lines[..] else {
            panic!("bad report: {text}")
        };
        let pids = pids
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        Traces {
            netns: netns.into(),
            veth: veth.into(),
            pids,
            fs_root: root.into(),
        }
    }

    fn assert_processes_gone(&self) {
        let alive: Vec<_> = self.pids.iter().filter(|&&p| is_alive(p)).collect();
        assert!(
            alive.is_empty(),
            "processes of {} still run: {alive:?}",
            self.netns
        );
    }

    /// Only meaningful while the slot is held: otherwise another test may reuse the names.
    fn assert_all_gone(&self) {
        self.assert_processes_gone();
        assert!(
            !Path::new("/run/netns").join(&self.netns).exists(),
            "{} is left",
            self.netns
        );
        assert!(
            !Path::new("/sys/class/net").join(&self.veth).exists(),
            "{} is left",
            self.veth
        );
        assert!(!self.fs_root.exists(), "{} is left", self.fs_root.display());
        let needle = self.fs_root.to_str().unwrap();
        let mounted = all_pids()
            .filter(|p| mountinfo(*p).contains(needle))
            .collect::<Vec<_>>();
        assert!(
            mounted.is_empty(),
            "processes still see mounts of {needle}: {mounted:?}"
        );
    }
}

/// Not gone and not a zombie waiting for a lazy reaper.
fn is_alive(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    state.is_some_and(|s| s != 'Z')
}

fn all_pids() -> impl Iterator<Item = i32> {
    let entries = fs::read_dir("/proc").unwrap().flatten();
    entries.filter_map(|e| e.file_name().to_str()?.parse().ok())
}

fn mountinfo(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default()
}

#[test]
fn a_stopped_lab_leaves_nothing_behind() {
    hosts::require_root();
    let lab = Lab::start(2);
    let mut session = open_session(&lab, lab.host(0).alias());
    let traces: Vec<_> = lab.hosts().iter().map(Traces::of).collect();
    let held = lab.stop();
    for trace in &traces {
        trace.assert_all_gone();
    }
    let status = wait_within(&mut session, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| !s.success()),
        "the open session outlived its host"
    );
    drop(held);
}

#[test]
fn a_panicking_test_leaves_no_processes() {
    hosts::require_root();
    let mut traces = None;
    let run = std::panic::AssertUnwindSafe(|| {
        let lab = Lab::start(1);
        traces = Some(Traces::of(lab.host(0)));
        panic!("a test failing with its Lab in scope");
    });
    assert!(std::panic::catch_unwind(run).is_err());
    // Its slot is free again and may be reused at once, so check only the processes.
    traces.expect("lab started").assert_processes_gone();
}

/// Run by `a_killed_test_process_is_cleaned_up_after` in a process of its own: starts a
/// host, reports its Lab dir and traces, and dies by SIGKILL so that no cleanup runs.
#[test]
#[ignore = "run by a_killed_test_process_is_cleaned_up_after in a process of its own"]
fn killed_test_process() {
    let Some(report) = std::env::var_os("FERRY_HARNESS_CRASH_REPORT") else {
        return;
    };
    let lab = Lab::start(1);
    let traces = Traces::of(lab.host(0)).to_lines();
    fs::write(report, format!("{}\n{traces}", lab.dir().display())).unwrap();
    let me = nix::unistd::Pid::this();
    nix::sys::signal::kill(me, nix::sys::signal::Signal::SIGKILL).unwrap();
}

#[test]
fn a_killed_test_process_is_cleaned_up_after() {
    hosts::require_root();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["killed_test_process", "--exact", "--ignored"]);
    let out = cmd
        .env("FERRY_HARNESS_CRASH_REPORT", &report)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the helper was not killed: {}",
        stdout(&out)
    );
    let report = fs::read_to_string(&report).expect("the helper's report");
    let (lab_dir, traces) = report.split_once('\n').unwrap();
    let trace = Traces::from_lines(traces);
    // Another test process may have swept it already: only its absence is certain.
    hosts::sweep();
    assert!(!Path::new(lab_dir).exists(), "the sweep left {lab_dir}");
    // Waits for the slot if another process took it first; that one cleaned up as well.
    let held = hosts::reclaim(hosts::slot_of(&trace.netns));
    trace.assert_all_gone();
    drop(held);
}
