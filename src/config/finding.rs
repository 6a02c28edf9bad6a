//! A problem found by a checking stage, located by key path rather than by byte offset, and its
//! conversion into a positioned [`Diagnostic`]. Stages say *which* key is wrong; this module
//! alone turns that into `FILE:LINE:COLUMN`.

use super::diagnostics::{Diagnostic, Severity};
use super::document::{Document, KeyPath};
use std::ops::Range;
use std::path::Path;

/// Which part of an entry a finding points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The key (for a table, the name in its header).
    Key,
    /// The value.
    Value,
}

/// A problem at a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub severity: Severity,
    /// Where in the file: the entry at this path (or its nearest enclosing entry).
    pub at: KeyPath,
    pub anchor: Anchor,
    /// The key path shown to the user; differs from `at` for values inherited from `[defaults]`.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    /// An unknown key: the rest of its table can still be read and checked without it.
    pub unknown_key: bool,
    /// The service rule the problem breaks, when it is one (`rules::check`'s refusals).
    pub rule: Option<crate::rules::Rule>,
}

impl Finding {
    /// An error about the entry at `at`, shown under the same path.
    pub(crate) fn error(at: KeyPath, anchor: Anchor, message: impl Into<String>) -> Finding {
        let path = display_path(&at);
        Finding {
            severity: Severity::Error,
            at,
            anchor,
            path,
            message: message.into(),
            hint: None,
            unknown_key: false,
            rule: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = Some(hint.into());
        self
    }

    /// The service rule the finding reports.
    pub(crate) fn with_rule(mut self, rule: crate::rules::Rule) -> Finding {
        self.rule = Some(rule);
        self
    }

    pub(crate) fn with_path(mut self, path: String) -> Finding {
        self.path = path;
        self
    }

    pub(crate) fn warning(mut self) -> Finding {
        self.severity = Severity::Warning;
        self
    }

    /// The positioned diagnostic.
    pub(crate) fn locate(&self, file: &Path, document: &Document) -> Diagnostic {
        let (found, entry) = document.entry_or_parent(&self.at);
        let span = if found.is_empty() {
            0..0
        } else {
            match self.anchor {
                Anchor::Key => entry.key.clone(),
                Anchor::Value if found.len() < self.at.len() => entry.key.clone(),
                Anchor::Value => entry.value.clone(),
            }
        };
        positioned(file, document, span, self)
    }
}

/// A diagnostic for a byte range of the document.
pub(crate) fn positioned(
    file: &Path,
    document: &Document,
    span: Range<usize>,
    finding: &Finding,
) -> Diagnostic {
    let (line, column) = document.lines.position(&document.text, span.start);
    let (end_line, end_column) = document.lines.position(&document.text, span.end.max(span.start));
    Diagnostic {
        severity: finding.severity,
        file: file.to_path_buf(),
        line,
        column,
        end_line,
        end_column,
        path: finding.path.clone(),
        message: finding.message.clone(),
        hint: finding.hint.clone(),
        rule: finding.rule,
    }
}

/// A key path as users write it: `servers.pay-main.vcores`, quoting keys TOML would quote.
pub(crate) fn display_path(path: &[String]) -> String {
    let bare =
        |key: &str| !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let keys: Vec<String> =
        path.iter().map(|key| if bare(key) { key.clone() } else { format!("{key:?}") }).collect();
    keys.join(".")
}

/// Builds a key path from string slices.
pub(crate) fn key_path(keys: &[&str]) -> KeyPath {
    keys.iter().map(|key| key.to_string()).collect()
}

/// The candidate closest to `input`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(&input.to_lowercase(), &candidate.to_lowercase()), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_keys_that_need_it() {
        assert_eq!(display_path(&key_path(&["servers", "pay-main", "vcores"])), "servers.pay-main.vcores");
        assert_eq!(display_path(&key_path(&["servers", "a.b"])), "servers.\"a.b\"");
        assert_eq!(display_path(&[]), "");
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(did_you_mean("vcore", ["vcores", "version"]), Some("vcores"));
        assert_eq!(did_you_mean("storage_size", ["storage_gb", "tier"]), Some("storage_gb"));
        assert_eq!(did_you_mean("zzz", ["vcores", "tier"]), None);
    }
}
