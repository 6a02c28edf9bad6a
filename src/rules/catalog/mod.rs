//! The SKU catalog and per-tier limits (DOMAIN.md §1.2–§1.4, DESIGN.md's decisions).

pub mod flexible;
pub mod parameters;

use super::{Generation, Tier};
use std::ops::RangeInclusive;

/// One row of the SKU catalog: a tier, generation and vCore count the service sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkuInfo {
    /// The SKU name as the API spells it (`GP_Gen5_8`).
    pub name: &'static str,
    pub tier: Tier,
    pub generation: Generation,
    pub vcores: u32,
    /// Memory in GB (2, 5 or 10 GB per vCore by tier, DOMAIN.md §1.2).
    pub memory_gb: u32,
    /// Total connections the server accepts; fixed by the SKU, not configurable (D-LIM). This is
    /// why a replica may not be smaller than its primary: a standby needs at least the primary's.
    pub max_connections: u32,
    /// Connections available to users (the rest are reserved for the service).
    pub max_user_connections: u32,
}

const fn row(
    name: &'static str,
    tier: Tier,
    generation: Generation,
    vcores: u32,
    max_connections: u32,
) -> SkuInfo {
    let per_vcore = match tier {
        Tier::Basic | Tier::Burstable => 2,
        Tier::GeneralPurpose => 5,
        Tier::MemoryOptimized => 10,
    };
    SkuInfo {
        name,
        tier,
        generation,
        vcores,
        memory_gb: per_vcore * vcores,
        max_connections,
        max_user_connections: max_connections - 5,
    }
}

use Generation::{Gen4, Gen5};
use Tier::{Basic, GeneralPurpose as GP, MemoryOptimized as MO};

/// Every SKU the service sells (the Terraform provider's `skuList`, with D-LIM's connection
/// limits). Basic: 1–2 vCores on Gen4/Gen5; GP: 2–32 on Gen4 and 2–64 on Gen5; MO: 2–32 on Gen5.
pub const SKU_CATALOG: &[SkuInfo] = &[
    row("B_Gen4_1", Basic, Gen4, 1, 55),
    row("B_Gen4_2", Basic, Gen4, 2, 105),
    row("B_Gen5_1", Basic, Gen5, 1, 55),
    row("B_Gen5_2", Basic, Gen5, 2, 105),
    row("GP_Gen4_2", GP, Gen4, 2, 150),
    row("GP_Gen4_4", GP, Gen4, 4, 250),
    row("GP_Gen4_8", GP, Gen4, 8, 480),
    row("GP_Gen4_16", GP, Gen4, 16, 950),
    row("GP_Gen4_32", GP, Gen4, 32, 1500),
    row("GP_Gen5_2", GP, Gen5, 2, 150),
    row("GP_Gen5_4", GP, Gen5, 4, 250),
    row("GP_Gen5_8", GP, Gen5, 8, 480),
    row("GP_Gen5_16", GP, Gen5, 16, 950),
    row("GP_Gen5_32", GP, Gen5, 32, 1500),
    row("GP_Gen5_64", GP, Gen5, 64, 1900),
    row("MO_Gen5_2", MO, Gen5, 2, 300),
    row("MO_Gen5_4", MO, Gen5, 4, 500),
    row("MO_Gen5_8", MO, Gen5, 8, 960),
    row("MO_Gen5_16", MO, Gen5, 16, 1900),
    row("MO_Gen5_32", MO, Gen5, 32, 1987),
];

/// The catalog row for a tier, generation and vCore count, if the service sells it.
pub fn sku(tier: Tier, generation: Generation, vcores: u32) -> Option<&'static SkuInfo> {
    SKU_CATALOG.iter().find(|sku| sku.tier == tier && sku.generation == generation && sku.vcores == vcores)
}

/// The catalog row for a SKU name such as `GP_Gen5_8`.
pub fn sku_by_name(name: &str) -> Option<&'static SkuInfo> {
    SKU_CATALOG.iter().find(|sku| sku.name == name)
}

/// The vCore counts the service sells for a tier and generation, ascending (empty when the
/// generation is not offered in the tier, as Gen4 in Memory Optimized).
pub fn valid_vcores(tier: Tier, generation: Generation) -> Vec<u32> {
    SKU_CATALOG
        .iter()
        .filter(|sku| sku.tier == tier && sku.generation == generation)
        .map(|sku| sku.vcores)
        .collect()
}

