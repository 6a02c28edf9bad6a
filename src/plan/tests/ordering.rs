//! The edges of the change graph and the waves they make.

use super::*;
use crate::plan::{Action, Operation};
use crate::rules::{ReplicationSupport, Tier};

#[test]
fn scale_up_raises_both_replicas_before_the_primary() {
    let plan = Case::new()
        .want("pay-main", spec(8, 200))
        .want("pay-ro-1", replica("pay-main", 8, 200))
        .want("pay-ro-2", replica("pay-main", 16, 200))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .have("pay-ro-2", replica("pay-main", 4, 100))
        .plan();
    assert_eq!(ids(&plan), vec!["update:pay-ro-1", "update:pay-ro-2", "update:pay-main"]);
    for replica in ["update:pay-ro-1", "update:pay-ro-2"] {
        assert!(waits_for(&plan, "update:pay-main", replica), "{replica}");
        assert_eq!(change(&plan, replica).wave, 1);
    }
    let primary = change(&plan, "update:pay-main");
    assert_eq!(primary.wave, 2);
    assert!(
        primary.ordering[0].reason.contains("before pay-main's update"),
        "{}",
        primary.ordering[0].reason
    );
}

#[test]
fn scale_down_shrinks_the_primary_first() {
    let plan = Case::new()
        .want("pay-main", spec(4, 100))
        .want("pay-ro-1", replica("pay-main", 4, 100))
        .have("pay-main", spec(8, 100))
        .have("pay-ro-1", replica("pay-main", 8, 100))
        .plan();
    assert_eq!(ids(&plan), vec!["update:pay-main", "update:pay-ro-1"]);
    assert!(waits_for(&plan, "update:pay-ro-1", "update:pay-main"));
    assert!(change(&plan, "update:pay-main").depends_on.is_empty());
}

/// Found by the property test: compute shrinks while storage grows. No order of two whole
/// updates works, so the replica's storage grows first on its own (online, no restart).
#[test]
fn storage_growth_with_compute_shrink_splits_the_replica_storage_first() {
    let plan = Case::new()
        .want("pay-main", spec(2, 200))
        .want("pay-ro-1", replica("pay-main", 2, 200))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert_eq!(ids(&plan), vec!["storage:pay-ro-1", "update:pay-main", "update:pay-ro-1"]);
    assert!(waits_for(&plan, "update:pay-main", "storage:pay-ro-1"));
    assert!(waits_for(&plan, "update:pay-ro-1", "update:pay-main"));
    let storage = change(&plan, "storage:pay-ro-1");
    let Operation::Update { patch, .. } = &storage.operation else { panic!() };
    assert_eq!((patch.storage_gb, patch.vcores), (Some(200), None));
    assert!(!storage.impact.restart);
    let Operation::Update { patch, .. } = &change(&plan, "update:pay-ro-1").operation else { panic!() };
    assert_eq!((patch.storage_gb, patch.vcores), (None, Some(2)));
    assert_eq!(plan.summary.restarts, 2, "one restart per server");
}

/// Found by the property test: a replica re-created (new region) while its primary's storage
/// grows past the old replica and its compute shrinks below the new one. Neither order of one
/// re-create works, so the replica is deleted before the primary's update and created after.
#[test]
fn re_created_replica_straddling_its_primary_update_is_deleted_then_created() {
    let moved = |s: ServerSpec| ServerSpec { location: "northeurope".into(), ..s };
    let plan = Case::new()
        .want("pay-main", spec(2, 200))
        .want("pay-ro-1", moved(replica("pay-main", 2, 200)))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert_eq!(ids(&plan), vec!["delete:pay-ro-1", "update:pay-main", "create:pay-ro-1"]);
    assert!(waits_for(&plan, "update:pay-main", "delete:pay-ro-1"));
    assert!(waits_for(&plan, "create:pay-ro-1", "update:pay-main"));
    assert!(waits_for(&plan, "create:pay-ro-1", "delete:pay-ro-1"));
    assert!(change(&plan, "delete:pay-ro-1").reason.contains("created again after it"));
    assert!(!plan.is_blocked(), "re-creating a replica is not a removal");
}

#[test]
fn a_replica_already_large_enough_gets_no_change_and_no_edge() {
    let plan = Case::new()
        .want("pay-main", spec(8, 100))
        .want("pay-ro-1", replica("pay-main", 8, 100))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 8, 100))
        .plan();
    assert_eq!(ids(&plan), vec!["update:pay-main"]);
    assert!(change(&plan, "update:pay-main").depends_on.is_empty());
    assert_eq!(plan.summary.unchanged, 1);
}

