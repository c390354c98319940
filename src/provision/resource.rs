//! One host's resources, rendered: every path and file content is final,
//! so building the script and reporting on it need no templates. Each step
//! is one line in the output (`ok`, `changed`, `would change`).

use std::fmt;

use super::Handler;
use crate::config::Attrs;

pub(crate) struct Step {
    pub(crate) resource: Resource,
    /// Make the changes (and read what only root may) as root.
    pub(crate) become_root: bool,
    /// Handlers to run once at the end if this step changed something.
    pub(crate) notify: Vec<Handler>,
}

pub(crate) enum Resource {
    Package(String),
    Group(String),
    User(User),
    /// The SSH user of the run belongs to this group (which may come with a
    /// package of this run).
    Member(String),
    Directory {
        path: String,
        attrs: Attrs,
        /// The deploy layout: owned by the SSH user of the run unless `attrs`
        /// names an owner, and by the owner's group unless it names one.
        layout: bool,
    },
    File(File),
    /// No file or symlink at this path.
    Absent(String),
    Link {
        path: String,
        to: String,
    },
    Service {
        name: String,
        enable: bool,
        start: bool,
    },
}

pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) system: bool,
    pub(crate) home: Option<String>,
    pub(crate) shell: Option<String>,
    pub(crate) groups: Vec<String>,
}

pub(crate) struct File {
    pub(crate) path: String,
    pub(crate) content: String,
    pub(crate) attrs: Attrs,
    /// Text before a secret on the lines that hold one: an old line starting
    /// the same way held the old secret, and a diff masks the rest of it.
    pub(crate) secret_prefixes: Vec<String>,
    /// Written only when missing: once it exists, someone else owns it (the
    /// upstream file of a slotted service, which deploys rewrite).
    pub(crate) seed: bool,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Package(name) => write!(f, "package {name}"),
            Resource::Group(name) => write!(f, "group {name}"),
            Resource::User(user) => write!(f, "user {}", user.name),
            Resource::Member(group) => write!(f, "the deploy user in group {group}"),
            Resource::Directory { path, .. } => write!(f, "directory {path}"),
            Resource::File(file) => write!(f, "file {}", file.path),
            Resource::Absent(path) => write!(f, "file {path}"),
            Resource::Link { path, to } => write!(f, "link {path} -> {to}"),
            Resource::Service { name, .. } => write!(f, "service {name}"),
        }
    }
}
