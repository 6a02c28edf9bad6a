//! Structural checking: every key known, every value of the right type, every required key
//! present, all problems at once. The document's JSON rendering is validated against the schema
//! derived from the raw serde types, and each schema error is mapped back to its key path with
//! a message a person can act on. Rules of the service are not checked here (see `validate`).

use super::document::{Document, KeyPath};
use super::finding::{Anchor, Finding, did_you_mean, display_path};
use super::schema::{fleet_schema, known_keys, schema_at};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The schema and its compiled validator, built once.
static SCHEMA: LazyLock<(Value, jsonschema::Validator)> = LazyLock::new(|| {
    let schema = fleet_schema();
    let validator =
        jsonschema::validator_for(&schema).expect("the derived fleet schema is a valid JSON schema");
    (schema, validator)
});

/// Every structural problem of the document, at most one per key path, in path order.
pub(crate) fn check(document: &Document) -> Vec<Finding> {
    let (schema, validator) = &*SCHEMA;
    // One finding per key path: a value of the wrong type fails `type` and `enum` alike, and
    // the type error (priority 0) is the one worth reading.
    let mut by_path: BTreeMap<(KeyPath, String, u8), Finding> = BTreeMap::new();
    for error in validator.iter_errors(&document.json) {
        let path: KeyPath = error
            .instance_path()
            .iter()
            .map(|segment| match segment {
                LocationSegment::Property(name) => name.to_string(),
                LocationSegment::Index(index) => index.to_string(),
            })
            .collect();
        for (priority, finding) in describe(document, schema, path, error.kind()) {
            by_path.entry((finding.at.clone(), finding.path.clone(), priority)).or_insert(finding);
        }
    }
    let mut findings: Vec<Finding> = Vec::new();
    for finding in by_path.into_values() {
        if findings.last().is_none_or(|last| (&last.at, &last.path) != (&finding.at, &finding.path)) {
            findings.push(finding);
        }
    }
    findings
}

/// The findings one schema error stands for, each with a priority (lower wins when one key
/// path has several).
fn describe(
    document: &Document,
    schema: &Value,
    path: KeyPath,
    kind: &ValidationErrorKind,
) -> Vec<(u8, Finding)> {
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|key| {
                let mut at = path.clone();
                at.push(key.clone());
                (0, unknown_key(schema, &path, at))
            })
            .collect(),
        ValidationErrorKind::Required { property } => {
            let key = property.as_str().unwrap_or_default().to_string();
            vec![(1, missing_key(schema, path, key))]
        }
        _ => vec![(
            if matches!(kind, ValidationErrorKind::Type { .. }) { 0 } else { 1 },
            wrong_value(document, schema, path, kind),
        )],
    }
}

fn unknown_key(schema: &Value, table: &[String], at: KeyPath) -> Finding {
    let key = at.last().cloned().unwrap_or_default();
    let known = known_keys(schema, table);
    let mut finding = Finding::error(at, Anchor::Key, format!("unknown key `{key}`"));
    finding.unknown_key = true;
    match did_you_mean(&key, known.iter().map(String::as_str)) {
        Some(suggestion) => finding.with_hint(format!("did you mean `{suggestion}`?")),
        None if known.is_empty() => finding,
        None => finding.with_hint(format!("the keys allowed here are: {}", known.join(", "))),
    }
}

fn missing_key(schema: &Value, table: KeyPath, key: String) -> Finding {
    let mut full = table.clone();
    full.push(key.clone());
    let is_table = schema_at(schema, &full).and_then(|s| s.get("type")).is_some_and(|t| t == "object");
    let message = if is_table {
        format!("missing the [{}] table", display_path(&full))
    } else if table.is_empty() {
        format!("missing required key `{key}`")
    } else {
        format!("missing required key `{key}` in [{}]", display_path(&table))
    };
    let hint = schema_at(schema, &full)
        .and_then(|s| s.get("description"))
        .and_then(Value::as_str)
        .map(|description| format!("`{key}`: {}", description.replace('\n', " ")));
    let finding = Finding::error(table, Anchor::Key, message).with_path(display_path(&full));
    match hint {
        Some(hint) => finding.with_hint(hint),
        None => finding,
    }
}

