//! The fleet file as diagnostics may show it: a literal `admin_password` (an error, but one a
//! user makes) is masked before any source line is printed, so the password never reaches a
//! terminal, a CI log or a snapshot. Masking keeps every character's position, so lines and
//! columns stay true.

use super::document::Document;

/// The character a masked password character is replaced with.
const MASK: char = '*';

/// The text of a fleet file with every literal `admin_password` string masked, character for
/// character. Bytes that are not UTF-8 are decoded lossily, as diagnostics render them.
pub fn shown_source(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut masked: Vec<bool> = vec![false; text.len()];
    if let Ok((document, _)) = Document::parse(bytes) {
        for (path, entry) in &document.entries {
            if path.last().is_some_and(|key| key == "admin_password") && entry.kind == "string" {
                mark_string(&text, entry.value.clone(), &mut masked);
            }
        }
    }
    // Files with syntax errors index only what parsed: mask what any line plainly assigns.
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        for (at, _) in line.match_indices("admin_password") {
            if let Some(value) = assigned_string(line, at + "admin_password".len()) {
                mark_string(&text, offset + value.start..offset + value.end, &mut masked);
            }
        }
        offset += line.len();
    }
    text.char_indices().map(|(at, c)| if masked[at] && c != '\n' { MASK } else { c }).collect()
}

/// Marks the characters between a string value's quotes (`span` covers the quotes).
fn mark_string(text: &str, span: std::ops::Range<usize>, masked: &mut [bool]) {
    let Some(literal) = text.get(span.clone()) else { return };
    let quotes = literal.chars().take_while(|c| *c == '"' || *c == '\'').count().min(3);
    let inner = span.start + quotes..span.end.saturating_sub(quotes).max(span.start + quotes);
    for flag in &mut masked[inner] {
        *flag = true;
    }
}

/// The byte range (quotes included) of a string assigned right after a key ending at `after`:
/// `admin_password = "…"`, up to the closing quote or the end of the line.
fn assigned_string(line: &str, after: usize) -> Option<std::ops::Range<usize>> {
    let rest = &line[after..];
    let rest_trimmed = rest.trim_start_matches(['"', '\'']).trim_start();
    let rest_trimmed = rest_trimmed.strip_prefix('=')?.trim_start();
    let start = line.len() - rest_trimmed.len();
    let quote = rest_trimmed.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &rest_trimmed[1..];
    let mut escaped = false;
    let close = body.char_indices().find(|&(_, c)| {
        let closes = c == quote && !escaped;
        escaped = quote == '"' && c == '\\' && !escaped;
        closes
    });
    let end = match close {
        Some((at, _)) => start + 1 + at + 1,
        None => start + 1 + body.trim_end_matches(['\n', '\r']).len(),
    };
    Some(start..end)
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
    fn masks_multi_line_strings() {
        let source = "admin_password = \"\"\"\nline-one\nline-two\"\"\"\n";
        let shown = shown_source(source.as_bytes());
        assert!(!shown.contains("line-one") && !shown.contains("line-two"), "{shown}");
        assert_eq!(shown.lines().count(), 3);
    }
}
