//! The deploy lock's keeper, and `unlock`. A lock is a directory
//! (`.ferry/lock/`, created atomically by `mkdir`) with who holds it; the
//! keeper proves the holder is alive. The survey that takes the lock stays
//! on as its keeper (`ferry_keep`): it says `kept` once the survey is done,
//! then reads the heartbeat line ferry sends every few seconds, and its
//! commands, each a line. When ferry
//! exits, is killed, or loses the host, the heartbeats stop and the keeper
//! exits, leaving the lock behind as *stale* — reported with who held it,
//! and removed by `ferry <env> unlock` (or taken over by
//! `deploy:resume=yes` of the same deploy). The scripts that run under the
//! lock go to the keeper too (`s`): it runs each with its payload and says
//! `ran` with its exit code (and a failed one's last lines). A clean end
//! sends `r`, and the keeper removes the lock; a deploy sends its finish
//! script instead (`f`), and a rollback its whole script, which the keeper
//! runs under the lock before removing it. So a deploy is one session per
//! host: the lock, its keeper and every script under it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Layout;
use super::survey::LOCKED;
use crate::event::Status;
use crate::fanout::{Fanout, Outcome, Ran};
use crate::inventory::Host;
use crate::protocol::{LockReport, Marker};
use crate::shell::{Defined, Script, Word};
use crate::transport::{Payload, Request, Response, TransportError};

/// Heartbeats go at the SSH keepalive interval; three missed ones and the
/// keeper gives up, as ssh itself would.
const MISSED: u32 = 3;

/// One host's keeper: its session, the way to write to it, and the task
/// that sends its heartbeats.
pub(super) struct Keeper {
    beats: mpsc::UnboundedSender<Vec<Arc<[u8]>>>,
    /// The session's reports as they come, from those after `kept` on.
    seen: mpsc::UnboundedReceiver<Marker>,
    session: JoinHandle<Ran>,
    ticker: JoinHandle<()>,
    /// What the survey and the scripts before the finish were sent, so
    /// the finish is not charged for it.
    sent_before: u64,
    /// The functions the survey defined in the keeper's shell: the scripts
    /// it runs are sent without them.
    defined: Arc<Defined>,
}

/// The keepers of one run, one per locked host.
pub(crate) struct Keepers {
    keepers: Mutex<BTreeMap<String, Keeper>>,
    /// Hosts whose keeper ran the finish but did not say it let go.
    unconfirmed: Mutex<Vec<String>>,
}

/// End a survey that takes the lock in the keeper's loop.
pub(super) fn keep(script: &mut Script, heartbeat: u32) {
    script.call("ferry_keep", [Word::num(heartbeat * MISSED)]);
}

/// A survey that takes the lock and ends in `keep`, as every host gets
/// it: framed, and what it defines, worked out once for them all.
pub(super) struct Opening {
    script: String,
    framed: Arc<[u8]>,
    defined: Arc<Defined>,
}

impl Opening {
    pub(super) fn new(script: String) -> Self {
        Self {
            framed: crate::transport::framed(&script).into(),
            defined: Arc::new(Defined::by(&script)),
            script,
        }
    }
}

/// Run the `opening` survey on `host`. Resolves when the survey is done:
/// with its reports and the keeper it became, or, when the session ended
/// first (the lock refused, the host out of reach), with the whole run
/// and no keeper.
pub(super) async fn survey(
    fanout: &Fanout,
    host: &Host,
    opening: &Opening,
) -> (Ran, Option<Keeper>) {
    let heartbeat = fanout.pool.options().keepalive;
    let sent_before = opening.framed.len() as u64;
    let defined = opening.defined.clone();
    let (beats, receiver) = mpsc::unbounded_channel();
    let (watch, mut seen) = mpsc::unbounded_channel();
    let request = Request {
        payload: Payload::Stream(tokio::sync::Mutex::new(receiver)),
        framed: Some(opening.framed.clone()),
        ..Request::script(opening.script.clone())
    };
    let session = fanout.spawn_script(host, request, watch);
    let ticker = tokio::spawn({
        let beats = beats.clone();
        async move {
            let beat: Arc<[u8]> = Arc::from(&b".\n"[..]);
            while beats.send(vec![beat.clone()]).is_ok() {
                tokio::time::sleep(Duration::from_secs(heartbeat.into())).await;
            }
        }
    });
    let mut markers = Vec::new();
    while let Some(marker) = seen.recv().await {
        if marker == Marker::Kept {
            let response = Response {
                code: 0,
                bytes_sent: sent_before,
                // The session's whole count comes with its end (the finish).
                bytes_received: 0,
            };
            let ran = Ran {
                response: Ok(response),
                markers,
                tail: Vec::new(),
            };
            let keeper = Keeper {
                beats,
                seen,
                session,
                ticker,
                sent_before,
                defined,
            };
            return (ran, Some(keeper));
        }
        markers.push(marker);
    }
    ticker.abort();
    drop(beats);
    (ended(session).await, None)
}

