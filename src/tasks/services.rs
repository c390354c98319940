//! Service tasks: `start`, `stop`, `restart`, `reload`, `status`, `logs`
//! and the `supervisorctl` passthrough, for the environment's
//! `[services.<key>]`, each on the hosts whose roles run the service. Naming
//! services narrows them: `restart:worker`. How a manager is driven lives in
//! `crate::service`, shared with deploys; this module picks the services
//! and hosts, and reports.

mod logs;
mod status;

use std::collections::HashMap;

use super::project::{self, Scripts};
use crate::builtin::{self, Builtin};
use crate::config::{Manager, Serial, ServiceDef};
use crate::error::Error;
use crate::event::Status;
use crate::fanout::{Fanout, Outcome};
use crate::inventory::Host;
use crate::plan::Context;
use crate::plan::TaskCall;
use crate::service::Action;
use crate::shell::{Command, Script, Word};
use crate::suggest;

pub(crate) struct Plan {
    kind: Kind,
    /// `restart` and `reload` go a batch of hosts at a time.
    rolling: bool,
    /// `[deploy] serial`, for the batches (see `Serial::or_half`).
    serial: Option<Serial>,
}

enum Kind {
    /// Steps that run on the hosts: start, stop, restart, reload, supervisorctl.
    Scripts(Scripts),
    /// `--check`: what each host would run, and nothing runs.
    Preview(HashMap<String, Vec<String>>),
    Status(status::Plan),
    Logs(logs::Plan),
}

pub(crate) fn plan(
    entry: &builtin::Entry,
    call: &TaskCall,
    ctx: &Context<'_>,
) -> Result<(Vec<Host>, Plan), Error> {
    let args = Args::parse(entry, call)?;
    // A container release without [services]: the live container is the service.
    if ctx.project.services.is_empty() {
        if let Some(kind) = containers(entry.task, ctx, &args)? {
            let plan = Plan {
                kind,
                rolling: matches!(entry.task, Builtin::Restart | Builtin::Reload),
                serial: ctx.project.deploy.serial,
            };
            return Ok((ctx.hosts.to_vec(), plan));
        }
    }
    let services = select(entry, call, ctx, &args.services)?;
    let hosts: Vec<Host> = ctx
        .hosts
        .iter()
        .filter(|h| services.iter().any(|s| s.runs_on(h)))
        .cloned()
        .collect();
    if hosts.is_empty() {
        let keys: Vec<&str> = services.iter().map(|s| s.key.as_str()).collect();
        return Err(Error::usage(
            format!("no selected host runs {}", keys.join(", ")),
            Some("check --roles/--hosts, or the services' roles in ferry.toml".into()),
        ));
    }
    let on = |host: &Host| -> Vec<&ServiceDef> {
        services
            .iter()
            .copied()
            .filter(|s| s.runs_on(host))
            .collect()
    };
    let kind = match entry.task {
        Builtin::Status => Kind::Status(status::plan(ctx, &hosts, &on)?),
        Builtin::Logs => {
            let (hosts, plan) = logs::plan(ctx, &hosts, &on, args.lines)?;
            return Ok((
                hosts,
                Plan {
                    kind: Kind::Logs(plan),
                    rolling: false,
                    serial: None,
                },
            ));
        }
        Builtin::Supervisorctl => {
            super::no_check_mode(call, ctx)?;
            let command = args.command.ok_or_else(|| {
                Error::usage(
                    "`supervisorctl` needs the command to pass",
                    Some(
                        "for example: ferry production supervisorctl:cmd=\"tail -f app-web\""
                            .into(),
                    ),
                )
            })?;
            Kind::Scripts(supervisorctl(&hosts, &on, &command)?)
        }
        task => {
            let action = action(task);
            if ctx.check {
                Kind::Preview(preview(ctx, &hosts, &on, action)?)
            } else {
                Kind::Scripts(control(ctx, &hosts, &on, action)?)
            }
        }
    };
    let rolling = matches!(entry.task, Builtin::Restart | Builtin::Reload);
    let serial = ctx.project.deploy.serial;
    Ok((
        hosts,
        Plan {
            kind,
            rolling,
            serial,
        },
    ))
}

