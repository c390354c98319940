//! The test gate: `[pipeline] tests`, run on this machine before a deploy
//! touches any host. A failure stops the run there, with the command and
//! its last lines; `--skip-tests` goes on without them, and the deploy's
//! history entry says so.

use super::local;
use crate::config::Project;
use crate::event::Events;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gate {
    /// No tests configured, or nothing in the run ships code.
    Open,
    Run(Vec<String>),
    Skipped,
}

impl Gate {
    /// The gate of a run that ships code (`ships`), as configured and asked.
    pub(crate) fn new(project: &Project, skip: bool, ships: bool) -> Self {
        let tests = project
            .pipeline
            .as_ref()
            .map(|p| p.tests.clone())
            .unwrap_or_default();
        match (ships, tests.is_empty(), skip) {
            (false, _, _) | (true, true, _) => Gate::Open,
            (true, false, true) => Gate::Skipped,
            (true, false, false) => Gate::Run(tests),
        }
    }

    /// What the deploy's history entry says about the tests.
    pub(crate) fn history(&self) -> Option<&'static str> {
        match self {
            Gate::Open => None,
            Gate::Run(_) => Some("passed"),
            Gate::Skipped => Some("skipped"),
        }
    }

    /// Run the tests; the error says which failed and how.
    pub(crate) async fn pass(&self, project: &Project, events: &Events) -> Result<(), String> {
        match self {
            Gate::Run(tests) => local::run_all("test", tests, &project.root, &[], events)
                .await
                .map_err(|failure| {
                    format!("tests failed, nothing was deployed: {}", failure.describe())
                }),
            Gate::Skipped => {
                events.warn("--skip-tests: deploying without running [pipeline] tests");
                Ok(())
            }
            Gate::Open => Ok(()),
        }
    }
}
