//! What the planner refuses and what it must not: storage shrink against what pgfleet applied
//! (not against auto-grown storage a refresh recorded), replicas short of their primary (by
//! dimension and amount), new servers on a retired PostgreSQL version; and what a brand new
//! server counts as in the verdict.

use super::*;
use crate::plan::Operation;
use crate::plan::render::{self, COMMENT_BUDGET};
use crate::rules::PgVersion;

fn autogrow(vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec { storage_autogrow: true, ..spec(vcores, storage_gb) }
}

fn autogrow_replica(primary: &str, vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec { storage_autogrow: true, ..replica(primary, vcores, storage_gb) }
}

/// Configured 100 GB, live auto-grown to 130 GB, and a refresh recorded 130 GB: the unchanged
/// config is no change and no shrink, with a note; the next plan after more growth too.
#[test]
fn unchanged_config_after_a_refresh_recorded_auto_growth_is_not_a_shrink() {
    let configured = autogrow(4, 100);
    let grown = autogrow(4, 130);
    let case = Case::new()
        .want("pay-main", configured.clone())
        .have("pay-main", configured)
        .recorded("pay-main", grown.clone())
        .live_as("pay-main", grown);
    assert_eq!(case.stored.servers[&name("pay-main")].configured_storage_gb, Some(100));
    for refreshed in [true, false] {
        let mut case = Case { refreshed, ..case.clone() };
        if !refreshed {
            case.live = case.stored.observed();
        }
        let plan = case.plan();
        assert!(plan.refused.is_empty(), "refreshed={refreshed}: {:?}", plan.refused);
        assert!(plan.changes.is_empty(), "refreshed={refreshed}: {:?}", ids(&plan));
        assert!(plan.notes[0].message.contains("auto-grew to 130 GB"), "{:?}", plan.notes);
    }
}

/// Configured lowered from 200 to 100 while live is 200: refused as a shrink, with the way out.
#[test]
fn config_lowered_below_the_applied_size_is_refused_as_a_shrink() {
    let plan = Case::new().want("pay-main", autogrow(4, 100)).have("pay-main", autogrow(4, 200)).plan();
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));
    assert_eq!(plan.refused.len(), 1, "{:?}", plan.refused);
    let refusal = &plan.refused[0];
    assert_eq!((refusal.server.as_str(), refusal.path.as_str()), ("pay-main", "storage_gb"));
    assert!(refusal.reason.contains("cannot shrink") && refusal.reason.contains("lowered from 200 GB"));
    assert!(refusal.hint.contains("set storage_gb = 200 or more") && refusal.hint.contains("pg_dump"));
    assert!(plan.notes.is_empty(), "a shrink is not auto-growth: {:?}", plan.notes);
}

/// Auto-grow turned off after the disk grew: the update turns it off, and once applied the
/// grown disk (now without auto-grow) is still no shrink, because the config stayed at what
/// pgfleet applied.
#[test]
fn turning_auto_grow_off_after_growth_is_not_a_shrink_then_or_later() {
    let off = spec(4, 100);
    let plan = Case::new()
        .want("pay-main", off.clone())
        .have("pay-main", autogrow(4, 100))
        .live_as("pay-main", autogrow(4, 130))
        .plan();
    assert!(plan.refused.is_empty(), "{:?}", plan.refused);
    let Operation::Update { patch, .. } = &change(&plan, "update:pay-main").operation else { panic!() };
    assert_eq!((patch.storage_autogrow, patch.storage_gb), (Some(false), None));
    // Applied: the record keeps the configured 100 GB, live is 130 GB without auto-grow.
    let plan = Case::new()
        .want("pay-main", off.clone())
        .have("pay-main", off)
        .live_as("pay-main", spec(4, 130))
        .plan();
    assert!(plan.refused.is_empty() && plan.changes.is_empty(), "{:?} {:?}", plan.refused, ids(&plan));
    assert!(
        plan.notes[0].message.contains("grew to 130 GB since pgfleet applied 100 GB"),
        "{:?}",
        plan.notes
    );
}

/// A state file from before the configured size was recorded: auto-growth is still recognised
/// while auto-grow is on.
#[test]
fn a_record_without_the_configured_size_falls_back_to_auto_grow() {
    let plan = Case::new()
        .want("pay-main", autogrow(4, 100))
        .have("pay-main", autogrow(4, 130))
        .without_configured_storage("pay-main")
        .plan();
    assert!(plan.refused.is_empty() && plan.changes.is_empty(), "{:?} {:?}", plan.refused, ids(&plan));
    assert_eq!(plan.notes.len(), 1);
}

