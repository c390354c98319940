//! `[container]`: a release made of an image built from the project's Dockerfile,
//! run on each host with the environment's `.env` and data kept outside the container.
//! Its presence makes `deploy` a container deploy. Checked when ferry.toml loads.

use std::time::Duration;

use toml::Spanned;

use super::deploy::release_path;
use super::raw::{RawContainer, RawDeploy, Table};
use crate::diagnostic::{Diagnostic, SourceFile};

#[derive(Debug, Clone)]
pub(crate) struct ContainerDef {
    /// A repository name; hosts tag it with the release id.
    pub(crate) image: String,
    /// Inside the release's files, `.` for their top.
    pub(crate) context: String,
    /// Relative to the context.
    pub(crate) dockerfile: String,
    pub(crate) build_args: Vec<(String, String)>,
    pub(crate) port: u16,
    pub(crate) health: String,
    pub(crate) health_deadline: Duration,
    pub(crate) migrate: Vec<String>,
    /// shared/<path> mounted at an absolute path in the container.
    pub(crate) mounts: Vec<Mount>,
    pub(crate) user: Option<String>,
    /// `switch = "upstream"`: nginx is told which port the live container is on.
    pub(crate) nginx: bool,
    /// Seconds the old container keeps running after the switch.
    pub(crate) drain: u32,
    /// Images go through this registry instead of being shipped by ferry.
    pub(crate) registry: Option<Registry>,
}

