//! What a run reports, as it happens. Execution only emits events; the `ui`
//! renders them (live on a terminal, plain lines, or `--json`), so every
//! renderer tells the same story. Every event passes the redactor on its way
//! and is stamped with the time it happened.
//!
//! These types are also the `--json` contract (docs/json.md): `Envelope` is
//! one line of it, and docs/events.schema.json is generated from them. A
//! change that breaks a consumer (a field renamed or removed, a meaning
//! changed) bumps `SCHEMA_VERSION`; a new event or a new optional field does not.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::secret::Redactor;
use crate::transport::Stream;

/// How one task ended on one host (Ansible's vocabulary, on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
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

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct HostResult {
    pub(crate) task: String,
    pub(crate) host: String,
    pub(crate) status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<String>,
    /// Seconds.
    #[serde(serialize_with = "seconds")]
    #[schemars(with = "f64")]
    pub(crate) duration: Duration,
    pub(crate) bytes_sent: u64,
    /// What the host sent back: reports and output.
    pub(crate) bytes_received: u64,
}

/// The version of the `--json` event schema; every line carries it as `v`.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// One line of `--json` output: the schema version, when it happened, and
/// the event's own fields beside `event`, its kind.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Envelope<'a> {
    /// The schema version (`1`); it changes only when a change would break a reader.
    pub(crate) v: u32,
    /// When the event happened, RFC 3339 in UTC with milliseconds.
    #[serde(serialize_with = "rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub(crate) ts: jiff::Timestamp,
    #[serde(flatten)]
    pub(crate) event: &'a Event,
}

impl<'a> Envelope<'a> {
    pub(crate) fn new(at: jiff::Timestamp, event: &'a Event) -> Self {
        Self {
            v: SCHEMA_VERSION,
            ts: at,
            event,
        }
    }
}

/// An event and the time it happened.
#[derive(Debug)]
pub(crate) struct Stamped {
    pub(crate) at: jiff::Timestamp,
    pub(crate) event: Event,
}

/// The time now, to the millisecond (enough to order a run's events, and
/// short in a log).
pub(crate) fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .unwrap_or_else(|_| jiff::Timestamp::now())
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
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
    /// At `-vv`: the command ferry starts for a host and the script it sends
    /// on that command's stdin (secrets masked).
    Script {
        host: String,
        command: Vec<String>,
        script: String,
    },
    HostFinished(HostResult),
    TaskFinished {
        task: String,
    },
    Warning {
        message: String,
    },
    /// `status`: each service's state on each host, gathered from every host.
    Services {
        services: Vec<ServiceState>,
    },
    /// `releases`: one host's releases, newest first, and its lock.
    Releases {
        host: String,
        releases: Vec<ReleaseInfo>,
        /// "locked by …" or "stale lock of …", when there is a lock.
        #[serde(skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
        /// An unfinished deploy that `deploy:resume=yes` would finish.
        #[serde(skip_serializing_if = "Option::is_none")]
        pending: Option<String>,
    },
    /// `history`: one host's last entries, oldest first.
    History {
        host: String,
        entries: Vec<HistoryInfo>,
    },
    /// A release went live (`deploy`, `hotfix`, `rollback`) or was prepared
    /// (`setup_release`) on every host of the task.
    Released {
        task: String,
        release: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        revision: Option<String>,
        hosts: Vec<String>,
        live: bool,
        /// How long each phase took, in order (a deploy's; not a rollback's).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        timings: Vec<PhaseTime>,
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
        /// The release the run made live or prepared, if it did.
        #[serde(skip_serializing_if = "Option::is_none")]
        release: Option<String>,
        /// Seconds.
        #[serde(serialize_with = "seconds")]
        #[schemars(with = "f64")]
        duration: Duration,
    },
    /// The command failed before anything ran (usage, configuration): the
    /// only event of such a run. Its exit code is `exit_code`.
    Error {
        message: String,
        /// The chain of causes, outermost first.
        causes: Vec<String>,
        hints: Vec<String>,
        /// `file:line:column` of the mistake in ferry.toml, when there is one.
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        exit_code: i32,
    },
    /// `ferry <env> config`: the merged configuration, each value with its
    /// origin; secrets masked.
    Config {
        environment: String,
        values: Vec<ConfigValue>,
    },
    /// `ferry -l --json`: the tasks and environments.
    Tasks {
        tasks: Vec<TaskInfo>,
        environments: Vec<EnvironmentInfo>,
        #[serde(skip_serializing_if = "Option::is_none")]
        default_task: Option<String>,
    },
}

