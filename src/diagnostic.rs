//! Errors that point into a file the user wrote: `ferry.toml`, a template.
//! One renderer for all of them, so every such error names file:line:column
//! and shows the line with a caret under the culprit.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// A file's text, kept so errors found after parsing can still quote it.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub(crate) path: PathBuf,
    pub(crate) text: Arc<str>,
}

impl SourceFile {
    pub(crate) fn new(path: &Path, text: String) -> Self {
        Self {
            path: path.to_path_buf(),
            text: text.into(),
        }
    }

    /// An error about the bytes at `span`.
    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic(Box::new(Inner {
            file: self.clone(),
            span,
            message: message.into(),
            label: String::new(),
            help: None,
        }))
    }

    /// The same file with the text at `span` starred out (quotes and line
    /// breaks kept, so lines and columns stay), for an error about a value
    /// it must not repeat.
    pub(crate) fn masked(&self, span: Range<usize>) -> Self {
        let text = &self.text;
        let (start, end) = (span.start.min(text.len()), span.end.min(text.len()));
        let stars: String = text[start..end]
            .chars()
            .map(|c| match c {
                '"' | '\'' | '\n' => c.to_string(),
                other => "*".repeat(other.len_utf8()),
            })
            .collect();
        Self {
            path: self.path.clone(),
            text: format!("{}{stars}{}", &text[..start], &text[end..]).into(),
        }
    }

    /// 1-based line and column of a byte offset, as editors count them.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

/// Boxed: errors travel through many `Result`s and should stay one pointer wide.
#[derive(Debug, Clone)]
pub(crate) struct Diagnostic(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    file: SourceFile,
    span: Range<usize>,
    message: String,
    label: String,
    help: Option<String>,
}

impl Diagnostic {
    pub(crate) fn label(mut self, label: impl Into<String>) -> Self {
        self.0.label = label.into();
        self
    }

    pub(crate) fn help(mut self, help: Option<String>) -> Self {
        self.0.help = help;
        self
    }

    pub(crate) fn message(&self) -> &str {
        &self.0.message
    }

    pub(crate) fn help_text(&self) -> Option<&str> {
        self.0.help.as_deref()
    }

    /// `path:line:column`, for one-line mentions (JSON events, logs).
    pub(crate) fn location(&self) -> String {
        let (line, col) = self.0.file.line_col(self.0.span.start);
        format!("{}:{line}:{col}", self.0.file.path.display())
    }

    /// The full report: message, location, the source line with a caret, help.
    pub(crate) fn render(&self, color: bool) -> String {
        let path = self.0.file.path.display().to_string();
        let span = self.visible_span();
        let snippet = Snippet::source(&*self.0.file.text)
            .path(&path)
            .annotation(AnnotationKind::Primary.span(span).label(&self.0.label));
        let mut report = vec![Level::ERROR.primary_title(&self.0.message).element(snippet)];
        if let Some(help) = &self.0.help {
            report.push(Group::with_title(Level::HELP.secondary_title(help)));
        }
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        renderer.render(&report).to_string()
    }

    // A zero-width span (an error at end of file) still needs a caret.
    fn visible_span(&self) -> Range<usize> {
        let len = self.0.file.text.len();
        let start = self.0.span.start.min(len);
        let end = self.0.span.end.clamp(start, len);
        if start == end && end < len {
            start..end + 1
        } else {
            start..end
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location(), self.0.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_and_caret() {
        let file = SourceFile::new(
            Path::new("ferry.toml"),
            "name = \"x\"\ndeplo_to = 1\n".into(),
        );
        let rendered = file
            .error(11..19, "unknown key `deplo_to`")
            .label("not a ferry.toml key")
            .help(Some("did you mean `deploy_to`?".into()))
            .render(false);
        assert!(rendered.contains("ferry.toml:2:1"), "{rendered}");
        assert!(
            rendered.contains("^^^^^^^^ not a ferry.toml key"),
            "{rendered}"
        );
        assert!(
            rendered.contains("help: did you mean `deploy_to`?"),
            "{rendered}"
        );
    }

    #[test]
    fn counts_columns_in_characters() {
        let file = SourceFile::new(Path::new("f"), "a = \"é\" # x\nb".into());
        assert_eq!(file.line_col(11), (1, 11));
        assert_eq!(file.line_col(13), (2, 1));
    }
}
