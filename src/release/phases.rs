//! Running a deploy plan, phase by phase under the lock: upload, build,
//! migrate, switch, restart with health checks in batches, finish. Each
//! phase is one script per host on all hosts at once; the next starts only
//! when every host finished this one. A failure before the switch leaves
//! `current` untouched everywhere; a failed health check puts every switched
//! host back. Progress is recorded on the hosts, so `deploy:resume=yes`
//! picks up where a run stopped, on the hosts that need it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::artifact::Artifact;
use super::cleanup;
use super::deploy::{DeployPlan, Mode, build_artifact};
use super::locked::Locked;
use super::record::{HistoryEntry, Pending, ReleaseRecord, State};
use super::steps;
use super::survey::Survey;
use super::upload::{self, Extras, Payloads};
use super::{days_from_now, new_release_id, now, who};
use crate::event::Status;
use crate::fanout::{Done, Fanout, Gate, Outcome};
use crate::inventory::Host;
use crate::transport::{Payload, Request};

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
        let Some(locked) = Locked::take(
            fanout,
            name,
            hosts,
            &self.layout,
            &self.env,
            &what,
            self.resume,
            true,
        )
        .await
        else {
            fanout.fail(format!(
                "{name} did not start: not every host could be locked; nothing changed"
            ));
            return;
        };
        if let Some(mut run) = Run::begin(self, &locked, fanout) {
            run.go().await;
        }
        locked.release(fanout).await;
    }
}

/// Where one host stands in this deploy.
#[derive(Debug, Clone, Default)]
struct Progress {
    uploaded: bool,
    built: bool,
    migrated: bool,
    /// Where `current` points now.
    current: Option<String>,
    /// Where it pointed before this deploy.
    previous: Option<String>,
    deployed: bool,
}

fn progress_of(survey: &Survey, id: &str) -> Progress {
    let record = survey.record(id);
    let state = record.map(|r| r.state);
    let previous = match &survey.pending {
        Some(pending) if pending.release == id => pending.previous.clone(),
        _ => survey.current.clone().filter(|c| c != id),
    };
    Progress {
        uploaded: survey.releases.contains_key(id),
        built: matches!(state, Some(State::Built | State::Deployed)),
        migrated: record.is_some_and(|r| r.migrated),
        current: survey.current.clone(),
        previous,
        deployed: state == Some(State::Deployed) && survey.current.as_deref() == Some(id),
    }
}

/// The deploy to resume: the one pending on the hosts (they must agree).
fn resumable(surveys: &BTreeMap<String, Survey>, fanout: &Fanout) -> Option<Pending> {
    let mut pending: Vec<&Pending> = surveys
        .values()
        .filter_map(|s| s.pending.as_ref())
        .collect();
    pending.sort_by(|a, b| a.release.cmp(&b.release));
    pending.dedup_by(|a, b| a.release == b.release);
    match pending.as_slice() {
        [] => {
            fanout.fail("nothing to resume: no host has an unfinished deploy".into());
            None
        }
        [one] => Some((*one).clone()),
        many => {
            let ids: Vec<&str> = many.iter().map(|p| p.release.as_str()).collect();
            fanout.fail(format!(
                "the hosts have different unfinished deploys ({}); start a new deploy",
                ids.join(", ")
            ));
            None
        }
    }
}

struct Run<'a, 'h> {
    plan: &'a DeployPlan,
    fanout: &'a Fanout,
    hosts: Vec<&'h Host>,
    surveys: &'a BTreeMap<String, Survey>,
    artifact: Cow<'a, Artifact>,
    id: String,
    record: ReleaseRecord,
    pending: Pending,
    progress: BTreeMap<String, Progress>,
}

