//! What changing each property costs (DOMAIN.md §2): in place and online, in place with a
//! restart, grow-only, or create-only (pgfleet migrates with dump/restore instead of replacing).

use super::{Key, PgVersion, Tier};
use serde::Serialize;

/// How the service can change a property of an existing server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyChange {
    /// A PATCH changes it with no restart.
    Online,
    /// A PATCH changes it; the server restarts (new compute, connections drop).
    Restart,
    /// A PATCH can raise it online; lowering it is refused by the service.
    GrowOnly,
    /// Set only at create: pgfleet moves the data to a new server (migrate).
    CreateOnly,
    /// Changed by a parameter write followed by an explicit restart.
    ParameterWithRestart,
}

/// Expected downtime of a change, with the fact it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Downtime {
    pub min_seconds: u32,
    pub max_seconds: u32,
    /// Why: the documented behaviour the range comes from.
    pub basis: &'static str,
}

impl Downtime {
    /// No downtime at all.
    pub(crate) const NONE: Downtime =
        Downtime { min_seconds: 0, max_seconds: 0, basis: "online change, the server keeps serving" };
    /// A vCore or GP <-> MO change: the service switches to new compute.
    pub(crate) const COMPUTE_SCALING: Downtime = Downtime {
        min_seconds: 0,
        max_seconds: 60,
        basis: "compute scaling switches to a new compute copy; new connections fail briefly and open transactions roll back, usually under a minute (docs/service-rules.md, \"What each change costs\")",
    };
    /// An explicit server restart.
    pub const RESTART: Downtime = Downtime {
        min_seconds: 0,
        max_seconds: 60,
        basis: "a server restart drops connections, usually under a minute (docs/service-rules.md, \"What each change costs\")",
    };
    /// A promote: the replica restarts, applies pending WAL and opens for writes.
    pub(crate) const PROMOTE: Downtime = Downtime {
        min_seconds: 0,
        max_seconds: 60,
        basis: "promote restarts the replica after it applies pending WAL (docs/service-rules.md, \"What each change costs\")",
    };
    /// A migration: writes are frozen on the source from the dump until cutover.
    pub(crate) const MIGRATION: Downtime = Downtime {
        min_seconds: 60,
        max_seconds: 3600,
        basis: "writes are frozen from the start of the dump until cutover; the window grows with the data size (docs/service-rules.md: a create-only change is a dump/restore to a new server)",
    };

    /// The larger of two ranges, keeping the basis of the longer one.
    pub fn max(self, other: Downtime) -> Downtime {
        if (other.max_seconds, other.min_seconds) > (self.max_seconds, self.min_seconds) {
            other
        } else {
            self
        }
    }
}

/// The rule for one property: how it changes, what it costs, where the fact comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyRule {
    /// The key in the fleet file (`vcores`, `storage_gb` …).
    pub key: Key,
    pub change: PropertyChange,
    pub downtime: Downtime,
    /// Whether the change can be undone by changing the value back.
    pub reversible: bool,
    /// The source, as `docs/service-rules.md` abbreviates it.
    pub source: &'static str,
}

const fn rule(
    key: Key,
    change: PropertyChange,
    downtime: Downtime,
    reversible: bool,
    source: &'static str,
) -> PropertyRule {
    PropertyRule { key, change, downtime, reversible, source }
}

