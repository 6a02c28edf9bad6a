//! `pgfleet fmt`: the canonical layout of a fleet file, written with `toml_edit` so that every
//! comment stays where it was. Keys of a table are in the order the fleet file's model lists them
//! (`[fleet]`, `[provider]`, `[state]`, `[defaults]`, `[servers.NAME]`; `name`, `kind`, …), keys
//! it does not know after them as written, servers in the order written; `key = value` with one
//! space around `=`, no indentation, one blank line before each table header, one newline at
//! the end. Values are kept as written. A pure function of the text: no I/O.

use super::schema::Expected;
use toml_edit::{DocumentMut, Item, Table};

/// Why a file could not be formatted: it is not TOML (nothing is rewritten).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(String);

/// The text in the canonical layout (the same text when it already is).
///
/// # Errors
/// When the text is not TOML, with the parser's message and position.
pub fn format(text: &str) -> Result<String, FormatError> {
    let (header, body) = file_header(text);
    let mut document: DocumentMut = body
        .parse()
        .map_err(|error: toml_edit::TomlError| FormatError(error.to_string().trim_end().to_string()))?;
    let mut next_position = 0isize;
    format_table(document.as_table_mut(), &mut Vec::new(), &mut next_position);
    let mut formatted = header;
    formatted.push_str(document.to_string().trim_end());
    formatted.push('\n');
    Ok(formatted)
}

/// The file's own comments: the comment lines before the first key or table that a blank line
/// separates from it (`#:schema …`, what the file is), which stay at the top whatever moves;
/// and the rest of the text. The header ends with one blank line.
fn file_header(text: &str) -> (String, &str) {
    let mut offset = 0;
    let mut header_end = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            header_end = Some(offset + line.len());
        } else if !trimmed.starts_with('#') {
            break;
        }
        offset += line.len();
    }
    let Some(end) = header_end else { return (String::new(), text) };
    let comments: Vec<&str> = text[..end].lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    if comments.is_empty() {
        return (String::new(), &text[end..]);
    }
    (format!("{}\n\n", comments.join("\n")), &text[end..])
}

/// Orders and spaces one table, then its subtables (in the same order), numbering header
/// tables so the document prints them in that order.
fn format_table(table: &mut Table, path: &mut Vec<String>, next_position: &mut isize) {
    let known = match Expected::fleet_file().at(path) {
        // An entry of an array of tables (`[[servers.NAME.schedule]]`) takes its item's keys.
        Some(Expected::Array(item)) => item.key_names(),
        Some(expected) => expected.key_names(),
        None => Vec::new(),
    };
    let rank = |key: &str| known.iter().position(|name| *name == key).unwrap_or(known.len());
    table.sort_values_by(|a, _, b, _| rank(a.get()).cmp(&rank(b.get())));
    if table.position().is_some() && !table.is_implicit() {
        table.set_position(Some(*next_position));
        *next_position += 1;
        tidy_lines(table.decor_mut(), *next_position > 1);
        tidy_suffix(table.decor_mut());
    }
    let mut first_key = true;
    for (mut key, item) in table.iter_mut() {
        match item {
            Item::Value(value) => {
                let gap = !first_key && starts_with_gap(key.leaf_decor());
                first_key = false;
                tidy_lines(key.leaf_decor_mut(), gap);
                key.leaf_decor_mut().set_suffix(" ");
                value.decor_mut().set_prefix(" ");
                tidy_suffix(value.decor_mut());
            }
            Item::Table(child) => {
                path.push(key.get().to_string());
                format_table(child, path, next_position);
                path.pop();
            }
            Item::ArrayOfTables(array) => {
                path.push(key.get().to_string());
                for child in array.iter_mut() {
                    format_table(child, path, next_position);
                }
                path.pop();
            }
            Item::None => {}
        }
    }
}

/// The lines before a key or a header: comments unindented, runs of blank lines made one,
/// no blank line first unless `blank_before` asks for one.
fn tidy_lines(decor: &mut toml_edit::Decor, blank_before: bool) {
    let prefix = decor.prefix().and_then(|prefix| prefix.as_str()).unwrap_or("").to_string();
    // The last piece after the final line break is the key's own indentation.
    let mut pieces: Vec<&str> = prefix.split('\n').map(str::trim).collect();
    pieces.pop();
    let mut tidy = String::from(if blank_before { "\n" } else { "" });
    let mut previous_blank = true;
    for piece in pieces {
        if piece.is_empty() && previous_blank {
            continue;
        }
        previous_blank = piece.is_empty();
        tidy.push_str(piece);
        tidy.push('\n');
    }
    decor.set_prefix(tidy);
}

/// A trailing comment after a value or a header, one space after it; nothing else.
fn tidy_suffix(decor: &mut toml_edit::Decor) {
    let comment = decor.suffix().and_then(|suffix| suffix.as_str()).map(str::trim).unwrap_or("");
    let suffix = if comment.is_empty() { String::new() } else { format!(" {comment}") };
    decor.set_suffix(suffix);
}

/// Whether the lines before a key start with a blank line (a paragraph break the file made).
fn starts_with_gap(decor: &toml_edit::Decor) -> bool {
    let prefix = decor.prefix().and_then(|prefix| prefix.as_str()).unwrap_or("");
    prefix.trim_start_matches([' ', '\t']).starts_with('\n')
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn keys_in_model_order_comments_kept_spacing_normalised() {
        let text = "# the payments fleet\n[servers.pay-main]\n  vcores=8 # busy\n\n\ntier =   \"GeneralPurpose\"\n[provider]\nkind = \"local\"\n\n\n\n# who we are\n[fleet]\nname = \"payments\"\n";
        let formatted = format(text).unwrap();
        assert_eq!(
            formatted,
            "# who we are\n[fleet]\nname = \"payments\"\n\n[provider]\nkind = \"local\"\n\n# the payments fleet\n[servers.pay-main]\ntier = \"GeneralPurpose\"\nvcores = 8 # busy\n"
        );
        assert_eq!(format(&formatted).unwrap(), formatted, "formatting twice changes nothing");
    }

    #[test]
    fn the_files_own_comments_stay_at_the_top() {
        let text = "#:schema ../schemas/fleet.schema.json\n# A fleet.\n\n# the provider\n[provider]\nkind = \"local\"\n\n[fleet]\nname = \"x\"\n";
        assert_eq!(
            format(text).unwrap(),
            "#:schema ../schemas/fleet.schema.json\n# A fleet.\n\n[fleet]\nname = \"x\"\n\n# the provider\n[provider]\nkind = \"local\"\n"
        );
    }

    #[test]
    fn timetable_entries_are_ordered_too() {
        let text = "[[servers.orders.schedule]]\nsku = \"Standard_D4ds_v5\"\nto = \"18:00\"\nfrom = \"08:00\"\ndays = \"Mon-Fri\"\n";
        let formatted = format(text).unwrap();
        let keys: Vec<&str> = formatted.lines().skip(1).map(|line| line.split(' ').next().unwrap()).collect();
        let expected = super::Expected::fleet_file().at(&["servers".into(), "x".into(), "schedule".into()]);
        let Some(super::Expected::Array(item)) = expected else {
            panic!("schedule is an array: {expected:?}")
        };
        let order: Vec<&str> = item.key_names().into_iter().filter(|key| keys.contains(key)).collect();
        assert_eq!(keys, order, "{formatted}");
        assert_ne!(keys, ["sku", "to", "from", "days"], "reordered");
    }

    #[test]
    fn not_toml_is_an_error() {
        assert!(format("[fleet\nname = 1\n").is_err());
    }
}
