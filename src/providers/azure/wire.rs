//! The ARM wire format of `Microsoft.DBforPostgreSQL/servers` (api-version 2017-12-01,
//! DOMAIN.md §4.3), and its mapping to and from pgfleet's model.
//!
//! Owns: the serde types for servers, create and update bodies, configurations, firewall rules,
//! databases, async operations and the `CloudError` envelope; `to_observed` (wire → model) and
//! `create_body` / `update_body` (intent → wire). It does no I/O. The emulator serves the same
//! types, and the fixture tests pin them to Microsoft's own examples.

use crate::model::{Endpoint, ObservedServer, ServerName, ServerPatch, ServerSpec, ServerStatus};
use crate::rules::{self, PgVersion, ReplicationSupport, TlsVersion};
use crate::secret::Redacted;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The api-version every call uses.
pub const API_VERSION: &str = "2017-12-01";

/// The resource type of a server.
pub const SERVER_TYPE: &str = "Microsoft.DBforPostgreSQL/servers";

/// Tags whose key starts with this prefix belong to pgfleet, not to the user's `tags`.
pub const RESERVED_TAG_PREFIX: &str = "pgfleet-";

/// The tag that records a server's name in the fleet when it differs from its Azure name (after
/// a migration's cutover, DOMAIN.md: server names are global DNS names and cannot change).
pub const FLEET_NAME_TAG: &str = "pgfleet-name";

/// `sku`: name, tier, capacity (vCores) and family (generation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
}

impl Sku {
    /// The full sku object of a spec, as create and update send it.
    pub fn of(spec: &ServerSpec) -> Sku {
        Sku {
            name: spec.sku_name(),
            tier: Some(spec.tier.as_str().to_string()),
            family: Some(spec.generation.as_str().to_string()),
            capacity: Some(spec.vcores),
        }
    }
}

/// `storageProfile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageProfile {
    #[serde(default, rename = "storageMB", skip_serializing_if = "Option::is_none")]
    pub storage_mb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_retention_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_redundant_backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_autogrow: Option<String>,
}

/// A server as GET and list return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Server {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub location: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    pub sku: Option<Sku>,
    pub properties: ServerProperties,
}

/// `properties` of a server. Fields the reconciler does not read are kept as raw JSON so a
/// round trip loses nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrator_login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<StorageProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_enforcement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimal_tls_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_visible_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fully_qualified_domain_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest_restore_date: Option<String>,
    /// `""`, `None` or `Master` on a primary or standalone server, `Replica` on a replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_role: Option<String>,
    /// The primary's ARM id on a replica; `""` or absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_server_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_capacity: Option<u32>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `{"value": [...]}` of the list operations, with the optional `nextLink`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerList {
    pub value: Vec<Server>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// The body of `PUT …/servers/{name}` (`ServerForCreate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerForCreate {
    pub location: String,
    pub properties: CreateProperties,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// `properties` of a create, polymorphic on `createMode` (only the fields pgfleet sends, and
/// those the examples carry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrator_login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrator_login_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_enforcement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimal_tls_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<StorageProfile>,
    pub create_mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_server_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_point_in_time: Option<String>,
}

/// The body of `PATCH …/servers/{name}` (`ServerUpdateParameters`): only what changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerUpdateParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub properties: UpdateProperties,
}

/// `properties` of an update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_profile: Option<StorageProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrator_login_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_enforcement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimal_tls_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_role: Option<String>,
}

/// A server parameter (`…/configurations/{name}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub properties: ConfigurationProperties,
}

/// `properties` of a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_values: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A child resource with free-form properties (firewall rules, databases).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub properties: BTreeMap<String, String>,
}

/// The body of an `Azure-AsyncOperation` poll (D-ASYNC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncOperation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `InProgress`, `Succeeded`, `Failed` or `Canceled`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// The `CloudError` envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudError {
    pub error: ErrorDetail,
}

