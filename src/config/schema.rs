//! The fleet file's JSON schema, derived from the raw serde types (so their doc comments become
//! editor help) and checked in as `schemas/fleet.schema.json`, and what structural checking
//! reads from it: per table, the keys the raw types know, which are required, and the kind of
//! value each takes ([`Expected`]). No JSON Schema validator runs here; this module describes
//! the model, `structure` walks the TOML against it.

use super::raw::RawFleetFile;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::Value;
use std::sync::LazyLock;

/// The JSON schema of the fleet file (draft-07, which TOML editors such as taplo understand),
/// with the ranges the rules enforce (`schema_ranges`). TOML has no null, so optional keys are
/// described by their value's type alone.
pub fn fleet_schema() -> Value {
    let mut schema = model_schema();
    super::schema_ranges::add_rule_ranges(&mut schema);
    schema
}

/// The schema of the raw types alone: what structural checking reads (the rules check the
/// ranges, with their own messages).
fn model_schema() -> Value {
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
    // An enum whose variants carry doc comments comes out as a `oneOf` of string constants:
    // TOML editors and structural checking read one `enum` of strings.
    let constants: Option<Vec<Value>> = object.get("oneOf").and_then(Value::as_array).and_then(|choices| {
        choices
            .iter()
            .map(|choice| match (choice.get("type"), choice.get("const"), choice.get("enum")) {
                (Some(kind), Some(constant), _) if kind == "string" => Some(constant.clone()),
                (Some(kind), None, Some(Value::Array(one))) if kind == "string" && one.len() == 1 => {
                    Some(one[0].clone())
                }
                _ => None,
            })
            .collect()
    });
    if let Some(constants) = constants {
        object.remove("oneOf");
        object.insert("type".into(), "string".into());
        object.insert("enum".into(), Value::Array(constants));
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

/// What the fleet file expects at a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expected {
    /// A table with these keys (in the raw type's order), and, for maps such as `servers` and
    /// `tags`, what any other key holds; without it, other keys are unknown.
    Table {
        keys: Vec<KeyDoc>,
        others: Option<Box<Expected>>,
    },
    /// A string; one of `options` when there are any.
    String {
        options: Vec<String>,
    },
    Integer {
        minimum: Option<i64>,
        maximum: Option<i64>,
    },
    Boolean,
    /// A string, a number or a boolean (a server parameter's value: `work_mem = "16MB"`,
    /// `max_connections = 800`, `jit = false`).
    Scalar,
    /// An array, each item as `Expected` says (`[[servers.NAME.schedule]]`).
    Array(Box<Expected>),
    /// Exactly one of these (the secret reference: `{ env = … }` or `{ file = … }`).
    OneOf(Vec<Expected>),
}

/// One key of a table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyDoc {
    pub name: String,
    pub expected: Expected,
    pub required: bool,
    /// The raw type's doc comment, for hints.
    pub description: Option<String>,
}

