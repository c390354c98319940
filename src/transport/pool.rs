//! One connection per host for the length of a run, opened on first use.
//! Two caps keep us polite to sshd: at most `SESSIONS_PER_HOST` commands at
//! once over a host's connection (sshd's `MaxSessions` is 10 by default), and
//! at most `CONNECTING_AT_ONCE` handshakes in flight (sshd's `MaxStartups`
//! starts dropping unauthenticated connections at 10, which bites when many
//! hosts sit behind one bastion).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use openssh::Session;
use tokio::sync::{OnceCell, Semaphore};

use super::local::Local;
use super::ssh::Ssh;
use super::ssh::{self, Target};
use super::{Request, Response, Sink, TransportError};
use crate::config::HostKeyChecking;
use crate::inventory::{Address, Host};

const SESSIONS_PER_HOST: usize = 4;
const CONNECTING_AT_ONCE: usize = 10;

pub(crate) struct SshOptions {
    pub(crate) host_key_checking: HostKeyChecking,
    pub(crate) connect_timeout: u32,
    pub(crate) keepalive: u32,
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) default_user: Option<String>,
    /// Control sockets live here: private (0700), and short, because a
    /// socket path must fit in 108 bytes (104 on macOS).
    pub(crate) control_dir: tempfile::TempDir,
}

impl SshOptions {
    pub(crate) fn control_dir() -> std::io::Result<tempfile::TempDir> {
        // Not $TMPDIR: on macOS it is a long path that leaves no room for the socket name.
        tempfile::Builder::new().prefix("ferry-").tempdir_in("/tmp")
    }
}

type Connection = Result<Arc<Session>, TransportError>;

struct Slot {
    connection: OnceCell<Connection>,
    sessions: Semaphore,
}

pub(crate) struct Pool {
    options: SshOptions,
    connecting: Semaphore,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl Pool {
    pub(crate) fn new(options: SshOptions) -> Self {
        Self {
            options,
            connecting: Semaphore::new(CONNECTING_AT_ONCE),
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) async fn run(
        &self,
        host: &Host,
        request: &Request,
        sink: Sink<'_>,
    ) -> Result<Response, TransportError> {
        let work = async {
            match Target::of(&host.address) {
                None => super::run(&Local, request, sink).await,
                Some(target) => {
                    let slot = self.slot(&host.label);
                    let session = self.connection(&slot, &target).await?;
                    let _permit = slot.sessions.acquire().await.expect("never closed");
                    super::run(&Ssh(session), request, sink).await
                }
            }
        };
        match request.timeout {
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .map_err(|_| TransportError::Timeout(limit))?,
            None => work.await,
        }
    }

    /// The command line a host's script runs under, as the user could type
    /// it (for `-vv`): the script itself goes on its stdin. Over SSH, the
    /// options ferry gives the master connection, then the remote command.
    pub(crate) fn command_line(&self, host: &Host) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        if let Address::Ssh { user, name, port } = &host.address {
            let options = &self.options;
            words.push("ssh".into());
            if let Some(config) = &options.config_file {
                words.extend(["-F".into(), config.display().to_string()]);
            }
            if let Some(user) = user.as_ref().or(options.default_user.as_ref()) {
                words.extend(["-l".into(), user.clone()]);
            }
            if let Some(port) = port {
                words.extend(["-p".into(), port.to_string()]);
            }
            words.extend(self.ssh_options());
            words.extend(["-o".into(), "ControlMaster=auto".into()]);
            words.extend(["--".into(), name.clone()]);
        }
        words.extend(["sh".into(), "-c".into(), super::BOOTSTRAP.into()]);
        words
    }

    /// The `-o` options ferry's connections are made with, so that what
    /// `check` shows (`ssh -G`) and `-vv` prints is what ferry uses.
    pub(crate) fn ssh_options(&self) -> Vec<String> {
        let options = &self.options;
        let checking = match options.host_key_checking {
            HostKeyChecking::Strict => "yes",
            HostKeyChecking::AcceptNew => "accept-new",
            HostKeyChecking::Off => "no",
        };
        [
            format!("StrictHostKeyChecking={checking}"),
            format!("ConnectTimeout={}", options.connect_timeout),
            format!("ServerAliveInterval={}", options.keepalive),
        ]
        .into_iter()
        .flat_map(|option| ["-o".to_string(), option])
        .collect()
    }

    pub(crate) fn options(&self) -> &SshOptions {
        &self.options
    }

    /// Open the connections to `hosts` in the background, ahead of their
    /// first script: a deploy reads its commit meanwhile, so the handshakes
    /// cost it nothing. A connection that fails waits in its slot for the
    /// first script that needs it, which reports it as it would have.
    pub(crate) fn warm(self: &Arc<Self>, hosts: &[Host]) -> tokio::task::JoinSet<()> {
        let mut warming = tokio::task::JoinSet::new();
        for host in hosts.iter().filter(|h| Target::of(&h.address).is_some()) {
            let (pool, host) = (self.clone(), host.clone());
            warming.spawn(async move {
                if let Some(target) = Target::of(&host.address) {
                    let slot = pool.slot(&host.label);
                    let _ = pool.connection(&slot, &target).await;
                }
            });
        }
        warming
    }

    /// The slot's connection, opened on first use.
    async fn connection(&self, slot: &Slot, target: &Target<'_>) -> Connection {
        slot.connection
            .get_or_init(|| self.connect(target))
            .await
            .clone()
    }

    async fn connect(&self, target: &Target<'_>) -> Connection {
        let _permit = self.connecting.acquire().await.expect("never closed");
        ssh::connect(target, &self.options).await.map(Arc::new)
    }

    fn slot(&self, label: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().expect("not poisoned");
        slots
            .entry(label.to_string())
            .or_insert_with(|| {
                Arc::new(Slot {
                    connection: OnceCell::new(),
                    sessions: Semaphore::new(SESSIONS_PER_HOST),
                })
            })
            .clone()
    }

    /// Close every master connection now rather than leave them to idle out.
    pub(crate) async fn close(&self) {
        let slots: Vec<Arc<Slot>> = self
            .slots
            .lock()
            .expect("not poisoned")
            .drain()
            .map(|(_, s)| s)
            .collect();
        let mut closing = tokio::task::JoinSet::new();
        for slot in slots {
            let session = Arc::try_unwrap(slot)
                .ok()
                .and_then(|slot| slot.connection.into_inner())
                .and_then(Result::ok)
                .and_then(|session| Arc::try_unwrap(session).ok());
            if let Some(session) = session {
                closing.spawn(session.close());
            }
        }
        // A master that is already gone has nothing left to close.
        while closing.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_shown_at_vv_is_the_one_ssh_gets() {
        let pool = Pool::new(SshOptions {
            host_key_checking: HostKeyChecking::Strict,
            connect_timeout: 7,
            keepalive: 9,
            config_file: Some(PathBuf::from("/etc/ferry/ssh_config")),
            default_user: Some("deploy".into()),
            control_dir: SshOptions::control_dir().unwrap(),
        });
        let host = Host::parse("web1.example.com:2222", Default::default()).unwrap();
        let line = pool.command_line(&host).join(" ");
        assert!(
            line.starts_with(
                "ssh -F /etc/ferry/ssh_config -l deploy -p 2222 -o StrictHostKeyChecking=yes -o ConnectTimeout=7 -o ServerAliveInterval=9"
            ),
            "{line}"
        );
        assert!(line.contains(" -- web1.example.com sh -c "), "{line}");
        let local = Host::parse("local", Default::default()).unwrap();
        assert_eq!(pool.command_line(&local)[..2], ["sh", "-c"]);
    }
}
