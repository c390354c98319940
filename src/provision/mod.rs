//! `ferry <env> provision`: bring servers to the state `[provision]`
//! describes — packages, groups and users, the deploy layout, directories,
//! files rendered from templates, symlinks, system services enabled and
//! running — checking each resource first and changing only what differs,
//! so running it again changes nothing. `--check` reports what would change
//! and changes nothing; `--diff` shows how files would change.
//!
//! Planning renders every host's resources (`render`, `content`); a host
//! whose templates fail is a failed host, not a failed run. Each host then
//! gets one script (`script`, with `prelude.sh`): one round trip. `report`
//! turns what the script said into the host's outcome. This module does not
//! own service tasks (`tasks::services`) nor the service definitions
//! (`config::service`), only the files that set them up.

mod content;
mod diff;
mod docker;
mod format;
mod handler;
mod render;
mod report;
mod resource;
mod script;

use std::collections::{BTreeMap, HashMap};

use render::Failure;
use resource::Resource;

use crate::config::Handler;
use crate::error::Error;
use crate::fanout::Fanout;
use crate::inventory::Host;
use crate::plan::Context;
use crate::transport::Request;

/// Every host's script, or why it has none.
pub(crate) struct Plan {
    by_host: HashMap<String, Result<HostPlan, Failure>>,
    check: bool,
    diff: bool,
}

/// What reporting needs to know about a host's script.
pub(crate) struct HostPlan {
    script: String,
    /// Each step's line label, by index in the script's markers.
    labels: Vec<String>,
    handlers: Vec<Handler>,
    /// Rendered files by step index, for `--diff`.
    files: BTreeMap<usize, resource::File>,
}

pub(crate) fn plan(ctx: &Context<'_>) -> Result<Plan, Error> {
    let bare;
    let provision = match (&ctx.project.provision, &ctx.project.deploy.container) {
        (Some(provision), _) => provision,
        (None, Some(_)) => {
            bare = docker::bare();
            &bare
        }
        (None, None) => {
            return Err(Error::usage(
                format!(
                    "{} has no [provision] section",
                    ctx.project.file.path.display()
                ),
                Some(
                    "add one: `[provision]` with packages, files, services… (see the README)"
                        .into(),
                ),
            ));
        }
    };
    let mode = script::Mode {
        check: ctx.check,
        diff: ctx.diff,
        handlers_as_root: provision.become_root,
    };
    let by_host = ctx
        .hosts
        .iter()
        .map(|host| {
            let plan = render::steps(provision, ctx, host).map(|steps| host_plan(steps, mode));
            (host.label.clone(), plan)
        })
        .collect();
    Ok(Plan {
        by_host,
        check: ctx.check,
        diff: ctx.diff,
    })
}

fn host_plan(steps: Vec<resource::Step>, mode: script::Mode) -> HostPlan {
    let (script, handlers) = script::build(&steps, mode);
    let labels = steps.iter().map(|s| s.resource.to_string()).collect();
    let files = steps
        .into_iter()
        .enumerate()
        .filter_map(|(index, step)| match step.resource {
            Resource::File(file) => Some((index, file)),
            _ => None,
        })
        .collect();
    HostPlan {
        script,
        labels,
        handlers,
        files,
    }
}

pub(crate) async fn execute(plan: &Plan, hosts: &[&Host], fanout: &Fanout) {
    fanout
        .each("provision", hosts, |host| async move {
            let host_plan = match &plan.by_host[&host.label] {
                Ok(host_plan) => host_plan,
                Err(failure) => {
                    // Let every other host of this wave start first: a
                    // template that fails here must not keep them from running.
                    tokio::task::yield_now().await;
                    return crate::fanout::Outcome::failed(failure.message.clone())
                        .hint(failure.hint.clone());
                }
            };
            let ran = fanout
                .script(host, Request::script(host_plan.script.clone()))
                .await;
            let emit = |stream, line| fanout.events.output(&host.label, stream, line);
            report::outcome(ran, host_plan, plan.check, plan.diff, &emit)
        })
        .await;
}
