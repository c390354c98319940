//! One test host: its private directories, the process that holds its mount namespace,
//! and its sshd, with the faults tests inject (cut link, dead sshd, new host key). Names,
//! addresses and cleanup come from its slot; the client side belongs to the Lab.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::Flock;

use super::PRIVATE_DIRS;
use super::machine::machine;
use super::slot::{Slot, comm, kill_netns_processes, netns_pids};
use super::sys::{ip, keygen, read, run, set_mode, write};

/// Inside a host: sshd's config and host key, and its log.
const SSHD_DIR: &str = "/run/ferry-sshd";
const SSHD_LOG: &str = "/var/log/sshd.log";
/// The host's Docker Engine: its images and containers, and its log.
const DOCKER_DATA: &str = "/var/tmp/docker";
const DOCKERD_LOG: &str = "/var/log/dockerd.log";
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One test host. Methods that change it take `&self` so tests can share a Lab.
pub struct Host {
    slot: Slot,
    alias: String,
    /// `sleep` that keeps the host's mount namespace alive; `nsenter` targets it.
    holder: Option<Child>,
    /// The listening sshd, when running.
    sshd: Mutex<Option<Child>>,
    /// The host's own Docker Engine, once started (see [`Host::start_docker`]).
    dockerd: Mutex<Option<Child>>,
}

impl Host {
    pub(super) fn start(index: usize, client_key: &str) -> Host {
        let mut host = Host {
            slot: Slot::acquire(),
            alias: format!("lab-h{}", index + 1),
            holder: None,
            sshd: Mutex::new(None),
            dockerd: Mutex::new(None),
        };
        // From here on, a panic drops `host`, which cleans up whatever was made.
        host.make_dirs(client_key);
        host.new_host_key();
        host.slot.plug_in();
        host.spawn_holder();
        host.start_sshd();
        host
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.slot.addr()
    }

    /// `deploy@<addr>`.
    pub fn target(&self) -> String {
        format!("deploy@{}", self.addr())
    }

    /// The alias defined only in [`Lab::ssh_config`], e.g. `lab-h3`.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// The host's network namespace, as `ip netns` names it.
    pub fn netns(&self) -> String {
        self.slot.netns()
    }

    /// The machine's end of the host's link, on the bridge.
    pub fn veth(&self) -> String {
        self.slot.veth()
    }

    /// Where a path inside the host lives on the machine; only paths under the host's
    /// private directories (`PRIVATE_DIRS`) have one: the rest is the machine's own.
    pub fn path(&self, inside: &str) -> PathBuf {
        let private = |d: &&str| inside == *d || inside.starts_with(&format!("{d}/"));
        assert!(
            PRIVATE_DIRS.iter().any(private),
            "{inside} is the machine's, not private to a test host; private: {PRIVATE_DIRS:?}"
        );
        self.slot.fs_root().join(inside.trim_start_matches('/'))
    }

    /// Runs `sh -c script` as root inside the host's namespaces. Like ssh, this waits for
    /// stdout and stderr to close: start daemons with their output redirected.
    pub fn exec(&self, script: &str) -> Output {
        let mut cmd = self.inside("sh");
        cmd.args(["-c", script])
            .output()
            .expect("cannot run nsenter")
    }

