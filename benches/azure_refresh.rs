//! Refresh of 10,000 servers in 10 resource groups through the ARM emulator (127.0.0.1), with
//! ARM's throttling on. Prints the refresh time and the number of requests, which must be at
//! most one list per resource group plus one `Replicas` list per primary with replicas.
//!
//! Run: `cargo bench --bench azure_refresh` (or `cargo test --bench azure_refresh` for a quick
//! debug-build run). Figures are printed, never asserted against a clock.

use pgfleet::config::AzureSettings;
use pgfleet::emulator::{self, EmulatorOptions};
use pgfleet::providers::Provider;
use pgfleet::providers::azure::wire::{CreateProperties, ServerForCreate, Sku, StorageProfile};
use pgfleet::providers::azure::{AzureProvider, AzureProviderOptions, Credential, ServicePrincipal};
use pgfleet::secret::Redacted;
use std::collections::BTreeMap;
use std::time::Instant;

const SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000bench";
const GROUPS: usize = 10;
const SERVERS: usize = 10_000;
/// Primaries that get replicas, and how many each.
const PRIMARIES_WITH_REPLICAS: usize = 100;
const REPLICAS_EACH: usize = 2;

fn sku(name: &str) -> Option<Sku> {
    Some(Sku { name: name.to_string(), tier: None, family: None, capacity: None })
}

fn primary_body() -> ServerForCreate {
    ServerForCreate {
        location: "westeurope".into(),
        properties: CreateProperties {
            administrator_login: Some("fleetadmin".into()),
            administrator_login_password: Some("Bench-Password-1".into()),
            version: Some("11".into()),
            ssl_enforcement: Some("Enabled".into()),
            minimal_tls_version: Some("TLS1_2".into()),
            storage_profile: Some(StorageProfile { storage_mb: Some(102_400), ..StorageProfile::default() }),
            create_mode: "Default".into(),
            ..CreateProperties::default()
        },
        sku: sku("GP_Gen5_4"),
        tags: BTreeMap::new(),
    }
}

fn replica_body(source: &str) -> ServerForCreate {
    ServerForCreate {
        location: "westeurope".into(),
        properties: CreateProperties {
            create_mode: "Replica".into(),
            source_server_id: Some(source.to_string()),
            ..CreateProperties::default()
        },
        sku: sku("GP_Gen5_4"),
        tags: BTreeMap::new(),
    }
}

fn group(index: usize) -> String {
    format!("rg-bench-{}", index % GROUPS)
}

fn populate(running: &emulator::RunningEmulator) {
    let replicas = PRIMARIES_WITH_REPLICAS * REPLICAS_EACH;
    for index in 0..SERVERS - replicas {
        let name = format!("srv-{index:05}");
        running.insert_server(SUBSCRIPTION, &group(index), &name, primary_body()).expect("a valid server");
    }
    for index in 0..PRIMARIES_WITH_REPLICAS {
        let primary = format!("srv-{index:05}");
        running.enable_replication(&primary).expect("the primary exists");
        let source = format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/{}/providers/Microsoft.DBforPostgreSQL/servers/{primary}",
            group(index)
        );
        for copy in 0..REPLICAS_EACH {
            let name = format!("{primary}-ro-{copy}");
            running
                .insert_server(SUBSCRIPTION, &group(index + copy + 1), &name, replica_body(&source))
                .expect("a valid replica");
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let running = emulator::start(EmulatorOptions::default()).await.expect("the emulator starts");
        let started = Instant::now();
        populate(&running);
        println!("seeded {SERVERS} servers in {GROUPS} resource groups in {:.2?}", started.elapsed());
        let settings = AzureSettings {
            subscription_id: SUBSCRIPTION.into(),
            resource_group: group(0),
            location: "westeurope".into(),
            endpoint: running.base_url(),
        };
        let mut options = AzureProviderOptions::new(settings, "bench", BTreeMap::new());
        options.extra_resource_groups = (1..GROUPS).map(group).collect();
        options.credential = Some(Credential::ServicePrincipal(ServicePrincipal {
            authority_host: running.base_url(),
            tenant_id: "bench".into(),
            client_id: "bench".into(),
            client_secret: Redacted::new("bench-secret".into()),
        }));
        let provider = AzureProvider::new(options).expect("the provider builds");
        for round in 1..=3 {
            running.clear_requests();
            let started = Instant::now();
            let fleet = provider.refresh().await.expect("refresh succeeds");
            let elapsed = started.elapsed();
            let log = running.requests();
            let arm_requests = log.iter().filter(|r| r.path.starts_with("/subscriptions/")).count();
            let throttled = log.iter().filter(|r| r.status == 429).count();
            println!(
                "round {round}: refreshed {} servers in {elapsed:.2?} with {arm_requests} ARM requests \
                 (budget {}; {throttled} answered 429; the client paces itself when the read budget runs low)",
                fleet.len(),
                GROUPS + PRIMARIES_WITH_REPLICAS
            );
            assert_eq!(fleet.len(), SERVERS);
            assert!(arm_requests <= GROUPS + PRIMARIES_WITH_REPLICAS);
        }
        running.shutdown().await;
    });
}
