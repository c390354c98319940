//! The way code travels, around one deploy, on real hosts and a real git
//! repository: the test gate (and `ship` stopped by it), functional tests
//! that roll an environment back, and local hooks. Promotion and `ship` end
//! to end are in promote.rs.

mod common;

use common::ferry::Ferry;
use common::hosts::Lab;
use common::pipeline::{commit, environment, ferry, git, history, live_id, record, small_project};

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
    let good = live_id(host, "/srv/staging");
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
    let release = live_id(host, "/srv/staging");
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
fn two_environments_of_one_file_build_restart_and_run_tasks_their_own_way() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let tail = format!(
        r#"
[services.web]
manager = "command"
restart = "echo 'app --workers 1' > web.cmd"

[tasks.where]
steps = ["echo base > {{{{ deploy_to }}}}/where"]
{staging}
[environments.staging.deploy]
build = ["echo debug > built", "mkdir -p static && echo 'debug assets' > static/app.js"]
[environments.staging.tasks.where]
steps = ["echo staging > {{{{ deploy_to }}}}/where"]
{production}
[environments.production.services.web]
restart = "echo 'app --workers 4' > web.cmd"
"#,
        staging = environment("staging", &[host], "/srv/staging", ""),
        production = environment("production", &[host], "/srv/app", ""),
    );
    let dir = small_project(&lab, &tail);
    let config = std::fs::read_to_string(dir.join("ferry.toml")).unwrap();
    let config = config.replace(
        "[deploy]\n",
        "[deploy]\nbuild = [\"echo release > built\"]\n",
    );
    std::fs::write(dir.join("ferry.toml"), &config).unwrap();
    commit(&dir, "ferry.toml", &config);

    ferry(&lab, &dir, &["staging", "deploy"]).success();
    ferry(&lab, &dir, &["production", "deploy"]).success();
    let read = |path: &str| std::fs::read_to_string(host.path(path)).unwrap_or_default();
    // Staging's build replaced the base's whole; its service kept the base's restart.
    assert_eq!(read("/srv/staging/current/built"), "debug\n");
    assert_eq!(read("/srv/staging/current/static/app.js"), "debug assets\n");
    assert_eq!(read("/srv/staging/current/web.cmd"), "app --workers 1\n");
    // Production kept the base's build; its service's restart is its own.
    assert_eq!(read("/srv/app/current/built"), "release\n");
    assert!(!host.path("/srv/app/current/static").exists());
    assert_eq!(read("/srv/app/current/web.cmd"), "app --workers 4\n");

    ferry(&lab, &dir, &["staging", "where"]).success();
    ferry(&lab, &dir, &["production", "where"]).success();
    assert_eq!(read("/srv/staging/where"), "staging\n");
    assert_eq!(read("/srv/app/where"), "base\n");

    // `config` shows what the environment overrides, where, and over what.
    let ran = ferry(&lab, &dir, &["production", "config"]);
    ran.success();
    let line = ran
        .stdout
        .lines()
        .find(|l| l.contains("services.web.restart"))
        .unwrap_or_else(|| panic!("{}", ran.stdout));
    let at = |needle: &str| 1 + config.lines().position(|l| l.contains(needle)).unwrap();
    assert!(line.contains("app --workers 4"), "{line}");
    assert!(
        line.contains(&format!(
            "ferry.toml:{} (over {}",
            at("--workers 4"),
            dir.join("ferry.toml").display()
        )) && line.contains(&format!("ferry.toml:{})", at("--workers 1"))),
        "{line}"
    );
}

