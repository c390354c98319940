//! From what a host's provision script reported (its marker lines, exit
//! code, last output lines) to the host's outcome: `changed` if any
//! resource changed (or, under `--check`, would), a failure naming the
//! resource or handler that failed, and with `--diff` the diffs of files.

use std::collections::BTreeMap;

use super::HostPlan;
use super::diff;
use crate::event::Status;
use crate::fanout::{Outcome, Ran};
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
    old: BTreeMap<usize, Vec<&'a str>>,
}

fn parse(markers: &[String]) -> Markers<'_> {
    let mut parsed = Markers::default();
    for marker in markers {
        let mut words = marker.splitn(4, ' ');
        let (kind, a, b) = (words.next(), words.next(), words.next());
        let index = |w: Option<&str>| w.and_then(|w| w.parse::<usize>().ok());
        match kind {
            Some("resource") => match (a, index(b)) {
                (Some("ok"), _) => parsed.ok += 1,
                (Some(_), Some(i)) => {
                    parsed.changed += 1;
                    parsed.changes.insert(i, words.next().unwrap_or(""));
                }
                _ => {}
            },
            Some("failed") => parsed.failed = index(a),
            Some("failed-handler") => parsed.failed_handler = index(a),
            Some("sudo") => parsed.sudo = true,
            Some("old") => {
                if let (Some(i), Some(rest)) = (index(a), marker.splitn(3, ' ').nth(2)) {
                    parsed.old.entry(i).or_default().push(rest);
                }
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
    } else if response.code != Some(0) {
        let what = match (markers.failed, markers.failed_handler) {
            (Some(i), _) => plan.labels.get(i).cloned(),
            (None, Some(h)) => plan.handlers.get(h).map(|h| format!("handler `{h}`")),
            (None, None) => None,
        };
        let reason = match ran.marker("reason ") {
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
        ..outcome
    }
}

/// apt says what went wrong on its `E:` lines; other tools on their last.
fn reason(tail: &[String], code: Option<i32>) -> String {
    let line = tail
        .iter()
        .rev()
        .find(|l| l.starts_with("E: "))
        .map(String::as_str)
        .or_else(|| last_line(tail));
    match (line, code) {
        (Some(line), _) => line.trim().to_string(),
        (None, Some(code)) => format!("exited with {code}"),
        (None, None) => "killed by a signal".into(),
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
        let old = markers.old.get(index);
        if old.is_some_and(|lines| lines.first() == Some(&"large")) {
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
        let bytes = old.map(|lines| diff::from_hex(lines.iter().copied()));
        let text = bytes.as_ref().map(|b| String::from_utf8_lossy(b));
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
        let markers: Vec<String> = [
            "activity package x",
            "resource ok 0 ",
            "resource changed 1 created, owner root:root -> deploy:deploy",
            "old 2  61 62",
            "old 2  0a",
            "resource would 2 content",
        ]
        .iter()
        .map(|m| m.to_string())
        .collect();
        let parsed = parse(&markers);
        assert_eq!((parsed.ok, parsed.changed), (1, 2));
        assert_eq!(
            parsed.changes[&1],
            "created, owner root:root -> deploy:deploy"
        );
        assert_eq!(diff::from_hex(parsed.old[&2].iter().copied()), b"ab\n");
    }

    #[test]
    fn apt_errors_are_the_reason() {
        let tail = vec![
            "Reading package lists...".to_string(),
            "E: Unable to locate package nope".to_string(),
            "".to_string(),
        ];
        assert_eq!(reason(&tail, Some(100)), "E: Unable to locate package nope");
        assert_eq!(reason(&[], Some(3)), "exited with 3");
    }
}
