//! Running a deploy plan, phase by phase under the lock: upload, build,
//! migrate, switch, restart with health checks in batches, finish. Each
//! phase is one script per host on all hosts at once; the next starts only
//! when every host finished this one. Every script goes to the host through
//! the lock's keeper (`Locked::run`): a deploy is one session per host. A
//! failure before the switch leaves `current` untouched everywhere; a
//! failed health check puts every switched host back. Progress is recorded
//! on the hosts, so `deploy:resume=yes` picks up where a run stopped, on
//! the hosts that need it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Mutex;

use super::artifact::Artifact;
use crate::container::Image;

use super::deploy::{DeployPlan, Mode};
use super::locked::Locked;
use super::record::{Pending, ReleaseRecord, State};
use super::resume::{new_pending, progress_of, resumable, resume_artifact, resume_image};
use super::steps;
use super::survey::{Survey, Takeover};
use super::upload::{self, Extras, Payloads};
use super::whereabouts::{Fault, Seen};
use super::{days_from_now, new_release_id};
use crate::event::{PhaseTime, Status};
use crate::fanout::{Done, Fanout, Gate, Outcome};
use crate::inventory::Host;
use crate::transport::{Payload, Request};

/// The calls of the scripts a deploy sends the lock's keepers (upload,
/// switch, finish): their functions go once, with the survey, and the
/// scripts carry only what is theirs.
pub(super) const AHEAD: &[&str] = &[
    "ferry_upload_begin",
    "ferry_assemble",
    "ferry_put",
    "ferry_upload_end",
    "ferry_switch",
    "ferry_health",
    "ferry_write",
    "ferry_history",
    "ferry_done",
    "ferry_remove",
];

impl DeployPlan {
    pub(crate) async fn execute(&self, hosts: &[&Host], fanout: &Fanout) {
        for warning in self.artifact.iter().flat_map(|a| &a.warnings) {
            fanout.events.warn(warning.clone());
        }
        if self.check {
            return super::preview::run(self, hosts, fanout).await;
        }
        let name = self.mode.name();
        let what = format!("{name} of {}", self.reference);
        let started = std::time::Instant::now();
        let Some(locked) = Locked::take(
            fanout,
            name,
            hosts,
            &self.layout,
            &self.env,
            &what,
            if self.resume {
                Takeover::Resume
            } else {
                Takeover::No
            },
            true,
            AHEAD,
        )
        .await
        else {
            fanout.fail(format!(
                "{name} did not start: not every host could be locked; nothing changed"
            ));
            return;
        };
        let lock_took = started.elapsed();
        if let Some(mut run) = Run::begin(self, &locked, fanout).await {
            run.took("lock", lock_took);
            run.go().await;
        }
        locked.release(fanout).await;
    }
}

/// Where one host stands in this deploy.
#[derive(Debug, Clone, Default)]
pub(super) struct Progress {
    pub(super) uploaded: bool,
    pub(super) built: bool,
    pub(super) migrated: bool,
    /// Where `current` points now, as the host last reported.
    pub(super) current: Option<String>,
    /// A script that moves `current` lost its connection before it said
    /// where it points: only the host can tell now.
    pub(super) unknown: bool,
    /// Where it pointed before this deploy.
    pub(super) previous: Option<String>,
    pub(super) deployed: bool,
    /// Switched and restarted (and healthy) in this run.
    pub(super) restarted: bool,
    /// Deployed, and its finish written: nothing left pending for it here.
    pub(super) finished: bool,
}

pub(super) struct Run<'a, 'h> {
    pub(super) plan: &'a DeployPlan,
    pub(super) fanout: &'a Fanout,
    pub(super) hosts: Vec<&'h Host>,
    pub(super) surveys: &'a BTreeMap<String, Survey>,
    /// The lock; the finish runs in its keepers' sessions.
    pub(super) locked: &'a Locked<'h>,
    pub(super) artifact: Cow<'a, Artifact>,
    /// A container release's image: the plan's, or the one a resumed deploy began with.
    pub(super) image: Option<Cow<'a, Image>>,
    pub(super) id: String,
    pub(super) record: ReleaseRecord,
    pub(super) pending: Pending,
    pub(super) progress: BTreeMap<String, Progress>,
    /// What scripts reported about `current`, until `settle` takes it in.
    pub(super) seen: Mutex<BTreeMap<String, Seen>>,
    /// Every host's failures, in the order they came.
    pub(super) faults: Mutex<Vec<Fault>>,
    /// How long each phase took so far, in the order they ran.
    pub(super) timings: Mutex<Vec<PhaseTime>>,
}

