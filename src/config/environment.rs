//! One environment resolved for a run: settings layered over the base,
//! `${VAR}`s filled in, hosts parsed and given their roles, overrides from
//! `FERRY_<KEY>`, `--set` and `-H` applied last.

use std::collections::{BTreeMap, BTreeSet};

use toml::Spanned;

use super::interpolate::Interpolator;
use super::raw::{RawEnvironment, SETTING_KEYS};
use super::secrets::Declared;
use super::vars::HostVars;
use super::{ConfigError, Project, Settings};
use crate::inventory::Host;
use crate::secret::Secret;
use crate::suggest;

#[derive(Debug)]
pub(crate) struct Environment {
    pub(crate) name: String,
    pub(crate) settings: Settings,
    /// `[vars]`: the top level's under the environment's, with `--set`.
    pub(crate) vars: BTreeMap<String, minijinja::Value>,
    /// What roles' and hosts' own vars give each host (`vars_for`).
    pub(crate) host_vars: HostVars,
    /// Secrets at hand: from ferry's environment, and those fetched.
    pub(crate) secrets: Vec<Secret>,
    /// Secrets from commands and files, read by `fetch_secrets`.
    pub(crate) declared_secrets: Vec<Declared>,
    pub(crate) hosts: Vec<Host>,
    pub(crate) confirm: bool,
    /// Where the environment's app answers (`FERRY_URL` for functional tests).
    pub(crate) url: Option<String>,
    /// Local commands run against the environment after a deploy.
    pub(crate) functional_tests: Vec<String>,
    /// Roll the environment back when its functional tests fail.
    pub(crate) rollback_on_failure: bool,
}

/// What the command line and the process environment add on top of the file.
pub(crate) struct Overrides<'a> {
    /// `--set key=value`, in order.
    pub(crate) set: &'a [(String, String)],
    /// `-H`: replaces the environment's hosts.
    pub(crate) hosts: Option<&'a [String]>,
    /// The process environment, for `${VAR}` and `FERRY_<KEY>`.
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
}

pub(crate) fn resolve(
    project: &Project,
    name: &str,
    overrides: &Overrides<'_>,
) -> Result<Environment, ConfigError> {
    let (_, raw) = project
        .raw
        .environments
        .iter()
        .find(|(key, _)| key.get_ref() == name)
        .ok_or_else(|| unknown_environment(project, name))?;
    let interp = Interpolator::new(&project.file, overrides.env);
    let mut settings = Settings::defaults(&project.app);
    settings.apply_file(project.raw.settings(), &interp, &project.root)?;
    settings.apply_file(raw.settings(), &interp, &project.root)?;
    let mut vars = values(&project.raw.vars, &interp)?;
    vars.extend(values(&raw.vars, &interp)?);
    apply_process_env(&mut settings, overrides.env)?;
    apply_set(
        &mut settings,
        &mut vars,
        &super::vars::keys(raw),
        overrides.set,
    )?;
    let (secrets, declared_secrets) =
        super::secrets::resolve(project, &raw.secrets, &interp, (overrides.env)("HOME"))?;
    let pipeline = project.pipeline.clone().unwrap_or_default();
    let hosts = hosts(project, name, raw, &interp, overrides.hosts)?;
    let checked = overrides.hosts.is_none();
    let host_vars = super::vars::resolve(project, raw, &hosts, &interp, overrides.set, checked)?;
    Ok(Environment {
        name: name.to_string(),
        hosts,
        host_vars,
        confirm: raw.confirm.unwrap_or(false),
        url: raw.url.as_ref().map(|u| interp.string(u)).transpose()?,
        functional_tests: match &raw.functional_tests {
            Some(list) => list.iter().map(|c| c.get_ref().clone()).collect(),
            None => pipeline.functional_tests,
        },
        rollback_on_failure: raw
            .rollback_on_failure
            .unwrap_or(pipeline.rollback_on_failure),
        settings,
        vars,
        secrets,
        declared_secrets,
    })
}

fn unknown_environment(project: &Project, name: &str) -> ConfigError {
    ConfigError::UnknownEnvironment {
        name: name.to_string(),
        path: project.file.path.clone(),
        known: project.environment_names().map(str::to_string).collect(),
        is_task: crate::builtin::is_builtin(name) || project.task(name).is_some(),
    }
}

fn values(
    table: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    interp: &Interpolator<'_>,
) -> Result<BTreeMap<String, minijinja::Value>, ConfigError> {
    let mut out = BTreeMap::new();
    for (key, value) in table {
        let resolved = match value.get_ref() {
            toml::Value::String(text) => {
                minijinja::Value::from(interp.string(&Spanned::new(value.span(), text.clone()))?)
            }
            other => crate::template::value(other),
        };
        out.insert(key.get_ref().clone(), resolved);
    }
    Ok(out)
}

