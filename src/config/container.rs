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
    })
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

/// A repository name as docker takes it: lowercase parts joined by `/`.
fn image_name(file: &SourceFile, raw: &Spanned<String>) -> Result<String, Diagnostic> {
    let name = raw.get_ref();
    let part_ok = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            && part.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    if name.split('/').all(part_ok) {
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
