//! Which directory a deploy ships when ferry.toml was named with `--config`
//! (found by walking up from the working directory, it is the app's own).
//!
//! A ferry.toml named from elsewhere must not ship the repository it happens
//! to sit in when the user stands in another one. The app is `[deploy] path`
//! (from ferry.toml's directory) when set; otherwise the working directory's
//! repository, which must be the one ferry.toml is in, if it is in one (a
//! ferry.toml outside any repository deploys the working directory's). Run
//! from outside any repository, ferry.toml's own repository is the only one
//! there is, and ships. Two different repositories, or none at all, are
//! refused before any host is touched, with the `[deploy] path` to set.

use std::path::{Component, Path, PathBuf};

use super::raw::SourceKind;
use super::{ConfigError, Project};
use crate::git::Repo;

impl Project {
    /// Settle `root` for a ferry.toml named with `--config`, run from `cwd`.
    pub(crate) fn locate_app(&mut self, cwd: &Path) -> Result<(), ConfigError> {
        let explicit_path = self.raw.deploy.as_ref().is_some_and(|d| d.path.is_some());
        if explicit_path {
            return Ok(());
        }
        let config_dir = canonical(&self.config_dir());
        let cwd = canonical(cwd);
        let file = self.file.path.display().to_string();
        if self.deploy.source == SourceKind::Dir {
            if cwd.starts_with(&config_dir) {
                return Ok(());
            }
            return Err(ConfigError::AppNotFound {
                message: format!(
                    "{file} is not in the working directory ({}): which directory to deploy is not clear",
                    cwd.display()
                ),
                hint: format!(
                    "set [deploy] path = \".\" in ferry.toml to ship its own directory, or path = \"{}\" to ship the working directory",
                    relative(&config_dir, &cwd).display()
                ),
            });
        }
        match (top(&config_dir), top(&cwd)) {
            // Outside any repository, the user names ferry.toml's own.
            (Some(_), None) => Ok(()),
            (None, None) => Err(refusal(
                format!(
                    "cannot tell which repository to deploy: neither {file} nor the working directory ({}) is in a git repository, and ferry.toml has no [deploy] path",
                    cwd.display()
                ),
                &config_dir,
                &cwd,
            )),
            (Some(theirs), Some(here)) if theirs == here => Ok(()),
            (Some(theirs), Some(here)) => Err(refusal(
                format!(
                    "{file} is in the git repository {}, the working directory in {}: ferry would not know which one to deploy",
                    theirs.display(),
                    here.display()
                ),
                &config_dir,
                &here,
            )),
            (None, Some(here)) => {
                self.root = here;
                Ok(())
            }
        }
    }
}

fn refusal(message: String, config_dir: &Path, app: &Path) -> ConfigError {
    ConfigError::AppNotFound {
        message,
        hint: format!(
            "name the app's directory in ferry.toml: set [deploy] path = \"{}\" (relative to ferry.toml), or run ferry from the app's repository",
            relative(config_dir, app).display()
        ),
    }
}

/// The top of the git repository holding `dir`, if any (and git runs).
fn top(dir: &Path) -> Option<PathBuf> {
    Repo::discover(dir).ok().map(|repo| canonical(repo.top()))
}

fn canonical(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    absolute.canonicalize().unwrap_or(absolute)
}

/// `to` as a path from `from` (both absolute).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to[common..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_path_climbs_then_descends() {
        let rel = |a: &str, b: &str| relative(Path::new(a), Path::new(b));
        assert_eq!(rel("/ops/deploy", "/work/app"), Path::new("../../work/app"));
        assert_eq!(rel("/work", "/work/app"), Path::new("app"));
        assert_eq!(rel("/work/app", "/work/app"), Path::new("."));
    }
}
