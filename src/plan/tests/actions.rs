//! Which change each difference becomes: create, update, migrate, promote, delete, refusals,
//! notes and drift.

use super::*;
use crate::model::ServerPatch;
use crate::plan::{Action, Operation};
use crate::rules::{Downtime, Key, PgVersion, Tier};

#[test]
fn no_difference_no_change() {
    let plan = Case::new().want("pay-main", spec(4, 100)).have("pay-main", spec(4, 100)).plan();
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));
    assert_eq!(plan.summary.unchanged, 1);
    assert!(plan.refused.is_empty() && plan.drift.is_empty() && plan.notes.is_empty());
}

#[test]
fn a_new_server_is_created() {
    let plan = Case::new().want("pay-main", spec(4, 100)).plan();
    let create = change(&plan, "create:pay-main");
    assert_eq!(create.action, Action::Create);
    assert_eq!(create.operation, Operation::Create { spec: spec(4, 100) });
    assert!(!create.impact.restart && create.impact.reversible);
    assert!(create.attributes.iter().any(|a| a.path == Key::Vcores && a.before.is_null() && a.after == 4));
    assert_eq!((plan.summary.create, plan.summary.unchanged), (1, 0));
}

#[test]
fn in_place_changes_merge_into_one_update_with_one_restart() {
    let mut wanted = spec(8, 200);
    wanted.backup_retention_days = 14;
    wanted.tags.insert("team".into(), "payments".into());
    let plan = Case::new().want("pay-main", wanted).have("pay-main", spec(4, 100)).plan();
    assert_eq!(ids(&plan), vec!["update:pay-main"]);
    let update = change(&plan, "update:pay-main");
    let expected = ServerPatch {
        vcores: Some(8),
        storage_gb: Some(200),
        backup_retention_days: Some(14),
        tags: Some(BTreeMap::from([("team".to_string(), "payments".to_string())])),
        ..ServerPatch::default()
    };
    assert_eq!(update.operation, Operation::Update { patch: expected, replication_support: None });
    let paths: Vec<String> = update.attributes.iter().map(|a| a.path.to_string()).collect();
    assert_eq!(paths, vec!["backup_retention_days", "storage_gb", "tags.team", "vcores"]);
    assert!(update.impact.restart);
    assert_eq!(update.impact.downtime_seconds.max, Downtime::COMPUTE_SCALING.max_seconds);
    assert!(!update.impact.reversible, "storage growth cannot be undone");
    assert_eq!((plan.summary.update, plan.summary.restarts, plan.summary.irreversible), (1, 1, 1));
}

#[test]
fn online_only_update_does_not_restart() {
    let mut wanted = spec(4, 100);
    wanted.minimal_tls_version = crate::rules::TlsVersion::Tls1_1;
    let plan = Case::new().want("pay-main", wanted).have("pay-main", spec(4, 100)).plan();
    let update = change(&plan, "update:pay-main");
    assert!(!update.impact.restart && update.impact.reversible);
    assert_eq!(plan.summary.restarts, 0);
}

#[test]
fn general_purpose_to_memory_optimized_is_in_place_with_a_restart() {
    let wanted = ServerSpec { tier: Tier::MemoryOptimized, ..spec(4, 100) };
    let plan = Case::new().want("pay-main", wanted).have("pay-main", spec(4, 100)).plan();
    let update = change(&plan, "update:pay-main");
    assert_eq!(update.action, Action::Update);
    let Operation::Update { patch, .. } = &update.operation else { panic!("not an update") };
    assert_eq!(patch.tier, Some(Tier::MemoryOptimized));
    assert!(update.impact.restart && !update.impact.data_migration);
}

