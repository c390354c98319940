//! Checks on single provision values (names, modes, paths), each returning
//! what is wrong in words; the caller points the error at the value.

use toml::Spanned;

use crate::diagnostic::{Diagnostic, SourceFile};

/// Apply `check` to a spanned value; its error points at the value.
pub(super) fn spanned<T>(
    file: &SourceFile,
    value: &Spanned<String>,
    check: impl Fn(&str) -> Result<T, String>,
) -> Result<T, Diagnostic> {
    check(value.get_ref())
        .map_err(|problem| file.error(value.span(), problem).label("invalid value"))
}

/// Debian package names (policy 5.6.1), with an optional `:arch`.
pub(super) fn package(name: &str) -> Result<String, String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | ':')
        });
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!("`{name}` is not a Debian package name"))
    }
}

/// User and group names, as `useradd` accepts them.
pub(super) fn account(name: &str) -> Result<String, String> {
    crate::inventory::check_user(name).map(str::to_string)
}

/// A system service (systemd unit or init script) name: it reaches
/// `systemctl` and `/etc/init.d/` as one plain word.
pub(super) fn service(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!("`{name}` is not a service name"))
    }
}

/// `"0755"`, `"755"` or `"2775"`: octal, as chmod takes it.
pub(super) fn mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if !digits.is_empty() && digits.len() <= 4 && mode <= 0o7777 => Ok(mode),
        _ => Err(format!("`{text}` is not an octal mode such as \"0644\"")),
    }
}

/// An absolute path on the host, as a home directory or a shell.
pub(super) fn absolute(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        Err(format!("`{path}` is not an absolute path"))
    } else if path.chars().any(char::is_control) {
        Err("a path cannot hold control characters".into())
    } else {
        Ok(path.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal() {
        assert_eq!(mode("0755"), Ok(0o755));
        assert_eq!(mode("600"), Ok(0o600));
        assert_eq!(mode("2775"), Ok(0o2775));
        assert!(mode("0855").is_err());
        assert!(mode("77777").is_err());
        assert!(mode("").is_err());
    }

    #[test]
    fn package_names_follow_debian_policy() {
        assert!(package("nginx-light").is_ok());
        assert!(package("libc6:amd64").is_ok());
        assert!(package("g++").is_ok());
        assert!(package("-oAPT::x").is_err());
        assert!(package("Nginx").is_err());
        assert!(package("a b").is_err());
    }
}
