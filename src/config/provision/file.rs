//! `[provision.files."<path>"]`: where the content comes from (a template
//! shipped with ferry or the project's override of it, a project file,
//! inline text), which service it renders, and what to notify when it
//! changes. Template syntax errors point into the template itself.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use toml::Spanned;

use super::{Attrs, Handler, Inputs, shipped};
use crate::config::Manager;
use crate::config::raw::RawFile;
use crate::config::service::ServiceDef;
use crate::diagnostic::{Diagnostic, SourceFile};
use crate::suggest;
use crate::template::{self, Kind, TemplateError};

#[derive(Debug)]
pub(crate) struct FileDef {
    /// A template: `{{ deploy_to }}/shared/.env`.
    pub(crate) path: Spanned<String>,
    pub(crate) body: FileBody,
    /// The key of the `[services.<key>]` the template sees as `service`.
    pub(crate) service: Option<String>,
    pub(crate) vars: BTreeMap<String, minijinja::Value>,
    pub(crate) attrs: Attrs,
    pub(crate) roles: Vec<String>,
    pub(crate) notify: Vec<Handler>,
    pub(crate) become_root: Option<bool>,
}

#[derive(Debug)]
pub(crate) enum FileBody {
    Template(TemplateSource),
    /// Remove a file or symlink at the path.
    Absent,
}

#[derive(Debug)]
pub(crate) struct TemplateSource {
    /// How errors name it: `nginx.conf`, `deploy/env.j2`, `inline content`.
    pub(crate) name: String,
    pub(crate) text: Arc<str>,
    /// Values of a shipped template that the file's `vars` may override.
    pub(crate) defaults: &'static [(&'static str, &'static str)],
}

pub(super) fn resolve(
    inputs: &Inputs<'_>,
    path: &Spanned<String>,
    raw: &RawFile,
    roles: Vec<String>,
) -> Result<FileDef, Diagnostic> {
    let file = inputs.file;
    let service = raw
        .service
        .as_ref()
        .map(|key| find_service(file, inputs.services, key))
        .transpose()?;
    let sources = [&raw.template, &raw.source, &raw.content]
        .iter()
        .filter(|s| s.is_some())
        .count()
        + usize::from(raw.absent);
    if sources != 1 {
        return Err(file
            .error(
                path.span(),
                format!(
                    "file `{}` needs exactly one of `template`, `source`, `content` or `absent = true`",
                    path.get_ref()
                ),
            )
            .label(if sources == 0 { "no content" } else { "more than one" })
            .help(Some(format!(
                "templates shipped with ferry: {}",
                shipped::names().collect::<Vec<_>>().join(", ")
            ))));
    }
    let attrs = super::attrs(file, &raw.owner, &raw.group, &raw.mode)?;
    let (body, default_notify) = if raw.absent {
        if attrs.owner.is_some() || attrs.group.is_some() || attrs.mode.is_some() {
            return Err(file
                .error(path.span(), "an absent file has no owner, group or mode")
                .label("absent = true"));
        }
        (FileBody::Absent, Vec::new())
    } else if let Some(name) = &raw.template {
        let shipped = find_shipped(file, name)?;
        check_service_template(file, name, shipped, service)?;
        let source = match shipped.override_path(inputs.root) {
            Some(over) => project_file(file, name, &over, inputs.root)?,
            None => TemplateSource {
                name: shipped.name.to_string(),
                text: shipped.text.into(),
                defaults: &[],
            },
        };
        let source = TemplateSource {
            defaults: shipped.defaults,
            ..source
        };
        (FileBody::Template(source), shipped.notify())
    } else if let Some(source) = &raw.source {
        let full = inputs.root.join(source.get_ref());
        let source = project_file(file, source, &full, inputs.root)?;
        (FileBody::Template(source), Vec::new())
    } else {
        let content = raw.content.as_ref().expect("counted above");
        template::check_syntax(content.get_ref(), Kind::Text).map_err(|e| {
            file.error(content.span(), format!("template error: {e}"))
                .label("in this template")
        })?;
        let source = TemplateSource {
            name: "inline content".into(),
            text: content.get_ref().as_str().into(),
            defaults: &[],
        };
        (FileBody::Template(source), Vec::new())
    };
    let notify = match &raw.notify {
        Some(list) => super::notify(file, list)?,
        None => match service {
            Some(service) => service_notify(service),
            None => default_notify,
        },
    };
    Ok(FileDef {
        path: path.clone(),
        body,
        roles: match (roles.is_empty(), service) {
            (true, Some(service)) => service.roles.clone(),
            _ => roles,
        },
        service: service.map(|s| s.key.clone()),
        vars: super::vars(&raw.vars),
        attrs,
        notify,
        become_root: raw.become_root,
    })
}

