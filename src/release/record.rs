//! What ferry writes on hosts about releases, as JSON: `release.json` in each
//! release, the lock's `info`, the pending deploy (`.ferry/deploy.json`, for
//! resume) and the lines of `.ferry/history.jsonl`. One line each, so a
//! script can carry them as marker lines.

use serde::{Deserialize, Serialize};

use crate::event::PhaseTime;

/// Where a release stands. Live and previous are not states: they follow
/// from where `current` points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    /// Files in place, shared paths linked; not built yet.
    Uploaded,
    /// Built: ready to switch to (`setup_release` stops here).
    Built,
    /// Was switched to and passed its health check: a good release.
    Deployed,
    /// Failed its health check, or was rolled back from: never a target.
    Failed,
}

/// What a release is made of and who made it: the same on every host, and
/// the same in a release's record as in the pending deploy that makes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Origin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revision: Option<String>,
    #[serde(rename = "ref")]
    pub(crate) reference: String,
    /// sha256 of the manifest: the same artifact has the same digest.
    pub(crate) digest: String,
    pub(crate) who: String,
    pub(crate) at: String,
}

impl Origin {
    pub(crate) fn short_revision(&self) -> &str {
        self.revision
            .as_deref()
            .map_or("-", |r| &r[..r.len().min(10)])
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReleaseRecord {
    pub(crate) id: String,
    #[serde(flatten)]
    pub(crate) origin: Origin,
    pub(crate) state: State,
    /// A pinned release (setup_release:keep_days=N) survives cleanup until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) keep_until: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) migrated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

impl ReleaseRecord {
    pub(crate) fn short_revision(&self) -> &str {
        self.origin.short_revision()
    }

    pub(crate) fn is_pinned(&self, now: &str) -> bool {
        self.keep_until.as_deref().is_some_and(|until| until > now)
    }

    pub(crate) fn json(&self) -> String {
        serde_json::to_string(self).expect("serializable")
    }
}

/// Who holds a deploy lock, for the message that refuses a second deploy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LockInfo {
    pub(crate) who: String,
    pub(crate) pid: u32,
    pub(crate) since: String,
    pub(crate) what: String,
    /// The release the holding deploy creates: resume may take its lock over.
    #[serde(default)]
    pub(crate) release: String,
}

impl LockInfo {
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} (pid {}) since {}, for {}",
            self.who, self.pid, self.since, self.what
        )
    }
}

/// An unfinished deploy, kept on every host until it finishes, so
/// `deploy:resume=yes` knows what to finish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub(crate) release: String,
    #[serde(flatten)]
    pub(crate) origin: Origin,
    /// `deploy` or `hotfix`.
    pub(crate) kind: String,
    /// The release `current` pointed at when the deploy began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) previous: Option<String>,
}

impl Pending {
    /// The record of the release this deploy makes, as it starts out.
    pub(crate) fn record(&self, keep_until: Option<String>) -> ReleaseRecord {
        ReleaseRecord {
            id: self.release.clone(),
            origin: self.origin.clone(),
            state: State::Uploaded,
            keep_until,
            migrated: false,
            note: None,
        }
    }
}

/// One line of `.ferry/history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct HistoryEntry {
    pub(crate) at: String,
    pub(crate) event: String,
    pub(crate) release: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) from: Option<String>,
    pub(crate) who: String,
    pub(crate) result: String,
    /// Where a failed deploy stopped: upload, build, migrate, switch, restart, finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
    /// What the pipeline adds: the test gate, where a promotion came from.
    #[serde(flatten)]
    pub(crate) facts: HistoryFacts,
    /// How long each phase took, up to the one that wrote this line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) timings: Vec<PhaseTime>,
}

/// A deploy's facts from the pipeline, kept in its history entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HistoryFacts {
    /// `passed` or `skipped` (`--skip-tests`); absent without [pipeline] tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tests: Option<String>,
    /// `<env> <release>` a promotion took its artifact from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) promoted_from: Option<String>,
}

impl HistoryEntry {
    pub(crate) fn json(&self) -> String {
        serde_json::to_string(self).expect("serializable")
    }
}
