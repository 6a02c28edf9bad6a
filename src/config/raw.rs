//! The raw fleet file: a serde mirror of the TOML exactly as users write it, with unknown keys
//! denied. These types are the one source of the fleet file's key names and value types: the
//! JSON schema (`schemas/fleet.schema.json`) is derived from them, and so is what structural
//! checking expects of each table (`schema::Expected`). They hold what was written, nothing
//! inherited or checked; `resolve` and `validate` do that.

use crate::rules::{
    Generation, HaMode, MaintenanceWindow, PgVersion, Service, StorageType, Tier, TlsVersion,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

// The schema's root: the loader reads the sections one by one (so every error is reported),
// so nothing reads these fields but the schema generator.
/// A pgfleet fleet file: the servers of one fleet, where they run, and their shared defaults.
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "pgfleet fleet file")]
pub(crate) struct RawFleetFile {
    /// The fleet itself.
    pub fleet: RawFleet,
    /// Where the servers run: the local machine or Azure.
    pub provider: RawProvider,
    /// Values every server inherits unless it sets them itself. Every server key may appear
    /// here except `replica_of`.
    #[serde(default)]
    pub defaults: Option<RawServer>,
    /// The servers, by name. The name is the server's name on the service: 3–63 lowercase
    /// letters, digits and hyphens, not starting or ending with a hyphen.
    #[serde(default)]
    pub servers: BTreeMap<String, RawServer>,
    /// Where the state is kept: a local file (the default), Azure Blob Storage or a PostgreSQL
    /// database, so that a team shares one state and one lock.
    #[serde(default)]
    pub state: Option<RawState>,
    /// How plans price the fleet: the price table pgfleet ships (pricing/azure-postgresql.toml,
    /// with its sources and dates) unless a file of your own replaces some of it.
    #[serde(default)]
    pub pricing: Option<RawPricing>,
}

/// `[pricing]`: where plans take prices from.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPricing {
    /// A price table of your own (negotiated rates, other regions), in the shipped table's
    /// format: its region blocks replace the shipped ones, and a table in another currency
    /// replaces the whole. A relative path is relative to the fleet file's directory.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// The Azure region whose prices the local provider's servers take (`eastus`), to see what
    /// the fleet would cost on Azure. Without it, local servers are not priced.
    #[serde(default)]
    pub location: Option<String>,
}

/// `[fleet]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFleet {
    /// The fleet's name; it names the state file (`state/NAME.state.json`).
    pub name: String,
}

/// The kinds of provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProviderKind {
    Local,
    Azure,
}

/// `[provider]`: which provider runs the servers, and its settings.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    /// `"local"` runs real PostgreSQL clusters on this machine; `"azure"` manages Azure Database
    /// for PostgreSQL servers through the ARM API.
    pub kind: ProviderKind,
    /// Settings of the local provider; read only when `kind = "local"`.
    #[serde(default)]
    pub local: Option<RawLocal>,
    /// Settings of the Azure provider; required when `kind = "azure"`.
    #[serde(default)]
    pub azure: Option<RawAzure>,
}

/// `[provider.local]`: real PostgreSQL clusters on this machine.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLocal {
    /// Data directories live under `ROOT/<fleet>/<server>`. A relative path is relative to the
    /// fleet file's directory; when not set, `state/local` under the working directory.
    #[schemars(default = "default_local_root")]
    #[serde(default)]
    pub root: Option<PathBuf>,
    /// The first port tried when a server gets its port (1024–65535).
    #[schemars(default = "default_port_base")]
    #[serde(default)]
    pub port_base: Option<u32>,
}

/// `[provider.azure]`: the ARM REST API.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAzure {
    /// The Azure subscription's id.
    pub subscription_id: String,
    /// The resource group that holds the servers.
    pub resource_group: String,
    /// The region servers are created in unless they name one (`westeurope`).
    pub location: String,
    /// The ARM endpoint; override it to point at the emulator.
    #[schemars(default = "default_azure_endpoint")]
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// The kinds of state backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StateBackendKind {
    /// A file on this machine: `state/<fleet>.state.json` (or `--state PATH`).
    Local,
    /// A blob in Azure Blob Storage, leased while a command holds the lock.
    Azurerm,
    /// A table in a PostgreSQL database, locked with a session-level advisory lock.
    Pg,
}

