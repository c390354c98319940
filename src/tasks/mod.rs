//! Tasks: ferry's built-in ones and the project's own from ferry.toml. A run
//! first *plans* every task named on the command line for every host —
//! arguments bound, templates rendered — so a mistake in any of them stops
//! the run before anything reaches a host. Then it executes the plans in
//! order, each one fanned out over its hosts.

mod check;
mod project;
mod run_cmd;
mod services;

use crate::config::Project;
use crate::error::Error;
use crate::fanout::Fanout;
use crate::inventory::Host;
use crate::plan::{Args, Context, TaskCall};
use crate::{release, suggest};

pub(crate) struct Builtin {
    pub(crate) name: &'static str,
    pub(crate) usage: &'static str,
    pub(crate) description: &'static str,
}

pub(crate) const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "check",
        usage: "check",
        description: "Connect to every host and report what ferry needs there (user, tools, deploy_to, ssh -G)",
    },
    Builtin {
        name: "deploy",
        usage: "deploy[:ref=REF,resume=yes]",
        description: "Build a new release beside the live one on every host, switch to it, restart, check health",
    },
    Builtin {
        name: "rollback",
        usage: "rollback[:to=RELEASE]",
        description: "Go back to the previous good release (every host must have it)",
    },
    Builtin {
        name: "releases",
        usage: "releases",
        description: "List each host's releases (live, previous, failed, pinned) and whether the hosts agree",
    },
    Builtin {
        name: "history",
        usage: "history[:n=20]",
        description: "Show the last deploys, rollbacks and releases prepared, from each host's history",
    },
    Builtin {
        name: "setup_release",
        usage: "setup_release[:ref=REF,keep_days=N]",
        description: "Upload and build a release without switching to it; cleanup keeps it N days",
    },
    Builtin {
        name: "hotfix",
        usage: "hotfix[:ref=REF]",
        description: "Ship new code reusing the live release's venv: no build, no migrations",
    },
    Builtin {
        name: "cleanup",
        usage: "cleanup",
        description: "Remove old releases, keeping keep_releases good ones (never live, previous or pinned)",
    },
    Builtin {
        name: "unlock",
        usage: "unlock[:force=yes]",
        description: "Remove a deploy lock left by a run that is gone",
    },
    Builtin {
        name: "provision",
        usage: "provision",
        description: "Set hosts up as [provision] says: packages, users, directories, files, services (--check, --diff)",
    },
    Builtin {
        name: "start",
        usage: "start[:SERVICE,…]",
        description: "Start the services (all, or those named) on the hosts that run them",
    },
    Builtin {
        name: "stop",
        usage: "stop[:SERVICE,…]",
        description: "Stop the services on the hosts that run them",
    },
    Builtin {
        name: "restart",
        usage: "restart[:SERVICE,…]",
        description: "Restart the services on the hosts that run them",
    },
    Builtin {
        name: "reload",
        usage: "reload[:SERVICE,…]",
        description: "Reload the services gracefully (gunicorn: new workers, no dropped request)",
    },
    Builtin {
        name: "status",
        usage: "status[:SERVICE,…]",
        description: "Show each service's state on each host, as one table",
    },
    Builtin {
        name: "logs",
        usage: "logs[:SERVICE,…][,lines=N]",
        description: "Follow the services' logs on every host, prefixed by host, until Ctrl-C",
    },
    Builtin {
        name: "supervisorctl",
        usage: "supervisorctl:cmd=COMMAND",
        description: "Pass a command to supervisorctl on the hosts with supervisor services",
    },
    Builtin {
        name: "run",
        usage: "run -- COMMAND [ARG…]",
        description: "Run a command in the current release (or the login directory) on every host",
    },
];

/// Names kept for ferry's own tasks, so a project task never shadows one.
pub(crate) const BUILTIN_NAMES: &[&str] = &[
    "check",
    "run",
    "deploy",
    "rollback",
    "releases",
    "cleanup",
    "unlock",
    "provision",
    "setup_release",
    "hotfix",
    "start",
    "stop",
    "restart",
    "reload",
    "status",
    "logs",
    "supervisorctl",
    "history",
];

