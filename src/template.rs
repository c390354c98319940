//! Templates in task steps and files, through minijinja with strict
//! undefined: a name that is not defined is an error before anything runs.
//! In shell templates every interpolated value is quoted as one shell word,
//! so a task argument like `x; touch /tmp/pwned` stays one literal word.

use std::collections::BTreeMap;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

use crate::suggest;

/// What kind of text a template produces, which decides its escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A shell command: values are quoted into single words.
    Shell,
    /// A plain file (a config file rendered for a host): values verbatim.
    Text,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TemplateError {
    #[error("`{name}` is not defined")]
    Undefined { name: String, hint: Option<String> },
    #[error("{}", render_error(.0))]
    Invalid(#[from] minijinja::Error),
}

impl TemplateError {
    pub(crate) fn hint(&self) -> Option<&str> {
        match self {
            TemplateError::Undefined { hint, .. } => hint.as_deref(),
            TemplateError::Invalid(_) => None,
        }
    }
}

fn render_error(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid"),
    );
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".sh") {
            AutoEscape::Custom("shell".into())
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(|out, state, value| {
        if *state.auto_escape() == AutoEscape::Custom("shell".into()) && !value.is_safe() {
            let text = value.to_string();
            let quoted = shlex::try_quote(&text).map_err(|_| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    "a value with a NUL byte cannot be passed to the shell",
                )
            })?;
            out.write_str(&quoted).map_err(minijinja::Error::from)
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env
}

fn template_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Shell => "step.sh",
        Kind::Text => "file",
    }
}

/// Parse only: syntax errors surface when ferry.toml loads.
pub(crate) fn check_syntax(source: &str, kind: Kind) -> Result<(), TemplateError> {
    let env = environment();
    env.template_from_named_str(template_name(kind), source)?;
    Ok(())
}

pub(crate) fn render(source: &str, kind: Kind, context: &Value) -> Result<String, TemplateError> {
    let env = environment();
    let template = env.template_from_named_str(template_name(kind), source)?;
    let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
    names.sort();
    for name in names {
        check_defined(&name, context)?;
    }
    Ok(template.render(context)?)
}

/// Walk `a.b.c` through the context so the error can name what is missing
/// and suggest a close name at the level where the walk stopped.
fn check_defined(path: &str, context: &Value) -> Result<(), TemplateError> {
    let mut current = context.clone();
    let mut walked = Vec::new();
    for part in path.split('.') {
        walked.push(part);
        let next = current.get_attr(part).ok().filter(|v| !v.is_undefined());
        match next {
            Some(value) => current = value,
            None if walked.len() > 1 && !is_map(&current) => return Ok(()),
            None => {
                let keys = keys(&current);
                return Err(TemplateError::Undefined {
                    name: walked.join("."),
                    hint: suggest::hint(part, keys.iter().map(String::as_str)),
                });
            }
        }
    }
    Ok(())
}

fn is_map(value: &Value) -> bool {
    value.kind() == minijinja::value::ValueKind::Map
}

fn keys(value: &Value) -> Vec<String> {
    value
        .try_iter()
        .map(|keys| {
            keys.filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Any serializable value (a TOML table, a list of roles) as a template value.
pub(crate) fn value<T: serde::Serialize>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// A context from named values, for `render`.
pub(crate) fn context<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    let map: BTreeMap<String, Value> = entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Value::from(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Value {
        context([
            ("deploy_to", Value::from("/srv/my app")),
            (
                "args",
                context([("name", Value::from("x; touch /tmp/pwned"))]),
            ),
        ])
    }

    #[test]
    fn quotes_values_into_single_words() {
        let out = render(
            "cd {{ deploy_to }} && echo {{ args.name }}",
            Kind::Shell,
            &ctx(),
        )
        .unwrap();
        assert_eq!(out, "cd '/srv/my app' && echo 'x; touch /tmp/pwned'");
    }

    #[test]
    fn text_templates_are_verbatim() {
        let out = render("root {{ deploy_to }};", Kind::Text, &ctx()).unwrap();
        assert_eq!(out, "root /srv/my app;");
    }

    #[test]
    fn undefined_names_are_named_with_a_suggestion() {
        let err = render("echo {{ deploy_too }}", Kind::Shell, &ctx()).unwrap_err();
        assert_eq!(err.to_string(), "`deploy_too` is not defined");
        assert_eq!(err.hint(), Some("did you mean `deploy_to`?"));
        let err = render("echo {{ args.nme }}", Kind::Shell, &ctx()).unwrap_err();
        assert_eq!(err.to_string(), "`args.nme` is not defined");
        assert_eq!(err.hint(), Some("did you mean `name`?"));
    }

    #[test]
    fn syntax_errors_are_caught_without_a_context() {
        assert!(check_syntax("echo {{ oops", Kind::Shell).is_err());
        assert!(check_syntax("echo {{ fine }}", Kind::Shell).is_ok());
    }
}
