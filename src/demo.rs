//! The embedded default: `ferry` with no ferry.toml in sight and nothing
//! asked deploys the bundled example app to a local target and lists its
//! releases, so a fresh machine shows what ferry does without a server.

use std::path::PathBuf;

use crate::app;
use crate::cli::Cli;
use crate::config;
use crate::error::Error;
use crate::exit::ExitStatus;
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

pub(crate) fn run(cli: &Cli) -> Result<ExitStatus, Error> {
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
    let set = [("deploy_to".to_string(), deploy_to.display().to_string())];
    let calls = vec![
        crate::plan::TaskCall {
            name: "deploy".into(),
            args: Vec::new(),
        },
        crate::plan::TaskCall {
            name: "releases".into(),
            args: Vec::new(),
        },
    ];
    app::run_tasks(cli, &project, "local", calls, &set)
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
