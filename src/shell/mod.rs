//! The `sh` scripts ferry sends to hosts, built from typed parts. Scripts are
//! POSIX sh (the one shell every server has). Their logic lives in real shell
//! files (`prelude.sh` here, the release and provision helpers beside their
//! modules); Rust only strings together calls to those functions, with
//! arguments that are [`Word`]s: a literal quoted whole, a number, or a
//! variable the script sets. Text that is not a word comes from two places
//! only: ferry's own code (`&'static str`) and the commands the user wrote
//! ([`Command`]), which run as steps with ferry's channel closed.

mod library;

use std::fmt::Write;
use std::sync::LazyLock;

pub(crate) use library::{Defined, Library};

use crate::secret::Secret;

/// The helpers every script starts with (`ferry_say`, `ferry_fail`, …).
pub(crate) const PRELUDE: &str = include_str!("prelude.sh");

static PRELUDE_LIBRARY: LazyLock<Library> = LazyLock::new(|| Library::parse(PRELUDE));

/// The text of `<deploy_to>/.ferry/with-env`: `with-env FILE COMMAND…`
/// runs COMMAND (by exec, so it keeps the process id a supervisor watches)
/// with the variables of the `.env` FILE, read by `ferry_env` as data. A
/// service's command goes through it, so its secrets are neither in a
/// config file nor in any argv.
pub(crate) fn with_env_program() -> String {
    const MAIN: &str = r#"[ -r "$1" ] || {
    echo "with-env: cannot read $1" >&2
    exit 1
}
ferry_env "$1" || exit
shift
exec "$@""#;
    let mut text = String::from(
        "#!/bin/sh\n# with-env FILE COMMAND...: COMMAND with the variables of the .env FILE.\n# Written by ferry deploys; edits here are overwritten.\n",
    );
    PRELUDE_LIBRARY.for_body(MAIN, &mut text);
    text.push_str(MAIN);
    text
}

/// One shell word that expands to exactly the bytes it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word(String);

impl Word {
    /// A literal: quoted only when it needs to be, so it stays one word
    /// whatever it holds.
    pub(crate) fn lit(text: &str) -> Self {
        // NUL cannot reach a shell at all; config loading refuses it in
        // every value, so one here is a bug in ferry.
        Self(
            shlex::try_quote(text)
                .expect("no NUL bytes in shell words")
                .into_owned(),
        )
    }

    /// A variable the script set: `"$NAME"`.
    pub(crate) fn var(name: &'static str) -> Self {
        debug_assert!(is_name(name));
        Self(format!("\"${name}\""))
    }

    pub(crate) fn num(n: impl Into<u64>) -> Self {
        Self(n.into().to_string())
    }

    /// A yes/no flag: `yes` or the empty word, for `[ -n "$flag" ]`.
    pub(crate) fn flag(on: bool) -> Self {
        Self(if on { "yes" } else { "''" }.into())
    }

