//! The deploy lock's keeper, and `unlock`. A lock is a directory
//! (`.ferry/lock/`, created atomically by `mkdir`) with who holds it; the
//! keeper proves the holder is alive. It is a session on each host that
//! reads a heartbeat byte ferry sends every few seconds: when ferry exits,
//! is killed, or loses the host, the heartbeats stop and the keeper exits,
//! leaving the lock behind as *stale* — reported with who held it, and
//! removed by `ferry <env> unlock` (or taken over by `deploy:resume=yes` of
//! the same deploy). A clean end sends `r`, and the keeper removes the lock.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Layout;
use super::survey::LOCKED;
use crate::event::Status;
use crate::fanout::{Fanout, Outcome, Ran};
use crate::inventory::Host;
use crate::protocol::{LockReport, Marker};
use crate::shell::Word;
use crate::transport::{Payload, Request};

/// Heartbeats go at the SSH keepalive interval; three missed ones and the
/// keeper gives up, as ssh itself would.
const MISSED: u32 = 3;

struct Keeper {
    beats: mpsc::UnboundedSender<Vec<u8>>,
    session: JoinHandle<Ran>,
}

/// The keepers of one run, one per locked host.
pub(crate) struct Keepers {
    keepers: BTreeMap<String, Keeper>,
    ticker: JoinHandle<()>,
}

pub(super) fn script(layout: &Layout, heartbeat: u32) -> String {
    let mut script = layout.script();
    script.call("ferry_keep", [Word::num(heartbeat * MISSED)]);
    script.build()
}

impl Keepers {
    /// Start a keeper on each host that took the lock.
    pub(crate) fn start(fanout: &Fanout, hosts: &[&Host], layout: &Layout) -> Self {
        let heartbeat = fanout.pool.options().keepalive;
        let mut keepers = BTreeMap::new();
        for host in hosts {
            let (beats, receiver) = mpsc::unbounded_channel();
            let request = Request {
                payload: Payload::Stream(tokio::sync::Mutex::new(receiver)),
                ..Request::script(script(layout, heartbeat))
            };
            let session = fanout.spawn_script(host, request);
            keepers.insert(host.label.clone(), Keeper { beats, session });
        }
        let senders: Vec<_> = keepers.values().map(|k| k.beats.clone()).collect();
        let ticker = tokio::spawn(async move {
            loop {
                for sender in &senders {
                    let _ = sender.send(b".".to_vec());
                }
                tokio::time::sleep(Duration::from_secs(heartbeat.into())).await;
            }
        });
        Self { keepers, ticker }
    }

    /// Release every lock: the keepers remove them and exit. Returns the
    /// hosts where that could not be confirmed.
    pub(crate) async fn release(self) -> Vec<String> {
        self.ticker.abort();
        let mut unconfirmed = Vec::new();
        for (host, keeper) in self.keepers {
            let _ = keeper.beats.send(b"r".to_vec());
            drop(keeper.beats);
            let released = match tokio::time::timeout(Duration::from_secs(30), keeper.session).await
            {
                Ok(Ok(ran)) => ran.markers.contains(&Marker::Released),
                _ => false,
            };
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
