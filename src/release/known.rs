//! Manifests ferry has seen, kept on this machine by digest
//! (`$XDG_CACHE_HOME/ferry/manifests/`, else `~/.cache/ferry/manifests/`),
//! so a survey need not bring the live release's manifest back: the host
//! sends its digest, and the manifest itself only when ferry does not know
//! that digest (a deploy from another machine, a fresh CI runner). The
//! manifest of a release made with the store is the truth about its files
//! (they are read-only links into the store), so nothing is hashed on the
//! host. A cached manifest is checked against its digest before it is used.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::manifest::sha256;

/// How many manifests are kept; the oldest go first.
const KEEP: usize = 64;
/// Digest prefixes a survey carries: enough to tell manifests apart.
const PREFIX: usize = 16;

fn dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("ferry/manifests"))
}

/// The prefixes of the digests known here, newest first.
pub(crate) fn prefixes() -> Vec<String> {
    let Some(entries) = dir().and_then(|d| std::fs::read_dir(d).ok()) else {
        return Vec::new();
    };
    let mut known: Vec<(std::time::SystemTime, String)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let modified = e.metadata().ok()?.modified().ok()?;
            (name.len() == 64).then_some((modified, name))
        })
        .collect();
    known.sort_by(|a, b| b.cmp(a));
    known
        .into_iter()
        .take(KEEP)
        .map(|(_, name)| name[..PREFIX].to_string())
        .collect()
}

/// Remember a manifest (best effort: a cache that cannot be written costs
/// the next survey the manifest's bytes, nothing else).
pub(crate) fn remember(text: &str) {
    // Unit tests leave the cache of whoever runs them alone.
    let Some(dir) = dir().filter(|_| !cfg!(test)) else {
        return;
    };
    let digest = sha256(text.as_bytes());
    let path = dir.join(&digest);
    if path.exists() {
        // Touched, so the manifests in use stay among the newest.
        let _ = std::fs::File::options()
            .append(true)
            .open(&path)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        return;
    }
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let temp = dir.join(format!(".{digest}.{}", std::process::id()));
    if std::fs::write(&temp, text).is_ok() {
        let _ = std::fs::rename(&temp, &path);
    }
    prune(&dir);
}

fn prune(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut all: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            Some((e.metadata().ok()?.modified().ok()?, e.path()))
        })
        .collect();
    if all.len() > KEEP {
        all.sort();
        for (_, path) in &all[..all.len() - KEEP] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The manifest with this digest, if known here and intact.
pub(crate) fn recall(digest: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir()?.join(digest)).ok()?;
    (sha256(text.as_bytes()) == digest).then_some(text)
}

/// Path → (sha256, mode) of the files a manifest lists.
pub(crate) type Files = HashMap<String, (String, u32)>;

/// The files of the live manifest with this digest, from `text` (its
/// text, when it came with the survey) or this machine's cache: read and
/// remembered once, and shared by every host that reports the same digest
/// (most of a fleet), instead of a copy per host.
pub(crate) fn live(digest: &str, text: Option<String>) -> Option<Arc<Files>> {
    static LAST: Mutex<Option<(String, Arc<Files>)>> = Mutex::new(None);
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, files)) = last.as_ref().filter(|(known, _)| known == digest) {
        return Some(files.clone());
    }
    let text = text
        .filter(|t| sha256(t.as_bytes()) == digest)
        .or_else(|| recall(digest))?;
    remember(&text);
    let files = Arc::new(files(&text));
    *last = Some((digest.to_string(), files.clone()));
    Some(files)
}

pub(crate) fn files(text: &str) -> Files {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.splitn(5, '\t').collect();
            let [kind, mode, digest, _, path] = fields[..] else {
                return None;
            };
            (kind == "f").then(|| {
                let mode = u32::from_str_radix(mode, 8).ok()?;
                Some((path.to_string(), (digest.to_string(), mode)))
            })?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_files_of_a_manifest() {
        let text = "d\t0755\t-\t-\tlib\nf\t0644\tabc\t3\tlib/a b.py\nl\t0777\ta\t-\tlatest\nf\t0755\tdef\t1\trun\n";
        let files = files(text);
        assert_eq!(files.len(), 2);
        assert_eq!(files["lib/a b.py"], ("abc".to_string(), 0o644));
        assert_eq!(files["run"], ("def".to_string(), 0o755));
    }
}
