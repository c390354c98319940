//! `[provision]` resolved when ferry.toml loads: names, modes, roles and
//! notify targets checked, templates found and parsed, so that a mistake is
//! a file:line:column error before any host is touched. Rendering for a
//! host (paths, file contents) happens when a run plans `provision`.

mod check;
mod file;
mod handler;
pub(crate) mod shipped;

use std::collections::BTreeMap;

use toml::Spanned;

pub(crate) use self::file::{FileBody, FileDef, TemplateSource};
pub(crate) use self::handler::Handler;
use super::raw::RawConfig;
use super::service::ServiceDef;
use crate::diagnostic::{Diagnostic, SourceFile};

#[derive(Debug)]
pub(crate) struct Provision {
    /// Default for every resource: make changes as root.
    pub(crate) become_root: bool,
    pub(crate) packages: Vec<Named>,
    pub(crate) groups: Vec<Named>,
    pub(crate) users: Vec<UserDef>,
    pub(crate) layout: LayoutDef,
    pub(crate) directories: Vec<DirectoryDef>,
    pub(crate) files: Vec<FileDef>,
    pub(crate) links: Vec<LinkDef>,
    /// System services to keep enabled and running.
    pub(crate) services: Vec<Named>,
}

/// A name, for hosts with one of `roles` (every host when empty).
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub(crate) name: String,
    pub(crate) roles: Vec<String>,
}

/// Owner, group and mode of a path; `None` leaves that one as it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attrs {
    pub(crate) owner: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) mode: Option<u32>,
}

#[derive(Debug)]
pub(crate) struct UserDef {
    pub(crate) name: String,
    pub(crate) system: bool,
    pub(crate) home: Option<String>,
    pub(crate) shell: Option<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) roles: Vec<String>,
}

/// `<deploy_to>`, `releases/`, `shared/`; owned by the SSH user unless `owner` says.
#[derive(Debug, Default)]
pub(crate) struct LayoutDef {
    pub(crate) attrs: Attrs,
    pub(crate) roles: Vec<String>,
    pub(crate) become_root: Option<bool>,
}

#[derive(Debug)]
pub(crate) struct DirectoryDef {
    /// A template: `{{ deploy_to }}/shared/media`.
    pub(crate) path: Spanned<String>,
    pub(crate) attrs: Attrs,
    pub(crate) roles: Vec<String>,
    pub(crate) become_root: Option<bool>,
}

#[derive(Debug)]
pub(crate) struct LinkDef {
    pub(crate) path: Spanned<String>,
    pub(crate) to: Spanned<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) notify: Vec<Handler>,
    pub(crate) become_root: Option<bool>,
}

/// What resolution needs from the rest of ferry.toml.
pub(super) struct Inputs<'a> {
    pub(super) file: &'a SourceFile,
    pub(super) raw: &'a RawConfig,
    pub(super) root: &'a std::path::Path,
    pub(super) services: &'a [ServiceDef],
}

