//! `[provision]` without any host: mistakes are config errors that point
//! into ferry.toml or the template before anything runs, a project's
//! template overrides the shipped one, and the README's example is valid.
//! They run on `local` with `--check`, so nothing on this machine changes.

mod common;

use std::path::Path;

use common::ferry::{Ferry, write_config};

#[test]
fn provision_config_errors_point_at_the_file() {
    let cases = [
        ("no [provision]", "", None),
        (
            "unknown template",
            "[provision.files.\"/etc/x\"]\ntemplate = \"ngnix.conf\"\n",
            None,
        ),
        (
            "service template without a service",
            "[provision.files.\"/etc/x\"]\ntemplate = \"supervisor.conf\"\n",
            None,
        ),
        (
            "bad mode",
            "[provision.directories.\"/srv/x\"]\nmode = \"0855\"\n",
            None,
        ),
        (
            "unknown handler",
            "[provision.links.\"/etc/x\"]\nto = \"/etc/y\"\nnotify = [\"ngnix\"]\n",
            None,
        ),
        (
            "syntax error in a project template",
            "[provision.files.\"/etc/x\"]\nsource = \"site.conf\"\n",
            Some("server {\n  listen {{ port }\n}\n"),
        ),
    ];
    let mut all = String::new();
    for (name, provision, template) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config =
            format!("app = \"app\"\n[environments.here]\nhosts = [\"local\"]\n\n{provision}");
        write_config(dir.path(), &config);
        if let Some(template) = template {
            std::fs::write(dir.path().join("site.conf"), template).unwrap();
        }
        let ran = Ferry::new(dir.path()).run(&["here", "provision"]);
        assert_eq!(ran.code, 2, "{name}: {ran:?}");
        let stderr = ran
            .stderr
            .replace(&dir.path().display().to_string(), "[DIR]");
        all.push_str(&format!("=== {name}\n{stderr}\n"));
    }
    insta::assert_snapshot!(all);
}

/// Runs on `local` with `--check`: nothing on this machine changes.
fn local_project(provision: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "app = \"app\"\ndeploy_to = \"{root}/srv\"\n\n{provision}\n\n[environments.here]\nhosts = [\"local\"]\nroles.app = [\"local\"]\nroles.db = [\"local\"]\n",
        root = dir.path().display()
    );
    write_config(dir.path(), &config);
    dir
}

#[test]
fn a_project_template_overrides_the_shipped_one_and_keeps_its_defaults() {
    let dir = local_project(
        "[provision]\nbecome = false\n\n[provision.files.\"{{ deploy_to }}/site\"]\ntemplate = \"nginx.conf\"\nvars = { server_name = \"example.org\" }\n",
    );
    std::fs::create_dir_all(dir.path().join("ferry/templates")).unwrap();
    std::fs::write(
        dir.path().join("ferry/templates/nginx.conf"),
        "# ours: {{ server_name }}:{{ listen }}\n",
    )
    .unwrap();
    let ran = Ferry::new(dir.path()).run(&["here", "provision", "--check", "--diff"]);
    ran.success();
    let lines = ran.lines_of("local");
    assert!(
        lines.contains(&"+# ours: example.org:80".to_string()),
        "{}",
        ran.stdout
    );
    assert!(
        lines.contains(&"would run    reload nginx".to_string()),
        "{}",
        ran.stdout
    );
    assert!(!dir.path().join("srv").exists());
}

#[test]
fn the_readme_provision_example_is_valid() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split("## Provisioning and services").nth(1).unwrap();
    let example = section
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let dir = local_project(&format!(
        "{example}\n[secrets]\nSECRET_KEY = \"${{SECRET_KEY}}\"\n"
    ));
    let ran = Ferry::new(dir.path())
        .env("SECRET_KEY", "x")
        .run(&["here", "restart", "--check"]);
    ran.success();
    assert_eq!(
        ran.lines_of("local"),
        ["would run: supervisorctl restart app-web (as root)"]
    );
}

/// With `[deploy.dotenv]`, a systemd unit reads the `.env` itself
/// (`EnvironmentFile=`) and a supervisor program runs through with-env; the
/// values are in neither file.
#[test]
fn services_get_the_dotenv_from_the_file_not_from_their_config() {
    let dir = local_project(
        "[deploy.dotenv]\nvalues = { DJANGO_ALLOWED_HOSTS = \"example.org\" }\ngenerate = [\"DJANGO_SECRET_KEY\"]\n\n[services.web]\ncommand = \"gunicorn app:application\"\n\n[services.worker]\nmanager = \"systemd\"\ncommand = \"celery worker\"\n\n[provision]\nbecome = false\n\n[provision.files.\"{{ deploy_to }}/web.conf\"]\ntemplate = \"supervisor.conf\"\nservice = \"web\"\n\n[provision.files.\"{{ deploy_to }}/worker.service\"]\ntemplate = \"systemd.service\"\nservice = \"worker\"\n",
    );
    let ran = Ferry::new(dir.path()).run(&["here", "provision", "--check", "--diff"]);
    ran.success();
    let lines = ran.lines_of("local");
    let root = dir.path().join("srv").display().to_string();
    for expected in [
        format!("+command={root}/.ferry/with-env {root}/shared/.env gunicorn app:application"),
        format!("+EnvironmentFile={root}/shared/.env"),
        "+ExecStart=celery worker".to_string(),
    ] {
        assert!(lines.contains(&expected), "{expected}\n{}", ran.stdout);
    }
    assert!(!ran.stdout.contains("example.org"), "{}", ran.stdout);
}