/// Create-only changes migrate, each with the seven ordered steps.
#[test]
fn create_only_changes_migrate_with_steps() {
    let basic = ServerSpec { tier: Tier::Basic, vcores: 2, ..spec(2, 100) };
    let cases: Vec<(&str, ServerSpec, ServerSpec)> = vec![
        ("tier", basic.clone(), spec(2, 100)),
        ("tier", spec(2, 100), basic),
        ("version", ServerSpec { version: PgVersion::V10, ..spec(4, 100) }, spec(4, 100)),
        ("geo_redundant_backup", spec(4, 100), ServerSpec { geo_redundant_backup: true, ..spec(4, 100) }),
        ("location", spec(4, 100), ServerSpec { location: "northeurope".into(), ..spec(4, 100) }),
        ("admin_login", spec(4, 100), ServerSpec { admin_login: "owner".into(), ..spec(4, 100) }),
    ];
    for (key, live, wanted) in cases {
        let plan = Case::new().want("pay-main", wanted.clone()).have("pay-main", live.clone()).plan();
        assert_eq!(ids(&plan), vec!["migrate:pay-main"], "{key}");
        let migrate = change(&plan, "migrate:pay-main");
        assert_eq!(
            migrate.operation,
            Operation::Migrate {
                from: Box::new(live),
                to: Box::new(wanted),
                staging: name("pay-main-migration")
            },
            "{key}"
        );
        assert!(migrate.reason.contains(key), "{key}: {}", migrate.reason);
        assert!(migrate.impact.data_migration && !migrate.impact.reversible, "{key}");
        // The steps are the protocol's phases, in the order the executor runs them: the target
        // exists before writes are frozen.
        assert_eq!(migrate.steps.len(), crate::migrate::Phase::ALL.len(), "{key}");
        for (step, word) in
            migrate.steps.iter().zip(["create", "freeze", "dump", "restore", "verify", "cut over", "retire"])
        {
            assert!(step.contains(word), "{key}: step {step:?} should {word}");
        }
        assert_eq!(plan.summary.migrate, 1);
    }
}

#[test]
fn removing_replica_of_promotes() {
    let plan = Case::new()
        .want("pay-main", spec(4, 100))
        .want("pay-ro-1", spec(4, 100))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert_eq!(ids(&plan), vec!["promote:pay-ro-1"]);
    let promote = change(&plan, "promote:pay-ro-1");
    assert_eq!((promote.action, &promote.operation), (Action::Promote, &Operation::Promote));
    assert!(promote.impact.restart && !promote.impact.reversible);
    assert_eq!(promote.attributes[0].path, Key::ReplicaOf);
}

#[test]
fn adding_replica_of_to_a_standalone_server_is_refused() {
    let plan = Case::new()
        .want("pay-main", spec(4, 100))
        .want("pay-old", replica("pay-main", 4, 100))
        .have("pay-main", spec(4, 100))
        .have("pay-old", spec(4, 100))
        .plan();
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));
    assert_eq!(plan.refused.len(), 1);
    assert_eq!((plan.refused[0].server.as_str(), plan.refused[0].path.as_str()), ("pay-old", "replica_of"));
    assert!(plan.refused[0].reason.contains("cannot turn"));
}

#[test]
fn removed_server_is_blocked_without_allow_delete() {
    let case = Case::new()
        .want("pay-main", spec(4, 100))
        .have("pay-main", spec(4, 100))
        .have("pay-old", spec(2, 50));
    let plan = case.plan();
    assert!(plan.changes.is_empty());
    assert!(plan.is_blocked());
    assert_eq!((plan.blocked[0].server.as_str(), plan.blocked[0].action), ("pay-old", Action::Delete));
    assert!(plan.blocked[0].hint.contains("--allow-delete"));
    assert_eq!(plan.summary.blocked, 1);

    let plan = case.allow_delete().plan();
    assert!(!plan.is_blocked());
    let delete = change(&plan, "delete:pay-old");
    assert_eq!((delete.action, &delete.operation), (Action::Delete, &Operation::Delete));
    assert!(!delete.impact.reversible);
}

#[test]
fn unmanaged_live_server_is_left_alone() {
    let mut case = Case::new().want("pay-main", spec(4, 100)).have("pay-main", spec(4, 100)).allow_delete();
    case.live
        .insert(name("someone-else"), observed("someone-else", spec(2, 50), ReplicationSupport::Replica));
    let plan = case.plan();
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));
    assert!(plan.notes.iter().any(|n| n.message.contains("leaves it alone")));
}

#[test]
fn refusals_keep_the_live_value() {
    let cases: Vec<(Key, ServerSpec, ServerSpec, &str)> = vec![
        (Key::StorageGb, spec(4, 200), spec(4, 100), "cannot shrink"),
        (Key::Version, spec(4, 100), ServerSpec { version: PgVersion::V10, ..spec(4, 100) }, "downgraded"),
    ];
    for (path, live, wanted, words) in cases {
        let plan = Case::new().want("pay-main", wanted).have("pay-main", live).plan();
        assert!(plan.changes.is_empty(), "{path}: {:?}", ids(&plan));
        assert_eq!(plan.refused.len(), 1, "{path}");
        assert_eq!(plan.refused[0].path, path);
        assert!(plan.refused[0].reason.contains(words), "{path}: {}", plan.refused[0].reason);
        assert!(!plan.refused[0].hint.is_empty());
    }
}

