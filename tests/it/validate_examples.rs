//! Every example fleet validates, and the quickstart resolves to what its file says.

use pgfleet::config::{self, ProviderSettings, SecretRef};
use pgfleet::rules::Tier;
use std::path::Path;

const EXAMPLES: &[&str] = &["quickstart", "single-basic", "primary-with-replicas", "mixed-fleet"];

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(format!("{name}.toml"))
}

#[test]
fn every_example_is_valid_and_points_editors_at_the_schema() {
    for name in EXAMPLES {
        let path = example(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.starts_with("#:schema ../schemas/fleet.schema.json\n"), "{name}");
        match config::parse(&path, text.as_bytes()) {
            Ok((_, warnings)) => assert!(warnings.is_empty(), "{name}: {warnings:?}"),
            Err(diagnostics) => panic!("{name}:\n{}", diagnostics.render(&text, false)),
        }
    }
}

#[test]
fn quickstart_resolves_defaults_and_replicas() {
    let fleet = config::load(&example("quickstart")).unwrap();
    assert_eq!(fleet.name, "quickstart");
    assert!(matches!(&fleet.provider, ProviderSettings::Local(local) if local.port_base == 54320));
    assert_eq!(fleet.servers.len(), 4);
    let main = &fleet.servers[&"qs-main".into()];
    assert_eq!(main.spec.service(), pgfleet::rules::Service::Flexible, "service from [defaults]");
    assert_eq!((main.spec.tier, main.spec.vcores), (Tier::GeneralPurpose, 2), "derived from the SKU");
    assert_eq!(main.spec.sku_name(), "Standard_D2ds_v5");
    let flexible = main.spec.flexible.as_ref().unwrap();
    assert_eq!(flexible.high_availability, pgfleet::rules::HaMode::ZoneRedundant);
    assert_eq!(main.spec.location, "local");
    let legacy = &fleet.servers[&"qs-legacy".into()];
    assert_eq!(legacy.spec.service(), pgfleet::rules::Service::Single, "its own service wins");
    assert_eq!(legacy.spec.sku_name(), "B_Gen5_1");
    assert_eq!(legacy.spec.storage_gb, 20);
    let replicas: Vec<&str> = fleet
        .servers
        .values()
        .filter(|s| s.spec.replica_of.as_ref().is_some_and(|p| p.as_str() == "qs-main"))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(replicas, ["qs-ro-1"]);
    assert_eq!(legacy.admin_password, SecretRef::File("quickstart.password".into()));
    let password = legacy.admin_password.resolve(example("quickstart").parent().unwrap()).unwrap();
    assert!(!password.expose().is_empty());
    assert_eq!(fleet.source.sha256.len(), 64);
}

#[test]
fn azure_servers_get_the_provider_location_unless_they_name_one() {
    let fleet = config::load(&example("primary-with-replicas")).unwrap();
    let ProviderSettings::Azure(azure) = &fleet.provider else { panic!("azure expected") };
    assert_eq!(azure.endpoint, "https://management.azure.com", "the default endpoint");
    assert_eq!(fleet.servers[&"pay-main".into()].spec.location, "westeurope");
    assert_eq!(fleet.servers[&"pay-ro-2".into()].spec.location, "northeurope");
    let main = &fleet.servers[&"pay-main".into()].spec;
    assert_eq!(main.sku_name(), "GP_Gen5_8");
    assert_eq!(main.tags["team"], "payments");
    assert_eq!(
        fleet.servers[&"pay-ro-1".into()].admin_password,
        SecretRef::Env("PGFLEET_ADMIN_PASSWORD".into())
    );
}

#[test]
fn load_reports_unreadable_and_invalid_files() {
    let missing = config::load(Path::new("no/such/fleet.toml")).unwrap_err();
    assert!(matches!(missing, config::ConfigError::Io { .. }), "{missing}");
    let invalid =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/replica-fewer-vcores.toml");
    match config::load(&invalid).unwrap_err() {
        config::ConfigError::Invalid(diagnostics) => {
            assert_eq!(diagnostics.errors().count(), 1);
            let line = diagnostics.to_string();
            assert!(line.contains("replica-fewer-vcores.toml:21:10: error: servers.db-ro.vcores:"), "{line}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn parsing_does_not_read_secret_files() {
    let text = std::fs::read_to_string(example("quickstart"))
        .unwrap()
        .replace("quickstart.password", "this-file-does-not-exist.password");
    let (fleet, _) = config::parse(Path::new("/nowhere/fleet.toml"), text.as_bytes()).unwrap();
    let server = &fleet.servers[&"qs-main".into()];
    assert_eq!(server.admin_password, SecretRef::File("this-file-does-not-exist.password".into()));
    assert!(server.admin_password.resolve(Path::new("/nowhere")).is_err(), "read only when resolved");
}
