//! What the service does to flexible servers: create (a server or a replica), update, promote,
//! restart (with or without a failover to the HA standby) and delete, each checked by
//! `crate::rules::check` on the server as pgfleet's model reads it (the same mapping as the
//! azure provider's), and refused with the rule's one code.
//!
//! The service's behaviours (docs/service-rules.md, "Flexible Server"): the primary is locked
//! (`Updating`) while a replica is created, deleted or promoted; a failover swaps the zones of
//! the primary and its standby; a compute change, a storage grow across 4 TiB and a restart make
//! the server unreachable for the restart latency; the maintenance window is not accepted on
//! create; `availabilityZone: ""` (what SDKs send on every PATCH) is no change.

use super::super::store::{ApiError, EmServer, Store, WriteOutcome, refused};
use crate::model::{ServerName, ServerSpec};
use crate::providers::azure::flexible_wire::{
    self, Backup, FlexibleServer, FlexibleSku, Network, Replica, RestartParameter, Storage,
    high_availability_of, window_of,
};
use crate::providers::azure::wire::enabled as wire_enabled;
use crate::rules::check::{self, PrimaryFacts};
use crate::rules::{
    self, HaMode, MAX_REPLICAS_PER_PRIMARY, MaintenanceWindow, Rule, Service, StorageType, Weekday,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::time::Instant;

/// What only a flexible server has, beside the fields every emulated server has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EmFlexible {
    pub storage_type: StorageType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<u32>,
    pub high_availability: HaMode,
    /// The zone the primary runs in (swapped with the standby's by a failover).
    pub zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<MaintenanceWindow>,
    pub public_network_access: bool,
    /// The properties the emulator keeps as they were sent without reading them
    /// (`authConfig`, `dataEncryption` …): every accepted field is returned.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// The version a create without one gets.
const DEFAULT_VERSION: &str = "17";
/// The storage a create without one gets (the portal's default).
const DEFAULT_STORAGE_GB: u32 = 128;
/// The service's backup retention when a create names none.
const DEFAULT_BACKUP_RETENTION: u32 = 7;

fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(400, code, message)
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found_in(Service::Flexible, name)
}

fn is_enabled(value: Option<&str>) -> Option<bool> {
    value.map(|v| v.eq_ignore_ascii_case("Enabled"))
}

/// A zone as sent: `""` (SDKs' default) says nothing.
fn zone_of(text: Option<&str>) -> Option<String> {
    text.filter(|zone| !zone.is_empty()).map(str::to_string)
}

fn ha_mode(text: &str) -> Result<HaMode, ApiError> {
    [HaMode::Disabled, HaMode::SameZone, HaMode::ZoneRedundant]
        .into_iter()
        .find(|mode| mode.as_str().eq_ignore_ascii_case(text))
        .ok_or_else(|| {
            bad_request("InvalidParameterValue", format!("'{text}' is not a high availability mode."))
        })
}

fn storage_type(text: &str) -> Result<StorageType, ApiError> {
    match text {
        "" => Ok(StorageType::Premium),
        _ if text.eq_ignore_ascii_case(StorageType::Premium.as_str()) => Ok(StorageType::Premium),
        _ if text.eq_ignore_ascii_case(StorageType::PremiumV2.as_str()) => Ok(StorageType::PremiumV2),
        _ => Err(bad_request(
            Rule::StorageTypeNotOffered.code_str(),
            format!("The storage type '{text}' is not supported."),
        )),
    }
}

/// A SKU the catalog sells, refused with the SKU rule's code otherwise.
fn sku_name(sku: Option<&FlexibleSku>) -> Result<String, ApiError> {
    let name = sku.map(|s| s.name.as_str()).unwrap_or_default();
    rules::flexible_sku(name).map(|sku| sku.name.to_string()).ok_or_else(|| {
        bad_request(Rule::SkuNotOffered.code_str(), format!("The sku '{name}' is not a valid sku name."))
    })
}

