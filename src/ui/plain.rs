//! Plain lines, for logs and pipes: every output line prefixed with its host,
//! a result line per host and task, the recap at the end.

use std::io::Write;

use super::{Options, Render, recap};
use crate::event::Event;

pub(super) struct Plain {
    options: Options,
    /// Host column width, so output lines of different hosts align.
    width: usize,
}

impl Plain {
    pub(super) fn new(options: Options) -> Self {
        Self { options, width: 0 }
    }
}

impl Render for Plain {
    fn event(&mut self, event: &Event) {
        if let Some(text) = line(event, self.options, &mut self.width) {
            let mut out = anstream::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}

/// The line an event prints as, if any; the live renderer shares it.
pub(super) fn line(event: &Event, options: Options, width: &mut usize) -> Option<String> {
    match event {
        Event::RunStarted { hosts, .. } => {
            *width = hosts.iter().map(String::len).max().unwrap_or(0);
            None
        }
        Event::TaskStarted { task, hosts } => Some(format!("==> {task} ({})", count(hosts.len()))),
        Event::Output { host, line, .. } if !options.quiet => {
            Some(format!("{host:<width$} | {line}", width = *width))
        }
        Event::Activity { host, activity } if options.verbose > 0 => {
            Some(format!("{host:<width$} > {activity}", width = *width))
        }
        Event::HostFinished(result) => Some(recap::result_line(result, *width)),
        Event::Warning { message } => Some(format!("warning: {message}")),
        Event::RunFinished {
            recap: rows,
            interrupted,
            duration,
        } => Some(recap::table(rows, *interrupted, *duration)),
        Event::Output { .. } | Event::Activity { .. } | Event::TaskFinished { .. } => None,
    }
}

fn count(hosts: usize) -> String {
    if hosts == 1 {
        "1 host".into()
    } else {
        format!("{hosts} hosts")
    }
}
