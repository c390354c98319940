//! Operating container projects on real sshd hosts with their own Docker Engines:
//! provisioning the engine, `check` telling a host without one, `deploy --check`
//! previewing the layers a deploy would send.

mod common;

use std::fs::File;

use common::container::{ContainerLab, Registry, docker, running, serving};
use common::ferry::{Ferry, lab_config, write_config};
use common::hosts::Lab;
use nix::fcntl::{Flock, FlockArg};

/// Hosts share the machine's /etc/group: while a test changes the deploy user's groups,
/// it holds this lock, and it takes the user out of `docker` again when it ends.
struct DockerGroup(#[allow(dead_code)] Flock<File>);

impl DockerGroup {
    fn without_deploy() -> DockerGroup {
        std::fs::create_dir_all("/var/tmp/ferry-tests").unwrap();
        let file = File::create("/var/tmp/ferry-tests/docker-group.lock").unwrap();
        let lock = Flock::lock(file, FlockArg::LockExclusive).expect("flock");
        leave_docker();
        DockerGroup(lock)
    }
}

impl Drop for DockerGroup {
    fn drop(&mut self) {
        leave_docker();
    }
}

fn leave_docker() {
    let _ = std::process::Command::new("gpasswd")
        .args(["-d", "deploy", "docker"])
        .output();
}

fn groups_of_deploy(host: &common::hosts::Host) -> Vec<String> {
    let out = host.exec_ok("id -nG deploy");
    out.split_whitespace().map(str::to_string).collect()
}

#[test]
fn provision_of_a_container_project_sets_up_the_engine_and_then_changes_nothing() {
    let _group = DockerGroup::without_deploy();
    let ctr = ContainerLab::start(1);
    let host = &ctr.targets()[0];
    let target = host.target();
    // The project has [container] and no [provision]: the engine is all there is to set up.
    let ran = ctr.ferry().run(&["lab", "provision", "--check"]);
    ran.success();
    let lines = ran.lines_of(&target);
    for expected in [
        "ok           package docker.io",
        "would change the deploy user in group docker: deploy joined docker",
        "ok           service docker",
        "would change directory /srv/app: created",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected}\n{}",
            ran.stdout
        );
    }
    assert!(!groups_of_deploy(host).contains(&"docker".into()));

    let ran = ctr.ferry().run(&["lab", "provision"]);
    ran.success();
    let changed: Vec<String> = ran
        .lines_of(&target)
        .into_iter()
        .filter(|l| l.starts_with("changed"))
        .collect();
    // The host has Debian's engine, running: only the group, and the deploy layout.
    assert_eq!(
        changed,
        [
            "changed      the deploy user in group docker: deploy joined docker",
            "changed      directory /srv/app: created",
            "changed      directory /srv/app/releases: created",
            "changed      directory /srv/app/shared: created",
        ],
        "{}",
        ran.stdout
    );
    assert!(groups_of_deploy(host).contains(&"docker".into()));
    // The engine the host already ran is the one that still runs.
    assert!(host.exec("docker info >/dev/null 2>&1").status.success());

    let ran = ctr.ferry().run(&["lab", "provision"]);
    ran.success();
    assert_eq!(ran.recap(&target), [1, 0, 0, 0, 0], "{}", ran.stdout);
}

#[test]
fn check_names_a_host_whose_engine_is_missing_or_closed_to_the_deploy_user() {
    let lab = Lab::start(2);
    let (up, down) = (lab.host(0), lab.host(1));
    up.start_docker();
    write_config(
        lab.dir(),
        &lab_config(&lab, "[container]\nimage = \"shop\"\nport = 8000\n"),
    );
    let ran = Ferry::lab(&lab).run(&["lab", "check"]);
    assert_ne!(ran.code, 0, "{}", ran.stdout);
    let said = ran.lines_of(&up.target()).join("\n");
    assert!(
        said.contains("docker: Docker Engine 20.10") && said.contains(", usable by deploy"),
        "{said}"
    );
    assert_eq!(ran.recap(&up.target()), [1, 0, 0, 0, 0], "{}", ran.stdout);
    // No engine runs on the other host: it is named, with what docker said and a hint.
    let failure = ran.failure(&down.target());
    assert!(
        failure
            .starts_with("the Docker Engine does not answer: Cannot connect to the Docker daemon"),
        "{failure}"
    );
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        all.contains("`ferry lab provision` enables and starts it"),
        "{all}"
    );

    // The engine runs, but its socket is root's alone.
    up.exec_ok("chgrp root /run/docker.sock && chmod 0660 /run/docker.sock");
    let ran = Ferry::lab(&lab).run(&["lab", "check", "-H", &up.target()]);
    assert_ne!(ran.code, 0, "{}", ran.stdout);
    let failure = ran.failure(&up.target());
    assert!(
        failure.starts_with("the SSH user may not use the Docker Engine:")
            && failure.contains("permission denied"),
        "{failure}"
    );
}

