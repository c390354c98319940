//! `ferry <env> rollback[:to=<id>]`: back to the newest good release before
//! the live one — walked back from where `current` points, skipping failed
//! ones — but only if every host has it; otherwise refuse and name the host
//! that lacks it. Switch, restart and health-check like a deploy, and mark
//! the abandoned release as failed so nothing rolls forward onto it.

use std::collections::{BTreeMap, HashMap};

use super::deploy::{HostPlan, Mode, host_plan};
use super::locked::Locked;
use super::record::{HistoryEntry, State};
use super::steps::{self, HealthTiming};
use super::survey::{Survey, Takeover};
use super::{Layout, now, who};
use crate::error::Error;
use crate::event::Status;
use crate::fanout::{Fanout, Gate};
use crate::inventory::Host;
use crate::plan::TaskCall;
use crate::plan::{Args, Context};
use crate::secret::Secret;

pub(crate) struct Rollback {
    layout: Layout,
    env: String,
    to: Option<String>,
    secrets: Vec<Secret>,
    hosts: HashMap<String, HostPlan>,
    timing: HealthTiming,
}

/// The calls of a rollback's script, which its keeper runs: their functions
/// go with the survey.
pub(super) const AHEAD: &[&str] = &[
    "ferry_switch",
    "ferry_health",
    "ferry_write",
    "ferry_history",
    "ferry_done",
];

impl Rollback {
    pub(crate) fn new(call: &TaskCall, ctx: &Context<'_>) -> Result<Self, Error> {
        let args = Args::bind(call, &["to"])?;
        if ctx.check {
            return Err(Error::usage(
                "`rollback` has no --check mode; `releases` shows where it would go",
                None,
            ));
        }
        let mut hosts = HashMap::new();
        for host in ctx.hosts {
            hosts.insert(host.label.clone(), host_plan(ctx, host, Mode::Hotfix)?);
        }
        let health = ctx.project.deploy.health.as_ref();
        Ok(Self {
            layout: Layout::new(&ctx.env.settings.deploy_to),
            env: ctx.env.name.clone(),
            to: args.get("to").map(str::to_string),
            secrets: ctx.env.secrets.clone(),
            hosts,
            timing: HealthTiming {
                deadline: health.map_or(30, |h| h.deadline.as_secs()),
                interval: health.map_or(1, |h| h.interval.as_secs()),
            },
        })
    }

    pub(crate) async fn execute(&self, hosts: &[&Host], fanout: &Fanout) {
        let Some(locked) = Locked::take(
            fanout,
            "rollback",
            hosts,
            &self.layout,
            &self.env,
            "rollback",
            // A stale lock that a cut deploy left (the deploy pending on that
            // host) is no reason to refuse the way back from it.
            Takeover::Stale,
            false,
            AHEAD,
        )
        .await
        else {
            fanout.fail(
                "rollback did not start: not every host could be locked; nothing changed".into(),
            );
            return;
        };
        match self.target(&locked.surveys) {
            Ok(target) => self.go(&locked, &target, fanout).await,
            Err(problem) => fanout.fail(format!("rollback refused, nothing changed: {problem}")),
        }
        locked.release(fanout).await;
    }

    /// The release to go back to, present and good on every host.
    fn target(&self, surveys: &BTreeMap<String, Survey>) -> Result<String, String> {
        let target = match &self.to {
            Some(id) => id.clone(),
            // Each host's answer, newest first: a host that lacks a release
            // must not hide it from the others (it is named below instead).
            None => surveys
                .values()
                .filter_map(|survey| previous_good(survey, survey.current.as_deref()?))
                .max()
                .ok_or_else(|| "no host has a good release before its live one".to_string())?,
        };
        for (host, survey) in surveys {
            match survey.releases.get(&target) {
                None => {
                    let has: Vec<&str> = survey.releases.keys().map(String::as_str).collect();
                    return Err(format!(
                        "{host} does not have release {target} (it has: {})",
                        has.join(", ")
                    ));
                }
                Some(Some(record)) if record.state == State::Failed => {
                    return Err(format!("release {target} is marked failed on {host}"));
                }
                _ => {}
            }
        }
        Ok(target)
    }

    async fn go(&self, locked: &Locked<'_>, target: &str, fanout: &Fanout) {
        let abandoned: BTreeMap<&str, Option<&str>> = locked
            .surveys
            .iter()
            .map(|(h, s)| (h.as_str(), s.current.as_deref().filter(|c| *c != target)))
            .collect();
        let mut scripts = BTreeMap::new();
        for host in &locked.hosts {
            let survey = &locked.surveys[&host.label];
            let mut script = self.layout.script();
            steps::switch(&mut script, target, None);
            if let Some(old) = abandoned[host.label.as_str()] {
                if let Some(Some(record)) = survey.releases.get(old) {
                    let mut record = record.clone();
                    record.state = State::Failed;
                    record.note = Some(format!("rolled back to {target} at {}", now()));
                    steps::write_record(&mut script, steps::record_path(old), &record.json());
                }
            }
            let history = HistoryEntry {
                at: now(),
                event: "rollback".into(),
                release: target.to_string(),
                revision: survey
                    .record(target)
                    .and_then(|r| r.origin.revision.clone()),
                from: abandoned[host.label.as_str()].map(str::to_string),
                who: who(),
                result: "ok".into(),
                phase: None,
                detail: None,
                facts: Default::default(),
                timings: Vec::new(),
            };
            steps::append_history(&mut script, &history.json());
            // The deploy that made the abandoned release is over: resume must
            // not bring it back, nor `releases` offer to.
            if survey
                .pending
                .as_ref()
                .is_some_and(|p| Some(p.release.as_str()) == abandoned[host.label.as_str()])
            {
                script.code("ferry_done");
            }
            let plan = &self.hosts[&host.label];
            let health = plan.health.as_ref().map(|h| (h, &self.timing));
            steps::restart(
                &mut script,
                &self.secrets,
                &plan.switches,
                &plan.restarts,
                health,
            );
            scripts.insert(host.label.clone(), (script.build(), plan.restarts.labels()));
        }
        let scripts = &scripts;
        let done = fanout
            .collect("rollback", &locked.hosts, Gate::Always, |host| async move {
                let (script, labels) = &scripts[&host.label];
                // The last thing under the lock: in its keeper's session.
                let ran = locked.last(fanout, host, script).await;
                (ran.outcome(labels, Status::Changed), ())
            })
            .await;
        if done.iter().all(|d| d.status == Status::Changed) {
            fanout.released(crate::event::Event::Released {
                task: "rollback".into(),
                release: target.to_string(),
                revision: None,
                hosts: done.iter().map(|d| d.host.label.clone()).collect(),
                live: true,
                timings: Vec::new(),
            });
        } else {
            fanout.fail(format!("rollback to {target} did not finish on every host; `releases` shows where each one is"));
        }
    }
}

/// The newest good (deployed) release older than `live`.
fn previous_good(survey: &Survey, live: &str) -> Option<String> {
    survey
        .releases
        .iter()
        .rev()
        .filter(|(id, _)| id.as_str() < live)
        .find(|(_, record)| record.as_ref().is_some_and(|r| r.state == State::Deployed))
        .map(|(id, _)| id.clone())
}
