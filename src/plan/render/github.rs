//! GitHub Actions output: workflow-command annotations (`::error file=…,line=…::message`) for
//! diagnostics, and appending the Markdown plan to the job summary (`$GITHUB_STEP_SUMMARY`).
//!
//! Annotations are a pure function of the items given (the CLI converts config diagnostics into
//! [`Annotation`]s and decides whether it runs on Actions). Only [`append_step_summary`] writes,
//! and only the text it is given; it never renders or reads the environment.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::Path;

/// How many annotations of each level GitHub shows per step; the rest are counted in one line.
pub(crate) const ANNOTATIONS_PER_LEVEL: usize = 10;

/// The workflow command an annotation becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AnnotationLevel {
    Error,
    Warning,
    Notice,
}

impl AnnotationLevel {
    /// The workflow command's name.
    pub fn command(self) -> &'static str {
        match self {
            AnnotationLevel::Error => "error",
            AnnotationLevel::Warning => "warning",
            AnnotationLevel::Notice => "notice",
        }
    }
}

/// A message GitHub shows on a line of a file in the pull request and the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub level: AnnotationLevel,
    /// The path relative to the repository root (`fleet.toml`).
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub title: String,
    /// May span lines.
    pub message: String,
}

/// The workflow-command lines for `items`, at most [`ANNOTATIONS_PER_LEVEL`] per level in the
/// given order, then one plain line per level counting the rest. Each line ends in a newline.
pub fn annotations(items: &[Annotation]) -> String {
    let mut out = String::new();
    let levels = [AnnotationLevel::Error, AnnotationLevel::Warning, AnnotationLevel::Notice];
    let mut shown = [0usize; 3];
    let mut hidden = [0usize; 3];
    for item in items {
        let slot = levels.iter().position(|level| *level == item.level).unwrap_or(0);
        if shown[slot] == ANNOTATIONS_PER_LEVEL {
            hidden[slot] += 1;
            continue;
        }
        shown[slot] += 1;
        out.push_str(&command(item));
    }
    for (level, count) in levels.iter().zip(hidden) {
        if count > 0 {
            let noun = if count == 1 { level.command().to_string() } else { format!("{}s", level.command()) };
            let _ = writeln!(
                out,
                "pgfleet: {count} more {noun} not shown as annotations (GitHub shows {ANNOTATIONS_PER_LEVEL} per step); see the messages above"
            );
        }
    }
    out
}

fn command(item: &Annotation) -> String {
    let mut properties = vec![
        format!("file={}", escape_property(&item.file)),
        format!("line={}", item.line),
        format!("col={}", item.column),
    ];
    if let Some(end_line) = item.end_line {
        properties.push(format!("endLine={end_line}"));
    }
    if let Some(end_column) = item.end_column {
        properties.push(format!("endColumn={end_column}"));
    }
    properties.push(format!("title={}", escape_property(&item.title)));
    format!("::{} {}::{}\n", item.level.command(), properties.join(","), escape_data(&item.message))
}

/// Escapes a command's message as the Actions toolkit does: `%`, CR and LF.
pub(crate) fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a command property: as data, plus `:` and `,`.
pub(crate) fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Appends `markdown` (rendered with [`super::STEP_SUMMARY_BUDGET`]) to the job summary file,
/// creating it if needed, ending with a newline.
///
/// # Errors
///
/// Returns the I/O error when the file cannot be opened or written.
pub(crate) fn append_step_summary(path: &Path, markdown: &str) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(markdown.as_bytes())?;
    if !markdown.ends_with('\n') {
        file.write_all(b"\n")?;
    }
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(level: AnnotationLevel, message: &str) -> Annotation {
        Annotation {
            level,
            file: "fleet.toml".into(),
            line: 12,
            column: 3,
            end_line: None,
            end_column: None,
            title: "storage".into(),
            message: message.into(),
        }
    }

    #[test]
    fn messages_and_properties_are_escaped() {
        let annotation = Annotation {
            file: "fleets/prod,eu:1.toml".into(),
            end_line: Some(12),
            end_column: Some(20),
            title: "E012: storage, shrink 100%".into(),
            message: "storage cannot shrink: 100% used, a,b\r\nhelp: raise it".into(),
            ..item(AnnotationLevel::Error, "")
        };
        assert_eq!(
            annotations(&[annotation]),
            "::error file=fleets/prod%2Ceu%3A1.toml,line=12,col=3,endLine=12,endColumn=20,\
             title=E012%3A storage%2C shrink 100%25::storage cannot shrink: 100%25 used, a,b%0D%0Ahelp: raise it\n"
        );
    }

    #[test]
    fn at_most_ten_per_level_with_a_count_of_the_rest() {
        let mut items: Vec<Annotation> =
            (0..13).map(|index| item(AnnotationLevel::Error, &format!("error {index}"))).collect();
        items.extend((0..11).map(|index| item(AnnotationLevel::Warning, &format!("warning {index}"))));
        items.push(item(AnnotationLevel::Notice, "notice"));
        let text = annotations(&items);
        assert_eq!(text.lines().filter(|line| line.starts_with("::error ")).count(), 10);
        assert_eq!(text.lines().filter(|line| line.starts_with("::warning ")).count(), 10);
        assert_eq!(text.lines().filter(|line| line.starts_with("::notice ")).count(), 1);
        assert!(text.contains("::error 9\n"));
        assert!(!text.contains("error 10"));
        assert!(text.contains("pgfleet: 3 more errors not shown as annotations"));
        assert!(text.contains("pgfleet: 1 more warning not shown as annotations"));
        assert!(!text.contains("more notice"));
    }

    #[test]
    fn step_summary_is_appended() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("summary.md");
        std::fs::write(&path, "# earlier step\n").unwrap();
        append_step_summary(&path, "### plan").unwrap();
        append_step_summary(&path, "more\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# earlier step\n### plan\nmore\n");
    }
}
