//! The upload phase: a new release built beside the live one from hard
//! links to the live release's unchanged files plus a tar of the files the
//! host lacks (changed bytes or mode, new files), which land in the host's
//! content store (`.ferry/store/`, read-only) and are linked from there. The
//! host rebuilds the manifest from the old one and the changes, and checks
//! it against the artifact's digest before the release gets its final name,
//! so a half-written release never looks complete. Older releases are only
//! read, never written: the files they share with the new one are read-only.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::Layout;
use super::artifact::Artifact;
use super::survey::Survey;
use crate::shell::Word;

/// What one host needs: the script, the payload (the file lists, then the
/// tar stream shared with hosts that need the same files), and figures for
/// `--check`.
pub(crate) struct Upload {
    pub(crate) script: String,
    pub(crate) payload: Vec<Arc<[u8]>>,
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
    /// The shared .env, rendered for this host.
    pub(crate) dotenv: Option<&'a Dotenv>,
}

/// Payloads by the set of files they carry: hosts on the same release share one.
#[derive(Default)]
pub(crate) struct Payloads {
    cache: HashMap<Vec<String>, Arc<[u8]>>,
}

impl Payloads {
    fn get(
        &mut self,
        artifact: &Artifact,
        id: &str,
        files: &[String],
    ) -> std::io::Result<Arc<[u8]>> {
        if let Some(payload) = self.cache.get(files) {
            return Ok(payload.clone());
        }
        // Where `ferry_upload_begin` makes the release, relative to deploy_to.
        let partial = format!("releases/.{id}.partial");
        let payload: Arc<[u8]> = artifact
            .upload_payload(&partial, files.iter().map(String::as_str))?
            .into();
        self.cache.insert(files.to_vec(), payload.clone());
        Ok(payload)
    }
}

pub(crate) fn plan(
    artifact: &Artifact,
    survey: &Survey,
    layout: &Layout,
    extras: &Extras<'_>,
    payloads: &mut Payloads,
) -> std::io::Result<Upload> {
    let base = survey
        .current
        .as_deref()
        .filter(|_| !survey.files.is_empty());
    let (send, drop) = diff(artifact, survey);
    let tar = payloads.get(artifact, extras.id, &send)?;
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
    Ok(Upload {
        script: script(
            layout,
            extras,
            base,
            (&lines(&drop), &lines(&add)),
            &artifact.manifest.digest(),
        ),
        payload: vec![tar],
        files_sent: send.len(),
        bytes_of_files: bytes_of_files.sum(),
    })
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
    let live = survey.files.keys();
    let drop = live
        .filter(|p| !kept.contains(p.as_str()))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    (send, drop)
}

/// Entries one per line: paths never hold a newline (`manifest::check_path`).
fn lines(entries: &[String]) -> String {
    entries.iter().flat_map(|e| [e.as_str(), "\n"]).collect()
}

/// The shared .env of a release: its path under shared/, its lines, the
/// secrets (each name and its value as the .env writes it), and the keys
/// generated on the host once and kept.
#[derive(Debug, Clone)]
pub(crate) struct Dotenv {
    pub(crate) file: String,
    pub(crate) lines: String,
    pub(crate) secrets: Vec<(String, String)>,
    pub(crate) generate: Vec<String>,
}

/// The upload's script. The lists (paths the live release's files drop,
/// manifest lines of the files sent) travel in it as words: writing them
/// takes no process, and a one-file change keeps them short.
fn script(
    layout: &Layout,
    extras: &Extras<'_>,
    base: Option<&str>,
    (drop, add): (&str, &str),
    digest: &str,
) -> String {
    let mut s = layout.script();
    s.call(
        "ferry_upload_begin",
        [Word::lit(extras.id), Word::lit(extras.pending_json)],
    );
    s.call(
        "ferry_assemble",
        [
            Word::lit(base.unwrap_or("")),
            Word::lit(digest),
            Word::lit(drop),
            Word::lit(add),
        ],
    );
    if let Some(dotenv) = extras.dotenv {
        let secrets = dotenv
            .secrets
            .iter()
            .flat_map(|(name, value)| [Word::lit(name), Word::lit(value)]);
        s.call(
            "ferry_dotenv",
            [
                Word::lit(&dotenv.file),
                Word::lit(&dotenv.lines),
                Word::num(dotenv.secrets.len() as u64),
            ]
            .into_iter()
            .chain(secrets)
            .chain(dotenv.generate.iter().map(|k| Word::lit(k))),
        );
        s.call(
            "ferry_with_env",
            [Word::lit(&crate::shell::with_env_program())],
        );
    }
    for dir in extras.shared_dirs {
        s.call("ferry_share", [Word::lit(dir), Word::lit("dir")]);
    }
    for file in extras.shared_files {
        s.call("ferry_share", [Word::lit(file), Word::lit("file")]);
    }
    for dir in extras.copy_from_current {
        s.call("ferry_copy_current", [Word::lit(dir)]);
    }
    s.call(
        "ferry_put",
        [
            Word::var("T").join(Word::lit("/.ferry/release.json")),
            Word::lit(&format!("{}\n", extras.release_json)),
        ],
    );
    s.code("ferry_upload_end");
    s.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::survey::{Lock, Survey};

    fn survey(files: &[(&str, &str, u32)]) -> Survey {
        Survey {
            current: Some("old".into()),
            releases: Default::default(),
            lock: Lock::Taken,
            pending: None,
            files: std::sync::Arc::new(
                files
                    .iter()
                    .map(|(p, d, m)| (p.to_string(), (d.to_string(), *m)))
                    .collect(),
            ),
            missing_tools: Vec::new(),
            error: None,
            took_over: None,
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
        let live = survey(&[
            ("same.py", &digest(b"same"), 0o644),
            ("edited.py", &digest(b"old"), 0o644),
            ("chmod.sh", &digest(b"x"), 0o644),
            ("deleted.py", &digest(b"d"), 0o644),
        ]);
        let (send, drop) = diff(&artifact, &live);
        assert_eq!(send, ["chmod.sh", "edited.py", "new.py"]);
        assert_eq!(drop, ["chmod.sh", "deleted.py", "edited.py"]);
    }
}
