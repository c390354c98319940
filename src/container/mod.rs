//! Container releases: the image is built from the project's Dockerfile on the machine
//! running ferry (`build`), shipped to each host as a `docker save` archive holding only
//! the layers that host's engine lacks (`ship`), loaded and checked there, migrated in a
//! one-off container, and run as the two slots of the switch behind nginx (`host`).
//!
//! Everything else is a release like any other: the release directory holds the image's
//! id (`IMAGE`), so `current`, the lock, records, history and rollback are the release
//! machinery's own. This module knows docker, not releases: `release` calls into it.

mod build;
mod check;
mod host;
mod registry;
mod saved;
mod ship;

use std::sync::LazyLock;

pub(crate) use build::{Image, build};
pub(crate) use check::{explain as explain_docker, probe as probe_docker, running};
pub(crate) use host::{
    exec, live, load, migrate, name, probe_layers, prune, status, switch, upstream,
};
pub(crate) use registry::{pull, push};
pub(crate) use saved::{from_archive, local, save};

use crate::shell::Library;

/// The host side, as shell functions; a script carries only those it calls.
pub(crate) static HELPERS: LazyLock<Library> =
    LazyLock::new(|| Library::parse(include_str!("helpers.sh")));

/// The file in a container release that names its image.
pub(crate) const IMAGE_FILE: &str = "IMAGE";

/// A `docker save` archive (legacy layout) for unit tests: `files`, each
/// a path and its bytes, in a tar.
#[cfg(test)]
pub(crate) fn test_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, body) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, path, *body).unwrap();
    }
    tar.into_inner().unwrap()
}
