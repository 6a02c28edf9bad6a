//! Creating emulated servers: `createMode: Default` and `createMode: Replica`, with the checks
//! the service makes (names, SKU, login, version, storage, retention, TLS, geo-backup tier; for
//! replicas: source exists, is no replica, is not Basic, has room and replication support, and
//! the replica is not smaller than it).

use super::children::ChildMaps;
use super::store::{
    ApiError, EmServer, Store, check_settings, edition_message, replica_smaller_error, sku_of,
};
use crate::providers::azure::wire::{self, ServerForCreate};
use crate::rules::{
    self, MAX_REPLICAS_PER_PRIMARY, PgVersion, ReplicationSupport, SkuSize, TierChange, TierFeature,
};
use std::collections::BTreeMap;

fn flag(value: Option<&String>, current: bool) -> bool {
    value.map(|v| v.eq_ignore_ascii_case("Enabled")).unwrap_or(current)
}

fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(400, code, message)
}

impl Store {
    pub(super) fn new_default(
        &self,
        subscription_id: &str,
        resource_group: &str,
        name: &str,
        body: &ServerForCreate,
    ) -> Result<EmServer, ApiError> {
        let props = &body.properties;
        let sku_name = body.sku.as_ref().map(|s| s.name.clone()).unwrap_or_else(|| "GP_Gen5_2".to_string());
        let sku = sku_of(&sku_name)?;
        let (login, version) = check_default_properties(body)?;
        let storage = props.storage_profile.clone().unwrap_or_default();
        let storage_mb = storage.storage_mb.unwrap_or(5120);
        let geo = flag(storage.geo_redundant_backup.as_ref(), false);
        let mut server = EmServer {
            subscription_id: subscription_id.to_string(),
            resource_group: resource_group.to_string(),
            name: name.to_string(),
            location: body.location.clone(),
            tags: body.tags.clone(),
            sku: sku.name.to_string(),
            storage_mb,
            backup_retention_days: storage.backup_retention_days.unwrap_or(7),
            geo_redundant_backup: geo,
            storage_autogrow: flag(storage.storage_autogrow.as_ref(), true),
            ssl_enforcement: flag(props.ssl_enforcement.as_ref(), true),
            minimal_tls_version: props
                .minimal_tls_version
                .clone()
                .unwrap_or_else(|| "TLSEnforcementDisabled".into()),
            version,
            administrator_login: login,
            master: None,
            // The stricter reading of DOMAIN.md §3: replicas need an explicit setting + restart.
            replication_effective: ReplicationSupport::Off,
            configurations: BTreeMap::new(),
            children: ChildMaps::default(),
            address: None,
            held: false,
            visible_at: None,
            busy_until: None,
            busy_state: None,
        };
        if geo && !rules::tier_supports(sku.tier, TierFeature::GeoRedundantBackup) {
            return Err(bad_request(
                "GeoRedundantBackupNotSupported",
                format!("Geo-redundant backup is not available in the {} tier.", sku.tier),
            ));
        }
        check_settings(&server)?;
        server.storage_mb = storage_mb;
        Ok(server)
    }

    pub(super) fn new_replica(
        &self,
        subscription_id: &str,
        resource_group: &str,
        name: &str,
        body: &ServerForCreate,
    ) -> Result<EmServer, ApiError> {
        let source = self.replica_source(body)?;
        let source_sku = sku_of(&source.sku)?;
        let sku = sku_of(body.sku.as_ref().map_or(source.sku.as_str(), |s| s.name.as_str()))?;
        if rules::tier_change(source_sku.tier, sku.tier) == TierChange::Migration {
            return Err(bad_request("InvalidUpgradeEdition", edition_message(sku.tier)));
        }
        if !rules::replica_fits(
            SkuSize::of_sku(source_sku, source.storage_gb()),
            SkuSize::of_sku(sku, source.storage_gb()),
        ) {
            return Err(replica_smaller_error());
        }
        Ok(EmServer {
            subscription_id: subscription_id.to_string(),
            resource_group: resource_group.to_string(),
            name: name.to_string(),
            location: body.location.clone(),
            tags: body.tags.clone(),
            sku: sku.name.to_string(),
            master: Some(source.name.to_ascii_lowercase()),
            storage_autogrow: true,
            replication_effective: ReplicationSupport::Off,
            configurations: BTreeMap::new(),
            children: ChildMaps::default(),
            address: None,
            held: false,
            ..source.clone()
        })
    }

    /// The server a replica create names, if it can have one more replica.
    fn replica_source(&self, body: &ServerForCreate) -> Result<&EmServer, ApiError> {
        let source_id = body.properties.source_server_id.clone().unwrap_or_default();
        let (_, source_name) = wire::parse_server_id(&source_id).ok_or_else(|| {
            bad_request("InvalidSourceServerId", format!("'{source_id}' is not a server id."))
        })?;
        let source = self
            .servers
            .get(&source_name.to_ascii_lowercase())
            .ok_or_else(|| ApiError::not_found(&source_name))?;
        let source_sku = sku_of(&source.sku)?;
        if source.master.is_some() {
            return Err(bad_request(
                "ReplicaOfReplicaNotSupported",
                format!("Server '{source_name}' is a replica; a replica of a replica cannot be created."),
            ));
        }
        if !rules::tier_supports(source_sku.tier, TierFeature::ReadReplicas) {
            return Err(bad_request(
                "ReplicationNotSupportedForBasicTier",
                "Read replicas are not supported in the Basic tier.",
            ));
        }
        let replicas = self.servers.values().filter(|s| s.master.as_deref() == Some(&source.name)).count();
        if replicas >= MAX_REPLICAS_PER_PRIMARY {
            return Err(bad_request(
                "ReplicaCountExceeded",
                format!(
                    "Server '{source_name}' already has {replicas} replicas; the maximum is {MAX_REPLICAS_PER_PRIMARY}."
                ),
            ));
        }
        if !source.replication_effective.allows_replicas() {
            return Err(bad_request(
                "ReplicationSupportNotEnabled",
                format!(
                    "Server '{source_name}' does not support replication: set {} to REPLICA and restart it.",
                    ReplicationSupport::PARAMETER
                ),
            ));
        }
        Ok(source)
    }
}

/// The login, password and version checks of a `Default` create: the login and version.
fn check_default_properties(body: &ServerForCreate) -> Result<(String, String), ApiError> {
    let props = &body.properties;
    let login = props.administrator_login.clone().unwrap_or_default();
    if let Some(problem) = rules::admin_login_problem(&login) {
        return Err(bad_request("InvalidAdministratorLogin", format!("The administrator login {problem}.")));
    }
    if props.administrator_login_password.as_deref().is_none_or(str::is_empty) {
        return Err(bad_request(
            "MissingAdministratorLoginPassword",
            "administratorLoginPassword is required.",
        ));
    }
    let version = props.version.clone().unwrap_or_else(|| "11".to_string());
    if !PgVersion::from_wire(&version).is_some_and(PgVersion::is_supported) {
        return Err(bad_request("InvalidServerVersion", format!("Version '{version}' is not supported.")));
    }
    Ok((login, version))
}
