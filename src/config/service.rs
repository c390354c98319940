//! Services from `[services.<key>]`, checked when ferry.toml loads. How to
//! start, stop or reload one on a host lives in `crate::service`.

use std::collections::BTreeMap;

use toml::Spanned;

use super::raw::{Manager, OnDeploy, RawConfig, RawService};
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
    /// `None`: through sudo unless the SSH user is root.
    pub(crate) sudo: Option<bool>,
    pub(crate) logs: Vec<Spanned<String>>,
    /// For `manager = "command"`: start, stop, restart, reload, status.
    pub(crate) commands: [Option<Spanned<String>>; 5],
}

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
            resolve(file, key, service, app)
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
        on_deploy: raw.on_deploy.unwrap_or(OnDeploy::Restart),
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
