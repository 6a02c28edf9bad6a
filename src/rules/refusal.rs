//! What a refusal is: the rule that refuses, the key it is about, a message and a hint. Each rule
//! has one code (the service's where it is known, pgfleet's own otherwise) and one source; every
//! backend that answers on a wire (the emulator's ARM errors, the local provider's errors)
//! takes the code from [`Rule::code`] and nothing else, so one rule never has two codes.
//!
//! The project's own docs list these rules with their sources: `docs/service-rules.md`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A fleet-file key that describes a server: what refusals, attribute changes and property
/// rules are about. Serialized as the key is written in the fleet file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    /// The server's name (the key of its `[servers.NAME]` table).
    Name,
    Tier,
    Generation,
    Vcores,
    StorageGb,
    Version,
    BackupRetentionDays,
    GeoRedundantBackup,
    StorageAutogrow,
    SslEnforcement,
    MinimalTlsVersion,
    AdminLogin,
    AdminPassword,
    Location,
    Tags,
    ReplicaOf,
    /// The `azure.replication_support` parameter (not a fleet-file key: pgfleet sets it).
    ReplicationSupport,
    /// Which service runs the server (`single` or `flexible`).
    Service,
    /// Flexible Server's compute size (`Standard_D4ds_v5`).
    Sku,
    StorageType,
    Iops,
    Throughput,
    HighAvailability,
    Zone,
    StandbyZone,
    MaintenanceWindow,
    PublicNetworkAccess,
    /// Server parameters (`[servers.NAME.parameters]`).
    Parameters,
    /// Firewall rules (`[servers.NAME.firewall_rules]`).
    FirewallRules,
    /// Databases (`[servers.NAME.databases.DB]`).
    Databases,
    /// A timetable (`[[servers.NAME.schedule]]`).
    Schedule,
}

impl Key {
    /// Every key, in the order the fleet file documents them.
    pub const ALL: [Key; 31] = [
        Key::Name,
        Key::Tier,
        Key::Generation,
        Key::Vcores,
        Key::StorageGb,
        Key::Version,
        Key::BackupRetentionDays,
        Key::GeoRedundantBackup,
        Key::StorageAutogrow,
        Key::SslEnforcement,
        Key::MinimalTlsVersion,
        Key::AdminLogin,
        Key::AdminPassword,
        Key::Location,
        Key::Tags,
        Key::ReplicaOf,
        Key::ReplicationSupport,
        Key::Service,
        Key::Sku,
        Key::StorageType,
        Key::Iops,
        Key::Throughput,
        Key::HighAvailability,
        Key::Zone,
        Key::StandbyZone,
        Key::MaintenanceWindow,
        Key::PublicNetworkAccess,
        Key::Parameters,
        Key::FirewallRules,
        Key::Databases,
        Key::Schedule,
    ];

    /// The key as the fleet file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Key::Name => "name",
            Key::Tier => "tier",
            Key::Generation => "generation",
            Key::Vcores => "vcores",
            Key::StorageGb => "storage_gb",
            Key::Version => "version",
            Key::BackupRetentionDays => "backup_retention_days",
            Key::GeoRedundantBackup => "geo_redundant_backup",
            Key::StorageAutogrow => "storage_autogrow",
            Key::SslEnforcement => "ssl_enforcement",
            Key::MinimalTlsVersion => "minimal_tls_version",
            Key::AdminLogin => "admin_login",
            Key::AdminPassword => "admin_password",
            Key::Location => "location",
            Key::Tags => "tags",
            Key::ReplicaOf => "replica_of",
            Key::ReplicationSupport => "replication_support",
            Key::Service => "service",
            Key::Sku => "sku",
            Key::StorageType => "storage_type",
            Key::Iops => "iops",
            Key::Throughput => "throughput",
            Key::HighAvailability => "high_availability",
            Key::Zone => "zone",
            Key::StandbyZone => "standby_zone",
            Key::MaintenanceWindow => "maintenance_window",
            Key::PublicNetworkAccess => "public_network_access",
            Key::Parameters => "parameters",
            Key::FirewallRules => "firewall_rules",
            Key::Databases => "databases",
            Key::Schedule => "schedule",
        }
    }

    /// The services whose servers have this key: a key set on a server of another service is
    /// an error, and a `[defaults]` key applies only to servers whose service has it.
    pub fn services(self) -> &'static [super::Service] {
        use super::Service::{Flexible, Single};
        match self {
            Key::Tier
            | Key::Generation
            | Key::Vcores
            | Key::SslEnforcement
            | Key::MinimalTlsVersion
            | Key::ReplicationSupport => &[Single],
            Key::Sku
            | Key::StorageType
            | Key::Iops
            | Key::Throughput
            | Key::HighAvailability
            | Key::Zone
            | Key::StandbyZone
            | Key::MaintenanceWindow
            | Key::PublicNetworkAccess => &[Flexible],
            Key::Name
            | Key::Service
            | Key::StorageGb
            | Key::Version
            | Key::BackupRetentionDays
            | Key::GeoRedundantBackup
            | Key::StorageAutogrow
            | Key::AdminLogin
            | Key::AdminPassword
            | Key::Location
            | Key::Tags
            | Key::ReplicaOf
            | Key::Parameters
            | Key::FirewallRules
            | Key::Databases
            | Key::Schedule => &[Single, Flexible],
        }
    }

    /// Whether servers of `service` have this key.
    pub fn is_of(self, service: super::Service) -> bool {
        self.services().contains(&service)
    }

    /// The key named `text`, if it is one.
    pub fn parse(text: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|key| key.as_str() == text)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose code a rule carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOrigin {
    /// The service's own error code, as recorded from a real answer.
    Service,
    /// No real code is known; pgfleet names the refusal after the rule.
    Pgfleet,
}

