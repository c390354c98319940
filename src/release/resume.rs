//! What a deploy run works on: a new release, or — for `deploy:resume=yes` —
//! the release the hosts say is pending, rebuilt from the same commit and
//! checked to be the same files; and where each host stands in it.

use std::collections::BTreeMap;

use super::artifact::Artifact;
use super::deploy::{DeployPlan, build_artifact};
use super::phases::Progress;
use super::record::{Origin, Pending, State};
use super::survey::Survey;
use super::{now, who};
use crate::fanout::Fanout;

pub(super) fn progress_of(survey: &Survey, id: &str) -> Progress {
    let record = survey.record(id);
    let state = record.map(|r| r.state);
    let previous = match &survey.pending {
        Some(pending) if pending.release == id => pending.previous.clone(),
        _ => survey.current.clone().filter(|c| c != id),
    };
    Progress {
        uploaded: survey.releases.contains_key(id),
        built: matches!(state, Some(State::Built | State::Deployed)),
        migrated: record.is_some_and(|r| r.migrated),
        current: survey.current.clone(),
        previous,
        deployed: state == Some(State::Deployed) && survey.current.as_deref() == Some(id),
    }
}

/// The deploy to resume: the one pending on the hosts (they must agree).
pub(super) fn resumable(surveys: &BTreeMap<String, Survey>, fanout: &Fanout) -> Option<Pending> {
    let mut pending: Vec<&Pending> = surveys
        .values()
        .filter_map(|s| s.pending.as_ref())
        .collect();
    pending.sort_by(|a, b| a.release.cmp(&b.release));
    pending.dedup_by(|a, b| a.release == b.release);
    match pending.as_slice() {
        [] => {
            fanout.fail("nothing to resume: no host has an unfinished deploy".into());
            None
        }
        [one] => Some((*one).clone()),
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