impl<'a, 'h> Run<'a, 'h> {
    /// Decide the release: a new id, or the pending deploy's when resuming.
    async fn begin(
        plan: &'a DeployPlan,
        locked: &'a Locked<'h>,
        fanout: &'a Fanout,
    ) -> Option<Self> {
        let surveys = &locked.surveys;
        let mut image = plan.image.as_ref().map(Cow::Borrowed);
        let (artifact, pending) = if plan.resume {
            let pending = resumable(plan, surveys, fanout)?;
            if plan.deploy.container.is_some() {
                let (artifact, resumed) = resume_image(plan, &pending, locked, fanout).await?;
                image = Some(Cow::Owned(resumed));
                (Cow::Owned(artifact), pending)
            } else {
                (
                    Cow::Owned(resume_artifact(plan, &pending, fanout)?),
                    pending,
                )
            }
        } else {
            let artifact = plan.artifact.as_ref().expect("planned with an artifact");
            for (host, survey) in surveys {
                if let Some(old) = &survey.pending {
                    fanout.events.warn(format!(
                        "{host}: the unfinished {} of {} by {} is abandoned for this one",
                        old.kind, old.release, old.origin.who
                    ));
                }
            }
            let newest = surveys.values().filter_map(Survey::newest).max();
            (
                Cow::Borrowed(artifact),
                new_pending(plan, artifact, new_release_id(newest)),
            )
        };
        let id = pending.release.clone();
        let record = pending.record(match plan.mode {
            Mode::Setup {
                keep_days: Some(days),
            } => Some(days_from_now(days)),
            _ => None,
        });
        let progress = surveys
            .iter()
            .map(|(host, survey)| (host.clone(), progress_of(survey, &id)))
            .collect();
        Some(Self {
            plan,
            fanout,
            hosts: locked.hosts.clone(),
            surveys,
            locked,
            artifact,
            image,
            id,
            record,
            pending,
            progress,
            seen: Mutex::default(),
            faults: Mutex::default(),
            timings: Mutex::default(),
        })
    }

    async fn go(&mut self) {
        if !(self.upload().await && self.ship().await && self.build().await && self.migrate().await)
        {
            return self.stopped().await;
        }
        if let Mode::Setup { .. } = self.plan.mode {
            return self.finish().await;
        }
        if self.roll_out().await {
            self.finish().await;
        }
    }

    pub(super) fn task(&self, phase: &str) -> String {
        format!("{}/{phase}", self.plan.mode.name())
    }

