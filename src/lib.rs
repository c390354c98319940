//! ferry deploys web applications to servers over SSH. `main` parses the
//! command line and hands over to `app`, which loads `ferry.toml`, plans the
//! tasks and fans them out over the hosts; `ui` renders what happens.

mod app;
mod builtin;
mod cli;
mod config;
mod container;
mod demo;
mod diagnostic;
mod dotenv;
mod error;
mod event;
mod exit;
mod fanout;
mod git;
mod init;
mod inventory;
mod pipeline;
mod plan;
mod protocol;
mod provision;
mod release;
mod secret;
mod service;
mod shell;
mod signal;
mod suggest;
mod switch;
mod tasks;
mod template;
mod transport;
mod ui;
mod units;
mod usage;

use std::process::ExitCode;

use clap::Parser;

use exit::ExitStatus;

/// Run ferry with the process's arguments and environment.
pub fn main() -> ExitCode {
    run().into()
}

fn run() -> ExitStatus {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // clap prints help and version itself, and its own usage errors,
            // unless the caller reads JSON.
            if !error.use_stderr() {
                let _ = error.print();
                return ExitStatus::Success;
            }
            if cli::wants_json(std::env::args_os()) {
                ui::usage_error_json(&error.kind().to_string(), &error.render().to_string());
            } else {
                let _ = error.print();
            }
            return ExitStatus::Usage;
        }
    };
    cli.color.apply();
    match app::run(&cli) {
        Ok(status) => status,
        Err(error) => {
            ui::error(&error, cli.json);
            error.status()
        }
    }
}