impl Expected {
    /// The fleet file as a whole, derived once from the raw types.
    pub(crate) fn fleet_file() -> &'static Expected {
        static FLEET_FILE: LazyLock<Expected> = LazyLock::new(|| Expected::from_schema(&model_schema()));
        &FLEET_FILE
    }

    /// What the raw types' schema says, for the shapes the fleet file uses. The unit tests
    /// derive the whole fleet file, so a new kind of field is noticed there, not by a user.
    fn from_schema(schema: &Value) -> Expected {
        if let Some(Value::Array(choices)) = schema.get("oneOf") {
            return Expected::OneOf(choices.iter().map(Expected::from_schema).collect());
        }
        let integer = |key: &str| schema.get(key).and_then(Value::as_i64);
        if schema.get("type").is_some_and(Value::is_array) {
            return Expected::Scalar;
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => {
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|keys| keys.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let keys = schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(name, value)| KeyDoc {
                        name: name.clone(),
                        expected: Expected::from_schema(value),
                        required: required.contains(&name.as_str()),
                        description: value.get("description").and_then(Value::as_str).map(str::to_string),
                    })
                    .collect();
                let others = schema
                    .get("additionalProperties")
                    .filter(|others| others.is_object())
                    .map(|others| Box::new(Expected::from_schema(others)));
                Expected::Table { keys, others }
            }
            Some("string") => Expected::String {
                options: schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .map(|options| options.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default(),
            },
            Some("integer") => Expected::Integer { minimum: integer("minimum"), maximum: integer("maximum") },
            Some("boolean") => Expected::Boolean,
            Some("array") => {
                Expected::Array(Box::new(Expected::from_schema(schema.get("items").unwrap_or(&Value::Null))))
            }
            _ => panic!("the fleet file's model has a value structural checking does not know: {schema}"),
        }
    }

    /// What is expected at a key path below this.
    pub(crate) fn at(&self, path: &[String]) -> Option<&Expected> {
        let mut current = self;
        for key in path {
            let Expected::Table { keys, others } = current else { return None };
            current = match keys.iter().find(|known| &known.name == key) {
                Some(known) => &known.expected,
                None => others.as_deref()?,
            };
        }
        Some(current)
    }

    /// The keys a table takes, by name, in the raw type's order (`pgfleet fmt`'s order).
    pub(crate) fn key_names(&self) -> Vec<&str> {
        match self {
            Expected::Table { keys, .. } => keys.iter().map(|key| key.name.as_str()).collect(),
            _ => Vec::new(),
        }
    }
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
        let vcores = &schema["properties"]["servers"]["additionalProperties"]["properties"]["vcores"];
        assert_eq!(vcores["type"], "integer");
        assert_eq!(vcores["enum"], serde_json::json!([1, 2, 4, 8, 16, 32, 64]));
        let retention = &schema["properties"]["defaults"]["properties"]["backup_retention_days"];
        assert_eq!((retention["minimum"].as_u64(), retention["maximum"].as_u64()), (Some(7), Some(35)));
        assert!(vcores["description"].as_str().unwrap().contains("vCores"));
        let tier = &schema["properties"]["defaults"]["properties"]["tier"];
        assert_eq!(tier["enum"], serde_json::json!(["Basic", "GeneralPurpose", "MemoryOptimized"]));
        let password = &schema["properties"]["defaults"]["properties"]["admin_password"];
        assert!(password.get("anyOf").is_none());
        assert_eq!(password["oneOf"].as_array().unwrap().len(), 2);
        assert!(!schema.to_string().contains("null"), "TOML has no null");
    }

    #[test]
    fn known_keys_come_from_the_raw_types() {
        let fleet = Expected::fleet_file();
        assert_eq!(fleet.key_names(), ["fleet", "provider", "defaults", "servers", "state", "pricing"]);
        assert_eq!(fleet.at(&path(&["state"])).unwrap().key_names(), ["backend", "azurerm", "pg"]);
        assert_eq!(
            fleet.at(&path(&["state", "azurerm"])).unwrap().key_names(),
            ["account", "container", "key", "access_key", "endpoint"]
        );
        assert!(matches!(
            fleet.at(&path(&["state", "pg", "conn_str"])),
            Some(Expected::OneOf(choices)) if choices.len() == 2
        ));
        let server = fleet.at(&path(&["servers", "pay-main"])).unwrap();
        assert!(server.key_names().contains(&"replica_of"));
        assert_eq!(fleet.at(&path(&["provider", "local"])).unwrap().key_names(), ["root", "port_base"]);
        let Expected::Table { keys, .. } = fleet.at(&path(&["provider", "azure"])).unwrap() else {
            panic!("a table")
        };
        let required: Vec<&str> =
            keys.iter().filter(|key| key.required).map(|key| key.name.as_str()).collect();
        assert_eq!(required, ["subscription_id", "resource_group", "location"]);
        assert_eq!(
            fleet.at(&path(&["defaults", "vcores"])),
            Some(&Expected::Integer { minimum: Some(0), maximum: Some(i64::from(u32::MAX)) })
        );
        assert_eq!(
            fleet.at(&path(&["servers", "x", "tags", "team"])),
            Some(&Expected::String { options: Vec::new() })
        );
        assert!(matches!(
            fleet.at(&path(&["servers", "x", "admin_password"])),
            Some(Expected::OneOf(choices)) if choices.len() == 2
        ));
        assert!(fleet.at(&path(&["servers", "x", "vcpus"])).is_none());
    }
}
