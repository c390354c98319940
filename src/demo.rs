//! The embedded default: `ferry` with no ferry.toml in sight and nothing
//! asked runs the bundled example app's default task against a local target,
//! so a fresh machine shows what ferry does without a server.

use std::path::PathBuf;

use crate::app;
use crate::cli::Cli;
use crate::config;
use crate::error::Error;
use crate::ui;

/// The example app, compiled in: (path inside the project, contents).
const FILES: &[(&str, &str)] = &[("ferry.toml", include_str!("../example/ferry.toml"))];

pub(crate) fn run(cli: &Cli) -> Result<u8, Error> {
    let dir = state_dir().join("demo");
    let project_dir = dir.join("example");
    for (path, contents) in FILES {
        let path = project_dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
        }
        std::fs::write(&path, contents)
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    }
    let project = config::load(&project_dir.join(config::FILE_NAME))?;
    let deploy_to = dir.join("srv");
    ui::note(&format!(
        "no ferry.toml here or above: running the bundled example app on `local` (project in {}, deploy_to {})",
        project_dir.display(),
        deploy_to.display()
    ));
    let set = [("deploy_to".to_string(), deploy_to.display().to_string())];
    app::run_tasks(cli, &project, "local", Vec::new(), &set)
}

/// `$XDG_STATE_HOME/ferry`, else `~/.local/state/ferry`, else a temp dir.
fn state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ferry")
}
