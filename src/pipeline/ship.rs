//! `ferry ship`: the whole way, unattended — the test gate, a deploy of the
//! first stage, its functional tests, then a promotion to each next stage
//! (with its own functional tests), each tagged in git as it goes live. It
//! stops at the first failure and says which step failed and where every
//! stage stands. `--from-branch` stops at the stage `[pipeline] branches`
//! maps the current branch to (CI's branch variable first).

use super::after::{self, Stopped};
use super::live::Deployed;
use super::{Gate, Stage, promote};
use crate::config::Project;
use crate::error::Error;
use crate::git::Repo;
use crate::release::DeployPlan;

/// CI systems' names for the branch a job runs for, before git's own.
const BRANCH_VARIABLES: &[&str] = &["GITHUB_REF_NAME", "CI_COMMIT_BRANCH"];

/// The environments `ship` goes through, in order.
pub(crate) fn stages(project: &Project, from_branch: bool) -> Result<Vec<String>, Error> {
    let pipeline = project.pipeline.as_ref().ok_or_else(|| {
        Error::usage(
            "`ferry ship` needs a [pipeline] table in ferry.toml",
            Some("add [pipeline] stages = [\"staging\", \"production\"]".into()),
        )
    })?;
    if !from_branch {
        return match pipeline.stages.is_empty() {
            true => Err(Error::usage(
                "[pipeline] stages is empty: `ferry ship` has nowhere to go",
                Some("add stages = [\"staging\", \"production\"] to [pipeline]".into()),
            )),
            false => Ok(pipeline.stages.clone()),
        };
    }
    let branch = current_branch(project).ok_or_else(|| {
        Error::usage(
            "--from-branch: no branch checked out, and neither GITHUB_REF_NAME nor CI_COMMIT_BRANCH is set",
            None,
        )
    })?;
    let Some(target) = pipeline.branches.get(&branch) else {
        let known: Vec<&str> = pipeline.branches.keys().map(String::as_str).collect();
        return Err(Error::usage(
            format!("--from-branch: branch `{branch}` maps to no environment"),
            Some(format!(
                "[pipeline] branches maps: {}",
                if known.is_empty() {
                    "nothing".into()
                } else {
                    known.join(", ")
                }
            )),
        ));
    };
    // The stages up to the target; an environment outside them is shipped alone.
    Ok(match pipeline.stages.iter().position(|s| s == target) {
        Some(at) => pipeline.stages[..=at].to_vec(),
        None => vec![target.clone()],
    })
}

fn current_branch(project: &Project) -> Option<String> {
    BRANCH_VARIABLES
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .or_else(|| Repo::discover(&project.app_dir()).ok()?.branch())
}

/// Ship through `stages`; `first` is the deploy of the first one. True when
/// every stage runs the release and passed its functional tests.
pub(crate) async fn ship(stages: &[Stage<'_>], first: &DeployPlan, gate: &Gate) -> bool {
    let head = &stages[0];
    let mut states: Vec<String> = vec!["untouched".into(); stages.len()];
    if let Err(problem) = gate.pass(head.ctx.project, &head.fanout.events).await {
        head.fanout.fail(problem);
        return stopped(stages, "tests", &states);
    }
    let facts = after::facts(head, first.mode.name());
    if !after::before_deploy(head, &facts).await {
        return stopped(stages, &format!("pre_deploy of {}", head.name()), &states);
    }
    first.execute(&head.hosts(), head.fanout).await;
    let deployed = after::after_deploy(head, facts).await;
    let deploy = format!("deploy to {}", head.name());
    if !settle(stages, 0, deployed, &deploy, &mut states) {
        return false;
    }
    for i in 1..stages.len() {
        let (from, to) = (&stages[i - 1], &stages[i]);
        let step = format!("promote {} to {}", from.name(), to.name());
        if !settle(stages, i, promote(from, to).await, &step, &mut states) {
            return false;
        }
    }
    let summary: Vec<String> = stages
        .iter()
        .zip(&states)
        .map(|(stage, state)| format!("{}: {state}", stage.name()))
        .collect();
    stages[stages.len() - 1]
        .fanout
        .events
        .note(format!("shipped: {}", summary.join("; ")));
    true
}

/// Record where stage `i` stands after `step`; on a failure, stop the ship.
fn settle(
    stages: &[Stage<'_>],
    i: usize,
    result: Result<Deployed, Stopped>,
    step: &str,
    states: &mut [String],
) -> bool {
    match result {
        Ok(deployed) => {
            states[i] = live(&deployed);
            true
        }
        Err(Stopped::Deploy(state)) => {
            states[i] = state;
            stopped(stages, step, states)
        }
        Err(Stopped::FunctionalTests(state)) => {
            states[i] = state;
            let step = format!("the functional tests of {}", stages[i].name());
            stopped(stages, &step, states)
        }
    }
}

fn live(deployed: &Deployed) -> String {
    format!(
        "live on {} ({})",
        deployed.release,
        deployed.record().short_revision()
    )
}

/// Fail the run naming the step that failed and where each stage stands.
fn stopped(stages: &[Stage<'_>], step: &str, states: &[String]) -> bool {
    let summary: Vec<String> = stages
        .iter()
        .zip(states)
        .map(|(stage, state)| format!("{}: {state}", stage.name()))
        .collect();
    stages[0]
        .fanout
        .fail(format!("ship stopped at {step}; {}", summary.join("; ")));
    false
}