fn flex(server: &EmServer) -> &EmFlexible {
    server.flexible.as_ref().expect("a flexible server")
}

fn flex_mut(server: &mut EmServer) -> &mut EmFlexible {
    server.flexible.as_mut().expect("a flexible server")
}

/// The fields of a PATCH (or of a PUT on an existing server) applied to `current`, parsed; the
/// rules are checked on the result.
fn patched(current: &EmServer, body: &FlexibleServer) -> Result<EmServer, ApiError> {
    let mut next = current.clone();
    let props = &body.properties;
    if body.sku.is_some() {
        next.sku = sku_name(body.sku.as_ref())?;
    }
    if let Some(version) = &props.version {
        if rules::PgVersion::from_wire(version) != rules::PgVersion::from_wire(&current.version) {
            next.version = version.clone();
        }
    }
    if let Some(login) = props.administrator_login.as_ref().filter(|l| !l.is_empty()) {
        next.administrator_login = login.clone();
    }
    if let Some(tags) = &body.tags {
        next.tags = tags.clone();
    }
    if let Some(storage) = &props.storage {
        if let Some(size) = storage.storage_size_gb {
            next.storage_mb = u64::from(size) * 1024;
        }
        if let Some(autogrow) = is_enabled(storage.auto_grow.as_deref()) {
            next.storage_autogrow = autogrow;
        }
    }
    if let Some(backup) = &props.backup {
        if let Some(days) = backup.backup_retention_days {
            next.backup_retention_days = days;
        }
        if let Some(geo) = is_enabled(backup.geo_redundant_backup.as_deref()) {
            next.geo_redundant_backup = geo;
        }
    }
    let flexible = flex_mut(&mut next);
    if let Some(storage) = &props.storage {
        if let Some(kind) = storage.kind.as_deref().filter(|k| !k.is_empty()) {
            flexible.storage_type = storage_type(kind)?;
        }
        if storage.iops.is_some() && flexible.storage_type == StorageType::PremiumV2 {
            flexible.iops = storage.iops;
        }
        if storage.throughput.is_some() && flexible.storage_type == StorageType::PremiumV2 {
            flexible.throughput = storage.throughput;
        }
    }
    if let Some(public) = is_enabled(props.network.as_ref().and_then(|n| n.public_network_access.as_deref()))
    {
        flexible.public_network_access = public;
    }
    if let Some(zone) = zone_of(props.availability_zone.as_deref()) {
        flexible.zone = zone;
    }
    if let Some(ha) = &props.high_availability {
        if let Some(mode) = ha.mode.as_deref() {
            flexible.high_availability = ha_mode(mode)?;
        }
        let wanted = zone_of(ha.standby_availability_zone.as_deref()).or(flexible.standby_zone.clone());
        let (_, standby) =
            rules::placement(Some(&flexible.zone), wanted.as_deref(), flexible.high_availability);
        flexible.standby_zone = standby;
    }
    if let Some(window) = &props.maintenance_window {
        flexible.maintenance_window = match is_enabled(window.custom_window.as_deref()) {
            Some(true) => Some(MaintenanceWindow {
                day: Weekday::from_number(window.day_of_week.unwrap_or(0)).ok_or_else(|| {
                    bad_request(
                        Rule::InvalidMaintenanceWindow.code_str(),
                        format!(
                            "dayOfWeek {:?} is not a day (0 is Sunday … 6 is Saturday).",
                            window.day_of_week
                        ),
                    )
                })?,
                hour: window.start_hour.unwrap_or(0),
                minute: window.start_minute.unwrap_or(0),
            }),
            Some(false) => None,
            None => flexible.maintenance_window,
        };
    }
    // Properties the emulator does not read are kept as sent.
    for (key, value) in &props.other {
        flexible.other.insert(key.clone(), value.clone());
    }
    Ok(next)
}

