//! Secrets are a type: a value that came from `[secrets]` is held as a
//! `SecretString`, reaches hosts only on a script's stdin (never argv), and
//! every line ferry prints passes the `Redactor`, which masks it. A value
//! may come from ferry's environment, or be fetched from a local command or
//! file (`source`), once per run.

mod redactor;
mod source;

use secrecy::{ExposeSecret, SecretString};

pub(crate) use redactor::{MASK, Redactor};
pub(crate) use source::{FetchError, Fetcher, Source};

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

    pub(crate) fn fetched(name: String, value: SecretString) -> Self {
        Self { name, value }
    }

    /// The only way to the plain value; call sites are where it leaves ferry.
    pub(crate) fn expose(&self) -> &str {
        self.value.expose_secret()
    }
}

/// Whether `text` holds a secret's value, or a line of a multi-line one
/// (a file rendered with a key in it).
pub(crate) fn appears_in(text: &str, secrets: &[Secret]) -> bool {
    Redactor::new(secrets).first(text).is_some()
}