/// `error` of a `CloudError`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// Why a wire server cannot be read as a pgfleet server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server {server}: {problem}")]
pub struct MappingError {
    pub server: String,
    pub problem: String,
}

fn enabled(flag: bool) -> String {
    if flag { "Enabled" } else { "Disabled" }.to_string()
}

fn is_enabled(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("Enabled"))
}

/// The whole MB count of a GB size (the service counts storage in MB, 1 GB = 1024 MB).
pub fn storage_mb(storage_gb: u32) -> u64 {
    u64::from(storage_gb) * 1024
}

/// Parses the `resourceGroups/{rg}` and `servers/{name}` segments of an ARM id.
pub fn parse_server_id(id: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = id.split('/').collect();
    let after =
        |key: &str| parts.iter().position(|p| p.eq_ignore_ascii_case(key)).and_then(|i| parts.get(i + 1));
    Some((after("resourceGroups")?.to_string(), after("servers")?.to_string()))
}

impl Server {
    /// The user's tags, without pgfleet's reserved ones.
    pub fn user_tags(&self) -> BTreeMap<String, String> {
        self.tags.iter().filter(|(k, _)| !k.starts_with(RESERVED_TAG_PREFIX)).map(clone_pair).collect()
    }

    /// The server's name in the fleet: the `pgfleet-name` tag after a cutover, else its name.
    pub fn fleet_name(&self) -> ServerName {
        ServerName::new(self.tags.get(FLEET_NAME_TAG).unwrap_or(&self.name).as_str())
    }

    /// Whether the server is a read replica.
    pub fn is_replica(&self) -> bool {
        self.properties.replication_role.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("Replica"))
    }

    /// Whether the service reports the server as a primary with replicas (`Master`).
    pub fn is_primary_with_replicas(&self) -> bool {
        self.properties.replication_role.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("Master"))
    }
}

fn clone_pair((k, v): (&String, &String)) -> (String, String) {
    (k.clone(), v.clone())
}

/// Maps `userVisibleState` to the model (`Restarting` is not in the enum but observed, TF-PG).
pub fn status_of(state: Option<&str>) -> ServerStatus {
    match state.unwrap_or("Ready") {
        "Ready" => ServerStatus::Ready,
        "Dropping" => ServerStatus::Dropping,
        "Disabled" => ServerStatus::Disabled,
        "Restarting" => ServerStatus::Restarting,
        "Creating" | "Updating" => ServerStatus::Creating,
        _ => ServerStatus::Inaccessible,
    }
}

/// What the mapping needs besides the wire server.
#[derive(Debug, Clone, Copy)]
pub struct MappingContext<'a> {
    /// The fleet names of servers by ARM id, to name a replica's primary.
    pub names_by_id: &'a BTreeMap<String, ServerName>,
    /// `azure.replication_support` as far as it is known without reading it (see the provider).
    pub replication_support: ReplicationSupport,
}

