//! `releases` and `history`: what is on the hosts, read-only. `releases`
//! shows each host's releases with revision, who, when and state (live,
//! previous, failed, pinned, prepared), and says whether the hosts agree.
//! Both give each release (or deploy) the revision it followed, so a
//! reader sees `old..new`, and the forge's compare page when the project's
//! git remote `origin` is on a known forge (`crate::forge`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::Layout;
use super::now;
use super::record::{HistoryEntry, ReleaseRecord, State};
use super::survey::{self, Lock, Options, Survey};
use crate::event::{Event, HistoryInfo, ReleaseInfo, Status};
use crate::fanout::{Fanout, Outcome};
use crate::forge::Forge;
use crate::inventory::Host;
use crate::protocol::Marker;
use crate::shell::Word;
use crate::transport::Request;

pub(crate) struct Releases {
    pub(crate) layout: Layout,
    /// Where `origin` lives on the web, for compare links.
    pub(crate) forge: Option<Forge>,
}

/// The forge of the project's git remote `origin`, if it is a known one.
pub(crate) fn forge_of(root: &std::path::Path) -> Option<Forge> {
    let repo = crate::git::Repo::discover(root).ok()?;
    Forge::parse(&repo.remote_url("origin")?)
}

impl Releases {
    pub(crate) async fn execute(&self, hosts: &[&Host], fanout: &Fanout) {
        let script = survey::script(
            &self.layout,
            &Options {
                lock: None,
                takeover: survey::Takeover::No,
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
                    let count = survey.releases.len();
                    let forge = self.forge.as_ref();
                    fanout.events.emit(listed(&host.label, &survey, forge));
                    currents
                        .lock()
                        .expect("not poisoned")
                        .insert(host.label.clone(), survey.current.clone());
                    let noun = if count == 1 { "release" } else { "releases" };
                    Outcome::new(Status::Ok).message(format!("{count} {noun}"))
                }
            })
            .await;
        agreement(&currents.into_inner().expect("not poisoned"), fanout);
    }
}

/// A host's releases as an event (the ui makes lines of it).
fn listed(host: &str, survey: &Survey, forge: Option<&Forge>) -> Event {
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
    let mut releases = Vec::new();
    for (id, record) in survey.releases.iter().rev() {
        let is_live = live == Some(id.as_str());
        let Some(record) = record else {
            releases.push(ReleaseInfo {
                id: id.clone(),
                state: if is_live { "live" } else { "unknown" }.into(),
                pinned_until: None,
                revision: None,
                reference: None,
                who: None,
                at: None,
                note: None,
                since: None,
                compare: None,
            });
            continue;
        };
        let (since, compare) = since(survey, id, record, forge);
        let pinned = !is_live && record.state != State::Failed && record.is_pinned(&now);
        let state = if is_live {
            "live"
        } else if record.state == State::Failed {
            "failed"
        } else if pinned {
            "pinned"
        } else if previous == Some(id.as_str()) {
            "previous"
        } else {
            match record.state {
                State::Uploaded => "incomplete",
                State::Built => "prepared",
                _ => "good",
            }
        };
        releases.push(ReleaseInfo {
            id: id.clone(),
            state: state.into(),
            pinned_until: pinned.then(|| record.keep_until.clone().unwrap_or_default()),
            revision: Some(record.short_revision().to_string()),
            reference: Some(record.origin.reference.clone()),
            who: Some(record.origin.who.clone()),
            at: Some(record.origin.at.clone()),
            note: record.note.clone(),
            since,
            compare,
        });
    }
    let lock = match &survey.lock {
        Lock::Held(Some(info)) => Some(format!("locked by {}", info.describe())),
        Lock::Stale(Some(info)) => Some(format!("stale lock of {}", info.describe())),
        _ => None,
    };
    let pending = survey.pending.as_ref().map(|pending| {
        // Resume refuses a release marked failed: say so where it is listed.
        let failed = survey
            .record(&pending.release)
            .is_some_and(|r| r.state == State::Failed);
        format!(
            "unfinished {} of {} by {} since {}{}",
            pending.kind,
            pending.release,
            pending.origin.who,
            pending.origin.at,
            if failed {
                ", marked failed: a new deploy replaces it"
            } else {
                ""
            }
        )
    });
    Event::Releases {
        host: host.to_string(),
        releases,
        lock,
        pending,
    }
}

/// What release `id` brought: the revision of the newest good release
/// before it (when it differs), and the forge's page for the two.
fn since(
    survey: &Survey,
    id: &str,
    record: &ReleaseRecord,
    forge: Option<&Forge>,
) -> (Option<String>, Option<String>) {
    let Some(new) = &record.origin.revision else {
        return (None, None);
    };
    let old = survey
        .releases
        .range::<str, _>((std::ops::Bound::Unbounded, std::ops::Bound::Excluded(id)))
        .rev()
        .filter_map(|(_, r)| r.as_ref())
        .find(|r| r.state == State::Deployed && r.origin.revision.is_some())
        .and_then(|r| r.origin.revision.as_ref())
        .filter(|old| *old != new);
    match old {
        Some(old) => (
            Some(old[..old.len().min(10)].to_string()),
            forge.map(|f| f.compare(old, new)),
        ),
        None => (None, None),
    }
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
    /// Where `origin` lives on the web, for compare links.
    pub(crate) forge: Option<Forge>,
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
                    if outcome.status == Status::Ok {
                        fanout.events.emit(Event::History {
                            host: host.label.clone(),
                            entries: history_infos(entries, self.forge.as_ref()),
                        });
                    }
                    outcome
                }
            })
            .await;
    }
}

/// The entries, each with the revision live before it when it changed it
/// (what `git log old..new` lists) and the forge's compare page.
fn history_infos(entries: Vec<HistoryEntry>, forge: Option<&Forge>) -> Vec<HistoryInfo> {
    let mut live: Option<String> = None;
    let mut infos = Vec::new();
    for entry in entries {
        let since = live
            .clone()
            .filter(|old| entry.revision.as_ref().is_some_and(|new| new != old));
        let compare = since
            .as_ref()
            .zip(entry.revision.as_ref())
            .and_then(|(old, new)| forge.map(|f| f.compare(old, new)));
        if entry.result == "ok" && entry.revision.is_some() {
            live.clone_from(&entry.revision);
        }
        infos.push(HistoryInfo {
            since,
            compare,
            ..history_info(entry)
        });
    }
    infos
}

fn history_info(entry: HistoryEntry) -> HistoryInfo {
    HistoryInfo {
        since: None,
        compare: None,
        at: entry.at,
        kind: entry.event,
        release: entry.release,
        revision: entry.revision,
        from: entry.from,
        who: entry.who,
        result: entry.result,
        phase: entry.phase,
        detail: entry.detail,
        tests: entry.facts.tests,
        promoted_from: entry.facts.promoted_from,
        timings: entry.timings,
    }
}
