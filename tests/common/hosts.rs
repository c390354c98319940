//! Test hosts for ferry's integration tests: real OpenSSH servers started by the tests,
//! each in its own network namespace (its own address on the bridge `ferrytest0`) and its
//! own mount namespace (private /srv, /home/deploy, /root, /var/log, /run, /tmp, /var/tmp,
//! /etc/supervisor, /etc/nginx and /etc/systemd/system; the rest is the machine's).
//!
//! This module owns the client side of a set of hosts ([`Lab`]); `host` owns one host,
//! `slot` the names and addresses a host borrows and their cleanup, `machine` the one-time
//! setup of the machine (bridge, `deploy` user, sudoers entry). None of it runs ferry:
//! tests do, with [`Lab::ssh_config`].
//!
//! Slot N is reserved by an flock on `/var/tmp/ferry-tests/slots/N.lock`, so the kernel
//! frees it when its owner dies, however it dies; whoever locks the slot next (or the sweep
//! each test process runs once) removes the leftovers: processes in netns `ferry-hN`, the
//! netns, veth `fthN` and `/var/tmp/ferry-tests/hosts/hN`. Mounts need no cleanup of their
//! own: they live only in the host's mount namespace, which goes away with its processes.
//! Lab dirs, under `/var/tmp/ferry-tests/labs`, are named after their process, and the
//! sweep removes those whose process is gone.
//!
//! Everything needs root: see [`require_root`].

mod host;
mod machine;
mod slot;
mod sys;

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

use nix::fcntl::Flock;
use tempfile::TempDir;

pub use host::Host;
use slot::Slot;
use sys::{keygen, read, write};

/// Where the harness keeps its state on the machine. Not /tmp nor /run: every host gets
/// private ones, which would hide the sources of its bind mounts.
const BASE: &str = "/var/tmp/ferry-tests";
const BRIDGE: &str = "ferrytest0";
const BRIDGE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// Fixed, so that hosts can hold a permanent neighbour entry for the machine.
const BRIDGE_MAC: &str = "02:77:ff:00:00:01";
/// Directories private to each host, in mount order: all sources live under /var/tmp, so
/// /var/tmp goes last, just after /run and /tmp.
const PRIVATE_DIRS: &[&str] = &[
    "/srv",
    "/home/deploy",
    "/root",
    "/var/log",
    "/etc/supervisor",
    "/etc/nginx",
    "/etc/systemd/system",
    "/run",
    "/tmp",
    "/var/tmp",
];

/// Fails the calling test, loudly, unless it runs as root: a harness test that quietly
/// passed without hosts would prove nothing.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "ferry's integration tests need root: they create network namespaces, a bridge, \
         a `deploy` user and run sshd. Run `sudo scripts/test-deps`, then the tests as root."
    );
}

/// A set of hosts started together, with the client side of ssh: a key, a known_hosts
/// file and an ssh_config, all in a temporary directory that tests may use too.
pub struct Lab {
    hosts: Vec<Host>,
    dir: TempDir,
    identity: PathBuf,
    known_hosts: PathBuf,
    ssh_config: PathBuf,
}

