//! `[hooks]` on the hosts: the user's shell at fixed points of a deploy,
//! folded into the phase scripts that already run there (no round trip of
//! their own). `after_upload` opens the build phase's script, before the
//! build steps; `before_switch` and `after_switch` surround `ferry_switch`
//! in the switch phase's script. Each runs in the new release with the
//! deploy's facts exported as `FERRY_*` variables, never written into the
//! shell text.
//!
//! A failing `after_upload` or `before_switch` ends its script before
//! `current` moves on that host. Any failure in a switch phase that carries
//! hooks fails the deploy like a failed health check: every host that
//! switched is put back on its previous release, and the release is marked
//! failed.

use std::collections::BTreeMap;

use super::phases::Run;
use super::steps;
use crate::inventory::Host;

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

    /// Each host's switch script (with its steps' labels): `ferry_switch`
    /// alone, or with the `before_switch` and `after_switch` hooks around it.
    pub(super) fn switch_scripts(
        &self,
        hosts: &[&Host],
    ) -> BTreeMap<String, (String, Vec<String>)> {
        hosts
            .iter()
            .map(|host| {
                let plan = &self.plan.hosts[&host.label];
                let mut script = self.plan.layout.script();
                if self.plan.deploy.hooks.around_switch() {
                    let facts = self.hook_facts(host);
                    steps::switch_with_hooks(
                        &mut script,
                        &self.id,
                        &self.plan.secrets,
                        &plan.before_switch.clone().with_facts(&facts),
                        &plan.after_switch,
                    );
                } else {
                    steps::switch(&mut script, &self.id, None);
                }
                let labels = plan.before_switch.then(&plan.after_switch).labels();
                (host.label.clone(), (script.build(), labels))
            })
            .collect()
    }

    /// Whether a switch phase that failed must put hosts back: it carried
    /// hooks, and some host moved `current` (or may have).
    pub(super) fn hooked_switch_moved(&self) -> bool {
        self.plan.deploy.hooks.around_switch()
            && !self
                .hosts_where(|p| p.unknown || p.current.as_deref() == Some(self.id.as_str()))
                .is_empty()
    }

    /// The hosts the switch phase failed on, for the put-back's reason.
    pub(super) fn switch_failures(&self) -> String {
        let mut hosts: Vec<String> = self
            .faults()
            .into_iter()
            .filter(|f| f.phase == "switch")
            .map(|f| f.host)
            .collect();
        hosts.dedup();
        format!("a switch hook failed on {}", hosts.join(", "))
    }
}
