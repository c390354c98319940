//! What the machine needs once before any host: the `deploy` user, its sudoers entry,
//! mount points, a shared /run/netns and the bridge; and a sweep of what crashed runs
//! left. Runs once per test process, serialized among processes by a lock file.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use nix::fcntl::FlockArg;
use nix::unistd::User;
use tempfile::TempDir;

use super::slot::Slot;
use super::sys::{ip, lock_file, run, set_mode, write};
use super::{BASE, BRIDGE, BRIDGE_ADDR, BRIDGE_MAC, PRIVATE_DIRS};

const SUDOERS: &str = "# ferry's integration tests provision hosts as deploy.\n\
                       deploy ALL=(ALL:ALL) NOPASSWD: ALL\n";

/// What the machine must have once, before any host: see [`prepare_machine`].
pub(super) struct Machine {
    /// The deploy user's (uid, gid).
    pub(super) deploy: (u32, u32),
}

/// The machine, prepared once per process; the setup lock serializes test processes.
pub(super) fn machine() -> &'static Machine {
    static MACHINE: OnceLock<Machine> = OnceLock::new();
    MACHINE.get_or_init(|| {
        super::require_root();
        for dir in ["slots", "hosts", "labs"] {
            fs::create_dir_all(Path::new(BASE).join(dir)).expect("harness dir");
        }
        let _setup = lock_file(&Path::new(BASE).join("setup.lock"), FlockArg::LockExclusive);
        prepare_machine()
    })
}

fn prepare_machine() -> Machine {
    ensure_deploy_user();
    ensure_sudoers();
    for dir in PRIVATE_DIRS {
        fs::create_dir_all(dir).expect("mount point");
    }
    ensure_netns_dir();
    ensure_bridge();
    sweep();
    let deploy = deploy_user().expect("user deploy");
    Machine {
        deploy: (deploy.uid.as_raw(), deploy.gid.as_raw()),
    }
}

fn deploy_user() -> Option<User> {
    User::from_name("deploy").ok().flatten()
}

fn ensure_deploy_user() {
    if deploy_user().is_none() {
        let args = [
            "--home-dir",
            "/home/deploy",
            "--no-create-home",
            "--shell",
            "/bin/bash",
        ];
        run(Command::new("useradd")
            .args(args)
            .args(["--user-group", "deploy"]));
    }
    // useradd leaves `!` as the password, which sshd without PAM takes for a locked account.
    let shadow = fs::read_to_string("/etc/shadow").unwrap_or_default();
    if !shadow.lines().any(|l| l.starts_with("deploy:*:")) {
        run(Command::new("usermod").args(["--password", "*", "deploy"]));
    }
}

/// Passwordless sudo for deploy, for provisioning tests. Hosts share the machine's /etc.
fn ensure_sudoers() {
    let path = Path::new("/etc/sudoers.d/ferry-tests");
    if fs::read_to_string(path).ok().as_deref() != Some(SUDOERS) {
        fs::create_dir_all("/etc/sudoers.d").expect("/etc/sudoers.d");
        write(path, SUDOERS);
        set_mode(path, 0o440);
    }
}

/// `ip netns add` makes /run/netns a shared mount point on first use; two processes doing
/// that at once can stack two mounts, one hiding the other's namespaces. Do it here, locked.
fn ensure_netns_dir() {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mount_point = |line: &str| line.split(' ').nth(4) == Some("/run/netns");
    if mountinfo.lines().any(mount_point) {
        return;
    }
    fs::create_dir_all("/run/netns").expect("/run/netns");
    run(Command::new("mount").args(["--bind", "/run/netns", "/run/netns"]));
    run(Command::new("mount").args(["--make-shared", "/run/netns"]));
}

fn ensure_bridge() {
    let exists = Path::new("/sys/class/net").join(BRIDGE).exists();
    let create = if exists {
        String::new()
    } else {
        format!("link add {BRIDGE} type bridge\n")
    };
    // Idempotent, so a bridge half made by a process that died is completed.
    let setup = format!(
        "{create}link set {BRIDGE} address {BRIDGE_MAC}\n\
         addr replace {BRIDGE_ADDR}/16 dev {BRIDGE}\nlink set {BRIDGE} up\n"
    );
    ip(&[], &setup);
}

/// Clears what crashed runs left behind: slots nobody holds, and Lab dirs whose process
/// is gone. Otherwise their processes and files would linger until the slot is reused.
pub(super) fn sweep() {
    let hosts = numbered(&Path::new(BASE).join("hosts"), "h");
    for n in hosts
        .into_iter()
        .chain(numbered(Path::new("/run/netns"), "ferry-h"))
    {
        if let Some(slot) = Slot::try_lock(n) {
            slot.clear();
        }
    }
    let labs = fs::read_dir(Path::new(BASE).join("labs"))
        .into_iter()
        .flatten()
        .flatten();
    for lab in labs {
        let name = lab.file_name().to_string_lossy().into_owned();
        let owner = name.split_once('-').map_or("", |(owner, _)| owner);
        if !is_alive(owner) {
            let _ = fs::remove_dir_all(lab.path());
        }
    }
}

/// A temp dir for a Lab, named after this process so that [`sweep`] can tell when its
/// owner died without removing it.
pub(super) fn lab_dir() -> TempDir {
    let owner = process_id(std::process::id()).expect("this process's /proc entry");
    let labs = Path::new(BASE).join("labs");
    let dir = tempfile::Builder::new()
        .prefix(&format!("{owner}-"))
        .tempdir_in(labs);
    dir.expect("cannot make a Lab dir")
}

/// `pid.starttime`: names a process uniquely, even once its pid is reused.
fn process_id(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces; starttime is field 22.
    let start = stat.rsplit_once(") ")?.1.split(' ').nth(19)?;
    Some(format!("{pid}.{start}"))
}

fn is_alive(owner: &str) -> bool {
    let pid = owner.split_once('.').and_then(|(pid, _)| pid.parse().ok());
    pid.and_then(process_id).as_deref() == Some(owner)
}

/// The N of every entry `<prefix>N` in `dir`.
fn numbered(dir: &Path, prefix: &str) -> Vec<u32> {
    let entries = fs::read_dir(dir).into_iter().flatten().flatten();
    let number = |name: &str| name.strip_prefix(prefix)?.parse().ok();
    entries
        .filter_map(|e| number(e.file_name().to_str()?))
        .collect()
}
