//! The vocabulary every stage shares: server names and addresses, the attributes that describe
//! a server (`ServerSpec`), and what a provider observed of a live server (`ObservedServer`).
//!
//! Plain data with no I/O. Maps are `BTreeMap`s so everything derived from them is deterministic.

use crate::rules::{
    self, FlexibleSku, Generation, HaMode, MaintenanceWindow, PgVersion, ReplicationSupport, Service,
    SkuInfo, StorageType, Tier, TlsVersion,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A server's name: the key of its `[servers.NAME]` table and its name on the service.
///
/// Construction does not validate the service's naming rule, so a name read from a file can be
/// reported precisely; `rules::server_name_problem` says what is wrong with one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ServerName(String);

impl ServerName {
    pub fn new(name: impl Into<String>) -> ServerName {
        ServerName(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The server's address (`servers.NAME`).
    pub fn address(&self) -> Address {
        Address::server(self.clone())
    }
}

/// The suffix of migration staging servers' names.
const STAGING_SUFFIX: &str = "-migration";

/// The location of the local provider's servers (an Azure server's is its region).
pub const LOCAL_LOCATION: &str = "local";

/// The staging server a migration of `name` builds its copy on: derived from the server's name,
/// at most 63 characters, so a re-run finds it again. The planner records it in the migrate
/// operation (and refuses a migration whose staging name is taken); the migration reads it from
/// there.
pub fn staging_name(name: &ServerName) -> ServerName {
    let keep = 63 - STAGING_SUFFIX.len();
    let base: String = name.as_str().chars().take(keep).collect();
    ServerName::new(format!("{}{STAGING_SUFFIX}", base.trim_end_matches('-')))
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ServerName {
    fn from(name: &str) -> ServerName {
        ServerName(name.to_string())
    }
}

/// The address of a managed object, as users type it: `servers.pay-main`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    server: ServerName,
}

impl Address {
    /// The prefix of server addresses.
    pub(crate) const SERVERS: &'static str = "servers";

    /// The server a command-line argument names: its address (`servers.pay-main`) or its name
    /// alone (`pay-main`); commands take either.
    pub(crate) fn server_named(argument: &str) -> ServerName {
        argument.parse::<Address>().map_or_else(|_| ServerName::new(argument), |address| address.server)
    }

    pub(crate) fn server(server: ServerName) -> Address {
        Address { server }
    }

    /// The server this address names.
    pub fn server_name(&self) -> &ServerName {
        &self.server
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", Address::SERVERS, self.server)
    }
}

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an address; addresses look like servers.NAME (for example servers.pay-main)")]
pub struct AddressParseError {
    pub input: String,
}

impl FromStr for Address {
    type Err = AddressParseError;

    fn from_str(input: &str) -> Result<Address, AddressParseError> {
        match input.split_once('.') {
            Some((Address::SERVERS, name)) if !name.is_empty() && !name.contains('.') => {
                Ok(Address::server(ServerName::new(name)))
            }
            _ => Err(AddressParseError { input: input.to_string() }),
        }
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Address {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Address".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^servers\\.[^.]+$" })
    }
}

/// Everything that describes one server, desired or observed. Secrets are not part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServerSpec {
    pub tier: Tier,
    pub generation: Generation,
    pub vcores: u32,
    pub storage_gb: u32,
    pub version: PgVersion,
    pub backup_retention_days: u32,
    pub geo_redundant_backup: bool,
    pub storage_autogrow: bool,
    pub ssl_enforcement: bool,
    pub minimal_tls_version: TlsVersion,
    pub admin_login: String,
    /// The region (`westeurope`), or `local` for the local provider.
    pub location: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The primary this server replicates, if it is a read replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_of: Option<ServerName>,
    /// What only a Flexible Server has; `None` on a Single Server. On a flexible server `tier`
    /// and `vcores` are those of its SKU, and the Single Server keys (`generation`,
    /// `ssl_enforcement`, `minimal_tls_version`) keep their defaults and are never compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flexible: Option<FlexibleSpec>,
    /// Server parameters set on the server, by the catalog's name, as the service spells the
    /// value (`work_mem = "16384"`); parameters at the service's default are not listed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Firewall rules, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub firewall_rules: BTreeMap<String, FirewallRange>,
    /// The server's databases, by name (system databases are not listed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub databases: BTreeMap<String, DatabaseSpec>,
}

/// The names of the parameters, firewall rules and databases the fleet file declares for a
/// server: what pgfleet manages. Recorded in the state when pgfleet applies a change, so that an
/// entry later removed from the file is reset, deleted or dropped, while what pgfleet never
/// managed is left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CarriedNames {
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub parameters: std::collections::BTreeSet<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub firewall_rules: std::collections::BTreeSet<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub databases: std::collections::BTreeSet<String>,
}

