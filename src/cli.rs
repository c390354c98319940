//! The command line as typed, kept apart from what it means: `Cli` is what
//! clap parsed, `Command` is what ferry will do. Fabric and Capistrano habits
//! hold: `ferry staging deploy`, `task:key=value,key2=value2`, `-H host`.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

use crate::plan::TaskCall;
use crate::usage::UsageError;

const EXAMPLES: &str = "\
Examples:
  ferry staging deploy                    the whole deploy
  ferry production manage:cmd=migrate     a project task with an argument
  ferry production run -- python manage.py check
  ferry staging hello -H deploy@10.0.0.5  on another host than ferry.toml says
  ferry promote staging production        ship what staging runs, unchanged
  ferry ship                              tests, first stage, functional tests, promote, tag
  ferry -l                                list tasks
  ferry completions bash > ~/.local/share/bash-completion/completions/ferry
  ferry man > ~/.local/share/man/man1/ferry.1

Exit codes: 0 success, 1 failed or unreachable on some host, 2 usage or
configuration error (nothing ran), 130 interrupted.";

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "Deploy web applications to your own servers over SSH",
    after_help = EXAMPLES,
    disable_help_subcommand = true
)]
pub(crate) struct Cli {
    /// The environment, then tasks to run in order (`task:key=value,…` passes arguments)
    #[arg(value_name = "ENV TASK")]
    pub(crate) words: Vec<String>,

    /// For `run`: the command, each word passed to the host as one literal word
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,

    /// List tasks with their descriptions
    #[arg(short = 'l', long = "list")]
    pub(crate) list: bool,

    /// Use these hosts instead of the environment's (each takes every role)
    #[arg(
        short = 'H',
        long = "hosts-override",
        value_name = "USER@HOST[:PORT],…",
        value_delimiter = ','
    )]
    pub(crate) hosts_override: Vec<String>,

    /// Only hosts with one of these roles
    #[arg(long, value_name = "ROLE,…", value_delimiter = ',')]
    pub(crate) roles: Vec<String>,

    /// Only these hosts (as written in ferry.toml, or their names)
    #[arg(
        long = "limit",
        visible_alias = "hosts",
        value_name = "HOST,…",
        value_delimiter = ','
    )]
    pub(crate) limit: Vec<String>,

    /// Work on at most N hosts at once
    #[arg(long, value_name = "N")]
    pub(crate) parallel: Option<u32>,

    /// Override a setting or var for this run (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_set)]
    pub(crate) set: Vec<(String, String)>,

    /// Use this ferry.toml instead of searching upwards from the working directory
    #[arg(long, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,

    /// Say what would change on each host, and change nothing
    #[arg(long)]
    pub(crate) check: bool,

    /// With changes to files, show them as unified diffs (secrets masked)
    #[arg(long)]
    pub(crate) diff: bool,

    /// Answer yes to the confirmation of environments marked `confirm = true`
    #[arg(short = 'y', long)]
    pub(crate) yes: bool,

    /// Print one JSON event per line on stdout
    #[arg(long)]
    pub(crate) json: bool,

    /// Show more: -v what each host is doing, -vv also the command and
    /// script each host is sent (secrets masked)
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub(crate) verbose: u8,

    /// Show only results and errors, not the hosts' output
    #[arg(short, long)]
    pub(crate) quiet: bool,

    /// Deploy without running [pipeline] tests first (the history says so)
    #[arg(long)]
    pub(crate) skip_tests: bool,

    /// For `ship`: go as far as the environment [pipeline] branches maps
    /// the current branch to (or $GITHUB_REF_NAME, $CI_COMMIT_BRANCH)
    #[arg(long)]
    pub(crate) from_branch: bool,

    /// Colour the output: auto (a terminal, unless NO_COLOR is set;
    /// CLICOLOR_FORCE forces it), always or never
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub(crate) color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

impl Color {
    /// Make the choice for every stream ferry writes.
    pub(crate) fn apply(self) {
        let choice = match self {
            Color::Auto => anstream::ColorChoice::Auto,
            Color::Always => anstream::ColorChoice::Always,
            Color::Never => anstream::ColorChoice::Never,
        };
        choice.write_global();
    }
}

/// The clap definition, for completions and the man page.
pub(crate) fn definition() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Whether `--json` is among the words before `--`: a command line clap
/// refused still deserves a JSON error when the caller asked for JSON.
pub(crate) fn wants_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

