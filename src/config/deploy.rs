//! `[deploy]`: the shape of a release — its source, shared files, build and
//! migrate commands, how many hosts restart at once, the health check and
//! the environment's `.env`. Checked when ferry.toml loads.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::container::ContainerDef;
use super::raw::{RawConfig, RawDeploy, RawDotenv, RawHealth, RawVirtualenv, SourceKind};
use crate::diagnostic::{Diagnostic, SourceFile};

#[derive(Debug, Clone)]
pub(crate) struct DeployDef {
    pub(crate) source: SourceKind,
    /// Relative to ferry.toml's directory.
    pub(crate) path: PathBuf,
    pub(crate) exclude: Vec<String>,
    pub(crate) shared_files: Vec<String>,
    pub(crate) shared_dirs: Vec<String>,
    pub(crate) copy_from_current: Vec<String>,
    pub(crate) build: Vec<Spanned<String>>,
    /// Shell run on this machine in a copy of the release's files.
    pub(crate) local_build: Vec<String>,
    /// Paths in that copy, after `local_build`, that ship with the release.
    pub(crate) local_artifacts: Vec<String>,
    pub(crate) migrate: Vec<Spanned<String>>,
    pub(crate) migrate_role: Option<String>,
    /// `None` when ferry.toml does not say: a deploy then restarts every
    /// host at once, a `restart` task half of them (see `Serial::or_half`).
    pub(crate) serial: Option<Serial>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) health: Option<HealthDef>,
    pub(crate) dotenv: Option<DotenvDef>,
    /// `[container]`: the release is an image.
    pub(crate) container: Option<ContainerDef>,
    /// `[hooks]`: shell run on every host at fixed points of the phases.
    pub(crate) hooks: RemoteHooks,
    /// `[deploy.virtualenv]`: a Python environment shared by the releases
    /// with the same requirements.
    pub(crate) virtualenv: Option<VirtualenvDef>,
}

/// `[hooks]`, each a list of shell templates run in the new release.
#[derive(Debug, Clone, Default)]
pub(crate) struct RemoteHooks {
    pub(crate) after_upload: Vec<Spanned<String>>,
    pub(crate) before_switch: Vec<Spanned<String>>,
    pub(crate) after_switch: Vec<Spanned<String>>,
}

