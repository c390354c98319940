//! `--config` naming a ferry.toml outside the app's repository, with real
//! git repositories: ferry deploys `[deploy] path` or the working
//! directory's repository, never another repository the file happens to sit
//! in; when it cannot tell, it refuses before any host changes, naming
//! `[deploy] path`. (Run from outside any repository, a ferry.toml in the
//! app's repository ships it, as the other tests' `--config` runs show.)

mod common;

use std::path::Path;

use common::app::App;
use common::ferry::{Ferry, Ran, lab_config};
use common::hosts::Lab;

/// A repository at `dir` with one file saying `who`.
fn repo(dir: &Path, who: &str) -> App {
    std::fs::create_dir_all(dir).unwrap();
    let repo = App::at(dir);
    repo.git(&["init", "--quiet", "--initial-branch=main"]);
    repo.write("WHO", &format!("{who}\n"));
    repo.commit("first");
    repo
}

fn deploy(lab: &Lab, cwd: &Path, config: &Path) -> Ran {
    Ferry::new(cwd)
        .env("FERRY_SSH_CONFIG", lab.ssh_config())
        .run(&["--config", config.to_str().unwrap(), "lab", "deploy"])
}

fn shipped(lab: &Lab) -> Option<String> {
    std::fs::read_to_string(lab.host(0).path("/srv/app/current/WHO")).ok()
}

fn nothing_on_host(lab: &Lab) {
    assert!(
        !lab.host(0).path("/srv/app/releases").exists(),
        "nothing reached the host"
    );
}

#[test]
fn a_config_in_another_repository_is_refused_unless_deploy_path_names_the_app() {
    let lab = Lab::start(1);
    let app = repo(&lab.dir().join("app"), "app");
    let ops = repo(&lab.dir().join("ops"), "ops");
    ops.write("ferry.toml", &lab_config(&lab, ""));
    ops.commit("config");
    let config = ops.dir.join("ferry.toml");

    let ran = deploy(&lab, &app.dir, &config);
    ran.code(2);
    assert!(
        ran.stderr
            .contains("ops/ferry.toml is in the git repository"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("set [deploy] path = \"../app\""),
        "{}",
        ran.stderr
    );
    nothing_on_host(&lab);

    // Named, the app ships from anywhere.
    let elsewhere = lab.dir().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    ops.write(
        "ferry.toml",
        &lab_config(&lab, "[deploy]\npath = \"../app\"\n\n[pipeline]\n"),
    );
    deploy(&lab, &elsewhere, &config).success();
    assert_eq!(shipped(&lab).as_deref(), Some("app\n"));
    // The live commit is tagged in the repository that shipped, not in
    // the one ferry.toml sits in.
    assert_eq!(
        app.git(&["rev-parse", "LIVE-lab^{commit}"]).trim(),
        app.git(&["rev-parse", "HEAD"]).trim()
    );
    assert!(
        ops.git(&["tag", "--list"]).trim().is_empty(),
        "no tag in ops"
    );
}

#[test]
fn a_config_outside_any_repository_deploys_the_working_directorys() {
    let lab = Lab::start(1);
    let app = repo(&lab.dir().join("app"), "app");
    let etc = lab.dir().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("ferry.toml"), lab_config(&lab, "")).unwrap();
    let config = etc.join("ferry.toml");

    // Neither in a repository: no app to tell.
    let ran = deploy(&lab, lab.dir(), &config);
    ran.code(2);
    assert!(
        ran.stderr
            .contains("cannot tell which repository to deploy"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("[deploy] path"), "{}", ran.stderr);
    nothing_on_host(&lab);

    deploy(&lab, &app.dir, &config).success();
    assert_eq!(shipped(&lab).as_deref(), Some("app\n"));

    // And a config in the app's own repository is the app's, as before.
    app.write(
        "deploy/ferry.toml",
        &lab_config(&lab, "[deploy]\npath = \"..\"\n"),
    );
    app.write("WHO", "app v2\n");
    app.commit("v2");
    deploy(&lab, &app.dir, &app.dir.join("deploy/ferry.toml")).success();
    assert_eq!(shipped(&lab).as_deref(), Some("app v2\n"));
}

/// A directory source has no repository to tell: ferry.toml's directory
/// ships when ferry runs inside it, else `[deploy] path` must say.
#[test]
fn a_directory_source_named_from_outside_needs_deploy_path() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("site");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("ferry.toml"),
        "deploy_to = \"/nonexistent/app\"\n[deploy]\nsource = \"dir\"\n[environments.here]\nhosts = [\"local\"]\n",
    )
    .unwrap();
    let config = project.join("ferry.toml");
    let ran = Ferry::new(dir.path()).run(&["--config", config.to_str().unwrap(), "here", "deploy"]);
    ran.code(2);
    assert!(
        ran.stderr.contains("is not in the working directory"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(
            "set [deploy] path = \".\" in ferry.toml to ship its own directory, or path = \"..\""
        ),
        "{}",
        ran.stderr
    );
}
