//! `--json`: every event as one JSON object per line on stdout, for CI. Each
//! line is an `Envelope`: the schema version `v`, the time `ts`, the kind
//! `event` and its fields (docs/json.md, docs/events.schema.json).

use std::io::Write;

use super::Render;
use crate::event::{Envelope, Event, Stamped};

pub(super) struct Json;

impl Render for Json {
    fn event(&mut self, stamped: &Stamped) {
        line(&Envelope::new(stamped.at, &stamped.event));
    }
}

/// An event outside a run (an early error, the task list), stamped now.
pub(super) fn print(event: &Event) {
    line(&Envelope::new(crate::event::now(), event));
}

fn line(envelope: &Envelope) {
    let mut out = std::io::stdout().lock();
    if let Ok(line) = serde_json::to_string(envelope) {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}
