//! The fleet file as diagnostics may show it: a literal `admin_password`, `access_key` or
//! `conn_str` (an error, but one a user makes) is masked before any source line is printed, so the password never reaches a
//! terminal, a CI log or a snapshot. Masking keeps every character's position, so lines and
//! columns stay true.

use super::document::Document;

/// The character a masked password character is replaced with.
const MASK: char = '*';

/// The keys whose value is a reference to a secret: anything else written there is a secret.
const SECRET_KEYS: [&str; 3] = ["admin_password", "access_key", "conn_str"];

/// The text of a fleet file with every literal secret (`SECRET_KEYS`) string masked, character for
/// character. Bytes that are not UTF-8 are decoded lossily, as diagnostics render them.
pub(crate) fn shown_source(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut masked: Vec<bool> = vec![false; text.len()];
    if let Ok((document, _)) = Document::parse(bytes) {
        for (path, entry) in document.entries() {
            // Whatever is written there but a reference table (a number is a password too).
            if path.last().is_some_and(|key| SECRET_KEYS.contains(&key.as_str())) && entry.kind != "table" {
                mark_string(&text, entry.value.clone(), &mut masked);
            }
        }
    }
    // Files with syntax errors index only what parsed: mask what the text plainly assigns.
    for key in SECRET_KEYS {
        for (at, _) in text.match_indices(key) {
            if let Some(value) = assigned_value(&text, at + key.len()) {
                mark_string(&text, value, &mut masked);
            }
        }
    }
    text.char_indices().map(|(at, c)| if masked[at] && c != '\n' { MASK } else { c }).collect()
}

/// Marks the characters between a string value's quotes (`span` covers the quotes).
fn mark_string(text: &str, span: std::ops::Range<usize>, masked: &mut [bool]) {
    let Some(literal) = text.get(span.clone()) else { return };
    let quotes = literal.chars().take_while(|c| *c == '"' || *c == '\'').count().min(3);
    let quotes = if quotes == 2 && literal.len() > 2 { 1 } else { quotes };
    let inner = span.start + quotes..span.end.saturating_sub(quotes).max(span.start + quotes);
    for flag in &mut masked[inner] {
        *flag = true;
    }
}

/// The byte range (quotes included) of a value assigned right after a key ending at `after`:
/// `admin_password = "…"` up to the closing quote or the end of the line, a multi-line string up
/// to its closing triple quote, or a bare value (`admin_password = 12345678`) up to a comma,
/// brace, comment or the end of the line.
fn assigned_value(text: &str, after: usize) -> Option<std::ops::Range<usize>> {
    let rest = text[after..].trim_start_matches(['"', '\'']).trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix('=')?.trim_start_matches([' ', '\t']);
    let start = text.len() - rest.len();
    let line_end = rest.find(['\n', '\r']).unwrap_or(rest.len());
    if let Some(triple) = ["\"\"\"", "\'\'\'"].into_iter().find(|triple| rest.starts_with(*triple)) {
        let end = rest[3..].find(triple).map_or(rest.len(), |at| 3 + at + 3);
        return Some(start..start + end);
    }
    let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        if rest.starts_with('{') {
            return None;
        }
        let bare = rest[..line_end].find([',', '}', '#']).unwrap_or(line_end);
        return Some(start..start + rest[..bare].trim_end().len());
    };
    let body = &rest[1..line_end];
    let mut escaped = false;
    let close = body.char_indices().find(|&(_, c)| {
        let closes = c == quote && !escaped;
        escaped = quote == '"' && c == '\\' && !escaped;
        closes
    });
    let end = close.map_or(line_end, |(at, _)| 1 + at + 1);
    Some(start..start + end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_literal_passwords_keeping_positions() {
        let source = "[servers.db]\nadmin_password = \"hunter2\"\nvcores = 2\n";
        let shown = shown_source(source.as_bytes());
        assert_eq!(shown, "[servers.db]\nadmin_password = \"*******\"\nvcores = 2\n");
    }

    #[test]
    fn masks_inline_tables_single_quotes_and_escapes() {
        let source = "servers.db = { admin_password = 'pa\"ss', vcores = 2 }\nb.admin_password=\"a\\\"b\"\n";
        let shown = shown_source(source.as_bytes());
        assert_eq!(
            shown,
            "servers.db = { admin_password = '*****', vcores = 2 }\nb.admin_password=\"****\"\n"
        );
    }

    #[test]
    fn masks_in_files_that_do_not_parse_and_leaves_references_alone() {
        let broken = "[servers.db\nadmin_password = \"s3cret  \n";
        assert!(!shown_source(broken.as_bytes()).contains("s3cret"));
        let reference = "admin_password = { env = \"PGFLEET_ADMIN_PASSWORD\" }\n";
        assert_eq!(shown_source(reference.as_bytes()), reference);
    }

    #[test]
    fn masks_bare_values_in_files_that_parse_or_not() {
        let number = "[servers.db]\nadmin_password = 12345678 # oops\nvcores = 2\n";
        assert_eq!(
            shown_source(number.as_bytes()),
            "[servers.db]\nadmin_password = ******** # oops\nvcores = 2\n"
        );
        let broken = "[servers.db\nadmin_password = 87654321\n";
        assert!(!shown_source(broken.as_bytes()).contains("87654321"));
        let multi = "[servers.db\nadmin_password = \"\"\"\nfirst-secret\nsecond-secret\"\"\"\nvcores = 2\n";
        let shown = shown_source(multi.as_bytes());
        assert!(
            !shown.contains("first") && !shown.contains("second") && shown.contains("vcores = 2"),
            "{shown}"
        );
    }

    #[test]
    fn masks_multi_line_strings() {
        let source = "admin_password = \"\"\"\nline-one\nline-two\"\"\"\n";
        let shown = shown_source(source.as_bytes());
        assert!(!shown.contains("line-one") && !shown.contains("line-two"), "{shown}");
        assert_eq!(shown.lines().count(), 3);
    }
}
