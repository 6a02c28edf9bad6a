//! Crash-safety: an apply dropped at every step boundary and in the middle of steps leaves a
//! state that, reconciled against the provider's reality and applied again, converges: nothing
//! created twice, nothing forgotten, and the state equal to what exists.

use crate::exec_support;

use exec_support::*;
use pgfleet::exec::{ApplyOptions, Cancel, reconcile_interrupted};
use pgfleet::plan::{Change, Operation, Plan};
use pgfleet::providers::Provider;
use pgfleet::providers::test_provider::{Op, TestProvider};
use pgfleet::rules::{ReplicationSupport, Tier};
use pgfleet::state::State;
use std::collections::BTreeSet;
use std::time::Duration;

fn start() -> (TestProvider, State) {
    let basic = pgfleet::model::ServerSpec { tier: Tier::Basic, vcores: 2, ..spec(2, 50) };
    let (provider, state) = fleet(&[
        live("pay-main", spec(4, 100)),
        live("pay-ro-1", replica_spec(4, 100, "pay-main")),
        live("pay-ro-2", replica_spec(8, 100, "pay-main")),
        live("old-db", spec(2, 50)),
        live("legacy", basic),
    ]);
    for (op, ms) in [
        (Op::Create, 50),
        (Op::Update, 30),
        (Op::Restart, 20),
        (Op::Delete, 10),
        (Op::Promote, 10),
        (Op::SetParameter, 5),
        (Op::Cutover, 10),
        (Op::Refresh, 5),
        (Op::Connection, 5),
    ] {
        provider.set_latency(op, Duration::from_millis(ms));
    }
    (provider, state)
}

fn the_plan() -> Plan {
    let basic = pgfleet::model::ServerSpec { tier: Tier::Basic, vcores: 2, ..spec(2, 50) };
    plan(vec![
        update("update:pay-ro-1", "pay-ro-1", vcores(8), &[]),
        update("update:pay-main", "pay-main", vcores(8), &["update:pay-ro-1"]),
        change("promote:pay-ro-2", "pay-ro-2", Operation::Promote, &[]),
        change("create:new-main", "new-main", Operation::Create { spec: spec(4, 100) }, &[]),
        change(
            "replication:new-main",
            "new-main",
            Operation::Update {
                patch: Default::default(),
                replication_support: Some(ReplicationSupport::Replica),
            },
            &["create:new-main"],
        ),
        change(
            "create:new-ro-1",
            "new-ro-1",
            Operation::Create { spec: replica_spec(4, 100, "new-main") },
            &["replication:new-main"],
        ),
        change("delete:old-db", "old-db", Operation::Delete, &[]),
        change(
            "migrate:legacy",
            "legacy",
            Operation::Migrate {
                from: Box::new(basic),
                to: Box::new(spec(2, 50)),
                staging: "legacy-migration".into(),
            },
            &[],
        ),
    ])
}

/// The changes still to make: not durably finished, and not already visible in the reconciled
/// state (what a re-plan would find).
fn remaining(plan: &Plan, finished: &[String], state: &State) -> Plan {
    let done = |change: &Change| {
        let recorded = state.servers.get(&change.server).map(|record| &record.observed.spec);
        finished.contains(&change.id)
            || match &change.operation {
                Operation::Promote => recorded.is_some_and(|spec| !spec.is_replica()),
                Operation::Delete => recorded.is_none(),
                Operation::Migrate { to, .. } => recorded == Some(to),
                _ => false,
            }
    };
    let mut next = plan.clone();
    next.changes.retain(|change| !done(change));
    next
}

/// Applies the plan, dropped after `crash_after` (a crash), then reconciles and applies the rest.
/// Returns the provider, the final durable state and the reconcile messages.
async fn crash_and_recover(crash_after: Duration) -> (TestProvider, State, Vec<String>) {
    let (provider, state) = start();
    let plan = the_plan();
    let sink = RecordingSink::new(state, &provider);
    let interrupted = tokio::time::timeout(
        crash_after,
        run(&plan, &provider, sink.clone(), ApplyOptions::default(), Cancel::new()),
    )
    .await;
    let durable = sink.memory.state();
    if interrupted.is_ok() {
        return (provider, durable, Vec::new());
    }
    let live = provider.refresh().await.unwrap();
    let (reconciled, messages) = reconcile_interrupted(&durable, &live);
    assert!(reconciled.in_flight.is_empty());
    if !durable.in_flight.is_empty() {
        assert!(messages[0].starts_with("an apply was interrupted while"), "{messages:?}");
    }
    let rest = remaining(&plan, &sink.finished(), &reconciled);
    let second = RecordingSink::new(reconciled, &provider);
    let (report, _) = run(&rest, &provider, second.clone(), ApplyOptions::default(), Cancel::new()).await;
    assert!(report.succeeded(), "crash at {crash_after:?}: {report:?}");
    (provider, second.memory.state(), messages)
}

#[tokio::test(start_paused = true)]
async fn an_apply_killed_anywhere_converges_on_the_next_run() {
    // The uninterrupted run: what the fleet must look like, and where its step boundaries are.
    let (reference, state) = start();
    let sink = RecordingSink::new(state, &reference);
    let (report, _) =
        run(&the_plan(), &reference, sink.clone(), ApplyOptions::default(), Cancel::new()).await;
    assert!(report.succeeded(), "{report:?}");
    let expected = reference.servers();
    assert_eq!(sink.memory.state().observed(), expected);

    let mut crash_points: BTreeSet<Duration> = BTreeSet::new();
    for call in reference.calls() {
        crash_points.insert(call.started_at);
        crash_points.extend(call.ended_at);
    }
    let makespan = *crash_points.last().unwrap();
    let mut at = Duration::ZERO;
    while at <= makespan + Duration::from_millis(5) {
        crash_points.insert(at); // the middle of steps
        at += Duration::from_millis(3);
    }

    let mut interrupted_mid_migration = false;
    let mut interrupted = 0;
    for crash_after in crash_points {
        let (provider, state, messages) = crash_and_recover(crash_after).await;
        interrupted += usize::from(!messages.is_empty());
        interrupted_mid_migration |= messages.iter().any(|m| m.contains("migrating legacy (at stage"));
        assert_eq!(provider.servers(), expected, "crash at {crash_after:?}");
        assert_eq!(state.observed(), provider.servers(), "crash at {crash_after:?}: state lies");
        assert!(state.in_flight.is_empty());
        for (server, count) in provider.creations() {
            assert!(count <= 1, "crash at {crash_after:?}: {server} created {count} times");
        }
    }
    assert!(interrupted_mid_migration, "no crash point fell inside the migration's stages");
    assert!(interrupted >= 20, "only {interrupted} crash points found steps in flight");
}