fn parse_set(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.trim().to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Command {
    /// No ferry.toml and nothing asked: the bundled example, locally.
    Demo,
    Init,
    List,
    /// `ferry completions SHELL`: a completion script on stdout.
    Completions(clap_complete::Shell),
    /// `ferry man`: the man page (roff) on stdout.
    Man,
    Run {
        env: String,
        calls: Vec<TaskCall>,
    },
    /// `ferry promote <from> <to>`: the artifact `from` runs, onto `to`.
    Promote {
        from: String,
        to: String,
    },
    /// `ferry ship`: tests, then [pipeline] stages one after the other.
    Ship,
}

const PROMOTE_USAGE: &str = "ferry promote <from-env> <to-env>";

impl Cli {
    pub(crate) fn command(&self) -> Result<Command, UsageError> {
        let mut words = self.words.iter();
        let Some(first) = words.next() else {
            return Ok(if self.list {
                Command::List
            } else {
                Command::Demo
            });
        };
        match first.as_str() {
            "completions" => match self.words.get(1..).unwrap_or_default() {
                [shell] => shell
                    .parse()
                    .map(Command::Completions)
                    .map_err(|_| UsageError::NoShell),
                _ => Err(UsageError::NoShell),
            },
            "init" | "tasks" | "man" if self.words.len() > 1 => Err(UsageError::ExtraWords {
                command: first.clone(),
            }),
            "man" => Ok(Command::Man),
            "init" => Ok(Command::Init),
            // Reserved as environment names (config refuses them), so these
            // words can never mean an environment.
            "promote" => match &self.words[1..] {
                [from, to] if !from.contains(':') && !to.contains(':') => Ok(Command::Promote {
                    from: from.clone(),
                    to: to.clone(),
                }),
                _ => Err(UsageError::PipelineWords {
                    usage: PROMOTE_USAGE,
                }),
            },
            "ship" if self.words.len() > 1 => Err(UsageError::PipelineWords {
                usage: "ferry ship [--from-branch] [--yes] [--skip-tests]",
            }),
            "ship" => Ok(Command::Ship),
            "tasks" => Ok(Command::List),
            _ if self.list => Ok(Command::List),
            env => Ok(Command::Run {
                env: env.to_string(),
                calls: words
                    .map(|w| TaskCall::parse(w))
                    .collect::<Result<_, _>>()?,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &[(Option<&str>, &str)]) -> TaskCall {
        TaskCall {
            name: name.into(),
            args: args
                .iter()
                .map(|(k, v)| (k.map(Into::into), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn maps_words_to_commands() {
        let cli = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("ferry").chain(args.iter().copied())).unwrap()
        };
        assert_eq!(cli(&[]).command(), Ok(Command::Demo));
        assert_eq!(cli(&["-l"]).command(), Ok(Command::List));
        assert_eq!(cli(&["tasks"]).command(), Ok(Command::List));
        assert_eq!(cli(&["init"]).command(), Ok(Command::Init));
        assert_eq!(cli(&["man"]).command(), Ok(Command::Man));
        assert_eq!(
            cli(&["completions", "zsh"]).command(),
            Ok(Command::Completions(clap_complete::Shell::Zsh))
        );
        assert_eq!(
            cli(&["completions", "tcsh"]).command(),
            Err(UsageError::NoShell)
        );
        assert_eq!(cli(&["x", "--hosts", "a,b"]).limit, ["a", "b"]);
        assert_eq!(cli(&["x", "--limit", "a"]).limit, ["a"]);
        let run = cli(&["staging", "a", "b:x=1", "--", "ls", "-la"]);
        assert_eq!(
            run.command(),
            Ok(Command::Run {
                env: "staging".into(),
                calls: vec![call("a", &[]), call("b", &[(Some("x"), "1")])]
            })
        );
        assert_eq!(run.command, vec!["ls", "-la"]);
        assert_eq!(
            cli(&["promote", "staging", "production"]).command(),
            Ok(Command::Promote {
                from: "staging".into(),
                to: "production".into()
            })
        );
        assert!(cli(&["promote", "staging"]).command().is_err());
        assert!(
            cli(&["promote", "staging", "deploy:ref=x"])
                .command()
                .is_err()
        );
        assert_eq!(cli(&["ship", "--from-branch"]).command(), Ok(Command::Ship));
        assert!(cli(&["ship", "production"]).command().is_err());
    }
}
