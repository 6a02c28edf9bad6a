//! What each change costs: restart, expected downtime with its basis, data migration,
//! reversibility. Every figure comes from [`crate::rules`] (`property_rule`, `Downtime`); this
//! module only combines them per change.

use super::model::{DowntimeRange, Impact};
use crate::model::{ServerPatch, ServerSpec};
use crate::rules::{self, Downtime, Key};

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

/// One in-place update of `current`: the worst of its properties' rules; one restart at most,
/// because every change of the server is in the same update.
pub(super) fn update(patch: &ServerPatch, current: &ServerSpec, replication_support: bool) -> Impact {
    let mut rules = patch.rules(current);
    if replication_support {
        rules.extend(rules::property_rule(current.service(), Key::ReplicationSupport).copied());
    }
    let mut restart = false;
    let mut downtime = Downtime::NONE;
    let mut reversible = true;
    for rule in &rules {
        restart |= rule.change.restarts();
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

/// A planned failover: clients reconnect to the same endpoint once the standby is promoted.
pub(super) fn failover() -> Impact {
    impact(true, Downtime::FAILOVER, Downtime::FAILOVER.basis, false, true)
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

    fn single() -> ServerSpec {
        ServerSpec::new(rules::Tier::GeneralPurpose, 4, 100, rules::PgVersion::V11, "fleetadmin", "local")
    }

    fn flexible(storage_gb: u32) -> ServerSpec {
        ServerSpec::flexible("Standard_D4ds_v5", storage_gb, rules::PgVersion::V16, "fleetadmin", "local")
    }

    #[test]
    fn flexible_storage_grows_online_except_across_4_tib() {
        let grow = |to| ServerPatch { storage_gb: Some(to), ..ServerPatch::default() };
        assert!(!update(&grow(512), &flexible(256), false).restart);
        assert!(!update(&grow(4096), &flexible(2048), false).restart);
        let across = update(&grow(8192), &flexible(4096), false);
        assert!(across.restart);
        assert_eq!(across.downtime_basis, Downtime::FLEXIBLE_STORAGE_OFFLINE.basis);
        let sku = ServerPatch { sku: Some("Standard_D8ds_v5".into()), ..ServerPatch::default() };
        assert!(update(&sku, &flexible(256), false).restart);
        let upgrade = ServerPatch { version: Some(rules::PgVersion::V17), ..ServerPatch::default() };
        let upgrade = update(&upgrade, &flexible(256), false);
        assert!(upgrade.restart && !upgrade.reversible);
    }

    #[test]
    fn online_only_update_does_not_restart() {
        let patch = ServerPatch { backup_retention_days: Some(14), ..ServerPatch::default() };
        let impact = update(&patch, &single(), false);
        assert!(!impact.restart);
        assert_eq!(impact.downtime_seconds, DowntimeRange { min: 0, max: 0 });
        assert!(impact.reversible);
    }

    #[test]
    fn compute_and_storage_update_restarts_and_is_irreversible() {
        let patch = ServerPatch { vcores: Some(8), storage_gb: Some(200), ..ServerPatch::default() };
        let impact = update(&patch, &single(), false);
        assert!(impact.restart);
        assert_eq!(impact.downtime_seconds.max, Downtime::COMPUTE_SCALING.max_seconds);
        assert!(!impact.reversible, "storage can never shrink back");
    }

    #[test]
    fn replication_support_alone_restarts() {
        let impact = update(&ServerPatch::default(), &single(), true);
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
