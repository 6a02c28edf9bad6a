//! The state file's data: what pgfleet last recorded of each server it manages, and the
//! journal records an apply appends while it runs.

use crate::migrate::MigrationRecord;
use crate::model::{Address, ObservedServer, ServerName};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The state format this build writes. A file with a newer version is refused.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// The state of one fleet. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct State {
    pub format_version: u32,
    /// The pgfleet version that last wrote the file.
    pub tool_version: String,
    /// Set once when the state is created; a saved plan made against another lineage is refused.
    pub lineage: Uuid,
    /// Incremented on every write, so a saved plan can tell that the state moved.
    pub serial: u64,
    pub fleet: String,
    /// Servers by name (sorted: the file is deterministic).
    pub servers: BTreeMap<ServerName, ServerRecord>,
    /// Steps an apply started and had not finished when it last wrote: an interrupted apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<InFlightStep>,
    /// Migrations that began and have not ended, by the server whose data moves: where each
    /// stopped, its staging server, and since when the source's writes are frozen. Kept until
    /// the migration ends or is aborted (an interrupted apply's recovery keeps them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub migrations: BTreeMap<ServerName, MigrationRecord>,
}

impl State {
    /// A new, empty state for a fleet, with a fresh lineage and serial 0.
    pub fn new(fleet: &str) -> State {
        State {
            format_version: STATE_FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            lineage: Uuid::new_v4(),
            serial: 0,
            fleet: fleet.to_string(),
            servers: BTreeMap::new(),
            in_flight: Vec::new(),
            migrations: BTreeMap::new(),
        }
    }

    /// The recorded servers as a provider would report them, for planning without a refresh.
    pub fn observed(&self) -> crate::model::LiveFleet {
        self.servers.iter().map(|(name, record)| (name.clone(), record.observed.clone())).collect()
    }

    /// Applies one journal record to the state (the same function replays the journal).
    pub fn apply_record(&mut self, record: &JournalRecord) {
        match record {
            JournalRecord::Started { step } => {
                self.in_flight.retain(|s| s.change_id != step.change_id);
                self.in_flight.push(step.clone());
            }
            JournalRecord::Finished {
                change_id,
                outcome,
                configured_storage_gb,
                configured_zone,
                configured_carried,
            } => {
                self.in_flight.retain(|s| &s.change_id != change_id);
                self.apply_outcome(outcome);
                // Only a step that reports the server afterwards records what it applied.
                if let RecordOutcome::Upsert(observed) = outcome
                    && let Some(record) = self.servers.get_mut(&observed.name)
                {
                    if let Some(storage_gb) = configured_storage_gb {
                        record.configured_storage_gb = Some(*storage_gb);
                    }
                    if configured_zone.is_some() {
                        record.configured_zone.clone_from(configured_zone);
                    }
                    if configured_carried.is_some() {
                        record.configured_carried.clone_from(configured_carried);
                    }
                }
            }
            JournalRecord::Observed { outcome } => self.apply_outcome(outcome),
            JournalRecord::Migration { server, migration } => match migration {
                Some(record) => {
                    self.migrations.insert(server.clone(), record.clone());
                }
                None => {
                    self.migrations.remove(server);
                }
            },
        }
    }

    /// Records what a provider observed of a server, keeping what pgfleet recorded of its
    /// configuration (an observation, such as a refresh, never tells what was configured).
    pub(crate) fn record_observed(&mut self, observed: ObservedServer) {
        let recorded = self.servers.get(&observed.name);
        let configured_storage_gb = recorded.and_then(|record| record.configured_storage_gb);
        let configured_zone = recorded.and_then(|record| record.configured_zone.clone());
        let configured_carried = recorded.and_then(|record| record.configured_carried.clone());
        let record = ServerRecord {
            configured_storage_gb,
            configured_zone,
            configured_carried,
            ..ServerRecord::new(observed)
        };
        self.servers.insert(record.observed.name.clone(), record);
    }

    fn apply_outcome(&mut self, outcome: &RecordOutcome) {
        match outcome {
            RecordOutcome::Upsert(observed) => self.record_observed(observed.clone()),
            RecordOutcome::Remove(name) => {
                self.servers.remove(name);
            }
            RecordOutcome::Unchanged => {}
        }
    }
}

/// What pgfleet recorded of one server.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ServerRecord {
    pub address: Address,
    #[serde(flatten)]
    pub observed: ObservedServer,
    /// The fleet file's `storage_gb` when pgfleet last applied a change to the server. Kept
    /// apart from the observed size (`spec.storage_gb`), which auto-grow raises and a refresh
    /// records: the planner compares the config with this, so an unchanged config is never
    /// mistaken for a shrink of auto-grown storage. Absent in state files written before it
    /// existed, and until pgfleet first applies a change to the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_storage_gb: Option<u32>,
    /// Flexible Server: the fleet file's `zone` when pgfleet last applied a change to the
    /// server. A live zone that differs from it while the file still says it was swapped by a
    /// failover (no change); a file that now names the standby's zone asks for a failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_zone: Option<String>,
    /// The parameters, firewall rules and databases the fleet file declared when pgfleet last
    /// applied a change to the server: an entry removed from the file since is reset, deleted
    /// or dropped; what exists that pgfleet never managed is left alone. Absent in older state
    /// files (nothing was managed then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_carried: Option<crate::model::CarriedNames>,
}

