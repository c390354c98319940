//! How a deploy ends: finished (records, history, cleanup), put back after
//! a failed health check (every switched host on its previous release,
//! restarted, the release marked failed), or stopped part-way. Every end
//! says, per host, what the hosts reported — not what ferry meant to do —
//! and suggests only commands that can work from there (see `whereabouts`).

use std::collections::BTreeMap;

use super::cleanup;
use super::deploy::Mode;
use super::phases::Run;
use super::record::{HistoryEntry, State};
use super::steps;
use super::{now, who};
use crate::event::Status;
use crate::fanout::Gate;
use crate::inventory::Host;
use crate::shell::{Script, Word};
use crate::transport::Stream;

impl<'h> Run<'_, 'h> {
    /// Every host this deploy switched goes back where it was and restarts;
    /// the release is marked failed wherever that can be written, and the
    /// deploy is over.
    pub(super) async fn put_back(&mut self, reason: &str) {
        self.settle();
        let id = self.id.clone();
        let switched = self.hosts_where(|p| p.current.as_deref() == Some(id.as_str()) || p.unknown);
        let mut scripts = BTreeMap::new();
        for host in &self.hosts {
            let progress = &self.progress[&host.label];
            let failed = self.record_json(&host.label, State::Failed, Some(reason));
            let history = self.history("failed", Some("restart"), Some(reason));
            let mut script = self.plan.layout.script();
            if let Some(previous) = progress
                .previous
                .as_deref()
                .filter(|_| switched.iter().any(|s| s.label == host.label))
            {
                steps::switch(&mut script, previous, None);
            }
            steps::finish(&mut script, &self.id, Some(&failed), &history, &[]);
            scripts.insert(host.label.clone(), (script.build(), Vec::new()));
        }
        let hosts = self.hosts.clone();
        let done = self
            .run_scripts_gated(
                &self.task("rollback"),
                &hosts,
                &scripts,
                Status::Changed,
                Gate::Always,
            )
            .await;
        self.settle();
        let marked: Vec<&str> = done
            .iter()
            .filter(|d| d.status == Status::Changed)
            .map(|d| d.host.label.as_str())
            .collect();
        let unmarked: Vec<&str> = done
            .iter()
            .filter(|d| d.status != Status::Changed)
            .map(|d| d.host.label.as_str())
            .collect();
        // Only hosts that said they are back on their previous release restart there.
        let back: Vec<&'h Host> = switched
            .iter()
            .copied()
            .filter(|h| {
                let p = &self.progress[&h.label];
                !p.unknown && p.previous.is_some() && p.current == p.previous
            })
            .collect();
        let restarts = self.restart_scripts(&back, false);
        let restarted = self
            .run_scripts_gated(
                &self.task("restart"),
                &back,
                &restarts,
                Status::Changed,
                Gate::Always,
            )
            .await;
        let restart_failed: Vec<String> = restarted
            .iter()
            .filter(|d| d.status.is_failure())
            .map(|d| d.host.label.clone())
            .collect();
        let message = self.put_back_message(reason, &marked, &unmarked, &switched, &restart_failed);
        self.show_live(|host, live, _| {
            if live == id {
                "the failed release".into()
            } else if back.iter().any(|h| h.label == host) {
                "put back".into()
            } else {
                "as before".into()
            }
        });
        self.fanout.fail(message);
    }

    /// What a put-back did, host by host, and the ways on from there.
    fn put_back_message(
        &self,
        reason: &str,
        marked: &[&str],
        unmarked: &[&str],
        switched: &[&'h Host],
        restart_failed: &[String],
    ) -> String {
        let id = self.id.as_str();
        let mut message = format!(
            "{} {id} failed: {reason}; release {id} is marked failed on {}",
            self.plan.mode.name(),
            names_or(marked, "no host")
        );
        if !unmarked.is_empty() {
            message.push_str(&format!(
                " (not on {}: it could not be written there)",
                unmarked.join(", ")
            ));
        }
        message.push_str(&format!(
            ". Live now: {}",
            self.after_put_back(switched, restart_failed)
        ));
        let mut hints = Vec::new();
        let stuck: Vec<&str> = self
            .hosts_where(|p| !p.unknown && p.current.as_deref() == Some(id) && p.previous.is_some())
            .iter()
            .map(|h| h.label.as_str())
            .collect();
        if !stuck.is_empty() {
            hints.push(format!(
                "`ferry {} rollback` puts {} back on the release before {id} once reachable",
                self.plan.env,
                stuck.join(", ")
            ));
        }
        let unknown: Vec<&str> = self
            .hosts_where(|p| p.unknown)
            .iter()
            .map(|h| h.label.as_str())
            .collect();
        if !unknown.is_empty() {
            hints.push(self.find_out(&unknown));
        }
        hints.push(format!(
            "{id} will not be resumed; to ship a fix, commit it and run `ferry {} deploy`",
            self.plan.env
        ));
        with_hints(message, &hints)
    }

    /// Each host after a put-back, as it reported.
    fn after_put_back(&self, switched: &[&'h Host], restart_failed: &[String]) -> String {
        let places: Vec<String> = self
            .hosts
            .iter()
            .map(|h| {
                let p = &self.progress[&h.label];
                let was_switched = switched.iter().any(|s| s.label == h.label);
                let why = self
                    .faults()
                    .into_iter()
                    .rev()
                    .find(|f| f.host == h.label && f.phase == "rollback")
                    .map(|f| f.message);
                let text = match (p.unknown, p.current.as_deref()) {
                    (true, _) => "unknown".to_string(),
                    (false, Some(live)) if live == self.id && p.previous.is_none() => {
                        format!("on {live}, the failed release: no earlier release to go back to")
                    }
                    (false, Some(live)) if live == self.id => format!(
                        "still on {live}, the failed release (could not be put back: {})",
                        why.as_deref().unwrap_or("no answer")
                    ),
                    (false, _) if !was_switched => format!("{} (as before)", Self::place(p)),
                    (false, _) if restart_failed.contains(&h.label) => {
                        format!("{} (put back, but its restart failed)", Self::place(p))
                    }
                    (false, _) => format!("{} (put back)", Self::place(p)),
                };
                format!("{} {text}", h.label)
            })
            .collect();
        places.join("; ")
    }

    pub(super) async fn finish(&mut self) {
        let setup = matches!(self.plan.mode, Mode::Setup { .. });
        let mut scripts = BTreeMap::new();
        let mut announcements = BTreeMap::new();
        // A resumed deploy whose finish was cut finishes only where it was not.
        let hosts = self.hosts_where(|p| !p.finished);
        for host in &hosts {
            let survey = &self.surveys[&host.label];
            let state = if setup { State::Built } else { State::Deployed };
            let record = self.record_json(&host.label, state, None);
            let history = self.history("ok", None, None);
            let (remove, announce) = if setup {
                let until = self
                    .record
                    .keep_until
                    .as_deref()
                    .map_or(String::new(), |u| format!(", kept until {u}"));
                (
                    Vec::new(),
                    Some(format!(
                        "release prepared at {}{until}",
                        self.plan.layout.release_dir(&self.id)
                    )),
                )
            } else {
                let mut releases = survey.releases.clone();
                releases.insert(self.id.clone(), Some(self.record.clone()));
                let protected = [self.id.as_str()];
                (
                    cleanup::select(&releases, Some(&self.id), self.plan.keep, &protected),
                    None,
                )
            };
            let mut script = self.plan.layout.script();
            finish_again(
                &mut script,
                self.plan.mode.name(),
                &self.id,
                &record,
                &history,
                &remove,
            );
            scripts.insert(host.label.clone(), (script.build(), Vec::new()));
            announcements.extend(announce.map(|a| (host.label.clone(), a)));
        }
        let done = self
            .run_last(&self.task("finish"), &hosts, &scripts, Status::Ok)
            .await;
        for d in done.iter().filter(|d| d.status == Status::Ok) {
            if let Some(text) = announcements.remove(&d.host.label) {
                self.fanout
                    .events
                    .output(&d.host.label, Stream::Stdout, text);
            }
        }
        let verb = if setup { "prepared" } else { "live" };
        let finished = self.advance(done, |progress, ()| {
            progress.deployed = true;
            progress.finished = true;
        });
        let id = self.id.clone();
        self.show_live(|_, live, p| match (live == id, p.finished) {
            (true, true) => "deployed".into(),
            (true, false) => "deployed, not finished".into(),
            (false, _) => "as before".into(),
        });
        if finished {
            self.fanout.released(crate::event::Event::Released {
                task: self.plan.mode.name().to_string(),
                release: self.id.clone(),
                revision: Some(self.record.short_revision().to_string()),
                hosts: self.hosts.iter().map(|h| h.label.clone()).collect(),
                live: !setup,
                timings: self.timings(),
            });
            return;
        }
        let unfinished: Vec<String> = self
            .hosts_where(|p| !p.finished)
            .iter()
            .map(|h| h.label.clone())
            .collect();
        let message = format!(
            "{} {id} is {verb} on every host{}, but its finish failed on {}: its record, history line, cleanup or lock may be left there",
            self.plan.mode.name(),
            if setup {
                ""
            } else {
                " and passed its health check"
            },
            unfinished.join(", ")
        );
        let hint = format!(
            "`ferry {} deploy:resume=yes` finishes it once {} can be reached (no `unlock` needed)",
            self.plan.env,
            unfinished.join(", ")
        );
        self.fanout.fail(with_hints(message, &[hint]));
    }

    fn history(&self, result: &str, phase: Option<&str>, detail: Option<&str>) -> String {
        HistoryEntry {
            at: now(),
            event: self.plan.mode.name().to_string(),
            release: self.id.clone(),
            revision: self.record.origin.revision.clone(),
            from: None,
            who: who(),
            result: result.to_string(),
            phase: phase.map(str::to_string),
            detail: detail.map(str::to_string),
            facts: self.plan.facts.clone(),
            timings: self.timings(),
        }
        .json()
    }

    /// After a stop before the health check: the history says so on every
    /// host still in reach, and the message says where each host is and
    /// what can go on from there.
    pub(super) async fn stopped(&mut self) {
        self.settle();
        let faults = self.faults();
        let phase = faults
            .first()
            .map_or("interrupted".to_string(), |f| f.phase.clone());
        let reason = if faults.is_empty() {
            "interrupted".to_string()
        } else {
            let each: Vec<String> = faults
                .iter()
                .map(|f| format!("{}: {}", f.host, f.message))
                .collect();
            each.join("; ")
        };
        self.record_failure(&phase, &reason).await;
        let at = if faults.is_empty() {
            " (interrupted)".to_string()
        } else {
            format!(" at {phase}: {reason}")
        };
        let id = self.id.clone();
        let moved = self.hosts_where(|p| !p.unknown && p.current.as_deref() == Some(id.as_str()));
        let unknown = self.hosts_where(|p| p.unknown);
        let away = self.out_of_reach();
        let stepped = faults.iter().any(|f| !f.is_connection());
        let env = &self.plan.env;
        let mut hints = Vec::new();
        let message = if moved.is_empty() && unknown.is_empty() {
            self.show_live(|_, _, _| "unchanged".into());
            if stepped {
                hints.push(format!("a fault in the code: commit a fix and run `ferry {env} deploy`; a fault on the host (a missing package, a full disk): fix it there and run `ferry {env} deploy:resume=yes`"));
            }
            format!(
                "{} {id} stopped{at}; current is unchanged on every host ({}), so there is nothing to roll back",
                self.plan.mode.name(),
                self.places()
            )
        } else {
            self.show_live(|_, live, p| {
                if live == id && p.restarted {
                    "new".into()
                } else if live == id {
                    "new, not restarted".into()
                } else {
                    "as before".into()
                }
            });
            let back: Vec<&str> = moved
                .iter()
                .chain(&unknown)
                .map(|h| h.label.as_str())
                .collect();
            hints.push(format!(
                "`ferry {env} rollback` puts {} back on the release before {id}{}",
                back.join(", "),
                if away.is_empty() {
                    ""
                } else {
                    " (it needs every host reachable)"
                }
            ));
            if !unknown.is_empty() {
                let names: Vec<&str> = unknown.iter().map(|h| h.label.as_str()).collect();
                hints.push(self.find_out(&names));
            }
            format!(
                "{} {id} stopped{at}; hosts are split: {}",
                self.plan.mode.name(),
                self.places()
            )
        };
        if !away.is_empty() {
            hints.insert(
                0,
                format!(
                    "`ferry {env} deploy:resume=yes` finishes {id} once {} can be reached",
                    away.join(", ")
                ),
            );
        }
        self.fanout.fail(with_hints(message, &hints));
    }

    /// Where every host is, as it reported.
    fn places(&self) -> String {
        let places: Vec<String> = self
            .hosts
            .iter()
            .map(|h| {
                let p = &self.progress[&h.label];
                let what = match (p.unknown, p.current.as_deref()) {
                    (true, _) => "",
                    (false, Some(live)) if live == self.id => " (new, not restarted)",
                    _ => " (as before)",
                };
                format!("{} {}{what}", h.label, Self::place(p))
            })
            .collect();
        places.join("; ")
    }

    /// A failed deploy's line in the history of every host still in reach.
    async fn record_failure(&self, phase: &str, reason: &str) {
        let hosts = self.reachable();
        let history = self.history("failed", Some(phase), Some(reason));
        let mut script = self.plan.layout.script();
        steps::append_history(&mut script, &history);
        let script = script.build();
        let scripts = hosts
            .iter()
            .map(|h| (h.label.clone(), (script.clone(), Vec::new())))
            .collect();
        self.run_scripts_gated(
            &self.task("history"),
            &hosts,
            &scripts,
            Status::Ok,
            Gate::Always,
        )
        .await;
    }
}

/// The last writes of a deploy on a host, each of which can run again:
/// resume repeats a finish that was cut, and the history line is written
/// once.
pub(super) fn finish_again(
    script: &mut Script,
    event: &str,
    id: &str,
    record: &str,
    history: &str,
    remove: &[String],
) {
    steps::write_record(script, steps::record_path(id), record);
    script.call(
        "ferry_history_once",
        [Word::lit(event), Word::lit(id), Word::lit(history)],
    );
    script.code("ferry_done");
    steps::remove_releases(script, remove);
}

/// The names, or `none` when there are none.
fn names_or(names: &[&str], none: &str) -> String {
    if names.is_empty() {
        none.to_string()
    } else {
        names.join(", ")
    }
}

/// A message with `hint:` lines under it.
fn with_hints(message: String, hints: &[String]) -> String {
    let mut text = message;
    for hint in hints {
        text.push_str("\nhint: ");
        text.push_str(hint);
    }
    text
}