/// Storage limits of a tier, in whole GB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageLimits {
    pub min_gb: u32,
    pub max_gb: u32,
    /// Storage is sized in steps of this many GB (1 GB on every tier, D-PT).
    pub step_gb: u32,
}

/// Storage limits per tier: 5 GB–1 TB on Basic, 5 GB–16 TB on GP and MO (DESIGN.md; D-PT).
pub fn storage_limits(tier: Tier) -> StorageLimits {
    match tier {
        Tier::Basic | Tier::Burstable => StorageLimits { min_gb: 5, max_gb: 1024, step_gb: 1 },
        Tier::GeneralPurpose | Tier::MemoryOptimized => {
            StorageLimits { min_gb: 5, max_gb: 16_384, step_gb: 1 }
        }
    }
}

/// Backup retention in days, the same on every tier (D-PT; D-BK).
pub const RETENTION_DAYS: RangeInclusive<u32> = 7..=35;

/// The ports the local provider gives its clusters from `port_base` on: unprivileged TCP
/// ports (those below 1024 need root).
pub const LOCAL_PORTS: RangeInclusive<u32> = 1024..=65_535;

/// The hardware generation a server gets when none is asked for.
pub const DEFAULT_GENERATION: Generation = Generation::Gen5;
/// Backup retention when none is asked for: the service's minimum.
pub const DEFAULT_RETENTION_DAYS: u32 = *RETENTION_DAYS.start();
/// Geo-redundant backup is off unless asked for.
pub const DEFAULT_GEO_REDUNDANT_BACKUP: bool = false;
/// Storage auto-grow is on unless turned off (Single Server's default).
pub const DEFAULT_STORAGE_AUTOGROW: bool = true;

/// Whether storage auto-grow is on when the fleet file does not say: on for Single Server, off
/// for Flexible Server (`storage.autoGrow` defaults to Disabled there), as each service does.
pub fn default_storage_autogrow(service: super::Service) -> bool {
    match service {
        super::Service::Single => DEFAULT_STORAGE_AUTOGROW,
        super::Service::Flexible => false,
    }
}
/// SSL is enforced unless turned off.
pub const DEFAULT_SSL_ENFORCEMENT: bool = true;

/// A primary has at most this many read replicas (D-RR; D-CMP).
pub const MAX_REPLICAS_PER_PRIMARY: usize = 5;

/// Create-only properties a read replica takes from its primary and cannot set differently:
/// the admin account is replicated (D-RR "Inherited: Admin account"), and a physical standby
/// runs its primary's PostgreSQL major version.
pub const REPLICA_INHERITED_PROPERTIES: &[&str] = &["version", "admin_login"];

/// The tiers on which geo-redundant backup exists (D-BK).
pub const GEO_BACKUP_TIERS: &[Tier] = &[Tier::GeneralPurpose, Tier::MemoryOptimized];

/// A feature whose availability depends on the tier (DOMAIN.md §1.4; DOMAIN-FLEXIBLE.md §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierFeature {
    GeoRedundantBackup,
    /// DOMAIN.md §1.4 records a conflict; DESIGN.md decides: Basic servers have no replicas.
    ReadReplicas,
    VnetRules,
    PrivateLink,
    DenyPublicNetworkAccess,
    ThreatDetection,
    /// Flexible Server's synchronous standby.
    HighAvailability,
    /// Flexible Server's Premium SSD v2 storage.
    PremiumV2Storage,
}

