//! Functional tests against an environment after a deploy: local commands
//! with the deploy's facts. A failure marks the live release failed on every
//! host (release.json and a history line say which test), rolls the
//! environment back when `rollback_on_failure` says so, and fails the run.

use super::Stage;
use super::facts::Facts;
use super::live::Deployed;
use super::local;
use crate::plan::TaskCall;
use crate::release;

/// The environment's functional tests against what is live; on a failure
/// the release is marked failed on every host (and the environment rolled
/// back when so configured), and the run fails saying so; the error is the
/// state the environment is left in.
pub(super) async fn functional_tests(
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
    let state = if env.rollback_on_failure {
        let call = TaskCall {
            name: "rollback".into(),
            args: Vec::new(),
        };
        match release::Rollback::new(&call, stage.ctx) {
            Ok(rollback) => {
                rollback.execute(&hosts, stage.fanout).await;
                if stage.fanout.any_failure() {
                    "the rollback did not finish (see above)".to_string()
                } else {
                    "rolled back to the previous good release".to_string()
                }
            }
            Err(error) => format!("cannot roll back: {error}"),
        }
    } else {
        format!("it stays live (`ferry {} rollback` goes back)", env.name)
    };
    message.push_str(&format!("; {state}"));
    stage.fanout.fail(message);
    Err(format!("release {id} failed its functional tests; {state}"))
}
