//! What the pipeline asks of releases on hosts, beside a deploy: each
//! host's live release as it reports it, a release's files fetched back
//! into an `Artifact` (so a promotion ships the very bytes another
//! environment runs), and a live release marked failed when the functional
//! tests run against it say so. The decisions are the pipeline's; this file
//! only knows the layout.

use std::collections::BTreeMap;

use super::artifact::{self, Artifact};
use super::record::{HistoryEntry, ReleaseRecord, State};
use super::survey::{self, Survey};
use super::{Layout, now, steps, who};
use crate::event::Status;
use crate::fanout::{Fanout, Gate, Outcome};
use crate::inventory::Host;
use crate::protocol::Marker;
use crate::shell::Word;
use crate::transport::Request;

/// One host's live release: where `current` points, and its record.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    pub(crate) release: Option<String>,
    pub(crate) record: Option<ReleaseRecord>,
}

/// Every host's live release; `None` when a host could not say (its
/// failure is in the recap).
pub(crate) async fn live(
    fanout: &Fanout,
    task: &str,
    hosts: &[&Host],
    layout: &Layout,
) -> Option<BTreeMap<String, Live>> {
    let script = survey::script(
        layout,
        &survey::Options {
            lock: None,
            takeover: survey::Takeover::No,
            sums: false,
        },
    );
    let done = fanout
        .collect(task, hosts, Gate::Policy, |host| {
            let script = script.clone();
            async move {
                let ran = fanout.script(host, Request::script(script)).await;
                (ran.outcome(&[], Status::Ok), survey::parse(&ran.markers))
            }
        })
        .await;
    let mut lives = BTreeMap::new();
    for d in done {
        let survey: Survey = d.data.filter(|_| d.status == Status::Ok)?;
        let record = survey
            .current
            .as_deref()
            .and_then(|id| survey.record(id))
            .cloned();
        lives.insert(
            d.host.label.clone(),
            Live {
                release: survey.current.clone(),
                record,
            },
        );
    }
    Some(lives)
}

/// The files of release `id` from `host`, as the artifact they were made
/// from; the caller checks the digest against the release's record.
pub(crate) async fn fetch(
    fanout: &Fanout,
    task: &str,
    host: &Host,
    layout: &Layout,
    id: &str,
) -> Result<Artifact, String> {
    let script = pack_script(layout, id);
    let done = fanout
        .collect(task, &[host], Gate::Policy, |host| {
            let script = script.clone();
            async move {
                let ran = fanout.script(host, Request::script(script)).await;
                let archive = ran.find(|m| match m {
                    Marker::Archive(bytes) => Some(bytes.clone()),
                    _ => None,
                });
                let outcome = ran.outcome(&[], Status::Ok);
                let outcome = match (&archive, outcome.status) {
                    (Some(bytes), Status::Ok) => {
                        outcome.message(format!("{} bytes of release {id}", bytes.len()))
                    }
                    (None, Status::Ok) => Outcome::failed("the host sent no files"),
                    _ => outcome,
                };
                (outcome, archive)
            }
        })
        .await;
    let bytes = done
        .into_iter()
        .find(|d| d.status == Status::Ok)
        .and_then(|d| d.data.flatten())
        .ok_or_else(|| format!("cannot fetch release {id} from {}", host.label))?;
    artifact::from_release(&bytes, "").map_err(|e| {
        format!(
            "the files of release {id} from {} cannot be read: {e}",
            host.label
        )
    })
}

