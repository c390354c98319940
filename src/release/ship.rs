//! The ship phase of a container release, between upload and migrate: each host says
//! which layers its engine holds (one round trip), then gets a `docker save` archive with
//! only the layers it lacks, loads it and checks the image's id (a second). What each host
//! was sent is its result's message. With `[container] registry` the image is pushed
//! there once from this machine, and each host pulls it by digest instead (one round
//! trip), checking its id the same way.

use std::sync::Arc;

use super::phases::{Run, with_message};
use crate::config::Registry;
use crate::container::{self, Image};
use crate::event::Status;
use crate::fanout::{Gate, Outcome};
use crate::inventory::Host;
use crate::protocol::Marker;
use crate::secret::Secret;
use crate::transport::{Payload, Request};

impl<'h> Run<'_, 'h> {
    pub(super) async fn ship(&mut self) -> bool {
        let Some(image) = self.image.as_deref() else {
            return true;
        };
        let hosts = self.hosts.clone();
        let started = std::time::Instant::now();
        let def = self.plan.deploy.container.as_ref().expect("an image");
        // With a registry, the image goes there once; then every host pulls it.
        let pushed = match &def.registry {
            None => None,
            Some(registry) => Some(self.push(image, registry).await),
        };
        let done = self
            .fanout
            .collect(&self.task("ship"), &hosts, Gate::Policy, |host| async {
                match &pushed {
                    None => self.ship_to(host, image).await,
                    Some(Ok(reference)) => self.pull_on(host, image, reference).await,
                    Some(Err(message)) => (Outcome::failed(message.clone()), ()),
                }
            })
            .await;
        self.took("ship", started.elapsed());
        self.advance(done, |_, ()| ())
    }

    /// The registry's password, from the environment's secrets.
    fn registry_password(&self, registry: &Registry) -> Option<&Secret> {
        let (_, name) = registry.login.as_ref()?;
        self.plan.secrets.iter().find(|s| s.name == *name)
    }

    /// `docker push` from this machine: the reference hosts pull, or what failed.
    async fn push(&self, image: &Image, registry: &Registry) -> Result<String, String> {
        let (image, registry) = (image.clone(), registry.clone());
        let password = self.registry_password(&registry).cloned();
        let pushed = tokio::task::spawn_blocking(move || {
            container::push(&image, &registry, password.as_ref())
        })
        .await
        .map_err(|e| e.to_string())?;
        pushed.map_err(|e| format!("cannot push the image to the registry: {e}"))
    }

    async fn pull_on(&self, host: &'h Host, image: &Image, reference: &str) -> (Outcome, ()) {
        let def = self.plan.deploy.container.as_ref().expect("an image");
        let registry = def.registry.as_ref().expect("a registry");
        let mut script = self.plan.layout.script();
        container::pull(
            &mut script,
            reference,
            &image.id,
            &def.image,
            &self.id,
            registry,
            self.registry_password(registry),
        );
        let request = Request {
            timeout: self.plan.timeout,
            ..Request::script(script.build())
        };
        let outcome = self
            .locked
            .run(self.fanout, host, request)
            .await
            .outcome(&[], Status::Changed);
        let said = format!("{}: pulled {reference}", image.tag);
        (with_message(outcome, said), ())
    }

    async fn ship_to(&self, host: &'h Host, image: &Image) -> (Outcome, ()) {
        let repo = &self.plan.deploy.container.as_ref().expect("an image").image;
        let mut script = self.plan.layout.script();
        container::probe_layers(&mut script, &image.id);
        let ran = self
            .locked
            .run(self.fanout, host, Request::script(script.build()))
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
            .locked
            .run(self.fanout, host, request)
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
