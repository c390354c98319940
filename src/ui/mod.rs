//! The terminal belongs here and nowhere else. Execution emits events; this
//! module renders them as live per-host progress (a terminal), plain lines
//! (CI logs, pipes) or JSON lines (`--json`), and prints errors, listings and
//! prompts. No other module prints.

mod json;
mod listing;
mod live;
mod plain;
mod recap;

use std::io::{self, BufRead, IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::event::{Event, Stamped, Status};

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
    fn event(&mut self, stamped: &Stamped);
}

/// Render events until the channel closes (when the run drops its sender).
pub(crate) fn spawn(options: Options, mut events: UnboundedReceiver<Stamped>) -> JoinHandle<()> {
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

/// The one error printer: `error: …`, `caused by: …` lines, `hint: …` lines
/// on stderr; with `--json`, one `error` event on stdout instead.
pub(crate) fn error(error: &Error, json: bool) {
    if json {
        return json::print(&error_event(error));
    }
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

fn error_event(error: &Error) -> Event {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let diagnostic = error.diagnostic();
    let mut hints = error.hints();
    hints.extend(diagnostic.and_then(|d| d.help_text()).map(str::to_string));
    Event::Error {
        message: diagnostic.map_or_else(|| error.to_string(), |d| d.message().to_string()),
        causes,
        hints,
        location: diagnostic.map(|d| d.location()),
        exit_code: error.status().code().into(),
    }
}

/// clap's own usage error (an unknown flag, a missing value) with `--json`:
/// the same `error` event as any other early error.
pub(crate) fn usage_error_json(kind: &str, rendered: &str) {
    // clap's rendering starts with `error: ` and ends with its usage line.
    let message = rendered
        .lines()
        .next()
        .map(|l| l.trim_start_matches("error: ").to_string())
        .unwrap_or_else(|| kind.to_string());
    json::print(&Event::Error {
        message,
        causes: Vec::new(),
        hints: vec!["`ferry --help` shows the options".into()],
        location: None,
        exit_code: crate::exit::ExitStatus::Usage.code().into(),
    });
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

/// `ferry <env> config`: a table of key, value, origin on stdout (or one
/// `config` event). Values pass the redactor: a var that holds a secret's
/// value is masked as well as the secrets themselves.
pub(crate) fn config(
    environment: &str,
    values: Vec<crate::config::Explained>,
    redactor: &crate::secret::Redactor,
    json: bool,
) -> crate::exit::ExitStatus {
    let values: Vec<crate::event::ConfigValue> = values
        .into_iter()
        .map(|v| crate::event::ConfigValue {
            key: v.key,
            value: redactor.redact(&v.value).into_owned(),
            origin: redactor.redact(&v.origin).into_owned(),
        })
        .collect();
    if json {
        json::print(&Event::Config {
            environment: environment.to_string(),
            values,
        });
    } else {
        let rows: Vec<Vec<String>> = values
            .into_iter()
            .map(|v| vec![v.key, v.value, v.origin])
            .collect();
        let columns = ["key", "value", "origin"].map(String::from);
        let title = format!("CONFIG {environment}");
        out(&format!(
            "{}\n",
            recap::grid(&title, &columns, &rows).trim_start()
        ));
    }
    crate::exit::ExitStatus::Success
}

/// `ferry completions SHELL`: the completion script, generated from the
/// same clap definition that parses the command line.
pub(crate) fn completions(shell: clap_complete::Shell) -> crate::exit::ExitStatus {
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::definition(), "ferry", &mut text);
    out(&String::from_utf8_lossy(&text));
    crate::exit::ExitStatus::Success
}

/// `ferry man`: the man page in roff, from the clap definition.
pub(crate) fn man() -> Result<crate::exit::ExitStatus, Error> {
    let mut text = Vec::new();
    clap_mangen::Man::new(crate::cli::definition())
        .render(&mut text)
        .map_err(|e| Error::io("cannot render the man page", e))?;
    out(&String::from_utf8_lossy(&text));
    Ok(crate::exit::ExitStatus::Success)
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
    json: bool,
) -> Result<crate::exit::ExitStatus, Error> {
    use std::fmt::Write as _;
    if json {
        json::print(&tasks_event(project));
        return Ok(crate::exit::ExitStatus::Success);
    }
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

fn tasks_event(project: Option<&crate::config::Project>) -> Event {
    use crate::event::TaskInfo;
    let builtins = crate::builtin::TABLE.iter().map(|b| TaskInfo {
        name: b.name.into(),
        usage: b.usage.into(),
        description: b.description.into(),
        builtin: true,
        read_only: b.read_only,
    });
    let own = project
        .into_iter()
        .flat_map(|p| &p.tasks)
        .map(|task| TaskInfo {
            name: task.name.clone(),
            usage: task_usage(task),
            description: task_description(task),
            builtin: false,
            read_only: false,
        });
    Event::Tasks {
        tasks: builtins.chain(own).collect(),
        environments: project
            .map(|p| p.environments_described())
            .unwrap_or_default()
            .into_iter()
            .map(|(name, description)| crate::event::EnvironmentInfo { name, description })
            .collect(),
        default_task: project.and_then(|p| p.default_task.clone()),
    }
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