/// The property rules, one per fleet-file key that describes a server.
///
/// `tier` is listed as a restart because GP <-> MO is in place; moves to or from Basic are
/// decided by [`tier_change`]. `version` is create-only here; [`version_change`] refuses
/// downgrades. Storage is grow-only: raising it is irreversible because it can never shrink.
const PROPERTY_RULES: &[PropertyRule] = &[
    rule(
        Key::Tier,
        PropertyChange::Restart,
        Downtime::COMPUTE_SCALING,
        true,
        "pricing-tiers; limits (not to or from Basic)",
    ),
    rule(Key::Generation, PropertyChange::Restart, Downtime::COMPUTE_SCALING, true, "pricing-tiers"),
    rule(
        Key::Vcores,
        PropertyChange::Restart,
        Downtime::COMPUTE_SCALING,
        true,
        "pricing-tiers \"Scale resources\"",
    ),
    rule(
        Key::StorageGb,
        PropertyChange::GrowOnly,
        Downtime::NONE,
        false,
        "pricing-tiers; limits (never shrinks)",
    ),
    rule(Key::BackupRetentionDays, PropertyChange::Online, Downtime::NONE, true, "pricing-tiers; backup"),
    rule(Key::StorageAutogrow, PropertyChange::Online, Downtime::NONE, true, "arm-spec; read-replicas"),
    rule(Key::SslEnforcement, PropertyChange::Online, Downtime::NONE, true, "arm-spec"),
    rule(Key::MinimalTlsVersion, PropertyChange::Online, Downtime::NONE, true, "arm-spec; ssl"),
    rule(Key::Tags, PropertyChange::Online, Downtime::NONE, true, "arm-spec"),
    rule(Key::AdminPassword, PropertyChange::Online, Downtime::NONE, true, "arm-spec"),
    rule(
        Key::Version,
        PropertyChange::CreateOnly,
        Downtime::MIGRATION,
        false,
        "versions; limits; azurerm ForceNew",
    ),
    rule(
        Key::GeoRedundantBackup,
        PropertyChange::CreateOnly,
        Downtime::MIGRATION,
        false,
        "backup; azurerm ForceNew",
    ),
    rule(Key::Location, PropertyChange::CreateOnly, Downtime::MIGRATION, false, "azurerm ForceNew"),
    rule(
        Key::AdminLogin,
        PropertyChange::CreateOnly,
        Downtime::MIGRATION,
        false,
        "arm-spec; azurerm ForceNew",
    ),
    rule(
        Key::ReplicationSupport,
        PropertyChange::ParameterWithRestart,
        Downtime::RESTART,
        true,
        "replicas-cli (azure.replication_support needs a restart)",
    ),
];

/// The rule for a fleet-file key, or `None` for keys that are not server properties
/// (`replica_of` is a relationship: removing it is a promote, adding it is refused).
pub fn property_rule(key: Key) -> Option<&'static PropertyRule> {
    PROPERTY_RULES.iter().find(|rule| rule.key == key)
}

/// Whether changing these keys in place restarts the server (compute changes, and parameters
/// that take effect at a restart).
pub fn restarts(keys: impl IntoIterator<Item = Key>) -> bool {
    keys.into_iter()
        .filter_map(property_rule)
        .any(|rule| matches!(rule.change, PropertyChange::Restart | PropertyChange::ParameterWithRestart))
}

/// How a server can move between tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierChange {
    Same,
    /// GP <-> MO: in place, with a restart.
    InPlaceRestart,
    /// To or from Basic: the service refuses (`InvalidUpgradeEdition`); pgfleet migrates.
    Migration,
}

/// Decides how a tier change happens (D-LIM; D-PT).
pub fn tier_change(from: Tier, to: Tier) -> TierChange {
    if from == to {
        TierChange::Same
    } else if from == Tier::Basic || to == Tier::Basic {
        TierChange::Migration
    } else {
        TierChange::InPlaceRestart
    }
}

/// How a server's storage can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageChange {
    Same,
    /// Online, in place.
    Grow,
    /// Storage never shrinks: the service refuses (`UnsupportedUpdate`).
    ShrinkRefused,
}

/// Decides how a storage change happens (`storage_gb` is grow-only).
pub fn storage_change(from_gb: u32, to_gb: u32) -> StorageChange {
    match from_gb.cmp(&to_gb) {
        std::cmp::Ordering::Equal => StorageChange::Same,
        std::cmp::Ordering::Less => StorageChange::Grow,
        std::cmp::Ordering::Greater => StorageChange::ShrinkRefused,
    }
}

/// How a server can move between PostgreSQL major versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionChange {
    Same,
    /// No in-place major upgrade: dump/restore to a new server (D-VER).
    UpgradeByMigration,
    /// pg_dump output of a newer server is not guaranteed to restore into an older one.
    DowngradeRefused,
}