    /// Like [`Host::exec`], but fails the test unless the script succeeds; returns stdout.
    pub fn exec_ok(&self, script: &str) -> String {
        let out = self.exec(script);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "on {}: `{script}` failed: {stderr}",
            self.alias
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Link down: packets are silently lost, so connections hang until they time out.
    pub fn cut(&self) {
        ip(&[], &format!("link set {} down\n", self.slot.veth()));
    }

    /// Link up again.
    pub fn reconnect(&self) {
        ip(&[], &format!("link set {} up\n", self.slot.veth()));
        // A link that is up is not yet one that carries packets (the bridge
        // port comes back a moment later): return once sshd can be reached.
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = std::net::SocketAddr::from((self.addr(), 22));
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} unreachable after reconnect",
                self.target()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the listening sshd and every session (open connections drop): new
    /// connections are refused until [`Host::start_sshd`].
    pub fn kill_sshd(&self) {
        let mut sshd = self.lock_sshd();
        kill_netns_processes(&self.slot.netns_path(), |pid| comm(pid) == "sshd");
        if let Some(mut child) = sshd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts sshd (same config and host key) unless it runs; returns once it listens.
    pub fn start_sshd(&self) {
        let mut sshd = self.lock_sshd();
        if let Some(child) = sshd.as_mut() {
            if child.try_wait().is_ok_and(|status| status.is_none()) {
                return;
            }
        }
        let config = format!("{SSHD_DIR}/sshd_config");
        let mut cmd = self.inside("/usr/sbin/sshd");
        cmd.args(["-D", "-f", &config, "-E", SSHD_LOG]);
        // Everything, errors in its config included, goes to the log; inheriting the test's
        // stdout would tie the test runner's capture to a daemon.
        let spawned = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        let mut child = spawned.expect("cannot run nsenter");
        self.wait_listening(&mut child);
        *sshd = Some(child);
    }

    /// Starts a Docker Engine of the host's own, inside its network and mount namespaces,
    /// and returns once it answers: its images, containers and socket are the host's alone
    /// (`/var/run/docker.sock` is under the host's private /run, where the deploy user's
    /// `docker` finds it). It manages no iptables rules and no bridge: dockerd would
    /// otherwise set the machine's FORWARD policy to DROP and cut hosts off each other;
    /// containers use the host's network. It dies with the host's other processes.
    pub fn start_docker(&self) {
        let mut dockerd = self
            .dockerd
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if dockerd.is_some() {
            return;
        }
        let mut cmd = self.inside("dockerd");
        cmd.args([
            "--data-root",
            DOCKER_DATA,
            "--exec-root",
            "/run/docker",
            "-H",
            "unix:///run/docker.sock",
            // Where Debian's init script looks (`service docker status`), so the engine
            // reads as running, as on a host that started it at boot.
            "--pidfile",
            "/run/docker-ssd.pid",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            // A test registry speaks plain HTTP on a host's address.
            "--insecure-registry",
            "10.77.0.0/16",
            // The socket's group: the deploy user's own, as the docker group would be.
            "--group",
            "deploy",
        ]);
        let log = File::create(self.path(DOCKERD_LOG)).expect("dockerd log");
        let spawned = cmd.stdout(Stdio::null()).stderr(log).spawn();
        *dockerd = Some(spawned.expect("cannot run nsenter"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.exec("docker info >/dev/null 2>&1").status.success() {
            let child = dockerd.as_mut().expect("just started");
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "dockerd of {} exited ({status}):\n{}",
                    self.alias,
                    self.dockerd_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "dockerd of {} does not answer:\n{}",
                self.alias,
                self.dockerd_log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The socket of the host's Docker Engine, as the machine reaches it: for tests that
    /// use a host's engine as the one ferry builds with (`DOCKER_HOST=unix://…`).
    pub fn docker_socket(&self) -> PathBuf {
        self.path("/run/docker.sock")
    }

    pub fn dockerd_log(&self) -> String {
        fs::read_to_string(self.path(DOCKERD_LOG)).unwrap_or_default()
    }

    /// A new host key, and sshd restarted with it (open sessions survive), so the Lab's
    /// known_hosts no longer matches.
    pub fn change_host_key(&self) {
        if let Some(mut child) = self.lock_sshd().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.new_host_key();
        self.start_sshd();
    }

    /// The host's public key, as in known_hosts after the address.
    pub fn host_key(&self) -> String {
        read(&self.host_key_path().with_extension("pub"))
    }

    pub fn sshd_log(&self) -> String {
        fs::read_to_string(self.path(SSHD_LOG)).unwrap_or_default()
    }

    /// Connections sshd accepted (logged "Accepted publickey").
    pub fn connections(&self) -> usize {
        self.sshd_log().matches("Accepted publickey").count()
    }

    /// Sessions sshd started (logged "Starting session"): one per command or shell.
    pub fn sessions(&self) -> usize {
        self.sshd_log().matches("Starting session").count()
    }

    /// Processes running in the host (its holder, sshd, sessions, what tests started).
    pub fn pids(&self) -> Vec<i32> {
        fs::metadata(self.slot.netns_path()).map_or(vec![], |ns| netns_pids(&ns))
    }

    /// A command run inside the host's namespaces, as root, with a minimal environment.
    fn inside(&self, program: &str) -> Command {
        let holder = self
            .holder
            .as_ref()
            .expect("host has no mount namespace")
            .id();
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--target={holder}"))
            .args(["--net", "--mount", "--", program]);
        cmd.env_clear()
            .env("PATH", PATH)
            .env("HOME", "/root")
            .env("LANG", "C.UTF-8");
        cmd.env("USER", "root").env("LOGNAME", "root");
        cmd.current_dir("/").stdin(Stdio::null());
        cmd
    }

    fn lock_sshd(&self) -> MutexGuard<'_, Option<Child>> {
        self.sshd
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn host_key_path(&self) -> PathBuf {
        self.path(&format!("{SSHD_DIR}/ssh_host_ed25519_key"))
    }

    fn new_host_key(&self) {
        let key = self.host_key_path();
        let _ = fs::remove_file(&key);
        let _ = fs::remove_file(key.with_extension("pub"));
        keygen(&key, &self.netns());
    }

    /// The host's private directories, owned and filled as a fresh server's would be.
    fn make_dirs(&self, client_key: &str) {
        let etc = self.slot.fs_root().join("etc");
        fs::create_dir_all(&etc).expect("host dir");
        // Hosts start with the machine's configs so supervisord and nginx run as installed.
        let configs: Vec<_> = ["/etc/nginx", "/etc/supervisor"]
            .into_iter()
            .filter(|d| Path::new(d).exists())
            .collect();
        if !configs.is_empty() {
            run(Command::new("cp").arg("-a").args(configs).arg(&etc));
        }
        let extra = [
            "/var/log/nginx",
            "/var/log/supervisor",
            "/run/sshd",
            "/run/lock",
            SSHD_DIR,
        ];
        for dir in PRIVATE_DIRS.iter().chain(&extra) {
            fs::create_dir_all(self.path(dir)).expect("host dir");
        }
        for (dir, mode) in [
            ("/tmp", 0o1777),
            ("/var/tmp", 0o1777),
            ("/run/lock", 0o1777),
            ("/root", 0o700),
        ] {
            set_mode(&self.path(dir), mode);
        }
        let deploy = machine().deploy;
        authorize(&self.path("/root"), client_key, (0, 0));
        authorize(&self.path("/home/deploy"), client_key, deploy);
        chown(self.path("/srv"), Some(deploy.0), Some(deploy.1)).expect("chown /srv");
        write(
            &self.path(&format!("{SSHD_DIR}/sshd_config")),
            &self.sshd_config(),
        );
    }

    fn sshd_config(&self) -> String {
        format!(
            "ListenAddress {}:22\nHostKey {SSHD_DIR}/ssh_host_ed25519_key\nPidFile none\n\
             LogLevel VERBOSE\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nAuthorizedKeysFile .ssh/authorized_keys\n\
             MaxSessions 10\nMaxStartups 10:30:100\nUseDNS no\nPrintMotd no\n\
             AcceptEnv LANG LC_*\nSubsystem sftp internal-sftp\n\
             PermitUserEnvironment PATH\n",
            self.addr()
        )
    }

    /// Starts the holder: it enters the host's netns, makes a private mount namespace,
    /// binds the host's directories, says `ready` and sleeps until cleanup kills it.
    fn spawn_holder(&mut self) {
        let mut child = Command::new("nsenter")
            .arg(format!("--net={}", self.slot.netns_path().display()))
            .args(["unshare", "--mount", "--propagation", "private", "sh", "-c"])
            .arg(holder_script(&self.slot.fs_root()))
            .env_clear()
            .env("PATH", PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run nsenter");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
        if line != "ready\n" {
            let out = child.wait_with_output().expect("holder");
            let stderr = String::from_utf8_lossy(&out.stderr);
            panic!(
                "mounting the directories of {} failed: {stderr}",
                self.alias
            );
        }
        self.holder = Some(child);
    }

    /// Polls the kernel's socket table rather than connecting, so no probe shows up in
    /// the sshd log that tests count.
    fn wait_listening(&self, child: &mut Child) {
        let listening = format!(
            "{:08X}:0016 00000000:0000 0A",
            u32::from_le_bytes(self.addr().octets())
        );
        let table = format!("/proc/{}/net/tcp", child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if fs::read_to_string(&table).is_ok_and(|t| t.contains(&listening)) {
                return;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "sshd of {} exited ({status}):\n{}",
                    self.alias,
                    self.sshd_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sshd of {} does not listen:\n{}",
                self.alias,
                self.sshd_log()
            );
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Tears the host down and hands back its slot lock; `None` if already done.
    pub(super) fn release(&mut self) -> Option<Flock<File>> {
        let lock = self.slot.lock.take()?;
        self.slot.clear();
        // Already killed with everything in the netns; this only reaps them.
        let children = self
            .holder
            .take()
            .into_iter()
            .chain(self.lock_sshd().take())
            .chain(
                self.dockerd
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .take(),
            );
        for mut child in children {
            let _ = child.kill();
            let _ = child.wait();
        }
        Some(lock)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.release();
    }
}

fn holder_script(fs_root: &Path) -> String {
    // The new namespace starts with copies of /run/netns/* mounts, which would keep other
    // hosts' network namespaces alive after `ip netns del`: drop them first.
    let mut script = String::from("set -e\numount -l /run/netns 2>/dev/null || true\n");
    for dir in PRIVATE_DIRS {
        script += &format!("mount --bind '{}{dir}' '{dir}'\n", fs_root.display());
    }
    script + "echo ready\nexec sleep infinity\n"
}

/// Writes `key` as the only authorized key of `home`, owned by `owner` (uid, gid).
fn authorize(home: &Path, key: &str, (uid, gid): (u32, u32)) {
    let ssh = home.join(".ssh");
    let keys = ssh.join("authorized_keys");
    fs::create_dir_all(&ssh).expect("~/.ssh");
    write(&keys, key);
    set_mode(&ssh, 0o700);
    set_mode(&keys, 0o600);
    for path in [home, &ssh, &keys] {
        chown(path, Some(uid), Some(gid)).expect("chown");
    }
}
