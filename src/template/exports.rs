//! Values handed to steps as environment variables, the form that needs no
//! quoting at all: every `[vars]` value as `FERRY_VAR_<NAME>` and every task
//! argument as `FERRY_ARG_<NAME>`. The lines go into the script ferry sends
//! on stdin (never into argv), like the secrets' exports.

use std::collections::BTreeMap;

use minijinja::Value;
use minijinja::value::ValueKind;

use super::{TemplateError, variable_name};

/// `(FERRY_VAR_GREETING, hello)`: each value's name and text, for
/// `Script::values`, which exports them as quoted words.
pub(crate) fn exports(
    vars: &BTreeMap<String, Value>,
    args: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, TemplateError> {
    let vars = vars
        .iter()
        .map(|(name, value)| (variable_name("FERRY_VAR_", name), text(value)));
    let args = args
        .iter()
        .map(|(name, value)| (variable_name("FERRY_ARG_", name), value.clone()));
    vars.chain(args)
        .map(|(name, value)| {
            if value.contains('\0') {
                return Err(TemplateError::NulValue);
            }
            Ok((name, value))
        })
        .collect()
}

/// A value as the shell sees it: strings as they are, numbers and booleans
/// as written in TOML, lists and tables as JSON.
fn text(value: &Value) -> String {
    match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        ValueKind::None | ValueKind::Undefined => String::new(),
        _ => serde_json::to_string(value).unwrap_or_else(|_| value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_and_arguments_become_quoted_exports() {
        let vars = BTreeMap::from([
            ("greeting".to_string(), Value::from("it's $(x)")),
            ("port".to_string(), Value::from(8000)),
            ("db-name".to_string(), Value::from(true)),
            ("list".to_string(), Value::from(vec!["a", "b"])),
        ]);
        let args = BTreeMap::from([("cmd".to_string(), "migrate --plan".to_string())]);
        assert_eq!(
            exports(&vars, &args).unwrap(),
            [
                ("FERRY_VAR_DB_NAME", "true"),
                ("FERRY_VAR_GREETING", "it's $(x)"),
                ("FERRY_VAR_LIST", "[\"a\",\"b\"]"),
                ("FERRY_VAR_PORT", "8000"),
                ("FERRY_ARG_CMD", "migrate --plan"),
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
        );
    }
}