/// `[state]`: where the fleet's state, its journal, its backup and its lock live.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawState {
    /// `"local"` (the default: `state/<fleet>.state.json`), `"azurerm"` (Azure Blob Storage,
    /// `[state.azurerm]`) or `"pg"` (a PostgreSQL database, `[state.pg]`).
    #[serde(default)]
    #[schemars(default = "default_state_backend")]
    pub backend: Option<StateBackendKind>,
    /// Settings of the azurerm backend; required when `backend = "azurerm"`.
    #[serde(default)]
    pub azurerm: Option<RawStateAzurerm>,
    /// Settings of the pg backend; required when `backend = "pg"`.
    #[serde(default)]
    pub pg: Option<RawStatePg>,
}

/// `[state.azurerm]`: the state as a blob in Azure Blob Storage, as Terraform's azurerm
/// backend keeps it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStateAzurerm {
    /// The storage account's name: 3–24 lowercase letters and digits.
    pub account: String,
    /// The blob container (created when missing): 3–63 lowercase letters, digits and single
    /// hyphens, starting and ending with a letter or digit.
    pub container: String,
    /// The state blob's name; the journal, backup and lock blobs are named after it. Defaults
    /// to `<fleet>.state.json`.
    #[serde(default)]
    pub key: Option<String>,
    /// Where the storage account's access key is read from: `{ env = "AZURE_STORAGE_KEY" }` or
    /// `{ file = "path" }`. Never the key itself. Absent: a token from the Azure credential
    /// chain (service principal, workload identity, Azure CLI, managed identity), which needs
    /// the role Storage Blob Data Contributor on the container.
    #[serde(default)]
    pub access_key: Option<RawSecret>,
    /// The Blob service's URL, `https://ACCOUNT.blob.core.windows.net` unless set; Azurite's is
    /// `http://127.0.0.1:10000/devstoreaccount1`.
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// `[state.pg]`: the state in a table of a PostgreSQL database, as Terraform's pg backend
/// keeps it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStatePg {
    /// Where the connection string is read from: `{ env = "PGFLEET_STATE_PG" }` or
    /// `{ file = "path" }` (a libpq key/value string or a `postgresql://` URI, which may hold a
    /// password). Never the string itself.
    pub conn_str: RawSecret,
    /// The schema holding pgfleet's tables (created when missing); a lowercase SQL identifier.
    #[serde(default)]
    #[schemars(default = "default_state_schema")]
    pub schema: Option<String>,
}