#[test]
fn deploy_check_previews_one_small_layer_for_a_one_line_change_and_changes_nothing() {
    let ctr = ContainerLab::start(1);
    let host = &ctr.targets()[0];
    let target = host.target();
    ctr.ferry().run(&["lab", "deploy"]).success();
    let v1 = common::app::current(host).unwrap();
    ctr.set_version("2");
    ctr.commit("v2");
    let images = docker(host, "image ls -a -q --no-trunc");
    let releases = common::app::releases(host);
    let live = running(host);
    assert_eq!(live.len(), 1, "{live:?}");

    let ran = ctr.ferry().run(&["lab", "deploy", "--check"]);
    ran.success();
    let lines = ran.lines_of(&target);
    let layers = lines
        .iter()
        .find(|l| l.starts_with("would send 1 of 2 layers of shop:"))
        .unwrap_or_else(|| panic!("no layer line:\n{}", ran.stdout));
    // The app's layer alone: a few KiB, not busybox's megabytes.
    let compressed = layers.split(": ").nth(1).unwrap();
    assert!(compressed.ends_with("KiB of layers)"), "{layers}");
    let kib: f64 = compressed
        .split(" KiB compressed")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(kib < 10.0, "{layers}");
    // The containers are the slots: the idle one starts, the live one stops.
    let idle = if live[0] == "shop-app-a" {
        "shop-app-b"
    } else {
        "shop-app-a"
    };
    let wanted = format!(
        "would start {idle}, probe it, make it the live one, then stop {}",
        live[0]
    );
    assert!(lines.contains(&wanted), "{wanted}\n{}", ran.stdout);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("would migrate in a one-off container of shop:")),
        "{}",
        ran.stdout
    );
    // What the helpers are called with is not what a person reads.
    assert!(!ran.stdout.contains("ferry_ctr"), "{}", ran.stdout);

    // Nothing changed on the host: the same release, container, images.
    assert_eq!(common::app::current(host).as_deref(), Some(v1.as_str()));
    assert_eq!(common::app::releases(host), releases);
    assert_eq!(running(host), live);
    assert_eq!(docker(host, "image ls -a -q --no-trunc"), images);
    assert_eq!(
        serving(host.addr(), "/index.html").unwrap().1,
        "version 1\n"
    );
}

/// The project in `examples/container`, as its ferry.toml tells a user to set it up
/// (busybox copied in and committed), with an environment of the Lab's hosts.
fn example_project(ctr: &ContainerLab) -> std::path::PathBuf {
    let dir = ctr.lab.dir().join("example");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/container");
    common::container::run(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&example)
            .arg(&dir),
    );
    std::fs::copy(common::container::BUSYBOX, dir.join("busybox")).unwrap();
    let targets: Vec<String> = ctr
        .targets()
        .iter()
        .map(|h| format!("\"{}\"", h.target()))
        .collect();
    let mut config = std::fs::read_to_string(dir.join("ferry.toml")).unwrap();
    config.push_str(&format!(
        "connect_timeout = 3\n\n[environments.lab]\nhosts = [{}]\n",
        targets.join(", ")
    ));
    std::fs::write(dir.join("ferry.toml"), config).unwrap();
    let app = common::app::App::at(&dir);
    app.git(&["init", "--quiet", "--initial-branch=main"]);
    app.commit("the container example");
    dir
}

/// `ferry` in `dir`, as `ContainerLab::ferry` runs it in the Lab's own project.
fn ferry_in(ctr: &ContainerLab, dir: &std::path::Path) -> Ferry {
    let mut ferry = Ferry::new(dir);
    ferry.env("FERRY_SSH_CONFIG", ctr.lab.ssh_config());
    let socket = format!("unix://{}", ctr.builder().docker_socket().display());
    ferry.env("DOCKER_HOST", socket).env("DOCKER_BUILDKIT", "0");
    ferry
}

fn get(host: &common::hosts::Host, path: &str) -> String {
    serving(host.addr(), path)
        .unwrap_or_else(|| panic!("nothing serves {path}"))
        .1
}

