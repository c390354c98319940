//! The operations of the phases after upload, appended to a release script
//! (see `Layout::script`): build and migrate in the new release, the switch,
//! restart with its health check, and the last writes of a deploy. Each is
//! one call of a function of `helpers.sh`, or the user's own commands as
//! numbered steps; several can go into one script, one round trip.

use crate::secret::Secret;
use crate::shell::{Command, Script, Word};
use crate::switch::{self, Probe, Upstream};

/// The commands of a phase as rendered for one host, with their labels.
#[derive(Debug, Clone, Default)]
pub(crate) struct Commands {
    pub(crate) steps: Vec<(String, Command)>,
    /// `FERRY_VAR_…`/`FERRY_ARG_…` values the steps see (`template::exports`).
    pub(crate) exports: Vec<(String, String)>,
    /// The environment's `.env` on the host, whose variables each step sees.
    pub(crate) env_file: Option<String>,
}

impl Commands {
    pub(crate) fn labels(&self) -> Vec<String> {
        self.steps.iter().map(|(label, _)| label.clone()).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// These steps, then `next`'s, as one list numbered through (the
    /// exports of both).
    pub(crate) fn then(&self, next: &Commands) -> Commands {
        let mut all = self.clone();
        all.steps.extend(next.steps.iter().cloned());
        for export in &next.exports {
            if !all.exports.contains(export) {
                all.exports.push(export.clone());
            }
        }
        all
    }

    /// With the deploy's facts (`FERRY_ENV`, `FERRY_REVISION`, …) exported
    /// as well, for hooks.
    pub(crate) fn with_facts(mut self, facts: &[(String, String)]) -> Commands {
        self.exports.extend(facts.iter().cloned());
        self
    }
}

/// `$D/releases/<id>/.ferry/release.json`.
pub(crate) fn record_path(id: &str) -> Word {
    Word::var("D")
        .join(Word::lit("/releases/"))
        .join(Word::lit(id))
        .join(Word::lit("/.ferry/release.json"))
}

/// Write `json` to `path` whole, by rename, so a reader never sees half a record.
pub(crate) fn write_record(script: &mut Script, path: Word, json: &str) {
    script.call("ferry_write", [path, Word::lit(json)]);
}

/// Build or migrate: `commands` in the release `id`, with the secrets and
/// the release's whereabouts in the environment; then `record` is written.
pub(crate) fn in_release(
    script: &mut Script,
    id: &str,
    secrets: &[Secret],
    commands: &Commands,
    record: Option<&str>,
) {
    script.call("ferry_in_release", [Word::lit(id)]);
    script.exports(secrets);
    script.values(&commands.exports);
    script.env_file(commands.env_file.as_deref().map(Word::lit));
    for (index, (label, command)) in commands.steps.iter().enumerate() {
        script.step(index + 1, label, command);
    }
    if let Some(json) = record {
        write_record(script, record_path(id), json);
    }
}

/// The switch with `[hooks]` around it: in the release `id`, the
/// `before_switch` steps, `current` moved, then the `after_switch` steps,
/// numbered on from the first. A failing `before_switch` step ends the
/// script before `current` moves.
pub(crate) fn switch_with_hooks(
    script: &mut Script,
    id: &str,
    secrets: &[Secret],
    before: &Commands,
    after: &Commands,
) {
    script.call("ferry_in_release", [Word::lit(id)]);
    script.exports(secrets);
    let all = before.then(after);
    script.values(&all.exports);
    for (index, (label, command)) in before.steps.iter().enumerate() {
        script.step(index + 1, label, command);
    }
    switch(script, id, None);
    let first = before.steps.len() + 1;
    for (index, (label, command)) in after.steps.iter().enumerate() {
        script.step(first + index, label, command);
    }
}

/// A release's shared virtualenv, as planned for one host.
#[derive(Debug, Clone)]
pub(crate) struct Venv {
    pub(crate) path: String,
    pub(crate) python: String,
    pub(crate) requirements: Vec<String>,
    /// The install commands, rendered; none: `pip install -r` each file.
    pub(crate) install: Vec<(String, Command)>,
}

impl Venv {
    /// What, besides the requirements and the interpreter, makes one
    /// environment differ from another: how it is installed.
    fn salt(&self) -> String {
        let mut text = self.requirements.join("\n");
        for (_, command) in &self.install {
            text.push('\0');
            text.push_str(command.as_str());
        }
        super::manifest::sha256(text.as_bytes())
    }

