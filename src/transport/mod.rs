//! Running a script on a host: the one thing every task needs. A script goes
//! to `sh` on stdin (never in argv, where `ps` on the host and logs would show
//! it), optionally followed by a payload (a tar stream, file lists) that the
//! script reads from the same stdin. The host's output comes back line by
//! line as it is produced, and its reports as frames on a channel of their
//! own (see `protocol`).
//!
//! Two transports: the system OpenSSH client (multiplexed) and `local`, which
//! runs the same scripts on this machine, so a local target exercises exactly
//! the code path a server does. Both only start `sh -c BOOTSTRAP` with three
//! pipes; `run` below does the rest for both.

mod local;
mod pool;
mod ssh;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::protocol::{Marker, ProtocolError, Reader};

pub(crate) use pool::{Pool, SshOptions};
pub(crate) use ssh::effective_config;

/// The fixed command that starts every script. It reads a length line, then
/// exactly that many bytes of script (`dd` with `iflag=fullblock` asks for
/// no more than what is left of its one block, unlike `sh -s`, which would
/// swallow a payload following the script, or BusyBox's `head -c`, which
/// reads ahead on a pipe), and runs it in a subshell, leaving stdin at the
/// first byte of the payload.
/// The script gets the session's stdout as fd 3, for its reports, and its
/// own stdout goes to stderr with everything else it prints (see
/// `protocol`). Its exit code comes back as the last frame: the session
/// itself always ends 0, so a code the client would take for its own (ssh's
/// 255, 127 for "command not found") cannot be mistaken for one.
/// The script travels gzipped: a deploy's scripts are most of what it sends
/// when little changed, and shell text shrinks to about a third.
pub(crate) const BOOTSTRAP: &str = r#"IFS= read -r n && s=$(dd bs="$n" count=1 iflag=fullblock 2>/dev/null | gzip -dc) && (exec 3>&1 >&2 && eval "$s"); printf 'exit 4\n%03d\0' "$?""#;

pub(crate) struct Request {
    pub(crate) script: String,
    /// What the script reads from stdin after the script itself.
    pub(crate) payload: Payload,
    pub(crate) timeout: Option<Duration>,
    /// The script framed (`framed`), when many hosts get the same one: it
    /// is framed once for them all.
    pub(crate) framed: Option<Arc<[u8]>>,
    /// What the script prints may wait for its end: ferry's own work, which
    /// prints only when something is wrong (a lock's keeper then keeps it
    /// aside while the script runs, at no cost).
    pub(crate) quiet: bool,
}

pub(crate) enum Payload {
    None,
    /// Bytes known up front (file lists, a tar stream), in parts so that
    /// hosts can share the large ones.
    Bytes(Vec<Arc<[u8]>>),
    /// Messages sent as they come, until the sender is dropped: a session
    /// that lives as long as ferry does (the deploy lock's keeper). A
    /// message's parts go out together, in order; the large ones may be
    /// shared with other hosts.
    Stream(tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<Arc<[u8]>>>>),
}

