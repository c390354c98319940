//! Live progress on a terminal: a spinner per host showing what it is doing,
//! with output and results scrolling above. The same lines as the plain
//! renderer, so nothing is shown live that a log would not have.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::plain::Lines;
use super::{Options, Render};
use crate::event::{Event, Stamped};

pub(super) struct Live {
    lines: Lines,
    bars: MultiProgress,
    hosts: HashMap<String, ProgressBar>,
}

impl Live {
    pub(super) fn new(options: Options) -> Self {
        Self {
            lines: Lines::new(options),
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            hosts: HashMap::new(),
        }
    }

    fn start(&mut self, hosts: &[String]) {
        let style =
            ProgressStyle::with_template("{spinner:.cyan} {prefix} {elapsed:>4} {wide_msg}")
                .expect("valid template");
        // Host names padded to the longest, so elapsed times and phases align.
        let width = hosts.iter().map(|h| h.chars().count()).max().unwrap_or(0);
        for host in hosts {
            let bar = self
                .bars
                .add(ProgressBar::new_spinner().with_style(style.clone()));
            bar.set_prefix(format!("{host:<width$}"));
            bar.set_message("waiting");
            bar.enable_steady_tick(Duration::from_millis(100));
            self.hosts.insert(host.clone(), bar);
        }
    }

    fn print(&self, text: &str) {
        self.bars.suspend(|| {
            let mut out = anstream::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        });
    }
}

/// However the run ends (Ctrl-C included), no spinner is left on the screen.
impl Drop for Live {
    fn drop(&mut self) {
        for (_, bar) in self.hosts.drain() {
            bar.finish_and_clear();
        }
        let _ = self.bars.clear();
    }
}

impl Render for Live {
    fn event(&mut self, stamped: &Stamped) {
        let event = &stamped.event;
        match event {
            Event::TaskStarted { hosts, .. } => self.start(hosts),
            Event::Activity { host, activity } => {
                if let Some(bar) = self.hosts.get(host) {
                    bar.set_message(activity.clone());
                }
            }
            Event::HostFinished(result) => {
                if let Some(bar) = self.hosts.remove(&result.host) {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
            }
            Event::TaskFinished { .. } => {
                for (_, bar) in self.hosts.drain() {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
        if let Some(text) = self.lines.line(event) {
            self.print(&text);
        }
    }
}