impl<'a, 'h> Run<'a, 'h> {
    /// Decide the release: a new id, or the pending deploy's when resuming.
    fn begin(plan: &'a DeployPlan, locked: &'a Locked<'h>, fanout: &'a Fanout) -> Option<Self> {
        let surveys = &locked.surveys;
        let (artifact, pending) = if plan.resume {
            let pending = resumable(surveys, fanout)?;
            (
                Cow::Owned(resume_artifact(plan, &pending, fanout)?),
                pending,
            )
        } else {
            let artifact = plan.artifact.as_ref().expect("planned with an artifact");
            for (host, survey) in surveys {
                if let Some(old) = &survey.pending {
                    fanout.events.warn(format!(
                        "{host}: the unfinished {} of {} by {} is abandoned for this one",
                        old.kind, old.release, old.who
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
        let record = ReleaseRecord {
            id: id.clone(),
            revision: pending.revision.clone(),
            reference: pending.reference.clone(),
            digest: pending.digest.clone(),
            who: pending.who.clone(),
            at: pending.at.clone(),
            state: State::Uploaded,
            keep_until: match plan.mode {
                Mode::Setup {
                    keep_days: Some(days),
                } => Some(days_from_now(days)),
                _ => None,
            },
            migrated: false,
            note: None,
        };
        let progress = surveys
            .iter()
            .map(|(host, survey)| (host.clone(), progress_of(survey, &id)))
            .collect();
        Some(Self {
            plan,
            fanout,
            hosts: locked.hosts.clone(),
            surveys,
            artifact,
            id,
            record,
            pending,
            progress,
        })
    }

    async fn go(&mut self) {
        if !(self.upload().await && self.build().await && self.migrate().await) {
            return self.stopped("current is unchanged on every host");
        }
        if let Mode::Setup { .. } = self.plan.mode {
            return self.finish().await;
        }
        if !self.switch().await {
            return self.stopped(&self.whereabouts());
        }
        if self.restart().await {
            self.finish().await;
        }
    }

    fn task(&self, phase: &str) -> String {
        format!("{}/{phase}", self.plan.mode.name())
    }

    fn hosts_where(&self, need: impl Fn(&Progress) -> bool) -> Vec<&'h Host> {
        self.hosts
            .iter()
            .copied()
            .filter(|h| need(&self.progress[&h.label]))
            .collect()
    }

    /// The record as this host should hold it, in `state`.
    fn record_json(&self, host: &str, state: State, note: Option<&str>) -> String {
        let mut record = self.record.clone();
        record.state = state;
        record.migrated = self.progress.get(host).is_some_and(|p| p.migrated);
        record.note = note.map(str::to_string);
        record.json()
    }

    /// Apply what a phase achieved; false if any host failed.
    fn advance<T>(&mut self, done: Vec<Done<'h, T>>, apply: impl Fn(&mut Progress, T)) -> bool {
        let mut ok = true;
        for d in done {
            match (d.status, d.data) {
                (Status::Ok | Status::Changed, Some(data)) => apply(
                    self.progress.get_mut(&d.host.label).expect("surveyed"),
                    data,
                ),
                (Status::Skipped, _) | (Status::Ok | Status::Changed, None) => ok = false,
                _ => ok = false,
            }
        }
        ok
    }

    async fn upload(&mut self) -> bool {
        let hosts = self.hosts_where(|p| !p.uploaded);
        let mut payloads = Payloads::default();
        let mut uploads = BTreeMap::new();
        for host in &hosts {
            let plan = &self.plan.hosts[&host.label];
            // With nothing to build, the release is built as soon as it is uploaded.
            let state = if plan.build.is_empty() {
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
                dotenv: plan.dotenv.as_deref(),
            };
            let upload = upload::plan(
                self.artifact.as_ref(),
                &self.surveys[&host.label],
                &self.plan.layout,
                &extras,
                &mut payloads,
            );
            uploads.insert(host.label.clone(), (upload, state));
        }
        let (uploads, fanout) = (&uploads, self.fanout);
        let done = fanout
            .collect(
                &self.task("upload"),
                &hosts,
                Gate::Policy,
                |host| async move {
                    let (upload, state) = &uploads[&host.label];
                    let request = Request {
                        payload: Payload::Bytes(upload.payload.clone()),
                        ..Request::script(upload.script.clone())
                    };
                    let outcome = fanout
                        .script(host, request)
                        .await
                        .outcome(&[], Status::Changed);
                    let sent = format!(
                        "{} changed files, {} bytes before compression",
                        upload.files_sent, upload.bytes_of_files
                    );
                    (with_message(outcome, sent), *state)
                },
            )
            .await;
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
                let commands = &self.plan.hosts[&host.label].build;
                let record = self.record_json(&host.label, State::Built, None);
                let script = steps::in_release(
                    &self.plan.layout,
                    &self.id,
                    &self.plan.secrets,
                    commands,
                    Some(&record),
                );
                (host.label.clone(), (script, commands.labels()))
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
        let script = steps::in_release(
            &self.plan.layout,
            &self.id,
            &self.plan.secrets,
            commands,
            Some(&record.json()),
        );
        let scripts = BTreeMap::from([(label.clone(), (script, commands.labels()))]);
        let done = self
            .run_scripts(&self.task("migrate"), &[host], &scripts, Status::Changed)
            .await;
        self.advance(done, |progress, ()| progress.migrated = true)
    }

    async fn switch(&mut self) -> bool {
        let hosts = self.hosts_where(|p| p.current.as_deref() != Some(self.id.as_str()));
        let script = steps::switch(&self.plan.layout, &self.id, None);
        let scripts = hosts
            .iter()
            .map(|h| (h.label.clone(), (script.clone(), Vec::new())))
            .collect();
        let done = self
            .run_scripts(&self.task("switch"), &hosts, &scripts, Status::Changed)
            .await;
        let id = self.id.clone();
        self.advance(done, |progress, ()| progress.current = Some(id.clone()))
    }

    /// Restart and health-check `serial` hosts at a time; on a failure, put
    /// every switched host back.
    async fn restart(&mut self) -> bool {
        let plans = &self.plan.hosts;
        let hosts: Vec<&'h Host> = self
            .hosts_where(|p| !p.deployed)
            .into_iter()
            .filter(|h| !plans[&h.label].restarts.is_empty() || plans[&h.label].health.is_some())
            .collect();
        let batch = self.plan.serial.batch(hosts.len());
        for group in hosts.chunks(batch) {
            let scripts = self.restart_scripts(group, true);
            let done = self
                .run_scripts(&self.task("restart"), group, &scripts, Status::Changed)
                .await;
            let failures: Vec<String> = done
                .iter()
                .filter(|d| d.status.is_failure() || d.status == Status::Skipped)
                .map(|d| d.host.label.clone())
                .collect();
            if !failures.is_empty() {
                self.put_back(&format!(
                    "health check or restart failed on {}",
                    failures.join(", ")
                ))
                .await;
                return false;
            }
        }
        true
    }

    fn restart_scripts(
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
                let script = steps::restart(
                    &self.plan.layout,
                    &self.plan.secrets,
                    &plan.restarts,
                    health,
                );
                (host.label.clone(), (script, plan.restarts.labels()))
            })
            .collect()
    }

    /// Every host this deploy switched goes back where it was and restarts;
    /// the release is marked failed everywhere, and the deploy is over.
    async fn put_back(&mut self, reason: &str) {
        let switched: Vec<&'h Host> = self.hosts_where(|p| {
            p.current.as_deref() == Some(self.id.as_str()) && p.previous.is_some()
        });
        let mut scripts = BTreeMap::new();
        for host in &self.hosts {
            let progress = &self.progress[&host.label];
            let failed = self.record_json(&host.label, State::Failed, Some(reason));
            let history = self.history("failed", Some(reason));
            let mut script = match progress
                .previous
                .as_deref()
                .filter(|_| switched.iter().any(|s| s.label == host.label))
            {
                Some(previous) => steps::switch(&self.plan.layout, previous, None),
                None => self.plan.layout.prelude(),
            };
            script.push_str(&steps::finish(
                &self.plan.layout,
                &self.id,
                Some(&failed),
                &history,
                &[],
                None,
            ));
            scripts.insert(host.label.clone(), (script, Vec::new()));
        }
        let hosts = self.hosts.clone();
        self.run_scripts_gated(
            &self.task("rollback"),
            &hosts,
            &scripts,
            Status::Changed,
            Gate::Always,
        )
        .await;
        let restarts = self.restart_scripts(&switched, false);
        self.run_scripts_gated(
            &self.task("restart"),
            &switched,
            &restarts,
            Status::Changed,
            Gate::Always,
        )
        .await;
        let back: Vec<String> = switched
            .iter()
            .map(|h| {
                format!(
                    "{} on {}",
                    h.label,
                    self.progress[&h.label].previous.as_deref().unwrap_or("?")
                )
            })
            .collect();
        let first = self.hosts_where(|p| {
            p.previous.is_none() && p.current.as_deref() == Some(self.id.as_str())
        });
        let mut message = format!(
            "{} {} failed: {reason}; release {} is marked failed",
            self.plan.mode.name(),
            self.id,
            self.id
        );
        if !back.is_empty() {
            message.push_str(&format!("; back: {}", back.join(", ")));
        }
        if !first.is_empty() {
            let names: Vec<&str> = first.iter().map(|h| h.label.as_str()).collect();
            message.push_str(&format!(
                "; no earlier release to go back to on {}",
                names.join(", ")
            ));
        }
        self.fanout.fail(message);
    }

