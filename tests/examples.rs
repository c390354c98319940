//! The examples in examples/ as a user runs them, on real hosts: provisioned
//! by `ferry provision` (supervisor programs and nginx sites from the
//! shipped templates), deployed, and asked over HTTP. The Django-shaped one
//! reads its secret key from the environment ferry gives it — in the
//! service, a migrate step, `run` and a task — and answers only to its own
//! Host; the Pyramid-shaped one runs staging and production on one host.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::app::{App, WHEELS, copy_dir};
use common::ferry::{Ferry, Ran};
use common::hosts::Lab;
use common::http;

/// examples/<name> committed in a fresh repository in the Lab's directory,
/// with `edit` applied to its ferry.toml.
fn example(lab: &Lab, name: &str, edit: impl Fn(String) -> String) -> App {
    let dir = lab.dir().join(name);
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
        &dir,
    );
    let app = App::at(&dir);
    app.write("ferry.toml", &edit(app.read("ferry.toml")));
    app.git(&["init", "--quiet", "--initial-branch=main"]);
    app.commit("the example");
    app
}

/// `ferry <args>` on the example's ferry.toml, with `env` in ferry's
/// environment and the hosts' wheels instead of PyPI.
fn ferry(lab: &Lab, app: &App, env: &[(&str, &str)], args: &[&str]) -> Ran {
    let mut ferry = Ferry::lab(lab);
    for (key, value) in env {
        ferry.env(key, value);
    }
    let config = app.dir.join("ferry.toml");
    let wheels = format!("wheels={WHEELS}");
    let head = ["--config", config.to_str().unwrap(), "--set", &wheels];
    ferry.run(&[&head[..], args].concat())
}

/// A key with what a shell, a .env or a supervisor config would read as
/// syntax, so only a value passed as data arrives whole.
const KEY: &str = "k3y 'single' \"double\" $HOME `id` \\back ;# %(here)s =x";

/// What the example's manage.py prints for `sign hello` with KEY, run here.
fn signed_hello(app: &App) -> String {
    let output = std::process::Command::new("python3")
        .args(["manage.py", "sign", "hello"])
        .current_dir(&app.dir)
        .env("DJANGO_SECRET_KEY", KEY)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn the_django_example_sees_its_secret_key_in_the_service_migrate_run_and_tasks() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let target = host.target();
    // The key from [secrets] (ferry's environment) rather than generated on
    // the host, so this test knows it; and a migrate step that shows what
    // the key signs.
    let app = example(&lab, "django", |toml| {
        toml.replace(
            "generate = [\"DJANGO_SECRET_KEY\"]",
            "secrets = [\"DJANGO_SECRET_KEY\"]",
        )
        .replace(
            "migrate = [\"venv/bin/python manage.py migrate --noinput\"]",
            "migrate = [\"venv/bin/python manage.py migrate --noinput\", \"venv/bin/python manage.py sign hello\"]",
        )
        .replace(
            "[deploy]\n",
            "[secrets]\nDJANGO_SECRET_KEY = \"${DJANGO_SECRET_KEY}\"\n\n[deploy]\n",
        )
    });
    let env = [("MYSITE_HOST", &target[..]), ("DJANGO_SECRET_KEY", KEY)];
    let signed = signed_hello(&app);
    let mut outputs = Vec::new();

    let provision = ferry(&lab, &app, &env, &["staging", "provision"]);
    provision.success();
    // The health check passes only with the Host header: the app answers
    // 400 to any other host, like Django's ALLOWED_HOSTS.
    let deploy = ferry(&lab, &app, &env, &["staging", "deploy", "-vv"]);
    deploy.success();
    assert!(
        deploy.lines_of(&target).contains(&signed),
        "the migrate step signs with the key:\n{}",
        deploy.stdout
    );

    let site = http::get_host(host.addr(), 80, "/", "staging.mysite.example").unwrap();
    assert_eq!(site.status, 200, "{site:?}");
    assert!(
        site.body.contains(&format!("signed hello {signed}")),
        "gunicorn under supervisor signs with the key: {site:?}"
    );
    let elsewhere = http::get_host(host.addr(), 80, "/", &host.addr().to_string()).unwrap();
    assert_eq!(elsewhere.status, 400, "{elsewhere:?}");
    let css = http::get_host(host.addr(), 80, "/static/site.css", "x").unwrap();
    assert!(
        css.body.contains("font-family"),
        "collectstatic ran: {css:?}"
    );

    let run = ferry(
        &lab,
        &app,
        &env,
        &[
            "staging",
            "run",
            "--",
            "venv/bin/python",
            "manage.py",
            "sign",
            "hello",
        ],
    );
    run.success();
    assert_eq!(run.lines_of(&target), std::slice::from_ref(&signed));
    // `run` has the very value, which ferry masks when it is printed.
    let printed = ferry(
        &lab,
        &app,
        &env,
        &["staging", "run", "--", "printenv", "DJANGO_SECRET_KEY"],
    );
    printed.success();
    assert_eq!(printed.lines_of(&target), ["********"]);
    let task = ferry(&lab, &app, &env, &["staging", "manage:cmd=check --deploy"]);
    task.success();
    assert_eq!(
        task.lines_of(&target),
        ["System check identified no issues (0 silenced)."]
    );
    outputs.extend([provision, deploy, run, printed, task]);

    // The program runs through with-env: no shell, no value in its file.
    let program =
        std::fs::read_to_string(host.path("/etc/supervisor/conf.d/mysite-web.conf")).unwrap();
    assert!(
        program.contains("\ncommand=/srv/mysite/.ferry/with-env /srv/mysite/shared/.env /srv/mysite/current/venv/bin/gunicorn "),
        "{program}"
    );
    assert!(
        !program.contains("sh -c") && !program.contains("k3y"),
        "{program}"
    );
    let dotenv = host.path("/srv/mysite/shared/.env");
    let mode = std::fs::metadata(&dotenv).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    for ran in &outputs {
        for text in [&ran.stdout, &ran.stderr] {
            assert!(!text.contains("k3y"), "the key was printed:\n{text}");
        }
    }
}

