//! `[secrets]`: each value is read from ferry's environment (`"${VAR}"`),
//! from a local command's stdout (`{ command = "op read op://app/db" }`) or
//! from a local file (`{ file = "~/.config/app/key" }`). An environment's
//! `[environments.<env>.secrets]` entry replaces the base one of that name.
//!
//! `${VAR}` values are resolved with the environment, as every `${VAR}` is.
//! Commands and files are only declared then: `Environment::fetch_secrets`
//! reads them, once per run, when the run needs secrets (`ferry <env>
//! config` never does), before anything reaches a host.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use super::interpolate::Interpolator;
use super::raw::Table;
use super::{ConfigError, Environment, Project};
use crate::secret::{Fetcher, Secret, Source};

/// A `[secrets]` value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawSecret {
    /// `"${VAR}"`: from ferry's environment.
    Env(String),
    /// `{ command = "…" }`: the command's stdout, run with `sh -c` in
    /// ferry.toml's directory.
    Command(String),
    /// `{ file = "…" }`: the file's contents; `~/` is the home directory,
    /// a relative path starts at ferry.toml's directory.
    File(String),
}

impl fmt::Display for RawSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawSecret::Env(text) => f.write_str(text),
            RawSecret::Command(text) => write!(f, "command: {text}"),
            RawSecret::File(path) => write!(f, "file: {path}"),
        }
    }
}

const FORMS: &str = "a secret is \"${VAR}\", { command = \"…\" } or { file = \"…\" }";

impl<'de> Deserialize<'de> for RawSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawSecretVisitor)
    }
}

struct RawSecretVisitor;

impl<'de> Visitor<'de> for RawSecretVisitor {
    type Value = RawSecret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FORMS)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawSecret, E> {
        Ok(RawSecret::Env(value.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSecret, A::Error> {
        let mut found: Option<RawSecret> = None;
        while let Some(key) = map.next_key::<String>()? {
            let make: fn(String) -> RawSecret = match key.as_str() {
                "command" => RawSecret::Command,
                "file" => RawSecret::File,
                other => return Err(de::Error::unknown_field(other, &["command", "file"])),
            };
            let value: String = map.next_value()?;
            if found.is_some() {
                return Err(de::Error::custom(format!(
                    "a secret has one source: {FORMS}"
                )));
            }
            if value.trim().is_empty() {
                return Err(de::Error::custom(format!("`{key}` is empty")));
            }
            found = Some(make(value));
        }
        found.ok_or_else(|| de::Error::custom(FORMS))
    }
}

/// A secret to fetch from a command or a file, and where ferry.toml says so.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    pub(crate) name: String,
    pub(crate) source: Source,
    /// `path:line`, for errors.
    pub(crate) at: String,
}

/// The environment's secrets: values from ferry's environment now, and the
/// commands and files to fetch later.
pub(crate) fn resolve(
    project: &Project,
    own: &Table<Spanned<RawSecret>>,
    interp: &Interpolator<'_>,
    home: Option<String>,
) -> Result<(Vec<Secret>, Vec<Declared>), ConfigError> {
    let mut merged: BTreeMap<&str, &Spanned<RawSecret>> = BTreeMap::new();
    for (name, value) in project.raw.secrets.iter().chain(own) {
        merged.insert(name.get_ref(), value);
    }
    let dir = project.config_dir();
    let (mut values, mut declared) = (Vec::new(), Vec::new());
    for (name, value) in merged {
        let (line, _) = project.file.line_col(value.span().start);
        let at = format!("{}:{line}", project.file.path.display());
        let source = match value.get_ref() {
            RawSecret::Env(text) => {
                let text = interp.string(&Spanned::new(value.span(), text.clone()))?;
                values.push(Secret::new(name.to_string(), text));
                continue;
            }
            RawSecret::Command(text) => Source::Command {
                text: text.clone(),
                dir: dir.clone(),
            },
            RawSecret::File(path) => Source::File(file_path(path, &dir, home.as_deref())),
        };
        declared.push(Declared {
            name: name.to_string(),
            source,
            at,
        });
    }
    Ok((values, declared))
}

fn file_path(text: &str, dir: &Path, home: Option<&str>) -> PathBuf {
    match (text.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => Path::new(home).join(rest),
        _ => dir.join(text),
    }
}

impl Environment {
    /// Read the secrets that come from commands and files (each source once
    /// per `fetcher`); a failure names the secret and its source.
    pub(crate) fn fetch_secrets(&mut self, fetcher: &Fetcher) -> Result<(), ConfigError> {
        for declared in &self.declared_secrets {
            if self.secrets.iter().any(|s| s.name == declared.name) {
                continue;
            }
            let value = fetcher
                .fetch(&declared.source)
                .map_err(|error| ConfigError::Secret {
                    name: declared.name.clone(),
                    at: declared.at.clone(),
                    source_text: declared.source.describe(),
                    error,
                })?;
            self.secrets
                .push(Secret::fetched(declared.name.clone(), value));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Doc {
        secrets: Table<Spanned<RawSecret>>,
    }

    fn parse(text: &str) -> Result<Vec<RawSecret>, String> {
        toml::from_str::<Doc>(text)
            .map(|d| d.secrets.into_values().map(Spanned::into_inner).collect())
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn reads_the_three_forms() {
        let parsed = parse(
            "[secrets]\nA = \"${A}\"\nB = { command = \"op read x\" }\nC = { file = \"~/k\" }\n",
        )
        .unwrap();
        assert_eq!(
            parsed,
            [
                RawSecret::Env("${A}".into()),
                RawSecret::Command("op read x".into()),
                RawSecret::File("~/k".into()),
            ]
        );
    }

    #[test]
    fn refuses_what_is_not_one_source() {
        let both = parse("[secrets]\nA = { command = \"x\", file = \"y\" }\n").unwrap_err();
        assert!(both.contains("one source"), "{both}");
        let none = parse("[secrets]\nA = {}\n").unwrap_err();
        assert!(none.contains("{ command"), "{none}");
        let typo = parse("[secrets]\nA = { comand = \"x\" }\n").unwrap_err();
        assert!(typo.contains("unknown field `comand`"), "{typo}");
        let number = parse("[secrets]\nA = 3\n").unwrap_err();
        assert!(number.contains("${VAR}"), "{number}");
    }

    #[test]
    fn a_file_starts_at_home_or_at_ferry_toml() {
        let dir = Path::new("/app");
        assert_eq!(
            file_path("~/k", dir, Some("/home/u")),
            Path::new("/home/u/k")
        );
        assert_eq!(file_path("keys/k", dir, None), Path::new("/app/keys/k"));
        assert_eq!(file_path("/etc/k", dir, None), Path::new("/etc/k"));
    }
}