/// One server (`[servers.NAME]`), or the defaults every server inherits (`[defaults]`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// Which service runs the server: "single" (Single Server, the default) or "flexible"
    /// (Flexible Server). Changing it migrates the data to a server of the other service.
    #[serde(default)]
    #[schemars(default = "default_service")]
    pub service: Option<Service>,
    /// Makes this server a read replica of the named server of this fleet (not allowed in
    /// `[defaults]`).
    #[serde(default)]
    pub replica_of: Option<String>,
    /// Single Server: the pricing tier (Basic, GeneralPurpose, MemoryOptimized). Moving to or
    /// from Basic migrates the data to a new server.
    #[serde(default)]
    #[schemars(with = "Option<SingleTier>")]
    pub tier: Option<Tier>,
    /// Single Server: the hardware generation.
    #[serde(default)]
    #[schemars(default = "default_generation")]
    pub generation: Option<Generation>,
    /// Single Server: vCores, 1–2 on Basic; 2–32 on General Purpose Gen4, 2–64 on Gen5; 2–32 on
    /// Memory Optimized (Gen5 only). The SKU name (`GP_Gen5_8`) is derived from tier,
    /// generation and vCores.
    #[serde(default)]
    pub vcores: Option<u32>,
    /// Flexible Server: the compute size, as Azure names it (`Standard_B2s`, `Standard_D4ds_v5`,
    /// `Standard_E8ds_v5`); its tier and vCores are derived from it. Changing it restarts the
    /// server.
    #[serde(default)]
    pub sku: Option<String>,
    /// Storage: on Single Server whole GB, 5–1024 on Basic, 5–16384 on General Purpose and
    /// Memory Optimized; on Flexible Server one of the Premium SSD sizes (32, 64, 128, 256, 512,
    /// 1024, 2048, 4095, 4096, 8192, 16384, 32767 GiB), or 32–65536 GiB on Premium SSD v2.
    /// Storage can only grow.
    #[serde(default)]
    pub storage_gb: Option<u32>,
    /// Flexible Server: "Premium_LRS" (the default) or "PremiumV2_LRS"; set only at create.
    #[serde(default)]
    pub storage_type: Option<StorageType>,
    /// Flexible Server, Premium SSD v2: provisioned IOPS (3000–80000).
    #[serde(default)]
    pub iops: Option<u32>,
    /// Flexible Server, Premium SSD v2: provisioned throughput in MB/s (125–1200).
    #[serde(default)]
    pub throughput: Option<u32>,
    /// Flexible Server: "Disabled" (the default), "SameZone" or "ZoneRedundant"; not on
    /// Burstable or replicas.
    #[serde(default)]
    pub high_availability: Option<HaMode>,
    /// Flexible Server: the availability zone ("1", "2" or "3"); set at create. Swapping it
    /// with `standby_zone` is a planned failover.
    #[serde(default)]
    pub zone: Option<String>,
    /// Flexible Server: the standby's zone, with `high_availability = "ZoneRedundant"` only.
    #[serde(default)]
    pub standby_zone: Option<String>,
    /// Flexible Server: a weekly one-hour maintenance window in UTC,
    /// `{ day = "Sunday", hour = 2, minute = 0 }`; absent, the service picks one.
    #[serde(default)]
    pub maintenance_window: Option<MaintenanceWindow>,
    /// Flexible Server: whether the server accepts connections from public networks.
    #[serde(default)]
    #[schemars(default = "default_true")]
    pub public_network_access: Option<bool>,
    /// The PostgreSQL major version: "9.5"–"11" on Single Server (new servers "10" or "11"),
    /// "11"–"18" on Flexible Server. Upgrading migrates the data to a new server on Single
    /// Server and upgrades in place on Flexible Server.
    #[serde(default)]
    pub version: Option<PgVersion>,
    /// Days backups are kept (7–35).
    #[serde(default)]
    #[schemars(default = "default_retention")]
    pub backup_retention_days: Option<u32>,
    /// Geo-redundant backups (General Purpose and Memory Optimized only); set only at create.
    #[serde(default)]
    #[schemars(default = "default_false")]
    pub geo_redundant_backup: Option<bool>,
    /// Lets the service grow storage by itself when it runs low.
    #[serde(default)]
    #[schemars(default = "default_true")]
    pub storage_autogrow: Option<bool>,
    /// Single Server: requires clients to connect with SSL.
    #[serde(default)]
    #[schemars(default = "default_true")]
    pub ssl_enforcement: Option<bool>,
    /// Single Server: the lowest TLS version accepted; must be "TLSEnforcementDisabled" when
    /// `ssl_enforcement = false`. Defaults to "TLS1_2" (or "TLSEnforcementDisabled" without SSL).
    #[serde(default)]
    pub minimal_tls_version: Option<TlsVersion>,
    /// The administrator's login, set only at create. Not `admin`, `root`, `pg_…` and other
    /// names the service reserves.
    #[serde(default)]
    pub admin_login: Option<String>,
    /// Where the administrator's password is read from: `{ env = "VAR" }` or
    /// `{ file = "path" }` (relative to the fleet file). Never the password itself.
    #[serde(default)]
    pub admin_password: Option<RawSecret>,
    /// The Azure region of this server; defaults to the provider's location.
    #[serde(default)]
    pub location: Option<String>,
    /// Tags set on the server.
    #[serde(default)]
    pub tags: Option<BTreeMap<String, String>>,
    /// Server parameters, by name (`work_mem = "16MB"`, `max_connections = 800`), checked
    /// against the service's catalog; a static one restarts the server (the plan says so).
    /// Merged key by key with `[defaults]`; a replica takes its primary's unless it sets its
    /// own. Removed from the file, a parameter returns to the service's default.
    #[serde(default)]
    pub parameters: Option<BTreeMap<String, RawParameterValue>>,
    /// Firewall rules, by name: one IPv4 address (`ci = "198.51.100.7"`) or a range
    /// (`office = "203.0.113.0-203.0.113.255"`). Merged key by key with `[defaults]`; a replica
    /// takes its primary's unless it sets its own. Removed from the file, a rule is deleted.
    #[serde(default)]
    pub firewall_rules: Option<BTreeMap<String, String>>,
    /// Databases, by name, with their charset and collation (set at create). Not on replicas
    /// (they have their primary's). Removed from the file, a database is dropped: only with
    /// `--allow-delete`.
    #[serde(default)]
    pub databases: Option<BTreeMap<String, RawDatabase>>,
    /// A timetable: `[[servers.NAME.schedule]]` entries, each a weekly window during which the
    /// server's compute is another (`sku` on Flexible Server, `vcores` on Single Server; no
    /// other key is schedulable). Entries must not overlap; a replica is never, at any moment,
    /// smaller than its primary. Not in `[defaults]`.
    #[serde(default)]
    pub schedule: Option<Vec<RawScheduleEntry>>,
}

