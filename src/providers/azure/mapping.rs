//! The mapping between ARM's wire format and pgfleet's model: `to_observed` (wire → model) and
//! the bodies pgfleet sends for an intent (`create_body`, `update_body`, `promote_body`).
//! Pure functions, no I/O; re-exported from `wire`.

use super::wire::{
    CreateProperties, MappingError, RESERVED_TAG_PREFIX, Server, ServerForCreate, ServerUpdateParameters,
    Sku, StorageProfile, UpdateProperties, enabled, is_enabled, parse_server_id, status_of, storage_mb,
};
use crate::model::{Endpoint, ObservedServer, ServerName, ServerPatch, ServerSpec};
use crate::rules::{self, PgVersion, ReplicationSupport, StorageChange, TlsVersion};
use crate::secret::Redacted;
use std::collections::BTreeMap;

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
        flexible: None,
        // Read by the provider's refresh from the server's child resources.
        parameters: BTreeMap::new(),
        firewall_rules: BTreeMap::new(),
        databases: BTreeMap::new(),
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
/// `source_server_id` set). A replica takes its version and admin login from its source and
/// sends neither (nor a password); everything else that is its own (location, sku, storage,
/// backup retention, geo-redundant backup, auto-grow, SSL, TLS, tags) it sends as a new server
/// does, so the service keeps what the fleet file says for it and refresh maps it back as such.
/// Geo-redundant backup in particular is set only at create: a replica that took its
/// primary's could never converge.
pub fn create_body(
    spec: &ServerSpec,
    password: Option<&Redacted<String>>,
    source_server_id: Option<&str>,
) -> ServerForCreate {
    let own = CreateProperties {
        ssl_enforcement: Some(enabled(spec.ssl_enforcement)),
        minimal_tls_version: Some(spec.minimal_tls_version.as_str().to_string()),
        storage_profile: Some(StorageProfile {
            storage_mb: Some(storage_mb(spec.storage_gb)),
            backup_retention_days: Some(spec.backup_retention_days),
            geo_redundant_backup: Some(enabled(spec.geo_redundant_backup)),
            storage_autogrow: Some(enabled(spec.storage_autogrow)),
        }),
        ..CreateProperties::default()
    };
    let properties = match source_server_id {
        Some(source) => CreateProperties {
            create_mode: "Replica".into(),
            source_server_id: Some(source.to_string()),
            ..own
        },
        None => CreateProperties {
            administrator_login: Some(spec.admin_login.clone()),
            administrator_login_password: password.map(|p| p.expose().clone()),
            version: Some(spec.version.as_str().to_string()),
            create_mode: "Default".into(),
            ..own
        },
    };
    ServerForCreate {
        location: spec.location.clone(),
        properties,
        sku: Some(Sku::of(spec)),
        tags: user_tags(&spec.tags),
    }
}

/// The user's tags as pgfleet sends them: never one named `pgfleet-*`. Those are pgfleet's own
/// (the fleet name after a cutover, the cutover count); refresh reads a server's fleet name
/// from `pgfleet-name`, so a user-written one would report the server under another name.
fn user_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|(key, _)| !key.to_ascii_lowercase().starts_with(RESERVED_TAG_PREFIX))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
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
        tags: patch.tags.as_ref().map(user_tags),
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
/// storage growth, retention, auto-grow, TLS, tags); used after a replica create, in case the
/// service set some of them from its source instead of the request.
pub fn patch_between(observed: &ServerSpec, desired: &ServerSpec) -> ServerPatch {
    fn changed<T: PartialEq + Clone>(from: &T, to: &T) -> Option<T> {
        (from != to).then(|| to.clone())
    }
    ServerPatch {
        tier: changed(&observed.tier, &desired.tier),
        generation: changed(&observed.generation, &desired.generation),
        vcores: changed(&observed.vcores, &desired.vcores),
        storage_gb: (rules::storage_change(observed.storage_gb, desired.storage_gb) == StorageChange::Grow)
            .then_some(desired.storage_gb),
        backup_retention_days: changed(&observed.backup_retention_days, &desired.backup_retention_days),
        storage_autogrow: changed(&observed.storage_autogrow, &desired.storage_autogrow),
        ssl_enforcement: changed(&observed.ssl_enforcement, &desired.ssl_enforcement),
        minimal_tls_version: changed(&observed.minimal_tls_version, &desired.minimal_tls_version),
        tags: changed(&observed.tags, &desired.tags),
        ..ServerPatch::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Tier;

    fn spec() -> ServerSpec {
        ServerSpec {
            geo_redundant_backup: false,
            backup_retention_days: 7,
            tags: [("team".to_string(), "ro".to_string()), ("pgfleet-name".to_string(), "other".to_string())]
                .into(),
            ..ServerSpec::new(Tier::GeneralPurpose, 8, 512, PgVersion::V11, "fleetadmin", "northeurope")
        }
    }

    #[test]
    fn a_replica_create_sends_its_own_settings_but_no_login_password_or_version() {
        let body =
            create_body(&spec(), None, Some("/subscriptions/s/resourceGroups/g/providers/x/servers/p"));
        let props = &body.properties;
        assert_eq!(props.create_mode, "Replica");
        assert_eq!((&props.administrator_login, &props.administrator_login_password), (&None, &None));
        assert_eq!(props.version, None);
        let storage = props.storage_profile.clone().unwrap();
        assert_eq!(storage.geo_redundant_backup.as_deref(), Some("Disabled"));
        assert_eq!(storage.backup_retention_days, Some(7));
        assert_eq!(storage.storage_mb, Some(512 * 1024));
        assert_eq!(props.minimal_tls_version.as_deref(), Some(spec().minimal_tls_version.as_str()));
        assert_eq!(body.location, "northeurope");
        assert_eq!(body.sku.unwrap().name, "GP_Gen5_8");
    }

    #[test]
    fn reserved_tags_written_by_the_user_are_never_sent() {
        let only_team: BTreeMap<String, String> = [("team".to_string(), "ro".to_string())].into();
        assert_eq!(create_body(&spec(), None, None).tags, only_team);
        let patch = ServerPatch { tags: Some(spec().tags), ..ServerPatch::default() };
        assert_eq!(update_body(&spec(), &patch, None).tags, Some(only_team));
    }
}