#[test]
fn replica_shrinking_but_still_above_the_old_primary_size_needs_no_edge() {
    let plan = Case::new()
        .want("pay-main", spec(8, 100))
        .want("pay-ro-1", replica("pay-main", 16, 100))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 32, 100))
        .plan();
    assert!(change(&plan, "update:pay-main").depends_on.is_empty());
    assert!(change(&plan, "update:pay-ro-1").depends_on.is_empty());
}

#[test]
fn first_replica_enables_replication_support_with_a_restart_first() {
    let plan = Case::new()
        .want("pay-main", spec(4, 100))
        .want("pay-ro-1", replica("pay-main", 4, 100))
        .have_with("pay-main", spec(4, 100), ReplicationSupport::Off)
        .plan();
    assert_eq!(ids(&plan), vec!["update:pay-main", "create:pay-ro-1"]);
    let enable = change(&plan, "update:pay-main");
    assert_eq!(
        enable.operation,
        Operation::Update {
            patch: Default::default(),
            replication_support: Some(ReplicationSupport::Replica)
        }
    );
    assert!(enable.impact.restart);
    assert_eq!(enable.attributes[0].path, crate::rules::Key::ReplicationSupport);
    assert!(waits_for(&plan, "create:pay-ro-1", "update:pay-main"));
    assert!(change(&plan, "create:pay-ro-1").ordering[0].reason.contains("azure.replication_support"));
}

#[test]
fn replication_support_merges_into_the_primary_update_one_restart() {
    let plan = Case::new()
        .want("pay-main", spec(8, 100))
        .want("pay-ro-1", replica("pay-main", 8, 100))
        .have_with("pay-main", spec(4, 100), ReplicationSupport::Off)
        .plan();
    assert_eq!(ids(&plan), vec!["update:pay-main", "create:pay-ro-1"]);
    let update = change(&plan, "update:pay-main");
    let Operation::Update { patch, replication_support } = &update.operation else { panic!() };
    assert_eq!((patch.vcores, *replication_support), (Some(8), Some(ReplicationSupport::Replica)));
    assert!(update.reason.contains("one restart"), "{}", update.reason);
    assert_eq!(plan.summary.restarts, 1);
}

#[test]
fn replication_already_on_needs_no_extra_change() {
    let plan = Case::new()
        .want("pay-main", spec(4, 100))
        .want("pay-ro-1", replica("pay-main", 4, 100))
        .have("pay-main", spec(4, 100))
        .plan();
    assert_eq!(ids(&plan), vec!["create:pay-ro-1"]);
    assert!(change(&plan, "create:pay-ro-1").depends_on.is_empty());
}

#[test]
fn new_primary_is_created_then_replication_enabled_then_replicas_created() {
    let plan = Case::new()
        .want("pay-main", spec(4, 100))
        .want("pay-ro-1", replica("pay-main", 4, 100))
        .want("pay-ro-2", replica("pay-main", 4, 100))
        .plan();
    assert_eq!(
        ids(&plan),
        vec!["create:pay-main", "replication:pay-main", "create:pay-ro-1", "create:pay-ro-2"]
    );
    assert!(waits_for(&plan, "replication:pay-main", "create:pay-main"));
    for replica in ["create:pay-ro-1", "create:pay-ro-2"] {
        assert!(waits_for(&plan, replica, "replication:pay-main"), "{replica}");
        assert!(waits_for(&plan, replica, "create:pay-main"), "{replica}");
        assert_eq!(change(&plan, replica).wave, 3);
    }
    let replication = change(&plan, "replication:pay-main");
    assert_eq!(replication.action, Action::Update);
    assert!(replication.reason.contains("new server"), "{}", replication.reason);
    // The restart for the setting comes before anything uses the new server: not a restart
    // anyone sees, so the verdict counts none.
    assert!(!replication.impact.restart && replication.impact.downtime_seconds.max == 0);
    assert_eq!(plan.summary.restarts, 0);
}

#[test]
fn replicas_of_a_migrated_primary_are_re_created_after_cutover() {
    let plan = Case::new()
        .want("pay-main", ServerSpec { geo_redundant_backup: true, ..spec(4, 100) })
        .want("pay-ro-1", replica("pay-main", 4, 100))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert_eq!(ids(&plan), vec!["migrate:pay-main", "replication:pay-main", "recreate:pay-ro-1"]);
    let recreate = change(&plan, "recreate:pay-ro-1");
    assert_eq!(recreate.operation, Operation::Recreate { spec: replica("pay-main", 4, 100) });
    assert!(waits_for(&plan, "recreate:pay-ro-1", "migrate:pay-main"));
    assert!(waits_for(&plan, "recreate:pay-ro-1", "replication:pay-main"));
    assert!(recreate.reason.contains("after cutover"));
}

