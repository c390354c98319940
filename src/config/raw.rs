//! `ferry.toml` as written: serde types that keep the span of every value a
//! later check may need to point at. Nothing here is validated beyond types;
//! `resolve` turns these into the plan the run uses.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) use super::secrets::RawSecret;

pub(crate) type Key = Spanned<String>;
pub(crate) type Table<T> = BTreeMap<Key, T>;

/// The settings a base file and each environment may set; the environment's
/// value wins. Declared once here so the two tables cannot drift apart.
macro_rules! with_settings {
    ($(#[$attr:meta])* pub(crate) struct $name:ident { $($(#[$fattr:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$attr])*
        pub(crate) struct $name {
            $($(#[$fattr])* pub(crate) $field: $ty,)*
            pub(crate) deploy_to: Option<Spanned<String>>,
            pub(crate) branch: Option<Spanned<String>>,
            pub(crate) user: Option<Spanned<String>>,
            pub(crate) keep_releases: Option<Spanned<u32>>,
            pub(crate) parallel: Option<Spanned<u32>>,
            pub(crate) on_failure: Option<Spanned<OnFailure>>,
            pub(crate) host_key_checking: Option<Spanned<HostKeyChecking>>,
            pub(crate) connect_timeout: Option<Spanned<u32>>,
            pub(crate) keepalive: Option<Spanned<u32>>,
            pub(crate) ssh_config: Option<Spanned<String>>,
        }

        impl $name {
            pub(crate) fn settings(&self) -> RawSettings<'_> {
                RawSettings {
                    deploy_to: self.deploy_to.as_ref(),
                    branch: self.branch.as_ref(),
                    user: self.user.as_ref(),
                    keep_releases: self.keep_releases.as_ref(),
                    parallel: self.parallel.as_ref(),
                    on_failure: self.on_failure.as_ref(),
                    host_key_checking: self.host_key_checking.as_ref(),
                    connect_timeout: self.connect_timeout.as_ref(),
                    keepalive: self.keepalive.as_ref(),
                    ssh_config: self.ssh_config.as_ref(),
                }
            }
        }
    };
}

/// One layer of settings, borrowed from the base file or an environment.
pub(crate) struct RawSettings<'a> {
    pub(crate) deploy_to: Option<&'a Spanned<String>>,
    pub(crate) branch: Option<&'a Spanned<String>>,
    pub(crate) user: Option<&'a Spanned<String>>,
    pub(crate) keep_releases: Option<&'a Spanned<u32>>,
    pub(crate) parallel: Option<&'a Spanned<u32>>,
    pub(crate) on_failure: Option<&'a Spanned<OnFailure>>,
    pub(crate) host_key_checking: Option<&'a Spanned<HostKeyChecking>>,
    pub(crate) connect_timeout: Option<&'a Spanned<u32>>,
    pub(crate) keepalive: Option<&'a Spanned<u32>>,
    pub(crate) ssh_config: Option<&'a Spanned<String>>,
}

/// The names of every settings key, for "did you mean" and `--set`.
pub(crate) const SETTING_KEYS: &[&str] = &[
    "deploy_to",
    "branch",
    "user",
    "keep_releases",
    "parallel",
    "on_failure",
    "host_key_checking",
    "connect_timeout",
    "keepalive",
    "ssh_config",
];

with_settings! {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct RawConfig {
        app: Option<Spanned<String>>,
        default_task: Option<Spanned<String>>,
        #[serde(default)]
        vars: Table<Spanned<toml::Value>>,
        #[serde(default)]
        secrets: Table<Spanned<RawSecret>>,
        #[serde(default)]
        environments: Table<RawEnvironment>,
        #[serde(default)]
        tasks: Table<RawTask>,
        #[serde(default)]
        services: Table<RawService>,
        deploy: Option<RawDeploy>,
        hooks: Option<RawHooks>,
        container: Option<RawContainer>,
        provision: Option<RawProvision>,
        pipeline: Option<RawPipeline>,
    }
}

with_settings! {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct RawEnvironment {
        description: Option<String>,
        hosts: Option<Spanned<Vec<Spanned<String>>>>,
        #[serde(default)]
        roles: Table<Vec<Spanned<String>>>,
        confirm: Option<bool>,
        #[serde(default)]
        vars: Table<Spanned<toml::Value>>,
        #[serde(default)]
        secrets: Table<Spanned<RawSecret>>,
        /// Where the environment's app answers, for functional tests (`FERRY_URL`).
        url: Option<Spanned<String>>,
        functional_tests: Option<Vec<Spanned<String>>>,
        rollback_on_failure: Option<bool>,
        /// Merged over `[deploy]` for this environment (`layer`).
        deploy: Option<Spanned<toml::Table>>,
        /// Merged over `[services]` for this environment.
        services: Option<Spanned<toml::Table>>,
        /// Merged over `[tasks]` for this environment.
        tasks: Option<Spanned<toml::Table>>,
        /// Merged over `[hooks]` for this environment.
        hooks: Option<Spanned<toml::Table>>,
        /// `[environments.<env>.role_vars.<role>]`: over the environment's vars.
        #[serde(default)]
        role_vars: Table<Table<Spanned<toml::Value>>>,
        /// `[environments.<env>.host_vars.<host>]`: over its roles' vars.
        #[serde(default)]
        host_vars: Table<Table<Spanned<toml::Value>>>,
    }
}

/// `[pipeline]`: the way code travels — tests before a deploy, functional
/// tests after it, stages to promote through, git tags and local hooks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPipeline {
    #[serde(default)]
    pub(crate) tests: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) functional_tests: Vec<Spanned<String>>,
    pub(crate) rollback_on_failure: Option<bool>,
    #[serde(default)]
    pub(crate) stages: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) branches: Table<Spanned<String>>,
    pub(crate) tags: Option<bool>,
    pub(crate) live_tag: Option<Spanned<String>>,
    pub(crate) deployed_tag: Option<Spanned<String>>,
    pub(crate) push_tags: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) pre_deploy: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) post_deploy: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) on_failure: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTask {
    pub(crate) description: Option<String>,
    pub(crate) roles: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(crate) once: bool,
    pub(crate) dir: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) args: Table<Spanned<String>>,
    #[serde(default)]
    pub(crate) required: Vec<Spanned<String>>,
    pub(crate) steps: Spanned<Vec<Spanned<String>>>,
    pub(crate) timeout: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum OnFailure {
    /// Start nothing new once a host failed; what runs finishes.
    Stop,
    /// A failed host drops out; the others go on.
    Continue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum HostKeyChecking {
    Strict,
    AcceptNew,
    Off,
}

/// `[services.<key>]`: a long-running process of the app (the web server, a
/// worker), run by a process manager ferry drives but does not replace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub(crate) description: Option<String>,
    pub(crate) roles: Option<Vec<Spanned<String>>>,
    pub(crate) manager: Option<Manager>,
    /// The supervisor program or systemd unit; `<app>-<key>` by default.
    pub(crate) name: Option<Spanned<String>>,
    /// What the manager runs (rendered into its program or unit file).
    pub(crate) command: Option<Spanned<String>>,
    pub(crate) dir: Option<Spanned<String>>,
    pub(crate) user: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) environment: Table<Spanned<String>>,
    pub(crate) on_deploy: Option<Spanned<OnDeploy>>,
    /// `"upstream"`: two slots behind nginx, switched without dropping a request.
    pub(crate) switch: Option<Spanned<SwitchKind>>,
    /// With `switch`: slot a listens on `port`, slot b on `port + 1`.
    pub(crate) port: Option<Spanned<u16>>,
    /// With `switch`: seconds the old slot keeps running after nginx left it.
    pub(crate) drain: Option<Spanned<u32>>,
    pub(crate) sudo: Option<bool>,
    #[serde(default)]
    pub(crate) logs: Vec<Spanned<String>>,
    pub(crate) start: Option<Spanned<String>>,
    pub(crate) stop: Option<Spanned<String>>,
    pub(crate) restart: Option<Spanned<String>>,
    pub(crate) reload: Option<Spanned<String>>,
    pub(crate) status: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Manager {
    Supervisor,
    Systemd,
    /// The service's own `start`, `stop`, `restart`, `reload`, `status` commands.
    Command,
}

