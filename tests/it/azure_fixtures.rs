//! Microsoft's own examples of the 2017-12-01 API (tests/fixtures/azure, copied unchanged from
//! the shared fixtures, quirks included): every response deserializes into the wire types and
//! maps to pgfleet's model; every request is what pgfleet sends for the same intent.

use pgfleet::model::{ServerName, ServerPatch, ServerSpec, ServerStatus};
use pgfleet::providers::azure::wire::{
    self, ChildResource, Configuration, MappingContext, PerformanceTierList, Server, ServerForCreate,
    ServerList,
};
use pgfleet::rules::{self, Generation, PgVersion, ReplicationSupport, Tier, TlsVersion};
use pgfleet::secret::Redacted;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/azure/{name}", env!("CARGO_MANIFEST_DIR"));
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
    let server: Server = serde_json::from_value(body).unwrap();
    let names = BTreeMap::new();
    let context = MappingContext { names_by_id: &names, replication_support: ReplicationSupport::Replica };
    wire::to_observed(&server, context).unwrap()
}

fn spec(tier: Tier, generation: Generation, vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec {
        generation,
        ..ServerSpec::new(tier, vcores, storage_gb, PgVersion::V11, "cloudsa", "westus")
    }
}

/// Every fixture file is read by some test here.
#[test]
fn every_fixture_is_covered() {
    let covered = [
        "ConfigurationGet.json",
        "DatabaseCreate.json",
        "FirewallRuleCreate.json",
        "PerformanceTiersListByLocation.json",
        "ReplicasListByServer.json",
        "ServerCreate.json",
        "ServerCreateGeoRestoreMode.json",
        "ServerCreatePointInTimeRestore.json",
        "ServerCreateReplicaMode.json",
        "ServerDelete.json",
        "ServerGet.json",
        "ServerList.json",
        "ServerListByResourceGroup.json",
        "ServerRestart.json",
        "ServerUpdate.json",
    ];
    let directory = format!("{}/tests/fixtures/azure", env!("CARGO_MANIFEST_DIR"));
    let mut present: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    present.sort();
    assert_eq!(present, covered);
}

#[test]
fn server_create_request_is_what_pgfleet_sends() {
    let file = fixture("ServerCreate.json");
    let mut intent = spec(Tier::Basic, Generation::Gen5, 2, 125);
    intent.tags = BTreeMap::from([("ElasticServer".to_string(), "1".to_string())]);
    let password = Redacted::new("pa$$w0rd".to_string());
    let sent = serde_json::to_value(wire::create_body(&intent, Some(&password), None)).unwrap();
    // pgfleet always states the version and auto-grow, which the example leaves to defaults.
    let mut expected = request(&file);
    expected["properties"]["version"] = json!("11");
    expected["properties"]["storageProfile"]["storageAutogrow"] = json!("Enabled");
    assert_eq!(sent, expected);
    // The example itself parses as a create body.
    let parsed: ServerForCreate = serde_json::from_value(request(&file)).unwrap();
    assert_eq!(parsed.properties.create_mode, "Default");
}

#[test]
fn server_create_responses_map_to_the_model() {
    let file = fixture("ServerCreate.json");
    let created = observe(response(&file, "201"));
    assert_eq!(created.name, ServerName::new("pgtestsvc4"));
    assert_eq!(
        (created.spec.tier, created.spec.generation, created.spec.vcores),
        (Tier::Basic, Generation::Gen5, 2)
    );
    assert_eq!(created.spec.storage_gb, 125);
    assert_eq!(created.spec.version, PgVersion::V9_6);
    assert_eq!(created.spec.minimal_tls_version, TlsVersion::Tls1_2);
    assert_eq!(created.status, ServerStatus::Ready);
    let endpoint = created.endpoint.unwrap();
    assert_eq!(endpoint.host, "pgtestsvc4.postgres.database.azure.com");
    assert_eq!(endpoint.user, "cloudsa@pgtestsvc4");
    // Quirk: the 200 answer has no minimalTlsVersion, which reads as enforcement disabled.
    let ok = observe(response(&file, "200"));
    assert_eq!(ok.spec.minimal_tls_version, TlsVersion::EnforcementDisabled);
    assert_eq!(ok.spec.tags.get("ElasticServer").map(String::as_str), Some("1"));
    assert!(file["responses"]["202"].as_object().unwrap().is_empty());
}