#[test]
fn promote_comes_before_the_primary_is_deleted() {
    let plan = Case::new()
        .want("pay-ro-1", spec(4, 100))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .allow_delete()
        .plan();
    assert_eq!(ids(&plan), vec!["promote:pay-ro-1", "delete:pay-main"]);
    assert!(waits_for(&plan, "delete:pay-main", "promote:pay-ro-1"));
}

#[test]
fn promoted_server_is_updated_after_its_promote() {
    let plan = Case::new()
        .want("pay-main", spec(4, 100))
        .want("pay-ro-1", spec(2, 100))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert_eq!(ids(&plan), vec!["promote:pay-ro-1", "update:pay-ro-1"]);
    assert!(waits_for(&plan, "update:pay-ro-1", "promote:pay-ro-1"));
}

#[test]
fn replicas_are_deleted_before_their_primary() {
    let plan = Case::new()
        .want("other", spec(2, 50))
        .have("other", spec(2, 50))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .have("pay-ro-2", replica("pay-main", 4, 100))
        .allow_delete()
        .plan();
    assert_eq!(ids(&plan), vec!["delete:pay-ro-1", "delete:pay-ro-2", "delete:pay-main"]);
    assert!(waits_for(&plan, "delete:pay-main", "delete:pay-ro-1"));
    assert!(waits_for(&plan, "delete:pay-main", "delete:pay-ro-2"));
    assert_eq!(change(&plan, "delete:pay-main").wave, 2);
    assert_eq!(plan.summary.delete, 3);
}

#[test]
fn tier_change_to_more_connections_raises_the_replica_first() {
    // MO_Gen5_4 has 500 connections; a GP_Gen5_4 replica (250) must move first.
    let memory = |s: ServerSpec| ServerSpec { tier: Tier::MemoryOptimized, ..s };
    let plan = Case::new()
        .want("pay-main", memory(spec(4, 100)))
        .want("pay-ro-1", memory(replica("pay-main", 4, 100)))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert!(waits_for(&plan, "update:pay-main", "update:pay-ro-1"));
}

#[test]
fn changes_are_sorted_by_wave_then_server() {
    let plan = Case::new()
        .want("a-main", spec(8, 100))
        .want("z-ro", replica("a-main", 8, 100))
        .want("m-solo", spec(4, 100))
        .have("a-main", spec(4, 100))
        .have("z-ro", replica("a-main", 4, 100))
        .have("m-solo", spec(2, 100))
        .plan();
    assert_eq!(ids(&plan), vec!["update:m-solo", "update:z-ro", "update:a-main"]);
    assert!(position(&plan, "update:z-ro") < position(&plan, "update:a-main"));
}

/// GP 4 vCores (250 connections) to MO 2 vCores (300) on a primary and its replica: connections
/// rise while vCores fall. Changed first, the replica would have fewer vCores than its primary;
/// changed last, fewer connections than its primary's new size. No order works, so the plan is
/// refused, naming the size the replica can hold through both (MO 4).
#[test]
fn compute_that_rises_in_connections_and_falls_in_vcores_is_refused_with_the_interim_size() {
    let memory = |vcores| ServerSpec { tier: Tier::MemoryOptimized, ..spec(vcores, 100) };
    let memory_replica = |vcores| ServerSpec { replica_of: Some(name("pay-main")), ..memory(vcores) };
    let plan = Case::new()
        .want("pay-main", memory(2))
        .want("pay-ro-1", memory_replica(2))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert_eq!(plan.refused.len(), 1, "{:#?}", plan.refused);
    let refusal = &plan.refused[0];
    assert_eq!(refusal.server.as_str(), "pay-ro-1");
    assert_eq!(refusal.rule, Some(crate::rules::Rule::ReplicaSmallerThanPrimary));
    assert!(refusal.reason.contains("cannot reach their new sizes in either order"), "{}", refusal.reason);
    assert!(refusal.hint.starts_with("first set pay-ro-1 to MO_Gen5_4"), "{}", refusal.hint);

    // The interim size the hint names works: from there, each step fits.
    let plan = Case::new()
        .want("pay-main", spec(4, 100))
        .want("pay-ro-1", memory_replica(4))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert!(plan.refused.is_empty(), "{:#?}", plan.refused);
    let plan = Case::new()
        .want("pay-main", memory(2))
        .want("pay-ro-1", memory_replica(2))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", memory_replica(4))
        .plan();
    assert!(plan.refused.is_empty(), "{:#?}", plan.refused);
    assert!(waits_for(&plan, "update:pay-ro-1", "update:pay-main"));
}
