//! Container deploys on real sshd hosts, each with its own Docker Engine: the image is
//! built on the machine running ferry, shipped without a registry (only the layers a host
//! lacks), loaded, migrated in a one-off container and run with the environment's `.env`
//! and data kept outside the container; rollback brings the previous image back.

mod common;

use common::container::{self, ContainerLab, PORT, docker, running, running_releases, serving};

#[test]
fn each_test_host_runs_its_own_docker_engine() {
    let ctr = ContainerLab::start(1);
    let (host, builder) = (&ctr.targets()[0], ctr.builder());
    // An image built by the builder's engine is not on the host's.
    let built = container::run(
        std::process::Command::new("docker")
            .env(
                "DOCKER_HOST",
                format!("unix://{}", builder.docker_socket().display()),
            )
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-q", "-t", "probe"])
            .arg(&ctr.dir),
    );
    assert!(built.trim().starts_with("sha256:"), "{built}");
    assert!(!docker(host, "image ls -q").contains(&built.trim()[7..19]));
    // The deploy user reaches the host's engine at the default socket, and a container
    // on the host's network answers over the test bridge.
    docker(
        builder,
        "run -d --network host -e PORT=8000 --name probe probe",
    );
    common::app::wait_for("the probe container", || {
        serving(builder.addr(), "/index.html").is_some()
    });
    let (port, body) = serving(builder.addr(), "/index.html").unwrap();
    assert_eq!((port, body.as_str()), (PORT, "version 1\n"));
    assert_eq!(running(builder), ["probe"]);
    assert!(running(host).is_empty());
}

/// The figures of a ship phase, per host: (layers sent, bytes compressed).
fn shipped(out: &str) -> Vec<(usize, usize)> {
    out.lines()
        .filter_map(|line| {
            let rest = line.split_once("layers sent")?.0;
            let words: Vec<&str> = rest.split_whitespace().collect();
            let sent: usize = if rest.contains("holds the image") {
                0
            } else {
                words[words.len() - 3].parse().ok()?
            };
            let bytes = line
                .split_once("sent, ")
                .and_then(|(_, b)| b.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            Some((sent, bytes))
        })
        .collect()
}

fn read(host: &common::hosts::Host, path: &str) -> String {
    std::fs::read_to_string(host.path(path)).unwrap_or_default()
}

#[test]
fn the_books_flow_on_two_hosts_then_a_one_line_change_ships_one_layer() {
    let ctr = ContainerLab::start(2);
    let ran = ctr.ferry().run(&["lab", "deploy"]);
    ran.success();
    let first = shipped(&ran.stdout);
    assert_eq!(first.len(), 2, "{}", ran.stdout);
    for (host, (layers, bytes)) in ctr.targets().iter().zip(&first) {
        // Everything the first time: busybox's layer and the app's.
        assert_eq!(*layers, 2, "{}", ran.stdout);
        assert!(*bytes > 500_000, "{bytes} bytes for the whole image");
        let release = common::app::current(host).expect("current");
        assert_eq!(read(host, "/srv/app/current/IMAGE").trim().len(), 71);
        assert_eq!(running_releases(host), std::slice::from_ref(&release));
        let (_, page) = serving(host.addr(), "/index.html").expect("the app answers");
        assert_eq!(page, "version 1\n");
        // The .env reached the container, and stays outside it, 0600, secrets kept.
        let (_, greeting) = serving(host.addr(), "/greeting.txt").unwrap();
        assert_eq!(greeting, "hello\n");
        let env = host.path("/srv/app/shared/.env");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&env).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert!(read(host, "/srv/app/shared/.env").contains("SECRET_KEY="));
        let _ = ran.recap(&host.target());
    }
    // The migration ran once, in a container, on the first host; its data is outside.
    assert_eq!(
        read(&ctr.targets()[0], "/srv/app/shared/db.sqlite3"),
        "migrated 1\n"
    );
    // `run` runs in the live container, which sees the data file.
    let ran = ctr.ferry().run(&[
        "lab",
        "run",
        "--",
        container::BUSYBOX,
        "cat",
        "/data/db.sqlite3",
    ]);
    ran.success();
    assert_eq!(ran.lines_of(&ctr.targets()[0].target()), ["migrated 1"]);
    let key = |h: &common::hosts::Host| read(h, "/srv/app/shared/.env");
    let keys: Vec<String> = ctr.targets().iter().map(key).collect();

    // One line of code: only the app's layer travels.
    ctr.set_version("2");
    ctr.commit("v2");
    let ran = ctr.ferry().run(&["lab", "deploy"]);
    ran.success();
    let second = shipped(&ran.stdout);
    for (host, (layers, bytes)) in ctr.targets().iter().zip(&second) {
        assert_eq!(*layers, 1, "{}", ran.stdout);
        assert!(*bytes < 10_000, "{bytes} bytes for a one-line change");
        let release = common::app::current(host).unwrap();
        assert_eq!(running_releases(host), std::slice::from_ref(&release));
        let (_, page) = serving(host.addr(), "/index.html").unwrap();
        assert_eq!(page, "version 2\n");
    }
    assert_eq!(
        read(&ctr.targets()[0], "/srv/app/shared/db.sqlite3"),
        "migrated 1\nmigrated 2\n"
    );
    let again: Vec<String> = ctr.targets().iter().map(key).collect();
    assert_eq!(keys, again, "generated values are kept");

    // The same commit again: every host holds every layer and receives none.
    let ran = ctr.ferry().run(&["lab", "deploy"]);
    ran.success();
    let third = shipped(&ran.stdout);
    assert_eq!(third, [(0, 0), (0, 0)], "{}", ran.stdout);
}

