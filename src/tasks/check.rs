//! `ferry <env> check`: can ferry work on these hosts? It connects, shows
//! what OpenSSH made of the user's ssh_config for the host (`ssh -G`), and
//! reports the remote user, whether `deploy_to` is usable, and each tool
//! ferry's scripts run that is missing or lacks an option ferry uses there
//! (`check.sh` probes each with those options); for a container project,
//! whether the SSH user can run containers there. It changes nothing.

use std::sync::LazyLock;

use crate::event::Status;
use crate::fanout::{Fanout, Outcome};
use crate::inventory::{Address, Host};
use crate::plan::Context;
use crate::protocol::Marker;
use crate::release::Layout;
use crate::shell::Library;
use crate::transport::{Request, Stream, effective_config};

/// `check.sh`: the check itself and a probe of each tool ferry's scripts run.
static CHECK: LazyLock<Library> = LazyLock::new(|| Library::parse(include_str!("check.sh")));

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
    script.library(&CHECK);
    if plan.containers.is_some() {
        crate::container::probe_docker(&mut script);
    }
    script.code("ferry_check").build()
}

#[cfg(test)]
mod tests {
    use crate::shell::tests::shellcheck;

    fn plan(deploy_to: &str, containers: bool) -> super::Plan {
        super::Plan {
            deploy_to: deploy_to.into(),
            containers: containers.then(|| "production".into()),
        }
    }

    #[test]
    fn the_check_script_is_shellcheck_clean() {
        for containers in [false, true] {
            shellcheck(
                "check",
                &super::script(&plan("/srv/my app's $(x)", containers)),
            );
        }
    }

    /// On this machine (GNU coreutils) every probe passes, so a probe that
    /// fails on a host means the tool there lacks what ferry uses.
    #[test]
    fn every_probe_passes_with_gnu_tools() {
        let dir = tempfile::tempdir().unwrap();
        let deploy_to = dir.path().join("app");
        let (_, output) =
            crate::shell::tests::run_sh(&super::script(&plan(deploy_to.to_str().unwrap(), false)));
        assert!(output.contains("tools: all present"), "{output}");
        assert!(!output.contains("not ready"), "{output}");
    }

    /// Under BusyBox `sh` with only BusyBox applets on PATH (an Alpine
    /// host), the check names each applet that lacks an option ferry uses.
    #[test]
    fn under_busybox_the_check_names_each_tool_that_falls_short() {
        let bin = tempfile::tempdir().unwrap();
        let list = std::process::Command::new("busybox")
            .arg("--list")
            .output()
            .expect("busybox is installed (scripts/test-deps installs busybox-static)");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            std::os::unix::fs::symlink("/usr/bin/busybox", bin.path().join(applet)).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let script = super::script(&plan(dir.path().join("app").to_str().unwrap(), false));
        let mut busybox = std::process::Command::new("/usr/bin/busybox");
        busybox.arg("sh").env_clear().env("PATH", bin.path());
        let output = crate::shell::tests::through_bootstrap(busybox, &script);
        let said = String::from_utf8_lossy(&output.stderr);
        let last = said.lines().last().unwrap_or_default();
        assert_eq!(
            last, "not ready: without an option ferry uses: tar -czf --no-recursion --null -T",
            "{said}"
        );
    }
}
