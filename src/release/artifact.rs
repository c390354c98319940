//! What a release is made of, built on this machine: the files of a git
//! commit (`git archive`, so hosts need neither git nor credentials) or of a
//! directory, minus excludes and shared paths, with their manifest. Payloads
//! for hosts are cut from it: a gzipped tar of just the files a host lacks.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::body::Body;
use super::manifest::{self, Entry, Kind, Manifest};
use crate::config::{DeployDef, SourceKind};
use crate::git::{GitError, Repo};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ArtifactError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("no commit named `{0}` in the repository")]
    UnknownRef(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    BadPath(String),
}

#[derive(Clone)]
pub(crate) struct Artifact {
    pub(crate) manifest: Manifest,
    /// Each file's bytes and mtime: a commit's are in the spool its
    /// archive went to, read when sent; others are held, and read from a
    /// tar, slices of it (held once, not copied file by file).
    contents: HashMap<String, (Body, u64)>,
    /// The commit shipped (git sources).
    pub(crate) revision: Option<String>,
    /// What was asked for: a branch, tag or sha; `dir` for directory sources.
    pub(crate) reference: String,
    /// Said to the user before deploying (a dirty work tree, say).
    pub(crate) warnings: Vec<String>,
}

/// Build the artifact of `reference` (git) or of the directory as it is.
pub(crate) fn build(
    root: &Path,
    deploy: &DeployDef,
    reference: &str,
) -> Result<Artifact, ArtifactError> {
    let filter = Filter { deploy };
    match deploy.source {
        SourceKind::Git => from_git(root, deploy, reference, &filter),
        SourceKind::Dir => from_dir(&root.join(&deploy.path), &filter),
    }
}

fn from_git(
    root: &Path,
    deploy: &DeployDef,
    reference: &str,
    filter: &Filter<'_>,
) -> Result<Artifact, ArtifactError> {
    let base =
        std::path::absolute(root.join(&deploy.path)).map_err(|source| ArtifactError::Read {
            path: root.display().to_string(),
            source,
        })?;
    // The repository of the directory shipped: `[deploy] path` may leave
    // the repository ferry.toml is in.
    let repo = Repo::discover(&base)?;
    let revision = repo
        .resolve(reference)
        .map_err(|_| ArtifactError::UnknownRef(reference.to_string()))?;
    let top = repo
        .top()
        .canonicalize()
        .unwrap_or_else(|_| repo.top().to_path_buf());
    let base = base.canonicalize().unwrap_or(base);
    let subdir = base
        .strip_prefix(&top)
        .unwrap_or(Path::new(""))
        .to_string_lossy()
        .into_owned();
    let spool_error = |source| ArtifactError::Read {
        path: "a temporary file for git archive's output".into(),
        source,
    };
    let spool = tempfile::tempfile().map_err(spool_error)?;
    repo.archive_into(&revision, &subdir, spool.try_clone().map_err(spool_error)?)?;
    let mut artifact = read_tar(Source::Spool(Arc::new(spool)), Some(filter), false)?;
    let dirty = repo.dirty()?;
    if !dirty.is_empty() {
        artifact.warnings.push(format!(
            "the work tree has uncommitted changes ({}); deploying {} as committed",
            summarize(&dirty),
            &revision[..12.min(revision.len())]
        ));
    }
    artifact.revision = Some(revision);
    artifact.reference = reference.to_string();
    Ok(artifact)
}

fn summarize(paths: &[String]) -> String {
    match paths {
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
        [] => String::new(),
    }
}

/// The artifact a release on a host is made of, from a gzipped tar of the
/// files its manifest lists (`ferry_pack`): nothing filtered, modes kept as
/// they are, so the manifest — and its digest — come out as the host has them.
pub(crate) fn from_release(gzipped: &[u8], reference: &str) -> Result<Artifact, ArtifactError> {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(gzipped)
        .read_to_end(&mut bytes)
        .map_err(|source| ArtifactError::Read {
            path: "the release's files".into(),
            source,
        })?;
    let mut artifact = read_tar(Source::Held(&bytes.into()), None, true)?;
    artifact.reference = reference.to_string();
    Ok(artifact)
}

/// Where a tar is: in memory, or in a spool file (a commit's archive).
enum Source<'a> {
    Held(&'a Bytes),
    Spool(Arc<std::fs::File>),
}

