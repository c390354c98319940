//! `logs[:SERVICE,…][,lines=N]`: follow the services' logs on every host at
//! once, each line prefixed with its host, until Ctrl-C (Fabric's
//! `tail_app_log`). Log files are followed with `tail -F` (rotation-proof),
//! systemd services without log files through the journal, and with
//! supervisor its own log too.
//!
//! A container release's logs are its live container's (`docker logs -f`).
//!
//! Ctrl-C drops the connection; the host side notices on its next
//! heartbeat (a report on ferry's channel each second) and
//! stops its followers, so nothing is left running there.

use std::collections::HashMap;

use super::OnHost;
use crate::config::Manager;
use crate::error::Error;
use crate::event::Status;
use crate::fanout::{Fanout, Outcome};
use crate::inventory::Host;
use crate::plan::Context;
use crate::shell::{Script, Word};
use crate::transport::Request;

pub(crate) struct Plan {
    scripts: HashMap<String, String>,
}

const SUPERVISORD_LOG: &str = "/var/log/supervisor/supervisord.log";

pub(super) fn plan(
    ctx: &Context<'_>,
    hosts: &[Host],
    on: &OnHost<'_, '_>,
    lines: u32,
) -> Result<(Vec<Host>, Plan), Error> {
    let mut scripts = HashMap::new();
    let mut following = Vec::new();
    for host in hosts {
        let services = on(host);
        let mut files = Vec::new();
        let mut units = Vec::new();
        for service in &services {
            let logs = service.log_files(ctx, host)?;
            if logs.is_empty() && service.manager == Manager::Systemd {
                units.push(service.unit.clone());
            }
            files.extend(logs);
        }
        if services.iter().any(|s| s.manager == Manager::Supervisor) {
            files.push(SUPERVISORD_LOG.into());
        }
        files.dedup();
        if files.is_empty() && units.is_empty() {
            continue;
        }
        let as_root = services.iter().any(|s| s.sudo != Some(false));
        scripts.insert(host.label.clone(), script(&files, &units, lines, as_root));
        following.push(host.clone());
    }
    if following.is_empty() {
        return Err(Error::usage(
            "these services have no logs ferry knows of",
            Some("add logs = [\"/var/log/…\"] to their [services.<key>]".into()),
        ));
    }
    Ok((following, Plan { scripts }))
}

/// `docker logs -f` of each host's live container, when the project's releases are
/// containers.
pub(super) fn containers(ctx: &Context<'_>, lines: u32) -> Option<Plan> {
    ctx.project.deploy.container.as_ref()?;
    let scripts = ctx
        .hosts
        .iter()
        .map(|host| {
            let name = crate::container::name(&ctx.project.app, host);
            let mut script = Script::new();
            crate::container::live(&mut script, &ctx.env.settings.deploy_to, &name);
            script.call(
                "set",
                [Word::lit("--"), Word::num(lines), Word::var("ferry_name")],
            );
            script.code("sh -s -- \"$@\" 1>&3 <<'FERRY_FOLLOW'");
            script.code(FOLLOW_CONTAINER).code("FERRY_FOLLOW");
            (host.label.clone(), script.build())
        })
        .collect();
    Some(Plan { scripts })
}

/// Like `FOLLOW`, for the live container. Arguments: the lines to show
/// first, the container's name.
const FOLLOW_CONTAINER: &str = r#"trap 'kill $ferry_pids 2>/dev/null' EXIT
trap 'exit 1' HUP INT TERM PIPE
docker logs -f --tail "$1" "$2" >&2 2>&1 &
ferry_pids=$!
while printf 'alive 1\n\0' 2>/dev/null; do sleep 1; done
"#;

/// The followers, under one shell of their own (root's when reading root's
/// logs), so it can stop them: a user cannot signal root's tail. Its stdout
/// is ferry's channel, where a heartbeat goes each second; once ferry is
/// gone the heartbeat fails, and the shell stops the followers on its way
/// out. Arguments: the lines to show first, how many of the rest are files,
/// then the files and the systemd units.
const FOLLOW: &str = r#"ferry_n=$1
ferry_files=$2
shift 2
ferry_pids=
trap 'kill $ferry_pids 2>/dev/null' EXIT
trap 'exit 1' HUP INT TERM PIPE
ferry_i=0
for ferry_a in "$@"; do
    if [ "$ferry_i" -lt "$ferry_files" ]; then
        tail -n "$ferry_n" -F -- "$ferry_a" >&2 &
    else
        journalctl --no-pager -n "$ferry_n" -f -u "$ferry_a" >&2 &
    fi
    ferry_pids="$ferry_pids $!"
    ferry_i=$((ferry_i + 1))
done
while printf 'alive 1\n\0' 2>/dev/null; do sleep 1; done
"#;

fn script(files: &[String], units: &[String], lines: u32, as_root: bool) -> String {
    let args = [
        Word::lit("--"),
        Word::num(lines),
        Word::num(files.len() as u64),
    ];
    let names = files.iter().chain(units).map(|n| Word::lit(n));
    let mut script = Script::new();
    script.call("set", args.into_iter().chain(names));
    script.code(if as_root {
        "ferry_root sh -s -- \"$@\" 1>&3 <<'FERRY_FOLLOW'"
    } else {
        "sh -s -- \"$@\" 1>&3 <<'FERRY_FOLLOW'"
    });
    script.code(FOLLOW).code("FERRY_FOLLOW");
    script.build()
}

pub(super) async fn execute(plan: &Plan, hosts: &[&Host], fanout: &Fanout) {
    fanout
        .each("logs", hosts, |host| async move {
            let request = Request::script(plan.scripts[&host.label].clone());
            tokio::select! {
                ran = fanout.script(host, request) => match ran.response {
                    Err(error) => Outcome::from_transport(&error),
                    Ok(response) if response.code == 0 => Outcome::new(Status::Ok),
                    Ok(response) => Outcome::failed(match ran.tail.last() {
                        Some(line) => line.clone(),
                        None => format!("exited with {:?}", response.code),
                    }),
                },
                // Dropping the script's future closes its session.
                () = fanout.cancelled() => Outcome::new(Status::Ok).message("stopped following"),
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_script_is_shellcheck_clean() {
        let files = [
            "/var/log/app.log".to_string(),
            "/var/log/a b'.log".to_string(),
        ];
        for as_root in [true, false] {
            crate::shell::tests::shellcheck(
                "logs",
                &super::script(&files, &["app.service".into()], 50, as_root),
            );
        }
        crate::shell::tests::shellcheck("container logs", super::FOLLOW_CONTAINER);
    }
}