/// Each change carries the configured size for the state to record at apply time; a delete
/// carries none.
#[test]
fn changes_carry_the_configured_storage_for_the_state() {
    let plan = Case::new()
        .want("pay-main", autogrow(8, 100))
        .have("pay-main", autogrow(4, 130))
        .have("pay-old", spec(2, 50))
        .allow_delete()
        .plan();
    assert_eq!(change(&plan, "update:pay-main").configured_storage_gb, Some(100));
    assert_eq!(change(&plan, "delete:pay-old").configured_storage_gb, None);
}

/// The replica falls short in vCores (and so in connections): the refusal names the
/// dimension, the shortfall and the size that would fit, all from `rules::check::size_problems`.
/// With more connections but fewer vCores (MO_Gen5_2 against GP_Gen5_4), the vCores themselves.
#[test]
fn a_replica_short_in_vcores_is_told_by_how_much() {
    let plan = Case::new()
        .want("pay-main", spec(16, 100))
        .want("pay-ro-1", replica("pay-main", 4, 100))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert_eq!(plan.refused.len(), 1, "{:?}", plan.refused);
    let refusal = &plan.refused[0];
    assert_eq!((refusal.server.as_str(), refusal.path.as_str()), ("pay-ro-1", "vcores"));
    assert!(
        refusal.reason.contains("falls short of its primary pay-main in connections"),
        "{}",
        refusal.reason
    );
    assert!(refusal.reason.contains("GP_Gen5_4 (250 connections)"), "{}", refusal.reason);
    assert!(refusal.reason.contains("pay-main's GP_Gen5_16 (950), 700 short"), "{}", refusal.reason);
    assert!(refusal.hint.starts_with("set vcores = 16 or more on pay-ro-1"), "{}", refusal.hint);

    let memory =
        |vcores| ServerSpec { tier: crate::rules::Tier::MemoryOptimized, ..replica("pay-main", vcores, 100) };
    let plan = Case::new().want("pay-main", spec(4, 100)).want("pay-ro-1", memory(2)).plan();
    assert_eq!(plan.refused.len(), 1, "{:?}", plan.refused);
    let refusal = &plan.refused[0];
    assert_eq!((refusal.server.as_str(), refusal.path.as_str()), ("pay-ro-1", "vcores"));
    assert!(refusal.reason.contains("falls short of its primary pay-main in vcores"), "{}", refusal.reason);
    assert!(
        refusal.reason.contains("2 vCores (MO_Gen5_2) against pay-main's 4 (GP_Gen5_4), 2 short"),
        "{}",
        refusal.reason
    );
    assert!(refusal.hint.starts_with("set vcores = 4 or more on pay-ro-1"), "{}", refusal.hint);
}

/// Short in storage only: the storage dimension, with the GB missing.
#[test]
fn a_replica_short_in_storage_is_told_by_how_much() {
    let plan = Case::new()
        .want("pay-main", spec(4, 300))
        .want("pay-ro-1", replica("pay-main", 4, 200))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
        .plan();
    assert_eq!(plan.refused.len(), 1, "{:?}", plan.refused);
    let refusal = &plan.refused[0];
    assert_eq!((refusal.server.as_str(), refusal.path.as_str()), ("pay-ro-1", "storage_gb"));
    assert!(refusal.reason.contains("in storage: 200 GB against pay-main's 300 GB, 100 GB short"));
    assert_eq!(refusal.hint, "set storage_gb = 300 or more on pay-ro-1");
}

/// Short in both: one refusal per dimension. Same vCores in a tier with fewer connections per
/// vCore: connections short, with the vCores that would fit.
#[test]
fn each_short_dimension_is_refused_and_tiers_count_by_connections() {
    let plan =
        Case::new().want("pay-main", spec(8, 300)).want("pay-ro-1", replica("pay-main", 4, 200)).plan();
    let paths: Vec<&str> = plan.refused.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, vec!["vcores", "storage_gb"]);

    let memory = ServerSpec { tier: crate::rules::Tier::MemoryOptimized, ..spec(4, 100) };
    let plan = Case::new().want("pay-main", memory).want("pay-ro-1", replica("pay-main", 4, 100)).plan();
    let refusal = &plan.refused[0];
    assert_eq!(refusal.path, crate::rules::Key::Vcores);
    assert!(refusal.reason.contains("in connections: GP_Gen5_4 (250 connections)"), "{}", refusal.reason);
    assert!(refusal.reason.contains("against pay-main's MO_Gen5_4 (500), 250 short"), "{}", refusal.reason);
    assert!(refusal.hint.starts_with("set vcores = 16 or more on pay-ro-1 (GP_Gen5_16 allows 950"));
}

