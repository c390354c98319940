//! How a value is written so the shell reads it back as its literal text,
//! for each quoting context a value can stand in (see `shell` for how the
//! context is found).

/// Where a value can stand and how it is escaped there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    /// A bare word of a command (also inside `$(…)`): single-quoted whole.
    Word,
    /// Inside `"…"`: `$`, `` ` ``, `"` and `\` are backslash-escaped.
    Double,
    /// Inside `'…'`: each `'` becomes `'\''` (close, escaped quote, reopen).
    Single,
    /// In an unquoted here-document's body: `$`, `` ` `` and `\` escaped.
    HereDoc,
}

/// `value` as text that reads back as it in `context`.
pub(crate) fn escape(value: &str, context: Context) -> String {
    match context {
        Context::Word if is_plain_word(value) => value.to_string(),
        Context::Word => format!("'{}'", value.replace('\'', r"'\''")),
        Context::Single => value.replace('\'', r"'\''"),
        Context::Double => backslash(value, &['$', '`', '"', '\\']),
        Context::HereDoc => backslash(value, &['$', '`', '\\']),
    }
}

/// Words the shell reads back as themselves anywhere in a word, so they
/// need no quotes (`8000`, `/srv/app`): no expansion, glob, comment, tilde,
/// assignment or reserved word can start from these characters.
pub(super) fn is_plain_word(value: &str) -> bool {
    const RESERVED: &[&str] = &[
        "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
        "in", "function", "select", "time", "coproc",
    ];
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@%+,-".contains(c))
        && !RESERVED.contains(&value)
}

fn backslash(value: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
