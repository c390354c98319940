//! Container deploy figures for the README, on 1 and 5 test hosts each running its own
//! Docker Engine: an image `FROM scratch` of busybox, ~20 MB of dependencies (source-like
//! text, in a layer of its own) and the app — its size, then for a first deploy and for a
//! one-line change of the app, the wall time and the bytes that went to each host,
//! beside `docker save | ssh host docker load` of the whole image (to all hosts at once).
//! Bytes are what each host's link carried towards it (the machine's end of its veth:
//! ssh, TCP and IP included), so ferry's scripts and reports count too.
//!
//! Run as root: `cargo bench --bench container`.

// A benchmark reports on stdout; the print lints guard the library, not this.
#![allow(clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::figures::{ms, size};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::container::ContainerLab;
use common::hosts::{Host, require_root};

const RUNS: usize = 3;
const DEP_FILES: usize = 200;
const DEP_SIZE: usize = 100_000;

fn main() {
    require_root();
    println!(
        "| hosts | step | wall time (median of {RUNS}) | of it, the ship phase | sent per host | layers sent per host |"
    );
    println!("|---:|---|---:|---:|---:|---:|");
    let mut image_bytes = 0;
    for n in [1, 5] {
        let ctr = ContainerLab::start(n);
        make_project(&ctr);
        let mut first = Vec::new();
        let mut change = Vec::new();
        let mut whole = Vec::new();
        for run in 0..RUNS {
            reset(&ctr);
            first.push(deploy(&ctr));
            ctr.write("app/www/index.html", &format!("version {}\n", run + 2));
            ctr.commit("one line");
            change.push(deploy(&ctr));
            let id = image_id(&ctr);
            image_bytes = image_size(&ctr, &id);
            reset(&ctr);
            whole.push(save_load(&ctr, &id));
        }
        for (label, samples) in [
            ("first deploy", &mut first),
            ("one-line change", &mut change),
            ("`docker save | ssh host docker load`", &mut whole),
        ] {
            samples.sort_by_key(|s| s.time);
            let median = &samples[RUNS / 2];
            println!(
                "| {n} | {label} | {} | {} | {} | {} |",
                ms(median.time),
                median.ship.map_or("-".into(), ms),
                size(median.bytes),
                median.layers.map_or("all".into(), |l| l.to_string())
            );
        }
    }
    println!(
        "\nimage: {} (uncompressed, as `docker image inspect` sizes it)",
        size(image_bytes)
    );
}

struct Sample {
    time: Duration,
    /// The slowest host's ship phase (layers probed, sent, loaded).
    ship: Option<Duration>,
    /// Per host, the mean over hosts.
    bytes: u64,
    layers: Option<usize>,
}

/// busybox, a dependencies layer and the app, in this order: a change to the app
/// leaves the layers below it as they are, as a real project's Dockerfile would.
fn make_project(ctr: &ContainerLab) {
    ctr.write(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY deps/ /deps/\nCOPY app/ /app/\n\
         CMD [\"/bin/busybox\", \"sh\", \"/app/start.sh\"]\n",
    );
    let mut source = common::text::SourceText::new(7);
    for i in 0..DEP_FILES {
        let text = source.text(DEP_SIZE);
        ctr.write(&format!("deps/pkg{}/mod{i}.py", i % 10), &text);
    }
    ctr.commit("with dependencies");
}

/// Hosts as before their first deploy: no release, no container, no image.
fn reset(ctr: &ContainerLab) {
    for host in ctr.targets() {
        host.exec_ok(
            "docker ps -aq | xargs -r docker rm -f >/dev/null; \
             docker image ls -aq | xargs -r docker rmi -f >/dev/null; \
             docker image prune -af >/dev/null; rm -rf /srv/app",
        );
    }
}

fn tx(host: &Host) -> u64 {
    let path = format!("/sys/class/net/{}/statistics/tx_bytes", host.veth());
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn sent_since(ctr: &ContainerLab, before: &[u64]) -> u64 {
    let after: Vec<u64> = ctr.targets().iter().map(tx).collect();
    let total: u64 = after.iter().zip(before).map(|(a, b)| a - b).sum();
    total / ctr.targets().len() as u64
}

fn deploy(ctr: &ContainerLab) -> Sample {
    let before: Vec<u64> = ctr.targets().iter().map(tx).collect();
    let started = Instant::now();
    let ran = ctr.ferry().run(&["lab", "deploy"]);
    let time = started.elapsed();
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let bytes = sent_since(ctr, &before);
    // "…: 1 of 3 layers sent, …" for each host.
    let layers: Vec<usize> = ran
        .stdout
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once("): ")?;
            let rest = rest.split_once(": ")?.1;
            rest.contains("layers sent")
                .then(|| rest.split_whitespace().next()?.parse().ok())?
        })
        .collect();
    assert_eq!(layers.len(), ctr.targets().len(), "{}", ran.stdout);
    // "deploy@… : changed (1.59s): shop:…: 1 of 3 layers sent, …"
    let ship = ran
        .stdout
        .lines()
        .filter(|l| l.contains("layers sent"))
        .filter_map(|l| {
            let secs = l.split_once(" (")?.1.split_once("s)")?.0;
            secs.parse::<f64>().ok()
        })
        .fold(0.0, f64::max);
    Sample {
        time,
        ship: Some(Duration::from_secs_f64(ship)),
        bytes,
        layers: Some(layers.iter().sum::<usize>() / layers.len()),
    }
}

/// The image as built, sent whole to every host at once the plain way.
fn save_load(ctr: &ContainerLab, id: &str) -> Sample {
    let builder = format!("unix://{}", ctr.builder().docker_socket().display());
    let before: Vec<u64> = ctr.targets().iter().map(tx).collect();
    let started = Instant::now();
    std::thread::scope(|s| {
        for host in ctr.targets() {
            let builder = &builder;
            s.spawn(move || {
                let mut save = Command::new("docker")
                    .env("DOCKER_HOST", builder)
                    .args(["save", id])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let load = Command::new("ssh")
                    .arg("-F")
                    .arg(ctr.lab.ssh_config())
                    .arg(host.target())
                    .args(["docker", "load", "-q"])
                    .stdin(save.stdout.take().unwrap())
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
                assert!(save.wait().unwrap().success() && load.success());
            });
        }
    });
    let time = started.elapsed();
    Sample {
        time,
        ship: None,
        bytes: sent_since(ctr, &before),
        layers: None,
    }
}

fn image_id(ctr: &ContainerLab) -> String {
    let host = &ctr.targets()[0];
    let current = host.exec_ok("cat /srv/app/current/IMAGE");
    current.trim().to_string()
}

fn image_size(ctr: &ContainerLab, id: &str) -> u64 {
    let out = ctr.targets()[0].exec_ok(&format!(
        "docker image inspect --format '{{{{.Size}}}}' {id}"
    ));
    out.trim().parse().unwrap()
}
