//! Container releases: the image is built from the project's Dockerfile on the machine
//! running ferry (`build`), shipped to each host as a `docker save` archive holding only
//! the layers that host's engine lacks (`ship`), loaded and checked there, migrated in a
//! one-off container, and run as the two slots of the switch behind nginx (`host`).
//!
//! Everything else is a release like any other: the release directory holds the image's
//! id (`IMAGE`), so `current`, the lock, records, history and rollback are the release
//! machinery's own. This module knows docker, not releases: `release` calls into it.

mod build;
mod host;
mod saved;
mod ship;

use std::sync::LazyLock;

pub(crate) use build::{Image, build};
pub(crate) use host::{
    exec, live, load, migrate, name, probe_layers, prune, status, switch, upstream,
};
pub(crate) use saved::{from_archive, local, save};

use crate::shell::Library;

/// The host side, as shell functions; a script carries only those it calls.
pub(crate) static HELPERS: LazyLock<Library> =
    LazyLock::new(|| Library::parse(include_str!("helpers.sh")));

/// The file in a container release that names its image.
pub(crate) const IMAGE_FILE: &str = "IMAGE";