fn read_tar(
    source: Source<'_>,
    filter: Option<&Filter<'_>>,
    exact_modes: bool,
) -> Result<Artifact, ArtifactError> {
    let mut artifact = Artifact::empty("");
    // A release packed on a host (`ferry_pack`) brings its manifest first:
    // its files' modes on disk are the store's, the manifest's are theirs.
    let mut shipped_modes = std::collections::HashMap::new();
    let read_error = |source| ArtifactError::Read {
        path: "git archive output".into(),
        source,
    };
    let reader: Box<dyn Read + '_> = match &source {
        Source::Held(bytes) => Box::new(&bytes[..]),
        Source::Spool(spool) => {
            // git wrote through a copy of the handle, which shares its offset.
            let mut file = &**spool;
            file.rewind().map_err(read_error)?;
            Box::new(std::io::BufReader::with_capacity(256 * 1024, file))
        }
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let path = utf8_path(&entry.path_bytes())?
            .trim_end_matches('/')
            .to_string();
        if exact_modes && path == ".ferry/manifest" {
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(read_error)?;
            shipped_modes = text
                .lines()
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split('\t').collect();
                    let mode = u32::from_str_radix(fields.get(1)?, 8).ok()?;
                    Some((fields.get(4)?.to_string(), mode))
                })
                .collect();
            continue;
        }
        if path.is_empty()
            || path == "."
            || path == "pax_global_header"
            || filter.is_some_and(|f| !f.keeps(&path))
        {
            continue;
        }
        let header = entry.header();
        let (mode, mtime) = (header.mode().unwrap_or(0o644), header.mtime().unwrap_or(0));
        let kind = header.entry_type();
        if kind.is_dir() {
            artifact.add_dir(&path, if exact_modes { mode & 0o7777 } else { 0o755 })?;
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(read_error)?
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            artifact.add_link(&path, target)?;
        } else if kind.is_file() {
            let (body, digest) = match &source {
                Source::Held(bytes) => {
                    let body = held(bytes, &mut entry).map_err(read_error)?;
                    let digest = manifest::sha256(&body);
                    (Body::Held(body), digest)
                }
                // Hashed as it is read, and read again only when sent.
                Source::Spool(spool) => {
                    let at = entry.raw_file_position();
                    let mut hasher = manifest::Hasher::default();
                    let len = std::io::copy(&mut entry, &mut hasher).map_err(read_error)?;
                    let len = usize::try_from(len)
                        .map_err(|_| read_error(std::io::Error::other("a file too large")))?;
                    let spool = spool.clone();
                    (Body::Spooled { spool, at, len }, hasher.finish())
                }
            };
            // git records only "executable or not"; its tar.umask would add group write.
            let mode = match (exact_modes, mode & 0o111 != 0) {
                (true, _) => match shipped_modes.get(&path) {
                    Some(&shipped) if shipped & !0o222 == mode & 0o7777 => shipped,
                    _ => mode & 0o7777,
                },
                (false, true) => 0o755,
                (false, false) => 0o644,
            };
            artifact.insert_file(&path, mode, body, digest, mtime)?;
        }
    }
    Ok(artifact)
}

/// An entry's bytes as a slice of the tar they are in.
fn held(bytes: &Bytes, entry: &mut tar::Entry<'_, impl Read>) -> std::io::Result<Bytes> {
    let start = usize::try_from(entry.raw_file_position()).unwrap_or(usize::MAX);
    let size = usize::try_from(entry.size()).unwrap_or(usize::MAX);
    Ok(
        match start.checked_add(size).filter(|end| *end <= bytes.len()) {
            Some(end) => bytes.slice(start..end),
            None => {
                let mut body = Vec::new();
                entry.read_to_end(&mut body)?;
                body.into()
            }
        },
    )
}

/// A path as text, or the error that names it: a name that is not UTF-8
/// would arrive on the hosts changed, so it does not ship at all.
fn utf8_path(bytes: &[u8]) -> Result<&str, ArtifactError> {
    std::str::from_utf8(bytes).map_err(|_| {
        ArtifactError::BadPath(format!(
            "`{}`: ferry cannot ship a path that is not UTF-8",
            bytes.escape_ascii()
        ))
    })
}

