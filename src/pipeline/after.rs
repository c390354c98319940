//! Around one deploy of one environment: `pre_deploy` hooks before it; after
//! it the release every host now runs, the environment's functional tests
//! against it (a failure marks the release failed on every host and, with
//! `rollback_on_failure`, rolls the environment back), git tags, and the
//! `post_deploy` or `on_failure` hooks.

use std::collections::BTreeMap;

use super::facts::Facts;
use super::{Stage, local, tags};
use crate::config::Pipeline;
use crate::plan::TaskCall;
use crate::release::{self, ReleaseRecord, State};

/// What a finished deploy left live, as every host agrees.
pub(crate) struct Deployed {
    pub(crate) release: String,
    pub(crate) records: BTreeMap<String, ReleaseRecord>,
}

impl Deployed {
    pub(crate) fn record(&self) -> &ReleaseRecord {
        self.records.values().next().expect("at least one host")
    }
}

/// The facts of a deploy of `stage` so far.
pub(crate) fn facts(stage: &Stage<'_>, event: &str) -> Facts {
    Facts {
        event: event.to_string(),
        app: stage.ctx.project.app.clone(),
        env: stage.name().to_string(),
        hosts: stage
            .ctx
            .hosts
            .iter()
            .map(|h| h.name().to_string())
            .collect(),
        url: stage.ctx.env.url.clone(),
        ..Facts::default()
    }
}

/// Without a [pipeline] table: no hooks, no tags.
static NO_PIPELINE: std::sync::LazyLock<Pipeline> = std::sync::LazyLock::new(Pipeline::default);

fn pipeline<'p>(stage: &Stage<'p>) -> &'p Pipeline {
    stage.ctx.project.pipeline.as_ref().unwrap_or(&NO_PIPELINE)
}

/// Whether a deploy of `stage` has anything to do after it.
pub(crate) fn follows(stage: &Stage<'_>) -> bool {
    stage.ctx.project.pipeline.is_some() || !stage.ctx.env.functional_tests.is_empty()
}

/// `pre_deploy` hooks; if one fails, the run fails (nothing deployed) and
/// the `on_failure` hooks run.
pub(crate) async fn before_deploy(stage: &Stage<'_>, facts: &Facts) -> bool {
    let pipeline = pipeline(stage);
    let events = &stage.fanout.events;
    let root = &stage.ctx.project.root;
    match local::run_all(
        "pre_deploy",
        &pipeline.hooks.pre_deploy,
        root,
        &facts.vars(),
        events,
    )
    .await
    {
        Ok(()) => true,
        Err(failure) => {
            let problem = format!(
                "pre_deploy hook failed, {} was not deployed: {}",
                stage.name(),
                failure.describe()
            );
            stage.fanout.fail(problem.clone());
            failed(stage, pipeline, facts.clone(), problem).await;
            false
        }
    }
}

/// After a deploy (or promotion) of `stage` ran: check, test, tag, hooks.
/// `Some` with what is live when every step passed.
pub(crate) async fn after_deploy(stage: &Stage<'_>, mut facts: Facts) -> Option<Deployed> {
    let pipeline = pipeline(stage);
    if stage.fanout.any_failure() {
        failed(stage, pipeline, facts, "the deploy failed".into()).await;
        return None;
    }
    let deployed = match agreed_live(stage, "verify").await {
        Ok(deployed) => deployed,
        Err(problem) => {
            stage.fanout.fail(problem.clone());
            failed(stage, pipeline, facts, problem).await;
            return None;
        }
    };
    facts.release = Some(deployed.release.clone());
    facts.revision = deployed.record().origin.revision.clone();
    if let Err(problem) = functional_tests(stage, &deployed, &facts).await {
        failed(stage, pipeline, facts, problem).await;
        return None;
    }
    if let (Some(patterns), Some(revision)) = (&pipeline.tags, &facts.revision) {
        tags::tag(stage, patterns, pipeline.push_tags.as_deref(), revision);
    }
    facts.result = Some("ok".into());
    let events = &stage.fanout.events;
    let root = &stage.ctx.project.root;
    if let Err(failure) = local::run_all(
        "post_deploy",
        &pipeline.hooks.post_deploy,
        root,
        &facts.vars(),
        events,
    )
    .await
    {
        events.warn(format!(
            "post_deploy hook failed (the deploy itself is live): {}",
            failure.describe()
        ));
    }
    Some(deployed)
}

