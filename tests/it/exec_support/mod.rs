//! Plan and fleet builders shared by the executor's test files (the planner is built
//! elsewhere; these tests write plans by hand).
#![allow(dead_code)]

use pgfleet::exec::{
    ApplyOptions, ApplyReport, Cancel, Event, EventKind, EventSender, MemorySink, PhasedMigrator,
    RetryNotice, RetryPolicy, RetryingProvider, StateSink, apply,
};
use pgfleet::migrate::MemoryCopier;
use pgfleet::model::{ObservedServer, ServerName, ServerPatch, ServerSpec};
use pgfleet::plan::{
    Action, Change, DowntimeRange, Impact, Operation, PLAN_FORMAT_VERSION, Plan, PlanInputs, Summary,
};
use pgfleet::providers::test_provider::{TestProvider, observed};
use pgfleet::rules::{PgVersion, ReplicationSupport, Tier};
use pgfleet::state::{JournalRecord, State};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub fn name(text: &str) -> ServerName {
    ServerName::new(text)
}

/// A General Purpose Gen5 server spec.
pub fn spec(vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec::new(Tier::GeneralPurpose, vcores, storage_gb, PgVersion::V11, "fleetadmin", "westeurope")
}

pub fn replica_spec(vcores: u32, storage_gb: u32, primary: &str) -> ServerSpec {
    ServerSpec { replica_of: Some(name(primary)), ..spec(vcores, storage_gb) }
}

pub fn vcores(vcores: u32) -> ServerPatch {
    ServerPatch { vcores: Some(vcores), ..ServerPatch::default() }
}

/// A live server; primaries get replication support on so replicas can exist.
pub fn live(server: &str, spec: ServerSpec) -> ObservedServer {
    let mut server = observed(&name(server), spec);
    if !server.spec.is_replica() {
        server.replication_support = ReplicationSupport::Replica;
    }
    server
}

/// A provider holding `servers`, and a state recording exactly them.
pub fn fleet(servers: &[ObservedServer]) -> (TestProvider, State) {
    let provider = TestProvider::new();
    let mut state = State::new("payments");
    for server in servers {
        provider.insert(server.clone());
        state.apply_record(&JournalRecord::Observed {
            outcome: pgfleet::state::RecordOutcome::Upsert(server.clone()),
        });
    }
    (provider, state)
}

