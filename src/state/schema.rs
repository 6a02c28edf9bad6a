//! The JSON Schema of the state file, generated from [`State`] and checked in as
//! `schemas/state.schema.json` so tools can read state files without pgfleet. The schema is
//! derived from the types only; nothing here reads or writes a state.

/// The JSON Schema of the state file.
#[cfg(test)]
pub(crate) fn state_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(super::State)).expect("a schema is always JSON")
}

#[cfg(test)]
mod tests {
    use super::state_schema;
    use std::path::Path;

    /// Fails when `schemas/state.schema.json` no longer matches the code; regenerate it with
    /// `PGFLEET_BLESS=1 cargo test`.
    #[test]
    fn checked_in_state_schema_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/state.schema.json");
        let generated = serde_json::to_string_pretty(&state_schema()).unwrap() + "\n";
        if std::env::var_os("PGFLEET_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "{} is stale; regenerate it with `PGFLEET_BLESS=1 cargo test`",
            path.display()
        );
    }

    #[test]
    fn the_schema_describes_the_top_level_fields() {
        let schema = state_schema();
        let required: Vec<&str> =
            schema["required"].as_array().unwrap().iter().filter_map(|field| field.as_str()).collect();
        for field in ["format_version", "tool_version", "lineage", "serial", "fleet", "servers"] {
            assert!(required.contains(&field), "{field} missing from {required:?}");
        }
    }
}