/// The image a container release names (its `IMAGE` file), as the ship phase sends
/// it: from this machine's engine if it still holds it, else saved by the first of
/// `hosts` that holds it and sent back here. Never a rebuild: the artifact is the image.
pub(crate) async fn fetch_image(
    fanout: &Fanout,
    task: &str,
    hosts: &[&Host],
    layout: &Layout,
    artifact: &Artifact,
    repo: &str,
    release: &str,
) -> Result<crate::container::Image, String> {
    let id = artifact
        .file(crate::container::IMAGE_FILE)
        .map_err(|e| format!("cannot read the files of release {release}: {e}"))?
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .filter(|id| id.starts_with("sha256:"))
        .ok_or_else(|| format!("release {release} names no image"))?;
    let tag = format!("{repo}:{release}");
    if let Some(image) = crate::container::local(&id, &tag) {
        return Ok(image);
    }
    let mut script = layout.script();
    crate::container::save(&mut script, &id);
    let script = script.build();
    let mut problems = Vec::new();
    let (script, id, tag) = (&script, id.as_str(), tag.as_str());
    for host in hosts {
        let done = fanout
            .collect(task, &[*host], Gate::Policy, |host| async move {
                let ran = fanout.script(host, Request::script(script.clone())).await;
                let archive = ran.find(|m| match m {
                    Marker::Archive(bytes) => Some(bytes.clone()),
                    _ => None,
                });
                let outcome = ran.outcome(&[], Status::Ok);
                let image = match (archive, outcome.status) {
                    (Some(bytes), Status::Ok) => {
                        Some(crate::container::from_archive(id, tag, bytes))
                    }
                    _ => None,
                };
                let outcome = match &image {
                    Some(Ok(image)) => outcome.message(format!(
                        "{tag}: {} bytes, {} layers",
                        image.archive.len(),
                        image.layers.len()
                    )),
                    Some(Err(e)) => Outcome::failed(format!("the image it sent: {e}")),
                    None => outcome,
                };
                (outcome, image)
            })
            .await;
        match done.into_iter().next().and_then(|d| d.data.flatten()) {
            Some(Ok(image)) => return Ok(image),
            Some(Err(e)) => problems.push(format!("{}: {e}", host.label)),
            None => problems.push(format!("{}: it sent no image", host.label)),
        }
    }
    Err(format!(
        "cannot get the image {id}: this machine's engine does not hold it{}{}",
        if problems.is_empty() { "" } else { ", and " },
        problems.join("; ")
    ))
}

/// Mark each host's `record` failed (with `note`), and say so in its history.
pub(crate) async fn mark_failed(
    fanout: &Fanout,
    task: &str,
    hosts: &[&Host],
    layout: &Layout,
    records: &BTreeMap<String, ReleaseRecord>,
    note: &str,
) -> bool {
    let scripts: BTreeMap<String, String> = records
        .iter()
        .map(|(host, record)| (host.clone(), mark_script(layout, record, note)))
        .collect();
    let scripts = &scripts;
    let hosts: Vec<&Host> = hosts
        .iter()
        .copied()
        .filter(|h| scripts.contains_key(&h.label))
        .collect();
    let done = fanout
        .collect(task, &hosts, Gate::Always, |host| async move {
            let script = scripts[&host.label].clone();
            let ran = fanout.script(host, Request::script(script)).await;
            (ran.outcome(&[], Status::Changed), ())
        })
        .await;
    done.iter().all(|d| d.status == Status::Changed)
}

/// The files of release `id`, packed and sent back as one report.
pub(super) fn pack_script(layout: &Layout, id: &str) -> String {
    let mut script = layout.script();
    script.call("ferry_pack", [Word::lit(id)]);
    script.build()
}

/// `record` rewritten as failed (with `note`), and a history line saying why.
pub(super) fn mark_script(layout: &Layout, record: &ReleaseRecord, note: &str) -> String {
    let mut record = record.clone();
    record.state = State::Failed;
    record.note = Some(note.to_string());
    let history = HistoryEntry {
        at: now(),
        event: "functional_tests".into(),
        release: record.id.clone(),
        revision: record.origin.revision.clone(),
        from: None,
        who: who(),
        result: "failed".into(),
        phase: None,
        detail: Some(note.to_string()),
        facts: Default::default(),
        timings: Vec::new(),
    };
    let mut script = layout.script();
    steps::write_record(&mut script, steps::record_path(&record.id), &record.json());
    steps::append_history(&mut script, &history.json());
    script.build()
}
