//! The embedded default: `ferry` with no ferry.toml in sight and nothing
//! asked deploys the bundled example app to a local target and lists its
//! releases, so a fresh machine shows what ferry does without a server.
//! This module writes the project and says what to run; `app` runs it.

use std::path::PathBuf;

use crate::config::{self, Project};
use crate::error::Error;
use crate::plan::TaskCall;
use crate::ui;

/// The example app, compiled in: (path inside the project, contents).
const FILES: &[(&str, &str)] = &[
    ("ferry.toml", include_str!("../example/ferry.toml")),
    ("app.py", include_str!("../example/app.py")),
    ("manage.py", include_str!("../example/manage.py")),
    (
        "requirements.txt",
        include_str!("../example/requirements.txt"),
    ),
    (
        "migrations/0001_initial.sql",
        include_str!("../example/migrations/0001_initial.sql"),
    ),
    (
        "static/style.css",
        include_str!("../example/static/style.css"),
    ),
];

/// The demo run: its project, the environment, the tasks and the `--set`s
/// that put its releases under ferry's state directory.
pub(crate) struct Demo {
    pub(crate) project: Project,
    pub(crate) env: &'static str,
    pub(crate) calls: Vec<TaskCall>,
    pub(crate) set: Vec<(String, String)>,
}

/// Write (or refresh) the example project and say what to run in it.
pub(crate) fn prepare() -> Result<Demo, Error> {
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
    commit(&project_dir)?;
    let project = config::load(&project_dir.join(config::FILE_NAME))?;
    let deploy_to = dir.join("srv");
    ui::note(&format!(
        "no ferry.toml here or above: running the bundled example app on `local` (project in {}, deploy_to {})",
        project_dir.display(),
        deploy_to.display()
    ));
    let call = |name: &str| TaskCall {
        name: name.into(),
        args: Vec::new(),
    };
    Ok(Demo {
        project,
        env: "local",
        calls: vec![call("deploy"), call("releases")],
        set: vec![("deploy_to".to_string(), deploy_to.display().to_string())],
    })
}

/// Deploys ship a git commit, so the demo project is a repository: its
/// files are committed whenever this version of ferry brings new ones.
fn commit(dir: &std::path::Path) -> Result<(), Error> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=ferry demo",
                "-c",
                "user.email=demo@ferry.invalid",
            ])
            .args(args)
            .output()
            .map_err(|e| Error::io("cannot run git for the demo project", e))
    };
    if !dir.join(".git").exists() {
        git(&["init", "--quiet", "--initial-branch=main"])?;
    }
    git(&["add", "--all"])?;
    let status = git(&["status", "--porcelain"])?;
    if !status.stdout.is_empty() {
        git(&[
            "commit",
            "--quiet",
            "--message",
            "The example app, as this ferry bundles it",
        ])?;
    }
    Ok(())
}

/// `$XDG_STATE_HOME/ferry`, else `~/.local/state/ferry`, else a temp dir.
fn state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ferry")
}
