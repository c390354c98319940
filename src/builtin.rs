//! ferry's own tasks, in one table: the name a user types, its usage and
//! description for `ferry -l`. Dispatch (`tasks`), the "did you mean", and
//! the check that a project task does not shadow a built-in all read this
//! table, so a task added here is known everywhere at once. It imports
//! nothing: config and the executors both sit above it.

/// A built-in task; `tasks::plan` matches on it exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    Check,
    Deploy,
    Rollback,
    Releases,
    History,
    SetupRelease,
    Hotfix,
    Cleanup,
    Unlock,
    Provision,
    Start,
    Stop,
    Restart,
    Reload,
    Status,
    Logs,
    Supervisorctl,
    Run,
    Config,
}

pub(crate) struct Entry {
    pub(crate) task: Builtin,
    pub(crate) name: &'static str,
    pub(crate) usage: &'static str,
    pub(crate) description: &'static str,
    /// Only reads the hosts: never asks for the confirmation of an
    /// environment marked `confirm = true`.
    pub(crate) read_only: bool,
}

/// In the order `ferry -l` lists them.
pub(crate) const TABLE: &[Entry] = &[
    Entry {
        task: Builtin::Check,
        name: "check",
        usage: "check",
        description: "Connect to every host and report what ferry needs there (user, tools, deploy_to, ssh -G)",
        read_only: true,
    },
    Entry {
        task: Builtin::Deploy,
        name: "deploy",
        usage: "deploy[:ref=REF,resume=yes]",
        description: "Build a new release beside the live one on every host, switch to it, restart, check health",
        read_only: false,
    },
    Entry {
        task: Builtin::Rollback,
        name: "rollback",
        usage: "rollback[:to=RELEASE]",
        description: "Go back to the previous good release (every host must have it)",
        read_only: false,
    },
    Entry {
        task: Builtin::Releases,
        name: "releases",
        usage: "releases",
        description: "List each host's releases (live, previous, failed, pinned) and whether the hosts agree",
        read_only: true,
    },
    Entry {
        task: Builtin::History,
        name: "history",
        usage: "history[:n=20]",
        description: "Show the last deploys, rollbacks and releases prepared, from each host's history",
        read_only: true,
    },
    Entry {
        task: Builtin::SetupRelease,
        name: "setup_release",
        usage: "setup_release[:ref=REF,keep_days=N]",
        description: "Upload and build a release without switching to it; cleanup keeps it N days",
        read_only: false,
    },
    Entry {
        task: Builtin::Hotfix,
        name: "hotfix",
        usage: "hotfix[:ref=REF]",
        description: "Ship new code reusing the live release's venv: no build, no migrations",
        read_only: false,
    },
    Entry {
        task: Builtin::Cleanup,
        name: "cleanup",
        usage: "cleanup",
        description: "Remove old releases, keeping keep_releases good ones (never live, previous or pinned)",
        read_only: false,
    },
    Entry {
        task: Builtin::Unlock,
        name: "unlock",
        usage: "unlock[:force=yes]",
        description: "Remove a deploy lock left by a run that is gone",
        read_only: false,
    },
    Entry {
        task: Builtin::Provision,
        name: "provision",
        usage: "provision",
        description: "Set hosts up as [provision] says: packages, users, directories, files, services (--check, --diff)",
        read_only: false,
    },
    Entry {
        task: Builtin::Start,
        name: "start",
        usage: "start[:SERVICE,…]",
        description: "Start the services (all, or those named) on the hosts that run them",
        read_only: false,
    },
    Entry {
        task: Builtin::Stop,
        name: "stop",
        usage: "stop[:SERVICE,…]",
        description: "Stop the services on the hosts that run them",
        read_only: false,
    },
    Entry {
        task: Builtin::Restart,
        name: "restart",
        usage: "restart[:SERVICE,…]",
        description: "Restart the services on the hosts that run them",
        read_only: false,
    },
    Entry {
        task: Builtin::Reload,
        name: "reload",
        usage: "reload[:SERVICE,…]",
        description: "Reload the services gracefully (gunicorn: new workers, no dropped request)",
        read_only: false,
    },
    Entry {
        task: Builtin::Status,
        name: "status",
        usage: "status[:SERVICE,…]",
        description: "Show each service's state on each host, as one table",
        read_only: true,
    },
    Entry {
        task: Builtin::Logs,
        name: "logs",
        usage: "logs[:SERVICE,…][,lines=N]",
        description: "Follow the services' logs on every host, prefixed by host, until Ctrl-C",
        read_only: true,
    },
    Entry {
        task: Builtin::Supervisorctl,
        name: "supervisorctl",
        usage: "supervisorctl:cmd=COMMAND",
        description: "Pass a command to supervisorctl on the hosts with supervisor services",
        read_only: false,
    },
    Entry {
        task: Builtin::Run,
        name: "run",
        usage: "run -- COMMAND [ARG…]",
        description: "Run a command in the current release (or the login directory) on every host",
        read_only: false,
    },
    Entry {
        task: Builtin::Config,
        name: "config",
        usage: "config",
        description: "Print the environment's merged configuration, each value with its origin (secrets masked)",
        read_only: true,
    },
];

/// The built-in a user means by `name`, if any.
pub(crate) fn find(name: &str) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.name == name)
}

pub(crate) fn is_builtin(name: &str) -> bool {
    find(name).is_some()
}

/// Every built-in's name, for "did you mean" and shadowing checks.
/// (Any lifetime, so they chain with a project's task names.)
pub(crate) fn names<'a>() -> impl Iterator<Item = &'a str> + Clone {
    TABLE.iter().map(|e| -> &'a str { e.name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_builtin_has_one_line_and_one_name() {
        for (i, entry) in TABLE.iter().enumerate() {
            assert_eq!(find(entry.name).map(|e| e.task), Some(entry.task));
            assert!(entry.usage.starts_with(entry.name), "{}", entry.usage);
            assert!(
                TABLE[..i]
                    .iter()
                    .all(|e| e.task != entry.task && e.name != entry.name),
                "{} appears twice",
                entry.name
            );
        }
        assert!(!is_builtin("deplyo"));
    }
}
