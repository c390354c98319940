//! `[hooks]` on the hosts: the user's shell at fixed points of a deploy,
//! folded into the phase scripts that already run there (no round trip of
//! their own). `after_upload` opens the build phase's script, before the
//! build steps; `before_switch` and `after_switch` surround `ferry_switch`
//! in the switch phase's script. Each runs in the new release with the
//! deploy's facts exported as `FERRY_*` variables, never written into the
//! shell text.
//!
//! The switch phase's script goes on with the restart and the health check
//! (see `Run::roll_out`). A failing `after_upload` or `before_switch` ends
//! its script before `current` moves on that host. Any failure in a switch phase that carries
//! hooks fails the deploy like a failed health check: every host that
//! switched is put back on its previous release, and the release is marked
//! failed.

use super::phases::Run;
use super::steps;
use crate::inventory::Host;
use crate::shell::Script;

impl Run<'_, '_> {
    /// What a hook on `host` knows of the deploy. `ferry_in_release` adds
    /// `FERRY_RELEASE`, `FERRY_RELEASE_PATH` and `FERRY_DEPLOY_TO`.
    pub(super) fn hook_facts(&self, host: &Host) -> Vec<(String, String)> {
        let origin = &self.record.origin;
        let previous = self
            .progress
            .get(&host.label)
            .and_then(|p| p.previous.clone());
        let event = match &self.plan.facts.promoted_from {
            Some(_) => "promote",
            None => self.plan.mode.name(),
        };
        let facts = [
            ("FERRY_APP", Some(self.plan.app.clone())),
            ("FERRY_ENV", Some(self.plan.env.clone())),
            // As local hooks name it: a promotion is a deploy of another's artifact.
            ("FERRY_EVENT", Some(event.to_string())),
            ("FERRY_FROM", self.plan.facts.promoted_from.clone()),
            ("FERRY_HOST", Some(host.name().to_string())),
            ("FERRY_WHO", Some(origin.who.clone())),
            ("FERRY_REF", Some(origin.reference.clone())),
            ("FERRY_REVISION", origin.revision.clone()),
            ("FERRY_PREVIOUS_RELEASE", previous),
        ];
        facts
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name.to_string(), v)))
            .collect()
    }

    /// The switch on `host`, added to `script`: `ferry_switch` alone, or
    /// with the `before_switch` and `after_switch` hooks around it; the
    /// labels of the steps it added.
    pub(super) fn switch_part(&self, script: &mut Script, host: &Host) -> Vec<String> {
        let plan = &self.plan.hosts[&host.label];
        if self.plan.deploy.hooks.around_switch() {
            let facts = self.hook_facts(host);
            steps::switch_with_hooks(
                script,
                &self.id,
                &self.plan.secrets,
                &plan.before_switch.clone().with_facts(&facts),
                &plan.after_switch,
            );
        } else {
            steps::switch(script, &self.id, None);
        }
        plan.before_switch.then(&plan.after_switch).labels()
    }

    /// Whether a switch phase that failed must put hosts back: it carried
    /// hooks, and some host moved `current` (or may have).
    pub(super) fn hooked_switch_moved(&self) -> bool {
        self.plan.deploy.hooks.around_switch()
            && !self
                .hosts_where(|p| p.unknown || p.current.as_deref() == Some(self.id.as_str()))
                .is_empty()
    }

    /// The hosts where a `before_switch` or `after_switch` hook failed in
    /// the switch phase (the hooks are its first numbered steps).
    pub(super) fn switch_hook_failures(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .faults()
            .into_iter()
            .filter(|f| f.phase == "switch")
            .filter(|f| {
                let plan = &self.plan.hosts[&f.host];
                let hooks = plan.before_switch.steps.len() + plan.after_switch.steps.len();
                f.step.is_some_and(|step| step <= hooks)
            })
            .map(|f| f.host)
            .collect();
        hosts.dedup();
        hosts
    }
}
