//! The project's own tasks: arguments bound and checked, steps rendered for
//! each host, then one script per host (one round trip) that runs the steps
//! in order and stops at the first that fails.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::config::TaskDef;
use crate::error::Error;
use crate::event::Status;
use crate::fanout::Fanout;
use crate::inventory::Host;
use crate::plan::Context;
use crate::plan::TaskCall;
use crate::shell::{Command, Script, Word};
use crate::suggest;
use crate::transport::Request;

/// Rendered scripts, one per host, ready to send.
pub(crate) struct Scripts {
    by_host: HashMap<String, Prepared>,
}

struct Prepared {
    script: String,
    /// First line of each step, to name the one that failed.
    steps: Vec<String>,
    timeout: Option<Duration>,
}

impl Scripts {
    pub(crate) fn one_per_host(
        hosts: &[Host],
        timeout: Option<Duration>,
        mut make: impl FnMut(&Host) -> (String, Vec<String>),
    ) -> Self {
        let by_host = hosts
            .iter()
            .map(|host| {
                let (script, steps) = make(host);
                (
                    host.label.clone(),
                    Prepared {
                        script,
                        steps,
                        timeout,
                    },
                )
            })
            .collect();
        Self { by_host }
    }
}

pub(crate) fn plan(
    def: &TaskDef,
    call: &TaskCall,
    ctx: &Context<'_>,
) -> Result<(Vec<Host>, Scripts), Error> {
    let args = bind(def, call)?;
    let hosts = hosts_for(def, ctx.hosts)?;
    let what = format!("task `{}`", def.name);
    let mut by_host = HashMap::new();
    for host in &hosts {
        let values = ctx.host_values(host, &args);
        let mut script = Script::new();
        script
            .exports(&ctx.env.secrets)
            .values(&ctx.value_exports(&args)?);
        script.env_file(ctx.env_file().as_deref().map(Word::lit));
        if let Some(dir) = &def.dir {
            let dir = ctx.render(&what, dir, &values)?;
            script.run(&Command::user(format!("cd {dir} || exit")));
        }
        let mut labels = Vec::new();
        for (index, step) in def.steps.iter().enumerate() {
            let body = ctx.render(&what, step, &values)?;
            let label = first_line(step.get_ref());
            script.step(
                index + 1,
                &format!("{}/{} {label}", index + 1, def.steps.len()),
                &Command::user(body),
            );
            labels.push(label);
        }
        by_host.insert(
            host.label.clone(),
            Prepared {
                script: script.build(),
                steps: labels,
                timeout: def.timeout,
            },
        );
    }
    Ok((hosts, Scripts { by_host }))
}

pub(crate) async fn execute(task: &str, scripts: &Scripts, hosts: &[&Host], fanout: &Fanout) {
    fanout
        .each(task, hosts, |host| async move {
            let prepared = &scripts.by_host[&host.label];
            let request = Request {
                timeout: prepared.timeout,
                ..Request::script(prepared.script.clone())
            };
            fanout
                .script(host, request)
                .await
                .outcome(&prepared.steps, Status::Changed)
        })
        .await;
}

fn first_line(step: &str) -> String {
    let line = step.trim().lines().next().unwrap_or("");
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(59).collect::<String>())
    } else {
        line.to_string()
    }
}

/// `task:value,key=value`: positional values fill the required arguments in
/// order; keys must be arguments the task declares.
fn bind(def: &TaskDef, call: &TaskCall) -> Result<BTreeMap<String, String>, Error> {
    let mut bound = def.args.clone();
    let mut positional = def.required.iter();
    for (key, value) in &call.args {
        let key = match key {
            Some(key) if def.arg_names().any(|k| k == key) => key.clone(),
            Some(key) => {
                return Err(Error::usage(
                    format!("task `{}` has no argument `{key}`", def.name),
                    suggest::hint(key, def.arg_names()).or_else(|| Some(usage(def))),
                ));
            }
            None => positional.next().cloned().ok_or_else(|| {
                Error::usage(
                    format!("task `{}` takes no positional argument `{value}`", def.name),
                    Some(usage(def)),
                )
            })?,
        };
        bound.insert(key, value.clone());
    }
    if let Some(missing) = def.required.iter().find(|r| !bound.contains_key(*r)) {
        return Err(Error::usage(
            format!("task `{}` needs argument `{missing}`", def.name),
            Some(usage(def)),
        ));
    }
    Ok(bound)
}

fn usage(def: &TaskDef) -> String {
    let args: Vec<String> = def
        .required
        .iter()
        .map(|r| format!("{r}=…"))
        .chain(def.args.iter().map(|(k, v)| format!("{k}={v}")))
        .collect();
    format!("usage: ferry <env> {}:{}", def.name, args.join(","))
}

/// The hosts a task runs on: those with one of its roles, or just the first
/// of them for a `once` task.
fn hosts_for(def: &TaskDef, selected: &[Host]) -> Result<Vec<Host>, Error> {
    let mut hosts: Vec<Host> = selected
        .iter()
        .filter(|h| def.roles.is_empty() || h.has_any_role(&def.roles))
        .cloned()
        .collect();
    if hosts.is_empty() {
        return Err(Error::usage(
            format!(
                "no selected host has a role of task `{}` ({})",
                def.name,
                def.roles.join(", ")
            ),
            Some("check --roles/--hosts, or the roles of this environment in ferry.toml".into()),
        ));
    }
    if def.once {
        hosts.truncate(1);
    }
    Ok(hosts)
}