/// The `on_failure` hooks, told what failed.
async fn failed(stage: &Stage<'_>, pipeline: &Pipeline, mut facts: Facts, error: String) {
    facts.result = Some("failed".into());
    facts.error = Some(error);
    let events = &stage.fanout.events;
    let root = &stage.ctx.project.root;
    if let Err(failure) = local::run_all(
        "on_failure",
        &pipeline.hooks.on_failure,
        root,
        &facts.vars(),
        events,
    )
    .await
    {
        events.warn(format!("on_failure hook failed: {}", failure.describe()));
    }
}

/// The release live on every host of `stage`: one id, one artifact, deployed.
/// Otherwise why not, naming the hosts.
pub(crate) async fn agreed_live(stage: &Stage<'_>, task: &str) -> Result<Deployed, String> {
    let env = stage.name();
    let hosts = stage.hosts();
    let task = format!("{env}/{task}");
    let Some(lives) = release::live(stage.fanout, &task, &hosts, &stage.layout()).await else {
        return Err(format!("cannot read the live release of every {env} host"));
    };
    let mut by_release: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    let mut records = BTreeMap::new();
    for (host, live) in &lives {
        let (Some(id), Some(record)) = (&live.release, &live.record) else {
            return Err(format!("{host} ({env}) has no live release"));
        };
        if record.state != State::Deployed {
            return Err(format!(
                "release {id} on {host} ({env}) is {}, not deployed",
                serde_json::to_string(&record.state)
                    .unwrap_or_default()
                    .trim_matches('"')
            ));
        }
        by_release
            .entry((id.clone(), record.origin.digest.clone()))
            .or_default()
            .push(host);
        records.insert(host.clone(), record.clone());
    }
    match by_release.len() {
        0 => Err(format!("{env} has no hosts")),
        1 => Ok(Deployed {
            release: by_release.into_keys().next().expect("one").0,
            records,
        }),
        _ => {
            let groups: Vec<String> = by_release
                .iter()
                .map(|((id, digest), hosts)| {
                    format!(
                        "{} on {id} ({})",
                        hosts.join(", "),
                        &digest[..digest.len().min(12)]
                    )
                })
                .collect();
            Err(format!(
                "the {env} hosts disagree on their live release: {}",
                groups.join("; ")
            ))
        }
    }
}

/// The environment's functional tests against what is live; on a failure
/// the release is marked failed on every host (and the environment rolled
/// back when so configured), and the run fails saying so.
async fn functional_tests(
    stage: &Stage<'_>,
    deployed: &Deployed,
    facts: &Facts,
) -> Result<(), String> {
    let env = stage.ctx.env;
    let events = &stage.fanout.events;
    let root = &stage.ctx.project.root;
    let failure = match local::run_all(
        "functional test",
        &env.functional_tests,
        root,
        &facts.vars(),
        events,
    )
    .await
    {
        Ok(()) => return Ok(()),
        Err(failure) => failure,
    };
    let id = &deployed.release;
    let note = format!("functional test `{}` {}", failure.command, failure.how);
    let hosts = stage.hosts();
    let layout = stage.layout();
    let task = format!("{}/mark-failed", env.name);
    let marked = release::mark_failed(
        stage.fanout,
        &task,
        &hosts,
        &layout,
        &deployed.records,
        &note,
    )
    .await;
    let mut message = format!(
        "functional tests against {} failed: {}; release {id} {}",
        env.name,
        failure.describe(),
        if marked {
            "is marked failed on every host"
        } else {
            "could not be marked failed on every host"
        }
    );
    if env.rollback_on_failure {
        let call = TaskCall {
            name: "rollback".into(),
            args: Vec::new(),
        };
        match release::Rollback::new(&call, stage.ctx) {
            Ok(rollback) => {
                rollback.execute(&hosts, stage.fanout).await;
                message.push_str("; rollback_on_failure: rolled back (see above)");
            }
            Err(error) => message.push_str(&format!("; cannot roll back: {error}")),
        }
    } else {
        message.push_str(&format!(
            "; it stays live (`ferry {} rollback` goes back)",
            env.name
        ));
    }
    stage.fanout.fail(message.clone());
    Err(message)
}
