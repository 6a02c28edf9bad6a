//! Hand-built plans for the renderer tests, shaped like the planner's output (ids, waves,
//! `depends_on` with reasons, impacts from `rules::Downtime`). Test-only: it decides nothing the
//! planner decides, it only writes down plans a reviewer would expect for each scenario.

use crate::model::{Address, ServerName, ServerPatch, ServerSpec};
use crate::plan::{
    Action, AttributeChange, Blocked, Change, DowntimeRange, Drift, Impact, Note, Operation, Ordering,
    PLAN_FORMAT_VERSION, Plan, PlanInputs, Refusal, Summary,
};
use crate::rules::{Downtime, PgVersion, Tier, TlsVersion};
use chrono::{TimeZone, Utc};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// A General Purpose Gen5 server on PostgreSQL 11 in westeurope.
pub(crate) fn spec(tier: Tier, vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec {
        tags: BTreeMap::from([("team".to_string(), "payments".to_string())]),
        ..ServerSpec::new(tier, vcores, storage_gb, PgVersion::V11, "fleetadmin", "westeurope")
    }
}

pub(crate) fn impact(downtime: Downtime, restart: bool, data_migration: bool, reversible: bool) -> Impact {
    Impact {
        restart,
        downtime_seconds: DowntimeRange { min: downtime.min_seconds, max: downtime.max_seconds },
        downtime_basis: downtime.basis.to_string(),
        data_migration,
        reversible,
    }
}

pub(crate) fn attribute(path: &str, before: serde_json::Value, after: serde_json::Value) -> AttributeChange {
    let path = crate::diff::AttributePath::parse(path).expect("a fleet-file key");
    AttributeChange { path, before, after }
}

/// A change with no dependencies in wave 1; tests fill in the rest.
pub(crate) fn change(action: Action, server: &str, operation: Operation) -> Change {
    let name = ServerName::new(server);
    Change {
        id: format!("{}:{server}", action.as_str()),
        address: Address::server(name.clone()),
        server: name,
        action,
        depends_on: Vec::new(),
        ordering: Vec::new(),
        attributes: Vec::new(),
        impact: impact(Downtime::NONE, false, false, true),
        reason: String::new(),
        steps: Vec::new(),
        wave: 1,
        operation,
        configured_storage_gb: None,
        configured_zone: None,
        configured_carried: None,
        endpoint: None,
        cost: None,
    }
}

fn after(change: &mut Change, id: &str, reason: &str) {
    change.depends_on.push(id.to_string());
    change.ordering.push(Ordering { after: id.to_string(), reason: reason.to_string() });
}

fn address(server: &str) -> Address {
    Address::server(ServerName::new(server))
}

/// A plan of `changes` for fleet `payments` with `unchanged` untouched servers and its summary.
pub(crate) fn plan(changes: Vec<Change>, unchanged: usize) -> Plan {
    let servers: BTreeSet<ServerName> = changes.iter().map(|change| change.server.clone()).collect();
    let mut plan = Plan {
        format_version: PLAN_FORMAT_VERSION.to_string(),
        fleet: "payments".into(),
        unfinished_migrations: Vec::new(),
        changes,
        blocked: Vec::new(),
        refused: Vec::new(),
        drift: Vec::new(),
        notes: Vec::new(),
        summary: Summary { unchanged, ..Summary::default() },
        cost: None,
        inputs: PlanInputs {
            config_files: BTreeMap::from([(
                "fleet.toml".to_string(),
                "9f2c1e0b5d7a4c3e8b6f1a2d4c6e8f0a1b3c5d7e9f1a3c5e7d9b1f3a5c7e9d1b".to_string(),
            )]),
            state_lineage: Some("3b1f6c2e-8d4a-4f7b-9c1e-5a2d7f3b8e60".into()),
            state_serial: Some(12),
            refreshed: true,
            live_fingerprints: servers
                .into_iter()
                .map(|server| {
                    (server, "4e1a9c7b2d5f8e3a6c0b9d2f5e8a1c4b7d0e3f6a9c2b5d8e1f4a7c0b3d6e9f2a".to_string())
                })
                .collect(),
            created_at: Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
            tool_version: "0.1.0".into(),
        },
    };
    summarize(&mut plan);
    plan
}

