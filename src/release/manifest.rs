//! A release's manifest: every path ferry shipped, with kind, mode, digest
//! and size, one tab-separated line each, sorted by path. Stored in the
//! release (`.ferry/manifest`), it is what the next deploy compares against,
//! so only files whose bytes or mode changed travel.

use std::collections::BTreeMap;
use std::fmt::Write;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    File { digest: String, size: u64 },
    Link { target: String },
    Dir,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) path: String,
    pub(crate) mode: u32,
    pub(crate) kind: Kind,
}

impl Entry {
    /// The manifest line; the host rebuilds manifests from these with
    /// awk/sort, so the format is plain and fixed.
    pub(crate) fn line(&self) -> String {
        let path = &self.path;
        match &self.kind {
            Kind::File { digest, size } => {
                format!("f\t{:04o}\t{digest}\t{size}\t{path}", self.mode)
            }
            Kind::Link { target } => format!("l\t0777\t{target}\t-\t{path}"),
            Kind::Dir => format!("d\t{:04o}\t-\t-\t{path}", self.mode),
        }
    }

    /// Where a file's bytes live on a host: `.ferry/store/<sha256>-<mode>`,
    /// the mode with its write bits cleared (`ferry_store_names` in
    /// helpers.sh gives the same name). `None` for directories and links.
    pub(crate) fn store_name(&self) -> Option<String> {
        match &self.kind {
            Kind::File { digest, .. } => Some(format!("{digest}-{:04o}", self.mode & !0o222)),
            _ => None,
        }
    }

    pub(crate) fn is_file(&self) -> bool {
        matches!(self.kind, Kind::File { .. })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    entries: BTreeMap<String, Entry>,
}

impl Manifest {
    pub(crate) fn insert(&mut self, entry: Entry) {
        self.entries.insert(entry.path.clone(), entry);
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub(crate) fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    pub(crate) fn files(&self) -> impl Iterator<Item = &Entry> {
        self.entries().filter(|e| e.is_file())
    }

    /// The manifest as stored on hosts: lines in byte order of path (the
    /// order `LC_ALL=C sort` gives), each ending in a newline.
    pub(crate) fn text(&self) -> String {
        let mut text = String::new();
        for entry in self.entries.values() {
            let _ = writeln!(text, "{}", entry.line());
        }
        text
    }

    /// The artifact's identity: the sha256 of `text()`, which `sha256sum`
    /// on a host reproduces.
    pub(crate) fn digest(&self) -> String {
        hex(&Sha256::digest(self.text().as_bytes()))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The sha256 of what is written to it, as `sha256` gives it.
#[derive(Default)]
pub(crate) struct Hasher(Sha256);

impl Hasher {
    pub(crate) fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A path the manifest can carry: the host keeps the manifest one entry per
/// line with tab-separated fields, so no tab, newline or carriage return.
/// Everything else (quotes, `$(…)`, leading dashes, spaces, any UTF-8)
/// ships as it is: it only ever reaches the host as data.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    match path.chars().find(|c| matches!(c, '\t' | '\n' | '\r')) {
        Some(c) => Err(format!(
            "`{}`: ferry cannot ship a path containing {c:?}",
            path.escape_debug()
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_sorted_by_path_bytes_and_digest_matches_sha256sum() {
        let mut manifest = Manifest::default();
        let file = |path: &str, body: &[u8]| Entry {
            path: path.into(),
            mode: 0o644,
            kind: Kind::File {
                digest: sha256(body),
                size: body.len() as u64,
            },
        };
        manifest.insert(file("b.txt", b"b"));
        manifest.insert(file("B.txt", b"B"));
        manifest.insert(Entry {
            path: "a".into(),
            mode: 0o755,
            kind: Kind::Dir,
        });
        let text = manifest.text();
        let paths: Vec<&str> = text
            .lines()
            .map(|l| l.rsplit('\t').next().unwrap())
            .collect();
        assert_eq!(paths, ["B.txt", "a", "b.txt"]);
        let sorted = std::process::Command::new("sh")
            .arg("-c")
            .arg("LC_ALL=C sort -t \"$(printf '\\t')\" -k5,5 | sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(text.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        let host_digest = String::from_utf8_lossy(&sorted.stdout);
        assert!(
            host_digest.starts_with(&manifest.digest()),
            "{host_digest} vs {}",
            manifest.digest()
        );
    }
}
