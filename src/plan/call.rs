//! A task as the command line names it: `name` or `name:value,key=value`,
//! in Fabric's grammar. What the arguments mean is each task's business
//! (`Args` binds a built-in's); this module only splits the words.

use crate::usage::UsageError;

/// `name` or `name:value,key=value`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskCall {
    pub(crate) name: String,
    pub(crate) args: Vec<(Option<String>, String)>,
}

impl TaskCall {
    /// Fabric's grammar: arguments split on `,`, keys on `=`; `\,`, `\=` and
    /// `\\` write those characters literally.
    pub(crate) fn parse(text: &str) -> Result<Self, UsageError> {
        let (name, rest) = match text.split_once(':') {
            Some((name, rest)) => (name, Some(rest)),
            None => (text, None),
        };
        if name.is_empty() {
            return Err(UsageError::MissingTaskName {
                text: text.to_string(),
            });
        }
        let args = match rest {
            None | Some("") => Vec::new(),
            Some(rest) => split_unescaped(rest, ',')
                .into_iter()
                .map(|arg| parse_arg(&arg))
                .collect(),
        };
        Ok(Self {
            name: name.to_string(),
            args,
        })
    }
}

fn parse_arg(raw: &str) -> (Option<String>, String) {
    let parts = split_unescaped(raw, '=');
    match parts.split_first() {
        Some((key, rest)) if !rest.is_empty() => (Some(unescape(key)), unescape(&rest.join("="))),
        _ => (None, unescape(raw)),
    }
}

/// Split on `sep` where it is not escaped; escapes are kept for `unescape`.
fn split_unescaped(text: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let last = parts.last_mut().expect("never empty");
                last.push('\\');
                last.extend(chars.next());
            }
            c if c == sep => parts.push(String::new()),
            c => parts.last_mut().expect("never empty").push(c),
        }
    }
    parts
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &[(Option<&str>, &str)]) -> TaskCall {
        TaskCall {
            name: name.into(),
            args: args
                .iter()
                .map(|(k, v)| (k.map(Into::into), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn parses_fabric_task_calls() {
        assert_eq!(TaskCall::parse("deploy"), Ok(call("deploy", &[])));
        assert_eq!(
            TaskCall::parse("deploy:resume=yes"),
            Ok(call("deploy", &[(Some("resume"), "yes")]))
        );
        assert_eq!(
            TaskCall::parse("manage:migrate,settings=prod"),
            Ok(call(
                "manage",
                &[(None, "migrate"), (Some("settings"), "prod")]
            ))
        );
        assert_eq!(
            TaskCall::parse(r"say:msg=a\,b\=c"),
            Ok(call("say", &[(Some("msg"), "a,b=c")]))
        );
        assert_eq!(
            TaskCall::parse("say:msg=x=y"),
            Ok(call("say", &[(Some("msg"), "x=y")]))
        );
        assert!(TaskCall::parse(":x").is_err());
    }
}
