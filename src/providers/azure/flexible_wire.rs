//! The ARM wire format of `Microsoft.DBforPostgreSQL/flexibleServers` (api-version 2025-08-01),
//! and its mapping to and from pgfleet's model.
//!
//! Owns: the serde type of a flexible server (one type for GET, list, PUT and PATCH bodies: ARM
//! sends and accepts the same shape, every field optional), the restart body, `to_observed`
//! (wire → model) and the bodies pgfleet sends for an intent (`create_body`, `update_bodies`,
//! `promote_body`, `failover_body`). It does no I/O. The emulator serves the same types, and
//! the fixture tests pin them to Microsoft's own examples.
//!
//! Facts (docs/service-rules.md, "Flexible Server"): `administratorLogin`, `availabilityZone`
//! and `backup.geoRedundantBackup` are create-only; `maintenanceWindow` is not accepted on
//! create (a follow-up PATCH sets it); a PATCH carries `createMode: Update`; HA is changed in a
//! request of its own ("High availability can't be updated with existing properties"), and
//! storage in its own PATCH before the rest, as the Azure CLI and Terraform send them.

use super::wire::{MappingError, RESERVED_TAG_PREFIX, enabled, fleet_name_of, is_enabled};
use crate::model::{Endpoint, ObservedServer, ServerName, ServerPatch, ServerSpec, ServerStatus};
use crate::rules::{self, HaMode, MaintenanceWindow, PgVersion, StorageType, Weekday};
use crate::secret::Redacted;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The api-version of every flexible server call (the latest GA).
pub const API_VERSION: &str = "2025-08-01";

/// The resource type of a flexible server.
pub(crate) const SERVER_TYPE: &str = "Microsoft.DBforPostgreSQL/flexibleServers";

/// `sku`: the compute name and its tier (both required in a PUT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlexibleSku {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

/// A flexible server as GET and list return it, and the body of its PUT and PATCH.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlexibleServer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<FlexibleSku>,
    #[serde(default)]
    pub properties: FlexibleProperties,
    /// `systemData`, `identity` and whatever else the service adds, kept as they came.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `properties` of a flexible server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlexibleProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrator_login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrator_login_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fully_qualified_domain_name: Option<String>,
    /// `ServerState`: `Ready`, `Updating`, `Restarting`, `Starting`, `Stopped` …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The zone of the server (of the primary, with HA); `""` when the service chose none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<Backup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_availability: Option<HighAvailability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<WireMaintenanceWindow>,
    /// The primary's ARM id, on a replica (and in a replica's create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_server_resource_id: Option<String>,
    #[serde(default, rename = "pointInTimeUTC", skip_serializing_if = "Option::is_none")]
    pub point_in_time_utc: Option<String>,
    /// `None`, `Primary`, `AsyncReplica` or `GeoAsyncReplica`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_capacity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<Replica>,
    /// `Create`, `Replica` … on a PUT; `Update` on a PATCH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_mode: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `storage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    #[serde(default, rename = "storageSizeGB", skip_serializing_if = "Option::is_none")]
    pub storage_size_gb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_grow: Option<String>,
    /// The performance tier of a Premium SSD (`P10` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<u32>,
    /// `Premium_LRS` (the default; GET may answer `""`) or `PremiumV2_LRS`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `backup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_retention_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_redundant_backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest_restore_date: Option<String>,
}

/// `network`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_network_access: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegated_subnet_resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_dns_zone_arm_resource_id: Option<String>,
}

/// `highAvailability`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HighAvailability {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_availability_zone: Option<String>,
    /// `NotEnabled`, `CreatingStandby`, `Healthy`, `FailingOver` …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// `maintenanceWindow` (`dayOfWeek` 0 is Sunday).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireMaintenanceWindow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_week: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_hour: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_minute: Option<u32>,
}

/// `replica`: the role as read; `promoteMode`/`promoteOption` as written to promote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replica {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_option: Option<String>,
}

/// The body of `POST …/restart` (`RestartParameter`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartParameter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_with_failover: Option<bool>,
    /// `PlannedFailover`, `ForcedFailover`, `PlannedSwitchover` or `ForcedSwitchover`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_mode: Option<String>,
}

