//! Migrations across plans: one an earlier apply left unfinished comes first and its staging
//! server is pgfleet's own (never drift, never a note); a migration whose new server is reached
//! elsewhere says where clients go.

use super::{Case, change, ids, name, spec};
use crate::config::{AzureSettings, ProviderSettings};
use crate::migrate::{MigrationRecord, Phase};
use crate::model::{Endpoint, ServerSpec};
use crate::rules::{ReplicationSupport, Tier};
use chrono::{TimeZone, Utc};

fn basic() -> ServerSpec {
    ServerSpec { tier: Tier::Basic, vcores: 2, ..spec(2, 100) }
}

/// `ledger` is migrating from Basic to General Purpose and an apply stopped at `phase`, its
/// staging server live.
fn interrupted(phase: Phase) -> Case {
    let mut case = Case::new()
        .want("ledger", spec(2, 100))
        .have("ledger", basic())
        .live_as("ledger-migration", spec(2, 100));
    let frozen = phase.writes_frozen().then(|| Utc.with_ymd_and_hms(2026, 11, 23, 18, 40, 0).unwrap());
    case.stored.migrations.insert(
        name("ledger"),
        MigrationRecord {
            staging: name("ledger-migration"),
            phase,
            started_at: Utc.with_ymd_and_hms(2026, 11, 23, 18, 39, 0).unwrap(),
            writes_frozen_since: frozen,
        },
    );
    case
}

#[test]
fn an_unfinished_migration_comes_first_and_its_staging_server_is_not_drift() {
    let plan = interrupted(Phase::Restore).plan();
    let [unfinished] = plan.unfinished_migrations.as_slice() else {
        panic!("one unfinished migration: {:#?}", plan.unfinished_migrations)
    };
    assert_eq!((unfinished.server.as_str(), unfinished.staging.as_str()), ("ledger", "ledger-migration"));
    assert_eq!(unfinished.phase, Phase::Restore);
    assert!(unfinished.abortable);
    assert_eq!(unfinished.abort_command.as_deref(), Some("pgfleet migrate abort ledger"));
    assert_eq!(unfinished.finish_command.as_deref(), Some("pgfleet apply"));
    assert!(
        unfinished.message.starts_with("writes frozen on ledger since 2026-11-23T18:40:00Z"),
        "{}",
        unfinished.message
    );
    // The staging server is the migration's: no drift, no "neither in config nor in state"
    // note, no change of its own; the migration is planned again (the next apply finishes it).
    assert!(plan.drift.is_empty(), "{:#?}", plan.drift);
    assert!(plan.notes.iter().all(|note| !note.message.contains("ledger-migration")), "{:#?}", plan.notes);
    assert_eq!(ids(&plan), vec!["migrate:ledger"]);
    assert_eq!(plan.format_version, "1.4");

    // The Markdown says it before anything else, and the JSON carries it.
    let markdown = crate::plan::render::markdown(&plan, "id", crate::plan::render::COMMENT_BUDGET);
    let said =
        markdown.find("writes frozen on ledger since 2026-11-23T18:40:00Z").expect("the Markdown says it");
    assert!(markdown.contains("pgfleet migrate abort ledger"), "{markdown}");
    let first_alert = markdown.find("> [!").expect("an alert");
    assert!(said < markdown.find("data migration by dump/restore").unwrap(), "{markdown}");
    assert!(markdown[first_alert..said].lines().count() <= 2, "{markdown}");
    let json: serde_json::Value = serde_json::from_str(&crate::plan::render::json(&plan, "id")).unwrap();
    assert_eq!(json["unfinished_migrations"][0]["phase"], "restore");
    assert_eq!(json["unfinished_migrations"][0]["writes_frozen_since"], "2026-11-23T18:40:00Z");
}

#[test]
fn a_migration_stopped_at_its_cutover_can_only_be_finished() {
    let plan = interrupted(Phase::Cutover).plan();
    let unfinished = &plan.unfinished_migrations[0];
    assert!(!unfinished.abortable);
    assert_eq!(unfinished.abort_command, None);
    assert!(unfinished.message.contains("can no longer be aborted"), "{}", unfinished.message);
    assert!(!unfinished.message.contains("migrate abort"), "{}", unfinished.message);
}