impl Store {
    /// A visible flexible server in a resource group.
    ///
    /// # Errors
    /// 404 when it does not exist there (or is not visible yet).
    pub(crate) fn find_flexible(
        &self,
        resource_group: &str,
        name: &str,
        now: Instant,
    ) -> Result<&EmServer, ApiError> {
        self.find_in(Service::Flexible, resource_group, name, now)
    }

    /// The flexible servers replicating `key`.
    pub(crate) fn flexible_replicas_of(&self, key: &str) -> Vec<&EmServer> {
        self.servers.replicas_of(key).filter(|s| s.flexible.is_some()).collect()
    }

    /// The wire form of a flexible server at `now`.
    pub(crate) fn flexible_wire(&self, server: &EmServer, now: Instant) -> FlexibleServer {
        let flexible = flex(server);
        let state = match &server.busy_state {
            Some(state) if server.is_busy_at(now) => state.clone(),
            _ => "Ready".to_string(),
        };
        let replica = server.master.is_some();
        let role = if replica { "AsyncReplica" } else { "Primary" };
        let capacity = if replica { 0 } else { MAX_REPLICAS_PER_PRIMARY as u32 };
        let storage_gb = server.storage_gb();
        let premium = flexible.storage_type == StorageType::Premium;
        let ha = flexible.high_availability;
        let mut high_availability = high_availability_of(ha, flexible.standby_zone.as_deref());
        if ha == HaMode::SameZone {
            high_availability.standby_availability_zone = Some(flexible.zone.clone());
        }
        high_availability.state = Some(if ha.is_enabled() { "Healthy" } else { "NotEnabled" }.to_string());
        let sku = rules::flexible_sku(&server.sku);
        let mut props = flexible_wire::FlexibleProperties {
            administrator_login: Some(server.administrator_login.clone()),
            version: Some(server.version.clone()),
            fully_qualified_domain_name: Some(
                server
                    .address
                    .clone()
                    .unwrap_or_else(|| format!("{}.postgres.database.azure.com", server.name)),
            ),
            state: Some(state),
            availability_zone: Some(flexible.zone.clone()),
            storage: Some(Storage {
                storage_size_gb: Some(storage_gb),
                auto_grow: Some(wire_enabled(server.storage_autogrow)),
                tier: premium.then(|| rules::premium_ssd_tier(storage_gb)).flatten().map(str::to_string),
                iops: flexible.iops,
                throughput: flexible.throughput,
                kind: Some(flexible.storage_type.as_str().to_string()),
            }),
            backup: Some(Backup {
                backup_retention_days: Some(server.backup_retention_days),
                geo_redundant_backup: Some(wire_enabled(server.geo_redundant_backup)),
                earliest_restore_date: server.extras.created.clone(),
            }),
            network: Some(Network {
                public_network_access: Some(wire_enabled(flexible.public_network_access)),
                ..Network::default()
            }),
            high_availability: Some(high_availability),
            maintenance_window: Some(window_of(flexible.maintenance_window)),
            source_server_resource_id: server
                .master
                .as_ref()
                .and_then(|m| self.servers.get(m))
                .map(EmServer::id),
            replication_role: Some(role.to_string()),
            replica_capacity: Some(capacity),
            replica: Some(Replica {
                role: Some(role.to_string()),
                capacity: Some(capacity),
                replication_state: replica.then(|| "Active".to_string()),
                ..Replica::default()
            }),
            ..flexible_wire::FlexibleProperties::default()
        };
        props.other = flexible.other.clone();
        FlexibleServer {
            id: Some(server.id()),
            name: Some(server.name.clone()),
            kind: Some(flexible_wire::SERVER_TYPE.to_string()),
            location: Some(server.location.clone()),
            tags: Some(server.tags.clone()),
            sku: Some(FlexibleSku {
                name: server.sku.clone(),
                tier: sku.map(|sku| sku.tier.as_str().to_string()),
            }),
            properties: props,
            other: BTreeMap::new(),
        }
    }

