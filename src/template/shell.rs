//! A small POSIX-sh lexer that knows, at every point of a step's text, which
//! quoting context the shell is in — so a template value can be escaped for
//! exactly that context, or refused where no escaping is safe.
//!
//! Values are marked in the text by slots, `\0<index>\0` (NUL cannot occur in
//! a step's own text nor reach a shell). `fill` walks the text once, keeps a
//! stack of contexts (`$(…)` inside `"…"` inside `$(…)` …) and replaces each
//! slot by its value escaped for the innermost context. The same walk serves
//! the load-time check, over the template source with `{{ … }}` as slots.
//!
//! It is not a shell parser: it follows only what changes how a character is
//! read (quotes, backslashes, expansions, comments, here-documents). Where it
//! cannot be sure, it refuses rather than guesses.

use std::fmt;

mod command;
mod heredoc;

use self::command::Command;
use self::heredoc::HereDoc;
use super::escape::{Context, escape, is_plain_word};

/// The first byte of a slot, and its last.
pub(crate) const SLOT: char = '\0';

/// Places where no escaping makes a value safe; refused with a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Backquote,
    Comment,
    Parameter,
    Arithmetic,
    QuotedHereDoc,
    AnsiC,
    HereDocDelimiter,
    AfterBackslash,
    AfterDollar,
    /// After text the shells read differently, or this lexer cannot follow.
    Unfollowed,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Backquote => "inside backquotes",
            Refusal::Comment => "inside a `#` comment",
            Refusal::Parameter => "inside a `${…}` parameter expansion",
            Refusal::Arithmetic => "inside an arithmetic expansion `$((…))`",
            Refusal::QuotedHereDoc => "inside a quoted here-document (`<<'EOF'`)",
            Refusal::AnsiC => "inside bash's `$'…'` quoting",
            Refusal::HereDocDelimiter => "as a here-document's delimiter",
            Refusal::AfterBackslash => "right after a backslash",
            Refusal::AfterDollar => "right after a `$`",
            Refusal::Unfollowed => {
                "after shell text dash and bash read differently or ferry cannot follow (`$'…'`, an unusual here-document delimiter)"
            }
        })
    }
}

