//! Mistakes on the command line, found before anything runs: each variant
//! with the hint a user can act on beside it. Mistakes in ferry.toml are
//! `ConfigError`s; mistakes in a task's arguments are found by the task's
//! own planning.

use std::path::PathBuf;

#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum UsageError {
    #[error("`ferry {command}` takes no other words")]
    ExtraWords { command: String },
    #[error("`{text}`: missing task name before `:`")]
    MissingTaskName { text: String },
    #[error("`{text}`: the {quote} quote is not closed")]
    UnclosedQuote { text: String, quote: char },
    #[error("which environment?")]
    NoEnvironment,
    #[error("`ferry completions` takes one shell: bash, zsh, fish, elvish or powershell")]
    NoShell,
    #[error("no task given and ferry.toml names no default_task")]
    NoTask,
    /// `--roles`/`--hosts` named something the environment does not have.
    #[error("{0}")]
    Selection(String),
    #[error("not confirmed; nothing ran")]
    NotConfirmed,
    #[error("environment `{env}` asks for confirmation, and there is no terminal to ask on")]
    NoTerminal { env: String },
    #[error("{} already exists; not overwriting it", .0.display())]
    AlreadyExists(PathBuf),
    /// `promote` and `ship` take their environments from their own words.
    #[error("usage: {usage}")]
    PipelineWords { usage: &'static str },
}

impl UsageError {
    pub(crate) fn hint(&self) -> Option<String> {
        let hint = match self {
            UsageError::MissingTaskName { .. } => "write `task` or `task:key=value,…`",
            UsageError::UnclosedQuote { .. } => {
                "close it, or write the quote as `\\\"`; quote the whole word for your shell: 'task:cmd=\"a,b\"'"
            }
            UsageError::NoEnvironment => {
                "usage: ferry <env> <task>…; `ferry -l` lists tasks and environments"
            }
            UsageError::NoTask => "`ferry -l` lists the tasks",
            UsageError::NoShell => "for example `ferry completions bash`",
            UsageError::NoTerminal { .. } => "pass --yes to confirm from a script or CI",
            UsageError::AlreadyExists(_) => "edit it, or remove it to start over",
            UsageError::PipelineWords { .. } => {
                "`promote` and `ship` come first, with no environment before them"
            }
            UsageError::ExtraWords { .. } | UsageError::Selection(_) | UsageError::NotConfirmed => {
                return None;
            }
        };
        Some(hint.to_string())
    }
}