#[test]
fn replica_create_request_is_what_pgfleet_sends() {
    let file = fixture("ServerCreateReplicaMode.json");
    let source = request(&file)["properties"]["sourceServerId"].as_str().unwrap().to_string();
    let mut intent = spec(Tier::GeneralPurpose, Generation::Gen5, 2, 2000);
    intent.location = "westcentralus".into();
    intent.replica_of = Some(ServerName::new("testserver-master"));
    let mut sent = serde_json::to_value(wire::create_body(&intent, None, Some(&source))).unwrap();
    // Beyond Microsoft's minimal example, a replica sends the settings that are its own (the
    // `ServerPropertiesForCreate` fields a replica may set, as azurerm does): geo-redundant
    // backup is set only at create, so a replica that took its primary's could never converge.
    // Never a login, a password or a version: those it takes from its source.
    let own = sent["properties"].as_object_mut().unwrap();
    let storage = own.remove("storageProfile").unwrap();
    assert_eq!(
        storage,
        serde_json::json!({"storageMB": 2000 * 1024, "backupRetentionDays": 7,
                           "geoRedundantBackup": "Disabled", "storageAutogrow": "Enabled"})
    );
    assert_eq!(own.remove("sslEnforcement").unwrap(), "Enabled");
    assert_eq!(own.remove("minimalTlsVersion").unwrap(), intent.minimal_tls_version.as_str());
    for absent in ["administratorLogin", "administratorLoginPassword", "version"] {
        assert!(!own.contains_key(absent), "{absent}");
    }
    assert_eq!(sent, request(&file));
}

#[test]
fn replica_responses_name_the_primary_and_trust_the_sku_name() {
    let file = fixture("ServerCreateReplicaMode.json");
    for status in ["201", "200"] {
        let replica = observe(response(&file, status));
        assert_eq!(replica.spec.replica_of, Some(ServerName::new("testserver-master")), "{status}");
        // Quirk: the 200 answer says family Gen4 for GP_Gen5_2; the SKU name decides.
        assert_eq!(replica.spec.generation, Generation::Gen5, "{status}");
        assert_eq!(replica.spec.vcores, 2);
        assert_eq!(replica.spec.storage_gb, 2000);
        assert!(!replica.spec.ssl_enforcement);
    }
}

#[test]
fn restore_creates_parse_and_map() {
    for (name, mode) in [
        ("ServerCreatePointInTimeRestore.json", "PointInTimeRestore"),
        ("ServerCreateGeoRestoreMode.json", "GeoRestore"),
    ] {
        let file = fixture(name);
        let body: ServerForCreate = serde_json::from_value(request(&file)).unwrap();
        assert_eq!(body.properties.create_mode, mode);
        assert!(wire::parse_server_id(body.properties.source_server_id.as_deref().unwrap()).is_some());
        // What is read back is what was sent.
        assert_eq!(serde_json::to_value(&body).unwrap(), request(&file), "{name}");
        for status in ["201", "200"] {
            let observed = observe(response(&file, status));
            assert_eq!(observed.spec.replica_of, None);
            assert!(rules::sku_by_name(&observed.spec.sku_name()).is_some());
        }
    }
    // Quirk: the geo-restore request says "Japan West", the answers "westus".
    let geo = fixture("ServerCreateGeoRestoreMode.json");
    assert_eq!(request(&geo)["location"], "Japan West");
    assert_eq!(observe(response(&geo, "200")).spec.location, "westus");
}

#[test]
fn server_get_maps_and_keeps_unknown_fields() {
    let file = fixture("ServerGet.json");
    let body = response(&file, "200");
    let server: Server = serde_json::from_value(body.clone()).unwrap();
    // Quirk: "" for the role and the master of a standalone server.
    assert!(!server.is_replica());
    assert_eq!(serde_json::to_value(&server).unwrap(), body);
    let observed = observe(body);
    assert_eq!(observed.spec.replica_of, None);
    assert_eq!(observed.spec.version, PgVersion::V9_5);
    assert_eq!(observed.spec.backup_retention_days, 10);
    assert_eq!(observed.spec.storage_gb, 5);
    assert_eq!(observed.provider_id, server.id);
}

#[test]
fn server_lists_map_every_server() {
    for name in ["ServerList.json", "ServerListByResourceGroup.json"] {
        let file = fixture(name);
        let list: ServerList = serde_json::from_value(response(&file, "200")).unwrap();
        assert!(!list.value.is_empty(), "{name}");
        for server in &list.value {
            let observed = observe(serde_json::to_value(server).unwrap());
            let sku = rules::sku_by_name(&server.sku.as_ref().unwrap().name).unwrap();
            assert_eq!((observed.spec.tier, observed.spec.vcores), (sku.tier, sku.vcores));
            let mb = server.properties.storage_profile.as_ref().unwrap().storage_mb.unwrap();
            assert_eq!(u64::from(observed.spec.storage_gb), mb / 1024);
        }
    }
    let list: ServerList = serde_json::from_value(response(&fixture("ServerList.json"), "200")).unwrap();
    let geo: Vec<_> = list
        .value
        .iter()
        .map(|s| observe(serde_json::to_value(s).unwrap()))
        .filter(|o| o.spec.geo_redundant_backup)
        .collect();
    assert_eq!(geo.len(), 1);
    assert_eq!(geo[0].spec.backup_retention_days, 35);
}

