//! Where a secret's value comes from when it is not in ferry's environment:
//! the standard output of a local command (a password manager's CLI, say
//! `op read op://app/db`) or a local file. A `Fetcher` reads each source at
//! most once per run, however many environments or tasks use it, and only
//! when asked: a run that needs no secret never runs the command.
//!
//! The value is read from the command's stdout or the file's bytes, never
//! passed in an argument; the command's stderr is kept for the error a
//! failure gives, which never quotes what the command printed on stdout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};

/// A source of one secret's value on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// `sh -c TEXT` run in `dir`; the value is its stdout.
    Command { text: String, dir: PathBuf },
    /// The file's contents.
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("cannot run `sh`: {0}")]
    Spawn(std::io::Error),
    #[error("the command {status}{}", stderr_suffix(.stderr))]
    Failed { status: String, stderr: String },
    #[error("{what} gave an empty value")]
    Empty { what: &'static str },
    #[error("{what} gave a value that is not UTF-8 text")]
    NotUtf8 { what: &'static str },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        " and printed nothing on stderr".into()
    } else {
        format!("; its stderr: {stderr}")
    }
}

impl Source {
    /// How ferry.toml spells it, for messages and `ferry <env> config`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Source::Command { text, .. } => format!("command `{text}`"),
            Source::File(path) => format!("file {}", path.display()),
        }
    }

    fn read(&self) -> Result<SecretString, FetchError> {
        let (bytes, what) = match self {
            Source::Command { text, dir } => (run(text, dir)?, "the command"),
            Source::File(path) => (
                std::fs::read(path).map_err(|source| FetchError::Read {
                    path: path.clone(),
                    source,
                })?,
                "the file",
            ),
        };
        let text = String::from_utf8(bytes).map_err(|_| FetchError::NotUtf8 { what })?;
        // As `$(…)` does: the trailing newlines a command or an editor adds
        // are not part of the value.
        let value = text.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            return Err(FetchError::Empty { what });
        }
        Ok(value.to_string().into())
    }
}

/// The command's stdout, or why it gave none. stdin is closed: a command
/// that would prompt fails instead of waiting for an answer nobody types.
fn run(text: &str, dir: &Path) -> Result<Vec<u8>, FetchError> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(text)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(FetchError::Spawn)?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let status = match output.status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "was killed by a signal".into(),
    };
    Err(FetchError::Failed {
        status,
        stderr: last_lines(&String::from_utf8_lossy(&output.stderr), 5),
    })
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// Reads each source once per run and keeps what it read.
#[derive(Debug, Default)]
pub(crate) struct Fetcher {
    cache: Mutex<HashMap<Source, SecretString>>,
}

impl Fetcher {
    /// The value of `source`, read now or earlier in this run.
    pub(crate) fn fetch(&self, source: &Source) -> Result<SecretString, FetchError> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(value) = cache.get(source) {
            return Ok(value.expose_secret().into());
        }
        let value = source.read()?;
        cache.insert(source.clone(), value.expose_secret().into());
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(text: &str, dir: &Path) -> Source {
        Source::Command {
            text: text.into(),
            dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn a_command_runs_once_and_its_stdout_is_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let source = command("echo run >>count; printf 's3cret\\n\\n'", dir.path());
        let fetcher = Fetcher::default();
        for _ in 0..3 {
            assert_eq!(fetcher.fetch(&source).unwrap().expose_secret(), "s3cret");
        }
        let count = std::fs::read_to_string(dir.path().join("count")).unwrap();
        assert_eq!(count.lines().count(), 1, "fetched once");
    }

    #[test]
    fn a_failing_command_gives_its_stderr_and_not_its_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let source = command(
            "echo half-a-value; echo 'not signed in' >&2; exit 3",
            dir.path(),
        );
        let error = Fetcher::default().fetch(&source).unwrap_err().to_string();
        assert!(error.contains("status 3"), "{error}");
        assert!(error.contains("not signed in"), "{error}");
        assert!(!error.contains("half-a-value"), "{error}");
    }

    #[test]
    fn a_file_is_read_without_its_last_newline_and_an_empty_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "line1\nline2\n").unwrap();
        let fetcher = Fetcher::default();
        let value = fetcher.fetch(&Source::File(path.clone())).unwrap();
        assert_eq!(value.expose_secret(), "line1\nline2");
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let empty = fetcher.fetch(&Source::File(dir.path().join("empty")));
        assert!(matches!(empty, Err(FetchError::Empty { .. })));
        let missing = fetcher.fetch(&Source::File(dir.path().join("nope")));
        assert!(matches!(missing, Err(FetchError::Read { .. })));
    }
}
