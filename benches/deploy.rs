//! Deploy figures for the README: on 1, 10 and 50 test hosts, an app of
//! ~300 files and ~5 MB without build commands — first deploy, unchanged
//! redeploy, a one-file change, rollback — beside the floor (a plain `ssh
//! true` to every host at once, fresh connections), and the first deploy
//! beside its own floor: the same files as one gzipped tarball, made
//! beforehand and untimed, piped over a fresh connection to every host at
//! once into `tar xzf -` by the deploy user. For each: wall time,
//! round trips (SSH sessions) per host from each sshd's log (LogLevel
//! VERBOSE logs every session; the lock's keeper is one), the bytes ferry
//! wrote to each host's sessions, the bytes on each host's link (the
//! bridge's counters: SSH framing, handshakes and TCP included), and the
//! largest memory (PSS) of ferry and its ssh processes during the one-file
//! deploy; after the table, the first deploy against the tarball and
//! ferry's own phase timings of it.
//!
//! Run as root: `cargo bench --bench deploy` (`FERRY_BENCH_HOSTS=1,10` for
//! fewer hosts).

// A benchmark reports on stdout; the print lints guard the library, not this.
#![allow(clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::figures::{ms, size};

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::ferry::{Ferry, Ran};
use common::hosts::{Lab, require_root};

const FILES: usize = 300;
const RUNS: usize = 3;

