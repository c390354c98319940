//! A file of shell functions (`prelude.sh`, the release helpers), sent in
//! part: a script carries the file's top-level lines and only the functions
//! it calls, directly or through each other, without their comments. The
//! shell stays in a real file; the wire carries what the host will run.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};

#[derive(Debug)]
pub(crate) struct Library {
    /// Top-level lines that are not functions (variables, traps), in order.
    head: String,
    /// Each function's name and text, in file order.
    functions: Vec<(String, String)>,
}

impl Library {
    pub(crate) fn parse(text: &str) -> Self {
        let mut head = String::new();
        let mut functions: Vec<(String, String)> = Vec::new();
        let mut open: Option<(String, String)> = None;
        for line in text.lines() {
            if let Some((name, body)) = &mut open {
                body.push_str(line);
                body.push('\n');
                if line == "}" {
                    functions.push((std::mem::take(name), std::mem::take(body)));
                    open = None;
                }
                continue;
            }
            let trimmed = line.trim_start();
            if trimmed.starts_with('#') && !trimmed.starts_with("# shellcheck") {
                continue;
            }
            match function_name(line) {
                Some(name) if line.trim_end().ends_with('}') => {
                    functions.push((name.to_string(), format!("{line}\n")));
                }
                Some(name) => open = Some((name.to_string(), format!("{line}\n"))),
                None if line.trim().is_empty() => {}
                None => {
                    head.push_str(line);
                    head.push('\n');
                }
            }
        }
        assert!(open.is_none(), "a function runs to the end of the file");
        Self { head, functions }
    }

    /// The file as a script calling `body` needs it.
    pub(crate) fn for_body(&self, body: &str, out: &mut String) {
        let needed = self.needed(body);
        out.push_str(&self.head);
        for (index, (_, text)) in self.functions.iter().enumerate() {
            if needed.contains(&index) {
                out.push_str(text);
            }
        }
    }

    /// Indices of the functions `text` calls, and those they call.
    fn needed(&self, text: &str) -> BTreeSet<usize> {
        let mut needed = BTreeSet::new();
        let mut queue = vec![text.to_string(), self.head.clone()];
        while let Some(text) = queue.pop() {
            for word in words(&text) {
                if let Some(index) = self.functions.iter().position(|(name, _)| name == word) {
                    if needed.insert(index) {
                        queue.push(self.functions[index].1.clone());
                    }
                }
            }
        }
        needed
    }
}

/// The functions a shell has defined: those a script it ran began with
/// (a lock's keeper runs later scripts in its own shell, see `ferry_keep`).
#[derive(Debug, Default)]
pub(crate) struct Defined {
    functions: HashSet<String>,
}

impl Defined {
    /// What running `script` defines: the functions it begins with.
    pub(crate) fn by(script: &str) -> Self {
        let functions = leading(script)
            .0
            .into_iter()
            .filter(|(_, function)| *function)
            .map(|(text, _)| text.to_string())
            .collect();
        Self { functions }
    }

    /// Whether the script defines no function.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// `script` for this shell: without the functions it begins with that
    /// the shell has defined as they are. Only the definitions at the start
    /// are looked at (a built script is its functions, then its body), and
    /// one dropped is one the shell has word for word: what runs is the same.
    pub(crate) fn strip<'a>(&self, script: &'a str) -> Cow<'a, str> {
        let (parts, rest) = leading(script);
        let known = |(text, function): &(&str, bool)| *function && self.functions.contains(*text);
        if !parts.iter().any(known) {
            return Cow::Borrowed(script);
        }
        let mut out = String::with_capacity(script.len());
        for (text, _) in parts.iter().filter(|part| !known(part)) {
            out.push_str(text);
        }
        out.push_str(rest);
        Cow::Owned(out)
    }
}

