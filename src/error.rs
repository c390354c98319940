//! Errors that end a run before or instead of work on hosts, and the one
//! place they become an exit status. Work that fails *on a host* is not an
//! error here: it is an outcome in the recap (see `fanout`).
//!
//! Each kind of mistake has its own typed error with its hints beside the
//! variants: `ConfigError` for ferry.toml and the environment it resolves,
//! `UsageError` for the command line. Planning a task (its arguments, the
//! project's templates) reports a message and a hint as `Plan`.

use crate::config::ConfigError;
use crate::diagnostic::Diagnostic;
use crate::exit::ExitStatus;
use crate::usage::UsageError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// A task cannot be planned as asked: nothing has run yet.
    #[error("{message}")]
    Plan {
        message: String,
        hint: Option<String>,
    },
    /// ferry could not do its own work on this machine.
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
    /// A task's planning refuses what it was asked (nothing has run).
    pub(crate) fn usage(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Plan {
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

    /// The one classification into exit statuses: a mistake in what the
    /// user gave is a usage error (nothing ran); only ferry's own I/O fails.
    pub(crate) fn status(&self) -> ExitStatus {
        match self {
            Error::Io { .. } => ExitStatus::Failed,
            Error::Config(_) | Error::Usage(_) | Error::Plan { .. } => ExitStatus::Usage,
        }
    }

    /// A source diagnostic renders itself (location, caret, help).
    pub(crate) fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            Error::Config(ConfigError::Invalid(diagnostic)) => Some(diagnostic),
            _ => None,
        }
    }

    pub(crate) fn hints(&self) -> Vec<String> {
        let hint = match self {
            Error::Config(error) => error.hint(),
            Error::Usage(error) => error.hint(),
            Error::Plan { hint, .. } => hint.clone(),
            Error::Io { .. } => None,
        };
        hint.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ferrys_own_io_failures_exit_1() {
        let io = Error::io("cannot write", std::io::ErrorKind::Other.into());
        assert_eq!(io.status(), ExitStatus::Failed);
        let unreadable = Error::Config(ConfigError::Read {
            path: "/nonexistent/ferry.toml".into(),
            source: std::io::ErrorKind::NotFound.into(),
        });
        assert_eq!(unreadable.status(), ExitStatus::Usage);
        assert_eq!(Error::from(UsageError::NoTask).status(), ExitStatus::Usage);
    }
}