fn main() {
    require_root();
    let sizes: Vec<usize> = std::env::var("FERRY_BENCH_HOSTS")
        .unwrap_or_else(|_| "1,10,50".into())
        .split(',')
        .map(|n| n.trim().parse().expect("FERRY_BENCH_HOSTS: numbers"))
        .collect();
    println!(
        "| hosts | step | wall time (median of {RUNS}) | × `ssh true` | round trips per host | ferry sent / received per host | on the link per host (to / from) | × tarball |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    let mut notes = Vec::new();
    for hosts in sizes {
        notes.push((hosts, bench(hosts)));
    }
    println!();
    for (hosts, notes) in notes {
        println!(
            "{hosts} hosts: ferry and its ssh processes peaked at {:.1} MB PSS during the one-file deploy",
            notes.pss as f64 / 1024.0
        );
        println!(
            "{hosts} hosts: the first deploy took {:.2} × the tarball's time ({} against {}); its phases: {}",
            notes.first.as_secs_f64() / notes.tarball.as_secs_f64(),
            ms(notes.first),
            ms(notes.tarball),
            notes.phases
        );
        println!(
            "{hosts} hosts: the median one-file deploy's phases: {}",
            notes.changed_phases
        );
    }
}

/// What one number of hosts leaves for after the table.
struct Notes {
    /// Peak PSS (KiB) of the one-file deploy.
    pss: u64,
    first: Duration,
    tarball: Duration,
    /// ferry's phase timings of the median first deploy.
    phases: String,
    /// ferry's phase timings of the median one-file deploy.
    changed_phases: String,
}

/// One step's figures: those of its median run (by wall time).
struct Figures {
    wall: Duration,
    /// SSH sessions per host, from the sshd logs.
    trips: f64,
    /// What ferry ran, when the step is ferry.
    ran: Option<Ran>,
    /// Bytes on each host's link, to it and from it, per host.
    link: (u64, u64),
}

/// Runs `step` RUNS times, `before` ahead of each (not timed).
fn sample(lab: &Lab, before: &mut dyn FnMut(), step: &mut dyn FnMut() -> Option<Ran>) -> Figures {
    interleaved(lab, vec![(before, step)]).pop().unwrap()
}

/// Runs each step in turn, RUNS rounds, so that steps compared with each
/// other see the same moments of a shared machine's load.
fn interleaved(lab: &Lab, mut steps: Vec<Step<'_>>) -> Vec<Figures> {
    let mut runs: Vec<Vec<Figures>> = steps.iter().map(|_| Vec::new()).collect();
    for _ in 0..RUNS {
        for ((before, step), runs) in steps.iter_mut().zip(&mut runs) {
            before();
            runs.push(once(lab, &mut **step));
        }
    }
    runs.into_iter()
        .map(|mut runs| {
            runs.sort_by_key(|f| f.wall);
            runs.swap_remove(RUNS / 2)
        })
        .collect()
}

/// The `ssh true` round and a step, taking turns.
fn pair(
    lab: &Lab,
    round: &mut dyn FnMut() -> Option<Ran>,
    before: &mut dyn FnMut(),
    step: &mut dyn FnMut() -> Option<Ran>,
) -> [Figures; 2] {
    let mut figures = interleaved(lab, vec![(&mut || {}, round), (before, step)]);
    let step = figures.pop().unwrap();
    [figures.pop().unwrap(), step]
}

/// Something to do before a step (not timed), and the step.
type Step<'a> = (&'a mut dyn FnMut(), &'a mut dyn FnMut() -> Option<Ran>);

fn once(lab: &Lab, step: &mut dyn FnMut() -> Option<Ran>) -> Figures {
    let hosts = lab.hosts().len();
    let sessions = || -> usize { lab.hosts().iter().map(|h| h.sessions()).sum() };
    let (trips, link) = (sessions(), link_bytes(lab));
    let started = Instant::now();
    let ran = step();
    let wall = started.elapsed();
    if let Some(ran) = &ran {
        assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    }
    settle(lab);
    let link_after = link_bytes(lab);
    Figures {
        wall,
        trips: (sessions() - trips) as f64 / hosts as f64,
        ran,
        link: (
            (link_after.0 - link.0) / hosts as u64,
            (link_after.1 - link.1) / hosts as u64,
        ),
    }
}

/// The figures for one number of hosts.
fn bench(hosts: usize) -> Notes {
    let lab = Lab::start(hosts);
    let repo = lab.dir().join("bench-app");
    make_app(&repo);
    write_config(&lab, &repo);
    // The commit the first deploys ship, as one gzipped tarball.
    let tarball = lab.dir().join("bench-app.tar.gz");
    make_tarball(&repo, &tarball);
    let floor = sample(&lab, &mut || {}, &mut || {
        ssh_true(&lab);
        None
    });
    println!(
        "| {hosts} | `ssh true`, all at once | {} | 1.0 | 1 | | {} / {} | |",
        ms(floor.wall),
        size(floor.link.0),
        size(floor.link.1)
    );
    // Each step's ratio is to the `ssh true` round it took turns with.
    let row = |label: &str, f: &Figures, floor: Duration, tarball: Option<Duration>| {
        println!(
            "| {hosts} | {label} | {} | {:.2} | {} | {} | {} / {} | {} |",
            ms(f.wall),
            f.wall.as_secs_f64() / floor.as_secs_f64(),
            f.trips,
            f.ran.as_ref().map_or(String::new(), |r| {
                let (sent, received) = bytes(r);
                format!(
                    "{} / {}",
                    size(sent / hosts as u64),
                    size(received / hosts as u64)
                )
            }),
            size(f.link.0),
            size(f.link.1),
            tarball.map_or(String::new(), |t| format!(
                "{:.2}",
                f.wall.as_secs_f64() / t.as_secs_f64()
            )),
        );
    };
    let mut true_round = || {
        ssh_true(&lab);
        None
    };
    let deploy = ["lab", "deploy", "--json"];
    // The first deploy's floor: the same files, made into a tarball
    // beforehand, unpacked on every host at once into a fresh deploy_to;
    // the first deploy of each run needs a fresh deploy_to too. The two
    // take turns, so that their ratio holds on a busy machine.
    let mut floors = interleaved(
        &lab,
        vec![
            (&mut || {}, &mut true_round),
            (&mut || clear(&lab), &mut || {
                all_at_once(&lab, UNPACK, Some(&tarball));
                None
            }),
            (&mut || clear(&lab), &mut || {
                Some(ferry(&lab, &repo, &deploy).0)
            }),
        ],
    );
    let first = floors.pop().unwrap();
    let tar = floors.pop().unwrap();
    let round = floors.pop().unwrap().wall;
    row(TARBALL, &tar, round, Some(tar.wall));
    row("first deploy", &first, round, Some(tar.wall));
    let mut peak = 0;
    let [round, unchanged] = pair(&lab, &mut true_round, &mut || {}, &mut || {
        Some(ferry(&lab, &repo, &deploy).0)
    });
    row("unchanged redeploy", &unchanged, round.wall, None);
    let mut n = 0;
    let [round, changed] = pair(
        &lab,
        &mut true_round,
        &mut || {
            change_one_file(&repo, n);
            n += 1;
        },
        &mut || {
            let (ran, pss) = ferry(&lab, &repo, &deploy);
            peak = peak.max(pss);
            Some(ran)
        },
    );
    row("one file changed", &changed, round.wall, None);
    // Rollbacks alternate with deploys of the release rolled back from.
    let [round, rollback] = pair(
        &lab,
        &mut true_round,
        &mut || {
            ferry(&lab, &repo, &deploy);
        },
        &mut || Some(ferry(&lab, &repo, &["lab", "rollback", "--json"]).0),
    );
    row("rollback", &rollback, round.wall, None);
    Notes {
        pss: peak,
        first: first.wall,
        tarball: tar.wall,
        phases: phases(first.ran.as_ref().unwrap()),
        changed_phases: phases(changed.ran.as_ref().unwrap()),
    }
}

const TARBALL: &str =
    "`git archive \\| gzip` (made beforehand) into `ssh host tar xzf -`, all at once";
/// Run by the deploy user, as ferry's scripts are.
const UNPACK: &str = "mkdir -p /srv/bench0 && tar xzf - -C /srv/bench0";

/// The floor: `ssh <host> true` to every host at once, each a fresh
/// connection (no multiplexing), as ferry's own run opens them.
fn ssh_true(lab: &Lab) -> Duration {
    all_at_once(lab, "true", None)
}

/// Runs `command` on every host at once, each over a fresh connection (no
/// multiplexing), `input` (a file) on its stdin if given; fails unless
/// every host succeeds.
fn all_at_once(lab: &Lab, command: &str, input: Option<&Path>) -> Duration {
    let started = Instant::now();
    let children: Vec<_> = lab
        .hosts()
        .iter()
        .map(|h| {
            let stdin = input.map_or(Stdio::null(), |path| File::open(path).unwrap().into());
            lab.ssh()
                .args([
                    "-o",
                    "ControlMaster=no",
                    "-o",
                    "ControlPath=none",
                    h.alias(),
                    command,
                ])
                .stdin(stdin)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "ssh {command} failed");
    }
    started.elapsed()
}

/// `git archive --format=tar HEAD | gzip` (gzip's default level) into `to`.
fn make_tarball(repo: &Path, to: &Path) {
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", "HEAD"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let gzip = Command::new("gzip")
        .stdin(archive.stdout.take().unwrap())
        .stdout(File::create(to).unwrap())
        .status()
        .unwrap();
    assert!(archive.wait().unwrap().success() && gzip.success());
}

/// ferry's phase timings, from the `timings` of its JSON events, with
/// their sum and ferry's own time for the run (`run_finished`): what is not
/// in a phase is ferry's work on this machine before and between them.
fn phases(ran: &Ran) -> String {
    let run = ran
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|event| event["event"] == "run_finished")
        .and_then(|event| event["duration"].as_f64())
        .expect("run_finished in ferry's JSON");
    let sum: f64 = ran.phases().iter().map(|(_, seconds)| seconds).sum();
    format!(
        "{} (together {sum:.2}s of ferry's {run:.2}s)",
        ran.phase_list()
    )
}