/// A service's state on one host, a row of `status`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct ServiceState {
    pub(crate) host: String,
    pub(crate) service: String,
    /// `supervisor` or `systemd`.
    pub(crate) manager: String,
    /// running, stopped, failed, … as the manager says, or `unknown`.
    pub(crate) state: String,
    pub(crate) detail: String,
}

/// One release on one host.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct ReleaseInfo {
    /// The release's directory name, a UTC time (`20260101T120000Z`).
    pub(crate) id: String,
    /// live, previous, good, failed, pinned, prepared, incomplete, or unknown
    /// (a directory ferry did not make, or one without its record).
    pub(crate) state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pinned_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) revision: Option<String>,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub(crate) reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) who: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    /// The revision of the good release before it, when it differs: what
    /// this release brought is `since..revision`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) since: Option<String>,
    /// The forge's page comparing `since` with `revision`, when the git
    /// remote `origin` is on GitHub, GitLab, Bitbucket, Gitea or Forgejo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) compare: Option<String>,
}

/// How long one phase of a deploy took, on all its hosts at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct PhaseTime {
    /// lock, upload, ship, build, migrate, switch, restart, rollback, finish.
    pub(crate) phase: String,
    /// Wall-clock seconds, to the millisecond.
    pub(crate) seconds: f64,
}

/// One entry of a host's history.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct HistoryInfo {
    pub(crate) at: String,
    /// deploy, rollback, hotfix, setup_release, …
    pub(crate) kind: String,
    pub(crate) release: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) revision: Option<String>,
    /// The release a rollback left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) from: Option<String>,
    pub(crate) who: String,
    pub(crate) result: String,
    /// Where a failed deploy stopped: upload, build, migrate, switch, restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
    /// `passed` or `skipped` (`--skip-tests`), when [pipeline] has tests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tests: Option<String>,
    /// `<env> <release>` a promotion took its artifact from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) promoted_from: Option<String>,
    /// How long each phase of the deploy took, up to its finish.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) timings: Vec<PhaseTime>,
    /// The revision live before this entry, when it changed it: the
    /// entry brought `since..revision`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) since: Option<String>,
    /// The forge's page comparing `since` with `revision` (see `releases`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) compare: Option<String>,
}

/// One value of `ferry <env> config`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct ConfigValue {
    /// `deploy_to`, `vars.NAME`, `secrets.NAME`, `hosts`, …
    pub(crate) key: String,
    pub(crate) value: String,
    /// `default`, `PATH:LINE` in ferry.toml, `env FERRY_KEY`, `--set` or `-H`.
    pub(crate) origin: String,
}

/// An environment of ferry.toml, as `ferry -l` lists it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct EnvironmentInfo {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
}

/// A task `ferry -l` lists.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct TaskInfo {
    pub(crate) name: String,
    pub(crate) usage: String,
    pub(crate) description: String,
    /// ferry's own task, or the project's.
    pub(crate) builtin: bool,
    /// A task that only reads hosts never asks for confirmation.
    pub(crate) read_only: bool,
}

/// One host's line in the recap table.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub(crate) struct RecapRow {
    pub(crate) host: String,
    pub(crate) ok: usize,
    pub(crate) changed: usize,
    pub(crate) failed: usize,
    pub(crate) unreachable: usize,
    pub(crate) skipped: usize,
    /// Seconds.
    #[serde(serialize_with = "seconds")]
    #[schemars(with = "f64")]
    pub(crate) duration: Duration,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
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
        self.bytes_received += result.bytes_received;
    }
}