/// `{"value": [...]}` of the list operations, with the optional `nextLink`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlexibleServerList {
    pub value: Vec<FlexibleServer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// The path of a flexible server under its subscription.
pub fn server_path(resource_group: &str, name: &str) -> String {
    format!("/resourceGroups/{resource_group}/providers/{SERVER_TYPE}/{name}")
}

/// Whether a replication role names a replica.
pub fn is_replica_role(role: Option<&str>) -> bool {
    role.is_some_and(|r| r.eq_ignore_ascii_case("AsyncReplica") || r.eq_ignore_ascii_case("GeoAsyncReplica"))
}

impl FlexibleServer {
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    fn all_tags(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.tags.as_ref().unwrap_or(&NONE)
    }

    /// Every tag, pgfleet's reserved ones included.
    pub fn tags(&self) -> BTreeMap<String, String> {
        self.all_tags().clone()
    }

    /// The server's name in the fleet (see [`super::wire::Server::fleet_name`]).
    pub fn fleet_name(&self) -> ServerName {
        fleet_name_of(self.name(), self.all_tags())
    }

    /// Whether the server is a read replica.
    pub fn is_replica(&self) -> bool {
        let props = &self.properties;
        is_replica_role(props.replica.as_ref().and_then(|r| r.role.as_deref()))
            || is_replica_role(props.replication_role.as_deref())
    }

    /// Whether the server is `Ready` (or says nothing of its state).
    pub fn is_ready(&self) -> bool {
        self.properties.state.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("Ready"))
    }
}

/// Maps `ServerState` to the model.
fn status_of(state: Option<&str>) -> ServerStatus {
    match state.unwrap_or("Ready") {
        "Ready" => ServerStatus::Ready,
        "Dropping" => ServerStatus::Dropping,
        "Disabled" => ServerStatus::Disabled,
        "Restarting" | "Starting" | "Updating" => ServerStatus::Restarting,
        "Provisioning" => ServerStatus::Creating,
        _ => ServerStatus::Inaccessible,
    }
}

fn zone_of(text: Option<&str>) -> Option<String> {
    text.filter(|zone| !zone.is_empty()).map(str::to_string)
}