fn find_service<'a>(
    file: &SourceFile,
    services: &'a [ServiceDef],
    key: &Spanned<String>,
) -> Result<&'a ServiceDef, Diagnostic> {
    services
        .iter()
        .find(|s| s.key == *key.get_ref())
        .ok_or_else(|| {
            file.error(
                key.span(),
                format!("no service `{}` in [services]", key.get_ref()),
            )
            .label("unknown service")
            .help(suggest::hint(
                key.get_ref(),
                services.iter().map(|s| s.key.as_str()),
            ))
        })
}

fn find_shipped(
    file: &SourceFile,
    name: &Spanned<String>,
) -> Result<&'static shipped::Shipped, Diagnostic> {
    shipped::find(name.get_ref()).ok_or_else(|| {
        let names: Vec<&str> = shipped::names().collect();
        file.error(
            name.span(),
            format!("ferry ships no template `{}`", name.get_ref()),
        )
        .label("unknown template")
        .help(
            suggest::hint(name.get_ref(), names.iter().copied()).or_else(|| {
                Some(format!(
                    "shipped templates: {}; use `source = \"path\"` for a project file",
                    names.join(", ")
                ))
            }),
        )
    })
}

/// A supervisor program or systemd unit renders a service of that manager.
fn check_service_template(
    file: &SourceFile,
    name: &Spanned<String>,
    shipped: &shipped::Shipped,
    service: Option<&ServiceDef>,
) -> Result<(), Diagnostic> {
    let Some(manager) = shipped.manager else {
        return Ok(());
    };
    let problem = match service {
        None => format!(
            "template `{}` renders a service: add `service = \"<key>\"` naming one of [services]",
            shipped.name
        ),
        Some(s) if s.manager != manager => format!(
            "service `{}` is not managed by {} (manager = \"{}\")",
            s.key,
            manager.as_str(),
            s.manager.as_str()
        ),
        Some(s) if s.command.is_none() => format!(
            "service `{}` has no `command` for template `{}` to run",
            s.key, shipped.name
        ),
        Some(_) => return Ok(()),
    };
    Err(file.error(name.span(), problem).label("this template"))
}

/// A changed program or unit must reach its manager: supervisor updates the
/// program (restarting it); systemd reloads units and restarts a running one.
fn service_notify(service: &ServiceDef) -> Vec<Handler> {
    match service.manager {
        Manager::Supervisor => vec![Handler::Supervisor],
        Manager::Systemd => vec![Handler::Systemd, Handler::TryRestart(service.unit.clone())],
        Manager::Command => Vec::new(),
    }
}

/// A template file of the project; its syntax errors point into it.
fn project_file(
    file: &SourceFile,
    named_at: &Spanned<String>,
    path: &Path,
    root: &Path,
) -> Result<TemplateSource, Diagnostic> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        file.error(
            named_at.span(),
            format!("cannot read {}: {e}", path.display()),
        )
        .label("this template")
    })?;
    let shown = path.strip_prefix(root).unwrap_or(path);
    if let Err(error) = template::check_syntax(&text, Kind::Text) {
        let span = match &error {
            TemplateError::Invalid(e) => e.range().unwrap_or(0..0),
            TemplateError::Unsafe { span, .. } => span.clone(),
            _ => 0..0,
        };
        return Err(SourceFile::new(shown, text)
            .error(span, format!("template error: {error}"))
            .label("here"));
    }
    Ok(TemplateSource {
        name: shown.display().to_string(),
        text: text.into(),
        defaults: &[],
    })
}
