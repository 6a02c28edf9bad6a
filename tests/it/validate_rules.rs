//! One bad fleet file per validation rule (tests/fixtures/invalid/), each asserting the message,
//! the key path and the line and column of the problem.

use pgfleet::config::{self, Diagnostic, Severity};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> (PathBuf, Vec<u8>) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid").join(format!("{name}.toml"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, bytes)
}

/// The diagnostics of an invalid fixture (it must be invalid).
fn diagnostics(name: &str) -> Vec<Diagnostic> {
    let (path, bytes) = fixture(name);
    match config::parse(&path, &bytes) {
        Ok(_) => panic!("{name} should be invalid"),
        Err(diagnostics) => diagnostics.0,
    }
}

/// Asserts that the fixture has exactly one error, at `path`, `line`:`column`, whose message
/// contains `message` and which carries a hint.
#[track_caller]
fn single_error(name: &str, path: &str, line: usize, column: usize, message: &str) -> Diagnostic {
    let found = diagnostics(name);
    let errors: Vec<&Diagnostic> = found.iter().filter(|d| d.severity == Severity::Error).collect();
    assert_eq!(errors.len(), 1, "{name}: {found:#?}");
    let error = errors[0].clone();
    assert_eq!(error.path, path, "{name}");
    assert_eq!((error.line, error.column), (line, column), "{name}: {error}");
    assert!(error.message.contains(message), "{name}: {:?} lacks {message:?}", error.message);
    assert!(error.hint.is_some(), "{name}: every rule says how to fix it");
    assert!(error.file.ends_with(format!("{name}.toml")), "{name}");
    error
}

#[test]
fn vcores_must_be_sold_for_the_tier_and_generation() {
    let error = single_error(
        "vcores-not-offered",
        "servers.db-odd.vcores",
        20,
        10,
        "6 vCores is not offered on GeneralPurpose Gen5",
    );
    assert_eq!(error.hint.as_deref(), Some("GeneralPurpose Gen5 offers 2, 4, 8, 16, 32, 64 vCores"));
}

#[test]
fn memory_optimized_is_gen5_only() {
    single_error(
        "memory-optimized-on-gen4",
        "servers.db-mo.generation",
        20,
        14,
        "MemoryOptimized is not offered on Gen4",
    );
}

#[test]
fn general_purpose_64_vcores_is_gen5_only() {
    single_error(
        "general-purpose-64-on-gen4",
        "servers.db-big.vcores",
        21,
        10,
        "64 vCores is not offered on GeneralPurpose Gen4",
    );
}

#[test]
fn basic_has_one_or_two_vcores() {
    let error = single_error(
        "basic-four-vcores",
        "servers.db-small.vcores",
        20,
        10,
        "4 vCores is not offered on Basic",
    );
    assert!(error.hint.unwrap().contains("1, 2"));
}

#[test]
fn basic_storage_is_at_most_1024_gb() {
    let error = single_error("basic-storage-too-large", "servers.db-small.storage_gb", 21, 14, "2048 GB");
    assert!(error.hint.unwrap().contains("5 to 1024 GB"));
}

#[test]
fn storage_is_at_least_5_gb() {
    let error = single_error("storage-too-small", "servers.db-tiny.storage_gb", 21, 14, "4 GB is outside");
    assert!(error.hint.unwrap().contains("5 to 16384 GB"));
}

#[test]
fn retention_is_7_to_35_days() {
    let error =
        single_error("retention-too-long", "servers.db-keep.backup_retention_days", 22, 25, "40 days");
    assert!(error.hint.unwrap().contains("7 to 35 days"));
}

#[test]
fn geo_redundant_backup_is_not_on_basic() {
    single_error(
        "geo-backup-on-basic",
        "servers.db-small.geo_redundant_backup",
        22,
        24,
        "not available on Basic",
    );
}

#[test]
fn ssl_disabled_requires_tls_enforcement_disabled() {
    let error = single_error(
        "tls-without-ssl",
        "servers.db-plain.minimal_tls_version",
        23,
        23,
        "ssl_enforcement is false",
    );
    assert!(error.hint.unwrap().contains("TLSEnforcementDisabled"));
}

