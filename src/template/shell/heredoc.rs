//! Here-documents: reading the delimiter word after `<<`, and noticing
//! the line that ends a body — with a value on it, the value would end the
//! here-document, which is refused.

use super::{Frame, Lexer, Problem, SlotError};

#[derive(Debug, Clone, Default)]
pub(super) struct Delimiter {
    pub(super) word: String,
    pub(super) quoted: bool,
    pub(super) strip_tabs: bool,
    pub(super) quote: Option<char>,
    pub(super) escaped: bool,
}

#[derive(Debug, Clone)]
pub(super) struct HereDoc {
    pub(super) delimiter: String,
    pub(super) strip_tabs: bool,
    pub(super) quoted: bool,
    pub(super) line_start: usize,
    /// The value that stands on the current line, if one does.
    pub(super) value_on_line: Option<usize>,
}

impl Lexer {
    /// The innermost here-document, wherever it is on the stack: a line of
    /// its body ends it even inside a `$(…)` or "…" that it holds.
    pub(super) fn heredoc(stack: &mut [Frame], newline: usize) -> Option<(usize, &mut HereDoc)> {
        stack
            .iter_mut()
            .enumerate()
            .rev()
            .find_map(|(i, frame)| match frame {
                Frame::HereDoc(doc) if doc.line_start <= newline => Some((i, doc)),
                _ => None,
            })
    }

    pub(super) fn mark_value(&mut self, index: usize) {
        if let Some((_, doc)) = Self::heredoc(&mut self.stack, self.out.len()) {
            doc.value_on_line = Some(index);
        }
    }

    /// While a here-document's delimiter word is read: true when `c` was
    /// part of it (or of the blanks before it).
    pub(super) fn delimiter_char(&mut self, c: char) -> bool {
        let Frame::Command(cmd) = self.top() else {
            return false;
        };
        let Some(delim) = cmd.delimiter.as_mut() else {
            return false;
        };
        if delim.escaped {
            delim.escaped = false;
            // In "…" a backslash stays unless it escapes one of these.
            if delim.quote == Some('"') && !"$`\"\\\n".contains(c) {
                delim.word.push('\\');
            }
            delim.word.push(c);
        } else if delim.quote != Some('\'') && matches!(c, '$' | '`') {
            // The shell reads an expansion's nesting to find the word's end.
            delim.word.push(c);
            self.lost = true;
        } else if delim.quote == Some('"') && c == '\\' {
            delim.escaped = true;
        } else if let Some(quote) = delim.quote {
            if c == quote {
                delim.quote = None;
            } else {
                delim.word.push(c);
            }
        } else if matches!(c, '\'' | '"') {
            delim.quote = Some(c);
            delim.quoted = true;
        } else if c == '\\' {
            delim.escaped = true;
            delim.quoted = true;
        } else if matches!(c, ' ' | '\t') && delim.word.is_empty() && !delim.quoted {
            // Blanks between `<<` and the word.
        } else if c.is_whitespace() || ";&|<>()".contains(c) {
            let delim = cmd.delimiter.take().expect("checked above");
            // Where the body ends must be certain: an unusual delimiter is
            // beyond what this lexer vouches for.
            let plain = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
            let unusual = delim.word.is_empty() || !delim.word.chars().all(plain);
            cmd.pending.push(HereDoc {
                delimiter: delim.word,
                strip_tabs: delim.strip_tabs,
                quoted: delim.quoted,
                line_start: 0,
                value_on_line: None,
            });
            self.lost |= unusual;
            return false;
        } else {
            delim.word.push(c);
        }
        self.out.push(c);
        true
    }

    /// A newline was written at `newline`: the line before it may be the
    /// delimiter of the innermost here-document, which then ends (with all
    /// it held open).
    pub(super) fn line_end(&mut self, newline: usize) -> Result<(), SlotError> {
        let Some((depth, doc)) = Self::heredoc(&mut self.stack, newline) else {
            return Ok(());
        };
        let raw = &self.out[doc.line_start..newline];
        // The shells join a line continuation before they compare.
        let line = if doc.quoted {
            raw.to_string()
        } else {
            join_continuations(raw)
        };
        let line = if doc.strip_tabs {
            line.trim_start_matches('\t')
        } else {
            &line
        };
        let ends = line == doc.delimiter;
        if let (true, Some(index)) = (ends, doc.value_on_line) {
            return Err(SlotError {
                index,
                problem: Problem::EndsHereDoc(doc.delimiter.clone()),
            });
        }
        doc.line_start = newline + 1;
        doc.value_on_line = None;
        if ends {
            self.stack.truncate(depth);
        }
        Ok(())
    }
}

/// `line` without its backslash-newlines (an escaped backslash stays).
fn join_continuations(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\n') => {}
            Some(next) => out.extend([c, next]),
            None => out.push(c),
        }
    }
    out
}