/// Whether a tier offers a feature: none of the features above exist on Basic; Burstable has
/// geo-redundant backup and network access control, but no replicas, HA or Premium SSD v2.
pub fn tier_supports(tier: Tier, feature: TierFeature) -> bool {
    match tier {
        Tier::GeneralPurpose | Tier::MemoryOptimized => true,
        Tier::Basic => false,
        Tier::Burstable => !matches!(
            feature,
            TierFeature::ReadReplicas | TierFeature::HighAvailability | TierFeature::PremiumV2Storage
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DOMAIN.md §1.2's connection table, written out again so a typo in the catalog cannot
    /// agree with itself.
    const DOMAIN_MAX_CONNECTIONS: &[(&str, u32)] = &[
        ("B_Gen4_1", 55),
        ("B_Gen4_2", 105),
        ("B_Gen5_1", 55),
        ("B_Gen5_2", 105),
        ("GP_Gen4_2", 150),
        ("GP_Gen4_4", 250),
        ("GP_Gen4_8", 480),
        ("GP_Gen4_16", 950),
        ("GP_Gen4_32", 1500),
        ("GP_Gen5_2", 150),
        ("GP_Gen5_4", 250),
        ("GP_Gen5_8", 480),
        ("GP_Gen5_16", 950),
        ("GP_Gen5_32", 1500),
        ("GP_Gen5_64", 1900),
        ("MO_Gen5_2", 300),
        ("MO_Gen5_4", 500),
        ("MO_Gen5_8", 960),
        ("MO_Gen5_16", 1900),
        ("MO_Gen5_32", 1987),
    ];

    #[test]
    fn every_catalog_row_matches_the_domain_tables() {
        assert_eq!(SKU_CATALOG.len(), DOMAIN_MAX_CONNECTIONS.len());
        for (name, connections) in DOMAIN_MAX_CONNECTIONS {
            let sku = sku_by_name(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(sku.max_connections, *connections, "{name}");
            assert_eq!(sku.max_user_connections, connections - 5, "{name}");
            let expected_name = format!("{}_{}_{}", sku.tier.sku_prefix(), sku.generation, sku.vcores);
            assert_eq!(sku.name, expected_name);
            let per_vcore = match sku.tier {
                Tier::Basic | Tier::Burstable => 2,
                Tier::GeneralPurpose => 5,
                Tier::MemoryOptimized => 10,
            };
            assert_eq!(sku.memory_gb, per_vcore * sku.vcores, "{name}");
            assert_eq!(super::sku(sku.tier, sku.generation, sku.vcores), Some(sku));
        }
    }

    #[test]
    fn vcores_per_tier_and_generation() {
        assert_eq!(valid_vcores(Tier::Basic, Gen4), vec![1, 2]);
        assert_eq!(valid_vcores(Tier::Basic, Gen5), vec![1, 2]);
        assert_eq!(valid_vcores(Tier::GeneralPurpose, Gen4), vec![2, 4, 8, 16, 32]);
        assert_eq!(valid_vcores(Tier::GeneralPurpose, Gen5), vec![2, 4, 8, 16, 32, 64]);
        assert_eq!(valid_vcores(Tier::MemoryOptimized, Gen4), Vec::<u32>::new());
        assert_eq!(valid_vcores(Tier::MemoryOptimized, Gen5), vec![2, 4, 8, 16, 32]);
        assert!(sku(Tier::GeneralPurpose, Gen4, 64).is_none());
        assert!(sku(Tier::Basic, Gen5, 4).is_none());
    }

    #[test]
    fn connections_grow_with_vcores_within_a_tier() {
        for tier in Tier::ALL {
            for generation in [Gen4, Gen5] {
                let rows: Vec<_> =
                    SKU_CATALOG.iter().filter(|s| s.tier == tier && s.generation == generation).collect();
                assert!(rows.windows(2).all(|w| w[0].max_connections < w[1].max_connections));
            }
        }
    }

    #[test]
    fn storage_limits_per_tier() {
        assert_eq!(storage_limits(Tier::Basic), StorageLimits { min_gb: 5, max_gb: 1024, step_gb: 1 });
        assert_eq!(
            storage_limits(Tier::GeneralPurpose),
            StorageLimits { min_gb: 5, max_gb: 16_384, step_gb: 1 }
        );
        assert_eq!(storage_limits(Tier::MemoryOptimized), storage_limits(Tier::GeneralPurpose));
    }

    #[test]
    fn retention_and_replica_limits() {
        assert_eq!(RETENTION_DAYS, 7..=35);
        assert_eq!(MAX_REPLICAS_PER_PRIMARY, 5);
    }

    #[test]
    fn features_are_missing_on_basic_only() {
        for feature in [
            TierFeature::GeoRedundantBackup,
            TierFeature::ReadReplicas,
            TierFeature::VnetRules,
            TierFeature::PrivateLink,
            TierFeature::DenyPublicNetworkAccess,
            TierFeature::ThreatDetection,
        ] {
            assert!(!tier_supports(Tier::Basic, feature), "{feature:?}");
            assert!(tier_supports(Tier::GeneralPurpose, feature), "{feature:?}");
            assert!(tier_supports(Tier::MemoryOptimized, feature), "{feature:?}");
        }
        assert_eq!(GEO_BACKUP_TIERS, &[Tier::GeneralPurpose, Tier::MemoryOptimized]);
    }
}