/// The directory as it is, minus what its `.gitignore` and `.ignore` files
/// list (as git would, in a repository or not: negations, `**` and
/// classes included), `exclude` and shared paths. ferry.toml's own
/// `exclude` still applies on top.
fn from_dir(dir: &Path, filter: &Filter<'_>) -> Result<Artifact, ArtifactError> {
    let mut artifact = Artifact::empty("dir");
    let root = dir.to_path_buf();
    let deploy = std::sync::Arc::new(filter.deploy.clone());
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .require_git(false)
        .git_global(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |entry| {
            let Ok(path) = entry.path().strip_prefix(&root) else {
                return true;
            };
            let path = path.to_string_lossy();
            path.is_empty()
                || (entry.file_name() != ".git" && Filter { deploy: &deploy }.keeps(&path))
        })
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| ArtifactError::Read {
            path: dir.display().to_string(),
            source: e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("cannot walk the directory")),
        })?;
        if entry.depth() == 0 {
            continue;
        }
        let read_error = |source| ArtifactError::Read {
            path: entry.path().display().to_string(),
            source,
        };
        let relative = entry
            .path()
            .strip_prefix(dir)
            .expect("under the walked directory");
        let path = utf8_path(relative.as_os_str().as_encoded_bytes())?.to_string();
        let meta = std::fs::symlink_metadata(entry.path()).map_err(read_error)?;
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(read_error)?;
            artifact.add_link(&path, target.to_string_lossy().into_owned())?;
        } else if meta.is_dir() {
            artifact.add_dir(&path, mode)?;
        } else if meta.is_file() {
            let body = std::fs::read(entry.path()).map_err(read_error)?;
            artifact.add_file(&path, mode, body, u64::try_from(meta.mtime()).unwrap_or(0))?;
        }
    }
    Ok(artifact)
}

impl Artifact {
    fn empty(reference: &str) -> Self {
        Self {
            manifest: Manifest::default(),
            contents: HashMap::new(),
            revision: None,
            reference: reference.to_string(),
            warnings: Vec::new(),
        }
    }

    pub(super) fn add_file(
        &mut self,
        path: &str,
        mode: u32,
        body: impl Into<Bytes>,
        mtime: u64,
    ) -> Result<(), ArtifactError> {
        let body = body.into();
        let digest = manifest::sha256(&body);
        self.insert_file(path, mode, Body::Held(body), digest, mtime)
    }

    /// A file whose bytes (`body`) hash to `digest`.
    fn insert_file(
        &mut self,
        path: &str,
        mode: u32,
        body: Body,
        digest: String,
        mtime: u64,
    ) -> Result<(), ArtifactError> {
        manifest::check_path(path).map_err(ArtifactError::BadPath)?;
        let size = body.len() as u64;
        self.manifest.insert(Entry {
            path: path.to_string(),
            mode,
            kind: Kind::File { digest, size },
        });
        self.contents.insert(path.to_string(), (body, mtime));
        Ok(())
    }

    pub(super) fn add_dir(&mut self, path: &str, mode: u32) -> Result<(), ArtifactError> {
        manifest::check_path(path).map_err(ArtifactError::BadPath)?;
        self.manifest.insert(Entry {
            path: path.to_string(),
            mode,
            kind: Kind::Dir,
        });
        Ok(())
    }

    pub(super) fn add_link(&mut self, path: &str, target: String) -> Result<(), ArtifactError> {
        manifest::check_path(path)
            .and_then(|()| manifest::check_path(&target))
            .map_err(ArtifactError::BadPath)?;
        self.manifest.insert(Entry {
            path: path.to_string(),
            mode: 0o777,
            kind: Kind::Link { target },
        });
        Ok(())
    }