/// Bytes the machine sent to all hosts and received from them, as the
/// machine's end of each host's link counts them.
fn link_bytes(lab: &Lab) -> (u64, u64) {
    let read = |veth: &str, what: &str| -> u64 {
        std::fs::read_to_string(format!("/sys/class/net/{veth}/statistics/{what}"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    lab.hosts().iter().fold((0, 0), |(to, from), h| {
        let veth = h.veth();
        (to + read(&veth, "tx_bytes"), from + read(&veth, "rx_bytes"))
    })
}

/// Waits (untimed) until no host still collects after a deploy: its
/// collector works in the background once ferry is done, and must not
/// weigh on the next step timed, the `ssh true` round least of all.
fn settle(lab: &Lab) {
    for host in lab.hosts() {
        host.exec_ok(
            "i=0; while [ -e /srv/bench0/.ferry/store.lock ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i + 1)); done",
        );
    }
}

fn clear(lab: &Lab) {
    for host in lab.hosts() {
        host.exec_ok("chmod -R u+w /srv/bench0 2>/dev/null; rm -rf /srv/bench0");
    }
}

/// Runs ferry, sampling the PSS of ferry and the ssh processes it started
/// (their command line names the Lab's ssh_config) while it runs.
fn ferry(lab: &Lab, repo: &Path, args: &[&str]) -> (Ran, u64) {
    let config = repo.join("ferry.toml");
    let args = [&["--config", config.to_str().unwrap(), "-q"], args].concat();
    let child = Ferry::lab(lab).spawn(&args);
    let (pid, done) = (child.id(), AtomicBool::new(false));
    let marker = lab.ssh_config().to_string_lossy().into_owned();
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(pss(pid, &marker));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        });
        let ran = common::ferry::finish(child);
        done.store(true, Ordering::Relaxed);
        (ran, sampler.join().unwrap())
    })
}