/// A rule that can refuse a server or a change. Each variant is one row of
/// `docs/service-rules.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rule {
    /// The server name is not 3–63 lowercase letters, digits and hyphens.
    InvalidServerName,
    /// The admin login is empty, reserved or starts with `pg_`.
    InvalidAdminLogin,
    /// The tier, generation and vCores name no SKU the service sells.
    SkuNotOffered,
    /// Storage outside the tier's range.
    StorageOutOfRange,
    /// Backup retention outside 7–35 days.
    RetentionOutOfRange,
    /// Geo-redundant backup on a tier that does not offer it (Basic).
    GeoBackupNotOffered,
    /// `ssl_enforcement = false` with a minimal TLS version other than `TLSEnforcementDisabled`.
    TlsWithoutSsl,
    /// A new server on a PostgreSQL version the service retired.
    RetiredVersion,
    /// A tag whose name starts with `pgfleet-`: pgfleet writes those itself.
    ReservedTag,
    /// A tier change to or from Basic, in place.
    TierChangeNotInPlace,
    /// A storage decrease.
    StorageShrink,
    /// A storage decrease on a Flexible Server (the service answers it with its own code).
    FlexibleStorageShrink,
    /// A change of a property that is set only at create (version, geo-redundant backup,
    /// location, admin login), in place.
    CreateOnlyChange,
    /// A PostgreSQL major version lower than the server's.
    VersionDowngrade,
    /// Storage auto-grow turned off on a replica.
    ReplicaAutogrowOff,
    /// A replica of a server that is itself a replica.
    ReplicaOfReplica,
    /// A replica of a Basic server, or a replica on the Basic tier.
    ReplicaOnBasic,
    /// A sixth replica of one primary.
    TooManyReplicas,
    /// A replica of a primary whose `azure.replication_support` is OFF.
    ReplicationSupportOff,
    /// A replica with fewer connections, vCores or less storage than its primary.
    ReplicaSmallerThanPrimary,
    /// A primary resized above one of its replicas.
    PrimaryLargerThanReplica,
    /// A replica whose version or admin login differs from its primary's.
    ReplicaDiffersFromPrimary,
    /// A password change on a replica, or combined with a promote.
    PasswordChangeOnReplica,
    /// A promote of a server that is not a replica.
    NotAReplica,
    /// An existing server turned into a replica: a replica is always created as one.
    ServerToReplica,
    /// A replica moved to another primary.
    ReplicaMove,
    /// A key set on a server whose service does not have it (`vcores` on a flexible server).
    KeyNotInService,
    /// A replica of a server of the other service.
    ReplicaAcrossServices,
    /// High availability on a tier without it (Burstable).
    HaNotOffered,
    /// High availability on a read replica.
    HaOnReplica,
    /// A zone outside 1–3, or a standby zone without `high_availability = "ZoneRedundant"` or
    /// equal to the zone.
    InvalidZone,
    /// SameZone ↔ ZoneRedundant in one update: HA must be disabled first.
    HaModeSwitch,
    /// Geo-redundant backup on a Flexible Server read replica (replicas have no backups).
    GeoBackupOnReplica,
    /// A Flexible Server replica without storage autogrow while its primary has it.
    ReplicaAutogrowBehindPrimary,
    /// Premium SSD v2 where it is not offered: Burstable, PostgreSQL before 14, with autogrow.
    StorageTypeNotOffered,
    /// IOPS or throughput outside Premium SSD v2's range, or set without Premium SSD v2.
    InvalidStoragePerformance,
    /// A maintenance window outside 0–23 h, 0–59 min.
    InvalidMaintenanceWindow,
    /// A failover of a server without high availability (or of a Single Server).
    FailoverWithoutHa,
    /// A Flexible Server major version upgrade while the server has read replicas.
    UpgradeWithReplicas,
    /// A server parameter the service does not have.
    UnknownParameter,
    /// A parameter users cannot set (Single Server: not in the modifiable list; read-only ones).
    ParameterNotSettable,
    /// A parameter value outside its type or documented range.
    InvalidParameterValue,
    /// A firewall rule whose name or range the service refuses.
    InvalidFirewallRule,
    /// A database name the service refuses, or a system database.
    InvalidDatabaseName,
    /// A database declared on a read replica (it is read-only).
    DatabaseOnReplica,
    /// A replica's `max_connections`-like parameter below its primary's.
    ReplicaParameterBelowPrimary,
}