/// What ferry tells a keeper (see `ferry_keep`): each a line, and for the
/// two that run a script, the script (see `framed`).
pub(super) enum Command<'a> {
    /// `s` (`q` when `quiet`): run a script with this payload on its stdin,
    /// and keep the lock.
    Run {
        script: &'a str,
        payload: &'a [Arc<[u8]>],
        quiet: bool,
    },
    /// `f`: run a last script, then let go of the lock.
    Finish(&'a str),
    /// `r`: let go of the lock.
    Release,
}

impl Command<'_> {
    /// The command as the parts of one message: they go out together.
    pub(super) fn message(&self) -> Vec<Arc<[u8]>> {
        let line = |word: &[u8]| -> Arc<[u8]> { Arc::from(word) };
        match self {
            Command::Release => vec![line(b"r\n")],
            Command::Finish(script) => vec![line(b"f\n"), framed(script).into()],
            Command::Run {
                script,
                payload,
                quiet,
            } => {
                let length: usize = payload.iter().map(|p| p.len()).sum();
                let mut parts = vec![
                    line(if *quiet { b"q\n" } else { b"s\n" }),
                    framed(script).into(),
                    format!("{length}\n").into_bytes().into(),
                ];
                parts.extend(payload.iter().cloned());
                parts
            }
        }
    }
}

/// Up to this size a script goes to a keeper as lines, which its shell
/// reads a byte at a time: cheaper than the two processes that unpack a
/// gzipped one, and smaller scripts are what a keeper mostly runs (its
/// survey defined their functions).
const PLAIN_UP_TO: usize = 4096;

/// A script as `ferry_script` reads it: `+N` and its N lines, when small
/// (and free of NUL, which the shell's `read` cannot hold); otherwise its
/// length and the script gzipped, as the bootstrap reads one.
fn framed(script: &str) -> Vec<u8> {
    if script.len() > PLAIN_UP_TO || script.contains('\0') {
        return crate::transport::framed(script);
    }
    let lines = script.matches('\n').count() + usize::from(!script.ends_with('\n'));
    let mut framed = format!("+{lines}\n{script}").into_bytes();
    if !script.ends_with('\n') {
        framed.push(b'\n');
    }
    framed
}

/// Reports of a script the keeper runs, up to its `ran`: its exit code
/// and last lines, or `None` when the session ended first.
async fn until_ran(
    seen: &mut mpsc::UnboundedReceiver<Marker>,
    markers: &mut Vec<Marker>,
) -> Option<(i32, Vec<String>)> {
    while let Some(marker) = seen.recv().await {
        match marker {
            Marker::Ran { code, tail } => return Some((code, tail)),
            other => markers.push(other),
        }
    }
    None
}

/// The run of a session, or why there is none.
async fn ended(session: JoinHandle<Ran>) -> Ran {
    session.await.unwrap_or_else(|e| Ran {
        response: Err(TransportError::Local(format!(
            "the session's task failed: {e}"
        ))),
        markers: Vec::new(),
        tail: Vec::new(),
    })
}

impl Keepers {
    pub(super) fn new(keepers: BTreeMap<String, Keeper>) -> Self {
        Self {
            keepers: Mutex::new(keepers),
            unconfirmed: Mutex::default(),
        }
    }

    /// Whether `host` has a keeper still holding its lock.
    pub(super) fn holds(&self, host: &str) -> bool {
        self.keepers
            .lock()
            .expect("not poisoned")
            .contains_key(host)
    }

    /// Run `request` under the lock on `host`, in its keeper's session,
    /// with its payload on its stdin, and keep the lock: the run, with the
    /// last lines of a failed one as the keeper reports them (see
    /// `ferry_keep`; its output is shown as it comes, or at its end when
    /// the request is `quiet`). What it received is counted with the
    /// session's end (the finish). `None` when this host has no keeper; a
    /// keeper that ends or times out meanwhile is gone, and its lock with
    /// it is left to read as stale.
    pub(super) async fn run(&self, host: &str, request: &Request) -> Option<Ran> {
        let mut keeper = self.keepers.lock().expect("not poisoned").remove(host)?;
        let payload = match &request.payload {
            Payload::Bytes(parts) => parts.as_slice(),
            Payload::None | Payload::Stream(_) => &[],
        };
        let message = Command::Run {
            script: &keeper.defined.strip(&request.script),
            payload,
            quiet: request.quiet,
        }
        .message();
        let bytes_sent: u64 = message.iter().map(|p| p.len() as u64).sum();
        let _ = keeper.beats.send(message);
        let mut markers = Vec::new();
        let next = until_ran(&mut keeper.seen, &mut markers);
        let ended_with = match request.timeout {
            Some(limit) => tokio::time::timeout(limit, next)
                .await
                .map_err(|_| TransportError::Timeout(limit)),
            None => Ok(next.await),
        };
        let mut tail = Vec::new();
        let response = match ended_with {
            Ok(Some((code, last))) => {
                tail = last;
                keeper.sent_before += bytes_sent;
                self.keepers
                    .lock()
                    .expect("not poisoned")
                    .insert(host.to_string(), keeper);
                Ok(Response {
                    code,
                    bytes_sent,
                    bytes_received: 0,
                })
            }
            Ok(None) => {
                self.lost(host);
                keeper.ticker.abort();
                let ran = ended(keeper.session).await;
                Err(ran.response.err().unwrap_or_else(|| {
                    TransportError::Lost("the lock's session ended before the script did".into())
                }))
            }
            Err(timeout) => {
                self.lost(host);
                keeper.ticker.abort();
                keeper.session.abort();
                Err(timeout)
            }
        };
        Some(Ran {
            response,
            markers,
            tail,
        })
    }

