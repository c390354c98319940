//! A command list (the top level, `$(…)`): words, operators, `case`,
//! subshells, and what starts a quote, an expansion or a here-document.

use super::heredoc::{Delimiter, HereDoc};
use super::{Frame, Lexer, SLOT, Step};

#[derive(Debug, Clone, Default)]
pub(super) struct Command {
    /// True inside `$(…)`, which an unmatched `)` closes.
    pub(super) substitution: bool,
    pub(super) parens: usize,
    /// `case … esac` open inside, where `pat)` closes nothing.
    pub(super) cases: usize,
    pub(super) word: String,
    pub(super) in_word: bool,
    pub(super) command_position: bool,
    /// Here-documents whose bodies start after the next newline.
    pub(super) pending: Vec<HereDoc>,
    /// Reading a here-document's delimiter word.
    pub(super) delimiter: Option<Delimiter>,
}

impl Command {
    pub(super) fn new(substitution: bool) -> Self {
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

impl Lexer {
    pub(super) fn command_char(
        &mut self,
        c: char,
        next: Option<char>,
        after: Option<char>,
    ) -> Step {
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
}
