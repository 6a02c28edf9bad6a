//! Microsoft's own examples of the Flexible Server API, 2025-08-01 (tests/fixtures/azure-flexible,
//! copied unchanged from the shared fixtures): every server response deserializes into the wire
//! type and maps to pgfleet's model; every request pgfleet makes for the same intent sends
//! nothing the example does not (or says why), and the whole request where pgfleet's intent is
//! the example's.

use pgfleet::model::{ServerName, ServerPatch, ServerSpec, ServerStatus};
use pgfleet::providers::azure::flexible_wire::{
    self, FlexibleServer, FlexibleServerList, RestartParameter, create_body, failover_body, promote_body,
    update_bodies,
};
use pgfleet::providers::azure::wire::{ChildResource, Configuration};
use pgfleet::rules::{HaMode, MaintenanceWindow, PgVersion, Tier, Weekday};
use pgfleet::secret::Redacted;
use serde_json::Value;
use std::collections::BTreeMap;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/azure-flexible/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn response(file: &Value, status: &str) -> Value {
    file["responses"][status]["body"].clone()
}

fn request(file: &Value) -> Value {
    file["parameters"]["parameters"].clone()
}

fn observe(body: Value) -> pgfleet::model::ObservedServer {
    let server: FlexibleServer = serde_json::from_value(body).unwrap();
    flexible_wire::to_observed(&server, &BTreeMap::new()).unwrap()
}

