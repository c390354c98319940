//! `ferry <env> check`: can ferry work on these hosts? It connects, shows
//! what OpenSSH made of the user's ssh_config for the host (`ssh -G`), and
//! reports the remote user, the tools ferry relies on and whether
//! `deploy_to` is usable; for a container project, whether the SSH user can
//! run containers there. It changes nothing.

use crate::event::Status;
use crate::fanout::{Fanout, Outcome};
use crate::inventory::{Address, Host};
use crate::plan::Context;
use crate::protocol::Marker;
use crate::release::Layout;
use crate::transport::{Request, Stream, effective_config};

pub(crate) struct Plan {
    deploy_to: String,
    /// The environment's name, when the project runs containers.
    containers: Option<String>,
}

pub(crate) fn plan(ctx: &Context<'_>) -> Plan {
    Plan {
        deploy_to: ctx.env.settings.deploy_to.clone(),
        containers: ctx
            .project
            .deploy
            .container
            .as_ref()
            .map(|_| ctx.env.name.clone()),
    }
}

/// ssh -G keys worth showing: where the connection really goes and how.
const SSH_KEYS: &[&str] = &[
    "hostname",
    "user",
    "port",
    "proxyjump",
    "identityfile",
    "stricthostkeychecking",
    "userknownhostsfile",
];

pub(crate) async fn execute(hosts: &[&Host], plan: &Plan, fanout: &Fanout) {
    fanout
        .each("check", hosts, |host| async move {
            show_ssh_config(host, fanout).await;
            let ran = fanout.script(host, Request::script(script(plan))).await;
            let docker = ran.markers.iter().find_map(|m| match m {
                Marker::Docker(problem, said) => Some((*problem, said.as_str())),
                _ => None,
            });
            match (&ran.response, docker) {
                (Err(error), _) => Outcome::from_transport(error),
                // What keeps containers from running says more than the exit code.
                (Ok(_), Some((problem, said))) => {
                    let env = plan.containers.as_deref().unwrap_or_default();
                    let (message, hint) = crate::container::explain_docker(problem, said, env);
                    Outcome::failed(message).hint(Some(hint))
                }
                (Ok(response), None) if response.code == 0 => Outcome::new(Status::Ok),
                (Ok(_), None) => Outcome::failed(
                    ran.tail
                        .last()
                        .cloned()
                        .unwrap_or_else(|| "check failed".into()),
                ),
            }
        })
        .await;
}

async fn show_ssh_config(host: &Host, fanout: &Fanout) {
    let Address::Ssh { user, name, port } = &host.address else {
        return fanout.events.output(
            &host.label,
            Stream::Stdout,
            "transport: local (sh on this machine)".into(),
        );
    };
    let options = fanout.pool.options();
    let user = user.as_deref().or(options.default_user.as_deref());
    let ssh_options = fanout.pool.ssh_options();
    match effective_config(
        user,
        name,
        *port,
        options.config_file.as_deref(),
        &ssh_options,
    )
    .await
    {
        Ok(config) => {
            let shown: Vec<String> = config
                .lines()
                .filter(|line| {
                    SSH_KEYS
                        .iter()
                        .any(|key| line.split_once(' ').is_some_and(|(k, _)| k == *key))
                })
                .map(|line| line.replacen(' ', "=", 1))
                .collect();
            fanout.events.output(
                &host.label,
                Stream::Stdout,
                format!("ssh -G: {}", shown.join(" ")),
            );
        }
        Err(error) => fanout
            .events
            .warn(format!("{host}: cannot run `ssh -G`: {error}")),
    }
}

fn script(plan: &Plan) -> String {
    let mut script = Layout::new(&plan.deploy_to).script();
    if plan.containers.is_some() {
        crate::container::probe_docker(&mut script);
    }
    script.code("ferry_check").build()
}
