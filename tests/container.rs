//! Container deploys on real sshd hosts, each with its own Docker Engine: the image is
//! built on the machine running ferry, shipped without a registry (only the layers a host
//! lacks), loaded, migrated in a one-off container and run with the environment's `.env`
//! and data kept outside the container; rollback brings the previous image back.

mod common;

use common::container::{self, ContainerLab, PORT, docker, running, serving};

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
