//! Fan-out: one task's work on many hosts at once, at most `parallel` at a
//! time. A failed host is data, not an early return: its outcome is recorded,
//! and the failure policy decides what the others do — `stop` starts nothing
//! new once a host failed (what runs finishes), `continue` only drops the
//! failed host from later tasks. Ctrl-C acts like `stop`. The recap and the
//! exit code are built from these records alone.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::OnFailure;
use crate::event::{Event, Events, HostResult, RecapRow, Status};
use crate::inventory::Host;
use crate::protocol::Marker;
use crate::transport::{Incoming, Pool, Request, Response, Stream, TransportError};

/// How one host's work ended, before timing and bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) status: Status,
    pub(crate) message: Option<String>,
    pub(crate) hint: Option<String>,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
}

impl Outcome {
    pub(crate) fn new(status: Status) -> Self {
        Self {
            status,
            message: None,
            hint: None,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::new(Status::Failed).message(message)
    }

    pub(crate) fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub(crate) fn hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// A transport error: no connection means unreachable, a lost one too
    /// (we cannot know how far the script got), a timeout is a failure.
    pub(crate) fn from_transport(error: &TransportError) -> Self {
        let status = match error {
            TransportError::Unreachable { .. } | TransportError::Lost(_) => Status::Unreachable,
            TransportError::Timeout(_) | TransportError::Protocol(_) | TransportError::Local(_) => {
                Status::Failed
            }
        };
        Self::new(status)
            .message(error.to_string())
            .hint(error.hint().map(str::to_string))
    }
}

/// Whether a job starts once the run is stopping (a failure under
/// `on_failure = "stop"`, or Ctrl-C).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Policy,
    Always,
}

/// One host's end of a `collect`: its status, and the job's data unless it was skipped.
pub(crate) struct Done<'h, T> {
    pub(crate) host: &'h Host,
    pub(crate) status: Status,
    pub(crate) data: Option<T>,
}

/// What a script run left behind: its response, the reports it sent, and
/// the last lines of output (for a failure message when output is hidden).
pub(crate) struct Ran {
    pub(crate) response: Result<Response, TransportError>,
    pub(crate) markers: Vec<Marker>,
    pub(crate) tail: Vec<String>,
}

const TAIL_LINES: usize = 5;

impl Ran {
    /// The outcome of a script: `success` when it exited 0; otherwise what
    /// it reported (`ferry_fail`), or the step that failed (see
    /// `Script::step`, `steps` names them), with the last line it printed.
    pub(crate) fn outcome(&self, steps: &[String], success: Status) -> Outcome {
        let response = match &self.response {
            Ok(response) => response,
            Err(error) => return Outcome::from_transport(error),
        };
        let outcome = if response.code == 0 {
            Outcome::new(success)
        } else {
            Outcome::failed(self.failure(steps, response.code))
        };
        Outcome {
            bytes_sent: response.bytes_sent,
            bytes_received: response.bytes_received,
            ..outcome
        }
    }

    /// The first report `pick` recognises.
    pub(crate) fn find<'a, T>(&'a self, pick: impl Fn(&'a Marker) -> Option<T>) -> Option<T> {
        self.markers.iter().find_map(pick)
    }

    /// Why the script gave up, in its own words (`ferry_fail`).
    pub(crate) fn error(&self) -> Option<&str> {
        self.find(|m| match m {
            Marker::Error(text) => Some(text.as_str()),
            _ => None,
        })
    }

    fn failure(&self, steps: &[String], code: i32) -> String {
        if let Some(error) = self.error() {
            return error.to_string();
        }
        if let Some(body) = self.find(|m| match m {
            Marker::Unhealthy(body) => Some(body),
            _ => None,
        }) {
            return format!(
                "health check failed: {}",
                if body.is_empty() { "no answer" } else { body }
            );
        }
        let failed_step = self.find(|m| match m {
            Marker::Failed { step, code } => Some((*step, *code)),
            _ => None,
        });
        let mut message = match failed_step {
            Some((index, code)) => format!(
                "step {index} `{}` {}",
                steps.get(index.wrapping_sub(1)).map_or("", String::as_str),
                exited(code)
            ),
            None => exited(code),
        };
        if let Some(line) = self.tail.last().filter(|l| !l.trim().is_empty()) {
            message.push_str(": ");
            message.push_str(line.trim());
        }
        message
    }
}

/// An exit code in words: the shell's conventions for 126, 127 and signals.
fn exited(code: i32) -> String {
    match code {
        126 => "could not run a command (exit 126: not executable)".into(),
        127 => "exited with 127 (command not found)".into(),
        129.. => format!("was killed by signal {} (exit {code})", code - 128),
        _ => format!("exited with {code}"),
    }
}

