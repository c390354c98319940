//! `[vars]` per host and per role, in Ansible's order (a host's own values
//! over its roles', over the environment's, over the top level's):
//!
//! ```toml
//! [vars]                                         # every environment
//! [environments.production.vars]                 # this environment
//! [environments.production.role_vars.worker]     # its hosts with role `worker`
//! [environments.production.host_vars."web1"]     # one host (as listed, or its name)
//! ```
//!
//! `--set` is over all of them. Two roles of one host that set a key to
//! different values are an error: the file must say which wins (in
//! `host_vars`). Values reach steps as `FERRY_VAR_<NAME>` and templates per
//! host, through `Environment::vars_for`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use minijinja::Value;
use toml::Spanned;

use super::interpolate::Interpolator;
use super::raw::{RawEnvironment, Table};
use super::{ConfigError, Environment, Project};
use crate::inventory::Host;
use crate::suggest;

/// One value that a role or the host itself gives a host.
#[derive(Debug, Clone)]
pub(crate) struct HostVar {
    pub(crate) value: Value,
    /// `role_vars.<role>` or `host_vars.<host>`.
    pub(crate) layer: String,
    /// Of the key in ferry.toml.
    pub(crate) span: Range<usize>,
}

/// Per host label, the values its roles and its own table give it.
pub(crate) type HostVars = BTreeMap<String, BTreeMap<String, HostVar>>;

/// Every key the environment's role and host tables name, for `--set`.
pub(crate) fn keys(raw: &RawEnvironment) -> BTreeSet<String> {
    raw.role_vars
        .values()
        .chain(raw.host_vars.values())
        .flat_map(|table| table.keys().map(|k| k.get_ref().clone()))
        .collect()
}

/// What each host gets from `role_vars` and `host_vars`, without the keys
/// `--set` gives (it is over every layer). `checked`: whether the tables'
/// hosts must be among `hosts` (not when `-H` replaced them).
pub(crate) fn resolve(
    project: &Project,
    raw: &RawEnvironment,
    hosts: &[Host],
    interp: &Interpolator<'_>,
    set: &[(String, String)],
    checked: bool,
) -> Result<HostVars, ConfigError> {
    let file = &project.file;
    let roles: BTreeSet<&str> = raw.roles.keys().map(|k| k.get_ref().as_str()).collect();
    for role in raw.role_vars.keys() {
        if !roles.contains(role.get_ref().as_str()) {
            return Err(file
                .error(
                    role.span(),
                    format!(
                        "role_vars names role `{}`, which no host has",
                        role.get_ref()
                    ),
                )
                .label("unknown role")
                .help(suggest::hint(role.get_ref(), roles.iter().copied()))
                .into());
        }
    }
    if checked {
        for name in raw.host_vars.keys() {
            if !hosts.iter().any(|h| matches(h, name.get_ref())) {
                let labels = hosts.iter().map(|h| h.label.as_str());
                return Err(file
                    .error(
                        name.span(),
                        format!(
                            "host_vars names `{}`, which is not in this environment's hosts",
                            name.get_ref()
                        ),
                    )
                    .label("unknown host")
                    .help(suggest::hint(name.get_ref(), labels))
                    .into());
            }
        }
    }
    let is_set = |key: &str| set.iter().any(|(k, _)| k == key);
    let mut out = HostVars::new();
    for host in hosts {
        let mut own: BTreeMap<String, HostVar> = BTreeMap::new();
        for (role, table) in &raw.role_vars {
            if !host.roles.contains(role.get_ref()) {
                continue;
            }
            for (key, value) in layer(table, &format!("role_vars.{}", role.get_ref()), interp)? {
                if is_set(&key) {
                    continue;
                }
                if let Some(earlier) = own.get(&key).filter(|e| e.value != value.value) {
                    return Err(file
                        .error(
                            value.span.clone(),
                            format!(
                                "host `{}` has roles that set `{key}` differently ({} and {})",
                                host.label, earlier.layer, value.layer
                            ),
                        )
                        .label("a second value for this host")
                        .help(Some(format!(
                            "say which wins: set `{key}` in [environments.<env>.host_vars.\"{}\"]",
                            host.label
                        )))
                        .into());
                }
                own.insert(key, value);
            }
        }
        for (name, table) in &raw.host_vars {
            if !matches(host, name.get_ref()) {
                continue;
            }
            for (key, value) in layer(table, &format!("host_vars.{}", name.get_ref()), interp)? {
                if !is_set(&key) {
                    own.insert(key, value);
                }
            }
        }
        if !own.is_empty() {
            out.insert(host.label.clone(), own);
        }
    }
    Ok(out)
}

/// A `host_vars` key names a host as listed or by its bare name, as roles do.
fn matches(host: &Host, name: &str) -> bool {
    host.label == name || host.name() == name
}

