//! The top of a run: from the parsed command line to an exit code. Load the
//! project, resolve the environment, select hosts, plan every task (nothing
//! has touched a host yet), confirm when the environment asks for it, then
//! execute the plans in order and let the recap tell how it went.

use std::path::PathBuf;
use std::sync::Arc;

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
use crate::secret::{Fetcher, Redactor};
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

/// With `--config`, which repository is the app's (see `config::locate`);
/// a ferry.toml found from the working directory is the app's own. Called
/// on the environment's project, whose `[deploy] path` may be its own.
fn locate_app(cli: &Cli, project: &mut Project) -> Result<(), Error> {
    if cli.config.is_some() {
        project.locate_app(&current_dir()?)?;
    }
    Ok(())
}

/// Whether the run builds a release from the app's files (and so runs the
/// pipeline's local commands and moves its tags).
fn ships(project: &Project, calls: &[TaskCall]) -> bool {
    use crate::builtin::Builtin;
    let names = match calls.is_empty() {
        true => project.default_task.iter().collect::<Vec<_>>(),
        false => calls.iter().map(|c| &c.name).collect(),
    };
    names.iter().any(|name| {
        matches!(
            crate::builtin::find(name).map(|e| e.task),
            Some(Builtin::Deploy | Builtin::Hotfix | Builtin::SetupRelease)
        )
    })
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
    let mut project = project.for_environment(env_name)?;
    if ships(&project, &calls) {
        locate_app(cli, &mut project)?;
    }
    let project = &project;
    let mut env = environment(cli, project, env_name, extra_set)?;
    let hosts =
        inventory::select(&env.hosts, &cli.roles, &cli.limit).map_err(UsageError::Selection)?;
    let calls = with_default(project, calls)?;
    if needs_secrets(&calls) {
        env.fetch_secrets(&Fetcher::default())?;
    }
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))?;
    let control_dir = SshOptions::control_dir().map_err(|e| {
        Error::io(
            "cannot create a directory for SSH control sockets in /tmp",
            e,
        )
    })?;
    let pool = Arc::new(Pool::new(ssh_options(&env, control_dir)));
    // Connecting needs no answer from the user, but it waits for one.
    let warming = (warms(&calls) && (!env.confirm || cli.yes)).then(|| {
        let _runtime = runtime.enter();
        pool.warm(&hosts)
    });
    let planned = calls
        .iter()
        .map(|call| tasks::plan(call, &ctx))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|plans| confirm(cli, &env, &hosts, &calls).map(|()| plans));
    let plans = match planned {
        Ok(plans) => plans,
        Err(error) => {
            runtime.block_on(async {
                if let Some(mut warming) = warming {
                    while warming.join_next().await.is_some() {}
                }
                pool.close().await;
            });
            return Err(error);
        }
    };
    let options = ui::Options::new(cli.json, cli.quiet, cli.verbose);
    runtime.block_on(execute(&ctx, &plans, &gate, options, pool))
}

/// Runs whose planning takes a while (a deploy reads its commit) and that
/// go to every host right after: their connections open meanwhile.
fn warms(calls: &[TaskCall]) -> bool {
    use crate::builtin::Builtin;
    let first = calls
        .first()
        .and_then(|call| crate::builtin::find(&call.name));
    matches!(
        first.map(|entry| entry.task),
        Some(Builtin::Deploy | Builtin::SetupRelease | Builtin::Hotfix | Builtin::Rollback)
    )
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

/// Built-ins that read only ferry's own records and hosts' state, never
/// running a command that could use (or print) a secret: a run of these
/// alone fetches no secret from a command or a file.
const WITHOUT_SECRETS: &[&str] = &["releases", "history", "check", "config"];

fn needs_secrets(calls: &[TaskCall]) -> bool {
    calls
        .iter()
        .any(|call| !WITHOUT_SECRETS.contains(&call.name.as_str()))
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
    pool: Arc<Pool>,
) -> Result<ExitStatus, Error> {
    let (env, hosts) = (ctx.env, ctx.hosts);
    let (events, receiver) = Events::channel(Redactor::new(&env.secrets), options.verbose);
    let renderer = ui::spawn(options, receiver);
    let cancel = CancellationToken::new();
    let signals = signal::watch(cancel.clone(), events.clone());
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
