//! Driving a service on a host through its manager: the shell command that
//! starts, stops, restarts, reloads or reports on it. Deploys (restart after
//! the switch) and the service tasks (`restart`, `status`, …) both come here,
//! so they behave the same.

use crate::config::{Manager, ServiceDef};
use crate::error::Error;
use crate::inventory::Host;
use crate::plan::Context;
use crate::shell::Word;

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
        let unit = Word::lit(&self.unit);
        let unit = unit.as_str();
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
