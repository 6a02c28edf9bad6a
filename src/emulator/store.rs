//! The emulator's servers and what the service does to them: create, update, promote, restart,
//! delete, each checked by `crate::rules::check` and refused with the rule's one code
//! ([`refused`]; the facts the rules read come from [`shape_of`]).
//!
//! Owns: the in-memory servers, their timing (invisible for a while after create, `Inaccessible`
//! during a restart or compute change, busy while an operation runs) and the async operations.
//! Must not: do I/O or know about HTTP beyond status codes; re-encode a rule that `rules` holds.
//!
//! The codes are `Rule::code` (docs/service-rules.md): the service's where one is recorded,
//! pgfleet's names for the rule where none is. Wire errors that are no rule (404, 409 busy,
//! a missing password, an unknown create mode) keep their own codes.

use crate::providers::azure::wire::{
    self, ServerForCreate, ServerProperties, ServerUpdateParameters, Sku, StorageProfile, enabled,
};
use crate::rules::{
    self, MAX_REPLICAS_PER_PRIMARY, PgVersion, Refusal, ReplicationSupport, Rule, Service, Shape, TlsVersion,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

pub use super::children::ChildMaps;
pub(crate) use super::extras::ServerExtras;
use super::flexible::EmFlexible;
pub(crate) use super::groups::ResourceGroup;
use super::operations::Operations;

/// A refusal: HTTP status, the service's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.to_string(), message: message.into() }
    }

    fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(400, code, message)
    }

    pub(super) fn not_found(name: &str) -> ApiError {
        ApiError::not_found_in(Service::Single, name)
    }

    /// ARM's 404 for a server of `service`.
    pub(crate) fn not_found_in(service: Service, name: &str) -> ApiError {
        ApiError::new(
            404,
            "ResourceNotFound",
            format!("The Resource '{}/{name}' was not found.", resource_type(service)),
        )
    }

    /// 409 while another operation runs on the server (or, for a new replica, on its source).
    pub(super) fn busy(name: &str) -> ApiError {
        ApiError::new(
            409,
            "AnotherOperationInProgress",
            format!("An operation is already in progress on server '{name}'; retry when it completes."),
        )
    }
}

/// How long operations take (the `--latency` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latencies {
    pub create: Duration,
    pub update: Duration,
    pub restart: Duration,
    pub delete: Duration,
    /// How long a new server answers 404 to GET after its create was accepted (eventual
    /// consistency, DOMAIN.md §4.5: 10–15 s on Azure), independent of the create's own time.
    pub invisible: Duration,
}

impl Default for Latencies {
    fn default() -> Latencies {
        Latencies {
            create: Duration::from_secs(2),
            update: Duration::from_secs(1),
            restart: Duration::from_millis(500),
            delete: Duration::from_millis(500),
            invisible: Duration::from_secs(1),
        }
    }
}

/// One emulated server. Timing fields are not persisted: a loaded server is settled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EmServer {
    pub subscription_id: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub sku: String,
    pub storage_mb: u64,
    pub backup_retention_days: u32,
    pub geo_redundant_backup: bool,
    pub storage_autogrow: bool,
    pub ssl_enforcement: bool,
    pub minimal_tls_version: String,
    pub version: String,
    pub administrator_login: String,
    /// The primary's name, on a replica.
    pub master: Option<String>,
    /// `azure.replication_support` as in force (it changes at the next restart).
    pub replication_effective: ReplicationSupport,
    /// Server parameters written by the user (configured values).
    pub configurations: BTreeMap<String, String>,
    pub children: ChildMaps,
    /// Settings beyond pgfleet's model, kept as sent (older state files have none: defaults).
    #[serde(default)]
    pub extras: ServerExtras,
    /// With `--backing local`: the loopback address of the server's gateway, reported as its
    /// `fullyQualifiedDomainName` (instead of `NAME.postgres.database.azure.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// What only a flexible server has; `None` on a Single Server (and in older state files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flexible: Option<EmFlexible>,
    /// Busy until the backing cluster has caught up with the last write (see `Store::hold`).
    #[serde(skip)]
    pub held: bool,
    /// GET answers 404 until then (eventual consistency after create).
    #[serde(skip)]
    pub visible_at: Option<Instant>,
    /// The operation in progress ends then; writes are refused with 409 until it does.
    #[serde(skip)]
    pub busy_until: Option<Instant>,
    /// `userVisibleState` while busy (`Inaccessible` during restarts and compute changes).
    #[serde(skip)]
    pub busy_state: Option<String>,
}

