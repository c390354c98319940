//! The way code travels, a layer above releases: the test gate before a
//! deploy, functional tests against an environment after it, `promote`
//! (the very artifact one environment runs, onto another), `ship` (tests,
//! the first stage, then promotion stage after stage), git tags for what
//! each environment runs, and local hooks around every deploy.
//!
//! Everything here is made of parts below it: `release` deploys, reads the
//! live release, fetches a release's files and marks one failed; `local`
//! runs the project's own commands on this machine. A `Stage` is one
//! environment as a run sees it: its planning context and its fan-out.
//! `app` sets stages up and renders what happens; nothing here prints.

mod after;
mod facts;
mod gate;
mod live;
mod local;
mod promote;
mod ship;
mod tags;
mod verify;

pub(crate) use after::{after_deploy, before_deploy, facts, follows};
pub(crate) use gate::Gate;
pub(crate) use promote::promote;
pub(crate) use ship::{ship, stages};

use crate::fanout::Fanout;
use crate::inventory::Host;
use crate::plan::Context;
use crate::release::Layout;

/// One environment in a run: what plans for it, and what runs on its hosts.
pub(crate) struct Stage<'s> {
    pub(crate) ctx: &'s Context<'s>,
    pub(crate) fanout: &'s Fanout,
}

impl Stage<'_> {
    pub(crate) fn name(&self) -> &str {
        &self.ctx.env.name
    }

    /// The hosts still in the run.
    pub(crate) fn hosts(&self) -> Vec<&Host> {
        self.fanout.live(self.ctx.hosts)
    }

    pub(crate) fn layout(&self) -> Layout {
        Layout::new(&self.ctx.env.settings.deploy_to)
    }
}

/// Whether the task named `name` ships code (the pipeline gates and follows it).
pub(crate) fn ships_code(name: &str) -> bool {
    matches!(
        crate::builtin::find(name).map(|e| e.task),
        Some(crate::builtin::Builtin::Deploy | crate::builtin::Builtin::Hotfix)
    )
}
