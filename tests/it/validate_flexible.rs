//! `pgfleet validate` on Flexible Server fleets: the keys of each service, the flexible rules the
//! file alone can break, each reported at its key with line, column and a hint.

use assert_cmd::Command;
use serde_json::Value;

/// A fleet file with the local provider and these server tables.
fn fleet(servers: &str) -> String {
    format!(
        "[fleet]\nname = \"flex\"\n\n[provider]\nkind = \"local\"\n\n[defaults]\nversion = \"16\"\nadmin_login = \
         \"fleetadmin\"\nadmin_password = {{ env = \"PGFLEET_ADMIN_PASSWORD\" }}\n\n{servers}"
    )
}

/// Runs `pgfleet validate` on `text`; the exit code and stderr.
fn validate(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.toml");
    std::fs::write(&path, text).unwrap();
    let output = Command::cargo_bin("pgfleet")
        .unwrap()
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("PGFLEET_CONFIG")
        .args(["validate", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!dir.path().join("state").exists(), "validate writes nothing");
    (output.status.code().unwrap_or(-1), String::from_utf8(output.stderr).unwrap())
}

/// The one error of `text`: its key path, `line:column`, message and hint must contain these.
#[track_caller]
fn one_error(text: &str, path: &str, at: (usize, usize), message: &str, hint: &str) {
    let (code, stderr) = validate(text);
    assert_eq!(code, 1, "{stderr}");
    let errors = stderr.lines().filter(|line| line.starts_with("error:")).count();
    assert_eq!(errors, 1, "one error expected:\n{stderr}");
    assert!(stderr.contains(&format!(":{}:{}", at.0, at.1)), "{path} at {at:?}:\n{stderr}");
    assert!(stderr.contains(path), "{path}:\n{stderr}");
    assert!(stderr.contains(message), "{message:?}:\n{stderr}");
    assert!(stderr.contains(hint), "hint {hint:?}:\n{stderr}");
}

const PRIMARY: &str =
    "[servers.orders]\nservice = \"flexible\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 256\n";

#[test]
fn a_flexible_fleet_is_valid() {
    let text = fleet(&format!(
        "{PRIMARY}high_availability = \"ZoneRedundant\"\nzone = \"1\"\nstandby_zone = \"2\"\nstorage_autogrow = true\n\
         maintenance_window = {{ day = \"Sunday\", hour = 2, minute = 0 }}\n\n\
         [servers.orders-ro]\nservice = \"flexible\"\nreplica_of = \"orders\"\nsku = \"Standard_D4ds_v5\"\n\
         storage_gb = 256\nstorage_autogrow = true\n\n\
         [servers.tiny]\nservice = \"flexible\"\nsku = \"Standard_B1ms\"\nstorage_gb = 32\n\n\
         [servers.legacy]\ntier = \"Basic\"\nvcores = 1\nstorage_gb = 20\nversion = \"11\"\n"
    ));
    let (code, stderr) = validate(&text);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("4 servers (1 Basic, 1 Burstable, 2 GeneralPurpose)"), "{stderr}");
}

#[test]
fn a_key_of_the_other_service_is_an_error_with_a_hint() {
    one_error(
        &fleet(&format!("{PRIMARY}vcores = 4\n")),
        "servers.orders.vcores",
        (16, 1),
        "vcores is not a setting of Flexible Server",
        "sku = \"Standard_D4ds_v5\"",
    );
    one_error(
        &fleet(
            "[servers.legacy]\ntier = \"Basic\"\nvcores = 1\nstorage_gb = 20\nversion = \"11\"\nsku = \"Standard_B1ms\"\n",
        ),
        "servers.legacy.sku",
        (17, 1),
        "sku is not a setting of Single Server",
        "service = \"flexible\"",
    );
}

