//! `releases` and `history`: what is on the hosts, read-only. `releases`
//! shows each host's releases with revision, who, when and state (live,
//! previous, failed, pinned, prepared), and says whether the hosts agree.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::Layout;
use super::now;
use super::record::{HistoryEntry, State};
use super::survey::{self, Lock, Options, Survey};
use crate::event::Status;
use crate::fanout::{Fanout, Outcome};
use crate::inventory::Host;
use crate::protocol::Marker;
use crate::shell::Word;
use crate::transport::{Request, Stream};

pub(crate) struct Releases {
    pub(crate) layout: Layout,
}

impl Releases {
    pub(crate) async fn execute(&self, hosts: &[&Host], fanout: &Fanout) {
        let script = survey::script(
            &self.layout,
            &Options {
                lock: None,
                takeover: false,
                sums: false,
            },
        );
        let currents = Mutex::new(BTreeMap::new());
        fanout
            .each("releases", hosts, |host| {
                let (script, currents) = (script.clone(), &currents);
                async move {
                    let ran = fanout.script(host, Request::script(script)).await;
                    let outcome = ran.outcome(&[], Status::Ok);
                    if outcome.status != Status::Ok {
                        return outcome;
                    }
                    let survey = survey::parse(&ran.markers);
                    for line in lines(&survey) {
                        fanout.events.output(&host.label, Stream::Stdout, line);
                    }
                    currents
                        .lock()
                        .expect("not poisoned")
                        .insert(host.label.clone(), survey.current.clone());
                    Outcome::new(Status::Ok).message(format!("{} releases", survey.releases.len()))
                }
            })
            .await;
        agreement(&currents.into_inner().expect("not poisoned"), fanout);
    }
}

fn lines(survey: &Survey) -> Vec<String> {
    let now = now();
    let live = survey.current.as_deref();
    let previous = live.and_then(|live| {
        survey
            .releases
            .iter()
            .rev()
            .find(|(id, r)| {
                id.as_str() < live && r.as_ref().is_some_and(|r| r.state == State::Deployed)
            })
            .map(|(id, _)| id.as_str())
    });
    let mut lines = Vec::new();
    for (id, record) in survey.releases.iter().rev() {
        let Some(record) = record else {
            lines.push(format!(
                "{id}  {:<9}  (no release.json: not made by ferry, or incomplete)",
                if live == Some(id.as_str()) {
                    "live"
                } else {
                    "unknown"
                }
            ));
            continue;
        };
        let state = if live == Some(id.as_str()) {
            "live".to_string()
        } else if record.state == State::Failed {
            "failed".to_string()
        } else if record.is_pinned(&now) {
            format!(
                "pinned until {}",
                record.keep_until.as_deref().unwrap_or("")
            )
        } else if previous == Some(id.as_str()) {
            "previous".to_string()
        } else {
            match record.state {
                State::Uploaded => "incomplete".into(),
                State::Built => "prepared".into(),
                _ => "good".into(),
            }
        };
        let note = record
            .note
            .as_deref()
            .map_or(String::new(), |n| format!("  ({n})"));
        lines.push(format!(
            "{id}  {state:<9}  {:<10}  {}  {}  {}{note}",
            record.short_revision(),
            record.origin.reference,
            record.origin.who,
            record.origin.at
        ));
    }
    if lines.is_empty() {
        lines.push("no releases".into());
    }
    match &survey.lock {
        Lock::Held(Some(info)) => lines.push(format!("locked by {}", info.describe())),
        Lock::Stale(Some(info)) => lines.push(format!("stale lock of {}", info.describe())),
        _ => {}
    }
    if let Some(pending) = &survey.pending {
        lines.push(format!(
            "unfinished {} of {} by {} since {} (deploy:resume=yes finishes it)",
            pending.kind, pending.release, pending.origin.who, pending.origin.at
        ));
    }
    lines
}

