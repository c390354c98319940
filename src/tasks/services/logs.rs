//! `logs[:SERVICE,…][,lines=N]`: follow the services' logs on every host at
//! once, each line prefixed with its host, until Ctrl-C (Fabric's
//! `tail_app_log`). Log files are followed with `tail -F` (rotation-proof),
//! systemd services without log files through the journal, and with
//! supervisor its own log too.
//!
//! Ctrl-C drops the connection; the host side notices on its next
//! heartbeat (a marker line each second, which ferry does not show) and
//! stops its followers, so nothing is left running there.

use std::collections::HashMap;

use super::OnHost;
use crate::config::Manager;
use crate::error::Error;
use crate::event::Status;
use crate::fanout::{Fanout, MARKER, Outcome};
use crate::inventory::Host;
use crate::plan::Context;
use crate::script::{Script, quote};
use crate::service::AS_ROOT;
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

fn script(files: &[String], units: &[String], lines: u32, as_root: bool) -> String {
    let mut follow = String::from(
        "trap 'kill $ferry_pids 2>/dev/null' EXIT\ntrap 'exit 1' HUP INT TERM PIPE\nferry_pids=\n",
    );
    if !files.is_empty() {
        let files: Vec<String> = files.iter().map(|f| quote(f).into_owned()).collect();
        follow.push_str(&format!(
            "tail -n {lines} -F -- {} 2>&1 &\nferry_pids=\"$ferry_pids $!\"\n",
            files.join(" ")
        ));
    }
    if !units.is_empty() {
        let units: Vec<String> = units.iter().map(|u| format!("-u {}", quote(u))).collect();
        follow.push_str(&format!(
            "journalctl --no-pager -n {lines} -f {} 2>&1 &\nferry_pids=\"$ferry_pids $!\"\n",
            units.join(" ")
        ));
    }
    follow.push_str(&format!(
        "while printf '%s\\n' {} 2>/dev/null; do sleep 1; done\n",
        quote(&format!("{MARKER}alive"))
    ));
    let mut script = Script::new();
    // The followers run under one shell of their own (root's when reading
    // root's logs), so it can stop them: a user cannot signal root's tail.
    script.line(AS_ROOT).line(&format!(
        "{}sh -s <<'FERRY_FOLLOW'\n{follow}FERRY_FOLLOW",
        if as_root { "ferry_root " } else { "" }
    ));
    script.build()
}

pub(super) async fn execute(plan: &Plan, hosts: &[&Host], fanout: &Fanout) {
    fanout
        .each("logs", hosts, |host| async move {
            let request = Request::script(plan.scripts[&host.label].clone());
            tokio::select! {
                ran = fanout.script(host, request) => match ran.response {
                    Err(error) => Outcome::from_transport(&error),
                    Ok(response) if response.code == Some(0) => Outcome::new(Status::Ok),
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