/// How a deploy moves a service to the new release without a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum SwitchKind {
    /// Two slots; nginx's upstream include file names the live one.
    Upstream,
}

/// What a deploy does to a service once `current` points at the new release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum OnDeploy {
    Restart,
    /// A graceful reload (gunicorn: SIGHUP), so no request is dropped.
    Reload,
    None,
}

/// `[deploy]`: what a release is made of and what happens to it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDeploy {
    pub(crate) source: Option<SourceKind>,
    /// The part of the repository (or directory) to ship, from ferry.toml's directory.
    pub(crate) path: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) exclude: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) shared_files: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) shared_dirs: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) copy_from_current: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) build: Vec<Spanned<String>>,
    /// Run on this machine in a copy of the release's files, before upload.
    #[serde(default)]
    pub(crate) local_build: Vec<Spanned<String>>,
    /// What `local_build` made that ships with the release.
    #[serde(default)]
    pub(crate) local_artifacts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) migrate: Vec<Spanned<String>>,
    pub(crate) migrate_role: Option<Spanned<String>>,
    /// Hosts restarted at once: a number, or a percentage like "25%".
    pub(crate) serial: Option<Spanned<toml::Value>>,
    pub(crate) timeout: Option<Spanned<u32>>,
    pub(crate) health: Option<RawHealth>,
    pub(crate) dotenv: Option<RawDotenv>,
    pub(crate) virtualenv: Option<RawVirtualenv>,
}