fn rfc3339<S: serde::Serializer>(at: &jiff::Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    // Always three digits, so the text sorts as the times do.
    serializer.collect_str(&at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((duration.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// The sending side, cloned into every host's work.
#[derive(Clone)]
pub(crate) struct Events {
    tx: mpsc::UnboundedSender<Stamped>,
    redactor: Redactor,
    verbose: u8,
}

impl Events {
    pub(crate) fn channel(
        redactor: Redactor,
        verbose: u8,
    ) -> (Self, mpsc::UnboundedReceiver<Stamped>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                tx,
                redactor,
                verbose,
            },
            rx,
        )
    }

    pub(crate) fn emit(&self, mut event: Event) {
        self.redact(&mut event);
        // The receiver only goes away after the run, when nobody emits.
        let _ = self.tx.send(Stamped { at: now(), event });
    }

    /// Whether the user asked to see each host's script and command (`-vv`):
    /// they are large, so they are not even made into events otherwise.
    pub(crate) fn wants_scripts(&self) -> bool {
        self.verbose >= 2
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
            Event::Services { services } => services.iter_mut().for_each(|s| {
                scrub(&mut s.state);
                scrub(&mut s.detail);
            }),
            Event::Output { line, .. } => scrub(line),
            Event::Script {
                command, script, ..
            } => {
                command.iter_mut().for_each(scrub);
                scrub(script);
            }
            Event::Releases {
                releases,
                lock,
                pending,
                ..
            } => {
                for release in releases {
                    release.note.as_mut().map(scrub);
                    release.reference.as_mut().map(scrub);
                }
                lock.as_mut().map(scrub);
                pending.as_mut().map(scrub);
            }
            Event::History { entries, .. } => entries.iter_mut().for_each(|e| {
                e.detail.as_mut().map(scrub);
            }),
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
            | Event::Released { .. }
            | Event::RunFinished { .. }
            | Event::Error { .. }
            | Event::Config { .. }
            | Event::Tasks { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    //! The `--json` contract: the committed schema is the one the types
    //! make, and every kind of event has a snapshot and passes the schema.

    use super::*;

    const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/events.schema.json");

    fn schema() -> serde_json::Value {
        let mut schema = serde_json::to_value(schemars::schema_for!(Envelope)).unwrap();
        schema["$id"] = "https://ferry.invalid/events.schema.json".into();
        schema["title"] = "ferry --json event, schema version 1".into();
        schema
    }

    /// Fails when the types changed and docs/events.schema.json did not;
    /// `FERRY_UPDATE_DOCS=1 cargo test --lib` rewrites it.
    #[test]
    fn the_committed_schema_is_generated_from_the_types() {
        let generated = serde_json::to_string_pretty(&schema()).unwrap() + "\n";
        if std::env::var_os("FERRY_UPDATE_DOCS").is_some() {
            std::fs::write(SCHEMA_FILE, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/events.schema.json is stale: run FERRY_UPDATE_DOCS=1 cargo test --lib"
        );
    }

    fn host_result(status: Status, message: Option<&str>) -> HostResult {
        HostResult {
            task: "deploy".into(),
            host: "web1".into(),
            status,
            message: message.map(Into::into),
            hint: None,
            duration: Duration::from_millis(1234),
            bytes_sent: 2048,
            bytes_received: 512,
        }
    }

    /// One event of every kind, as a run would emit it.
    fn samples() -> Vec<Event> {
        let s = |text: &str| text.to_string();
        vec![
            Event::RunStarted {
                environment: s("production"),
                tasks: vec![s("deploy")],
                hosts: vec![s("web1"), s("web2")],
            },
            Event::TaskStarted {
                task: s("deploy"),
                hosts: vec![s("web1"), s("web2")],
            },
            Event::Activity {
                host: s("web1"),
                activity: s("build: pip install -r requirements.txt"),
            },
            Event::Output {
                host: s("web1"),
                stream: Stream::Stdout,
                line: s("Successfully installed app"),
            },
            Event::Script {
                host: s("web1"),
                command: vec![s("ssh"), s("--"), s("web1"), s("sh"), s("-c"), s("…")],
                script: s("set -eu\nferry_say activity build\n"),
            },
            Event::HostFinished(host_result(Status::Changed, None)),
            Event::HostFinished(host_result(Status::Failed, Some("build exited with 1"))),
            Event::TaskFinished { task: s("deploy") },
            Event::Warning {
                message: s("the work tree has uncommitted changes (app.py)"),
            },
            Event::Services {
                services: vec![ServiceState {
                    host: s("web1"),
                    service: s("web"),
                    manager: s("supervisor"),
                    state: s("RUNNING"),
                    detail: s("pid 4242, uptime 0:01:02"),
                }],
            },
            Event::Releases {
                host: s("web1"),
                releases: vec![
                    ReleaseInfo {
                        id: s("20260101T120000Z"),
                        state: s("live"),
                        pinned_until: None,
                        revision: Some(s("0123456789")),
                        reference: Some(s("main")),
                        who: Some(s("ana@laptop")),
                        at: Some(s("2026-01-01T12:00:00Z")),
                        note: None,
                        since: Some(s("fedcba9876")),
                        compare: Some(s(
                            "https://github.com/org/app/compare/fedcba9876543210...0123456789abcdef",
                        )),
                    },
                    ReleaseInfo {
                        id: s("20251231T090000Z"),
                        state: s("unknown"),
                        pinned_until: None,
                        revision: None,
                        reference: None,
                        who: None,
                        at: None,
                        note: None,
                        since: None,
                        compare: None,
                    },
                ],
                lock: Some(s(
                    "locked by ana@laptop (pid 77) since 2026-01-01T12:00:00Z",
                )),
                pending: None,
            },
            Event::History {
                host: s("web1"),
                entries: vec![HistoryInfo {
                    at: s("2026-01-01T12:00:00Z"),
                    kind: s("deploy"),
                    release: s("20260101T120000Z"),
                    revision: Some(s("0123456789abcdef")),
                    from: None,
                    who: s("ana@laptop"),
                    result: s("ok"),
                    phase: None,
                    detail: None,
                    tests: Some(s("passed")),
                    promoted_from: Some(s("staging 20251231T090000Z")),
                    timings: vec![PhaseTime {
                        phase: s("build"),
                        seconds: 12.25,
                    }],
                    since: Some(s("fedcba9876543210")),
                    compare: Some(s(
                        "https://github.com/org/app/compare/fedcba9876543210...0123456789abcdef",
                    )),
                }],
            },
            Event::Released {
                task: s("deploy"),
                release: s("20260101T120000Z"),
                revision: Some(s("0123456789")),
                hosts: vec![s("web1"), s("web2")],
                live: true,
                timings: vec![
                    PhaseTime {
                        phase: s("lock"),
                        seconds: 0.412,
                    },
                    PhaseTime {
                        phase: s("upload"),
                        seconds: 1.5,
                    },
                ],
            },
            Event::Note {
                message: s("all 2 hosts are live on 20260101T120000Z"),
            },
            Event::Failed {
                message: s("deploy 20260101T120000Z stopped: nothing switched"),
            },
            Event::RunFinished {
                recap: vec![RecapRow {
                    host: s("web1"),
                    changed: 1,
                    duration: Duration::from_millis(1234),
                    bytes_sent: 2048,
                    bytes_received: 512,
                    ..RecapRow::default()
                }],
                interrupted: false,
                release: Some(s("20260101T120000Z")),
                duration: Duration::from_millis(2500),
            },
            Event::Error {
                message: s("unknown key `deplo_to`"),
                causes: Vec::new(),
                hints: vec![s("did you mean `deploy_to`?")],
                location: Some(s("ferry.toml:2:1")),
                exit_code: 2,
            },
            Event::Config {
                environment: s("production"),
                values: vec![
                    ConfigValue {
                        key: s("deploy_to"),
                        value: s("/srv/app"),
                        origin: s("/home/ana/app/ferry.toml:2"),
                    },
                    ConfigValue {
                        key: s("secrets.DJANGO_SECRET_KEY"),
                        value: s("********"),
                        origin: s("/home/ana/app/ferry.toml:9 (${DJANGO_SECRET_KEY})"),
                    },
                ],
            },
            Event::Tasks {
                tasks: vec![TaskInfo {
                    name: s("releases"),
                    usage: s("releases"),
                    description: s("List each host's releases"),
                    builtin: true,
                    read_only: true,
                }],
                environments: vec![EnvironmentInfo {
                    name: s("production"),
                    description: Some(s("the live site")),
                }],
                default_task: Some(s("deploy")),
            },
        ]
    }

    fn line(event: &Event) -> serde_json::Value {
        let at: jiff::Timestamp = "2026-01-01T12:00:00.123Z".parse().unwrap();
        serde_json::to_value(Envelope::new(at, event)).unwrap()
    }

    #[test]
    fn every_kind_of_event_has_a_snapshot_and_passes_the_schema() {
        let validator = jsonschema::validator_for(&schema()).unwrap();
        let lines: Vec<serde_json::Value> = samples().iter().map(line).collect();
        for line in &lines {
            let errors: Vec<String> = validator.iter_errors(line).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{line}: {errors:?}");
        }
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        insta::assert_snapshot!(text.join("\n"));
    }

    /// The samples above cover every kind the schema knows: a new kind of
    /// event cannot ship without its snapshot.
    #[test]
    fn the_samples_cover_every_kind_in_the_schema() {
        fn kinds(value: &serde_json::Value, found: &mut Vec<String>) {
            if let Some(kind) = value.pointer("/properties/event/const") {
                found.push(kind.as_str().unwrap().to_string());
            }
            match value {
                serde_json::Value::Object(map) => map.values().for_each(|v| kinds(v, found)),
                serde_json::Value::Array(items) => items.iter().for_each(|v| kinds(v, found)),
                _ => {}
            }
        }
        let mut in_schema = Vec::new();
        kinds(&schema(), &mut in_schema);
        in_schema.sort();
        in_schema.dedup();
        let mut sampled: Vec<String> = samples()
            .iter()
            .map(|e| line(e)["event"].as_str().unwrap().to_string())
            .collect();
        sampled.sort();
        sampled.dedup();
        assert_eq!(sampled, in_schema);
    }

    #[test]
    fn a_line_carries_the_version_and_the_time() {
        let line = line(&Event::TaskFinished { task: "x".into() });
        assert_eq!(line["v"], 1);
        assert_eq!(line["ts"], "2026-01-01T12:00:00.123Z");
        assert_eq!(line["event"], "task_finished");
    }
}
