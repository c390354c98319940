//! `--json`: every event as one JSON object per line on stdout, for CI.

use std::io::Write;

use super::Render;
use crate::event::Event;

pub(super) struct Json;

impl Render for Json {
    fn event(&mut self, event: &Event) {
        let mut out = std::io::stdout().lock();
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}