/// Maps a wire flexible server to pgfleet's model. The SKU decides tier and vCores; a replica's
/// primary is named from `names_by_id` (lower-cased ARM ids), else from its id's last segment.
///
/// # Errors
/// A SKU outside the catalog, a version pgfleet does not know, or missing fields.
pub fn to_observed(
    server: &FlexibleServer,
    names_by_id: &BTreeMap<String, ServerName>,
) -> Result<ObservedServer, MappingError> {
    let problem = |problem: String| MappingError { server: server.name().to_string(), problem };
    let sku_name = server.sku.as_ref().map(|s| s.name.as_str()).ok_or_else(|| problem("no sku".into()))?;
    rules::flexible_sku(sku_name).ok_or_else(|| problem(format!("unknown sku {sku_name:?}")))?;
    let props = &server.properties;
    let version_text = props.version.as_deref().unwrap_or_default();
    let version = PgVersion::from_wire(version_text)
        .ok_or_else(|| problem(format!("unknown version {version_text:?}")))?;
    let storage = props.storage.clone().unwrap_or_default();
    let storage_type = match storage.kind.as_deref() {
        None | Some("") => StorageType::Premium,
        Some(text) if text.eq_ignore_ascii_case(StorageType::Premium.as_str()) => StorageType::Premium,
        Some(text) if text.eq_ignore_ascii_case(StorageType::PremiumV2.as_str()) => StorageType::PremiumV2,
        Some(text) => return Err(problem(format!("unknown storage type {text:?}"))),
    };
    let backup = props.backup.clone().unwrap_or_default();
    let ha = props.high_availability.clone().unwrap_or_default();
    let high_availability = match ha.mode.as_deref() {
        None => HaMode::Disabled,
        Some(text) => [HaMode::Disabled, HaMode::SameZone, HaMode::ZoneRedundant]
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| problem(format!("unknown high availability mode {text:?}")))?,
    };
    let maintenance_window = match &props.maintenance_window {
        Some(window) if is_enabled(window.custom_window.as_deref()) => Some(MaintenanceWindow {
            day: Weekday::from_number(window.day_of_week.unwrap_or(0))
                .ok_or_else(|| problem(format!("unknown dayOfWeek {:?}", window.day_of_week)))?,
            hour: window.start_hour.unwrap_or(0),
            minute: window.start_minute.unwrap_or(0),
        }),
        _ => None,
    };
    let replica_of = match props.source_server_resource_id.as_deref() {
        Some(id) if !id.is_empty() && server.is_replica() => Some(
            names_by_id
                .get(&id.to_ascii_lowercase())
                .cloned()
                .unwrap_or_else(|| ServerName::new(id.rsplit('/').next().unwrap_or_default())),
        ),
        _ => None,
    };
    let admin_login = props.administrator_login.clone().unwrap_or_default();
    let mut spec = ServerSpec::flexible(
        sku_name,
        storage.storage_size_gb.unwrap_or(0),
        version,
        admin_login.clone(),
        server.location.clone().unwrap_or_default(),
    );
    spec.backup_retention_days = backup.backup_retention_days.unwrap_or(rules::DEFAULT_RETENTION_DAYS);
    spec.geo_redundant_backup = is_enabled(backup.geo_redundant_backup.as_deref());
    spec.storage_autogrow = is_enabled(storage.auto_grow.as_deref());
    spec.tags = user_tags(server.all_tags());
    spec.replica_of = replica_of;
    let flexible = spec.flexible.as_mut().expect("a flexible spec");
    flexible.storage_type = storage_type;
    if storage_type == StorageType::PremiumV2 {
        flexible.iops = storage.iops;
        flexible.throughput = storage.throughput;
    }
    flexible.high_availability = high_availability;
    flexible.zone = zone_of(props.availability_zone.as_deref());
    flexible.standby_zone = if high_availability == HaMode::ZoneRedundant {
        zone_of(ha.standby_availability_zone.as_deref())
    } else {
        None
    };
    flexible.maintenance_window = maintenance_window;
    flexible.public_network_access = props
        .network
        .as_ref()
        .and_then(|n| n.public_network_access.as_deref())
        .is_none_or(|v| v.eq_ignore_ascii_case("Enabled"));
    let endpoint = props.fully_qualified_domain_name.as_ref().map(|host| Endpoint {
        host: host.clone(),
        port: 5432,
        // Flexible Server logins carry no `@server` suffix.
        user: admin_login.clone(),
        database: "postgres".to_string(),
    });
    Ok(ObservedServer {
        name: server.fleet_name(),
        provider_id: server.id().to_string(),
        replication_support: rules::check::initial_replication_support(&spec.shape(server.name())),
        spec,
        status: status_of(props.state.as_deref()),
        endpoint,
    })
}

/// The user's tags: never one named `pgfleet-*` (see `wire`).
fn user_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|(key, _)| !key.to_ascii_lowercase().starts_with(RESERVED_TAG_PREFIX))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

fn sku_of(spec: &ServerSpec) -> FlexibleSku {
    FlexibleSku { name: spec.sku_name(), tier: Some(spec.tier.as_str().to_string()) }
}

fn storage_of(spec: &ServerSpec) -> Storage {
    let flexible = spec.flexible.as_ref();
    let storage_type = flexible.map(|f| f.storage_type).unwrap_or_default();
    Storage {
        storage_size_gb: Some(spec.storage_gb),
        auto_grow: Some(enabled(spec.storage_autogrow)),
        kind: Some(storage_type.as_str().to_string()),
        iops: flexible.and_then(|f| f.iops),
        throughput: flexible.and_then(|f| f.throughput),
        tier: None,
    }
}

pub(crate) fn window_of(window: Option<MaintenanceWindow>) -> WireMaintenanceWindow {
    match window {
        Some(window) => WireMaintenanceWindow {
            custom_window: Some(enabled(true)),
            day_of_week: Some(window.day.number()),
            start_hour: Some(window.hour),
            start_minute: Some(window.minute),
        },
        None => WireMaintenanceWindow {
            custom_window: Some(enabled(false)),
            day_of_week: Some(0),
            start_hour: Some(0),
            start_minute: Some(0),
        },
    }
}

