//! A slot: the number a host borrows for its names (netns `ferry-hN`, veth `fthN`), its
//! addresses and its directory, reserved by an flock that the kernel drops when the owner
//! dies. Clearing a slot removes whatever its last host left, crashed or not.

use std::fs::{self, File};
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::sys::{ip, ip_output, lock_file};
use super::{BASE, BRIDGE, BRIDGE_ADDR, BRIDGE_MAC};

const MAX_SLOTS: u32 = 1000;

/// A host's number, names and addresses, reserved by an flock held while the host lives.
pub(super) struct Slot {
    n: u32,
    pub(super) lock: Option<Flock<File>>,
}

impl Slot {
    /// The lowest free slot, cleared of whatever a crashed owner left in it.
    pub(super) fn acquire() -> Slot {
        for n in 0..MAX_SLOTS {
            if let Some(slot) = Slot::try_lock(n) {
                slot.clear();
                return slot;
            }
        }
        panic!("all {MAX_SLOTS} test host slots under {BASE}/slots are taken");
    }

    /// Slot `n` if nobody holds it. Not cleared: the caller decides.
    pub(super) fn try_lock(n: u32) -> Option<Slot> {
        Slot::lock(n, FlockArg::LockExclusiveNonblock)
    }

    /// Slot `n`, once its owner (if any) lets go, cleared.
    pub(super) fn wait_for(n: u32) -> Slot {
        let slot = Slot::lock(n, FlockArg::LockExclusive).expect("slot lock");
        slot.clear();
        slot
    }

    fn lock(n: u32, how: FlockArg) -> Option<Slot> {
        let path = Path::new(BASE).join(format!("slots/{n}.lock"));
        let lock = lock_file(&path, how)?;
        // For people looking at a machine: who holds which slot.
        let pid = format!("{}\n", std::process::id());
        let _ = lock
            .set_len(0)
            .and_then(|()| (&*lock).write_all(pid.as_bytes()));
        Some(Slot {
            n,
            lock: Some(lock),
        })
    }

    pub(super) fn netns(&self) -> String {
        format!("ferry-h{}", self.n)
    }

    pub(super) fn netns_path(&self) -> PathBuf {
        Path::new("/run/netns").join(self.netns())
    }

    /// The machine's end of the host's veth pair (interface names are at most 15 bytes).
    pub(super) fn veth(&self) -> String {
        format!("fth{}", self.n)
    }

    pub(super) fn addr(&self) -> Ipv4Addr {
        let (hi, lo) = (self.n / 250, self.n % 250);
        Ipv4Addr::new(10, 77, 1 + hi as u8, 1 + lo as u8)
    }

    pub(super) fn mac(&self) -> String {
        format!("02:77:01:00:{:02x}:{:02x}", self.n >> 8, self.n & 0xff)
    }

    /// Everything of the host's on disk; its private directories are under `fs/`.
    fn dir(&self) -> PathBuf {
        Path::new(BASE).join(format!("hosts/h{}", self.n))
    }

    pub(super) fn fs_root(&self) -> PathBuf {
        self.dir().join("fs")
    }

    fn has_leftovers(&self) -> bool {
        let veth = Path::new("/sys/class/net").join(self.veth());
        self.netns_path().exists() || veth.exists() || self.dir().exists()
    }

    /// Creates the netns and its veth pair on the bridge. Neighbour entries are permanent
    /// on both sides so that a cut link loses packets silently instead of failing ARP,
    /// which would turn a hang into a quick "No route to host".
    pub(super) fn plug_in(&self) {
        let (ns, veth, addr, mac) = (self.netns(), self.veth(), self.addr(), self.mac());
        ip(
            &[],
            &format!(
                "netns add {ns}\n\
                 link add {veth} type veth peer name eth0 netns {ns} address {mac}\n\
                 link set {veth} master {BRIDGE} up\n\
                 neigh replace {addr} lladdr {mac} dev {BRIDGE} nud permanent\n"
            ),
        );
        ip(
            &["-n", &ns],
            &format!(
                "link set lo up\naddr add {addr}/16 dev eth0\nlink set eth0 up\n\
                 neigh replace {BRIDGE_ADDR} lladdr {BRIDGE_MAC} dev eth0 nud permanent\n"
            ),
        );
    }

    /// Removes everything the slot's host may have left; never fails, never panics.
    pub(super) fn clear(&self) {
        if !self.has_leftovers() {
            return;
        }
        kill_netns_processes(&self.netns_path(), |_| true);
        let (ns, veth, addr) = (self.netns(), self.veth(), self.addr());
        // -force: go on past what is already gone.
        let _ = ip_output(
            &["-force"],
            &format!("netns del {ns}\nlink del {veth}\nneigh del {addr} dev {BRIDGE}\n"),
        );
        let _ = fs::remove_dir_all(self.dir());
    }
}

/// Kills the processes in the network namespace at `netns` (as `ip netns pids` lists
/// them) that `which` selects, until none is left or 5 s have passed.
pub(super) fn kill_netns_processes(netns: &Path, which: impl Fn(i32) -> bool) {
    let Ok(ns) = fs::metadata(netns) else { return };
    // A netns file that is the machine's own namespace would make this kill everything.
    let own = fs::metadata("/proc/self/ns/net");
    if own.is_ok_and(|own| own.dev() == ns.dev() && own.ino() == ns.ino()) {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids: Vec<_> = netns_pids(&ns).into_iter().filter(|&p| which(p)).collect();
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// Live processes whose network namespace is `ns`; zombies have none, so they don't count.
pub(super) fn netns_pids(ns: &fs::Metadata) -> Vec<i32> {
    let in_ns = |pid: &i32| {
        let net = fs::metadata(format!("/proc/{pid}/ns/net"));
        net.is_ok_and(|m| m.dev() == ns.dev() && m.ino() == ns.ino())
    };
    let entries = fs::read_dir("/proc").into_iter().flatten().flatten();
    let pids = entries.filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok());
    pids.filter(in_ns).collect()
}

pub(super) fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}
