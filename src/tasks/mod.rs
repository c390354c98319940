//! Tasks: ferry's built-in ones and the project's own from ferry.toml. A run
//! first *plans* every task named on the command line for every host —
//! arguments bound, templates rendered — so a mistake in any of them stops
//! the run before anything reaches a host. Then it executes the plans in
//! order, each one fanned out over its hosts.

mod check;
mod project;
mod run_cmd;

use crate::cli::TaskCall;
use crate::config::{Environment, Project};
use crate::error::Error;
use crate::fanout::Fanout;
use crate::inventory::Host;
use crate::suggest;

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

/// What planning needs to know about the run.
pub(crate) struct Context<'a> {
    pub(crate) project: &'a Project,
    pub(crate) env: &'a Environment,
    /// The hosts selected for this run (after -H, --roles, --hosts).
    pub(crate) hosts: &'a [Host],
    /// Words after `--`, for `run`.
    pub(crate) command: &'a [String],
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
            let scripts = run_cmd::plan(ctx)?;
            (ctx.hosts.to_vec(), Kind::Scripts(scripts))
        }
        name => match ctx.project.task(name) {
            Some(def) => {
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
        }
    }
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
