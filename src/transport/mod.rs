//! Running a script on a host: the one thing every task needs. A script goes
//! to `sh` on stdin (never in argv, where `ps` on the host and logs would show
//! it), optionally followed by a payload (a tar stream) that the script reads
//! from the same stdin. Output comes back line by line as it is produced.
//!
//! Two transports: the system OpenSSH client (multiplexed) and `local`, which
//! runs the same scripts on this machine, so a local target exercises exactly
//! the code path a server does.

mod local;
mod pool;
mod ssh;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

pub(crate) use pool::{Pool, SshOptions};
pub(crate) use ssh::effective_config;

/// The fixed command that starts every script. It reads a length line, then
/// exactly that many bytes of script (GNU `head -c` never reads past its
/// count, unlike `sh -s`, which would swallow a payload following the script),
/// and runs it, leaving stdin at the first byte of the payload.
pub(crate) const BOOTSTRAP: &str = r#"IFS= read -r n && s=$(head -c "$n") && eval "$s""#;

pub(crate) struct Request {
    pub(crate) script: String,
    /// What the script reads from stdin after the script itself.
    pub(crate) payload: Payload,
    pub(crate) timeout: Option<Duration>,
}

pub(crate) enum Payload {
    None,
    /// Bytes known up front (a tar stream), shared between hosts.
    Bytes(Arc<[u8]>),
    /// Chunks sent as they come, until the sender is dropped: a session that
    /// lives as long as ferry does (the deploy lock's keeper).
    Stream(tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<u8>>>),
}

impl Request {
    pub(crate) fn script(script: String) -> Self {
        Self {
            script,
            payload: Payload::None,
            timeout: None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Response {
    /// The script's exit code; `None` when it was killed by a signal.
    pub(crate) code: Option<i32>,
    /// Bytes written to the host's stdin: script plus payload.
    pub(crate) bytes_sent: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Receives each output line as soon as the host prints it.
pub(crate) type LineSink<'a> = &'a (dyn Fn(Stream, String) + Send + Sync);

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum TransportError {
    /// No connection could be made (refused, timed out, host key, auth).
    #[error("{message}")]
    Unreachable {
        message: String,
        hint: Option<String>,
    },
    /// The connection dropped while the script ran; its outcome is unknown.
    #[error("connection lost while the command ran: {0}")]
    Lost(String),
    #[error("timed out after {}s", .0.as_secs())]
    Timeout(Duration),
    #[error("{0}")]
    Local(String),
}

impl TransportError {
    pub(crate) fn hint(&self) -> Option<&str> {
        match self {
            TransportError::Unreachable { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }
}

/// Feed the script and payload, read both output streams, all at once: a
/// host that prints a lot before reading its stdin must not deadlock us.
async fn exchange(
    stdin: impl AsyncWrite + Unpin,
    stdout: impl AsyncRead + Unpin,
    stderr: impl AsyncRead + Unpin,
    request: &Request,
    on_line: LineSink<'_>,
) -> io::Result<u64> {
    let send = send(stdin, request);
    let out = lines(stdout, Stream::Stdout, on_line);
    let err = lines(stderr, Stream::Stderr, on_line);
    let (sent, out, err) = tokio::join!(send, out, err);
    out?;
    err?;
    sent
}

async fn send(mut stdin: impl AsyncWrite + Unpin, request: &Request) -> io::Result<u64> {
    let header = format!("{}\n", request.script.len());
    let mut sent = 0;
    for chunk in [header.as_bytes(), request.script.as_bytes()] {
        stdin.write_all(chunk).await?;
        sent += chunk.len() as u64;
    }
    // A script that fails early stops reading; that is its exit code's story, not ours.
    match &request.payload {
        Payload::None => {}
        Payload::Bytes(bytes) => sent += write_some(&mut stdin, bytes).await?,
        Payload::Stream(chunks) => {
            let mut chunks = chunks.lock().await;
            while let Some(chunk) = chunks.recv().await {
                sent += write_some(&mut stdin, &chunk).await?;
                stdin.flush().await.or_else(ignore_broken_pipe)?;
            }
        }
    }
    stdin.shutdown().await.or_else(ignore_broken_pipe)?;
    Ok(sent)
}

/// Write `bytes`; a reader that went away is not an error here (see above).
async fn write_some(stdin: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> io::Result<u64> {
    match stdin.write_all(bytes).await {
        Ok(()) => Ok(bytes.len() as u64),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e),
    }
}

fn ignore_broken_pipe(error: io::Error) -> io::Result<()> {
    if error.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(error)
    }
}

async fn lines(
    stream: impl AsyncRead + Unpin,
    which: Stream,
    on_line: LineSink<'_>,
) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        on_line(which, text.trim_end_matches(['\n', '\r']).to_string());
    }
}