impl Request {
    pub(crate) fn script(script: String) -> Self {
        Self {
            script,
            payload: Payload::None,
            timeout: None,
            framed: None,
            quiet: false,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Response {
    /// The script's exit code, as its last frame reported it.
    pub(crate) code: i32,
    /// Bytes written to the host's stdin: script plus payload.
    pub(crate) bytes_sent: u64,
    /// Bytes the host's session sent back: reports and output.
    pub(crate) bytes_received: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Stream {
    /// What a host printed (its stdout and stderr, merged in the order it
    /// wrote them: see `protocol`), and what ferry shows as output of its own.
    Stdout,
}

/// What arrives from a host while its script runs.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A line of its output.
    Line(String),
    /// A report (never `Marker::Exit`, which ends up in `Response::code`).
    Marker(Marker),
}

/// Receives each line and report as soon as the host sends it.
pub(crate) type Sink<'a> = &'a (dyn Fn(Incoming) + Send + Sync);

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
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
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

type Pipe<T> = Pin<Box<T>>;

/// A started `sh -c BOOTSTRAP`: its three pipes, and its end.
pub(super) struct Child {
    pub(super) stdin: Pipe<dyn AsyncWrite + Send>,
    pub(super) stdout: Pipe<dyn AsyncRead + Send>,
    pub(super) stderr: Pipe<dyn AsyncRead + Send>,
    /// Resolves when the process is gone; an error means the session broke.
    pub(super) wait: Pin<Box<dyn Future<Output = Result<(), String>> + Send>>,
}

/// How a transport starts the bootstrap on its host; `run` does the rest.
pub(super) trait Transport {
    async fn spawn(&self) -> Result<Child, TransportError>;
}

/// Start the bootstrap, feed it, read it, wait for it: the same for every
/// transport. The exit code is the one the script reported; a session that
/// ended without reporting one was cut off.
pub(super) async fn run(
    transport: &impl Transport,
    request: &Request,
    sink: Sink<'_>,
) -> Result<Response, TransportError> {
    let child = transport.spawn().await?;
    let exchanged = exchange(child.stdin, child.stdout, child.stderr, request, sink).await;
    let waited = child.wait.await;
    let (bytes_sent, bytes_received, code) = exchanged.map_err(|e| match e {
        Exchange::Io(e) => TransportError::Lost(e.to_string()),
        Exchange::Protocol(e) => TransportError::Protocol(e),
    })?;
    match (code, waited) {
        (Some(code), _) => Ok(Response {
            code,
            bytes_sent,
            bytes_received,
        }),
        (None, Err(lost)) => Err(TransportError::Lost(lost)),
        (None, Ok(())) => Err(TransportError::Lost(
            "the session ended before the script reported its exit code".into(),
        )),
    }
}

enum Exchange {
    Io(io::Error),
    Protocol(ProtocolError),
}

/// Feed the script and payload, read both output streams, all at once: a
/// host that prints a lot before reading its stdin must not deadlock us.
async fn exchange(
    stdin: impl AsyncWrite + Unpin,
    stdout: impl AsyncRead + Unpin,
    stderr: impl AsyncRead + Unpin,
    request: &Request,
    sink: Sink<'_>,
) -> Result<(u64, u64, Option<i32>), Exchange> {
    let (sent, received) = (AtomicU64::new(0), AtomicU64::new(0));
    let send = send(stdin, request, &sent);
    let read = async {
        tokio::join!(
            reports(stdout, sink, &received),
            lines(stderr, sink, &received)
        )
    };
    tokio::pin!(send, read);
    // Once the host closed its output the script is over: a stream's sender
    // (the keeper's heartbeats) may never end on its own, so stop waiting
    // for it then; a send error before that still counts.
    let (reports, output) = tokio::select! {
        biased;
        (reports, output) = &mut read => (reports, output),
        sending = &mut send => {
            sending.map_err(Exchange::Io)?;
            read.await
        }
    };
    output.map_err(Exchange::Io)?;
    let code = reports?;
    Ok((
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
        code,
    ))
}

/// The script as `BOOTSTRAP` reads it: its length line, then the script gzipped.
pub(crate) fn framed(script: &str) -> Vec<u8> {
    use std::io::Write;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let packed = gzip
        .write_all(script.as_bytes())
        .and_then(|()| gzip.finish())
        .expect("writing to memory cannot fail");
    let mut framed = format!("{}\n", packed.len()).into_bytes();
    framed.extend_from_slice(&packed);
    framed
}

async fn send(
    mut stdin: impl AsyncWrite + Unpin,
    request: &Request,
    sent: &AtomicU64,
) -> io::Result<()> {
    let script = match &request.framed {
        Some(framed) => framed.clone(),
        None => framed(&request.script).into(),
    };
    stdin.write_all(&script).await?;
    sent.fetch_add(script.len() as u64, Ordering::Relaxed);
    // A script that fails early stops reading; that is its exit code's story, not ours.
    match &request.payload {
        Payload::None => {}
        Payload::Bytes(parts) => {
            for part in parts {
                sent.fetch_add(write_some(&mut stdin, part).await?, Ordering::Relaxed);
            }
        }
        Payload::Stream(chunks) => {
            let mut chunks = chunks.lock().await;
            while let Some(parts) = chunks.recv().await {
                for part in parts {
                    sent.fetch_add(write_some(&mut stdin, &part).await?, Ordering::Relaxed);
                }
                stdin.flush().await.or_else(ignore_broken_pipe)?;
            }
        }
    }
    stdin.shutdown().await.or_else(ignore_broken_pipe)
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

/// Frames from ferry's channel, handed on as they complete; the exit code kept.
async fn reports(
    mut stream: impl AsyncRead + Unpin,
    sink: Sink<'_>,
    received: &AtomicU64,
) -> Result<Option<i32>, Exchange> {
    let mut reader = Reader::default();
    let mut code = None;
    // Reports are small; the odd large one (a packed release) comes in
    // several reads. Fifty hosts' sessions hold fifty of these.
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let n = stream.read(&mut buffer).await.map_err(Exchange::Io)?;
        received.fetch_add(n as u64, Ordering::Relaxed);
        if n == 0 {
            reader.finish().map_err(Exchange::Protocol)?;
            return Ok(code);
        }
        for marker in reader.feed(&buffer[..n]).map_err(Exchange::Protocol)? {
            match marker {
                Marker::Exit(c) => code = Some(c),
                other => sink(Incoming::Marker(other)),
            }
        }
    }
}

async fn lines(
    stream: impl AsyncRead + Unpin,
    sink: Sink<'_>,
    received: &AtomicU64,
) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Ok(());
        }
        received.fetch_add(n as u64, Ordering::Relaxed);
        let text = String::from_utf8_lossy(&line);
        sink(Incoming::Line(
            text.trim_end_matches(['\n', '\r']).to_string(),
        ));
    }
}
