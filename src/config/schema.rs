//! The fleet file's JSON schema, derived from the raw serde types (so their doc comments become
//! editor help) and checked in as `schemas/fleet.schema.json`. Structural checking reads this
//! same schema. This module derives and walks the schema; it does not check documents.

use super::raw::RawFleetFile;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::Value;

/// The JSON schema of the fleet file (draft-07, which TOML editors such as taplo understand). TOML has no null, so optional keys are
/// described by their value's type alone.
pub fn fleet_schema() -> Value {
    let generator = SchemaSettings::draft07()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.transforms.push(Box::new(RecursiveTransform(toml_shapes)));
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<RawFleetFile>();
    schema.insert("$id".into(), "https://pgfleet.dev/schemas/fleet.schema.json".into());
    // What the schema is comes first, for people reading the file.
    let Value::Object(mut rest) = schema.to_value() else { unreachable!("a root schema is an object") };
    let mut ordered = serde_json::Map::new();
    for key in ["$schema", "$id", "title", "description"] {
        if let Some(value) = rest.remove(key) {
            ordered.insert(key.to_string(), value);
        }
    }
    ordered.extend(rest);
    Value::Object(ordered)
}

/// Rewrites what serde's data model says into what TOML can hold: no nulls, and the bounds of
/// the integer types the fields use.
fn toml_shapes(schema: &mut schemars::Schema) {
    let Some(object) = schema.as_object_mut() else { return };
    if object.get("default") == Some(&Value::Null) {
        object.remove("default");
    }
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            object.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(options)) = object.get_mut("enum") {
        options.retain(|option| !option.is_null());
    }
    if let Some(Value::Array(options)) = object.get_mut("anyOf") {
        options.retain(|option| option.get("type") != Some(&Value::from("null")));
        if options.len() == 1 {
            let Some(Value::Object(inner)) = options.pop() else { return };
            object.remove("anyOf");
            for (key, value) in inner {
                if key != "description" || !object.contains_key("description") {
                    object.insert(key, value);
                }
            }
        }
    }
    let maximum = match object.get("format").and_then(Value::as_str) {
        Some("uint16") => Some(u64::from(u16::MAX)),
        Some("uint32") => Some(u64::from(u32::MAX)),
        _ => None,
    };
    if let Some(maximum) = maximum {
        object.insert("maximum".into(), maximum.into());
    }
}

/// The subschema describing the value at a key path, following `properties` and
/// `additionalProperties`.
pub(crate) fn schema_at<'a>(schema: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = schema;
    for segment in path {
        current = match current.get("properties").and_then(|p| p.get(segment)) {
            Some(next) => next,
            None => current.get("additionalProperties").filter(|next| next.is_object())?,
        };
    }
    Some(current)
}

/// The keys a table at a path may hold, as the schema names them.
pub(crate) fn known_keys(schema: &Value, path: &[String]) -> Vec<String> {
    schema_at(schema, path)
        .and_then(|table| table.get("properties"))
        .and_then(Value::as_object)
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn optional_keys_have_no_null_and_integers_have_bounds() {
        let schema = fleet_schema();
        let vcores = schema_at(&schema, &path(&["servers", "x", "vcores"])).unwrap();
        assert_eq!(vcores["type"], "integer");
        assert_eq!(vcores["maximum"], u64::from(u32::MAX));
        assert!(vcores["description"].as_str().unwrap().contains("vCores"));
        let tier = schema_at(&schema, &path(&["defaults", "tier"])).unwrap();
        assert_eq!(tier["enum"], serde_json::json!(["Basic", "GeneralPurpose", "MemoryOptimized"]));
        let password = schema_at(&schema, &path(&["servers", "x", "admin_password"])).unwrap();
        assert!(password.get("anyOf").is_none());
        assert_eq!(password["oneOf"].as_array().unwrap().len(), 2);
        assert!(!schema.to_string().contains("null"), "TOML has no null");
    }

    #[test]
    fn known_keys_come_from_the_raw_types() {
        let schema = fleet_schema();
        assert_eq!(known_keys(&schema, &[]), vec!["fleet", "provider", "defaults", "servers"]);
        assert!(known_keys(&schema, &path(&["servers", "pay-main"])).contains(&"replica_of".to_string()));
        assert_eq!(known_keys(&schema, &path(&["provider", "local"])), vec!["root", "port_base"]);
    }
}
