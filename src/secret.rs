//! Secrets are a type: a value that came from `[secrets]` is held as a
//! `SecretString`, reaches hosts only on a script's stdin (never argv), and
//! every line ferry prints passes the `Redactor`, which masks it.

use std::borrow::Cow;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

pub(crate) const MASK: &str = "********";

#[derive(Debug, Clone)]
pub(crate) struct Secret {
    pub(crate) name: String,
    value: SecretString,
}

impl Secret {
    pub(crate) fn new(name: String, value: String) -> Self {
        Self {
            name,
            value: value.into(),
        }
    }

    /// The only way to the plain value; call sites are where it leaves ferry.
    pub(crate) fn expose(&self) -> &str {
        self.value.expose_secret()
    }
}

/// Masks every known secret value in text on its way to the terminal, a log
/// or a JSON event.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    values: Arc<[String]>,
}

// Masking a one- or two-character value would garble every line and protect
// nothing a guess would not find.
const SHORTEST_MASKED: usize = 3;

impl Redactor {
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let mut values: Vec<String> = secrets
            .into_iter()
            .map(|s| s.expose().to_string())
            .filter(|v| v.len() >= SHORTEST_MASKED)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self {
            values: values.into(),
        }
    }

    pub(crate) fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for value in self.values.iter() {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), MASK));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_longest_first() {
        let secrets = [
            Secret::new("A".into(), "hunter2".into()),
            Secret::new("B".into(), "hunter2-extra".into()),
            Secret::new("C".into(), "x".into()),
        ];
        let redactor = Redactor::new(&secrets);
        assert_eq!(
            redactor.redact("pw=hunter2-extra and hunter2; x stays"),
            "pw=******** and ********; x stays"
        );
    }
}
