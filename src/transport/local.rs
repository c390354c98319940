//! The `local` target: scripts run through `sh` on this machine, with the
//! same bootstrap, stdin protocol and output handling as over SSH.

use std::process::Stdio;

use tokio::process::Command;

use super::{BOOTSTRAP, LineSink, Request, Response, TransportError, exchange};

pub(super) async fn run(
    request: &Request,
    on_line: LineSink<'_>,
) -> Result<Response, TransportError> {
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
    let (stdin, stdout, stderr) = (
        child.stdin.take().expect("piped"),
        child.stdout.take().expect("piped"),
        child.stderr.take().expect("piped"),
    );
    let bytes_sent = exchange(stdin, stdout, stderr, request, on_line)
        .await
        .map_err(|e| TransportError::Local(e.to_string()))?;
    let status = child
        .wait()
        .await
        .map_err(|e| TransportError::Local(e.to_string()))?;
    Ok(Response {
        code: status.code(),
        bytes_sent,
    })
}
