//! The raw fleet file: a serde mirror of the TOML exactly as users write it, with unknown keys
//! denied. These types are the one source of the fleet file's key names and value types: the
//! JSON schema (`schemas/fleet.schema.json`) is derived from them, and so is what structural
//! checking expects of each table (`schema::Expected`). They hold what was written, nothing
//! inherited or checked; `resolve` and `validate` do that.

use crate::rules::{Generation, PgVersion, Tier, TlsVersion};
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

/// One server (`[servers.NAME]`), or the defaults every server inherits (`[defaults]`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// Makes this server a read replica of the named server of this fleet (not allowed in
    /// `[defaults]`).
    #[serde(default)]
    pub replica_of: Option<String>,
    /// The pricing tier. Moving to or from Basic migrates the data to a new server.
    #[serde(default)]
    pub tier: Option<Tier>,
    /// The hardware generation.
    #[serde(default)]
    #[schemars(default = "default_generation")]
    pub generation: Option<Generation>,
    /// vCores: 1–2 on Basic; 2–32 on General Purpose Gen4, 2–64 on Gen5; 2–32 on Memory
    /// Optimized (Gen5 only). The SKU name (`GP_Gen5_8`) is derived from tier, generation and
    /// vCores.
    #[serde(default)]
    pub vcores: Option<u32>,
    /// Storage in whole GB: 5–1024 on Basic, 5–16384 on General Purpose and Memory Optimized.
    /// Storage can only grow.
    #[serde(default)]
    pub storage_gb: Option<u32>,
    /// The PostgreSQL major version ("10" or "11"; "9.5" and "9.6" are retired). Upgrading
    /// migrates the data to a new server.
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
    /// Requires clients to connect with SSL.
    #[serde(default)]
    #[schemars(default = "default_true")]
    pub ssl_enforcement: Option<bool>,
    /// The lowest TLS version accepted; must be "TLSEnforcementDisabled" when
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
/// `[provider.azure] endpoint` when not set.
pub(crate) const DEFAULT_AZURE_ENDPOINT: &str = "https://management.azure.com";
/// What a server key is when neither the server nor `[defaults]` sets it: the service's own
/// defaults, which `rules` holds.
pub(crate) use crate::rules::{
    DEFAULT_GENERATION, DEFAULT_GEO_REDUNDANT_BACKUP, DEFAULT_RETENTION_DAYS, DEFAULT_SSL_ENFORCEMENT,
    DEFAULT_STORAGE_AUTOGROW,
};

fn default_local_root() -> &'static str {
    DEFAULT_LOCAL_ROOT
}

fn default_port_base() -> u16 {
    DEFAULT_PORT_BASE
}

fn default_azure_endpoint() -> &'static str {
    DEFAULT_AZURE_ENDPOINT
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