impl RemoteHooks {
    /// Whether the switch phase carries hooks.
    pub(crate) fn around_switch(&self) -> bool {
        !self.before_switch.is_empty() || !self.after_switch.is_empty()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct VirtualenvDef {
    pub(crate) path: String,
    pub(crate) requirements: Vec<String>,
    pub(crate) python: String,
    /// Shell templates; empty: `pip install -r` each requirements file.
    pub(crate) install: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serial {
    All,
    Hosts(usize),
    Percent(u8),
}

impl Serial {
    /// Batch size for `hosts` hosts: never zero.
    pub(crate) fn batch(self, hosts: usize) -> usize {
        let size = match self {
            Serial::All => hosts,
            Serial::Hosts(n) => n,
            Serial::Percent(p) => (hosts * usize::from(p)).div_ceil(100),
        };
        size.clamp(1, hosts.max(1))
    }

    /// The batch for restarting services on `hosts` hosts: `serial` when
    /// set, else half of them (at least one), so a restart never takes every
    /// host down at once.
    pub(crate) fn or_half(serial: Option<Serial>, hosts: usize) -> usize {
        match serial {
            Some(serial) => serial.batch(hosts),
            None => (hosts / 2).max(1),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Probe {
    Url(Spanned<String>),
    Command(Spanned<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct HealthDef {
    pub(crate) probe: Probe,
    /// The `url` probe's request headers: each name a token, each value a
    /// template (checked again once rendered: `header_problem`).
    pub(crate) headers: Vec<(String, Spanned<String>)>,
    pub(crate) roles: Vec<String>,
    pub(crate) expect: Option<String>,
    pub(crate) deadline: Duration,
    pub(crate) interval: Duration,
}

#[derive(Debug, Clone)]
pub(crate) struct DotenvDef {
    pub(crate) file: String,
    pub(crate) values: Vec<(String, Spanned<String>)>,
    pub(crate) secrets: Vec<Spanned<String>>,
    pub(crate) generate: Vec<String>,
}

/// The program, under deploy_to, that services run through to see the
/// `.env`: `with-env FILE COMMAND…` (written by every deploy that has one).
pub(crate) const WITH_ENV: &str = ".ferry/with-env";

impl DotenvDef {
    /// The file on a host, under deploy_to's shared/.
    pub(crate) fn on_host(&self, deploy_to: &str) -> String {
        format!("{deploy_to}/shared/{}", self.file)
    }
}

impl Default for DeployDef {
    fn default() -> Self {
        Self {
            source: SourceKind::Git,
            path: PathBuf::from("."),
            exclude: Vec::new(),
            shared_files: Vec::new(),
            shared_dirs: Vec::new(),
            copy_from_current: Vec::new(),
            build: Vec::new(),
            local_build: Vec::new(),
            local_artifacts: Vec::new(),
            migrate: Vec::new(),
            migrate_role: None,
            serial: None,
            timeout: None,
            health: None,
            dotenv: None,
            container: None,
            hooks: RemoteHooks::default(),
            virtualenv: None,
        }
    }
}

pub(crate) fn resolve(file: &SourceFile, raw: &RawConfig) -> Result<DeployDef, Diagnostic> {
    let container = raw
        .container
        .as_ref()
        .map(|c| super::container::resolve(file, c, raw.deploy.as_ref()))
        .transpose()?;
    let mut def = resolve_deploy(file, raw)?;
    if let Some(container) = &container {
        // What the container mounts lives in shared/, made when missing like shared paths.
        for mount in &container.mounts {
            let list = if mount.dir {
                &mut def.shared_dirs
            } else {
                &mut def.shared_files
            };
            if !list.contains(&mount.shared) {
                list.push(mount.shared.clone());
            }
        }
    }
    def.container = container;
    if let Some(hooks) = &raw.hooks {
        for source in hooks
            .after_upload
            .iter()
            .chain(&hooks.before_switch)
            .chain(&hooks.after_switch)
        {
            super::check_template(file, source)?;
        }
        def.hooks = RemoteHooks {
            after_upload: hooks.after_upload.clone(),
            before_switch: hooks.before_switch.clone(),
            after_switch: hooks.after_switch.clone(),
        };
    }
    Ok(def)
}

fn resolve_deploy(file: &SourceFile, raw: &RawConfig) -> Result<DeployDef, Diagnostic> {
    let Some(deploy) = &raw.deploy else {
        return Ok(DeployDef::default());
    };
    let known_roles = super::task::all_roles(raw);
    super::task::check_roles(file, deploy.migrate_role.iter(), &known_roles)?;
    for source in deploy.build.iter().chain(&deploy.migrate) {
        super::check_template(file, source)?;
    }
    let dotenv = deploy
        .dotenv
        .as_ref()
        .map(|d| dotenv(file, d))
        .transpose()?;
    let mut shared_files = paths(file, &deploy.shared_files)?;
    if let Some(env) = &dotenv {
        if !shared_files.contains(&env.file) {
            shared_files.push(env.file.clone());
        }
    }
    Ok(DeployDef {
        source: deploy.source.unwrap_or(SourceKind::Git),
        path: deploy
            .path
            .as_ref()
            .map_or_else(|| PathBuf::from("."), |p| PathBuf::from(p.get_ref())),
        exclude: deploy.exclude.iter().map(|e| e.get_ref().clone()).collect(),
        shared_files,
        shared_dirs: paths(file, &deploy.shared_dirs)?,
        copy_from_current: paths(file, &deploy.copy_from_current)?,
        build: deploy.build.clone(),
        local_build: deploy
            .local_build
            .iter()
            .map(|c| c.get_ref().clone())
            .collect(),
        local_artifacts: local_artifacts(file, deploy)?,
        migrate: deploy.migrate.clone(),
        migrate_role: deploy.migrate_role.as_ref().map(|r| r.get_ref().clone()),
        serial: serial(file, deploy)?,
        timeout: deploy
            .timeout
            .as_ref()
            .map(|t| Duration::from_secs(u64::from(*t.get_ref()))),
        health: deploy
            .health
            .as_ref()
            .map(|h| health(file, h, &known_roles))
            .transpose()?,
        dotenv,
        container: None,
        hooks: RemoteHooks::default(),
        virtualenv: deploy
            .virtualenv
            .as_ref()
            .map(|v| virtualenv(file, v, deploy))
            .transpose()?,
    })
}

fn virtualenv(
    file: &SourceFile,
    raw: &RawVirtualenv,
    deploy: &RawDeploy,
) -> Result<VirtualenvDef, Diagnostic> {
    let path = match &raw.path {
        Some(p) => paths(file, std::slice::from_ref(p))?.remove(0),
        None => "venv".to_string(),
    };
    if let Some(copied) = deploy
        .copy_from_current
        .iter()
        .find(|c| c.get_ref().trim_end_matches('/') == path)
    {
        return Err(file
            .error(copied.span(), format!("`{path}` is [deploy.virtualenv]'s: a link to the environment its requirements name, not a copy"))
            .label("copied from the live release")
            .help(Some("remove it from copy_from_current".into())));
    }
    let requirements = match &raw.requirements {
        Some(list) if list.get_ref().is_empty() => {
            return Err(file
                .error(
                    list.span(),
                    "the environment needs at least one requirements file",
                )
                .label("empty"));
        }
        Some(list) => paths(file, list.get_ref())?,
        None => vec!["requirements.txt".to_string()],
    };
    let install = raw.install.clone().unwrap_or_default();
    for source in &install {
        super::check_template(file, source)?;
    }
    Ok(VirtualenvDef {
        path,
        requirements,
        python: raw
            .python
            .as_ref()
            .map_or_else(|| "python3".to_string(), |p| p.get_ref().clone()),
        install,
    })
}

/// `local_artifacts`, which only a `local_build` makes (and whose output
/// ships only through them): the two come together.
fn local_artifacts(file: &SourceFile, deploy: &RawDeploy) -> Result<Vec<String>, Diagnostic> {
    match (deploy.local_build.first(), deploy.local_artifacts.first()) {
        (Some(build), None) => Err(file
            .error(build.span(), "`local_build` without `local_artifacts`")
            .label("its output would not ship")
            .help(Some(
                "list what it makes that the release needs: local_artifacts = [\"static/dist\"]"
                    .into(),
            ))),
        (None, Some(path)) => Err(file
            .error(path.span(), "`local_artifacts` without `local_build`")
            .label("nothing makes these")
            .help(Some(
                "add the command that makes them: local_build = [\"npm ci && npm run build\"]"
                    .into(),
            ))),
        _ => paths(file, &deploy.local_artifacts),
    }
}

/// Paths inside a release: relative, no `..`, not ferry's own `.ferry/`.
fn paths(file: &SourceFile, list: &[Spanned<String>]) -> Result<Vec<String>, Diagnostic> {
    list.iter()
        .map(|p| {
            release_path(p.get_ref())
                .map_err(|problem| file.error(p.span(), problem).label("bad path"))
        })
        .collect()
}

pub(crate) fn release_path(path: &str) -> Result<String, String> {
    let trimmed = path.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').collect();
    if trimmed.is_empty() || path.starts_with('/') {
        return Err(format!(
            "`{path}` must be a relative path inside the release"
        ));
    }
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(format!(
            "`{path}` must not contain empty, `.` or `..` parts"
        ));
    }
    if parts[0] == ".ferry" {
        return Err("`.ferry/` inside a release is ferry's own".into());
    }
    if path.chars().any(char::is_control) {
        return Err(format!("`{path}` holds a control character"));
    }
    Ok(trimmed.to_string())
}

fn serial(file: &SourceFile, deploy: &RawDeploy) -> Result<Option<Serial>, Diagnostic> {
    let Some(value) = &deploy.serial else {
        return Ok(None);
    };
    let parsed = match value.get_ref() {
        toml::Value::Integer(n) if *n >= 1 => usize::try_from(*n).ok().map(Serial::Hosts),
        toml::Value::String(text) => text
            .strip_suffix('%')
            .and_then(|p| p.parse::<u8>().ok())
            .filter(|p| (1..=100).contains(p))
            .map(Serial::Percent),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        file.error(
            value.span(),
            "serial must be a number of hosts (1 or more) or a percentage like \"25%\"",
        )
        .label("invalid value")
    })
}

fn health(
    file: &SourceFile,
    raw: &RawHealth,
    known_roles: &[&str],
) -> Result<HealthDef, Diagnostic> {
    super::task::check_roles(file, raw.roles.iter().flatten(), known_roles)?;
    let probe = match (&raw.url, &raw.command) {
        (Some(url), None) => Probe::Url(url.clone()),
        (None, Some(command)) => Probe::Command(command.clone()),
        (Some(url), Some(_)) => {
            return Err(file
                .error(
                    url.span(),
                    "a health check has a `url` or a `command`, not both",
                )
                .label("here"));
        }
        (None, None) => {
            return Err(file
                .error(0..0, "[deploy.health] needs a `url` or a `command`")
                .label("here"));
        }
    };
    let (Probe::Url(source) | Probe::Command(source)) = &probe;
    super::check_template(file, source)?;
    let headers = headers(file, raw)?;
    Ok(HealthDef {
        probe,
        headers,
        roles: super::names(&raw.roles),
        expect: raw.expect.clone(),
        deadline: Duration::from_secs(raw.deadline.unwrap_or(30).into()),
        interval: Duration::from_secs(raw.interval.unwrap_or(1).max(1).into()),
    })
}

/// `[deploy.health] headers`: data sent with the probe's request. A name
/// is an HTTP token; a value holds no line break or other control character
/// (it would end the header and start another, or the request).
fn headers(
    file: &SourceFile,
    raw: &RawHealth,
) -> Result<Vec<(String, Spanned<String>)>, Diagnostic> {
    if let (Some(first), Some(_)) = (raw.headers.keys().next(), &raw.command) {
        return Err(file
            .error(
                first.span(),
                "`headers` go with a health check's `url`; a `command` sends its own",
            )
            .label("here"));
    }
    let mut headers = Vec::new();
    for (name, value) in &raw.headers {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.get_ref().is_empty() || !name.get_ref().chars().all(token) {
            return Err(file
                .error(
                    name.span(),
                    format!("`{}` is not an HTTP header name", name.get_ref()),
                )
                .label("letters, digits and !#$%&'*+-.^_`|~ only"));
        }
        if let Some(problem) = header_problem(value.get_ref()) {
            return Err(file
                .error(
                    value.span(),
                    format!("header `{}` holds {problem}", name.get_ref()),
                )
                .label("not a header value"));
        }
        crate::template::check_syntax(value.get_ref(), crate::template::Kind::Text).map_err(
            |e| {
                file.error(value.span(), format!("template error: {e}"))
                    .label("in this template")
                    .help(e.hint())
            },
        )?;
        headers.push((name.get_ref().clone(), value.clone()));
    }
    Ok(headers)
}

/// What keeps `value` from being one HTTP header's value, if anything.
pub(crate) fn header_problem(value: &str) -> Option<&'static str> {
    if value.contains(['\r', '\n']) {
        Some("a line break (CR or LF)")
    } else if value.chars().any(|c| c.is_control() && c != '\t') {
        Some("a control character")
    } else {
        None
    }
}

fn dotenv(file: &SourceFile, raw: &RawDotenv) -> Result<DotenvDef, Diagnostic> {
    let name = raw.file.as_ref().map_or(".env", |f| f.get_ref());
    let path = release_path(name).map_err(|problem| {
        let span = raw.file.as_ref().map_or(0..0, |f| f.span());
        file.error(span, problem).label("bad path")
    })?;
    let keys = raw.values.keys().chain(&raw.secrets).chain(&raw.generate);
    for key in keys {
        if !super::is_env_name(key.get_ref()) {
            return Err(file
                .error(
                    key.span(),
                    format!("`{}` is not an environment variable name", key.get_ref()),
                )
                .label("use letters, digits and `_`"));
        }
    }
    for value in raw.values.values() {
        super::check_template(file, value)?;
    }
    Ok(DotenvDef {
        file: path,
        values: raw
            .values
            .iter()
            .map(|(k, v)| (k.get_ref().clone(), v.clone()))
            .collect(),
        secrets: raw.secrets.clone(),
        generate: raw.generate.iter().map(|g| g.get_ref().clone()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_leave_half_the_hosts_up_unless_serial_says() {
        assert_eq!(Serial::or_half(None, 1), 1);
        assert_eq!(Serial::or_half(None, 2), 1);
        assert_eq!(Serial::or_half(None, 3), 1);
        assert_eq!(Serial::or_half(None, 8), 4);
        assert_eq!(Serial::or_half(Some(Serial::All), 3), 3);
    }

    #[test]
    fn serial_batches_are_never_empty() {
        assert_eq!(Serial::All.batch(5), 5);
        assert_eq!(Serial::Hosts(2).batch(5), 2);
        assert_eq!(Serial::Hosts(9).batch(5), 5);
        assert_eq!(Serial::Percent(25).batch(10), 3);
        assert_eq!(Serial::Percent(1).batch(3), 1);
    }

    fn load(text: &str) -> Result<crate::config::Project, String> {
        let file = SourceFile::new(std::path::Path::new("ferry.toml"), text.into());
        crate::config::parse(file).map_err(|e| match e {
            crate::config::ConfigError::Invalid(d) => d.to_string(),
            other => other.to_string(),
        })
    }

    const ENV: &str = "[environments.lab]\nhosts = [\"a\"]\n";

    #[test]
    fn health_headers_are_data_checked_where_they_are_written() {
        let ok = load(&format!(
            "[deploy.health]\nurl = \"http://127.0.0.1:8000/\"\nheaders = {{ Host = \"example.com\", X-Tab = \"a\\tb\", X-Quote = \"'\\\"$(id)`;\" }}\n{ENV}"
        ))
        .unwrap();
        let health = ok.deploy.health.unwrap();
        let names: Vec<&str> = health.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Host", "X-Quote", "X-Tab"]);
        let cases = [
            // A line break would end the header and start another (or the body).
            (
                "headers = { Host = \"a\\r\\nX-Evil: 1\" }",
                "ferry.toml:3:20",
                "a line break",
            ),
            (
                "headers = { Host = \"a\\nb\" }",
                "ferry.toml:3:20",
                "a line break",
            ),
            (
                "headers = { Host = \"a\\u0000\" }",
                "ferry.toml:3:20",
                "a control character",
            ),
            (
                "headers = { \"Ho st\" = \"a\" }",
                "ferry.toml:3:13",
                "not an HTTP header name",
            ),
            (
                "headers = { \"X:Y\" = \"a\" }",
                "ferry.toml:3:13",
                "not an HTTP header name",
            ),
            (
                "headers = { \"\" = \"a\" }",
                "ferry.toml:3:13",
                "not an HTTP header name",
            ),
            (
                "headers = { Host = \"{{ nope\" }",
                "ferry.toml:3:20",
                "template error",
            ),
        ];
        for (line, at, message) in cases {
            let text = format!("[deploy.health]\nurl = \"http://x/\"\n{line}\n{ENV}");
            let error = load(&text).unwrap_err();
            assert!(
                error.contains(at) && error.contains(message),
                "{line}: {error}"
            );
        }
        let error = load(&format!(
            "[deploy.health]\ncommand = \"true\"\nheaders = {{ Host = \"a\" }}\n{ENV}"
        ))
        .unwrap_err();
        assert!(
            error.contains("ferry.toml:3:13") && error.contains("`command` sends its own"),
            "{error}"
        );
    }

    #[test]
    fn a_virtualenv_has_defaults_and_is_not_also_copied() {
        use super::super::{ConfigError, parse};
        let parsed = |text: &str| {
            parse(SourceFile::new(
                std::path::Path::new("ferry.toml"),
                text.into(),
            ))
        };
        let project = parsed("[deploy.virtualenv]\n").unwrap();
        let venv = project.deploy.virtualenv.unwrap();
        assert_eq!(
            (venv.path.as_str(), venv.python.as_str()),
            ("venv", "python3")
        );
        assert_eq!(venv.requirements, ["requirements.txt"]);
        assert!(venv.install.is_empty());
        let text = "[deploy]\ncopy_from_current = [\"venv\"]\n\n[deploy.virtualenv]\n";
        match parsed(text) {
            Err(ConfigError::Invalid(d)) => {
                assert_eq!(d.location(), "ferry.toml:2:22");
                assert!(
                    d.message().contains("[deploy.virtualenv]"),
                    "{}",
                    d.message()
                );
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(parsed("[deploy.virtualenv]\nrequirements = []\n").is_err());
    }

    #[test]
    fn release_paths_stay_inside_the_release() {
        assert_eq!(release_path("media/"), Ok("media".into()));
        assert_eq!(release_path("a/b.txt"), Ok("a/b.txt".into()));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            ".ferry/x",
            "a\nb",
        ] {
            assert!(release_path(bad).is_err(), "{bad:?}");
        }
    }
}
