//! `ferry <env> config`: the merged configuration of one environment, each
//! value with where it came from (a default, a line of ferry.toml, a
//! `FERRY_<KEY>` variable, `--set`, `-H`), in the layering order that
//! `settings` states. Values come from the resolved environment, so what is
//! shown is what a run would use; secrets are shown masked, always. The
//! environment's overrides of `[deploy]`, `[services]` and `[tasks]` follow,
//! each with its line and the line of the base value it replaces.

use std::ops::Range;

use toml::Spanned;

use super::environment::{Environment, Overrides};
use super::raw::{RawSettings, SETTING_KEYS};
use super::{Project, Settings};
use crate::secret::MASK;

/// One value of the merged configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Explained {
    pub(crate) key: String,
    pub(crate) value: String,
    /// `default`, `path:line`, `env FERRY_X`, `--set` or `-H`.
    pub(crate) origin: String,
}

/// Every setting, var, secret and host of `env`, with its origin.
pub(crate) fn explain(
    project: &Project,
    env: &Environment,
    overrides: &Overrides<'_>,
) -> Vec<Explained> {
    let (_, raw_env) = project
        .raw
        .environments
        .iter()
        .find(|(key, _)| key.get_ref() == &env.name)
        .expect("a resolved environment is in the file");
    let at = |span: Range<usize>| {
        let (line, _) = project.file.line_col(span.start);
        format!("{}:{line}", project.file.path.display())
    };
    let set_last = |key: &str| overrides.set.iter().rev().find(|(k, _)| k == key);
    let mut out = vec![Explained {
        key: "app".into(),
        value: project.app.clone(),
        origin: project
            .raw
            .app
            .as_ref()
            .map_or("default (the directory's name)".into(), |a| at(a.span())),
    }];
    let (base, own) = (project.raw.settings(), raw_env.settings());
    for key in SETTING_KEYS {
        let variable = format!("FERRY_{}", key.to_uppercase());
        let origin = if set_last(key).is_some() {
            "--set".to_string()
        } else if (overrides.env)(&variable).is_some() {
            format!("env {variable}")
        } else if let Some(span) = span_of(&own, key).or_else(|| span_of(&base, key)) {
            at(span)
        } else {
            "default".into()
        };
        out.push(Explained {
            key: key.to_string(),
            value: setting(&env.settings, key),
            origin,
        });
    }
    for (key, value) in &env.vars {
        let file = |table: &super::raw::Table<Spanned<toml::Value>>| {
            table
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(k, _)| at(k.span()))
        };
        let origin = match set_last(key) {
            Some(_) => "--set".into(),
            None => file(&raw_env.vars)
                .or_else(|| file(&project.raw.vars))
                .unwrap_or_else(|| "default".into()),
        };
        let value = match value.as_str() {
            Some(text) => text.to_string(),
            None => value.to_string(),
        };
        out.push(Explained {
            key: format!("vars.{key}"),
            value,
            origin,
        });
    }
    for secret in &env.secrets {
        let file = |table: &super::raw::Table<Spanned<String>>| {
            table
                .iter()
                .find(|(k, _)| k.get_ref() == &secret.name)
                .map(|(k, v)| format!("{} ({})", at(k.span()), v.get_ref()))
        };
        out.push(Explained {
            key: format!("secrets.{}", secret.name),
            value: MASK.into(),
            origin: file(&raw_env.secrets)
                .or_else(|| file(&project.raw.secrets))
                .unwrap_or_default(),
        });
    }
    for host in &env.hosts {
        let roles: Vec<&str> = host.roles.iter().map(String::as_str).collect();
        out.push(Explained {
            key: "hosts".into(),
            value: match roles.is_empty() {
                true => host.label.clone(),
                false => format!("{} (roles: {})", host.label, roles.join(", ")),
            },
            origin: match (overrides.hosts, &raw_env.hosts) {
                (Some(_), _) => "-H".into(),
                (None, Some(listed)) => at(listed.span()),
                (None, None) => String::new(),
            },
        });
    }
    out.push(Explained {
        key: "confirm".into(),
        value: env.confirm.to_string(),
        origin: match raw_env.confirm {
            Some(_) => format!(
                "{} [environments.{}]",
                project.file.path.display(),
                env.name
            ),
            None => "default".into(),
        },
    });
    out.extend(overridden(project, &env.name, &at));
    out
}

/// What the environment's `[deploy]`, `[services]`, `[tasks]` overrides
/// set, each with its line and the base line it replaces.
fn overridden(project: &Project, env: &str, at: &dyn Fn(Range<usize>) -> String) -> Vec<Explained> {
    // The file parsed when the project loaded; it parses again.
    let Ok(doc) = toml::de::DeTable::parse(&project.file.text) else {
        return Vec::new();
    };
    super::layer::overridden(&doc, env)
        .into_iter()
        .map(|o| Explained {
            key: o.key,
            value: o.value,
            origin: match o.over {
                Some(base) => format!("{} (over {})", at(o.at), at(base)),
                None => at(o.at),
            },
        })
        .collect()
}

fn span_of(layer: &RawSettings<'_>, key: &str) -> Option<Range<usize>> {
    fn span<T>(value: Option<&Spanned<T>>) -> Option<Range<usize>> {
        value.map(Spanned::span)
    }
    match key {
        "deploy_to" => span(layer.deploy_to),
        "branch" => span(layer.branch),
        "user" => span(layer.user),
        "keep_releases" => span(layer.keep_releases),
        "parallel" => span(layer.parallel),
        "on_failure" => span(layer.on_failure),
        "host_key_checking" => span(layer.host_key_checking),
        "connect_timeout" => span(layer.connect_timeout),
        "keepalive" => span(layer.keepalive),
        "ssh_config" => span(layer.ssh_config),
        _ => None,
    }
}

/// A setting's value as ferry.toml would spell it.
fn setting(settings: &Settings, key: &str) -> String {
    use super::raw::{HostKeyChecking, OnFailure};
    match key {
        "deploy_to" => settings.deploy_to.clone(),
        "branch" => settings.branch.clone(),
        "user" => settings.user.clone().unwrap_or_default(),
        "keep_releases" => settings.keep_releases.to_string(),
        "parallel" => settings.parallel.to_string(),
        "on_failure" => match settings.on_failure {
            OnFailure::Stop => "stop",
            OnFailure::Continue => "continue",
        }
        .into(),
        "host_key_checking" => match settings.host_key_checking {
            HostKeyChecking::Strict => "strict",
            HostKeyChecking::AcceptNew => "accept-new",
            HostKeyChecking::Off => "off",
        }
        .into(),
        "connect_timeout" => settings.connect_timeout.to_string(),
        "keepalive" => settings.keepalive.to_string(),
        "ssh_config" => settings
            .ssh_config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}
