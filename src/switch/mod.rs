//! The switch that drops no request: a service runs in two slots, a and b,
//! each on its own address, and nginx's upstream (an include file) names
//! the live one. Moving to a new release starts the idle slot on it, probes
//! it directly, replaces the upstream file by rename(2), checks and reloads
//! nginx gracefully, lets the old slot drain, and stops it. Rollback is the
//! same move towards an older release.
//!
//! This module knows slots, links, probes and nginx; what runs in a slot is
//! a `Runner` (a supervisor program per slot, a systemd templated unit, a
//! container per slot that `container` knows how to start). The shell is
//! in `helpers.sh`; scripts get it through `Upstream::switch` and
//! `Upstream::control`, which append calls with typed words.

use std::sync::LazyLock;

use crate::shell::{Command, Library, Script, Word};

/// The slot operations, as shell functions.
pub(crate) static HELPERS: LazyLock<Library> =
    LazyLock::new(|| Library::parse(include_str!("helpers.sh")));

/// The slots, in the order a fresh host uses them.
pub(crate) const SLOTS: [&str; 2] = ["a", "b"];

/// What starts and stops a slot's instance.
#[derive(Debug, Clone)]
pub(crate) enum Runner {
    /// Programs `<program>-a` and `<program>-b`.
    Supervisor { program: String },
    /// Instances `<unit>@a` and `<unit>@b` of the templated `<unit>@.service`.
    Systemd { unit: String },
    /// Containers `<name>-a` and `<name>-b`, each started by its own command
    /// (`docker run` of the image its slot's release names, on the slot's
    /// port); stopped and removed by name.
    Container { name: String, starts: [Command; 2] },
}

impl Runner {
    fn words(&self) -> [Word; 2] {
        match self {
            Runner::Supervisor { program } => [Word::lit("supervisor"), Word::lit(program)],
            Runner::Systemd { unit } => [Word::lit("systemd"), Word::lit(unit)],
            Runner::Container { name, .. } => [Word::lit("container"), Word::lit(name)],
        }
    }
}

/// How a slot is checked before nginx sends it anything.
#[derive(Debug, Clone)]
pub(crate) enum Probe {
    /// An HTTP GET on the slot's own port, with `headers` (`Name: value`);
    /// 2xx (and `expect` in the body).
    Url {
        url: String,
        expect: String,
        headers: Vec<String>,
    },
    /// The user's command, with the slot's values rendered into it.
    Command(Command),
    /// Only that the instance started.
    Started,
    /// An HTTP GET on the container's port (`ferry_ctr_probe`), given up at
    /// once when the container exited.
    Container { name: String, url: String },
}

/// One slot's address (what nginx's `server` names) and its probe.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) address: String,
    pub(crate) probe: Probe,
}

/// A service behind nginx in two slots, as one host runs it.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// The service's key: names the slot links and the upstream file.
    pub(crate) service: String,
    /// The nginx upstream block's name.
    pub(crate) name: String,
    pub(crate) deploy_to: String,
    pub(crate) runner: Runner,
    /// Drive the runner through `ferry_root`.
    pub(crate) as_root: bool,
    pub(crate) slots: [Slot; 2],
    pub(crate) drain: u32,
    pub(crate) deadline: u64,
    pub(crate) interval: u64,
    /// Tell nginx (write, `nginx -t`, reload); without, the upstream file
    /// only records the live slot.
    pub(crate) nginx: bool,
}

/// The upstream include file of `service`, as provisioning first writes it
/// and as `ferry_upstream` (helpers.sh) rewrites it on every switch; its
/// first line names the live slot.
pub(crate) fn upstream_file(deploy_to: &str, service: &str) -> String {
    format!("{deploy_to}/slots/{service}.conf")
}

/// The first content of the upstream file: slot a, before any release.
pub(crate) fn first_upstream(service: &str, name: &str, address: &str) -> String {
    format!(
        "# ferry: slot a of {service}, release none; written by ferry deploys, replaced by rename\nupstream {name} {{\n    server {address} fail_timeout=0;\n}}\n"
    )
}

impl Upstream {
    /// Move the service to the release `current` points at (see
    /// `ferry_slot_switch`). With `force`, even when the live slot already
    /// runs it: a restart that drops no request.
    pub(crate) fn switch(&self, script: &mut Script, force: bool) {
        self.prepare(script);
        for (name, slot) in SLOTS.iter().zip(&self.slots) {
            define_probe(script, name, &slot.probe);
        }
        script.call(
            "ferry_slot_switch",
            [
                Word::lit(&self.service),
                Word::lit(&self.name),
                Word::lit(&self.slots[0].address),
                Word::lit(&self.slots[1].address),
                Word::num(u64::from(self.drain)),
                Word::num(self.deadline),
                Word::num(self.interval),
                Word::flag(force),
                Word::flag(self.nginx),
            ],
        );
    }

    /// `start` (the live slot), `stop` (both) or `status`.
    pub(crate) fn control(&self, script: &mut Script, action: &'static str) {
        self.prepare(script);
        script.call(
            "ferry_slot_control",
            [Word::lit(action), Word::lit(&self.service)],
        );
    }

    fn prepare(&self, script: &mut Script) {
        script.library(&HELPERS);
        script.set("D", Word::lit(&self.deploy_to));
        let [runner, unit] = self.runner.words();
        script.call("ferry_slot_use", [runner, unit, Word::flag(self.as_root)]);
        if let Runner::Container { starts, .. } = &self.runner {
            for (slot, start) in SLOTS.iter().zip(starts) {
                script.code(if *slot == "a" {
                    "ferry_start_a() {"
                } else {
                    "ferry_start_b() {"
                });
                script.run(start);
                script.code("}");
            }
        }
    }
}

/// `ferry_probe_<slot>`: true when the slot answers; `ferry_body` says what
/// it got.
fn define_probe(script: &mut Script, slot: &str, probe: &Probe) {
    script.code(if slot == "a" {
        "ferry_probe_a() {"
    } else {
        "ferry_probe_b() {"
    });
    probe_body(script, probe);
    script.code("}");
}

/// One try of `probe`, as the body of a shell function: the deploy's health
/// check (`ferry_probe`) and each slot's use it alike.
pub(crate) fn probe_body(script: &mut Script, probe: &Probe) {
    match probe {
        Probe::Url {
            url,
            expect,
            headers,
        } => {
            let words = [Word::lit(url), Word::lit(expect)];
            script.call(
                "ferry_probe_url",
                words
                    .into_iter()
                    .chain(headers.iter().map(|h| Word::lit(h))),
            );
        }
        // The user's command, with ferry's channel closed like any step; any
        // failure is one to try again (2 would mean "give up").
        Probe::Command(command) => {
            script.code("ferry_body=$( (");
            script.user(command);
            script.code(") 2>&1 3>&-) || return 1");
        }
        Probe::Started => {
            script.code(":");
        }
        Probe::Container { name, url } => {
            script.call("ferry_ctr_probe", [Word::lit(name), Word::lit(url)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_upstream_names_slot_a_as_the_switch_reads_it() {
        let text = first_upstream("web", "app_web", "127.0.0.1:8001");
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("# ferry: slot a "), "{first}");
        assert!(text.contains("upstream app_web {\n    server 127.0.0.1:8001 fail_timeout=0;\n}"));
    }
}