#[test]
fn remote_hooks_run_in_order_with_the_facts_and_a_failing_one_leaves_current_where_it_was() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    // Local and remote hooks write to one file: the host's, seen from here too.
    let log = host.path("/srv/hooks.log");
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let tail = format!(
        r#"{staging}
[hooks]
after_upload = ["echo \"after_upload $FERRY_EVENT $FERRY_ENV $FERRY_HOST $FERRY_RELEASE $(basename \"$PWD\") ${{FERRY_PREVIOUS_RELEASE:--}} $FERRY_REVISION\" >> /srv/hooks.log"]
before_switch = ["echo \"before_switch $(readlink \"$FERRY_DEPLOY_TO/current\" || echo none)\" >> /srv/hooks.log", "test ! -e /srv/stop-before"]
after_switch = ["echo \"after_switch $(readlink \"$FERRY_DEPLOY_TO/current\")\" >> /srv/hooks.log", "test ! -e /srv/stop-after"]

[pipeline]
tags = false
pre_deploy = ["echo pre_deploy >> {log}"]
post_deploy = ["echo post_deploy >> {log}"]
"#,
        staging = environment("staging", &[host], "/srv/staging", ""),
        log = log.display(),
    );
    let dir = small_project(&lab, &tail);
    let revision = git(&dir, &["rev-parse", "HEAD"]);
    ferry(&lab, &dir, &["staging", "deploy"]).success();
    let first = live_id(host, "/srv/staging");
    let name = host.target().rsplit('@').next().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!(
            "pre_deploy\nafter_upload deploy staging {name} {first} {first} - {revision}\nbefore_switch none\nafter_switch releases/{first}\npost_deploy\n"
        )
    );

    // --check says where each hook would run.
    let ran = ferry(&lab, &dir, &["staging", "deploy", "--check"]);
    ran.success();
    let said = ran.lines_of(&host.target()).join("\n");
    let at = |needle: &str| {
        said.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {said}"))
    };
    assert!(at("would run the after_upload hook: echo") < at("would switch current"));
    assert!(
        at("would run the before_switch hook: test ! -e /srv/stop-before")
            < at("would switch current")
    );
    assert!(
        at("would switch current")
            < at("would run the after_switch hook: test ! -e /srv/stop-after")
    );

    // A failing before_switch: `current` never moves.
    std::fs::write(&log, "").unwrap();
    std::fs::write(host.path("/srv/stop-before"), "").unwrap();
    commit(&dir, "VERSION", "v2\n");
    let ran = ferry(&lab, &dir, &["staging", "deploy"]);
    ran.code(1);
    assert!(
        ran.stdout
            .contains("step 2 `before_switch: test ! -e /srv/stop-before` exited with 1"),
        "{}",
        ran.stdout
    );
    assert_eq!(record(host, "/srv/staging")["id"], first.as_str());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(&format!("\nbefore_switch releases/{first}\n"))
            && !logged.contains("after_switch"),
        "{logged}"
    );

    // A failing after_switch fails the deploy and puts the host back.
    std::fs::remove_file(host.path("/srv/stop-before")).unwrap();
    std::fs::write(host.path("/srv/stop-after"), "").unwrap();
    commit(&dir, "VERSION", "v3\n");
    let ran = ferry(&lab, &dir, &["staging", "deploy"]);
    ran.code(1);
    assert!(
        ran.stdout
            .contains("step 4 `after_switch: test ! -e /srv/stop-after` exited with 1"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains(&format!("a switch hook failed on {}", host.target())),
        "{}",
        ran.stdout
    );
    assert_eq!(record(host, "/srv/staging")["id"], first.as_str());
    let history = history(host, "/srv/staging");
    assert!(
        history.lines().last().unwrap().contains("\"failed\""),
        "{history}"
    );
}

