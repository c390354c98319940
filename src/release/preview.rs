//! `deploy --check` (and `hotfix`, `setup_release`): what a deploy would do
//! on each host — the release it would create, the files and bytes it would
//! send, the commands it would run — from a read-only survey. Nothing is
//! locked, written or run.

use super::deploy::{DeployPlan, Mode};
use super::survey::{self, Lock, Options, Survey};
use super::upload;
use crate::event::Status;
use crate::fanout::{Fanout, Outcome};
use crate::inventory::Host;
use crate::transport::{Request, Stream};

pub(crate) async fn run(plan: &DeployPlan, hosts: &[&Host], fanout: &Fanout) {
    let script = survey::script(
        &plan.layout,
        &Options {
            lock: None,
            takeover: survey::Takeover::No,
            sums: true,
        },
    );
    fanout
        .each(&format!("{}/check", plan.mode.name()), hosts, |host| {
            let script = script.clone();
            async move {
                let ran = fanout.script(host, Request::script(script)).await;
                let outcome = ran.outcome(&[], Status::Ok);
                match Some(survey::parse(&ran.markers)) {
                    Some(survey) if outcome.status == Status::Ok => {
                        for line in lines(plan, host, &survey) {
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

fn lines(plan: &DeployPlan, host: &Host, survey: &Survey) -> Vec<String> {
    let artifact = plan
        .artifact
        .as_ref()
        .expect("--check plans have an artifact");
    let host_plan = &plan.hosts[&host.label];
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
    lines.extend(commands("build", &host_plan.build));
    if plan.mode == Mode::Deploy && plan.migrate_host.as_deref() == Some(host.label.as_str()) {
        lines.extend(commands("migrate", &host_plan.migrate));
    }
    if !matches!(plan.mode, Mode::Setup { .. }) {
        lines.push(format!(
            "would switch current from {live} to the new release"
        ));
        for upstream in &host_plan.switches {
            let moved = if upstream.nginx {
                "point nginx at it"
            } else {
                "make it the live one"
            };
            lines.push(format!(
                "would start {} in its idle slot, probe it, {moved} and stop the other",
                upstream.service
            ));
        }
        lines.extend(commands("run", &host_plan.restarts));
        if let Some(health) = &host_plan.health {
            lines.push(format!("would check health: {}", health.label()));
        }
    }
    lines
}
