//! `ferry <env> provision` on real sshd hosts, with real supervisor and
//! nginx on them: a bare host brought to serving the example app, a second
//! run that changes nothing, `--check` and `--diff`, and failures that name
//! the host and what failed while the other hosts carry on.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::ferry::{Ferry, Ran, lab_config, write_config};
use common::hosts::{Host, Lab};
use common::{http, release};

const SECRET: &str = "s3cret-key-9f2c";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("example")
}

fn deploy_uid() -> u32 {
    nix::unistd::User::from_name("deploy")
        .unwrap()
        .expect("user deploy")
        .uid
        .as_raw()
}

fn read(host: &Host, path: &str) -> String {
    std::fs::read_to_string(host.path(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Lines the run printed for `host`, keeping only resource results.
fn results(ran: &Ran, host: &Host, status: &str) -> Vec<String> {
    ran.lines_of(&host.target())
        .into_iter()
        .filter(|l| l.starts_with(status))
        .collect()
}

fn failure(ran: &Ran, host: &Host) -> String {
    ran.failure(&host.target())
}

/// The pids that must not change when nothing is to be restarted.
fn daemons(host: &Host) -> (String, String, String) {
    (
        read(host, "/run/nginx.pid"),
        read(host, "/run/supervisord.pid"),
        // The first deploy moved nginx from the seeded slot a to slot b.
        host.exec_ok("supervisorctl pid example-web-b"),
    )
}

#[test]
fn the_example_app_is_served_after_provision_and_deploy_and_provision_again_changes_nothing() {
    let lab = Lab::start(2);
    let targets: Vec<String> = lab.hosts().iter().map(Host::target).collect();
    let repo = release::example_repo(&lab);
    let config = repo.join("ferry.toml");
    // The hosts share one database, as app servers share PostgreSQL.
    std::fs::create_dir_all("/var/cache/ferry-tests/db").unwrap();
    let db = tempfile::tempdir_in("/var/cache/ferry-tests/db").unwrap();
    std::process::Command::new("chown")
        .arg("deploy")
        .arg(db.path())
        .status()
        .unwrap();
    let database = format!("database={}", db.path().join("db.sqlite3").display());
    let ferry = |args: &[&str]| {
        let mut ferry = Ferry::lab(&lab);
        ferry
            .env("EXAMPLE_STAGING_HOST", lab.host(0).target())
            .env("EXAMPLE_SECRET_KEY", SECRET);
        let config = config.to_str().unwrap();
        let hosts = targets.join(",");
        let sets = [
            "--set",
            "wheels=/var/cache/ferry-tests/wheels",
            "--set",
            &database,
        ];
        ferry.run(
            &[
                &["--config", config, "staging"],
                args,
                &["-H", &hosts],
                &sets[..],
            ]
            .concat(),
        )
    };

    let ran = ferry(&["provision"]);
    ran.success();
    assert!(!ran.stdout.contains(SECRET), "{}", ran.stdout);
    for host in lab.hosts() {
        assert_eq!(ran.recap(&host.target()), [0, 1, 0, 0, 0]);
        let changed = results(&ran, host, "changed");
        for expected in [
            "changed      directory /srv/example: created",
            "changed      file /etc/nginx/sites-enabled/default: removed",
            "changed      service supervisor: started",
            "changed      service nginx: started",
        ] {
            assert!(
                changed.iter().any(|l| l == expected),
                "{expected}\n{}",
                ran.stdout
            );
        }
        assert_eq!(
            std::fs::metadata(host.path("/srv/example/releases"))
                .unwrap()
                .uid(),
            deploy_uid()
        );
        // Two slots, each on its own port, each running its own release,
        // through with-env, which gives it the .env's variables.
        let programs = read(host, "/etc/supervisor/conf.d/example-web.conf");
        for (slot, port) in [("a", 8001), ("b", 8002)] {
            let program = format!(
                "[program:example-web-{slot}]\ncommand=/srv/example/.ferry/with-env /srv/example/shared/.env /srv/example/slots/web-{slot}/venv/bin/gunicorn --bind 127.0.0.1:{port} --workers 2 --chdir /srv/example/slots/web-{slot} app:application\ndirectory=/srv/example/slots/web-{slot}\n"
            );
            assert!(programs.contains(&program), "{programs}");
        }
        // nginx includes the upstream the deploys switch; it starts on slot a.
        assert!(
            read(host, "/etc/nginx/sites-available/example")
                .contains("include /srv/example/slots/web.conf;")
        );
        assert!(
            read(host, "/srv/example/slots/web.conf")
                .contains("upstream example_web {\n    server 127.0.0.1:8001 fail_timeout=0;\n}")
        );
        assert!(!host.path("/etc/nginx/sites-enabled/default").exists());
        assert_eq!(
            std::fs::read_link(host.path("/etc/nginx/sites-enabled/example")).unwrap(),
            Path::new("/etc/nginx/sites-available/example")
        );
    }

    let deployed = ferry(&["deploy"]);
    deployed.success();
    for host in lab.hosts() {
        let env = host.path("/srv/example/shared/.env");
        let meta = std::fs::metadata(&env).unwrap();
        assert_eq!(
            (meta.uid(), meta.permissions().mode() & 0o777),
            (deploy_uid(), 0o600)
        );
        let env = read(host, "/srv/example/shared/.env");
        assert!(
            env.contains("GREETING=Hello\n") && env.contains("SECRET_KEY="),
            "{env}"
        );
    }
    let style = std::fs::read_to_string(example_dir().join("static/style.css")).unwrap();
    for host in lab.hosts() {
        let home = http::get_ok(host.addr(), "/", Duration::from_secs(10));
        assert!(home.body.starts_with("Hello from example"), "{home:?}");
        let css = http::get_ok(host.addr(), "/static/style.css", Duration::from_secs(1));
        assert_eq!(css.body, style, "nginx serves static files from current/");
    }

    let before: Vec<_> = lab.hosts().iter().map(daemons).collect();
    let again = ferry(&["provision"]);
    again.success();
    for (host, before) in lab.hosts().iter().zip(before) {
        assert_eq!(
            again.recap(&host.target()),
            [1, 0, 0, 0, 0],
            "{}",
            again.stdout
        );
        assert!(
            results(&again, host, "changed").is_empty(),
            "{}",
            again.stdout
        );
        assert!(
            results(&again, host, "ran").is_empty(),
            "no handler runs: {}",
            again.stdout
        );
        assert_eq!(
            daemons(host),
            before,
            "nothing restarted on {}",
            host.target()
        );
        let home = http::get_ok(host.addr(), "/", Duration::from_secs(1));
        assert!(home.body.starts_with("Hello from example"), "{home:?}");
    }
}

const CHECKED: &str = r#"[secrets]
SECRET_KEY = "${TEST_SECRET_KEY}"

[vars]
debug = "0"

[services.web]
command = "python3 -m http.server 8000"
dir = "{{ deploy_to }}/current"
user = "deploy"

[provision]
services = ["supervisor"]

[provision.files."/etc/supervisor/conf.d/app-web.conf"]
template = "supervisor.conf"
service = "web"

[provision.files."{{ deploy_to }}/shared/.env"]
content = "SECRET_KEY={{ secrets.SECRET_KEY }}\nDEBUG={{ debug }}\n"
owner = "deploy"
mode = "0600"

[provision.files."/etc/nginx/sites-enabled/default"]
absent = true
"#;

#[test]
fn check_lists_what_would_change_and_changes_nothing_and_diff_masks_secrets() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    write_config(lab.dir(), &lab_config(&lab, CHECKED));
    let ferry = |secret: &str, args: &[&str]| {
        Ferry::lab(&lab)
            .env("TEST_SECRET_KEY", secret)
            .run(&[&["lab", "provision"], args].concat())
    };

    let ran = ferry(SECRET, &["--check", "--diff"]);
    ran.success();
    assert_eq!(ran.recap(&host.target()), [0, 1, 0, 0, 0]);
    assert!(!ran.stdout.contains(SECRET), "{}", ran.stdout);
    insta::assert_snapshot!(ran.lines_of(&host.target()).join("\n"));
    // As it was: nothing created, removed or started.
    assert!(!host.path("/srv/app").exists());
    assert!(!host.path("/etc/supervisor/conf.d/app-web.conf").exists());
    assert!(host.path("/etc/nginx/sites-enabled/default").exists());
    assert!(!host.path("/run/supervisord.pid").exists());

    ferry(SECRET, &[]).success();
    assert!(read(host, "/srv/app/shared/.env").contains(SECRET));

    // A rotated secret and a changed value: both sides of the diff masked.
    let rotated = "r0tated-key-77a1";
    let ran = ferry(rotated, &["--check", "--diff", "--set", "debug=1"]);
    ran.success();
    let lines = ran.lines_of(&host.target());
    let diff: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .skip_while(|l| !l.starts_with("--- /srv/app/shared/.env"))
        .collect();
    assert_eq!(
        diff,
        [
            "--- /srv/app/shared/.env (on the host)",
            "+++ /srv/app/shared/.env (ferry)",
            "@@ -1,2 +1,2 @@",
            "-SECRET_KEY=********",
            "-DEBUG=0",
            "+SECRET_KEY=********",
            "+DEBUG=1",
        ],
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains(SECRET) && !ran.stdout.contains(rotated));
    assert!(
        read(host, "/srv/app/shared/.env").contains(SECRET),
        "--check changed the file"
    );
    assert_eq!(ran.recap(&host.target()), [0, 1, 0, 0, 0]);
}

#[test]
fn a_template_error_and_a_failing_package_name_host_and_cause_and_the_others_go_on() {
    let lab = Lab::start(3);
    let [web, db, plain] = [lab.host(0), lab.host(1), lab.host(2)];
    let extra = r#"[provision]
[provision.role.db]
packages = ["ferry-test-no-such-package"]

[provision.files."/srv/site.conf"]
roles = ["web"]
source = "templates/site.conf"
"#;
    let config = format!(
        "{}roles.web = [\"{}\"]\nroles.db = [\"{}\"]\n",
        lab_config(&lab, extra),
        web.target(),
        db.target()
    );
    write_config(lab.dir(), &config);
    std::fs::create_dir(lab.dir().join("templates")).unwrap();
    std::fs::write(
        lab.dir().join("templates/site.conf"),
        "# {{ app }}\nserver {\n    proxy_pass http://{{ upstream_addr }};\n}\n",
    )
    .unwrap();

    let ran = Ferry::lab(&lab).run(&["lab", "provision"]);
    ran.code(1);
    let result = |host: &Host| failure(&ran, host);
    assert_eq!(
        result(web),
        "file /srv/site.conf: template templates/site.conf, line 3: `upstream_addr` is not defined"
    );
    assert_eq!(
        result(db),
        "package ferry-test-no-such-package: E: Unable to locate package ferry-test-no-such-package"
    );
    assert_eq!(ran.recap(&web.target()), [0, 0, 1, 0, 0]);
    assert_eq!(ran.recap(&db.target()), [0, 0, 1, 0, 0]);
    assert_eq!(ran.recap(&plain.target()), [0, 1, 0, 0, 0]);
    assert!(plain.path("/srv/app/releases").is_dir());
    assert!(
        !web.path("/srv/app").exists(),
        "nothing ran on the host whose template failed"
    );
    assert!(
        !db.path("/srv/app").exists(),
        "packages come first and failed"
    );
}

#[test]
fn sudo_asking_for_a_password_is_a_clear_error_and_become_false_needs_none() {
    let lab = Lab::start(2);
    let [locked, open] = [lab.host(0), lab.host(1)];
    // Only on this host, deploy loses its passwordless sudo.
    locked.exec_ok("touch /tmp/no-sudo && mount --bind /tmp/no-sudo /etc/sudoers.d/ferry-tests");
    write_config(lab.dir(), &lab_config(&lab, "[provision]\n"));
    let ran = Ferry::lab(&lab).run(&["lab", "provision"]);
    ran.code(1);
    assert_eq!(
        failure(&ran, locked),
        "cannot make changes as root: `sudo -n` needs a password here (sudo: a password is required)"
    );
    assert!(
        ran.stdout.contains("NOPASSWD"),
        "the hint says what to do: {}",
        ran.stdout
    );
    assert_eq!(ran.recap(&open.target()), [0, 1, 0, 0, 0]);

    // deploy owns /srv: the layout needs no root.
    write_config(
        lab.dir(),
        &lab_config(&lab, "[provision]\nbecome = false\n"),
    );
    let ran = Ferry::lab(&lab).run(&["lab", "provision"]);
    ran.success();
    assert_eq!(ran.recap(&locked.target()), [0, 1, 0, 0, 0]);
    assert_eq!(
        std::fs::metadata(locked.path("/srv/app/shared"))
            .unwrap()
            .uid(),
        deploy_uid()
    );
}

/// Removes the test's user and group from the machine (hosts share /etc/passwd).
struct Account(String);

impl Drop for Account {
    fn drop(&mut self) {
        let _ = std::process::Command::new("userdel").arg(&self.0).status();
        let _ = std::process::Command::new("groupdel")
            .arg(format!("{}g", self.0))
            .status();
    }
}

#[test]
fn users_groups_directories_and_links_are_created_once() {
    let lab = Lab::start(1);
    let host = lab.host(0);
    let account = Account(format!("ferryt{}", std::process::id()));
    let (user, group) = (&account.0, format!("{}g", account.0));
    let extra = format!(
        r#"[provision]
groups = ["{group}"]

[provision.users.{user}]
system = true
shell = "/usr/sbin/nologin"
groups = ["{group}"]

[provision.directories."/srv/data"]
owner = "{user}"
group = "{group}"
mode = "2770"

[provision.links."/srv/data/current"]
to = "{{{{ deploy_to }}}}/current"
"#
    );
    write_config(lab.dir(), &lab_config(&lab, &extra));
    let ran = Ferry::lab(&lab).run(&["lab", "provision"]);
    ran.success();
    let changed = results(&ran, host, "changed");
    for expected in [
        format!("changed      group {group}: created"),
        format!("changed      user {user}: created"),
        "changed      directory /srv/data: created".into(),
        "changed      link /srv/data/current -> /srv/app/current: created".into(),
    ] {
        assert!(changed.contains(&expected), "{expected}\n{}", ran.stdout);
    }
    let ids = host.exec_ok(&format!(
        "id -nG {user}; getent passwd {user} | cut -d: -f7"
    ));
    assert_eq!(ids, format!("{user} {group}\n/usr/sbin/nologin\n"));
    let data = std::fs::metadata(host.path("/srv/data")).unwrap();
    assert_eq!(data.permissions().mode() & 0o7777, 0o2770);

    // A drifted mode is put back, and only that is reported.
    host.exec_ok("chmod 00750 /srv/data");
    let ran = Ferry::lab(&lab).run(&["lab", "provision"]);
    ran.success();
    assert_eq!(
        results(&ran, host, "changed"),
        ["changed      directory /srv/data: mode 750 -> 2770"]
    );
    let ran = Ferry::lab(&lab).run(&["lab", "provision"]);
    assert_eq!(ran.recap(&host.target()), [1, 0, 0, 0, 0], "{}", ran.stdout);
}