impl Rule {
    /// Every rule, in the order of `docs/service-rules.md`.
    pub const ALL: [Rule; 46] = [
        Rule::InvalidServerName,
        Rule::InvalidAdminLogin,
        Rule::SkuNotOffered,
        Rule::StorageOutOfRange,
        Rule::RetentionOutOfRange,
        Rule::GeoBackupNotOffered,
        Rule::TlsWithoutSsl,
        Rule::RetiredVersion,
        Rule::ReservedTag,
        Rule::TierChangeNotInPlace,
        Rule::StorageShrink,
        Rule::FlexibleStorageShrink,
        Rule::CreateOnlyChange,
        Rule::VersionDowngrade,
        Rule::ReplicaAutogrowOff,
        Rule::ReplicaOfReplica,
        Rule::ReplicaOnBasic,
        Rule::TooManyReplicas,
        Rule::ReplicationSupportOff,
        Rule::ReplicaSmallerThanPrimary,
        Rule::PrimaryLargerThanReplica,
        Rule::ReplicaDiffersFromPrimary,
        Rule::PasswordChangeOnReplica,
        Rule::NotAReplica,
        Rule::ServerToReplica,
        Rule::ReplicaMove,
        Rule::KeyNotInService,
        Rule::ReplicaAcrossServices,
        Rule::HaNotOffered,
        Rule::HaOnReplica,
        Rule::InvalidZone,
        Rule::HaModeSwitch,
        Rule::GeoBackupOnReplica,
        Rule::ReplicaAutogrowBehindPrimary,
        Rule::StorageTypeNotOffered,
        Rule::InvalidStoragePerformance,
        Rule::InvalidMaintenanceWindow,
        Rule::FailoverWithoutHa,
        Rule::UpgradeWithReplicas,
        Rule::UnknownParameter,
        Rule::ParameterNotSettable,
        Rule::InvalidParameterValue,
        Rule::InvalidFirewallRule,
        Rule::InvalidDatabaseName,
        Rule::DatabaseOnReplica,
        Rule::ReplicaParameterBelowPrimary,
    ];