/// One `[[servers.NAME.schedule]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScheduleEntry {
    /// The days the window starts on: `"Mon-Fri"`, `"Sat,Sun"`, `"Fri-Mon"`, `"Mon"` or
    /// `"daily"`.
    pub days: String,
    /// When the window starts, `HH:MM` in `timezone`.
    pub from: String,
    /// When it ends, `HH:MM`; not after `from`, it ends the next day (`22:00` to `06:00`).
    pub to: String,
    /// An IANA timezone (`Europe/Amsterdam`, `UTC`); daylight-saving changes are its own.
    pub timezone: String,
    /// Flexible Server: the compute size while the window is open.
    #[serde(default)]
    pub sku: Option<String>,
    /// Single Server: the vCores while the window is open.
    #[serde(default)]
    pub vcores: Option<u32>,
}

/// A server parameter's value as written: a string, a number or a boolean.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawParameterValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
}

impl RawParameterValue {
    /// The value as the service's API carries it (booleans as `on`/`off`).
    pub(crate) fn text(&self) -> String {
        match self {
            RawParameterValue::Text(text) => text.clone(),
            RawParameterValue::Integer(number) => number.to_string(),
            RawParameterValue::Float(number) => number.to_string(),
            RawParameterValue::Boolean(true) => "on".to_string(),
            RawParameterValue::Boolean(false) => "off".to_string(),
        }
    }
}

impl JsonSchema for RawParameterValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ParameterValue".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["string", "integer", "number", "boolean"],
            "description": "The parameter's value: a string (with a unit, \"16MB\"), a number or a boolean."
        })
    }
}

/// `[servers.NAME.databases.DB]`: a database the server carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatabase {
    /// The character set (`UTF8`); set at create.
    #[serde(default)]
    pub charset: Option<String>,
    /// The collation (`en_US.utf8`); set at create.
    #[serde(default)]
    pub collation: Option<String>,
}