#[test]
fn server_names_are_lowercase_letters_digits_and_hyphens() {
    single_error(
        "server-name-uppercase",
        "servers.Db_Main2",
        18,
        10,
        "only lowercase letters, digits and hyphens",
    );
}

#[test]
fn server_names_do_not_end_with_a_hyphen() {
    single_error("server-name-hyphen-end", "servers.db-", 18, 10, "starts or ends with a hyphen");
}

#[test]
fn reserved_admin_logins_are_refused() {
    single_error("forbidden-admin-login", "servers.db-root.admin_login", 22, 15, "\"root\" is reserved");
}

#[test]
fn replica_of_names_a_server_of_the_fleet() {
    let error =
        single_error("replica-of-unknown", "servers.db-ro.replica_of", 19, 14, "no server \"db-mian\"");
    assert_eq!(error.hint.as_deref(), Some("did you mean \"db-main\"?"));
}

#[test]
fn no_replica_of_a_replica() {
    let error = single_error(
        "replica-of-replica",
        "servers.db-ro-ro.replica_of",
        25,
        14,
        "db-ro is itself a replica",
    );
    assert!(error.hint.unwrap().contains("db-main"));
}

#[test]
fn no_replicas_of_basic_servers() {
    single_error(
        "replica-of-basic",
        "servers.db-small-ro.replica_of",
        24,
        14,
        "Basic servers have no replicas",
    );
}

#[test]
fn no_replica_of_itself() {
    single_error("replica-of-itself", "servers.db-loop.replica_of", 19, 14, "cannot be a replica of itself");
}

#[test]
fn at_most_five_replicas_per_primary() {
    single_error("too-many-replicas", "servers.db-main", 13, 10, "has 6 replicas");
}

#[test]
fn replicas_have_at_least_the_primarys_connections() {
    let error = single_error(
        "replica-fewer-vcores",
        "servers.db-ro.vcores",
        21,
        10,
        "falls short of its primary db-main in connections: GP_Gen5_4 (250 connections) against db-main's \
         GP_Gen5_8 (480)",
    );
    assert_eq!(
        error.hint.as_deref(),
        Some("set vcores = 8 or more on db-ro (GP_Gen5_8 allows 480 connections), or keep db-main smaller")
    );
}

#[test]
fn replicas_have_at_least_the_primarys_vcores() {
    let error = single_error(
        "replica-fewer-vcores-more-connections",
        "servers.db-ro.vcores",
        21,
        10,
        "falls short of its primary db-main in vcores: 2 vCores (MO_Gen5_2) against db-main's 4 (GP_Gen5_4)",
    );
    assert_eq!(error.hint.as_deref(), Some("set vcores = 4 or more on db-ro, or keep db-main smaller"));
}

#[test]
fn replica_sku_must_allow_the_primarys_connections() {
    let error = single_error(
        "replica-fewer-connections",
        "servers.db-ro.vcores",
        22,
        10,
        "GP_Gen5_4 (250 connections) against db-main's MO_Gen5_2 (300), 50 short",
    );
    assert!(error.hint.as_deref().unwrap().contains("set vcores = 8 or more on db-ro"), "{error}");
}

#[test]
fn replicas_have_at_least_the_primarys_storage() {
    let error = single_error(
        "replica-less-storage",
        "servers.db-ro.storage_gb",
        22,
        14,
        "falls short of its primary db-main in storage: 50 GB against db-main's 100 GB",
    );
    assert_eq!(error.hint.as_deref(), Some("set storage_gb = 100 or more on db-ro"));
}

#[test]
fn reserved_tags_are_refused_in_servers_and_defaults() {
    let found = diagnostics("reserved-tags");
    let summary: Vec<(&str, usize, usize)> =
        found.iter().map(|d| (d.path.as_str(), d.line, d.column)).collect();
    assert_eq!(
        summary,
        [
            ("defaults.tags.pgfleet-owner", 12, 29),
            ("servers.db-main.tags.PGFLEET-cutover", 21, 1),
            ("servers.db-ro.tags.pgfleet-staging", 28, 6),
        ],
        "{found:#?}"
    );
    assert!(found.iter().all(|d| d.severity == Severity::Error && d.message.contains("is reserved")));
    assert!(found.iter().all(|d| d.hint.as_deref().is_some_and(|hint| hint.contains("\"pgfleet-\""))));
}

