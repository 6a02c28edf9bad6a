//! Engine tests: the executor against the in-process test provider, with paused time.

use crate::exec_support;

use exec_support::*;
use pgfleet::exec::{ApplyOptions, Cancel, ChangeOutcome, EventKind, RetryPolicy};
use pgfleet::plan::Operation;
use pgfleet::providers::test_provider::Op;
use pgfleet::providers::{ProviderError, ProviderErrorKind};
use pgfleet::rules::ReplicationSupport;
use pgfleet::state::JournalRecord;
use std::time::Duration;
use tokio::time::Instant;

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn latencies(provider: &pgfleet::providers::test_provider::TestProvider) {
    provider.set_latency(Op::Create, millis(50));
    provider.set_latency(Op::Update, millis(30));
    provider.set_latency(Op::Restart, millis(20));
    provider.set_latency(Op::SetParameter, millis(5));
}

/// A scale-up of a primary with two replicas, plus a new primary with a replica.
fn scale_up_and_new_pair() -> pgfleet::plan::Plan {
    plan(vec![
        update("update:pay-ro-1", "pay-ro-1", vcores(8), &[]),
        update("update:pay-ro-2", "pay-ro-2", vcores(8), &[]),
        update("update:pay-main", "pay-main", vcores(8), &["update:pay-ro-1", "update:pay-ro-2"]),
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
    ])
}

fn primary_with_two_replicas() -> Vec<pgfleet::model::ObservedServer> {
    vec![
        live("pay-main", spec(4, 100)),
        live("pay-ro-1", replica_spec(4, 100, "pay-main")),
        live("pay-ro-2", replica_spec(4, 100, "pay-main")),
    ]
}

