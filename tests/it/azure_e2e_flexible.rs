//! Flexible Server over ARM: the `pgfleet` binary against the emulator on 127.0.0.1. A fleet of
//! an HA primary with a replica and a Burstable server is created, scaled up, failed over (the
//! file names the standby's zone), scaled down and destroyed, with faults on; every command
//! exits 0 the first time, each apply converges, and an audit written apart from the emulator
//! finds no accepted request that breaks a rule. A disk grown by autogrow is no change. The provider is also driven directly for what
//! only it shows: the requests an update is split into, and promote.

use crate::azure_common;

use axum::response::IntoResponse;
use azure_common::flexible_audit::FlexibleAudit;
use azure_common::*;
use pgfleet::emulator::{self, EmulatorOptions, FaultRates};
use pgfleet::model::{ServerName, ServerPatch, ServerSpec};
use pgfleet::providers::{CreateRequest, Provider};
use pgfleet::rules::{HaMode, MaintenanceWindow, PgVersion, Weekday};
use pgfleet::secret::Redacted;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const FAULTS: &str = "429=0.05,500=0.02,409=0.02,drop=0.01,lost=0.01,failed=0.01";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Initial,
    ScaledUp,
    FailedOver,
    ScaledDown,
}

fn fleet_toml(endpoint: &str, phase: Phase) -> String {
    let (sku, storage) = match phase {
        Phase::Initial => ("Standard_D2ds_v5", 128),
        Phase::ScaledUp | Phase::FailedOver => ("Standard_D4ds_v5", 256),
        Phase::ScaledDown => ("Standard_D2ds_v5", 256),
    };
    // The standby runs in zone 2; naming it as the zone is a planned failover.
    let zone = if matches!(phase, Phase::FailedOver | Phase::ScaledDown) { "2" } else { "1" };
    let standby = if zone == "2" { "1" } else { "2" };
    format!(
        "[fleet]\nname = \"flex\"\n[provider]\nkind = \"azure\"\n[provider.azure]\n\
         subscription_id = \"{SUBSCRIPTION}\"\nresource_group = \"{GROUP}\"\nlocation = \"westeurope\"\n\
         endpoint = \"{endpoint}\"\n[defaults]\nservice = \"flexible\"\nversion = \"16\"\n\
         admin_login = \"fleetadmin\"\nadmin_password = {{ file = \"password\" }}\n\n\
         [servers.orders]\nsku = \"{sku}\"\nstorage_gb = {storage}\nhigh_availability = \"ZoneRedundant\"\n\
         zone = \"{zone}\"\nstandby_zone = \"{standby}\"\n\
         maintenance_window = {{ day = \"Sunday\", hour = 2, minute = 0 }}\n\n\
         [servers.orders-ro]\nreplica_of = \"orders\"\nsku = \"{sku}\"\nstorage_gb = {storage}\n\n\
         [servers.tiny]\nsku = \"Standard_B1ms\"\nstorage_gb = 32\nstorage_autogrow = true\n"
    )
}

