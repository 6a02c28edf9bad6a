//! What changing each property costs (DOMAIN.md §2): in place and online, in place with a
//! restart, grow-only, or create-only (pgfleet migrates with dump/restore instead of replacing).

use super::{Key, ONLINE_GROW_LIMIT_GB, PgVersion, Service, StorageType, Tier};
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
    /// Flexible Server's in-place major version upgrade: the server is offline while it runs,
    /// and it cannot be undone.
    OfflineUpgrade,
}

impl PropertyChange {
    /// Whether the change takes the server down for a while (clients see a restart).
    pub fn restarts(self) -> bool {
        matches!(
            self,
            PropertyChange::Restart | PropertyChange::ParameterWithRestart | PropertyChange::OfflineUpgrade
        )
    }
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
    /// A planned failover to a Flexible Server's HA standby.
    pub(crate) const FAILOVER: Downtime = Downtime {
        min_seconds: 0,
        max_seconds: 120,
        basis: "a planned failover stops the primary and promotes its synchronous standby behind the same endpoint; connections drop until it opens, usually within a minute or two (docs/service-rules.md, \"Flexible Server\")",
    };
    /// A migration: writes are frozen on the source from the dump until cutover.
    pub(crate) const MIGRATION: Downtime = Downtime {
        min_seconds: 60,
        max_seconds: 3600,
        basis: "writes are frozen from the start of the dump until cutover; the window grows with the data size (docs/service-rules.md: a create-only change is a dump/restore to a new server)",
    };