/// `FERRY_DEPLOY_TO=/srv/x` and the like: one variable per setting.
fn apply_process_env(
    settings: &mut Settings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for key in SETTING_KEYS {
        let variable = format!("FERRY_{}", key.to_uppercase());
        if let Some(value) = env(&variable) {
            settings
                .set(key, &value)
                .map_err(|problem| ConfigError::ProcessEnv {
                    variable: variable.clone(),
                    value: value.clone(),
                    problem,
                })?;
        }
    }
    Ok(())
}

fn apply_set(
    settings: &mut Settings,
    vars: &mut BTreeMap<String, minijinja::Value>,
    per_host: &BTreeSet<String>,
    set: &[(String, String)],
) -> Result<(), ConfigError> {
    for (key, value) in set {
        let is_setting = settings
            .set(key, value)
            .map_err(|problem| ConfigError::Set {
                key: key.clone(),
                value: value.clone(),
                problem,
            })?;
        if is_setting {
            continue;
        }
        if !vars.contains_key(key) && !per_host.contains(key) {
            let known = SETTING_KEYS
                .iter()
                .copied()
                .chain(vars.keys().map(String::as_str))
                .chain(per_host.iter().map(String::as_str));
            return Err(ConfigError::UnknownSet {
                key: key.clone(),
                value: value.clone(),
                known: known.map(str::to_string).collect(),
            });
        }
        vars.insert(key.clone(), minijinja::Value::from(value.as_str()));
    }
    Ok(())
}

fn hosts(
    project: &Project,
    env_name: &str,
    raw: &RawEnvironment,
    interp: &Interpolator<'_>,
    replacement: Option<&[String]>,
) -> Result<Vec<Host>, ConfigError> {
    let roles = role_table(raw, interp)?;
    if let Some(given) = replacement {
        // `-H` hosts stand in for the whole environment, so they take every role.
        let all: BTreeSet<String> = roles.keys().cloned().collect();
        return given
            .iter()
            .map(|text| {
                Host::parse(text, all.clone()).map_err(|problem| ConfigError::HostOverride {
                    text: text.clone(),
                    problem,
                })
            })
            .collect();
    }
    let Some(listed) = &raw.hosts else {
        return Err(ConfigError::NoHosts {
            env: env_name.to_string(),
            path: project.file.path.clone(),
        });
    };
    let mut hosts: Vec<Host> = Vec::new();
    for entry in listed.get_ref() {
        let text = interp.string(entry)?;
        let mut host = Host::parse(&text, BTreeSet::new()).map_err(|problem| {
            project
                .file
                .error(entry.span(), format!("bad host: {problem}"))
                .label("expected [user@]name[:port]")
        })?;
        if hosts.iter().any(|h| h.label == host.label) {
            return Err(project
                .file
                .error(entry.span(), format!("host `{text}` is listed twice"))
                .label("duplicate")
                .into());
        }
        host.roles = roles
            .iter()
            .filter(|(_, members)| {
                members
                    .iter()
                    .any(|(m, _)| *m == host.label || m == host.name())
            })
            .map(|(role, _)| role.clone())
            .collect();
        hosts.push(host);
    }
    check_role_members(project, &roles, &hosts)?;
    Ok(hosts)
}

type RoleTable = BTreeMap<String, Vec<(String, std::ops::Range<usize>)>>;

fn role_table(raw: &RawEnvironment, interp: &Interpolator<'_>) -> Result<RoleTable, ConfigError> {
    let mut table = RoleTable::new();
    for (role, members) in &raw.roles {
        let members = members
            .iter()
            .map(|m| Ok((interp.string(m)?, m.span())))
            .collect::<Result<Vec<_>, ConfigError>>()?;
        table.insert(role.get_ref().clone(), members);
    }
    Ok(table)
}

fn check_role_members(
    project: &Project,
    roles: &RoleTable,
    hosts: &[Host],
) -> Result<(), ConfigError> {
    for (role, members) in roles {
        for (member, span) in members {
            if !hosts
                .iter()
                .any(|h| h.label == *member || h.name() == member)
            {
                let labels = hosts.iter().map(|h| h.label.as_str());
                return Err(project
                    .file
                    .error(span.clone(), format!("role `{role}` names `{member}`, which is not in this environment's hosts"))
                    .label("unknown host")
                    .help(suggest::hint(member, labels))
                    .into());
            }
        }
    }
    Ok(())
}