    /// A host whose keeper is gone without saying it let go of the lock.
    fn lost(&self, host: &str) {
        self.unconfirmed
            .lock()
            .expect("not poisoned")
            .push(host.to_string());
    }

    /// Run `script` under the lock on `host`, in its keeper's session, and
    /// let go of the lock after it; the run, with only what came after the
    /// scripts before it. `None` when this host has no keeper.
    pub(super) async fn finish(&self, host: &str, script: &str) -> Option<Ran> {
        let keeper = self.keepers.lock().expect("not poisoned").remove(host)?;
        keeper.ticker.abort();
        let _ = keeper
            .beats
            .send(Command::Finish(&keeper.defined.strip(script)).message());
        drop(keeper.beats);
        let mut ran = ended(keeper.session).await;
        let before = |m: &Marker| matches!(m, Marker::Kept | Marker::Ran { .. });
        if let Some(at) = ran.markers.iter().rposition(before) {
            ran.markers.drain(..=at);
        }
        if let Ok(response) = &mut ran.response {
            response.bytes_sent = response.bytes_sent.saturating_sub(keeper.sent_before);
        }
        if !ran.markers.contains(&Marker::Released) {
            self.lost(host);
            // A keeper that ended on its own (its heartbeats fell silent)
            // never ran the script, whatever its exit code says.
            if ran.response.is_ok() {
                ran.response = Err(TransportError::Lost(
                    "the lock's session ended before it ran the script".into(),
                ));
            }
        }
        Some(ran)
    }

    /// Release every lock still held: the keepers remove them and exit.
    /// Returns the hosts where that could not be confirmed.
    pub(crate) async fn release(self) -> Vec<String> {
        let keepers = self.keepers.into_inner().expect("not poisoned");
        let mut unconfirmed = self.unconfirmed.into_inner().expect("not poisoned");
        // Every `r` goes out before any answer is awaited: one round trip in all.
        let waits = keepers.into_iter().map(|(host, keeper)| {
            keeper.ticker.abort();
            let _ = keeper.beats.send(Command::Release.message());
            drop(keeper.beats);
            async move {
                let waited = tokio::time::timeout(Duration::from_secs(30), keeper.session).await;
                let released =
                    matches!(waited, Ok(Ok(ran)) if ran.markers.contains(&Marker::Released));
                (host, released)
            }
        });
        for (host, released) in futures_util::future::join_all(waits).await {
            if !released {
                unconfirmed.push(host);
            }
        }
        unconfirmed
    }
}

/// `ferry <env> unlock[:force=yes]`: remove a stale lock; a live one only with force.
pub(crate) struct Unlock {
    pub(crate) layout: Layout,
    pub(crate) force: bool,
}

impl Unlock {
    pub(crate) async fn execute(&self, hosts: &[&Host], fanout: &Fanout) {
        let script = unlock_script(&self.layout, self.force);
        fanout
            .each("unlock", hosts, |host| {
                let script = script.clone();
                async move { outcome(fanout.script(host, Request::script(script)).await) }
            })
            .await;
    }
}

pub(super) fn unlock_script(layout: &Layout, force: bool) -> String {
    layout
        .script()
        .call("ferry_unlock", [Word::flag(force)])
        .build()
}

fn outcome(ran: Ran) -> Outcome {
    let response = match &ran.response {
        Ok(response) => response,
        Err(error) => return Outcome::from_transport(error),
    };
    let lock = ran.find(|m| match m {
        Marker::Lock(report) => Some(report),
        _ => None,
    });
    let holder = |info: &str| {
        serde_json::from_str::<super::record::LockInfo>(info)
            .map(|i| i.describe())
            .unwrap_or_else(|_| "an unknown holder".into())
    };
    match (response.code, lock) {
        (0, None | Some(LockReport::Free)) => Outcome::new(Status::Ok).message("not locked"),
        (0, Some(LockReport::Stale(info))) => Outcome::new(Status::Changed).message(format!("removed a stale lock held by {}", holder(info))),
        (0, Some(LockReport::Held(info))) => Outcome::new(Status::Changed).message(format!("removed the lock held by {}", holder(info))),
        (0, Some(LockReport::Taken)) => Outcome::new(Status::Changed).message("removed the lock"),
        (LOCKED, Some(LockReport::Held(info))) => Outcome::failed(format!("a deploy is running: locked by {}", holder(info)))
            .hint(Some("wait for it to finish; `unlock:force=yes` removes the lock of a deploy that is still running".into())),
        (code, _) => Outcome::failed(match ran.error() {
            Some(error) => error.to_string(),
            None => format!("unlock failed (exit {code}): {}", ran.tail.last().map_or("", String::as_str)),
        }),
    }
}
