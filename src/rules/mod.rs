//! The service's rules as data: the SKU catalog, storage and retention limits, what each tier
//! offers, which property changes are in place, restart the server or need a migration, and the
//! replica constraints.
//!
//! This module is the one source of truth for those facts (listed with their sources in
//! `docs/service-rules.md`). [`check`] answers "may this be created / changed from A to B,
//! given its replication set?" with a typed [`Refusal`]; the validator, the planner, the
//! providers and the emulator ask it and map a refusal to their wire form by its
//! [`Rule::code`]; none of them re-derives a rule. It does no I/O and holds no state.

mod carried;
mod catalog;
mod changes;
pub mod check;
mod names;
mod refusal;
mod replicas;

pub use carried::{
    SYSTEM_DATABASES, database_name_problem, database_on_replica, firewall_range, firewall_rule_name_problem,
    is_system_database, parameter_name, parameter_restarts, parameter_value, replica_parameter_refusal,
    replica_parameters_below,
};
pub use catalog::flexible::{
    FlexibleSku, HaMode, MAINTENANCE_HOURS, MAINTENANCE_MINUTES, MaintenanceWindow, ONLINE_GROW_LIMIT_GB,
    PREMIUM_SSD_SIZES_GB, PREMIUM_V2_IOPS, PREMIUM_V2_MIN_VERSION, PREMIUM_V2_SIZE_GB, PREMIUM_V2_THROUGHPUT,
    StorageType, Weekday, ZONES, autogrow_size, flexible_sku, flexible_skus, placement, premium_ssd_tier,
    premium_v2_included, zones_swapped,
};
pub use catalog::parameters::{
    ParameterSpec, ParameterType, REPLICA_FLOOR_PARAMETERS, default_value, normalized_value, parameter,
    parameter_suggestion, parameters, value_problem,
};
pub use catalog::{
    DEFAULT_GENERATION, DEFAULT_GEO_REDUNDANT_BACKUP, DEFAULT_RETENTION_DAYS, DEFAULT_SSL_ENFORCEMENT,
    DEFAULT_STORAGE_AUTOGROW, GEO_BACKUP_TIERS, LOCAL_PORTS, MAX_REPLICAS_PER_PRIMARY,
    REPLICA_INHERITED_PROPERTIES, RETENTION_DAYS, SKU_CATALOG, SkuInfo, StorageLimits, TierFeature,
    default_storage_autogrow, sku, sku_by_name, storage_limits, tier_supports, valid_vcores,
};
pub use changes::{
    Downtime, PropertyChange, PropertyRule, StorageChange, TierChange, VersionChange,
    flexible_storage_grow_restarts, flexible_storage_rule, is_irreversible, property_rule, restarts,
    static_parameter_rule, storage_change, tier_change, version_change,
};
pub use check::{FlexibleShape, PrimaryFacts, Shape};
pub use names::{FORBIDDEN_ADMIN_LOGINS, admin_login_problem, server_name_problem};
pub use refusal::{CodeOrigin, Key, Refusal, Rule};
pub use replicas::{
    ReplicaShortfall, SkuSize, replica_fits, replica_resize_shortfall, replica_shortfall, replica_shortfalls,
    size_fitting_all,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which Azure Database for PostgreSQL service runs a server.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// Single Server (`Microsoft.DBforPostgreSQL/servers`), retired by Azure on 2025-03-28.
    #[default]
    Single,
    /// Flexible Server (`Microsoft.DBforPostgreSQL/flexibleServers`).
    Flexible,
}

impl Service {
    /// The name used in the fleet file.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Single => "single",
            Service::Flexible => "flexible",
        }
    }

    /// The service's name, for messages.
    pub fn title(self) -> &'static str {
        match self {
            Service::Single => "Single Server",
            Service::Flexible => "Flexible Server",
        }
    }

    /// The tiers the service sells.
    pub fn tiers(self) -> &'static [Tier] {
        match self {
            Service::Single => &[Tier::Basic, Tier::GeneralPurpose, Tier::MemoryOptimized],
            Service::Flexible => &[Tier::Burstable, Tier::GeneralPurpose, Tier::MemoryOptimized],
        }
    }

    /// The PostgreSQL major versions the service runs (new servers may be refused on some:
    /// [`PgVersion::offered_for_new`]).
    pub fn versions(self) -> Vec<PgVersion> {
        PgVersion::ALL.into_iter().filter(|version| version.services().contains(&self)).collect()
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pricing tier: Basic on Single Server, Burstable on Flexible Server, General Purpose and
/// Memory Optimized on both (DOMAIN.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Tier {
    Basic,
    Burstable,
    GeneralPurpose,
    MemoryOptimized,
}

impl Tier {
    /// All Single Server tiers, in catalog order.
    pub const ALL: [Tier; 3] = [Tier::Basic, Tier::GeneralPurpose, Tier::MemoryOptimized];