#[derive(Default)]
struct State {
    /// Hosts out of the run after failing, with the status that took them out.
    dropped: BTreeMap<String, Status>,
    /// Set when the `stop` policy fired: the host that failed first.
    stopped_by: Option<String>,
    /// The run failed as a whole (a deploy stopped, a lock refused).
    failed: bool,
    recap: Vec<RecapRow>,
    /// The release the run made live or prepared last.
    release: Option<String>,
}

pub(crate) struct Fanout {
    pub(crate) pool: Arc<Pool>,
    pub(crate) events: Events,
    parallel: usize,
    policy: OnFailure,
    cancel: CancellationToken,
    state: Mutex<State>,
    started: Instant,
}

/// The end of a run, as the exit code needs it.
pub(crate) struct Summary {
    pub(crate) any_failure: bool,
    pub(crate) interrupted: bool,
}

impl Fanout {
    /// `hosts` fixes the order of the recap: the environment's, not the finishing order.
    pub(crate) fn new(
        hosts: &[Host],
        pool: Arc<Pool>,
        events: Events,
        parallel: u32,
        policy: OnFailure,
        cancel: CancellationToken,
    ) -> Self {
        let recap = hosts
            .iter()
            .map(|h| RecapRow {
                host: h.label.clone(),
                ..RecapRow::default()
            })
            .collect();
        Self {
            pool,
            events,
            parallel: parallel as usize,
            policy,
            cancel,
            state: Mutex::new(State {
                recap,
                ..State::default()
            }),
            started: Instant::now(),
        }
    }