/// What a write answered: the status, the body if synchronous, the operation to poll if not.
#[derive(Debug, Clone)]
pub(crate) struct WriteOutcome {
    pub status: u16,
    pub body: Option<serde_json::Value>,
    pub operation: Option<(String, Duration)>,
    pub location: String,
}

/// All servers of the emulated subscription(s), by lowercase name (names are global).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Store {
    pub servers: super::servers::Servers,
    /// Resource groups, by lowercase `subscription/group` (older state files have none: the
    /// groups of their servers are made at load).
    #[serde(default)]
    pub resource_groups: BTreeMap<String, ResourceGroup>,
    #[serde(skip)]
    pub operations: Operations,
    #[serde(skip)]
    pub latencies: Latencies,
}

/// The catalog row of a SKU name: a parse step, refused with the code of the SKU rule.
///
/// # Errors
/// 400 `InvalidSkuName` for a name the catalog does not sell.
pub(crate) fn sku_of(name: &str) -> Result<&'static rules::SkuInfo, ApiError> {
    rules::sku_by_name(name).ok_or_else(|| {
        ApiError::bad_request(
            Rule::SkuNotOffered.code_str(),
            format!("The sku '{name}' is not a valid sku name."),
        )
    })
}

impl EmServer {
    /// A server with the service's defaults everywhere but its identity; creates fill in the rest.
    pub(crate) fn new(subscription_id: &str, resource_group: &str, name: &str, location: &str) -> EmServer {
        EmServer {
            subscription_id: subscription_id.to_string(),
            resource_group: resource_group.to_string(),
            name: name.to_string(),
            location: location.to_string(),
            tags: BTreeMap::new(),
            sku: String::new(),
            storage_mb: 0,
            backup_retention_days: 0,
            geo_redundant_backup: false,
            storage_autogrow: false,
            ssl_enforcement: true,
            minimal_tls_version: "TLSEnforcementDisabled".to_string(),
            version: String::new(),
            administrator_login: String::new(),
            master: None,
            replication_effective: ReplicationSupport::Off,
            configurations: BTreeMap::new(),
            children: ChildMaps::default(),
            extras: ServerExtras::default(),
            address: None,
            flexible: None,
            held: false,
            visible_at: None,
            busy_until: None,
            busy_state: None,
        }
    }

    /// Whether this is a Flexible Server (`flexibleServers`), not a Single Server.
    pub(crate) fn is_flexible(&self) -> bool {
        self.flexible.is_some()
    }

    pub(crate) fn service(&self) -> Service {
        if self.is_flexible() { Service::Flexible } else { Service::Single }
    }

    /// The ARM id (`…/servers/NAME` or `…/flexibleServers/NAME`).
    pub fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{}/{}",
            self.subscription_id,
            self.resource_group,
            resource_type(self.service()),
            self.name
        )
    }

    pub fn storage_gb(&self) -> u32 {
        u32::try_from(self.storage_mb / 1024).unwrap_or(u32::MAX)
    }

    pub(crate) fn is_busy_at(&self, now: Instant) -> bool {
        self.held || self.busy_until.is_some_and(|until| now < until)
    }

    /// The configured `azure.replication_support`, if the user wrote one.
    pub(crate) fn configured_replication_support(&self) -> Option<ReplicationSupport> {
        self.configurations
            .get(ReplicationSupport::PARAMETER)
            .and_then(|v| crate::providers::azure::parse_replication_support(v))
    }

    fn is_visible(&self, now: Instant) -> bool {
        self.visible_at.is_none_or(|at| now >= at)
    }

    pub fn busy(&mut self, now: Instant, duration: Duration, state: Option<&str>) {
        self.busy_until = Some(now + duration);
        self.busy_state = state.map(str::to_string);
    }
}