#[test]
fn the_container_example_deploys_and_its_data_outlives_a_release() {
    let ctr = ContainerLab::start(1);
    let host = &ctr.targets()[0];
    let dir = example_project(&ctr);
    ferry_in(&ctr, &dir).run(&["lab", "deploy"]).success();
    assert!(get(host, "/index.html").contains("The container example"));
    assert_eq!(get(host, "/greeting.txt"), "hello from lab\n");
    assert_eq!(get(host, "/cgi-bin/visits"), "1\n");
    assert_eq!(get(host, "/cgi-bin/visits"), "2\n");
    // The data directory and the .env are on the host, outside the container.
    let shared =
        |path: &str| std::fs::read_to_string(host.path(&format!("/srv/counter/shared/{path}")));
    assert_eq!(shared("data/visits").unwrap(), "2\n");
    assert_eq!(shared("data/migrations.log").unwrap(), "migrated 1\n");
    assert!(shared(".env").unwrap().contains("SECRET_KEY="));

    // A one-line change: a new release, the same data.
    std::fs::write(dir.join("app/www/version.txt"), "2\n").unwrap();
    common::app::App::at(&dir).commit("version 2");
    ferry_in(&ctr, &dir).run(&["lab", "deploy"]).success();
    assert_eq!(get(host, "/version.txt"), "2\n");
    assert_eq!(get(host, "/cgi-bin/visits"), "3\n");
    assert_eq!(
        shared("data/migrations.log").unwrap(),
        "migrated 1\nmigrated 2\n"
    );
}

#[test]
fn with_a_registry_the_image_is_pushed_once_and_pulled_by_digest_with_a_login_kept_off_the_hosts() {
    let ctr = ContainerLab::start(2);
    let password = "pw-s3cret-for-the-registry";
    let registry = Registry::start(&ctr, ctr.builder(), Some(("ci", password)));
    let config = std::fs::read_to_string(ctr.dir.join("ferry.toml")).unwrap();
    let config = config.replacen(
        "[container]\n",
        &format!(
            "[secrets]\nREGISTRY_PASSWORD = \"${{TEST_REGISTRY_PASSWORD}}\"\n\n[container]\n\
             registry = \"{}/team/shop\"\nregistry_user = \"ci\"\n\
             registry_password = \"REGISTRY_PASSWORD\"\n",
            registry.address
        ),
        1,
    );
    ctr.write("ferry.toml", &config);
    ctr.commit("through the registry");
    let deploy = || {
        let mut ferry = ctr.ferry();
        ferry.env("TEST_REGISTRY_PASSWORD", password);
        ferry.run(&["lab", "deploy"])
    };
    let ran = deploy();
    ran.success();
    let repository = format!("{}/team/shop", registry.address);
    for host in ctr.targets() {
        let said = ran.stdout.lines().find(|l| {
            l.starts_with(&host.target()) && l.contains(&format!("pulled {repository}@sha256:"))
        });
        assert!(said.is_some(), "{}", ran.stdout);
        assert_eq!(
            serving(host.addr(), "/index.html").unwrap().1,
            "version 1\n"
        );
        // The engine knows where the image came from; the login left nothing behind.
        let digests = docker(
            host,
            "image inspect shop:$(readlink /srv/app/current | xargs basename) --format {{.RepoDigests}}",
        );
        assert!(digests.contains(&repository), "{digests}");
        assert!(!host.path("/home/deploy/.docker/config.json").exists());
    }
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(!all.contains(password), "{all}");

    // A one-line change goes through the registry too.
    ctr.set_version("2");
    ctr.commit("v2");
    deploy().success();
    for host in ctr.targets() {
        assert_eq!(
            serving(host.addr(), "/index.html").unwrap().1,
            "version 2\n"
        );
    }

    // A wrong password: the push fails, no host changes.
    let before: Vec<_> = ctr.targets().iter().map(common::app::current).collect();
    ctr.set_version("3");
    ctr.commit("v3");
    // The preview says what each host would pull from the registry.
    let mut ferry = ctr.ferry();
    ferry.env("TEST_REGISTRY_PASSWORD", password);
    let ran = ferry.run(&["lab", "deploy", "--check"]);
    ran.success();
    let pulls = ran
        .lines_of(&ctr.targets()[0].target())
        .into_iter()
        .find(|l| l.starts_with("would pull "))
        .unwrap_or_default();
    assert!(
        pulls.starts_with("would pull 1 of 2 layers of shop:")
            && pulls.contains(&format!(" from {repository} (")),
        "{}",
        ran.stdout
    );
    let mut ferry = ctr.ferry();
    ferry.env("TEST_REGISTRY_PASSWORD", "wrong");
    let ran = ferry.run(&["lab", "deploy"]);
    assert_ne!(ran.code, 0, "{}", ran.stdout);
    let failure = ran.failure(&ctr.targets()[0].target());
    assert!(
        failure.starts_with("cannot push the image to the registry: `docker login` failed"),
        "{failure}"
    );
    let after: Vec<_> = ctr.targets().iter().map(common::app::current).collect();
    assert_eq!(before, after);
    for host in ctr.targets() {
        assert_eq!(
            serving(host.addr(), "/index.html").unwrap().1,
            "version 2\n"
        );
    }
}
