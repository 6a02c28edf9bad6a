//! Helpers shared by the binary-level state tests: a recorded server, a written state, and the
//! built `pgfleet` binary with a clean environment.

#![allow(dead_code)] // Each test binary uses a different subset.

use pgfleet::model::{Endpoint, ObservedServer, ServerName, ServerSpec, ServerStatus};
use pgfleet::rules::{PgVersion, ReplicationSupport, Tier};
use pgfleet::state::{JournalRecord, RecordOutcome, StateStore};
use std::path::Path;
use std::process::Command;

/// What a provider would report of a General Purpose server.
pub fn observed(name: &str, vcores: u32) -> ObservedServer {
    ObservedServer {
        name: ServerName::new(name),
        provider_id: format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/servers/{name}"
        ),
        spec: ServerSpec::new(Tier::GeneralPurpose, vcores, 512, PgVersion::V11, "fleetadmin", "westeurope"),
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

/// Writes a state for `fleet` recording `servers` (through the journal, then compacted).
pub fn write_state(path: &Path, fleet: &str, servers: &[&str]) {
    let mut store = StateStore::open(path, fleet, "pgfleet test").unwrap();
    let records: Vec<JournalRecord> = servers
        .iter()
        .map(|name| JournalRecord::Observed { outcome: RecordOutcome::Upsert(observed(name, 8)) })
        .collect();
    store.append(&records).unwrap();
    store.compact().unwrap();
}

/// The built `pgfleet` binary, run in `dir`, with no pgfleet variables or colour from outside.
pub fn pgfleet(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pgfleet"));
    command.current_dir(dir).env_remove("PGFLEET_STATE").env_remove("PGFLEET_CONFIG").env("NO_COLOR", "1");
    command
}

/// The host name a lock records.
pub fn host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// A journal record: the step `change_id` (an update of `server`) started.
pub fn started(change_id: &str, server: &str) -> JournalRecord {
    JournalRecord::Started {
        step: pgfleet::state::InFlightStep {
            change_id: change_id.into(),
            server: ServerName::new(server),
            action: pgfleet::model::Action::Update,
            stage: None,
            started_at: chrono::Utc::now(),
        },
    }
}
