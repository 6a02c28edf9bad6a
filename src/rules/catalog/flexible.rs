//! Flexible Server's catalog: the compute SKUs with their vCores, memory and default
//! `max_connections`, and the storage sizes (docs/service-rules.md, "Flexible Server").
//!
//! Only series whose default `max_connections` the service documents are listed: the
//! Burstable B-series, General Purpose Dsv3, Ddsv4, Ddsv5 and Dadsv5, and Memory Optimized
//! Esv3, Edsv4, Edsv5 and Eadsv5. The v6 series (Ddsv6, Dadsv6, Edsv6, Eadsv6) and the
//! confidential DC/EC series are left out: the limits page has no connection figures for them,
//! and pgfleet sets `max_connections` from this table when it creates a server.

use super::super::Tier;
use std::ops::RangeInclusive;

/// One Flexible Server compute size (an Azure VM size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlexibleSku {
    /// The name the API and the fleet file use (`Standard_D4ds_v5`).
    pub name: &'static str,
    pub tier: Tier,
    pub vcores: u32,
    pub memory_gib: u32,
    /// The VM series as the price list names it (`Ddsv5`, `Esv3`); `BS` for the Burstable sizes,
    /// which are priced one by one.
    pub series: &'static str,
    /// The default of the `max_connections` server parameter, set when a server is created.
    /// The service does not change it when the SKU changes later.
    pub default_max_connections: u32,
}

/// A series of SKUs: the name is formed from the vCores (`Standard_D{n}ds_v5`).
struct Series {
    tier: Tier,
    /// The series as the price list names it.
    name: &'static str,
    prefix: &'static str,
    suffix: &'static str,
    vcores: &'static [u32],
}

const GP_V3_V4: &[u32] = &[2, 4, 8, 16, 32, 48, 64];
const GP_V5: &[u32] = &[2, 4, 8, 16, 32, 48, 64, 96];
const MO_V3: &[u32] = &[2, 4, 8, 16, 32, 48, 64];
const MO_V4: &[u32] = &[2, 4, 8, 16, 20, 32, 48, 64];
const MO_V5: &[u32] = &[2, 4, 8, 16, 20, 32, 48, 64, 96];

const SERIES: &[Series] = &[
    Series {
        tier: Tier::GeneralPurpose,
        name: "Dsv3",
        prefix: "Standard_D",
        suffix: "s_v3",
        vcores: GP_V3_V4,
    },
    Series {
        tier: Tier::GeneralPurpose,
        name: "Ddsv4",
        prefix: "Standard_D",
        suffix: "ds_v4",
        vcores: GP_V3_V4,
    },
    Series {
        tier: Tier::GeneralPurpose,
        name: "Ddsv5",
        prefix: "Standard_D",
        suffix: "ds_v5",
        vcores: GP_V5,
    },
    Series {
        tier: Tier::GeneralPurpose,
        name: "Dadsv5",
        prefix: "Standard_D",
        suffix: "ads_v5",
        vcores: GP_V5,
    },
    Series { tier: Tier::MemoryOptimized, name: "Esv3", prefix: "Standard_E", suffix: "s_v3", vcores: MO_V3 },
    Series {
        tier: Tier::MemoryOptimized,
        name: "Edsv4",
        prefix: "Standard_E",
        suffix: "ds_v4",
        vcores: MO_V4,
    },
    Series {
        tier: Tier::MemoryOptimized,
        name: "Edsv5",
        prefix: "Standard_E",
        suffix: "ds_v5",
        vcores: MO_V5,
    },
    Series {
        tier: Tier::MemoryOptimized,
        name: "Eadsv5",
        prefix: "Standard_E",
        suffix: "ads_v5",
        vcores: MO_V5,
    },
];

/// The Burstable sizes, which do not follow a per-vCore pattern: (name, vCores, GiB, connections).
const BURSTABLE: &[(&str, u32, u32, u32)] = &[
    ("Standard_B1ms", 1, 2, 50),
    ("Standard_B2s", 2, 4, 429),
    ("Standard_B2ms", 2, 8, 859),
    ("Standard_B4ms", 4, 16, 1718),
    ("Standard_B8ms", 8, 32, 3437),
    ("Standard_B12ms", 12, 48, 5000),
    ("Standard_B16ms", 16, 64, 5000),
    ("Standard_B20ms", 20, 80, 5000),
];