pub(crate) fn is_builtin(name: &str) -> bool {
    BUILTIN_NAMES.contains(&name)
}

/// One task, ready to run: every host's script is already rendered.
pub(crate) struct Plan {
    pub(crate) name: String,
    pub(crate) hosts: Vec<Host>,
    kind: Kind,
}

enum Kind {
    Scripts(project::Scripts),
    Check(String),
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
    let (hosts, kind) = match call.name.as_str() {
        "check" => {
            no_args(call)?;
            (
                ctx.hosts.to_vec(),
                Kind::Check(ctx.env.settings.deploy_to.clone()),
            )
        }
        "run" => {
            no_args(call)?;
            no_check_mode(call, ctx)?;
            let scripts = run_cmd::plan(ctx)?;
            (ctx.hosts.to_vec(), Kind::Scripts(scripts))
        }
        "deploy" | "hotfix" | "setup_release" => {
            let mode = match call.name.as_str() {
                "deploy" => release::Mode::Deploy,
                "hotfix" => release::Mode::Hotfix,
                _ => release::Mode::Setup { keep_days: None },
            };
            (
                ctx.hosts.to_vec(),
                Kind::Deploy(Box::new(release::DeployPlan::new(mode, call, ctx)?)),
            )
        }
        "rollback" => (
            ctx.hosts.to_vec(),
            Kind::Rollback(release::Rollback::new(call, ctx)?),
        ),
        "provision" => {
            no_args(call)?;
            (
                ctx.hosts.to_vec(),
                Kind::Provision(crate::provision::plan(ctx)?),
            )
        }
        name if services::NAMES.contains(&name) => {
            let (hosts, plan) = services::plan(call, ctx)?;
            (hosts, Kind::Services(plan))
        }
        "releases" | "history" | "cleanup" | "unlock" => {
            (ctx.hosts.to_vec(), layout_task(call, ctx)?)
        }
        name => match ctx.project.task(name) {
            Some(def) => {
                no_check_mode(call, ctx)?;
                let (hosts, scripts) = project::plan(def, call, ctx)?;
                (hosts, Kind::Scripts(scripts))
            }
            None => return Err(unknown_task(name, ctx.project)),
        },
    };
    Ok(Plan {
        name: call.name.clone(),
        hosts,
        kind,
    })
}

impl Plan {
    pub(crate) async fn execute(&self, fanout: &Fanout) {
        let hosts = fanout.live(&self.hosts);
        match &self.kind {
            Kind::Scripts(scripts) => project::execute(&self.name, scripts, &hosts, fanout).await,
            Kind::Check(deploy_to) => check::execute(&hosts, deploy_to, fanout).await,
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
fn layout_task(call: &TaskCall, ctx: &Context<'_>) -> Result<Kind, Error> {
    let layout = release::Layout::new(&ctx.env.settings.deploy_to);
    let env = ctx.env.name.clone();
    Ok(match call.name.as_str() {
        "releases" => {
            Args::bind(call, &[])?;
            Kind::Releases(release::Releases { layout })
        }
        "history" => Kind::History(release::History {
            layout,
            lines: Args::bind(call, &["n"])?.number("n")?.unwrap_or(20),
        }),
        "cleanup" => {
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

pub(crate) fn unknown_task(name: &str, project: &Project) -> Error {
    let names = project
        .tasks
        .iter()
        .map(|t| t.name.as_str())
        .chain(BUILTINS.iter().map(|b| b.name));
    let hint = suggest::hint(name, names).or_else(|| Some("`ferry -l` lists the tasks".into()));
    if is_builtin(name) {
        return Error::usage(
            format!("`{name}` is not available in this version of ferry"),
            hint,
        );
    }
    Error::usage(format!("no task named `{name}`"), hint)
}
