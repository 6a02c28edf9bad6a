//! The `azure` provider against the ARM emulator, over real HTTP on 127.0.0.1: creates,
//! replicas, scaling in both orders, promote, delete, cutover, and what a refresh costs.

use crate::azure_common;

use azure_common::*;
use pgfleet::emulator::FaultRates;
use pgfleet::model::{ServerName, ServerPatch};
use pgfleet::providers::{Provider, ProviderErrorKind};
use pgfleet::rules::{ReplicationSupport, Rule, Tier};

fn name(text: &str) -> ServerName {
    ServerName::new(text)
}

async fn enable_replication(provider: &impl Provider, server: &str) {
    let value = ReplicationSupport::Replica.as_str();
    provider.set_parameter(&name(server), ReplicationSupport::PARAMETER, value).await.unwrap();
    provider.restart(&name(server)).await.unwrap();
}

fn refused_code(result: Result<impl std::fmt::Debug, pgfleet::providers::ProviderError>) -> String {
    let error = result.expect_err("the service refuses");
    assert_eq!(error.kind, ProviderErrorKind::Refused, "{error:?}");
    error.code.expect("a refusal names its code")
}

#[tokio::test]
async fn creates_servers_and_replicas_and_refreshes_with_one_request_per_group_and_service_and_primary() {
    let emulator = emulator(FaultRates::default(), 0).await;
    let provider = provider(&emulator, &["pay-main", "pay-other", "pay-basic"]);
    let main = provider.create(primary("pay-main", Tier::GeneralPurpose, 4)).await.unwrap();
    assert_eq!(main.spec.sku_name(), "GP_Gen5_4");
    assert_eq!(main.status, pgfleet::model::ServerStatus::Ready);
    provider.create(primary("pay-other", Tier::GeneralPurpose, 2)).await.unwrap();
    let basic = provider.create(primary("pay-basic", Tier::Basic, 1)).await.unwrap();
    assert_eq!((basic.spec.tier, basic.replication_support), (Tier::Basic, ReplicationSupport::Off));

    // New GP/MO servers start with replication support on (the rules' initial value); a
    // primary with it off refuses replicas until it is set and restarted. Never on Basic or
    // of a replica.
    provider.set_parameter(&name("pay-main"), ReplicationSupport::PARAMETER, "OFF").await.unwrap();
    provider.restart(&name("pay-main")).await.unwrap();
    assert_eq!(
        refused_code(provider.create(replica("pay-ro-1", "pay-main", 4)).await),
        Rule::ReplicationSupportOff.code_str()
    );
    enable_replication(&provider, "pay-main").await;
    let ro1 = provider.create(replica("pay-ro-1", "pay-main", 4)).await.unwrap();
    assert_eq!(ro1.spec.replica_of, Some(name("pay-main")));
    provider.create(replica("pay-ro-2", "pay-main", 8)).await.unwrap();
    assert_eq!(
        refused_code(provider.create(replica("pay-ro-b", "pay-basic", 2)).await),
        Rule::ReplicaOnBasic.code_str()
    );
    assert_eq!(
        refused_code(provider.create(replica("pay-ro-ro", "pay-ro-1", 4)).await),
        Rule::ReplicaOfReplica.code_str()
    );
    assert_eq!(Rule::ReplicaOfReplica.code_str(), "ReplicaOfReplicaNotSupported");
    assert_eq!(
        refused_code(provider.create(replica("pay-ro-s", "pay-main", 2)).await),
        Rule::ReplicaSmallerThanPrimary.code_str()
    );

    emulator.clear_requests();
    let fleet = provider.refresh().await.unwrap();
    let requests = emulator.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.DBforPostgreSQL/servers"
            ),
            format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers"
            ),
            format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.DBforPostgreSQL/servers/pay-main/Replicas"
            ),
        ]
    );
    let names: Vec<&str> = fleet.keys().map(ServerName::as_str).collect();
    assert_eq!(names, ["pay-basic", "pay-main", "pay-other", "pay-ro-1", "pay-ro-2"]);
    assert_eq!(fleet[&name("pay-ro-2")].spec.vcores, 8);
    assert_eq!(fleet[&name("pay-ro-2")].spec.replica_of, Some(name("pay-main")));
    assert_eq!(fleet[&name("pay-main")].replication_support, ReplicationSupport::Replica);
    assert_eq!(fleet[&name("pay-other")].replication_support, ReplicationSupport::Off);
    // Read from the service, a new General Purpose server has its default, REPLICA (the
    // parameter catalog's, and the rules' initial value); the emulator's old stub said OFF.
    assert_eq!(
        provider.read_replication_support(&name("pay-other")).await.unwrap(),
        ReplicationSupport::Replica
    );

    let connection = provider.connection(&name("pay-ro-1")).await.unwrap();
    assert_eq!(connection.endpoint.host, "pay-ro-1.postgres.database.azure.com");
    assert_eq!(connection.endpoint.user, "fleetadmin@pay-ro-1");
    assert_eq!(connection.password.expose(), PASSWORD);

    // No request that breaks a rule was accepted: every refusal above is in the log, refused.
    let all = emulator.requests();
    assert!(all.iter().all(|r| r.accepted == (r.status < 400)));
    assert!(all.iter().filter(|r| !r.accepted).all(|r| r.code.is_some()));
}