/// Default `max_connections` of General Purpose and Memory Optimized sizes by vCores (D-LIM).
fn default_connections(tier: Tier, vcores: u32) -> u32 {
    match (tier, vcores) {
        (Tier::GeneralPurpose, 2) => 859,
        (Tier::GeneralPurpose, 4) | (Tier::MemoryOptimized, 2) => 1718,
        (Tier::GeneralPurpose, 8) | (Tier::MemoryOptimized, 4) => 3437,
        _ => 5000,
    }
}

/// Memory of General Purpose (4 GiB per vCore) and Memory Optimized sizes (8 GiB per vCore;
/// the 64-vCore v3/v4 sizes have 432 GiB, the 96-vCore v5 sizes 672 GiB).
fn memory_gib(tier: Tier, suffix: &str, vcores: u32) -> u32 {
    match (tier, vcores) {
        (Tier::MemoryOptimized, 64) if suffix.ends_with("v3") || suffix.ends_with("v4") => 432,
        (Tier::MemoryOptimized, 96) => 672,
        (Tier::MemoryOptimized, _) => 8 * vcores,
        _ => 4 * vcores,
    }
}

/// Every Flexible Server SKU pgfleet knows, Burstable first, then by series and vCores.
pub fn flexible_skus() -> &'static [FlexibleSku] {
    static SKUS: std::sync::OnceLock<Vec<FlexibleSku>> = std::sync::OnceLock::new();
    SKUS.get_or_init(|| {
        let burstable = BURSTABLE.iter().map(|&(name, vcores, memory_gib, connections)| FlexibleSku {
            name,
            tier: Tier::Burstable,
            vcores,
            memory_gib,
            series: "BS",
            default_max_connections: connections,
        });
        let series = SERIES.iter().flat_map(|series| {
            series.vcores.iter().map(move |&vcores| FlexibleSku {
                name: Box::leak(format!("{}{vcores}{}", series.prefix, series.suffix).into_boxed_str()),
                tier: series.tier,
                vcores,
                memory_gib: memory_gib(series.tier, series.suffix, vcores),
                series: series.name,
                default_max_connections: default_connections(series.tier, vcores),
            })
        });
        burstable.chain(series).collect()
    })
}

/// The SKU called `name` (`Standard_D4ds_v5`), if pgfleet knows it.
pub fn flexible_sku(name: &str) -> Option<&'static FlexibleSku> {
    flexible_skus().iter().find(|sku| sku.name == name)
}

/// How a Flexible Server stores its data (`storage.type`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub enum StorageType {
    /// Premium SSD: one of the fixed sizes, autogrow available.
    #[default]
    #[serde(rename = "Premium_LRS")]
    Premium,
    /// Premium SSD v2: any size in whole GiB, with provisioned IOPS and throughput.
    #[serde(rename = "PremiumV2_LRS")]
    PremiumV2,
}

impl StorageType {
    /// The name used in the fleet file and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageType::Premium => "Premium_LRS",
            StorageType::PremiumV2 => "PremiumV2_LRS",
        }
    }
}

impl std::fmt::Display for StorageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Premium SSD sizes in GiB. 4095 and 4096 are both offered: 4095 keeps the host cache and
/// online resizing; a grow to 4096 or more from 4096 or less restarts the server.
pub const PREMIUM_SSD_SIZES_GB: &[u32] = &[32, 64, 128, 256, 512, 1024, 2048, 4095, 4096, 8192, 16384, 32767];

/// The largest Premium SSD size that grows online: growing from it or below to above it restarts.
pub const ONLINE_GROW_LIMIT_GB: u32 = 4096;

