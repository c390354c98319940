//! The text of structured results: `releases`, `history`, `status`, a
//! release going live, a host's script at `-vv`. The events carry the data
//! (as `--json` shows it); these are the lines a person reads.

use crate::event::{HistoryInfo, ReleaseInfo, ServiceState};

pub(super) use crate::units::plural;

pub(super) fn releases(
    releases: &[ReleaseInfo],
    lock: &Option<String>,
    pending: &Option<String>,
) -> Vec<String> {
    // The revision column holds `old..new`: as wide as the widest.
    let ranges: Vec<String> = releases
        .iter()
        .map(|r| range(r.since.as_deref(), r.revision.as_deref()))
        .collect();
    let width = ranges
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    let mut lines: Vec<String> = releases
        .iter()
        .zip(&ranges)
        .map(|(r, range)| release(r, range, width))
        .collect();
    if lines.is_empty() {
        lines.push("no releases".into());
    }
    lines.extend(lock.iter().cloned());
    // A pending deploy of a failed release is not resumed (its text says so).
    lines.extend(pending.iter().map(|p| {
        if p.contains("marked failed") {
            p.clone()
        } else {
            format!("{p} (deploy:resume=yes finishes it)")
        }
    }));
    lines
}

/// A release's line: `range` is `old..new` when it changed the revision of
/// the good release before it (else its revision), the compare page last.
fn release(release: &ReleaseInfo, range: &str, width: usize) -> String {
    let id = &release.id;
    if release.revision.is_none() {
        return format!(
            "{id}  {:<9}  (no release.json: not made by ferry, or incomplete)",
            release.state
        );
    }
    let state = match &release.pinned_until {
        Some(until) => format!("pinned until {until}"),
        None => release.state.clone(),
    };
    let note = release
        .note
        .as_deref()
        .map_or(String::new(), |n| format!("  ({n})"));
    let field = |f: &Option<String>| f.clone().unwrap_or_default();
    let compare = release
        .compare
        .as_deref()
        .map_or(String::new(), |url| format!("  {url}"));
    format!(
        "{id}  {state:<9}  {range:<width$}  {}  {}  {}{note}{compare}",
        field(&release.reference),
        field(&release.who),
        field(&release.at),
    )
}

pub(super) fn history(entries: &[HistoryInfo]) -> Vec<String> {
    if entries.is_empty() {
        return vec!["no history yet".into()];
    }
    let mut lines = Vec::new();
    for entry in entries {
        let from = entry
            .from
            .as_deref()
            .map_or(String::new(), |f| format!(" from {f}"));
        let phase = entry
            .phase
            .as_deref()
            .map_or(String::new(), |p| format!(" at {p}"));
        let detail = entry
            .detail
            .as_deref()
            .map_or(String::new(), |d| format!(": {d}"));
        let mut revision = range(entry.since.as_deref(), entry.revision.as_deref());
        if let Some(url) = &entry.compare {
            revision.push_str(&format!(" {url}"));
        }
        let facts = facts(entry);
        lines.push(format!(
            "{}  {:<13} {} {revision}{from}  {}  {}{facts}{phase}{detail}",
            entry.at, entry.kind, entry.release, entry.who, entry.result
        ));
    }
    lines
}

/// `old..new` (what `git log old..new` lists) when there is an old
/// revision, else the revision alone.
fn range(since: Option<&str>, revision: Option<&str>) -> String {
    let short = |r: &str| r[..r.len().min(10)].to_string();
    match (since, revision) {
        (Some(old), Some(new)) if old != new => format!("{}..{}", short(old), short(new)),
        (_, Some(new)) => short(new),
        (_, None) => String::new(),
    }
}

/// What the pipeline recorded: the test gate, a promotion's source.
fn facts(entry: &HistoryInfo) -> String {
    let mut facts = String::new();
    if let Some(tests) = &entry.tests {
        facts.push_str(&format!(" (tests {tests})"));
    }
    if let Some(from) = &entry.promoted_from {
        facts.push_str(&format!(" (promoted from {from})"));
    }
    facts
}

pub(super) fn services(services: &[ServiceState]) -> String {
    let columns = ["host", "service", "manager", "state", "detail"].map(String::from);
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            vec![
                s.host.clone(),
                s.service.clone(),
                s.manager.clone(),
                s.state.clone(),
                s.detail.clone(),
            ]
        })
        .collect();
    super::recap::grid("STATUS", &columns, &rows)
}

pub(super) fn released(
    task: &str,
    release: &str,
    revision: Option<&str>,
    hosts: usize,
    live: bool,
) -> String {
    let hosts = plural(hosts, "host");
    match (task, revision) {
        ("rollback", _) => format!("rolled back to {release} on {hosts}"),
        (_, revision) => format!(
            "{task} {release}{} is {} on {hosts}",
            revision.map_or(String::new(), |r| format!(" ({r})")),
            if live { "live" } else { "prepared" }
        ),
    }
}

/// `lock 0.41s, upload 1.20s, build 12.00s, …`: how long each phase took.
pub(super) fn timings(timings: &[crate::event::PhaseTime]) -> String {
    let each: Vec<String> = timings
        .iter()
        .map(|t| format!("{} {:.2}s", t.phase, t.seconds))
        .collect();
    each.join(", ")
}

/// `-vv`: the command a host was sent and the script on its stdin.
pub(super) fn script(host: &str, command: &[String], script: &str) -> String {
    let command: Vec<String> = command
        .iter()
        .map(|word| shlex::try_quote(word).map_or_else(|_| word.clone(), |w| w.into_owned()))
        .collect();
    let mut text = format!("{host} $ {}\n", command.join(" "));
    for line in script.lines() {
        text.push_str(&format!("{host} < {line}\n"));
    }
    text.pop();
    text
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