/// One sentence on whether every host runs the same release.
fn agreement(currents: &BTreeMap<String, Option<String>>, fanout: &Fanout) {
    let mut by_release: BTreeMap<Option<&str>, Vec<&str>> = BTreeMap::new();
    for (host, current) in currents {
        by_release.entry(current.as_deref()).or_default().push(host);
    }
    match by_release.len() {
        0 => {}
        1 => {
            let (release, hosts) = by_release.iter().next().expect("one");
            match release {
                Some(release) if hosts.len() == 1 => {
                    fanout
                        .events
                        .note(format!("{} is live on {release}", hosts[0]));
                }
                Some(release) => fanout
                    .events
                    .note(format!("all {} hosts are live on {release}", hosts.len())),
                None => fanout.events.note("no host has a live release yet"),
            }
        }
        _ => {
            let split: Vec<String> = by_release
                .iter()
                .map(|(release, hosts)| {
                    format!("{} on {}", hosts.join(", "), release.unwrap_or("nothing"))
                })
                .collect();
            fanout
                .events
                .warn(format!("the hosts disagree: {}", split.join("; ")));
        }
    }
}

pub(super) fn history_script(layout: &Layout, lines: usize) -> String {
    layout
        .script()
        .call("ferry_history_tail", [Word::num(lines as u64)])
        .build()
}

/// `ferry <env> history[:n=20]`: the last deploys, rollbacks and the like.
pub(crate) struct History {
    pub(crate) layout: Layout,
    pub(crate) lines: usize,
}

impl History {
    pub(crate) async fn execute(&self, hosts: &[&Host], fanout: &Fanout) {
        let script = history_script(&self.layout, self.lines);
        fanout
            .each("history", hosts, |host| {
                let script = script.clone();
                async move {
                    let ran = fanout.script(host, Request::script(script)).await;
                    let outcome = ran.outcome(&[], Status::Ok);
                    let entries: Vec<HistoryEntry> = ran
                        .find(|m| match m {
                            Marker::History(lines) => Some(lines),
                            _ => None,
                        })
                        .into_iter()
                        .flatten()
                        .filter_map(|line| serde_json::from_str(line).ok())
                        .collect();
                    let mut live: Option<&str> = None;
                    for entry in &entries {
                        let from = entry
                            .from
                            .as_deref()
                            .map_or(String::new(), |f| format!(" from {f}"));
                        let detail = entry
                            .detail
                            .as_deref()
                            .map_or(String::new(), |d| format!(": {d}"));
                        let revision = range(live, entry.revision.as_deref());
                        let facts = facts(entry);
                        fanout.events.output(
                            &host.label,
                            Stream::Stdout,
                            format!(
                                "{}  {:<13} {} {revision}{from}  {}  {}{facts}{detail}",
                                entry.at, entry.event, entry.release, entry.who, entry.result
                            ),
                        );
                        if entry.result == "ok" && entry.revision.is_some() {
                            live = entry.revision.as_deref();
                        }
                    }
                    if entries.is_empty() && outcome.status == Status::Ok {
                        fanout
                            .events
                            .output(&host.label, Stream::Stdout, "no history yet".into());
                    }
                    outcome
                }
            })
            .await;
    }
}

/// `old..new` when a deploy changed the revision the history last saw live
/// (what `git log old..new` lists), else the revision alone.
fn range(live: Option<&str>, revision: Option<&str>) -> String {
    let short = |r: &str| r[..r.len().min(10)].to_string();
    match (live, revision) {
        (Some(old), Some(new)) if old != new => format!("{}..{}", short(old), short(new)),
        (_, Some(new)) => short(new),
        (_, None) => String::new(),
    }
}

/// What the pipeline recorded: the test gate, a promotion's source.
fn facts(entry: &HistoryEntry) -> String {
    let mut facts = String::new();
    if let Some(tests) = &entry.facts.tests {
        facts.push_str(&format!(" (tests {tests})"));
    }
    if let Some(from) = &entry.facts.promoted_from {
        facts.push_str(&format!(" (promoted from {from})"));
    }
    facts
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_deploy_shows_the_range_since_the_last_live_revision() {
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        assert_eq!(super::range(Some(&a), Some(&b)), "aaaaaaaaaa..bbbbbbbbbb");
        assert_eq!(super::range(Some(&a), Some(&a)), "aaaaaaaaaa");
        assert_eq!(super::range(None, Some(&b)), "bbbbbbbbbb");
    }
}