/// `[deploy.virtualenv]`: one Python environment per set of requirements
/// and interpreter, built once on each host and shared by the releases that
/// need it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVirtualenv {
    /// Where releases see it (a link), relative to the release.
    pub(crate) path: Option<Spanned<String>>,
    /// The files it is keyed by, relative to the release.
    pub(crate) requirements: Option<Spanned<Vec<Spanned<String>>>>,
    /// The interpreter that makes it.
    pub(crate) python: Option<Spanned<String>>,
    /// Shell run once, in the new environment, when it is built.
    pub(crate) install: Option<Vec<Spanned<String>>>,
}

/// `[hooks]`: the user's shell on every host at fixed points of a deploy,
/// in the new release, folded into the phase scripts that run there.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHooks {
    /// After the files are in place, before the build.
    #[serde(default)]
    pub(crate) after_upload: Vec<Spanned<String>>,
    /// After build and migrate, just before `current` moves.
    #[serde(default)]
    pub(crate) before_switch: Vec<Spanned<String>>,
    /// Just after `current` moved, before services restart.
    #[serde(default)]
    pub(crate) after_switch: Vec<Spanned<String>>,
}

/// `[container]`: the release is an image built from a Dockerfile on this
/// machine, shipped to hosts without a registry and run there.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawContainer {
    /// The image's name on the hosts (a repository name, no tag).
    pub(crate) image: Spanned<String>,
    /// Relative to `context`.
    pub(crate) dockerfile: Option<Spanned<String>>,
    /// The build context, a directory of the release's files.
    pub(crate) context: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) build_args: Table<Spanned<String>>,
    /// Where the app listens, given to it in `PORT` (this one or the next).
    pub(crate) port: Spanned<u16>,
    /// The path probed on the new container before the old one stops.
    pub(crate) health: Option<Spanned<String>>,
    /// Seconds the new container has to answer.
    pub(crate) health_deadline: Option<Spanned<u32>>,
    /// Run in a one-off container of the new image before the switch (exec form).
    #[serde(default)]
    pub(crate) migrate: Vec<Spanned<String>>,
    /// shared/<key> mounted at the path given, created when missing.
    #[serde(default)]
    pub(crate) files: Table<Spanned<String>>,
    #[serde(default)]
    pub(crate) dirs: Table<Spanned<String>>,
    /// `docker run --user`, e.g. "1000:1000".
    pub(crate) user: Option<Spanned<String>>,
    /// `"upstream"`: nginx's upstream include names the live container's port.
    pub(crate) switch: Option<Spanned<SwitchKind>>,
    /// Seconds the old container keeps running after the switch.
    pub(crate) drain: Option<Spanned<u32>>,
    /// `host[:port]/path`: pushed there from this machine, pulled by the hosts.
    pub(crate) registry: Option<Spanned<String>>,
    /// Who logs in to the registry (with `registry_password`).
    pub(crate) registry_user: Option<Spanned<String>>,
    /// The name of the `[secrets]` entry holding the registry's password.
    pub(crate) registry_password: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum SourceKind {
    /// `git archive` of a commit: hosts need neither git nor credentials.
    Git,
    /// The directory as it is, minus `exclude` (projects without git).
    Dir,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    /// Probed from each host (curl, wget or python3, whichever it has).
    pub(crate) url: Option<Spanned<String>>,
    /// Or a command that exits 0 when the app is healthy.
    pub(crate) command: Option<Spanned<String>>,
    pub(crate) roles: Option<Vec<Spanned<String>>>,
    /// Request headers of the `url` probe (`Host`), templates.
    #[serde(default)]
    pub(crate) headers: Table<Spanned<String>>,
    /// Text the response body must contain.
    pub(crate) expect: Option<String>,
    /// Seconds to keep trying before giving up.
    pub(crate) deadline: Option<u32>,
    /// Seconds between tries.
    pub(crate) interval: Option<u32>,
}