#[test]
fn replicas_take_no_per_server_key_from_their_primary() {
    // The primary has geo-redundant backup, its own location, retention and TLS; its replica
    // sets none of them, so it gets pgfleet's defaults (and the provider's location), not the
    // primary's. A replica may also set geo-redundant backup its primary does not have.
    let text = std::fs::read_to_string(fixture("replica-fewer-vcores").0)
        .unwrap()
        .replace("vcores = 8\nstorage_gb = 100\n", "vcores = 4\nstorage_gb = 100\ngeo_redundant_backup = true\nlocation = \"northeurope\"\nbackup_retention_days = 21\nminimal_tls_version = \"TLS1_1\"\n")
        .replace("[servers.db-ro]", "[servers.db-ro-geo]\nreplica_of = \"db-main\"\ntier = \"GeneralPurpose\"\nvcores = 4\nstorage_gb = 100\ngeo_redundant_backup = true\n\n[servers.db-ro]");
    let (fleet, warnings) = match config::parse(Path::new("replicas.toml"), text.as_bytes()) {
        Ok(parsed) => parsed,
        Err(diagnostics) => panic!("{}", diagnostics.render(&text, false)),
    };
    assert!(warnings.is_empty(), "{warnings:?}");
    let main = &fleet.servers[&"db-main".into()].spec;
    assert!(main.geo_redundant_backup);
    assert_eq!(main.location, "northeurope");
    let replica = &fleet.servers[&"db-ro".into()].spec;
    assert!(!replica.geo_redundant_backup, "not inherited from the primary");
    assert_eq!(replica.location, "local", "the provider's, not the primary's");
    assert_eq!(replica.backup_retention_days, 7);
    assert_eq!(replica.minimal_tls_version, pgfleet::rules::TlsVersion::Tls1_2);
    assert!(fleet.servers[&"db-ro-geo".into()].spec.geo_redundant_backup);
}

#[test]
fn replicas_keep_the_primarys_version() {
    single_error(
        "replica-other-version",
        "servers.db-ro.version",
        23,
        11,
        "is \"10\" but its primary db-main has \"11\"",
    );
}

#[test]
fn replicas_keep_the_primarys_admin_login() {
    single_error("replica-other-admin-login", "servers.db-ro.admin_login", 23, 15, "\"otheradmin\"");
}

#[test]
fn local_ports_are_1024_to_65535() {
    single_error("local-port-below-1024", "provider.local.port_base", 9, 13, "port 80");
}

#[test]
fn azure_needs_its_section() {
    single_error("azure-without-section", "provider.azure", 6, 8, "no [provider.azure] table");
}

#[test]
fn azure_needs_a_location() {
    single_error(
        "azure-missing-location",
        "provider.azure.location",
        8,
        11,
        "missing required key `location`",
    );
}

#[test]
fn azure_endpoint_is_an_http_url() {
    single_error("azure-endpoint-not-http", "provider.azure.endpoint", 12, 12, "not an http(s) URL");
}

#[test]
fn required_keys_missing_after_defaults_point_at_the_server_header() {
    let error = single_error(
        "missing-required-key",
        "servers.db-nosize.storage_gb",
        18,
        10,
        "missing required key `storage_gb`",
    );
    assert!(error.hint.unwrap().contains("[defaults]"));
}

#[test]
fn literal_passwords_are_refused_and_say_why() {
    let error = single_error(
        "literal-password",
        "servers.db-leak.admin_password",
        22,
        18,
        "a literal password is not allowed",
    );
    assert!(error.message.contains("leak"));
    assert!(error.hint.unwrap().contains("{ env = "));
    let rendered = format!("{:?}", diagnostics("literal-password"));
    assert!(rendered.contains("admin_password"), "the path is shown");
}

#[test]
fn unknown_keys_suggest_the_closest_key() {
    let error = single_error(
        "unknown-key",
        "servers.db-typo.backup_retention",
        22,
        1,
        "unknown key `backup_retention`",
    );
    assert_eq!(error.hint.as_deref(), Some("did you mean `backup_retention_days`?"));
}

#[test]
fn replica_of_is_not_a_default() {
    single_error("replica-of-in-defaults", "defaults.replica_of", 12, 1, "replica_of cannot be a default");
}

