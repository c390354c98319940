//! Vars per host and per role, on two real SSH hosts: each host's step
//! writes the values it sees (as `FERRY_VAR_*` and through a template) to a
//! file, and `ferry <env> config` says where each host's value comes from.

mod common;

use common::ferry::{Ferry, write_config};
use common::hosts::Lab;

fn config(lab: &Lab) -> String {
    let (a, b) = (lab.host(0).target(), lab.host(1).target());
    format!(
        r#"app = "app"
connect_timeout = 3

[vars]
region = "nowhere"
size = "small"
tier = "top"

[tasks.where]
description = "Write what this host sees"
steps = [
    "printf '%s %s %s\n' \"$FERRY_VAR_REGION\" \"$FERRY_VAR_SIZE\" \"$FERRY_VAR_TIER\" >/srv/vars",
    "printf '%s\n' {{{{ region }}}}-{{{{ size }}}} >/srv/rendered",
]

[environments.lab]
hosts = ["{a}", "{b}"]
roles.web = ["{a}", "{b}"]
roles.worker = ["{b}"]
vars = {{ size = "medium" }}

[environments.lab.role_vars.worker]
size = "large"

[environments.lab.host_vars."{a}"]
region = "eu"

[environments.lab.host_vars."{b}"]
region = "us"
"#
    )
}

#[test]
fn each_host_sees_its_own_and_its_roles_vars() {
    let lab = Lab::start(2);
    write_config(lab.dir(), &config(&lab));
    Ferry::lab(&lab).run(&["lab", "where"]).success();
    let read = |i: usize, path: &str| std::fs::read_to_string(lab.host(i).path(path)).unwrap();
    assert_eq!(
        read(0, "/srv/vars"),
        "eu medium top\n",
        "host, environment, top level"
    );
    assert_eq!(
        read(1, "/srv/vars"),
        "us large top\n",
        "host, role, top level"
    );
    assert_eq!(read(0, "/srv/rendered"), "eu-medium\n");
    assert_eq!(read(1, "/srv/rendered"), "us-large\n");

    Ferry::lab(&lab)
        .run(&["lab", "where", "--set", "region=cli"])
        .success();
    assert_eq!(
        read(0, "/srv/vars"),
        "cli medium top\n",
        "--set is over host_vars"
    );
    assert_eq!(read(1, "/srv/vars"), "cli large top\n");

    let shown = Ferry::lab(&lab).run(&["lab", "config"]);
    shown.success();
    let row = |key: &str| {
        shown
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("no `{key}` in:\n{}", shown.stdout))
            .to_string()
    };
    let b = lab.host(1).target();
    assert!(
        row(&format!("vars.region @ {b}")).contains("us"),
        "{}",
        shown.stdout
    );
    assert!(
        row(&format!("vars.region @ {b}")).contains("host_vars"),
        "{}",
        shown.stdout
    );
    assert!(
        row(&format!("vars.size @ {b}")).contains("role_vars.worker"),
        "{}",
        shown.stdout
    );
}
