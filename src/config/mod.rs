//! `ferry.toml`: finding it, parsing it strictly, and resolving it into the
//! validated `Project` the rest of ferry uses. Every error names
//! file:line:column. Environment values (`${VAR}`, overrides) are resolved
//! only for the environment a run selects, so a missing production secret
//! does not stop a staging run.

mod container;
mod deploy;
mod environment;
mod error;
mod explain;
mod interpolate;
#[cfg(test)]
mod keys;
mod layer;
mod locate;
mod pipeline;
mod provision;
mod raw;
mod secrets;
mod service;
mod settings;
mod task;
mod vars;

use std::path::{Path, PathBuf};

pub(crate) use container::{ContainerDef, Registry};
pub(crate) use deploy::{DeployDef, DotenvDef, HealthDef, Probe, Serial, WITH_ENV, header_problem};
pub(crate) use environment::{Environment, Overrides};
pub(crate) use error::ConfigError;
pub(crate) use explain::{Explained, explain};
pub(crate) use pipeline::{Pipeline, TagPatterns, tag_name};
pub(crate) use provision::{
    Attrs, FileBody, FileDef, Handler, LayoutDef, Provision, TemplateSource,
};
pub(crate) use raw::{HostKeyChecking, Manager, OnDeploy, OnFailure, SourceKind};
pub(crate) use service::ServiceDef;
pub(crate) use settings::Settings;
pub(crate) use task::TaskDef;

use crate::diagnostic::{Diagnostic, SourceFile};
use crate::suggest;

pub(crate) const FILE_NAME: &str = "ferry.toml";

/// Names that are ferry's own words on the command line.
pub(crate) const RESERVED_ENVIRONMENTS: &[&str] = &[
    "init",
    "tasks",
    "help",
    "promote",
    "ship",
    "local-demo",
    "completions",
    "man",
];

#[derive(Debug)]
pub(crate) struct Project {
    pub(crate) file: SourceFile,
    /// The directory holding ferry.toml: relative paths in it start here.
    pub(crate) root: PathBuf,
    pub(crate) app: String,
    pub(crate) default_task: Option<String>,
    pub(crate) tasks: Vec<TaskDef>,
    pub(crate) services: Vec<ServiceDef>,
    pub(crate) deploy: DeployDef,
    /// `[provision]`, when ferry.toml has one.
    pub(crate) provision: Option<Provision>,
    /// `[pipeline]`, when ferry.toml has one.
    pub(crate) pipeline: Option<Pipeline>,
    raw: raw::RawConfig,
}

/// The nearest ferry.toml from `start` upwards, as Cargo finds Cargo.toml.
pub(crate) fn find(start: &Path) -> Result<PathBuf, ConfigError> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| ConfigError::NotFound(start.to_path_buf()))
}

pub(crate) fn load(path: &Path) -> Result<Project, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| not_utf8(path, &e))?;
    parse(SourceFile::new(path, text))
}

/// TOML is UTF-8; point at the first byte that is not, in the file's text
/// with that byte shown as U+FFFD (the bytes before it are unchanged).
fn not_utf8(path: &Path, error: &std::string::FromUtf8Error) -> ConfigError {
    let at = error.utf8_error().valid_up_to();
    let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
    let file = SourceFile::new(path, text);
    file.error(
        at..at + char::REPLACEMENT_CHARACTER.len_utf8(),
        "not UTF-8 text",
    )
    .label("this byte is not UTF-8")
    .help(Some(format!("save {FILE_NAME} as UTF-8")))
    .into()
}

/// The base project; every environment's overrides are merged and checked
/// too, so a bad key in one fails the load whichever environment runs.
pub(crate) fn parse(file: SourceFile) -> Result<Project, ConfigError> {
    let project = parse_layer(file, None)?;
    for name in project.environments_with_overrides() {
        parse_layer(project.file.clone(), Some(&name))?;
    }
    Ok(project)
}

