//! What each change costs: restart, expected downtime with its basis, data migration,
//! reversibility. Every figure comes from [`crate::rules`] (`property_rule`, `Downtime`); this
//! module only combines them per change.

use super::model::{DowntimeRange, Impact};
use crate::model::ServerPatch;
use crate::rules::{self, Downtime, Key, PropertyChange};

fn impact(restart: bool, downtime: Downtime, basis: &str, data_migration: bool, reversible: bool) -> Impact {
    Impact {
        restart,
        downtime_seconds: DowntimeRange { min: downtime.min_seconds, max: downtime.max_seconds },
        downtime_basis: basis.to_string(),
        data_migration,
        reversible,
    }
}

/// The fleet-file keys a patch changes.
pub(super) fn patch_keys(patch: &ServerPatch) -> Vec<Key> {
    patch.keys()
}

/// One in-place update: the worst of its properties' rules; one restart at most, because every
/// change of the server is in the same update.
pub(super) fn update(patch: &ServerPatch, replication_support: bool) -> Impact {
    let mut keys = patch_keys(patch);
    if replication_support {
        keys.push(Key::ReplicationSupport);
    }
    let mut restart = false;
    let mut downtime = Downtime::NONE;
    let mut reversible = true;
    for rule in keys.iter().filter_map(|key| rules::property_rule(*key)) {
        restart |= matches!(rule.change, PropertyChange::Restart | PropertyChange::ParameterWithRestart);
        downtime = downtime.max(rule.downtime);
        reversible &= rule.reversible;
    }
    impact(restart, downtime, downtime.basis, false, reversible)
}

/// A new server: nothing serves yet, so nothing is interrupted; removing it from the config
/// again deletes it.
pub(super) fn create() -> Impact {
    impact(false, Downtime::NONE, "a new server: nothing is using it yet", false, true)
}

/// Replication support turned on for a server the plan creates: the parameter needs a restart,
/// but it happens before anything uses the new server, so nothing is interrupted. A new
/// server does not count as restarting (the verdict counts servers whose users see one).
pub(super) fn new_server_replication() -> Impact {
    impact(
        false,
        Downtime::NONE,
        "a new server restarts once for the setting, before any client or replica uses it",
        false,
        true,
    )
}

/// A migration: writes stop from the dump until cutover, and the source is retired, so editing
/// the config back is another migration, not an undo (the create-only rules are irreversible).
pub(super) fn migrate() -> Impact {
    impact(false, Downtime::MIGRATION, Downtime::MIGRATION.basis, true, false)
}

/// A replica deleted and created again: it serves no reads until the new copy has caught up,
/// which takes as long as copying the data.
pub(super) fn recreate() -> Impact {
    impact(
        false,
        Downtime::MIGRATION,
        "the replica is deleted and created again; it serves no reads until the new copy of the data has \
         caught up (docs/service-rules.md)",
        true,
        false,
    )
}

/// A promote restarts the replica and can never be undone (DOMAIN.md §3).
pub(super) fn promote() -> Impact {
    impact(true, Downtime::PROMOTE, Downtime::PROMOTE.basis, false, false)
}

/// A delete: the server and its data are gone for good.
pub(super) fn delete() -> Impact {
    impact(
        false,
        Downtime::NONE,
        "the server is removed; nothing of it remains to be unavailable",
        false,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_only_update_does_not_restart() {
        let patch = ServerPatch { backup_retention_days: Some(14), ..ServerPatch::default() };
        let impact = update(&patch, false);
        assert!(!impact.restart);
        assert_eq!(impact.downtime_seconds, DowntimeRange { min: 0, max: 0 });
        assert!(impact.reversible);
    }

    #[test]
    fn compute_and_storage_update_restarts_and_is_irreversible() {
        let patch = ServerPatch { vcores: Some(8), storage_gb: Some(200), ..ServerPatch::default() };
        let impact = update(&patch, false);
        assert!(impact.restart);
        assert_eq!(impact.downtime_seconds.max, Downtime::COMPUTE_SCALING.max_seconds);
        assert!(!impact.reversible, "storage can never shrink back");
    }

    #[test]
    fn replication_support_alone_restarts() {
        let impact = update(&ServerPatch::default(), true);
        assert!(impact.restart);
        assert_eq!(impact.downtime_basis, Downtime::RESTART.basis);
    }

    #[test]
    fn migration_moves_data_and_is_irreversible() {
        let impact = migrate();
        assert!(impact.data_migration);
        assert!(!impact.reversible);
        assert_eq!(impact.downtime_seconds.min, Downtime::MIGRATION.min_seconds);
    }
}
