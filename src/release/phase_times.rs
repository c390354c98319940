//! How long each phase of a deploy took, on all its hosts at once: kept in
//! the deploy's history line (up to the phase that writes it) and carried
//! by the `released` event at its end. A phase run in batches (restart)
//! adds up; a phase that sent nothing is not listed.

use std::time::Duration;

use super::phases::Run;
use crate::event::PhaseTime;

impl Run<'_, '_> {
    /// Add `elapsed` to `phase`'s time.
    pub(super) fn took(&self, phase: &str, elapsed: Duration) {
        let millis = |seconds: f64| (seconds * 1000.0).round() / 1000.0;
        let seconds = millis(elapsed.as_secs_f64());
        let mut timings = self.timings.lock().expect("not poisoned");
        match timings.iter_mut().find(|t| t.phase == phase) {
            Some(time) => time.seconds = millis(time.seconds + seconds),
            None => timings.push(PhaseTime {
                phase: phase.to_string(),
                seconds,
            }),
        }
    }

    /// The phases' times so far, in the order they ran.
    pub(super) fn timings(&self) -> Vec<PhaseTime> {
        self.timings.lock().expect("not poisoned").clone()
    }
}