    /// A flexible server as pgfleet's model reads it (the azure provider's mapping): what the
    /// rules check, and what the backing clusters are made from.
    ///
    /// # Errors
    /// 400 for what the mapping cannot read (a SKU or version outside the catalog).
    pub(crate) fn flexible_spec(&self, server: &EmServer) -> Result<ServerSpec, ApiError> {
        let wire = self.flexible_wire(server, Instant::now());
        let observed = flexible_wire::to_observed(&wire, &BTreeMap::new())
            .map_err(|error| bad_request(Rule::RetiredVersion.code_str(), error.problem))?;
        let mut spec = observed.spec;
        spec.replica_of = server.master.as_deref().map(ServerName::new);
        Ok(spec)
    }

    /// `PUT …/flexibleServers/{name}`: a create (`Create`/`Default` or `Replica`), or an update
    /// of an existing server.
    ///
    /// # Errors
    /// The service's refusal of an invalid server or replica; 409 for a name in use (flexible
    /// and single servers share the `postgres.database.azure.com` names).
    pub(crate) fn create_flexible(
        &mut self,
        subscription_id: &str,
        resource_group: &str,
        name: &str,
        body: FlexibleServer,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        let key = name.to_ascii_lowercase();
        if let Some(existing) = self.servers.get(&key) {
            if existing.flexible.is_none() || !existing.resource_group.eq_ignore_ascii_case(resource_group) {
                return Err(ApiError::new(
                    409,
                    "ServerNameAlreadyExists",
                    format!("Server name '{name}' is already in use."),
                ));
            }
            if existing.visible_at.is_some_and(|at| now < at) {
                return Err(ApiError::busy(name));
            }
            return self.update_flexible(resource_group, name, body, now);
        }
        let mode = body.properties.create_mode.clone().unwrap_or_else(|| "Create".to_string());
        let (server, source) = match mode.to_ascii_lowercase().as_str() {
            "create" | "default" => (self.new_flexible(subscription_id, resource_group, name, &body)?, None),
            "replica" => {
                let (replica, source) =
                    self.new_flexible_replica(subscription_id, resource_group, name, &body)?;
                (replica, Some(source))
            }
            _ => {
                return Err(bad_request(
                    "UnsupportedCreateMode",
                    format!("createMode '{mode}' is not supported by the emulator."),
                ));
            }
        };
        let mut server = server;
        let latency = self.latencies.create;
        server.visible_at = Some(now + self.latencies.invisible);
        server.busy(now, latency, Some("Provisioning"));
        if let Some(source) = &source {
            // The primary is locked while its replica is built.
            if let Some(primary) = self.servers.get_mut(source) {
                primary.busy(now, latency, Some("Updating"));
            }
        }
        let outcome = self.accepted_for(&server, latency, now);
        self.servers.insert(key, server);
        Ok(outcome)
    }

