//! The plan: the one structured model every renderer (human, Markdown, JSON) and the executor
//! read. Nothing downstream re-derives a fact or parses text.

pub use crate::diff::{AttributeChange, Drift};
pub use crate::model::Action;
use crate::model::{Address, ServerName, ServerPatch, ServerSpec};
use crate::rules::{Key, ReplicationSupport, Rule};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The plan JSON format version (DESIGN.md): minor versions only add fields.
pub const PLAN_FORMAT_VERSION: &str = "1.4";

/// A dependency-ordered set of changes, with what was refused, blocked or drifted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub format_version: String,
    pub fleet: String,
    /// Migrations an earlier apply began and did not finish, as the state records them: the
    /// first thing a reviewer must know (a source may have its writes frozen). Since 1.1.
    #[serde(default)]
    pub unfinished_migrations: Vec<UnfinishedMigration>,
    /// Changes in an order that respects every dependency (wave, then server name).
    pub changes: Vec<Change>,
    /// Changes the plan will not make without an explicit allowance (a delete without
    /// `--allow-delete`). Any entry makes the plan blocked (exit 3).
    pub blocked: Vec<Blocked>,
    /// Changes the service cannot make at all (storage shrink, version downgrade): errors.
    pub refused: Vec<Refusal>,
    /// What changed outside pgfleet since it last recorded the server.
    pub drift: Vec<Drift>,
    /// Facts a reviewer should know that are not changes (auto-grown storage kept …).
    pub notes: Vec<Note>,
    pub summary: Summary,
    /// What the plan costs: each change's monthly delta summed, the managed servers' monthly
    /// total before and after, one-time costs, timetabled servers' months, and the prices used.
    /// Absent for a local fleet that names no `[pricing] location`. Since 1.4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::cost::PlanCost>,
    /// What the plan was computed from; a saved plan is refused once any of it moved.
    pub inputs: PlanInputs,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    pub(crate) fn is_blocked(&self) -> bool {
        !self.blocked.is_empty()
    }
}

/// A change's id, unique in its plan: `KIND:SERVER` (`update:pay-main`). The kinds are `create`,
/// `update`, `migrate`, `promote`, `delete`, plus `recreate` (a replica re-created, action
/// create), `replication` (replication support turned on for a server the plan creates or
/// migrates, action update) and `storage` (a replica's storage growth split from its update,
/// action update). A server has at most one change of each kind.
pub type ChangeId = String;

/// One change to one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    pub id: ChangeId,
    pub address: Address,
    pub server: ServerName,
    pub action: Action,
    /// Ids of the changes that must finish first.
    pub depends_on: Vec<ChangeId>,
    /// Why each dependency exists, one entry per id in `depends_on`.
    pub ordering: Vec<Ordering>,
    pub attributes: Vec<AttributeChange>,
    pub impact: Impact,
    /// Why this change is needed.
    pub reason: String,
    /// For migrate: the ordered steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// The apply wave (1-based): every dependency is in an earlier wave.
    pub wave: u32,
    /// What the executor does.
    pub operation: Operation,
    /// The fleet file's `storage_gb` for the server, which the state records once the change
    /// is applied (apart from the size the server is observed at, which auto-grow raises).
    /// Absent on deletes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_storage_gb: Option<u32>,
    /// Flexible Server: the fleet file's `zone`, which the state records once the change is
    /// applied (so a failover's swap is told apart from a zone the file asks for). Since 1.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_zone: Option<String>,
    /// The parameters, firewall rules and databases the file declares for the server, recorded
    /// in the state once the change is applied. Since 1.3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_carried: Option<crate::model::CarriedNames>,
    /// For a migrate whose new server is reached at another address: where clients connect
    /// before and after. Absent when the server keeps its endpoint. Since 1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EndpointMove>,
    /// What the change costs a month (and once, for a migration). Since 1.4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Box<crate::cost::ChangeCost>>,
}

/// Where clients connect before and after a migration that moves the server to a new address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EndpointMove {
    /// The connection URI now (no password).
    pub from: String,
    /// The connection URI after the cutover, when it is known before the new server exists
    /// (absent otherwise: the end of the apply prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// One line for people: "clients reconnect: postgresql://… → postgresql://…".
    pub message: String,
}

