//! Around one deploy of one environment: `pre_deploy` hooks before it; after
//! it the release every host now runs, the environment's functional tests
//! against it (a failure marks the release failed on every host and, with
//! `rollback_on_failure`, rolls the environment back), git tags, and the
//! `post_deploy` or `on_failure` hooks.

use super::facts::Facts;
use super::live::{Deployed, agreed_live};
use super::verify::functional_tests;
use super::{Stage, local, tags};
use crate::config::Pipeline;

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

/// Where a deploy of a stage stopped, and the state it left the stage in.
pub(crate) enum Stopped {
    /// The deploy itself failed, or its hosts do not agree on what is live.
    Deploy(String),
    /// It went live and failed its functional tests.
    FunctionalTests(String),
}

/// After a deploy (or promotion) of `stage` ran: check, test, tag, hooks.
/// What is live when every step passed.
pub(crate) async fn after_deploy(stage: &Stage<'_>, mut facts: Facts) -> Result<Deployed, Stopped> {
    let pipeline = pipeline(stage);
    if stage.fanout.any_failure() {
        failed(stage, pipeline, facts, "the deploy failed".into()).await;
        return Err(Stopped::Deploy(
            "its deploy failed (the errors above say where each host is)".into(),
        ));
    }
    let deployed = match agreed_live(stage, "verify").await {
        Ok(deployed) => deployed,
        Err(problem) => {
            stage.fanout.fail(problem.clone());
            failed(stage, pipeline, facts, problem.clone()).await;
            return Err(Stopped::Deploy(problem));
        }
    };
    facts.release = Some(deployed.release.clone());
    facts.revision = deployed.record().origin.revision.clone();
    if let Err(state) = functional_tests(stage, &deployed, &facts).await {
        failed(stage, pipeline, facts, state.clone()).await;
        return Err(Stopped::FunctionalTests(state));
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
    Ok(deployed)
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
