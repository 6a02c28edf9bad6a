//! Changes to existing emulated servers: PATCH (scaling, storage, settings, promote), restart
//! and delete. What the service refuses is `rules::check` (`check_update`, the resize checks of
//! a replication set, `check_password_change`, `check_promote`); which changes restart the
//! server is `rules::restarts`.

use super::store::{
    ApiError, EmServer, Store, WriteOutcome, refused, requested_storage_mb, shape_of, sku_of,
};
use crate::providers::azure::wire::ServerUpdateParameters;
use crate::rules::check;
use crate::rules::{self, Key, PgVersion, Shape};
use tokio::time::Instant;

/// The keys whose values differ between two shapes of one server.
fn changed_keys(before: &Shape, after: &Shape) -> Vec<Key> {
    [
        (Key::Tier, before.tier != after.tier),
        (Key::Generation, before.generation != after.generation),
        (Key::Vcores, before.vcores != after.vcores),
        (Key::StorageGb, before.storage_gb != after.storage_gb),
        (Key::BackupRetentionDays, before.backup_retention_days != after.backup_retention_days),
        (Key::StorageAutogrow, before.storage_autogrow != after.storage_autogrow),
        (Key::SslEnforcement, before.ssl_enforcement != after.ssl_enforcement),
        (Key::MinimalTlsVersion, before.minimal_tls_version != after.minimal_tls_version),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect()
}

impl Store {
    /// The servers replicating `name`.
    fn replicas_of(&self, name: &str) -> Vec<&EmServer> {
        let key = name.to_ascii_lowercase();
        self.servers.replicas_of(&key).collect()
    }

    /// Whether a DELETE of `name` waits its turn: the server is busy (or still being created),
    /// or a replica still being built (or restarting) from it holds it too.
    pub(crate) fn is_held_for_delete(&self, name: &str, now: Instant) -> bool {
        let Some(server) = self.servers.get(&name.to_ascii_lowercase()) else { return false };
        let creating = server.visible_at.is_some_and(|at| now < at);
        creating || server.is_busy_at(now) || self.replicas_of(name).iter().any(|r| r.is_busy_at(now))
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
            return Err(ApiError::busy(name));
        }
        let props = &body.properties;
        if props.replication_role.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("None")) {
            return self.promote(&current, &body, now);
        }
        if props.administrator_login_password.is_some() {
            check::check_password_change(&shape_of(&current)?, false).map_err(refused)?;
        }
        let next = patched(&current, &body)?;
        let restarts = self.check_update(&current, &next)?;
        let key = name.to_ascii_lowercase();
        let latency = self.latencies.update;
        let mut next = next;
        next.busy(now, latency, restarts.then_some("Inaccessible"));
        let outcome = self.accepted_for(&next, latency, now);
        self.servers.insert(key, next);
        Ok(outcome)
    }

    /// Whether the service takes the change from `current` to `next`: the change itself, and a
    /// primary not outgrowing its replicas nor a replica shrinking below its primary (only a
    /// change that leaves a pair short and worse is refused). `Ok(true)` when it restarts.
    fn check_update(&self, current: &EmServer, next: &EmServer) -> Result<bool, ApiError> {
        let (before, after) = (shape_of(current)?, shape_of(next)?);
        check::check_update(&before, &after).map_err(refused)?;
        if let Some(master) = next.master.as_ref().and_then(|m| self.servers.get(m)) {
            check::check_replica_resize(&shape_of(master)?, &before, &after).map_err(refused)?;
        }
        let replicas = self.replicas_of(&next.name);
        let replicas = replicas.iter().map(|replica| shape_of(replica)).collect::<Result<Vec<_>, _>>()?;
        check::check_primary_resize(&before, &after, &replicas).map_err(refused)?;
        Ok(rules::restarts(rules::Service::Single, changed_keys(&before, &after)))
    }

    /// `replicationRole: None`: the replica restarts as a standalone server (irreversible).
    fn promote(
        &mut self,
        current: &EmServer,
        body: &ServerUpdateParameters,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        let shape = shape_of(current)?;
        if body.properties.administrator_login_password.is_some() {
            check::check_password_change(&shape, true).map_err(refused)?;
        }
        check::check_promote(&shape).map_err(refused)?;
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
            return Err(ApiError::busy(name));
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
        if self.is_held_for_delete(name, now) {
            return Err(ApiError::busy(name));
        }
        let key = name.to_ascii_lowercase();
        self.servers.remove(&key);
        let restart = self.latencies.restart;
        self.servers.detach_replicas(&key, |replica| replica.busy(now, restart, Some("Inaccessible")));
        let latency = self.latencies.delete;
        Ok(Some(self.accepted_for(&server, latency, now)))
    }
}

/// The server after a PATCH: the fields it sets, parsed (a SKU name, a whole-GB storage); the
/// rules are checked on the result.
fn patched(current: &EmServer, body: &ServerUpdateParameters) -> Result<EmServer, ApiError> {
    let mut next = current.clone();
    let props = &body.properties;
    if let Some(sku) = &body.sku {
        next.sku = sku_of(&sku.name)?.name.to_string();
    }
    if let Some(version) = &props.version {
        // `10.0` and `10` are one version: only another one is a change.
        if PgVersion::from_wire(version) != PgVersion::from_wire(&current.version) {
            next.version = version.clone();
        }
    }
    if let Some(storage) = &props.storage_profile {
        if let Some(mb) = storage.storage_mb {
            next.storage_mb = requested_storage_mb(mb)?;
        }
        if let Some(geo) = &storage.geo_redundant_backup {
            next.geo_redundant_backup = geo.eq_ignore_ascii_case("Enabled");
        }
        if let Some(days) = storage.backup_retention_days {
            next.backup_retention_days = days;
        }
        if let Some(autogrow) = &storage.storage_autogrow {
            next.storage_autogrow = autogrow.eq_ignore_ascii_case("Enabled");
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
    next.extras.set_public_network_access(props.public_network_access.as_deref(), sku_of(&next.sku)?.tier)?;
    Ok(next)
}
