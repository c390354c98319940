//! Driving a service on a host through its manager: the shell command that
//! starts, stops, restarts, reloads or reports on it. Deploys (restart after
//! the switch) and the service tasks (`restart`, `status`, …) both come here,
//! so they behave the same.

use minijinja::Value;

use crate::config::{Manager, Probe, ServiceDef};
use crate::error::Error;
use crate::inventory::Host;
use crate::plan::Context;
use crate::shell::{Command, Word};
use crate::switch::{self, Runner, Slot, Upstream};
use crate::template::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Start,
    Stop,
    Restart,
    Reload,
    Status,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Reload => "reload",
            Action::Status => "status",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A shell function for scripts that control services: run as root, through
/// `sudo -n` when the SSH user is not root, so a password prompt can never
/// hang a run (sudo fails at once with "a password is required").
impl ServiceDef {
    pub(crate) fn runs_on(&self, host: &Host) -> bool {
        self.roles.is_empty() || host.has_any_role(&self.roles)
    }

    /// The command for `action` on `host`; scripts have `ferry_root` from the prelude.
    pub(crate) fn control(
        &self,
        action: Action,
        ctx: &Context<'_>,
        host: &Host,
    ) -> Result<String, Error> {
        let units = self.instances().join(" ");
        let unit = units.as_str();
        // `ferry_root` runs as root (through sudo -n unless already root);
        // `sudo = false` is for a manager the SSH user may drive itself.
        let root = if self.sudo == Some(false) {
            ""
        } else {
            "ferry_root "
        };
        Ok(match self.manager {
            Manager::Supervisor => match action {
                // SIGHUP: gunicorn starts workers on the new code, then retires the
                // old ones, dropping no request. A program not running is started.
                Action::Reload => format!(
                    "if {root}supervisorctl status {unit} | grep -q RUNNING; then {root}supervisorctl signal HUP {unit}; else {root}supervisorctl restart {unit}; fi"
                ),
                // Slots: the one that runs is the service's state.
                Action::Status if self.slots.is_some() => {
                    format!("{root}supervisorctl status {unit} | grep RUNNING")
                }
                other => format!("{root}supervisorctl {} {unit}", other.as_str()),
            },
            Manager::Systemd => match action {
                Action::Reload => format!("{root}systemctl reload-or-restart {unit}"),
                Action::Status => format!("{root}systemctl status --no-pager --lines=0 {unit}"),
                other => format!("{root}systemctl {} {unit}", other.as_str()),
            },
            Manager::Command => return self.own_command(action, ctx, host),
        })
    }

    /// The program or unit names the manager knows, quoted for the shell:
    /// one, or one per slot (`app-web-a`, or `app-web@a` for systemd).
    pub(crate) fn instances(&self) -> Vec<String> {
        let names = match (&self.slots, self.manager) {
            (None, _) => vec![self.unit.clone()],
            (Some(_), Manager::Systemd) => switch::SLOTS
                .iter()
                .map(|slot| format!("{}@{slot}", self.unit))
                .collect(),
            (Some(_), _) => switch::SLOTS
                .iter()
                .map(|slot| format!("{}-{slot}", self.unit))
                .collect(),
        };
        names
            .iter()
            .map(|name| Word::lit(name).as_str().to_string())
            .collect()
    }

    /// What templates see for one slot of a slotted service: the host's
    /// values, and `slot` (`a` or `b`), `port` (the slot's) and `slot_dir`
    /// (`<deploy_to>/slots/<key>-<slot>`, the link to the slot's release).
    pub(crate) fn slot_values(
        &self,
        ctx: &Context<'_>,
        host: &Host,
        slot: &str,
        port: u16,
    ) -> Value {
        let dir = format!("{}/slots/{}-{slot}", ctx.env.settings.deploy_to, self.key);
        minijinja::value::merge_maps([
            ctx.host_values(host, &Default::default()),
            crate::template::context([
                ("slot", Value::from(slot)),
                ("port", Value::from(port)),
                ("slot_dir", Value::from(dir)),
            ]),
        ])
    }

