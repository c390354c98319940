//! What a deploy run works on: a new release, or — for `deploy:resume=yes` —
//! the release the hosts say is pending, rebuilt from the same commit and
//! checked to be the same files; and where each host stands in it.

use std::collections::BTreeMap;

use super::artifact::Artifact;
use super::deploy::{DeployPlan, build_artifact, build_image};
use super::locked::Locked;
use super::phases::Progress;
use super::record::{Origin, Pending, State};
use super::survey::Survey;
use super::travel::{fetch, fetch_image};
use super::{now, who};
use crate::container::Image;
use crate::fanout::Fanout;
use crate::inventory::Host;

pub(super) fn progress_of(survey: &Survey, id: &str) -> Progress {
    let record = survey.record(id);
    let state = record.map(|r| r.state);
    let previous = match &survey.pending {
        Some(pending) if pending.release == id => pending.previous.clone(),
        _ => survey.current.clone().filter(|c| c != id),
    };
    let deployed = state == Some(State::Deployed) && survey.current.as_deref() == Some(id);
    Progress {
        uploaded: survey.releases.contains_key(id),
        built: matches!(state, Some(State::Built | State::Deployed)),
        migrated: record.is_some_and(|r| r.migrated),
        current: survey.current.clone(),
        unknown: false,
        previous,
        deployed,
        restarted: false,
        finished: deployed && survey.pending.as_ref().is_none_or(|p| p.release != id),
    }
}

/// The deploy to resume: the one pending on the hosts (they must agree),
/// unless it was marked failed — resuming it would bring it back — or it
/// finished everywhere but for the lock a cut left (taken over and released).
pub(super) fn resumable(
    plan: &DeployPlan,
    surveys: &BTreeMap<String, Survey>,
    fanout: &Fanout,
) -> Option<Pending> {
    let mut pending: Vec<&Pending> = surveys
        .values()
        .filter_map(|s| s.pending.as_ref())
        .collect();
    pending.sort_by(|a, b| a.release.cmp(&b.release));
    pending.dedup_by(|a, b| a.release == b.release);
    match pending.as_slice() {
        [] => {
            finished_but_for_the_lock(surveys, fanout);
            None
        }
        [one] => match refusal(&plan.env, surveys, one) {
            Some(message) => {
                fanout.fail(message);
                None
            }
            None => Some((*one).clone()),
        },
        many => {
            let ids: Vec<&str> = many.iter().map(|p| p.release.as_str()).collect();
            fanout.fail(format!(
                "the hosts have different unfinished deploys ({}); start a new deploy",
                ids.join(", ")
            ));
            None
        }
    }
}

/// Nothing pending: either there is nothing to resume, or a deploy's finish
/// completed on a host whose lock its cut connection left (taken over by
/// this run's survey, and released at its end), or completed there and let
/// go of the lock itself.
fn finished_but_for_the_lock(surveys: &BTreeMap<String, Survey>, fanout: &Fanout) {
    let taken: Vec<(&str, &str)> = surveys
        .iter()
        .filter_map(|(host, s)| Some((host.as_str(), s.took_over.as_deref()?)))
        .collect();
    match taken.first() {
        Some((_, release)) => {
            let hosts: Vec<&str> = taken.iter().map(|(h, _)| *h).collect();
            fanout.events.note(format!(
                "nothing left to resume: the deploy of {release} had finished, but for its lock on {}, now released",
                hosts.join(", ")
            ));
        }
        None => match finished_everywhere(surveys) {
            // A finish cut off from ferry completes on the host, under the lock.
            Some(id) => fanout.events.note(format!(
                "nothing left to resume: {id}, the last deploy, is live and finished on every host"
            )),
            None => fanout.fail("nothing to resume: no host has an unfinished deploy".into()),
        },
    }
}

/// The release every host is on, when every host's record says its deploy finished.
fn finished_everywhere(surveys: &BTreeMap<String, Survey>) -> Option<&str> {
    let mut live = surveys.values().map(|s| {
        let id = s.current.as_deref()?;
        s.record(id)
            .filter(|r| r.state == State::Deployed)
            .map(|_| id)
    });
    let first = live.next()??;
    live.all(|id| id == Some(first)).then_some(first)
}

/// Why the pending deploy must not be resumed: its release was marked
/// failed (a put-back after a failed health check, or a rollback).
fn refusal(env: &str, surveys: &BTreeMap<String, Survey>, pending: &Pending) -> Option<String> {
    let id = pending.release.as_str();
    let failed: Vec<&str> = surveys
        .iter()
        .filter(|(_, s)| s.record(id).is_some_and(|r| r.state == State::Failed))
        .map(|(host, _)| host.as_str())
        .collect();
    if failed.is_empty() {
        return None;
    }
    let live: Vec<String> = surveys
        .iter()
        .map(|(host, s)| match s.current.as_deref() {
            Some(c) if c == id => format!("{host} on {c}, the failed release"),
            Some(c) => format!("{host} on {c}"),
            None => format!("{host} on no release"),
        })
        .collect();
    let stuck: Vec<&str> = surveys
        .iter()
        .filter(|(_, s)| s.current.as_deref() == Some(id))
        .map(|(host, _)| host.as_str())
        .collect();
    let mut message = format!(
        "cannot resume {id}: it failed and is marked failed on {}, and resuming would bring it back. Live now: {}",
        failed.join(", "),
        live.join("; ")
    );
    if !stuck.is_empty() {
        message.push_str(&format!(
            "\nhint: `ferry {env} rollback` puts {} back on the release before {id}",
            stuck.join(", ")
        ));
    }
    message.push_str(&format!(
        "\nhint: to ship a fix, commit it and run `ferry {env} deploy`"
    ));
    Some(message)
}

