//! Services from `[services.<key>]`, checked when ferry.toml loads. How to
//! start, stop or reload one on a host lives in `crate::service`.

use std::collections::BTreeMap;

use toml::Spanned;

use super::raw::{Manager, OnDeploy, RawConfig, RawService, SwitchKind};
use crate::diagnostic::{Diagnostic, SourceFile};

#[derive(Debug, Clone)]
pub(crate) struct ServiceDef {
    /// The key in ferry.toml: `web` for `[services.web]`.
    pub(crate) key: String,
    pub(crate) description: String,
    /// Hosts with one of these roles run it; every host when empty.
    pub(crate) roles: Vec<String>,
    pub(crate) manager: Manager,
    /// The supervisor program or systemd unit name.
    pub(crate) unit: String,
    pub(crate) command: Option<Spanned<String>>,
    pub(crate) dir: Option<Spanned<String>>,
    pub(crate) user: Option<String>,
    pub(crate) environment: BTreeMap<String, Spanned<String>>,
    pub(crate) on_deploy: OnDeploy,
    /// `switch = "upstream"`: two slots behind nginx instead of one process.
    pub(crate) slots: Option<SlotsDef>,
    /// `None`: through sudo unless the SSH user is root.
    pub(crate) sudo: Option<bool>,
    pub(crate) logs: Vec<Spanned<String>>,
    /// For `manager = "command"`: start, stop, restart, reload, status.
    pub(crate) commands: [Option<Spanned<String>>; 5],
}

/// A service run in two slots, a and b, each its own program (supervisor)
/// or instance of a templated unit (systemd), on its own port; nginx's
/// upstream names the live one. See `crate::switch`.
#[derive(Debug, Clone)]
pub(crate) struct SlotsDef {
    /// Slot a's port; slot b listens on the next one.
    pub(crate) port: u16,
    /// Seconds the old slot keeps serving what nginx already sent it.
    pub(crate) drain: u32,
    /// The nginx upstream's name: `<app>_<key>`, as nginx spells names.
    pub(crate) upstream: String,
}