#[test]
fn defaults_apply_only_to_servers_whose_service_has_the_key() {
    let text = fleet(&format!(
        "{PRIMARY}\n[servers.legacy]\ntier = \"GeneralPurpose\"\nvcores = 2\nstorage_gb = 20\nversion = \"11\"\n"
    ))
    .replace("[defaults]\n", "[defaults]\nssl_enforcement = true\ngeneration = \"Gen5\"\nhigh_availability = \"Disabled\"\n");
    let (code, stderr) = validate(&text);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn an_unknown_sku_suggests_the_nearest() {
    one_error(
        &fleet(&PRIMARY.replace("Standard_D4ds_v5", "Standard_D4ds_v4x")),
        "servers.orders.sku",
        (14, 7),
        "is not a Flexible Server SKU pgfleet knows",
        "did you mean \"Standard_D4ds_v4\"?",
    );
}

#[test]
fn storage_must_be_an_offered_size() {
    one_error(
        &fleet(&PRIMARY.replace("256", "100")),
        "servers.orders.storage_gb",
        (15, 14),
        "100 GiB is not a Premium SSD size",
        "use storage_gb = 128",
    );
}

#[test]
fn a_version_of_the_other_service_is_refused() {
    one_error(
        &fleet("[servers.legacy]\ntier = \"Basic\"\nvcores = 1\nstorage_gb = 20\n"),
        "servers.legacy.version",
        (8, 11),
        "Single Server does not run PostgreSQL 16",
        "service = \"flexible\"",
    );
}

#[test]
fn the_flexible_rules_the_file_can_break_are_refused() {
    let burstable = "[servers.small]\nservice = \"flexible\"\nsku = \"Standard_B2s\"\nstorage_gb = 64\n";
    one_error(
        &fleet(&format!("{burstable}high_availability = \"SameZone\"\n")),
        "servers.small.high_availability",
        (16, 21),
        "high availability is not offered on Burstable",
        "Disabled",
    );
    one_error(
        &fleet(&format!(
            "{burstable}\n[servers.small-ro]\nservice = \"flexible\"\nreplica_of = \"small\"\nsku = \"Standard_D2ds_v5\"\n\
             storage_gb = 64\n"
        )),
        "servers.small-ro.replica_of",
        (19, 14),
        "small is a Burstable server, and Burstable servers have no replicas",
        "GeneralPurpose or MemoryOptimized",
    );
    let replica = "\n[servers.orders-ro]\nservice = \"flexible\"\nreplica_of = \"orders\"\nsku = \"Standard_D4ds_v5\"\n\
                   storage_gb = 256\n";
    one_error(
        &fleet(&format!("{PRIMARY}{replica}high_availability = \"SameZone\"\n")),
        "servers.orders-ro.high_availability",
        (22, 21),
        "replica orders-ro cannot have high availability",
        "Disabled",
    );
    one_error(
        &fleet(&format!("{PRIMARY}{replica}geo_redundant_backup = true\n")),
        "servers.orders-ro.geo_redundant_backup",
        (22, 24),
        "replicas have no backups",
        "geo_redundant_backup = false",
    );
    one_error(
        &fleet(&format!("{PRIMARY}{replica}").replace("storage_gb = 256\n\n", "storage_gb = 512\n\n")),
        "servers.orders-ro.storage_gb",
        (21, 14),
        "falls short of its primary orders in storage",
        "storage_gb = 512",
    );
    one_error(
        &fleet(&format!("{PRIMARY}{replica}").replace(
            "sku = \"Standard_D4ds_v5\"\nstorage_gb = 256\n\n",
            "sku = \"Standard_D8ds_v5\"\nstorage_gb = 256\n\n",
        )),
        "servers.orders-ro.sku",
        (20, 7),
        "falls short of its primary orders in compute",
        "8 vCores or more",
    );
    one_error(
        &fleet(&format!("{PRIMARY}storage_autogrow = true\n{replica}")),
        "servers.orders-ro.storage_autogrow",
        (18, 1),
        "orders has storage autogrow on, so its replica orders-ro must too",
        "storage_autogrow = true on orders-ro",
    );
    one_error(
        &fleet(&format!("{PRIMARY}standby_zone = \"2\"\n")),
        "servers.orders.standby_zone",
        (16, 16),
        "standby_zone is set but high_availability is Disabled",
        "ZoneRedundant",
    );
    one_error(
        &fleet(
            "[servers.legacy]\ntier = \"GeneralPurpose\"\nvcores = 4\nstorage_gb = 256\nversion = \"11\"\n\n\
                [servers.flex-ro]\nservice = \"flexible\"\nreplica_of = \"legacy\"\nsku = \"Standard_D4ds_v5\"\n\
                storage_gb = 256\n",
        ),
        "servers.flex-ro.replica_of",
        (20, 14),
        "runs on its primary's service",
        "service = \"single\" on flex-ro",
    );
}

#[test]
fn premium_ssd_v2_has_its_conditions() {
    let v2 = "[servers.fast]\nservice = \"flexible\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 300\n\
              storage_type = \"PremiumV2_LRS\"\niops = 5000\nthroughput = 200\n";
    let (code, stderr) = validate(&fleet(v2));
    assert_eq!(code, 0, "{stderr}");
    one_error(
        &fleet(&format!("{v2}storage_autogrow = true\n")),
        "servers.fast.storage_type",
        (16, 16),
        "Premium SSD v2 has no autogrow",
        "Premium_LRS",
    );
    one_error(
        &fleet(&v2.replace("Standard_D4ds_v5", "Standard_B2s")),
        "servers.fast.storage_type",
        (16, 16),
        "Premium SSD v2 is not offered on Burstable",
        "Premium_LRS",
    );
    one_error(
        &fleet(&format!("{v2}version = \"13\"\n")),
        "servers.fast.storage_type",
        (16, 16),
        "needs PostgreSQL 14 or later",
        "Premium_LRS",
    );
    one_error(
        &fleet(&format!("{PRIMARY}iops = 4000\n")),
        "servers.orders.iops",
        (16, 8),
        "iops is provisioned only on Premium SSD v2",
        "PremiumV2_LRS",
    );
}

#[test]
fn more_than_five_replicas_are_refused() {
    let mut servers = PRIMARY.to_string();
    for n in 1..=6 {
        servers.push_str(&format!(
            "\n[servers.orders-ro-{n}]\nservice = \"flexible\"\nreplica_of = \"orders\"\nsku = \"Standard_D4ds_v5\"\n\
             storage_gb = 256\n"
        ));
    }
    let (code, stderr) = validate(&fleet(&servers));
    assert_eq!(code, 1);
    assert!(stderr.contains("has 6 replicas"), "{stderr}");
}

#[test]
fn flexible_servers_validate_for_the_azure_provider() {
    let text = fleet(PRIMARY).replace(
        "kind = \"local\"\n",
        "kind = \"azure\"\n\n[provider.azure]\nsubscription_id = \"00000000-0000-0000-0000-000000000000\"\n\
         resource_group = \"rg\"\nlocation = \"westeurope\"\n",
    );
    let (code, stderr) = validate(&text);
    assert_eq!(code, 0, "the azure provider manages flexibleServers: {stderr}");
}

#[test]
fn the_schema_lists_the_flexible_keys() {
    let schema: Value =
        serde_json::from_str(include_str!("../../schemas/fleet.schema.json")).expect("the schema is JSON");
    let server = &schema["properties"]["defaults"]["properties"];
    for key in [
        "service",
        "sku",
        "storage_type",
        "iops",
        "throughput",
        "high_availability",
        "zone",
        "standby_zone",
        "maintenance_window",
        "public_network_access",
    ] {
        assert!(server.get(key).is_some(), "{key} is not in the schema");
    }
}