pub(super) fn new_pending(plan: &DeployPlan, artifact: &Artifact, id: String) -> Pending {
    Pending {
        release: id,
        origin: Origin {
            revision: artifact.revision.clone(),
            reference: artifact.reference.clone(),
            digest: artifact.manifest.digest(),
            who: who(),
            at: now(),
        },
        kind: plan.mode.name().to_string(),
        previous: None,
    }
}

/// The artifact of the deploy being resumed: the same commit, and it must
/// still produce the same files.
pub(super) fn resume_artifact(
    plan: &DeployPlan,
    pending: &Pending,
    fanout: &Fanout,
) -> Option<Artifact> {
    let reference = pending
        .origin
        .revision
        .clone()
        .unwrap_or_else(|| pending.origin.reference.clone());
    match build_artifact(&plan.root, &plan.deploy, &reference) {
        Ok(artifact) if artifact.manifest.digest() == pending.origin.digest => Some(artifact),
        Ok(_) => {
            fanout.fail(format!(
                "cannot resume {}: its files changed since that deploy began; start a new deploy",
                pending.release
            ));
            None
        }
        Err(error) => {
            fanout.fail(format!("cannot resume {}: {error}", pending.release));
            None
        }
    }
}

/// The release and image of the container deploy being resumed: the release's files
/// (its `IMAGE`) from a host that has them, checked against the deploy's digest, and the
/// very image they name (this machine's, or saved by a host). Only when no host has the
/// release is the commit built again, and then it must give the same image.
pub(super) async fn resume_image(
    plan: &DeployPlan,
    pending: &Pending,
    locked: &Locked<'_>,
    fanout: &Fanout,
) -> Option<(Artifact, Image)> {
    let id = pending.release.as_str();
    let def = plan.deploy.container.as_ref().expect("a container deploy");
    let holders: Vec<&Host> = locked
        .hosts
        .iter()
        .copied()
        .filter(|h| locked.surveys[&h.label].releases.contains_key(id))
        .collect();
    let cannot = |problem: String| fanout.fail(format!("cannot resume {id}: {problem}"));
    let fetched = match holders.first() {
        Some(host) => fetch(fanout, "deploy/fetch", host, &plan.layout, id).await,
        None => {
            let reference = pending
                .origin
                .revision
                .as_deref()
                .unwrap_or(&pending.origin.reference);
            build_artifact(&plan.root, &plan.deploy, reference)
                .and_then(|artifact| build_image(artifact, def))
                .map(|(artifact, _)| artifact)
                .map_err(|error| error.to_string())
        }
    };
    let mut artifact = match fetched {
        Ok(artifact) => artifact,
        Err(problem) => {
            cannot(problem);
            return None;
        }
    };
    if artifact.manifest.digest() != pending.origin.digest {
        cannot(
            "the image it names is not the one that deploy began with; start a new deploy".into(),
        );
        return None;
    }
    artifact.revision = pending.origin.revision.clone();
    artifact.reference = pending.origin.reference.clone();
    let task = "deploy/fetch-image";
    match fetch_image(
        fanout,
        task,
        &holders,
        &plan.layout,
        &artifact,
        &def.image,
        id,
    )
    .await
    {
        Ok(image) => Some((artifact, image)),
        Err(problem) => {
            cannot(problem);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::record::ReleaseRecord;
    use crate::release::survey::parse;

    fn survey(current: &str, failed: bool, pending: Option<&Pending>) -> Survey {
        let mut survey = parse(&[]);
        survey.current = Some(current.into());
        let mut record: ReleaseRecord = sample().record(None);
        record.state = if failed { State::Failed } else { State::Built };
        survey.releases.insert("new".into(), Some(record));
        survey.pending = pending.cloned();
        survey
    }

    fn sample() -> Pending {
        Pending {
            release: "new".into(),
            origin: Origin {
                revision: None,
                reference: "main".into(),
                digest: "d".into(),
                who: "a@b".into(),
                at: "t".into(),
            },
            kind: "deploy".into(),
            previous: Some("old".into()),
        }
    }

    #[test]
    fn a_release_marked_failed_anywhere_is_not_resumed() {
        let pending = sample();
        let surveys = BTreeMap::from([
            ("web1".to_string(), survey("old", true, None)),
            ("web2".to_string(), survey("new", false, Some(&pending))),
        ]);
        let message = refusal("prod", &surveys, &pending).expect("refused");
        assert!(message.contains("cannot resume new: it failed and is marked failed on web1"));
        assert!(message.contains("web1 on old; web2 on new, the failed release"));
        assert!(message.contains("`ferry prod rollback` puts web2 back"));
        let fine = BTreeMap::from([("web1".to_string(), survey("old", false, Some(&pending)))]);
        assert!(refusal("prod", &fine, &pending).is_none());
    }
}