    pub(super) fn hosts_where(&self, need: impl Fn(&Progress) -> bool) -> Vec<&'h Host> {
        self.hosts
            .iter()
            .copied()
            .filter(|h| need(&self.progress[&h.label]))
            .collect()
    }

    /// The record as this host should hold it, in `state`.
    pub(super) fn record_json(&self, host: &str, state: State, note: Option<&str>) -> String {
        let mut record = self.record.clone();
        record.state = state;
        record.migrated = self.progress.get(host).is_some_and(|p| p.migrated);
        record.note = note.map(str::to_string);
        record.json()
    }

    /// Apply what a phase achieved; false if any host failed.
    pub(super) fn advance<T>(
        &mut self,
        done: Vec<Done<'h, T>>,
        apply: impl Fn(&mut Progress, T),
    ) -> bool {
        self.settle();
        let mut ok = true;
        for d in done {
            match (d.status, d.data) {
                (Status::Ok | Status::Changed, Some(data)) => apply(
                    self.progress.get_mut(&d.host.label).expect("surveyed"),
                    data,
                ),
                _ => ok = false,
            }
        }
        ok
    }

    async fn upload(&mut self) -> bool {
        let hosts = self.hosts_where(|p| !p.uploaded);
        // The next survey then needs only this manifest's digest back.
        super::known::remember(&self.artifact.manifest.text());
        let mut payloads = Payloads::default();
        let mut uploads = BTreeMap::new();
        for host in &hosts {
            let plan = &self.plan.hosts[&host.label];
            // With nothing to build, the release is built as soon as it is uploaded.
            let state =
                if plan.build.is_empty() && plan.after_upload.is_empty() && plan.venv.is_none() {
                    State::Built
                } else {
                    State::Uploaded
                };
            let pending = Pending {
                previous: self.progress[&host.label].current.clone(),
                ..self.pending.clone()
            };
            let (release_json, pending_json) = (
                self.record_json(&host.label, state, None),
                serde_json::to_string(&pending).expect("serializable"),
            );
            let extras = Extras {
                id: &self.id,
                release_json: &release_json,
                pending_json: &pending_json,
                shared_files: &self.plan.deploy.shared_files,
                shared_dirs: &self.plan.deploy.shared_dirs,
                copy_from_current: &self.plan.deploy.copy_from_current,
                dotenv: plan.dotenv.as_ref(),
            };
            let upload = match upload::plan(
                self.artifact.as_ref(),
                &self.surveys[&host.label],
                &self.plan.layout,
                &extras,
                &mut payloads,
            ) {
                Ok(upload) => upload,
                Err(e) => {
                    self.fanout.fail(format!(
                        "cannot read the files of {} to send them: {e}; nothing was sent",
                        self.id
                    ));
                    return false;
                }
            };
            uploads.insert(host.label.clone(), (upload, state));
        }
        let (uploads, fanout, this, task) = (&uploads, self.fanout, &*self, &self.task("upload"));
        let started = std::time::Instant::now();
        let done = fanout
            .collect(task, &hosts, Gate::Policy, |host| async move {
                let (upload, state) = &uploads[&host.label];
                let request = Request {
                    payload: Payload::Bytes(upload.payload.clone()),
                    quiet: true,
                    ..Request::script(upload.script.clone())
                };
                let ran = this.locked.run(fanout, host, request).await;
                let outcome = ran.outcome(&[], Status::Changed);
                this.witness(task, host, &ran, &outcome);
                let sent = format!(
                    "{}, {} before compression",
                    crate::units::plural(upload.files_sent, "changed file"),
                    crate::units::bytes(upload.bytes_of_files)
                );
                (with_message(outcome, sent), *state)
            })
            .await;
        self.took("upload", started.elapsed());
        self.advance(done, |progress, state| {
            progress.uploaded = true;
            progress.built = state == State::Built;
        })
    }

    async fn build(&mut self) -> bool {
        let hosts = self.hosts_where(|p| !p.built);
        let scripts: BTreeMap<String, (String, Vec<String>)> = hosts
            .iter()
            .map(|host| {
                let plan = &self.plan.hosts[&host.label];
                // `after_upload` hooks first, in the same script.
                let hooks = plan.after_upload.clone().with_facts(&self.hook_facts(host));
                let record = self.record_json(&host.label, State::Built, None);
                let mut script = self.plan.layout.script();
                steps::build(
                    &mut script,
                    &self.id,
                    &self.plan.secrets,
                    &hooks,
                    plan.venv.as_ref(),
                    &plan.build,
                    Some(&record),
                );
                let labels = steps::build_labels(&hooks, plan.venv.as_ref(), &plan.build);
                (host.label.clone(), (script.build(), labels))
            })
            .collect();
        let done = self
            .run_scripts(&self.task("build"), &hosts, &scripts, Status::Changed)
            .await;
        self.advance(done, |progress, ()| progress.built = true)
    }

    async fn migrate(&mut self) -> bool {
        let already = self.progress.values().any(|p| p.migrated);
        let Some(label) = self
            .plan
            .migrate_host
            .as_ref()
            .filter(|_| self.plan.mode == Mode::Deploy && !already)
        else {
            return true;
        };
        let Some(host) = self.hosts.iter().copied().find(|h| h.label == *label) else {
            return true;
        };
        let commands = &self.plan.hosts[label].migrate;
        let mut record = self.record.clone();
        (record.state, record.migrated) = (State::Built, true);
        let mut script = self.plan.layout.script();
        steps::in_release(
            &mut script,
            &self.id,
            &self.plan.secrets,
            commands,
            Some(&record.json()),
        );
        let scripts = BTreeMap::from([(label.clone(), (script.build(), commands.labels()))]);
        let done = self
            .run_scripts(&self.task("migrate"), &[host], &scripts, Status::Changed)
            .await;
        self.advance(done, |progress, ()| progress.migrated = true)
    }

    /// Switch and restart, `serial` hosts at a time, each host in one
    /// script: `before_switch`, `current` moved, `after_switch`, the restart
    /// and the health check. Hosts with nothing to restart go with the
    /// first batch. A failure after a host moved `current` (or in a hooked
    /// switch) puts every switched host back; a host lost before it moved
    /// stops the deploy, for resume to finish.
    async fn roll_out(&mut self) -> bool {
        for group in self.batches() {
            let scripts = self.roll_out_scripts(&group);
            let done = self
                .run_scripts(&self.task("switch"), &group, &scripts, Status::Changed)
                .await;
            let failed: Vec<String> = done
                .iter()
                .filter(|d| d.status.is_failure() || d.status == Status::Skipped)
                .map(|d| d.host.label.clone())
                .collect();
            let id = self.id.clone();
            self.advance(done, |progress, ()| {
                progress.current = Some(id.clone());
                progress.restarted = true;
            });
            if !failed.is_empty() {
                self.batch_failed(&failed).await;
                return false;
            }
        }
        true
    }

    /// The roll-out's batches: `serial` hosts with something to restart at
    /// a time, the hosts with nothing to restart in the first.
    fn batches(&self) -> Vec<Vec<&'h Host>> {
        let plans = &self.plan.hosts;
        let (restarting, quiet): (Vec<&'h Host>, Vec<&'h Host>) = self
            .hosts_where(|p| !p.deployed)
            .into_iter()
            .partition(|h| plans[&h.label].restarts_anything());
        let batch = self.plan.serial.batch(restarting.len());
        let mut groups: Vec<Vec<&'h Host>> = restarting.chunks(batch).map(<[_]>::to_vec).collect();
        match groups.first_mut() {
            Some(first) => first.extend(quiet),
            None => groups.push(quiet),
        }
        groups.retain(|g| !g.is_empty());
        groups
    }

    /// After a batch failed on `failed`: a host that moved `current` and
    /// then failed its restart or health check puts every switched host
    /// back; so does a failed switch hook once any host moved; otherwise
    /// the deploy stops where it is.
    async fn batch_failed(&mut self, failed: &[String]) {
        let hooks_failed = self.switch_hook_failures();
        let restart_failed: Vec<&str> = failed
            .iter()
            .filter(|host| {
                let p = &self.progress[*host];
                !p.unknown && p.current.as_deref() == Some(self.id.as_str())
            })
            .filter(|host| !hooks_failed.contains(host))
            .map(String::as_str)
            .collect();
        if !restart_failed.is_empty() {
            let reason = format!(
                "health check or restart failed on {}",
                restart_failed.join(", ")
            );
            self.put_back(&reason).await;
        } else if self.hooked_switch_moved() {
            let reason = format!("a switch hook failed on {}", hooks_failed.join(", "));
            self.put_back(&reason).await;
        } else {
            self.stopped().await;
        }
    }

    /// Each host's script for `roll_out`, with its steps' labels: the
    /// switch (with its hooks) where `current` is not on the release yet,
    /// then the restart and health check where there is anything to restart.
    fn roll_out_scripts(&self, hosts: &[&Host]) -> BTreeMap<String, (String, Vec<String>)> {
        hosts
            .iter()
            .map(|host| {
                let plan = &self.plan.hosts[&host.label];
                let mut script = self.plan.layout.script();
                let mut labels = Vec::new();
                if self.progress[&host.label].current.as_deref() != Some(self.id.as_str()) {
                    labels = self.switch_part(&mut script, host);
                }
                if plan.restarts_anything() {
                    let health = plan.health.as_ref().map(|h| (h, &self.plan.timing));
                    steps::restart_after(
                        &mut script,
                        labels.len(),
                        &self.plan.secrets,
                        &plan.switches,
                        &plan.restarts,
                        health,
                    );
                    labels.extend(plan.restarts.labels());
                }
                (host.label.clone(), (script.build(), labels))
            })
            .collect()
    }

    pub(super) fn restart_scripts(
        &self,
        hosts: &[&Host],
        with_health: bool,
    ) -> BTreeMap<String, (String, Vec<String>)> {
        hosts
            .iter()
            .map(|host| {
                let plan = &self.plan.hosts[&host.label];
                let health = plan
                    .health
                    .as_ref()
                    .filter(|_| with_health)
                    .map(|h| (h, &self.plan.timing));
                let mut script = self.plan.layout.script();
                steps::restart(
                    &mut script,
                    &self.plan.secrets,
                    &plan.switches,
                    &plan.restarts,
                    health,
                );
                (host.label.clone(), (script.build(), plan.restarts.labels()))
            })
            .collect()
    }

    pub(super) async fn run_scripts(
        &self,
        task: &str,
        hosts: &[&'h Host],
        scripts: &BTreeMap<String, (String, Vec<String>)>,
        success: Status,
    ) -> Vec<Done<'h, ()>> {
        self.run_scripts_gated(task, hosts, scripts, success, Gate::Policy)
            .await
    }

    pub(super) async fn run_scripts_gated(
        &self,
        task: &str,
        hosts: &[&'h Host],
        scripts: &BTreeMap<String, (String, Vec<String>)>,
        success: Status,
        gate: Gate,
    ) -> Vec<Done<'h, ()>> {
        if hosts.is_empty() {
            return Vec::new();
        }
        let (fanout, locked, timeout) = (self.fanout, self.locked, self.plan.timeout);
        self.each_script(
            task,
            hosts,
            scripts,
            success,
            gate,
            |host, script, steps| {
                let request = Request {
                    timeout,
                    // No step of the user's: ferry's own work (a switch without
                    // restarts), whose output may wait for its end.
                    quiet: steps.is_empty(),
                    ..Request::script(script.to_string())
                };
                locked.run(fanout, host, request)
            },
        )
        .await
    }

    /// Each host's script run by `run`, on all hosts at once: its outcome
    /// witnessed (see `whereabouts`), the phase timed.
    async fn each_script<'s, F, Fut>(
        &self,
        task: &str,
        hosts: &[&'h Host],
        scripts: &'s BTreeMap<String, (String, Vec<String>)>,
        success: Status,
        gate: Gate,
        run: F,
    ) -> Vec<Done<'h, ()>>
    where
        F: Fn(&'h Host, &'s str, &'s [String]) -> Fut,
        Fut: std::future::Future<Output = crate::fanout::Ran>,
    {
        if hosts.is_empty() {
            return Vec::new();
        }
        let (fanout, run) = (self.fanout, &run);
        let started = std::time::Instant::now();
        let done = fanout
            .collect(task, hosts, gate, |host| async move {
                let (script, labels) = &scripts[&host.label];
                let ran = run(host, script, labels).await;
                let outcome = ran.outcome(labels, success);
                self.witness(task, host, &ran, &outcome);
                (outcome, ())
            })
            .await;
        self.took(task.rsplit('/').next().unwrap_or(task), started.elapsed());
        done
    }
}

impl<'h> Run<'_, 'h> {
    /// Each host's last script, run in its keeper's session, which lets go
    /// of the lock right after it: no session of its own. A host without a
    /// keeper runs it in a session of its own.
    pub(super) async fn run_last(
        &self,
        task: &str,
        hosts: &[&'h Host],
        scripts: &BTreeMap<String, (String, Vec<String>)>,
        success: Status,
    ) -> Vec<Done<'h, ()>> {
        let (fanout, locked) = (self.fanout, self.locked);
        self.each_script(
            task,
            hosts,
            scripts,
            success,
            Gate::Always,
            |host, script, _| locked.last(fanout, host, script),
        )
        .await
    }
}

pub(super) fn with_message(outcome: Outcome, message: String) -> Outcome {
    if outcome.status == Status::Changed {
        outcome.message(message)
    } else {
        outcome
    }
}
