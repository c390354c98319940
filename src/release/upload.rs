//! The upload phase: a new release built beside the live one from a copy of
//! the live release's unchanged files plus a tar of the files the host lacks
//! (changed bytes or mode, new files). The host rebuilds the manifest from
//! the old one and the changes, and checks it against the artifact's digest
//! before the release gets its final name, so a half-written release never
//! looks complete. Older releases are only read, never written.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::Layout;
use super::artifact::Artifact;
use super::survey::Survey;
use crate::script::quote;

/// What one host needs: the script, the payload, and figures for `--check`.
pub(crate) struct Upload {
    pub(crate) script: String,
    pub(crate) payload: Arc<[u8]>,
    pub(crate) files_sent: usize,
    pub(crate) bytes_of_files: u64,
}

/// The host-specific parts of the release around the files.
pub(crate) struct Extras<'a> {
    pub(crate) id: &'a str,
    pub(crate) release_json: &'a str,
    pub(crate) pending_json: &'a str,
    pub(crate) shared_files: &'a [String],
    pub(crate) shared_dirs: &'a [String],
    pub(crate) copy_from_current: &'a [String],
    /// Script lines that write shared/.env (rendered for this host).
    pub(crate) dotenv: Option<&'a str>,
}

/// Payloads by the set of files they carry: hosts on the same release share one.
#[derive(Default)]
pub(crate) struct Payloads {
    cache: HashMap<Vec<String>, Arc<[u8]>>,
}

impl Payloads {
    fn get(&mut self, artifact: &Artifact, files: &[String]) -> Arc<[u8]> {
        self.cache
            .entry(files.to_vec())
            .or_insert_with(|| artifact.payload(files.iter().map(String::as_str)).into())
            .clone()
    }
}

pub(crate) fn plan(
    artifact: &Artifact,
    survey: &Survey,
    layout: &Layout,
    extras: &Extras<'_>,
    payloads: &mut Payloads,
) -> Upload {
    let base = survey
        .current
        .as_deref()
        .filter(|_| !survey.files.is_empty() || !survey.gone.is_empty());
    let (send, drop) = diff(artifact, survey);
    let payload = payloads.get(artifact, &send);
    let add: Vec<String> = artifact
        .manifest
        .entries()
        .filter(|e| !e.is_file() || send.binary_search(&e.path).is_ok())
        .map(|e| e.line())
        .collect();
    let bytes_of_files = send
        .iter()
        .filter_map(|p| artifact.manifest.get(p))
        .map(|e| match e.kind {
            super::manifest::Kind::File { size, .. } => size,
            _ => 0,
        });
    Upload {
        script: script(
            layout,
            extras,
            base,
            &drop,
            &add,
            &artifact.manifest.digest(),
        ),
        payload,
        files_sent: send.len(),
        bytes_of_files: bytes_of_files.sum(),
    }
}

/// For `--check`: files to send, their bytes, and files kept from the live release.
pub(crate) fn preview(artifact: &Artifact, survey: &Survey) -> (usize, u64, usize) {
    let (send, _) = diff(artifact, survey);
    let bytes = send
        .iter()
        .filter_map(|p| artifact.manifest.get(p))
        .map(|e| match e.kind {
            super::manifest::Kind::File { size, .. } => size,
            _ => 0,
        });
    let total = artifact.manifest.files().count();
    (send.len(), bytes.sum(), total - send.len())
}

/// Files to send (sorted) and lines of the live manifest not to keep.
fn diff(artifact: &Artifact, survey: &Survey) -> (Vec<String>, Vec<String>) {
    let kept: BTreeSet<&str> = artifact
        .manifest
        .files()
        .filter(|entry| {
            let super::manifest::Kind::File { digest, .. } = &entry.kind else {
                return false;
            };
            survey
                .files
                .get(&entry.path)
                .is_some_and(|(d, mode)| d == digest && *mode == entry.mode)
        })
        .map(|e| e.path.as_str())
        .collect();
    let send = artifact
        .manifest
        .files()
        .filter(|e| !kept.contains(e.path.as_str()))
        .map(|e| e.path.clone())
        .collect();
    let live = survey.files.keys().chain(&survey.gone);
    let drop = live
        .filter(|p| !kept.contains(p.as_str()))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    (send, drop)
}

