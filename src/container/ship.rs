//! What a host is sent: the image's `docker save` archive without the layers its engine
//! already holds. An engine knows a layer by its chain id (the layer with every layer
//! below it), so a layer can stay home only when the host has the same stack up to it;
//! `docker load` then finds it in its store. The manifest and config always go, so the
//! host loads the very image that was built, and checks its id before running it.

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::build::Image;

/// The archive for one host and what it holds.
pub(crate) struct Shipment {
    /// Gzipped: `docker load` takes it as is.
    pub(crate) payload: Vec<u8>,
    pub(crate) layers_sent: usize,
    /// Uncompressed bytes of the layers sent.
    pub(crate) layer_bytes: u64,
}

impl Image {
    /// The archive for a host whose images have these layer stacks (diff ids, bottom first).
    pub(crate) fn shipment(&self, host_images: &[Vec<String>]) -> Shipment {
        let held: std::collections::HashSet<String> = host_images
            .iter()
            .flat_map(|stack| chain_ids(stack))
            .collect();
        let ours = chain_ids(
            &self
                .layers
                .iter()
                .map(|l| l.diff_id.clone())
                .collect::<Vec<_>>(),
        );
        let skipped: std::collections::HashSet<&str> = self
            .layers
            .iter()
            .zip(&ours)
            .filter(|(_, chain)| held.contains(*chain))
            .map(|(layer, _)| layer.path.as_str())
            .collect();
        let sent: Vec<_> = self
            .layers
            .iter()
            .filter(|l| !skipped.contains(l.path.as_str()))
            .collect();
        Shipment {
            payload: self.without(&skipped),
            layers_sent: sent.len(),
            layer_bytes: sent.iter().map(|l| l.size).sum(),
        }
    }

    fn without(&self, skipped: &std::collections::HashSet<&str>) -> Vec<u8> {
        let mut out = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        let mut archive = tar::Archive::new(self.archive.as_slice());
        // The archive was read whole when built: it cannot fail now.
        for entry in archive.entries().expect("a read archive") {
            let mut entry = entry.expect("a read archive");
            let path = entry
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            if skipped.contains(path.as_str()) {
                continue;
            }
            let mut header = entry.header().clone();
            let _ = out.append_data(&mut header, &path, &mut entry);
        }
        out.into_inner()
            .and_then(GzEncoder::finish)
            .expect("in-memory tar")
    }
}

/// The chain id of each layer of a stack: the first layer's diff id, then
/// sha256("<chain below> <diff id>").
fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chains: Vec<String> = Vec::new();
    for diff_id in diff_ids {
        let next = match chains.last() {
            None => diff_id.clone(),
            Some(below) => sha256(&format!("{below} {diff_id}")),
        };
        chains.push(next);
    }
    chains
}

fn sha256(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::build::read_layers;

    /// A `docker save` archive (legacy layout) of two layers, `base` below `app`.
    fn archive() -> Vec<u8> {
        crate::container::test_archive(&[
            ("b1/layer.tar", &[1; 4096]),
            ("b1/json", b"{}"),
            ("a2/layer.tar", &[2; 512]),
            (
                "cfg.json",
                br#"{"rootfs":{"diff_ids":["sha256:base","sha256:app"]}}"#,
            ),
            (
                "manifest.json",
                br#"[{"Config":"cfg.json","RepoTags":null,"Layers":["b1/layer.tar","a2/layer.tar"]}]"#,
            ),
        ])
    }

    fn image() -> Image {
        let archive = archive();
        Image {
            id: "sha256:cfg".into(),
            tag: "shop:abc".into(),
            layers: read_layers(&archive).unwrap(),
            archive,
        }
    }

    /// The paths in a shipment's (gzipped) archive.
    fn paths(shipment: &Shipment) -> Vec<String> {
        let gz = flate2::read::GzDecoder::new(shipment.payload.as_slice());
        let mut archive = tar::Archive::new(gz);
        let entries = archive.entries().unwrap();
        entries
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn only_the_layers_a_host_lacks_go_with_manifest_and_config() {
        let image = image();
        assert_eq!(image.layers[0].diff_id, "sha256:base");
        assert_eq!(image.layers[1].size, 512);
        let all = image.shipment(&[]);
        assert_eq!((all.layers_sent, all.layer_bytes), (2, 4608));
        assert_eq!(paths(&all).len(), 5);
        // The host has an image on the same base: only the app's layer goes.
        let other = vec!["sha256:base".to_string(), "sha256:old".to_string()];
        let some = image.shipment(&[other]);
        assert_eq!((some.layers_sent, some.layer_bytes), (1, 512));
        assert_eq!(
            paths(&some),
            ["b1/json", "a2/layer.tar", "cfg.json", "manifest.json"]
        );
        // The app's layer on another base is another layer: both go.
        let elsewhere = vec!["sha256:other".to_string(), "sha256:app".to_string()];
        assert_eq!(image.shipment(&[elsewhere]).layers_sent, 2);
        // Every layer held: manifest and config alone.
        let held = vec!["sha256:base".to_string(), "sha256:app".to_string()];
        let none = image.shipment(&[held]);
        assert_eq!((none.layers_sent, none.layer_bytes), (0, 0));
        assert_eq!(paths(&none), ["b1/json", "cfg.json", "manifest.json"]);
    }

    #[test]
    fn chain_ids_follow_the_stack_below() {
        let a = "sha256:aa".to_string();
        let b = "sha256:bb".to_string();
        let ab = chain_ids(&[a.clone(), b.clone()]);
        let ba = chain_ids(&[b.clone(), a.clone()]);
        assert_eq!(ab[0], a);
        // The same layer on another stack is another layer to the engine.
        assert_ne!(ab[1], ba[1]);
        assert_eq!(ab[1], sha256("sha256:aa sha256:bb"));
    }
}
