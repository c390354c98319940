//! Running the built `ferry` binary the way a user would, in a hermetic
//! environment: a clean process environment, a fixed HOME and terminal
//! width, the project in a temp dir, and the Lab's ssh_config.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::hosts::Lab;

pub struct Ferry {
    command: Command,
}

/// What a run left: exit code and both streams, as text.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The phase timings of a `--json` run (its `timings`), in order.
    pub fn phases(&self) -> Vec<(String, f64)> {
        let timings = self
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|event| event["timings"].as_array().cloned())
            .expect("phase timings in ferry's JSON");
        timings
            .iter()
            .map(|t| {
                let phase = t["phase"].as_str().unwrap().to_string();
                (phase, t["seconds"].as_f64().unwrap())
            })
            .collect()
    }

    /// Those timings as the benches print them: `lock 0.21s, upload 0.07s, …`.
    pub fn phase_list(&self) -> String {
        let each: Vec<String> = self
            .phases()
            .iter()
            .map(|(phase, seconds)| format!("{phase} {seconds:.2}s"))
            .collect();
        each.join(", ")
    }

    /// Assert the exit code, showing both streams when it is not.
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn success(&self) -> &Self {
        self.code(0)
    }

    /// Output lines of one host (`host | line`), without the prefix.
    pub fn lines_of(&self, host: &str) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|line| {
                let (label, rest) = line.split_once(" | ")?;
                (label.trim_end() == host).then(|| rest.to_string())
            })
            .collect()
    }

    /// What the result line of a failed host says after `failed (0.12s): `.
    pub fn failure(&self, target: &str) -> String {
        // Labels are padded to the longest one of the run.
        let line = self.stdout.lines().find(|l| {
            l.strip_prefix(target)
                .is_some_and(|rest| rest.trim_start().starts_with(": failed"))
        });
        let line = line.unwrap_or_else(|| panic!("no failure for {target}:\n{}", self.stdout));
        line.split_once("): ").unwrap().1.to_string()
    }

    /// The recap row of a host: [ok, changed, failed, unreachable, skipped].
    pub fn recap(&self, host: &str) -> [usize; 5] {
        let recap = self
            .stdout
            .split("\nRECAP")
            .nth(1)
            .unwrap_or_else(|| panic!("no recap in:\n{}", self.stdout));
        let row = recap
            .lines()
            .find(|line| line.split_whitespace().next() == Some(host))
            .unwrap_or_else(|| panic!("no recap row for {host} in:\n{recap}"));
        let counts: Vec<usize> = row
            .split_whitespace()
            .skip(1)
            .take(5)
            .map(|n| n.parse().unwrap())
            .collect();
        counts.try_into().unwrap()
    }
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferry"))
}

impl Ferry {
    /// `ferry` run in `dir`, with nothing inherited from the caller's environment.
    pub fn new(dir: &Path) -> Self {
        let home = dir.join(".home");
        std::fs::create_dir_all(&home).unwrap();
        let mut command = Command::new(binary());
        command
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("LANG", "C.UTF-8")
            .env("COLUMNS", "100")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        Self { command }
    }

    /// `ferry` in the Lab's project dir, reaching its hosts through its ssh_config.
    pub fn lab(lab: &Lab) -> Self {
        let mut ferry = Self::new(lab.dir());
        ferry.env("FERRY_SSH_CONFIG", lab.ssh_config());
        ferry
    }

    pub fn env(&mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(&mut self, key: &str) -> &mut Self {
        self.command.env_remove(key);
        self
    }

    pub fn run(&mut self, args: &[&str]) -> Ran {
        let output = self.command.args(args).output().expect("ferry runs");
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn spawn(&mut self, args: &[&str]) -> Child {
        self.command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ferry starts")
    }
}

/// Ctrl-C, as a terminal would send it to ferry.
pub fn interrupt(child: &Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
}

/// Wait for a spawned ferry and collect what it printed.
pub fn finish(child: Child) -> Ran {
    let output = child.wait_with_output().unwrap();
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A ferry.toml for the Lab: an environment `lab` with every host in role
/// `app`, short timeouts, and `extra` appended (tasks, settings).
pub fn lab_config(lab: &Lab, extra: &str) -> String {
    let targets: Vec<String> = lab
        .hosts()
        .iter()
        .map(|h| format!("\"{}\"", h.target()))
        .collect();
    let targets = targets.join(", ");
    format!(
        "app = \"app\"\ndeploy_to = \"/srv/app\"\nconnect_timeout = 3\nkeepalive = 2\n\n{extra}\n\n[environments.lab]\nhosts = [{targets}]\nroles.app = [{targets}]\n"
    )
}

pub fn write_config(dir: &Path, text: &str) {
    std::fs::write(dir.join("ferry.toml"), text).unwrap();
}
