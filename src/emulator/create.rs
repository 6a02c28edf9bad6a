//! Creating emulated servers: `createMode: Default` and `createMode: Replica`. What the service
//! refuses is `rules::check::check_create` (names, SKU, login, version, storage, retention, TLS,
//! geo-backup tier; for replicas: no replica of a replica, not on Basic, room for one more,
//! replication support, not smaller than the source).
//!
//! A replica takes from its source only what the service copies: the version and the admin
//! login, and the compute and storage size when the request names none. Its per-server settings
//! (location, tags, backup retention, geo-redundant backup, SSL and TLS) are its own request's,
//! or the service's defaults; storage auto-grow is always on for a replica.

use super::store::{
    ApiError, EmServer, ServerExtras, Store, refused, requested_storage_mb, shape_of, sku_of,
};
use crate::providers::azure::wire::{self, ServerForCreate, StorageProfile};
use crate::rules::check::{self, PrimaryFacts};

/// The SKU a `Default` create without one gets.
const DEFAULT_SKU: &str = "GP_Gen5_2";
/// The storage a `Default` create without one gets (5 GB).
const DEFAULT_STORAGE_MB: u64 = 5120;
/// The service's backup retention when a create names none.
const DEFAULT_BACKUP_RETENTION: u32 = 7;
/// The service's minimal TLS version when a create names none.
const DEFAULT_MINIMAL_TLS: &str = "TLSEnforcementDisabled";

fn flag(value: Option<&String>, current: bool) -> bool {
    value.map(|v| v.eq_ignore_ascii_case("Enabled")).unwrap_or(current)
}

fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(400, code, message)
}

/// The per-server settings of a create: the request's, else the service's defaults.
struct OwnSettings {
    backup_retention_days: u32,
    geo_redundant_backup: bool,
    storage_autogrow: bool,
    ssl_enforcement: bool,
    minimal_tls_version: String,
}

fn own_settings(body: &ServerForCreate) -> OwnSettings {
    let props = &body.properties;
    let storage = props.storage_profile.clone().unwrap_or_default();
    OwnSettings {
        backup_retention_days: storage.backup_retention_days.unwrap_or(DEFAULT_BACKUP_RETENTION),
        geo_redundant_backup: flag(storage.geo_redundant_backup.as_ref(), false),
        storage_autogrow: flag(storage.storage_autogrow.as_ref(), true),
        ssl_enforcement: flag(props.ssl_enforcement.as_ref(), true),
        minimal_tls_version: props.minimal_tls_version.clone().unwrap_or_else(|| DEFAULT_MINIMAL_TLS.into()),
    }
}

/// The storage a create asks for, if it names one.
fn requested_storage(body: &ServerForCreate) -> Result<Option<u64>, ApiError> {
    body.properties
        .storage_profile
        .as_ref()
        .and_then(|storage: &StorageProfile| storage.storage_mb)
        .map(requested_storage_mb)
        .transpose()
}

/// A create's settings beyond pgfleet's model.
fn extras_of(body: &ServerForCreate, tier: crate::rules::Tier) -> Result<ServerExtras, ApiError> {
    let props = &body.properties;
    ServerExtras::of_create(
        props.public_network_access.as_deref(),
        props.infrastructure_encryption.as_deref(),
        tier,
    )
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
        let sku = sku_of(body.sku.as_ref().map_or(DEFAULT_SKU, |s| s.name.as_str()))?;
        if props.administrator_login_password.as_deref().is_none_or(str::is_empty) {
            return Err(bad_request(
                "MissingAdministratorLoginPassword",
                "administratorLoginPassword is required.",
            ));
        }
        let own = own_settings(body);
        let mut server = EmServer {
            tags: body.tags.clone(),
            sku: sku.name.to_string(),
            storage_mb: requested_storage(body)?.unwrap_or(DEFAULT_STORAGE_MB),
            backup_retention_days: own.backup_retention_days,
            geo_redundant_backup: own.geo_redundant_backup,
            storage_autogrow: own.storage_autogrow,
            ssl_enforcement: own.ssl_enforcement,
            minimal_tls_version: own.minimal_tls_version,
            version: props.version.clone().unwrap_or_else(|| "11".to_string()),
            administrator_login: props.administrator_login.clone().unwrap_or_default(),
            // replication_effective is set below from the rules, once the shape is known.
            extras: extras_of(body, sku.tier)?,
            ..EmServer::new(subscription_id, resource_group, name, &body.location)
        };
        let shape = shape_of(&server)?;
        check::check_create(&shape, None).map_err(refused)?;
        server.replication_effective = check::initial_replication_support(&shape);
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
        let sku = sku_of(body.sku.as_ref().map_or(source.sku.as_str(), |s| s.name.as_str()))?;
        let own = own_settings(body);
        let source_key = source.name.to_ascii_lowercase();
        let replica = EmServer {
            tags: body.tags.clone(),
            sku: sku.name.to_string(),
            storage_mb: requested_storage(body)?.unwrap_or(source.storage_mb),
            backup_retention_days: own.backup_retention_days,
            geo_redundant_backup: own.geo_redundant_backup,
            // Always on for a replica (read-replicas).
            storage_autogrow: true,
            ssl_enforcement: own.ssl_enforcement,
            minimal_tls_version: own.minimal_tls_version,
            // A physical standby runs its source's version; the admin account is replicated.
            version: source.version.clone(),
            administrator_login: source.administrator_login.clone(),
            master: Some(source_key.clone()),
            extras: extras_of(body, sku.tier)?,
            ..EmServer::new(subscription_id, resource_group, name, &body.location)
        };
        let primary = PrimaryFacts {
            shape: shape_of(source)?,
            replication_support: Some(source.replication_effective),
            other_replicas: self.servers.replicas_of(&source_key).count(),
        };
        let shape = shape_of(&replica)?;
        check::check_create(&shape, Some(&primary)).map_err(refused)?;
        let initial = check::initial_replication_support(&shape);
        Ok(EmServer { replication_effective: initial, ..replica })
    }

    /// The server a replica create names.
    fn replica_source(&self, body: &ServerForCreate) -> Result<&EmServer, ApiError> {
        let source_id = body.properties.source_server_id.clone().unwrap_or_default();
        let (_, source_name) = wire::parse_server_id(&source_id).ok_or_else(|| {
            bad_request("InvalidSourceServerId", format!("'{source_id}' is not a server id."))
        })?;
        self.servers.get(&source_name.to_ascii_lowercase()).ok_or_else(|| ApiError::not_found(&source_name))
    }
}
