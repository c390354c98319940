//! Promotion on real hosts and a real git repository: the very artifact
//! one environment runs, onto another on the same host (RandoPony's two
//! deploy_to) or other hosts; refusals while staging's hosts disagree or its
//! release failed; and `ship` end to end with git tags pushed to a bare
//! remote.

mod common;

use common::app::{App, get, supervise};
use common::hosts::Lab;
use common::pipeline::{
    commit, environment, ferry, git, history, record, small_project, visits_in,
};

#[test]
fn promote_on_one_host_ships_the_artifact_and_keeps_each_environments_data() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let tail = format!(
        "{}{}\n[hooks]\nafter_switch = [\"echo \\\"$FERRY_EVENT $FERRY_ENV ${{FERRY_FROM:--}}\\\" > hooked\"]\n",
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
    // Remote hooks know a promotion from a deploy, and where it came from.
    let hooked = |deploy_to: &str| {
        std::fs::read_to_string(host.path(&format!("{deploy_to}/current/hooked"))).unwrap()
    };
    assert_eq!(hooked("/srv/staging"), "deploy staging -\n");
    assert_eq!(
        hooked("/srv/app"),
        format!(
            "promote production staging {}\n",
            staging["id"].as_str().unwrap()
        )
    );
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
