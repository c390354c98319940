//! The `local` target: scripts run through `sh` on this machine, with the
//! same bootstrap, stdin protocol and output handling as over SSH.

use std::process::Stdio;

use tokio::process::Command;

use super::{BOOTSTRAP, Child, Transport, TransportError};

pub(super) struct Local;

impl Transport for Local {
    async fn spawn(&self) -> Result<Child, TransportError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(BOOTSTRAP)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Own process group: Ctrl-C in the terminal reaches ferry, which lets
            // running scripts finish, instead of killing them mid-step.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Local(format!("cannot start sh: {e}")))?;
        Ok(Child {
            stdin: Box::pin(child.stdin.take().expect("piped")),
            stdout: Box::pin(child.stdout.take().expect("piped")),
            stderr: Box::pin(child.stderr.take().expect("piped")),
            wait: Box::pin(async move { child.wait().await.map(drop).map_err(|e| e.to_string()) }),
        })
    }
}