pub(crate) fn high_availability_of(mode: HaMode, standby_zone: Option<&str>) -> HighAvailability {
    HighAvailability {
        mode: Some(mode.as_str().to_string()),
        standby_availability_zone: standby_zone.filter(|_| mode == HaMode::ZoneRedundant).map(str::to_string),
        state: None,
    }
}

/// The create body of a server (`createMode: Create`) or a replica (`createMode: Replica`,
/// `source_server_id` set). A replica takes its version and admin login from its source and
/// sends neither (nor a password, HA or geo-redundant backup, which replicas do not have). The
/// maintenance window is not accepted at create: `create_follow_up` sets it.
pub fn create_body(
    spec: &ServerSpec,
    password: Option<&Redacted<String>>,
    source_server_id: Option<&str>,
) -> FlexibleServer {
    let flexible = spec.flexible.as_ref();
    let zone = flexible.and_then(|f| f.zone.clone());
    let properties = match source_server_id {
        Some(source) => FlexibleProperties {
            create_mode: Some("Replica".into()),
            source_server_resource_id: Some(source.to_string()),
            availability_zone: zone,
            storage: Some(storage_of(spec)),
            ..FlexibleProperties::default()
        },
        None => FlexibleProperties {
            create_mode: Some("Create".into()),
            administrator_login: Some(spec.admin_login.clone()),
            administrator_login_password: password.map(|p| p.expose().clone()),
            version: Some(spec.version.as_str().to_string()),
            availability_zone: zone,
            storage: Some(storage_of(spec)),
            backup: Some(Backup {
                backup_retention_days: Some(spec.backup_retention_days),
                geo_redundant_backup: Some(enabled(spec.geo_redundant_backup)),
                earliest_restore_date: None,
            }),
            network: Some(Network {
                public_network_access: Some(enabled(flexible.is_none_or(|f| f.public_network_access))),
                ..Network::default()
            }),
            high_availability: flexible
                .map(|f| high_availability_of(f.high_availability, f.standby_zone.as_deref())),
            ..FlexibleProperties::default()
        },
    };
    FlexibleServer {
        location: Some(spec.location.clone()),
        sku: Some(sku_of(spec)),
        tags: Some(user_tags(&spec.tags)),
        properties,
        ..FlexibleServer::default()
    }
}

/// The patch that takes a just-created server to what the fleet wants in what a create could
/// not say: the maintenance window, and on a replica the settings the service took from its
/// source (retention, public access, autogrow).
pub fn create_follow_up(created: &ServerSpec, desired: &ServerSpec) -> ServerPatch {
    let (Some(now), Some(want)) = (&created.flexible, &desired.flexible) else {
        return ServerPatch::default();
    };
    fn changed<T: PartialEq + Clone>(from: &T, to: &T) -> Option<T> {
        (from != to).then(|| to.clone())
    }
    ServerPatch {
        maintenance_window: changed(&now.maintenance_window, &want.maintenance_window),
        public_network_access: changed(&now.public_network_access, &want.public_network_access),
        storage_autogrow: changed(&created.storage_autogrow, &desired.storage_autogrow),
        backup_retention_days: desired
            .replica_of
            .is_none()
            .then(|| changed(&created.backup_retention_days, &desired.backup_retention_days))
            .flatten(),
        tags: changed(&created.tags, &desired.tags),
        ..ServerPatch::default()
    }
}

