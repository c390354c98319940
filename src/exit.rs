//! How a run ends, as the README's table of exit codes says, and the one
//! conversion into the process's exit code. Errors are classified into a
//! status once, at the top (`Error::status`); a run that reached hosts
//! reports its own status from the recap.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    /// 0: every host did what was asked.
    Success,
    /// 1: a task failed or a host was unreachable (the recap says which),
    /// or ferry could not do its own work on this machine (an I/O error).
    Failed,
    /// 2: a usage or configuration error; nothing ran.
    Usage,
    /// 130: stopped by Ctrl-C (128 + SIGINT, as shells report it).
    Interrupted,
}

impl ExitStatus {
    pub(crate) fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failed => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}