fn wrong_value(document: &Document, schema: &Value, path: KeyPath, kind: &ValidationErrorKind) -> Finding {
    let found = document.entries.get(&path).map_or("value", |entry| entry.kind);
    let expected = schema_at(schema, &path);
    if path.last().is_some_and(|key| key == "admin_password") {
        let keys = document
            .entries
            .keys()
            .filter(|key| key.len() == path.len() + 1 && key.starts_with(&path))
            .filter_map(|key| key.last().cloned())
            .collect();
        return secret_problem(path, found, keys);
    }
    match kind {
        ValidationErrorKind::Type { kind } => {
            let wanted = match kind {
                TypeKind::Single(single) => toml_type(&single.to_string()),
                TypeKind::Multiple(_) => "another type".to_string(),
            };
            let finding =
                Finding::error(path, Anchor::Value, format!("expected {wanted}, found {}", article(found)));
            match (wanted.as_str(), found) {
                ("a string", "integer" | "float") => {
                    let key = finding.at.last().cloned().unwrap_or_default();
                    let written = document
                        .entries
                        .get(&finding.at)
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
        ValidationErrorKind::Enum { options } => not_an_option(document, path, options),
        ValidationErrorKind::Minimum { limit } | ValidationErrorKind::Maximum { limit } => {
            let bound =
                if matches!(kind, ValidationErrorKind::Minimum { .. }) { "at least" } else { "at most" };
            Finding::error(path, Anchor::Value, format!("must be {bound} {limit}"))
        }
        _ => {
            let description = expected.and_then(|s| s.get("description")).and_then(Value::as_str);
            let finding = Finding::error(path, Anchor::Value, format!("invalid {}", article(found)));
            match description {
                Some(description) => finding.with_hint(description.replace('\n', " ")),
                None => finding,
            }
        }
    }
}

/// A value outside an enumeration (`tier = "GeneralPurpse"`), with the closest option.
fn not_an_option(document: &Document, path: KeyPath, options: &Value) -> Finding {
    let value = document
        .entries
        .get(&path)
        .and_then(|entry| document.text.get(entry.value.clone()))
        .map(|text| text.trim_matches('"').to_string());
    let options: Vec<&str> =
        options.as_array().map(|o| o.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let listed = options.iter().map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(", ");
    let key = path.last().cloned().unwrap_or_default();
    let shown = value.as_deref().map_or("the value".to_string(), |v| format!("\"{v}\""));
    let finding = Finding::error(
        path,
        Anchor::Value,
        format!("{shown} is not a valid {key}; expected one of {listed}"),
    );
    match value.as_deref().and_then(|v| did_you_mean(v, options.iter().copied())) {
        Some(suggestion) => finding.with_hint(format!("did you mean \"{suggestion}\"?")),
        None => finding,
    }
}

/// A bad `admin_password`: most often a literal password, which must never be in the file;
/// `keys` are the keys of the table when it is one.
fn secret_problem(path: KeyPath, found: &str, keys: Vec<String>) -> Finding {
    const FORMS: &str = "write admin_password = { env = \"PGFLEET_ADMIN_PASSWORD\" } or admin_password = { file = \"admin.password\" }";
    let names = |key: &str| keys.iter().any(|k| k == key);
    if found == "string" {
        Finding::error(path, Anchor::Value, "a literal password is not allowed: fleet files are committed, shared and shown in reviews, so the password would leak")
            .with_hint(format!("keep the password out of the file: {FORMS}"))
    } else if found == "table" && names("env") && names("file") {
        Finding::error(
            path,
            Anchor::Value,
            "names both an environment variable and a file; a password comes from one place",
        )
        .with_hint("keep either env = \"…\" or file = \"…\"")
    } else if found == "table" && keys.is_empty() {
        Finding::error(path, Anchor::Value, "is an empty table; it must say where the password comes from")
            .with_hint(FORMS)
    } else if let Some(unknown) = keys.iter().find(|key| !["env", "file"].contains(&key.as_str())) {
        let hint = match did_you_mean(unknown, ["env", "file"]) {
            Some(suggestion) => format!("did you mean `{suggestion}`? {FORMS}"),
            None => FORMS.to_string(),
        };
        Finding::error(path, Anchor::Value, format!("unknown key `{unknown}` in a secret reference"))
            .with_hint(hint)
    } else {
        Finding::error(path, Anchor::Value, format!("expected a secret reference, found {}", article(found)))
            .with_hint(FORMS)
    }
}

/// A JSON schema type as the TOML type a user writes.
fn toml_type(json_type: &str) -> String {
    match json_type {
        "object" => "a table".into(),
        "integer" => "an integer".into(),
        "boolean" => "a boolean (true or false)".into(),
        "string" => "a string".into(),
        other => format!("a {other}"),
    }
}

fn article(kind: &str) -> String {
    match kind {
        "integer" | "array" => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}