/// The lines a script begins with, up to its first command: each function
/// definition (as `Library` writes them: `name() { … }` on one line, or
/// from `name() {` to a line that is `}`) with `true`, each comment or
/// blank line with `false`; and the rest of the script.
fn leading(script: &str) -> (Vec<(&str, bool)>, &str) {
    let mut parts = Vec::new();
    let mut rest = script;
    while let Some(first) = rest.split_inclusive('\n').next() {
        let trimmed = first.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            parts.push((first, false));
            rest = &rest[first.len()..];
            continue;
        }
        if function_name(first).is_none() {
            break;
        }
        let end = if first.trim_end().ends_with('}') {
            first.len()
        } else {
            // Through its first line that is `}`, which starts where a line does.
            let body = &rest[first.len()..];
            let close = match body.strip_prefix("}\n") {
                Some(_) => 0,
                None => match body.find("\n}\n") {
                    Some(at) => at + 1,
                    None => break,
                },
            };
            first.len() + close + "}\n".len()
        };
        parts.push((&rest[..end], true));
        rest = &rest[end..];
    }
    (parts, rest)
}

/// `name() {` at the start of a line: a function definition.
fn function_name(line: &str) -> Option<&str> {
    let (name, rest) = line.split_once("()")?;
    let is_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (is_name && rest.trim_start().starts_with('{')).then_some(name)
}

/// The identifiers in shell text: where function calls hide.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str =
        "# about\nX=1\n# a\na() { b; }\n# b\nb() {\n    echo b\n}\nc() {\n    echo c\n}\n";

    #[test]
    fn a_shell_that_has_a_function_is_not_sent_it_again() {
        // Without the file's top-level line: the first command ends the
        // definitions a script begins with.
        let library = Library::parse(&FILE.replace("X=1\n", ""));
        let mut keeper = String::new();
        library.for_body("a\n", &mut keeper);
        keeper.push_str("a\n");
        let defined = Defined::by(&format!("# shellcheck disable=SC2317\n{keeper}"));
        let mut later = String::new();
        library.for_body("a\nc\n", &mut later);
        later.push_str("a\nc\n");
        assert_eq!(defined.strip(&later), "c() {\n    echo c\n}\na\nc\n");
        // Only what the script begins with, and only word for word.
        let body = "b() {\n    echo b\n}\n";
        assert_eq!(
            defined.strip(&format!("echo\n{body}")),
            format!("echo\n{body}")
        );
        let changed = "b() {\n    echo B\n}\nb\n";
        assert_eq!(defined.strip(changed), changed);
        // A definition that never closes is not one.
        assert_eq!(defined.strip("a() {\n"), "a() {\n");
    }

    proptest::proptest! {
        /// Whatever a script's body holds — lines that look like function
        /// definitions, closing braces, comments, here-documents — stripping
        /// leaves it as it is, and drops only definitions the shell has.
        #[test]
        fn stripping_never_touches_a_body_nor_drops_what_the_shell_lacks(
            known in proptest::sample::subsequence(vec![0usize, 1, 2], 0..=3),
            sent in proptest::sample::subsequence(vec![0usize, 1, 2], 0..=3),
            lines in proptest::collection::vec(proptest::sample::select(vec![
                "a() { b; }", "b() {", "    echo b", "}", "# b() {", "",
                "cat <<'EOF'", "EOF", "c() {", "x=$(b)", "    echo c",
            ]), 0..12),
        ) {
            let functions = ["a() { b; }\n", "b() {\n    echo b\n}\n", "c() {\n    echo c\n}\n"];
            let shell: String = known.iter().map(|&i| functions[i]).collect();
            let defined = Defined::by(&format!("{shell}echo kept\n"));
            let mut body = String::from("D=/srv\n");
            for line in &lines {
                body.push_str(line);
                body.push('\n');
            }
            let head: String = sent.iter().map(|&i| functions[i]).collect();
            let script = format!("{head}{body}");
            let stripped = defined.strip(&script);
            proptest::prop_assert!(stripped.ends_with(&body));
            for &i in &sent {
                let kept = stripped[..stripped.len() - body.len()].contains(functions[i]);
                proptest::prop_assert_eq!(kept, !known.contains(&i));
            }
        }
    }

    #[test]
    fn sends_what_is_called_and_what_that_calls() {
        let library = Library::parse(FILE);
        let mut out = String::new();
        library.for_body("a\n", &mut out);
        assert_eq!(out, "X=1\na() { b; }\nb() {\n    echo b\n}\n");
        let mut out = String::new();
        library.for_body("echo nothing\n", &mut out);
        assert_eq!(out, "X=1\n");
    }
}
