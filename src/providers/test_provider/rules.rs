//! The service's rules as the test provider enforces them, read from `crate::rules`: what a
//! create or an in-place update may not do, refused as the service refuses (its error codes where
//! DOMAIN.md §4.6 records them, no code where it found none). No I/O, no state of its own.

use crate::model::{LiveFleet, ServerName, ServerPatch, ServerSpec};
use crate::providers::{ProviderError, ProviderErrorKind};
use crate::rules::{self, ReplicaShortfall, TierChange, TierFeature};

/// The service's text for a primary scaled above a replica (DOMAIN.md §3).
pub const PRIMARY_LARGER_THAN_REPLICA: &str = "The operation could not be completed. The requested sku update would cause the master server to have a larger max_connections value than its replica(s).";

fn refused_without_code(message: String) -> ProviderError {
    ProviderError { kind: ProviderErrorKind::Refused, code: None, message, retry_after: None }
}

fn max_connections(spec: &ServerSpec) -> Result<u32, ProviderError> {
    spec.sku().map(|sku| sku.max_connections).ok_or_else(|| {
        ProviderError::refused("InvalidSku", format!("The sku '{}' is not supported.", spec.sku_name()))
    })
}

fn check_storage(spec: &ServerSpec) -> Result<(), ProviderError> {
    let limits = rules::storage_limits(spec.tier);
    if spec.storage_gb < limits.min_gb || spec.storage_gb > limits.max_gb {
        return Err(ProviderError::refused(
            "InvalidStorageSize",
            format!(
                "Storage of {} GB is outside {}..={} GB for tier {}.",
                spec.storage_gb, limits.min_gb, limits.max_gb, spec.tier
            ),
        ));
    }
    Ok(())
}

fn replicas_of<'a>(servers: &'a LiveFleet, primary: &'a ServerName) -> impl Iterator<Item = &'a ServerSpec> {
    servers.values().filter(move |server| server.spec.replica_of.as_ref() == Some(primary)).map(|s| &s.spec)
}

/// Whether the service accepts creating `name` with `spec` among `servers`.
///
/// # Errors
/// The refusal the service gives.
pub fn check_create(servers: &LiveFleet, name: &ServerName, spec: &ServerSpec) -> Result<(), ProviderError> {
    max_connections(spec)?;
    check_storage(spec)?;
    let Some(primary_name) = &spec.replica_of else { return Ok(()) };
    let primary = servers.get(primary_name).ok_or_else(|| {
        ProviderError::new(
            ProviderErrorKind::NotFound,
            format!("The source server {primary_name} was not found."),
        )
    })?;
    if primary.spec.is_replica() {
        return Err(refused_without_code(format!(
            "{primary_name} is a replica; a replica cannot be created from a replica."
        )));
    }
    for tier in [primary.spec.tier, spec.tier] {
        if !rules::tier_supports(tier, TierFeature::ReadReplicas) {
            return Err(refused_without_code(format!("Read replicas are not supported on the {tier} tier.")));
        }
    }
    if replicas_of(servers, primary_name).count() >= rules::MAX_REPLICAS_PER_PRIMARY
        && !servers.contains_key(name)
    {
        return Err(refused_without_code(format!(
            "{primary_name} already has {} replicas, the most a server can have.",
            rules::MAX_REPLICAS_PER_PRIMARY
        )));
    }
    if !primary.replication_support.allows_replicas() {
        return Err(refused_without_code(format!(
            "Replication support is not enabled on {primary_name}: set {} to REPLICA and restart it first.",
            rules::ReplicationSupport::PARAMETER
        )));
    }
    if !rules::replica_fits(primary.spec.size(), spec.size()) {
        return Err(refused_without_code(format!(
            "A replica must have at least the compute and storage of its primary {primary_name}."
        )));
    }
    Ok(())
}

/// Whether the service accepts `patch` on server `name` (currently `current`, with `replicas`)
/// among `servers`.
///
/// # Errors
/// The refusal the service gives.
pub fn check_update(
    servers: &LiveFleet,
    name: &ServerName,
    current: &ServerSpec,
    replicas: &[&ServerSpec],
    patch: &ServerPatch,
) -> Result<(), ProviderError> {
    let next = patch.apply_to(current);
    if rules::tier_change(current.tier, next.tier) == TierChange::Migration {
        return Err(ProviderError::refused(
            "InvalidUpgradeEdition",
            format!(
                "The edition '{}' is not a valid edition. Edition cannot be changed by update.",
                next.tier
            ),
        ));
    }
    if next.storage_gb < current.storage_gb {
        return Err(ProviderError::refused(
            "UnsupportedUpdate",
            "Cannot update StorageMB Downscaling for server",
        ));
    }
    check_storage(&next)?;
    max_connections(&next)?;
    for replica in replicas {
        match rules::replica_resize_shortfall((current.size(), next.size()), (replica.size(), replica.size()))
        {
            Some(ReplicaShortfall::MaxConnections { .. } | ReplicaShortfall::Vcores { .. }) => {
                return Err(refused_without_code(PRIMARY_LARGER_THAN_REPLICA.to_string()));
            }
            Some(ReplicaShortfall::Storage { .. }) => {
                return Err(refused_without_code(format!(
                    "{name} would have more storage than one of its replicas; grow the replicas first."
                )));
            }
            None => {}
        }
    }
    if let Some(primary) = next.replica_of.as_ref().and_then(|primary| servers.get(primary)) {
        let primary_size = (primary.spec.size(), primary.spec.size());
        if rules::replica_resize_shortfall(primary_size, (current.size(), next.size())).is_some() {
            return Err(refused_without_code(format!(
                "A replica may not be smaller than its primary {}.",
                primary.name
            )));
        }
    }
    Ok(())
}
