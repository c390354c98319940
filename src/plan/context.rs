//! What planning a task needs: the project, the resolved environment, the
//! selected hosts — and the one way to render a template for a host, so
//! tasks, deploy commands and services see the same values.

use std::collections::BTreeMap;

use minijinja::Value;
use toml::Spanned;

use crate::config::{Environment, HealthDef, Project, header_problem};
use crate::error::Error;
use crate::inventory::{Address, Host};
use crate::template::{self, Kind, TemplateError};

pub(crate) struct Context<'a> {
    pub(crate) project: &'a Project,
    pub(crate) env: &'a Environment,
    /// The hosts selected for this run (after -H, --roles, --hosts).
    pub(crate) hosts: &'a [Host],
    /// Words after `--`, for `run`.
    pub(crate) command: &'a [String],
    /// `--check`: say what would change, change nothing.
    pub(crate) check: bool,
    /// `--diff`: with changes to files, show them.
    pub(crate) diff: bool,
    /// How the test gate went, for a deploy's history: `passed`, `skipped`.
    pub(crate) tests: Option<&'static str>,
}

impl Context<'_> {
    /// What templates see: the environment's values, this host and `args`.
    pub(crate) fn host_values(&self, host: &Host, args: &BTreeMap<String, String>) -> Value {
        let (user, port) = match &host.address {
            Address::Ssh { user, port, .. } => (
                user.clone().or_else(|| self.env.settings.user.clone()),
                *port,
            ),
            Address::Local => (None, None),
        };
        let host_value = template::context([
            ("label", Value::from(host.label.as_str())),
            ("name", Value::from(host.name())),
            ("user", Value::from(user)),
            ("port", Value::from(port)),
            ("roles", template::value(&host.roles)),
        ]);
        let mut entries: Vec<(&str, Value)> = self
            .env
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        entries.extend(self.env.settings.context());
        entries.extend([
            ("app", Value::from(self.project.app.as_str())),
            ("env", Value::from(self.env.name.as_str())),
            ("host", host_value),
            ("args", template::value(args)),
        ]);
        template::context(entries)
    }

    /// `export` lines that hand every `[vars]` value and every argument of
    /// `args` to a script's steps as environment variables.
    pub(crate) fn value_exports(
        &self,
        args: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, String)>, Error> {
        template::exports(&self.env.vars, args)
            .map_err(|error| Error::usage(format!("[vars]: {error}"), error.hint()))
    }

    /// The environment's `.env` on its hosts (`[deploy.dotenv]`), whose
    /// variables tasks' steps and `run` see like the app; not for a
    /// container release, whose container has them.
    pub(crate) fn env_file(&self) -> Option<String> {
        let deploy = &self.project.deploy;
        deploy
            .dotenv
            .as_ref()
            .filter(|_| deploy.container.is_none())
            .map(|d| d.on_host(&self.env.settings.deploy_to))
    }

    /// `[deploy.health] headers` rendered for a host (or a slot), each as
    /// `Name: value`, the one word the probe sends it as.
    pub(crate) fn health_headers(
        &self,
        health: &HealthDef,
        values: &Value,
    ) -> Result<Vec<String>, Error> {
        let mut headers = Vec::new();
        for (name, source) in &health.headers {
            let what = format!("[deploy.health] headers.{name}");
            let value = self.render_as(&what, source, Kind::Text, values)?;
            if let Some(problem) = header_problem(&value) {
                return Err(self
                    .project
                    .file
                    .error(source.span(), format!("{what}: the value holds {problem}"))
                    .label("rendered from this template")
                    .into());
            }
            headers.push(format!("{name}: {value}"));
        }
        Ok(headers)
    }

    /// Render a shell template from ferry.toml; an error points at it.
    pub(crate) fn render(
        &self,
        what: &str,
        source: &Spanned<String>,
        values: &Value,
    ) -> Result<String, Error> {
        self.render_as(what, source, Kind::Shell, values)
    }

    pub(crate) fn render_as(
        &self,
        what: &str,
        source: &Spanned<String>,
        kind: Kind,
        values: &Value,
    ) -> Result<String, Error> {
        template::render(source.get_ref(), kind, values).map_err(|error| {
            self.project
                .file
                .error(source.span(), format!("{what}: {error}"))
                .label("in this template")
                .help(self.hint(&error))
                .into()
        })
    }

    fn hint(&self, error: &TemplateError) -> Option<String> {
        match error {
            TemplateError::Undefined { name, .. }
                if self.env.secrets.iter().any(|s| s.name == *name) =>
            {
                Some(format!(
                    "secret `{name}` is not rendered into commands; the step sees it as the environment variable ${name}"
                ))
            }
            other => other.hint(),
        }
    }
}
