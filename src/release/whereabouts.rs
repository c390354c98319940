//! Where each host stands in a deploy, from what the hosts report — the
//! survey, then the `was`/`now` reports of every script that moves
//! `current` — never from what ferry meant to do. A script that moves
//! `current` and loses its connection before it reports `now` leaves the
//! host *unknown*: the script may still be running there. The end messages,
//! the recap's `live` column and the history of a failed deploy are built
//! from this, and from the faults each host met on the way.

use super::phases::{Progress, Run};
use crate::event::Status;
use crate::fanout::{Outcome, Ran};
use crate::inventory::Host;
use crate::protocol::Marker;
use crate::transport::TransportError;

/// The phases whose scripts move `current` (the switch, and the put-back
/// after a failed health check).
const MOVES_CURRENT: &[&str] = &["switch", "rollback"];

/// What one script on one host reported about `current`.
#[derive(Debug, Default)]
pub(super) struct Seen {
    now: Option<String>,
    /// The connection dropped (or timed out) mid-script: it may have gone on.
    lost: bool,
    moves: bool,
}

/// A host's failure in a phase, in its own words.
#[derive(Debug, Clone)]
pub(super) struct Fault {
    pub(super) host: String,
    pub(super) phase: String,
    pub(super) status: Status,
    pub(super) message: String,
    /// The numbered step of the user's commands that failed, if one did.
    pub(super) step: Option<usize>,
}

impl Fault {
    /// The host could not be reached, or was lost: nothing it did is known.
    pub(super) fn is_connection(&self) -> bool {
        self.status == Status::Unreachable
    }
}

impl<'h> Run<'_, 'h> {
    /// Note what a script of `task` reported on `host`, and its failure.
    pub(super) fn witness(&self, task: &str, host: &Host, ran: &Ran, outcome: &Outcome) {
        let phase = task.rsplit('/').next().unwrap_or(task);
        let mut seen = Seen {
            lost: matches!(&ran.response, Err(e) if !matches!(e, TransportError::Unreachable { .. })),
            moves: MOVES_CURRENT.contains(&phase),
            ..Seen::default()
        };
        for marker in &ran.markers {
            if let Marker::Now(id) = marker {
                seen.now = Some(id.clone());
            }
        }
        self.seen
            .lock()
            .expect("not poisoned")
            .insert(host.label.clone(), seen);
        if outcome.status.is_failure() {
            self.faults.lock().expect("not poisoned").push(Fault {
                host: host.label.clone(),
                phase: phase.to_string(),
                status: outcome.status,
                message: outcome.message.clone().unwrap_or_default(),
                step: ran.find(|m| match m {
                    Marker::Failed { step, .. } => Some(*step),
                    _ => None,
                }),
            });
        }
    }

    /// Fold what the hosts reported into each host's progress.
    pub(super) fn settle(&mut self) {
        let seen = std::mem::take(&mut *self.seen.lock().expect("not poisoned"));
        for (host, seen) in seen {
            let Some(progress) = self.progress.get_mut(&host) else {
                continue;
            };
            if let Some(now) = seen.now {
                progress.current = Some(now);
                progress.unknown = false;
            } else if seen.lost && seen.moves {
                progress.unknown = true;
            }
        }
    }

    /// Every fault so far, in the order they came.
    pub(super) fn faults(&self) -> Vec<Fault> {
        self.faults.lock().expect("not poisoned").clone()
    }

    /// Hosts whose connection failed in this run: nothing more can be
    /// written there now.
    pub(super) fn out_of_reach(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .faults()
            .into_iter()
            .filter(Fault::is_connection)
            .map(|f| f.host)
            .collect();
        hosts.dedup();
        hosts
    }

    /// `on <id>`, `on no release` or `unknown`, as the host last reported.
    pub(super) fn place(progress: &Progress) -> String {
        match (&progress.current, progress.unknown) {
            (_, true) => "unknown".into(),
            (Some(id), false) => format!("on {id}"),
            (None, false) => "on no release".into(),
        }
    }

    /// How to find out where an unknown host stands.
    pub(super) fn find_out(&self, hosts: &[&str]) -> String {
        format!(
            "{} lost the connection while `current` was being moved, so where it points is unknown: `ferry {} releases` shows it once the host can be reached",
            hosts.join(", "),
            self.plan.env
        )
    }

    /// The recap's `live` column: each host's release and what it is.
    /// `what(host, release, progress)` says what the live release is there.
    pub(super) fn show_live(&self, what: impl Fn(&str, &str, &Progress) -> String) {
        for host in &self.hosts {
            let progress = &self.progress[&host.label];
            let text = match (&progress.current, progress.unknown) {
                (_, true) => "unknown".to_string(),
                (None, false) => "none".to_string(),
                (Some(id), false) => format!("{id} ({})", what(&host.label, id, progress)),
            };
            self.fanout.set_live(&host.label, text);
        }
    }

    /// Hosts the deploy has reached so far that are still in reach: where a
    /// failed deploy's history line goes.
    pub(super) fn reachable(&self) -> Vec<&'h Host> {
        let away = self.out_of_reach();
        self.hosts
            .iter()
            .copied()
            .filter(|h| !away.contains(&h.label))
            .collect()
    }
}
