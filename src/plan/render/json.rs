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
    // Written straight from the plan (no JSON tree in between): `format_version` is the plan's
    // first field, so the pretty form's second line is it, and the id goes on the next.
    let mut text =
        serde_json::to_string_pretty(plan).expect("a plan always serialises: its maps have string keys");
    let after_version = text.find(",\n").map_or(text.len(), |at| at + 2);
    let id = serde_json::to_string(plan_id).expect("a string always serialises");
    text.insert_str(after_version, &format!("  \"plan_id\": {id},\n"));
    text.push('\n');
    text
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