#[test]
fn a_refused_field_does_not_hide_the_other_changes() {
    let plan = Case::new().want("pay-main", spec(8, 100)).have("pay-main", spec(4, 200)).plan();
    assert_eq!(plan.refused.len(), 1);
    let Operation::Update { patch, .. } = &change(&plan, "update:pay-main").operation else { panic!() };
    assert_eq!((patch.vcores, patch.storage_gb), (Some(8), None));
}

#[test]
fn auto_grown_storage_is_not_a_change() {
    let configured = ServerSpec { storage_autogrow: true, ..spec(4, 100) };
    let grown = ServerSpec { storage_gb: 110, ..configured.clone() };
    let plan = Case::new()
        .want("pay-main", configured.clone())
        .have("pay-main", configured.clone())
        .recorded("pay-main", grown.clone())
        .live_as("pay-main", grown)
        .plan();
    assert!(plan.changes.is_empty() && plan.refused.is_empty(), "{:?} {:?}", ids(&plan), plan.refused);
    assert_eq!(plan.notes.len(), 1);
    assert!(plan.notes[0].message.contains("auto-grew to 110 GB"), "{}", plan.notes[0].message);
    assert_eq!(plan.summary.unchanged, 1);
}

#[test]
fn drift_is_reported_and_the_plan_is_computed_against_live() {
    let plan = Case::new()
        .want("pay-main", spec(8, 100))
        .have("pay-main", spec(4, 100))
        .live_as("pay-main", spec(8, 100))
        .plan();
    assert!(plan.changes.is_empty(), "live already matches: {:?}", ids(&plan));
    assert_eq!(plan.drift.len(), 1);
    assert_eq!(plan.drift[0].message, "changed outside pgfleet: pay-main vcores 4 → 8");
    assert_eq!((plan.drift[0].recorded.clone(), plan.drift[0].live.clone()), (4.into(), 8.into()));

    let plan = Case::new()
        .want("pay-main", spec(4, 100))
        .have("pay-main", spec(4, 100))
        .live_as("pay-main", spec(8, 100))
        .plan();
    let Operation::Update { patch, .. } = &change(&plan, "update:pay-main").operation else { panic!() };
    assert_eq!(patch.vcores, Some(4), "the plan undoes the drift, from the live value");
}

#[test]
fn no_drift_without_a_refresh() {
    let mut case = Case::new().want("pay-main", spec(4, 100)).have("pay-main", spec(4, 100));
    case = case.recorded("pay-main", spec(8, 100));
    case.refreshed = false;
    assert!(case.plan().drift.is_empty());
    assert!(!case.plan().inputs.refreshed);
}

#[test]
fn server_missing_live_is_drift_and_re_created_with_a_warning() {
    let plan =
        Case::new().want("pay-main", spec(4, 100)).have("pay-main", spec(4, 100)).gone("pay-main").plan();
    assert_eq!(ids(&plan), vec!["create:pay-main"]);
    assert_eq!(plan.drift.len(), 1);
    assert_eq!((plan.drift[0].path.as_str(), plan.drift[0].live.is_null()), ("server", true));
    assert!(
        plan.notes.iter().any(|n| n.message.contains("missing live") && n.message.contains("re-created"))
    );
}

#[test]
fn tier_to_basic_with_replicas_in_the_config_is_refused() {
    let basic = ServerSpec { tier: Tier::Basic, ..spec(2, 100) };
    let plan = Case::new()
        .want("pay-main", basic)
        .want("pay-ro-1", replica("pay-main", 2, 100))
        .have("pay-main", spec(2, 100))
        .have("pay-ro-1", replica("pay-main", 2, 100))
        .plan();
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));
    assert_eq!((plan.refused[0].server.as_str(), plan.refused[0].path.as_str()), ("pay-main", "tier"));
}

#[test]
fn replica_smaller_than_its_primary_is_refused() {
    let plan = Case::new()
        .want("pay-main", spec(8, 100))
        .want("pay-ro-1", replica("pay-main", 4, 100))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert_eq!(plan.refused.len(), 1);
    assert_eq!((plan.refused[0].server.as_str(), plan.refused[0].path.as_str()), ("pay-ro-1", "vcores"));
    assert!(plan.refused[0].reason.contains("GP_Gen5_8 (480)"), "{}", plan.refused[0].reason);

    let plan = Case::new()
        .want("pay-main", spec(4, 300))
        .want("pay-ro-1", replica("pay-main", 4, 200))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert_eq!((plan.refused[0].server.as_str(), plan.refused[0].path.as_str()), ("pay-ro-1", "storage_gb"));
}