async fn run(dir: &Path, base: &str, args: &[&str], failures: &mut Vec<String>) -> String {
    let output = run_pgfleet(dir, base, args).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "`{}` printed the password",
        args.join(" ")
    );
    if output.status.code() != Some(0) {
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        failures.push(format!(
            "`pgfleet {}` exited {:?}: {}",
            args.join(" "),
            output.status.code(),
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    stdout
}

async fn run_seed(seed: u64) -> (Vec<String>, usize, Vec<azure_common::audit::Violation>) {
    let options = EmulatorOptions {
        seed,
        latencies: fast_latencies(),
        faults: FAULTS.parse::<FaultRates>().unwrap(),
        fault_retry_after: Duration::ZERO,
        ..EmulatorOptions::default()
    };
    let emulator = emulator::start(options).await.expect("the emulator starts");
    let base = emulator.base_url();
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    std::fs::write(dir.join("password"), PASSWORD).unwrap();
    let mut failures = Vec::new();
    for phase in [Phase::Initial, Phase::ScaledUp, Phase::FailedOver, Phase::ScaledDown] {
        std::fs::write(dir.join("fleet.toml"), fleet_toml(&base, phase)).unwrap();
        let plan = run(dir, &base, &["plan"], &mut failures).await;
        if phase == Phase::FailedOver {
            assert!(plan.contains("fail"), "seed {seed}: the standby's zone plans a failover:\n{plan}");
        }
        run(dir, &base, &["apply", "--auto-approve"], &mut failures).await;
        if phase == Phase::Initial {
            // The Burstable server's disk fills: autogrow doubles it, which is no change to
            // plan (pgfleet never sends a smaller size) in this phase or any later one.
            assert_eq!(emulator.fill_storage("tiny", 27.0).unwrap(), 64, "seed {seed}: autogrow");
            let plan = run(dir, &base, &["plan"], &mut failures).await;
            assert!(plan.contains("64 GB"), "seed {seed}: the plan notes the grown disk:\n{plan}");
        }
        run(dir, &base, &["plan", "--detailed-exitcode"], &mut failures).await;
    }
    run(dir, &base, &["destroy", "--allow-delete", "--auto-approve"], &mut failures).await;
    let requests = emulator.requests();
    let faults = requests.iter().filter(|r| r.fault.is_some()).count();
    let violations = FlexibleAudit::default().replay(&requests);
    let provider: Arc<dyn Provider> = Arc::new(provider(&emulator, &[]));
    let live = retrying(provider).refresh().await.expect("the emulator can be read");
    assert!(live.is_empty() || !failures.is_empty(), "seed {seed}: destroy left {:?}", live.keys());
    emulator.shutdown().await;
    (failures, faults, violations)
}

#[test]
fn the_flexible_audit_finds_what_it_looks_for() {
    azure_common::flexible_audit::self_test();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flexible_fleet_applies_scales_fails_over_and_converges_under_faults() {
    let mut all_faults = 0;
    for seed in 0..3 {
        let (failures, faults, violations) = run_seed(seed).await;
        assert!(failures.is_empty(), "seed {seed}: {failures:#?}");
        assert!(violations.is_empty(), "seed {seed}: accepted against the rules: {violations:#?}");
        all_faults += faults;
    }
    assert!(all_faults > 0, "faults were injected");
}

fn flexible(sku: &str, storage_gb: u32) -> ServerSpec {
    ServerSpec::flexible(sku, storage_gb, PgVersion::V16, "fleetadmin", "westeurope")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_splits_updates_promotes_and_fails_over() {
    let emulator = emulator(FaultRates::default(), 1).await;
    let azure = provider(&emulator, &["main", "main-ro"]);
    let mut spec = flexible("Standard_D2ds_v5", 128);
    {
        let flexible = spec.flexible.as_mut().unwrap();
        flexible.high_availability = HaMode::ZoneRedundant;
        flexible.maintenance_window = Some(MaintenanceWindow { day: Weekday::Sunday, hour: 3, minute: 30 });
    }
    let created = azure
        .create(CreateRequest {
            name: ServerName::new("main"),
            spec: spec.clone(),
            admin_password: Some(Redacted::new(PASSWORD.to_string())),
        })
        .await
        .unwrap();
    let live = created.spec.flexible.clone().unwrap();
    assert_eq!(
        live.maintenance_window,
        spec.flexible.as_ref().unwrap().maintenance_window,
        "set by the follow-up"
    );
    assert_eq!((live.zone.as_deref(), live.standby_zone.as_deref()), (Some("1"), Some("2")));
    assert_eq!(created.endpoint.unwrap().user, "fleetadmin", "no @server on Flexible Server");

    let replica =
        ServerSpec { replica_of: Some(ServerName::new("main")), ..flexible("Standard_D2ds_v5", 128) };
    azure
        .create(CreateRequest { name: ServerName::new("main-ro"), spec: replica, admin_password: None })
        .await
        .unwrap();

    // HA off, storage and compute in one patch: three requests, HA first, storage alone.
    let before = emulator.requests().len();
    let patch = ServerPatch {
        high_availability: Some(HaMode::Disabled),
        standby_zone: Some(None),
        storage_gb: Some(256),
        backup_retention_days: Some(14),
        ..ServerPatch::default()
    };
    // A primary never outgrows its replica: the replica's storage grows first.
    let grow_replica = ServerPatch { storage_gb: Some(256), ..ServerPatch::default() };
    azure.update(&ServerName::new("main-ro"), &grow_replica).await.unwrap();
    let after_replica = emulator.requests().len();
    let updated = azure.update(&ServerName::new("main"), &patch).await.unwrap();
    let patches: Vec<_> = emulator.requests()[after_replica..]
        .iter()
        .filter(|r| r.method == "PATCH" && r.accepted)
        .map(|r| r.body.clone().unwrap())
        .collect();
    assert_eq!(patches.len(), 3, "{patches:#?}");
    assert_eq!(patches[0]["properties"]["highAvailability"]["mode"], "Disabled");
    assert_eq!(patches[1]["properties"]["storage"]["storageSizeGB"], 256);
    assert!(patches[1]["properties"].get("backup").is_none(), "storage travels alone");
    assert_eq!(patches[2]["properties"]["backup"]["backupRetentionDays"], 14);
    assert!(before < after_replica, "the replica's grow was sent");
    assert_eq!(updated.spec.storage_gb, 256);
    assert_eq!(updated.spec.flexible.unwrap().high_availability, HaMode::Disabled);

    // No standby, no failover: the service's refusal comes back as such.
    let refused = azure.failover(&ServerName::new("main")).await.unwrap_err();
    assert_eq!(refused.kind, pgfleet::providers::ProviderErrorKind::Refused, "{refused:?}");

    let promoted = azure.promote(&ServerName::new("main-ro")).await.unwrap();
    assert_eq!(promoted.spec.replica_of, None);
    let promote_body =
        emulator.requests().iter().rev().find(|r| r.method == "PATCH").unwrap().body.clone().unwrap();
    assert_eq!(promote_body["properties"]["replica"]["promoteMode"], "Standalone");
    emulator.shutdown().await;
}

/// Workload identity federation through the binary, with no client secret anywhere: the
/// workload's token read from `AZURE_FEDERATED_TOKEN_FILE`, then fetched from GitHub Actions'
/// OIDC endpoint (a stand-in on 127.0.0.1 that checks the bearer and the audience), each sent
/// to the token endpoint as a client assertion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_identity_federation_signs_in_without_a_secret() {
    use axum::extract::Query;
    use axum::http::{HeaderMap, StatusCode};
    let emulator = emulator(FaultRates::default(), 0).await;
    let base = emulator.base_url();
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    std::fs::write(dir.join("password"), PASSWORD).unwrap();
    std::fs::write(dir.join("fleet.toml"), fleet_toml(&base, Phase::Initial)).unwrap();
    std::fs::write(dir.join("federated-token"), "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.c2ln\n")
        .unwrap();

    let plan_with = |configure: &dyn Fn(&mut std::process::Command)| {
        let mut command = pgfleet_command(dir, &base, &["plan"]);
        command.env_remove("AZURE_CLIENT_SECRET");
        configure(&mut command);
        command
    };
    let from_file = plan_with(&|command| {
        command.env("AZURE_FEDERATED_TOKEN_FILE", dir.join("federated-token"));
    });
    let output = tokio::task::spawn_blocking(move || { from_file }.output().unwrap()).await.unwrap();
    assert_exit(&output, 0);

    // GitHub Actions' OIDC token endpoint, as a job with `id-token: write` sees it.
    let oidc = axum::Router::new().route(
        "/oidc",
        axum::routing::get(
            |headers: HeaderMap, Query(query): Query<std::collections::BTreeMap<String, String>>| async move {
                let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
                if bearer != Some("Bearer gh-request-token")
                    || query.get("audience").map(String::as_str) != Some("api://AzureADTokenExchange")
                {
                    return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({}))).into_response();
                }
                axum::Json(serde_json::json!({ "value": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvIn0.c2ln" }))
                    .into_response()
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oidc", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, oidc).await.unwrap() });
    let from_github = plan_with(&|command| {
        command
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", &url)
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token");
    });
    let output = tokio::task::spawn_blocking(move || { from_github }.output().unwrap()).await.unwrap();
    assert_exit(&output, 0);
    server.abort();

    let tokens = emulator.requests().iter().filter(|r| r.path.ends_with("/oauth2/v2.0/token")).count();
    assert_eq!(
        tokens, 2,
        "one token per run, each from a client assertion (the emulator refuses neither secret nor assertion)"
    );
    emulator.shutdown().await;
}

/// A major version upgrade in place (the service's `version` PATCH, sent alone), a restart, and
/// a delete, through the provider against the emulator; a downgrade is refused by the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_upgrades_in_place_restarts_and_deletes() {
    let emulator = emulator(FaultRates::default(), 2).await;
    let azure = provider(&emulator, &["solo"]);
    let name = ServerName::new("solo");
    azure
        .create(CreateRequest {
            name: name.clone(),
            spec: flexible("Standard_D2ds_v5", 64),
            admin_password: Some(Redacted::new(PASSWORD.to_string())),
        })
        .await
        .unwrap();
    let before = emulator.requests().len();
    let patch = ServerPatch {
        version: Some(PgVersion::V17),
        backup_retention_days: Some(10),
        ..ServerPatch::default()
    };
    let upgraded = azure.update(&name, &patch).await.unwrap();
    assert_eq!((upgraded.spec.version, upgraded.spec.backup_retention_days), (PgVersion::V17, 10));
    let patches: Vec<_> = emulator.requests()[before..]
        .iter()
        .filter(|r| r.method == "PATCH" && r.accepted)
        .map(|r| r.body.clone().unwrap())
        .collect();
    assert_eq!(patches.len(), 2, "{patches:#?}");
    let upgrade = patches.iter().find(|p| p["properties"].get("version").is_some()).unwrap();
    // As Microsoft's example sends it: the version, with `createMode: Update`, and nothing else.
    let mut fields: Vec<&String> = upgrade["properties"].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["createMode", "version"], "the upgrade travels alone: {upgrade:#}");
    assert_eq!(upgrade["properties"]["createMode"], "Update");

    let downgrade = ServerPatch { version: Some(PgVersion::V16), ..ServerPatch::default() };
    let refused = azure.update(&name, &downgrade).await.unwrap_err();
    assert_eq!(refused.kind, pgfleet::providers::ProviderErrorKind::Refused, "{refused:?}");

    azure.restart(&name).await.unwrap();
    assert!(
        emulator
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/solo/restart") && r.accepted)
    );
    azure.delete(&name).await.unwrap();
    assert!(azure.refresh().await.unwrap().is_empty());
    emulator.shutdown().await;
}

fn carried_toml(endpoint: &str, work_mem: &str, rules: &str, databases: &str) -> String {
    format!(
        "[fleet]\nname = \"carry\"\n[provider]\nkind = \"azure\"\n[provider.azure]\n\
         subscription_id = \"{SUBSCRIPTION}\"\nresource_group = \"{GROUP}\"\nlocation = \"westeurope\"\n\
         endpoint = \"{endpoint}\"\n[defaults]\nservice = \"flexible\"\nversion = \"16\"\n\
         admin_login = \"fleetadmin\"\nadmin_password = {{ file = \"password\" }}\n\n\
         [servers.carry]\nsku = \"Standard_D2ds_v5\"\nstorage_gb = 64\n\
         [servers.carry.parameters]\nwork_mem = \"{work_mem}\"\nmax_connections = 300\n\
         [servers.carry.firewall_rules]\n{rules}\n{databases}"
    )
}

/// Parameters, firewall rules and databases over ARM, through the binary with faults on: set
/// at create (the static `max_connections` with one restart), changed, removed (a rule is
/// deleted; a database only with `--allow-delete`), each apply converging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flexible_server_carries_parameters_rules_and_databases_under_faults() {
    let options = EmulatorOptions {
        seed: 11,
        latencies: fast_latencies(),
        faults: FAULTS.parse::<FaultRates>().unwrap(),
        fault_retry_after: Duration::ZERO,
        ..EmulatorOptions::default()
    };
    let emulator = emulator::start(options).await.expect("the emulator starts");
    let base = emulator.base_url();
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    std::fs::write(dir.join("password"), PASSWORD).unwrap();
    let mut failures = Vec::new();
    let rules = "office = \"203.0.113.0-203.0.113.255\"\nci = \"198.51.100.7\"";
    let app = "[servers.carry.databases.app]\ncharset = \"UTF8\"\ncollation = \"en_US.utf8\"\n";
    let reports = format!("{app}[servers.carry.databases.reports]\n");
    let steps: [(&str, &str, &str, &[&str]); 3] = [
        ("16MB", rules, app, &["apply", "--auto-approve"]),
        ("32MB", "office = \"203.0.113.0-203.0.113.255\"", &reports, &["apply", "--auto-approve"]),
        (
            "32MB",
            "office = \"203.0.113.0-203.0.113.255\"",
            app,
            &["apply", "--auto-approve", "--allow-delete"],
        ),
    ];
    for (work_mem, rules, databases, apply) in steps {
        std::fs::write(dir.join("fleet.toml"), carried_toml(&base, work_mem, rules, databases)).unwrap();
        run(dir, &base, apply, &mut failures).await;
        run(dir, &base, &["plan", "--detailed-exitcode"], &mut failures).await;
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let mut reader = provider_options(&emulator, &["carry"]);
    reader.read_carried.insert(ServerName::new("carry"));
    let live = retrying(Arc::new(pgfleet::providers::azure::AzureProvider::new(reader).unwrap()))
        .refresh()
        .await
        .unwrap();
    let spec = &live[&ServerName::new("carry")].spec;
    assert_eq!(spec.parameters.get("work_mem").map(String::as_str), Some("32768"));
    assert_eq!(spec.parameters.get("max_connections").map(String::as_str), Some("300"));
    assert_eq!(spec.firewall_rules.keys().collect::<Vec<_>>(), ["office"]);
    assert_eq!(spec.databases.keys().collect::<Vec<_>>(), ["app"]);
    let requests = emulator.requests();
    let restarts =
        requests.iter().filter(|r| r.method == "POST" && r.path.ends_with("/carry/restart") && r.accepted);
    assert_eq!(restarts.count(), 1, "the static max_connections restarted the server once, at create");
    emulator.shutdown().await;
}