pub(crate) async fn execute(name: &str, plan: &Plan, hosts: &[&Host], fanout: &Fanout) {
    match &plan.kind {
        // A restart goes a batch at a time; a failed batch stops the rest
        // (with on_failure = "stop").
        Kind::Scripts(scripts) if plan.rolling => {
            let batch = Serial::or_half(plan.serial, hosts.len());
            for group in hosts.chunks(batch) {
                project::execute(name, scripts, group, fanout).await;
            }
        }
        Kind::Scripts(scripts) => project::execute(name, scripts, hosts, fanout).await,
        Kind::Preview(lines) => {
            fanout
                .each(name, hosts, |host| async move {
                    for line in &lines[&host.label] {
                        fanout.events.output(
                            &host.label,
                            crate::transport::Stream::Stdout,
                            format!("would run: {line}"),
                        );
                    }
                    Outcome::new(Status::Changed)
                })
                .await;
        }
        Kind::Status(status) => status::execute(status, hosts, fanout).await,
        Kind::Logs(logs) => logs::execute(logs, hosts, fanout).await,
    }
}

struct Args {
    services: Vec<String>,
    lines: u32,
    command: Option<Vec<String>>,
}

impl Args {
    /// Positional values name services (`restart:web,worker`), except for
    /// `supervisorctl`, whose one value is its command.
    fn parse(entry: &builtin::Entry, call: &TaskCall) -> Result<Self, Error> {
        let mut args = Args {
            services: Vec::new(),
            lines: 10,
            command: None,
        };
        let passthrough = entry.task == Builtin::Supervisorctl;
        for (key, value) in &call.args {
            match (key.as_deref(), passthrough) {
                (None, false) | (Some("service"), false) => args.services.push(value.clone()),
                (Some("lines"), false) if entry.task == Builtin::Logs => {
                    args.lines = value.parse().map_err(|_| {
                        Error::usage(format!("lines={value}: not a whole number"), None)
                    })?;
                }
                (None | Some("cmd"), true) => {
                    let words = shlex::split(value)
                        .filter(|w| !w.is_empty())
                        .ok_or_else(|| {
                            Error::usage(format!("cannot split `{value}` into words"), None)
                        })?;
                    args.command = Some(words);
                }
                (Some(key), _) => {
                    return Err(Error::usage(
                        format!("`{}` has no argument `{key}`", call.name),
                        Some(format!("usage: ferry <env> {}", entry.usage)),
                    ));
                }
            }
        }
        Ok(args)
    }
}

/// `logs`, `status` and `restart` of the live container, for container releases.
fn containers(task: Builtin, ctx: &Context<'_>, args: &Args) -> Result<Option<Kind>, Error> {
    if ctx.project.deploy.container.is_none() {
        return Ok(None);
    }
    let label = match task {
        Builtin::Logs => return Ok(logs::containers(ctx, args.lines).map(Kind::Logs)),
        Builtin::Status => "status of the live container",
        // A fresh container in the idle slot, probed, then the switch: no gap.
        Builtin::Restart => "restart of the live container",
        _ => return Ok(None),
    };
    if ctx.check {
        return Err(Error::usage(format!("`{label}` has no --check mode"), None));
    }
    let def = ctx
        .project
        .deploy
        .container
        .as_ref()
        .expect("checked above");
    let env_file = ctx.project.deploy.dotenv.as_ref().map(|d| d.file.as_str());
    let deploy_to = &ctx.env.settings.deploy_to;
    Ok(Some(Kind::Scripts(Scripts::one_per_host(
        ctx.hosts,
        None,
        |host| {
            let upstream =
                crate::container::upstream(def, &ctx.project.app, host, deploy_to, env_file);
            let mut script = Script::new();
            if task == Builtin::Status {
                crate::container::status(&mut script, &upstream);
            } else {
                crate::container::switch(&mut script, &upstream, true);
            }
            (script.build(), Vec::new())
        },
    ))))
}

fn action(task: Builtin) -> Action {
    match task {
        Builtin::Start => Action::Start,
        Builtin::Stop => Action::Stop,
        Builtin::Restart => Action::Restart,
        Builtin::Reload => Action::Reload,
        _ => Action::Status,
    }
}