#[tokio::test]
async fn scaling_goes_replicas_first_up_and_primary_first_down() {
    let emulator = emulator(FaultRates::default(), 0).await;
    let provider = provider(&emulator, &["app"]);
    provider.create(primary("app", Tier::GeneralPurpose, 4)).await.unwrap();
    enable_replication(&provider, "app").await;
    provider.create(replica("app-ro", "app", 4)).await.unwrap();
    let to = |vcores| ServerPatch { vcores: Some(vcores), ..ServerPatch::default() };

    assert_eq!(
        refused_code(provider.update(&name("app"), &to(8)).await),
        Rule::PrimaryLargerThanReplica.code_str()
    );
    assert_eq!(provider.update(&name("app-ro"), &to(8)).await.unwrap().spec.vcores, 8);
    assert_eq!(provider.update(&name("app"), &to(8)).await.unwrap().spec.vcores, 8);

    assert_eq!(
        refused_code(provider.update(&name("app-ro"), &to(4)).await),
        Rule::ReplicaSmallerThanPrimary.code_str()
    );
    provider.update(&name("app"), &to(4)).await.unwrap();
    provider.update(&name("app-ro"), &to(4)).await.unwrap();

    let shrink = ServerPatch { storage_gb: Some(50), ..ServerPatch::default() };
    assert_eq!(refused_code(provider.update(&name("app"), &shrink).await), Rule::StorageShrink.code_str());
    let basic = ServerPatch { tier: Some(Tier::Basic), vcores: Some(2), ..ServerPatch::default() };
    assert_eq!(
        refused_code(provider.update(&name("app"), &basic).await),
        Rule::TierChangeNotInPlace.code_str()
    );
    // Storage grows replicas first too (DESIGN.md: replica storage >= primary's).
    let grow = ServerPatch { storage_gb: Some(200), ..ServerPatch::default() };
    assert_eq!(
        refused_code(provider.update(&name("app"), &grow).await),
        Rule::PrimaryLargerThanReplica.code_str()
    );
    provider.update(&name("app-ro"), &grow).await.unwrap();
    assert_eq!(provider.update(&name("app"), &grow).await.unwrap().spec.storage_gb, 200);

    let refused: Vec<_> =
        emulator.requests().into_iter().filter(|r| r.method == "PATCH" && !r.accepted).collect();
    assert_eq!(refused.len(), 5);
    assert!(refused.iter().all(|r| r.status == 400));
}