    /// The prefix of SKU names (`B`, `GP`, `MO`).
    pub(crate) fn sku_prefix(self) -> &'static str {
        match self {
            Tier::Basic | Tier::Burstable => "B",
            Tier::GeneralPurpose => "GP",
            Tier::MemoryOptimized => "MO",
        }
    }

    /// The name used in the fleet file and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Basic => "Basic",
            Tier::Burstable => "Burstable",
            Tier::GeneralPurpose => "GeneralPurpose",
            Tier::MemoryOptimized => "MemoryOptimized",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hardware generation (`sku.family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Generation {
    Gen4,
    Gen5,
}

impl Generation {
    /// The name used in the fleet file, SKU names and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Generation::Gen4 => "Gen4",
            Generation::Gen5 => "Gen5",
        }
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PostgreSQL major version the service offers (DOMAIN.md §1.5). Ordered oldest first, so
/// `a < b` means "b is an upgrade of a".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PgVersion {
    #[serde(rename = "9.5")]
    V9_5,
    #[serde(rename = "9.6")]
    V9_6,
    #[serde(rename = "10")]
    V10,
    #[serde(rename = "11")]
    V11,
    #[serde(rename = "12")]
    V12,
    #[serde(rename = "13")]
    V13,
    #[serde(rename = "14")]
    V14,
    #[serde(rename = "15")]
    V15,
    #[serde(rename = "16")]
    V16,
    #[serde(rename = "17")]
    V17,
    #[serde(rename = "18")]
    V18,
}

impl PgVersion {
    /// Every version, oldest first.
    pub const ALL: [PgVersion; 11] = [
        PgVersion::V9_5,
        PgVersion::V9_6,
        PgVersion::V10,
        PgVersion::V11,
        PgVersion::V12,
        PgVersion::V13,
        PgVersion::V14,
        PgVersion::V15,
        PgVersion::V16,
        PgVersion::V17,
        PgVersion::V18,
    ];

    /// The version string used in the fleet file and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PgVersion::V9_5 => "9.5",
            PgVersion::V9_6 => "9.6",
            PgVersion::V10 => "10",
            PgVersion::V11 => "11",
            PgVersion::V12 => "12",
            PgVersion::V13 => "13",
            PgVersion::V14 => "14",
            PgVersion::V15 => "15",
            PgVersion::V16 => "16",
            PgVersion::V17 => "17",
            PgVersion::V18 => "18",
        }
    }

    /// The major version as a number (9.5 → 9).
    pub fn major(self) -> u32 {
        match self {
            PgVersion::V9_5 | PgVersion::V9_6 => 9,
            other => other.as_str().parse().unwrap_or(0),
        }
    }

    /// The services that run the version: Single Server 9.5–11 (DOMAIN.md §1.5), Flexible
    /// Server 11–18 (DOMAIN-FLEXIBLE.md §9).
    pub fn services(self) -> &'static [Service] {
        match self {
            PgVersion::V9_5 | PgVersion::V9_6 | PgVersion::V10 => &[Service::Single],
            PgVersion::V11 => &[Service::Single, Service::Flexible],
            _ => &[Service::Flexible],
        }
    }

    /// Whether `service` creates a new server (create, replica, migration target) on the
    /// version: Single Server retired 9.5 and 9.6; Flexible Server creates 11–18 (11–13 in
    /// paid extended support). Existing servers on a retired version keep running and take
    /// in-place changes.
    pub(crate) fn offered_for_new(self, service: Service) -> bool {
        match service {
            Service::Single => matches!(self, PgVersion::V10 | PgVersion::V11),
            Service::Flexible => self.services().contains(&Service::Flexible),
        }
    }

    /// Parses the wire form, accepting the API's minor spellings `10.0` and `10.2` as 10.
    pub(crate) fn from_wire(text: &str) -> Option<PgVersion> {
        match text {
            "9.5" => Some(PgVersion::V9_5),
            "9.6" => Some(PgVersion::V9_6),
            "10" | "10.0" | "10.2" => Some(PgVersion::V10),
            "11" => Some(PgVersion::V11),
            "12" => Some(PgVersion::V12),
            "13" => Some(PgVersion::V13),
            "14" => Some(PgVersion::V14),
            "15" => Some(PgVersion::V15),
            "16" => Some(PgVersion::V16),
            "17" => Some(PgVersion::V17),
            "18" => Some(PgVersion::V18),
            _ => None,
        }
    }
}

impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The minimal TLS version a server accepts (`minimalTlsVersion`, DOMAIN.md §1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TlsVersion {
    #[serde(rename = "TLSEnforcementDisabled")]
    EnforcementDisabled,
    #[serde(rename = "TLS1_0")]
    Tls1_0,
    #[serde(rename = "TLS1_1")]
    Tls1_1,
    #[serde(rename = "TLS1_2")]
    Tls1_2,
}

impl TlsVersion {
    /// The name used in the fleet file and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::EnforcementDisabled => "TLSEnforcementDisabled",
            TlsVersion::Tls1_0 => "TLS1_0",
            TlsVersion::Tls1_1 => "TLS1_1",
            TlsVersion::Tls1_2 => "TLS1_2",
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of the `azure.replication_support` server parameter (DOMAIN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReplicationSupport {
    Off,
    Replica,
    Logical,
}

impl ReplicationSupport {
    /// The parameter's name on the service.
    pub const PARAMETER: &'static str = "azure.replication_support";

    /// Whether a server with this setting can have read replicas (`REPLICA` and `LOGICAL` can).
    pub(crate) fn allows_replicas(self) -> bool {
        !matches!(self, ReplicationSupport::Off)
    }

    /// The value as the service spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationSupport::Off => "OFF",
            ReplicationSupport::Replica => "REPLICA",
            ReplicationSupport::Logical => "LOGICAL",
        }
    }
}

impl fmt::Display for ReplicationSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