/// Maps a wire server to pgfleet's model.
///
/// The SKU name decides tier, generation and vCores (`rules::sku_by_name`); the upstream
/// replica example has a `family` that contradicts its name, and the name is what the service
/// bills. Storage in MB is rounded down to whole GB.
///
/// # Errors
/// A SKU outside the catalog, a version or TLS value pgfleet does not know, or missing fields.
pub fn to_observed(server: &Server, context: MappingContext<'_>) -> Result<ObservedServer, MappingError> {
    let problem = |problem: String| MappingError { server: server.name.clone(), problem };
    let sku_name = server.sku.as_ref().map(|s| s.name.as_str()).ok_or_else(|| problem("no sku".into()))?;
    let sku = rules::sku_by_name(sku_name).ok_or_else(|| problem(format!("unknown sku {sku_name:?}")))?;
    let props = &server.properties;
    let storage = props.storage_profile.clone().unwrap_or_default();
    let version_text = props.version.as_deref().unwrap_or_default();
    let version = PgVersion::from_wire(version_text)
        .ok_or_else(|| problem(format!("unknown version {version_text:?}")))?;
    let ssl_enforcement = is_enabled(props.ssl_enforcement.as_deref());
    let minimal_tls_version = match props.minimal_tls_version.as_deref() {
        None => TlsVersion::EnforcementDisabled,
        Some(text) => serde_json::from_value(serde_json::Value::String(text.to_string()))
            .map_err(|_| problem(format!("unknown minimalTlsVersion {text:?}")))?,
    };
    let replica_of = match props.master_server_id.as_deref() {
        Some(id) if !id.is_empty() && server.is_replica() => {
            Some(context.names_by_id.get(&id.to_ascii_lowercase()).cloned().unwrap_or_else(|| {
                ServerName::new(parse_server_id(id).map(|(_, name)| name).unwrap_or_default())
            }))
        }
        _ => None,
    };
    let admin_login = props.administrator_login.clone().unwrap_or_default();
    let spec = ServerSpec {
        tier: sku.tier,
        generation: sku.generation,
        vcores: sku.vcores,
        storage_gb: u32::try_from(storage.storage_mb.unwrap_or(0) / 1024).unwrap_or(u32::MAX),
        version,
        backup_retention_days: storage.backup_retention_days.unwrap_or(7),
        geo_redundant_backup: is_enabled(storage.geo_redundant_backup.as_deref()),
        // The service's default is Enabled; the examples omit the field.
        storage_autogrow: storage
            .storage_autogrow
            .as_deref()
            .is_none_or(|v| v.eq_ignore_ascii_case("Enabled")),
        ssl_enforcement,
        minimal_tls_version,
        admin_login: admin_login.clone(),
        location: server.location.clone(),
        tags: server.user_tags(),
        replica_of,
    };
    let endpoint = props.fully_qualified_domain_name.as_ref().map(|host| Endpoint {
        host: host.clone(),
        port: 5432,
        user: format!("{admin_login}@{}", server.name),
        database: "postgres".to_string(),
    });
    Ok(ObservedServer {
        name: server.fleet_name(),
        provider_id: server.id.clone(),
        spec,
        status: status_of(props.user_visible_state.as_deref()),
        replication_support: context.replication_support,
        endpoint,
    })
}

/// The create body for a server (`createMode: Default`) or a replica (`createMode: Replica`,
/// `source_server_id` set). A replica sends only its location, sku and tags: it inherits the
/// rest from its primary, and what differs is PATCHed afterwards (DOMAIN.md §1.6, TF-PG).
pub fn create_body(
    spec: &ServerSpec,
    password: Option<&Redacted<String>>,
    source_server_id: Option<&str>,
) -> ServerForCreate {
    let properties = match source_server_id {
        Some(source) => CreateProperties {
            create_mode: "Replica".into(),
            source_server_id: Some(source.to_string()),
            ..CreateProperties::default()
        },
        None => CreateProperties {
            administrator_login: Some(spec.admin_login.clone()),
            administrator_login_password: password.map(|p| p.expose().clone()),
            version: Some(spec.version.as_str().to_string()),
            ssl_enforcement: Some(enabled(spec.ssl_enforcement)),
            minimal_tls_version: Some(spec.minimal_tls_version.as_str().to_string()),
            storage_profile: Some(StorageProfile {
                storage_mb: Some(storage_mb(spec.storage_gb)),
                backup_retention_days: Some(spec.backup_retention_days),
                geo_redundant_backup: Some(enabled(spec.geo_redundant_backup)),
                storage_autogrow: Some(enabled(spec.storage_autogrow)),
            }),
            create_mode: "Default".into(),
            ..CreateProperties::default()
        },
    };
    ServerForCreate {
        location: spec.location.clone(),
        properties,
        sku: Some(Sku::of(spec)),
        tags: spec.tags.clone(),
    }
}

