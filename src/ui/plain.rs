//! Plain lines, for logs and pipes: every output line prefixed with its host,
//! a result line per host and task, the recap at the end.

use std::io::Write;

use super::{Options, Render, listing, recap};
use crate::event::{Event, Stamped};

pub(super) struct Plain {
    lines: Lines,
}

impl Plain {
    pub(super) fn new(options: Options) -> Self {
        Self {
            lines: Lines::new(options),
        }
    }
}

impl Render for Plain {
    fn event(&mut self, stamped: &Stamped) {
        if let Some(text) = self.lines.line(&stamped.event) {
            let mut out = anstream::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}

/// Turns events into the lines they print as; the live renderer shares it.
pub(super) struct Lines {
    options: Options,
    /// Host column width, so output lines of different hosts align.
    width: usize,
    /// "staging: deploy, check", for the recap's title.
    title: String,
}

impl Lines {
    pub(super) fn new(options: Options) -> Self {
        Self {
            options,
            width: 0,
            title: String::new(),
        }
    }

    pub(super) fn line(&mut self, event: &Event) -> Option<String> {
        let width = self.width;
        match event {
            Event::RunStarted {
                environment,
                tasks,
                hosts,
            } => {
                self.width = hosts.iter().map(String::len).max().unwrap_or(0);
                self.title = format!("{environment}: {}", tasks.join(", "));
                None
            }
            Event::TaskStarted { task, hosts } => {
                Some(format!("==> {task} ({})", count(hosts.len())))
            }
            Event::Output { host, line, .. } if !self.options.quiet => {
                Some(format!("{host:<width$} | {line}"))
            }
            Event::Activity { host, activity } if self.options.verbose > 0 => {
                Some(format!("{host:<width$} > {activity}"))
            }
            Event::HostFinished(result) => Some(recap::result_line(result, width)),
            Event::Warning { message } => Some(format!("warning: {message}")),
            Event::Services { services } => Some(listing::services(services)),
            Event::Releases {
                host,
                releases,
                lock,
                pending,
            } => Some(prefixed(
                host,
                width,
                &listing::releases(releases, lock, pending),
            )),
            Event::History { host, entries } => {
                Some(prefixed(host, width, &listing::history(entries)))
            }
            Event::Released {
                task,
                release,
                revision,
                hosts,
                live,
                timings,
            } => {
                let line =
                    listing::released(task, release, revision.as_deref(), hosts.len(), *live);
                Some(match timings.is_empty() {
                    true => format!("==> {line}"),
                    false => format!("==> {line}\n==> phases: {}", listing::timings(timings)),
                })
            }
            Event::Script {
                host,
                command,
                script,
            } if self.options.verbose > 1 => Some(listing::script(host, command, script)),
            Event::Note { message } => Some(format!("==> {message}")),
            Event::Failed { message } => Some(format!("error: {message}")),
            Event::RunFinished {
                recap: rows,
                interrupted,
                duration,
                ..
            } => Some(recap::table(&self.title, rows, *interrupted, *duration)),
            Event::Output { .. }
            | Event::Activity { .. }
            | Event::Script { .. }
            | Event::TaskFinished { .. }
            | Event::Error { .. }
            | Event::Config { .. }
            | Event::Tasks { .. } => None,
        }
    }
}

fn count(hosts: usize) -> String {
    listing::plural(hosts, "host")
}

/// Lines of a host's listing, each prefixed as its output would be.
fn prefixed(host: &str, width: usize, lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| format!("{host:<width$} | {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
