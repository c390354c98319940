//! `${VAR}` in ferry.toml values: what a CI system keeps as a secret (host
//! strings, tokens) comes from the process environment. `$${` writes a literal
//! `${`. Task steps are shell and are never interpolated here: `${HOME}` in a
//! step is the host's shell variable.

use toml::Spanned;

use crate::diagnostic::{Diagnostic, SourceFile};

pub(crate) struct Interpolator<'a> {
    file: &'a SourceFile,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Interpolator<'a> {
    pub(crate) fn new(file: &'a SourceFile, lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { file, lookup }
    }

    pub(crate) fn file(&self) -> &SourceFile {
        self.file
    }

    /// The value with every `${VAR}` replaced; a missing variable is an error
    /// that names it and points at it.
    pub(crate) fn string(&self, value: &Spanned<String>) -> Result<String, Diagnostic> {
        expand(value.get_ref(), self.lookup).map_err(|problem| self.error(value, problem))
    }

    fn error(&self, value: &Spanned<String>, problem: Problem) -> Diagnostic {
        let span = self
            .locate(value, &problem.needle())
            .unwrap_or(value.span());
        match problem {
            Problem::Missing(name) => self
                .file
                .error(span, format!("environment variable `{name}` is not set"))
                .label("needed here")
                .help(Some(format!(
                    "set it before running ferry (export {name}=…), or write `$${{{name}}}` for a literal `${{{name}}}`"
                ))),
            Problem::Unterminated => self
                .file
                .error(span, "`${` is not closed by `}`")
                .label("unterminated variable")
                .help(Some("write `$${` for a literal `${`".into())),
            Problem::BadName(name) => self
                .file
                .error(span, format!("`{name}` is not a variable name"))
                .label("expected letters, digits and `_`")
                .help(None),
        }
    }

    // Point at the `${VAR}` itself when the source spells it literally.
    fn locate(&self, value: &Spanned<String>, needle: &str) -> Option<std::ops::Range<usize>> {
        let span = value.span();
        let raw = self.file.text.get(span.clone())?;
        let at = raw.find(needle)?;
        Some(span.start + at..span.start + at + needle.len())
    }
}

/// A `[secrets]` value must read the process environment: ferry.toml sits
/// in the repository and ships to every host inside each release, so a
/// value written in it is no secret. The error does not quote the value.
pub(crate) fn check_secret(
    file: &SourceFile,
    name: &Spanned<String>,
    value: &Spanned<String>,
) -> Result<(), Diagnostic> {
    let read = std::cell::Cell::new(false);
    let expanded = expand(value.get_ref(), &|_| {
        read.set(true);
        Some(String::new())
    });
    // A malformed `${…}` is reported where it is interpolated, by name.
    if read.get() || expanded.is_err() {
        return Ok(());
    }
    let name = name.get_ref();
    Err(file
        .masked(value.span())
        .error(
            value.span(),
            format!("secret `{name}` is written in ferry.toml"),
        )
        .label("ferry.toml ships to every host with each release")
        .help(Some(format!(
            "read it from ferry's environment: `{name} = \"${{{name}}}\"`, and export {name}=… before running ferry"
        ))))
}

#[derive(Debug, PartialEq)]
enum Problem {
    Missing(String),
    Unterminated,
    BadName(String),
}

impl Problem {
    fn needle(&self) -> String {
        match self {
            Problem::Missing(name) | Problem::BadName(name) => format!("${{{name}}}"),
            Problem::Unterminated => "${".into(),
        }
    }
}

fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Problem> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let end = after.find('}').ok_or(Problem::Unterminated)?;
            let name = &after[..end];
            if !super::is_env_name(name) {
                return Err(Problem::BadName(name.into()));
            }
            out.push_str(&lookup(name).ok_or_else(|| Problem::Missing(name.into()))?);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOST").then(|| "web1".into())
    }

    #[test]
    fn expands_and_escapes() {
        assert_eq!(
            expand("deploy@${HOST}:22", &env),
            Ok("deploy@web1:22".into())
        );
        assert_eq!(
            expand("$${HOST} costs $5", &env),
            Ok("${HOST} costs $5".into())
        );
    }

    #[test]
    fn a_secret_must_read_a_variable() {
        let text = "A = \"${A}\"\nB = \"pre-${A}\"\nC = \"lit\"\nD = \"$${A}\"\n";
        let file = SourceFile::new(std::path::Path::new("ferry.toml"), text.into());
        let check = |name: &str| {
            let at = text.find(&format!("{name} = ")).unwrap() + 4;
            let end = text[at..].find('\n').unwrap() + at;
            let value = Spanned::new(at..end, text[at + 1..end - 1].to_string());
            check_secret(&file, &Spanned::new(0..1, name.to_string()), &value)
        };
        assert!(check("A").is_ok() && check("B").is_ok());
        let error = check("C").unwrap_err();
        assert_eq!(error.location(), "ferry.toml:3:5");
        let shown = error.render(false);
        assert!(
            !shown.contains("lit") && shown.contains("C = \"***\""),
            "{shown}"
        );
        assert!(check("D").is_err(), "an escaped `$${{` reads nothing");
    }

    #[test]
    fn names_what_is_wrong() {
        assert_eq!(
            expand("${NOPE}", &env),
            Err(Problem::Missing("NOPE".into()))
        );
        assert_eq!(expand("${HOST", &env), Err(Problem::Unterminated));
        assert_eq!(expand("${1X}", &env), Err(Problem::BadName("1X".into())));
    }
}