#[test]
fn a_local_builds_output_ships_with_the_release_a_failing_one_touches_no_host_and_phases_are_timed()
{
    let lab = Lab::start(1);
    let host = lab.host(0);
    let fail = lab.dir().join("build-fails");
    let dir = small_project(
        &lab,
        &format!(
            "{}\n[pipeline]\ntags = false\n",
            environment("staging", &[host], "/srv/staging", "")
        ),
    );
    let config = std::fs::read_to_string(dir.join("ferry.toml")).unwrap().replace(
        "[deploy]\n",
        &format!(
            "[deploy]\nlocal_build = [\"mkdir -p dist/css && echo \\\"built for $FERRY_ENV\\\" > dist/css/app.css && echo $FERRY_REVISION > dist/revision\", \"test ! -e {}\"]\nlocal_artifacts = [\"dist\"]\n",
            fail.display()
        ),
    );
    let revision = commit(&dir, "ferry.toml", &config);
    let ran = ferry(&lab, &dir, &["staging", "deploy"]);
    ran.success();
    let read = |path: &str| std::fs::read_to_string(host.path(path)).unwrap();
    assert_eq!(
        read("/srv/staging/current/dist/css/app.css"),
        "built for staging\n"
    );
    assert_eq!(
        read("/srv/staging/current/dist/revision"),
        format!("{revision}\n")
    );
    assert!(
        !dir.join("dist").exists(),
        "built in a copy, not the work tree"
    );
    let first = live_id(host, "/srv/staging");

    // A failing local build: no host changes.
    std::fs::write(&fail, "").unwrap();
    commit(&dir, "VERSION", "v2\n");
    let ran = ferry(&lab, &dir, &["staging", "deploy"]);
    ran.code(2);
    assert!(
        ran.stderr.contains(&format!(
            "local build failed: `test ! -e {}` exited with 1",
            fail.display()
        )),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("nothing was sent to any host"),
        "{}",
        ran.stderr
    );
    assert_eq!(record(host, "/srv/staging")["id"], first.as_str());
    let releases = std::fs::read_dir(host.path("/srv/staging/releases"))
        .unwrap()
        .count();
    assert_eq!(releases, 1);

    // Built output ships like any file: only what changed travels.
    std::fs::remove_file(&fail).unwrap();
    let ran = ferry(&lab, &dir, &["staging", "deploy"]);
    ran.success();
    assert!(
        ran.stdout.contains("2 changed files"),
        "VERSION and dist/revision, not dist/css/app.css: {}",
        ran.stdout
    );

    // How long each phase took: said at the end, kept in the history.
    let phases = ran
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("==> phases: "))
        .unwrap_or_else(|| panic!("{}", ran.stdout));
    let names: Vec<&str> = phases
        .split(", ")
        .map(|p| p.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["lock", "upload", "migrate", "switch", "finish"],
        "{phases}"
    );
    let history = history(host, "/srv/staging");
    let last: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    let kept: Vec<&str> = last["timings"]
        .as_array()
        .unwrap_or_else(|| panic!("{last}"))
        .iter()
        .map(|t| {
            assert!(t["seconds"].as_f64().unwrap() >= 0.0, "{t}");
            t["phase"].as_str().unwrap()
        })
        .collect();
    assert_eq!(kept, ["lock", "upload", "migrate", "switch"], "{last}");
}

#[test]
fn releases_and_history_show_what_each_release_brought_with_the_forges_compare_page() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let dir = small_project(
        &lab,
        &format!(
            "{}\n[pipeline]\ntags = false\n",
            environment("staging", &[host], "/srv/staging", "")
        ),
    );
    // Only the URL is read: nothing is fetched from it.
    git(
        &dir,
        &["remote", "add", "origin", "git@github.com:org/app.git"],
    );
    let v1 = git(&dir, &["rev-parse", "HEAD"]);
    ferry(&lab, &dir, &["staging", "deploy"]).success();
    let first = live_id(host, "/srv/staging");
    let v2 = commit(&dir, "VERSION", "v2\n");
    ferry(&lab, &dir, &["staging", "deploy"]).success();
    let second = live_id(host, "/srv/staging");
    let range = format!("{}..{}", &v1[..10], &v2[..10]);
    let url = format!("https://github.com/org/app/compare/{v1}...{v2}");

    let ran = ferry(&lab, &dir, &["staging", "releases"]);
    ran.success();
    let lines = ran.lines_of(&host.target());
    let line = |id: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{}", ran.stdout))
            .clone()
    };
    let newest = line(&second);
    assert!(
        newest.contains(&format!("live       {range}  main"))
            && newest.ends_with(&format!("  {url}")),
        "{newest}"
    );
    let oldest = line(&first);
    assert!(
        oldest.contains(&v1[..10]) && !oldest.contains(".."),
        "nothing before the first release: {oldest}"
    );

    let ran = ferry(&lab, &dir, &["staging", "history"]);
    ran.success();
    let last = ran.lines_of(&host.target()).last().cloned().unwrap();
    assert!(last.contains(&format!("{second} {range} {url}")), "{last}");
    let ran = ferry(&lab, &dir, &["staging", "history", "--json"]);
    let compare = ran
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "history")
        .map(|v| v["entries"][1]["compare"].clone());
    assert_eq!(compare, Some(serde_json::Value::from(url)));
}