/// Recomputes the summary from the changes and blocked entries, with the planner's function.
pub(crate) fn summarize(plan: &mut Plan) {
    plan.summary = crate::plan::graph::summary(&plan.changes, plan.summary.unchanged, plan.blocked.len());
}

pub(crate) fn no_changes() -> Plan {
    plan(Vec::new(), 4)
}

/// Retention, tags, TLS and a storage increase: no restart, one irreversible change.
pub(crate) fn online_only() -> Plan {
    let mut ledger = change(
        Action::Update,
        "ledger",
        Operation::Update {
            patch: ServerPatch {
                backup_retention_days: Some(14),
                tags: Some(BTreeMap::from([("team".to_string(), "payments-core".to_string())])),
                ..ServerPatch::default()
            },
            replication_support: None,
        },
    );
    ledger.attributes = vec![
        attribute("backup_retention_days", json!(7), json!(14)),
        attribute("tags.team", json!("payments"), json!("payments-core")),
    ];
    ledger.reason = "backup_retention_days and tags.team differ from fleet.toml".into();
    let mut reports = change(
        Action::Update,
        "reports",
        Operation::Update {
            patch: ServerPatch {
                storage_gb: Some(512),
                minimal_tls_version: Some(TlsVersion::Tls1_2),
                ..ServerPatch::default()
            },
            replication_support: None,
        },
    );
    reports.attributes = vec![
        attribute("minimal_tls_version", json!("TLS1_0"), json!("TLS1_2")),
        attribute("storage_gb", json!(256), json!(512)),
    ];
    reports.impact = impact(Downtime::NONE, false, false, false);
    reports.reason = "storage_gb raised to 512 GB and minimal_tls_version to TLS1_2 in fleet.toml".into();
    plan(vec![ledger, reports], 2)
}

/// pay-main scales 4 → 8 vCores with two replicas: both replicas first (wave 1), then the primary.
pub(crate) fn restarts_with_replicas() -> Plan {
    let replica_reason = |replica: &str| {
        format!(
            "replica {replica} must reach 8 vCores before its primary: a replica may not have fewer vCores than its primary"
        )
    };
    let vcores_patch = || Operation::Update {
        patch: ServerPatch { vcores: Some(8), ..ServerPatch::default() },
        replication_support: None,
    };
    let mut changes = Vec::new();
    for replica in ["pay-ro-1", "pay-ro-2"] {
        let mut update = change(Action::Update, replica, vcores_patch());
        update.attributes = vec![attribute("vcores", json!(4), json!(8))];
        update.impact = impact(Downtime::COMPUTE_SCALING, true, false, true);
        update.reason =
            "vcores 4 → 8 in fleet.toml (GP_Gen5_4 → GP_Gen5_8), to keep up with pay-main".to_string();
        changes.push(update);
    }
    let mut main = change(Action::Update, "pay-main", vcores_patch());
    main.attributes = vec![attribute("vcores", json!(4), json!(8))];
    main.impact = impact(Downtime::COMPUTE_SCALING, true, false, true);
    main.reason = "vcores 4 → 8 in fleet.toml (GP_Gen5_4 → GP_Gen5_8)".into();
    main.wave = 2;
    after(&mut main, "update:pay-ro-1", &replica_reason("pay-ro-1"));
    after(&mut main, "update:pay-ro-2", &replica_reason("pay-ro-2"));
    changes.push(main);
    plan(changes, 1)
}

