//! The `azure` provider: real Azure Database for PostgreSQL servers
//! (`Microsoft.DBforPostgreSQL/servers`, api-version 2017-12-01) over the ARM REST API.
//!
//! Owns: the mapping of `Provider` operations to ARM calls (DOMAIN.md §4), waiting for
//! long-running operations and for `userVisibleState == Ready`, and what is learned on the way
//! (which resource group holds a server, what `azure.replication_support` is known to be).
//! Must not: retry a failed operation (the command's retrying layer around the provider does), or let a password or token reach a
//! log, an error message or the returned model.
//!
//! # What a refresh costs
//! One list request per resource group, plus one `Replicas` list per primary that the service
//! reports as `replicationRole: Master` (to find replicas in resource groups that are not
//! listed). Never one GET per server. `azure.replication_support` is not read per server:
//! a Basic server has no replication (rules); a primary with replicas allows them (the service
//! refused its replicas otherwise), reported as `REPLICA`; any other server reports what this
//! provider wrote or read earlier, else `OFF`. The cost of that guess is at most one
//! unnecessary parameter write and restart before a server's first replica;
//! [`AzureProvider::read_replication_support`] reads the real value with one GET when a caller
//! wants to avoid it.
//!
//! # Cutover
//! Server names are global DNS names and cannot be renamed. A cutover therefore keeps the
//! staging server under its Azure name, tags it `pgfleet-name = NAME` so every later refresh
//! reports it as `NAME`, and deletes the old server. Clients must move to the new host name,
//! which the returned endpoint carries. The staging server also gets `pgfleet-generation`, one
//! more than the server it replaces: until the old server is deleted it (the lower generation),
//! not the tagged staging server, is reported as `NAME`, so a cutover interrupted between the
//! tag and the delete is still planned as the migration, whose re-run finishes the cutover.
//! A server migrated before lives under its staging server's Azure name; its next migration's
//! staging server takes the first free `NAME-migration-2`, `-3` … instead, tagged with its
//! fleet name.

pub mod auth;
mod carried;
pub mod client;
pub mod flexible_wire;
mod locations;
mod mapping;
mod operations;
pub mod wire;

pub use auth::{Credential, ServicePrincipal};
pub use client::PollSettings;

use crate::config::AzureSettings;
use crate::model::ServerName;
use crate::providers::{ProviderError, ProviderErrorKind};
use crate::rules::{ReplicationSupport, Service};
use crate::secret::Redacted;
use client::ArmClient;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Everything the provider needs.
#[derive(Debug, Clone)]
pub struct AzureProviderOptions {
    /// `[provider.azure]`: subscription, resource group, location, ARM endpoint.
    pub settings: AzureSettings,
    /// The fleet's name (sent in the user agent).
    pub fleet: String,
    /// Admin passwords by server, for creates and for `connection`.
    pub passwords: BTreeMap<ServerName, Redacted<String>>,
    /// `None`: the environment decides ([`Credential::from_environment`]).
    pub credential: Option<Credential>,
    /// Further resource groups whose servers belong to the fleet (refresh lists each one);
    /// new servers are created in `settings.resource_group`.
    pub extra_resource_groups: Vec<String>,
    /// The servers whose parameters, firewall rules and databases refresh reads: three more
    /// requests per server, so only those the fleet file declares them for.
    pub read_carried: std::collections::BTreeSet<ServerName>,
    /// How often and how long to poll; `new` takes the interval from
    /// `PGFLEET_AZURE_POLL_INTERVAL` when it is set.
    pub polling: PollSettings,
    /// Why the environment's polling settings were not usable, reported by
    /// [`AzureProvider::new`] rather than ignored.
    environment_error: Option<String>,
}

impl AzureProviderOptions {
    /// Options with the default polling (its interval overridden by
    /// `PGFLEET_AZURE_POLL_INTERVAL`, see [`client::POLL_INTERVAL_VARIABLE`]) and no extra
    /// resource groups.
    pub fn new(
        settings: AzureSettings,
        fleet: impl Into<String>,
        passwords: BTreeMap<ServerName, Redacted<String>>,
    ) -> AzureProviderOptions {
        let (polling, environment_error) = match PollSettings::from_environment() {
            Ok(polling) => (polling, None),
            Err(problem) => (PollSettings::default(), Some(problem)),
        };
        AzureProviderOptions {
            settings,
            fleet: fleet.into(),
            passwords,
            credential: None,
            extra_resource_groups: Vec::new(),
            read_carried: std::collections::BTreeSet::new(),
            polling,
            environment_error,
        }
    }
}

/// Where a server lives on Azure.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerRef {
    resource_group: String,
    /// The Azure name (differs from the fleet name after a cutover).
    name: String,
    /// Which resource type holds it (`servers` or `flexibleServers`).
    service: Service,
}

/// The `azure` provider.
pub struct AzureProvider {
    client: ArmClient,
    settings: AzureSettings,
    extra_resource_groups: Vec<String>,
    read_carried: std::collections::BTreeSet<ServerName>,
    passwords: BTreeMap<ServerName, Redacted<String>>,
    /// Where each fleet server lives, learned from refreshes, creates and cutovers.
    locations: Mutex<locations::Locations>,
    /// `azure.replication_support` values this provider wrote or read.
    replication: Mutex<BTreeMap<ServerName, ReplicationSupport>>,
}