impl RawServer {
    /// The server keys this table sets (`replica_of` and `tags` included).
    pub(crate) fn keys_set(&self) -> Vec<crate::rules::Key> {
        use crate::rules::Key;
        [
            (Key::Service, self.service.is_some()),
            (Key::ReplicaOf, self.replica_of.is_some()),
            (Key::Tier, self.tier.is_some()),
            (Key::Generation, self.generation.is_some()),
            (Key::Vcores, self.vcores.is_some()),
            (Key::Sku, self.sku.is_some()),
            (Key::StorageGb, self.storage_gb.is_some()),
            (Key::StorageType, self.storage_type.is_some()),
            (Key::Iops, self.iops.is_some()),
            (Key::Throughput, self.throughput.is_some()),
            (Key::HighAvailability, self.high_availability.is_some()),
            (Key::Zone, self.zone.is_some()),
            (Key::StandbyZone, self.standby_zone.is_some()),
            (Key::MaintenanceWindow, self.maintenance_window.is_some()),
            (Key::PublicNetworkAccess, self.public_network_access.is_some()),
            (Key::Version, self.version.is_some()),
            (Key::BackupRetentionDays, self.backup_retention_days.is_some()),
            (Key::GeoRedundantBackup, self.geo_redundant_backup.is_some()),
            (Key::StorageAutogrow, self.storage_autogrow.is_some()),
            (Key::SslEnforcement, self.ssl_enforcement.is_some()),
            (Key::MinimalTlsVersion, self.minimal_tls_version.is_some()),
            (Key::AdminLogin, self.admin_login.is_some()),
            (Key::AdminPassword, self.admin_password.is_some()),
            (Key::Location, self.location.is_some()),
            (Key::Tags, self.tags.is_some()),
            (Key::Parameters, self.parameters.is_some()),
            (Key::FirewallRules, self.firewall_rules.is_some()),
            (Key::Databases, self.databases.is_some()),
            (Key::Schedule, self.schedule.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }
}

/// The tiers a Single Server's `tier` names, for the schema (Burstable is Flexible Server's,
/// and a flexible server's tier comes from its `sku`).
#[allow(dead_code)]
#[derive(JsonSchema)]
enum SingleTier {
    Basic,
    GeneralPurpose,
    MemoryOptimized,
}

/// A reference to a secret: the fleet file never holds the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum RawSecret {
    /// Read from this environment variable.
    Env(String),
    /// Read from this file (trailing newline removed); a relative path is relative to the fleet
    /// file's directory.
    File(PathBuf),
}

/// `[provider.local] root` when not set.
pub(crate) const DEFAULT_LOCAL_ROOT: &str = "state/local";
/// `[provider.local] port_base` when not set.
pub(crate) const DEFAULT_PORT_BASE: u16 = 54320;
/// `[state.pg] schema` when not set.
pub(crate) const DEFAULT_STATE_SCHEMA: &str = "pgfleet_state";
/// `[provider.azure] endpoint` when not set.
pub(crate) const DEFAULT_AZURE_ENDPOINT: &str = "https://management.azure.com";
/// What a server key is when neither the server nor `[defaults]` sets it: the service's own
/// defaults, which `rules` holds.
pub(crate) use crate::rules::{
    DEFAULT_GENERATION, DEFAULT_GEO_REDUNDANT_BACKUP, DEFAULT_RETENTION_DAYS, DEFAULT_SSL_ENFORCEMENT,
};

fn default_local_root() -> &'static str {
    DEFAULT_LOCAL_ROOT
}

fn default_port_base() -> u16 {
    DEFAULT_PORT_BASE
}

fn default_state_backend() -> StateBackendKind {
    StateBackendKind::Local
}

fn default_state_schema() -> &'static str {
    DEFAULT_STATE_SCHEMA
}

fn default_azure_endpoint() -> &'static str {
    DEFAULT_AZURE_ENDPOINT
}

fn default_service() -> Service {
    Service::Single
}

fn default_generation() -> Generation {
    DEFAULT_GENERATION
}

fn default_retention() -> u32 {
    DEFAULT_RETENTION_DAYS
}

fn default_false() -> bool {
    false
}

fn default_true() -> bool {
    true
}
