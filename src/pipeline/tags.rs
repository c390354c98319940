//! Git tags for what each environment runs: `LIVE-<env>` moved to the
//! deployed commit and `DEPLOYED-<env>-<date>/<time>` added beside it (both
//! patterns configurable), in the app's repository (the one that ships),
//! then pushed when `[pipeline] push_tags` names a remote. A tag that cannot be made or
//! pushed is a warning: the deploy itself is done.

use jiff::Timestamp;

use super::Stage;
use crate::config::{TagPatterns, tag_name};
use crate::git::Repo;

pub(crate) fn tag(stage: &Stage<'_>, patterns: &TagPatterns, push: Option<&str>, revision: &str) {
    let events = &stage.fanout.events;
    let repo = match Repo::discover(&stage.ctx.project.app_dir()) {
        Ok(repo) => repo,
        Err(error) => {
            events.warn(format!("no git tags: {error}"));
            return;
        }
    };
    let now = Timestamp::now();
    let (date, time) = (
        now.strftime("%Y-%m-%d").to_string(),
        now.strftime("%H%M").to_string(),
    );
    let env = stage.name();
    let live = tag_name(&patterns.live, env, &date, &time);
    let deployed = tag_name(&patterns.deployed, env, &date, &time);
    let deployed = free_name(&repo, &deployed, revision);
    let mut made = Vec::new();
    for name in [&live, &deployed] {
        match repo.tag(name, revision) {
            Ok(()) => made.push(name.clone()),
            Err(error) => events.warn(format!("cannot tag {name}: {error}")),
        }
    }
    if made.is_empty() {
        return;
    }
    let short = &revision[..revision.len().min(10)];
    events.note(format!("tagged {short} as {}", made.join(", ")));
    if let Some(remote) = push {
        match repo.push_tags(remote, &made) {
            Ok(()) => events.note(format!("pushed {} to {remote}", made.join(", "))),
            Err(error) => events.warn(format!(
                "the tags stay local, pushing them to {remote} failed: {error}"
            )),
        }
    }
}

/// `name`, or `name-2`, `name-3`… when an earlier deploy in the same minute
/// took it for another commit: a DEPLOYED tag is never moved.
fn free_name(repo: &Repo, name: &str, revision: &str) -> String {
    let taken = |candidate: &str| {
        repo.resolve(&format!("refs/tags/{candidate}"))
            .ok()
            .filter(|at| !at.is_empty() && at != revision)
            .is_some()
    };
    (1..100)
        .map(|n| match n {
            1 => name.to_string(),
            n => format!("{name}-{n}"),
        })
        .find(|candidate| !taken(candidate))
        .unwrap_or_else(|| name.to_string())
}