pub(super) fn resolve(inputs: &Inputs<'_>) -> Result<Option<Provision>, Diagnostic> {
    let Some(raw) = &inputs.raw.provision else {
        return Ok(None);
    };
    let file = inputs.file;
    let known_roles = super::task::all_roles(inputs.raw);
    let roles = |list: &Option<Vec<Spanned<String>>>| -> Result<Vec<String>, Diagnostic> {
        super::task::check_roles(file, list.iter().flatten(), &known_roles)?;
        Ok(list.iter().flatten().map(|r| r.get_ref().clone()).collect())
    };
    let mut packages = named(file, &raw.packages, &[], check::package)?;
    let mut services = named(file, &raw.services, &[], check::service)?;
    for (role, extra) in &raw.role {
        let role_list = Some(vec![role.clone()]);
        let role_names = roles(&role_list)?;
        packages.extend(named(file, &extra.packages, &role_names, check::package)?);
        services.extend(named(file, &extra.services, &role_names, check::service)?);
    }
    let users = raw
        .users
        .iter()
        .map(|(name, user)| {
            Ok(UserDef {
                name: check::spanned(file, name, check::account)?,
                system: user.system,
                home: optional(file, &user.home, check::absolute)?,
                shell: optional(file, &user.shell, check::absolute)?,
                groups: user
                    .groups
                    .iter()
                    .map(|g| check::spanned(file, g, check::account))
                    .collect::<Result<_, _>>()?,
                roles: roles(&user.roles)?,
            })
        })
        .collect::<Result<_, Diagnostic>>()?;
    let layout = match &raw.layout {
        None => LayoutDef::default(),
        Some(layout) => LayoutDef {
            attrs: attrs(file, &layout.owner, &layout.group, &layout.mode)?,
            roles: roles(&layout.roles)?,
            become_root: layout.become_root,
        },
    };
    let directories = raw
        .directories
        .iter()
        .map(|(path, dir)| {
            path_syntax(file, path)?;
            Ok(DirectoryDef {
                path: path.clone(),
                attrs: attrs(file, &dir.owner, &dir.group, &dir.mode)?,
                roles: roles(&dir.roles)?,
                become_root: dir.become_root,
            })
        })
        .collect::<Result<_, Diagnostic>>()?;
    let files = raw
        .files
        .iter()
        .map(|(path, raw_file)| {
            path_syntax(file, path)?;
            let file_roles = roles(&raw_file.roles)?;
            file::resolve(inputs, path, raw_file, file_roles)
        })
        .collect::<Result<_, Diagnostic>>()?;
    let links = raw
        .links
        .iter()
        .map(|(path, link)| {
            path_syntax(file, path)?;
            path_syntax(file, &link.to)?;
            Ok(LinkDef {
                path: path.clone(),
                to: link.to.clone(),
                roles: roles(&link.roles)?,
                notify: notify(file, &link.notify)?,
                become_root: link.become_root,
            })
        })
        .collect::<Result<_, Diagnostic>>()?;
    Ok(Some(Provision {
        become_root: raw.become_root.unwrap_or(true),
        packages,
        groups: named(file, &raw.groups, &[], check::account)?,
        users,
        layout,
        directories,
        files,
        links,
        services,
    }))
}

fn named(
    file: &SourceFile,
    list: &[Spanned<String>],
    roles: &[String],
    check: fn(&str) -> Result<String, String>,
) -> Result<Vec<Named>, Diagnostic> {
    list.iter()
        .map(|name| {
            Ok(Named {
                name: check::spanned(file, name, check)?,
                roles: roles.to_vec(),
            })
        })
        .collect()
}

fn optional<T>(
    file: &SourceFile,
    value: &Option<Spanned<String>>,
    check: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, Diagnostic> {
    value
        .as_ref()
        .map(|v| check::spanned(file, v, &check))
        .transpose()
}

fn attrs(
    file: &SourceFile,
    owner: &Option<Spanned<String>>,
    group: &Option<Spanned<String>>,
    mode: &Option<Spanned<String>>,
) -> Result<Attrs, Diagnostic> {
    Ok(Attrs {
        owner: optional(file, owner, check::account)?,
        group: optional(file, group, check::account)?,
        mode: optional(file, mode, check::mode)?,
    })
}

/// Paths are templates (`{{ deploy_to }}/shared`); their syntax is checked now.
fn path_syntax(file: &SourceFile, path: &Spanned<String>) -> Result<(), Diagnostic> {
    crate::template::check_syntax(path.get_ref(), crate::template::Kind::Text).map_err(|e| {
        file.error(path.span(), format!("template error: {e}"))
            .label("in this path")
    })
}

fn notify(file: &SourceFile, list: &[Spanned<String>]) -> Result<Vec<Handler>, Diagnostic> {
    list.iter()
        .map(|item| {
            Handler::parse(item.get_ref()).map_err(|problem| {
                file.error(item.span(), problem)
                    .label("unknown handler")
                    .help(Some(format!(
                        "notify one of: {}",
                        Handler::KNOWN.join(", ")
                    )))
            })
        })
        .collect()
}

/// The values of a `vars` table, as templates see them.
fn vars(
    table: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
) -> BTreeMap<String, minijinja::Value> {
    table
        .iter()
        .map(|(k, v)| (k.get_ref().clone(), crate::template::value(v.get_ref())))
        .collect()
}