#[test]
fn replicas_list_maps_to_replicas_of_the_master() {
    let file = fixture("ReplicasListByServer.json");
    let list: ServerList = serde_json::from_value(response(&file, "200")).unwrap();
    assert_eq!(list.value.len(), rules::MAX_REPLICAS_PER_PRIMARY);
    for server in &list.value {
        let observed = observe(serde_json::to_value(server).unwrap());
        assert_eq!(observed.spec.replica_of.as_ref().map(ServerName::as_str), Some("testserver-master"));
        assert_eq!((observed.spec.generation, observed.spec.vcores), (Generation::Gen4, 16));
    }
}

#[test]
fn server_update_request_is_only_the_changed_fields() {
    let file = fixture("ServerUpdate.json");
    let mut current = spec(Tier::Basic, Generation::Gen4, 2, 125);
    current.ssl_enforcement = false;
    current.minimal_tls_version = TlsVersion::EnforcementDisabled;
    let patch = ServerPatch {
        ssl_enforcement: Some(true),
        minimal_tls_version: Some(TlsVersion::Tls1_2),
        ..ServerPatch::default()
    };
    let password = Redacted::new("newpa$$w0rd".to_string());
    let sent = serde_json::to_value(wire::update_body(&current, &patch, Some(&password))).unwrap();
    assert_eq!(sent, request(&file));
    let updated = observe(response(&file, "200"));
    assert!(updated.spec.ssl_enforcement);
    assert_eq!(updated.spec.minimal_tls_version, TlsVersion::Tls1_2);
}

#[test]
fn update_bodies_never_resend_unchanged_storage() {
    let current = spec(Tier::GeneralPurpose, Generation::Gen5, 4, 100);
    let patch = ServerPatch { vcores: Some(8), ..ServerPatch::default() };
    let sent = serde_json::to_value(wire::update_body(&current, &patch, None)).unwrap();
    assert_eq!(
        sent,
        json!({"sku": {"name": "GP_Gen5_8", "tier": "GeneralPurpose", "family": "Gen5", "capacity": 8}, "properties": {}})
    );
    assert_eq!(
        serde_json::to_value(wire::promote_body()).unwrap(),
        json!({"properties": {"replicationRole": "None"}})
    );
}

#[test]
fn delete_and_restart_address_the_server_path() {
    for (name, statuses, suffix) in [
        ("ServerDelete.json", vec!["200", "202", "204"], ""),
        ("ServerRestart.json", vec!["200", "202"], "/restart"),
    ] {
        let file = fixture(name);
        let parameters = &file["parameters"];
        let mut keys: Vec<&str> = file["responses"].as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, statuses, "{name}");
        let path = format!(
            "{}{suffix}",
            wire::server_path(
                parameters["resourceGroupName"].as_str().unwrap(),
                parameters["serverName"].as_str().unwrap()
            )
        );
        assert_eq!(
            path,
            format!(
                "/resourceGroups/TestGroup/providers/Microsoft.DBforPostgreSQL/servers/testserver{suffix}"
            )
        );
        assert_eq!(parameters["api-version"], wire::API_VERSION);
    }
}

#[test]
fn child_resources_round_trip() {
    for name in ["FirewallRuleCreate.json", "DatabaseCreate.json"] {
        let file = fixture(name);
        let sent: ChildResource = serde_json::from_value(request(&file)).unwrap();
        assert_eq!(serde_json::to_value(&sent).unwrap(), request(&file), "{name}");
        for status in ["201", "200"] {
            let body = response(&file, status);
            let parsed: ChildResource = serde_json::from_value(body.clone()).unwrap();
            assert_eq!(parsed.properties, sent.properties, "{name} {status}");
            assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
        }
    }
}

#[test]
fn configuration_get_round_trips() {
    let file = fixture("ConfigurationGet.json");
    let body = response(&file, "200");
    let configuration: Configuration = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(configuration.properties.value.as_deref(), Some("on"));
    assert_eq!(configuration.properties.source.as_deref(), Some("system-default"));
    assert_eq!(serde_json::to_value(&configuration).unwrap(), body);
}

#[test]
fn performance_tiers_agree_with_the_sku_catalog() {
    let file = fixture("PerformanceTiersListByLocation.json");
    let tiers: PerformanceTierList = serde_json::from_value(response(&file, "200")).unwrap();
    let mut seen = 0;
    for tier in &tiers.value {
        for objective in &tier.service_level_objectives {
            let sku = rules::sku_by_name(&objective.id)
                .unwrap_or_else(|| panic!("{} not in the catalog", objective.id));
            assert_eq!(sku.tier.as_str(), objective.edition);
            assert_eq!(sku.vcores, objective.v_core);
            assert_eq!(sku.generation.as_str(), objective.hardware_generation);
            let limits = rules::storage_limits(sku.tier);
            assert_eq!(u64::from(limits.min_gb) * 1024, objective.min_storage_mb);
            assert!(u64::from(limits.max_gb) * 1024 >= objective.max_storage_mb);
            assert_eq!(
                (objective.min_backup_retention_days, objective.max_backup_retention_days),
                (*rules::RETENTION_DAYS.start(), *rules::RETENTION_DAYS.end())
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 7);
}
