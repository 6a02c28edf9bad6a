//! Structural checking: every key known, every value of the right type, every required key
//! present, all problems at once. The TOML is walked against what the raw serde types expect
//! ([`Expected`], derived from them), and each problem is reported at its key path with a
//! message a person can act on. Rules of the service are not checked here (see `validate`).

use super::document::{Document, KeyPath};
use super::finding::{Anchor, Finding, did_you_mean, display_path};
use super::schema::{Expected, KeyDoc};
use toml::{Table, Value};

/// Every structural problem of the document, at most one per key path.
pub(crate) fn check(document: &Document) -> Vec<Finding> {
    let mut findings = Vec::new();
    check_table(document, &document.root, &mut Vec::new(), Expected::fleet_file(), &mut findings);
    findings
}

/// A table against what it expects: unknown keys, each known key's value, required keys.
fn check_table(
    document: &Document,
    table: &Table,
    path: &mut KeyPath,
    expected: &Expected,
    findings: &mut Vec<Finding>,
) {
    let Expected::Table { keys, others } = expected else { return };
    for (key, value) in table {
        path.push(key.clone());
        match (keys.iter().find(|known| &known.name == key), others) {
            (Some(known), _) => check_value(document, value, path, &known.expected, findings),
            (None, Some(others)) => check_value(document, value, path, others, findings),
            (None, None) => findings.push(unknown_key(keys, path.clone())),
        }
        path.pop();
    }
    for known in keys.iter().filter(|known| known.required && !table.contains_key(&known.name)) {
        findings.push(missing_key(path.clone(), known));
    }
}

/// One value against what its key expects.
fn check_value(
    document: &Document,
    value: &Value,
    path: &mut KeyPath,
    expected: &Expected,
    findings: &mut Vec<Finding>,
) {
    match (expected, value) {
        (Expected::Table { .. }, Value::Table(table)) => {
            check_table(document, table, path, expected, findings)
        }
        (Expected::String { options }, Value::String(text)) => {
            if !options.is_empty() && !options.contains(text) {
                findings.push(not_an_option(path.clone(), text, options));
            }
        }
        (Expected::Integer { minimum, maximum }, Value::Integer(number)) => {
            let bound = match (minimum, maximum) {
                (Some(minimum), _) if number < minimum => Some(format!("at least {minimum}")),
                (_, Some(maximum)) if number > maximum => Some(format!("at most {maximum}")),
                _ => None,
            };
            if let Some(bound) = bound {
                findings.push(Finding::error(path.clone(), Anchor::Value, format!("must be {bound}")));
            }
        }
        (Expected::Boolean, Value::Boolean(_)) => {}
        (Expected::Scalar, Value::String(_) | Value::Integer(_) | Value::Float(_) | Value::Boolean(_)) => {}
        (Expected::Array(item), Value::Array(items)) => {
            for (index, value) in items.iter().enumerate() {
                path.push(index.to_string());
                check_value(document, value, path, item, findings);
                path.pop();
            }
        }
        (Expected::OneOf(choices), _) => {
            let fits = |choice: &Expected| {
                let mut problems = Vec::new();
                check_value(document, value, &mut path.clone(), choice, &mut problems);
                problems.is_empty()
            };
            if choices.iter().filter(|choice| fits(choice)).count() != 1 {
                findings.push(no_choice(document, path.clone(), value));
            }
        }
        _ => findings.push(wrong_type(document, path.clone(), expected)),
    }
}

fn unknown_key(keys: &[KeyDoc], at: KeyPath) -> Finding {
    let key = at.last().cloned().unwrap_or_default();
    let known: Vec<&str> = keys.iter().map(|known| known.name.as_str()).collect();
    let mut finding = Finding::error(at, Anchor::Key, format!("unknown key `{key}`"));
    finding.unknown_key = true;
    match did_you_mean(&key, known.iter().copied()) {
        Some(suggestion) => finding.with_hint(format!("did you mean `{suggestion}`?")),
        None if known.is_empty() => finding,
        None => finding.with_hint(format!("the keys allowed here are: {}", known.join(", "))),
    }
}

fn missing_key(table: KeyPath, missing: &KeyDoc) -> Finding {
    let key = &missing.name;
    let mut full = table.clone();
    full.push(key.clone());
    let message = if matches!(missing.expected, Expected::Table { .. }) {
        format!("missing the [{}] table", display_path(&full))
    } else if table.is_empty() {
        format!("missing required key `{key}`")
    } else {
        format!("missing required key `{key}` in [{}]", display_path(&table))
    };
    let finding = Finding::error(table, Anchor::Key, message).with_path(display_path(&full));
    match &missing.description {
        Some(description) => finding.with_hint(format!("`{key}`: {}", description.replace('\n', " "))),
        None => finding,
    }
}

/// A value of another TOML type than its key takes, with how to write it when that is a matter
/// of quotes or a decimal point.
fn wrong_type(document: &Document, path: KeyPath, expected: &Expected) -> Finding {
    let found = document.entry_at(&path).map_or("value", |entry| entry.kind);
    let wanted = match expected {
        Expected::Table { .. } => "a table",
        Expected::String { .. } => "a string",
        Expected::Integer { .. } => "an integer",
        Expected::Boolean => "a boolean (true or false)",
        Expected::Scalar => "a string, a number or a boolean",
        Expected::Array(_) => "an array",
        Expected::OneOf(_) => "another type",
    };
    let finding = Finding::error(path, Anchor::Value, format!("expected {wanted}, found {}", article(found)));
    match (wanted, found) {
        ("a string", "integer" | "float") => {
            let key = finding.at.last().cloned().unwrap_or_default();
            let written = document
                .entry_at(&finding.at)
                .and_then(|entry| document.text.get(entry.value.clone()))
                .unwrap_or("…")
                .to_string();
            finding.with_hint(format!("quote it: {key} = \"{written}\""))
        }
        ("an integer", "string") => finding.with_hint("write the number without quotes"),
        ("an integer", "float") => finding.with_hint("write a whole number, without a decimal point"),
        _ => finding,
    }
}