/// The primary's storage auto-grew to 300 GB live; its replica is configured (and live) at
/// 100 GB like the primary's config: no refusal, no change forced on the replica, and a
/// scale-down still shrinks the primary first.
#[test]
fn a_primary_with_auto_grown_storage_does_not_hold_its_replicas_to_it() {
    let case = Case::new()
        .want("pay-main", autogrow(4, 100))
        .want("pay-ro-1", autogrow_replica("pay-main", 4, 100))
        .have("pay-main", autogrow(4, 100))
        .have("pay-ro-1", autogrow_replica("pay-main", 4, 100))
        .recorded("pay-main", autogrow(4, 300))
        .live_as("pay-main", autogrow(4, 300));
    let plan = case.plan();
    assert!(plan.refused.is_empty(), "{:?}", plan.refused);
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));

    let plan = Case::new()
        .want("pay-main", autogrow(4, 100))
        .want("pay-ro-1", autogrow_replica("pay-main", 4, 100))
        .have("pay-main", autogrow(8, 100))
        .have("pay-ro-1", autogrow_replica("pay-main", 8, 100))
        .live_as("pay-main", autogrow(8, 300))
        .plan();
    assert!(plan.refused.is_empty(), "{:?}", plan.refused);
    assert_eq!(ids(&plan), vec!["update:pay-main", "update:pay-ro-1"]);
    assert!(waits_for(&plan, "update:pay-ro-1", "update:pay-main"), "the primary shrinks first");
    let Operation::Update { patch, .. } = &change(&plan, "update:pay-ro-1").operation else { panic!() };
    assert_eq!(patch.storage_gb, None, "the replica's storage is not forced up");
}

/// A new server on a retired version is refused with the reason and the supported versions;
/// an existing server on it keeps its in-place change.
#[test]
fn new_servers_on_a_retired_version_are_refused_existing_ones_change_in_place() {
    let old = |vcores, storage_gb| ServerSpec { version: PgVersion::V9_6, ..spec(vcores, storage_gb) };
    let plan = Case::new().want("legacy", old(4, 100)).plan();
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));
    let refusal = &plan.refused[0];
    assert_eq!((refusal.server.as_str(), refusal.path.as_str()), ("legacy", "version"));
    assert!(refusal.reason.contains("PostgreSQL 9.6 is retired"), "{}", refusal.reason);
    assert!(refusal.reason.contains("would be created as a new server"), "{}", refusal.reason);
    assert!(refusal.hint.starts_with("set version = \"11\" (supported for new servers: 10, 11)"));

    let plan = Case::new().want("legacy", old(8, 100)).have("legacy", old(4, 100)).plan();
    assert!(plan.refused.is_empty(), "{:?}", plan.refused);
    assert_eq!(ids(&plan), vec!["update:legacy"]);

    // A migration to a new server (here geo-redundant backup) on the retired version is a new
    // server too; with the upgrade in the same change it is fine.
    let geo = |version| ServerSpec { geo_redundant_backup: true, version, ..spec(4, 100) };
    let plan = Case::new().want("legacy", geo(PgVersion::V9_6)).have("legacy", old(4, 100)).plan();
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));
    assert!(plan.refused[0].reason.contains("would move to a new server"), "{}", plan.refused[0].reason);
    let plan = Case::new().want("legacy", geo(PgVersion::V11)).have("legacy", old(4, 100)).plan();
    assert!(plan.refused.is_empty() && ids(&plan) == vec!["migrate:legacy"], "{:?}", plan.refused);
}

/// A new primary with a new replica: nothing restarts for anyone, and the verdict, the JSON
/// summary and the Markdown agree.
#[test]
fn brand_new_servers_do_not_count_as_restarts_in_any_renderer() {
    let plan = Case::new()
        .want("pay-main", spec(4, 100))
        .want("pay-ro-1", replica("pay-main", 4, 100))
        .want("ledger", spec(4, 100))
        .have("ledger", spec(2, 100))
        .plan();
    assert_eq!(plan.summary.restarts, 1, "only ledger's scaling restarts a server in use");
    let human = render::human(&plan, false);
    assert!(human.starts_with("payments: 1 server restarts ·"), "{human}");
    let json: serde_json::Value = serde_json::from_str(&render::json(&plan, "id")).unwrap();
    assert_eq!(json["summary"]["restarts"], 1);
    let markdown = render::markdown(&plan, "id", COMMENT_BUDGET);
    assert!(markdown.contains("### 🟠 pgfleet plan — `payments`: 1 server restarts"), "{markdown}");
    assert!(markdown.contains("> 1 server restarts during apply (downtime 0 s – 1 min each): `ledger`."));
    assert!(markdown.contains("~ update: replication_support | online | none |"), "{markdown}");
}