impl std::fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureProvider").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl AzureProvider {
    /// Builds the provider; no request is sent until the first operation.
    ///
    /// # Errors
    /// `Other` when the HTTP client cannot be built (no TLS backend), or
    /// `PGFLEET_AZURE_POLL_INTERVAL` is not a duration.
    pub fn new(options: AzureProviderOptions) -> Result<AzureProvider, ProviderError> {
        if let Some(problem) = options.environment_error {
            return Err(ProviderError::new(ProviderErrorKind::Other, problem));
        }
        let mut http = reqwest::Client::builder()
            .user_agent(format!("pgfleet/{} (fleet {})", env!("CARGO_PKG_VERSION"), options.fleet))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120));
        for certificate in extra_roots()? {
            http = http.add_root_certificate(certificate);
        }
        let http = http
            .build()
            .map_err(|e| ProviderError::new(ProviderErrorKind::Other, format!("HTTP client: {e}")))?;
        let credential = options.credential.unwrap_or_else(Credential::from_environment);
        let tokens = auth::TokenCache::new(credential, http.clone());
        let client = ArmClient::new(
            &options.settings.endpoint,
            &options.settings.subscription_id,
            tokens,
            http,
            options.polling,
        );
        Ok(AzureProvider {
            client,
            locations: Mutex::new(locations::Locations::new(&options.settings.subscription_id)),
            settings: options.settings,
            extra_resource_groups: options.extra_resource_groups,
            read_carried: options.read_carried,
            passwords: options.passwords,
            replication: Mutex::new(BTreeMap::new()),
        })
    }

    /// Where a server is: where a refresh, create or cutover found it, else under its own name in
    /// the fleet's resource group, as a Single Server (every apply refreshes before it writes,
    /// so a server pgfleet changes has been found by then).
    fn resolve(&self, name: &ServerName) -> ServerRef {
        self.locations.lock().ok().and_then(|m| m.get(name).cloned()).unwrap_or_else(|| ServerRef {
            resource_group: self.settings.resource_group.clone(),
            name: name.as_str().to_string(),
            service: Service::Single,
        })
    }

    /// Where a new server `name` goes: where it already is (a re-run of its create), else under
    /// its own name unless another server of the fleet lives there — a server migrated before
    /// keeps its staging server's Azure name, which its next migration's staging server would
    /// otherwise take — then under the first free `NAME-2`, `NAME-3` …
    fn location_for_new(&self, name: &ServerName, service: Service) -> ServerRef {
        let wanted = ServerRef { service, ..self.resolve(name) };
        let Ok(locations) = self.locations.lock() else { return wanted };
        (1..)
            .map(|n: u32| match n {
                1 => wanted.clone(),
                n => {
                    let suffix = format!("-{n}");
                    let base: String = name.as_str().chars().take(63 - suffix.len()).collect();
                    ServerRef {
                        resource_group: wanted.resource_group.clone(),
                        name: format!("{}{suffix}", base.trim_end_matches('-')),
                        service,
                    }
                }
            })
            .find(|candidate| !locations.taken_by_other(candidate, name))
            .expect("a free name among unboundedly many")
    }

    fn remember(&self, name: &ServerName, location: ServerRef) {
        if let Ok(mut locations) = self.locations.lock() {
            locations.insert(name, location);
        }
    }

    fn forget(&self, name: &ServerName) {
        if let Ok(mut locations) = self.locations.lock() {
            locations.remove(name);
        }
    }

    fn known_replication(&self, name: &ServerName) -> Option<ReplicationSupport> {
        self.replication.lock().ok().and_then(|m| m.get(name).copied())
    }

    fn note_replication(&self, name: &ServerName, value: ReplicationSupport) {
        if let Ok(mut map) = self.replication.lock() {
            map.insert(name.clone(), value);
        }
    }

    /// The path of a server (`/resourceGroups/{rg}/providers/…/servers/{name}`, or
    /// `…/flexibleServers/{name}`).
    fn server_path(location: &ServerRef) -> String {
        match location.service {
            Service::Single => wire::server_path(&location.resource_group, &location.name),
            Service::Flexible => flexible_wire::server_path(&location.resource_group, &location.name),
        }
    }

    /// The ARM id of a server.
    fn server_id(&self, location: &ServerRef) -> String {
        arm_id(&self.settings.subscription_id, location)
    }
}

/// The ARM id of a server in a subscription.
fn arm_id(subscription_id: &str, location: &ServerRef) -> String {
    format!("/subscriptions/{subscription_id}{}", AzureProvider::server_path(location))
}

/// The variable naming a PEM file of further certificate authorities to trust (beside Mozilla's
/// roots): a corporate proxy's, or the CA of `pgfleet emulator --tls`.
pub const CA_FILE_VARIABLE: &str = "SSL_CERT_FILE";

/// The certificates of [`CA_FILE_VARIABLE`], none when it is unset.
pub(crate) fn extra_roots() -> Result<Vec<reqwest::Certificate>, ProviderError> {
    let Some(path) = std::env::var_os(CA_FILE_VARIABLE).filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let problem = |what: String| {
        ProviderError::new(
            ProviderErrorKind::Other,
            format!("{CA_FILE_VARIABLE}={}: {what}", std::path::Path::new(&path).display()),
        )
    };
    let pem = std::fs::read(&path).map_err(|e| problem(e.to_string()))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| problem(e.to_string()))?;
    if roots.is_empty() {
        return Err(problem("no PEM certificate in the file".into()));
    }
    Ok(roots)
}

/// Parses a `azure.replication_support` value as the service spells it (any case).
pub(crate) fn parse_replication_support(value: &str) -> Option<ReplicationSupport> {
    match value.to_ascii_uppercase().as_str() {
        "OFF" => Some(ReplicationSupport::Off),
        "REPLICA" => Some(ReplicationSupport::Replica),
        "LOGICAL" => Some(ReplicationSupport::Logical),
        _ => None,
    }
}