impl CarriedNames {
    /// What a desired spec declares.
    pub fn of(spec: &ServerSpec) -> CarriedNames {
        CarriedNames {
            parameters: spec.parameters.keys().cloned().collect(),
            firewall_rules: spec.firewall_rules.keys().cloned().collect(),
            databases: spec.databases.keys().cloned().collect(),
        }
    }
}

/// The IPv4 addresses a firewall rule admits, `start` to `end` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct FirewallRange {
    pub start: std::net::Ipv4Addr,
    pub end: std::net::Ipv4Addr,
}

impl FirewallRange {
    /// The CIDR blocks that cover the range exactly (what `pg_hba.conf` takes).
    pub fn cidr_blocks(&self) -> Vec<String> {
        let (mut start, end) = (u64::from(u32::from(self.start)), u64::from(u32::from(self.end)));
        let mut blocks = Vec::new();
        while start <= end {
            // The largest block aligned at `start` that ends at or before `end`.
            let mut size: u64 = if start == 0 { 1 << 32 } else { 1 << start.trailing_zeros().min(32) };
            while start + size - 1 > end {
                size >>= 1;
            }
            let prefix = 32 - size.trailing_zeros();
            let address = std::net::Ipv4Addr::from(u32::try_from(start).unwrap_or(u32::MAX));
            blocks.push(format!("{address}/{prefix}"));
            start += size;
        }
        blocks
    }
}

impl fmt::Display for FirewallRange {
    /// As the fleet file writes it: one address, or `START-END`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// A database a server carries: its charset and collation, set at create (the service's and
/// PostgreSQL's defaults when unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DatabaseSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
}

/// The settings only a Flexible Server has (DESIGN.md, "Two services").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FlexibleSpec {
    /// The compute size (`Standard_D4ds_v5`).
    pub sku: String,
    #[serde(default)]
    pub storage_type: StorageType,
    /// Provisioned IOPS (Premium SSD v2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<u32>,
    /// Provisioned throughput in MB/s (Premium SSD v2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<u32>,
    #[serde(default)]
    pub high_availability: HaMode,
    /// The availability zone of the server (of the primary, with HA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The standby's availability zone (ZoneRedundant HA only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_zone: Option<String>,
    /// A custom maintenance window; `None` lets the service choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<MaintenanceWindow>,
    #[serde(default = "public_by_default")]
    pub public_network_access: bool,
}

fn public_by_default() -> bool {
    true
}

impl FlexibleSpec {
    /// A flexible server of `sku` on Premium SSD, without HA, zone or maintenance window.
    pub fn new(sku: impl Into<String>) -> FlexibleSpec {
        FlexibleSpec {
            sku: sku.into(),
            storage_type: StorageType::Premium,
            iops: None,
            throughput: None,
            high_availability: HaMode::Disabled,
            zone: None,
            standby_zone: None,
            maintenance_window: None,
            public_network_access: true,
        }
    }

    /// The facts `rules::check` reads.
    pub(crate) fn shape(&self) -> rules::FlexibleShape<'_> {
        rules::FlexibleShape {
            sku: &self.sku,
            storage_type: self.storage_type,
            iops: self.iops,
            throughput: self.throughput,
            high_availability: self.high_availability,
            zone: self.zone.as_deref(),
            standby_zone: self.standby_zone.as_deref(),
            maintenance_window: self.maintenance_window,
        }
    }
}

impl ServerSpec {
    /// A standalone server of `tier` with `vcores` and `storage_gb` on `version`, everything else
    /// as a fleet file leaves it when unset (the service's defaults in `rules`: Gen5, 7 days of backups,
    /// no geo-redundancy, storage auto-grow, SSL enforced with TLS 1.2 at least, no tags).
    pub fn new(
        tier: Tier,
        vcores: u32,
        storage_gb: u32,
        version: PgVersion,
        admin_login: impl Into<String>,
        location: impl Into<String>,
    ) -> ServerSpec {
        use crate::rules as raw;
        ServerSpec {
            tier,
            generation: raw::DEFAULT_GENERATION,
            vcores,
            storage_gb,
            version,
            backup_retention_days: raw::DEFAULT_RETENTION_DAYS,
            geo_redundant_backup: raw::DEFAULT_GEO_REDUNDANT_BACKUP,
            storage_autogrow: raw::DEFAULT_STORAGE_AUTOGROW,
            ssl_enforcement: raw::DEFAULT_SSL_ENFORCEMENT,
            minimal_tls_version: TlsVersion::Tls1_2,
            admin_login: admin_login.into(),
            location: location.into(),
            tags: BTreeMap::new(),
            replica_of: None,
            flexible: None,
            parameters: BTreeMap::new(),
            firewall_rules: BTreeMap::new(),
            databases: BTreeMap::new(),
        }
    }

