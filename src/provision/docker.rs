//! What a host needs to run a container project's releases, as provisioning
//! resources: Debian's Docker Engine, its service enabled and running, and the
//! deploy user in the group that may use its socket. Added to every host's
//! steps when ferry.toml has `[container]`, with or without `[provision]`.

use crate::config::{LayoutDef, Provision};

pub(super) const PACKAGE: &str = "docker.io";
pub(super) const SERVICE: &str = "docker";
/// The group of `/var/run/docker.sock` that Debian's package sets up.
pub(super) const GROUP: &str = "docker";

/// `[provision]` when ferry.toml has none: the deploy layout, and the engine.
pub(super) fn bare() -> Provision {
    Provision {
        become_root: true,
        packages: Vec::new(),
        groups: Vec::new(),
        users: Vec::new(),
        layout: LayoutDef::default(),
        directories: Vec::new(),
        files: Vec::new(),
        links: Vec::new(),
        services: Vec::new(),
    }
}
