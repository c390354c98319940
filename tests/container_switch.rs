//! Container releases behind nginx, on real sshd hosts each with its own Docker Engine
//! and nginx: the app's two containers are the slots of the switch (port and port + 1),
//! the new one probed on its own port before nginx's upstream include is replaced and
//! nginx reloaded, the old one drained then stopped. Deploys, rollbacks and a restart
//! under load lose no request; a failing health check or migration leaves the old
//! container serving; `deploy:resume=yes` and `promote` ship the very image, not a
//! rebuild.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use common::app::current;
use common::container::{self, BUSYBOX, ContainerLab, docker, running_releases};
use common::hosts::Host;
use common::http::{self, Seen};

/// `[container]` behind nginx, and nginx provisioned by ferry: the site from the
/// shipped template includes the upstream file, which provisioning first writes
/// naming slot a.
fn behind_nginx_config(config: &str, extra: &str) -> String {
    let config = config.replace(
        "health = \"/index.html\"\n",
        &format!("health = \"/index.html\"\nswitch = \"upstream\"\ndrain = 1\n{extra}"),
    );
    let (base, envs) = config.split_at(config.find("[environments.").unwrap());
    format!("{base}{PROVISION}\n{envs}")
}

const PROVISION: &str = r#"[provision]
services = ["nginx"]

[provision.layout]
owner = "deploy"

[provision.files."/etc/nginx/sites-available/shop"]
template = "nginx.conf"

[provision.links."/etc/nginx/sites-enabled/shop"]
to = "/etc/nginx/sites-available/shop"
notify = ["nginx"]

[provision.files."/etc/nginx/sites-enabled/default"]
absent = true
notify = ["nginx"]
"#;

/// `n` hosts provisioned with nginx, and the project switching through it.
fn behind_nginx(n: usize, extra: &str) -> ContainerLab {
    let ctr = ContainerLab::start(n);
    let config = std::fs::read_to_string(ctr.dir.join("ferry.toml")).unwrap();
    ctr.write("ferry.toml", &behind_nginx_config(&config, extra));
    ctr.commit("behind nginx");
    ctr.ferry().run(&["lab", "provision"]).success();
    ctr
}

