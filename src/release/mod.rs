//! Releases on hosts, the layout Capistrano, Deployer and ansistrano users
//! know:
//!
//! ```text
//! <deploy_to>/current -> releases/<id>    replaced by rename(2), never rm + ln
//! <deploy_to>/releases/<id>/              one per release; .ferry/ holds its manifest and release.json
//! <deploy_to>/shared/                     survives releases (.env, media/, the database)
//! <deploy_to>/.ferry/store/<sha256>-<mode> every shipped file once, read-only; releases hard-link to it
//! <deploy_to>/.ferry/lock/                held for the length of a deploy
//! <deploy_to>/.ferry/history.jsonl        deploy, rollback, … appended, never rewritten
//! ```
//!
//! This module owns that layout and every task that works on it: deploy,
//! hotfix, setup_release, resume, rollback, releases, history, cleanup,
//! unlock. Each phase of each is one script per host, sent to all hosts at
//! once; the next phase starts when every host finished the last.

mod artifact;
mod body;
mod cleanup;
mod deploy;
mod ending;
mod hooks;
mod keeper;
mod known;
mod listing;
mod local_build;
mod locked;
mod manifest;
mod phase_times;
mod phases;
mod preview;
mod record;
mod resume;
mod rollback;
mod ship;
mod steps;
mod survey;
mod travel;
mod upload;
mod whereabouts;

#[cfg(test)]
mod shellcheck;

use jiff::Timestamp;

pub(crate) use cleanup::Cleanup;
pub(crate) use deploy::{DeployPlan, Mode};
pub(crate) use keeper::Unlock;
pub(crate) use listing::{History, Releases, forge_of};
pub(crate) use record::{ReleaseRecord, State};
pub(crate) use rollback::Rollback;
pub(crate) use travel::{fetch, fetch_image, live, mark_failed};

use std::sync::LazyLock;

use crate::shell::{Library, Script, Word};

/// The operations on the layout, as shell functions (see `Layout::script`).
static HELPERS: LazyLock<Library> = LazyLock::new(|| Library::parse(include_str!("helpers.sh")));

/// The lock's directory, for the helpers that take, keep and free it.
const LOCK: &str = "# shellcheck disable=SC2034 # unused by scripts without the lock's helpers
L=\"$D/.ferry/lock\"";

/// Where the layout lives on a host.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) deploy_to: String,
}

impl Layout {
    pub(crate) fn new(deploy_to: &str) -> Self {
        Self {
            deploy_to: deploy_to.to_string(),
        }
    }

    /// A script that knows the layout: the prelude, `D=<deploy_to>`, the
    /// release helpers, the slot helpers (the probe is theirs) and the
    /// container helpers (which probe: they come after); operations are
    /// calls appended to it.
    pub(crate) fn script(&self) -> Script {
        let mut script = Script::new();
        script
            .library(&HELPERS)
            .library(&crate::switch::HELPERS)
            .library(&crate::container::HELPERS)
            .set("D", Word::lit(&self.deploy_to))
            .code(LOCK);
        script
    }

    pub(crate) fn release_dir(&self, id: &str) -> String {
        format!("{}/releases/{id}", self.deploy_to)
    }
}

/// Release ids are UTC timestamps, so they sort in time order as text.
pub(crate) fn new_release_id(after: Option<&str>) -> String {
    let now = Timestamp::now();
    let mut id = format_id(now);
    if let Some(last) = after.filter(|last| *last >= id.as_str()) {
        // Two deploys in one second, or a host clock ahead of ours: stay after it.
        let bumped = parse_id(last).map_or(now, |t| t + jiff::SignedDuration::from_secs(1));
        id = format_id(bumped);
    }
    id
}

fn format_id(time: Timestamp) -> String {
    time.strftime("%Y%m%dT%H%M%SZ").to_string()
}

fn parse_id(id: &str) -> Option<Timestamp> {
    Timestamp::strptime("%Y%m%dT%H%M%S%#z", id.replace('Z', "+0000")).ok()
}

pub(crate) fn now() -> String {
    Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `now` plus `days`, in the format `now` uses (so text comparison works).
pub(crate) fn days_from_now(days: u32) -> String {
    let later = Timestamp::now() + jiff::SignedDuration::from_hours(24 * i64::from(days));
    later.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `user@machine`: who is deploying, for release.json, locks and history
/// (asked once per run: it may take a process).
pub(crate) fn who() -> String {
    static WHO: LazyLock<String> = LazyLock::new(ask_who);
    WHO.clone()
}

fn ask_who() -> String {
    let command = |program: &str, arg: &str| {
        std::process::Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .or_else(|| command("id", "-un"))
        .unwrap_or_else(|| "unknown".into());
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| command("uname", "-n"))
        .unwrap_or_default();
    format!("{user}@{}", machine.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_ids_are_timestamps_that_stay_ordered() {
        let id = new_release_id(None);
        assert_eq!(id.len(), "20261121T230308Z".len());
        assert!(id.ends_with('Z') && id.as_bytes()[8] == b'T');
        let future = "29991231T235959Z";
        let next = new_release_id(Some(future));
        assert_eq!(next, "30000101T000000Z");
    }
}
