//! The fleet file as a spanned TOML document: decoding the bytes, parsing with error recovery
//! (every syntax error, duplicate keys included), and two views of the result: the TOML values
//! (`toml::Table`, which structural checking walks and the sections are read from), and an index
//! from key paths to where each key and value is written. This module knows TOML, not the fleet
//! file's keys.

use super::diagnostics::LineStarts;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

/// A key path: the keys from the document's root (`["servers", "pay-main", "vcores"]`).
pub(crate) type KeyPath = Vec<String>;

/// How many syntax errors are reported before the rest are summarised: garbage files produce
/// one per line, and nobody reads the ten-thousandth.
const MAX_SYNTAX_ERRORS: usize = 50;

/// Where one key and its value are written, and what kind of TOML value it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The key (for `[servers.x]` the `x` of the header).
    pub key: Range<usize>,
    pub value: Range<usize>,
    /// The TOML type of the value (`integer`, `string`, `table` …).
    pub kind: &'static str,
}

/// A problem found while reading the document, as a byte range and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxProblem {
    pub span: Range<usize>,
    pub message: String,
    pub hint: Option<String>,
}

/// The parsed fleet file.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    /// The file's text (the bytes, when they are UTF-8).
    pub text: String,
    pub lines: LineStarts,
    /// The document's values. An integer too large for TOML's 64 bits is kept saturated
    /// (`i64::MAX` or `i64::MIN`): every integer key of the fleet file has a far smaller bound,
    /// which it then breaks.
    pub root: Table,
    /// Where the keys of the first two levels are written (`[servers.NAME]` headers among them),
    /// indexed with the parse.
    shallow: HashMap<KeyPath, Entry>,
    /// Where every key is written: built on first use (only diagnostics need it), by parsing the
    /// text again, so a clean file never pays for it.
    entries: std::sync::OnceLock<BTreeMap<KeyPath, Entry>>,
}

impl Document {
    /// Decodes and parses a fleet file. Syntax problems are returned with whatever could be
    /// recovered; a file that is not UTF-8 yields no document.
    pub fn parse(bytes: &[u8]) -> Result<(Document, Vec<SyntaxProblem>), (String, SyntaxProblem)> {
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text.to_string(),
            Err(error) => {
                let at = error.valid_up_to();
                let problem = SyntaxProblem {
                    span: at..at + 1,
                    message: format!("the file is not UTF-8: invalid byte 0x{:02X}", bytes[at]),
                    hint: Some("TOML files must be UTF-8; save the file as UTF-8".into()),
                };
                return Err((String::from_utf8_lossy(bytes).into_owned(), problem));
            }
        };
        let (root, errors) = DeTable::parse_recoverable(&text);
        let mut problems: Vec<SyntaxProblem> = errors
            .iter()
            .take(MAX_SYNTAX_ERRORS)
            .map(|error| {
                let span = error.span().unwrap_or(0..0);
                let mut message = error.message().trim_end().replace('\n', "; ");
                if message == "duplicate key" {
                    if let Some(key) = text.get(span.clone()).filter(|key| !key.is_empty()) {
                        message = format!("duplicate key `{key}`");
                    }
                }
                SyntaxProblem { span, message, hint: None }
            })
            .collect();
        if errors.len() > MAX_SYNTAX_ERRORS {
            let last = problems.last().map_or(0..0, |p| p.span.clone());
            problems.push(SyntaxProblem {
                span: last,
                message: format!("{} more syntax errors not shown", errors.len() - MAX_SYNTAX_ERRORS),
                hint: Some("is this a TOML fleet file?".into()),
            });
        }
        let mut shallow = HashMap::new();
        shallow.insert(Vec::new(), Entry { key: 0..0, value: root.span(), kind: "table" });
        index_table(root.get_ref(), &mut Vec::new(), SHALLOW_DEPTH, &mut shallow);
        let root = to_table(root.get_ref());
        let lines = LineStarts::new(&text);
        let document = Document { text, lines, root, shallow, entries: std::sync::OnceLock::new() };
        for problem in &mut problems {
            if let Some(line) = document.first_occurrence(problem) {
                problem.hint = Some(format!("it is first set on line {line}; keep one of them"));
            }
        }
        Ok((document, problems))
    }

    /// Every key path of the document with where its key and value are written.
    pub(crate) fn entries(&self) -> &BTreeMap<KeyPath, Entry> {
        self.entries.get_or_init(|| {
            let (root, _) = DeTable::parse_recoverable(&self.text);
            let mut entries = BTreeMap::new();
            entries.insert(Vec::new(), Entry { key: 0..0, value: root.span(), kind: "table" });
            index_table(root.get_ref(), &mut Vec::new(), usize::MAX, &mut entries);
            entries
        })
    }

    /// The entry at a path.
    pub(crate) fn entry_at(&self, path: &[String]) -> Option<&Entry> {
        if path.len() <= SHALLOW_DEPTH { self.shallow.get(path) } else { self.entries().get(path) }
    }

    /// For a duplicate key, the line of its first occurrence: the nearest key of the same name
    /// written before it (the parser keeps the first one, so the index has it).
    fn first_occurrence(&self, problem: &SyntaxProblem) -> Option<usize> {
        let duplicate = problem.message.strip_prefix("duplicate key `")?.strip_suffix('`')?;
        let first = self
            .entries()
            .iter()
            .filter(|(path, entry)| {
                path.last().is_some_and(|key| key == duplicate) && entry.key.end <= problem.span.start
            })
            .map(|(_, entry)| entry.key.start)
            .max()?;
        Some(self.lines.position(&self.text, first).0)
    }

    /// The entry at a path, or the nearest enclosing one that exists.
    pub(crate) fn entry_or_parent<'a>(&'a self, path: &'a [String]) -> (&'a [String], &'a Entry) {
        let mut length = path.len();
        loop {
            if let Some(entry) = self.entry_at(&path[..length]) {
                return (&path[..length], entry);
            }
            // The root's entry always exists, so this stops at zero.
            length -= 1;
        }
    }

    pub(crate) fn entry(&self, path: &[&str]) -> Option<&Entry> {
        let path: KeyPath = path.iter().map(|s| s.to_string()).collect();
        self.entry_at(&path)
    }
}

