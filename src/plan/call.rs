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
    /// Fabric's grammar, with quotes: arguments split on `,`, a key from its
    /// value on the first `=`. `\` outside quotes makes the next character
    /// literal (`\,`, `\=`, `\"`, `\\`); inside `"…"` a `,` or `=` is
    /// literal and `\"` and `\\` are escapes (any other backslash stays);
    /// inside `'…'` everything is literal. Quotes may cover part of a word:
    /// `cmd="check --deploy"`, `'cmd="a,b",x=1'` in the user's shell.
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
            Some(rest) => split_args(rest).map_err(|quote| UsageError::UnclosedQuote {
                text: text.to_string(),
                quote,
            })?,
        };
        Ok(Self {
            name: name.to_string(),
            args,
        })
    }
}

/// The arguments after `name:`; `Err(quote)` names a quote left open.
fn split_args(text: &str) -> Result<Vec<(Option<String>, String)>, char> {
    let mut args = Vec::new();
    let mut key: Option<String> = None;
    let mut word = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.push(chars.next().unwrap_or('\\')),
            '\'' => loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => word.push(c),
                    None => return Err('\''),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('"' | '\\')) => word.push(c),
                        Some(c) => {
                            word.push('\\');
                            word.push(c);
                        }
                        None => return Err('"'),
                    },
                    Some(c) => word.push(c),
                    None => return Err('"'),
                }
            },
            '=' if key.is_none() => key = Some(std::mem::take(&mut word)),
            ',' => args.push((key.take(), std::mem::take(&mut word))),
            c => word.push(c),
        }
    }
    args.push((key, word));
    Ok(args)
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

    #[test]
    fn quotes_keep_spaces_commas_and_equals_in_a_value() {
        assert_eq!(
            TaskCall::parse(r#"manage:cmd="check --deploy""#),
            Ok(call("manage", &[(Some("cmd"), "check --deploy")]))
        );
        assert_eq!(
            TaskCall::parse(r#"manage:cmd="a,b",x=1"#),
            Ok(call("manage", &[(Some("cmd"), "a,b"), (Some("x"), "1")]))
        );
        assert_eq!(
            TaskCall::parse("manage:cmd='it \"is\" a=b, c',x=1"),
            Ok(call(
                "manage",
                &[(Some("cmd"), "it \"is\" a=b, c"), (Some("x"), "1")]
            ))
        );
        // Part of a word quoted, as in a shell; a quoted `=` is no key.
        assert_eq!(
            TaskCall::parse(r#"say:msg=a" b "c,"x=y""#),
            Ok(call("say", &[(Some("msg"), "a b c"), (None, "x=y")]))
        );
        // Escapes inside double quotes: only \" and \\; other backslashes stay.
        assert_eq!(
            TaskCall::parse(r#"say:msg="say \"hi\" \\ C:\dir\n""#),
            Ok(call("say", &[(Some("msg"), r#"say "hi" \ C:\dir\n"#)]))
        );
        // Outside quotes a backslash makes any next character literal.
        assert_eq!(
            TaskCall::parse(r#"say:msg=\"a\,b\=c\'\\,k=v"#),
            Ok(call(
                "say",
                &[(Some("msg"), r#""a,b=c'\"#), (Some("k"), "v")]
            ))
        );
    }

    #[test]
    fn hostile_arguments_stay_data_and_bad_ones_are_refused() {
        // Shell in a value is only text here; steps get it as $FERRY_ARG_*.
        assert_eq!(
            TaskCall::parse(r#"t:cmd="$(rm -rf /)`id`;|&",y='$HOME'"#),
            Ok(call(
                "t",
                &[(Some("cmd"), "$(rm -rf /)`id`;|&"), (Some("y"), "$HOME")]
            ))
        );
        assert_eq!(
            TaskCall::parse("t:a,,b,"),
            Ok(call(
                "t",
                &[(None, "a"), (None, ""), (None, "b"), (None, "")]
            ))
        );
        assert_eq!(
            TaskCall::parse(r#"t:k="",v=''"#),
            Ok(call("t", &[(Some("k"), ""), (Some("v"), "")]))
        );
        assert_eq!(
            TaskCall::parse("t:k=line\none\ttab"),
            Ok(call("t", &[(Some("k"), "line\none\ttab")]))
        );
        assert_eq!(
            TaskCall::parse(r"t:k=end\"),
            Ok(call("t", &[(Some("k"), r"end\")]))
        );
        for (text, quote) in [
            (r#"t:cmd="check --deploy"#, '"'),
            ("t:cmd='a,b", '\''),
            (r#"t:cmd="a\""#, '"'),
            (r#"t:cmd="a\"#, '"'),
        ] {
            assert_eq!(
                TaskCall::parse(text),
                Err(UsageError::UnclosedQuote {
                    text: text.into(),
                    quote
                }),
                "{text}"
            );
        }
    }
}
