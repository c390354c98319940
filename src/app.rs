//! The top of a run: from the parsed command line to an exit code. Load the
//! project, resolve the environment, select hosts, plan every task (nothing
//! has touched a host yet), confirm when the environment asks for it, then
//! execute the plans in order and let the recap tell how it went.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};
use crate::config::{self, ConfigError, Environment, Overrides, Project};
use crate::error::Error;
use crate::event::{Event, Events};
use crate::exit::ExitStatus;
use crate::fanout::Fanout;
use crate::inventory::{self, Host};
use crate::pipeline::{self, Gate, Stage};
use crate::plan::{self, TaskCall};
use crate::secret::Redactor;
use crate::tasks::{self, Plan};
use crate::transport::{Pool, SshOptions};
use crate::usage::UsageError;
use crate::{demo, init, signal, ui};

mod walk;

use walk::Walk;

pub(crate) fn run(cli: &Cli) -> Result<ExitStatus, Error> {
    match cli.command()? {
        Command::Init => init::write(&current_dir()?),
        Command::Completions(shell) => Ok(ui::completions(shell)),
        Command::Man => ui::man(),
        Command::List => ui::list(listed_project(cli)?.as_ref(), cli.json),
        Command::Demo => match find(cli) {
            Ok(_) => Err(UsageError::NoEnvironment.into()),
            Err(_) => {
                let demo = demo::prepare()?;
                run_tasks(cli, &demo.project, demo.env, demo.calls, &demo.set)
            }
        },
        Command::Run { env, calls } => run_tasks(cli, &load(cli)?, &env, calls, &[]),
        Command::Promote { from, to } => walk::run(cli, &load(cli)?, &[from, to], Walk::Promote),
        Command::Ship => {
            let project = load(cli)?;
            let stages = pipeline::stages(&project, cli.from_branch)?;
            walk::run(cli, &project, &stages, Walk::Ship)
        }
    }
}

fn current_dir() -> Result<PathBuf, Error> {
    std::env::current_dir().map_err(|e| Error::io("cannot read the working directory", e))
}

fn find(cli: &Cli) -> Result<PathBuf, Error> {
    match &cli.config {
        Some(path) => Ok(path.clone()),
        None => Ok(config::find(&current_dir()?)?),
    }
}

/// `ferry -l` lists the built-ins alone where there is no ferry.toml, but a
/// file that is there and broken (or `--config` naming none) is an error.
fn listed_project(cli: &Cli) -> Result<Option<Project>, Error> {
    match find(cli) {
        Ok(path) => Ok(Some(config::load(&path)?)),
        Err(Error::Config(ConfigError::NotFound(_))) => Ok(None),
        Err(error) => Err(error),
    }
}

fn load(cli: &Cli) -> Result<Project, Error> {
    Ok(config::load(&find(cli)?)?)
}

/// Resolve, plan, confirm, execute. `extra_set` comes before the user's own
/// `--set`, so the user can still override it.
fn run_tasks(
    cli: &Cli,
    project: &Project,
    env_name: &str,
    calls: Vec<TaskCall>,
    extra_set: &[(String, String)],
) -> Result<ExitStatus, Error> {
    if calls.len() == 1 && calls[0].name == "config" {
        return show_config(cli, project, env_name, extra_set);
    }
    // The environment's own [deploy], [services] and [tasks] over the base.
    let project = &project.for_environment(env_name)?;
    let env = environment(cli, project, env_name, extra_set)?;
    let hosts =
        inventory::select(&env.hosts, &cli.roles, &cli.limit).map_err(UsageError::Selection)?;
    let calls = with_default(project, calls)?;
    let ships = !cli.check && calls.iter().any(|c| pipeline::ships_code(&c.name));
    let gate = Gate::new(project, cli.skip_tests, ships);
    let ctx = plan::Context {
        project,
        env: &env,
        hosts: &hosts,
        command: &cli.command,
        check: cli.check,
        diff: cli.diff,
        tests: gate.history(),
    };
    let plans = calls
        .iter()
        .map(|call| tasks::plan(call, &ctx))
        .collect::<Result<Vec<_>, _>>()?;
    confirm(cli, &env, &hosts, &calls)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))?;
    let options = ui::Options::new(cli.json, cli.quiet, cli.verbose);
    runtime.block_on(execute(&ctx, &plans, &gate, options))
}

fn environment(
    cli: &Cli,
    project: &Project,
    name: &str,
    extra_set: &[(String, String)],
) -> Result<Environment, Error> {
    let set = overriding_values(cli, extra_set);
    Ok(project.environment(name, &overrides(cli, &set))?)
}

/// `--set` values, then `--parallel`, which is one too.
fn overriding_values(cli: &Cli, extra_set: &[(String, String)]) -> Vec<(String, String)> {
    let mut set = extra_set.to_vec();
    set.extend(cli.set.iter().cloned());
    if let Some(parallel) = cli.parallel {
        set.push(("parallel".into(), parallel.to_string()));
    }
    set
}