/// The document, with `env`'s `[deploy]`, `[services]`, `[tasks]`
/// overrides merged over the top level when one is given.
fn parse_layer(file: SourceFile, env: Option<&str>) -> Result<Project, ConfigError> {
    use serde::Deserialize;
    let text = file.text.clone();
    let doc = toml::de::DeTable::parse(&text).map_err(|e| toml_error(&file, &e))?;
    let doc = match env {
        Some(name) => layer::merged(doc, name),
        None => doc,
    };
    let raw = raw::RawConfig::deserialize(toml::de::Deserializer::from(doc))
        .map_err(|e| toml_error(&file, &e))?;
    let root = file
        .path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let app = match &raw.app {
        Some(app) => check_app_name(&file, app)?,
        None => root_name(&root),
    };
    let tasks = task::resolve_all(&file, &raw)?;
    let services = service::resolve_all(&file, &raw, &app)?;
    let deploy = deploy::resolve(&file, &raw)?;
    let provision = provision::resolve(&provision::Inputs {
        file: &file,
        raw: &raw,
        root: &root,
        services: &services,
    })?;
    let pipeline = pipeline::resolve(&file, &raw)?;
    let project = Project {
        default_task: raw.default_task.as_ref().map(|t| t.get_ref().clone()),
        file,
        root,
        app,
        tasks,
        services,
        deploy,
        provision,
        pipeline,
        raw,
    };
    project.check()?;
    Ok(project)
}

impl Project {
    /// The project as environment `name` sees it: its `[deploy]`,
    /// `[services]` and `[tasks]` overrides merged over the base (`layer`).
    pub(crate) fn for_environment(&self, name: &str) -> Result<Project, ConfigError> {
        if !self.environments_with_overrides().iter().any(|n| n == name) {
            return parse_layer(self.file.clone(), None);
        }
        parse_layer(self.file.clone(), Some(name))
    }

    /// Environments that override `[deploy]`, `[services]` or `[tasks]`.
    fn environments_with_overrides(&self) -> Vec<String> {
        self.raw
            .environments
            .iter()
            .filter(|(_, e)| {
                e.deploy.is_some() || e.services.is_some() || e.tasks.is_some() || e.hooks.is_some()
            })
            .map(|(name, _)| name.get_ref().clone())
            .collect()
    }

    pub(crate) fn environment_names(&self) -> impl Iterator<Item = &str> {
        self.raw.environments.keys().map(|k| k.get_ref().as_str())
    }

    /// `name` or `name (description)`, for listings.
    pub(crate) fn environment_summaries(&self) -> Vec<String> {
        self.environments_described()
            .into_iter()
            .map(|(name, description)| match description {
                Some(description) => format!("{name} ({description})"),
                None => name,
            })
            .collect()
    }

    /// Each environment's name and description, in the file's order.
    pub(crate) fn environments_described(&self) -> Vec<(String, Option<String>)> {
        self.raw
            .environments
            .iter()
            .map(|(name, env)| (name.get_ref().clone(), env.description.clone()))
            .collect()
    }

    /// The directory that ships (`[deploy] path` under the root): its git
    /// repository is the app's, for tags, branches and compare links too.
    pub(crate) fn app_dir(&self) -> PathBuf {
        self.root.join(&self.deploy.path)
    }

    /// The directory holding ferry.toml: relative paths in it start here.
    pub(crate) fn config_dir(&self) -> PathBuf {
        self.file
            .path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    pub(crate) fn task(&self, name: &str) -> Option<&TaskDef> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// Resolve one environment: layered settings, `${VAR}`s, hosts and roles.
    pub(crate) fn environment(
        &self,
        name: &str,
        overrides: &Overrides<'_>,
    ) -> Result<Environment, ConfigError> {
        environment::resolve(self, name, overrides)
    }

    fn check(&self) -> Result<(), Diagnostic> {
        for key in self.raw.environments.keys() {
            if RESERVED_ENVIRONMENTS.contains(&key.get_ref().as_str()) {
                return Err(self
                    .file
                    .error(
                        key.span(),
                        format!(
                            "`{}` is a ferry command, not an environment name",
                            key.get_ref()
                        ),
                    )
                    .label("reserved name"));
            }
        }
        let per_host = self.raw.environments.values().flat_map(|e| {
            e.role_vars
                .values()
                .chain(e.host_vars.values())
                .flat_map(|t| t.keys())
        });
        for key in self.raw.vars.keys().chain(per_host) {
            if raw::SETTING_KEYS.contains(&key.get_ref().as_str()) {
                return Err(self
                    .file
                    .error(
                        key.span(),
                        format!(
                            "`{}` is a setting; set it at the top level, not in [vars]",
                            key.get_ref()
                        ),
                    )
                    .label("setting in [vars]"));
            }
        }
        let secrets = self.raw.secrets.iter().chain(
            self.raw
                .environments
                .values()
                .flat_map(|e| e.secrets.iter()),
        );
        for (name, value) in secrets {
            if !is_env_name(name.get_ref()) {
                return Err(self
                    .file
                    .error(
                        name.span(),
                        format!(
                            "`{}` cannot name a secret: steps read secrets as shell variables",
                            name.get_ref()
                        ),
                    )
                    .label("use letters, digits and `_`"));
            }
            if let raw::RawSecret::Env(text) = value.get_ref() {
                let value = toml::Spanned::new(value.span(), text.clone());
                interpolate::check_secret(&self.file, name, &value)?;
            }
        }
        if let Some(default) = &self.raw.default_task {
            task::check_exists(&self.file, self, default)?;
        }
        Ok(())
    }
}

fn check_app_name(file: &SourceFile, app: &toml::Spanned<String>) -> Result<String, Diagnostic> {
    let name = app.get_ref();
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name.clone())
    } else {
        Err(file
            .error(app.span(), format!("`{name}` is not a valid app name"))
            .label("use letters, digits, `-`, `_` and `.`"))
    }
}

