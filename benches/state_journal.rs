//! Prints what recording an apply costs: rewriting the whole state file after every step (the
//! O(N²) curve DESIGN.md warns about) against appending to the journal and compacting once.
//! Figures only; nothing here is asserted. Run with `cargo bench --bench state_journal`;
//! `PGFLEET_BENCH_SERVERS` sets the fleet size (default 1000).

use chrono::Utc;
use pgfleet::model::{Endpoint, ObservedServer, ServerName, ServerSpec, ServerStatus};
use pgfleet::rules::{PgVersion, ReplicationSupport, Tier};
use pgfleet::state::{InFlightStep, JournalRecord, RecordOutcome, StateStore};
use std::path::Path;
use std::time::Instant;

fn observed(name: &str) -> ObservedServer {
    ObservedServer {
        name: ServerName::new(name),
        provider_id: format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/servers/{name}"
        ),
        spec: ServerSpec::new(Tier::GeneralPurpose, 8, 512, PgVersion::V11, "fleetadmin", "westeurope"),
        status: ServerStatus::Ready,
        replication_support: ReplicationSupport::Replica,
        endpoint: Some(Endpoint {
            host: format!("{name}.postgres.database.azure.com"),
            port: 5432,
            user: format!("fleetadmin@{name}"),
            database: "postgres".into(),
        }),
    }
}

/// The two records of one step: started before the provider call, finished after it.
fn step(index: usize) -> [JournalRecord; 2] {
    let name = format!("srv-{index:05}");
    let change_id = format!("create-{name}");
    [
        JournalRecord::Started {
            step: InFlightStep {
                change_id: change_id.clone(),
                server: ServerName::new(name.as_str()),
                action: pgfleet::model::Action::Create,
                stage: None,
                started_at: Utc::now(),
            },
        },
        JournalRecord::Finished {
            change_id,
            outcome: RecordOutcome::Upsert(observed(&name)),
            configured_storage_gb: Some(100),
            configured_zone: None,
            configured_carried: None,
        },
    ]
}

/// Every step recorded by rewriting the whole state file twice (started, finished).
fn rewrite_per_step(path: &Path, servers: usize) {
    let mut store = StateStore::open(path, "bench", "bench").unwrap();
    for index in 0..servers {
        for record in step(index) {
            let mut next = store.state().clone();
            next.apply_record(&record);
            store.write(next).unwrap();
        }
    }
}

/// Every record appended (and fsynced) on its own, then one compaction.
fn journal_per_record(path: &Path, servers: usize) {
    let mut store = StateStore::open(path, "bench", "bench").unwrap();
    for index in 0..servers {
        for record in step(index) {
            store.append(std::slice::from_ref(&record)).unwrap();
        }
    }
    store.compact().unwrap();
}

fn main() {
    let servers: usize =
        std::env::var("PGFLEET_BENCH_SERVERS").ok().and_then(|text| text.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    println!("recording an apply that creates {servers} servers (2 records per step):");
    for (label, run) in [
        ("rewrite the state file per record", rewrite_per_step as fn(&Path, usize)),
        ("append to the journal per record", journal_per_record),
    ] {
        let path = dir.path().join(format!("{}.state.json", label.len()));
        let start = Instant::now();
        run(&path, servers);
        let elapsed = start.elapsed();
        let size = std::fs::metadata(&path).map(|metadata| metadata.len()).unwrap_or(0);
        println!(
            "  {label:36} {:>9.3} s  ({:>7.3} ms per record; final state {size} bytes)",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / (2 * servers) as f64
        );
    }
}