impl Store {
    pub fn new(latencies: Latencies) -> Store {
        Store { latencies, ..Store::default() }
    }

    /// The wire form of a server at `now`.
    pub(crate) fn to_wire(&self, server: &EmServer, now: Instant) -> wire::Server {
        let has_replicas =
            self.servers.replicas_of(&server.name.to_ascii_lowercase()).any(|replica| !replica.is_flexible());
        let role = match (&server.master, has_replicas) {
            (Some(_), _) => "Replica",
            (None, true) => "Master",
            (None, false) => "None",
        };
        let state = match &server.busy_state {
            Some(state) if server.is_busy_at(now) => state.clone(),
            _ => "Ready".to_string(),
        };
        let master_id = server.master.as_ref().and_then(|m| self.servers.get(m)).map(EmServer::id);
        wire::Server {
            id: server.id(),
            name: server.name.clone(),
            kind: wire::SERVER_TYPE.to_string(),
            location: server.location.clone(),
            tags: server.tags.clone(),
            sku: sku_of(&server.sku).ok().map(|info| Sku {
                name: info.name.to_string(),
                tier: Some(info.tier.as_str().to_string()),
                family: Some(info.generation.as_str().to_string()),
                capacity: Some(info.vcores),
            }),
            properties: ServerProperties {
                administrator_login: Some(server.administrator_login.clone()),
                storage_profile: Some(StorageProfile {
                    storage_mb: Some(server.storage_mb),
                    backup_retention_days: Some(server.backup_retention_days),
                    geo_redundant_backup: Some(enabled(server.geo_redundant_backup)),
                    storage_autogrow: Some(enabled(server.storage_autogrow)),
                }),
                version: Some(server.version.clone()),
                ssl_enforcement: Some(enabled(server.ssl_enforcement)),
                minimal_tls_version: Some(server.minimal_tls_version.clone()),
                user_visible_state: Some(state),
                fully_qualified_domain_name: Some(
                    server
                        .address
                        .clone()
                        .unwrap_or_else(|| format!("{}.postgres.database.azure.com", server.name)),
                ),
                earliest_restore_date: server.extras.created.clone(),
                replication_role: Some(role.to_string()),
                master_server_id: Some(master_id.unwrap_or_default()),
                replica_capacity: Some(if server.master.is_some() {
                    0
                } else {
                    MAX_REPLICAS_PER_PRIMARY as u32
                }),
                other: server.extras.wire_properties().into_iter().collect(),
            },
        }
    }

    /// The JSON of a server as GET and the lists answer it (the wire form and its identity).
    pub(crate) fn wire_json(&self, server: &EmServer, now: Instant) -> serde_json::Value {
        let mut value = serde_json::to_value(self.to_wire(server, now)).unwrap_or_default();
        if let (Some(identity), Some(object)) = (server.extras.wire_identity(), value.as_object_mut()) {
            object.insert("identity".to_string(), identity);
        }
        value
    }

    /// A visible Single Server in a resource group.
    ///
    /// # Errors
    /// 404 when it does not exist there (or is not visible yet).
    pub fn find(&self, resource_group: &str, name: &str, now: Instant) -> Result<&EmServer, ApiError> {
        self.find_in(Service::Single, resource_group, name, now)
    }

