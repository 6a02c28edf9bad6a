//! The plan as JSON, the machine contract (DESIGN.md "Plan JSON"): the serde form of [`Plan`]
//! with the plan's id beside `format_version`, and its JSON Schema, generated from the types and
//! checked in as `schemas/plan.schema.json`.
//!
//! It does not compute the plan id (the saved-plan module does) and adds nothing the plan does not
//! hold. The plan holds no secrets (passwords are references resolved at apply time), so the
//! executor's `operation` is emitted as is: it is part of the documented contract.

use crate::plan::Plan;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The JSON document `pgfleet plan` prints for machines: a plan and the id it is approved by.
///
/// Versioning follows `format_version`: a minor version only adds fields (consumers ignore keys
/// they do not know); a major version breaks the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanDocument {
    /// The digest a saved plan, a review and `pgfleet apply` bind to.
    pub plan_id: String,
    #[serde(flatten)]
    pub plan: Plan,
}

/// The plan as pretty JSON with `plan_id` after `format_version`, ending in a newline.
pub fn json(plan: &Plan, plan_id: &str) -> String {
    let mut text = Vec::new();
    write_json(plan, plan_id, &mut text).expect("writing to memory does not fail");
    String::from_utf8(text).expect("JSON is UTF-8")
}

/// [`json`], written to `sink` as it is serialised: no JSON tree and no text of the whole plan
/// in between.
///
/// # Errors
/// When `sink` fails.
pub fn write_json(plan: &Plan, plan_id: &str, sink: &mut dyn std::io::Write) -> std::io::Result<()> {
    // `format_version` is the plan's first field, so the pretty form's second line is it, and
    // the id goes on the next.
    let id = serde_json::to_string(plan_id).expect("a string always serialises");
    let mut writer = AfterSecondLine { sink, line: Some(format!("  \"plan_id\": {id},\n")), comma: false };
    serde_json::to_writer_pretty(&mut writer, plan).map_err(std::io::Error::from)?;
    writer.sink.write_all(b"\n")
}

/// Passes bytes through, and writes `line` after the first line that ends in a comma.
struct AfterSecondLine<'a> {
    sink: &'a mut dyn std::io::Write,
    line: Option<String>,
    /// Whether the last byte written was a comma.
    comma: bool,
}

impl std::io::Write for AfterSecondLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.line.is_none() {
            return self.sink.write(bytes);
        }
        let mut comma = self.comma;
        let end = bytes.iter().position(|&byte| {
            let found = byte == b'\n' && comma;
            comma = byte == b',';
            found
        });
        match end {
            Some(at) => {
                self.sink.write_all(&bytes[..=at])?;
                if let Some(line) = self.line.take() {
                    self.sink.write_all(line.as_bytes())?;
                }
                self.sink.write_all(&bytes[at + 1..])?;
            }
            None => {
                self.sink.write_all(bytes)?;
                self.comma = comma;
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }
}

