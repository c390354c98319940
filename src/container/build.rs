//! `docker build` of the release's files on this machine, and the archive `docker save`
//! makes of the image: its layers (bottom first, each with the digest the engine knows it
//! by) and the rest of the archive (manifest, config), read once here.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::config::ContainerDef;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ContainerError {
    #[error("cannot run docker on this machine: {0}")]
    NoDocker(std::io::Error),
    #[error("`docker {command}` failed: {output}")]
    Docker { command: String, output: String },
    #[error("the archive of the image is not what docker saves: {0}")]
    Archive(String),
}

/// The image built for a release.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    /// `sha256:…`, the digest of its config: the same on every engine that holds it.
    pub(crate) id: String,
    /// `<image>:<revision>` on this machine.
    pub(crate) tag: String,
    pub(crate) layers: Vec<Layer>,
    /// What `docker save` wrote.
    pub(crate) archive: Vec<u8>,
}

#[derive(Debug, Clone)]
pub(crate) struct Layer {
    /// Its file in the archive.
    pub(crate) path: String,
    /// The digest of its uncompressed tar, as `docker image inspect` lists it.
    pub(crate) diff_id: String,
    pub(crate) size: u64,
}

/// Builds the image from `context` (the release's files written out), labelled and
/// tagged with `revision`.
pub(crate) fn build(
    context: &Path,
    def: &ContainerDef,
    revision: &str,
) -> Result<Image, ContainerError> {
    let tag = format!("{}:{}", def.image, short(revision));
    let mut args: Vec<String> = vec!["build".into(), "-q".into(), "-t".into(), tag.clone()];
    args.extend(["-f".into(), def.dockerfile.clone()]);
    args.extend(["--label".into(), format!("ferry.revision={revision}")]);
    for (key, value) in &def.build_args {
        args.extend(["--build-arg".into(), format!("{key}={value}")]);
    }
    args.push(".".into());
    let dir = if def.context == "." {
        context.to_path_buf()
    } else {
        context.join(&def.context)
    };
    let id = String::from_utf8_lossy(&docker(&args, &dir)?)
        .trim()
        .to_string();
    if !id.starts_with("sha256:") {
        return Err(ContainerError::Docker {
            command: "build".into(),
            output: format!("no image id in its output: {id}"),
        });
    }
    // Saved by id, so hosts load it untagged and tag it with the release.
    let archive = docker(&["save".into(), id.clone()], &dir)?;
    let layers = read_layers(&archive)?;
    Ok(Image {
        id,
        tag,
        layers,
        archive,
    })
}

/// A revision as tags carry it: a commit's first 12 hex digits, or as it is.
fn short(revision: &str) -> String {
    let clean: String = revision
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    clean.chars().take(12).collect()
}

/// Runs `docker args` in `dir`; its stdout, or the end of what it said when it failed.
fn docker(args: &[String], dir: &Path) -> Result<Vec<u8>, ContainerError> {
    let out = Command::new("docker")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(ContainerError::NoDocker)?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Err(ContainerError::Docker {
        command: args[0].clone(),
        output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

/// The layers `manifest.json` lists, with the diff ids of the image's config.
pub(super) fn read_layers(archive: &[u8]) -> Result<Vec<Layer>, ContainerError> {
    let bad = |what: &str| ContainerError::Archive(what.to_string());
    let mut files = std::collections::HashMap::new();
    let mut sizes = std::collections::HashMap::new();
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().map_err(|e| bad(&e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(&e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| bad(&e.to_string()))?
            .to_string_lossy()
            .into_owned();
        sizes.insert(path.clone(), entry.size());
        if path.ends_with(".json") {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| bad(&e.to_string()))?;
            files.insert(path, text);
        }
    }
    let manifest: serde_json::Value = serde_json::from_str(
        files
            .get("manifest.json")
            .ok_or_else(|| bad("no manifest.json"))?,
    )
    .map_err(|e| bad(&e.to_string()))?;
    let first = &manifest[0];
    let config_path = first["Config"].as_str().ok_or_else(|| bad("no Config"))?;
    let config_text = match files.get(config_path) {
        Some(text) => text.clone(),
        None => read_file(archive, config_path)?,
    };
    let config: serde_json::Value =
        serde_json::from_str(&config_text).map_err(|e| bad(&e.to_string()))?;
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| bad("no rootfs.diff_ids"))?;
    let paths = first["Layers"].as_array().ok_or_else(|| bad("no Layers"))?;
    if diff_ids.len() != paths.len() {
        return Err(bad("Layers and diff_ids differ in number"));
    }
    Ok(paths
        .iter()
        .zip(diff_ids)
        .map(|(path, diff_id)| {
            let path = path.as_str().unwrap_or_default().to_string();
            Layer {
                size: sizes.get(&path).copied().unwrap_or(0),
                path,
                diff_id: diff_id.as_str().unwrap_or_default().to_string(),
            }
        })
        .collect())
}

/// One file of the archive (an OCI archive's config has no `.json` name).
fn read_file(archive: &[u8], wanted: &str) -> Result<String, ContainerError> {
    let bad = |what: String| ContainerError::Archive(what);
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if entry.path().is_ok_and(|p| p.to_string_lossy() == wanted) {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| bad(e.to_string()))?;
            return Ok(text);
        }
    }
    Err(bad(format!("no {wanted}")))
}
