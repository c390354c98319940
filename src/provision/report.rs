//! From what a host's provision script reported (its marker lines, exit
//! code, last output lines) to the host's outcome: `changed` if any
//! resource changed (or, under `--check`, would), a failure naming the
//! resource or handler that failed, and with `--diff` the diffs of files.

use std::collections::BTreeMap;

use super::HostPlan;
use super::diff;
use crate::event::Status;
use crate::fanout::{Outcome, Ran};
use crate::protocol::Marker;
use crate::transport::Stream;

#[derive(Default)]
struct Markers<'a> {
    changed: usize,
    ok: usize,
    /// Index of each resource that changed, with why.
    changes: BTreeMap<usize, &'a str>,
    failed: Option<usize>,
    failed_handler: Option<usize>,
    sudo: bool,
    /// Old contents for `--diff`; `None` for a file too large to show.
    old: BTreeMap<usize, Option<&'a [u8]>>,
}

fn parse(markers: &[Marker]) -> Markers<'_> {
    let mut parsed = Markers::default();
    for marker in markers {
        match marker {
            Marker::Resource { status, .. } if status == "ok" => parsed.ok += 1,
            Marker::Resource { index, why, .. } => {
                parsed.changed += 1;
                parsed.changes.insert(*index, why);
            }
            Marker::Failed { step, .. } => parsed.failed = Some(*step),
            Marker::FailedHandler { handler, .. } => parsed.failed_handler = Some(*handler),
            Marker::Sudo => parsed.sudo = true,
            Marker::Old { index, content } => {
                parsed.old.insert(*index, content.as_deref());
            }
            _ => {}
        }
    }
    parsed
}

pub(crate) fn outcome(
    ran: Ran,
    plan: &HostPlan,
    check: bool,
    diff: bool,
    emit: &dyn Fn(Stream, String),
) -> Outcome {
    let response = match &ran.response {
        Ok(response) => response,
        Err(error) => return Outcome::from_transport(error),
    };
    let markers = parse(&ran.markers);
    if diff {
        show_diffs(plan, &markers, emit);
    }
    let outcome = if markers.sudo {
        Outcome::failed(format!(
            "cannot make changes as root: `sudo -n` needs a password here ({})",
            last_line(&ran.tail).unwrap_or("no reason given")
        ))
        .hint(Some(
            "give the SSH user passwordless sudo (`deploy ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/), \
             connect as root (-H root@host), or set become = false for what needs no root"
                .into(),
        ))
    } else if response.code != 0 {
        let what = match (markers.failed, markers.failed_handler) {
            (Some(i), _) => plan.labels.get(i).cloned(),
            (None, Some(h)) => plan.handlers.get(h).map(|h| format!("handler `{h}`")),
            (None, None) => None,
        };
        let reason = match ran.error() {
            Some(reason) => reason.to_string(),
            None => reason(&ran.tail, response.code),
        };
        Outcome::failed(match what {
            Some(what) => format!("{what}: {reason}"),
            None => reason,
        })
    } else if markers.changed > 0 {
        let verb = if check { "would change" } else { "changed" };
        Outcome::new(Status::Changed)
            .message(format!("{} {verb}, {} ok", markers.changed, markers.ok))
    } else {
        Outcome::new(Status::Ok).message(format!("{} ok", markers.ok))
    };
    Outcome {
        bytes_sent: response.bytes_sent,
        bytes_received: response.bytes_received,
        ..outcome
    }
}

/// apt says what went wrong on its `E:` lines; other tools on their last.
fn reason(tail: &[String], code: i32) -> String {
    let line = tail
        .iter()
        .rev()
        .find(|l| l.starts_with("E: "))
        .map(String::as_str)
        .or_else(|| last_line(tail));
    match line {
        Some(line) => line.trim().to_string(),
        None => format!("exited with {code}"),
    }
}

fn last_line(tail: &[String]) -> Option<&str> {
    tail.iter().rev().map(|l| l.trim()).find(|l| !l.is_empty())
}

fn show_diffs(plan: &HostPlan, markers: &Markers<'_>, emit: &dyn Fn(Stream, String)) {
    for (index, why) in &markers.changes {
        let Some(file) = plan.files.get(index) else {
            continue;
        };
        let old = markers.old.get(index).copied();
        if old == Some(None) {
            emit(
                Stream::Stdout,
                format!("diff of {} not shown: larger than 256 KiB", file.path),
            );
            continue;
        }
        let created = why
            .split(", ")
            .any(|w| w.starts_with("created") || w == "replaced a symlink");
        if !created && old.is_none() {
            continue; // only owner or mode differ
        }
        let text = old.flatten().map(String::from_utf8_lossy);
        for line in diff::unified(
            &file.path,
            text.as_deref(),
            &file.content,
            &file.secret_prefixes,
        ) {
            emit(Stream::Stdout, line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_markers() {
        let resource = |index, status: &str, why: &str| Marker::Resource {
            index,
            status: status.into(),
            why: why.into(),
        };
        let markers = [
            Marker::Activity("package x".into()),
            resource(0, "ok", ""),
            resource(1, "changed", "created, owner root:root -> deploy:deploy"),
            Marker::Old {
                index: 2,
                content: Some(b"ab\n".to_vec()),
            },
            resource(2, "would", "content"),
        ];
        let parsed = parse(&markers);
        assert_eq!((parsed.ok, parsed.changed), (1, 2));
        assert_eq!(
            parsed.changes[&1],
            "created, owner root:root -> deploy:deploy"
        );
        assert_eq!(parsed.old[&2], Some(&b"ab\n"[..]));
    }

    #[test]
    fn apt_errors_are_the_reason() {
        let tail = vec![
            "Reading package lists...".to_string(),
            "E: Unable to locate package nope".to_string(),
            "".to_string(),
        ];
        assert_eq!(reason(&tail, 100), "E: Unable to locate package nope");
        assert_eq!(reason(&[], 3), "exited with 3");
    }
}