/// The in-place changes from `from` to `to` of a flexible server (compute, storage growth,
/// IOPS and throughput, retention, autogrow, HA, window, network, version, tags): what an
/// update carried out, as the local provider applies it behind the emulator.
pub fn patch_between(from: &ServerSpec, to: &ServerSpec) -> ServerPatch {
    fn changed<T: PartialEq + Clone>(from: &T, to: &T) -> Option<T> {
        (from != to).then(|| to.clone())
    }
    let (Some(now), Some(then)) = (&from.flexible, &to.flexible) else { return ServerPatch::default() };
    ServerPatch {
        sku: changed(&now.sku, &then.sku),
        storage_gb: (to.storage_gb > from.storage_gb).then_some(to.storage_gb),
        backup_retention_days: changed(&from.backup_retention_days, &to.backup_retention_days),
        storage_autogrow: changed(&from.storage_autogrow, &to.storage_autogrow),
        iops: changed(&now.iops, &then.iops).flatten(),
        throughput: changed(&now.throughput, &then.throughput).flatten(),
        high_availability: changed(&now.high_availability, &then.high_availability),
        standby_zone: changed(&now.standby_zone, &then.standby_zone),
        maintenance_window: changed(&now.maintenance_window, &then.maintenance_window),
        public_network_access: changed(&now.public_network_access, &then.public_network_access),
        version: changed(&from.version, &to.version),
        tags: changed(&from.tags, &to.tags),
        ..ServerPatch::default()
    }
}

/// A PATCH body with `createMode: Update` and nothing else yet.
fn patch_body() -> FlexibleServer {
    FlexibleServer {
        properties: FlexibleProperties {
            create_mode: Some("Update".into()),
            ..FlexibleProperties::default()
        },
        ..FlexibleServer::default()
    }
}

/// The PATCH bodies of a `ServerPatch`, in the order they are sent: HA turned off first (one
/// machine fewer to change), then storage on its own, then the rest (compute, retention,
/// autogrow, network, window, tags), then a major version upgrade on its own, then HA turned
/// on (the standby is built at the new size). A storage grow that restarts the server travels
/// with a compute change that restarts it too, so the server restarts once.
pub fn update_bodies(current: &ServerSpec, patch: &ServerPatch) -> Vec<FlexibleServer> {
    let target = patch.apply_to(current);
    let flexible = target.flexible.as_ref();
    let mut ha_off = None;
    let mut ha_on = None;
    if let Some(mode) = patch.high_availability {
        let mut body = patch_body();
        body.properties.high_availability =
            Some(high_availability_of(mode, flexible.and_then(|f| f.standby_zone.as_deref())));
        if mode.is_enabled() { ha_on = Some(body) } else { ha_off = Some(body) }
    }
    let storage = Storage {
        storage_size_gb: patch.storage_gb,
        iops: patch.iops,
        throughput: patch.throughput,
        ..Storage::default()
    };
    let mut rest = patch_body();
    rest.sku = patch.changes_compute().then(|| sku_of(&target));
    rest.tags = patch.tags.as_ref().map(user_tags);
    if let Some(days) = patch.backup_retention_days {
        rest.properties.backup = Some(Backup { backup_retention_days: Some(days), ..Backup::default() });
    }
    if let Some(public) = patch.public_network_access {
        rest.properties.network =
            Some(Network { public_network_access: Some(enabled(public)), ..Network::default() });
    }
    if let Some(window) = patch.maintenance_window {
        rest.properties.maintenance_window = Some(window_of(window));
    }
    let mut storage_alone = None;
    let autogrow = patch.storage_autogrow.map(enabled);
    if storage != Storage::default() {
        let storage_patch = ServerPatch {
            storage_gb: patch.storage_gb,
            iops: patch.iops,
            throughput: patch.throughput,
            ..ServerPatch::default()
        };
        let compute_patch = ServerPatch { sku: patch.sku.clone(), ..ServerPatch::default() };
        if storage_patch.restarts(current) && compute_patch.restarts(current) {
            rest.properties.storage = Some(Storage { auto_grow: autogrow.clone(), ..storage });
        } else {
            let mut body = patch_body();
            body.properties.storage = Some(storage);
            storage_alone = Some(body);
        }
    }
    if let Some(autogrow) = autogrow {
        rest.properties.storage.get_or_insert_with(Storage::default).auto_grow = Some(autogrow);
    }
    let upgrade = patch.version.map(|version| {
        let mut body = patch_body();
        body.properties.version = Some(version.as_str().to_string());
        body
    });
    let rest = (rest != patch_body()).then_some(rest);
    [ha_off, storage_alone, rest, upgrade, ha_on].into_iter().flatten().collect()
}

