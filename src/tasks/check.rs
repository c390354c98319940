//! `ferry <env> check`: can ferry work on these hosts? It connects, shows
//! what OpenSSH made of the user's ssh_config for the host (`ssh -G`), and
//! reports the remote user, the tools ferry relies on and whether
//! `deploy_to` is usable. It changes nothing.

use crate::event::Status;
use crate::fanout::{Fanout, Outcome};
use crate::inventory::{Address, Host};
use crate::release::Layout;
use crate::transport::{Request, Stream, effective_config};

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

pub(crate) async fn execute(hosts: &[&Host], deploy_to: &str, fanout: &Fanout) {
    fanout
        .each("check", hosts, |host| async move {
            show_ssh_config(host, fanout).await;
            let ran = fanout
                .script(host, Request::script(script(deploy_to)))
                .await;
            match ran.response {
                Err(error) => Outcome::from_transport(&error),
                Ok(response) if response.code == 0 => Outcome::new(Status::Ok),
                Ok(_) => Outcome::failed(
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

fn script(deploy_to: &str) -> String {
    Layout::new(deploy_to).script().code("ferry_check").build()
}