impl SlotsDef {
    /// Each slot's name and port.
    pub(crate) fn each(&self) -> [(&'static str, u16); 2] {
        [("a", self.port), ("b", self.port + 1)]
    }
}

/// Seconds an old slot drains by default: nginx's old workers finish the
/// requests they hold; gunicorn then stops gracefully on TERM.
pub(super) const DRAIN: u32 = 3;

pub(crate) fn resolve_all(
    file: &SourceFile,
    raw: &RawConfig,
    app: &str,
) -> Result<Vec<ServiceDef>, Diagnostic> {
    let known_roles = super::task::all_roles(raw);
    raw.services
        .iter()
        .map(|(key, service)| {
            super::task::check_roles(file, service.roles.iter().flatten(), &known_roles)?;
            let def = resolve(file, key, service, app)?;
            check_reload(file, raw, key, service, &def)?;
            if raw.container.is_some() && def.slots.is_some() && key.get_ref() == "container" {
                return Err(file
                    .error(key.span(), "the containers' slots are `container`: their links and upstream file would be this service's too")
                    .label("rename this service"));
            }
            Ok(def)
        })
        .collect()
}

fn resolve(
    file: &SourceFile,
    key: &Spanned<String>,
    raw: &RawService,
    app: &str,
) -> Result<ServiceDef, Diagnostic> {
    let manager = raw.manager.unwrap_or(Manager::Supervisor);
    let unit = match &raw.name {
        Some(name) => check_unit(file, name)?,
        None => format!("{app}-{}", key.get_ref()),
    };
    let commands = [
        &raw.start,
        &raw.stop,
        &raw.restart,
        &raw.reload,
        &raw.status,
    ]
    .map(Clone::clone);
    if manager == Manager::Command && raw.restart.is_none() {
        return Err(file
            .error(
                key.span(),
                format!(
                    "service `{}` has manager = \"command\" but no `restart` command",
                    key.get_ref()
                ),
            )
            .label("this service")
            .help(Some(
                "add restart = \"…\" (and start, stop, status as you need them)".into(),
            )));
    }
    let templates = [&raw.command, &raw.dir]
        .into_iter()
        .flatten()
        .chain(commands.iter().flatten())
        .chain(&raw.logs);
    for source in templates.chain(raw.environment.values()) {
        super::check_template(file, source)?;
    }
    Ok(ServiceDef {
        key: key.get_ref().clone(),
        description: raw.description.clone().unwrap_or_default(),
        roles: super::names(&raw.roles),
        manager,
        unit,
        command: raw.command.clone(),
        dir: raw.dir.clone(),
        user: raw.user.as_ref().map(|u| u.get_ref().clone()),
        environment: raw
            .environment
            .iter()
            .map(|(k, v)| (k.get_ref().clone(), v.clone()))
            .collect(),
        on_deploy: raw
            .on_deploy
            .as_ref()
            .map_or(OnDeploy::Restart, |o| *o.get_ref()),
        slots: slots(file, key, raw, manager, app)?,
        sudo: raw.sudo,
        logs: raw.logs.clone(),
        commands,
    })
}

fn check_unit(file: &SourceFile, name: &Spanned<String>) -> Result<String, Diagnostic> {
    let text = name.get_ref();
    let ok = !text.is_empty()
        && !text.starts_with('-')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'));
    if ok {
        Ok(text.clone())
    } else {
        Err(file
            .error(
                name.span(),
                format!("`{text}` is not a valid program or unit name"),
            )
            .label("use letters, digits, `-`, `_`, `.`, `@`"))
    }
}

/// `switch = "upstream"` and its port: slots need a manager that runs two
/// instances, and two ports.
fn slots(
    file: &SourceFile,
    key: &Spanned<String>,
    raw: &RawService,
    manager: Manager,
    app: &str,
) -> Result<Option<SlotsDef>, Diagnostic> {
    let Some(switch) = &raw.switch else {
        if let Some(port) = &raw.port {
            return Err(file
                .error(
                    port.span(),
                    "`port` names the slots' ports: it needs `switch = \"upstream\"`",
                )
                .label("without switch"));
        }
        return Ok(None);
    };
    let SwitchKind::Upstream = switch.get_ref();
    if manager == Manager::Command {
        return Err(file
            .error(
                switch.span(),
                "switch = \"upstream\" runs two instances of the service: it needs manager = \"supervisor\" or \"systemd\"",
            )
            .label("not with manager = \"command\""));
    }
    let port = match &raw.port {
        Some(port) if *port.get_ref() >= 1 && *port.get_ref() < u16::MAX => *port.get_ref(),
        Some(port) => {
            return Err(file
                .error(
                    port.span(),
                    "slot b listens on `port + 1`: the port must be 1 to 65534",
                )
                .label("this port"));
        }
        None => {
            return Err(file
                .error(key.span(), format!("service `{}` has switch = \"upstream\" but no `port`", key.get_ref()))
                .label("this service")
                .help(Some("add port = 8001: slot a listens there, slot b on 8002; the command uses {{ port }}".into())));
        }
    };
    if let Some(command) = raw
        .command
        .as_ref()
        .filter(|c| !c.get_ref().contains("port"))
    {
        return Err(file
            .error(command.span(), "the two slots run this command side by side: it must listen on `{{ port }}`, the slot's own port")
            .label("no {{ port }} here"));
    }
    let name: String = format!("{app}_{}", key.get_ref())
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Ok(Some(SlotsDef {
        port,
        drain: raw.drain.as_ref().map_or(DRAIN, |d| *d.get_ref()),
        upstream: name,
    }))
}

/// A reload keeps the process that was started: with a copy of a directory
/// per release (a virtualenv), or a shared virtualenv per set of
/// requirements, its workers go on importing the old one, and once cleanup
/// removes it they fail. Refused where ferry can see it.
fn check_reload(
    file: &SourceFile,
    raw: &RawConfig,
    key: &Spanned<String>,
    service: &RawService,
    def: &ServiceDef,
) -> Result<(), Diagnostic> {
    let Some(on_deploy) = &service.on_deploy else {
        return Ok(());
    };
    let deploy = raw.deploy.as_ref();
    // A directory each release has its own copy of, or the shared virtualenv
    // a release links to, which another set of requirements replaces.
    let per_release = match deploy.and_then(|d| d.copy_from_current.first()) {
        Some(dir) => Some(format!(
            "each release has its own copy of `{}` (copy_from_current)",
            dir.get_ref()
        )),
        None => deploy.and_then(|d| d.virtualenv.as_ref()).map(|_| {
            "each set of requirements has its own virtualenv ([deploy.virtualenv])".to_string()
        }),
    };
    let managed = matches!(def.manager, Manager::Supervisor | Manager::Systemd);
    match (on_deploy.get_ref(), per_release) {
        (OnDeploy::Reload, Some(why)) if managed && def.slots.is_none() => Err(file
            .error(
                on_deploy.span(),
                format!(
                    "service `{}` reloads on deploy, but {why}: a reloaded server keeps running the old one",
                    key.get_ref(),
                ),
            )
            .label("reload keeps the old release's code and virtualenv")
            .help(Some(
                "use switch = \"upstream\" with a port (a new instance beside the old one, behind nginx) or on_deploy = \"restart\"".into(),
            ))),
        _ => Ok(()),
    }
}