/// What nginx on `addr` answers at /index.html.
fn served(addr: Ipv4Addr) -> String {
    let answer = http::get(addr, "/index.html").expect("nginx answers");
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

/// Sequential GETs through nginx on `addr` until `stop`; what answered is
/// each page.
fn load(addr: Ipv4Addr, stop: Arc<AtomicBool>) -> JoinHandle<Seen> {
    http::load(addr, "/index.html", stop, |body| body)
}

fn loads(ctr: &ContainerLab, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<Seen>> {
    ctr.targets()
        .iter()
        .map(|h| load(h.addr(), stop.clone()))
        .collect()
}

/// Stops the loads; what each saw, none of it a failed request.
fn no_failures(
    ctr: &ContainerLab,
    stop: &Arc<AtomicBool>,
    loads: Vec<JoinHandle<Seen>>,
) -> Vec<Seen> {
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = loads.into_iter().map(|l| l.join().unwrap()).collect();
    for (host, seen) in ctr.targets().iter().zip(&seen) {
        assert!(
            seen.failed.is_empty(),
            "{}: {} of {} requests failed: {:?}",
            host.target(),
            seen.failed.len(),
            seen.ok + seen.failed.len(),
            &seen.failed[..seen.failed.len().min(5)]
        );
    }
    seen
}

/// The slot nginx's upstream names now.
fn read_upstream_slot(host: &Host) -> String {
    let upstream = read(host, "/srv/app/slots/container.conf");
    upstream
        .split_whitespace()
        .nth(3)
        .unwrap_or_default()
        .to_string()
}

fn read(host: &Host, path: &str) -> String {
    std::fs::read_to_string(host.path(path)).unwrap_or_default()
}

/// Deploy+rollback cycles under load: each a new image's container started in the idle
/// slot, probed, nginx moved to it, the old one drained and stopped, and the same back.
const CYCLES: usize = 3;

#[test]
fn the_app_answers_through_nginx_on_two_hosts_and_no_request_fails_over_deploys_and_rollbacks() {
    let ctr = behind_nginx(2, "");
    ctr.ferry().run(&["lab", "deploy"]).success();
    for host in ctr.targets() {
        assert_eq!(served(host.addr()), "version 1\n");
        let v1 = current(host).unwrap();
        assert_eq!(running_releases(host), std::slice::from_ref(&v1));
        // nginx's upstream names the live container's port: slot a was named before
        // the first deploy, so it went to slot b, `port + 1`.
        let upstream = read(host, "/srv/app/slots/container.conf");
        assert!(
            upstream.starts_with(&format!("# ferry: slot b of container, release {v1};")),
            "{upstream}"
        );
        assert!(upstream.contains("server 127.0.0.1:8001 "), "{upstream}");
    }

    let first = current(&ctr.targets()[0]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let running = loads(&ctr, &stop);
    let started = Instant::now();
    for cycle in 2..2 + CYCLES {
        ctr.set_version(&cycle.to_string());
        ctr.commit(&format!("v{cycle}"));
        ctr.ferry().run(&["lab", "deploy"]).success();
        for host in ctr.targets() {
            assert_eq!(
                served(host.addr()),
                format!("version {cycle}\n"),
                "the switch is done when deploy returns"
            );
            // The old container drained and stopped: one runs.
            assert_eq!(running_releases(host), [current(host).unwrap()]);
        }
        // Back to the first release: each one rolled back from is marked failed. The
        // last time by name.
        if cycle == 1 + CYCLES {
            let to = format!("rollback:to={first}");
            ctr.ferry().run(&["lab", &to]).success();
        } else {
            ctr.ferry().run(&["lab", "rollback"]).success();
        }
        for host in ctr.targets() {
            assert_eq!(served(host.addr()), "version 1\n");
            assert_eq!(current(host).as_ref(), Some(&first));
            assert_eq!(running_releases(host), [current(host).unwrap()]);
        }
    }
    // `restart` is the same move with the live release: a fresh container, no gap.
    let before: Vec<String> = ctr.targets().iter().map(read_upstream_slot).collect();
    ctr.ferry().run(&["lab", "restart"]).success();
    for (host, slot) in ctr.targets().iter().zip(&before) {
        assert_ne!(
            &read_upstream_slot(host),
            slot,
            "restart moved to the other slot"
        );
        assert_eq!(served(host.addr()), "version 1\n");
    }
    let elapsed = started.elapsed();
    let seen = no_failures(&ctr, &stop, running);
    for (host, seen) in ctr.targets().iter().zip(&seen) {
        let pages: BTreeSet<&String> = seen.answers.iter().collect();
        for version in 1..2 + CYCLES {
            assert!(
                pages.contains(&format!("version {version}\n")),
                "{}: version {version} never answered in {elapsed:?}: {:?}",
                host.target(),
                seen.answers
            );
        }
        assert!(seen.answers.len() >= 2 * CYCLES, "{:?}", seen.answers);
    }
    // `run` and `status` find the live container in its slot.
    let host = &ctr.targets()[0];
    let ran = ctr
        .ferry()
        .run(&["lab", "run", "--", BUSYBOX, "cat", "/app/www/index.html"]);
    ran.success();
    assert_eq!(ran.lines_of(&host.target()), [served(host.addr()).trim()]);
}

#[test]
fn a_failing_health_check_or_migration_leaves_the_old_container_serving_through_nginx() {
    let ctr = behind_nginx(1, "health_deadline = 3\n");
    let host = &ctr.targets()[0];
    ctr.ferry().run(&["lab", "deploy"]).success();
    let v1 = current(host).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let running = loads(&ctr, &stop);
    // A container that runs but never answers its health check (its page is gone).
    std::fs::remove_file(ctr.dir.join("app/www/index.html")).unwrap();
    ctr.write("app/www/other.html", "version 2\n");
    ctr.commit("v2 without its health page");
    let ran = ctr.ferry().run(&["lab", "deploy"]);
    ran.code(1);
    let said = format!("{}{}", ran.stdout, ran.stderr);
    assert!(said.contains("container slot a"), "{said}");
    assert!(said.contains("HTTP 404"), "{said}");
    assert_eq!(current(host).as_deref(), Some(v1.as_str()));
    assert_eq!(running_releases(host), std::slice::from_ref(&v1));
    assert_eq!(served(host.addr()), "version 1\n");
    let failed = common::app::releases(host).into_iter().max().unwrap();
    assert_ne!(failed, v1);
    let record = read(
        host,
        &format!("/srv/app/releases/{failed}/.ferry/release.json"),
    );
    assert!(record.contains("\"failed\""), "{record}");
    let upstream = read(host, "/srv/app/slots/container.conf");
    assert!(
        upstream.contains(&format!("slot b of container, release {v1};")),
        "{upstream}"
    );

    // A migration that fails: the new container never starts, the old one serves.
    ctr.set_version("3");
    ctr.write(
        "app/migrate.sh",
        &format!("{BUSYBOX} echo 'no such table: lists_item' >&2\nexit 3\n"),
    );
    ctr.commit("v3 with a broken migration");
    let ran = ctr.ferry().run(&["lab", "deploy"]);
    ran.code(1);
    let said = format!("{}{}", ran.stdout, ran.stderr);
    assert!(said.contains("no such table: lists_item"), "{said}");
    assert_eq!(current(host).as_deref(), Some(v1.as_str()));
    assert_eq!(running_releases(host), std::slice::from_ref(&v1));
    assert_eq!(served(host.addr()), "version 1\n");

    let seen = no_failures(&ctr, &stop, running);
    assert_eq!(seen[0].answers, ["version 1\n"]);
}

#[test]
fn resume_finishes_a_container_deploy_with_the_image_it_began_with() {
    let ctr = behind_nginx(2, "");
    ctr.ferry().run(&["lab", "deploy"]).success();
    let v1 = current(&ctr.targets()[0]).unwrap();
    // The migration fails while the host says the database is locked.
    ctr.set_version("2");
    ctr.write(
        "app/migrate.sh",
        &format!(
            "if {BUSYBOX} grep -q locked /data/db.sqlite3; then {BUSYBOX} echo 'database is locked' >&2; exit 1; fi\n\
             {BUSYBOX} echo 'migrated 2' >>/data/db.sqlite3\n"
        ),
    );
    ctr.commit("v2");
    let db = ctr.targets()[0].path("/srv/app/shared/db.sqlite3");
    std::fs::write(&db, "migrated 1\nlocked\n").unwrap();
    let ran = ctr.ferry().run(&["lab", "deploy"]);
    ran.code(1);
    assert!(ran.stdout.contains("database is locked"), "{}", ran.stdout);
    let pending = read(&ctr.targets()[0], "/srv/app/.ferry/deploy.json");
    for host in ctr.targets() {
        assert_eq!(current(host).as_deref(), Some(v1.as_str()));
        assert_eq!(served(host.addr()), "version 1\n");
    }
    // A newer commit, and no image on the builder: resume ships what the deploy began
    // with, from a host that holds it, not a build of the branch.
    ctr.set_version("3");
    ctr.commit("v3");
    let builder = ctr.builder();
    let images = docker(builder, "image ls -q shop");
    for id in images.split_whitespace().collect::<BTreeSet<_>>() {
        docker(builder, &format!("rmi -f {id}"));
    }
    std::fs::write(&db, "migrated 1\n").unwrap();
    let ran = ctr.ferry().run(&["lab", "deploy:resume=yes"]);
    ran.success();
    assert!(
        ran.stdout.contains("==> deploy/fetch-image (1 host)"),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("version 3"), "{}", ran.stdout);
    let v2 = current(&ctr.targets()[0]).unwrap();
    assert!(
        pending.contains(&format!("\"release\":\"{v2}\"")),
        "{pending}"
    );
    for host in ctr.targets() {
        assert_eq!(current(host).as_deref(), Some(v2.as_str()));
        assert_eq!(served(host.addr()), "version 2\n");
        assert_eq!(running_releases(host), std::slice::from_ref(&v2));
    }
    assert_eq!(
        std::fs::read_to_string(&db).unwrap(),
        "migrated 1\nmigrated 2\n"
    );
}

#[test]
fn promote_ships_the_image_staging_runs_and_production_runs_that_very_id() {
    let ctr = ContainerLab::start(2);
    let [staging, production] = ctr.targets() else {
        panic!("two hosts")
    };
    let config = std::fs::read_to_string(ctr.dir.join("ferry.toml")).unwrap();
    let config = behind_nginx_config(&config, "");
    let base = config.split("[environments.lab]").next().unwrap();
    let env = |name: &str, host: &Host| {
        let target = host.target();
        format!("[environments.{name}]\nhosts = [\"{target}\"]\nroles.app = [\"{target}\"]\n\n")
    };
    ctr.write(
        "ferry.toml",
        &format!(
            "{}{}{}",
            base,
            env("staging", staging),
            env("production", production)
        ),
    );
    ctr.commit("staging and production");
    for env in ["staging", "production"] {
        ctr.ferry().run(&[env, "provision"]).success();
    }
    ctr.ferry().run(&["staging", "deploy"]).success();
    let image = read(staging, "/srv/app/current/IMAGE");
    assert!(image.starts_with("sha256:"), "{image}");
    // Newer code that nobody deployed, and no image left on the builder: what
    // production gets comes from staging's host.
    ctr.set_version("2");
    ctr.commit("v2, not deployed");
    let builder = ctr.builder();
    docker(builder, &format!("rmi -f {}", image.trim()));

    let ran = ctr.ferry().run(&["promote", "staging", "production"]);
    ran.success();
    assert!(
        ran.stdout.contains("==> staging/fetch-image (1 host)"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("2 of 2 layers sent"), "{}", ran.stdout);
    assert_eq!(read(production, "/srv/app/current/IMAGE"), image);
    assert_eq!(served(production.addr()), "version 1\n");
    // The container production runs is of that very image.
    let live = current(production).unwrap();
    assert_eq!(running_releases(production), [live]);
    let ids = docker(production, "ps --format {{.Image}}");
    let ran_id = docker(
        production,
        &format!("image inspect -f {{{{.Id}}}} {}", ids.trim()),
    );
    assert_eq!(ran_id.trim(), image.trim());
    assert!(container::running(builder).is_empty());
}