/// The JSON Schema (draft 2020-12) of the plan document, as checked in at
/// `schemas/plan.schema.json`.
pub fn plan_schema() -> serde_json::Value {
    let generated = schemars::schema_for!(PlanDocument).to_value();
    let mut schema = serde_json::Map::new();
    schema.insert("$schema".into(), generated["$schema"].clone());
    schema.insert("title".into(), "pgfleet plan".into());
    schema.insert(
        "description".into(),
        "The plan as JSON, as `pgfleet plan` prints it for machines. format_version is MAJOR.MINOR: a minor \
         version only adds fields (ignore keys you do not know); a major version breaks the contract. \
         No secret ever appears in a plan."
            .into(),
    );
    if let serde_json::Value::Object(fields) = generated {
        for (key, value) in fields {
            schema.entry(key).or_insert(value);
        }
    }
    serde_json::Value::Object(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::render::fixtures;
    use std::path::PathBuf;

    fn schema_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/plan.schema.json")
    }

    /// The id line goes after `format_version` however the serialiser splits its writes.
    #[test]
    fn the_plan_id_follows_the_format_version_whatever_the_writes() {
        let plan = fixtures::restarts_with_replicas();
        let whole = json(&plan, "sha256:ab");
        let pretty = serde_json::to_string_pretty(&plan).unwrap();
        let mut written = Vec::new();
        let mut writer = AfterSecondLine {
            sink: &mut written,
            line: Some("  \"plan_id\": \"sha256:ab\",\n".into()),
            comma: false,
        };
        for byte in pretty.as_bytes() {
            std::io::Write::write_all(&mut writer, std::slice::from_ref(byte)).unwrap();
        }
        written.push(b'\n');
        assert_eq!(String::from_utf8(written).unwrap(), whole);
        let lines: Vec<&str> = whole.lines().take(3).collect();
        assert_eq!(lines, ["{", "  \"format_version\": \"1.4\",", "  \"plan_id\": \"sha256:ab\","]);
        let document: PlanDocument = serde_json::from_str(&whole).unwrap();
        assert_eq!((document.plan_id.as_str(), &document.plan), ("sha256:ab", &plan));
    }

    #[test]
    fn checked_in_schema_is_current() {
        let mut generated = serde_json::to_string_pretty(&plan_schema()).unwrap();
        generated.push('\n');
        if std::env::var_os("PGFLEET_BLESS").is_some() {
            std::fs::create_dir_all(schema_path().parent().unwrap()).unwrap();
            std::fs::write(schema_path(), &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(schema_path()).unwrap_or_default();
        assert!(
            checked_in == generated,
            "schemas/plan.schema.json is stale; regenerate it with PGFLEET_BLESS=1 cargo test --lib plan::render"
        );
    }

    #[test]
    fn rendered_plans_validate_against_the_schema() {
        let validator = jsonschema::validator_for(&plan_schema()).unwrap();
        let mut plans = fixtures::all();
        plans.push(("large", fixtures::large(50)));
        for (name, plan) in plans {
            let rendered: serde_json::Value = serde_json::from_str(&json(&plan, "sha256:0123abcd")).unwrap();
            let errors: Vec<String> =
                validator.iter_errors(&rendered).map(|error| error.to_string()).collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
        }
    }

    #[test]
    fn schema_rejects_documents_that_break_the_contract() {
        let validator = jsonschema::validator_for(&plan_schema()).unwrap();
        let mut rendered: serde_json::Value =
            serde_json::from_str(&json(&fixtures::restarts_with_replicas(), "sha256:0123abcd")).unwrap();
        assert!(validator.is_valid(&rendered));
        let mut unknown_action = rendered.clone();
        unknown_action["changes"][0]["action"] = "replace".into();
        assert!(!validator.is_valid(&unknown_action), "actions are a closed set");
        let mut negative = rendered.clone();
        negative["changes"][0]["impact"]["downtime_seconds"]["max"] = (-1).into();
        assert!(!validator.is_valid(&negative), "downtime is unsigned");
        rendered.as_object_mut().unwrap().remove("plan_id");
        assert!(!validator.is_valid(&rendered));
    }

    #[test]
    fn document_round_trips_with_the_id_after_the_format_version() {
        let plan = fixtures::drift();
        let text = json(&plan, "sha256:feed");
        assert!(text.ends_with("}\n"));
        assert!(
            text.starts_with("{\n  \"format_version\": \"1.4\",\n  \"plan_id\": \"sha256:feed\",\n"),
            "{text}"
        );
        let document: PlanDocument = serde_json::from_str(&text).unwrap();
        assert_eq!(document.plan_id, "sha256:feed");
        assert_eq!(document.plan, plan);
    }

    #[test]
    fn snapshot_of_the_contract() {
        insta::assert_snapshot!(
            "json_restarts_with_replicas",
            json(&fixtures::restarts_with_replicas(), "sha256:0123abcd")
        );
    }
}