/// The environment's `.env`, written to shared/ (mode 0600) and linked into
/// every release.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDotenv {
    pub(crate) file: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) values: Table<Spanned<String>>,
    /// Names from [secrets], written with their values.
    #[serde(default)]
    pub(crate) secrets: Vec<Spanned<String>>,
    /// Values made up once on the host (a random key) and kept afterwards.
    #[serde(default)]
    pub(crate) generate: Vec<Spanned<String>>,
}

/// `[provision]`: what a server needs before the first deploy, as resources
/// ferry checks first and changes only when they differ.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvision {
    /// Make changes as root (`sudo -n` unless the SSH user is root); default true.
    #[serde(rename = "become")]
    pub(crate) become_root: Option<bool>,
    /// Debian/Ubuntu packages, installed with apt when dpkg says they are missing.
    #[serde(default)]
    pub(crate) packages: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) groups: Vec<Spanned<String>>,
    /// System services (systemd units or init scripts), enabled and running.
    #[serde(default)]
    pub(crate) services: Vec<Spanned<String>>,
    /// `[provision.role.<role>]`: more packages and services for hosts with that role.
    #[serde(default)]
    pub(crate) role: Table<RawRoleProvision>,
    #[serde(default)]
    pub(crate) users: Table<RawUser>,
    pub(crate) layout: Option<RawLayout>,
    #[serde(default)]
    pub(crate) directories: Table<RawDirectory>,
    #[serde(default)]
    pub(crate) files: Table<RawFile>,
    #[serde(default)]
    pub(crate) links: Table<RawLink>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoleProvision {
    #[serde(default)]
    pub(crate) packages: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) services: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUser {
    #[serde(default)]
    pub(crate) system: bool,
    pub(crate) home: Option<Spanned<String>>,
    pub(crate) shell: Option<Spanned<String>>,
    /// Supplementary groups the user is added to (never removed from).
    #[serde(default)]
    pub(crate) groups: Vec<Spanned<String>>,
    pub(crate) roles: Option<Vec<Spanned<String>>>,
}

/// `<deploy_to>`, `releases/` and `shared/`: set up like any directory.
pub(crate) type RawLayout = RawDirectory;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDirectory {
    pub(crate) owner: Option<Spanned<String>>,
    pub(crate) group: Option<Spanned<String>>,
    pub(crate) mode: Option<Spanned<String>>,
    pub(crate) roles: Option<Vec<Spanned<String>>>,
    #[serde(rename = "become")]
    pub(crate) become_root: Option<bool>,
}

/// A file rendered from a template: one shipped with ferry (`template`), a
/// project file (`source`) or inline text (`content`); or `absent = true`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub(crate) template: Option<Spanned<String>>,
    pub(crate) source: Option<Spanned<String>>,
    pub(crate) content: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) absent: bool,
    /// The `[services.<key>]` the template renders (supervisor program, systemd unit).
    pub(crate) service: Option<Spanned<String>>,
    /// Values for this file's template, over the environment's `[vars]`.
    #[serde(default)]
    pub(crate) vars: Table<Spanned<toml::Value>>,
    pub(crate) owner: Option<Spanned<String>>,
    pub(crate) group: Option<Spanned<String>>,
    pub(crate) mode: Option<Spanned<String>>,
    pub(crate) roles: Option<Vec<Spanned<String>>>,
    /// What to reload when the file changed; a default comes from the template.
    pub(crate) notify: Option<Vec<Spanned<String>>>,
    #[serde(rename = "become")]
    pub(crate) become_root: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLink {
    pub(crate) to: Spanned<String>,
    pub(crate) roles: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(crate) notify: Vec<Spanned<String>>,
    #[serde(rename = "become")]
    pub(crate) become_root: Option<bool>,
}

impl Manager {
    /// As ferry.toml spells it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Manager::Supervisor => "supervisor",
            Manager::Systemd => "systemd",
            Manager::Command => "command",
        }
    }
}