/// PSS (KiB) of process `pid` plus every process whose command line holds `marker`.
fn pss(pid: u32, marker: &str) -> u64 {
    let of = |p: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{p}/smaps_rollup"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("Pss:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    };
    let mut total = of(&pid.to_string());
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == pid.to_string() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(marker) {
            total += of(&name);
        }
    }
    total
}

/// Bytes sent to all hosts, from the recap in the last JSON event.
/// What ferry wrote into the hosts' sessions and read back from them, all
/// hosts together (the recap's `bytes_sent` and `bytes_received`).
fn bytes(ran: &Ran) -> (u64, u64) {
    let last = ran.stdout.lines().last().unwrap();
    let event: serde_json::Value = serde_json::from_str(last).unwrap();
    let rows = event["recap"].as_array().unwrap();
    let sum = |key: &str| rows.iter().map(|row| row[key].as_u64().unwrap()).sum();
    (sum("bytes_sent"), sum("bytes_received"))
}

/// ~300 files, ~5 MB: Python modules, templates, and a few larger assets,
/// with text that compresses the way source does (about 4:1).
fn make_app(repo: &Path) {
    std::fs::create_dir_all(repo).unwrap();
    let mut source = common::text::SourceText::new(42);
    for i in 0..FILES {
        let dir = repo.join(format!("app/module{}", i % 12));
        std::fs::create_dir_all(&dir).unwrap();
        let size = if i % 50 == 0 { 150_000 } else { 12_000 };
        let text = source.text(size);
        std::fs::write(dir.join(format!("file{i}.py")), text).unwrap();
    }
    git(repo, &["init", "--quiet", "--initial-branch=main"]);
    commit(repo);
}

fn write_config(lab: &Lab, repo: &Path) {
    let targets: Vec<String> = lab
        .hosts()
        .iter()
        .map(|h| format!("\"{}\"", h.target()))
        .collect();
    let config = format!(
        "app = \"bench\"\ndeploy_to = \"/srv/bench0\"\nconnect_timeout = 10\nparallel = 64\n\n[environments.lab]\nhosts = [{}]\n",
        targets.join(", ")
    );
    std::fs::write(repo.join("ferry.toml"), config).unwrap();
    commit(repo);
}

fn change_one_file(repo: &Path, n: usize) {
    std::fs::write(
        repo.join("app/module1/file1.py"),
        format!("VERSION = {n}\n{}", "x = 1\n".repeat(1500)),
    )
    .unwrap();
    commit(repo);
}

fn commit(repo: &Path) {
    git(repo, &["add", "--all"]);
    git(
        repo,
        &[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "bench",
        ],
    );
}

fn git(repo: &Path, args: &[&str]) {
    assert!(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .status()
            .unwrap()
            .success()
    );
}