fn overrides<'a>(cli: &'a Cli, set: &'a [(String, String)]) -> Overrides<'a> {
    Overrides {
        set,
        hosts: (!cli.hosts_override.is_empty()).then_some(cli.hosts_override.as_slice()),
        env: &process_env,
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `ferry <env> config`: resolved as a run would resolve it; no host is touched.
fn show_config(
    cli: &Cli,
    project: &Project,
    name: &str,
    extra_set: &[(String, String)],
) -> Result<ExitStatus, Error> {
    let set = overriding_values(cli, extra_set);
    let overrides = overrides(cli, &set);
    let env = project.environment(name, &overrides)?;
    let values = config::explain(project, &env, &overrides);
    Ok(ui::config(
        &env.name,
        values,
        &Redactor::new(&env.secrets),
        cli.json,
    ))
}

fn with_default(project: &Project, calls: Vec<TaskCall>) -> Result<Vec<TaskCall>, Error> {
    if !calls.is_empty() {
        return Ok(calls);
    }
    match &project.default_task {
        Some(name) => Ok(vec![TaskCall {
            name: name.clone(),
            args: Vec::new(),
        }]),
        None => Err(UsageError::NoTask.into()),
    }
}

/// Ask before a run that changes hosts on an environment marked
/// `confirm = true`; tasks that only read (`releases`, `status`, …) never ask.
fn confirm(cli: &Cli, env: &Environment, hosts: &[Host], calls: &[TaskCall]) -> Result<(), Error> {
    let read_only = calls
        .iter()
        .all(|call| crate::builtin::find(&call.name).is_some_and(|b| b.read_only));
    if read_only {
        return Ok(());
    }
    let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
    let question = format!(
        "Run {} on {} ({})?",
        names.join(", "),
        env.name,
        crate::units::plural(hosts.len(), "host")
    );
    confirm_env(cli, env, &question)
}

/// Ask `question` when the environment wants confirmation and --yes was not given.
fn confirm_env(cli: &Cli, env: &Environment, question: &str) -> Result<(), Error> {
    if !env.confirm || cli.yes {
        return Ok(());
    }
    match ui::confirm(question) {
        Some(true) => Ok(()),
        Some(false) => Err(UsageError::NotConfirmed.into()),
        None => Err(UsageError::NoTerminal {
            env: env.name.clone(),
        }
        .into()),
    }
}

async fn execute(
    ctx: &plan::Context<'_>,
    plans: &[Plan],
    gate: &Gate,
    options: ui::Options,
) -> Result<ExitStatus, Error> {
    let (env, hosts) = (ctx.env, ctx.hosts);
    let (events, receiver) = Events::channel(Redactor::new(&env.secrets), options.verbose);
    let renderer = ui::spawn(options, receiver);
    let cancel = CancellationToken::new();
    let signals = signal::watch(cancel.clone(), events.clone());
    let control_dir = SshOptions::control_dir().map_err(|e| {
        Error::io(
            "cannot create a directory for SSH control sockets in /tmp",
            e,
        )
    })?;
    let pool = Pool::new(ssh_options(env, control_dir));
    events.emit(Event::RunStarted {
        environment: env.name.clone(),
        tasks: plans.iter().map(|p| p.name.clone()).collect(),
        hosts: hosts.iter().map(|h| h.label.clone()).collect(),
    });
    let settings = &env.settings;
    let fanout = Fanout::new(
        hosts,
        pool,
        events.clone(),
        settings.parallel,
        settings.on_failure,
        cancel,
    );
    let stage = Stage {
        ctx,
        fanout: &fanout,
    };
    if let Err(problem) = gate.pass(ctx.project, &events).await {
        fanout.fail(problem);
    } else {
        run_plans(&stage, plans).await;
    }
    let summary = fanout.finish().await;
    signals.abort();
    drop(events);
    let _ = renderer.await;
    Ok(if summary.interrupted {
        ExitStatus::Interrupted
    } else if summary.any_failure {
        ExitStatus::Failed
    } else {
        ExitStatus::Success
    })
}

/// The plans in order; a deploy is wrapped in the pipeline's steps.
async fn run_plans(stage: &Stage<'_>, plans: &[Plan]) {
    let fanout = stage.fanout;
    for plan in plans {
        if fanout.is_cancelled() {
            break;
        }
        if let Some(host) = fanout.stopped_by() {
            fanout.events.warn(format!(
                "not starting `{}`: {host} failed and on_failure = \"stop\"",
                plan.name
            ));
            break;
        }
        let followed =
            pipeline::ships_code(&plan.name) && !stage.ctx.check && pipeline::follows(stage);
        if !followed {
            plan.execute(fanout).await;
            continue;
        }
        let facts = pipeline::facts(stage, &plan.name);
        if !pipeline::before_deploy(stage, &facts).await {
            break;
        }
        plan.execute(fanout).await;
        // A failure is already recorded in the fan-out, with what it left.
        let _ = pipeline::after_deploy(stage, facts).await;
    }
}

fn ssh_options(env: &Environment, control_dir: tempfile::TempDir) -> SshOptions {
    let settings = &env.settings;
    SshOptions {
        host_key_checking: settings.host_key_checking,
        connect_timeout: settings.connect_timeout,
        keepalive: settings.keepalive,
        config_file: settings.ssh_config.clone(),
        default_user: settings.user.clone(),
        control_dir,
    }
}
