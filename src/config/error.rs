//! What can be wrong with ferry.toml, or with the environment a run resolves
//! from it and the command line's overrides — each variant with its hint.
//! Mistakes inside the file are `Invalid`: a diagnostic naming
//! file:line:column. Every variant means nothing ran (exit 2).

use std::path::PathBuf;

use super::FILE_NAME;
use crate::diagnostic::Diagnostic;
use crate::suggest;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("no {FILE_NAME} in {} or any parent directory", .0.display())]
    NotFound(PathBuf),
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0.message())]
    Invalid(Diagnostic),
    #[error("no environment `{name}` in {} (it has: {})", .path.display(), .known.join(", "))]
    UnknownEnvironment {
        name: String,
        path: PathBuf,
        known: Vec<String>,
        /// The word names a task: the environment was left out.
        is_task: bool,
    },
    #[error("environment `{env}` has no hosts")]
    NoHosts { env: String, path: PathBuf },
    /// `FERRY_<KEY>=value` that the setting refuses.
    #[error("{variable}={value}: {problem}")]
    ProcessEnv {
        variable: String,
        value: String,
        problem: String,
    },
    #[error("--set {key}={value}: {problem}")]
    Set {
        key: String,
        value: String,
        problem: String,
    },
    #[error("--set {key}={value}: `{key}` is neither a setting nor a var of this environment")]
    UnknownSet {
        key: String,
        value: String,
        known: Vec<String>,
    },
    /// A secret's command failed, or its file could not be read.
    #[error("cannot fetch secret `{name}` ({at}) from {source_text}")]
    Secret {
        name: String,
        at: String,
        source_text: String,
        #[source]
        error: crate::secret::FetchError,
    },
    /// `--config` names a ferry.toml whose app cannot be told apart from
    /// another repository.
    #[error("{message}")]
    AppNotFound { message: String, hint: String },
    #[error("-H {text}: {problem}")]
    HostOverride { text: String, problem: String },
}

impl From<Diagnostic> for ConfigError {
    fn from(diagnostic: Diagnostic) -> Self {
        ConfigError::Invalid(diagnostic)
    }
}

impl ConfigError {
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            ConfigError::NotFound(_) => {
                Some("run `ferry init` to write a starter ferry.toml, or pass --config PATH".into())
            }
            ConfigError::UnknownEnvironment {
                name,
                known,
                is_task: true,
                ..
            } => Some(format!(
                "`{name}` is a task: the environment comes first, `ferry <env> {name}`, as in `ferry {} {name}`",
                known.first().map_or("staging", String::as_str)
            )),
            ConfigError::UnknownEnvironment { name, known, .. } => {
                suggest::hint(name, known.iter().map(String::as_str))
            }
            ConfigError::NoHosts { env, path } => Some(format!(
                "add `hosts = [\"deploy@server\"]` to [environments.{env}] in {}, or pass -H user@server",
                path.display()
            )),
            ConfigError::UnknownSet { key, known, .. } => {
                suggest::hint(key, known.iter().map(String::as_str))
            }
            ConfigError::AppNotFound { hint, .. } => Some(hint.clone()),
            ConfigError::Secret { error, .. } => Some(match error {
                crate::secret::FetchError::Read { .. } => {
                    "create the file, or point `file` at it in [secrets]".into()
                }
                _ => "run the command yourself to see what it needs (a sign-in, a PATH entry); ferry reads the value from its stdout".into(),
            }),
            // The diagnostic carries its own help; the rest say it all.
            ConfigError::Read { .. }
            | ConfigError::Invalid(_)
            | ConfigError::ProcessEnv { .. }
            | ConfigError::Set { .. }
            | ConfigError::HostOverride { .. } => None,
        }
    }
}