/// Read as `flatten` writes it (the observed server's fields beside the record's own), without
/// `flatten`'s reading, which buffers every record as a generic tree first (a fifth of a large
/// state's load).
impl<'de> Deserialize<'de> for ServerRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Stored {
            address: Address,
            name: ServerName,
            provider_id: String,
            spec: crate::model::ServerSpec,
            status: crate::model::ServerStatus,
            replication_support: crate::rules::ReplicationSupport,
            #[serde(default)]
            endpoint: Option<crate::model::Endpoint>,
            #[serde(default)]
            configured_storage_gb: Option<u32>,
            #[serde(default)]
            configured_zone: Option<String>,
            #[serde(default)]
            configured_carried: Option<crate::model::CarriedNames>,
        }
        let stored = Stored::deserialize(deserializer)?;
        Ok(ServerRecord {
            address: stored.address,
            observed: ObservedServer {
                name: stored.name,
                provider_id: stored.provider_id,
                spec: stored.spec,
                status: stored.status,
                replication_support: stored.replication_support,
                endpoint: stored.endpoint,
            },
            configured_storage_gb: stored.configured_storage_gb,
            configured_zone: stored.configured_zone,
            configured_carried: stored.configured_carried,
        })
    }
}

impl ServerRecord {
    /// The record of an observed server, with nothing recorded of its configuration yet.
    pub fn new(observed: ObservedServer) -> ServerRecord {
        ServerRecord {
            address: observed.name.address(),
            observed,
            configured_storage_gb: None,
            configured_zone: None,
            configured_carried: None,
        }
    }
}

/// A step an apply started: recorded durably before the provider is called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InFlightStep {
    /// The plan change this step belongs to.
    pub change_id: String,
    pub server: ServerName,
    /// The plan action.
    pub action: crate::model::Action,
    /// A finer stage inside the change: a migration's phase, or a step's own sub-operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    pub started_at: DateTime<Utc>,
}

/// Where inside its change an interrupted step was (as the journal spells it: `restore`,
/// `create_replica` …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A re-created replica's delete.
    Delete,
    /// A re-created replica's create.
    CreateReplica,
    /// A change's restart (after its parameters are set).
    Restart,
    /// A migration's phase.
    #[serde(untagged)]
    Migration(crate::migrate::Phase),
    /// A stage an older pgfleet wrote (its migration's `create_staging`, `copy`); read as is.
    #[serde(untagged)]
    Other(String),
}

impl Stage {
    /// The stage in words ("create replica", "restore").
    pub fn describe(&self) -> String {
        let text = match self {
            Stage::Migration(phase) => phase.as_str(),
            Stage::Delete => "delete",
            Stage::CreateReplica => "create_replica",
            Stage::Restart => "restart",
            Stage::Other(text) => text,
        };
        text.replace('_', " ")
    }
}

/// One line of the append-only journal kept beside the state file during an apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum JournalRecord {
    /// A step is about to call the provider.
    Started { step: InFlightStep },
    /// A step ended; its outcome is what the provider reported afterwards.
    Finished {
        change_id: String,
        outcome: RecordOutcome,
        /// The fleet file's `storage_gb` the step applied (`ServerRecord::configured_storage_gb`);
        /// absent for a delete and in journals written before it existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        configured_storage_gb: Option<u32>,
        /// The fleet file's `zone` the step applied (`ServerRecord::configured_zone`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        configured_zone: Option<String>,
        /// What the fleet file declared the server carries (`ServerRecord::configured_carried`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        configured_carried: Option<crate::model::CarriedNames>,
    },
    /// A fact learnt outside a step (for example a refresh of one server).
    Observed { outcome: RecordOutcome },
    /// A migration of `server` reached a phase (`Some`, before the phase's work starts), or
    /// ended (`None`: finished or aborted).
    Migration {
        server: ServerName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        migration: Option<MigrationRecord>,
    },
}

/// How a finished step changed what exists.
// One record is built per finished step and written at once; boxing the large variant would
// save nothing that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "server", rename_all = "snake_case")]
pub enum RecordOutcome {
    /// The server exists as observed.
    Upsert(ObservedServer),
    /// The server no longer exists.
    Remove(ServerName),
    /// Nothing to record (the step failed before changing anything).
    Unchanged,
}