    /// A standalone Flexible Server of `sku` with `storage_gb` on `version`: tier and vCores from
    /// the SKU, everything else as a fleet file leaves it when unset.
    pub fn flexible(
        sku: &str,
        storage_gb: u32,
        version: PgVersion,
        admin_login: impl Into<String>,
        location: impl Into<String>,
    ) -> ServerSpec {
        let mut spec = ServerSpec::new(Tier::GeneralPurpose, 0, storage_gb, version, admin_login, location);
        spec.storage_autogrow = rules::default_storage_autogrow(Service::Flexible);
        spec.flexible = Some(FlexibleSpec::new(sku));
        spec.derive_compute();
        spec
    }

    /// Which service runs the server.
    pub fn service(&self) -> Service {
        if self.flexible.is_some() { Service::Flexible } else { Service::Single }
    }

    /// The flexible SKU's catalog row, on a flexible server whose SKU pgfleet knows.
    pub fn flexible_sku(&self) -> Option<&'static FlexibleSku> {
        self.flexible.as_ref().and_then(|flexible| rules::flexible_sku(&flexible.sku))
    }

    /// Sets a flexible server's tier and vCores from its SKU (an unknown SKU keeps them).
    pub(crate) fn derive_compute(&mut self) {
        if let Some(sku) = self.flexible_sku() {
            self.tier = sku.tier;
            self.vcores = sku.vcores;
        }
    }

    /// The SKU catalog row, when the tier, generation and vCores name a SKU the service sells.
    pub fn sku(&self) -> Option<&'static SkuInfo> {
        rules::sku(self.tier, self.generation, self.vcores)
    }

    /// The SKU name: a flexible server's (`Standard_D4ds_v5`), or the Single Server name
    /// derived from tier, generation and vCores (`GP_Gen5_8`), formed even when the catalog has
    /// no such SKU.
    pub fn sku_name(&self) -> String {
        match &self.flexible {
            Some(flexible) => flexible.sku.clone(),
            None => format!("{}_{}_{}", self.tier.sku_prefix(), self.generation, self.vcores),
        }
    }

    /// The size that replica rules compare (`rules::replica_fits`).
    pub(crate) fn size(&self) -> rules::SkuSize {
        rules::SkuSize {
            service: self.service(),
            tier: self.tier,
            generation: self.generation,
            vcores: self.vcores,
            storage_gb: self.storage_gb,
        }
    }

    pub fn is_replica(&self) -> bool {
        self.replica_of.is_some()
    }

    /// The facts `rules::check` reads, for the server called `name`.
    pub(crate) fn shape<'a>(&'a self, name: &'a str) -> rules::Shape<'a> {
        rules::Shape {
            name,
            tier: self.tier,
            generation: self.generation,
            vcores: self.vcores,
            storage_gb: self.storage_gb,
            version: self.version,
            backup_retention_days: self.backup_retention_days,
            geo_redundant_backup: self.geo_redundant_backup,
            storage_autogrow: self.storage_autogrow,
            ssl_enforcement: self.ssl_enforcement,
            minimal_tls_version: self.minimal_tls_version,
            admin_login: &self.admin_login,
            location: &self.location,
            replica_of: self.replica_of.as_ref().map(ServerName::as_str),
            flexible: self.flexible.as_ref().map(FlexibleSpec::shape),
        }
    }
}

/// The state a provider reports a server in (`userVisibleState` on Azure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServerStatus {
    Ready,
    /// Being created or not yet visible after create.
    Creating,
    /// Restarting or scaling; connections fail for a while.
    Restarting,
    /// Unreachable (Azure's `Inaccessible`), or a local cluster that is not running.
    Inaccessible,
    Disabled,
    Dropping,
}

/// Where clients connect to a server. Never holds a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// The login as clients must spell it (`fleetadmin@pay-main` on Azure).
    pub user: String,
    pub database: String,
}

