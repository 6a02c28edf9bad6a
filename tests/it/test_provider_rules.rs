//! The test provider refuses what the service refuses (docs/service-rules.md), asking
//! `crate::rules::check`, so a wrongly ordered plan fails in tests as it would on Azure; every
//! refusal carries its rule's one code (`Rule::code`), as every backend answers it.

use crate::exec_support;

use exec_support::*;
use pgfleet::model::{ServerPatch, ServerSpec};
use pgfleet::providers::test_provider::TestProvider;
use pgfleet::providers::{CreateRequest, Provider, ProviderError, ProviderErrorKind};
use pgfleet::rules::{MAX_REPLICAS_PER_PRIMARY, PgVersion, ReplicationSupport, Rule, Tier};

fn basic() -> ServerSpec {
    ServerSpec { tier: Tier::Basic, vcores: 2, ..spec(2, 50) }
}

async fn create(provider: &TestProvider, server: &str, spec: ServerSpec) -> Result<(), ProviderError> {
    provider.create(CreateRequest { name: name(server), spec, admin_password: None }).await.map(|_| ())
}

fn refused_with(result: Result<impl std::fmt::Debug, ProviderError>, rule: Rule) {
    let error = result.expect_err("the provider accepted what the service refuses");
    assert_eq!(error.kind, ProviderErrorKind::Refused, "{error}");
    assert_eq!(error.code.as_deref(), Some(rule.code_str()), "{error}");
}

#[tokio::test]
async fn in_place_change_to_or_from_basic_is_an_invalid_upgrade_edition() {
    let (provider, _) = fleet(&[live("gp-one", spec(2, 50)), live("basic-one", basic())]);
    let to_basic = ServerPatch { tier: Some(Tier::Basic), ..ServerPatch::default() };
    refused_with(provider.update(&name("gp-one"), &to_basic).await, Rule::TierChangeNotInPlace);
    let to_gp = ServerPatch { tier: Some(Tier::GeneralPurpose), ..ServerPatch::default() };
    refused_with(provider.update(&name("basic-one"), &to_gp).await, Rule::TierChangeNotInPlace);
    let error = provider.update(&name("basic-one"), &to_gp).await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some("InvalidUpgradeEdition"));
    let to_mo = ServerPatch { tier: Some(Tier::MemoryOptimized), ..ServerPatch::default() };
    assert_eq!(provider.update(&name("gp-one"), &to_mo).await.unwrap().spec.tier, Tier::MemoryOptimized);
}

#[tokio::test]
async fn storage_never_shrinks_and_stays_in_its_tiers_range() {
    let (provider, _) = fleet(&[live("gp-one", spec(2, 100))]);
    let shrink = ServerPatch { storage_gb: Some(50), ..ServerPatch::default() };
    refused_with(provider.update(&name("gp-one"), &shrink).await, Rule::StorageShrink);
    let huge = ServerPatch { storage_gb: Some(20_000), ..ServerPatch::default() };
    refused_with(provider.update(&name("gp-one"), &huge).await, Rule::StorageOutOfRange);
    refused_with(create(&provider, "too-big", spec(2, 20_000)).await, Rule::StorageOutOfRange);
}

#[tokio::test]
async fn a_server_on_its_own_is_checked_at_create() {
    let provider = TestProvider::new();
    refused_with(create(&provider, "x", spec(2, 100)).await, Rule::InvalidServerName);
    refused_with(create(&provider, "odd-sku", spec(3, 100)).await, Rule::SkuNotOffered);
    let old = ServerSpec { version: PgVersion::V9_6, ..spec(2, 100) };
    refused_with(create(&provider, "old-one", old).await, Rule::RetiredVersion);
    let login = ServerSpec { admin_login: "admin".into(), ..spec(2, 100) };
    refused_with(create(&provider, "bad-login", login).await, Rule::InvalidAdminLogin);
    let geo = ServerSpec { geo_redundant_backup: true, ..basic() };
    refused_with(create(&provider, "geo-basic", geo).await, Rule::GeoBackupNotOffered);
    assert!(provider.servers().is_empty());
}

#[tokio::test]
async fn a_primary_may_not_outgrow_its_replicas_nor_a_replica_shrink_below_its_primary() {
    let (provider, _) = fleet(&[live("pri", spec(4, 100)), live("rep", replica_spec(4, 100, "pri"))]);
    refused_with(provider.update(&name("pri"), &vcores(8)).await, Rule::PrimaryLargerThanReplica);
    refused_with(provider.update(&name("rep"), &vcores(2)).await, Rule::ReplicaSmallerThanPrimary);
    provider.update(&name("rep"), &vcores(8)).await.unwrap();
    provider.update(&name("pri"), &vcores(8)).await.unwrap();
}

