//! The first round trip of every release task: one script that looks at the
//! layout on a host — where `current` points, every release and its
//! release.json, the lock, an unfinished deploy, the live files' digests —
//! and, for tasks that change things, takes the lock in the same breath.

use std::collections::{BTreeMap, HashMap};

use super::Layout;
use super::record::{LockInfo, Pending, ReleaseRecord};
use crate::script::quote;

/// Tools release scripts rely on beyond `sh`.
const TOOLS: &[&str] = &[
    "tar",
    "gzip",
    "sha256sum",
    "cp",
    "mv",
    "ln",
    "readlink",
    "awk",
    "sort",
    "xargs",
    "sed",
    "stat",
    "head",
];

/// Exit code of a survey that found the lock taken: a refusal, not a failure.
pub(crate) const LOCKED: i32 = 75;

pub(crate) struct Options<'a> {
    /// Take the deploy lock with this record.
    pub(crate) lock: Option<&'a LockInfo>,
    /// A resumed deploy may take over the lock its own earlier run left
    /// (the pending deploy's release names it).
    pub(crate) takeover: bool,
    /// Report digests and modes of the live release's files (deploys diff against them).
    pub(crate) sums: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lock {
    Free,
    Taken,
    /// Held by a deploy whose keeper is alive.
    Held(Option<LockInfo>),
    /// Left by a deploy that is gone.
    Stale(Option<LockInfo>),
}

#[derive(Debug, Clone)]
pub(crate) struct Survey {
    pub(crate) current: Option<String>,
    /// Every release, with its record when it has a readable one.
    pub(crate) releases: BTreeMap<String, Option<ReleaseRecord>>,
    pub(crate) lock: Lock,
    pub(crate) pending: Option<Pending>,
    /// Path → (sha256, mode) of the live release's files, as they are now.
    pub(crate) files: HashMap<String, (String, u32)>,
    /// Files the live release's manifest lists that are no longer there.
    pub(crate) gone: Vec<String>,
    pub(crate) missing_tools: Vec<String>,
    pub(crate) error: Option<String>,
}

impl Survey {
    pub(crate) fn record(&self, id: &str) -> Option<&ReleaseRecord> {
        self.releases.get(id).and_then(Option::as_ref)
    }

    pub(crate) fn newest(&self) -> Option<&str> {
        self.releases.keys().next_back().map(String::as_str)
    }
}

pub(crate) fn script(layout: &Layout, options: &Options<'_>) -> String {
    let mut script = layout.prelude();
    script.push_str(&format!(
        r#"mkdir -p "$D/releases" "$D/shared" "$D/.ferry" 2>/dev/null || ferry_fail "cannot create $D/releases, $D/shared and $D/.ferry as $(id -un)"
[ -w "$D" ] || ferry_fail "$D is not writable by $(id -un)"
missing=
for tool in {tools}; do command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"; done
[ -z "$missing" ] || ferry_mark "missing$missing"
"#,
        tools = TOOLS.join(" ")
    ));
    script.push_str(LOCK_STATE);
    match options.lock {
        Some(info) => script.push_str(&take_lock(info, options.takeover)),
        None => script.push_str("ferry_lock_state\n"),
    }
    script.push_str(LISTING);
    if options.sums {
        script.push_str(SUMS);
    }
    script.push_str("exit 0\n");
    script
}

pub(crate) fn lock_state() -> &'static str {
    LOCK_STATE
}

/// `ferry_lock_state`: free, held (a live keeper, or one still starting) or stale.
const LOCK_STATE: &str = r#"L="$D/.ferry/lock"
ferry_lock_state() {
    [ -d "$L" ] || { ferry_mark "lock free"; return 0; }
    info=$(head -c 4096 "$L/info" 2>/dev/null | tr -d '\n')
    pid=$(cat "$L/keeper" 2>/dev/null)
    if [ -n "$pid" ]; then
        if [ -d "/proc/$pid" ] || kill -0 "$pid" 2>/dev/null; then ferry_mark "lock held $info"; return 1; fi
    else
        age=$(( $(date +%s) - $(stat -c %Y "$L" 2>/dev/null || echo 0) ))
        if [ "$age" -lt 30 ]; then ferry_mark "lock held $info"; return 1; fi
    fi
    ferry_mark "lock stale $info"
    return 2
}
"#;