#[derive(Debug, Clone)]
pub(crate) struct Registry {
    /// `host[:port]/path`, no tag: a repository of the registry.
    pub(crate) repository: String,
    /// `host[:port]`, what `docker login` takes.
    pub(crate) host: String,
    /// Who logs in, and the `[secrets]` name of the password; none: no login.
    pub(crate) login: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Mount {
    pub(crate) shared: String,
    pub(crate) target: String,
    pub(crate) dir: bool,
}

pub(crate) fn resolve(
    file: &SourceFile,
    raw: &RawContainer,
    deploy: Option<&RawDeploy>,
) -> Result<ContainerDef, Diagnostic> {
    if let Some(step) = deploy.and_then(|d| d.build.first().or(d.migrate.first())) {
        return Err(file
            .error(
                step.span(),
                "a container deploy runs no commands on the hosts",
            )
            .label("with [container]")
            .help(Some(
                "build in the Dockerfile; put the migration in [container] migrate".into(),
            )));
    }
    let mut mounts = table_mounts(file, &raw.files, false)?;
    mounts.extend(table_mounts(file, &raw.dirs, true)?);
    Ok(ContainerDef {
        image: image_name(file, &raw.image)?,
        context: match &raw.context {
            Some(c) if c.get_ref() != "." => path(file, c)?,
            _ => ".".into(),
        },
        dockerfile: match &raw.dockerfile {
            Some(d) => path(file, d)?,
            None => "Dockerfile".into(),
        },
        build_args: table(&raw.build_args),
        port: port(file, &raw.port)?,
        health: match &raw.health {
            Some(h)
                if !h.get_ref().starts_with('/') || h.get_ref().contains(char::is_whitespace) =>
            {
                return Err(file
                    .error(h.span(), "the health check is a URL path, like \"/health\"")
                    .label("not a path"));
            }
            Some(h) => h.get_ref().clone(),
            None => "/".into(),
        },
        health_deadline: Duration::from_secs(
            raw.health_deadline
                .as_ref()
                .map_or(30, |d| u64::from(*d.get_ref())),
        ),
        migrate: raw.migrate.iter().map(|w| w.get_ref().clone()).collect(),
        mounts,
        user: raw.user.as_ref().map(|u| u.get_ref().clone()),
        nginx: raw.switch.is_some(),
        drain: raw
            .drain
            .as_ref()
            .map_or(super::service::DRAIN, |d| *d.get_ref()),
        registry: registry(file, raw)?,
    })
}

/// `registry = "host[:port]/path"`, and the login if there is one.
fn registry(file: &SourceFile, raw: &RawContainer) -> Result<Option<Registry>, Diagnostic> {
    let Some(spanned) = &raw.registry else {
        if let Some(key) = raw
            .registry_user
            .as_ref()
            .or(raw.registry_password.as_ref())
        {
            return Err(file
                .error(key.span(), "a registry login without a `registry`")
                .label("no [container] registry"));
        }
        return Ok(None);
    };
    let text = spanned.get_ref();
    let bad = |problem: &str| {
        file.error(
            spanned.span(),
            format!("`{text}` is not a registry repository: {problem}"),
        )
        .label("like \"registry.example.com:5000/shop\"")
        .help(Some(
            "no tag or digest: ferry pushes and pulls by digest".into(),
        ))
    };
    let Some((host, path)) = text.split_once('/') else {
        return Err(bad("it names no registry host"));
    };
    // Docker reads the first part as a registry only with a `.`, a `:` or as localhost.
    let host_ok = (host.contains('.') || host.contains(':') || host == "localhost")
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    if !host_ok {
        return Err(bad(
            "its first part is not a registry host (it needs a `.` or a port)",
        ));
    }
    if !path.split('/').all(repository_part) {
        return Err(bad(
            "lowercase letters, digits, `.`, `_`, `-` after the host, no tag",
        ));
    }
    let login = match (&raw.registry_user, &raw.registry_password) {
        (None, None) => None,
        (Some(user), Some(password)) => {
            if !super::is_env_name(password.get_ref()) {
                return Err(file
                    .error(password.span(), "the name of a [secrets] entry")
                    .label("not a secret's name"));
            }
            if user.get_ref().is_empty() || user.get_ref().chars().any(char::is_control) {
                return Err(file.error(user.span(), "not a user name").label("here"));
            }
            Some((user.get_ref().clone(), password.get_ref().clone()))
        }
        (Some(key), None) | (None, Some(key)) => {
            return Err(file
                .error(
                    key.span(),
                    "a registry login takes both `registry_user` and `registry_password`",
                )
                .label("alone"));
        }
    };
    Ok(Some(Registry {
        repository: text.clone(),
        host: host.to_string(),
        login,
    }))
}

fn table(raw: &Table<Spanned<String>>) -> Vec<(String, String)> {
    raw.iter()
        .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
        .collect()
}

fn table_mounts(
    file: &SourceFile,
    raw: &Table<Spanned<String>>,
    dir: bool,
) -> Result<Vec<Mount>, Diagnostic> {
    raw.iter()
        .map(|(shared, target)| {
            let target_ok = target.get_ref().starts_with('/') && !target.get_ref().contains(':');
            if !target_ok {
                return Err(file
                    .error(
                        target.span(),
                        "a mount's target is an absolute path in the container, without `:`",
                    )
                    .label("not an absolute path"));
            }
            Ok(Mount {
                shared: path(file, shared)?,
                target: target.get_ref().clone(),
                dir,
            })
        })
        .collect()
}

fn path(file: &SourceFile, raw: &Spanned<String>) -> Result<String, Diagnostic> {
    let checked = release_path(raw.get_ref())
        .map_err(|problem| file.error(raw.span(), problem).label("bad path"))?;
    if checked.contains(':') {
        return Err(file
            .error(raw.span(), "docker takes `:` as a separator in mounts")
            .label("holds `:`"));
    }
    Ok(checked)
}

/// One `/`-separated part of a repository name as docker takes it.
fn repository_part(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && part.starts_with(|c: char| c.is_ascii_alphanumeric())
        && part.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A repository name as docker takes it: lowercase parts joined by `/`.
fn image_name(file: &SourceFile, raw: &Spanned<String>) -> Result<String, Diagnostic> {
    let name = raw.get_ref();
    if name.split('/').all(repository_part) {
        return Ok(name.clone());
    }
    Err(file
        .error(raw.span(), format!("`{name}` is not an image name"))
        .label("lowercase letters, digits, `.`, `_`, `-`, parts joined by `/`, no tag")
        .help(Some(
            "ferry tags the image with the release id and the revision".into(),
        )))
}

fn port(file: &SourceFile, raw: &Spanned<u16>) -> Result<u16, Diagnostic> {
    match *raw.get_ref() {
        // The next port is the other slot.
        p @ 1..=65534 => Ok(p),
        _ => Err(file
            .error(raw.span(), "the port must be between 1 and 65534")
            .label("ferry uses this port and the next")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ConfigError, parse};
    use crate::diagnostic::SourceFile;

    fn error_of(text: &str) -> (String, String) {
        let file = SourceFile::new(std::path::Path::new("ferry.toml"), text.into());
        match parse(file) {
            Err(ConfigError::Invalid(d)) => (d.location(), d.message().to_string()),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("accepted:\n{text}"),
        }
    }

    #[test]
    fn mounts_live_in_shared_and_are_made_like_shared_paths() {
        let text = "[container]\nimage = \"shop\"\nport = 8000\n\
                    files = { \"db.sqlite3\" = \"/app/db.sqlite3\" }\ndirs = { media = \"/app/media\" }\n";
        let file = SourceFile::new(std::path::Path::new("ferry.toml"), text.into());
        let project = parse(file).unwrap();
        assert_eq!(project.deploy.shared_files, ["db.sqlite3"]);
        assert_eq!(project.deploy.shared_dirs, ["media"]);
        let def = project.deploy.container.unwrap();
        assert_eq!(
            (def.dockerfile.as_str(), def.context.as_str()),
            ("Dockerfile", ".")
        );
        assert_eq!((def.port, def.health.as_str()), (8000, "/"));
        assert!(def.registry.is_none());
        let text = "[container]\nimage = \"shop\"\nport = 8000\nregistry = \"10.0.0.5:5000/team/shop\"\n\
                    registry_user = \"ci\"\nregistry_password = \"REGISTRY_PASSWORD\"\n";
        let file = SourceFile::new(std::path::Path::new("ferry.toml"), text.into());
        let registry = parse(file)
            .unwrap()
            .deploy
            .container
            .unwrap()
            .registry
            .unwrap();
        assert_eq!(registry.host, "10.0.0.5:5000");
        assert_eq!(registry.repository, "10.0.0.5:5000/team/shop");
        assert_eq!(
            registry.login,
            Some(("ci".to_string(), "REGISTRY_PASSWORD".to_string()))
        );
    }

    #[test]
    fn bad_values_point_at_themselves() {
        let base = "[container]\nimage = \"shop\"\nport = 8000\n";
        let cases = [
            (
                "[container]\nimage = \"Shop:v1\"\nport = 8000\n",
                "ferry.toml:2:9",
                "not an image name",
            ),
            (
                &format!("{base}health = \"health\"\n"),
                "ferry.toml:4:10",
                "URL path",
            ),
            (
                &format!("{base}files = {{ \"../db\" = \"/db\" }}\n"),
                "ferry.toml:4:11",
                "`..`",
            ),
            (
                &format!("{base}dirs = {{ media = \"media\" }}\n"),
                "ferry.toml:4:18",
                "absolute path",
            ),
            (
                "[container]\nimage = \"shop\"\nport = 65535\n",
                "ferry.toml:3:8",
                "between 1 and 65534",
            ),
            (
                &format!("{base}registry = \"shop\"\n"),
                "ferry.toml:4:12",
                "names no registry host",
            ),
            (
                &format!("{base}registry = \"docker.io/shop:v1\"\n"),
                "ferry.toml:4:12",
                "not a registry repository",
            ),
            (
                &format!("{base}registry = \"shop/app\"\n"),
                "ferry.toml:4:12",
                "not a registry host",
            ),
            (
                &format!("{base}registry = \"r.example:5000/shop\"\nregistry_user = \"ci\"\n"),
                "ferry.toml:5:17",
                "takes both",
            ),
            (
                &format!("{base}registry_password = \"PW\"\n"),
                "ferry.toml:4:21",
                "without a `registry`",
            ),
            (
                &format!(
                    "{base}\n[services.container]\ncommand = \"web {{{{ port }}}}\"\nswitch = \"upstream\"\nport = 9000\n"
                ),
                "ferry.toml:5:11",
                "the containers' slots are `container`",
            ),
            (
                &format!("{base}\n[deploy]\nmigrate = [\"python manage.py migrate\"]\n"),
                "ferry.toml:6:12",
                "runs no commands on the hosts",
            ),
        ];
        for (text, location, message) in cases {
            let (at, said) = error_of(text);
            assert_eq!(at, location, "{said}");
            assert!(said.contains(message), "{said}");
        }
    }
}
