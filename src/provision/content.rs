//! A file's content for one host: its template rendered with the
//! environment's values, the template's defaults, the file's `vars`, the
//! service it renders (`service.*`) and the secrets (`secrets.NAME`). File
//! contents reach hosts only inside the script on stdin, so secrets may go
//! into them; every line ferry prints still passes the redactor.

use std::collections::BTreeMap;

use minijinja::Value;

use super::format::{self, Format};
use super::render::Failure;
use crate::config::{FileDef, OnDeploy, ServiceDef, TemplateSource, WITH_ENV};
use crate::error::Error;
use crate::inventory::Host;
use crate::plan::Context;
use crate::secret::{Redactor, Secret};
use crate::shell::Word;
use crate::switch;
use crate::template::{self, Kind, TemplateError};

pub(crate) fn render(
    ctx: &Context<'_>,
    host: &Host,
    file: &FileDef,
    target: &str,
    source: &TemplateSource,
    service: Option<&ServiceDef>,
) -> Result<String, Failure> {
    let secrets: BTreeMap<&str, &str> = ctx
        .env
        .secrets
        .iter()
        .map(|s| (s.name.as_str(), s.expose()))
        .collect();
    let mut extras = vec![("secrets", template::value(&secrets))];
    if let Some(service) = service {
        extras.push(("service", service_value(ctx, host, service)?));
        // For nginx.conf: a slotted service's upstream is its include file.
        if let Some(slots) = &service.slots {
            let include = switch::upstream_file(&ctx.env.settings.deploy_to, &service.key);
            extras.push(("upstream_include", Value::from(include)));
            extras.push(("upstream_name", Value::from(slots.upstream.as_str())));
        }
    } else if let Some(def) = ctx.project.deploy.container.as_ref().filter(|d| d.nginx) {
        // A file of no service in a container project behind nginx (its site):
        // the upstream is the containers' include file.
        let deploy_to = &ctx.env.settings.deploy_to;
        let upstream = crate::container::upstream(def, &ctx.project.app, host, deploy_to, None);
        let include = switch::upstream_file(deploy_to, &upstream.service);
        extras.push(("upstream_include", Value::from(include)));
        extras.push(("upstream_name", Value::from(upstream.name)));
    }
    let defaults: BTreeMap<&str, &str> = source.defaults.iter().copied().collect();
    // The last map that has a name wins: a file's vars beat the template's
    // defaults and the environment's vars, and nothing shadows `service`.
    let values = minijinja::value::merge_maps([
        ctx.host_values(host, &Default::default()),
        template::value(&defaults),
        template::value(&file.vars),
        template::context(extras),
    ]);
    let text = template::render(&source.text, Kind::Text, &values)
        .map_err(|error| template_failure(ctx, source, &error))?;
    if let Some(format) = Format::of(&source.name, target) {
        let names = template::used_names(&source.text, Kind::Text)
            .map_err(|error| template_failure(ctx, source, &error))?;
        format::check(format, &names, &values).map_err(|refused| {
            Failure::new(
                format!("template {}: {}", source.name, refused.message),
                Some(format!(
                    "a value rendered into this file cannot hold what its syntax reads; change `{}` (see \"Values in config files\" in the README)",
                    refused.key
                )),
            )
        })?;
    }
    if text.contains('\0') {
        return Err(Failure::new(
            format!("template {} renders a NUL byte", source.name),
            None,
        ));
    }
    Ok(text)
}

/// The mode of a file that holds a secret when the config gives none:
/// readable by its owner only.
pub(crate) const PRIVATE_MODE: u32 = 0o600;

/// A file holds a secret when its template reads `secrets` (even if the
/// value is empty today) or its content holds a secret's value.
pub(crate) fn holds_secret(source: &TemplateSource, rendered: &str, ctx: &Context<'_>) -> bool {
    line_of(&source.text, "secrets").is_some()
        || crate::secret::appears_in(rendered, &ctx.env.secrets)
}