fn take_lock(info: &LockInfo, takeover: bool) -> String {
    let info = serde_json::to_string(info).expect("serializable");
    let takeover = if takeover { "yes" } else { "" };
    format!(
        r#"same=
if [ -n "{takeover}" ] && [ -f "$D/.ferry/deploy.json" ]; then
    pending=$(sed -n 's/.*"release":"\([^"]*\)".*/\1/p' "$D/.ferry/deploy.json")
    [ -z "$pending" ] || same="\"release\":\"$pending\""
fi
ferry_take() {{
    tries=0
    while :; do
        if mkdir "$L" 2>/dev/null; then
            printf '%s\n' {info} > "$L/info"
            ferry_mark "lock taken"
            return 0
        fi
        ferry_lock_state >/dev/null
        state=$?
        info=$(head -c 4096 "$L/info" 2>/dev/null | tr -d '\n')
        case "$info" in *"$same"*) mine=${{same:+yes}} ;; *) mine= ;; esac
        if [ "$state" -eq 2 ] && [ -n "$mine" ]; then rm -rf "$L"; continue; fi
        # Our own earlier run's keeper notices the lost connection in three keepalives.
        if [ "$state" -eq 1 ] && [ -n "$mine" ] && [ "$tries" -lt 60 ]; then tries=$((tries + 1)); sleep 1; continue; fi
        ferry_lock_state
        exit {LOCKED}
    done
}}
ferry_take
"#,
        info = quote(&info),
    )
}

const LISTING: &str = r#"c=$(readlink "$D/current" 2>/dev/null) && ferry_mark "current ${c##*/}"
for r in "$D"/releases/*; do
    [ -d "$r" ] || continue
    ferry_mark "release ${r##*/} $(head -c 65536 "$r/.ferry/release.json" 2>/dev/null | tr -d '\n')"
done
[ -f "$D/.ferry/deploy.json" ] && ferry_mark "pending $(head -c 65536 "$D/.ferry/deploy.json" | tr -d '\n')"
"#;

/// Digests and modes of the live release's files as they are on disk, not
/// as recorded: a file edited in place on the host is sent again.
const SUMS: &str = r#"if [ -n "$c" ] && [ -f "$D/current/.ferry/manifest" ]; then
    cd "$D/current/" || exit 1
    awk -F'\t' '$1 == "f" { print $5 }' .ferry/manifest > "$D/.ferry/survey.$$"
    xargs -d '\n' -r sha256sum -- < "$D/.ferry/survey.$$" 2>/dev/null | sed "s/^/$(printf '\036')ferry:sum /"
    xargs -d '\n' -r stat -c '%a %n' -- < "$D/.ferry/survey.$$" 2>/dev/null | sed "s/^/$(printf '\036')ferry:mode /"
    while IFS= read -r p; do [ -f "$p" ] || ferry_mark "gone $p"; done < "$D/.ferry/survey.$$"
    rm -f "$D/.ferry/survey.$$"
fi
"#;

pub(crate) fn parse(markers: &[String]) -> Survey {
    let mut survey = Survey {
        current: None,
        releases: BTreeMap::new(),
        lock: Lock::Free,
        pending: None,
        files: HashMap::new(),
        gone: Vec::new(),
        missing_tools: Vec::new(),
        error: None,
    };
    let mut modes = HashMap::new();
    for marker in markers {
        let (word, rest) = marker.split_once(' ').unwrap_or((marker, ""));
        match word {
            "current" => survey.current = Some(rest.to_string()),
            "release" => {
                let (id, json) = rest.split_once(' ').unwrap_or((rest, ""));
                survey
                    .releases
                    .insert(id.to_string(), serde_json::from_str(json).ok());
            }
            "lock" => survey.lock = parse_lock(rest),
            "pending" => survey.pending = serde_json::from_str(rest).ok(),
            "missing" => {
                survey.missing_tools = rest.split_whitespace().map(str::to_string).collect()
            }
            "error" => survey.error = Some(rest.to_string()),
            "gone" => survey.gone.push(rest.to_string()),
            "sum" => {
                if let Some((digest, path)) = rest.split_once("  ") {
                    survey
                        .files
                        .insert(path.to_string(), (digest.to_string(), 0));
                }
            }
            "mode" => {
                if let Some((mode, path)) = rest.split_once(' ') {
                    modes.insert(path.to_string(), u32::from_str_radix(mode, 8).unwrap_or(0));
                }
            }
            _ => {}
        }
    }
    for (path, mode) in modes {
        if let Some(entry) = survey.files.get_mut(&path) {
            entry.1 = mode;
        }
    }
    survey
}

fn parse_lock(text: &str) -> Lock {
    let (word, info) = text.split_once(' ').unwrap_or((text, ""));
    let info = serde_json::from_str(info).ok();
    match word {
        "taken" => Lock::Taken,
        "held" => Lock::Held(info),
        "stale" => Lock::Stale(info),
        _ => Lock::Free,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_script_reports() {
        let markers: Vec<String> = [
            "current 20261122T010000Z",
            r#"release 20261122T010000Z {"id":"20261122T010000Z","ref":"main","digest":"d","who":"a@b","at":"t","state":"deployed"}"#,
            "release 20261121T010000Z ",
            "lock taken",
            "sum 0123  app.py",
            "mode 755 app.py",
        ]
        .map(String::from)
        .into();
        let survey = parse(&markers);
        assert_eq!(survey.current.as_deref(), Some("20261122T010000Z"));
        assert_eq!(survey.releases.len(), 2);
        assert!(survey.record("20261121T010000Z").is_none());
        assert_eq!(survey.lock, Lock::Taken);
        assert_eq!(survey.files["app.py"], ("0123".to_string(), 0o755));
    }
}