fn layer(
    table: &Table<Spanned<toml::Value>>,
    what: &str,
    interp: &Interpolator<'_>,
) -> Result<Vec<(String, HostVar)>, ConfigError> {
    table
        .iter()
        .map(|(key, value)| {
            let resolved = match value.get_ref() {
                toml::Value::String(text) => {
                    Value::from(interp.string(&Spanned::new(value.span(), text.clone()))?)
                }
                other => crate::template::value(other),
            };
            Ok((
                key.get_ref().clone(),
                HostVar {
                    value: resolved,
                    layer: what.to_string(),
                    span: key.span(),
                },
            ))
        })
        .collect()
}

impl Environment {
    /// The values `host` sees: the environment's `[vars]` (with `--set`)
    /// under its roles' and its own.
    pub(crate) fn vars_for(&self, host: &Host) -> BTreeMap<String, Value> {
        let mut vars = self.vars.clone();
        if let Some(own) = self.host_vars.get(&host.label) {
            vars.extend(own.iter().map(|(k, v)| (k.clone(), v.value.clone())));
        }
        vars
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Overrides, parse};
    use crate::diagnostic::SourceFile;

    const FILE: &str = r#"
[vars]
region = "global"
size = "s"
tier = "top"

[environments.prod]
hosts = ["deploy@web1", "deploy@web2", "worker1"]
roles.web = ["web1", "web2"]
roles.worker = ["worker1"]
roles.big = ["web2", "worker1"]
vars = { region = "env", size = "m" }

[environments.prod.role_vars.web]
size = "l"
[environments.prod.role_vars.big]
size = "l"
cores = 8

[environments.prod.host_vars.web1]
region = "eu"
[environments.prod.host_vars."deploy@web2"]
region = "us"
"#;

    fn vars(
        text: &str,
        set: &[(String, String)],
    ) -> Result<Vec<(String, String, Option<String>)>, String> {
        let project = parse(SourceFile::new(Path::new("ferry.toml"), text.into()))
            .map_err(|e| e.to_string())?;
        let overrides = Overrides {
            set,
            hosts: None,
            env: &|_| None,
        };
        let env = project
            .environment("prod", &overrides)
            .map_err(|e| e.to_string())?;
        let show = |v: Option<&minijinja::Value>| v.map(ToString::to_string);
        Ok(env
            .hosts
            .iter()
            .flat_map(|host| {
                let all = env.vars_for(host);
                ["region", "size", "tier", "cores"]
                    .map(|k| (host.name().to_string(), k.to_string(), show(all.get(k))))
            })
            .collect())
    }

    fn get(all: &[(String, String, Option<String>)], host: &str, key: &str) -> Option<String> {
        all.iter()
            .find(|(h, k, _)| h == host && k == key)
            .and_then(|(_, _, v)| v.clone())
    }

    #[test]
    fn a_host_is_over_its_roles_over_the_environment_over_the_top_level() {
        let all = vars(FILE, &[]).unwrap();
        let at = |host, key| get(&all, host, key);
        assert_eq!(at("web1", "region").as_deref(), Some("eu"), "host_vars");
        assert_eq!(at("web2", "region").as_deref(), Some("us"), "by label");
        assert_eq!(at("worker1", "region").as_deref(), Some("env"), "env vars");
        assert_eq!(at("web1", "size").as_deref(), Some("l"), "role_vars");
        assert_eq!(at("worker1", "size").as_deref(), Some("l"), "role big");
        assert_eq!(at("worker1", "tier").as_deref(), Some("top"), "top level");
        assert_eq!(at("web1", "cores"), None, "web1 is not big");
        assert_eq!(at("web2", "cores").as_deref(), Some("8"));
    }

    #[test]
    fn set_is_over_every_layer_and_may_name_a_host_var() {
        let set = [
            ("region".to_string(), "cli".to_string()),
            ("cores".to_string(), "2".to_string()),
        ];
        let all = vars(FILE, &set).unwrap();
        for host in ["web1", "web2", "worker1"] {
            assert_eq!(get(&all, host, "region").as_deref(), Some("cli"), "{host}");
            assert_eq!(get(&all, host, "cores").as_deref(), Some("2"), "{host}");
        }
    }

    #[test]
    fn roles_that_disagree_unknown_roles_and_hosts_are_errors() {
        let clash = FILE.replace(
            "[environments.prod.role_vars.big]\nsize = \"l\"",
            "[environments.prod.role_vars.big]\nsize = \"xl\"",
        );
        let error = vars(&clash, &[]).unwrap_err();
        assert!(
            error.contains("`deploy@web2` has roles that set `size` differently"),
            "{error}"
        );
        let role = FILE.replace("role_vars.web]", "role_vars.wbe]");
        let error = vars(&role, &[]).unwrap_err();
        assert!(error.contains("role_vars names role `wbe`"), "{error}");
        let host = FILE.replace("host_vars.web1]", "host_vars.web9]");
        let error = vars(&host, &[]).unwrap_err();
        assert!(error.contains("host_vars names `web9`"), "{error}");
    }
}