    /// The error code every backend answers this rule with, and whose it is.
    pub fn code(self) -> (&'static str, CodeOrigin) {
        use CodeOrigin::{Pgfleet, Service};
        match self {
            Rule::InvalidServerName => ("InvalidServerName", Pgfleet),
            Rule::InvalidAdminLogin => ("InvalidAdministratorLogin", Pgfleet),
            Rule::SkuNotOffered => ("InvalidSkuName", Pgfleet),
            Rule::StorageOutOfRange => ("InvalidStorageSize", Pgfleet),
            Rule::RetentionOutOfRange => ("InvalidBackupRetentionDays", Pgfleet),
            Rule::GeoBackupNotOffered => ("GeoRedundantBackupNotSupported", Pgfleet),
            Rule::TlsWithoutSsl => ("InvalidMinimalTlsVersion", Pgfleet),
            Rule::RetiredVersion => ("InvalidServerVersion", Pgfleet),
            Rule::ReservedTag => ("ReservedTag", Pgfleet),
            Rule::TierChangeNotInPlace => ("InvalidUpgradeEdition", Service),
            Rule::StorageShrink => ("UnsupportedUpdate", Service),
            Rule::FlexibleStorageShrink => {
                ("UpsertServerManagementOperationDowngradeDiskSizeUnsupported", Service)
            }
            Rule::CreateOnlyChange => ("UnsupportedUpdate", Service),
            Rule::VersionDowngrade => ("VersionDowngradeNotSupported", Pgfleet),
            Rule::ReplicaAutogrowOff => ("UnsupportedUpdate", Service),
            Rule::ReplicaOfReplica => ("ReplicaOfReplicaNotSupported", Pgfleet),
            Rule::ReplicaOnBasic => ("ReplicationNotSupportedForBasicTier", Pgfleet),
            Rule::TooManyReplicas => ("ReplicaCountExceeded", Pgfleet),
            Rule::ReplicationSupportOff => ("ReplicationSupportNotEnabled", Pgfleet),
            Rule::ReplicaSmallerThanPrimary => ("ReplicaSmallerThanMaster", Pgfleet),
            Rule::PrimaryLargerThanReplica => ("MasterLargerThanReplica", Pgfleet),
            Rule::ReplicaDiffersFromPrimary => ("ReplicaPropertyMismatch", Pgfleet),
            Rule::PasswordChangeOnReplica => ("PasswordChangeOnReplicaNotSupported", Pgfleet),
            Rule::NotAReplica => ("ServerIsNotReplica", Pgfleet),
            Rule::ServerToReplica => ("ServerCannotBecomeReplica", Pgfleet),
            Rule::ReplicaMove => ("ReplicaSourceChangeNotSupported", Pgfleet),
            Rule::KeyNotInService => ("PropertyNotInService", Pgfleet),
            Rule::ReplicaAcrossServices => ("ReplicaAcrossServicesNotSupported", Pgfleet),
            Rule::HaNotOffered => ("HighAvailabilityNotSupportedForBurstableTier", Pgfleet),
            Rule::HaOnReplica => ("HighAvailabilityNotSupportedForReplica", Pgfleet),
            Rule::InvalidZone => ("InvalidAvailabilityZone", Pgfleet),
            Rule::HaModeSwitch => ("InvalidParameterValue", Service),
            Rule::GeoBackupOnReplica => ("GeoRedundantBackupNotSupportedForReplica", Pgfleet),
            Rule::ReplicaAutogrowBehindPrimary => ("ReplicaStorageAutoGrowRequired", Pgfleet),
            Rule::StorageTypeNotOffered => ("StorageTypeNotSupported", Pgfleet),
            Rule::InvalidStoragePerformance => ("InvalidStoragePerformance", Pgfleet),
            Rule::InvalidMaintenanceWindow => ("InvalidMaintenanceWindow", Pgfleet),
            Rule::FailoverWithoutHa => ("FailoverNotSupported", Pgfleet),
            Rule::UpgradeWithReplicas => ("MajorVersionUpgradeWithReplicas", Pgfleet),
            Rule::UnknownParameter => ("UnknownServerParameter", Pgfleet),
            Rule::ParameterNotSettable => ("ServerParameterNotModifiable", Pgfleet),
            Rule::InvalidParameterValue => ("InvalidServerParameterValue", Pgfleet),
            Rule::InvalidFirewallRule => ("InvalidFirewallRule", Pgfleet),
            Rule::InvalidDatabaseName => ("InvalidDatabaseName", Pgfleet),
            Rule::DatabaseOnReplica => ("DatabaseOnReplicaNotSupported", Pgfleet),
            Rule::ReplicaParameterBelowPrimary => ("ReplicaParameterBelowPrimary", Pgfleet),
        }
    }

    /// The code alone.
    pub fn code_str(self) -> &'static str {
        self.code().0
    }

    /// The rule whose code is `code`, when exactly one rule has it (`UnsupportedUpdate` is
    /// shared by several and answers `None`).
    pub fn from_code(code: &str) -> Option<Rule> {
        let mut found = Rule::ALL.into_iter().filter(|rule| rule.code_str() == code);
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// The anchor of the rule in `docs/service-rules.md`, which plans and errors cite.
    pub(crate) fn doc_anchor(self) -> String {
        format!("docs/service-rules.md#{}", self.code_str().to_ascii_lowercase())
    }

    /// The rule's name as `docs/service-rules.md` lists it (the variant's name).
    pub fn name(self) -> String {
        format!("{self:?}")
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// A refusal: which rule refused, the key it is about, what is wrong and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    /// The fleet-file key the refusal is about (where the validator points).
    pub key: Key,
    /// What is wrong, in a sentence without a trailing period.
    pub message: String,
    /// What to do instead.
    pub hint: String,
}

impl Refusal {
    pub fn new(rule: Rule, key: Key, message: impl Into<String>, hint: impl Into<String>) -> Refusal {
        Refusal { rule, key, message: message.into(), hint: hint.into() }
    }

    /// The code every backend answers with ([`Rule::code`]).
    pub fn code(&self) -> &'static str {
        self.rule.code_str()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}