/// The primary's storage grew by itself past its replica's: updates that leave the pair no
/// worse (new tags, the replica growing) go through; the primary growing further does not.
#[tokio::test]
async fn a_pair_short_by_auto_growth_still_takes_updates_that_make_it_no_worse() {
    let (provider, _) = fleet(&[live("pri", spec(4, 130)), live("rep", replica_spec(4, 100, "pri"))]);
    let tags =
        ServerPatch { tags: Some([("team".into(), "payments".into())].into()), ..ServerPatch::default() };
    provider.update(&name("rep"), &tags).await.unwrap();
    provider.update(&name("pri"), &tags).await.unwrap();
    let towards = ServerPatch { storage_gb: Some(120), ..ServerPatch::default() };
    assert_eq!(provider.update(&name("rep"), &towards).await.unwrap().spec.storage_gb, 120);
    let further = ServerPatch { storage_gb: Some(200), ..ServerPatch::default() };
    refused_with(provider.update(&name("pri"), &further).await, Rule::PrimaryLargerThanReplica);
}

#[tokio::test]
async fn replica_creation_rules() {
    let (provider, _) = fleet(&[live("pri", spec(4, 100)), live("basic-one", basic())]);
    refused_with(
        create(&provider, "r-small", replica_spec(2, 100, "pri")).await,
        Rule::ReplicaSmallerThanPrimary,
    );
    refused_with(create(&provider, "r-basic", replica_spec(4, 100, "basic-one")).await, Rule::ReplicaOnBasic);
    for i in 0..MAX_REPLICAS_PER_PRIMARY {
        create(&provider, &format!("rep{i}"), replica_spec(4, 100, "pri")).await.unwrap();
    }
    refused_with(create(&provider, "r-extra", replica_spec(4, 100, "pri")).await, Rule::TooManyReplicas);
    refused_with(create(&provider, "rr-one", replica_spec(4, 100, "rep0")).await, Rule::ReplicaOfReplica);
    let error = create(&provider, "rr-one", replica_spec(4, 100, "rep0")).await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some("ReplicaOfReplicaNotSupported"));
    let missing = create(&provider, "r-orphan", replica_spec(4, 100, "gone")).await.unwrap_err();
    assert_eq!(missing.kind, ProviderErrorKind::NotFound);
    // Creating the same replica again is idempotent.
    create(&provider, "rep0", replica_spec(4, 100, "pri")).await.unwrap();
    assert_eq!(provider.creations()[&name("rep0")], 1);
}

#[tokio::test]
async fn a_replica_needs_replication_support_set_and_a_restart() {
    let provider = TestProvider::new();
    // New servers start as the rules say (REPLICA on GP/MO); this one as a server whose
    // replication support the service left OFF.
    provider.set_default_replication_support(ReplicationSupport::Off);
    create(&provider, "pri", spec(4, 100)).await.unwrap();
    refused_with(create(&provider, "rep", replica_spec(4, 100, "pri")).await, Rule::ReplicationSupportOff);
    provider.set_parameter(&name("pri"), ReplicationSupport::PARAMETER, "REPLICA").await.unwrap();
    refused_with(create(&provider, "rep", replica_spec(4, 100, "pri")).await, Rule::ReplicationSupportOff);
    provider.restart(&name("pri")).await.unwrap();
    create(&provider, "rep", replica_spec(4, 100, "pri")).await.unwrap();
    // Not off again under its replica, and never on for a Basic server.
    refused_with(
        provider.set_parameter(&name("pri"), ReplicationSupport::PARAMETER, "OFF").await,
        Rule::ReplicationSupportOff,
    );
    create(&provider, "basic-one", basic()).await.unwrap();
    refused_with(
        provider.set_parameter(&name("basic-one"), ReplicationSupport::PARAMETER, "REPLICA").await,
        Rule::ReplicaOnBasic,
    );
}

#[tokio::test]
async fn deleting_a_primary_makes_its_replicas_standalone() {
    let (provider, _) = fleet(&[live("pri", spec(4, 100)), live("rep", replica_spec(4, 100, "pri"))]);
    provider.delete(&name("pri")).await.unwrap();
    provider.delete(&name("pri")).await.unwrap(); // a missing server is not an error
    let live = provider.refresh().await.unwrap();
    assert!(!live.contains_key(&name("pri")));
    assert_eq!(live[&name("rep")].spec.replica_of, None);
    refused_with(provider.promote(&name("rep")).await, Rule::NotAReplica);
}