#[tokio::test]
async fn promote_detaches_and_deleting_a_primary_frees_its_replicas() {
    let emulator = emulator(FaultRates::default(), 0).await;
    let provider = provider(&emulator, &["ledger"]);
    provider.create(primary("ledger", Tier::MemoryOptimized, 4)).await.unwrap();
    enable_replication(&provider, "ledger").await;
    let mut request = replica("ledger-ro-1", "ledger", 4);
    request.spec.tier = Tier::MemoryOptimized;
    provider.create(request.clone()).await.unwrap();
    request.name = name("ledger-ro-2");
    provider.create(request).await.unwrap();

    let promoted = provider.promote(&name("ledger-ro-1")).await.unwrap();
    assert_eq!(promoted.spec.replica_of, None);
    // Promoting a standalone server again (a retry whose first answer was lost) is done
    // already: no PATCH is sent, so the service's ServerIsNotReplica refusal never comes.
    let patches = |emulator: &pgfleet::emulator::RunningEmulator| {
        emulator.requests().iter().filter(|r| r.method == "PATCH").count()
    };
    let before = patches(&emulator);
    let again = provider.promote(&name("ledger-ro-1")).await.unwrap();
    assert_eq!((again.spec.replica_of, patches(&emulator)), (None, before));

    provider.delete(&name("ledger")).await.unwrap();
    provider.delete(&name("ledger")).await.unwrap();
    let fleet = provider.refresh().await.unwrap();
    assert!(!fleet.contains_key(&name("ledger")));
    assert_eq!(fleet[&name("ledger-ro-2")].spec.replica_of, None);
    assert_eq!(fleet.len(), 2);
}

#[tokio::test]
async fn cutover_keeps_the_fleet_name_on_the_staging_server() {
    let emulator = emulator(FaultRates::default(), 0).await;
    let provider = provider(&emulator, &["shop", "shop-next"]);
    provider.create(primary("shop", Tier::Basic, 1)).await.unwrap();
    provider.create(primary("shop-next", Tier::GeneralPurpose, 2)).await.unwrap();
    let moved = provider.cutover(&name("shop"), &name("shop-next")).await.unwrap();
    assert_eq!(moved.name, name("shop"));
    assert_eq!(moved.spec.tier, Tier::GeneralPurpose);
    assert!(moved.provider_id.ends_with("/servers/shop-next"));
    assert!(moved.spec.tags.is_empty(), "pgfleet's tag is not a user tag");
    // A second cutover is a no-op, and later operations reach the new server.
    provider.cutover(&name("shop"), &name("shop-next")).await.unwrap();
    let tags = ServerPatch {
        tags: Some([("team".to_string(), "web".to_string())].into()),
        ..ServerPatch::default()
    };
    provider.update(&name("shop"), &tags).await.unwrap();

    let fresh = provider_options(&emulator, &[]);
    let fleet = pgfleet::providers::azure::AzureProvider::new(fresh).unwrap().refresh().await.unwrap();
    let names: Vec<&str> = fleet.keys().map(ServerName::as_str).collect();
    assert_eq!(names, ["shop"]);
    assert_eq!(fleet[&name("shop")].spec.tags.get("team").map(String::as_str), Some("web"));
    assert_eq!(fleet[&name("shop")].endpoint.as_ref().unwrap().host, "shop-next.postgres.database.azure.com");
}

#[tokio::test]
async fn operations_survive_injected_faults() {
    let faults = FaultRates {
        throttled: 0.05,
        server_error: 0.05,
        conflict: 0.03,
        drop: 0.03,
        lost: 0.03,
        ..FaultRates::default()
    };
    let mut injected = 0;
    for seed in [1, 2, 3] {
        let emulator = emulator(faults, seed).await;
        let provider = retrying(std::sync::Arc::new(provider(&emulator, &["core"])));
        provider.create(primary("core", Tier::GeneralPurpose, 2)).await.unwrap();
        let value = ReplicationSupport::Replica.as_str();
        provider.set_parameter(&name("core"), ReplicationSupport::PARAMETER, value).await.unwrap();
        provider.restart(&name("core")).await.unwrap();
        provider.create(replica("core-ro", "core", 2)).await.unwrap();
        let up = ServerPatch { vcores: Some(4), ..ServerPatch::default() };
        provider.update(&name("core-ro"), &up).await.unwrap();
        provider.update(&name("core"), &up).await.unwrap();
        provider.promote(&name("core-ro")).await.unwrap();
        provider.delete(&name("core")).await.unwrap();
        let fleet = provider.refresh().await.unwrap();
        let names: Vec<&str> = fleet.keys().map(ServerName::as_str).collect();
        assert_eq!(names, ["core-ro"], "seed {seed}");
        assert_eq!(
            (fleet[&name("core-ro")].spec.vcores, &fleet[&name("core-ro")].spec.replica_of),
            (4, &None)
        );
        let log = emulator.requests();
        injected += log.iter().filter(|r| r.fault.is_some()).count();
        assert!(log.iter().all(|r| r.status != 400), "seed {seed}: no rule was broken");
    }
    assert!(injected > 0, "faults were injected");
}

