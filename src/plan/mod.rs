//! What planning any task needs, below the modules that plan: the task call
//! as the command line wrote it (`TaskCall`), a built-in's bound arguments
//! (`Args`), and the run's context — project, environment, selected hosts,
//! and the one way to render a template for a host (`Context`). `release`,
//! `provision`, `service` and `tasks` import this; it imports none of them.

mod args;
mod call;
mod context;

pub(crate) use args::Args;
pub(crate) use call::TaskCall;
pub(crate) use context::Context;