/// `template nginx.conf, line 9: `upstream` is not defined`.
fn template_failure(ctx: &Context<'_>, source: &TemplateSource, error: &TemplateError) -> Failure {
    let line = match error {
        TemplateError::Undefined { name, .. } => line_of(&source.text, name),
        TemplateError::Invalid(e) => e.line(),
        _ => None,
    };
    let at = line.map_or_else(String::new, |n| format!(", line {n}"));
    let hint = match error {
        TemplateError::Undefined { name, .. }
            if ctx.env.secrets.iter().any(|s| s.name == *name) =>
        {
            Some(format!("a file template reads secrets as `secrets.{name}`"))
        }
        TemplateError::Undefined { hint: None, .. } => {
            Some("define it in [vars] or in this file's `vars`".into())
        }
        other => other.hint(),
    };
    Failure::new(format!("template {}{at}: {error}", source.name), hint)
}

/// The line of the first tag that mentions `name` (minijinja's own check
/// for undefined names runs before rendering and knows no lines).
fn line_of(text: &str, name: &str) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let mut offset = 0;
    while let Some(open) = text[offset..].find(['{']) {
        let start = offset + open;
        let rest = &text[start..];
        let close = match rest.get(..2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            _ => {
                offset = start + 1;
                continue;
            }
        };
        let end = rest.find(close).map_or(text.len(), |e| start + e);
        let tag = &text[start..end];
        let found = tag.match_indices(name).any(|(at, _)| {
            let before = tag[..at].chars().next_back();
            let after = tag[at + name.len()..].chars().next();
            !before.is_some_and(is_word) && !after.is_some_and(|c| is_word(c) && c != '.')
        });
        if found {
            return Some(text[..start].matches('\n').count() + 1);
        }
        offset = end.max(start + 1);
    }
    None
}

/// What a template sees as `service`: the `[services.<key>]` entry with
/// its command, directory, environment and logs rendered for the host.
fn service_value(ctx: &Context<'_>, host: &Host, service: &ServiceDef) -> Result<Value, Failure> {
    let logs = service.log_files(ctx, host).map_err(failure)?;
    // One program, or one per slot with the slot's `slot` and `port`.
    let programs = match &service.slots {
        None => vec![program(
            ctx,
            service,
            &ctx.host_values(host, &Default::default()),
            &service.unit,
            logs.first().cloned(),
        )?],
        Some(slots) => slots
            .each()
            .into_iter()
            .zip(&logs)
            .map(|((slot, port), log)| {
                let values = service.slot_values(ctx, host, slot, port);
                let name = format!("{}-{slot}", service.unit);
                program(ctx, service, &values, &name, Some(log.clone()))
            })
            .collect::<Result<Vec<_>, Failure>>()?,
    };
    let first = programs[0].clone();
    let field = |name: &str| first.get_attr(name).unwrap_or_default();
    let (command, dir, environment) = (field("command"), field("dir"), field("environment"));
    let (env_file, with_env) = (field("env_file"), field("with_env"));
    let switch = service.slots.as_ref().map(|slots| {
        template::context([
            ("name", Value::from(slots.upstream.as_str())),
            (
                "include",
                Value::from(switch::upstream_file(
                    &ctx.env.settings.deploy_to,
                    &service.key,
                )),
            ),
        ])
    });
    let (manager, on_deploy) = (service.manager.as_str(), on_deploy_name(service.on_deploy));
    let description = (!service.description.is_empty()).then_some(service.description.as_str());
    Ok(template::context([
        ("key", Value::from(service.key.as_str())),
        ("unit", Value::from(service.unit.as_str())),
        ("description", Value::from(description)),
        ("manager", Value::from(manager)),
        ("command", command),
        ("dir", dir),
        ("user", Value::from(service.user.clone())),
        ("environment", environment),
        ("env_file", env_file),
        ("with_env", with_env),
        ("log", Value::from(logs.first().cloned())),
        ("logs", template::value(&logs)),
        ("on_deploy", Value::from(on_deploy)),
        ("roles", template::value(&service.roles)),
        ("programs", Value::from(programs)),
        ("switch", Value::from(switch)),
    ]))
}