/// Premium SSD v2 sizes, in whole GiB.
pub const PREMIUM_V2_SIZE_GB: RangeInclusive<u32> = 32..=65_536;
/// Premium SSD v2 provisioned IOPS.
pub const PREMIUM_V2_IOPS: RangeInclusive<u32> = 3_000..=80_000;
/// Premium SSD v2 provisioned throughput, MB/s.
pub const PREMIUM_V2_THROUGHPUT: RangeInclusive<u32> = 125..=1_200;
/// The IOPS and throughput (MB/s) a Premium SSD v2 disk of `storage_gb` has at no extra
/// charge: 3,000 IOPS and 125 MB/s up to 399 GiB, 12,000 IOPS and 500 MB/s from 400 GiB
/// (docs/service-rules.md, "Premium SSD v2"). What is provisioned beyond them is billed.
pub fn premium_v2_included(storage_gb: u32) -> (u32, u32) {
    if storage_gb >= 400 { (12_000, 500) } else { (3_000, 125) }
}

/// The first PostgreSQL major version Premium SSD v2 is offered for.
pub const PREMIUM_V2_MIN_VERSION: &str = "14";

/// A Flexible Server's high availability (`highAvailability.mode`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub enum HaMode {
    #[default]
    Disabled,
    /// A synchronous standby in the same availability zone.
    SameZone,
    /// A synchronous standby in another availability zone.
    ZoneRedundant,
}

impl HaMode {
    /// The name used in the fleet file and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            HaMode::Disabled => "Disabled",
            HaMode::SameZone => "SameZone",
            HaMode::ZoneRedundant => "ZoneRedundant",
        }
    }

    pub fn is_enabled(self) -> bool {
        self != HaMode::Disabled
    }

    /// Whether moving from `self` to `to` takes two updates: the service cannot switch between
    /// SameZone and ZoneRedundant directly; HA is disabled, then enabled in the new mode.
    pub fn switch_needs_disable(self, to: HaMode) -> bool {
        self.is_enabled() && to.is_enabled() && self != to
    }
}

impl std::fmt::Display for HaMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The performance tier of each Premium SSD size (the managed disk it is), as the service
/// reports it in `storage.tier` when the server keeps its size's default tier.
pub const PREMIUM_SSD_TIERS: &[(u32, &str)] = &[
    (32, "P4"),
    (64, "P6"),
    (128, "P10"),
    (256, "P15"),
    (512, "P20"),
    (1024, "P30"),
    (2048, "P40"),
    (4095, "P50"),
    (4096, "P50"),
    (8192, "P60"),
    (16384, "P70"),
    (32767, "P80"),
];

/// The default performance tier of a Premium SSD size (`None` for a size that is not offered).
pub fn premium_ssd_tier(size_gb: u32) -> Option<&'static str> {
    PREMIUM_SSD_TIERS.iter().find(|(size, _)| *size == size_gb).map(|(_, tier)| *tier)
}

/// Autogrow does not cross the 4 TiB boundary: from 4095 GB up to 8 TiB a disk is resized by
/// hand (offline).
const AUTOGROW_MANUAL_FROM_GB: u32 = 4095;
const AUTOGROW_MANUAL_BELOW_GB: u32 = 8192;

/// What storage autogrow does to a Premium SSD disk of `size_gb` holding `used_gb` (the
/// service's rule, docs/service-rules.md "flex-autogrow"): it triggers when the free space falls
/// below 20 % of the size (10 % from 1 TiB), at most 64 GiB, and grows the disk to the next
/// size (double), online; not from 4 TiB up to 8 TiB, and never past 32 TiB. `None` when it
/// does not trigger.
pub fn autogrow_size(size_gb: u32, used_gb: f64) -> Option<u32> {
    let share = if size_gb < 1024 { 0.2 } else { 0.1 };
    let threshold = (f64::from(size_gb) * share).min(64.0);
    let free = f64::from(size_gb) - used_gb;
    if free >= threshold || (AUTOGROW_MANUAL_FROM_GB..AUTOGROW_MANUAL_BELOW_GB).contains(&size_gb) {
        return None;
    }
    PREMIUM_SSD_SIZES_GB.iter().copied().find(|size| *size > size_gb)
}

/// The availability zones a Flexible Server can be placed in.
pub const ZONES: &[&str] = &["1", "2", "3"];

