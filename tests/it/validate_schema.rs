//! `schemas/fleet.schema.json` is the schema derived from the raw config types, checked in for
//! editors. This test fails when it is stale; `PGFLEET_BLESS=1 cargo test --test validate_schema`
//! rewrites it.

use std::path::Path;

#[test]
fn checked_in_fleet_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/fleet.schema.json");
    let current = serde_json::to_string_pretty(&pgfleet::config::fleet_schema()).unwrap() + "\n";
    if std::env::var_os("PGFLEET_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &current).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == current,
        "{} is stale; regenerate it with `PGFLEET_BLESS=1 cargo test --test validate_schema`",
        path.display()
    );
}

/// Every `examples/*.toml`: the editors' schema and pgfleet's own validator agree on them.
#[test]
fn every_example_validates_against_the_checked_in_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("schemas/fleet.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut examples: Vec<_> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "toml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 4, "{examples:?}");
    for path in examples {
        let name = path.display();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        let json = serde_json::to_value(value).unwrap();
        let errors: Vec<String> = validator.iter_errors(&json).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        let mut broken = json.clone();
        broken["servers"].as_object_mut().unwrap().values_mut().next().unwrap()["vcpus"] = 2.into();
        assert!(!validator.is_valid(&broken), "{name}: unknown keys are refused");
        let mut broken_toml: toml::Value = toml::from_str(&text).unwrap();
        let server = broken_toml["servers"].as_table_mut().unwrap().iter_mut().next().unwrap().1;
        server.as_table_mut().unwrap().insert("vcpus".into(), 2.into());
        let diagnostics = pgfleet::config::parse(&path, toml::to_string(&broken_toml).unwrap().as_bytes())
            .expect_err("pgfleet refuses the unknown key too");
        assert!(diagnostics.iter().any(|d| d.message == "unknown key `vcpus`"), "{name}: {diagnostics}");
    }
}
