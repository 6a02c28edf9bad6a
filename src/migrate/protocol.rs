//! The one migration protocol: the ordered phases of moving a server's data to a new server,
//! and the record of how far an unfinished migration got. The planner renders these phases as
//! a migration's steps, [`super::run_migration`] runs them in this order, and the executor
//! journals each one (as a [`MigrationRecord`]) in the state's fsynced journal before its work
//! starts, so `plan`, `state show` and `migrate abort` know where an interrupted one stopped.
//!
//! Owns: the order of the phases and what each one means for the source (whether its writes
//! are frozen, whether the migration can still be abandoned). Must not: do any phase's work.

use crate::model::{ServerName, ServerSpec};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The phases of a migration, in the order they run. The target is created before writes are
/// frozen, so the freeze never includes a server create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Create the staging server with the target's spec (the source keeps serving).
    CreateTarget,
    /// Freeze writes on the source: from here until cutover it serves reads only.
    FreezeWrites,
    /// Dump the roles and every database of the source, checksumming its frozen tables
    /// meanwhile (through the restore) for the verification.
    Dump,
    /// Restore the dumps into the staging server.
    Restore,
    /// Compare every table, sequence and role on both sides.
    Verify,
    /// The provider makes the staging server the server (its name, and where the backend
    /// allows, its endpoint).
    Cutover,
    /// Retire the old server and remove the migration's work files.
    Retire,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 7] = [
        Phase::CreateTarget,
        Phase::FreezeWrites,
        Phase::Dump,
        Phase::Restore,
        Phase::Verify,
        Phase::Cutover,
        Phase::Retire,
    ];

    /// The phase as the journal and the plan JSON name it (`freeze_writes`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::CreateTarget => "create_target",
            Phase::FreezeWrites => "freeze_writes",
            Phase::Dump => "dump",
            Phase::Restore => "restore",
            Phase::Verify => "verify",
            Phase::Cutover => "cutover",
            Phase::Retire => "retire",
        }
    }

    /// Whether a migration in this phase holds the source's writes frozen.
    pub fn writes_frozen(self) -> bool {
        self >= Phase::FreezeWrites
    }

    /// Whether a migration stopped in this phase can still be abandoned (`pgfleet migrate
    /// abort`): until the cutover begins, the source is intact and the staging server is a copy.
    pub(crate) fn abortable(self) -> bool {
        self < Phase::Cutover
    }

    /// The step a reviewer reads in the plan.
    pub fn step(self, name: &ServerName, staging: &ServerName, target: &ServerSpec) -> String {
        match self {
            Phase::CreateTarget => format!(
                "create the new server as {staging} ({}, PostgreSQL {}, {} GB, {}); {name} keeps serving",
                target.sku_name(),
                target.version,
                target.storage_gb,
                target.location
            ),
            Phase::FreezeWrites => format!("freeze writes on {name} (it keeps serving reads)"),
            Phase::Dump => format!("dump the roles and every database of {name} with pg_dump"),
            Phase::Restore => format!("restore the dumps into {staging} with pg_restore"),
            Phase::Verify => {
                "verify the copy: every database, table, row count and checksum matches the source".into()
            }
            Phase::Cutover => format!("cut over: {staging} becomes {name}"),
            Phase::Retire => format!("retire the old {name} and remove the migration's dumps"),
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The steps of a migration as the plan shows them: one per phase, in order.
pub fn plan_steps(name: &ServerName, staging: &ServerName, target: &ServerSpec) -> Vec<String> {
    Phase::ALL.iter().map(|phase| phase.step(name, staging, target)).collect()
}

/// The command that finishes an unfinished migration.
pub const FINISH_COMMAND: &str = "pgfleet apply";

/// The command that abandons the unfinished migration of `server` (until its cutover begins).
pub fn abort_command(server: &ServerName) -> String {
    format!("pgfleet migrate abort {server}")
}

/// How far an unfinished migration got, as the state records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MigrationRecord {
    /// The staging server the copy is built on (pgfleet's, never drift).
    pub staging: ServerName,
    /// The phase that began last (journaled before its work starts).
    pub phase: Phase,
    pub started_at: DateTime<Utc>,
    /// When the source's writes were frozen; absent while they are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_frozen_since: Option<DateTime<Utc>>,
}

impl MigrationRecord {
    /// What a user is told about the migration of `server` first, wherever its state is shown.
    pub fn headline(&self, server: &ServerName) -> String {
        let at = self.phase.as_str().replace('_', " ");
        match self.writes_frozen_since {
            Some(since) if self.phase.abortable() => format!(
                "writes frozen on {server} since {} (migration stopped at {at}): `{FINISH_COMMAND}` finishes the \
                 migration; `{}` unfreezes the source and removes the staging server {}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                abort_command(server),
                self.staging
            ),
            Some(since) => format!(
                "writes frozen on {server} since {} and its cutover to {} has begun: `{FINISH_COMMAND}` finishes \
                 the migration (it can no longer be aborted)",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                self.staging
            ),
            None => format!(
                "the migration of {server} is unfinished (stopped at {at}; {server} serves reads and writes): \
                 `{FINISH_COMMAND}` finishes it; `{}` removes the staging server {}",
                abort_command(server),
                self.staging
            ),
        }
    }

    /// What a user is told when the fleet file no longer asks for the migration of `server`
    /// (its change was reverted), so `pgfleet apply` would not finish it.
    pub fn headline_not_planned(&self, server: &ServerName) -> String {
        let at = self.phase.as_str().replace('_', " ");
        let frozen = match self.writes_frozen_since {
            Some(since) => format!(
                "writes frozen on {server} since {}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            None => format!("the migration of {server} is unfinished"),
        };
        if self.phase.abortable() {
            format!(
                "{frozen} (migration stopped at {at}), and the fleet file no longer asks for the migration: `{}` \
                 unfreezes the source and removes the staging server {}",
                abort_command(server),
                self.staging
            )
        } else {
            format!(
                "{frozen} and its cutover to {} has begun, but the fleet file no longer asks for the migration: put \
                 it back in the fleet file and run `{FINISH_COMMAND}` to finish it (it can no longer be aborted)",
                self.staging
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_freeze_never_includes_a_create_and_abort_ends_at_cutover() {
        assert_eq!(Phase::ALL[0], Phase::CreateTarget);
        assert!(!Phase::CreateTarget.writes_frozen());
        assert!(Phase::ALL.windows(2).all(|pair| pair[0] < pair[1]));
        let abortable: Vec<_> = Phase::ALL.into_iter().filter(|phase| phase.abortable()).collect();
        assert_eq!(abortable.last(), Some(&Phase::Verify));
        assert!(Phase::ALL.iter().all(|phase| serde_json::to_value(phase).unwrap() == phase.as_str()));
    }
}
