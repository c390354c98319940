//! The recap table at the end of every run (Ansible's PLAY RECAP, as a
//! table) and the one-line result of a host, shared by the live and plain
//! renderers.

use std::fmt::Write;
use std::time::Duration;

use super::{paint, status_style};
use crate::event::{HostResult, RecapRow, Status};

pub(super) fn result_line(result: &HostResult, width: usize) -> String {
    let mut line = format!(
        "{:<width$} : {} ({})",
        result.host,
        paint(result.status.as_str(), status_style(result.status)),
        seconds(result.duration)
    );
    if let Some(message) = &result.message {
        let _ = write!(line, ": {message}");
    }
    if let Some(hint) = &result.hint {
        let _ = write!(
            line,
            "\n{:<width$}   {}: {hint}",
            "",
            paint("hint", super::cyan_bold())
        );
    }
    line
}

pub(super) fn table(
    title: &str,
    rows: &[RecapRow],
    interrupted: bool,
    duration: Duration,
) -> String {
    let width = rows
        .iter()
        .map(|r| r.host.len())
        .max()
        .unwrap_or(0)
        .max("host".len());
    let mut out = format!(
        "\nRECAP {title} ({}{})\n",
        seconds(duration),
        if interrupted { ", interrupted" } else { "" }
    );
    if rows.is_empty() {
        // A stage `ship` or `promote` never reached: say so, not an empty table.
        out.push_str("no host was touched\n");
        return out;
    }
    // The live release, after a deploy: what each host reported at the end.
    let live = rows.iter().any(|r| r.live.is_some());
    let _ = writeln!(
        out,
        "{:<width$}  {:>3}  {:>7}  {:>6}  {:>11}  {:>7}  {:>7}{}",
        "host",
        "ok",
        "changed",
        "failed",
        "unreachable",
        "skipped",
        "time",
        if live { "  live" } else { "" }
    );
    for row in rows {
        let cells = [
            (row.ok, Status::Ok, 3),
            (row.changed, Status::Changed, 7),
            (row.failed, Status::Failed, 6),
            (row.unreachable, Status::Unreachable, 11),
            (row.skipped, Status::Skipped, 7),
        ];
        let _ = write!(out, "{:<width$}", row.host);
        for (count, status, cell_width) in cells {
            let text = format!("{count:>cell_width$}");
            let text = if count > 0 {
                paint(&text, status_style(status))
            } else {
                text
            };
            let _ = write!(out, "  {text}");
        }
        let _ = write!(out, "  {:>7}", seconds(row.duration));
        if let Some(text) = row.live.as_deref().filter(|_| live) {
            let _ = write!(out, "  {text}");
        }
        out.push('\n');
    }
    out
}

/// A table of text cells, columns as wide as their widest cell.
pub(super) fn grid(title: &str, columns: &[String], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            std::iter::once(&columns[i])
                .chain(rows.iter().filter_map(|row| row.get(i)))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("\n{title}\n");
    for row in std::iter::once(columns).chain(rows.iter().map(Vec::as_slice)) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out.pop();
    out
}

pub(super) fn seconds(duration: Duration) -> String {
    format!("{:.2}s", duration.as_secs_f64())
}
