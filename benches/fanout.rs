//! Fan-out figures for the README: wall time of a one-command task on 1, 10
//! and 30 real OpenSSH hosts (network namespaces on this machine), and how
//! many SSH connections and sessions each host's sshd logged for it. Beside
//! ferry, the same command through plain `ssh` — one after another, and all
//! at once — for scale.
//!
//! Run as root: `cargo bench --bench fanout`.

// A benchmark reports on stdout; the print lints guard the library, not this.
#![allow(clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::figures::ms;

use std::time::{Duration, Instant};

use common::ferry::{Ferry, lab_config, write_config};
use common::hosts::{Lab, require_root};

const RUNS: usize = 5;

fn main() {
    require_root();
    println!(
        "| hosts | ferry (median of {RUNS}) | ssh, one after another | ssh, all at once | connections per host | sessions per host |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for n in [1, 10, 30] {
        let lab = Lab::start(n);
        write_config(
            lab.dir(),
            &lab_config(&lab, "[tasks.uptime]\nsteps = [\"uptime\"]"),
        );
        let before: Vec<(usize, usize)> = lab
            .hosts()
            .iter()
            .map(|h| (h.connections(), h.sessions()))
            .collect();
        let ferry =
            median((0..RUNS).map(|_| {
                time(|| assert_eq!(Ferry::lab(&lab).run(&["lab", "uptime", "-q"]).code, 0))
            }));
        let per_host = per_host_counts(&lab, &before);
        let serial = median((0..RUNS).map(|_| time(|| ssh_serial(&lab))));
        let parallel = median((0..RUNS).map(|_| time(|| ssh_parallel(&lab))));
        println!(
            "| {n} | {} | {} | {} | {} | {} |",
            ms(ferry),
            ms(serial),
            ms(parallel),
            per_host.0,
            per_host.1
        );
    }
}

/// Connections and sessions one ferry run cost each host, from the sshd logs.
fn per_host_counts(lab: &Lab, before: &[(usize, usize)]) -> (String, String) {
    let counts: Vec<(usize, usize)> = lab
        .hosts()
        .iter()
        .zip(before)
        .map(|(h, (c, s))| ((h.connections() - c) / RUNS, (h.sessions() - s) / RUNS))
        .collect();
    let spread = |values: Vec<usize>| {
        let (lo, hi) = (values.iter().min().unwrap(), values.iter().max().unwrap());
        if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}–{hi}")
        }
    };
    (
        spread(counts.iter().map(|c| c.0).collect()),
        spread(counts.iter().map(|c| c.1).collect()),
    )
}

fn ssh_serial(lab: &Lab) {
    for host in lab.hosts() {
        assert!(
            lab.ssh()
                .arg(host.target())
                .arg("uptime")
                .output()
                .unwrap()
                .status
                .success()
        );
    }
}

fn ssh_parallel(lab: &Lab) {
    let children: Vec<_> = lab
        .hosts()
        .iter()
        .map(|h| {
            lab.ssh()
                .arg(h.target())
                .arg("uptime")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(samples: impl Iterator<Item = Duration>) -> Duration {
    let mut samples: Vec<Duration> = samples.collect();
    samples.sort();
    samples[samples.len() / 2]
}
