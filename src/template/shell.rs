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

/// The first byte of a slot, and its last.
pub(crate) const SLOT: char = '\0';

/// Where a value can stand and how it is escaped there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    /// A bare word of a command (also inside `$(…)`): single-quoted whole.
    Word,
    /// Inside `"…"`: `$`, `` ` ``, `"` and `\` are backslash-escaped.
    Double,
    /// Inside `'…'`: each `'` becomes `'\''` (close, escaped quote, reopen).
    Single,
    /// In an unquoted here-document's body: `$`, `` ` `` and `\` escaped.
    HereDoc,
}

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

/// `value` as text that reads back as it in `context`.
pub(crate) fn escape(value: &str, context: Context) -> String {
    match context {
        Context::Word if is_plain_word(value) => value.to_string(),
        Context::Word => format!("'{}'", value.replace('\'', r"'\''")),
        Context::Single => value.replace('\'', r"'\''"),
        Context::Double => backslash(value, &['$', '`', '"', '\\']),
        Context::HereDoc => backslash(value, &['$', '`', '\\']),
    }
}

/// Words the shell reads back as themselves anywhere in a word, so they
/// need no quotes (`8000`, `/srv/app`): no expansion, glob, comment, tilde,
/// assignment or reserved word can start from these characters.
fn is_plain_word(value: &str) -> bool {
    const RESERVED: &[&str] = &[
        "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
        "in", "function", "select", "time", "coproc",
    ];
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@%+,-".contains(c))
        && !RESERVED.contains(&value)
}