/// The PATCH body of a `ServerPatch`: only the changed fields. A compute change sends the whole
/// target sku (from `current`, the server's spec before the patch); a storage-profile change
/// sends only the changed storage fields, so auto-grown storage is never sent back.
pub fn update_body(
    current: &ServerSpec,
    patch: &ServerPatch,
    password: Option<&Redacted<String>>,
) -> ServerUpdateParameters {
    let target = patch.apply_to(current);
    let storage = StorageProfile {
        storage_mb: patch.storage_gb.map(storage_mb),
        backup_retention_days: patch.backup_retention_days,
        geo_redundant_backup: None,
        storage_autogrow: patch.storage_autogrow.map(enabled),
    };
    ServerUpdateParameters {
        sku: patch.changes_compute().then(|| Sku::of(&target)),
        tags: patch.tags.clone(),
        properties: UpdateProperties {
            storage_profile: (storage != StorageProfile::default()).then_some(storage),
            administrator_login_password: password.map(|p| p.expose().clone()),
            ssl_enforcement: patch.ssl_enforcement.map(enabled),
            minimal_tls_version: patch.minimal_tls_version.map(|v| v.as_str().to_string()),
            ..UpdateProperties::default()
        },
    }
}

/// The PATCH body of a promote: `replicationRole: "None"` and nothing else (never with a
/// password change, DOMAIN.md §3).
pub fn promote_body() -> ServerUpdateParameters {
    ServerUpdateParameters {
        properties: UpdateProperties { replication_role: Some("None".into()), ..UpdateProperties::default() },
        ..ServerUpdateParameters::default()
    }
}

/// The patch that brings `observed` to `desired` in the fields a PATCH can change (compute,
/// storage growth, retention, auto-grow, TLS, tags); used after a replica create, which
/// inherits its primary's settings.
pub fn patch_between(observed: &ServerSpec, desired: &ServerSpec) -> ServerPatch {
    fn changed<T: PartialEq + Clone>(from: &T, to: &T) -> Option<T> {
        (from != to).then(|| to.clone())
    }
    ServerPatch {
        tier: changed(&observed.tier, &desired.tier),
        generation: changed(&observed.generation, &desired.generation),
        vcores: changed(&observed.vcores, &desired.vcores),
        storage_gb: (desired.storage_gb > observed.storage_gb).then_some(desired.storage_gb),
        backup_retention_days: changed(&observed.backup_retention_days, &desired.backup_retention_days),
        storage_autogrow: changed(&observed.storage_autogrow, &desired.storage_autogrow),
        ssl_enforcement: changed(&observed.ssl_enforcement, &desired.ssl_enforcement),
        minimal_tls_version: changed(&observed.minimal_tls_version, &desired.minimal_tls_version),
        tags: changed(&observed.tags, &desired.tags),
    }
}

/// The path of a server under its subscription: `/resourceGroups/{rg}/providers/…/servers/{name}`.
pub fn server_path(resource_group: &str, name: &str) -> String {
    format!("/resourceGroups/{resource_group}/providers/{SERVER_TYPE}/{name}")
}

/// `GET …/locations/{location}/performanceTiers`: the SKUs sold in a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerformanceTierList {
    pub value: Vec<PerformanceTier>,
}

/// One tier of the performance-tier list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceTier {
    pub id: String,
    pub service_level_objectives: Vec<ServiceLevelObjective>,
}

/// One SKU of a performance tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLevelObjective {
    /// The SKU name (`GP_Gen4_2`).
    pub id: String,
    pub edition: String,
    pub v_core: u32,
    pub hardware_generation: String,
    #[serde(rename = "minStorageMB")]
    pub min_storage_mb: u64,
    #[serde(rename = "maxStorageMB")]
    pub max_storage_mb: u64,
    pub min_backup_retention_days: u32,
    pub max_backup_retention_days: u32,
}