    async fn finish(&mut self) {
        let setup = matches!(self.plan.mode, Mode::Setup { .. });
        let mut scripts = BTreeMap::new();
        for host in &self.hosts {
            let survey = &self.surveys[&host.label];
            let state = if setup { State::Built } else { State::Deployed };
            let record = self.record_json(&host.label, state, None);
            let history = self.history("ok", None);
            let (remove, announce) = if setup {
                let until = self
                    .record
                    .keep_until
                    .as_deref()
                    .map_or(String::new(), |u| format!(", kept until {u}"));
                (
                    Vec::new(),
                    Some(format!(
                        "release prepared at {}{until}",
                        self.plan.layout.release_dir(&self.id)
                    )),
                )
            } else {
                let mut releases = survey.releases.clone();
                releases.insert(self.id.clone(), Some(self.record.clone()));
                let protected = [self.id.as_str()];
                (
                    cleanup::select(&releases, Some(&self.id), self.plan.keep, &protected),
                    None,
                )
            };
            let script = steps::finish(
                &self.plan.layout,
                &self.id,
                Some(&record),
                &history,
                &remove,
                announce.as_deref(),
            );
            scripts.insert(host.label.clone(), (script, Vec::new()));
        }
        let hosts = self.hosts.clone();
        let done = self
            .run_scripts_gated(
                &self.task("finish"),
                &hosts,
                &scripts,
                Status::Ok,
                Gate::Always,
            )
            .await;
        if self.advance(done, |progress, ()| progress.deployed = true) {
            let revision = self.record.short_revision();
            let verb = if setup { "prepared" } else { "live" };
            let hosts = match self.hosts.len() {
                1 => "1 host".to_string(),
                n => format!("{n} hosts"),
            };
            self.fanout.events.note(format!(
                "{} {} ({revision}) is {verb} on {hosts}",
                self.plan.mode.name(),
                self.id
            ));
        }
    }