#[test]
fn fleet_names_cannot_be_paths() {
    single_error("bad-fleet-name", "fleet.name", 3, 8, "cannot name a state file");
}

#[test]
fn inherited_values_are_reported_for_the_server_at_the_defaults_line() {
    let error =
        single_error("inherited-bad-vcores", "servers.db-main.vcores", 12, 10, "(inherited from [defaults])");
    let (_, bytes) = fixture("inherited-bad-vcores");
    let line = String::from_utf8(bytes).unwrap().lines().nth(error.line - 1).unwrap().to_string();
    assert_eq!(line, "vcores = 3", "points where the value is written");
}

#[test]
fn every_wrong_type_is_reported_at_once() {
    let found = diagnostics("wrong-types");
    let summary: Vec<(&str, usize, usize)> =
        found.iter().map(|d| (d.path.as_str(), d.line, d.column)).collect();
    assert_eq!(
        summary,
        [
            ("servers.db-types.vcores", 20, 10),
            ("servers.db-types.version", 22, 11),
            ("servers.db-types.ssl_enforcement", 23, 19),
            ("servers.db-types.tags.team", 24, 17),
        ]
    );
    assert_eq!(found[0].message, "expected an integer, found a string");
    assert_eq!(found[1].hint.as_deref(), Some("quote it: version = \"11\""));
    assert_eq!(found[3].hint.as_deref(), Some("quote it: team = \"1\""));
}

#[test]
fn retired_versions_are_a_warning_not_an_error() {
    let text = std::fs::read_to_string(fixture("replica-fewer-vcores").0).unwrap().replace(
        "[servers.db-ro]\nreplica_of = \"db-main\"\ntier = \"GeneralPurpose\"\nvcores = 4",
        "[servers.db-old]\ntier = \"GeneralPurpose\"\nvcores = 4\nversion = \"9.6\"",
    );
    let (fleet, warnings) = config::parse(Path::new("retired.toml"), text.as_bytes()).unwrap();
    assert_eq!(fleet.servers.len(), 2);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].severity, Severity::Warning);
    assert_eq!(warnings[0].path, "servers.db-old.version");
    assert!(warnings[0].message.contains("9.6 is retired"));
}

#[test]
fn a_secret_reference_names_exactly_one_known_source() {
    let found = diagnostics("secret-reference-shapes");
    let summary: Vec<(&str, usize, usize, &str)> =
        found.iter().map(|d| (d.path.as_str(), d.line, d.column, d.message.as_str())).collect();
    assert_eq!(
        summary,
        [
            (
                "servers.db-both.admin_password",
                17,
                18,
                "names both an environment variable and a file; a password comes from one place"
            ),
            (
                "servers.db-empty.admin_password",
                20,
                18,
                "is an empty table; it must say where the password comes from"
            ),
            ("servers.db-typo.admin_password", 23, 18, "unknown key `envv` in a secret reference"),
        ]
    );
    assert!(found[2].hint.as_deref().unwrap().starts_with("did you mean `env`?"), "{}", found[2]);
}

/// A path the fleet file writes is relative to the fleet file (as a password file is); the
/// default root, which the file does not write, stays under the working directory.
#[test]
fn a_written_local_root_is_relative_to_the_fleet_file() {
    let root_of = |local: &str| {
        let text = format!(
            "[fleet]\nname = \"paths\"\n[provider]\nkind = \"local\"\n{local}\n[defaults]\nversion = \"11\"\n\
             tier = \"GeneralPurpose\"\nvcores = 2\nstorage_gb = 20\nadmin_login = \"fleetadmin\"\n\
             admin_password = {{ env = \"PGFLEET_ADMIN_PASSWORD\" }}\n[servers.one]\n"
        );
        let (fleet, _) = config::parse(Path::new("team/fleets/paths.toml"), text.as_bytes()).unwrap();
        match fleet.provider {
            config::ProviderSettings::Local(local) => local.root,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(root_of("[provider.local]\nroot = \"clusters\""), Path::new("team/fleets/clusters"));
    assert_eq!(
        root_of("[provider.local]\nroot = \"../state/local\""),
        Path::new("team/fleets/../state/local")
    );
    assert_eq!(root_of("[provider.local]\nroot = \"/srv/pg\""), Path::new("/srv/pg"));
    assert_eq!(root_of(""), Path::new("state/local"));
}