    /// What an upload sends, a gzipped tar unpacked from `deploy_to`: each
    /// of `files` once as `.ferry/store/<store name>` (read-only), then
    /// every directory and link of the release and each of `files` as a
    /// hard link to its store entry, all under `release` (the release's
    /// directory, relative to `deploy_to`).
    pub(crate) fn upload_payload<'a>(
        &self,
        release: &str,
        files: impl IntoIterator<Item = &'a str>,
    ) -> std::io::Result<Vec<u8>> {
        let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
        let mut links = Vec::new();
        let mut stored = std::collections::HashSet::new();
        for path in files {
            let (Some((body, mtime)), Some(entry)) =
                (self.contents.get(path), self.manifest.get(path))
            else {
                continue;
            };
            let name = format!(".ferry/store/{}", entry.store_name().expect("a file"));
            if stored.insert(name.clone()) {
                let body = body.read()?;
                let mut header = tar::Header::new_gnu();
                header.set_mode(entry.mode & !0o222);
                header.set_size(body.len() as u64);
                header.set_mtime(*mtime);
                let _ = tar.append_data(&mut header, &name, &body[..]);
            }
            links.push((path, name));
        }
        for entry in self.manifest.entries().filter(|e| !e.is_file()) {
            let mut header = tar::Header::new_gnu();
            header.set_mode(entry.mode);
            header.set_size(0);
            let path = format!("{release}/{}", entry.path);
            match &entry.kind {
                Kind::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    let _ = tar.append_data(&mut header, &path, std::io::empty());
                }
                Kind::Link { target } => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    let _ = tar.append_link(&mut header, &path, target);
                }
                Kind::File { .. } => unreachable!("filtered above"),
            }
        }
        for (path, name) in links {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Link);
            header.set_size(0);
            let _ = tar.append_link(&mut header, format!("{release}/{path}"), &name);
        }
        // Writing into a Vec cannot fail.
        Ok(tar
            .into_inner()
            .and_then(GzEncoder::finish)
            .expect("in-memory tar"))
    }

    /// The bytes of the file at `path`, if the release has it.
    pub(crate) fn file(&self, path: &str) -> std::io::Result<Option<Bytes>> {
        self.contents
            .get(path)
            .map(|(body, _)| body.read())
            .transpose()
    }

    /// The release's files written out under `dir`: a container image's build context.
    pub(crate) fn unpack_into(&self, dir: &Path) -> std::io::Result<()> {
        let files: Vec<&str> = self.manifest.files().map(|e| e.path.as_str()).collect();
        let payload = self.payload(files)?;
        tar::Archive::new(flate2::read::GzDecoder::new(payload.as_slice())).unpack(dir)
    }

    /// The same release (revision, reference, warnings) made of `files` only: a
    /// container release holds no code on the hosts, only which image it runs.
    pub(crate) fn replaced_by(&self, files: &[(&str, Vec<u8>)]) -> Result<Artifact, ArtifactError> {
        let mut artifact = Artifact {
            manifest: Manifest::default(),
            contents: HashMap::new(),
            ..self.clone()
        };
        for (path, body) in files {
            artifact.add_file(path, 0o644, body.clone(), 0)?;
        }
        Ok(artifact)
    }

    /// A gzipped tar of `files` plus every directory and link (they are
    /// tiny, and sending them always keeps the host side simple).
    pub(crate) fn payload<'a>(
        &self,
        files: impl IntoIterator<Item = &'a str>,
    ) -> std::io::Result<Vec<u8>> {
        let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
        for entry in self.manifest.entries().filter(|e| !e.is_file()) {
            let mut header = tar::Header::new_gnu();
            header.set_mode(entry.mode);
            header.set_size(0);
            match &entry.kind {
                Kind::Dir => header.set_entry_type(tar::EntryType::Directory),
                Kind::Link { target } => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    let _ = header.set_link_name(target);
                }
                Kind::File { .. } => unreachable!("filtered above"),
            }
            let _ = tar.append_data(&mut header, &entry.path, std::io::empty());
        }
        for path in files {
            let Some((body, mtime)) = self.contents.get(path) else {
                continue;
            };
            let body = body.read()?;
            let mut header = tar::Header::new_gnu();
            header.set_mode(self.manifest.get(path).map_or(0o644, |e| e.mode));
            header.set_size(body.len() as u64);
            header.set_mtime(*mtime);
            let _ = tar.append_data(&mut header, path, &body[..]);
        }
        // Writing into a Vec cannot fail.
        Ok(tar
            .into_inner()
            .and_then(GzEncoder::finish)
            .expect("in-memory tar"))
    }
}

/// What stays out of a release: `exclude` patterns and shared paths (they
/// live in shared/ and are linked in on the host).
struct Filter<'a> {
    deploy: &'a DeployDef,
}

