//! The terminal belongs here and nowhere else. Execution emits events; this
//! module renders them as live per-host progress (a terminal), plain lines
//! (CI logs, pipes) or JSON lines (`--json`), and prints errors, listings and
//! prompts. No other module prints.

mod json;
mod live;
mod plain;
mod recap;

use std::io::{self, BufRead, IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::event::{Event, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Live,
    Plain,
    Json,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) mode: Mode,
    pub(crate) quiet: bool,
    pub(crate) verbose: u8,
}

impl Options {
    pub(crate) fn new(json: bool, quiet: bool, verbose: u8) -> Self {
        let mode = if json {
            Mode::Json
        } else if io::stderr().is_terminal() && io::stdout().is_terminal() {
            Mode::Live
        } else {
            Mode::Plain
        };
        Self {
            mode,
            quiet,
            verbose,
        }
    }
}

trait Render: Send {
    fn event(&mut self, event: &Event);
}

/// Render events until the channel closes (when the run drops its sender).
pub(crate) fn spawn(options: Options, mut events: UnboundedReceiver<Event>) -> JoinHandle<()> {
    let mut renderer: Box<dyn Render> = match options.mode {
        Mode::Live => Box::new(live::Live::new(options)),
        Mode::Plain => Box::new(plain::Plain::new(options)),
        Mode::Json => Box::new(json::Json),
    };
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            renderer.event(&event);
        }
    })
}

/// The one error printer: `error: …`, `caused by: …` lines, `hint: …` lines.
pub(crate) fn error(error: &Error) {
    let mut err = anstream::stderr().lock();
    if let Some(diagnostic) = error.diagnostic() {
        let _ = writeln!(err, "{}", diagnostic.render(color_stderr()));
        return;
    }
    let _ = writeln!(err, "{}: {error}", paint("error", red_bold()));
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = writeln!(err, "  caused by: {cause}");
        source = cause.source();
    }
    for hint in error.hints() {
        let _ = writeln!(err, "{}: {hint}", paint("hint", cyan_bold()));
    }
}

/// A line for the user that is not part of a run's output (stderr).
pub(crate) fn note(message: &str) {
    let _ = writeln!(anstream::stderr().lock(), "{message}");
}

/// Text meant as the command's result (stdout): listings, `init` messages.
pub(crate) fn out(text: &str) {
    let mut out = anstream::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Ask a yes/no question on the terminal; `None` when there is no terminal
/// to ask on.
pub(crate) fn confirm(question: &str) -> Option<bool> {
    if !io::stdin().is_terminal() || !io::stderr().is_terminal() {
        return None;
    }
    let mut err = anstream::stderr().lock();
    let _ = write!(err, "{question} [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer).ok()?;
    Some(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn color_stderr() -> bool {
    anstream::AutoStream::choice(&io::stderr()) != anstream::ColorChoice::Never
}

fn red_bold() -> Style {
    AnsiColor::Red.on_default().bold()
}

fn cyan_bold() -> Style {
    AnsiColor::Cyan.on_default().bold()
}

fn paint(text: &str, style: Style) -> String {
    format!("{style}{text}{style:#}")
}

/// Ansible's colours for statuses, so a recap reads at a glance.
fn status_style(status: Status) -> Style {
    match status {
        Status::Ok => AnsiColor::Green.on_default(),
        Status::Changed => AnsiColor::Yellow.on_default(),
        Status::Failed | Status::Unreachable => AnsiColor::Red.on_default().bold(),
        Status::Skipped => AnsiColor::Cyan.on_default(),
    }
}

/// `ferry -l`: built-in tasks, the project's tasks, its environments.
pub(crate) fn list(
    project: Option<&crate::config::Project>,
) -> Result<crate::exit::ExitStatus, Error> {
    use std::fmt::Write as _;
    let mut rows: Vec<(String, String)> = crate::builtin::TABLE
        .iter()
        .map(|b| (b.usage.to_string(), b.description.to_string()))
        .collect();
    if let Some(project) = project {
        rows.extend(
            project
                .tasks
                .iter()
                .map(|task| (task_usage(task), task_description(task))),
        );
    }
    let width = rows
        .iter()
        .map(|(usage, _)| usage.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::from("Tasks:\n");
    for (usage, description) in &rows {
        let _ = writeln!(text, "  {usage:<width$}  {description}");
    }
    match project {
        Some(project) => {
            let _ = writeln!(
                text,
                "\nEnvironments: {}",
                project.environment_summaries().join(", ")
            );
            if let Some(default) = &project.default_task {
                let _ = writeln!(text, "Default task: {default}");
            }
        }
        None => text.push_str(
            "\n(no ferry.toml here or above: only built-in tasks; `ferry init` writes one)\n",
        ),
    }
    out(&text);
    Ok(crate::exit::ExitStatus::Success)
}

fn task_usage(task: &crate::config::TaskDef) -> String {
    let args: Vec<String> = task
        .required
        .iter()
        .map(|r| format!("{r}=…"))
        .chain(task.args.iter().map(|(k, v)| format!("{k}={v}")))
        .collect();
    if args.is_empty() {
        task.name.clone()
    } else {
        format!("{}:{}", task.name, args.join(","))
    }
}

fn task_description(task: &crate::config::TaskDef) -> String {
    let mut notes = Vec::new();
    if !task.roles.is_empty() {
        notes.push(format!("roles: {}", task.roles.join(", ")));
    }
    if task.once {
        notes.push("once".to_string());
    }
    match notes.is_empty() {
        true => task.description.clone(),
        false => format!("{} [{}]", task.description, notes.join("; ")),
    }
}