    /// Hosts still in the run (not dropped by an earlier failure).
    pub(crate) fn live<'h>(&self, hosts: &'h [Host]) -> Vec<&'h Host> {
        let state = self.state.lock().expect("not poisoned");
        hosts
            .iter()
            .filter(|h| !state.dropped.contains_key(&h.label))
            .collect()
    }

    /// Run `job` for each host, at most `parallel` at once; record each outcome.
    pub(crate) async fn each<'h, F, Fut>(
        &self,
        task: &str,
        hosts: &[&'h Host],
        job: F,
    ) -> Vec<(&'h Host, Status)>
    where
        F: Fn(&'h Host) -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let job = &job;
        let done = self
            .collect(task, hosts, Gate::Policy, |host| async move {
                (job(host).await, ())
            })
            .await;
        done.into_iter().map(|d| (d.host, d.status)).collect()
    }

    /// Like `each`, for jobs that also bring data back (what a survey found).
    /// `Gate::Always` runs even after a failure or Ctrl-C: putting hosts back
    /// and releasing locks must not be skipped.
    pub(crate) async fn collect<'h, T, F, Fut>(
        &self,
        task: &str,
        hosts: &[&'h Host],
        gate: Gate,
        job: F,
    ) -> Vec<Done<'h, T>>
    where
        F: Fn(&'h Host) -> Fut,
        Fut: Future<Output = (Outcome, T)>,
    {
        self.events.emit(Event::TaskStarted {
            task: task.to_string(),
            hosts: hosts.iter().map(|h| h.label.clone()).collect(),
        });
        let permits = Semaphore::new(self.parallel);
        let work = hosts.iter().map(|&host| {
            let (permits, job) = (&permits, &job);
            async move {
                let _permit = permits.acquire().await.expect("never closed");
                let started = Instant::now();
                let skip = if gate == Gate::Policy {
                    self.skip_reason()
                } else {
                    None
                };
                let (outcome, data) = match skip {
                    Some(reason) => (Outcome::new(Status::Skipped).message(reason), None),
                    None => {
                        let (outcome, data) = job(host).await;
                        (outcome, Some(data))
                    }
                };
                let status = self.record(task, host, outcome, started.elapsed());
                Done { host, status, data }
            }
        });
        let results = futures_util::future::join_all(work).await;
        self.events.emit(Event::TaskFinished {
            task: task.to_string(),
        });
        results
    }

    /// Run a script on a host, streaming its output as events.
    pub(crate) async fn script(&self, host: &Host, request: Request) -> Ran {
        run_script(&self.pool, &self.events, host, request, None).await
    }

    /// Run a script in the background, for sessions that outlive a phase
    /// (the deploy lock's keeper); each report is also sent to `watch` as
    /// it arrives.
    pub(crate) fn spawn_script(
        &self,
        host: &Host,
        request: Request,
        watch: mpsc::UnboundedSender<Marker>,
    ) -> tokio::task::JoinHandle<Ran> {
        let (pool, events, host) = (self.pool.clone(), self.events.clone(), host.clone());
        tokio::spawn(async move { run_script(&pool, &events, &host, request, Some(watch)).await })
    }

    /// Show a script about to run on `host` (`-vv`), for a script that goes
    /// through a session already open (the keeper's).
    pub(crate) fn show_script(&self, host: &Host, script: &str) {
        show_script(&self.pool, &self.events, host, script);
    }

    /// Whether anything failed so far: a host, or the run as a whole.
    pub(crate) fn any_failure(&self) -> bool {
        let state = self.state.lock().expect("not poisoned");
        state.failed || !state.dropped.is_empty()
    }

    /// The run failed as a whole, beyond any one host's outcome: say why,
    /// and make the exit code say so.
    pub(crate) fn fail(&self, message: String) {
        self.state.lock().expect("not poisoned").failed = true;
        self.events.emit(Event::Failed { message });
    }

    /// What the recap's `live` column says for `host` (set at the end of a
    /// deploy, from what the host reported).
    pub(crate) fn set_live(&self, host: &str, text: String) {
        let mut state = self.state.lock().expect("not poisoned");
        if let Some(row) = state.recap.iter_mut().find(|row| row.host == host) {
            row.live = Some(text);
        }
    }

    /// A release went live or was prepared: say so, and remember it for the
    /// run's last event.
    pub(crate) fn released(&self, event: Event) {
        if let Event::Released { release, .. } = &event {
            self.state.lock().expect("not poisoned").release = Some(release.clone());
        }
        self.events.emit(event);
    }

    /// The host whose failure fired the `stop` policy: no further task may start.
    pub(crate) fn stopped_by(&self) -> Option<String> {
        self.state.lock().expect("not poisoned").stopped_by.clone()
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves on Ctrl-C: for work that runs until the user stops it
    /// (following logs), where finishing on its own would mean never.
    pub(crate) async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    fn skip_reason(&self) -> Option<String> {
        if self.cancel.is_cancelled() {
            return Some("not started: interrupted".into());
        }
        let state = self.state.lock().expect("not poisoned");
        state
            .stopped_by
            .as_ref()
            .map(|host| format!("not started: {host} failed and on_failure = \"stop\""))
    }

    fn record(&self, task: &str, host: &Host, outcome: Outcome, duration: Duration) -> Status {
        let result = HostResult {
            task: task.to_string(),
            host: host.label.clone(),
            status: outcome.status,
            message: outcome.message,
            hint: outcome.hint,
            duration,
            bytes_sent: outcome.bytes_sent,
            bytes_received: outcome.bytes_received,
        };
        let mut state = self.state.lock().expect("not poisoned");
        if result.status.is_failure() {
            state.dropped.insert(host.label.clone(), result.status);
            if self.policy == OnFailure::Stop && state.stopped_by.is_none() {
                state.stopped_by = Some(host.label.clone());
            }
        }
        match state.recap.iter_mut().find(|row| row.host == result.host) {
            Some(row) => row.count(&result),
            None => {
                let mut row = RecapRow {
                    host: result.host.clone(),
                    ..RecapRow::default()
                };
                row.count(&result);
                state.recap.push(row);
            }
        }
        drop(state);
        let status = result.status;
        self.events.emit(Event::HostFinished(result));
        status
    }

    /// Close connections, emit the recap, and say how the run ended.
    pub(crate) async fn finish(self) -> Summary {
        self.pool.close().await;
        let state = self.state.into_inner().expect("not poisoned");
        let interrupted = self.cancel.is_cancelled();
        // Hosts a stopped run never reached stay out of the table.
        let recap = state
            .recap
            .into_iter()
            .filter(|row| row.tasks() > 0)
            .collect();
        self.events.emit(Event::RunFinished {
            recap,
            interrupted,
            release: state.release.clone(),
            duration: self.started.elapsed(),
        });
        Summary {
            any_failure: state.failed || !state.dropped.is_empty(),
            interrupted,
        }
    }
}

fn show_script(pool: &Pool, events: &Events, host: &Host, script: &str) {
    if events.wants_scripts() {
        events.emit(Event::Script {
            host: host.label.clone(),
            command: pool.command_line(host),
            script: script.to_string(),
        });
    }
}

async fn run_script(
    pool: &Pool,
    events: &Events,
    host: &Host,
    request: Request,
    watch: Option<mpsc::UnboundedSender<Marker>>,
) -> Ran {
    let collected = Mutex::new((Vec::new(), VecDeque::new()));
    let sink = |incoming: Incoming| {
        let mut collected = collected.lock().expect("not poisoned");
        match incoming {
            Incoming::Marker(marker) => {
                if let Marker::Activity(activity) = &marker {
                    events.emit(Event::Activity {
                        host: host.label.clone(),
                        activity: activity.clone(),
                    });
                }
                if let Some(watch) = &watch {
                    let _ = watch.send(marker.clone());
                }
                collected.0.push(marker);
            }
            Incoming::Line(line) => {
                if collected.1.len() == TAIL_LINES {
                    collected.1.pop_front();
                }
                collected.1.push_back(line.clone());
                events.output(&host.label, Stream::Stdout, line);
            }
        }
    };
    show_script(pool, events, host, &request.script);
    let response = pool.run(host, &request, &sink).await;
    let (markers, tail) = collected.into_inner().expect("not poisoned");
    Ran {
        response,
        markers,
        tail: tail.into(),
    }
}
