//! `status`: each service's state on each host that runs it, gathered in
//! one script per host and shown as one table. It reports; a stopped
//! service is not a failed host.

use std::collections::HashMap;
use std::sync::Mutex;

use super::OnHost;
use crate::config::{Manager, ServiceDef};
use crate::error::Error;
use crate::event::{Event, ServiceState, Status};
use crate::fanout::{Fanout, Outcome};
use crate::inventory::Host;
use crate::plan::Context;
use crate::protocol::Marker;
use crate::service::Action;
use crate::shell::{Command, Script, Word};
use crate::transport::Request;

pub(crate) struct Plan {
    by_host: HashMap<String, HostStatus>,
}

struct HostStatus {
    script: String,
    services: Vec<(String, Manager, String)>,
}

pub(super) fn plan(ctx: &Context<'_>, hosts: &[Host], on: &OnHost<'_, '_>) -> Result<Plan, Error> {
    let mut by_host = HashMap::new();
    for host in hosts {
        let mut script = Script::new();
        script.code(STATUS);
        let mut services = Vec::new();
        for (index, service) in on(host).into_iter().enumerate() {
            // Its first line is what the table shows; the exit code decides
            // for services whose own `status` command is all there is.
            script.code("ferry_out=$( (");
            script.run(&probe(service, ctx, host)?);
            script.code(") 2>&1 3>&-)");
            script.call("ferry_status", [Word::num(index as u64)]);
            services.push((service.key.clone(), service.manager, service.unit.clone()));
        }
        by_host.insert(
            host.label.clone(),
            HostStatus {
                script: script.build(),
                services,
            },
        );
    }
    Ok(Plan { by_host })
}

/// Its first line is what the table shows; the exit code decides for
/// services whose own `status` command is all there is.
const STATUS: &str =
    r#"ferry_status() { ferry_say status "$1" "$?" "$(printf '%s\n' "$ferry_out" | head -n 1)"; }"#;

fn probe(service: &ServiceDef, ctx: &Context<'_>, host: &Host) -> Result<Command, Error> {
    Ok(match service.manager {
        // `systemctl status` is for people; is-active is one word.
        Manager::Systemd => Command::words(
            "systemctl",
            std::iter::once(Word::lit("is-active"))
                .chain(service.instances().iter().map(|unit| Word::lit(unit))),
        ),
        Manager::Supervisor | Manager::Command => {
            Command::user(service.control(Action::Status, ctx, host)?)
        }
    })
}

pub(super) async fn execute(plan: &Plan, hosts: &[&Host], fanout: &Fanout) {
    let by_host = Mutex::new(HashMap::new());
    fanout
        .each("status", hosts, |host| {
            let by_host = &by_host;
            async move {
                let status = &plan.by_host[&host.label];
                let ran = fanout
                    .script(host, Request::script(status.script.clone()))
                    .await;
                match ran.response {
                    Err(error) => Outcome::from_transport(&error),
                    Ok(response) => {
                        let rows = rows(&host.label, &status.services, &ran.markers);
                        by_host
                            .lock()
                            .expect("not poisoned")
                            .insert(&host.label, rows);
                        Outcome {
                            bytes_sent: response.bytes_sent,
                            bytes_received: response.bytes_received,
                            ..Outcome::new(Status::Ok)
                        }
                    }
                }
            }
        })
        .await;
    // In the order of the hosts, whichever answered first.
    let mut by_host = by_host.into_inner().expect("not poisoned");
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .filter_map(|h| by_host.remove(&h.label))
        .flatten()
        .collect();
    if !rows.is_empty() {
        let services = rows
            .into_iter()
            .map(|row| {
                let [host, service, manager, state, detail] =
                    <[String; 5]>::try_from(row).expect("five cells a row");
                ServiceState {
                    host,
                    service,
                    manager,
                    state,
                    detail,
                }
            })
            .collect();
        fanout.events.emit(Event::Services { services });
    }
}

fn rows(
    host: &str,
    services: &[(String, Manager, String)],
    markers: &[Marker],
) -> Vec<Vec<String>> {
    markers
        .iter()
        .filter_map(|m| match m {
            Marker::Status { index, code, line } => Some((*index, *code, line.trim())),
            _ => None,
        })
        .filter_map(|(index, code, line)| {
            let (key, manager, unit) = services.get(index)?;
            let (state, detail) = state(*manager, unit, code, line);
            Some(vec![
                host.to_string(),
                key.clone(),
                manager.as_str().into(),
                state,
                detail,
            ])
        })
        .collect()
}

/// What the probe's first line says: supervisorctl's `NAME STATE detail`,
/// systemd's one word, or a command's exit code.
fn state(manager: Manager, unit: &str, code: i32, line: &str) -> (String, String) {
    match manager {
        Manager::Supervisor => {
            let mut words = line.split_whitespace();
            let name = words.next().unwrap_or("").trim_end_matches(':');
            match (name == unit, words.next()) {
                (true, Some(state)) => (state.to_string(), words.collect::<Vec<_>>().join(" ")),
                _ => ("unknown".into(), line.to_string()),
            }
        }
        Manager::Systemd if !line.contains(' ') && !line.is_empty() => {
            (line.to_string(), String::new())
        }
        Manager::Systemd => ("unknown".into(), line.to_string()),
        Manager::Command if code == 0 => ("running".into(), line.to_string()),
        Manager::Command => (
            "not running".into(),
            format!("exit {code}{}", if line.is_empty() { "" } else { ": " }) + line,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_managers_say() {
        assert_eq!(
            state(
                Manager::Supervisor,
                "app-web",
                0,
                "app-web   RUNNING   pid 42, uptime 0:01:02"
            ),
            ("RUNNING".into(), "pid 42, uptime 0:01:02".into())
        );
        assert_eq!(
            state(
                Manager::Supervisor,
                "app-web",
                4,
                "app-web: ERROR (no such process)"
            )
            .0,
            "ERROR"
        );
        assert_eq!(
            state(
                Manager::Supervisor,
                "app-web",
                2,
                "unix:///var/run/supervisor.sock no such file"
            )
            .0,
            "unknown"
        );
        assert_eq!(state(Manager::Systemd, "u", 3, "inactive").0, "inactive");
        assert_eq!(
            state(Manager::Command, "x", 3, ""),
            ("not running".into(), "exit 3".into())
        );
    }
}