impl Endpoint {
    /// The libpq connection URI without a password
    /// (`postgresql://fleetadmin@127.0.0.1:54321/postgres`).
    pub(crate) fn uri(&self) -> String {
        let user = percent_encode_userinfo(&self.user);
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("postgresql://{user}@{host}:{}/{}", self.port, self.database)
    }
}

/// Escapes what may not appear raw in a URI's user part (RFC 3986), such as the `@` of
/// `user@server` logins.
fn percent_encode_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// What a provider observed of one live server; also what the state file records of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObservedServer {
    pub name: ServerName,
    /// The provider's id (an ARM resource id, or the local cluster's directory).
    pub provider_id: String,
    pub spec: ServerSpec,
    pub status: ServerStatus,
    /// `azure.replication_support`; replicas can be created only when it allows them.
    pub replication_support: ReplicationSupport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
}

/// Every live server a provider found for the fleet, by name.
pub type LiveFleet = BTreeMap<ServerName, ObservedServer>;

/// What happens to a server: a plan change's action, and what an interrupted step was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Migrate,
    Promote,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Migrate => "migrate",
            Action::Promote => "promote",
            Action::Delete => "delete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_deterministic_and_fit() {
        assert_eq!(staging_name(&"pay-main".into()).as_str(), "pay-main-migration");
        let long = ServerName::new("a".repeat(63));
        let staged = staging_name(&long);
        assert_eq!(staged.as_str().len(), 63);
        assert_eq!(staged, staging_name(&long));
        assert!(crate::rules::server_name_problem(staged.as_str()).is_none());
        let hyphen = ServerName::new(format!("{}-b", "a".repeat(52)));
        assert!(crate::rules::server_name_problem(staging_name(&hyphen).as_str()).is_none());
    }

    #[test]
    fn addresses_round_trip() {
        let address: Address = "servers.pay-main".parse().unwrap();
        assert_eq!(address.server_name().as_str(), "pay-main");
        assert_eq!(address.to_string(), "servers.pay-main");
        for bad in ["pay-main", "servers.", "databases.x", "servers.a.b"] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoint_uri_has_no_password_and_escapes_the_login() {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: 54321,
            user: "fleetadmin".into(),
            database: "postgres".into(),
        };
        assert_eq!(endpoint.uri(), "postgresql://fleetadmin@127.0.0.1:54321/postgres");
        let azure = Endpoint { user: "fleetadmin@pay-main".into(), ..endpoint };
        assert_eq!(azure.uri(), "postgresql://fleetadmin%40pay-main@127.0.0.1:54321/postgres");
    }
}

/// The in-place changes of one PATCH: only the fields that change are set, so nothing the
/// service changed by itself (auto-grown storage) is sent back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServerPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<Generation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcores: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_gb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_retention_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_autogrow: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_enforcement: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimal_tls_version: Option<TlsVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Flexible Server: a new compute size (tier and vCores follow it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// Flexible Server: an in-place major version upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<PgVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<u32>,
    /// Flexible Server: HA enabled, disabled (or, never in one update, switched between modes),
    /// with the standby's zone when it is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_availability: Option<HaMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_zone: Option<Option<String>>,
    /// Flexible Server: a custom window, or `Some(None)` to let the service choose again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<Option<MaintenanceWindow>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<bool>,
    /// Parameters to set (`Some`) or to return to the service's default (`None`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Option<String>>,
    /// Firewall rules to create or change (`Some`), or to delete (`None`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub firewall_rules: BTreeMap<String, Option<FirewallRange>>,
    /// Databases to create (`Some`) or to drop (`None`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub databases: BTreeMap<String, Option<DatabaseSpec>>,
}

impl ServerPatch {
    pub fn is_empty(&self) -> bool {
        *self == ServerPatch::default()
    }

    /// Whether the patch changes compute (tier, generation, vCores or a flexible SKU): the SKU
    /// a PATCH sends.
    pub fn changes_compute(&self) -> bool {
        self.tier.is_some() || self.generation.is_some() || self.vcores.is_some() || self.sku.is_some()
    }

