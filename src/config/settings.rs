//! Settings: the typed values every environment resolves to, layered in one
//! stated order: built-in defaults < ferry.toml base < environment section <
//! `FERRY_<KEY>` variables < `--set key=value`. Validation happens here, once.

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::interpolate::Interpolator;
use super::raw::{HostKeyChecking, OnFailure, RawSettings};
use crate::diagnostic::Diagnostic;

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) deploy_to: String,
    pub(crate) branch: String,
    pub(crate) user: Option<String>,
    pub(crate) keep_releases: u32,
    pub(crate) parallel: u32,
    pub(crate) on_failure: OnFailure,
    pub(crate) host_key_checking: HostKeyChecking,
    pub(crate) connect_timeout: u32,
    /// Seconds between SSH keepalives; three missed ones mean the host is gone.
    pub(crate) keepalive: u32,
    pub(crate) ssh_config: Option<PathBuf>,
}

impl Settings {
    pub(crate) fn defaults(app: &str) -> Self {
        Self {
            deploy_to: format!("/srv/{app}"),
            branch: "main".into(),
            user: None,
            keep_releases: 5,
            parallel: 16,
            on_failure: OnFailure::Stop,
            host_key_checking: HostKeyChecking::Strict,
            connect_timeout: 10,
            keepalive: 15,
            ssh_config: None,
        }
    }

    /// Apply one layer from ferry.toml; errors point into the file.
    pub(crate) fn apply_file(
        &mut self,
        raw: RawSettings<'_>,
        interp: &Interpolator<'_>,
        root: &Path,
    ) -> Result<(), Diagnostic> {
        let file_error =
            |span, message: String| interp.file().error(span, message).label("invalid value");
        if let Some(value) = raw.deploy_to {
            self.deploy_to =
                check_path(&interp.string(value)?).map_err(|m| file_error(value.span(), m))?;
        }
        if let Some(value) = raw.branch {
            self.branch = interp.string(value)?;
        }
        if let Some(value) = raw.user {
            self.user =
                Some(check_user(&interp.string(value)?).map_err(|m| file_error(value.span(), m))?);
        }
        if let Some(value) = raw.ssh_config {
            self.ssh_config = Some(root.join(interp.string(value)?));
        }
        self.keep_releases = layer(raw.keep_releases, self.keep_releases);
        self.on_failure = layer(raw.on_failure, self.on_failure);
        self.host_key_checking = layer(raw.host_key_checking, self.host_key_checking);
        for (value, target) in [
            (raw.parallel, &mut self.parallel),
            (raw.connect_timeout, &mut self.connect_timeout),
            (raw.keepalive, &mut self.keepalive),
        ] {
            if let Some(value) = value {
                *target =
                    at_least_one(*value.get_ref()).map_err(|m| file_error(value.span(), m))?;
            }
        }
        Ok(())
    }

    /// Apply a `--set` or `FERRY_<KEY>` value. Returns `Ok(false)` when `key`
    /// is not a setting (it may still be a var).
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        match key {
            "deploy_to" => self.deploy_to = check_path(value)?,
            "branch" => self.branch = value.into(),
            "user" => self.user = Some(check_user(value)?),
            "keep_releases" => self.keep_releases = number(value)?,
            "parallel" => self.parallel = at_least_one(number(value)?)?,
            "connect_timeout" => self.connect_timeout = at_least_one(number(value)?)?,
            "keepalive" => self.keepalive = at_least_one(number(value)?)?,
            "ssh_config" => self.ssh_config = Some(value.into()),
            "on_failure" => self.on_failure = variant(value)?,
            "host_key_checking" => self.host_key_checking = variant(value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The values templates see, by their ferry.toml names.
    pub(crate) fn context(&self) -> Vec<(&'static str, minijinja::Value)> {
        use minijinja::Value;
        vec![
            ("deploy_to", Value::from(self.deploy_to.as_str())),
            ("branch", Value::from(self.branch.as_str())),
            ("keep_releases", Value::from(self.keep_releases)),
            ("parallel", Value::from(self.parallel)),
        ]
    }
}

fn layer<T: Copy>(value: Option<&Spanned<T>>, current: T) -> T {
    value.map_or(current, |v| *v.get_ref())
}

fn check_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` is not an absolute path"));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err("a path cannot hold control characters".into());
    }
    match path.trim_end_matches('/') {
        "" => Err(
            "deploy_to cannot be `/`: releases and cleanup need a directory of their own".into(),
        ),
        trimmed => Ok(trimmed.into()),
    }
}

fn check_user(user: &str) -> Result<String, String> {
    crate::inventory::check_user(user).map(str::to_string)
}

fn number(value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| format!("`{value}` is not a whole number"))
}

fn at_least_one(value: u32) -> Result<u32, String> {
    if value == 0 {
        Err("must be at least 1".into())
    } else {
        Ok(value)
    }
}

fn variant<T: serde::de::DeserializeOwned>(value: &str) -> Result<T, String> {
    use serde::de::IntoDeserializer;
    let deserializer: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        value.into_deserializer();
    T::deserialize(deserializer).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_and_validates() {
        let mut settings = Settings::defaults("app");
        assert_eq!(settings.set("deploy_to", "/srv/x/"), Ok(true));
        assert_eq!(settings.deploy_to, "/srv/x");
        assert_eq!(settings.set("on_failure", "continue"), Ok(true));
        assert_eq!(settings.on_failure, OnFailure::Continue);
        assert_eq!(settings.set("greeting", "hi"), Ok(false));
        assert!(
            settings
                .set("deploy_to", "srv")
                .unwrap_err()
                .contains("absolute")
        );
        assert!(settings.set("parallel", "0").is_err());
        assert!(
            settings
                .set("on_failure", "stp")
                .unwrap_err()
                .contains("stop")
        );
    }
}