/// ledger moves from Basic to General Purpose: the service cannot, so pgfleet migrates the data.
pub(crate) fn basic_to_general_purpose() -> Plan {
    let from = spec(Tier::Basic, 2, 100);
    let to = spec(Tier::GeneralPurpose, 4, 100);
    let mut migrate = change(
        Action::Migrate,
        "ledger",
        Operation::Migrate { from: Box::new(from), to: Box::new(to), staging: "ledger-migration".into() },
    );
    migrate.attributes = vec![
        attribute("tier", json!("Basic"), json!("GeneralPurpose")),
        attribute("vcores", json!(2), json!(4)),
    ];
    migrate.impact = impact(Downtime::MIGRATION, false, true, true);
    migrate.reason = "tier Basic → GeneralPurpose: the service does not change a server to or from Basic in place (InvalidUpgradeEdition), so the data moves to a new server".into();
    migrate.steps = vec![
        "freeze writes on ledger (default_transaction_read_only = on)".into(),
        "pg_dump every database of ledger".into(),
        "create the target server (GP_Gen5_4, 100 GB, PostgreSQL 11)".into(),
        "pg_restore the dump into the target".into(),
        "verify row counts and sequences of every table".into(),
        "cut over: the target takes the name ledger".into(),
        "retire the source server".into(),
    ];
    let mut plan = plan(vec![migrate], 3);
    plan.notes.push(Note {
        address: Some(address("ledger")),
        message: "clients reconnect after cutover; writes fail from the dump until then".into(),
    });
    plan
}

/// old-reports left fleet.toml: its delete is blocked; a storage shrink is refused.
pub(crate) fn blocked_delete() -> Plan {
    let mut retention = change(
        Action::Update,
        "pay-main",
        Operation::Update {
            patch: ServerPatch { backup_retention_days: Some(14), ..ServerPatch::default() },
            replication_support: None,
        },
    );
    retention.attributes = vec![attribute("backup_retention_days", json!(7), json!(14))];
    retention.reason = "backup_retention_days 7 → 14 in fleet.toml".into();
    let mut plan = plan(vec![retention], 2);
    plan.blocked.push(Blocked {
        address: address("old-reports"),
        server: ServerName::new("old-reports"),
        action: Action::Delete,
        reason:
            "old-reports is live and in the state but no longer in fleet.toml; deleting it destroys its data"
                .into(),
        hint: "pass --allow-delete to delete it, or add [servers.old-reports] back to fleet.toml".into(),
    });
    plan.refused.push(Refusal {
        address: address("pay-main"),
        server: ServerName::new("pay-main"),
        rule: Some(crate::rules::Rule::StorageShrink),
        path: crate::rules::Key::StorageGb,
        reason: "storage never shrinks: pay-main has 1024 GB, fleet.toml asks for 512 GB".into(),
        hint: "set storage_gb to 1024 or more".into(),
    });
    summarize(&mut plan);
    plan
}

/// reports was scaled up in the portal and pay-ro-2 was deleted outside pgfleet.
pub(crate) fn drift() -> Plan {
    let mut revert = change(
        Action::Update,
        "reports",
        Operation::Update {
            patch: ServerPatch { vcores: Some(4), ..ServerPatch::default() },
            replication_support: None,
        },
    );
    revert.attributes = vec![attribute("vcores", json!(8), json!(4))];
    revert.impact = impact(Downtime::COMPUTE_SCALING, true, false, true);
    revert.reason =
        "vcores is 8 on the server but 4 in fleet.toml: reverts a change made outside pgfleet".into();
    let mut replica_spec = spec(Tier::GeneralPurpose, 4, 512);
    replica_spec.replica_of = Some(ServerName::new("pay-main"));
    let mut recreate = change(Action::Create, "pay-ro-2", Operation::Create { spec: replica_spec });
    recreate.attributes = vec![
        attribute("replica_of", json!(null), json!("pay-main")),
        attribute("vcores", json!(null), json!(4)),
        attribute("storage_gb", json!(null), json!(512)),
    ];
    recreate.reason =
        "pay-ro-2 is in fleet.toml but no longer exists: created again as a replica of pay-main".into();
    let mut plan = plan(vec![recreate, revert], 2);
    plan.drift = vec![
        Drift {
            address: address("pay-ro-2"),
            server: ServerName::new("pay-ro-2"),
            path: "server".into(),
            recorded: json!("GP_Gen5_4"),
            live: json!(null),
            message: "pay-ro-2 was deleted outside pgfleet".into(),
        },
        Drift {
            address: address("reports"),
            server: ServerName::new("reports"),
            path: "vcores".into(),
            recorded: json!(4),
            live: json!(8),
            message: "changed outside pgfleet: reports vcores 4 → 8".into(),
        },
    ];
    plan
}