fn root_name(root: &Path) -> String {
    let absolute = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    absolute
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("app")
        .to_string()
}

/// toml's errors carry a span; give them our renderer and a "did you mean".
fn toml_error(file: &SourceFile, error: &toml::de::Error) -> Diagnostic {
    let span = error.span().unwrap_or(0..0);
    let message = error.message().trim();
    if let Some((name, known)) = unknown_field(message) {
        let known: Vec<&str> = known.split(", ").map(|k| k.trim_matches('`')).collect();
        let help = suggest::hint(name, known.iter().copied())
            .unwrap_or_else(|| format!("known keys here: {}", known.join(", ")));
        return file
            .error(span, format!("unknown key `{name}`"))
            .label("not a key ferry knows here")
            .help(Some(help));
    }
    if let Some((name, known)) = unknown_variant(message) {
        let known: Vec<&str> = known
            .split([',', ' '])
            .filter(|k| k.starts_with('`'))
            .map(|k| k.trim_matches('`'))
            .collect();
        return file
            .error(span, format!("`{name}` is not one of {}", known.join(", ")))
            .label("unknown value")
            .help(suggest::hint(name, known.iter().copied()));
    }
    let first = message.lines().next().unwrap_or(message);
    file.error(span, plain_types(first)).label("here")
}

// serde's wording: "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
fn unknown_field(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (name, rest) = rest.split_once('`')?;
    let known = rest
        .strip_prefix(", expected one of ")
        .or_else(|| rest.strip_prefix(", expected "))
        .unwrap_or("");
    Some((name, known))
}

fn unknown_variant(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("unknown variant `")?;
    let (name, rest) = rest.split_once('`')?;
    Some((name, rest))
}

// serde names Rust types; users wrote TOML.
fn plain_types(message: &str) -> String {
    message
        .replace("expected u32", "expected a whole number")
        .replace("expected a boolean", "expected true or false")
}

/// A template's syntax, checked when ferry.toml loads.
fn check_template(file: &SourceFile, source: &toml::Spanned<String>) -> Result<(), Diagnostic> {
    use crate::template::TemplateError;
    crate::template::check_syntax(source.get_ref(), crate::template::Kind::Shell).map_err(|e| {
        let (span, label) = match &e {
            TemplateError::Unsafe { span, refusal, .. } => {
                (slot_span(file, source, span), format!("a value {refusal}"))
            }
            _ => (source.span(), "in this template".to_string()),
        };
        file.error(span, format!("template error: {e}"))
            .label(label)
            .help(e.hint())
    })
}

/// Where a `{{ … }}` of a string value is in the file: found by its text
/// (escapes in a TOML string shift offsets), else the whole string.
fn slot_span(
    file: &SourceFile,
    source: &toml::Spanned<String>,
    slot: &std::ops::Range<usize>,
) -> std::ops::Range<usize> {
    let value = source.get_ref();
    let needle = &value[slot.clone()];
    let nth = value[..slot.start].matches(needle).count();
    let span = source.span();
    file.text
        .get(span.clone())
        .and_then(|raw| raw.match_indices(needle).nth(nth))
        .map_or(span.clone(), |(at, _)| {
            span.start + at..span.start + at + needle.len()
        })
}

/// A name a shell variable can have: `${VAR}`s, secrets, .env keys.
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The values of an optional list of names, as plain strings.
fn names(list: &Option<Vec<toml::Spanned<String>>>) -> Vec<String> {
    list.iter()
        .flatten()
        .map(|name| name.get_ref().clone())
        .collect()
}
