//! The validated fleet: what the rest of pgfleet reads once the fleet file has been parsed,
//! checked against every rule, and `[defaults]` inherited.

use crate::model::{ServerName, ServerSpec};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A fleet as the user wants it. Every server's spec is complete and passes the service's rules.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredFleet {
    /// `[fleet] name`: names the state file and, locally, the clusters' directory.
    pub name: String,
    pub provider: ProviderSettings,
    pub servers: BTreeMap<ServerName, DesiredServer>,
    /// `[state]`: where the state lives (a local file unless the file says otherwise).
    pub state: StateSettings,
    /// The file the fleet was read from, for messages and plan binding.
    pub source: SourceFile,
    /// `[pricing]`: the price table plans use.
    pub pricing: crate::cost::Pricing,
}

impl DesiredFleet {
    /// The fleet as it is desired at `at`: every server's timetable entry in force then applied
    /// to its base values (timetables stay, for the next change).
    pub fn at(mut self, at: chrono::DateTime<chrono::Utc>) -> DesiredFleet {
        // A server without a timetable is its base values at any moment.
        for server in self.servers.values_mut().filter(|server| !server.schedule.is_empty()) {
            server.spec = server.spec_at(at);
        }
        self
    }
}

/// The fleet file's path and the digest of its bytes (bound into saved plans).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    /// Hex sha256 of the file's bytes.
    pub sha256: String,
}

/// One server as the user wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredServer {
    pub name: ServerName,
    pub spec: ServerSpec,
    /// Where the admin password comes from; read only when a server is created.
    pub admin_password: SecretRef,
    /// Line of the server's `[servers.NAME]` header, so plans can point at it.
    pub line: usize,
    /// The server's timetable (see [`DesiredFleet::at`]).
    pub schedule: Vec<crate::schedule::Entry>,
    /// The values the file gives the server outside its timetable's windows; `spec` is this
    /// with the entry in force applied.
    pub base: ServerSpec,
}

impl DesiredServer {
    /// The spec with the timetable entry in force at `at` applied.
    pub fn spec_at(&self, at: chrono::DateTime<chrono::Utc>) -> ServerSpec {
        let mut spec = self.base.clone();
        if let Some(entry) = crate::schedule::in_force(&self.schedule, at) {
            apply_entry(&mut spec, entry);
        }
        spec
    }
}

/// What a timetable entry sets, on a spec.
pub fn apply_entry(spec: &mut ServerSpec, entry: &crate::schedule::Entry) {
    match (&entry.set, spec.flexible.as_mut()) {
        (crate::schedule::Scheduled::Sku(sku), Some(flexible)) => flexible.sku = sku.clone(),
        (crate::schedule::Scheduled::Vcores(vcores), None) => spec.vcores = *vcores,
        // The validator refuses an entry of the other service's key.
        _ => {}
    }
    spec.derive_compute();
}

/// Where a secret is read from. The fleet file never holds a secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable's name.
    Env(String),
    /// A file whose contents (trailing newline removed) are the secret.
    File(PathBuf),
}

/// The provider section of the chosen kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSettings {
    Local(LocalSettings),
    Azure(AzureSettings),
}

impl ProviderSettings {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ProviderSettings::Local(_) => "local",
            ProviderSettings::Azure(_) => "azure",
        }
    }

    /// Whether a migrated server is reached where it was before. Locally the new cluster takes
    /// the server's port; on Azure the new server keeps the name it was created under (the
    /// staging name), and a server's name is its host name, so clients must move.
    pub(crate) fn keeps_endpoint_on_cutover(&self) -> bool {
        match self {
            ProviderSettings::Local(_) => true,
            ProviderSettings::Azure(_) => false,
        }
    }

    /// The location servers get when they do not name one: the Azure region, or `local`.
    pub(crate) fn default_location(&self) -> &str {
        match self {
            ProviderSettings::Local(_) => crate::model::LOCAL_LOCATION,
            ProviderSettings::Azure(azure) => &azure.location,
        }
    }
}

/// `[provider.local]`: real PostgreSQL clusters on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    /// Data directories live under `ROOT/<fleet>/<server>`.
    pub root: PathBuf,
    /// The first port tried when a server gets its port.
    pub port_base: u16,
}

/// `[provider.azure]`: the ARM REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureSettings {
    pub subscription_id: String,
    pub resource_group: String,
    pub location: String,
    /// The ARM endpoint, `https://management.azure.com` unless pointed at the emulator.
    pub endpoint: String,
}

/// `[state]`: where the fleet's state, journal, backup and lock live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StateSettings {
    /// `state/<fleet>.state.json` (or `--state PATH`).
    #[default]
    Local,
    Azurerm(AzurermStateSettings),
    Pg(PgStateSettings),
}

impl StateSettings {
    /// The backend's name as the fleet file writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            StateSettings::Local => "local",
            StateSettings::Azurerm(_) => "azurerm",
            StateSettings::Pg(_) => "pg",
        }
    }
}

/// `[state.azurerm]`: a blob in Azure Blob Storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzurermStateSettings {
    pub account: String,
    pub container: String,
    /// The state blob's name (`<fleet>.state.json` unless the file names one).
    pub key: String,
    /// Where the account's access key comes from; `None`: the Azure credential chain.
    pub access_key: Option<SecretRef>,
    /// The Blob service's URL, without a trailing slash.
    pub endpoint: String,
}

/// `[state.pg]`: a table in a PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgStateSettings {
    /// Where the connection string comes from (it may hold a password).
    pub conn_str: SecretRef,
    /// The schema holding pgfleet's tables.
    pub schema: String,
}