fn to_table(table: &DeTable<'_>) -> Table {
    table.iter().map(|(key, value)| (key.get_ref().to_string(), to_value(value.get_ref()))).collect()
}

fn to_value(value: &DeValue<'_>) -> Value {
    match value {
        DeValue::String(text) => Value::String(text.to_string()),
        DeValue::Integer(integer) => {
            let digits = integer.as_str();
            let saturated = if digits.starts_with('-') { i64::MIN } else { i64::MAX };
            Value::Integer(i64::from_str_radix(digits, integer.radix()).unwrap_or(saturated))
        }
        DeValue::Float(float) => Value::Float(float.as_str().replace('_', "").parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(flag) => Value::Boolean(*flag),
        DeValue::Datetime(datetime) => Value::Datetime(*datetime),
        DeValue::Array(items) => Value::Array(items.iter().map(|item| to_value(item.get_ref())).collect()),
        DeValue::Table(table) => Value::Table(to_table(table)),
    }
}

/// How deep the index built with the parse goes.
const SHALLOW_DEPTH: usize = 2;

/// Indexes the keys of `table` and, down to `depth` keys from the root, the keys inside them.
fn index_table(
    table: &DeTable<'_>,
    path: &mut KeyPath,
    depth: usize,
    entries: &mut impl Extend<(KeyPath, Entry)>,
) {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        let entry = Entry { key: key.span(), value: value.span(), kind: value.get_ref().type_str() };
        entries.extend([(path.clone(), entry)]);
        if path.len() < depth {
            index_value(value.get_ref(), path, depth, entries);
        }
        path.pop();
    }
}

fn index_value(
    value: &DeValue<'_>,
    path: &mut KeyPath,
    depth: usize,
    entries: &mut impl Extend<(KeyPath, Entry)>,
) {
    match value {
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(index.to_string());
                let entry = Entry { key: item.span(), value: item.span(), kind: item.get_ref().type_str() };
                entries.extend([(path.clone(), entry)]);
                if path.len() < depth {
                    index_value(item.get_ref(), path, depth, entries);
                }
                path.pop();
            }
        }
        DeValue::Table(table) => index_table(table, path, depth, entries),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_of_headers_inline_tables_and_dotted_keys() {
        let text =
            "[fleet]\nname = \"x\"\n\n[servers.pay-main]\nvcores = 8\nadmin_password = { env = \"P\" }\n";
        let (document, problems) = Document::parse(text.as_bytes()).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let server = document.entry(&["servers", "pay-main"]).unwrap();
        assert_eq!(&text[server.key.clone()], "pay-main");
        let vcores = document.entry(&["servers", "pay-main", "vcores"]).unwrap();
        assert_eq!(&text[vcores.value.clone()], "8");
        assert_eq!(vcores.kind, "integer");
        let env = document.entry(&["servers", "pay-main", "admin_password", "env"]).unwrap();
        assert_eq!(&text[env.value.clone()], "\"P\"");
        assert_eq!(document.root["servers"]["pay-main"]["vcores"].as_integer(), Some(8));
    }

    #[test]
    fn floats_datetimes_and_huge_integers_keep_their_kind() {
        let (document, _) = Document::parse(
            b"a = 8.0\nb = 1979-05-27\nc = 99999999999999999999\nd = -99999999999999999999\n",
        )
        .unwrap();
        assert!(document.root["a"].is_float());
        assert!(document.root["b"].is_datetime());
        assert_eq!(document.entry(&["a"]).unwrap().kind, "float");
        assert_eq!(document.root["c"].as_integer(), Some(i64::MAX));
        assert_eq!(document.root["d"].as_integer(), Some(i64::MIN));
    }

    #[test]
    fn duplicate_keys_are_syntax_errors_with_positions() {
        let text = "[fleet]\nname = \"a\"\nname = \"b\"\n";
        let (_, problems) = Document::parse(text.as_bytes()).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].span.start >= text.find("name = \"b\"").unwrap(), "{problems:?}");
        assert_eq!(problems[0].hint.as_deref(), Some("it is first set on line 2; keep one of them"));
    }

    #[test]
    fn non_utf8_names_the_bad_byte() {
        let (_, problem) = Document::parse(b"[fleet]\nname = \"\xff\"\n").unwrap_err();
        assert_eq!(problem.span, 16..17);
        assert!(problem.message.contains("0xFF"));
    }
}