/// One program of a service (the service, or one of its slots): its name,
/// command, directory, environment and log, rendered with `values`.
fn program(
    ctx: &Context<'_>,
    service: &ServiceDef,
    values: &Value,
    name: &str,
    log: Option<String>,
) -> Result<Value, Failure> {
    let what = format!("service `{}`", service.key);
    let render = |source, kind| ctx.render_as(&what, source, kind, values).map_err(failure);
    let command = service
        .command
        .as_ref()
        .map(|c| render(c, Kind::Shell))
        .transpose()?;
    let dir = service
        .dir
        .as_ref()
        .map(|d| render(d, Kind::Text))
        .transpose()?;
    let environment = service
        .environment
        .iter()
        .map(|(name, value)| Ok((name.clone(), render(value, Kind::Text)?)))
        .collect::<Result<BTreeMap<_, _>, Failure>>()?;
    // The `.env`, read by the program `with-env` that the command runs
    // through (supervisor), or by the manager itself (systemd's
    // EnvironmentFile): its secrets stay out of the unit file and argv.
    let env_file = ctx.env_file();
    let with_env = env_file.as_ref().map(|file| {
        let program = format!("{}/{WITH_ENV}", ctx.env.settings.deploy_to);
        format!(
            "{} {}",
            Word::lit(&program).as_str(),
            Word::lit(file).as_str()
        )
    });
    Ok(template::context([
        ("name", Value::from(name)),
        ("command", Value::from(command)),
        ("dir", Value::from(dir)),
        ("environment", template::value(&environment)),
        ("env_file", Value::from(env_file)),
        ("with_env", Value::from(with_env)),
        ("log", Value::from(log)),
    ]))
}

fn failure(error: Error) -> Failure {
    let message = match error.diagnostic() {
        Some(diagnostic) => diagnostic.to_string(),
        None => error.to_string(),
    };
    Failure::new(message, error.hints().into_iter().next())
}

fn on_deploy_name(on_deploy: OnDeploy) -> &'static str {
    match on_deploy {
        OnDeploy::Restart => "restart",
        OnDeploy::Reload => "reload",
        OnDeploy::None => "none",
    }
}

/// See `resource::File::secret_prefixes`. A secret at the start of a line
/// (a key file, a line of a PEM key) leaves an empty prefix: every old line
/// that changed may have held the old one.
pub(crate) fn secret_prefixes(content: &str, secrets: &[Secret]) -> Vec<String> {
    let redactor = Redactor::new(secrets);
    let mut prefixes: Vec<String> = content
        .lines()
        .filter_map(|line| redactor.first(line).map(|at| line[..at].to_string()))
        .collect();
    // Longest first: `SECRET_KEY=` keeps its name before the empty prefix masks all.
    prefixes.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    prefixes.dedup();
    prefixes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_a_variable() {
        let text = "a\n{% if x %}\n  {{ upstream }}\n{{ upstreams }}\n";
        assert_eq!(line_of(text, "upstream"), Some(3));
        assert_eq!(line_of(text, "upstreams"), Some(4));
        assert_eq!(line_of("{{ service.usr }}", "service.usr"), Some(1));
        assert_eq!(line_of("upstream {{ x }}", "upstream"), None);
    }

    #[test]
    fn remembers_what_comes_before_a_secret() {
        let secrets = [Secret::new("KEY".into(), "s3cret".into())];
        let prefixes = secret_prefixes("A=1\nSECRET_KEY=s3cret\ns3cret\n", &secrets);
        assert_eq!(prefixes, vec!["SECRET_KEY=", ""]);
    }

    #[test]
    fn a_multi_line_secret_leaves_empty_prefixes() {
        let secrets = [Secret::new(
            "PEM".into(),
            "-----BEGIN-----\nabcdef\n-----END-----".into(),
        )];
        let content = "# key\n-----BEGIN-----\nabcdef\n-----END-----\nKEY=abcdef\n";
        assert_eq!(secret_prefixes(content, &secrets), vec!["KEY=", ""]);
        assert!(!crate::secret::appears_in("# key", &secrets));
        assert!(crate::secret::appears_in(content, &secrets));
    }
}
