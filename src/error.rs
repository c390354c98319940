//! Errors that end a run before or instead of work on hosts, and the one
//! place they become exit codes. Work that fails *on a host* is not an error
//! here: it is an outcome in the recap (see `fanout`).
//!
//! Exit codes (documented in the README):
//! 0 success · 1 failed or unreachable on at least one host · 2 usage or
//! configuration error, nothing ran · 130 interrupted (Ctrl-C).

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::diagnostic::Diagnostic;

pub(crate) mod exit {
    pub(crate) const SUCCESS: u8 = 0;
    pub(crate) const FAILED: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<Diagnostic> for Error {
    fn from(diagnostic: Diagnostic) -> Self {
        Error::Config(diagnostic.into())
    }
}

impl Error {
    pub(crate) fn usage(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Usage {
            message: message.into(),
            hint,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Error::Config(ConfigError::Read { .. }) | Error::Io { .. } => exit::FAILED,
            Error::Config(_) | Error::Usage { .. } => exit::USAGE,
        })
    }

    /// A source diagnostic renders itself (location, caret, help).
    pub(crate) fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            Error::Config(ConfigError::Invalid(diagnostic)) => Some(diagnostic),
            _ => None,
        }
    }

    pub(crate) fn hints(&self) -> Vec<String> {
        match self {
            Error::Usage { hint, .. } | Error::Config(ConfigError::Usage { hint, .. }) => {
                hint.iter().cloned().collect()
            }
            Error::Config(ConfigError::NotFound(_)) => {
                vec!["run `ferry init` to write a starter ferry.toml, or pass --config PATH".into()]
            }
            _ => Vec::new(),
        }
    }
}