/// Every leaf of `ours` is in `theirs` with the same value, except at the paths in `extra`
/// (what pgfleet sends that the example leaves to the service's default).
fn assert_within(ours: &Value, theirs: &Value, extra: &[&str]) {
    fn walk(path: String, ours: &Value, theirs: &Value, extra: &[&str], problems: &mut Vec<String>) {
        match ours {
            Value::Object(map) => {
                for (key, value) in map {
                    let at = format!("{path}/{key}");
                    if extra.contains(&at.as_str()) {
                        continue;
                    }
                    walk(at, value, theirs.get(key).unwrap_or(&Value::Null), extra, problems);
                }
            }
            leaf if leaf != theirs => problems.push(format!("{path}: ours {leaf}, the example's {theirs}")),
            _ => {}
        }
    }
    let mut problems = Vec::new();
    walk(String::new(), ours, theirs, extra, &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Every fixture file is read by some test here.
#[test]
fn every_fixture_is_covered() {
    let covered = [
        "ConfigurationsGet.json",
        "ConfigurationsUpdate.json",
        "ConfigurationsUpdateUsingPut.json",
        "DatabasesCreate.json",
        "FirewallRulesCreateOrUpdate.json",
        "MigrationsCreate.json",
        "MigrationsGetMigrationWithValidationFailures.json",
        "README.md",
        "ReplicasListByServer.json",
        "ServersCreateInMicrosoftOwnedVirtualNetworkWithZoneRedundantHighAvailability.json",
        "ServersCreateInYourOwnVirtualNetworkWithSameZoneHighAvailability.json",
        "ServersCreatePointInTimeRestore.json",
        "ServersCreateReplica.json",
        "ServersDelete.json",
        "ServersGet.json",
        "ServersListByResourceGroup.json",
        "ServersPromoteReplicaAsForcedSwitchover.json",
        "ServersPromoteReplicaAsPlannedStandaloneServer.json",
        "ServersRestart.json",
        "ServersRestartWithFailover.json",
        "ServersStart.json",
        "ServersStop.json",
        "ServersUpdate.json",
        "ServersUpdateWithCustomMaintenanceWindow.json",
        "ServersUpdateWithMajorVersionUpgrade.json",
        "VirtualEndpointCreate.json",
    ];
    let dir = format!("{}/tests/fixtures/azure-flexible", env!("CARGO_MANIFEST_DIR"));
    let mut present: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    assert_eq!(present, covered);
}

#[test]
fn a_get_maps_to_a_flexible_spec_and_keeps_what_pgfleet_does_not_read() {
    let body = response(&fixture("ServersGet.json"), "200");
    let observed = observe(body.clone());
    assert_eq!(observed.name, ServerName::new("exampleserver"));
    let spec = &observed.spec;
    assert_eq!(spec.sku_name(), "Standard_D4ds_v5");
    assert_eq!((spec.tier, spec.vcores, spec.storage_gb), (Tier::GeneralPurpose, 4, 128));
    assert_eq!(spec.version, PgVersion::V17);
    assert_eq!(
        (spec.backup_retention_days, spec.geo_redundant_backup, spec.storage_autogrow),
        (7, true, false)
    );
    assert_eq!(spec.replica_of, None, "role Primary");
    let flexible = spec.flexible.as_ref().unwrap();
    assert_eq!(flexible.high_availability, HaMode::Disabled);
    assert_eq!((flexible.zone.as_deref(), flexible.standby_zone.as_deref()), (Some("1"), None));
    assert_eq!(flexible.maintenance_window, None, "customWindow Disabled: the service chooses");
    assert!(flexible.public_network_access);
    assert_eq!(observed.status, ServerStatus::Ready);
    let endpoint = observed.endpoint.unwrap();
    assert_eq!(endpoint.host, "exampleserver.postgres.database.azure.com");
    assert_eq!(endpoint.user, "exampleadministratorlogin", "flexible logins have no @server");

    // A round trip loses nothing (systemData, authConfig, dataEncryption …).
    let server: FlexibleServer = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(serde_json::to_value(&server).unwrap(), body);
}

#[test]
fn lists_map_every_server_with_ha_zones_and_network() {
    let list: FlexibleServerList =
        serde_json::from_value(response(&fixture("ServersListByResourceGroup.json"), "200")).unwrap();
    assert!(list.next_link.is_some(), "the example is paged");
    let observed: Vec<_> =
        list.value.iter().map(|s| flexible_wire::to_observed(s, &BTreeMap::new()).unwrap()).collect();
    assert_eq!(observed.len(), 2);
    let first = observed[0].spec.flexible.as_ref().unwrap();
    assert_eq!(first.high_availability, HaMode::ZoneRedundant);
    assert_eq!((first.zone.as_deref(), first.standby_zone.as_deref()), (Some("1"), Some("2")));
    assert!(!first.public_network_access, "a server in a virtual network");

    let replicas: FlexibleServerList =
        serde_json::from_value(response(&fixture("ReplicasListByServer.json"), "200")).unwrap();
    let replica = &replicas.value[0];
    assert!(replica.is_replica(), "role AsyncReplica");
    let observed = flexible_wire::to_observed(replica, &BTreeMap::new()).unwrap();
    assert_eq!(observed.spec.storage_gb, 512);
}

fn zone_redundant_spec() -> ServerSpec {
    let mut spec =
        ServerSpec::flexible("Standard_D4ds_v5", 512, PgVersion::V17, "exampleadministratorlogin", "eastus");
    spec.geo_redundant_backup = true;
    spec.storage_autogrow = false;
    let flexible = spec.flexible.as_mut().unwrap();
    flexible.high_availability = HaMode::ZoneRedundant;
    flexible.zone = Some("1".into());
    spec
}

#[test]
fn a_create_sends_what_the_example_sends() {
    let file = fixture("ServersCreateInMicrosoftOwnedVirtualNetworkWithZoneRedundantHighAvailability.json");
    let password = Redacted::new("examplepassword".to_string());
    let ours = serde_json::to_value(create_body(&zone_redundant_spec(), Some(&password), None)).unwrap();
    // pgfleet names the storage type the service would default to, and sends the user's tags
    // (none here); the example leaves the type out and tags its server.
    assert_within(&ours, &request(&file), &["/properties/storage/type", "/tags"]);
    assert_eq!(ours["properties"]["createMode"], "Create");
    assert_eq!(ours["properties"]["highAvailability"]["mode"], "ZoneRedundant");
    assert!(ours["properties"].get("maintenanceWindow").is_none(), "not accepted on create");

    let same_zone =
        request(&fixture("ServersCreateInYourOwnVirtualNetworkWithSameZoneHighAvailability.json"));
    assert_eq!(same_zone["properties"]["highAvailability"]["mode"], HaMode::SameZone.as_str());
}

#[test]
fn a_replica_create_names_its_source_and_sends_no_login_version_or_ha() {
    let file = fixture("ServersCreateReplica.json");
    let theirs = request(&file);
    let source = theirs["properties"]["sourceServerResourceId"].as_str().unwrap();
    let mut spec = zone_redundant_spec();
    spec.replica_of = Some(ServerName::new("examplesourceserver"));
    let ours = serde_json::to_value(create_body(&spec, None, Some(source))).unwrap();
    assert_eq!(ours["properties"]["createMode"], theirs["properties"]["createMode"]);
    assert_eq!(ours["properties"]["sourceServerResourceId"], source);
    assert_eq!(ours["location"], theirs["location"]);
    for absent in
        ["administratorLogin", "administratorLoginPassword", "version", "highAvailability", "backup"]
    {
        assert!(ours["properties"].get(absent).is_none(), "{absent}");
    }
    // The point-in-time restore example is a create mode pgfleet does not use; it parses.
    let restore: FlexibleServer =
        serde_json::from_value(request(&fixture("ServersCreatePointInTimeRestore.json"))).unwrap();
    assert_eq!(restore.properties.create_mode.as_deref(), Some("PointInTimeRestore"));
}

#[test]
fn an_update_sends_storage_alone_then_the_rest_as_the_example_does() {
    let theirs = request(&fixture("ServersUpdate.json"));
    let current = ServerSpec::flexible("Standard_D4s_v3", 512, PgVersion::V16, "admin", "eastus");
    let patch = ServerPatch {
        sku: Some("Standard_D8s_v3".into()),
        storage_gb: Some(1024),
        storage_autogrow: Some(true),
        backup_retention_days: Some(20),
        ..ServerPatch::default()
    };
    let bodies = update_bodies(&current, &patch);
    assert_eq!(bodies.len(), 2, "storage in its own PATCH, then the rest");
    for body in &bodies {
        let ours = serde_json::to_value(body).unwrap();
        assert_within(&ours, &theirs, &[]);
    }
    assert_eq!(bodies[0].properties.storage.as_ref().unwrap().storage_size_gb, Some(1024));
    assert_eq!(bodies[1].sku.as_ref().unwrap().name, "Standard_D8s_v3");
}

#[test]
fn upgrade_window_promote_and_failover_bodies_are_the_examples() {
    let current = ServerSpec::flexible("Standard_D4ds_v5", 128, PgVersion::V16, "admin", "eastus");
    let upgrade = ServerPatch { version: Some(PgVersion::V17), ..ServerPatch::default() };
    let ours = serde_json::to_value(&update_bodies(&current, &upgrade)[0]).unwrap();
    assert_eq!(ours, request(&fixture("ServersUpdateWithMajorVersionUpgrade.json")));

    let window = ServerPatch {
        maintenance_window: Some(Some(MaintenanceWindow { day: Weekday::Sunday, hour: 8, minute: 0 })),
        ..ServerPatch::default()
    };
    let ours = serde_json::to_value(&update_bodies(&current, &window)[0]).unwrap();
    assert_eq!(ours, request(&fixture("ServersUpdateWithCustomMaintenanceWindow.json")));

    let ours = serde_json::to_value(promote_body()).unwrap();
    assert_eq!(ours, request(&fixture("ServersPromoteReplicaAsPlannedStandaloneServer.json")));
    let switchover: FlexibleServer =
        serde_json::from_value(request(&fixture("ServersPromoteReplicaAsForcedSwitchover.json"))).unwrap();
    assert_eq!(switchover.properties.replica.unwrap().promote_mode.as_deref(), Some("Switchover"));

    // pgfleet's failover is planned; the example forces one. Same body otherwise.
    let theirs: RestartParameter =
        serde_json::from_value(request(&fixture("ServersRestartWithFailover.json"))).unwrap();
    assert_eq!(theirs.restart_with_failover, Some(true));
    assert_eq!(theirs.failover_mode.as_deref(), Some("ForcedFailover"));
    let ours = failover_body();
    assert_eq!(
        (ours.restart_with_failover, ours.failover_mode.as_deref()),
        (Some(true), Some("PlannedFailover"))
    );
}

#[test]
fn lifecycle_examples_are_long_running_operations_on_the_server_path() {
    for name in ["ServersDelete.json", "ServersRestart.json", "ServersStart.json", "ServersStop.json"] {
        let file = fixture(name);
        let accepted = &file["responses"]["202"]["headers"];
        assert!(
            accepted["Azure-AsyncOperation"].as_str().unwrap().contains("/azureAsyncOperation/"),
            "{name}"
        );
        assert!(accepted["Location"].as_str().unwrap().contains("/operationResults/"), "{name}");
        let params = &file["parameters"];
        let path = flexible_wire::server_path(
            params["resourceGroupName"].as_str().unwrap(),
            params["serverName"].as_str().unwrap(),
        );
        assert!(
            path.ends_with("/providers/Microsoft.DBforPostgreSQL/flexibleServers/exampleserver"),
            "{path}"
        );
    }
}

#[test]
fn child_resources_parse_into_the_shared_types() {
    let configuration: Configuration =
        serde_json::from_value(response(&fixture("ConfigurationsGet.json"), "200")).unwrap();
    assert_eq!(configuration.properties.default_value.as_deref(), Some("on"));
    for name in ["ConfigurationsUpdate.json", "ConfigurationsUpdateUsingPut.json"] {
        let body: Configuration = serde_json::from_value(request(&fixture(name))).unwrap();
        assert!(body.properties.value.is_some(), "{name}");
    }
    let database: ChildResource = serde_json::from_value(request(&fixture("DatabasesCreate.json"))).unwrap();
    assert_eq!(database.properties.get("charset").map(String::as_str), Some("utf8"));
    let rule: ChildResource =
        serde_json::from_value(request(&fixture("FirewallRulesCreateOrUpdate.json"))).unwrap();
    assert!(rule.properties.contains_key("startIpAddress"));
    // pgfleet migrates with pg_dump/pg_restore, not the migration service, and uses no virtual
    // endpoints; their examples are kept with the others and parse as JSON.
    for name in [
        "MigrationsCreate.json",
        "MigrationsGetMigrationWithValidationFailures.json",
        "VirtualEndpointCreate.json",
    ] {
        assert!(fixture(name)["parameters"].is_object(), "{name}");
    }
}
