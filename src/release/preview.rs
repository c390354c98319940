//! `deploy --check` (and `hotfix`, `setup_release`): what a deploy would do
//! on each host — the release it would create, the files and bytes it would
//! send, the commands it would run — from a read-only survey. For a container
//! release the survey also asks the host's engine which layers it holds and
//! which of the app's containers run: the preview names the layers `ship` would
//! send (count and bytes, from the very archive it would build) and the
//! container that would start beside those that would stop. Nothing is
//! locked, written or run.

use super::deploy::{DeployPlan, Mode};
use super::survey::{self, Lock, Options, Survey};
use super::upload;
use crate::container::{self, Image};
use crate::event::Status;
use crate::fanout::{Fanout, Outcome};
use crate::inventory::Host;
use crate::protocol::Marker;
use crate::transport::{Request, Stream};

pub(crate) async fn run(plan: &DeployPlan, hosts: &[&Host], fanout: &Fanout) {
    let options = Options {
        lock: None,
        takeover: survey::Takeover::No,
        sums: true,
    };
    fanout
        .each(&format!("{}/check", plan.mode.name()), hosts, |host| {
            let mut script = survey::builder(&plan.layout, &options);
            let host_plan = &plan.hosts[&host.label];
            if let (Some(image), Some(name)) = (&plan.image, &host_plan.container) {
                container::probe_layers(&mut script, &image.id);
                container::running(&mut script, name);
            }
            async move {
                let ran = fanout.script(host, Request::script(script.build())).await;
                let outcome = ran.outcome(&[], Status::Ok);
                match Some(survey::parse(&ran.markers)) {
                    Some(survey) if outcome.status == Status::Ok => {
                        for line in lines(plan, host, &survey, &ran.markers) {
                            fanout.events.output(&host.label, Stream::Stdout, line);
                        }
                        Outcome::new(Status::Ok).message("nothing changed (--check)")
                    }
                    _ => outcome,
                }
            }
        })
        .await;
}

fn lines(plan: &DeployPlan, host: &Host, survey: &Survey, markers: &[Marker]) -> Vec<String> {
    let artifact = plan
        .artifact
        .as_ref()
        .expect("--check plans have an artifact");
    let host_plan = &plan.hosts[&host.label];
    let migrates =
        plan.mode == Mode::Deploy && plan.migrate_host.as_deref() == Some(host.label.as_str());
    let (send, bytes, kept) = upload::preview(artifact, survey);
    let revision = artifact
        .revision
        .as_deref()
        .map_or("", |r| &r[..r.len().min(10)]);
    let live = survey.current.as_deref().unwrap_or("nothing yet");
    let mut lines = vec![
        format!(
            "would create a release of {} {revision} beside {live}",
            artifact.reference
        ),
        format!(
            "would send {} ({} before compression) and copy {}",
            crate::units::plural(send, "file"),
            crate::units::bytes(bytes),
            crate::units::plural(kept, "unchanged file")
        ),
    ];
    if let Lock::Held(_) | Lock::Stale(_) = survey.lock {
        lines.push("the lock is taken: the deploy would be refused (see `releases`)".into());
    }
    let commands = |what: &str, steps: &super::steps::Commands| -> Vec<String> {
        steps
            .steps
            .iter()
            .map(|(_, command)| format!("would {what}: {command}"))
            .collect()
    };
    lines.extend(commands(
        "run the after_upload hook",
        &host_plan.after_upload,
    ));
    if let Some(image) = &plan.image {
        // The image's own words, not the helpers' calls.
        lines.push(layers(plan, image, markers));
        if migrates {
            lines.push(format!(
                "would migrate in a one-off container of {}",
                image.tag
            ));
        }
    } else {
        lines.extend(commands("build", &host_plan.build));
        if migrates {
            lines.extend(commands("migrate", &host_plan.migrate));
        }
    }
    if !matches!(plan.mode, Mode::Setup { .. }) {
        lines.extend(commands(
            "run the before_switch hook",
            &host_plan.before_switch,
        ));
        lines.push(format!(
            "would switch current from {live} to the new release"
        ));
        lines.extend(commands(
            "run the after_switch hook",
            &host_plan.after_switch,
        ));
        for upstream in &host_plan.switches {
            let moved = if upstream.nginx {
                "point nginx at it"
            } else {
                "make it the live one"
            };
            if let Some(name) = &host_plan.container {
                // The containers are the slots: name the ones that would start and stop.
                lines.push(containers(name, moved, markers));
                continue;
            }
            lines.push(format!(
                "would start {} in its idle slot, probe it, {moved} and stop the other",
                upstream.service
            ));
        }
        if host_plan.container.is_none() {
            lines.extend(commands("run", &host_plan.restarts));
        }
        if let Some(health) = &host_plan.health {
            lines.push(format!("would check health: {}", health.label()));
        }
    }
    lines
}

/// What `ship` would send the host: the layers its engine lacks.
fn layers(plan: &DeployPlan, image: &Image, markers: &[Marker]) -> String {
    let registry = plan
        .deploy
        .container
        .as_ref()
        .and_then(|c| c.registry.as_ref());
    if markers.contains(&Marker::HasImage) {
        return format!(
            "would send no layer of {}: the host holds the image",
            image.tag
        );
    }
    let stacks: Vec<Vec<String>> = markers
        .iter()
        .filter_map(|m| match m {
            Marker::Layers(layers) => Some(layers.clone()),
            _ => None,
        })
        .collect();
    let shipment = image.shipment(&stacks);
    if let Some(registry) = registry {
        return format!(
            "would pull {} of {} layers of {} from {} ({} of layers)",
            shipment.layers_sent,
            image.layers.len(),
            image.tag,
            registry.repository,
            crate::units::bytes(shipment.layer_bytes)
        );
    }
    format!(
        "would send {} of {} layers of {}: {} compressed ({} of layers)",
        shipment.layers_sent,
        image.layers.len(),
        image.tag,
        crate::units::bytes(shipment.payload.len() as u64),
        crate::units::bytes(shipment.layer_bytes)
    )
}

/// The container that would start (the idle slot's), and the app's containers that
/// would stop.
fn containers(name: &str, moved: &str, markers: &[Marker]) -> String {
    let running: Vec<&str> = markers
        .iter()
        .filter_map(|m| match m {
            Marker::Containers(names) => Some(names.iter().map(String::as_str)),
            _ => None,
        })
        .flatten()
        .collect();
    let slots = [format!("{name}-a"), format!("{name}-b")];
    let idle: Vec<&String> = slots
        .iter()
        .filter(|slot| !running.contains(&slot.as_str()))
        .collect();
    let start = match idle.as_slice() {
        [one] => (*one).clone(),
        _ => format!("{name}-a or {name}-b (the idle slot)"),
    };
    let stop = if running.is_empty() {
        "nothing (no container of the app runs here)".to_string()
    } else {
        running.join(", ")
    };
    format!("would start {start}, probe it, {moved}, then stop {stop}")
}
