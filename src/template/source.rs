//! A shell template's source seen by the shell lexer before any value
//! exists: each `{{ … }}` becomes a slot, tags and comments (`{% … %}`,
//! `{# … #}`) vanish, and the text of `{% raw %}` blocks stays. Every branch
//! of an `{% if %}` is read as if it were taken, which is what a load-time
//! check wants; the render-time check then reads the real output.

use std::ops::Range;

use super::shell;

/// A `{{ … }}` of the source: where it is and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) span: Range<usize>,
    /// The expression between the braces, trimmed (`args.name`, `x|upper`).
    pub(crate) expr: String,
}

/// The text for `shell::fill`, and the slots in order of their index.
pub(crate) fn slots(source: &str) -> (String, Vec<Slot>) {
    let mut text = String::with_capacity(source.len());
    let mut slots = Vec::new();
    let mut rest = 0;
    let mut raw = false;
    while let Some(open) = source[rest..].find('{').map(|i| rest + i) {
        let kind = source[open + 1..].chars().next();
        let close = match kind {
            Some('{') if !raw => "}}",
            Some('%') => "%}",
            Some('#') if !raw => "#}",
            _ => {
                text.push_str(&source[rest..=open]);
                rest = open + 1;
                continue;
            }
        };
        let Some(end) = tag_end(source, open + 2, close) else {
            break;
        };
        let inner = source[open + 2..end - 2]
            .trim_matches(['-', '+', '~'])
            .trim();
        if raw {
            if kind == Some('%') && inner == "endraw" {
                raw = false;
            } else {
                text.push_str(&source[rest..end]);
                rest = end;
                continue;
            }
        }
        text.push_str(&source[rest..open]);
        match kind {
            Some('{') => {
                text.push_str(&shell::slot(slots.len()));
                slots.push(Slot {
                    span: open..end,
                    expr: inner.to_string(),
                });
            }
            Some('%') if inner == "raw" => raw = true,
            _ => {}
        }
        rest = end;
    }
    text.push_str(&source[rest..]);
    (text, slots)
}

/// The end (past `close`) of a tag opened before `from`, skipping string
/// literals, which may hold `}}`.
fn tag_end(source: &str, from: usize, close: &str) -> Option<usize> {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in source[from..].char_indices() {
        let at = from + i;
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if source[at..].starts_with(close) => return Some(at + close.len()),
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_slots_and_tags_vanish() {
        let (text, slots) = slots("echo {{ a }}{% if b %} \"{{ c|d('}}') }}\"{% endif %}{# x #}");
        assert_eq!(text, "echo \u{0}0\u{0} \"\u{0}1\u{0}\"");
        assert_eq!(slots[0].expr, "a");
        assert_eq!(slots[1].expr, "c|d('}}')");
        assert_eq!(slots[0].span, 5..12);
    }

    #[test]
    fn raw_blocks_stay_text() {
        let (text, slots) = slots("{% raw %}{{ x }}{% endraw %} {{- y -}}");
        assert_eq!(text, "{{ x }} \u{0}0\u{0}");
        assert_eq!(slots[0].expr, "y");
    }
}