impl Filter<'_> {
    fn keeps(&self, path: &str) -> bool {
        let shared = self
            .deploy
            .shared_files
            .iter()
            .chain(&self.deploy.shared_dirs);
        let under = |root: &String| path == root || path.starts_with(&format!("{root}/"));
        !(path == ".ferry"
            || path.starts_with(".ferry/")
            || shared.into_iter().any(under)
            || self.deploy.exclude.iter().any(|p| excluded(p, path)))
    }
}

/// rsync-like patterns: `*.pyc` matches a name anywhere, `/build` or
/// `docs/*.md` match from the top, `node_modules/` a directory anywhere;
/// a match on a directory excludes what is under it.
pub(crate) fn excluded(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_end_matches('/');
    let components: Vec<&str> = path.split('/').collect();
    if let Some(anchored) = pattern.strip_prefix('/') {
        return prefixes(&components).any(|prefix| glob(anchored, &prefix));
    }
    if pattern.contains('/') {
        return prefixes(&components).any(|prefix| glob(pattern, &prefix));
    }
    components.iter().any(|name| glob(pattern, name))
}

fn prefixes<'a>(components: &'a [&'a str]) -> impl Iterator<Item = String> + 'a {
    (1..=components.len()).map(|n| components[..n].join("/"))
}

/// `*` (not across `/`) and `?`.
fn glob(pattern: &str, text: &str) -> bool {
    fn matches(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                matches(&p[1..], t) || (!t.is_empty() && t[0] != b'/' && matches(p, &t[1..]))
            }
            (Some(b'?'), Some(c)) if *c != b'/' => matches(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &t[1..]),
            _ => false,
        }
    }
    matches(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
impl Artifact {
    pub(crate) fn for_tests(files: &[(&str, &[u8], u32)]) -> Self {
        let mut artifact = Artifact::empty("test");
        for (path, body, mode) in files {
            artifact
                .add_file(path, *mode, body.to_vec(), 0)
                .expect("valid path");
        }
        artifact
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_patterns_work_like_rsync() {
        assert!(excluded("*.pyc", "app/__pycache__/x.pyc"));
        assert!(excluded("__pycache__", "app/__pycache__/x.pyc"));
        assert!(excluded("node_modules/", "web/node_modules/react/index.js"));
        assert!(excluded("/build", "build/out.js"));
        assert!(!excluded("/build", "src/build/out.js"));
        assert!(excluded("docs/*.md", "docs/intro.md"));
        assert!(!excluded("docs/*.md", "docs/sub/intro.md"));
        assert!(!excluded("*.pyc", "app/x.py"));
    }

    #[test]
    fn a_release_packed_on_a_host_reads_back_with_the_same_digest() {
        let mut artifact = Artifact::empty("main");
        artifact.add_dir("bin", 0o750).unwrap();
        artifact
            .add_file("bin/run", 0o700, b"#!/bin/sh\n".to_vec(), 0)
            .unwrap();
        artifact
            .add_file("app.py", 0o644, b"print()\n".to_vec(), 0)
            .unwrap();
        artifact.add_link("latest", "app.py".into()).unwrap();
        // What `ferry_pack` sends: a gzipped tar of the manifest's paths.
        let gz = artifact.payload(["app.py", "bin/run"]).unwrap();
        let back = from_release(&gz, "main").unwrap();
        assert_eq!(back.manifest.text(), artifact.manifest.text());
        assert_eq!(back.manifest.digest(), artifact.manifest.digest());
    }

    #[test]
    fn payloads_carry_only_the_files_asked_for() {
        let mut artifact = Artifact::empty("dir");
        artifact.add_dir("static", 0o755).unwrap();
        artifact
            .add_file("a.txt", 0o644, b"aaa".to_vec(), 0)
            .unwrap();
        artifact
            .add_file("static/b.css", 0o644, b"bbb".to_vec(), 0)
            .unwrap();
        let payload = artifact.payload(["static/b.css"]).unwrap();
        let mut names = Vec::new();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(payload.as_slice()));
        for entry in archive.entries().unwrap() {
            names.push(
                entry
                    .unwrap()
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        assert_eq!(names, ["static", "static/b.css"]);
    }
}