#[test]
fn a_migration_the_fleet_file_no_longer_asks_for_says_to_abort_it() {
    // The tier change was reverted: `ledger` is Basic again in the file, as it is live.
    let mut case = interrupted(Phase::Dump);
    case = case.want("ledger", basic());
    let plan = case.plan();
    assert!(plan.changes.is_empty(), "{:#?}", plan.changes);
    let unfinished = &plan.unfinished_migrations[0];
    assert_eq!(unfinished.finish_command, None);
    assert_eq!(unfinished.abort_command.as_deref(), Some("pgfleet migrate abort ledger"));
    assert!(
        unfinished.message.contains("the fleet file no longer asks for the migration"),
        "{}",
        unfinished.message
    );
    assert!(!unfinished.message.contains("`pgfleet apply` finishes"), "{}", unfinished.message);

    let mut case = interrupted(Phase::Cutover);
    case = case.want("ledger", basic());
    let message = &case.plan().unfinished_migrations[0].message;
    assert!(message.contains("put it back in the fleet file"), "{message}");
}

#[test]
fn a_live_server_no_migration_claims_is_still_reported() {
    // Without the record, the same live server is a stranger: drift and a note, as before.
    let mut case = interrupted(Phase::Dump);
    case.stored.migrations.clear();
    let plan = case.plan();
    assert!(plan.unfinished_migrations.is_empty());
    assert!(plan.drift.iter().any(|drift| drift.server.as_str() == "ledger-migration"), "{:#?}", plan.drift);
}

fn on_azure(case: Case, host: &str) -> Case {
    let mut case = case;
    case.desired.provider = ProviderSettings::Azure(AzureSettings {
        subscription_id: "00000000-0000-0000-0000-000000000000".into(),
        resource_group: "rg".into(),
        location: "westeurope".into(),
        endpoint: "http://127.0.0.1:1".into(),
    });
    let live = case.live.get_mut(&name("ledger")).unwrap();
    live.replication_support = ReplicationSupport::Off;
    live.endpoint = Some(Endpoint {
        host: host.into(),
        port: 5432,
        user: "fleetadmin@ledger".into(),
        database: "postgres".into(),
    });
    case
}

#[test]
fn a_migration_that_moves_the_server_says_where_clients_reconnect() {
    let case = Case::new().want("ledger", spec(2, 100)).have("ledger", basic());
    let plan = on_azure(case.clone(), "ledger.postgres.database.azure.com").plan();
    let moved = change(&plan, "migrate:ledger").endpoint.clone().expect("the endpoint moves");
    assert_eq!(
        moved.from,
        "postgresql://fleetadmin%40ledger@ledger.postgres.database.azure.com:5432/postgres"
    );
    assert_eq!(
        moved.to.as_deref(),
        Some(
            "postgresql://fleetadmin%40ledger-migration@ledger-migration.postgres.database.azure.com:5432/postgres"
        )
    );
    assert!(moved.message.contains(&moved.from) && moved.message.contains(moved.to.as_deref().unwrap()));
    let human = crate::plan::render::human(&plan, false);
    assert!(human.contains(&format!("endpoint: {}", moved.message)), "{human}");
    let markdown = crate::plan::render::markdown(&plan, "id", crate::plan::render::COMMENT_BUDGET);
    assert!(markdown.contains("ledger-migration.postgres.database.azure.com"), "{markdown}");

    // A host not named after the server (the emulator's loopback gateway): known at the end.
    let plan = on_azure(case.clone(), "127.0.0.7").plan();
    let moved = change(&plan, "migrate:ledger").endpoint.clone().expect("the endpoint moves");
    assert_eq!(moved.to, None);
    assert!(moved.message.contains("printed when the apply ends"), "{}", moved.message);

    // A server migrated before lives under the staging name: the next copy is named once the
    // provider finds a free name, so the address is told at the end.
    let mut again = on_azure(case.clone(), "ledger-migration.postgres.database.azure.com");
    again.live.get_mut(&name("ledger")).unwrap().endpoint.as_mut().unwrap().user =
        "fleetadmin@ledger-migration".into();
    let moved = change(&again.plan(), "migrate:ledger").endpoint.clone().expect("the endpoint moves");
    assert_eq!(moved.to, None, "{moved:?}");

    // Locally the new cluster takes the server's port: nothing moves.
    let mut local = case;
    local.live.get_mut(&name("ledger")).unwrap().endpoint = Some(Endpoint {
        host: "127.0.0.1".into(),
        port: 54321,
        user: "fleetadmin".into(),
        database: "postgres".into(),
    });
    assert_eq!(change(&local.plan(), "migrate:ledger").endpoint, None);
}
