//! The `.env` format as ferry writes it: `KEY=value` lines, a value bare
//! when it is plain, else double-quoted with `\\`, `\"`, `\$` and `\n`
//! escaped — what python-dotenv, django-environ and docker read alike, and
//! what the hosts' `ferry_env` (shell/prelude.sh) reads back as data.

/// `value` as it stands after `KEY=` in a .env.
pub(crate) fn quote(value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@,+%".contains(c));
    if plain && !value.is_empty() {
        return value.to_string();
    }
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace('$', "\\$");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_only_when_needed() {
        assert_eq!(quote("y"), "y");
        assert_eq!(quote("postgres://u:p@db/x"), "postgres://u:p@db/x");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("say \"hi\"\n$HOME"), "\"say \\\"hi\\\"\\n\\$HOME\"");
        assert_eq!(quote(""), "\"\"");
    }
}
