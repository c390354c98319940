//! The scripts of the phases after upload: build and migrate in the new
//! release, the switch, restart with its health check, and the last writes
//! of a deploy. Each is one round trip; ferry renders them whole, including
//! the JSON records they write, so the host only moves bytes into place.

use super::Layout;
use crate::script::{Script, quote};
use crate::secret::Secret;
use crate::service;

/// The commands of a phase as rendered for one host, with their labels.
#[derive(Debug, Clone, Default)]
pub(crate) struct Commands {
    pub(crate) steps: Vec<(String, String)>,
    /// `export FERRY_VAR_…` lines the steps see (template::exports).
    pub(crate) exports: Vec<String>,
}

impl Commands {
    pub(crate) fn labels(&self) -> Vec<String> {
        self.steps.iter().map(|(label, _)| label.clone()).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Write `json` to `path` whole, by rename, so a reader never sees half a record.
pub(crate) fn write_record(path: &str, json: &str) -> String {
    format!(
        "printf '%s\\n' {json} > {path}.tmp && mv -f {path}.tmp {path} || ferry_fail \"cannot write {path}\"\n",
        json = quote(json)
    )
}

/// Build or migrate: `commands` in the release `id`, with the secrets and
/// the release's whereabouts in the environment; then `record` is written.
pub(crate) fn in_release(
    layout: &Layout,
    id: &str,
    secrets: &[Secret],
    commands: &Commands,
    record: Option<&str>,
) -> String {
    let mut script = Script::new();
    script.line(&layout.prelude());
    script.line(&format!("R=\"$D/releases/\"{}", quote(id)));
    script.line("cd \"$R\" || ferry_fail \"release $R is missing\"");
    script.line(&format!(
        "export FERRY_RELEASE={} FERRY_RELEASE_PATH=\"$R\" FERRY_DEPLOY_TO=\"$D\"",
        quote(id)
    ));
    script.exports(secrets);
    for line in &commands.exports {
        script.line(line);
    }
    for (index, (label, command)) in commands.steps.iter().enumerate() {
        script.step(index + 1, label, command);
    }
    if let Some(json) = record {
        script.line(&write_record("\"$R/.ferry/release.json\"", json));
    }
    script.build()
}

/// Point `current` at `id` by rename(2): readers see the old target or the
/// new one, never a missing link. Reports where it pointed before.
pub(crate) fn switch(layout: &Layout, id: &str, record: Option<&str>) -> String {
    let mut s = layout.prelude();
    s.push_str(&format!(
        r#"ID={id}
[ -d "$D/releases/$ID" ] || ferry_fail "release $ID is not on this host"
old=$(readlink "$D/current" 2>/dev/null) && ferry_mark "was ${{old##*/}}"
ln -s "releases/$ID" "$D/current.tmp-$$" && mv -T "$D/current.tmp-$$" "$D/current" || {{ rm -f "$D/current.tmp-$$"; ferry_fail "cannot switch current to $ID"; }}
ferry_mark "now $ID"
"#,
        id = quote(id)
    ));
    if let Some(json) = record {
        s.push_str(&write_record(
            "\"$D/releases/$ID/.ferry/release.json\"",
            json,
        ));
    }
    s
}

/// How a host checks that the new release serves.
#[derive(Debug, Clone)]
pub(crate) enum Health {
    Url { url: String, expect: Option<String> },
    Command(String),
}

pub(crate) struct HealthTiming {
    pub(crate) deadline: u64,
    pub(crate) interval: u64,
}

/// Restart (or reload) this host's services, then probe until healthy or
/// out of time.
pub(crate) fn restart(
    layout: &Layout,
    secrets: &[Secret],
    restarts: &Commands,
    health: Option<(&Health, &HealthTiming)>,
) -> String {
    let mut script = Script::new();
    script
        .line(&layout.prelude())
        .line(service::AS_ROOT)
        .exports(secrets);
    script.line("cd \"$D/current\" || ferry_fail \"$D/current is missing\"");
    for line in &restarts.exports {
        script.line(line);
    }
    for (index, (label, command)) in restarts.steps.iter().enumerate() {
        script.step(index + 1, label, command);
    }
    if let Some((health, timing)) = health {
        script.line(&probe(health, timing));
    }
    script.build()
}

fn probe(health: &Health, timing: &HealthTiming) -> String {
    let (attempt, label) = match health {
        Health::Url { url, expect } => {
            let check = expect.as_ref().map_or(String::new(), |text| {
                format!(" && case \"$body\" in *{}*) true ;; *) body=\"the response lacks the expected text: $body\"; false ;; esac", quote(text))
            });
            (
                format!(
                    "code=$(ferry_get {} \"$H\" 2>\"$H.err\"); body=$(cat \"$H\" \"$H.err\" 2>/dev/null | head -c 300); case \"$code\" in 2??) true{check} ;; 000|'') body=\"no answer: $body\"; false ;; *) body=\"HTTP $code: $body\"; false ;; esac",
                    quote(url)
                ),
                url.clone(),
            )
        }
        Health::Command(command) => (format!("body=$( ( {command} ) 2>&1 )"), command.clone()),
    };
    format!(
        r#"# Prints the HTTP status; the body goes to the file $2.
ferry_get() {{
    if command -v curl >/dev/null 2>&1; then curl -sS --max-time 5 -o "$2" -w '%{{http_code}}' "$1"
    elif command -v python3 >/dev/null 2>&1; then python3 -c '
import sys, urllib.request, urllib.error
try:
    response = urllib.request.urlopen(sys.argv[1], timeout=5)
except urllib.error.HTTPError as error:
    response = error
except OSError as error:
    print(error, end=""); sys.exit(0)
open(sys.argv[2], "wb").write(response.read()); print(response.status, end="")' "$1" "$2"
    elif command -v wget >/dev/null 2>&1; then if wget -q -T 5 --content-on-error -O "$2" "$1"; then printf 200; else printf 'an error status'; fi
    else printf 'no curl, python3 or wget here to probe with'
    fi
}}
ferry_mark {activity}
H="$D/.ferry/health.$$"
deadline=$(( $(date +%s) + {deadline} ))
while :; do
    if {attempt}; then ferry_mark healthy; rm -f "$H" "$H.err"; break; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        rm -f "$H" "$H.err"
        ferry_mark "unhealthy $(printf '%s' "$body" | tail -c 300 | tr '\n' ' ')"
        exit 1
    fi
    sleep {interval}
done
"#,
        activity = quote(&format!("activity health check {label}")),
        deadline = timing.deadline,
        interval = timing.interval,
    )
}

/// The last writes of a finished deploy on a host: the release's record,
/// a history line, the pending record gone, old releases removed.
pub(crate) fn finish(
    layout: &Layout,
    id: &str,
    record: Option<&str>,
    history: &str,
    remove: &[String],
    announce: Option<&str>,
) -> String {
    let mut s = layout.prelude();
    s.push_str(&format!("ID={}\n", quote(id)));
    if let Some(json) = record {
        s.push_str(&write_record(
            "\"$D/releases/$ID/.ferry/release.json\"",
            json,
        ));
    }
    s.push_str(&append_history(history));
    s.push_str("rm -f \"$D/.ferry/deploy.json\"\n");
    // What abandoned deploys left half-written.
    s.push_str(
        "for p in \"$D\"/releases/.*.partial; do if [ -d \"$p\" ]; then rm -rf \"$p\" 2>/dev/null; fi; done; :\n",
    );
    s.push_str(&remove_releases(remove));
    if let Some(text) = announce {
        s.push_str(&format!("printf '%s\\n' {}\n", quote(text)));
    }
    s
}

/// One line appended to `.ferry/history.jsonl`: appended, never rewritten.
pub(crate) fn append_history(json: &str) -> String {
    format!(
        "printf '%s\\n' {} >> \"$D/.ferry/history.jsonl\"\n",
        quote(json)
    )
}

/// Remove these releases, reporting each as it goes.
pub(crate) fn remove_releases(ids: &[String]) -> String {
    ids.iter()
        .map(|id| {
            format!(
                "rm -rf \"$D/releases/\"{0} && ferry_mark \"removed {0}\"\n",
                quote(id)
            )
        })
        .collect()
}
