//! The system OpenSSH client through the `openssh` crate: one multiplexed
//! master connection per host, sessions opened over it natively. Users'
//! ssh_config (ProxyJump, Include, certificates), agents and known_hosts apply
//! because it is their own `ssh` doing the work.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};

use super::pool::SshOptions;
use super::{BOOTSTRAP, Child, Transport, TransportError};
use crate::config::HostKeyChecking;
use crate::inventory::Address;

// Long enough to carry a master across the phases of one run; short enough
// that a master orphaned by a killed ferry goes away on its own.
const CONTROL_PERSIST_SECS: usize = 60;

pub(super) struct Target<'a> {
    pub(super) user: Option<&'a str>,
    pub(super) name: &'a str,
    pub(super) port: Option<u16>,
}

impl<'a> Target<'a> {
    /// Where an SSH address points; `None` for the local target.
    pub(super) fn of(address: &'a Address) -> Option<Self> {
        match address {
            Address::Ssh { user, name, port } => Some(Target {
                user: user.as_deref(),
                name,
                port: *port,
            }),
            Address::Local => None,
        }
    }
}

pub(super) async fn connect(
    target: &Target<'_>,
    options: &SshOptions,
) -> Result<Session, TransportError> {
    let mut builder = SessionBuilder::default();
    builder
        .known_hosts_check(match options.host_key_checking {
            HostKeyChecking::Strict => KnownHosts::Strict,
            HostKeyChecking::AcceptNew => KnownHosts::Add,
            HostKeyChecking::Off => KnownHosts::Accept,
        })
        .control_directory(options.control_dir.path())
        .control_persist(ControlPersist::IdleFor(
            NonZeroUsize::new(CONTROL_PERSIST_SECS).expect("non-zero"),
        ))
        .connect_timeout(Duration::from_secs(options.connect_timeout.into()))
        .server_alive_interval(Duration::from_secs(options.keepalive.into()));
    if let Some(config) = &options.config_file {
        builder.config_file(config);
    }
    if let Some(user) = target.user.or(options.default_user.as_deref()) {
        builder.user(user.to_string());
    }
    if let Some(port) = target.port {
        builder.port(port);
    }
    builder
        .connect_mux(target.name)
        .await
        .map_err(|e| classify(&e, target.name))
}

/// A script over a host's multiplexed connection.
pub(super) struct Ssh(pub(super) Arc<Session>);

impl Transport for Ssh {
    async fn spawn(&self) -> Result<Child, TransportError> {
        let mut child = Session::arc_command(self.0.clone(), "sh")
            .arg("-c")
            .arg(BOOTSTRAP)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
            // No session was opened, so the command never started: the host
            // is out of reach, and nothing it holds changed.
            .map_err(|e| TransportError::Unreachable {
                message: format!("the connection is gone; the command did not start: {e}"),
                hint: None,
            })?;
        Ok(Child {
            stdin: Box::pin(child.stdin().take().expect("piped")),
            stdout: Box::pin(child.stdout().take().expect("piped")),
            stderr: Box::pin(child.stderr().take().expect("piped")),
            wait: Box::pin(async move { child.wait().await.map(drop).map_err(|e| e.to_string()) }),
        })
    }
}

/// `ssh -G`: what the user's ssh_config makes of this host, for `check`,
/// with ferry's own `options` (`Pool::ssh_options`) given as it gives them.
pub(crate) async fn effective_config(
    user: Option<&str>,
    name: &str,
    port: Option<u16>,
    config_file: Option<&std::path::Path>,
    options: &[String],
) -> std::io::Result<String> {
    let mut command = tokio::process::Command::new("ssh");
    command.arg("-G").args(options);
    if let Some(config) = config_file {
        command.arg("-F").arg(config);
    }
    if let Some(user) = user {
        command.arg("-l").arg(user);
    }
    if let Some(port) = port {
        command.arg("-p").arg(port.to_string());
    }
    let output = command.arg("--").arg(name).output().await?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Turn what ssh printed into an error a user can act on.
fn classify(error: &openssh::Error, name: &str) -> TransportError {
    let detail = match error {
        openssh::Error::Connect(io) | openssh::Error::Master(io) => io.to_string(),
        other => other.to_string(),
    };
    let (message, hint) = if detail.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        (
            format!(
                "the host key of {name} has changed since it was recorded in known_hosts; refusing to connect"
            ),
            Some(format!(
                "if the server was rebuilt or its key rotated on purpose, remove the old key with `ssh-keygen -R {name}` and record the new one after checking its fingerprint; otherwise someone may be intercepting the connection"
            )),
        )
    } else if detail.contains("Host key verification failed") {
        (
            format!(
                "the host key of {name} is not in known_hosts; refusing to connect (host_key_checking = \"strict\")"
            ),
            Some(format!(
                "record it once with `ssh {name}` (check the fingerprint), or set host_key_checking = \"accept-new\" in ferry.toml"
            )),
        )
    } else if detail.contains("Permission denied") {
        (
            format!("{name} refused our key: {}", last_line(&detail)),
            Some("check that your public key is in the user's ~/.ssh/authorized_keys and that ssh-agent (or IdentityFile) offers it".into()),
        )
    } else {
        (
            format!("cannot connect to {name}: {}", last_line(&detail)),
            None,
        )
    };
    TransportError::Unreachable { message, hint }
}

fn last_line(text: &str) -> &str {
    text.trim().lines().last().unwrap_or(text).trim()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn ssh_g_shows_the_host_key_checking_ferry_uses() {
        let options = ["-o".to_string(), "StrictHostKeyChecking=yes".to_string()];
        let shown =
            super::effective_config(Some("deploy"), "web1.invalid", Some(2222), None, &options)
                .await
                .unwrap();
        assert!(
            shown.lines().any(|l| l == "stricthostkeychecking true"),
            "{shown}"
        );
        assert!(shown.lines().any(|l| l == "port 2222"), "{shown}");
    }
}