    /// Two words as one, no space between (`"$D"/'releases'`).
    pub(crate) fn join(mut self, next: Word) -> Self {
        self.0.push_str(&next.0);
        self
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `name` can be a shell variable's name.
pub(crate) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A shell command: one the user wrote (a step, a service's command), or
/// one ferry builds from a program name and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command(String);

impl Command {
    /// The user's own shell, from ferry.toml: theirs to mean.
    pub(crate) fn user(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// `program word…`; the program is ferry's own text.
    pub(crate) fn words(program: &'static str, args: impl IntoIterator<Item = Word>) -> Self {
        let mut text = program.to_string();
        for arg in args {
            text.push(' ');
            text.push_str(arg.as_str());
        }
        Self(text)
    }

    /// Each word its own literal, as `run -- …` takes them: no shell
    /// parsing of any of it on the way.
    pub(crate) fn argv(words: &[String]) -> Self {
        let words: Vec<String> = words.iter().map(|w| Word::lit(w).0).collect();
        Self(words.join(" "))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug)]
pub(crate) struct Script {
    /// Helper files, in order; each sends only what the script calls.
    libraries: Vec<&'static Library>,
    text: String,
    /// Calls of the scripts that will run in this one's shell (a lock's
    /// keeper runs them): their functions go with this script, once.
    ahead: String,
    /// The environment's `.env` on the host, loaded by every step.
    env_file: Option<Word>,
}

impl Script {
    /// A script that starts with the common prelude.
    pub(crate) fn new() -> Self {
        Self {
            libraries: vec![&PRELUDE_LIBRARY],
            text: String::new(),
            ahead: String::new(),
            env_file: None,
        }
    }

    /// The functions of `library` become callable (those called are sent).
    pub(crate) fn library(&mut self, library: &'static Library) -> &mut Self {
        if !self.libraries.iter().any(|l| std::ptr::eq(*l, library)) {
            self.libraries.push(library);
        }
        self
    }

    /// The functions `calls` need are defined by this script too, for the
    /// scripts that will run in its shell later: they need not carry them
    /// (see `library::Defined`).
    pub(crate) fn ahead(&mut self, calls: &[&'static str]) -> &mut Self {
        for call in calls {
            self.ahead.push_str(call);
            self.ahead.push('\n');
        }
        self
    }

    /// ferry's own shell: helper functions, fixed logic.
    pub(crate) fn code(&mut self, code: &'static str) -> &mut Self {
        self.text.push_str(code);
        if !code.ends_with('\n') {
            self.text.push('\n');
        }
        self
    }

    /// `NAME=word`.
    pub(crate) fn set(&mut self, name: &'static str, value: Word) -> &mut Self {
        debug_assert!(is_name(name));
        let _ = writeln!(self.text, "{name}={}", value.as_str());
        self
    }

    /// `export NAME=word`: on stdin, so never in any process's argv.
    pub(crate) fn export(&mut self, name: &str, value: Word) -> &mut Self {
        assert!(is_name(name), "environment names are checked when loaded");
        let _ = writeln!(self.text, "export {name}={}", value.as_str());
        self
    }

    /// Secrets become environment variables of the script.
    pub(crate) fn exports(&mut self, secrets: &[Secret]) -> &mut Self {
        for secret in secrets {
            self.export(&secret.name, Word::lit(secret.expose()));
        }
        self
    }

    /// Values handed to steps as environment variables (`FERRY_VAR_…`).
    pub(crate) fn values(&mut self, values: &[(String, String)]) -> &mut Self {
        for (name, value) in values {
            self.export(name, Word::lit(value));
        }
        self
    }

    /// `function word…`: one operation of a helper file.
    pub(crate) fn call(
        &mut self,
        function: &'static str,
        args: impl IntoIterator<Item = Word>,
    ) -> &mut Self {
        let command = Command::words(function, args);
        self.text.push_str(command.as_str());
        self.text.push('\n');
        self
    }

    /// A command ferry built, run as is (its output is the user's to see).
    pub(crate) fn run(&mut self, command: &Command) -> &mut Self {
        self.text.push_str(command.as_str());
        self.text.push('\n');
        self
    }

    /// Every later step and probe sees the variables of the `.env` at
    /// `path` on the host (`ferry_env`: read as data, never sourced), as
    /// the app does; `None` from here on. They are loaded inside each
    /// step's subshell, so no name in the file can change the variables
    /// ferry's own shell uses. Commands that drive a service manager go
    /// without it: a `PYTHONPATH` of the app's is no business of
    /// supervisorctl's.
    pub(crate) fn env_file(&mut self, path: Option<Word>) -> &mut Self {
        self.env_file = path;
        self
    }

    /// The user's command as it is (a probe's), after the `.env` when the
    /// script has one; the caller runs it in a subshell.
    pub(crate) fn user(&mut self, command: &Command) -> &mut Self {
        if let Some(path) = &self.env_file {
            let _ = writeln!(self.text, "ferry_env {}", path.as_str());
        }
        self.run(command)
    }

    /// Step `index` of the user's commands: in a subshell with `set -e` and
    /// ferry's channel closed; when it fails, report it and stop with its
    /// exit code.
    pub(crate) fn step(&mut self, index: usize, label: &str, command: &Command) -> &mut Self {
        self.call("ferry_say", [Word::lit("activity"), Word::lit(label)]);
        self.text.push_str("(\nset -e\n");
        if let Some(path) = &self.env_file {
            let _ = writeln!(self.text, "ferry_env {}", path.as_str());
        }
        let _ = writeln!(
            self.text,
            "{}\n) 3>&-\nferry_step_end {index} $?",
            command.as_str()
        );
        self
    }

    pub(crate) fn build(&mut self) -> String {
        let body = std::mem::take(&mut self.text);
        // What each file needs: the body's calls and the later files' calls.
        let mut out = String::new();
        let mut calls = body.clone() + &std::mem::take(&mut self.ahead);
        let mut parts = Vec::new();
        for library in self.libraries.iter().rev() {
            let mut part = String::new();
            library.for_body(&calls, &mut part);
            calls.push_str(&part);
            parts.push(part);
        }
        for part in parts.iter().rev() {
            out.push_str(part);
        }
        out.push_str(&body);
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::protocol::{Marker, Reader};

    /// Run a script through the real bootstrap with `sh`, as a host would;
    /// its reports and its output.
    pub(crate) fn run_sh(script: &str) -> (Vec<Marker>, String) {
        let output = through_bootstrap(std::process::Command::new("sh"), script);
        let mut reader = Reader::default();
        let markers = reader.feed(&output.stdout).unwrap();
        reader.finish().unwrap();
        (
            markers,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// `shell` running the bootstrap, fed `script` as a host's is: its output.
    pub(crate) fn through_bootstrap(
        shell: std::process::Command,
        script: &str,
    ) -> std::process::Output {
        through_bootstrap_with(shell, script, &[], false)
    }

    /// `through_bootstrap`, with `after` on stdin behind the script (what
    /// ferry sends a keeper, say), and stdin then held open until the shell
    /// ends if `hold` (silence rather than its end).
    pub(crate) fn through_bootstrap_with(
        mut shell: std::process::Command,
        script: &str,
        after: &[u8],
        hold: bool,
    ) -> std::process::Output {
        shell
            .arg("-c")
            .arg(crate::transport::BOOTSTRAP)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                let mut stdin = child.stdin.take().expect("piped");
                stdin.write_all(&crate::transport::framed(script))?;
                stdin.write_all(after)?;
                let held = hold.then_some(stdin);
                let output = child.wait_with_output();
                drop(held);
                output
            })
            .expect("the shell runs")
    }

    /// Fail the test unless `shellcheck -s sh` finds nothing in `script`.
    pub(crate) fn shellcheck(name: &str, script: &str) {
        let mut file = tempfile::Builder::new().suffix(".sh").tempfile().unwrap();
        std::io::Write::write_all(&mut file, script.as_bytes()).unwrap();
        let output = std::process::Command::new("shellcheck")
            .args(["-s", "sh", "-f", "gcc"])
            .arg(file.path())
            .output()
            .expect("shellcheck is installed (scripts/test-deps installs it)");
        assert!(
            output.status.success(),
            "shellcheck finds fault with the {name} script:\n{}\n--- script\n{script}",
            String::from_utf8_lossy(&output.stdout)
        );
    }

    /// A report's length is counted in bytes by dash, by bash and by
    /// BusyBox, in a UTF-8 locale and in C, with no field, an empty one and
    /// multi-byte ones: the frames read back as sent.
    #[test]
    fn reports_are_framed_right_by_every_shell_in_every_locale() {
        let hostile = "日本 \\ $(x) ' \" é";
        let mut script = Script::new();
        script.code("ferry_say released");
        script.call("ferry_say", [Word::lit("error"), Word::lit(hostile)]);
        script.call(
            "ferry_say",
            [Word::lit("release"), Word::lit(""), Word::lit("a\tb\nc")],
        );
        script.call(
            "ferry_say",
            [Word::lit("release"), Word::lit("é"), Word::lit(hostile)],
        );
        let script = script.build();
        let release = |id: &str, record: &str| Marker::Release {
            id: id.into(),
            record: record.into(),
        };
        for shell in ["dash", "bash", "busybox sh"] {
            for locale in ["C.UTF-8", "C"] {
                let mut words = shell.split(' ');
                let mut command = std::process::Command::new(words.next().unwrap());
                command.args(words).env("LC_ALL", locale);
                let output = through_bootstrap(command, &script);
                let mut reader = Reader::default();
                let markers = reader.feed(&output.stdout).unwrap();
                reader.finish().unwrap();
                assert_eq!(
                    markers,
                    [
                        Marker::Released,
                        Marker::Error(hostile.into()),
                        release("", "a\tb\nc"),
                        release("é", hostile),
                        Marker::Exit(0),
                    ],
                    "{shell} under LC_ALL={locale}"
                );
            }
        }
    }

    #[test]
    fn a_script_of_steps_is_shellcheck_clean() {
        let mut script = Script::new();
        script
            .exports(&[Secret::new("TOKEN".into(), "s3cr3t 'x'".into())])
            .set("ferry_here", Word::lit("/srv/my app"))
            .code(r#"if [ -d "$ferry_here" ]; then cd "$ferry_here" || exit; fi"#)
            .step(1, "migrate", &Command::user("python3 manage.py migrate"))
            .step(2, "run", &Command::argv(&["echo".into(), "a b".into()]));
        shellcheck("task", &script.build());
    }

    /// What `-vv` shows of a script: a secret quoted as a shell word (its
    /// export) or as a .env value (the upload's) is masked whole.
    #[test]
    fn a_shown_script_masks_the_quoted_forms_of_a_secret() {
        let value = "k3y 'single' \"double\" $HOME `id` \\back ;# %(x)s\nline two";
        let secret = Secret::new("KEY".into(), value.into());
        let mut script = Script::new();
        script.exports(std::slice::from_ref(&secret)).call(
            "ferry_dotenv",
            [
                Word::lit(".env"),
                Word::lit("A=1\n"),
                Word::num(1u64),
                Word::lit("KEY"),
                Word::lit(&crate::dotenv::quote(value)),
            ],
        );
        let shown = crate::secret::Redactor::new([&secret])
            .redact(&script.build())
            .into_owned();
        assert!(
            !shown.contains("k3y") && !shown.contains("line two"),
            "{shown}"
        );
        assert!(shown.contains("export KEY=********"), "{shown}");
    }

    /// Steps and probes after `env_file` see the .env's variables, inside
    /// their own subshell; ferry's shell and the steps after `None` do not.
    #[test]
    fn steps_and_probes_see_the_env_file_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("my .env");
        std::fs::write(
            &file,
            "APP_KEY=\"from the \\\"file\\\" $(x)\"\nD=clobbered\n",
        )
        .unwrap();
        let path = Word::lit(file.to_str().unwrap());
        let mut script = Script::new();
        script
            .set("D", Word::lit("ferry's"))
            .env_file(Some(path))
            .step(1, "step", &Command::user("echo \"step: $APP_KEY\""))
            .code("ferry_body=$( (")
            .user(&Command::user("echo \"probe: $APP_KEY\""))
            .code(") 2>&1 3>&-)\necho \"$ferry_body\"")
            .env_file(None)
            .step(
                2,
                "control",
                &Command::user("echo \"control: ${APP_KEY-unset}\""),
            )
            .code("echo \"ferry: ${APP_KEY-unset} $D\"");
        let (_, output) = run_sh(&script.build());
        assert_eq!(
            output,
            "step: from the \"file\" $(x)\nprobe: from the \"file\" $(x)\ncontrol: unset\nferry: unset ferry's\n"
        );
    }

    #[test]
    fn literals_stay_one_word() {
        assert_eq!(Word::lit("plain").as_str(), "plain");
        assert_eq!(
            Word::lit("x; touch /tmp/pwned").as_str(),
            "'x; touch /tmp/pwned'"
        );
        assert_eq!(
            Word::var("D").join(Word::lit("/a b")).as_str(),
            "\"$D\"'/a b'"
        );
    }

    #[test]
    fn steps_stop_at_the_first_failure_and_cannot_forge_reports() {
        let mut script = Script::new();
        script
            .step(
                1,
                "one",
                &Command::user("echo one; { echo 'exit 4' >&3; } 2>/dev/null || echo closed"),
            )
            .step(
                2,
                "two",
                &Command::user("printf 'no newline'; false\necho not reached"),
            )
            .step(3, "three", &Command::user("echo three"));
        let (markers, output) = run_sh(&script.build());
        assert_eq!(
            markers,
            [
                Marker::Activity("one".into()),
                Marker::Activity("two".into()),
                Marker::Failed { step: 2, code: 1 },
                Marker::Exit(1),
            ]
        );
        assert!(output.contains("one\n"), "{output}");
        assert!(
            output.contains("one\nclosed\n"),
            "fd 3 is closed to steps: {output}"
        );
        assert!(output.ends_with("no newline"), "{output}");
        assert!(!output.contains("not reached") && !output.contains("three"));
    }

    #[test]
    fn a_report_carries_any_bytes() {
        let hostile = "a\nb'\"$(touch /tmp/x)`\u{1e}ferry:failed 1 1";
        let mut script = Script::new();
        script.call("ferry_fail", [Word::lit(hostile)]);
        let (markers, _) = run_sh(&script.build());
        assert_eq!(markers, [Marker::Error(hostile.into()), Marker::Exit(1)]);
    }
}