impl Lab {
    /// `n` fresh hosts, each with its own address and filesystem, sshd ready.
    pub fn start(n: usize) -> Lab {
        machine::machine();
        let dir = machine::lab_dir();
        let identity = dir.path().join("id_ed25519");
        keygen(&identity, "ferry-lab");
        let client_key = read(&identity.with_extension("pub"));
        let lab = Lab {
            hosts: start_hosts(n, &client_key),
            known_hosts: dir.path().join("known_hosts"),
            ssh_config: dir.path().join("ssh_config"),
            identity,
            dir,
        };
        write(&lab.known_hosts, &lab.known_hosts_text());
        write(&lab.ssh_config, &lab.ssh_config_text());
        lab
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    /// Client config: this Lab's key and known_hosts for every host, short timeouts, and
    /// one alias per host (`lab-h1`, ... in start order) with `User deploy`.
    pub fn ssh_config(&self) -> &Path {
        &self.ssh_config
    }

    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    pub fn identity(&self) -> &Path {
        &self.identity
    }

    /// The Lab's temp dir (tests put project files there), under
    /// `/var/tmp/ferry-tests/labs`; the hosts don't see it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `ssh -F <ssh_config> -o BatchMode=yes`, for tests to add a destination and command.
    pub fn ssh(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg(&self.ssh_config)
            .args(["-o", "BatchMode=yes"]);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Tears the hosts down but keeps their slots reserved until the result is dropped,
    /// so a test can check that nothing is left without another process reusing the names.
    pub fn stop(mut self) -> HeldSlots {
        HeldSlots(release_all(&mut self.hosts))
    }

    fn known_hosts_text(&self) -> String {
        let line = |h: &Host| format!("{} {}", h.addr(), h.host_key());
        self.hosts.iter().map(line).collect()
    }

    fn ssh_config_text(&self) -> String {
        let mut text = format!(
            "# Written by tests/common/hosts.rs for one Lab.\n\
             IdentityFile {}\nIdentitiesOnly yes\n\
             UserKnownHostsFile {}\nGlobalKnownHostsFile /dev/null\n\
             StrictHostKeyChecking yes\nUpdateHostKeys no\n\
             ConnectTimeout 3\nServerAliveInterval 2\nServerAliveCountMax 2\n",
            self.identity.display(),
            self.known_hosts.display()
        );
        for h in &self.hosts {
            let (alias, addr) = (h.alias(), h.addr());
            text += &format!("\nHost {alias}\n  HostName {addr}\n  User deploy\n");
        }
        text
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        release_all(&mut self.hosts);
    }
}

/// Slots of a stopped Lab, still reserved; dropping this frees them.
pub struct HeldSlots(Vec<Flock<File>>);

/// Starts the hosts in parallel; if one fails, stops the others and fails with its panic.
fn start_hosts(n: usize, client_key: &str) -> Vec<Host> {
    let results: Vec<_> = thread::scope(|s| {
        let starts: Vec<_> = (0..n)
            .map(|i| s.spawn(move || Host::start(i, client_key)))
            .collect();
        starts.into_iter().map(|t| t.join()).collect()
    });
    let mut hosts = Vec::new();
    let mut failure = None;
    for result in results {
        match result {
            Ok(host) => hosts.push(host),
            Err(panic) => failure = failure.or(Some(panic)),
        }
    }
    if let Some(panic) = failure {
        release_all(&mut hosts);
        std::panic::resume_unwind(panic);
    }
    hosts
}

/// Tears hosts down in parallel (a Lab of 30 would otherwise take a while).
fn release_all(hosts: &mut [Host]) -> Vec<Flock<File>> {
    thread::scope(|s| {
        let stops: Vec<_> = hosts.iter_mut().map(|h| s.spawn(|| h.release())).collect();
        stops
            .into_iter()
            .filter_map(|t| t.join().ok().flatten())
            .collect()
    })
}

/// Clears slot `n`, waiting for its owner if it has one, and keeps it reserved until the
/// result is dropped: lets a test check what a crashed run left and that it is gone after.
pub fn reclaim(n: u32) -> HeldSlots {
    machine::machine();
    HeldSlots(Slot::wait_for(n).lock.into_iter().collect())
}

/// Clears what crashed runs left behind (each test process does so once, on its first
/// Lab): slots nobody holds, and Lab dirs whose process is gone.
pub fn sweep() {
    machine::machine();
    machine::sweep();
}

/// The slot number behind a host's netns name (`ferry-h12` -> 12).
pub fn slot_of(netns: &str) -> u32 {
    netns
        .strip_prefix("ferry-h")
        .and_then(|n| n.parse().ok())
        .expect("a host's netns name")
}