#[test]
fn the_pyramid_example_runs_staging_and_production_on_one_host() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let target = host.target();
    let app = example(&lab, "pyramid", |toml| toml);
    let env = [("RANDOPONY_HOST", &target[..])];
    for stage in ["staging", "production"] {
        ferry(&lab, &app, &env, &[stage, "provision", "--yes"]).success();
        ferry(&lab, &app, &env, &[stage, "deploy", "--yes"]).success();
    }
    // Two directories, each with its own live release and .env.
    let live = |deploy_to: &str| {
        let link = std::fs::read_link(host.path(&format!("{deploy_to}/current"))).unwrap();
        link.file_name().unwrap().to_string_lossy().into_owned()
    };
    let (staging, production) = (live("/srv/randopony-staging"), live("/srv/randopony"));
    for (deploy_to, stage) in [
        ("/srv/randopony-staging", "staging"),
        ("/srv/randopony", "production"),
    ] {
        let dotenv =
            std::fs::read_to_string(host.path(&format!("{deploy_to}/shared/.env"))).unwrap();
        assert!(
            dotenv.contains(&format!("RANDOPONY_ENV={stage}\n")),
            "{dotenv}"
        );
    }
    // Both answer through nginx, each site with its own environment's release.
    for (name, stage, release) in [
        ("staging.randopony.example", "staging", &staging),
        ("randopony.example", "production", &production),
    ] {
        let answer = http::get_host(host.addr(), 80, "/", name).unwrap();
        assert_eq!(answer.status, 200, "{name}: {answer:?}");
        assert_eq!(
            answer.body,
            format!("RandoPony {stage}, release {release}\n")
        );
    }
    // A deploy of staging leaves production's release and process alone.
    app.write(
        "randopony/views.py",
        &app.read("randopony/views.py")
            .replace("RandoPony %s", "RandoPony! %s"),
    );
    app.commit("v2");
    ferry(&lab, &app, &env, &["staging", "deploy"]).success();
    let staged = live("/srv/randopony-staging");
    assert_ne!(staged, staging);
    let answer = http::get_host(host.addr(), 80, "/", "staging.randopony.example").unwrap();
    assert_eq!(
        answer.body,
        format!("RandoPony! staging, release {staged}\n")
    );
    let answer = http::get_host(host.addr(), 80, "/", "randopony.example").unwrap();
    assert_eq!(
        answer.body,
        format!("RandoPony production, release {production}\n")
    );
}