    fn new_flexible(
        &self,
        subscription_id: &str,
        resource_group: &str,
        name: &str,
        body: &FlexibleServer,
    ) -> Result<EmServer, ApiError> {
        let props = &body.properties;
        let location = body.location.clone().filter(|l| !l.is_empty()).ok_or_else(|| {
            bad_request("LocationRequired", "The location property is required for this definition.")
        })?;
        if props.administrator_login.as_deref().is_none_or(str::is_empty) {
            return Err(bad_request("MissingAdministratorLogin", "administratorLogin is required."));
        }
        if props.administrator_login_password.as_deref().is_none_or(str::is_empty) {
            return Err(bad_request(
                "MissingAdministratorLoginPassword",
                "administratorLoginPassword is required.",
            ));
        }
        let storage = props.storage.clone().unwrap_or_default();
        let backup = props.backup.clone().unwrap_or_default();
        let mode = match props.high_availability.as_ref().and_then(|ha| ha.mode.as_deref()) {
            Some(mode) => ha_mode(mode)?,
            None => HaMode::Disabled,
        };
        let standby =
            props.high_availability.as_ref().and_then(|ha| zone_of(ha.standby_availability_zone.as_deref()));
        let (zone, standby_zone) = rules::placement(
            zone_of(props.availability_zone.as_deref()).as_deref(),
            standby.as_deref(),
            mode,
        );
        let storage_type = storage_type(storage.kind.as_deref().unwrap_or_default())?;
        let mut other = props.other.clone();
        // Not accepted on create: a later PATCH sets it.
        other.remove("maintenanceWindow");
        let server = EmServer {
            flexible: Some(EmFlexible {
                storage_type,
                iops: storage.iops.filter(|_| storage_type == StorageType::PremiumV2),
                throughput: storage.throughput.filter(|_| storage_type == StorageType::PremiumV2),
                high_availability: mode,
                zone,
                standby_zone,
                maintenance_window: None,
                public_network_access: is_enabled(
                    props.network.as_ref().and_then(|n| n.public_network_access.as_deref()),
                )
                .unwrap_or(true),
                other,
            }),
            sku: sku_name(body.sku.as_ref())?,
            storage_mb: u64::from(storage.storage_size_gb.unwrap_or(DEFAULT_STORAGE_GB)) * 1024,
            backup_retention_days: backup.backup_retention_days.unwrap_or(DEFAULT_BACKUP_RETENTION),
            geo_redundant_backup: is_enabled(backup.geo_redundant_backup.as_deref()).unwrap_or(false),
            storage_autogrow: is_enabled(storage.auto_grow.as_deref()).unwrap_or(false),
            version: props.version.clone().unwrap_or_else(|| DEFAULT_VERSION.to_string()),
            administrator_login: props.administrator_login.clone().unwrap_or_default(),
            tags: body.tags.clone().unwrap_or_default(),
            ..EmServer::new(subscription_id, resource_group, name, &location)
        };
        let spec = self.flexible_spec(&server)?;
        check::check_create(&spec.shape(name), None).map_err(refused)?;
        Ok(server)
    }

    /// A replica: version, admin login and (unless the request names them) compute and storage
    /// from its source; no HA and no geo-redundant backup of its own.
    fn new_flexible_replica(
        &self,
        subscription_id: &str,
        resource_group: &str,
        name: &str,
        body: &FlexibleServer,
    ) -> Result<(EmServer, String), ApiError> {
        let props = &body.properties;
        let source_id = props.source_server_resource_id.clone().unwrap_or_default();
        let source_name = source_id.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        let source_key = source_name.to_ascii_lowercase();
        let source = self.servers.get(&source_key).ok_or_else(|| not_found(source_name))?;
        if source.flexible.is_none() {
            return Err(bad_request(
                Rule::ReplicaAcrossServices.code_str(),
                format!(
                    "'{source_name}' is a Single Server; a flexible server replicates flexible servers only."
                ),
            ));
        }
        if source.visible_at.is_some_and(|at| Instant::now() < at) || source.is_busy_at(Instant::now()) {
            return Err(ApiError::busy(source_name));
        }
        let storage = props.storage.clone().unwrap_or_default();
        let source_flexible = flex(source);
        let location =
            body.location.clone().filter(|l| !l.is_empty()).unwrap_or_else(|| source.location.clone());
        let mode = match props.high_availability.as_ref().and_then(|ha| ha.mode.as_deref()) {
            Some(mode) => ha_mode(mode)?,
            None => HaMode::Disabled,
        };
        let (zone, standby_zone) =
            rules::placement(zone_of(props.availability_zone.as_deref()).as_deref(), None, mode);
        let replica = EmServer {
            flexible: Some(EmFlexible {
                storage_type: source_flexible.storage_type,
                iops: storage.iops.or(source_flexible.iops),
                throughput: storage.throughput.or(source_flexible.throughput),
                high_availability: mode,
                zone,
                standby_zone,
                maintenance_window: None,
                public_network_access: is_enabled(
                    props.network.as_ref().and_then(|n| n.public_network_access.as_deref()),
                )
                .unwrap_or(source_flexible.public_network_access),
                other: props.other.clone(),
            }),
            sku: match &body.sku {
                Some(_) => sku_name(body.sku.as_ref())?,
                None => source.sku.clone(),
            },
            storage_mb: storage.storage_size_gb.map_or(source.storage_mb, |gb| u64::from(gb) * 1024),
            backup_retention_days: source.backup_retention_days,
            geo_redundant_backup: is_enabled(
                props.backup.as_ref().and_then(|b| b.geo_redundant_backup.as_deref()),
            )
            .unwrap_or(false),
            storage_autogrow: is_enabled(storage.auto_grow.as_deref()).unwrap_or(source.storage_autogrow),
            version: source.version.clone(),
            administrator_login: source.administrator_login.clone(),
            master: Some(source_key.clone()),
            tags: body.tags.clone().unwrap_or_default(),
            // As the service does: a new replica has its source's parameters and firewall rules.
            configurations: source.configurations.clone(),
            children: super::super::store::ChildMaps {
                firewall_rules: source.children.firewall_rules.clone(),
                ..Default::default()
            },
            ..EmServer::new(subscription_id, resource_group, name, &location)
        };
        let primary_spec = self.flexible_spec(source)?;
        let primary = PrimaryFacts {
            shape: primary_spec.shape(&source.name),
            replication_support: Some(rules::ReplicationSupport::Replica),
            other_replicas: self.flexible_replicas_of(&source_key).len(),
        };
        let spec = self.flexible_spec(&replica)?;
        check::check_create(&spec.shape(name), Some(&primary)).map_err(refused)?;
        Ok((replica, source_key))
    }