    /// A Flexible Server compute change: near-zero-downtime scaling switches to a new VM
    /// (10–30 s, plus DNS), regular scaling (replicas, 1–2 vCore Burstable) takes minutes.
    pub(crate) const FLEXIBLE_COMPUTE_SCALING: Downtime = Downtime {
        min_seconds: 10,
        max_seconds: 600,
        basis: "Flexible Server compute scaling restarts the server: 10–30 s with near-zero-downtime scaling, 2–10 min when it falls back to regular scaling (replicas, 1–2 vCore Burstable sizes); with HA the standby is scaled first, then the primary, without a failover (docs/service-rules.md, \"Flexible Server\")",
    };
    /// A Flexible Server storage grow that cannot be done online: across 4096 GiB on Premium SSD,
    /// or any size change on Premium SSD v2.
    pub(crate) const FLEXIBLE_STORAGE_OFFLINE: Downtime = Downtime {
        min_seconds: 30,
        max_seconds: 600,
        basis: "this storage grow restarts the server (Premium SSD across 4096 GiB, or any Premium SSD v2 size change): 2–10 min, under 30 s with near-zero-downtime scaling (docs/service-rules.md, \"Flexible Server\")",
    };
    /// Flexible Server's in-place major version upgrade: the server stops while it runs.
    pub(crate) const MAJOR_VERSION_UPGRADE: Downtime = Downtime {
        min_seconds: 60,
        max_seconds: 3600,
        basis: "an in-place major version upgrade stops the server while it runs; the time grows with the number and size of objects, and it cannot be undone (docs/service-rules.md, \"Flexible Server\")",
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
    rule(Key::Parameters, PropertyChange::Online, Downtime::NONE, true, "server-parameters (dynamic ones)"),
    rule(Key::FirewallRules, PropertyChange::Online, Downtime::NONE, true, "firewall-rules"),
    rule(Key::Databases, PropertyChange::Online, Downtime::NONE, true, "arm-spec (Databases_CreateOrUpdate)"),
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

/// Flexible Server's property rules (DOMAIN-FLEXIBLE.md §5). Every tier moves in place; the
/// major version upgrades in place (irreversible); storage grows online except where
/// [`flexible_storage_grow_restarts`] says; the storage type, zone, geo-redundant backup,
/// location and admin login are set only at create.
const FLEXIBLE_PROPERTY_RULES: &[PropertyRule] = &[
    rule(
        Key::Sku,
        PropertyChange::Restart,
        Downtime::FLEXIBLE_COMPUTE_SCALING,
        true,
        "concepts-scaling-resources (any tier to any tier, restart)",
    ),
    rule(
        Key::StorageGb,
        PropertyChange::GrowOnly,
        Downtime::NONE,
        false,
        "how-to-scale-storage-size (grow only; online up to 4096 GiB)",
    ),
    rule(Key::BackupRetentionDays, PropertyChange::Online, Downtime::NONE, true, "concepts-backup-restore"),
    rule(Key::StorageAutogrow, PropertyChange::Online, Downtime::NONE, true, "how-to-auto-grow-storage"),
    rule(Key::Iops, PropertyChange::Online, Downtime::NONE, true, "how-to-scale-storage-performance"),
    rule(Key::Throughput, PropertyChange::Online, Downtime::NONE, true, "how-to-scale-storage-performance"),
    rule(
        Key::HighAvailability,
        PropertyChange::Online,
        Downtime::NONE,
        true,
        "how-to-configure-high-availability (enable/disable is online)",
    ),
    rule(
        Key::StandbyZone,
        PropertyChange::Online,
        Downtime::NONE,
        true,
        "how-to-configure-high-availability",
    ),
    rule(Key::MaintenanceWindow, PropertyChange::Online, Downtime::NONE, true, "concepts-maintenance"),
    rule(Key::PublicNetworkAccess, PropertyChange::Online, Downtime::NONE, true, "how-to-networking"),
    rule(Key::Tags, PropertyChange::Online, Downtime::NONE, true, "arm-spec"),
    rule(Key::AdminPassword, PropertyChange::Online, Downtime::NONE, true, "arm-spec"),
    rule(Key::Parameters, PropertyChange::Online, Downtime::NONE, true, "flex-parameters (dynamic ones)"),
    rule(Key::FirewallRules, PropertyChange::Online, Downtime::NONE, true, "flex-firewall"),
    rule(Key::Databases, PropertyChange::Online, Downtime::NONE, true, "flex-databases"),
    rule(
        Key::Version,
        PropertyChange::OfflineUpgrade,
        Downtime::MAJOR_VERSION_UPGRADE,
        false,
        "concepts-major-version-upgrade (in place, irreversible)",
    ),
    rule(Key::StorageType, PropertyChange::CreateOnly, Downtime::MIGRATION, false, "premium-ssd-v2"),
    rule(
        Key::GeoRedundantBackup,
        PropertyChange::CreateOnly,
        Downtime::MIGRATION,
        false,
        "arm-spec (read, create)",
    ),
    rule(Key::Zone, PropertyChange::CreateOnly, Downtime::MIGRATION, false, "arm-spec; limits"),
    rule(Key::Location, PropertyChange::CreateOnly, Downtime::MIGRATION, false, "azurerm ForceNew"),
    rule(Key::AdminLogin, PropertyChange::CreateOnly, Downtime::MIGRATION, false, "arm-spec (read, create)"),
    rule(
        Key::Service,
        PropertyChange::CreateOnly,
        Downtime::MIGRATION,
        false,
        "DESIGN: a service change migrates",
    ),
];

/// The rule of a fleet-file key on `service`, or `None` for keys that are not server
/// properties of it (`replica_of` is a relationship: removing it is a promote, adding it is
/// refused).
pub fn property_rule(service: Service, key: Key) -> Option<&'static PropertyRule> {
    const SERVICE_CHANGE: PropertyRule = rule(
        Key::Service,
        PropertyChange::CreateOnly,
        Downtime::MIGRATION,
        false,
        "DESIGN: a service change migrates",
    );
    match service {
        Service::Single if key == Key::Service => Some(&SERVICE_CHANGE),
        Service::Single => PROPERTY_RULES.iter().find(|rule| rule.key == key),
        Service::Flexible => FLEXIBLE_PROPERTY_RULES.iter().find(|rule| rule.key == key),
    }
}

/// Whether changing `key` cannot be undone by changing it back, on the services that have it
/// (storage grows and never shrinks; a create-only key migrates; a major upgrade is final).
pub fn is_irreversible(key: Key) -> bool {
    key.services().iter().any(|&service| property_rule(service, key).is_some_and(|rule| !rule.reversible))
}

/// The rule of a parameter change that sets a static parameter: it takes effect at the restart
/// pgfleet makes for it (one per server, whatever else restarts it).
pub fn static_parameter_rule(service: Service) -> PropertyRule {
    rule(
        Key::Parameters,
        PropertyChange::ParameterWithRestart,
        Downtime::RESTART,
        true,
        match service {
            Service::Single => "server-parameters (static ones need a restart)",
            Service::Flexible => "flex-parameters (static ones need a restart)",
        },
    )
}

/// A Flexible Server storage grow that restarts the server: on Premium SSD, a grow from 4096
/// GiB or less to more than 4096 GiB; on Premium SSD v2, any size change (no online resize).
pub fn flexible_storage_grow_restarts(storage_type: StorageType, from_gb: u32, to_gb: u32) -> bool {
    match storage_type {
        StorageType::Premium => from_gb <= ONLINE_GROW_LIMIT_GB && to_gb > ONLINE_GROW_LIMIT_GB,
        StorageType::PremiumV2 => from_gb != to_gb,
    }
}

/// The rule of a Flexible Server storage grow from `from_gb` to `to_gb`.
pub fn flexible_storage_rule(storage_type: StorageType, from_gb: u32, to_gb: u32) -> PropertyRule {
    if flexible_storage_grow_restarts(storage_type, from_gb, to_gb) {
        rule(
            Key::StorageGb,
            PropertyChange::Restart,
            Downtime::FLEXIBLE_STORAGE_OFFLINE,
            false,
            "how-to-scale-storage-size (offline across 4096 GiB); premium-ssd-v2 (no online resize)",
        )
    } else {
        *property_rule(Service::Flexible, Key::StorageGb).expect("storage_gb has a rule")
    }
}

/// Whether changing these keys in place on `service` restarts the server (compute changes,
/// parameters that take effect at a restart, a major version upgrade). Storage grows that
/// restart are judged with the sizes: [`flexible_storage_grow_restarts`].
pub fn restarts(service: Service, keys: impl IntoIterator<Item = Key>) -> bool {
    keys.into_iter().filter_map(|key| property_rule(service, key)).any(|rule| rule.change.restarts())
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
    /// Flexible Server's in-place major version upgrade (its replicas are deleted first and
    /// created again after).
    UpgradeInPlace,
    /// pg_dump output of a newer server is not guaranteed to restore into an older one.
    DowngradeRefused,
}

/// Decides how a version change happens on `service`: Single Server has no in-place upgrade;
/// Flexible Server upgrades in place (and deletes the replicas first).
pub fn version_change(service: Service, from: PgVersion, to: PgVersion) -> VersionChange {
    match (from.cmp(&to), service) {
        (std::cmp::Ordering::Equal, _) => VersionChange::Same,
        (std::cmp::Ordering::Less, Service::Single) => VersionChange::UpgradeByMigration,
        (std::cmp::Ordering::Less, Service::Flexible) => VersionChange::UpgradeInPlace,
        (std::cmp::Ordering::Greater, _) => VersionChange::DowngradeRefused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_properties_restart() {
        for key in [Key::Tier, Key::Generation, Key::Vcores] {
            let rule = property_rule(Service::Single, key).unwrap();
            assert_eq!(rule.change, PropertyChange::Restart, "{key}");
            assert_eq!(rule.downtime, Downtime::COMPUTE_SCALING, "{key}");
            assert!(rule.reversible, "{key}");
        }
        assert_eq!(Downtime::COMPUTE_SCALING.max_seconds, 60);
    }

    #[test]
    fn storage_only_grows_and_is_online() {
        let rule = property_rule(Service::Single, Key::StorageGb).unwrap();
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
            let rule = property_rule(Service::Single, key).unwrap();
            assert_eq!(rule.change, PropertyChange::Online, "{key}");
            assert_eq!(rule.downtime.max_seconds, 0, "{key}");
        }
    }

    #[test]
    fn create_only_properties_migrate() {
        for key in [Key::Version, Key::GeoRedundantBackup, Key::Location, Key::AdminLogin] {
            let rule = property_rule(Service::Single, key).unwrap();
            assert_eq!(rule.change, PropertyChange::CreateOnly, "{key}");
            assert_eq!(rule.downtime, Downtime::MIGRATION, "{key}");
        }
    }

    #[test]
    fn replication_support_needs_a_restart() {
        let rule = property_rule(Service::Single, Key::ReplicationSupport).unwrap();
        assert_eq!(rule.change, PropertyChange::ParameterWithRestart);
        assert_eq!(rule.downtime, Downtime::RESTART);
    }

    #[test]
    fn replica_of_is_not_a_property() {
        assert!(property_rule(Service::Single, Key::ReplicaOf).is_none());
        assert!(restarts(Service::Single, [Key::Vcores, Key::Tags]));
        assert!(!restarts(Service::Single, [Key::StorageGb, Key::Tags]));
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
        let single = |from, to| version_change(Service::Single, from, to);
        assert_eq!(single(V11, V11), VersionChange::Same);
        assert_eq!(single(V10, V11), VersionChange::UpgradeByMigration);
        assert_eq!(single(V9_6, V10), VersionChange::UpgradeByMigration);
        assert_eq!(single(V11, V10), VersionChange::DowngradeRefused);
        assert_eq!(version_change(Service::Flexible, V14, V17), VersionChange::UpgradeInPlace);
        assert_eq!(version_change(Service::Flexible, V17, V16), VersionChange::DowngradeRefused);
    }

    #[test]
    fn flexible_rules() {
        let flexible = |key| property_rule(Service::Flexible, key).unwrap();
        assert_eq!(flexible(Key::Sku).change, PropertyChange::Restart);
        assert_eq!(flexible(Key::Version).change, PropertyChange::OfflineUpgrade);
        assert!(!flexible(Key::Version).reversible);
        for key in [Key::StorageType, Key::GeoRedundantBackup, Key::Zone, Key::AdminLogin, Key::Service] {
            assert_eq!(flexible(key).change, PropertyChange::CreateOnly, "{key}");
        }
        for key in [Key::HighAvailability, Key::MaintenanceWindow, Key::Iops, Key::BackupRetentionDays] {
            assert_eq!(flexible(key).change, PropertyChange::Online, "{key}");
        }
        assert!(property_rule(Service::Flexible, Key::Vcores).is_none());
        assert!(restarts(Service::Flexible, [Key::Sku]));
        assert!(!flexible_storage_grow_restarts(StorageType::Premium, 128, 4096));
        assert!(!flexible_storage_grow_restarts(StorageType::Premium, 4096, 4095));
        assert!(flexible_storage_grow_restarts(StorageType::Premium, 4096, 8192));
        assert!(flexible_storage_grow_restarts(StorageType::Premium, 2048, 8192));
        assert!(!flexible_storage_grow_restarts(StorageType::Premium, 8192, 16384));
        assert!(flexible_storage_grow_restarts(StorageType::PremiumV2, 100, 101));
        assert_eq!(flexible_storage_rule(StorageType::PremiumV2, 100, 200).change, PropertyChange::Restart);
        assert_eq!(flexible_storage_rule(StorageType::Premium, 128, 256).change, PropertyChange::GrowOnly);
    }

    #[test]
    fn downtime_max_keeps_the_longer_range() {
        assert_eq!(Downtime::NONE.max(Downtime::COMPUTE_SCALING), Downtime::COMPUTE_SCALING);
        assert_eq!(Downtime::MIGRATION.max(Downtime::RESTART), Downtime::MIGRATION);
    }
}