/// A value that fits none of its key's forms (the secret reference is the one such key).
fn no_choice(document: &Document, path: KeyPath, value: &Value) -> Finding {
    let found = document.entry_at(&path).map_or("value", |entry| entry.kind);
    let keys = value.as_table().map(|table| table.keys().cloned().collect()).unwrap_or_default();
    secret_problem(path, found, keys)
}

/// A value outside an enumeration (`tier = "GeneralPurpse"`), with the closest option.
fn not_an_option(path: KeyPath, value: &str, options: &[String]) -> Finding {
    let listed = options.iter().map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(", ");
    let key = path.last().cloned().unwrap_or_default();
    let finding = Finding::error(
        path,
        Anchor::Value,
        format!("\"{value}\" is not a valid {key}; expected one of {listed}"),
    );
    match did_you_mean(value, options.iter().map(String::as_str)) {
        Some(suggestion) => finding.with_hint(format!("did you mean \"{suggestion}\"?")),
        None => finding,
    }
}

/// A bad secret reference (`admin_password`, `access_key`, `conn_str`): most often a literal
/// secret, which must never be in the file; `keys` are the keys of the table when it is one.
fn secret_problem(path: KeyPath, found: &str, keys: Vec<String>) -> Finding {
    let key = path.last().cloned().unwrap_or_default();
    let (noun, indefinite, variable, file) = match key.as_str() {
        "access_key" => ("access key", "an", "AZURE_STORAGE_KEY", "storage.key"),
        "conn_str" => ("connection string", "a", "PGFLEET_STATE_PG", "state-pg.conn"),
        _ => ("password", "a", "PGFLEET_ADMIN_PASSWORD", "admin.password"),
    };
    let forms = format!("write {key} = {{ env = \"{variable}\" }} or {key} = {{ file = \"{file}\" }}");
    let names = |key: &str| keys.iter().any(|k| k == key);
    if found == "string" {
        Finding::error(
            path,
            Anchor::Value,
            format!(
                "a literal {noun} is not allowed: fleet files are committed, shared and shown in reviews, so the \
                 {noun} would leak"
            ),
        )
        .with_hint(format!("keep the {noun} out of the file: {forms}"))
    } else if found == "table" && names("env") && names("file") {
        Finding::error(
            path,
            Anchor::Value,
            format!(
                "names both an environment variable and a file; {indefinite} {noun} comes from one place"
            ),
        )
        .with_hint("keep either env = \"…\" or file = \"…\"")
    } else if found == "table" && keys.is_empty() {
        Finding::error(
            path,
            Anchor::Value,
            format!("is an empty table; it must say where the {noun} comes from"),
        )
        .with_hint(forms)
    } else if let Some(unknown) = keys.iter().find(|key| !["env", "file"].contains(&key.as_str())) {
        let hint = match did_you_mean(unknown, ["env", "file"]) {
            Some(suggestion) => format!("did you mean `{suggestion}`? {forms}"),
            None => forms,
        };
        Finding::error(path, Anchor::Value, format!("unknown key `{unknown}` in a secret reference"))
            .with_hint(hint)
    } else {
        Finding::error(path, Anchor::Value, format!("expected a secret reference, found {}", article(found)))
            .with_hint(forms)
    }
}

fn article(kind: &str) -> String {
    match kind {
        "integer" | "array" => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<(String, String)> {
        let (document, syntax) = Document::parse(text.as_bytes()).unwrap();
        assert!(syntax.is_empty(), "{syntax:?}");
        let mut found: Vec<(String, String)> =
            check(&document).into_iter().map(|finding| (finding.path, finding.message)).collect();
        found.sort();
        found
    }

    #[test]
    fn every_problem_of_every_table_at_once() {
        let found = problems(
            "[fleet]\ncolour = 1\n[provider]\nkind = \"azure\"\n[provider.azure]\nlocation = 5\n\
             [defaults]\nvcores = 99999999999999999999\nstorage_gb = -5\nversion = 11.0\n\
             [servers.a]\ntags = { team = true }\nadmin_password = { env = \"A\", file = \"b\" }\n",
        );
        let expected = [
            ("defaults.storage_gb", "must be at least 0"),
            ("defaults.vcores", "must be at most 4294967295"),
            ("defaults.version", "expected a string, found a float"),
            ("fleet.colour", "unknown key `colour`"),
            ("fleet.name", "missing required key `name` in [fleet]"),
            ("provider.azure.location", "expected a string, found an integer"),
            ("provider.azure.resource_group", "missing required key `resource_group` in [provider.azure]"),
            ("provider.azure.subscription_id", "missing required key `subscription_id` in [provider.azure]"),
            (
                "servers.a.admin_password",
                "names both an environment variable and a file; a password comes from one place",
            ),
            ("servers.a.tags.team", "expected a string, found a boolean"),
        ];
        let expected: Vec<(String, String)> =
            expected.iter().map(|(path, message)| (path.to_string(), message.to_string())).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn a_sound_file_has_no_structural_problem() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mixed-fleet.toml"));
        assert_eq!(problems(&text.unwrap()), []);
    }
}
