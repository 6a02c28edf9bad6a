//! The ARM wire format of `Microsoft.DBforPostgreSQL/servers` (api-version 2017-12-01,
//! DOMAIN.md §4.3), and its mapping to and from pgfleet's model.
//!
//! Owns: the serde types for servers, create and update bodies, configurations, firewall rules,
//! databases, async operations and the `CloudError` envelope; `to_observed` (wire → model) and
//! `create_body` / `update_body` (intent → wire). It does no I/O. The emulator serves the same
//! types, and the fixture tests pin them to Microsoft's own examples.

use crate::model::{ServerName, ServerSpec, ServerStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use super::mapping::{
    MappingContext, create_body, patch_between, promote_body, to_observed, update_body,
};

/// The api-version every call uses.
pub const API_VERSION: &str = "2017-12-01";

/// The resource type of a server.
pub(crate) const SERVER_TYPE: &str = "Microsoft.DBforPostgreSQL/servers";

/// Tags whose key starts with this prefix belong to pgfleet, not to the user's `tags`.
pub(crate) const RESERVED_TAG_PREFIX: &str = "pgfleet-";

/// The tag that records a server's name in the fleet when it differs from its Azure name (after
/// a migration's cutover, DOMAIN.md: server names are global DNS names and cannot change).
pub(crate) const FLEET_NAME_TAG: &str = "pgfleet-name";
/// How many cutovers made this server its fleet name's holder (none: 0). While an interrupted
/// cutover leaves two servers answering to one name, the older (lower) one stands for it.
pub(crate) const GENERATION_TAG: &str = "pgfleet-generation";

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
    /// `Enabled` or `Disabled` (public endpoint); the service's default is `Enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<String>,
    /// `Enabled` or `Disabled` (a second layer of encryption at rest), set only at create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_encryption: Option<String>,
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
    /// `Enabled` or `Disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<String>,
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
    /// Whether users may set it (newer api-versions' field; the emulator reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_read_only: Option<bool>,
    /// Whether a change applies without a restart (Flexible Server's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_dynamic_config: Option<bool>,
    /// The value's unit (Flexible Server's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
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
pub(crate) struct AsyncOperation {
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
pub(crate) struct CloudError {
    pub error: ErrorDetail,
}

/// `error` of a `CloudError`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ErrorDetail {
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

pub(crate) fn enabled(flag: bool) -> String {
    if flag { "Enabled" } else { "Disabled" }.to_string()
}

pub(super) fn is_enabled(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("Enabled"))
}

/// The whole MB count of a GB size (the service counts storage in MB, 1 GB = 1024 MB).
pub fn storage_mb(storage_gb: u32) -> u64 {
    u64::from(storage_gb) * 1024
}

/// Parses the `resourceGroups/{rg}` segment and the last segment (the name) of an ARM id of a
/// server of either service.
pub(crate) fn parse_resource_id(id: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = id.trim_end_matches('/').split('/').collect();
    let group =
        parts.iter().position(|p| p.eq_ignore_ascii_case("resourceGroups")).and_then(|i| parts.get(i + 1))?;
    let name = parts.last().filter(|name| !name.is_empty())?;
    Some((group.to_string(), name.to_string()))
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
    pub(crate) fn user_tags(&self) -> BTreeMap<String, String> {
        self.tags.iter().filter(|(k, _)| !k.starts_with(RESERVED_TAG_PREFIX)).map(clone_pair).collect()
    }

    /// The server's name in the fleet: the `pgfleet-name` tag after a cutover (or a create
    /// under another Azure name), else its name. The tag is believed where pgfleet wrote it: with
    /// `pgfleet-generation` beside it (a cutover writes both), or on an Azure name pgfleet
    /// derives from the tag's value ([`derives_from`], a create under a taken name). A lone tag
    /// written by hand (in the portal, or by an older pgfleet that sent the fleet file's
    /// `pgfleet-*` tags) cannot make refresh report a server under an unrelated name, which
    /// would plan the real name's create and the other name's delete, again and again.
    pub(crate) fn fleet_name(&self) -> ServerName {
        fleet_name_of(&self.name, &self.tags)
    }

    /// The cutovers behind this server (`pgfleet-generation`, 0 without the tag).
    pub fn generation(&self) -> u64 {
        generation_of(&self.tags)
    }

    /// Whether the server is a read replica.
    pub fn is_replica(&self) -> bool {
        self.properties.replication_role.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("Replica"))
    }

    /// Whether the service reports the server as a primary with replicas (`Master`).
    pub(crate) fn is_primary_with_replicas(&self) -> bool {
        self.properties.replication_role.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("Master"))
    }
}

