//! Changes to existing emulated servers: PATCH (scaling, storage, settings, promote), restart
//! and delete, with the service's rules (DOMAIN.md §2–§3) read from `crate::rules`.

use super::store::{
    ApiError, EmServer, Store, WriteOutcome, check_settings, edition_message, replica_smaller_error,
};
use crate::providers::azure::wire::ServerUpdateParameters;
use crate::rules::{self, PgVersion, SkuSize, TierChange};
use tokio::time::Instant;

fn unsupported(field: &str) -> ApiError {
    ApiError::new(400, "UnsupportedUpdate", format!("Cannot update {field} for server"))
}

/// 409 while another operation runs on the server (or, for a new replica, on its source).
pub(super) fn busy(name: &str) -> ApiError {
    ApiError::new(
        409,
        "AnotherOperationInProgress",
        format!("An operation is already in progress on server '{name}'; retry when it completes."),
    )
}

impl Store {
    /// The servers replicating `name`.
    fn replicas_of(&self, name: &str) -> Vec<&EmServer> {
        let key = name.to_ascii_lowercase();
        self.servers.values().filter(|s| s.master.as_deref() == Some(key.as_str())).collect()
    }

    /// `PATCH …/servers/{name}`.
    ///
    /// # Errors
    /// 409 while another operation runs; 400 for what the service refuses.
    pub fn update(
        &mut self,
        resource_group: &str,
        name: &str,
        body: ServerUpdateParameters,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        let current = self.find(resource_group, name, now)?.clone();
        if current.is_busy_at(now) {
            return Err(busy(name));
        }
        let props = &body.properties;
        if props.replication_role.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("None")) {
            return self.promote(&current, &body, now);
        }
        if props.administrator_login_password.is_some() && current.master.is_some() {
            return Err(ApiError::new(
                400,
                "PasswordChangeOnReplicaNotSupported",
                "The administrator password of a replica cannot be changed.",
            ));
        }
        let next = self.patched(&current, &body)?;
        self.check_replica_sizes(&current, &next)?;
        let compute_changed = next.sku != current.sku;
        let key = name.to_ascii_lowercase();
        let latency = self.latencies.update;
        let mut next = next;
        next.busy(now, latency, compute_changed.then_some("Inaccessible"));
        let outcome = self.accepted_for(&next, latency, now);
        self.servers.insert(key, next);
        Ok(outcome)
    }

    /// The server after a PATCH, or the refusal of a field the service cannot change.
    fn patched(&self, current: &EmServer, body: &ServerUpdateParameters) -> Result<EmServer, ApiError> {
        let mut next = current.clone();
        let props = &body.properties;
        if let Some(sku) = &body.sku {
            let (from, to) = (super::store::sku_of(&current.sku)?, super::store::sku_of(&sku.name)?);
            if rules::tier_change(from.tier, to.tier) == TierChange::Migration {
                return Err(ApiError::new(400, "InvalidUpgradeEdition", edition_message(to.tier)));
            }
            next.sku = to.name.to_string();
        }
        if let Some(version) = &props.version {
            if PgVersion::from_wire(version) != PgVersion::from_wire(&current.version) {
                return Err(unsupported("Version"));
            }
        }
        if let Some(storage) = &props.storage_profile {
            if let Some(mb) = storage.storage_mb {
                if mb < current.storage_mb {
                    return Err(unsupported("StorageMB Downscaling"));
                }
                next.storage_mb = mb;
            }
            if let Some(geo) = &storage.geo_redundant_backup {
                if geo.eq_ignore_ascii_case("Enabled") != current.geo_redundant_backup {
                    return Err(unsupported("GeoRedundantBackup"));
                }
            }
            if let Some(days) = storage.backup_retention_days {
                next.backup_retention_days = days;
            }
            if let Some(autogrow) = &storage.storage_autogrow {
                next.storage_autogrow = autogrow.eq_ignore_ascii_case("Enabled");
                if current.master.is_some() && !next.storage_autogrow {
                    return Err(unsupported("StorageAutogrow on a replica"));
                }
            }
        }
        if let Some(ssl) = &props.ssl_enforcement {
            next.ssl_enforcement = ssl.eq_ignore_ascii_case("Enabled");
        }
        if let Some(tls) = &props.minimal_tls_version {
            next.minimal_tls_version = tls.clone();
        }
        if let Some(tags) = &body.tags {
            next.tags = tags.clone();
        }
        check_settings(&next)?;
        Ok(next)
    }

    /// A primary may not outgrow a replica, and a replica may not shrink below its primary.
    /// Only a change that leaves a pair short and worse is refused (`rules::replica_resize_shortfall`).
    fn check_replica_sizes(&self, current: &EmServer, next: &EmServer) -> Result<(), ApiError> {
        let size =
            |s: &EmServer| super::store::sku_of(&s.sku).map(|sku| SkuSize::of_sku(sku, s.storage_gb()));
        let change = (size(current)?, size(next)?);
        let unchanged = |s: &EmServer| size(s).map(|size| (size, size));
        if let Some(master) = next.master.as_ref().and_then(|m| self.servers.get(m)) {
            if rules::replica_resize_shortfall(unchanged(master)?, change).is_some() {
                return Err(ApiError::new(
                    400,
                    "ReplicaSmallerThanMaster",
                    "The requested sku update would cause the replica server to have a smaller max_connections value than its master server.",
                ));
            }
        }
        for replica in self.replicas_of(&next.name) {
            if rules::replica_resize_shortfall(change, unchanged(replica)?).is_some() {
                return Err(replica_smaller_error());
            }
        }
        Ok(())
    }

    /// `replicationRole: None`: the replica restarts as a standalone server (irreversible).
    fn promote(
        &mut self,
        current: &EmServer,
        body: &ServerUpdateParameters,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        if body.properties.administrator_login_password.is_some() {
            return Err(ApiError::new(
                400,
                "PromoteWithPasswordChangeNotSupported",
                "Stopping replication cannot be combined with a password change; promote first.",
            ));
        }
        if current.master.is_none() {
            return Err(ApiError::new(
                400,
                "ServerIsNotReplica",
                format!("Server '{}' is not a replica.", current.name),
            ));
        }
        let mut next = current.clone();
        next.master = None;
        let latency = self.latencies.restart;
        next.busy(now, latency, Some("Inaccessible"));
        let outcome = self.accepted_for(&next, latency, now);
        self.servers.insert(current.name.to_ascii_lowercase(), next);
        Ok(outcome)
    }

    /// `POST …/servers/{name}/restart`: `Inaccessible` for the restart latency; parameters
    /// that need a restart (`azure.replication_support`) take effect.
    ///
    /// # Errors
    /// 404 for a missing server, 409 while another operation runs.
    pub fn restart(
        &mut self,
        resource_group: &str,
        name: &str,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        let mut server = self.find(resource_group, name, now)?.clone();
        if server.is_busy_at(now) {
            return Err(busy(name));
        }
        if let Some(value) = server.configured_replication_support() {
            server.replication_effective = value;
        }
        let latency = self.latencies.restart;
        server.busy(now, latency, Some("Inaccessible"));
        let outcome = self.accepted_for(&server, latency, now);
        self.servers.insert(name.to_ascii_lowercase(), server);
        Ok(outcome)
    }

    /// `DELETE …/servers/{name}`: the server goes at once; its replicas become standalone and
    /// restart (DOMAIN.md §3). `None` when there was nothing to delete (204).
    ///
    /// # Errors
    /// 409 while another operation runs on the server.
    pub fn delete(
        &mut self,
        resource_group: &str,
        name: &str,
        now: Instant,
    ) -> Result<Option<WriteOutcome>, ApiError> {
        let Ok(server) = self.find(resource_group, name, now).cloned() else {
            return Ok(None);
        };
        // A replica still being built (or restarting) from this server holds it too.
        let replica_busy = self.replicas_of(name).iter().any(|replica| replica.is_busy_at(now));
        if server.is_busy_at(now) || replica_busy {
            return Err(busy(name));
        }
        let key = name.to_ascii_lowercase();
        self.servers.remove(&key);
        let restart = self.latencies.restart;
        for replica in self.servers.values_mut().filter(|s| s.master.as_deref() == Some(key.as_str())) {
            replica.master = None;
            replica.busy(now, restart, Some("Inaccessible"));
        }
        let latency = self.latencies.delete;
        Ok(Some(self.accepted_for(&server, latency, now)))
    }
}
