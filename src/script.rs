//! Building the `sh` scripts ferry sends to hosts. Scripts are POSIX sh (the
//! one shell every server has) and every value from outside goes through
//! `quote`, so it reaches the host as one literal word.

use std::borrow::Cow;
use std::fmt::Write;

use crate::fanout::MARKER;
use crate::secret::Secret;

/// One shell word, quoted only when it needs to be.
pub(crate) fn quote(word: &str) -> Cow<'_, str> {
    // NUL cannot reach a shell at all; the caller's config checks keep it out,
    // so treating it as a bug here is right.
    shlex::try_quote(word).expect("no NUL bytes in shell words")
}

#[derive(Debug, Default)]
pub(crate) struct Script {
    text: String,
}

impl Script {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn line(&mut self, line: &str) -> &mut Self {
        self.text.push_str(line);
        self.text.push('\n');
        self
    }

    /// Secrets become environment variables of the script: on stdin, so never
    /// in any process's argv.
    pub(crate) fn exports(&mut self, secrets: &[Secret]) -> &mut Self {
        for secret in secrets {
            let _ = writeln!(
                self.text,
                "export {}={}",
                secret.name,
                quote(secret.expose())
            );
        }
        self
    }

    /// A line for ferry itself (see `fanout::MARKER`).
    pub(crate) fn marker(&mut self, text: &str) -> &mut Self {
        let _ = writeln!(
            self.text,
            "printf '%s\\n' {}",
            quote(&format!("{MARKER}{text}"))
        );
        self
    }

    /// Run `body` in a subshell with `set -e`; when it fails, report the step
    /// and leave with its exit code.
    pub(crate) fn step(&mut self, index: usize, label: &str, body: &str) -> &mut Self {
        self.marker(&format!("activity {label}"));
        let _ = writeln!(self.text, "(\nset -e\n{body}\n)");
        let _ = writeln!(
            self.text,
            "ferry_status=$?; if [ \"$ferry_status\" -ne 0 ]; then printf '%s\\n' \"{MARKER}failed {index} $ferry_status\"; exit \"$ferry_status\"; fi"
        );
        self
    }

    pub(crate) fn build(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("x; touch /tmp/pwned"), "'x; touch /tmp/pwned'");
        assert_eq!(quote("it's"), "\"it's\"");
    }

    #[test]
    fn steps_stop_at_the_first_failure() {
        let mut script = Script::new();
        script
            .step(1, "one", "echo one")
            .step(2, "two", "false\necho not reached")
            .step(3, "three", "echo three");
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(script.build())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1));
        assert!(stdout.contains("one\n"));
        assert!(stdout.contains(&format!("{MARKER}failed 2 1")));
        assert!(!stdout.contains("not reached") && !stdout.contains("three\n"));
    }
}