/// A migration an earlier apply began and did not finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnfinishedMigration {
    pub address: Address,
    pub server: ServerName,
    /// The staging server the copy is built on (pgfleet's: never drift, never a change).
    pub staging: ServerName,
    /// The phase that began last.
    pub phase: crate::migrate::Phase,
    pub started_at: DateTime<Utc>,
    /// Since when the source serves reads only; absent while its writes flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_frozen_since: Option<DateTime<Utc>>,
    /// Whether `pgfleet migrate abort SERVER` can still abandon it (until the cutover begins).
    pub abortable: bool,
    /// What to run to finish it: `pgfleet apply`; absent when the fleet file no longer asks
    /// for the migration (this plan does not migrate the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_command: Option<String>,
    /// What to run to abandon it (`pgfleet migrate abort SERVER`); absent from the cutover on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_command: Option<String>,
    /// The sentence people read first: "writes frozen on pay-main since …: …".
    pub message: String,
}

/// An edge of the plan graph, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ordering {
    /// The change that must finish first.
    pub after: ChangeId,
    /// Why, in words a reviewer can check ("replica pay-ro-1 must reach 8 vCores before its
    /// primary: a replica may not have fewer connections than its primary").
    pub reason: String,
}

/// What a change costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Impact {
    /// The server restarts while it may be in use (connections drop). A server the plan
    /// creates is not in use yet: a restart before its first use (to turn replication support
    /// on) is not one.
    pub restart: bool,
    pub downtime_seconds: DowntimeRange,
    /// Why that range: the documented behaviour it rests on.
    pub downtime_basis: String,
    /// Data moves to a new server (dump/restore).
    pub data_migration: bool,
    /// The change can be undone by changing the fleet file back.
    pub reversible: bool,
}

/// Expected downtime in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DowntimeRange {
    pub min: u32,
    pub max: u32,
}

/// What the executor runs for a change. Each variant is one step of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Operation {
    /// Create a server; a read replica when `spec.replica_of` is set.
    Create {
        spec: ServerSpec,
    },
    /// One PATCH with every in-place change of the server. When `replication_support` is set,
    /// the parameter is written first and the server restarted (once: a compute change in the
    /// same patch restarts it anyway).
    Update {
        patch: ServerPatch,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replication_support: Option<ReplicationSupport>,
    },
    /// Move the data to a new server with `to`'s spec, through the phases of
    /// `crate::migrate::Phase` (create the target, freeze, dump, restore, verify, cutover,
    /// retire the source).
    Migrate {
        from: Box<ServerSpec>,
        to: Box<ServerSpec>,
        /// The staging server the copy is built on before cutover
        /// (`crate::model::staging_name`).
        staging: ServerName,
    },
    /// Delete a replica of a migrated primary and create it again from the new primary.
    Recreate {
        spec: ServerSpec,
    },
    /// Stop replication; the replica becomes a standalone server.
    Promote,
    /// A planned failover: a Flexible Server's HA standby becomes the primary behind the same
    /// endpoint, and the zones swap. Since 1.2 (with Flexible Server's spec and patch fields).
    Failover,
    Delete,
}

/// A change the plan will not make without an explicit allowance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Blocked {
    pub address: Address,
    pub server: ServerName,
    pub action: Action,
    pub reason: String,
    /// What to do to allow it.
    pub hint: String,
}

/// A change the service cannot make, with what to do instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Refusal {
    pub address: Address,
    pub server: ServerName,
    /// The service rule that refuses the change (its row in docs/service-rules.md); absent
    /// when pgfleet itself refuses (a migration whose staging name the fleet already uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub rule: Option<Rule>,
    /// The fleet-file key (`storage_gb`).
    pub path: Key,
    pub reason: String,
    pub hint: String,
}

/// A fact a reviewer should see that is not a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    pub message: String,
}

/// Counts per action, plus what a reviewer weighs first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub migrate: usize,
    pub promote: usize,
    pub delete: usize,
    /// Servers in the config with no change.
    pub unchanged: usize,
    /// Servers that restart during the apply.
    pub restarts: usize,
    pub irreversible: usize,
    pub blocked: usize,
}

/// What a plan was computed from. A saved plan is applied only while all of it still holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanInputs {
    /// sha256 of each fleet file, by path as given.
    pub config_files: BTreeMap<String, String>,
    /// The state's lineage and serial when planned (`None` when there was no state yet).
    pub state_lineage: Option<String>,
    pub state_serial: Option<u64>,
    /// Whether live servers were read (`--refresh=false` plans from the state alone).
    pub refreshed: bool,
    /// sha256 of each live server's observed attributes, by server name.
    pub live_fingerprints: BTreeMap<ServerName, String>,
    pub created_at: DateTime<Utc>,
    pub tool_version: String,
}
