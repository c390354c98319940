//! An image built before, as a later run ships it (a promotion, a resumed deploy): the
//! artifact is the image, never a rebuild. It comes from this machine's engine while that
//! still holds it, otherwise as the `docker save` archive of a host that runs it.

use std::process::{Command, Stdio};

use super::build::{ContainerError, Image, read_layers};
use crate::shell::{Script, Word};

/// The image `id` from this machine's engine, when it holds it (`tag` names it to people).
pub(crate) fn local(id: &str, tag: &str) -> Option<Image> {
    let out = Command::new("docker")
        .args(["save", id])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    from_archive(id, tag, out.stdout).ok()
}

/// The image `id` from a `docker save` archive, which must hold that very image: its
/// config is the blob the id is the digest of.
pub(crate) fn from_archive(id: &str, tag: &str, archive: Vec<u8>) -> Result<Image, ContainerError> {
    let layers = read_layers(&archive)?;
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    let config = config_path(&archive)?;
    if hex.len() < 12 || !config.contains(hex) {
        return Err(ContainerError::Archive(format!(
            "it holds the image {config}, not {id}"
        )));
    }
    Ok(Image {
        id: id.to_string(),
        tag: tag.to_string(),
        layers,
        archive,
    })
}

/// The path of the image's config in the archive, as `manifest.json` names it.
fn config_path(archive: &[u8]) -> Result<String, ContainerError> {
    let bad = |what: String| ContainerError::Archive(what);
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let entry = entry.map_err(|e| bad(e.to_string()))?;
        if entry
            .path()
            .is_ok_and(|p| p.to_string_lossy() == "manifest.json")
        {
            let manifest: serde_json::Value =
                serde_json::from_reader(entry).map_err(|e| bad(e.to_string()))?;
            return manifest[0]["Config"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| bad("no Config in manifest.json".into()));
        }
    }
    Err(bad("no manifest.json".into()))
}

/// The host sends back the `docker save` archive of `id`, as one `archive` report.
pub(crate) fn save(script: &mut Script, id: &str) {
    script.call("ferry_ctr_save", [Word::lit(id)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `docker save` archive (legacy layout) of one layer whose config is `config`.
    fn archive(config: &str) -> Vec<u8> {
        let manifest = format!(r#"[{{"Config":"{config}","Layers":["l1/layer.tar"]}}]"#);
        crate::container::test_archive(&[
            ("l1/layer.tar", &[1; 512]),
            (config, br#"{"rootfs":{"diff_ids":["sha256:base"]}}"#),
            ("manifest.json", manifest.as_bytes()),
        ])
    }

    #[test]
    fn an_archive_is_taken_only_for_the_image_it_holds() {
        let id = "sha256:0123456789abcdef";
        let image = from_archive(id, "shop:1", archive("0123456789abcdef.json")).unwrap();
        assert_eq!((image.id.as_str(), image.layers.len()), (id, 1));
        let other = from_archive(id, "shop:1", archive("fedcba9876543210.json"));
        assert!(
            other
                .unwrap_err()
                .to_string()
                .contains("not sha256:0123456789abcdef")
        );
    }
}