/// The whole loop through the executor: apply records the configured size, the server
/// auto-grows, a refresh records the grown size, and the unchanged config plans no change and
/// no shrink; lowering the config below what was applied is then refused.
#[tokio::test]
async fn apply_records_the_configured_storage_and_a_refresh_does_not_turn_it_into_a_shrink() {
    use crate::exec::PhasedMigrator;
    use crate::exec::{ApplyOptions, Cancel, EventSender, MemorySink, apply};
    use crate::migrate::MemoryCopier;
    use crate::providers::test_provider::{TestProvider, observed as provider_observed};
    use std::sync::Arc;

    let provider = TestProvider::new();
    provider.insert(provider_observed(&name("pay-main"), autogrow(4, 100)));
    let mut case = Case::new().want("pay-main", autogrow(8, 100)).have("pay-main", autogrow(4, 100));
    case.live = provider.servers();
    case.stored.servers.get_mut(&name("pay-main")).unwrap().configured_storage_gb = None;
    let plan = case.plan();
    assert_eq!(ids(&plan), vec!["update:pay-main"]);

    let sink = MemorySink::new(case.stored.clone());
    let (events, _receiver) = EventSender::channel();
    let report = apply(
        &plan,
        Arc::new(provider.clone()),
        Arc::new(PhasedMigrator::in_memory(&plan, &std::env::temp_dir(), MemoryCopier::default())),
        Box::new(sink.clone()),
        ApplyOptions::default(),
        events,
        Cancel::new(),
    )
    .await;
    assert!(report.succeeded(), "{report:?}");
    let mut state = sink.state();
    assert_eq!(state.servers[&name("pay-main")].configured_storage_gb, Some(100));

    // The service auto-grows the disk; a refresh records what it sees.
    let mut grown = provider.servers()[&name("pay-main")].clone();
    grown.spec.storage_gb = 140;
    provider.insert(grown.clone());
    state.record_observed(grown);
    case.stored = state;
    case.live = provider.servers();
    let plan = case.plan();
    assert!(plan.refused.is_empty() && plan.changes.is_empty(), "{:?} {:?}", plan.refused, ids(&plan));
    assert!(plan.notes[0].message.contains("auto-grew to 140 GB"), "{:?}", plan.notes);

    let lowered = Case { desired: Case::new().want("pay-main", autogrow(8, 50)).desired, ..case };
    let plan = lowered.plan();
    assert_eq!(plan.refused.len(), 1, "{:?}", plan.refused);
    assert!(plan.refused[0].reason.contains("lowered from 100 GB"), "{}", plan.refused[0].reason);
}

/// A Basic primary moving to General Purpose with a new replica: the new copy restarts after
/// cutover to turn replication support on. The verdict counts it, and the Markdown restart
/// alert names it too (it used to list only servers whose worst change was the restart).
#[test]
fn a_migrated_server_that_restarts_is_in_the_restart_alert_and_the_count() {
    let basic = ServerSpec { tier: crate::rules::Tier::Basic, ..spec(2, 100) };
    let plan = Case::new()
        .want("pay-main", spec(2, 100))
        .want("pay-ro-1", replica("pay-main", 2, 100))
        .have_with("pay-main", basic, crate::rules::ReplicationSupport::Off)
        .plan();
    assert_eq!(ids(&plan), vec!["migrate:pay-main", "replication:pay-main", "create:pay-ro-1"]);
    assert_eq!(plan.summary.restarts, 1);
    let human = render::human(&plan, false);
    assert!(human.starts_with("payments: 1 server restarts · 1 data migration"), "{human}");
    let markdown = render::markdown(&plan, "id", COMMENT_BUDGET);
    assert!(
        markdown.contains(
            "> [!WARNING]\n> 1 server restarts during apply (downtime 0 s – 1 min each): `pay-main`."
        ),
        "{markdown}"
    );
    assert!(markdown.contains("> [!CAUTION]\n> 1 data migration"), "{markdown}");
}

