//! The test provider refuses what the service refuses (DOMAIN.md §2–§4.6), reading
//! `crate::rules`, so a wrongly ordered plan fails in tests as it would on Azure.

use crate::exec_support;

use exec_support::*;
use pgfleet::model::{ServerPatch, ServerSpec};
use pgfleet::providers::test_provider::{PRIMARY_LARGER_THAN_REPLICA, TestProvider};
use pgfleet::providers::{CreateRequest, Provider, ProviderError, ProviderErrorKind};
use pgfleet::rules::{MAX_REPLICAS_PER_PRIMARY, ReplicationSupport, Tier};

fn basic() -> ServerSpec {
    ServerSpec { tier: Tier::Basic, vcores: 2, ..spec(2, 50) }
}

async fn create(provider: &TestProvider, server: &str, spec: ServerSpec) -> Result<(), ProviderError> {
    provider.create(CreateRequest { name: name(server), spec, admin_password: None }).await.map(|_| ())
}

fn refused_with(result: Result<impl std::fmt::Debug, ProviderError>, text: &str) {
    let error = result.expect_err("the provider accepted what the service refuses");
    assert_eq!(error.kind, ProviderErrorKind::Refused, "{error}");
    assert!(error.to_string().contains(text), "{error} does not mention {text:?}");
}

#[tokio::test]
async fn in_place_change_to_or_from_basic_is_an_invalid_upgrade_edition() {
    let (provider, _) = fleet(&[live("a", spec(2, 50)), live("b", basic())]);
    let to_basic = ServerPatch { tier: Some(Tier::Basic), ..ServerPatch::default() };
    refused_with(provider.update(&name("a"), &to_basic).await, "InvalidUpgradeEdition");
    let to_gp = ServerPatch { tier: Some(Tier::GeneralPurpose), ..ServerPatch::default() };
    refused_with(provider.update(&name("b"), &to_gp).await, "InvalidUpgradeEdition");
    let to_mo = ServerPatch { tier: Some(Tier::MemoryOptimized), ..ServerPatch::default() };
    assert_eq!(provider.update(&name("a"), &to_mo).await.unwrap().spec.tier, Tier::MemoryOptimized);
}

#[tokio::test]
async fn storage_never_shrinks() {
    let (provider, _) = fleet(&[live("a", spec(2, 100))]);
    let shrink = ServerPatch { storage_gb: Some(50), ..ServerPatch::default() };
    refused_with(provider.update(&name("a"), &shrink).await, "UnsupportedUpdate");
}

#[tokio::test]
async fn a_primary_may_not_outgrow_its_replicas_nor_a_replica_shrink_below_its_primary() {
    let (provider, _) = fleet(&[live("p", spec(4, 100)), live("r", replica_spec(4, 100, "p"))]);
    refused_with(provider.update(&name("p"), &vcores(8)).await, PRIMARY_LARGER_THAN_REPLICA);
    refused_with(provider.update(&name("r"), &vcores(2)).await, "smaller than its primary");
    provider.update(&name("r"), &vcores(8)).await.unwrap();
    provider.update(&name("p"), &vcores(8)).await.unwrap();
}

/// The primary's storage grew by itself past its replica's: updates that leave the pair no
/// worse (new tags, the replica growing) go through; the primary growing further does not.
#[tokio::test]
async fn a_pair_short_by_auto_growth_still_takes_updates_that_make_it_no_worse() {
    let (provider, _) = fleet(&[live("p", spec(4, 130)), live("r", replica_spec(4, 100, "p"))]);
    let tags =
        ServerPatch { tags: Some([("team".into(), "payments".into())].into()), ..ServerPatch::default() };
    provider.update(&name("r"), &tags).await.unwrap();
    provider.update(&name("p"), &tags).await.unwrap();
    let towards = ServerPatch { storage_gb: Some(120), ..ServerPatch::default() };
    assert_eq!(provider.update(&name("r"), &towards).await.unwrap().spec.storage_gb, 120);
    let further = ServerPatch { storage_gb: Some(200), ..ServerPatch::default() };
    refused_with(provider.update(&name("p"), &further).await, "more storage than one of its replicas");
}

#[tokio::test]
async fn replica_creation_rules() {
    let (provider, _) = fleet(&[live("p", spec(4, 100)), live("b", basic())]);
    refused_with(create(&provider, "r-small", replica_spec(2, 100, "p")).await, "at least the compute");
    refused_with(
        create(&provider, "r-basic", replica_spec(4, 100, "b")).await,
        "not supported on the Basic tier",
    );
    for i in 0..MAX_REPLICAS_PER_PRIMARY {
        create(&provider, &format!("r{i}"), replica_spec(4, 100, "p")).await.unwrap();
    }
    refused_with(create(&provider, "r-extra", replica_spec(4, 100, "p")).await, "already has 5 replicas");
    refused_with(
        create(&provider, "rr", replica_spec(4, 100, "r0")).await,
        "cannot be created from a replica",
    );
    // Creating the same replica again is idempotent.
    create(&provider, "r0", replica_spec(4, 100, "p")).await.unwrap();
    assert_eq!(provider.creations()[&name("r0")], 1);
}

#[tokio::test]
async fn a_replica_needs_replication_support_set_and_a_restart() {
    let provider = TestProvider::new();
    create(&provider, "p", spec(4, 100)).await.unwrap();
    refused_with(
        create(&provider, "r", replica_spec(4, 100, "p")).await,
        "Replication support is not enabled",
    );
    provider.set_parameter(&name("p"), ReplicationSupport::PARAMETER, "REPLICA").await.unwrap();
    refused_with(
        create(&provider, "r", replica_spec(4, 100, "p")).await,
        "Replication support is not enabled",
    );
    provider.restart(&name("p")).await.unwrap();
    create(&provider, "r", replica_spec(4, 100, "p")).await.unwrap();
}

#[tokio::test]
async fn deleting_a_primary_makes_its_replicas_standalone() {
    let (provider, _) = fleet(&[live("p", spec(4, 100)), live("r", replica_spec(4, 100, "p"))]);
    provider.delete(&name("p")).await.unwrap();
    provider.delete(&name("p")).await.unwrap(); // a missing server is not an error
    let live = provider.refresh().await.unwrap();
    assert!(!live.contains_key(&name("p")));
    assert_eq!(live[&name("r")].spec.replica_of, None);
    refused_with(provider.promote(&name("r")).await, "not a replica");
}
