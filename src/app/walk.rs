//! `promote` and `ship`: several environments in one run. Each gets its
//! own resolved environment, planning context and fan-out (its own SSH
//! options and failure policy); one event stream and renderer serve them
//! all, and each closes with its own recap. The pipeline decides what
//! happens; this file only sets the stages up and turns them into an exit
//! code.

use tokio_util::sync::CancellationToken;

use super::{confirm_env, environment, locate_app, ssh_options};
use crate::cli::Cli;
use crate::config::Project;
use crate::error::Error;
use crate::event::{Event, Events};
use crate::exit::ExitStatus;
use crate::fanout::Fanout;
use crate::pipeline::{self, Gate, Stage};
use crate::plan::{self, TaskCall};
use crate::release;
use crate::secret::{Fetcher, Redactor};
use crate::transport::{Pool, SshOptions};
use crate::{signal, ui};

/// `promote` and `ship`: several environments in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Walk {
    Promote,
    Ship,
}

pub(super) fn run(
    cli: &Cli,
    project: &Project,
    names: &[String],
    walk: Walk,
) -> Result<ExitStatus, Error> {
    if !cli.roles.is_empty() || !cli.limit.is_empty() || !cli.hosts_override.is_empty() {
        return Err(Error::usage(
            "`promote` and `ship` work on whole environments: --roles, --limit and -H do not apply",
            None,
        ));
    }
    if cli.check || !cli.command.is_empty() {
        return Err(Error::usage(
            "`promote` and `ship` have no --check mode and take no command",
            None,
        ));
    }
    if walk == Walk::Promote && names[0] == names[1] {
        return Err(Error::usage(
            format!("cannot promote `{}` to itself", names[0]),
            None,
        ));
    }
    let mut envs = names
        .iter()
        .map(|name| environment(cli, project, name, &[]))
        .collect::<Result<Vec<_>, _>>()?;
    // Each stage plans with its environment's [deploy], [services] and [tasks].
    let mut projects = names
        .iter()
        .map(|name| project.for_environment(name))
        .collect::<Result<Vec<_>, _>>()?;
    // Each ships the app's repository (see `config::locate`).
    for project in &mut projects {
        locate_app(cli, project)?;
    }
    // One fetcher for every stage: a secret's command runs once per run.
    let fetcher = Fetcher::default();
    for env in &mut envs {
        env.fetch_secrets(&fetcher)?;
    }
    // Promotion ships an artifact that was tested when it was deployed.
    let gate = Gate::new(project, cli.skip_tests, walk == Walk::Ship);
    let ctxs: Vec<plan::Context<'_>> = envs
        .iter()
        .zip(&projects)
        .map(|(env, project)| plan::Context {
            project,
            env,
            hosts: &env.hosts,
            command: &[],
            check: false,
            diff: false,
            tests: gate.history(),
        })
        .collect();
    let first = match walk {
        Walk::Ship => Some(release::DeployPlan::new(
            release::Mode::Deploy,
            &TaskCall {
                name: "deploy".into(),
                args: Vec::new(),
            },
            &ctxs[0],
        )?),
        Walk::Promote => None,
    };
    let skip = if walk == Walk::Promote { 1 } else { 0 };
    for env in envs.iter().skip(skip) {
        let what = if walk == Walk::Promote {
            "Promote"
        } else {
            "Ship"
        };
        confirm_env(
            cli,
            env,
            &format!("{what} to {} ({} hosts)?", env.name, env.hosts.len()),
        )?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))?;
    let options = ui::Options::new(cli.json, cli.quiet, cli.verbose);
    runtime.block_on(walk_stages(&ctxs, first.as_ref(), &gate, options))
}

async fn walk_stages(
    ctxs: &[plan::Context<'_>],
    first: Option<&release::DeployPlan>,
    gate: &Gate,
    options: ui::Options,
) -> Result<ExitStatus, Error> {
    let secrets = ctxs.iter().flat_map(|c| c.env.secrets.iter());
    let (events, receiver) = Events::channel(Redactor::new(secrets), options.verbose);
    let renderer = ui::spawn(options, receiver);
    let cancel = CancellationToken::new();
    let signals = signal::watch(cancel.clone(), events.clone());
    let mut fanouts = Vec::new();
    for ctx in ctxs {
        let control_dir = SshOptions::control_dir().map_err(|e| {
            Error::io(
                "cannot create a directory for SSH control sockets in /tmp",
                e,
            )
        })?;
        let settings = &ctx.env.settings;
        fanouts.push(Fanout::new(
            ctx.hosts,
            std::sync::Arc::new(Pool::new(ssh_options(ctx.env, control_dir))),
            events.clone(),
            settings.parallel,
            settings.on_failure,
            cancel.clone(),
        ));
    }
    let names: Vec<&str> = ctxs.iter().map(|c| c.env.name.as_str()).collect();
    let walk = if first.is_some() { "ship" } else { "promote" };
    events.emit(Event::RunStarted {
        environment: names.join(" -> "),
        tasks: vec![walk.into()],
        hosts: ctxs
            .iter()
            .flat_map(|c| c.hosts.iter().map(|h| h.label.clone()))
            .collect(),
    });
    let stages: Vec<Stage<'_>> = ctxs
        .iter()
        .zip(&fanouts)
        .map(|(ctx, fanout)| Stage { ctx, fanout })
        .collect();
    match first {
        Some(first) => {
            pipeline::ship(&stages, first, gate).await;
        }
        None => {
            // A failure is already recorded in the fan-out, with what it left.
            let _ = pipeline::promote(&stages[0], &stages[1]).await;
        }
    }
    drop(stages);
    let (mut failed, mut interrupted) = (false, false);
    // One recap per environment, titled with its name.
    for (ctx, fanout) in ctxs.iter().zip(fanouts) {
        events.emit(Event::RunStarted {
            environment: ctx.env.name.clone(),
            tasks: vec![walk.into()],
            hosts: ctx.hosts.iter().map(|h| h.label.clone()).collect(),
        });
        let summary = fanout.finish().await;
        failed |= summary.any_failure;
        interrupted |= summary.interrupted;
    }
    signals.abort();
    drop(events);
    let _ = renderer.await;
    Ok(if interrupted {
        ExitStatus::Interrupted
    } else if failed {
        ExitStatus::Failed
    } else {
        ExitStatus::Success
    })
}