/// pay-ro-1 leaves replication (promote) and old-reports is deleted with `--allow-delete`.
pub(crate) fn promote_and_delete() -> Plan {
    let mut promote = change(Action::Promote, "pay-ro-1", Operation::Promote);
    promote.attributes = vec![attribute("replica_of", json!("pay-main"), json!(null))];
    promote.impact = impact(Downtime::PROMOTE, true, false, false);
    promote.reason =
        "replica_of was removed from pay-ro-1 in fleet.toml: it becomes a standalone server".into();
    let mut delete = change(Action::Delete, "old-reports", Operation::Delete);
    delete.impact = impact(Downtime::NONE, false, false, false);
    delete.reason = "old-reports is no longer in fleet.toml and --allow-delete was given".into();
    let mut plan = plan(vec![delete, promote], 2);
    plan.notes.push(Note {
        address: None,
        message: "a promoted replica cannot become a replica again; create a new replica instead".into(),
    });
    plan
}

/// Every hand-built plan, by a name for snapshot files.
pub(crate) fn all() -> Vec<(&'static str, Plan)> {
    vec![
        ("no_changes", no_changes()),
        ("online_only", online_only()),
        ("restarts_with_replicas", restarts_with_replicas()),
        ("basic_to_general_purpose", basic_to_general_purpose()),
        ("blocked_delete", blocked_delete()),
        ("drift", drift()),
        ("promote_and_delete", promote_and_delete()),
    ]
}

/// A fleet of `servers` servers: every tenth restarts (vCores up), every hundredth migrates
/// (version 10 → 11), the rest get a tag change; four deletes are blocked.
pub(crate) fn large(servers: usize) -> Plan {
    let mut changes = Vec::new();
    for index in 0..servers {
        let name = format!("tenant-{index:04}-westeurope-orders");
        let mut next = if index % 100 == 0 {
            let mut from = spec(Tier::GeneralPurpose, 4, 256);
            from.version = PgVersion::V10;
            let to = spec(Tier::GeneralPurpose, 4, 256);
            let staging = crate::model::staging_name(&ServerName::new(name.clone()));
            let mut migrate = change(
                Action::Migrate,
                &name,
                Operation::Migrate { from: Box::new(from), to: Box::new(to), staging },
            );
            migrate.attributes = vec![attribute("version", json!("10"), json!("11"))];
            migrate.impact = impact(Downtime::MIGRATION, false, true, false);
            migrate.reason =
                "version 10 → 11: no in-place major upgrade, the data moves to a new server".into();
            migrate.steps = vec!["freeze writes".into(), "dump".into(), "restore".into(), "cut over".into()];
            migrate
        } else if index % 10 == 0 {
            let patch = ServerPatch { vcores: Some(8), ..ServerPatch::default() };
            let mut update =
                change(Action::Update, &name, Operation::Update { patch, replication_support: None });
            update.attributes = vec![attribute("vcores", json!(4), json!(8))];
            update.impact = impact(Downtime::COMPUTE_SCALING, true, false, true);
            update.reason = "vcores 4 → 8 in fleet.toml".into();
            update
        } else {
            let tags = BTreeMap::from([("cost-center".to_string(), "cc-4711".to_string())]);
            let patch = ServerPatch { tags: Some(tags), ..ServerPatch::default() };
            let mut update =
                change(Action::Update, &name, Operation::Update { patch, replication_support: None });
            update.attributes = vec![attribute("tags.cost-center", json!("cc-0815"), json!("cc-4711"))];
            update.reason = "tags.cost-center differs from fleet.toml".into();
            update
        };
        next.id = format!("{}:{name}", next.action.as_str());
        changes.push(next);
    }
    let mut plan = plan(changes, 17);
    for index in 0..4 {
        let name = format!("legacy-{index}");
        plan.blocked.push(Blocked {
            address: address(&name),
            server: ServerName::new(&name),
            action: Action::Delete,
            reason: format!("{name} is no longer in fleet.toml"),
            hint: "pass --allow-delete to delete it".into(),
        });
    }
    summarize(&mut plan);
    plan
}