    /// The fleet-file keys the patch changes.
    pub(crate) fn keys(&self) -> Vec<rules::Key> {
        use rules::Key;
        [
            (Key::Tier, self.tier.is_some()),
            (Key::Generation, self.generation.is_some()),
            (Key::Vcores, self.vcores.is_some()),
            (Key::StorageGb, self.storage_gb.is_some()),
            (Key::BackupRetentionDays, self.backup_retention_days.is_some()),
            (Key::StorageAutogrow, self.storage_autogrow.is_some()),
            (Key::SslEnforcement, self.ssl_enforcement.is_some()),
            (Key::MinimalTlsVersion, self.minimal_tls_version.is_some()),
            (Key::Tags, self.tags.is_some()),
            (Key::Sku, self.sku.is_some()),
            (Key::Version, self.version.is_some()),
            (Key::Iops, self.iops.is_some()),
            (Key::Throughput, self.throughput.is_some()),
            (Key::HighAvailability, self.high_availability.is_some()),
            (Key::StandbyZone, self.standby_zone.is_some()),
            (Key::MaintenanceWindow, self.maintenance_window.is_some()),
            (Key::PublicNetworkAccess, self.public_network_access.is_some()),
            (Key::Parameters, !self.parameters.is_empty()),
            (Key::FirewallRules, !self.firewall_rules.is_empty()),
            (Key::Databases, !self.databases.is_empty()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }

    /// The rules of the properties the patch changes on `current` (storage judged with its
    /// sizes: some flexible grows restart).
    pub(crate) fn rules(&self, current: &ServerSpec) -> Vec<rules::PropertyRule> {
        use rules::Key;
        let service = current.service();
        self.keys()
            .into_iter()
            .filter_map(|key| match (key, &current.flexible, self.storage_gb) {
                (Key::StorageGb, Some(flexible), Some(to)) => {
                    Some(rules::flexible_storage_rule(flexible.storage_type, current.storage_gb, to))
                }
                (Key::Parameters, _, _) if self.sets_static_parameter(service) => {
                    Some(rules::static_parameter_rule(service))
                }
                _ => rules::property_rule(service, key).copied(),
            })
            .collect()
    }

    /// Whether the patch sets (or resets) a parameter that takes effect only at a restart.
    pub fn sets_static_parameter(&self, service: Service) -> bool {
        self.parameters.keys().any(|name| rules::parameter_restarts(service, name))
    }

    /// Whether applying the patch to `current` restarts the server.
    pub fn restarts(&self, current: &ServerSpec) -> bool {
        self.rules(current).iter().any(|rule| rule.change.restarts())
    }

    /// The spec after the patch.
    pub(crate) fn apply_to(&self, spec: &ServerSpec) -> ServerSpec {
        let mut next = spec.clone();
        if let Some(tier) = self.tier {
            next.tier = tier;
        }
        if let Some(generation) = self.generation {
            next.generation = generation;
        }
        if let Some(vcores) = self.vcores {
            next.vcores = vcores;
        }
        if let Some(storage_gb) = self.storage_gb {
            next.storage_gb = storage_gb;
        }
        if let Some(days) = self.backup_retention_days {
            next.backup_retention_days = days;
        }
        if let Some(autogrow) = self.storage_autogrow {
            next.storage_autogrow = autogrow;
        }
        if let Some(ssl) = self.ssl_enforcement {
            next.ssl_enforcement = ssl;
        }
        if let Some(tls) = self.minimal_tls_version {
            next.minimal_tls_version = tls;
        }
        if let Some(tags) = &self.tags {
            next.tags = tags.clone();
        }
        if let Some(version) = self.version {
            next.version = version;
        }
        if let Some(flexible) = &mut next.flexible {
            if let Some(sku) = &self.sku {
                flexible.sku = sku.clone();
            }
            if let Some(iops) = self.iops {
                flexible.iops = Some(iops);
            }
            if let Some(throughput) = self.throughput {
                flexible.throughput = Some(throughput);
            }
            if let Some(mode) = self.high_availability {
                flexible.high_availability = mode;
                if !mode.is_enabled() {
                    // No standby, so no standby zone.
                    flexible.standby_zone = None;
                }
            }
            if let Some(zone) = &self.standby_zone {
                flexible.standby_zone = zone.clone();
            }
            if let Some(window) = self.maintenance_window {
                flexible.maintenance_window = window;
            }
            if let Some(public) = self.public_network_access {
                flexible.public_network_access = public;
            }
        }
        for (name, value) in &self.parameters {
            match value {
                Some(value) => next.parameters.insert(name.clone(), value.clone()),
                None => next.parameters.remove(name),
            };
        }
        for (name, range) in &self.firewall_rules {
            match range {
                Some(range) => next.firewall_rules.insert(name.clone(), *range),
                None => next.firewall_rules.remove(name),
            };
        }
        for (name, database) in &self.databases {
            match database {
                Some(database) => next.databases.insert(name.clone(), database.clone()),
                None => next.databases.remove(name),
            };
        }
        next.derive_compute();
        next
    }
}
