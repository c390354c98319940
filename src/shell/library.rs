//! A file of shell functions (`prelude.sh`, the release helpers), sent in
//! part: a script carries the file's top-level lines and only the functions
//! it calls, directly or through each other, without their comments. The
//! shell stays in a real file; the wire carries what the host will run.

use std::collections::BTreeSet;

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
