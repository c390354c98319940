//! Templates in task steps and files, through minijinja with strict
//! undefined: a name that is not defined is an error before anything runs.
//!
//! In shell templates every value is data: the formatter writes a slot per
//! value, then `shell::fill` reads the rendered text with a shell lexer and
//! puts each value in escaped for the quoting context it landed in (a bare
//! word, `"…"`, `'…'`, `$(…)`, a here-document), so it reaches the shell as
//! its literal text. Contexts where no escaping is safe (backquotes,
//! comments, `${…}`, …) are refused when ferry.toml loads (`check_syntax`)
//! and again on the real output at render time.

mod escape;
mod exports;
mod shell;
mod source;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

pub(crate) use self::exports::exports;
pub(crate) use self::shell::Refusal;
use self::shell::{Problem, SlotError};
use crate::suggest;

/// What kind of text a template produces, which decides its escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A shell command: values are quoted into single words.
    Shell,
    /// Plain text (a URL, a config file): values verbatim.
    Text,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TemplateError {
    #[error("`{name}` is not defined")]
    Undefined { name: String, hint: Option<String> },
    #[error("{}", render_error(.0))]
    Invalid(#[from] minijinja::Error),
    /// Found in the source when ferry.toml loads; `span` is in the template.
    #[error("`{{{{ {expr} }}}}` stands {refusal}, where no quoting keeps a value literal")]
    Unsafe {
        expr: String,
        span: Range<usize>,
        refusal: Refusal,
    },
    /// Found in the rendered text (a context an `{% if %}` makes).
    #[error("a value stands {0}, where no quoting keeps it literal")]
    UnsafeValue(Refusal),
    #[error("a line of a value is `{0}`, which would end the here-document it stands in")]
    EndsHereDoc(String),
    #[error("a shell step cannot hold a NUL byte")]
    Nul,
    #[error("a value with a NUL byte cannot be passed to the shell")]
    NulValue,
}

impl TemplateError {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            TemplateError::Undefined { hint, .. } => hint.clone(),
            TemplateError::Unsafe { expr, .. } => Some(move_to_environment(expr)),
            TemplateError::UnsafeValue(_) | TemplateError::EndsHereDoc(_) => Some(
                "hand the value to the step as an environment variable ($FERRY_VAR_<NAME> for [vars], $FERRY_ARG_<NAME> for task arguments)".into(),
            ),
            TemplateError::Invalid(_) | TemplateError::Nul | TemplateError::NulValue => None,
        }
    }
}

/// The hint for a value where it cannot stand: its environment variable.
fn move_to_environment(expr: &str) -> String {
    let is_name = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    match expr.split_once('.') {
        Some(("args", name)) if is_name(name) => format!(
            "move the value to an environment variable: `${}`",
            variable_name("FERRY_ARG_", name)
        ),
        None if is_name(expr) => format!(
            "move the value to an environment variable: `${}` (every [vars] value is one)",
            variable_name("FERRY_VAR_", expr)
        ),
        _ => format!(
            "set a shell variable on a line before (`value={{{{ {expr} }}}}`) and use \"$value\" there"
        ),
    }
}

/// `FERRY_VAR_` + `db-name` → `FERRY_VAR_DB_NAME`: what a step sees a
/// value as in its environment.
pub(crate) fn variable_name(prefix: &str, name: &str) -> String {
    let tail: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{tail}")
}

fn render_error(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// The values a shell template's formatter wrote, by slot index.
type Values = Arc<Mutex<Vec<String>>>;

fn environment(values: Values) -> Environment<'static> {
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
    env.set_formatter(move |out, state, value| {
        // Every value is data in a shell step, `|safe` ones too: nothing a
        // value holds may become shell syntax.
        if *state.auto_escape() == AutoEscape::Custom("shell".into()) {
            let mut values = values.lock().expect("no render panics holding it");
            out.write_str(&shell::slot(values.len()))?;
            values.push(value.to_string());
            Ok(())
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

/// Parse, and for shell steps check where each `{{ … }}` stands: errors
/// surface when ferry.toml loads.
pub(crate) fn check_syntax(source: &str, kind: Kind) -> Result<(), TemplateError> {
    let env = environment(Values::default());
    env.template_from_named_str(template_name(kind), source)?;
    if kind == Kind::Shell {
        check_shell(source)?;
    }
    Ok(())
}

fn check_shell(source: &str) -> Result<(), TemplateError> {
    if source.contains(shell::SLOT) {
        return Err(TemplateError::Nul);
    }
    let (text, slots) = source::slots(source);
    match shell::fill(&text, |_| "value".into()) {
        Ok(_) => Ok(()),
        Err(SlotError {
            index,
            problem: Problem::Refused(refusal),
        }) => {
            let slot = &slots[index.min(slots.len() - 1)];
            Err(TemplateError::Unsafe {
                expr: slot.expr.clone(),
                span: slot.span.clone(),
                refusal,
            })
        }
        Err(SlotError {
            problem: Problem::EndsHereDoc(delimiter),
            ..
        }) => Err(TemplateError::EndsHereDoc(delimiter)),
    }
}

pub(crate) fn render(source: &str, kind: Kind, context: &Value) -> Result<String, TemplateError> {
    if kind == Kind::Shell && source.contains(shell::SLOT) {
        return Err(TemplateError::Nul);
    }
    let values = Values::default();
    let env = environment(values.clone());
    let template = env.template_from_named_str(template_name(kind), source)?;
    let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
    names.sort();
    for name in names {
        check_defined(&name, context)?;
    }
    let text = template.render(context)?;
    if kind == Kind::Text {
        return Ok(text);
    }
    let values = std::mem::take(&mut *values.lock().expect("render is done"));
    if values.iter().any(|v| v.contains('\0')) {
        return Err(TemplateError::NulValue);
    }
    shell::fill(&text, |index| values[index].clone()).map_err(|error| match error.problem {
        Problem::Refused(refusal) => TemplateError::UnsafeValue(refusal),
        Problem::EndsHereDoc(delimiter) => TemplateError::EndsHereDoc(delimiter),
    })
}

/// The names a template reads from its context (`a`, `service.command`),
/// sorted: what a check of the values it uses needs.
pub(crate) fn used_names(source: &str, kind: Kind) -> Result<Vec<String>, TemplateError> {
    let env = environment(Values::default());
    let template = env.template_from_named_str(template_name(kind), source)?;
    let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
    names.sort();
    Ok(names)
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
mod unit {
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
        assert_eq!(err.hint().as_deref(), Some("did you mean `deploy_to`?"));
        let err = render("echo {{ args.nme }}", Kind::Shell, &ctx()).unwrap_err();
        assert_eq!(err.to_string(), "`args.nme` is not defined");
        assert_eq!(err.hint().as_deref(), Some("did you mean `name`?"));
    }

    #[test]
    fn syntax_errors_are_caught_without_a_context() {
        assert!(check_syntax("echo {{ oops", Kind::Shell).is_err());
        assert!(check_syntax("echo {{ fine }}", Kind::Shell).is_ok());
    }
}