#[tokio::test(start_paused = true)]
async fn ordering_is_respected_under_parallelism() {
    let (provider, state) = fleet(&primary_with_two_replicas());
    latencies(&provider);
    let plan = scale_up_and_new_pair();
    let sink = RecordingSink::new(state, &provider);
    let (report, events) = run(&plan, &provider, sink.clone(), ApplyOptions::default(), Cancel::new()).await;
    assert!(report.succeeded(), "{report:?}");
    let kinds: Vec<&str> = events
        .iter()
        .filter(|event| event.kind.address().is_some_and(|a| a.server_name().as_str() == "new-ro-1"))
        .map(|event| match event.kind {
            EventKind::StepStarted { .. } => "started",
            EventKind::StepSucceeded { .. } => "succeeded",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["started", "succeeded"]);
    let Some(EventKind::ApplyFinished { summary }) = events.last().map(|e| &e.kind) else {
        panic!("{events:?}")
    };
    assert_eq!((summary.created, summary.updated, summary.restarts), (2, 4, 4));

    let calls = provider.calls();
    let first_start = |server: &str| {
        calls.iter().filter(|c| c.server.as_str() == server).map(|c| c.started_at).min().unwrap()
    };
    let last_end = |server: &str| {
        calls.iter().filter(|c| c.server.as_str() == server).filter_map(|c| c.ended_at).max().unwrap()
    };
    assert!(last_end("pay-ro-1") <= first_start("pay-main"));
    assert!(last_end("pay-ro-2") <= first_start("pay-main"));
    assert!(last_end("new-main") <= first_start("new-ro-1"));
    // Independent branches overlapped.
    assert!(first_start("new-main") < last_end("pay-ro-1"));
    let live = provider.servers();
    assert_eq!(live[&name("pay-main")].spec.vcores, 8);
    assert_eq!(live[&name("new-ro-1")].spec.replica_of, Some(name("new-main")));
    assert_eq!(sink.memory.state().observed(), live);
}

#[tokio::test(start_paused = true)]
async fn the_provider_refuses_a_primary_scaled_before_its_replicas() {
    let (provider, state) = fleet(&primary_with_two_replicas());
    let plan = plan(vec![update("update:pay-main", "pay-main", vcores(8), &[])]);
    let (report, _) =
        run(&plan, &provider, RecordingSink::new(state, &provider), ApplyOptions::default(), Cancel::new())
            .await;
    let Some(ChangeOutcome::Failed { error }) = report.outcome("update:pay-main") else {
        panic!("{report:?}")
    };
    assert!(error.contains(pgfleet::rules::Rule::PrimaryLargerThanReplica.code_str()), "{error}");
    assert!(error.contains("larger max_connections value than its replica(s)"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_failure_skips_only_its_dependents() {
    let (provider, state) = fleet(&primary_with_two_replicas());
    latencies(&provider);
    provider.fail_call(
        Op::Update,
        &name("pay-ro-1"),
        1,
        ProviderError::refused("Boom", "refused for the test"),
    );
    let plan = scale_up_and_new_pair();
    let (report, events) =
        run(&plan, &provider, RecordingSink::new(state, &provider), ApplyOptions::default(), Cancel::new())
            .await;

    assert!(!report.succeeded());
    assert!(matches!(report.outcome("update:pay-ro-1"), Some(ChangeOutcome::Failed { .. })));
    let Some(ChangeOutcome::Skipped { reason }) = report.outcome("update:pay-main") else {
        panic!("{report:?}")
    };
    assert!(reason.contains("update:pay-ro-1"), "{reason}");
    for id in ["update:pay-ro-2", "create:new-main", "replication:new-main", "create:new-ro-1"] {
        assert!(matches!(report.outcome(id), Some(ChangeOutcome::Succeeded { .. })), "{id}: {report:?}");
    }
    let skipped: Vec<_> = events.iter().filter(|e| matches!(e.kind, EventKind::StepSkipped { .. })).collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(report.summary.failed, 1);
    assert_eq!(report.summary.skipped, 1);
    assert!(provider.calls().iter().all(|call| call.server.as_str() != "pay-main"));
}

#[tokio::test(start_paused = true)]
async fn retries_honour_retry_after() {
    let (provider, state) = fleet(&[live("pay-main", spec(4, 100))]);
    let throttled = ProviderError::new(ProviderErrorKind::Throttled, "Too many requests")
        .with_retry_after(Duration::from_secs(30));
    provider.fail_call(Op::Update, &name("pay-main"), 1, throttled.clone());
    provider.fail_call(Op::Update, &name("pay-main"), 2, throttled);
    let plan = plan(vec![update("update:pay-main", "pay-main", vcores(8), &[])]);
    let started = Instant::now();
    let sink = RecordingSink::new(state, &provider);
    let (report, _, retries) = run_with_retries(
        &plan,
        &provider,
        sink,
        ApplyOptions::default(),
        RetryPolicy::default(),
        Cancel::new(),
    )
    .await;

    assert!(report.succeeded(), "{report:?}");
    assert!(started.elapsed() >= Duration::from_secs(60));
    assert_eq!(provider.calls().iter().filter(|c| c.op == Op::Update).count(), 3);
    let retried: Vec<u64> = retries
        .iter()
        .filter_map(|kind| match kind {
            EventKind::Retry { call: "update", server: Some(server), delay_ms, .. }
                if server.as_str() == "pay-main" =>
            {
                Some(*delay_ms)
            }
            _ => None,
        })
        .collect();
    assert_eq!(retried.len(), 2, "{retries:?}");
    assert!(retried.iter().all(|delay| *delay >= 30_000), "{retried:?}");
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_their_bound() {
    let (provider, state) = fleet(&[live("pay-main", spec(4, 100))]);
    for nth in 1..=10 {
        provider.fail_call(
            Op::Update,
            &name("pay-main"),
            nth,
            ProviderError::new(ProviderErrorKind::ServerError, "500"),
        );
    }
    let policy = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
    let plan = plan(vec![update("update:pay-main", "pay-main", vcores(8), &[])]);
    let sink = RecordingSink::new(state, &provider);
    let (report, _, _) =
        run_with_retries(&plan, &provider, sink, ApplyOptions::default(), policy, Cancel::new()).await;
    assert!(matches!(report.outcome("update:pay-main"), Some(ChangeOutcome::Failed { .. })));
    assert_eq!(provider.calls().iter().filter(|c| c.op == Op::Update).count(), 3);
}

#[tokio::test(start_paused = true)]
async fn never_two_operations_on_one_server_and_parallelism_is_bounded() {
    let servers: Vec<_> = (0..12).map(|i| live(&format!("db-{i:02}"), spec(4, 100))).collect();
    let (provider, state) = fleet(&servers);
    latencies(&provider);
    let mut changes: Vec<_> = (0..12)
        .map(|i| update(&format!("update:db-{i:02}"), &format!("db-{i:02}"), vcores(8), &[]))
        .collect();
    // Two independent changes on one server: they must not overlap.
    changes.push(update(
        "retention:db-00",
        "db-00",
        pgfleet::model::ServerPatch { backup_retention_days: Some(14), ..Default::default() },
        &[],
    ));
    let options = ApplyOptions { parallelism: 4, ..ApplyOptions::default() };
    let (report, _) =
        run(&plan(changes), &provider, RecordingSink::new(state, &provider), options, Cancel::new()).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(provider.max_concurrency(), (4, 1));
    assert_eq!(provider.servers()[&name("db-00")].spec.backup_retention_days, 14);
}

#[tokio::test(start_paused = true)]
async fn update_writes_replication_support_then_patch_then_restarts_once() {
    let (provider, state) = fleet(&[live("a", spec(4, 100)), live("b", spec(4, 100))]);
    let retention = pgfleet::model::ServerPatch { backup_retention_days: Some(14), ..Default::default() };
    let operation =
        |patch| Operation::Update { patch, replication_support: Some(ReplicationSupport::Logical) };
    let plan = plan(vec![
        change("update:a", "a", operation(retention), &[]),
        change("update:b", "b", operation(vcores(8)), &[]),
    ]);
    let (report, _) =
        run(&plan, &provider, RecordingSink::new(state, &provider), ApplyOptions::default(), Cancel::new())
            .await;
    assert!(report.succeeded(), "{report:?}");
    let ops = |server: &str| -> Vec<Op> {
        provider.calls().iter().filter(|c| c.server.as_str() == server).map(|c| c.op).collect()
    };
    assert_eq!(ops("a"), [Op::SetParameter, Op::Update, Op::Restart]);
    assert_eq!(ops("b"), [Op::SetParameter, Op::Update]);
    assert_eq!(report.summary.restarts, 2);
    for server in ["a", "b"] {
        assert_eq!(provider.servers()[&name(server)].replication_support, ReplicationSupport::Logical);
    }
}

#[tokio::test(start_paused = true)]
async fn every_step_is_in_flight_before_and_done_after() {
    let (provider, state) = fleet(&[live("a", spec(4, 100))]);
    latencies(&provider);
    let plan =
        plan(vec![update("first", "a", vcores(8), &[]), update("second", "a", vcores(16), &["first"])]);
    let sink = RecordingSink::new(state, &provider);
    let (report, _) = run(&plan, &provider, sink.clone(), ApplyOptions::default(), Cancel::new()).await;
    assert!(report.succeeded());
    let batches = sink.batches.lock().unwrap().clone();
    let calls_at = sink.calls_at_batch.lock().unwrap().clone();
    let kinds: Vec<(String, usize)> = batches
        .iter()
        .zip(&calls_at)
        .flat_map(|(batch, calls)| {
            batch.iter().map(move |record| match record {
                JournalRecord::Started { step } => (format!("started {}", step.change_id), *calls),
                JournalRecord::Finished { change_id, .. } => (format!("finished {change_id}"), *calls),
                JournalRecord::Observed { .. } => ("observed".to_string(), *calls),
                JournalRecord::Migration { .. } => ("migration".to_string(), *calls),
            })
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("started first".to_string(), 0),
            ("finished first".to_string(), 1),
            ("started second".to_string(), 1),
            ("finished second".to_string(), 2)
        ]
    );
    let state = sink.memory.state();
    assert!(state.in_flight.is_empty());
    assert_eq!(state.servers[&name("a")].observed.spec.vcores, 16);
}

#[tokio::test(start_paused = true)]
async fn busy_applies_persist_in_batches() {
    let servers: Vec<_> = (0..40).map(|i| live(&format!("db-{i:02}"), spec(4, 100))).collect();
    let (provider, state) = fleet(&servers);
    let changes = (0..40).map(|i| update(&format!("u{i}"), &format!("db-{i:02}"), vcores(8), &[])).collect();
    let sink = RecordingSink::new(state, &provider);
    let (report, _) =
        run(&plan(changes), &provider, sink.clone(), ApplyOptions::default(), Cancel::new()).await;
    assert!(report.succeeded());
    let sizes: Vec<usize> = sink.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 80);
    assert!(sizes.len() < 80, "{sizes:?}");
}

fn ten_independent_updates()
-> (pgfleet::providers::test_provider::TestProvider, pgfleet::state::State, pgfleet::plan::Plan) {
    let servers: Vec<_> = (0..10).map(|i| live(&format!("db-{i}"), spec(4, 100))).collect();
    let (provider, state) = fleet(&servers);
    provider.set_latency(Op::Update, millis(100));
    let changes =
        (0..10).map(|i| update(&format!("update:db-{i}"), &format!("db-{i}"), vcores(8), &[])).collect();
    (provider, state, plan(changes))
}

#[tokio::test(start_paused = true)]
async fn first_ctrl_c_starts_nothing_new_and_lets_running_steps_finish() {
    let (provider, state, plan) = ten_independent_updates();
    let sink = RecordingSink::new(state, &provider);
    let cancel = Cancel::new();
    let options = ApplyOptions { parallelism: 3, ..ApplyOptions::default() };
    let apply = tokio::spawn({
        let (provider, sink, cancel) = (provider.clone(), sink.clone(), cancel.clone());
        async move { run(&plan, &provider, sink, options, cancel).await }
    });
    tokio::time::sleep(millis(150)).await; // the second round of three is running
    cancel.stop();
    let (report, _) = apply.await.unwrap();

    assert!(report.cancelled && !report.succeeded());
    assert_eq!(report.summary.updated, 6);
    assert_eq!(report.summary.skipped, 4);
    assert_eq!(provider.calls().len(), 6);
    let state = sink.memory.state();
    assert!(state.in_flight.is_empty());
    assert_eq!(state.servers.values().filter(|s| s.observed.spec.vcores == 8).count(), 6);
}

#[tokio::test(start_paused = true)]
async fn second_ctrl_c_aborts_running_steps_which_stay_in_flight() {
    let (provider, state, plan) = ten_independent_updates();
    let sink = RecordingSink::new(state, &provider);
    let cancel = Cancel::new();
    let options = ApplyOptions { parallelism: 3, ..ApplyOptions::default() };
    let apply = tokio::spawn({
        let (provider, sink, cancel) = (provider.clone(), sink.clone(), cancel.clone());
        async move { run(&plan, &provider, sink, options, cancel).await }
    });
    tokio::time::sleep(millis(130)).await;
    cancel.escalate();
    cancel.escalate();
    let (report, _) = apply.await.unwrap();

    assert_eq!(report.summary.updated, 3);
    assert_eq!(report.summary.aborted, 3);
    let state = sink.memory.state();
    let mut in_flight: Vec<_> = state.in_flight.iter().map(|step| step.change_id.clone()).collect();
    in_flight.sort();
    assert_eq!(in_flight, ["update:db-3", "update:db-4", "update:db-5"]);
    assert!(provider.calls()[3..].iter().all(|call| call.ended_at.is_none()));
}

/// A sink whose disk fills up after `ok` batches.
struct FullDisk {
    ok: usize,
}

impl pgfleet::exec::StateSink for FullDisk {
    fn persist(&mut self, _: &[JournalRecord]) -> Result<(), pgfleet::exec::SinkError> {
        if self.ok == 0 {
            return Err(pgfleet::exec::SinkError::new("no space left on device"));
        }
        self.ok -= 1;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_state_that_cannot_be_saved_stops_the_apply() {
    let (provider, _) = fleet(&[live("a", spec(4, 100)), live("b", spec(4, 100))]);
    latencies(&provider);
    let plan = plan(vec![update("first", "a", vcores(8), &[]), update("second", "b", vcores(8), &["first"])]);
    let (events, _receiver) = pgfleet::exec::EventSender::channel();
    let report = pgfleet::exec::apply(
        &plan,
        std::sync::Arc::new(provider.clone()),
        std::sync::Arc::new(pgfleet::exec::PhasedMigrator::in_memory(
            &plan,
            &std::env::temp_dir(),
            pgfleet::migrate::MemoryCopier::default(),
        )),
        Box::new(FullDisk { ok: 1 }),
        ApplyOptions::default(),
        events,
        Cancel::new(),
    )
    .await;
    assert!(!report.succeeded());
    assert!(report.state_error.as_ref().is_some_and(|e| e.message.contains("no space")));
    let Some(ChangeOutcome::Failed { error }) = report.outcome("first") else { panic!("{report:?}") };
    assert!(error.contains("the change was made, but could not save the state"), "{error}");
    // "second" never reached the provider: its in-flight record could not be saved.
    assert!(provider.calls().iter().all(|call| call.server.as_str() != "b"));
}

#[tokio::test(start_paused = true)]
async fn a_migrated_primary_gets_its_replica_recreated_after_cutover() {
    let old = |spec: pgfleet::model::ServerSpec| pgfleet::model::ServerSpec {
        version: pgfleet::rules::PgVersion::V10,
        ..spec
    };
    let (provider, state) = fleet(&[
        live("pay-main", old(spec(4, 100))),
        live("pay-ro-1", old(replica_spec(4, 100, "pay-main"))),
    ]);
    latencies(&provider);
    let replication = Operation::Update {
        patch: Default::default(),
        replication_support: Some(ReplicationSupport::Replica),
    };
    let plan = plan(vec![
        change(
            "migrate:pay-main",
            "pay-main",
            Operation::Migrate {
                from: Box::new(old(spec(4, 100))),
                to: Box::new(spec(4, 100)),
                staging: "pay-main-migration".into(),
            },
            &[],
        ),
        change("replication:pay-main", "pay-main", replication, &["migrate:pay-main"]),
        change(
            "recreate:pay-ro-1",
            "pay-ro-1",
            Operation::Recreate { spec: replica_spec(4, 100, "pay-main") },
            &["replication:pay-main"],
        ),
    ]);
    let sink = RecordingSink::new(state, &provider);
    let (report, _) = run(&plan, &provider, sink.clone(), ApplyOptions::default(), Cancel::new()).await;
    assert!(report.succeeded(), "{report:?}");

    let calls: Vec<(Op, String)> = provider
        .calls()
        .into_iter()
        .filter(|call| call.op != Op::Refresh && call.op != Op::Connection)
        .map(|call| (call.op, call.server.to_string()))
        .collect();
    let expected = [
        (Op::Create, "pay-main-migration"),
        (Op::Cutover, "pay-main"),
        (Op::SetParameter, "pay-main"),
        (Op::Restart, "pay-main"),
        (Op::Delete, "pay-ro-1"),
        (Op::Create, "pay-ro-1"),
    ];
    assert_eq!(calls, expected.map(|(op, server)| (op, server.to_string())));
    let stages: Vec<Option<pgfleet::state::Stage>> = sink
        .records()
        .into_iter()
        .filter_map(|record| match record {
            JournalRecord::Started { step } if step.change_id == "migrate:pay-main" => Some(step.stage),
            _ => None,
        })
        .collect();
    let phases = pgfleet::migrate::Phase::ALL.map(|phase| Some(pgfleet::state::Stage::Migration(phase)));
    assert_eq!(stages[0], None);
    assert_eq!(stages[1..], phases, "every phase is journaled, in the protocol's order");
    let live = provider.servers();
    assert_eq!(live.len(), 2);
    assert_eq!(live[&name("pay-ro-1")].spec.version, pgfleet::rules::PgVersion::V11);
    assert_eq!(live[&name("pay-ro-1")].spec.replica_of, Some(name("pay-main")));
    assert_eq!(sink.memory.state().observed(), live);
}
