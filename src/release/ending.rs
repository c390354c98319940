//! How a deploy ends: finished (records, history, cleanup), put back after
//! a failed health check (every switched host on its previous release,
//! restarted, the release marked failed), or stopped part-way with what
//! state the hosts are in and how to go on.

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
use crate::transport::Stream;

impl<'h> Run<'_, 'h> {
    /// Every host this deploy switched goes back where it was and restarts;
    /// the release is marked failed everywhere, and the deploy is over.
    pub(super) async fn put_back(&mut self, reason: &str) {
        let switched: Vec<&'h Host> = self.hosts_where(|p| {
            p.current.as_deref() == Some(self.id.as_str()) && p.previous.is_some()
        });
        let mut scripts = BTreeMap::new();
        for host in &self.hosts {
            let progress = &self.progress[&host.label];
            let failed = self.record_json(&host.label, State::Failed, Some(reason));
            let history = self.history("failed", Some(reason));
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
        self.run_scripts_gated(
            &self.task("rollback"),
            &hosts,
            &scripts,
            Status::Changed,
            Gate::Always,
        )
        .await;
        let restarts = self.restart_scripts(&switched, false);
        self.run_scripts_gated(
            &self.task("restart"),
            &switched,
            &restarts,
            Status::Changed,
            Gate::Always,
        )
        .await;
        let back: Vec<String> = switched
            .iter()
            .map(|h| {
                format!(
                    "{} on {}",
                    h.label,
                    self.progress[&h.label].previous.as_deref().unwrap_or("?")
                )
            })
            .collect();
        let first = self.hosts_where(|p| {
            p.previous.is_none() && p.current.as_deref() == Some(self.id.as_str())
        });
        let mut message = format!(
            "{} {} failed: {reason}; release {} is marked failed",
            self.plan.mode.name(),
            self.id,
            self.id
        );
        if !back.is_empty() {
            message.push_str(&format!("; back: {}", back.join(", ")));
        }
        if !first.is_empty() {
            let names: Vec<&str> = first.iter().map(|h| h.label.as_str()).collect();
            message.push_str(&format!(
                "; no earlier release to go back to on {}",
                names.join(", ")
            ));
        }
        self.fanout.fail(message);
    }

    pub(super) async fn finish(&mut self) {
        let setup = matches!(self.plan.mode, Mode::Setup { .. });
        let mut scripts = BTreeMap::new();
        let mut announcements = BTreeMap::new();
        for host in &self.hosts {
            let survey = &self.surveys[&host.label];
            let state = if setup { State::Built } else { State::Deployed };
            let record = self.record_json(&host.label, state, None);
            let history = self.history("ok", None);
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
            steps::finish(&mut script, &self.id, Some(&record), &history, &remove);
            scripts.insert(host.label.clone(), (script.build(), Vec::new()));
            announcements.extend(announce.map(|a| (host.label.clone(), a)));
        }
        let hosts = self.hosts.clone();
        let done = self
            .run_scripts_gated(
                &self.task("finish"),
                &hosts,
                &scripts,
                Status::Ok,
                Gate::Always,
            )
            .await;
        for d in done.iter().filter(|d| d.status == Status::Ok) {
            if let Some(text) = announcements.remove(&d.host.label) {
                self.fanout
                    .events
                    .output(&d.host.label, Stream::Stdout, text);
            }
        }
        if self.advance(done, |progress, ()| progress.deployed = true) {
            self.fanout.released(crate::event::Event::Released {
                task: self.plan.mode.name().to_string(),
                release: self.id.clone(),
                revision: Some(self.record.short_revision().to_string()),
                hosts: self.hosts.iter().map(|h| h.label.clone()).collect(),
                live: !setup,
            });
        }
    }

    fn history(&self, result: &str, detail: Option<&str>) -> String {
        HistoryEntry {
            at: now(),
            event: self.plan.mode.name().to_string(),
            release: self.id.clone(),
            revision: self.record.origin.revision.clone(),
            from: None,
            who: who(),
            result: result.to_string(),
            detail: detail.map(str::to_string),
            facts: self.plan.facts.clone(),
        }
        .json()
    }

    /// After a stop: what state the hosts are in, and how to go on.
    pub(super) fn stopped(&self, state: &str) {
        let env = &self.plan.env;
        self.fanout.fail(format!(
            "{} {} stopped: {state}. Finish it with `ferry {env} deploy:resume=yes` once the failed hosts are fixed, or go back with `ferry {env} rollback`",
            self.plan.mode.name(),
            self.id
        ));
    }

    /// Where each host's `current` points after a partial switch.
    pub(super) fn whereabouts(&self) -> String {
        let places: Vec<String> = self
            .hosts
            .iter()
            .map(|h| {
                let p = &self.progress[&h.label];
                match p.current.as_deref() {
                    Some(id) if id == self.id => {
                        format!("{} on {id} (new, not restarted)", h.label)
                    }
                    Some(id) => format!("{} on {id} (as before)", h.label),
                    None => format!("{} has no current release", h.label),
                }
            })
            .collect();
        format!("hosts are split: {}", places.join("; "))
    }
}