    /// The service's two slots behind nginx on `host`, when it has
    /// `switch = "upstream"`: each probed with `[deploy.health]` rendered
    /// for the slot (its `{{ port }}`), where that probe applies to the host.
    pub(crate) fn upstream(
        &self,
        ctx: &Context<'_>,
        host: &Host,
    ) -> Result<Option<Upstream>, Error> {
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        let runner = match self.manager {
            Manager::Supervisor => Runner::Supervisor {
                program: self.unit.clone(),
            },
            Manager::Systemd => Runner::Systemd {
                unit: self.unit.clone(),
            },
            Manager::Command => unreachable!("refused when ferry.toml loads"),
        };
        let health = ctx
            .project
            .deploy
            .health
            .as_ref()
            .filter(|h| h.roles.is_empty() || host.has_any_role(&h.roles));
        let slot = |(name, port): (&str, u16)| -> Result<Slot, Error> {
            let values = self.slot_values(ctx, host, name, port);
            let probe = match health.map(|h| (&h.probe, h)) {
                None => switch::Probe::Started,
                Some((Probe::Url(url), h)) => switch::Probe::Url {
                    url: ctx.render_as("[deploy.health] url", url, Kind::Text, &values)?,
                    expect: h.expect.clone().unwrap_or_default(),
                    headers: ctx.health_headers(h, &values)?,
                },
                Some((Probe::Command(command), _)) => switch::Probe::Command(Command::user(
                    ctx.render("[deploy.health] command", command, &values)?,
                )),
            };
            Ok(Slot {
                address: format!("127.0.0.1:{port}"),
                probe,
            })
        };
        let [a, b] = slots.each();
        Ok(Some(Upstream {
            service: self.key.clone(),
            name: slots.upstream.clone(),
            deploy_to: ctx.env.settings.deploy_to.clone(),
            runner,
            as_root: self.sudo != Some(false),
            slots: [slot(a)?, slot(b)?],
            drain: slots.drain,
            deadline: health.map_or(30, |h| h.deadline.as_secs()),
            interval: health.map_or(1, |h| h.interval.as_secs()),
            nginx: true,
        }))
    }

    /// The service's log files on `host`: its `logs`, or for supervisor the
    /// file it writes the program's output to (what the shipped template
    /// configures). A systemd service without `logs` logs to the journal.
    pub(crate) fn log_files(&self, ctx: &Context<'_>, host: &Host) -> Result<Vec<String>, Error> {
        let values = ctx.host_values(host, &Default::default());
        let what = format!("service `{}`", self.key);
        let logs = self
            .logs
            .iter()
            .map(|log| ctx.render_as(&what, log, crate::template::Kind::Text, &values))
            .collect::<Result<Vec<_>, _>>()?;
        if logs.is_empty() && self.manager == Manager::Supervisor {
            if self.slots.is_some() {
                return Ok(switch::SLOTS
                    .iter()
                    .map(|slot| format!("/var/log/supervisor/{}-{slot}.log", self.unit))
                    .collect());
            }
            return Ok(vec![format!("/var/log/supervisor/{}.log", self.unit)]);
        }
        Ok(logs)
    }

    fn own_command(&self, action: Action, ctx: &Context<'_>, host: &Host) -> Result<String, Error> {
        // A service without its own reload restarts instead.
        let source = self.commands[action.index()]
            .as_ref()
            .or_else(|| {
                (action == Action::Reload)
                    .then(|| self.commands[Action::Restart.index()].as_ref())
                    .flatten()
            })
            .ok_or_else(|| {
                Error::usage(
                    format!(
                        "service `{}` has no `{}` command",
                        self.key,
                        action.as_str()
                    ),
                    Some(format!(
                        "add {} = \"…\" to [services.{}] in ferry.toml",
                        action.as_str(),
                        self.key
                    )),
                )
            })?;
        let values = ctx.host_values(host, &Default::default());
        ctx.render(&format!("service `{}`", self.key), source, &values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_index_the_command_table_in_declaration_order() {
        let order = [
            Action::Start,
            Action::Stop,
            Action::Restart,
            Action::Reload,
            Action::Status,
        ];
        for (i, action) in order.into_iter().enumerate() {
            assert_eq!(action.index(), i);
        }
    }
}
