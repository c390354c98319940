//! The `--json` contract, on the `local` target: every line ferry prints
//! with `--json` passes the schema shipped in docs/events.schema.json, for
//! a deploy, a failed deploy, `releases`, `history`, `-l` and early errors.

mod common;

use std::path::Path;

use common::ferry::{Ferry, Ran};
use serde_json::Value;

fn project(dir: &Path, deploy: &str) {
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("app/main.py"), "print('v1')\n").unwrap();
    let config = format!(
        "app = \"demo\"\ndeploy_to = \"{}\"\n\n[deploy]\nsource = \"dir\"\nexclude = [\"/srv\", \".home\"]\n{deploy}\n\n[environments.here]\nhosts = [\"local\"]\n",
        dir.join("srv").display()
    );
    std::fs::write(dir.join("ferry.toml"), config).unwrap();
}

/// Every stdout line as JSON, each checked against the shipped schema.
fn events(ran: &Ran) -> Vec<Value> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/events.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(!ran.stdout.is_empty(), "no events; stderr:\n{}", ran.stderr);
    ran.stdout
        .lines()
        .map(|line| {
            let event: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            let errors: Vec<String> = validator
                .iter_errors(&event)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{line}\n{errors:#?}");
            assert_eq!(event["v"], 1, "{line}");
            event
        })
        .collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

fn find<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", kinds(events)))
}

#[test]
fn a_deploy_releases_and_history_are_structured_events() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), "");
    let ran = Ferry::new(dir.path()).run(&["here", "deploy", "--json"]);
    ran.success();
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);
    let deploy = events(&ran);
    let live = std::fs::read_link(dir.path().join("srv/current")).unwrap();
    let live = live.file_name().unwrap().to_str().unwrap();
    let released = find(&deploy, "released");
    assert_eq!(released["release"], live);
    assert_eq!(released["live"], true);
    let last = deploy.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(
        last["release"], live,
        "the release id is a field of the last event"
    );
    assert_eq!(last["recap"][0]["host"], "local");
    // UTC to the millisecond, always the same width.
    for event in &deploy {
        let ts = event["ts"].as_str().unwrap();
        assert!(ts.len() == 24 && ts.ends_with('Z'), "{ts}");
    }

    let ran = Ferry::new(dir.path()).run(&["here", "releases", "history", "--json"]);
    ran.success();
    let listed = events(&ran);
    let releases = find(&listed, "releases");
    assert_eq!(releases["host"], "local");
    assert_eq!(releases["releases"][0]["id"], live);
    assert_eq!(releases["releases"][0]["state"], "live");
    let history = find(&listed, "history");
    let entries = history["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "deploy" && e["release"] == live && e["result"] == "ok"),
        "{history}"
    );
}

#[test]
fn a_failed_deploy_says_so_in_events() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), "build = [\"echo building; exit 3\"]");
    let ran = Ferry::new(dir.path()).run(&["here", "deploy", "--json"]);
    ran.code(1);
    let events = events(&ran);
    let failed = events
        .iter()
        .find(|e| e["event"] == "host_finished" && e["status"] == "failed")
        .unwrap_or_else(|| panic!("{:?}", kinds(&events)));
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("exited with 3"),
        "{failed}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "output" && e["line"] == "building")
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert!(last.get("release").is_none(), "nothing went live: {last}");
    assert_eq!(last["recap"][0]["failed"], 1);
}

#[test]
fn an_early_error_is_one_error_event_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferry.toml"),
        "app = \"x\"\ndeplo_to = \"/srv\"\n",
    )
    .unwrap();
    let ran = Ferry::new(dir.path()).run(&["here", "deploy", "--json"]);
    ran.code(2);
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);
    let events = events(&ran);
    assert_eq!(kinds(&events), ["error"]);
    let error = &events[0];
    assert_eq!(error["exit_code"], 2);
    assert!(
        error["location"]
            .as_str()
            .unwrap()
            .ends_with("ferry.toml:2:1"),
        "{error}"
    );
    assert!(
        error["message"].as_str().unwrap().contains("deplo_to"),
        "{error}"
    );

    let ran = Ferry::new(dir.path()).run(&["--json", "--no-such-flag"]);
    ran.code(2);
    let events = self::events(&ran);
    assert_eq!(kinds(&events), ["error"]);
    assert!(
        events[0]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag"),
        "{}",
        events[0]
    );
}

#[test]
fn the_task_list_is_json_too() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), "");
    let ran = Ferry::new(dir.path()).run(&["-l", "--json"]);
    ran.success();
    let events = events(&ran);
    assert_eq!(kinds(&events), ["tasks"]);
    let tasks = events[0]["tasks"].as_array().unwrap();
    let releases = tasks.iter().find(|t| t["name"] == "releases").unwrap();
    assert_eq!(releases["read_only"], true);
    let deploy = tasks.iter().find(|t| t["name"] == "deploy").unwrap();
    assert_eq!(deploy["read_only"], false);
    assert_eq!(events[0]["environments"][0]["name"], "here");
}