/// Why a slot cannot be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    Refused(Refusal),
    /// A line of the value would end the here-document it stands in.
    EndsHereDoc(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlotError {
    pub(crate) index: usize,
    pub(crate) problem: Problem,
}

/// The slot text for value number `index`.
pub(crate) fn slot(index: usize) -> String {
    format!("{SLOT}{index}{SLOT}")
}

/// Replace every slot of `text` by `value(index)` escaped for its context.
pub(crate) fn fill(
    text: &str,
    mut value: impl FnMut(usize) -> String,
) -> Result<String, SlotError> {
    let mut lexer = Lexer {
        out: String::with_capacity(text.len()),
        stack: vec![Frame::Command(Command::new(false))],
        lost: false,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c == SLOT {
            let end = (at + 1..chars.len())
                .find(|&i| chars[i] == SLOT)
                .unwrap_or(chars.len());
            let digits: String = chars[at + 1..end].iter().collect();
            lexer.slot(digits.parse().unwrap_or(usize::MAX), &mut value)?;
            at = end + 1;
            continue;
        }
        let next = chars.get(at + 1).copied();
        if c == '\\' && next == Some(SLOT) && lexer.backslash_escapes() {
            let digits: String = chars[at + 2..].iter().take_while(|&&c| c != SLOT).collect();
            return Err(SlotError {
                index: digits.parse().unwrap_or(usize::MAX),
                problem: Problem::Refused(Refusal::AfterBackslash),
            });
        }
        at += 1 + lexer.char(c, next, chars.get(at + 2).copied())?;
    }
    lexer.end_of_text()?;
    Ok(lexer.out)
}

#[derive(Debug, Clone)]
enum Frame {
    /// A command list: the top level or `$(…)`.
    Command(Command),
    Double,
    Single,
    AnsiC,
    Backquote,
    Comment,
    Parameter,
    /// `$((…))` or `((…))`, with the depth of inner parentheses.
    Arithmetic(usize),
    HereDoc(HereDoc),
}

impl Frame {
    fn refusal(&self) -> Option<Refusal> {
        match self {
            Frame::Backquote => Some(Refusal::Backquote),
            Frame::Comment => Some(Refusal::Comment),
            Frame::Parameter => Some(Refusal::Parameter),
            Frame::Arithmetic(_) => Some(Refusal::Arithmetic),
            Frame::AnsiC => Some(Refusal::AnsiC),
            Frame::HereDoc(doc) if doc.quoted => Some(Refusal::QuotedHereDoc),
            _ => None,
        }
    }
}

struct Lexer {
    out: String,
    stack: Vec<Frame>,
    /// Set where the text goes beyond what this lexer follows (an expansion
    /// in a here-document's delimiter): every later value is refused.
    lost: bool,
}

type Step = Result<usize, SlotError>;

impl Lexer {
    fn top(&mut self) -> &mut Frame {
        self.stack
            .last_mut()
            .expect("the outer command is never popped")
    }

    fn slot(
        &mut self,
        index: usize,
        value: &mut impl FnMut(usize) -> String,
    ) -> Result<(), SlotError> {
        let refuse = |refusal| SlotError {
            index,
            problem: Problem::Refused(refusal),
        };
        if let Some(refusal) = self.stack.iter().find_map(Frame::refusal) {
            return Err(refuse(refusal));
        }
        if self.lost {
            return Err(refuse(Refusal::Unfollowed));
        }
        let context = match self.top() {
            Frame::Command(cmd) if cmd.delimiter.is_some() => {
                return Err(refuse(Refusal::HereDocDelimiter));
            }
            Frame::Command(cmd) => {
                cmd.in_word = true;
                cmd.word.push(SLOT);
                Context::Word
            }
            Frame::Double => Context::Double,
            Frame::Single => Context::Single,
            Frame::HereDoc(_) => Context::HereDoc,
            _ => unreachable!("refused above"),
        };
        if context != Context::Single && self.ends_with_live_dollar() {
            return Err(refuse(Refusal::AfterDollar));
        }
        let value = value(index);
        let text = if context == Context::Word && is_plain_word(&value) && self.out.ends_with('~') {
            // `~{{ user }}` would expand a home directory: quote even a plain word.
            format!("'{value}'")
        } else {
            escape(&value, context)
        };
        self.mark_value(index);
        for c in text.chars() {
            self.out.push(c);
            if c == '\n' {
                self.line_end(self.out.len() - 1)?;
                // The rest of the value is on the next line.
                self.mark_value(index);
            }
        }
        Ok(())
    }

    // `\$` is a literal dollar (the source's own, or a value's escaped one).
    fn ends_with_live_dollar(&self) -> bool {
        let Some(before) = self.out.strip_suffix('$') else {
            return false;
        };
        let backslashes = before.len() - before.trim_end_matches('\\').len();
        backslashes % 2 == 0
    }

    // A backslash escapes the next character in commands, "…" and here-documents.
    fn backslash_escapes(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Command(_) | Frame::Double | Frame::HereDoc(HereDoc { quoted: false, .. }))
        )
    }

    /// Take `c`, with a look at the two characters after it; returns how
    /// many of those it consumed too.
    fn char(&mut self, c: char, next: Option<char>, after: Option<char>) -> Step {
        let at = self.out.len();
        let used = self.read(c, next, after)?;
        if c == '\n' {
            self.line_end(at)?;
        }
        Ok(used)
    }

    fn read(&mut self, c: char, next: Option<char>, after: Option<char>) -> Step {
        match self.top() {
            Frame::Command(_) => return self.command_char(c, next, after),
            Frame::Comment if c == '\n' => {
                self.stack.pop();
                return self.read(c, next, after);
            }
            _ => {}
        }
        self.out.push(c);
        let frame = self.top().clone();
        Ok(match frame {
            Frame::Command(_) => unreachable!("handled above"),
            Frame::Double => match c {
                '\\' => self.take(next),
                '"' => self.pop(),
                _ => self.expansion(c, next, after),
            },
            Frame::HereDoc(_) if c == '\n' => 0,
            Frame::HereDoc(doc) if doc.quoted => 0,
            Frame::HereDoc(_) => match c {
                '\\' => self.take(next),
                _ => self.expansion(c, next, after),
            },
            Frame::Single | Frame::AnsiC if c == '\'' => self.pop(),
            Frame::Backquote if c == '`' => self.pop(),
            Frame::AnsiC | Frame::Backquote if c == '\\' => self.take(next),
            Frame::Single | Frame::AnsiC | Frame::Backquote | Frame::Comment => 0,
            Frame::Parameter => match c {
                '\\' => self.take(next),
                '}' => self.pop(),
                '\'' => self.push(Frame::Single),
                '"' => self.push(Frame::Double),
                _ => self.expansion(c, next, after),
            },
            // Quotes read the same in bash's `((…))` and dash's `( (…) )`.
            Frame::Arithmetic(depth) => match c {
                '\\' => self.take(next),
                '"' => self.push(Frame::Double),
                '\'' => self.push(Frame::Single),
                '(' => {
                    *self.top() = Frame::Arithmetic(depth + 1);
                    0
                }
                ')' if depth == 0 && next == Some(')') => {
                    self.out.push(')');
                    self.pop();
                    1
                }
                ')' => {
                    *self.top() = Frame::Arithmetic(depth.saturating_sub(1));
                    0
                }
                _ => self.expansion(c, next, after),
            },
        })
    }

    fn pop(&mut self) -> usize {
        self.stack.pop();
        0
    }

    fn push(&mut self, frame: Frame) -> usize {
        self.stack.push(frame);
        0
    }

    /// The character a backslash escapes, verbatim (a slot is never taken).
    fn take(&mut self, next: Option<char>) -> usize {
        match next {
            Some(n) if n != SLOT => {
                self.out.push(n);
                1
            }
            _ => 0,
        }
    }

    /// After `c` (already written): `$(`, `${`, `$((` and backquotes open.
    fn expansion(&mut self, c: char, next: Option<char>, after: Option<char>) -> usize {
        match (c, next, after) {
            ('`', _, _) => self.push(Frame::Backquote),
            ('$', Some('('), Some('(')) => {
                self.out.push_str("((");
                self.stack.push(Frame::Arithmetic(0));
                2
            }
            ('$', Some('('), _) => {
                self.out.push('(');
                self.stack.push(Frame::Command(Command::new(true)));
                1
            }
            ('$', Some('{'), _) => {
                self.out.push('{');
                self.stack.push(Frame::Parameter);
                1
            }
            // `$$`, `$?`, `$1`…: a whole parameter; what follows is not
            // read with the second character (`$$(` is the pid and a `(`).
            ('$', Some(special), _) if "$?#!-@*0123456789".contains(special) => {
                self.out.push(special);
                1
            }
            _ => 0,
        }
    }

    fn end_of_text(&mut self) -> Result<(), SlotError> {
        self.line_end(self.out.len())
    }
}

#[cfg(test)]
mod tests;