/// Decides how a version change happens.
pub fn version_change(from: PgVersion, to: PgVersion) -> VersionChange {
    match from.cmp(&to) {
        std::cmp::Ordering::Equal => VersionChange::Same,
        std::cmp::Ordering::Less => VersionChange::UpgradeByMigration,
        std::cmp::Ordering::Greater => VersionChange::DowngradeRefused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_properties_restart() {
        for key in [Key::Tier, Key::Generation, Key::Vcores] {
            let rule = property_rule(key).unwrap();
            assert_eq!(rule.change, PropertyChange::Restart, "{key}");
            assert_eq!(rule.downtime, Downtime::COMPUTE_SCALING, "{key}");
            assert!(rule.reversible, "{key}");
        }
        assert_eq!(Downtime::COMPUTE_SCALING.max_seconds, 60);
    }

    #[test]
    fn storage_only_grows_and_is_online() {
        let rule = property_rule(Key::StorageGb).unwrap();
        assert_eq!(rule.change, PropertyChange::GrowOnly);
        assert_eq!(storage_change(100, 200), StorageChange::Grow);
        assert_eq!(storage_change(100, 100), StorageChange::Same);
        assert_eq!(storage_change(200, 100), StorageChange::ShrinkRefused);
        assert_eq!(rule.downtime, Downtime::NONE);
        assert!(!rule.reversible);
    }

    #[test]
    fn online_properties() {
        for key in [
            Key::BackupRetentionDays,
            Key::StorageAutogrow,
            Key::SslEnforcement,
            Key::MinimalTlsVersion,
            Key::Tags,
            Key::AdminPassword,
        ] {
            let rule = property_rule(key).unwrap();
            assert_eq!(rule.change, PropertyChange::Online, "{key}");
            assert_eq!(rule.downtime.max_seconds, 0, "{key}");
        }
    }

    #[test]
    fn create_only_properties_migrate() {
        for key in [Key::Version, Key::GeoRedundantBackup, Key::Location, Key::AdminLogin] {
            let rule = property_rule(key).unwrap();
            assert_eq!(rule.change, PropertyChange::CreateOnly, "{key}");
            assert_eq!(rule.downtime, Downtime::MIGRATION, "{key}");
        }
    }

    #[test]
    fn replication_support_needs_a_restart() {
        let rule = property_rule(Key::ReplicationSupport).unwrap();
        assert_eq!(rule.change, PropertyChange::ParameterWithRestart);
        assert_eq!(rule.downtime, Downtime::RESTART);
    }

    #[test]
    fn replica_of_is_not_a_property() {
        assert!(property_rule(Key::ReplicaOf).is_none());
        assert!(restarts([Key::Vcores, Key::Tags]));
        assert!(!restarts([Key::StorageGb, Key::Tags]));
    }

    #[test]
    fn tier_changes() {
        use Tier::*;
        assert_eq!(tier_change(Basic, Basic), TierChange::Same);
        assert_eq!(tier_change(GeneralPurpose, MemoryOptimized), TierChange::InPlaceRestart);
        assert_eq!(tier_change(MemoryOptimized, GeneralPurpose), TierChange::InPlaceRestart);
        assert_eq!(tier_change(Basic, GeneralPurpose), TierChange::Migration);
        assert_eq!(tier_change(GeneralPurpose, Basic), TierChange::Migration);
        assert_eq!(tier_change(Basic, MemoryOptimized), TierChange::Migration);
        assert_eq!(tier_change(MemoryOptimized, Basic), TierChange::Migration);
    }

    #[test]
    fn version_changes() {
        use PgVersion::*;
        assert_eq!(version_change(V11, V11), VersionChange::Same);
        assert_eq!(version_change(V10, V11), VersionChange::UpgradeByMigration);
        assert_eq!(version_change(V9_6, V10), VersionChange::UpgradeByMigration);
        assert_eq!(version_change(V11, V10), VersionChange::DowngradeRefused);
    }

    #[test]
    fn downtime_max_keeps_the_longer_range() {
        assert_eq!(Downtime::NONE.max(Downtime::COMPUTE_SCALING), Downtime::COMPUTE_SCALING);
        assert_eq!(Downtime::MIGRATION.max(Downtime::RESTART), Downtime::MIGRATION);
    }
}