fn backslash(value: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
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

#[derive(Debug, Clone, Default)]
struct Command {
    /// True inside `$(…)`, which an unmatched `)` closes.
    substitution: bool,
    parens: usize,
    /// `case … esac` open inside, where `pat)` closes nothing.
    cases: usize,
    word: String,
    in_word: bool,
    command_position: bool,
    /// Here-documents whose bodies start after the next newline.
    pending: Vec<HereDoc>,
    /// Reading a here-document's delimiter word.
    delimiter: Option<Delimiter>,
}

impl Command {
    fn new(substitution: bool) -> Self {
        Self {
            substitution,
            command_position: true,
            ..Self::default()
        }
    }

    /// A word ends: `case` and `esac` count, and some words start a command.
    fn end_word(&mut self) {
        if self.in_word {
            if self.command_position && self.word == "case" {
                self.cases += 1;
            } else if self.word == "esac" {
                self.cases = self.cases.saturating_sub(1);
            }
            self.command_position = OPENERS.contains(&self.word.as_str());
        }
        self.word.clear();
        self.in_word = false;
    }

    fn operator(&mut self) {
        self.end_word();
        self.command_position = true;
    }
}

/// Words after which a command starts (so `case` there opens a case).
const OPENERS: &[&str] = &[
    "then", "do", "else", "elif", "if", "while", "until", "!", "{", "time",
];

#[derive(Debug, Clone, Default)]
struct Delimiter {
    word: String,
    quoted: bool,
    strip_tabs: bool,
    quote: Option<char>,
    escaped: bool,
}

#[derive(Debug, Clone)]
struct HereDoc {
    delimiter: String,
    strip_tabs: bool,
    quoted: bool,
    line_start: usize,
    /// The value that stands on the current line, if one does.
    value_on_line: Option<usize>,
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

    /// The innermost here-document, wherever it is on the stack: a line of
    /// its body ends it even inside a `$(…)` or "…" that it holds.
    fn heredoc(stack: &mut [Frame], newline: usize) -> Option<(usize, &mut HereDoc)> {
        stack
            .iter_mut()
            .enumerate()
            .rev()
            .find_map(|(i, frame)| match frame {
                Frame::HereDoc(doc) if doc.line_start <= newline => Some((i, doc)),
                _ => None,
            })
    }

    fn mark_value(&mut self, index: usize) {
        if let Some((_, doc)) = Self::heredoc(&mut self.stack, self.out.len()) {
            doc.value_on_line = Some(index);
        }
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

    fn command_char(&mut self, c: char, next: Option<char>, after: Option<char>) -> Step {
        if self.delimiter_char(c) {
            return Ok(0);
        }
        self.out.push(c);
        let Frame::Command(cmd) = self.top() else {
            unreachable!("called in a command");
        };
        let word_char = |cmd: &mut Command| {
            cmd.in_word = true;
            cmd.word.push(c);
        };
        Ok(match c {
            // A line continuation vanishes: the word goes on or not as before.
            '\\' if next == Some('\n') => {
                self.out.push('\n');
                1
            }
            '\\' => {
                cmd.in_word = true;
                cmd.word.push(SLOT);
                self.take(next)
            }
            '\'' => {
                cmd.in_word = true;
                cmd.word.push(SLOT);
                self.push(Frame::Single)
            }
            '"' => {
                cmd.in_word = true;
                cmd.word.push(SLOT);
                self.push(Frame::Double)
            }
            '$' if next == Some('\'') => {
                word_char(cmd);
                self.out.push('\'');
                self.stack.push(Frame::AnsiC);
                // dash reads `$'\'…` as `$` and a '\' string: the shells part
                // ways here, so no later value can be placed with certainty.
                self.lost = true;
                1
            }
            '$' if next == Some('"') => {
                word_char(cmd);
                self.out.push('"');
                self.stack.push(Frame::Double);
                1
            }
            '$' | '`' => {
                cmd.in_word = true;
                cmd.word.push(SLOT);
                self.expansion(c, next, after)
            }
            '#' if !cmd.in_word => self.push(Frame::Comment),
            '<' if next == Some('<') && after == Some('<') => {
                cmd.operator();
                self.out.push_str("<<");
                2
            }
            '<' if next == Some('<') => {
                cmd.operator();
                let strip_tabs = after == Some('-');
                cmd.delimiter = Some(Delimiter {
                    strip_tabs,
                    ..Delimiter::default()
                });
                self.out.push('<');
                if strip_tabs {
                    self.out.push('-');
                }
                1 + usize::from(strip_tabs)
            }
            '(' if next == Some('(') && cmd.command_position => {
                self.out.push('(');
                self.stack.push(Frame::Arithmetic(0));
                1
            }
            '(' => {
                cmd.operator();
                cmd.parens += 1;
                0
            }
            ')' => {
                cmd.operator();
                if cmd.parens > 0 {
                    cmd.parens -= 1;
                } else if cmd.cases == 0 && cmd.substitution {
                    self.stack.pop();
                }
                0
            }
            ';' | '&' | '|' | '<' | '>' => {
                cmd.operator();
                0
            }
            '\n' => {
                cmd.operator();
                let docs: Vec<HereDoc> = cmd.pending.drain(..).rev().collect();
                let line_start = self.out.len();
                for mut doc in docs {
                    doc.line_start = line_start;
                    self.stack.push(Frame::HereDoc(doc));
                }
                0
            }
            ' ' | '\t' => {
                cmd.end_word();
                0
            }
            _ => {
                word_char(cmd);
                0
            }
        })
    }

    /// While a here-document's delimiter word is read: true when `c` was
    /// part of it (or of the blanks before it).
    fn delimiter_char(&mut self, c: char) -> bool {
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
    fn line_end(&mut self, newline: usize) -> Result<(), SlotError> {
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

    fn end_of_text(&mut self) -> Result<(), SlotError> {
        self.line_end(self.out.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` with `@` for slots, each filled with `value`.
    fn filled(text: &str, value: &str) -> Result<String, SlotError> {
        let mut n = 0;
        let text: String = text
            .chars()
            .map(|c| match c {
                '@' => {
                    n += 1;
                    slot(n - 1)
                }
                c => c.to_string(),
            })
            .collect();
        fill(&text, |_| value.to_string())
    }

    fn refused(text: &str) -> Refusal {
        match filled(text, "v").unwrap_err().problem {
            Problem::Refused(refusal) => refusal,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn escapes_for_each_context() {
        let v = "a'b\"c$d`e\\f";
        assert_eq!(filled("echo @", v).unwrap(), r#"echo 'a'\''b"c$d`e\f'"#);
        assert_eq!(
            filled("echo \"<@>\"", v).unwrap(),
            r#"echo "<a'b\"c\$d\`e\\f>""#
        );
        assert_eq!(
            filled("echo '<@>'", v).unwrap(),
            r#"echo '<a'\''b"c$d`e\f>'"#
        );
        assert_eq!(
            filled("cat <<EOF\n@\nEOF\n", v).unwrap(),
            "cat <<EOF\na'b\"c\\$d\\`e\\\\f\nEOF\n"
        );
    }

    #[test]
    fn plain_words_stay_bare_unless_the_shell_would_read_them() {
        assert_eq!(
            filled("cd @/current", "/srv/app").unwrap(),
            "cd /srv/app/current"
        );
        assert_eq!(
            filled("--bind 127.0.0.1:@", "8000").unwrap(),
            "--bind 127.0.0.1:8000"
        );
        assert_eq!(filled("@ x", "if").unwrap(), "'if' x");
        assert_eq!(filled("echo @", "").unwrap(), "echo ''");
        assert_eq!(filled("echo @", "a=b").unwrap(), "echo 'a=b'");
        assert_eq!(filled("echo ~@", "root").unwrap(), "echo ~'root'");
        assert_eq!(filled("echo @", "*").unwrap(), "echo '*'");
    }

    #[test]
    fn contexts_nest() {
        assert_eq!(
            filled("echo \"$(echo @)\"", "x y").unwrap(),
            "echo \"$(echo 'x y')\""
        );
        assert_eq!(
            filled("echo \"$(echo \"@\")\" @", "$").unwrap(),
            "echo \"$(echo \"\\$\")\" '$'"
        );
        assert_eq!(
            filled("x=$(echo (a) @)", "v w").unwrap(),
            "x=$(echo (a) 'v w')"
        );
        assert_eq!(
            filled("\"$(case a in a) :;; esac) @\"", "$").unwrap(),
            "\"$(case a in a) :;; esac) \\$\""
        );
        assert_eq!(
            filled("echo ${x:-y} \"@\"", "$").unwrap(),
            "echo ${x:-y} \"\\$\""
        );
        assert_eq!(
            filled("echo $((1+(2))) @", "v w").unwrap(),
            "echo $((1+(2))) 'v w'"
        );
    }

    #[test]
    fn here_documents_end_at_their_delimiter() {
        // The body starts on the next line and `<<-` strips tabs.
        assert_eq!(
            filled("cat <<-'E' >f; echo @\n\tE\necho @", "v w").unwrap(),
            "cat <<-'E' >f; echo 'v w'\n\tE\necho 'v w'"
        );
        assert_eq!(
            filled("cat <<'E'\nx\nE\necho @", "v w").unwrap(),
            "cat <<'E'\nx\nE\necho 'v w'"
        );
        assert_eq!(
            filled("cat <<E\n@\nE\n", "a\nE\nb").unwrap_err().problem,
            Problem::EndsHereDoc("E".into())
        );
        assert_eq!(
            filled("cat <<-E\n\t@\nE\n", "E").unwrap_err().problem,
            Problem::EndsHereDoc("E".into())
        );
        assert!(filled("cat <<E\nx@\nE\n", "E").is_ok());
    }

    #[test]
    fn unsafe_contexts_are_refused() {
        assert_eq!(refused("echo `echo @`"), Refusal::Backquote);
        assert_eq!(refused("echo \"`@`\""), Refusal::Backquote);
        assert_eq!(refused("echo hi # @"), Refusal::Comment);
        assert_eq!(refused("echo ${x:-@}"), Refusal::Parameter);
        assert_eq!(refused("echo \"${x:-$(echo @)}\""), Refusal::Parameter);
        assert_eq!(refused("echo $((@ + 1))"), Refusal::Arithmetic);
        assert_eq!(refused("((@ > 1))"), Refusal::Arithmetic);
        assert_eq!(refused("echo $'@'"), Refusal::AnsiC);
        assert_eq!(refused("cat <<@\nx\n"), Refusal::HereDocDelimiter);
        assert_eq!(refused("cat <<'E'\n@\nE\n"), Refusal::QuotedHereDoc);
        assert_eq!(refused("echo \\@"), Refusal::AfterBackslash);
        assert_eq!(refused("echo \"\\@\""), Refusal::AfterBackslash);
        assert_eq!(refused("echo $@"), Refusal::AfterDollar);
        assert_eq!(refused("echo \"$@\""), Refusal::AfterDollar);
    }

    /// Found by the fuzz test in template::tests: each was once a way to run a value.
    #[test]
    fn what_the_fuzz_test_found() {
        // `$$` is the pid: the `(` after it opens nothing.
        assert_eq!(
            filled("cat <<E\n$$(@\nE\n", "$(x)").unwrap(),
            "cat <<E\n$$(\\$(x)\nE\n"
        );
        // A line continuation leaves the next `#` at the start of a word.
        assert_eq!(refused("[[ \\\n#@"), Refusal::Comment);
        // Quotes inside `((…))` (dash reads it as two subshells).
        assert_eq!(refused("((\")) @ ))"), Refusal::Arithmetic);
        // dash has no `$'…'`; an escaped quote in a "…" delimiter.
        assert_eq!(refused("echo $'x' @"), Refusal::Unfollowed);
        assert_eq!(refused("cat <<$\"\\\"x a) @"), Refusal::Unfollowed);
        // The shells join a line continuation before they look for the delimiter.
        assert_eq!(
            filled("cat <<-E\n\\\n\tE\n#@", "v").unwrap_err().problem,
            Problem::Refused(Refusal::Comment)
        );
        // A here-document's line ends it even inside a `$(…)` it holds.
        assert_eq!(
            filled("cat <<-E\n$(echo @)\nE\n", "x\nE\ntouch canary")
                .unwrap_err()
                .problem,
            Problem::EndsHereDoc("E".into())
        );
    }

    #[test]
    fn what_only_looks_unsafe_is_not() {
        assert!(filled("echo a#b @", "v").is_ok());
        assert!(filled("echo '#' '`' @", "v").is_ok());
        assert!(filled("echo \\` \\$@", "v").is_ok());
        assert!(filled("echo '$@'", "v").is_ok());
        assert!(filled("echo x # `\necho @", "v").is_ok());
        assert!(filled("echo \"@@\"", "$").is_ok());
        assert!(filled("cat <<<@", "v").is_ok());
    }
}