/// Where the service places a flexible server whose file names no zone: zone 1, and a
/// zone-redundant standby in the next zone; without HA there is no standby zone. Named zones
/// are kept. Returns (zone, standby zone).
pub fn placement(zone: Option<&str>, standby: Option<&str>, mode: HaMode) -> (String, Option<String>) {
    let zone = zone.unwrap_or(ZONES[0]).to_string();
    let standby = match mode {
        HaMode::Disabled => None,
        HaMode::SameZone => standby.map(str::to_string),
        HaMode::ZoneRedundant => Some(standby.map_or_else(
            || {
                let at = ZONES.iter().position(|known| *known == zone).unwrap_or(0);
                ZONES[(at + 1) % ZONES.len()].to_string()
            },
            str::to_string,
        )),
    };
    (zone, standby)
}

/// Whether the zones `after` are those of `before` swapped, as any failover leaves them: the
/// primary now runs in the former standby zone (and the standby, where named, in the former
/// primary zone).
pub fn zones_swapped(before: (Option<&str>, Option<&str>), after: (Option<&str>, Option<&str>)) -> bool {
    let ((zone, standby), (new_zone, new_standby)) = (before, after);
    standby.is_some()
        && new_zone == standby
        && new_standby.is_none_or(|new_standby| Some(new_standby) == zone)
}

/// A day of the week, for the maintenance window.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub enum Weekday {
    Sunday,
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
}

impl Weekday {
    /// Every day, Sunday first: the order ARM numbers them in (`dayOfWeek` 0 is Sunday).
    pub const ALL: [Weekday; 7] = [
        Weekday::Sunday,
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
    ];

    /// ARM's `dayOfWeek` (0 is Sunday).
    pub fn number(self) -> u32 {
        Weekday::ALL.iter().position(|day| *day == self).map_or(0, |i| i as u32)
    }

    /// The day of ARM's `dayOfWeek`, when it is 0–6.
    pub fn from_number(number: u32) -> Option<Weekday> {
        Weekday::ALL.get(usize::try_from(number).ok()?).copied()
    }
}

/// The hours a maintenance window may start at (UTC).
pub const MAINTENANCE_HOURS: RangeInclusive<u32> = 0..=23;

/// The minutes a maintenance window may start at.
pub const MAINTENANCE_MINUTES: RangeInclusive<u32> = 0..=59;

/// A custom maintenance window: one hour a week, in UTC. Absent: the service picks one.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    pub day: Weekday,
    /// The hour it starts, 0–23 UTC.
    pub hour: u32,
    /// The minute it starts, 0–59.
    #[serde(default)]
    pub minute: u32,
}