    /// A visible server of `service` in a resource group.
    ///
    /// # Errors
    /// 404 when it does not exist there (or is not visible yet).
    pub(crate) fn find_in(
        &self,
        service: Service,
        resource_group: &str,
        name: &str,
        now: Instant,
    ) -> Result<&EmServer, ApiError> {
        self.servers
            .get(&name.to_ascii_lowercase())
            .filter(|s| {
                s.service() == service
                    && s.resource_group.eq_ignore_ascii_case(resource_group)
                    && s.is_visible(now)
            })
            .ok_or_else(|| ApiError::not_found_in(service, name))
    }

    pub(crate) fn find_mut_in(
        &mut self,
        service: Service,
        resource_group: &str,
        name: &str,
        now: Instant,
    ) -> Result<&mut EmServer, ApiError> {
        self.find_in(service, resource_group, name, now)?;
        Ok(self.servers.get_mut(&name.to_ascii_lowercase()).expect("found above"))
    }

    pub(crate) fn find_mut(
        &mut self,
        resource_group: &str,
        name: &str,
        now: Instant,
    ) -> Result<&mut EmServer, ApiError> {
        self.find_mut_in(Service::Single, resource_group, name, now)
    }

    /// Starts an async operation and returns its id.
    pub(crate) fn start_operation(&mut self, duration: Duration, now: Instant) -> String {
        self.operations.start(duration, now)
    }

    /// Keeps an operation in progress, and its servers busy, until [`Store::release`]: the
    /// backing clusters are carrying the write out.
    pub fn hold(&mut self, operation: &str, servers: &[String]) {
        if let Some(operation) = self.operations.get_mut(operation) {
            operation.held = true;
        }
        for key in servers {
            if let Some(server) = self.servers.get_mut(key) {
                server.held = true;
            }
        }
    }

    /// Ends a hold: the operation completes (failed with `error`, if any) and its servers
    /// take writes again.
    pub(crate) fn release(&mut self, operation: &str, servers: &[String], error: Option<ApiError>) {
        if let Some(operation) = self.operations.get_mut(operation) {
            operation.held = false;
            // An injected failure (`Fault::Failed`) stands even when the cluster succeeded.
            operation.error = error.or(operation.error.take());
        }
        for key in servers {
            if let Some(server) = self.servers.get_mut(key) {
                server.held = false;
            }
        }
    }

    pub(crate) fn accepted_for(
        &mut self,
        server: &EmServer,
        duration: Duration,
        now: Instant,
    ) -> WriteOutcome {
        let id = self.start_operation(duration, now);
        WriteOutcome {
            status: 202,
            body: None,
            operation: Some((id, duration)),
            location: server.location.clone(),
        }
    }

    /// `PUT …/servers/{name}`: a create (Default or Replica), or an update of an existing server.
    ///
    /// # Errors
    /// The service's refusal of an invalid server or replica.
    pub fn create(
        &mut self,
        subscription_id: &str,
        resource_group: &str,
        name: &str,
        body: ServerForCreate,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        let key = name.to_ascii_lowercase();
        if let Some(existing) = self.servers.get(&key) {
            // Both services answer at NAME.postgres.database.azure.com: one name space.
            if existing.is_flexible() || !existing.resource_group.eq_ignore_ascii_case(resource_group) {
                return Err(ApiError::new(
                    409,
                    "ServerNameAlreadyExists",
                    format!("Server name '{name}' is already in use."),
                ));
            }
            if !existing.is_visible(now) {
                // Still being created: the PUT waits its turn, as any write on a busy server.
                return Err(ApiError::busy(name));
            }
            return self.recreate_as_update(resource_group, name, body, now);
        }
        let server = match body.properties.create_mode.as_str() {
            "Default" => self.new_default(subscription_id, resource_group, name, &body)?,
            "Replica" => {
                let replica = self.new_replica(subscription_id, resource_group, name, &body)?;
                let source = replica.master.as_ref().and_then(|m| self.servers.get(m));
                if let Some(source) = source.filter(|s| s.is_busy_at(now)) {
                    return Err(ApiError::busy(&source.name));
                }
                replica
            }
            other => {
                return Err(ApiError::bad_request(
                    "UnsupportedCreateMode",
                    format!("createMode '{other}' is not supported by the emulator."),
                ));
            }
        };
        let mut server = server;
        let latency = self.latencies.create;
        server.visible_at = Some(now + self.latencies.invisible);
        server.busy(now, latency, Some("Inaccessible"));
        let outcome = self.accepted_for(&server, latency, now);
        self.servers.insert(key, server);
        Ok(outcome)
    }