/// The fleet name of a server (of either service) called `name` on Azure with `tags`; see
/// [`Server::fleet_name`].
pub(crate) fn fleet_name_of(name: &str, tags: &BTreeMap<String, String>) -> ServerName {
    let cut_over = tags.contains_key(GENERATION_TAG);
    match tags.get(FLEET_NAME_TAG) {
        Some(tagged) if cut_over || derives_from(name, tagged) => ServerName::new(tagged.as_str()),
        _ => ServerName::new(name),
    }
}

/// The cutovers behind a server with `tags` (`pgfleet-generation`, 0 without the tag).
pub(crate) fn generation_of(tags: &BTreeMap<String, String>) -> u64 {
    tags.get(GENERATION_TAG).and_then(|value| value.parse().ok()).unwrap_or(0)
}

/// Whether `azure` is an Azure name pgfleet gives a server whose fleet name is `fleet`: the
/// name itself, or the name followed by what a migration's staging server (`-migration`) and a
/// create under a taken name (`-2`, `-3` …) add, the name cut short to keep within 63
/// characters (so the added part may be cut too).
pub(crate) fn derives_from(azure: &str, fleet: &str) -> bool {
    const LONGEST: usize = 63;
    let (azure, fleet) = (azure.to_ascii_lowercase(), fleet.to_ascii_lowercase());
    if azure == fleet {
        return true;
    }
    let cut_short = azure.len() + 2 >= LONGEST;
    let added = |suffix: &str| {
        suffix.split('-').skip(1).all(|part| {
            let migration = part == "migration" || (cut_short && "migration".starts_with(part));
            !part.is_empty() && (part.bytes().all(|b| b.is_ascii_digit()) || migration)
        })
    };
    azure.match_indices('-').any(|(at, _)| {
        let (base, suffix) = azure.split_at(at);
        !base.is_empty() && (base == fleet || (cut_short && fleet.starts_with(base))) && added(suffix)
    })
}

fn clone_pair((k, v): (&String, &String)) -> (String, String) {
    (k.clone(), v.clone())
}

/// Maps `userVisibleState` to the model (`Restarting` is not in the enum but observed, TF-PG).
pub(crate) fn status_of(state: Option<&str>) -> ServerStatus {
    match state.unwrap_or("Ready") {
        "Ready" => ServerStatus::Ready,
        "Dropping" => ServerStatus::Dropping,
        "Disabled" => ServerStatus::Disabled,
        "Restarting" => ServerStatus::Restarting,
        "Creating" | "Updating" => ServerStatus::Creating,
        _ => ServerStatus::Inaccessible,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_name_tag_is_believed_only_on_a_name_pgfleet_derives_from_it() {
        for azure in ["app-db", "app-db-2", "app-db-migration", "app-db-migration-2", "APP-DB-migration-13"] {
            assert!(derives_from(azure, "app-db"), "{azure}");
        }
        for azure in
            ["pay-main", "app-db-replica", "app-dbx-2", "app", "app-2", "app-db-migration-x", "app-db-m"]
        {
            assert!(!derives_from(azure, "app-db"), "{azure}");
        }
        // Long names are cut to make room for what is added, and what is added may be cut too.
        let long = "a".repeat(60);
        let staging = format!("{}-migration", &long[..53]);
        assert!(derives_from(&staging, &long));
        assert!(derives_from(&format!("{}-2", &staging[..61]), &long));
        assert!(!derives_from(&format!("{}-2", &long[..10]), &long), "short names are not cut");

        let server = |name: &str, tags: &[(&str, &str)]| Server {
            id: format!("/subscriptions/s/resourceGroups/g/providers/{SERVER_TYPE}/{name}"),
            name: name.to_string(),
            kind: SERVER_TYPE.to_string(),
            location: "westeurope".to_string(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            sku: None,
            properties: ServerProperties::default(),
        };
        let fleet_name =
            |name: &str, tags: &[(&str, &str)]| server(name, tags).fleet_name().as_str().to_string();
        assert_eq!(fleet_name("pay-main-2", &[(FLEET_NAME_TAG, "pay-main")]), "pay-main");
        assert_eq!(fleet_name("pay-main", &[(FLEET_NAME_TAG, "other")]), "pay-main", "a lone tag by hand");
        assert_eq!(fleet_name("pay-main", &[]), "pay-main");
        // A cutover writes the generation beside the name, onto whatever staging server it had.
        let cut_over = [(FLEET_NAME_TAG, "shop"), (GENERATION_TAG, "1")];
        assert_eq!(fleet_name("shop-next", &cut_over), "shop");
    }
}