    fn history(&self, result: &str, detail: Option<&str>) -> String {
        HistoryEntry {
            at: now(),
            event: self.plan.mode.name().to_string(),
            release: self.id.clone(),
            revision: self.record.revision.clone(),
            from: None,
            who: who(),
            result: result.to_string(),
            detail: detail.map(str::to_string),
        }
        .json()
    }

    async fn run_scripts(
        &self,
        task: &str,
        hosts: &[&'h Host],
        scripts: &BTreeMap<String, (String, Vec<String>)>,
        success: Status,
    ) -> Vec<Done<'h, ()>> {
        self.run_scripts_gated(task, hosts, scripts, success, Gate::Policy)
            .await
    }

    async fn run_scripts_gated(
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
        let (fanout, timeout) = (self.fanout, self.plan.timeout);
        fanout
            .collect(task, hosts, gate, |host| async move {
                let (script, labels) = &scripts[&host.label];
                let request = Request {
                    timeout,
                    ..Request::script(script.clone())
                };
                (
                    fanout.script(host, request).await.outcome(labels, success),
                    (),
                )
            })
            .await
    }

    /// After a stop: what state the hosts are in, and how to go on.
    fn stopped(&self, state: &str) {
        let env = &self.plan.env;
        self.fanout.fail(format!(
            "{} {} stopped: {state}. Finish it with `ferry {env} deploy:resume=yes` once the failed hosts are fixed, or go back with `ferry {env} rollback`",
            self.plan.mode.name(),
            self.id
        ));
    }

    /// Where each host's `current` points after a partial switch.
    fn whereabouts(&self) -> String {
        let places: Vec<String> = self
            .hosts
            .iter()
            .map(|h| {
                let p = &self.progress[&h.label];
                match p.current.as_deref() {
                    Some(id) if id == self.id => {
                        format!("{} on {id} (new, not restarted)", h.label)
                    }
                    Some(id) => format!("{} on {id} (as before)", h.label),
                    None => format!("{} has no current release", h.label),
                }
            })
            .collect();
        format!("hosts are split: {}", places.join("; "))
    }
}

fn with_message(outcome: Outcome, message: String) -> Outcome {
    if outcome.status == Status::Changed {
        outcome.message(message)
    } else {
        outcome
    }
}

fn new_pending(plan: &DeployPlan, artifact: &Artifact, id: String) -> Pending {
    Pending {
        release: id,
        revision: artifact.revision.clone(),
        reference: artifact.reference.clone(),
        digest: artifact.manifest.digest(),
        who: who(),
        at: now(),
        kind: plan.mode.name().to_string(),
        previous: None,
    }
}

/// The artifact of the deploy being resumed: the same commit, and it must
/// still produce the same files.
fn resume_artifact(plan: &DeployPlan, pending: &Pending, fanout: &Fanout) -> Option<Artifact> {
    let reference = pending
        .revision
        .clone()
        .unwrap_or_else(|| pending.reference.clone());
    match build_artifact(&plan.root, &plan.deploy, &reference) {
        Ok(artifact) if artifact.manifest.digest() == pending.digest => Some(artifact),
        Ok(_) => {
            fanout.fail(format!(
                "cannot resume {}: its files changed since that deploy began; start a new deploy",
                pending.release
            ));
            None
        }
        Err(error) => {
            fanout.fail(format!("cannot resume {}: {error}", pending.release));
            None
        }
    }
}
