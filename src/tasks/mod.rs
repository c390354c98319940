//! The dispatcher: maps a task's name — a built-in from `builtin`'s table or
//! the project's own from ferry.toml — to what plans and executes it. A run
//! first *plans* every task named on the command line for every host —
//! arguments bound, templates rendered — so a mistake in any of them stops
//! the run before anything reaches a host. Then it executes the plans in
//! order, each one fanned out over its hosts. What planning needs (context,
//! arguments) lives below, in `plan`; nothing but `app` imports this module.

mod check;
mod project;
mod run_cmd;
mod services;

use crate::builtin::{self, Builtin};
use crate::config::Project;
use crate::error::Error;
use crate::fanout::Fanout;
use crate::inventory::Host;
use crate::plan::{Args, Context, TaskCall};
use crate::{release, suggest};

/// One task, ready to run: every host's script is already rendered.
pub(crate) struct Plan {
    pub(crate) name: String,
    pub(crate) hosts: Vec<Host>,
    kind: Kind,
}

enum Kind {
    Scripts(project::Scripts),
    Check(check::Plan),
    Deploy(Box<release::DeployPlan>),
    Rollback(release::Rollback),
    Releases(release::Releases),
    History(release::History),
    Cleanup(release::Cleanup),
    Unlock(release::Unlock),
    Provision(crate::provision::Plan),
    Services(services::Plan),
}

pub(crate) fn plan(call: &TaskCall, ctx: &Context<'_>) -> Result<Plan, Error> {
    let (hosts, kind) = match builtin::find(&call.name) {
        Some(entry) => plan_builtin(entry, call, ctx)?,
        None => match ctx.project.task(&call.name) {
            Some(def) => {
                no_check_mode(call, ctx)?;
                let (hosts, scripts) = project::plan(def, call, ctx)?;
                (hosts, Kind::Scripts(scripts))
            }
            None => return Err(unknown_task(&call.name, ctx.project)),
        },
    };
    Ok(Plan {
        name: call.name.clone(),
        hosts,
        kind,
    })
}

fn plan_builtin(
    entry: &'static builtin::Entry,
    call: &TaskCall,
    ctx: &Context<'_>,
) -> Result<(Vec<Host>, Kind), Error> {
    let all = || ctx.hosts.to_vec();
    Ok(match entry.task {
        Builtin::Check => {
            no_args(call)?;
            (all(), Kind::Check(check::plan(ctx)))
        }
        Builtin::Config => {
            // `app` answers `ferry <env> config` alone, without hosts.
            return Err(Error::usage(
                "`config` runs on its own, not among other tasks",
                Some(format!("ferry {} config", ctx.env.name)),
            ));
        }
        Builtin::Run => {
            no_args(call)?;
            no_check_mode(call, ctx)?;
            (all(), Kind::Scripts(run_cmd::plan(ctx)?))
        }
        task @ (Builtin::Deploy | Builtin::Hotfix | Builtin::SetupRelease) => {
            let mode = match task {
                Builtin::Deploy => release::Mode::Deploy,
                Builtin::Hotfix => release::Mode::Hotfix,
                _ => release::Mode::Setup { keep_days: None },
            };
            let plan = release::DeployPlan::new(mode, call, ctx)?;
            (all(), Kind::Deploy(Box::new(plan)))
        }
        Builtin::Rollback => (all(), Kind::Rollback(release::Rollback::new(call, ctx)?)),
        Builtin::Provision => {
            no_args(call)?;
            (all(), Kind::Provision(crate::provision::plan(ctx)?))
        }
        Builtin::Start
        | Builtin::Stop
        | Builtin::Restart
        | Builtin::Reload
        | Builtin::Status
        | Builtin::Logs
        | Builtin::Supervisorctl => {
            let (hosts, plan) = services::plan(entry, call, ctx)?;
            (hosts, Kind::Services(plan))
        }
        Builtin::Releases | Builtin::History | Builtin::Cleanup | Builtin::Unlock => {
            (all(), layout_task(entry.task, call, ctx)?)
        }
    })
}

impl Plan {
    pub(crate) async fn execute(&self, fanout: &Fanout) {
        let hosts = fanout.live(&self.hosts);
        match &self.kind {
            Kind::Scripts(scripts) => project::execute(&self.name, scripts, &hosts, fanout).await,
            Kind::Check(plan) => check::execute(&hosts, plan, fanout).await,
            Kind::Deploy(plan) => plan.execute(&hosts, fanout).await,
            Kind::Rollback(rollback) => rollback.execute(&hosts, fanout).await,
            Kind::Releases(releases) => releases.execute(&hosts, fanout).await,
            Kind::History(history) => history.execute(&hosts, fanout).await,
            Kind::Cleanup(cleanup) => cleanup.execute(&hosts, fanout).await,
            Kind::Unlock(unlock) => unlock.execute(&hosts, fanout).await,
            Kind::Provision(plan) => crate::provision::execute(plan, &hosts, fanout).await,
            Kind::Services(plan) => services::execute(&self.name, plan, &hosts, fanout).await,
        }
    }
}

/// The read-only and housekeeping release tasks.
fn layout_task(task: Builtin, call: &TaskCall, ctx: &Context<'_>) -> Result<Kind, Error> {
    let layout = release::Layout::new(&ctx.env.settings.deploy_to);
    let env = ctx.env.name.clone();
    Ok(match task {
        Builtin::Releases => {
            Args::bind(call, &[])?;
            Kind::Releases(release::Releases {
                layout,
                forge: release::forge_of(&ctx.project.app_dir()),
            })
        }
        Builtin::History => Kind::History(release::History {
            layout,
            forge: release::forge_of(&ctx.project.app_dir()),
            lines: Args::bind(call, &["n"])?.number("n")?.unwrap_or(20),
        }),
        Builtin::Cleanup => {
            Args::bind(call, &[])?;
            no_check_mode(call, ctx)?;
            Kind::Cleanup(release::Cleanup {
                layout,
                keep: ctx.env.settings.keep_releases as usize,
                env,
            })
        }
        _ => {
            no_check_mode(call, ctx)?;
            Kind::Unlock(release::Unlock {
                layout,
                force: Args::bind(call, &["force"])?.flag("force")?,
            })
        }
    })
}

/// Commands ferry only passes along cannot be previewed; refusing beats
/// running them under a flag that promised to change nothing.
fn no_check_mode(call: &TaskCall, ctx: &Context<'_>) -> Result<(), Error> {
    if ctx.check {
        return Err(Error::usage(
            format!(
                "`{}` cannot run in --check mode: ferry cannot preview what its commands would change",
                call.name
            ),
            None,
        ));
    }
    Ok(())
}

fn no_args(call: &TaskCall) -> Result<(), Error> {
    match call.args.first() {
        None => Ok(()),
        Some(_) => Err(Error::usage(
            format!("`{}` takes no arguments", call.name),
            None,
        )),
    }
}

fn unknown_task(name: &str, project: &Project) -> Error {
    let names = project
        .tasks
        .iter()
        .map(|t| t.name.as_str())
        .chain(builtin::names());
    let hint = suggest::hint(name, names).or_else(|| Some("`ferry -l` lists the tasks".into()));
    Error::usage(format!("no task named `{name}`"), hint)
}
