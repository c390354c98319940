//! Project tasks from `[tasks.<name>]`: checked when ferry.toml loads (names,
//! arguments, template syntax), rendered per host only when a run needs them.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::Project;
use super::raw::{RawConfig, RawTask};
use crate::diagnostic::{Diagnostic, SourceFile};
use crate::{builtin, suggest};

#[derive(Debug, Clone)]
pub(crate) struct TaskDef {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) roles: Vec<String>,
    pub(crate) once: bool,
    /// Working directory template; the login directory when absent.
    pub(crate) dir: Option<Spanned<String>>,
    /// Optional arguments with their defaults.
    pub(crate) args: BTreeMap<String, String>,
    pub(crate) required: Vec<String>,
    /// Shell templates, kept with their spans so render errors point at them.
    pub(crate) steps: Vec<Spanned<String>>,
    pub(crate) timeout: Option<Duration>,
}

impl TaskDef {
    pub(crate) fn arg_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.required
            .iter()
            .map(String::as_str)
            .chain(self.args.keys().map(String::as_str))
    }
}

pub(crate) fn resolve_all(file: &SourceFile, raw: &RawConfig) -> Result<Vec<TaskDef>, Diagnostic> {
    let known_roles = all_roles(raw);
    raw.tasks
        .iter()
        .map(|(name, task)| resolve(file, name, task, &known_roles))
        .collect()
}

fn resolve(
    file: &SourceFile,
    name: &Spanned<String>,
    raw: &RawTask,
    known_roles: &[&str],
) -> Result<TaskDef, Diagnostic> {
    check_name(file, name)?;
    if raw.steps.get_ref().is_empty() {
        return Err(file
            .error(raw.steps.span(), "a task needs at least one step")
            .label("no steps"));
    }
    for source in raw.steps.get_ref().iter().chain(raw.dir.as_ref()) {
        super::check_template(file, source)?;
    }
    check_roles(file, raw.roles.iter().flatten(), known_roles)?;
    for arg in raw.required.iter().chain(raw.args.keys()) {
        check_identifier(file, arg, "argument")?;
        if raw.args.contains_key(arg.get_ref().as_str())
            && raw.required.iter().any(|r| r.get_ref() == arg.get_ref())
        {
            return Err(file
                .error(
                    arg.span(),
                    format!(
                        "argument `{}` is both required and has a default",
                        arg.get_ref()
                    ),
                )
                .label("here"));
        }
    }
    Ok(TaskDef {
        name: name.get_ref().clone(),
        description: raw.description.clone().unwrap_or_default(),
        roles: super::names(&raw.roles),
        once: raw.once,
        dir: raw.dir.clone(),
        args: raw
            .args
            .iter()
            .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
            .collect(),
        required: raw.required.iter().map(|r| r.get_ref().clone()).collect(),
        steps: raw.steps.get_ref().clone(),
        timeout: raw
            .timeout
            .as_ref()
            .map(|t| Duration::from_secs(u64::from(*t.get_ref()))),
    })
}

/// Every role named in `roles` must exist in some environment: a typo would
/// otherwise select no host at all.
pub(super) fn check_roles<'a>(
    file: &SourceFile,
    mut roles: impl Iterator<Item = &'a Spanned<String>>,
    known_roles: &[&str],
) -> Result<(), Diagnostic> {
    match roles.find(|r| !known_roles.is_empty() && !known_roles.contains(&r.get_ref().as_str())) {
        None => Ok(()),
        Some(role) => Err(file
            .error(
                role.span(),
                format!("no environment has a host with role `{}`", role.get_ref()),
            )
            .label("unknown role")
            .help(suggest::hint(role.get_ref(), known_roles.iter().copied()))),
    }
}

pub(super) fn all_roles(raw: &RawConfig) -> Vec<&str> {
    let mut roles: Vec<&str> = raw
        .environments
        .values()
        .flat_map(|env| env.roles.keys().map(|r| r.get_ref().as_str()))
        .collect();
    roles.sort_unstable();
    roles.dedup();
    roles
}

fn check_name(file: &SourceFile, name: &Spanned<String>) -> Result<(), Diagnostic> {
    check_identifier(file, name, "task")?;
    if builtin::is_builtin(name.get_ref()) {
        return Err(file
            .error(
                name.span(),
                format!("`{}` is a built-in task", name.get_ref()),
            )
            .label("choose another name"));
    }
    Ok(())
}

fn check_identifier(
    file: &SourceFile,
    name: &Spanned<String>,
    what: &str,
) -> Result<(), Diagnostic> {
    let text = name.get_ref();
    let mut chars = text.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(file
            .error(name.span(), format!("`{text}` is not a valid {what} name"))
            .label("use letters, digits, `_` and `-`, starting with a letter"))
    }
}

/// The project's `default_task` must name a task that exists.
pub(crate) fn check_exists(
    file: &SourceFile,
    project: &Project,
    name: &Spanned<String>,
) -> Result<(), Diagnostic> {
    if builtin::is_builtin(name.get_ref()) || project.task(name.get_ref()).is_some() {
        return Ok(());
    }
    let names = project
        .tasks
        .iter()
        .map(|t| t.name.as_str())
        .chain(builtin::names());
    Err(file
        .error(name.span(), format!("no task named `{}`", name.get_ref()))
        .label("unknown task")
        .help(suggest::hint(name.get_ref(), names)))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{ConfigError, parse};
    use crate::diagnostic::SourceFile;

    fn load(text: &str) -> Result<crate::config::Project, ConfigError> {
        parse(SourceFile::new(Path::new("ferry.toml"), text.into()))
    }

    #[test]
    fn no_project_task_shadows_a_builtin() {
        for name in crate::builtin::names() {
            let error = load(&format!("[tasks.{name}]\nsteps = [\"true\"]\n"))
                .err()
                .unwrap_or_else(|| panic!("`{name}` as a project task was accepted"));
            assert_eq!(error.to_string(), format!("`{name}` is a built-in task"));
        }
    }

    #[test]
    fn default_task_may_name_a_builtin_or_a_project_task() {
        assert!(load("default_task = \"deploy\"\n").is_ok());
        assert!(load("default_task = \"hi\"\n[tasks.hi]\nsteps = [\"true\"]\n").is_ok());
        let error = load("default_task = \"deplyo\"\n").unwrap_err();
        assert_eq!(error.to_string(), "no task named `deplyo`");
    }
}
