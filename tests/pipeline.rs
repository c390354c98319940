//! The way code travels, on real hosts and a real git repository: the test
//! gate, functional tests against an environment, `promote` (the very
//! artifact, on other hosts and on the same host), `ship` end to end with
//! git tags pushed to a bare remote, and local hooks.

mod common;

use std::path::{Path, PathBuf};

use common::app::{App, get, supervise};
use common::ferry::{Ferry, Ran};
use common::hosts::{Host, Lab};

fn ferry(lab: &Lab, dir: &Path, args: &[&str]) -> Ran {
    let config = dir.join("ferry.toml");
    Ferry::lab(lab).run(&[&["--config", config.to_str().unwrap()], args].concat())
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn commit(dir: &Path, file: &str, text: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "-m", text]);
    git(dir, &["rev-parse", "HEAD"])
}

/// The live release.json of `deploy_to` on a host, as JSON.
fn record(host: &Host, deploy_to: &str) -> serde_json::Value {
    let path = host.path(&format!("{deploy_to}/current/.ferry/release.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn history(host: &Host, deploy_to: &str) -> String {
    std::fs::read_to_string(host.path(&format!("{deploy_to}/.ferry/history.jsonl")))
        .unwrap_or_default()
}

/// An environment on `hosts`, all `app` and the first `db`, at `deploy_to`.
fn environment(name: &str, hosts: &[&Host], deploy_to: &str, extra: &str) -> String {
    let targets: Vec<String> = hosts
        .iter()
        .map(|h| format!("\"{}\"", h.target()))
        .collect();
    format!(
        "\n[environments.{name}]\nhosts = [{all}]\nroles.app = [{all}]\nroles.db = [{first}]\ndeploy_to = \"{deploy_to}\"\n{extra}\n",
        all = targets.join(", "),
        first = targets[0],
    )
}

/// A small project without services: files, a shared database migrated on
/// deploy, and whatever `tail` adds (environments, [pipeline]).
fn small_project(lab: &Lab, tail: &str) -> PathBuf {
    let dir = lab.dir().join("small");
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("example");
    for file in ["app.py", "manage.py", "migrations/0001_initial.sql"] {
        std::fs::copy(example.join(file), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("VERSION"), "v1\n").unwrap();
    let config = format!(
        "app = \"small\"\nconnect_timeout = 3\nkeepalive = 2\n\n[deploy]\nshared_files = [\"db.sqlite3\"]\nmigrate = [\"python3 manage.py migrate\"]\n{tail}"
    );
    std::fs::write(dir.join("ferry.toml"), config).unwrap();
    git(&dir, &["init", "--quiet", "--initial-branch=main"]);
    git(&dir, &["add", "--all"]);
    git(&dir, &["commit", "--quiet", "-m", "v1"]);
    dir
}

fn visits_in(host: &Host, database: &str) -> String {
    host.exec_ok(&format!(
        "python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from visit\").fetchone()[0])' {database}"
    ))
    .trim()
    .to_string()
}

#[test]
fn a_failing_test_command_stops_ship_before_any_host_changes_and_skip_tests_is_recorded() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let tail = format!(
        "{}{}\n[pipeline]\ntests = [\"echo collecting\", \"echo 'test_login FAILED' >&2; exit 3\"]\nstages = [\"staging\", \"production\"]\nbranches = {{ develop = \"staging\" }}\n",
        environment("staging", &[host], "/srv/staging", ""),
        environment("production", &[host], "/srv/app", "confirm = true"),
    );
    let dir = small_project(&lab, &tail);
    // Production asks first, and there is no terminal to ask on: nothing runs.
    let ran = ferry(&lab, &dir, &["ship"]);
    ran.code(2);
    assert!(
        ran.stderr
            .contains("environment `production` asks for confirmation"),
        "{}",
        ran.stderr
    );
    assert!(ran.lines_of("local").is_empty(), "{}", ran.stdout);
    // --from-branch goes as far as the branch's environment, and no further.
    let ran = Ferry::lab(&lab).env("GITHUB_REF_NAME", "develop").run(&[
        "--config",
        dir.join("ferry.toml").to_str().unwrap(),
        "ship",
        "--from-branch",
    ]);
    ran.code(1);
    assert!(
        ran.stdout
            .contains("ship stopped at tests; staging: untouched\n"),
        "{}",
        ran.stdout
    );
    let ran = ferry(&lab, &dir, &["ship", "--from-branch"]);
    ran.code(2);
    assert!(
        ran.stderr.contains("branch `main` maps to no environment"),
        "{}",
        ran.stderr
    );

    let ran = ferry(&lab, &dir, &["ship", "--yes"]);
    ran.code(1);
    let local = ran.lines_of("local");
    assert_eq!(local, ["collecting", "test_login FAILED"], "{}", ran.stdout);
    assert!(
        ran.stdout.contains("error: tests failed, nothing was deployed: `echo 'test_login FAILED' >&2; exit 3` exited with 3"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("ship stopped at tests; staging: untouched; production: untouched"),
        "{}",
        ran.stdout
    );
    assert!(!host.path("/srv/staging").exists() && !host.path("/srv/app").exists());
    let recap = ran
        .stdout
        .split("RECAP production: ship")
        .nth(1)
        .unwrap_or_default();
    assert!(recap.contains("no host was touched"), "{}", ran.stdout);

    // A plain deploy is gated too; --skip-tests goes on and says so in the history.
    ferry(&lab, &dir, &["staging", "deploy"]).code(1);
    assert!(!host.path("/srv/staging").exists());
    let ran = ferry(&lab, &dir, &["staging", "deploy", "--skip-tests"]);
    ran.success();
    assert!(
        ran.stdout.contains("warning: --skip-tests"),
        "{}",
        ran.stdout
    );
    let history = history(host, "/srv/staging");
    assert!(history.contains("\"tests\":\"skipped\""), "{history}");
}

#[test]
fn promote_on_one_host_ships_the_artifact_and_keeps_each_environments_data() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let tail = format!(
        "{}{}",
        environment("staging", &[host], "/srv/staging", ""),
        environment("production", &[host], "/srv/app", ""),
    );
    let dir = small_project(&lab, &tail);
    ferry(&lab, &dir, &["production", "deploy"]).success();
    host.exec_ok("cd /srv/app/current && python3 -c 'import app; app.visits(); app.visits()'");
    let v2 = commit(&dir, "VERSION", "v2\n");
    ferry(&lab, &dir, &["staging", "deploy"]).success();
    commit(&dir, "VERSION", "v3, never deployed\n");

    let ran = ferry(&lab, &dir, &["promote", "staging", "production"]);
    ran.success();
    let (staging, production) = (record(host, "/srv/staging"), record(host, "/srv/app"));
    assert_eq!(production["revision"], v2.as_str());
    assert_eq!(production["digest"], staging["digest"]);
    assert_eq!(production["state"], "deployed");
    assert_eq!(
        std::fs::read_to_string(host.path("/srv/app/current/VERSION")).unwrap(),
        "v2\n"
    );
    // Production's own database, migrated already, kept its rows.
    assert_eq!(visits_in(host, "/srv/app/shared/db.sqlite3"), "2");
    assert_eq!(visits_in(host, "/srv/staging/shared/db.sqlite3"), "0");
    let history = history(host, "/srv/app");
    let from = format!(
        "\"promoted_from\":\"staging {}\"",
        staging["id"].as_str().unwrap()
    );
    assert!(history.contains(&from), "{history}");
}

#[test]
fn promote_refuses_while_staging_disagrees_and_a_failing_functional_test_stops_ship() {
    let lab = Lab::start(2);
    let (a, b) = (lab.host(0), lab.host(1));
    let fail = lab.dir().join("functional-fails");
    let tail = format!(
        "{}{}\n[pipeline]\nstages = [\"staging\", \"production\"]\ntags = false\nfunctional_tests = [\"echo checking $FERRY_ENV\", \"test ! -e {}\"]\n",
        environment("staging", &[a, b], "/srv/staging", ""),
        environment("production", &[a], "/srv/app", ""),
        fail.display(),
    );
    let dir = small_project(&lab, &tail);
    ferry(&lab, &dir, &["staging", "deploy"]).success();
    commit(&dir, "VERSION", "v2\n");
    ferry(&lab, &dir, &["staging", "deploy", "--hosts", &b.target()]).success();

    let ran = ferry(&lab, &dir, &["promote", "staging", "production"]);
    ran.code(1);
    assert!(
        ran.stdout.contains("promote staging to production refused, nothing changed on production: the staging hosts disagree on their live release:"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&a.target()) && ran.stdout.contains(&b.target()),
        "{}",
        ran.stdout
    );
    assert!(!a.path("/srv/app").exists());

    std::fs::write(&fail, "").unwrap();
    let ran = ferry(&lab, &dir, &["ship"]);
    ran.code(1);
    assert!(
        ran.lines_of("local")
            .contains(&"checking staging".to_string()),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("functional tests against staging failed"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("ship stopped at the functional tests of staging; staging: release "),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains(" failed its functional tests; it stays live"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("production: untouched"),
        "{}",
        ran.stdout
    );
    for host in [a, b] {
        let live = record(host, "/srv/staging");
        assert_eq!(live["state"], "failed", "{live}");
        assert!(
            live["note"].as_str().unwrap().contains("functional test"),
            "{live}"
        );
    }
    assert!(!a.path("/srv/app").exists(), "production was touched");
    // A release that failed its functional tests is not promoted either.
    let ran = ferry(&lab, &dir, &["promote", "staging", "production"]);
    ran.code(1);
    assert!(
        ran.stdout.contains("is failed, not deployed"),
        "{}",
        ran.stdout
    );
    assert!(!a.path("/srv/app").exists(), "production was touched");
}

#[test]
fn a_failing_functional_test_rolls_the_environment_back_when_asked() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let fail = lab.dir().join("functional-fails");
    let tail = format!(
        "{}\n[pipeline]\ntags = false\n",
        environment(
            "staging",
            &[host],
            "/srv/staging",
            &format!(
                "rollback_on_failure = true\nfunctional_tests = [\"test ! -e {}\"]",
                fail.display()
            )
        ),
    );
    let dir = small_project(&lab, &tail);
    ferry(&lab, &dir, &["staging", "deploy"]).success();
    let good = record(host, "/srv/staging")["id"]
        .as_str()
        .unwrap()
        .to_string();
    commit(&dir, "VERSION", "v2\n");
    std::fs::write(&fail, "").unwrap();
    let ran = ferry(&lab, &dir, &["staging", "deploy"]);
    ran.code(1);
    assert!(
        ran.stdout
            .contains("functional tests against staging failed"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("is marked failed on every host; rolled back to the previous good release"),
        "{}",
        ran.stdout
    );
    assert_eq!(record(host, "/srv/staging")["id"], good.as_str());
    let releases = std::fs::read_dir(host.path("/srv/staging/releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| *n != good && !n.starts_with('.'))
        .collect::<Vec<_>>();
    assert_eq!(releases.len(), 1, "{releases:?}");
    let abandoned = host.path(&format!(
        "/srv/staging/releases/{}/.ferry/release.json",
        releases[0]
    ));
    let abandoned: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(abandoned).unwrap()).unwrap();
    assert_eq!(abandoned["state"], "failed", "{abandoned}");
}

#[test]
fn hooks_run_in_order_with_the_deploys_facts_and_a_failing_pre_deploy_stops_it() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let log = lab.dir().join("hooks.log");
    let stop = lab.dir().join("stop");
    let line = "$FERRY_EVENT $FERRY_ENV $FERRY_HOSTS ${FERRY_RELEASE:--} ${FERRY_REVISION:--} ${FERRY_RESULT:--} $FERRY_URL";
    let tail = format!(
        "{}\n[pipeline]\ntags = false\npre_deploy = [\"echo \\\"pre {line}\\\" >> {log}\", \"test ! -e {stop}\"]\npost_deploy = [\"echo \\\"post {line}\\\" >> {log}\"]\non_failure = [\"echo \\\"failure {line} $FERRY_ERROR\\\" >> {log}\"]\n",
        environment(
            "staging",
            &[host],
            "/srv/staging",
            "url = \"http://staging.example\""
        ),
        log = log.display(),
        stop = stop.display(),
    );
    let dir = small_project(&lab, &tail);
    let revision = git(&dir, &["rev-parse", "HEAD"]);
    ferry(&lab, &dir, &["staging", "deploy"]).success();
    let release = record(host, "/srv/staging")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let name = host.target().rsplit('@').next().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!(
            "pre deploy staging {name} - - - http://staging.example\npost deploy staging {name} {release} {revision} ok http://staging.example\n"
        )
    );

    std::fs::write(&log, "").unwrap();
    std::fs::write(&stop, "").unwrap();
    commit(&dir, "VERSION", "v2\n");
    let ran = ferry(&lab, &dir, &["staging", "deploy"]);
    ran.code(1);
    assert!(
        ran.stdout
            .contains("pre_deploy hook failed, staging was not deployed"),
        "{}",
        ran.stdout
    );
    assert_eq!(record(host, "/srv/staging")["id"], release.as_str());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.starts_with("pre deploy staging"), "{logged}");
    assert!(logged.contains("\nfailure deploy staging"), "{logged}");
}

#[test]
fn ship_deploys_staging_tests_it_and_promotes_the_same_artifact_to_production() {
    let lab = Lab::start(2);
    let (staging, production) = (lab.host(0), lab.host(1));
    supervise(staging);
    supervise(production);
    let app = App::new(&lab, "");
    let remote = lab.dir().join("remote.git");
    git(
        lab.dir(),
        &["init", "--quiet", "--bare", remote.to_str().unwrap()],
    );
    app.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    let db = app.db.path();
    let vars = |name: &str| {
        format!(
            "vars = {{ wheels = \"{}\", database = \"{}/{name}.sqlite3\" }}",
            common::app::WHEELS,
            db.display()
        )
    };
    let functional = lab.dir().join("functional.log");
    let later = "echo later > LATER && git add LATER && git -c user.name=t -c user.email=t@example.invalid commit -qm later";
    let tail = format!(
        "{}{}\n[pipeline]\ntests = [\"python3 -c 'import ast; ast.parse(open(\\\"app.py\\\").read())' && echo syntax ok\"]\nstages = [\"staging\", \"production\"]\npush_tags = \"origin\"\n",
        environment(
            "staging",
            &[staging],
            "/srv/app",
            &format!(
                "{}\nurl = \"http://{}:{}\"\nfunctional_tests = [\"curl -fsS $FERRY_URL/health\", \"echo $FERRY_ENV $FERRY_RELEASE $FERRY_REVISION > {}\", \"{later}\"]",
                vars("staging"),
                staging.addr(),
                common::app::PORT,
                functional.display()
            )
        ),
        environment("production", &[production], "/srv/app", &vars("production")),
    );
    let config = app.read("ferry.toml");
    app.write("ferry.toml", &format!("{config}{tail}"));
    let v1 = app.commit("pipeline");
    // Production runs v1 and has visitors.
    ferry(&lab, &app.dir, &["production", "deploy", "--skip-tests"]).success();
    get(production.addr(), "/").unwrap();
    let (_, body) = get(production.addr(), "/").unwrap();
    assert!(body.contains("visit 2"), "{body}");
    app.write("VERSION", "v2\n");
    let v2 = app.commit("v2");

    let ran = ferry(&lab, &app.dir, &["ship"]);
    ran.success();
    assert!(
        ran.lines_of("local").contains(&"syntax ok".to_string()),
        "{}",
        ran.stdout
    );
    assert!(
        ran.lines_of("local").contains(&"ok".to_string()),
        "{}",
        ran.stdout
    );
    let (on_staging, on_production) = (record(staging, "/srv/app"), record(production, "/srv/app"));
    assert_eq!(
        std::fs::read_to_string(&functional).unwrap(),
        format!("staging {} {v2}\n", on_staging["id"].as_str().unwrap())
    );
    // The commit the functional test made after staging deployed is not what production runs.
    let newest = app.git(&["rev-parse", "HEAD"]).trim().to_string();
    assert_ne!(newest, v2);
    assert_eq!(on_staging["revision"], v2.as_str());
    assert_eq!(on_production["revision"], v2.as_str());
    assert_eq!(on_production["digest"], on_staging["digest"]);
    assert!(!production.path("/srv/app/current/LATER").exists());
    let (status, body) = get(production.addr(), "/").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("visit 3"), "production lost its rows: {body}");
    assert!(body.contains(&v2[..12]), "{body}");
    assert_ne!(v1, v2);

    for env in ["staging", "production"] {
        let live = app.git(&["rev-parse", &format!("LIVE-{env}^{{commit}}")]);
        assert_eq!(live.trim(), v2, "LIVE-{env}\n{}", ran.stdout);
        let deployed = app.git(&[
            "tag",
            "--points-at",
            &v2,
            "--list",
            &format!("DEPLOYED-{env}-*"),
        ]);
        let deployed = deployed.trim();
        assert!(!deployed.is_empty(), "no DEPLOYED tag for {env}");
        let at = app.git(&["rev-parse", &format!("{deployed}^{{commit}}")]);
        assert_eq!(at.trim(), v2);
        let pushed = git(&remote, &["rev-parse", &format!("{deployed}^{{commit}}")]);
        assert_eq!(pushed, v2, "{deployed} in the bare remote");
        let pushed = git(&remote, &["rev-parse", &format!("LIVE-{env}^{{commit}}")]);
        assert_eq!(pushed, v2, "LIVE-{env} in the bare remote");
    }
    let history = history(production, "/srv/app");
    assert!(
        history.contains("\"promoted_from\":\"staging "),
        "{history}"
    );
    // `history` shows what each deploy brought: the range since the last one.
    let shown = ferry(&lab, &app.dir, &["production", "history"]);
    let promoted = shown
        .lines_of(&production.target())
        .into_iter()
        .find(|l| l.contains("promoted from staging"))
        .unwrap_or_else(|| panic!("{}", shown.stdout));
    assert!(
        promoted.contains(&format!("{}..{}", &v1[..10], &v2[..10])),
        "{promoted}"
    );
    assert!(promoted.contains("(tests passed)"), "{promoted}");
}
