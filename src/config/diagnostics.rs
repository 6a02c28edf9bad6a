//! Positioned diagnostics: what is wrong with a fleet file, where (`FILE:LINE:COLUMN` and the key
//! path), and how to fix it; rendered like a compiler's messages. Plain data, so other renderers
//! (GitHub annotations) can be built on the public fields. This module never reads files.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// How serious a diagnostic is: errors make the fleet file invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem in a fleet file. Lines and columns are 1-based; columns count characters. The
/// end is exclusive and on the same line or a later one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The fleet file, as the user named it.
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// The key path the problem is about (`servers.pay-ro-1.vcores`); empty for the whole file.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when pgfleet knows.
    pub hint: Option<String>,
    /// The service rule the problem breaks, when it is one: its code is the one every backend
    /// answers with (`docs/service-rules.md`).
    pub rule: Option<crate::rules::Rule>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}: ", self.file.display(), self.line, self.column, self.severity.as_str())?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Every problem found in one fleet file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors (not the warnings).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// Renders every diagnostic like a compiler does: the message, `--> FILE:LINE:COLUMN`, the
    /// source line with a caret under the problem, and the hint. `source` is the fleet file's
    /// text (lossily decoded when it is not UTF-8). Colour only when `color` is set.
    pub fn render(&self, source: &str, color: bool) -> String {
        let renderer = if color { Renderer::styled() } else { Renderer::plain() };
        let lines = LineStarts::new(source);
        let mut out = String::new();
        for diagnostic in &self.0 {
            out.push_str(&renderer.render(&[group(diagnostic, source, &lines)]));
            out.push_str("\n\n");
        }
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// One diagnostic as an annotate-snippets group, showing only the lines it spans so that huge
/// files render as fast as small ones.
fn group<'a>(diagnostic: &'a Diagnostic, source: &'a str, lines: &LineStarts) -> Group<'a> {
    let level = match diagnostic.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let title = if diagnostic.path.is_empty() {
        diagnostic.message.clone()
    } else {
        format!("{}: {}", diagnostic.path, diagnostic.message)
    };
    let path = diagnostic.file.display().to_string();
    let first = diagnostic.line.max(1);
    let last = diagnostic.end_line.max(first);
    let (excerpt, excerpt_start) = lines.excerpt(source, first, last);
    let start = char_offset(excerpt, 0, diagnostic.column);
    let end_line_offset = lines.start_of(last).saturating_sub(excerpt_start);
    let end = if last == first && diagnostic.end_column <= diagnostic.column {
        start
    } else {
        char_offset(excerpt, end_line_offset, diagnostic.end_column)
    };
    let span: Range<usize> = start..end.max(start);
    let snippet =
        Snippet::source(excerpt).line_start(first).path(path).annotation(AnnotationKind::Primary.span(span));
    let mut result = level.primary_title(title).element(snippet);
    if let Some(hint) = &diagnostic.hint {
        result = result.element(Level::HELP.message(hint.as_str()));
    }
    result
}

/// The byte offset, within `text`, of 1-based character `column` of the line starting at byte
/// `line_start`, clamped to that line.
fn char_offset(text: &str, line_start: usize, column: usize) -> usize {
    let line_start = line_start.min(text.len());
    let rest = &text[line_start..];
    let line_len = rest.find('\n').unwrap_or(rest.len());
    let offset = rest[..line_len].char_indices().nth(column.saturating_sub(1)).map_or(line_len, |(i, _)| i);
    line_start + offset
}

/// Where each line of a text starts, for turning byte offsets into lines and columns.
#[derive(Debug, Clone)]
pub(crate) struct LineStarts {
    starts: Vec<usize>,
    len: usize,
}

impl LineStarts {
    pub(crate) fn new(text: &str) -> LineStarts {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineStarts { starts, len: text.len() }
    }

    /// The 1-based line and character column of a byte offset (clamped to the text, and moved
    /// back to a character boundary).
    pub(crate) fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.len);
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset);
        let line_start = self.starts[line - 1];
        (line, text[line_start..offset].chars().count() + 1)
    }

    /// The byte offset where 1-based `line` starts (the end of the text past the last line).
    fn start_of(&self, line: usize) -> usize {
        self.starts.get(line.saturating_sub(1)).copied().unwrap_or(self.len)
    }

    /// Lines `first..=last` of the text (without the final newline) and their start offset.
    fn excerpt<'a>(&self, text: &'a str, first: usize, last: usize) -> (&'a str, usize) {
        let start = self.start_of(first).min(text.len());
        let end = self.start_of(last + 1).min(text.len()).max(start);
        let excerpt = text[start..end].strip_suffix('\n').unwrap_or(&text[start..end]);
        (excerpt.strip_suffix('\r').unwrap_or(excerpt), start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostic(line: usize, column: usize, end_column: usize) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: PathBuf::from("fleet.toml"),
            line,
            column,
            end_line: line,
            end_column,
            path: "servers.pay-ro-1.vcores".into(),
            message: "is below its primary's".into(),
            hint: Some("raise it to 8 or more".into()),
            rule: None,
        }
    }

    #[test]
    fn positions_count_characters_and_lines_from_one() {
        let text = "a = 1\nné = 2\n";
        let lines = LineStarts::new(text);
        assert_eq!(lines.position(text, 0), (1, 1));
        assert_eq!(lines.position(text, 6), (2, 1));
        assert_eq!(lines.position(text, 9), (2, 3));
        assert_eq!(lines.position(text, 8), (2, 2), "inside é moves back to its start");
        assert_eq!(lines.position(text, 999), (3, 1));
    }

    #[test]
    fn renders_the_source_line_with_a_caret_and_the_hint() {
        let source = "[servers.pay-ro-1]\nvcores = 4\n";
        let rendered = Diagnostics(vec![diagnostic(2, 10, 11)]).render(source, false);
        assert!(rendered.contains("error: servers.pay-ro-1.vcores: is below its primary's"), "{rendered}");
        assert!(rendered.contains("--> fleet.toml:2:10"), "{rendered}");
        assert!(rendered.contains("2 | vcores = 4"), "{rendered}");
        assert!(rendered.contains("^"), "{rendered}");
        assert!(rendered.contains("help: raise it to 8 or more"), "{rendered}");
        assert!(!rendered.contains('\u{1b}'), "no colour when off");
        assert!(Diagnostics(vec![diagnostic(2, 10, 11)]).render(source, true).contains('\u{1b}'));
    }

    #[test]
    fn renders_positions_past_the_end_without_panicking() {
        let rendered = Diagnostics(vec![diagnostic(40, 90, 1)]).render("short", false);
        assert!(rendered.contains("is below"), "{rendered}");
    }

    #[test]
    fn one_line_form_names_file_line_column_and_path() {
        let text = diagnostic(2, 10, 11).to_string();
        assert_eq!(
            text,
            "fleet.toml:2:10: error: servers.pay-ro-1.vcores: is below its primary's (hint: raise it to 8 or more)"
        );
    }
}
