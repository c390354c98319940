//! Ctrl-C (and SIGTERM) are handled on purpose. The first one stops new
//! work: hosts not yet started are skipped, scripts already running finish —
//! killing a step half-way (a migration, a switch) is how servers get broken
//! — and the recap is still printed. A second one exits at once, for when a
//! host hangs.

use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::event::Events;
use crate::exit::ExitStatus;

pub(crate) fn watch(cancel: CancellationToken, events: Events) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        cancel.cancel();
        events.warn("interrupted: nothing new starts; waiting for running commands to finish (Ctrl-C again to quit now)");
        interrupt.recv().await;
        std::process::exit(ExitStatus::Interrupted.code().into());
    })
}