#[test]
fn a_failing_migration_or_health_check_leaves_the_old_container_and_rollback_brings_the_previous_image_back()
 {
    let ctr = ContainerLab::start(1);
    let host = &ctr.targets()[0];
    ctr.ferry().run(&["lab", "deploy"]).success();
    let v1 = common::app::current(host).unwrap();
    // `logs` follows the live container, prefixed with its host, until Ctrl-C.
    let mut child = ctr.ferry().spawn(&["lab", "logs"]);
    let stdout = child.stdout.take().unwrap();
    // Should the line never come, Ctrl-C ends the wait (and the test) after a while.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(30));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    });
    let wanted = format!("{} | serving on port {PORT}", host.target());
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let seen = lines.find(|line| {
        let line = line.as_deref().unwrap_or_default();
        line.split_once(" | ")
            .is_some_and(|(h, rest)| format!("{} | {rest}", h.trim_end()) == wanted)
    });
    assert!(seen.is_some(), "no `{wanted}` in the logs");
    common::ferry::interrupt(&child);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    ctr.set_version("2");
    ctr.commit("v2");
    ctr.ferry().run(&["lab", "deploy"]).success();
    let v2 = common::app::current(host).unwrap();
    assert_ne!(v1, v2);

    ctr.write("app/www/index.html", "version 3\n");
    ctr.write(
        "app/migrate.sh",
        &format!(
            "{} echo 'no such table: lists_item' >&2\nexit 3\n",
            container::BUSYBOX
        ),
    );
    ctr.commit("v3 with a broken migration");
    let ran = ctr.ferry().run(&["lab", "deploy"]);
    assert_ne!(ran.code, 0, "{}", ran.stdout);
    let said = format!("{}{}", ran.stdout, ran.stderr);
    assert!(said.contains("no such table: lists_item"), "{said}");
    assert_eq!(common::app::current(host).as_deref(), Some(v2.as_str()));
    assert_eq!(running_releases(host), std::slice::from_ref(&v2));
    assert_eq!(
        serving(host.addr(), "/index.html").unwrap().1,
        "version 2\n"
    );

    let ran = ctr.ferry().run(&["lab", "rollback"]);
    ran.success();
    assert_eq!(common::app::current(host).as_deref(), Some(v1.as_str()));
    assert_eq!(running_releases(host), std::slice::from_ref(&v1));
    assert_eq!(
        serving(host.addr(), "/index.html").unwrap().1,
        "version 1\n"
    );
    // `status` and `restart` work on the live container.
    let ran = ctr.ferry().run(&["lab", "status"]);
    ran.success();
    let said = ran.lines_of(&host.target()).join("\n");
    assert!(
        said.starts_with("shop-app-a: running since ") && said.contains(&format!("release {v1}")),
        "{said}"
    );
    ctr.ferry().run(&["lab", "restart"]).success();
    common::app::wait_for("the app after restart", || {
        serving(host.addr(), "/index.html").is_some_and(|(_, page)| page == "version 1\n")
    });
    // The images of both releases are still on the host, tagged with their ids.
    let tags = docker(host, "image ls shop --format {{.Tag}}");
    assert!(tags.contains(&v1) && tags.contains(&v2), "{tags}");

    // A new container that never answers: the old one keeps serving, current goes back.
    ctr.set_version("4");
    ctr.write(
        "app/start.sh",
        &format!("{} echo 'cannot bind' >&2\nexit 1\n", container::BUSYBOX),
    );
    ctr.commit("v4 that does not start");
    let ran = ctr.ferry().run(&["lab", "deploy"]);
    assert_ne!(ran.code, 0, "{}", ran.stdout);
    let said = format!("{}{}", ran.stdout, ran.stderr);
    assert!(said.contains("shop-app-a exited"), "{said}");
    assert!(said.contains("cannot bind"), "{said}");
    assert_eq!(common::app::current(host).as_deref(), Some(v1.as_str()));
    assert_eq!(running_releases(host), std::slice::from_ref(&v1));
    assert_eq!(
        serving(host.addr(), "/index.html").unwrap().1,
        "version 1\n"
    );
    let failed = common::app::releases(host).into_iter().max().unwrap();
    let record = read(
        host,
        &format!("/srv/app/releases/{failed}/.ferry/release.json"),
    );
    assert!(record.contains("\"failed\""), "{record}");
    assert_eq!(PORT, 8000);
}