/// A migration builds its copy as `NAME-migration`: when the fleet has a server of that name,
/// the migration would take it over, so it is refused (and nothing else is planned for it).
#[test]
fn a_migration_whose_staging_name_is_a_fleet_server_is_refused() {
    let basic = ServerSpec { tier: crate::rules::Tier::Basic, ..spec(2, 100) };
    let plan = Case::new()
        .want("pay-main", spec(2, 100))
        .want("pay-main-migration", spec(2, 100))
        .have("pay-main", basic.clone())
        .have("pay-main-migration", spec(2, 100))
        .plan();
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));
    assert_eq!(plan.refused.len(), 1, "{:?}", plan.refused);
    let refusal = &plan.refused[0];
    assert_eq!((refusal.server.as_str(), refusal.path.as_str()), ("pay-main", "tier"));
    assert!(refusal.reason.contains("built as pay-main-migration"), "{}", refusal.reason);
    assert!(refusal.hint.contains("rename or remove"), "{}", refusal.hint);
    assert_eq!(refusal.rule, None, "pgfleet's own refusal, no service rule");
    // Without that server the same change is a migration.
    let plan = Case::new().want("pay-main", spec(2, 100)).have("pay-main", basic).plan();
    assert_eq!(ids(&plan), ["migrate:pay-main"]);
}

/// Whether a primary migrates is decided once, for the primary and every replica alike: a
/// refused migration re-creates none of its replicas, whatever their names sort before.
#[test]
fn replicas_of_a_primary_whose_migration_is_refused_are_not_re_created() {
    let geo = ServerSpec { geo_redundant_backup: true, ..spec(2, 100) };
    let plan = Case::new()
        .want("pay-main", geo)
        .want("pay-main-migration", spec(2, 100))
        .want("a-ro", replica("pay-main", 2, 100))
        .want("z-ro", replica("pay-main", 2, 100))
        .have("pay-main", spec(2, 100))
        .have("pay-main-migration", spec(2, 100))
        .have("a-ro", replica("pay-main", 2, 100))
        .have("z-ro", replica("pay-main", 2, 100))
        .plan();
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));
    let refused: Vec<(&str, &str)> =
        plan.refused.iter().map(|r| (r.server.as_str(), r.path.as_str())).collect();
    assert_eq!(refused, [("pay-main", "geo_redundant_backup")]);
}

/// Every refusal the planner makes names the service rule behind it (the row of
/// docs/service-rules.md the human and Markdown output cite), the same rule the validator and
/// every backend answer with; only pgfleet's own refusal (a taken staging name, below) has none.
#[test]
fn each_planner_refusal_names_its_rule() {
    use crate::rules::Rule;
    let basic = ServerSpec { tier: crate::rules::Tier::Basic, ..spec(2, 100) };
    let v10 = ServerSpec { version: PgVersion::V10, ..spec(4, 100) };
    let retired = ServerSpec { version: PgVersion::V9_6, ..spec(4, 100) };
    let table: Vec<(Rule, Case)> = vec![
        (Rule::StorageShrink, Case::new().want("a", spec(4, 100)).have("a", spec(4, 200))),
        (Rule::VersionDowngrade, Case::new().want("a", v10).have("a", spec(4, 100))),
        (Rule::RetiredVersion, Case::new().want("a", retired)),
        (
            Rule::ServerToReplica,
            Case::new()
                .want("a", spec(4, 100))
                .want("b", replica("a", 4, 100))
                .have("a", spec(4, 100))
                .have("b", spec(4, 100)),
        ),
        (
            Rule::ReplicaMove,
            Case::new()
                .want("a", spec(4, 100))
                .want("c", spec(4, 100))
                .want("b", replica("c", 4, 100))
                .have("a", spec(4, 100))
                .have("c", spec(4, 100))
                .have("b", replica("a", 4, 100)),
        ),
        (
            Rule::ReplicaSmallerThanPrimary,
            Case::new()
                .want("a", spec(8, 100))
                .want("b", replica("a", 4, 100))
                .have("a", spec(8, 100))
                .have("b", replica("a", 8, 100)),
        ),
        (
            Rule::ReplicaOnBasic,
            Case::new()
                .want("a", basic)
                .want("b", replica("a", 4, 100))
                .have("a", spec(4, 100))
                .have("b", replica("a", 4, 100)),
        ),
    ];
    for (rule, case) in table {
        let plan = case.plan();
        assert!(
            plan.refused.iter().any(|refusal| refusal.rule == Some(rule)),
            "{rule:?} not named: {:#?}",
            plan.refused
        );
        assert!(plan.refused.iter().all(|refusal| refusal.rule.is_some()), "{:#?}", plan.refused);
        let human = render::human(&plan, false);
        assert!(human.contains(&format!("rule: {rule} ({})", rule.doc_anchor())), "{human}");
        assert!(
            render::markdown(&plan, "id", COMMENT_BUDGET).contains(&format!("(rule `{rule}`)")),
            "{rule:?}"
        );
    }
}
