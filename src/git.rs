//! The `git` binary, through small typed calls: the user's git, config and
//! credentials apply, as they would to `git` typed by hand. Only the local
//! repository is read; hosts never need git.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub(crate) enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("`git {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
}

pub(crate) struct Repo {
    top: PathBuf,
}

impl Repo {
    /// The repository holding `dir`.
    pub(crate) fn discover(dir: &Path) -> Result<Self, GitError> {
        let top = run(dir, &["rev-parse", "--show-toplevel"])?;
        Ok(Self {
            top: PathBuf::from(String::from_utf8_lossy(&top).trim()),
        })
    }

    pub(crate) fn top(&self) -> &Path {
        &self.top
    }

    /// The full commit id a ref (branch, tag, sha) names.
    pub(crate) fn resolve(&self, reference: &str) -> Result<String, GitError> {
        // `--end-of-options` keeps a ref like `--output=x` from being read as an option.
        let spec = format!("{reference}^{{commit}}");
        let out = run(
            &self.top,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &spec,
            ],
        )?;
        Ok(String::from_utf8_lossy(&out).trim().to_string())
    }

    /// A tar of the commit's tree at `subdir` (empty: the whole tree).
    /// The tar of `commit` (of its `subdir`, when not empty), written by
    /// git straight into `out`: it need not pass through ferry's memory.
    pub(crate) fn archive_into(
        &self,
        commit: &str,
        subdir: &str,
        out: std::fs::File,
    ) -> Result<(), GitError> {
        let tree = if subdir.is_empty() {
            commit.to_string()
        } else {
            format!("{commit}:{subdir}")
        };
        let args = ["archive", "--format=tar", &tree];
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.top)
            .args(args)
            .stdout(out)
            .output()
            .map_err(GitError::Spawn)?;
        if output.status.success() {
            Ok(())
        } else {
            Err(GitError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            })
        }
    }

    /// Point tag `name` at `commit`, moving it if it exists.
    pub(crate) fn tag(&self, name: &str, commit: &str) -> Result<(), GitError> {
        run(
            &self.top,
            &["tag", "--force", "--end-of-options", name, commit],
        )
        .map(drop)
    }

    /// Push these tags to `remote`, moving the ones that moved here.
    pub(crate) fn push_tags(&self, remote: &str, tags: &[String]) -> Result<(), GitError> {
        let refs: Vec<String> = tags.iter().map(|t| format!("+refs/tags/{t}")).collect();
        let mut args = vec!["push", "--quiet", "--end-of-options", remote];
        args.extend(refs.iter().map(String::as_str));
        run(&self.top, &args).map(drop)
    }

    /// The URL of remote `name`, as git would fetch from it.
    pub(crate) fn remote_url(&self, name: &str) -> Option<String> {
        let out = run(&self.top, &["remote", "get-url", "--", name]).ok()?;
        Some(String::from_utf8_lossy(&out).trim().to_string())
    }

    /// The branch checked out, if any.
    pub(crate) fn branch(&self) -> Option<String> {
        let out = run(&self.top, &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok()?;
        Some(String::from_utf8_lossy(&out).trim().to_string())
    }

    /// Paths with uncommitted changes (a deploy ships the commit, not these).
    pub(crate) fn dirty(&self) -> Result<Vec<String>, GitError> {
        let out = run(
            &self.top,
            &["status", "--porcelain", "--untracked-files=no"],
        )?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .map(|l| l.get(3..).unwrap_or(l).to_string())
            .collect())
    }
}

fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        // A push from CI must fail, not wait for a password nobody types.
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(GitError::Spawn)?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}