impl std::fmt::Display for MaintenanceWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {:02}:{:02} UTC", self.day, self.hour, self.minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autogrow_doubles_below_the_threshold_and_stops_at_the_boundaries() {
        // 20 % free of 32 GB is 6.4 GB: 25 GB used leaves 7 GB (no), 26 GB leaves 6 GB (yes).
        assert_eq!(autogrow_size(32, 25.0), None);
        assert_eq!(autogrow_size(32, 26.0), Some(64));
        // The threshold is at most 64 GiB: 512 GB with 100 GB free does not grow.
        assert_eq!(autogrow_size(512, 412.0), None);
        assert_eq!(autogrow_size(512, 449.0), Some(1024));
        // From 1 TiB, 10 % (at most 64 GiB).
        assert_eq!(autogrow_size(1024, 930.0), None);
        assert_eq!(autogrow_size(1024, 961.0), Some(2048));
        assert_eq!(autogrow_size(2048, 2000.0), Some(4095));
        // Not across 4 TiB; again from 8 TiB; not past the largest size.
        assert_eq!(autogrow_size(4095, 4090.0), None);
        assert_eq!(autogrow_size(4096, 4090.0), None);
        assert_eq!(autogrow_size(8192, 8190.0), Some(16384));
        assert_eq!(autogrow_size(32767, 32760.0), None);
    }

    #[test]
    fn every_premium_ssd_size_has_its_tier() {
        for size in PREMIUM_SSD_SIZES_GB {
            assert!(premium_ssd_tier(*size).is_some(), "{size}");
        }
        assert_eq!(premium_ssd_tier(128), Some("P10"));
        assert_eq!(premium_ssd_tier(100), None);
    }

    /// DOMAIN-FLEXIBLE.md §2.2, written out again so the generated catalog cannot agree with
    /// itself: (series, vCores listed, memory of the listed sizes, connections by vCores).
    #[test]
    fn the_catalog_matches_the_domain_tables() {
        let burstable: Vec<(&str, u32, u32, u32)> = flexible_skus()
            .iter()
            .filter(|sku| sku.tier == Tier::Burstable)
            .map(|sku| (sku.name, sku.vcores, sku.memory_gib, sku.default_max_connections))
            .collect();
        assert_eq!(
            burstable,
            [
                ("Standard_B1ms", 1, 2, 50),
                ("Standard_B2s", 2, 4, 429),
                ("Standard_B2ms", 2, 8, 859),
                ("Standard_B4ms", 4, 16, 1718),
                ("Standard_B8ms", 8, 32, 3437),
                ("Standard_B12ms", 12, 48, 5000),
                ("Standard_B16ms", 16, 64, 5000),
                ("Standard_B20ms", 20, 80, 5000),
            ]
        );
        let connections = |name: &str| flexible_sku(name).map(|sku| sku.default_max_connections);
        for (name, expected) in [
            ("Standard_D2ds_v5", 859),
            ("Standard_D4ds_v5", 1718),
            ("Standard_D8s_v3", 3437),
            ("Standard_D16ds_v4", 5000),
            ("Standard_D96ads_v5", 5000),
            ("Standard_E2ds_v5", 1718),
            ("Standard_E4s_v3", 3437),
            ("Standard_E8ds_v4", 5000),
            ("Standard_E20ads_v5", 5000),
        ] {
            assert_eq!(connections(name), Some(expected), "{name}");
        }
        for (name, memory) in [
            ("Standard_D96ds_v5", 384),
            ("Standard_E2s_v3", 16),
            ("Standard_E64s_v3", 432),
            ("Standard_E64ds_v4", 432),
            ("Standard_E64ds_v5", 512),
            ("Standard_E96ds_v5", 672),
        ] {
            assert_eq!(flexible_sku(name).map(|sku| sku.memory_gib), Some(memory), "{name}");
        }
        // Sizes a series does not have, and series without connection figures.
        for absent in [
            "Standard_D96s_v3",
            "Standard_D20ds_v5",
            "Standard_E20s_v3",
            "Standard_D4ds_v6",
            "Standard_DC4ads_v5",
        ] {
            assert!(flexible_sku(absent).is_none(), "{absent}");
        }
        assert_eq!(flexible_skus().len(), 8 + 7 + 7 + 8 + 8 + 7 + 8 + 9 + 9);
    }

    #[test]
    fn storage_sizes_match_the_domain_table() {
        assert_eq!(PREMIUM_SSD_SIZES_GB, [32, 64, 128, 256, 512, 1024, 2048, 4095, 4096, 8192, 16384, 32767]);
        assert_eq!(PREMIUM_V2_SIZE_GB, 32..=65_536);
        assert_eq!((PREMIUM_V2_IOPS, PREMIUM_V2_THROUGHPUT), (3_000..=80_000, 125..=1_200));
    }

    #[test]
    fn placement_and_swapped_zones() {
        assert_eq!(placement(None, None, HaMode::ZoneRedundant), ("1".to_string(), Some("2".to_string())));
        assert_eq!(
            placement(Some("3"), None, HaMode::ZoneRedundant),
            ("3".to_string(), Some("1".to_string()))
        );
        assert_eq!(placement(Some("2"), Some("1"), HaMode::Disabled), ("2".to_string(), None));
        assert!(zones_swapped((Some("1"), Some("2")), (Some("2"), Some("1"))));
        assert!(zones_swapped((Some("1"), Some("2")), (Some("2"), None)));
        assert!(!zones_swapped((Some("1"), Some("2")), (Some("3"), Some("2"))));
        assert!(!zones_swapped((Some("1"), None), (None, None)));
    }

    #[test]
    fn ha_mode_switches_need_a_disable_in_between() {
        assert!(HaMode::SameZone.switch_needs_disable(HaMode::ZoneRedundant));
        assert!(HaMode::ZoneRedundant.switch_needs_disable(HaMode::SameZone));
        assert!(!HaMode::Disabled.switch_needs_disable(HaMode::ZoneRedundant));
        assert!(!HaMode::SameZone.switch_needs_disable(HaMode::Disabled));
    }
}
