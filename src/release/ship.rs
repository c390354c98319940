//! The ship phase of a container release, between upload and migrate: each host says
//! which layers its engine holds (one round trip), then gets a `docker save` archive with
//! only the layers it lacks, loads it and checks the image's id (a second). What each host
//! was sent is its result's message.

use std::sync::Arc;

use super::phases::{Run, with_message};
use crate::container::{self, Image};
use crate::event::Status;
use crate::fanout::{Gate, Outcome};
use crate::inventory::Host;
use crate::protocol::Marker;
use crate::transport::{Payload, Request};

impl<'h> Run<'_, 'h> {
    pub(super) async fn ship(&mut self) -> bool {
        let Some(image) = self.image.as_deref() else {
            return true;
        };
        let hosts = self.hosts.clone();
        let done = self
            .fanout
            .collect(&self.task("ship"), &hosts, Gate::Policy, |host| {
                self.ship_to(host, image)
            })
            .await;
        self.advance(done, |_, ()| ())
    }

    async fn ship_to(&self, host: &'h Host, image: &Image) -> (Outcome, ()) {
        let repo = &self.plan.deploy.container.as_ref().expect("an image").image;
        let mut script = self.plan.layout.script();
        container::probe_layers(&mut script, &image.id);
        let ran = self
            .fanout
            .script(host, Request::script(script.build()))
            .await;
        let asked = ran.outcome(&[], Status::Ok);
        if asked.status != Status::Ok {
            return (asked, ());
        }
        let has_image = ran.markers.contains(&Marker::HasImage);
        let stacks: Vec<Vec<String>> = ran
            .markers
            .iter()
            .filter_map(|m| match m {
                Marker::Layers(layers) => Some(layers.clone()),
                _ => None,
            })
            .collect();
        let shipment = (!has_image).then(|| image.shipment(&stacks));
        let mut script = self.plan.layout.script();
        container::load(&mut script, &image.id, repo, &self.id);
        let mut request = Request {
            timeout: self.plan.timeout,
            ..Request::script(script.build())
        };
        if let Some(shipment) = &shipment {
            let bytes: Arc<[u8]> = shipment.payload.clone().into();
            request.payload = Payload::Bytes(vec![bytes]);
        }
        let outcome = self
            .fanout
            .script(host, request)
            .await
            .outcome(&[], Status::Changed);
        let sent = match &shipment {
            None => format!("{}: the host holds the image, 0 layers sent", image.tag),
            Some(s) => format!(
                "{}: {} of {} layers sent, {} bytes compressed ({} bytes of layers)",
                image.tag,
                s.layers_sent,
                image.layers.len(),
                s.payload.len(),
                s.layer_bytes
            ),
        };
        (with_message(outcome, sent), ())
    }
}
