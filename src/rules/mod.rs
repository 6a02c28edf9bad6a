//! The service's rules as data: the SKU catalog, storage and retention limits, what each tier
//! offers, which property changes are in place, restart the server or need a migration, and the
//! replica constraints.
//!
//! This module is the one source of truth for those facts (listed with their sources in
//! `docs/service-rules.md`). [`check`] answers "may this be created / changed from A to B,
//! given its replication set?" with a typed [`Refusal`]; the validator, the planner, the
//! providers and the emulator ask it and map a refusal to their wire form by its
//! [`Rule::code`]; none of them re-derives a rule. It does no I/O and holds no state.

mod catalog;
mod changes;
pub mod check;
mod names;
mod refusal;
mod replicas;

pub use catalog::{
    DEFAULT_GENERATION, DEFAULT_GEO_REDUNDANT_BACKUP, DEFAULT_RETENTION_DAYS, DEFAULT_SSL_ENFORCEMENT,
    DEFAULT_STORAGE_AUTOGROW, GEO_BACKUP_TIERS, MAX_REPLICAS_PER_PRIMARY, REPLICA_INHERITED_PROPERTIES,
    RETENTION_DAYS, SKU_CATALOG, SkuInfo, StorageLimits, TierFeature, sku, sku_by_name, storage_limits,
    tier_supports, valid_vcores,
};
pub use changes::{
    Downtime, PropertyChange, PropertyRule, StorageChange, TierChange, VersionChange, property_rule,
    restarts, storage_change, tier_change, version_change,
};
pub use check::{PrimaryFacts, Shape};
pub use names::{FORBIDDEN_ADMIN_LOGINS, admin_login_problem, server_name_problem};
pub use refusal::{CodeOrigin, Key, Refusal, Rule};
pub use replicas::{
    ReplicaShortfall, SkuSize, replica_fits, replica_resize_shortfall, replica_shortfall, replica_shortfalls,
    size_fitting_all,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A pricing tier (DOMAIN.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Tier {
    Basic,
    GeneralPurpose,
    MemoryOptimized,
}

impl Tier {
    /// All tiers, in catalog order.
    pub const ALL: [Tier; 3] = [Tier::Basic, Tier::GeneralPurpose, Tier::MemoryOptimized];

    /// The prefix of SKU names (`B`, `GP`, `MO`).
    pub(crate) fn sku_prefix(self) -> &'static str {
        match self {
            Tier::Basic => "B",
            Tier::GeneralPurpose => "GP",
            Tier::MemoryOptimized => "MO",
        }
    }

    /// The name used in the fleet file and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Basic => "Basic",
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
}

impl PgVersion {
    /// Every version, oldest first.
    pub const ALL: [PgVersion; 4] = [PgVersion::V9_5, PgVersion::V9_6, PgVersion::V10, PgVersion::V11];

    /// The version string used in the fleet file and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PgVersion::V9_5 => "9.5",
            PgVersion::V9_6 => "9.6",
            PgVersion::V10 => "10",
            PgVersion::V11 => "11",
        }
    }

    /// Whether the service still supports the version (9.5 and 9.6 are retired, DOMAIN.md §1.5).
    /// The service creates no new server (create, replica, migration target) on a retired
    /// version; existing servers on it keep running and take in-place changes.
    pub(crate) fn is_supported(self) -> bool {
        matches!(self, PgVersion::V10 | PgVersion::V11)
    }

    /// Parses the wire form, accepting the API's minor spellings `10.0` and `10.2` as 10.
    pub(crate) fn from_wire(text: &str) -> Option<PgVersion> {
        match text {
            "9.5" => Some(PgVersion::V9_5),
            "9.6" => Some(PgVersion::V9_6),
            "10" | "10.0" | "10.2" => Some(PgVersion::V10),
            "11" => Some(PgVersion::V11),
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