    pub(crate) fn labels(&self) -> Vec<String> {
        if self.install.is_empty() {
            return vec!["pip install into the virtualenv".into()];
        }
        self.install.iter().map(|(l, _)| l.clone()).collect()
    }
}

/// The build: the `after_upload` hooks, the virtualenv found or made (its
/// install steps run only when it is new), then `commands`, as
/// `in_release`. The steps are numbered as `build_labels` lists them.
pub(crate) fn build(
    script: &mut Script,
    id: &str,
    secrets: &[Secret],
    hooks: &Commands,
    venv: Option<&Venv>,
    commands: &Commands,
    record: Option<&str>,
) {
    script.call("ferry_in_release", [Word::lit(id)]);
    script.exports(secrets);
    script.values(&hooks.then(commands).exports);
    let env_file = commands.env_file.as_ref().or(hooks.env_file.as_ref());
    script.env_file(env_file.map(|f| Word::lit(f)));
    let mut index = 0;
    for (label, command) in &hooks.steps {
        index += 1;
        script.step(index, label, command);
    }
    if let Some(venv) = venv {
        script.call(
            "ferry_venv",
            [
                Word::lit(&venv.path),
                Word::lit(&venv.python),
                Word::lit(&venv.salt()),
            ]
            .into_iter()
            .chain(venv.requirements.iter().map(|r| Word::lit(r))),
        );
        script.code("if [ -n \"$ferry_vnew\" ]; then");
        if venv.install.is_empty() {
            index += 1;
            script.call(
                "ferry_say",
                [Word::lit("activity"), Word::lit(&venv.labels()[0])],
            );
            script.call(
                "ferry_venv_pip",
                venv.requirements.iter().map(|r| Word::lit(r)),
            );
        } else {
            for (label, command) in &venv.install {
                index += 1;
                script.step(index, label, command);
            }
        }
        script.code("ferry_venv_done\nfi");
    }
    for (label, command) in &commands.steps {
        index += 1;
        script.step(index, label, command);
    }
    if let Some(json) = record {
        write_record(script, record_path(id), json);
    }
}

/// The labels of the build's steps, in the order `build` numbers them.
pub(crate) fn build_labels(
    hooks: &Commands,
    venv: Option<&Venv>,
    commands: &Commands,
) -> Vec<String> {
    let mut labels = hooks.labels();
    labels.extend(venv.map(Venv::labels).unwrap_or_default());
    labels.extend(commands.labels());
    labels
}

/// Point `current` at `id` by rename(2); reports where it pointed before.
pub(crate) fn switch(script: &mut Script, id: &str, record: Option<&str>) {
    script.call("ferry_switch", [Word::lit(id)]);
    if let Some(json) = record {
        write_record(script, record_path(id), json);
    }
}

/// How a host checks that the new release serves.
#[derive(Debug, Clone)]
pub(crate) enum Health {
    Url {
        url: String,
        expect: Option<String>,
        headers: Vec<String>,
    },
    Command(Command),
}

impl Health {
    pub(crate) fn label(&self) -> &str {
        match self {
            Health::Url { url, .. } => url,
            Health::Command(command) => command.as_str(),
        }
    }
}

pub(crate) struct HealthTiming {
    pub(crate) deadline: u64,
    pub(crate) interval: u64,
}

/// Move this host's slotted services to the live release (no gap), restart
/// (or reload) its other services in it, then probe until healthy or out of
/// time.
pub(crate) fn restart(
    script: &mut Script,
    secrets: &[Secret],
    switches: &[Upstream],
    restarts: &Commands,
    health: Option<(&Health, &HealthTiming)>,
) {
    restart_after(script, 0, secrets, switches, restarts, health);
}

/// `restart`, in a script that already holds `before` numbered steps (the
/// switch's hooks): its own steps are numbered after them.
pub(crate) fn restart_after(
    script: &mut Script,
    before: usize,
    secrets: &[Secret],
    switches: &[Upstream],
    restarts: &Commands,
    health: Option<(&Health, &HealthTiming)>,
) {
    script.exports(secrets);
    script.code(r#"cd "$D/current" || ferry_fail "$D/current is missing""#);
    script.values(&restarts.exports);
    // The probes see the .env like the app; the service controls do not.
    let env_file = restarts.env_file.as_deref().map(Word::lit);
    script.env_file(env_file.clone());
    for upstream in switches {
        upstream.switch(script, false);
    }
    script.env_file(None);
    for (index, (label, command)) in restarts.steps.iter().enumerate() {
        script.step(before + index + 1, label, command);
    }
    script.env_file(env_file);
    let Some((health, timing)) = health else {
        return;
    };
    let probe = match health {
        Health::Url {
            url,
            expect,
            headers,
        } => Probe::Url {
            url: url.clone(),
            expect: expect.clone().unwrap_or_default(),
            headers: headers.clone(),
        },
        Health::Command(command) => Probe::Command(command.clone()),
    };
    script.code("ferry_probe() {");
    switch::probe_body(script, &probe);
    script.code("}");
    script.call(
        "ferry_health",
        [
            Word::lit(health.label()),
            Word::num(timing.deadline),
            Word::num(timing.interval),
        ],
    );
}

/// The last writes of a finished deploy on a host: the release's record,
/// a history line, the pending record gone, old releases removed.
pub(crate) fn finish(
    script: &mut Script,
    id: &str,
    record: Option<&str>,
    history: &str,
    remove: &[String],
) {
    if let Some(json) = record {
        write_record(script, record_path(id), json);
    }
    append_history(script, history);
    script.code("ferry_done");
    remove_releases(script, remove);
}

/// One line appended to `.ferry/history.jsonl`: appended, never rewritten.
pub(crate) fn append_history(script: &mut Script, json: &str) {
    script.call("ferry_history", [Word::lit(json)]);
}

/// Remove these releases, reporting each as it goes.
pub(crate) fn remove_releases(script: &mut Script, ids: &[String]) {
    if !ids.is_empty() {
        script.call("ferry_remove", ids.iter().map(|id| Word::lit(id)));
    }
}