fn heredoc(target: &str, lines: &[String]) -> String {
    let mut text = format!("cat > {target} <<'FERRY_END'\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("FERRY_END\n");
    text
}

fn script(
    layout: &Layout,
    extras: &Extras<'_>,
    base: Option<&str>,
    drop: &[String],
    add: &[String],
    digest: &str,
) -> String {
    let mut s = layout.prelude();
    s.push_str(&format!(
        "ID={id}\nR=\"$D/releases/$ID\"\nT=\"$D/releases/.$ID.partial\"\nP={base}\n",
        id = quote(extras.id),
        base = quote(base.unwrap_or(""))
    ));
    s.push_str(&format!(
        "printf '%s\\n' {} > \"$D/.ferry/deploy.json\"\n",
        quote(extras.pending_json)
    ));
    // The lock now names its release, so `deploy:resume=yes` may take it over.
    s.push_str(
        r#"sed -i "s/\"release\":\"\"/\"release\":\"$ID\"/" "$D/.ferry/lock/info" 2>/dev/null"#,
    );
    s.push('\n');
    s.push_str("if [ -d \"$R\" ]; then ferry_mark 'uploaded already'; exit 0; fi\n");
    s.push_str("rm -rf \"$T\" && mkdir -p \"$T/.ferry\" || ferry_fail \"cannot create $T\"\n");
    s.push_str(&heredoc("\"$T/.ferry/drop\"", drop));
    s.push_str(&heredoc("\"$T/.ferry/add\"", add));
    s.push_str(ASSEMBLE);
    s.push_str(&format!(
        "echo {}'  '\"$T/.ferry/manifest\" | sha256sum -c --status || ferry_fail \"the files assembled for $ID do not match the artifact (digest mismatch)\"\n",
        quote(digest)
    ));
    if let Some(dotenv) = extras.dotenv {
        s.push_str(dotenv);
    }
    for dir in extras.shared_dirs {
        s.push_str(&format!("ferry_share {} dir\n", quote(dir)));
    }
    for file in extras.shared_files {
        s.push_str(&format!("ferry_share {} file\n", quote(file)));
    }
    for dir in extras.copy_from_current {
        s.push_str(&format!("ferry_copy_current {}\n", quote(dir)));
    }
    s.push_str(&format!(
        "printf '%s\\n' {} > \"$T/.ferry/release.json\"\n",
        quote(extras.release_json)
    ));
    // A script outlives a ferry that was killed; it must not finish a
    // release for a deploy whose lock someone else now holds.
    s.push_str(r#"grep -qF "\"release\":\"$ID\"" "$D/.ferry/lock/info" 2>/dev/null || ferry_fail "the deploy lock is no longer held for $ID; leaving it unfinished""#);
    s.push('\n');
    s.push_str("mv \"$T\" \"$R\" || ferry_fail \"cannot rename $T to $R\"\nferry_mark uploaded\n");
    s
}

/// Copy the live release's unchanged files (a reflink where the filesystem
/// can), unpack what was sent, rebuild the manifest. Then the helpers that
/// link shared paths and copy directories from the live release.
const ASSEMBLE: &str = r#": > "$T/.ferry/keep"
if [ -n "$P" ] && [ -f "$D/releases/$P/.ferry/manifest" ]; then
    awk -F'\t' -v drops="$T/.ferry/drop" 'BEGIN { while ((getline line < drops) > 0) drop[line] = 1 } $1 == "f" && !($5 in drop)' \
        "$D/releases/$P/.ferry/manifest" > "$T/.ferry/keep" \
        || ferry_fail "cannot read the manifest of release $P"
    awk -F'\t' '{ print $5 }' "$T/.ferry/keep" | (cd "$D/releases/$P" && xargs -d '\n' -r cp -a --reflink=auto --parents -t "$T") \
        || ferry_fail "cannot copy the unchanged files of release $P"
fi
tar -xzpf - --no-same-owner -C "$T" || ferry_fail "cannot unpack the files sent"
cat "$T/.ferry/keep" "$T/.ferry/add" | LC_ALL=C sort -t "$(printf '\t')" -k5,5 > "$T/.ferry/manifest"
rm -f "$T/.ferry/keep" "$T/.ferry/add" "$T/.ferry/drop"
ferry_share() {
    mkdir -p "$D/shared/$(dirname "$1")" "$T/$(dirname "$1")" || ferry_fail "cannot create the parents of shared $1"
    if [ "$2" = dir ]; then mkdir -p "$D/shared/$1"; elif [ ! -e "$D/shared/$1" ]; then : > "$D/shared/$1"; fi
    rm -rf "$T/$1" && ln -s "$D/shared/$1" "$T/$1" || ferry_fail "cannot link shared $1"
}
# A copied virtualenv still names the old release in its scripts
# (#!…/releases/OLD/venv/bin/python): point them at the new one.
ferry_copy_current() {
    [ -d "$D/current/$1" ] || return 0
    old=$(readlink -f "$D/current")
    rm -rf "$T/$1" && cp -a --reflink=auto "$D/current/$1" "$T/$1" || ferry_fail "cannot copy $1 from the live release"
    sep=$(printf '\001')
    grep -rlIF "$old/" "$T/$1" 2>/dev/null | xargs -d '\n' -r sed -i "s${sep}$old/${sep}$R/${sep}g"
    ferry_mark "copied $1 from the live release"
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::survey::{Lock, Survey};

    fn survey(files: &[(&str, &str, u32)], gone: &[&str]) -> Survey {
        Survey {
            current: Some("old".into()),
            releases: Default::default(),
            lock: Lock::Taken,
            pending: None,
            files: files
                .iter()
                .map(|(p, d, m)| (p.to_string(), (d.to_string(), *m)))
                .collect(),
            gone: gone.iter().map(|g| g.to_string()).collect(),
            missing_tools: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn sends_only_what_the_host_lacks_and_drops_what_it_must_not_keep() {
        let artifact = Artifact::for_tests(&[
            ("same.py", b"same", 0o644),
            ("edited.py", b"new", 0o644),
            ("chmod.sh", b"x", 0o755),
            ("new.py", b"n", 0o644),
        ]);
        let digest = |body: &[u8]| super::super::manifest::sha256(body);
        let live = survey(
            &[
                ("same.py", &digest(b"same"), 0o644),
                ("edited.py", &digest(b"old"), 0o644),
                ("chmod.sh", &digest(b"x"), 0o644),
                ("deleted.py", &digest(b"d"), 0o644),
            ],
            &["vanished.py"],
        );
        let (send, drop) = diff(&artifact, &live);
        assert_eq!(send, ["chmod.sh", "edited.py", "new.py"]);
        assert_eq!(drop, ["chmod.sh", "deleted.py", "edited.py", "vanished.py"]);
    }
}