    /// A PUT on an existing server: the same checks as a PATCH of what differs.
    fn recreate_as_update(
        &mut self,
        resource_group: &str,
        name: &str,
        body: ServerForCreate,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        let update = ServerUpdateParameters {
            sku: body.sku,
            tags: Some(body.tags),
            properties: wire::UpdateProperties {
                public_network_access: body.properties.public_network_access,
                storage_profile: body.properties.storage_profile,
                version: body.properties.version,
                ssl_enforcement: body.properties.ssl_enforcement,
                minimal_tls_version: body.properties.minimal_tls_version,
                ..wire::UpdateProperties::default()
            },
        };
        self.update(resource_group, name, update, now)
    }
}

/// The ARM resource type of a service's servers.
pub(crate) fn resource_type(service: Service) -> &'static str {
    match service {
        Service::Single => wire::SERVER_TYPE,
        Service::Flexible => crate::providers::azure::flexible_wire::SERVER_TYPE,
    }
}

/// A rule's refusal on the wire: 400 with the rule's one code (`Rule::code`). The only place
/// the emulator turns a [`Refusal`] into an answer.
pub fn refused(refusal: Refusal) -> ApiError {
    ApiError::bad_request(refusal.code(), refusal.message)
}

/// The facts of a server the rules read (`rules::check`): the one place an emulated server
/// becomes a [`Shape`].
///
/// # Errors
/// 400 for a SKU, version or minimal TLS version the service does not know, with the code of
/// the rule about that property.
pub(crate) fn shape_of(server: &EmServer) -> Result<Shape<'_>, ApiError> {
    let sku = sku_of(&server.sku)?;
    let version = PgVersion::from_wire(&server.version).ok_or_else(|| {
        ApiError::bad_request(
            Rule::RetiredVersion.code_str(),
            format!("Version '{}' is not supported.", server.version),
        )
    })?;
    let minimal_tls_version: TlsVersion = serde_json::from_value(serde_json::Value::String(
        server.minimal_tls_version.clone(),
    ))
    .map_err(|_| {
        ApiError::bad_request(
            Rule::TlsWithoutSsl.code_str(),
            format!("Unknown minimalTlsVersion '{}'.", server.minimal_tls_version),
        )
    })?;
    Ok(Shape {
        name: &server.name,
        tier: sku.tier,
        generation: sku.generation,
        vcores: sku.vcores,
        storage_gb: server.storage_gb(),
        version,
        backup_retention_days: server.backup_retention_days,
        geo_redundant_backup: server.geo_redundant_backup,
        storage_autogrow: server.storage_autogrow,
        ssl_enforcement: server.ssl_enforcement,
        minimal_tls_version,
        admin_login: &server.administrator_login,
        location: &server.location,
        replica_of: server.master.as_deref(),
        flexible: None,
    })
}

/// A requested `storageMB`: the service sizes storage in whole GB (1024 MB).
///
/// # Errors
/// 400 with the storage rule's code for a size that is not whole GB.
pub(crate) fn requested_storage_mb(mb: u64) -> Result<u64, ApiError> {
    if mb % 1024 != 0 {
        return Err(ApiError::bad_request(
            Rule::StorageOutOfRange.code_str(),
            format!("Storage {mb} MB is not a whole number of GB (1024 MB)."),
        ));
    }
    Ok(mb)
}