/// The services named (all when none is), known to ferry.toml.
fn select<'a>(
    entry: &builtin::Entry,
    call: &TaskCall,
    ctx: &Context<'a>,
    keys: &[String],
) -> Result<Vec<&'a ServiceDef>, Error> {
    let all = &ctx.project.services;
    if all.is_empty() {
        return Err(Error::usage(
            format!("`{}`: ferry.toml declares no [services]", call.name),
            Some("add [services.web] with the command your app runs under".into()),
        ));
    }
    let mut chosen = Vec::new();
    for key in keys {
        match all.iter().find(|s| s.key == *key) {
            Some(service) => chosen.push(service),
            None => {
                return Err(Error::usage(
                    format!("no service `{key}` in [services]"),
                    suggest::hint(key, all.iter().map(|s| s.key.as_str())),
                ));
            }
        }
    }
    if chosen.is_empty() {
        chosen = all.iter().collect();
    }
    if entry.task == Builtin::Supervisorctl {
        chosen.retain(|s| s.manager == Manager::Supervisor);
        if chosen.is_empty() {
            return Err(Error::usage(
                "`supervisorctl`: no service here is managed by supervisor",
                None,
            ));
        }
    }
    Ok(chosen)
}

type OnHost<'s, 'a> = dyn Fn(&Host) -> Vec<&'a ServiceDef> + 's;

fn control(
    ctx: &Context<'_>,
    hosts: &[Host],
    on: &OnHost<'_, '_>,
    action: Action,
) -> Result<Scripts, Error> {
    let mut prepared = HashMap::new();
    for host in hosts {
        let mut script = Script::new();
        let mut labels = Vec::new();
        for service in on(host) {
            // Slots move without a gap: a restart is a switch to a fresh slot.
            if let Some(upstream) = service.upstream(ctx, host)? {
                // A slot's probe sees the .env like the app (see Script::env_file).
                script.env_file(ctx.env_file().as_deref().map(Word::lit));
                match action {
                    Action::Restart | Action::Reload => upstream.switch(&mut script, true),
                    other => upstream.control(&mut script, other.as_str()),
                }
                script.env_file(None);
                continue;
            }
            let label = format!("{} {}", action.as_str(), service.key);
            let command = Command::user(service.control(action, ctx, host)?);
            script.step(labels.len() + 1, &label, &command);
            labels.push(label);
        }
        prepared.insert(host.label.clone(), (script.build(), labels));
    }
    Ok(Scripts::one_per_host(hosts, None, |host| {
        prepared.remove(&host.label).expect("prepared above")
    }))
}

/// `--check`: the commands each host would run, as a user could type them.
fn preview(
    ctx: &Context<'_>,
    hosts: &[Host],
    on: &OnHost<'_, '_>,
    action: Action,
) -> Result<HashMap<String, Vec<String>>, Error> {
    let mut lines = HashMap::new();
    for host in hosts {
        let mut commands = Vec::new();
        for service in on(host) {
            if service.slots.is_some() && matches!(action, Action::Restart | Action::Reload) {
                commands.push(format!(
                    "start {} in its idle slot on the live release, probe it, point nginx at it, stop the other",
                    service.key
                ));
                continue;
            }
            let command = service.control(action, ctx, host)?;
            commands.push(match command.strip_prefix("ferry_root ") {
                Some(command) => format!("{command} (as root)"),
                None => command,
            });
        }
        lines.insert(host.label.clone(), commands);
    }
    Ok(lines)
}

fn supervisorctl(
    hosts: &[Host],
    on: &OnHost<'_, '_>,
    command: &[String],
) -> Result<Scripts, Error> {
    let label = format!("supervisorctl {}", command.join(" "));
    Ok(Scripts::one_per_host(hosts, None, |host| {
        // Its socket is root's unless every service here says sudo = false.
        let as_root = on(host).iter().any(|s| s.sudo != Some(false));
        let program = if as_root {
            "ferry_root supervisorctl"
        } else {
            "supervisorctl"
        };
        let words = command.iter().map(|w| Word::lit(w));
        let mut script = Script::new();
        script.step(1, &label, &Command::words(program, words));
        (script.build(), vec![label.clone()])
    }))
}