/// The PATCH body of a promote: the replica becomes a standalone server, a planned promotion
/// (it waits for the replica to catch up).
pub fn promote_body() -> FlexibleServer {
    FlexibleServer {
        properties: FlexibleProperties {
            replica: Some(Replica {
                promote_mode: Some("Standalone".into()),
                promote_option: Some("Planned".into()),
                ..Replica::default()
            }),
            ..FlexibleProperties::default()
        },
        ..FlexibleServer::default()
    }
}

/// The restart body of a planned failover to the HA standby.
pub fn failover_body() -> RestartParameter {
    RestartParameter { restart_with_failover: Some(true), failover_mode: Some("PlannedFailover".into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServerSpec {
        let mut spec = ServerSpec::flexible("Standard_D4ds_v5", 512, PgVersion::V16, "fleetadmin", "eastus");
        let flexible = spec.flexible.as_mut().unwrap();
        flexible.high_availability = HaMode::ZoneRedundant;
        flexible.zone = Some("1".into());
        flexible.standby_zone = Some("2".into());
        flexible.maintenance_window = Some(MaintenanceWindow { day: Weekday::Sunday, hour: 2, minute: 0 });
        spec
    }

    #[test]
    fn a_create_sends_ha_zones_and_storage_but_never_the_maintenance_window() {
        let password = Redacted::new("pw".to_string());
        let body = create_body(&spec(), Some(&password), None);
        let props = &body.properties;
        assert_eq!(props.create_mode.as_deref(), Some("Create"));
        assert_eq!(props.availability_zone.as_deref(), Some("1"));
        let ha = props.high_availability.clone().unwrap();
        assert_eq!(
            (ha.mode.as_deref(), ha.standby_availability_zone.as_deref()),
            (Some("ZoneRedundant"), Some("2"))
        );
        assert_eq!(props.maintenance_window, None);
        assert_eq!(props.storage.clone().unwrap().storage_size_gb, Some(512));
        assert_eq!(body.sku.unwrap().tier.as_deref(), Some("GeneralPurpose"));

        let replica = create_body(
            &spec(),
            None,
            Some("/subscriptions/s/resourceGroups/g/providers/x/flexibleServers/p"),
        );
        let props = &replica.properties;
        assert_eq!(props.create_mode.as_deref(), Some("Replica"));
        assert_eq!(
            (&props.administrator_login, &props.version, &props.high_availability),
            (&None, &None, &None)
        );
        assert_eq!(props.backup, None, "replicas have no backups of their own");
    }

    #[test]
    fn ha_and_storage_travel_alone_and_a_restarting_grow_rides_with_the_compute_change() {
        let current = spec();
        let patch = ServerPatch {
            sku: Some("Standard_D8ds_v5".into()),
            storage_gb: Some(1024),
            high_availability: Some(HaMode::Disabled),
            backup_retention_days: Some(14),
            ..ServerPatch::default()
        };
        let bodies = update_bodies(&current, &patch);
        assert_eq!(bodies.len(), 3);
        assert!(bodies[0].properties.high_availability.is_some() && bodies[0].sku.is_none());
        assert_eq!(bodies[1].properties.storage.clone().unwrap().storage_size_gb, Some(1024));
        assert!(bodies[1].sku.is_none());
        assert_eq!(bodies[2].sku.clone().unwrap().name, "Standard_D8ds_v5");
        assert!(bodies.iter().all(|b| b.properties.create_mode.as_deref() == Some("Update")));

        let mut big = spec();
        big.storage_gb = 4096;
        let across = ServerPatch {
            sku: Some("Standard_D8ds_v5".into()),
            storage_gb: Some(8192),
            ..ServerPatch::default()
        };
        let bodies = update_bodies(&big, &across);
        assert_eq!(bodies.len(), 1, "one restart: the grow across 4 TiB rides with the compute change");
        assert_eq!(bodies[0].properties.storage.clone().unwrap().storage_size_gb, Some(8192));
    }
}