pub fn change(id: &str, server: &str, operation: Operation, depends_on: &[&str]) -> Change {
    let action = match &operation {
        Operation::Create { .. } => Action::Create,
        Operation::Update { .. } | Operation::Failover => Action::Update,
        Operation::Migrate { .. } | Operation::Recreate { .. } => Action::Migrate,
        Operation::Promote => Action::Promote,
        Operation::Delete => Action::Delete,
    };
    Change {
        id: id.into(),
        address: name(server).address(),
        server: name(server),
        action,
        depends_on: depends_on.iter().map(|id| id.to_string()).collect(),
        ordering: Vec::new(),
        attributes: Vec::new(),
        impact: Impact {
            // As the planner judges it: an update restarts when its patch or replication does
            // (these plans are of Single Servers, whose patches restart by their keys alone).
            restart: matches!(&operation, Operation::Update { patch, replication_support }
                if patch.restarts(&any_single_server()) || replication_support.is_some()),
            downtime_seconds: DowntimeRange { min: 0, max: 0 },
            downtime_basis: String::new(),
            data_migration: false,
            reversible: true,
        },
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

/// A Single Server spec, for judging a Single Server patch.
fn any_single_server() -> ServerSpec {
    ServerSpec::new(Tier::GeneralPurpose, 4, 100, PgVersion::V11, "fleetadmin", "local")
}

pub fn update(id: &str, server: &str, patch: ServerPatch, depends_on: &[&str]) -> Change {
    change(id, server, Operation::Update { patch, replication_support: None }, depends_on)
}

pub fn plan(changes: Vec<Change>) -> Plan {
    Plan {
        format_version: PLAN_FORMAT_VERSION.into(),
        fleet: "payments".into(),
        unfinished_migrations: Vec::new(),
        changes,
        blocked: Vec::new(),
        refused: Vec::new(),
        drift: Vec::new(),
        notes: Vec::new(),
        summary: Summary::default(),
        cost: None,
        inputs: PlanInputs {
            config_files: BTreeMap::new(),
            state_lineage: None,
            state_serial: None,
            refreshed: true,
            live_fingerprints: BTreeMap::new(),
            created_at: chrono::Utc::now(),
            tool_version: "test".into(),
        },
    }
}

/// A memory sink that also keeps every persisted batch (what a crash leaves durable).
#[derive(Clone)]
pub struct RecordingSink {
    pub memory: MemorySink,
    pub batches: Arc<Mutex<Vec<Vec<JournalRecord>>>>,
    /// Provider calls started when each batch was persisted (to check "in flight before").
    pub calls_at_batch: Arc<Mutex<Vec<usize>>>,
    provider: TestProvider,
}

impl RecordingSink {
    pub fn new(state: State, provider: &TestProvider) -> RecordingSink {
        RecordingSink {
            memory: MemorySink::new(state),
            batches: Arc::default(),
            calls_at_batch: Arc::default(),
            provider: provider.clone(),
        }
    }

    pub fn records(&self) -> Vec<JournalRecord> {
        self.batches.lock().unwrap().iter().flatten().cloned().collect()
    }

    /// Ids of changes whose `Finished` record is durable.
    pub fn finished(&self) -> Vec<String> {
        self.records()
            .into_iter()
            .filter_map(|record| match record {
                JournalRecord::Finished { change_id, .. } => Some(change_id),
                _ => None,
            })
            .collect()
    }
}

impl StateSink for RecordingSink {
    fn persist(&mut self, records: &[JournalRecord]) -> Result<(), pgfleet::exec::SinkError> {
        self.memory.persist(records)?;
        self.batches.lock().unwrap().push(records.to_vec());
        self.calls_at_batch.lock().unwrap().push(self.provider.calls().len());
        Ok(())
    }
}

/// Runs an apply with the real migration protocol and an in-memory copier (resuming the
/// migrations the sink's state records as unfinished), the provider wrapped in the retrying
/// layer with the default policy as the CLI wraps it, and collects its events.
pub async fn run(
    plan: &Plan,
    provider: &TestProvider,
    sink: RecordingSink,
    options: ApplyOptions,
    cancel: Cancel,
) -> (ApplyReport, Vec<Event>) {
    run_with_copier(plan, provider, sink, options, cancel, MemoryCopier::default()).await
}

/// [`run`] with a given copier (to see its calls or make a phase fail).
pub async fn run_with_copier(
    plan: &Plan,
    provider: &TestProvider,
    sink: RecordingSink,
    options: ApplyOptions,
    cancel: Cancel,
    copier: MemoryCopier,
) -> (ApplyReport, Vec<Event>) {
    let (report, events, _) =
        run_full(plan, provider, sink, options, RetryPolicy::default(), cancel, copier).await;
    (report, events)
}

/// [`run`] under `policy`; also returns the `retry` events the retrying layer reported.
pub async fn run_with_retries(
    plan: &Plan,
    provider: &TestProvider,
    sink: RecordingSink,
    options: ApplyOptions,
    policy: RetryPolicy,
    cancel: Cancel,
) -> (ApplyReport, Vec<Event>, Vec<EventKind>) {
    run_full(plan, provider, sink, options, policy, cancel, MemoryCopier::default()).await
}

async fn run_full(
    plan: &Plan,
    provider: &TestProvider,
    sink: RecordingSink,
    options: ApplyOptions,
    policy: RetryPolicy,
    cancel: Cancel,
    copier: MemoryCopier,
) -> (ApplyReport, Vec<Event>, Vec<EventKind>) {
    let retries = Arc::new(Mutex::new(Vec::new()));
    let heard = retries.clone();
    let retrying = RetryingProvider::new(Arc::new(provider.clone()), policy)
        .observed(Arc::new(move |notice: &RetryNotice<'_>| heard.lock().unwrap().push(notice.to_event())));
    let (events, mut receiver) = EventSender::channel();
    let work = tempfile::tempdir().expect("a work directory");
    let mut migrator = PhasedMigrator::in_memory(plan, work.path(), copier);
    migrator.unfinished = sink.memory.state().migrations;
    let report =
        apply(plan, Arc::new(retrying), Arc::new(migrator), Box::new(sink), options, events, cancel).await;
    let mut collected = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        collected.push(event);
    }
    let retries = retries.lock().unwrap().clone();
    (report, collected, retries)
}