#[tokio::test]
async fn a_primary_has_at_most_five_replicas() {
    let emulator = emulator(FaultRates::default(), 0).await;
    let provider = provider(&emulator, &["hub"]);
    provider.create(primary("hub", Tier::GeneralPurpose, 2)).await.unwrap();
    enable_replication(&provider, "hub").await;
    for index in 1..=pgfleet::rules::MAX_REPLICAS_PER_PRIMARY {
        provider.create(replica(&format!("hub-ro-{index}"), "hub", 2)).await.unwrap();
    }
    assert_eq!(
        refused_code(provider.create(replica("hub-ro-6", "hub", 2)).await),
        Rule::TooManyReplicas.code_str()
    );
    assert_eq!(provider.refresh().await.unwrap().len(), 6);
}

/// A change to a server spec.
type SpecEdit = fn(&mut pgfleet::model::ServerSpec);

#[tokio::test]
async fn invalid_servers_are_refused_with_the_service_codes() {
    let emulator = emulator(FaultRates::default(), 0).await;
    let provider = provider(&emulator, &["bad-server"]);
    let attempt = |edit: SpecEdit| {
        let mut request = primary("bad-server", Tier::Basic, 1);
        edit(&mut request.spec);
        provider.create(request)
    };
    let cases: [(SpecEdit, Rule); 7] = [
        (|s| s.admin_login = "admin".into(), Rule::InvalidAdminLogin),
        (|s| s.storage_gb = 2000, Rule::StorageOutOfRange),
        (|s| s.geo_redundant_backup = true, Rule::GeoBackupNotOffered),
        (|s| s.ssl_enforcement = false, Rule::TlsWithoutSsl),
        (|s| s.backup_retention_days = 40, Rule::RetentionOutOfRange),
        (|s| s.version = pgfleet::rules::PgVersion::V9_5, Rule::RetiredVersion),
        (|s| s.vcores = 3, Rule::SkuNotOffered),
    ];
    for (edit, rule) in cases {
        assert_eq!(refused_code(attempt(edit).await), rule.code_str(), "{rule:?}");
    }
    assert_eq!(Rule::StorageOutOfRange.code_str(), "InvalidStorageSize");
    let log = emulator.requests();
    assert!(log.iter().filter(|r| r.method == "PUT").all(|r| !r.accepted && r.status == 400));
    assert!(provider.refresh().await.unwrap().is_empty());
}

/// A long-running emulator keeps only the latest requests, so its memory stays bounded, but
/// counts every one.
#[tokio::test]
async fn the_request_log_keeps_a_window_and_counts_everything() {
    let options = pgfleet::emulator::EmulatorOptions {
        request_log: Some(3),
        latencies: fast_latencies(),
        ..pgfleet::emulator::EmulatorOptions::default()
    };
    let emulator = pgfleet::emulator::start(options).await.unwrap();
    let provider = provider(&emulator, &["core"]);
    for _ in 0..4 {
        provider.refresh().await.unwrap();
    }
    let patch = ServerPatch { vcores: Some(4), ..ServerPatch::default() };
    let refused = provider.update(&name("absent"), &patch).await.unwrap_err();
    assert_eq!(refused.kind, ProviderErrorKind::NotFound);
    let log = emulator.requests();
    let (served, failed) = emulator.counts();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(served >= 6, "a token, four lists and the PATCH: {served}");
    assert!(failed >= 1 && !log.last().unwrap().accepted, "the refused PATCH is the latest: {log:?}");
}
