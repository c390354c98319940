//! Old releases: which to remove (kept apart as a pure function, because it
//! is where a mistake deletes the wrong thing), and the `cleanup` task.

use std::collections::{BTreeMap, BTreeSet};

use super::locked::Locked;
use super::record::{ReleaseRecord, State};
use super::{Layout, now, steps};
use crate::event::Status;
use crate::fanout::{Fanout, Outcome};
use crate::inventory::Host;
use crate::transport::Request;

/// The releases to remove on a host. Never the live one, the previous good
/// one, a pinned one or a `protected` one (being made, or pending resume).
/// Failed releases go first and never count; of the others the newest
/// `keep` stay.
pub(crate) fn select(
    releases: &BTreeMap<String, Option<ReleaseRecord>>,
    current: Option<&str>,
    keep: usize,
    protected: &[&str],
) -> Vec<String> {
    let now = now();
    let failed = |id: &str| {
        releases
            .get(id)
            .and_then(Option::as_ref)
            .is_some_and(|r| r.state == State::Failed)
    };
    let mut kept: BTreeSet<&str> = protected.iter().copied().chain(current).collect();
    kept.extend(
        releases
            .iter()
            .filter(|(_, r)| r.as_ref().is_some_and(|r| r.is_pinned(&now)))
            .map(|(id, _)| id.as_str()),
    );
    if let Some(live) = current {
        let previous_good = releases
            .iter()
            .rev()
            .filter(|(id, _)| id.as_str() < live)
            .find(|(_, r)| r.as_ref().is_some_and(|r| r.state == State::Deployed));
        kept.extend(previous_good.map(|(id, _)| id.as_str()));
    }
    kept.extend(
        releases
            .keys()
            .rev()
            .filter(|id| !failed(id))
            .take(keep)
            .map(String::as_str),
    );
    releases
        .keys()
        .filter(|id| !kept.contains(id.as_str()))
        .cloned()
        .collect()
}

/// `ferry <env> cleanup`: remove old releases now, under the deploy lock.
pub(crate) struct Cleanup {
    pub(crate) layout: Layout,
    pub(crate) keep: usize,
    pub(crate) env: String,
}

impl Cleanup {
    pub(crate) async fn execute(&self, hosts: &[&Host], fanout: &Fanout) {
        let Some(locked) = Locked::take(
            fanout,
            "cleanup",
            hosts,
            &self.layout,
            &self.env,
            "cleanup",
            super::survey::Takeover::No,
            false,
            &[],
        )
        .await
        else {
            return;
        };
        let surveys = &locked.surveys;
        fanout
            .each("cleanup", &locked.hosts, |host| async move {
                let survey = &surveys[&host.label];
                let protected: Vec<&str> =
                    survey.pending.iter().map(|p| p.release.as_str()).collect();
                let remove = select(
                    &survey.releases,
                    survey.current.as_deref(),
                    self.keep,
                    &protected,
                );
                if remove.is_empty() {
                    return Outcome::new(Status::Ok).message(format!(
                        "{}, none to remove",
                        crate::units::plural(survey.releases.len(), "release")
                    ));
                }
                let mut script = self.layout.script();
                steps::remove_releases(&mut script, &remove);
                let script = script.build();
                let ran = fanout.script(host, Request::script(script)).await;
                let outcome = ran.outcome(&[], Status::Changed);
                match outcome.status {
                    Status::Changed => outcome.message(format!("removed {}", remove.join(", "))),
                    _ => outcome,
                }
            })
            .await;
        locked.release(fanout).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::record::Origin;

    fn record(id: &str, state: State, keep_until: Option<&str>) -> Option<ReleaseRecord> {
        Some(ReleaseRecord {
            id: id.into(),
            origin: Origin {
                revision: None,
                reference: "main".into(),
                digest: "d".into(),
                who: "a@b".into(),
                at: "t".into(),
            },
            state,
            keep_until: keep_until.map(Into::into),
            migrated: false,
            note: None,
        })
    }

    fn releases(list: &[(&str, Option<ReleaseRecord>)]) -> BTreeMap<String, Option<ReleaseRecord>> {
        list.iter()
            .map(|(id, r)| (id.to_string(), r.clone()))
            .collect()
    }

    #[test]
    fn keeps_the_newest_good_ones_and_removes_failed_first() {
        let all = releases(&[
            ("1", record("1", State::Deployed, None)),
            ("2", record("2", State::Deployed, None)),
            ("3", record("3", State::Failed, None)),
            ("4", record("4", State::Deployed, None)),
            ("5", record("5", State::Deployed, None)),
        ]);
        assert_eq!(select(&all, Some("5"), 2, &[]), ["1", "2", "3"]);
        assert_eq!(select(&all, Some("5"), 10, &[]), ["3"]);
    }

    #[test]
    fn never_removes_current_previous_good_pinned_or_protected() {
        let all = releases(&[
            (
                "1",
                record("1", State::Deployed, Some("9999-01-01T00:00:00Z")),
            ),
            ("2", record("2", State::Deployed, None)),
            ("3", record("3", State::Failed, None)),
            ("4", record("4", State::Deployed, None)),
            ("5", record("5", State::Uploaded, None)),
            ("6", None),
        ]);
        // Live on 4 after a rollback: 6 and 5 are newer, 2 is the previous good one.
        let removed = select(&all, Some("4"), 1, &["5"]);
        assert_eq!(
            removed,
            ["3"],
            "1 pinned, 2 previous good, 4 live, 5 protected, 6 newest"
        );
        let all = releases(&[
            (
                "1",
                record("1", State::Deployed, Some("2000-01-01T00:00:00Z")),
            ),
            ("2", record("2", State::Deployed, None)),
            ("3", record("3", State::Deployed, None)),
        ]);
        assert_eq!(
            select(&all, Some("3"), 1, &[]),
            ["1"],
            "a pin that has expired protects nothing"
        );
    }
}
