//! What a run reports, as it happens. Execution only emits events; the `ui`
//! renders them (live on a terminal, plain lines, or `--json`), so every
//! renderer tells the same story. Every event passes the redactor on its way.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::secret::Redactor;
use crate::transport::Stream;

/// How one task ended on one host (Ansible's vocabulary, on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Changed,
    Failed,
    Unreachable,
    Skipped,
}

impl Status {
    pub(crate) fn is_failure(self) -> bool {
        matches!(self, Status::Failed | Status::Unreachable)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Failed => "failed",
            Status::Unreachable => "unreachable",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct HostResult {
    pub(crate) task: String,
    pub(crate) host: String,
    pub(crate) status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<String>,
    #[serde(serialize_with = "seconds")]
    pub(crate) duration: Duration,
    pub(crate) bytes_sent: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    RunStarted {
        environment: String,
        tasks: Vec<String>,
        hosts: Vec<String>,
    },
    TaskStarted {
        task: String,
        hosts: Vec<String>,
    },
    /// What a host is doing now (a step, a phase), for live progress.
    Activity {
        host: String,
        activity: String,
    },
    Output {
        host: String,
        stream: Stream,
        line: String,
    },
    HostFinished(HostResult),
    TaskFinished {
        task: String,
    },
    Warning {
        message: String,
    },
    /// Results gathered from every host, shown as one table (service status).
    Table {
        title: String,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// A sentence about the run as a whole ("… is live on 3 hosts").
    Note {
        message: String,
    },
    /// The run failed as a whole, beyond any one host's outcome.
    Failed {
        message: String,
    },
    RunFinished {
        recap: Vec<RecapRow>,
        interrupted: bool,
        #[serde(serialize_with = "seconds")]
        duration: Duration,
    },
}

/// One host's line in the recap table.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct RecapRow {
    pub(crate) host: String,
    pub(crate) ok: usize,
    pub(crate) changed: usize,
    pub(crate) failed: usize,
    pub(crate) unreachable: usize,
    pub(crate) skipped: usize,
    #[serde(serialize_with = "seconds")]
    pub(crate) duration: Duration,
    pub(crate) bytes_sent: u64,
    /// After a deploy: the release the host reports live, and what it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) live: Option<String>,
}

impl RecapRow {
    pub(crate) fn tasks(&self) -> usize {
        self.ok + self.changed + self.failed + self.unreachable + self.skipped
    }

    pub(crate) fn count(&mut self, result: &HostResult) {
        match result.status {
            Status::Ok => self.ok += 1,
            Status::Changed => self.changed += 1,
            Status::Failed => self.failed += 1,
            Status::Unreachable => self.unreachable += 1,
            Status::Skipped => self.skipped += 1,
        }
        self.duration += result.duration;
        self.bytes_sent += result.bytes_sent;
    }
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((duration.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// The sending side, cloned into every host's work.
#[derive(Clone)]
pub(crate) struct Events {
    tx: mpsc::UnboundedSender<Event>,
    redactor: Redactor,
}

impl Events {
    pub(crate) fn channel(redactor: Redactor) -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx, redactor }, rx)
    }

    pub(crate) fn emit(&self, mut event: Event) {
        self.redact(&mut event);
        // The receiver only goes away after the run, when nobody emits.
        let _ = self.tx.send(event);
    }

    pub(crate) fn output(&self, host: &str, stream: Stream, line: String) {
        self.emit(Event::Output {
            host: host.to_string(),
            stream,
            line,
        });
    }

    pub(crate) fn note(&self, message: impl Into<String>) {
        self.emit(Event::Note {
            message: message.into(),
        });
    }

    pub(crate) fn warn(&self, message: impl Into<String>) {
        self.emit(Event::Warning {
            message: message.into(),
        });
    }

    /// The one place output meets the redactor. An `Output` line is a whole
    /// line (the transport reads up to each newline), so a secret printed in
    /// pieces is whole again here, and a multi-line one is masked line by
    /// line. A failure message may quote host output cut to its last bytes
    /// (a health check's body), so a piece of a secret at a cut goes too.
    fn redact(&self, event: &mut Event) {
        let scrub = |text: &mut String| {
            if let std::borrow::Cow::Owned(clean) = self.redactor.redact(text) {
                *text = clean;
            }
        };
        let scrub_cut = |text: &mut String| {
            if let std::borrow::Cow::Owned(clean) = self.redactor.redact_cut(text) {
                *text = clean;
            }
        };
        match event {
            Event::Table { rows, .. } => rows.iter_mut().flatten().for_each(scrub),
            Event::Output { line, .. } => scrub(line),
            Event::Activity { activity, .. } => scrub(activity),
            Event::Warning { message } | Event::Note { message } | Event::Failed { message } => {
                scrub(message)
            }
            Event::HostFinished(result) => {
                result.message.as_mut().map(scrub_cut);
                result.hint.as_mut().map(scrub);
            }
            Event::RunStarted { .. }
            | Event::TaskStarted { .. }
            | Event::TaskFinished { .. }
            | Event::RunFinished { .. } => {}
        }
    }
}