    /// `PATCH …/flexibleServers/{name}`: a promote, or an in-place update checked within the
    /// server's replication set.
    ///
    /// # Errors
    /// 409 while another operation runs (on the server, or on its replicas' creation); 400 for
    /// what the service refuses.
    pub(crate) fn update_flexible(
        &mut self,
        resource_group: &str,
        name: &str,
        body: FlexibleServer,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        let current = self.find_flexible(resource_group, name, now)?.clone();
        if current.is_busy_at(now) {
            return Err(ApiError::busy(name));
        }
        let props = &body.properties;
        let promote_mode = props.replica.as_ref().and_then(|r| r.promote_mode.as_deref());
        let legacy_promote =
            props.replication_role.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("None"));
        if promote_mode.is_some() || legacy_promote {
            return self.promote_flexible(&current, promote_mode, now);
        }
        let next = patched(&current, &body)?;
        let (before, after) = (self.flexible_spec(&current)?, self.flexible_spec(&next)?);
        let primary = match &current.master {
            Some(master) => self.servers.get(master).map(|p| self.flexible_spec(p)).transpose()?,
            None => None,
        };
        let replicas = self
            .flexible_replicas_of(&current.name.to_ascii_lowercase())
            .into_iter()
            .map(|replica| self.flexible_spec(replica).map(|spec| (replica.name.clone(), spec)))
            .collect::<Result<Vec<_>, _>>()?;
        let replica_shapes: Vec<_> = replicas.iter().map(|(name, spec)| spec.shape(name)).collect();
        let primary_name = current.master.clone().unwrap_or_default();
        check::check_update_in_set(
            &before.shape(name),
            &after.shape(name),
            primary.as_ref().map(|p| p.shape(&primary_name)).as_ref(),
            &replica_shapes,
        )
        .map_err(refused)?;
        let patch = flexible_wire::patch_between(&before, &after);
        let restarts = patch.restarts(&before);
        let latency =
            if restarts { self.latencies.restart.max(self.latencies.update) } else { self.latencies.update };
        let mut next = next;
        next.busy(now, latency, Some("Updating"));
        let outcome = self.accepted_for(&next, latency, now);
        self.servers.insert(name.to_ascii_lowercase(), next);
        Ok(outcome)
    }

    /// A replica promoted to a standalone server (irreversible); its primary is locked while it
    /// happens. A switchover needs virtual endpoints, which the emulator does not serve.
    fn promote_flexible(
        &mut self,
        current: &EmServer,
        mode: Option<&str>,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        if mode.is_some_and(|m| !m.eq_ignore_ascii_case("Standalone")) {
            return Err(bad_request(
                "UnsupportedPromoteMode",
                "The emulator promotes replicas to standalone servers only (promoteMode Standalone).",
            ));
        }
        let spec = self.flexible_spec(current)?;
        check::check_promote(&spec.shape(&current.name)).map_err(refused)?;
        let latency = self.latencies.restart;
        if let Some(primary) = current.master.as_ref().and_then(|m| self.servers.get_mut(m)) {
            primary.busy(now, latency, Some("Updating"));
        }
        let mut next = current.clone();
        next.master = None;
        next.busy(now, latency, Some("Updating"));
        let outcome = self.accepted_for(&next, latency, now);
        self.servers.insert(current.name.to_ascii_lowercase(), next);
        Ok(outcome)
    }

    /// `POST …/flexibleServers/{name}/restart`: a restart (the standby restarts with it), or
    /// with `restartWithFailover` a failover to the HA standby, which swaps their zones.
    ///
    /// # Errors
    /// 404, 409 while another operation runs, 400 for a failover without HA.
    pub(crate) fn restart_flexible(
        &mut self,
        resource_group: &str,
        name: &str,
        parameter: &RestartParameter,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        let mut server = self.find_flexible(resource_group, name, now)?.clone();
        if server.is_busy_at(now) {
            return Err(ApiError::busy(name));
        }
        let failover = parameter.restart_with_failover.unwrap_or(false);
        let latency = self.latencies.restart;
        if failover {
            let mode = parameter.failover_mode.as_deref().unwrap_or("PlannedFailover");
            if !["PlannedFailover", "ForcedFailover"].iter().any(|m| m.eq_ignore_ascii_case(mode)) {
                return Err(bad_request(
                    "InvalidParameterValue",
                    format!(
                        "failoverMode '{mode}' needs a replica switchover, which the emulator does not serve."
                    ),
                ));
            }
            let spec = self.flexible_spec(&server)?;
            check::check_failover(&spec.shape(name)).map_err(refused)?;
            let flexible = flex_mut(&mut server);
            if let Some(standby) = flexible.standby_zone.clone() {
                let former = std::mem::replace(&mut flexible.zone, standby);
                flexible.standby_zone = Some(former);
            }
            server.busy(now, latency, Some("Updating"));
        } else {
            server.busy(now, latency, Some("Restarting"));
        }
        let outcome = self.accepted_for(&server, latency, now);
        self.servers.insert(name.to_ascii_lowercase(), server);
        Ok(outcome)
    }

    /// `DELETE …/flexibleServers/{name}`: the server goes at once; its replicas become
    /// standalone servers; the primary of a deleted replica is locked while it happens.
    /// `None` when there was nothing to delete (204).
    ///
    /// # Errors
    /// 409 while another operation runs on the server or a replica of it.
    pub(crate) fn delete_flexible(
        &mut self,
        resource_group: &str,
        name: &str,
        now: Instant,
    ) -> Result<Option<WriteOutcome>, ApiError> {
        let Ok(server) = self.find_flexible(resource_group, name, now).cloned() else {
            return Ok(None);
        };
        let key = name.to_ascii_lowercase();
        let replica_busy = self.flexible_replicas_of(&key).iter().any(|replica| replica.is_busy_at(now));
        if server.is_busy_at(now) || replica_busy {
            return Err(ApiError::busy(name));
        }
        self.servers.remove(&key);
        let (restart, delete) = (self.latencies.restart, self.latencies.delete);
        self.servers.detach_replicas(&key, |replica| replica.busy(now, restart, Some("Updating")));
        if let Some(primary) = server.master.as_ref().and_then(|m| self.servers.get_mut(m)) {
            primary.busy(now, delete, Some("Updating"));
        }
        Ok(Some(self.accepted_for(&server, delete, now)))
    }
}
