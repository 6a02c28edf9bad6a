//! What each accepted write asks of the backing clusters (`--backing local`): the handlers
//! hand the server as it was and as it is; this module derives the [`Job`], holds the write's
//! operation until the job is done, and records a failed job as the operation's error.
//!
//! Must not: decide a rule; without a backing every function here does nothing.

use super::Shared;
use super::backing::Job;
use super::gateway::LoginForm;
use super::store::{ApiError, EmServer, Store, WriteOutcome};
use crate::model::{ServerName, ServerPatch, ServerSpec};
use crate::providers::ProviderError;
use crate::providers::azure::flexible_wire;
use crate::providers::azure::wire::{self, MappingContext};
use crate::rules::ReplicationSupport;
use crate::secret::Redacted;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The spec the local provider gets for an emulated server (the same mapping the azure
/// provider reads it with).
fn spec_of(store: &Store, server: &EmServer) -> Option<ServerSpec> {
    if server.is_flexible() {
        return store.flexible_spec(server).ok();
    }
    let names = BTreeMap::new();
    let context = MappingContext { names_by_id: &names, replication_support: ReplicationSupport::Off };
    let observed = wire::to_observed(&store.to_wire(server, tokio::time::Instant::now()), context).ok()?;
    Some(observed.spec)
}

/// The login form of the server's gateway: `user@server` on Single Server, `user` on
/// Flexible Server.
fn login_form(server: &EmServer) -> LoginForm {
    if server.is_flexible() { LoginForm::Plain } else { LoginForm::WithServer }
}

fn name_of(server: &EmServer) -> ServerName {
    ServerName::new(server.name.to_ascii_lowercase())
}

/// A failed job as the operation's error: the service's code for a refusal, else a 500.
fn api_error(error: &ProviderError) -> ApiError {
    match (&error.code, error.is_retryable()) {
        (Some(code), false) => ApiError::new(400, code, error.message.clone()),
        _ => ApiError::new(500, "InternalServerError", format!("The server's cluster failed: {error}")),
    }
}

/// The servers a write on `server` keeps busy: itself, and on Flexible Server its primary,
/// which the service locks while a replica is created, promoted or deleted.
pub(super) fn held_with_primary(key: &str, server: &EmServer) -> Vec<String> {
    let mut held = vec![key.to_string()];
    if let Some(primary) = server.master.as_ref().filter(|_| server.is_flexible()) {
        held.push(primary.clone());
    }
    held
}

/// Holds the write's operation and `held` servers, and runs `job` in the background.
fn run(shared: &Arc<Shared>, store: &mut Store, outcome: &WriteOutcome, job: Job, held: Vec<String>) {
    let (Some(backing), Some((operation, _))) = (shared.backing.clone(), outcome.operation.as_ref()) else {
        return;
    };
    store.hold(operation, &held);
    let (shared, operation) = (shared.clone(), operation.clone());
    let tracked = backing.clone();
    let task = tokio::spawn(async move {
        let result = backing.run(&job).await;
        let error = result.err().map(|error| {
            tracing::warn!(%error, server = %job.server(), "a backing cluster job failed");
            api_error(&error)
        });
        {
            let mut store = shared.store();
            if let (Some(_), Job::Create { name, .. }) = (&error, &job) {
                // A create that failed leaves no server; retrying the PUT starts over.
                store.servers.remove(name.as_str());
                backing.close_gateway(name.as_str());
            }
            store.release(&operation, &held, error);
        }
        shared.persist();
    });
    tracked.track(task.abort_handle());
}

/// After a PUT on a server: a create (a new cluster, behind a new gateway) or an update.
pub(super) fn after_put(
    shared: &Arc<Shared>,
    store: &mut Store,
    key: &str,
    before: Option<EmServer>,
    password: Option<Redacted<String>>,
    outcome: &WriteOutcome,
) {
    let Some(backing) = shared.backing.clone() else { return };
    if before.is_some() {
        return after_patch(shared, store, key, before, outcome);
    }
    let Some(server) = store.servers.get(key).cloned() else { return };
    match backing.open_gateway(key, login_form(&server)) {
        Ok(address) => {
            if let Some(stored) = store.servers.get_mut(key) {
                stored.address = Some(address.to_string());
            }
        }
        Err(error) => tracing::warn!(%error, server = key, "no loopback address for the server's gateway"),
    }
    let Some(spec) = spec_of(store, &server) else { return };
    let password = if spec.is_replica() { None } else { password };
    let job = Job::Create { name: name_of(&server), spec, password };
    run(shared, store, outcome, job, held_with_primary(key, &server));
}

/// After a PATCH: a promote, or an update of what changed (nothing for tags alone).
pub(super) fn after_patch(
    shared: &Arc<Shared>,
    store: &mut Store,
    key: &str,
    before: Option<EmServer>,
    outcome: &WriteOutcome,
) {
    let (Some(before), Some(after)) = (before, store.servers.get(key).cloned()) else { return };
    let held = held_with_primary(key, &before);
    let job = if before.master.is_some() && after.master.is_none() {
        Job::Promote { name: name_of(&after) }
    } else {
        let (Some(from), Some(to)) = (spec_of(store, &before), spec_of(store, &after)) else { return };
        let patch = if after.is_flexible() {
            flexible_wire::patch_between(&from, &to)
        } else {
            wire::patch_between(&from, &to)
        };
        if (ServerPatch { tags: None, ..patch.clone() }).is_empty() {
            return;
        }
        Job::Update { name: name_of(&after), patch }
    };
    run(shared, store, outcome, job, held);
}

/// After a DELETE: the cluster goes, and the clusters of its replicas (standalone servers in
/// the store already) are promoted; they stay busy until then.
pub(super) fn after_delete(
    shared: &Arc<Shared>,
    store: &mut Store,
    key: &str,
    replicas: Vec<String>,
    outcome: &WriteOutcome,
) {
    let job = Job::Delete { name: ServerName::new(key) };
    run(shared, store, outcome, job, replicas);
}

/// After a restart: the cluster restarts (and takes the replication support written before).
pub(super) fn after_restart(shared: &Arc<Shared>, store: &mut Store, key: &str, outcome: &WriteOutcome) {
    run(shared, store, outcome, Job::Restart { name: ServerName::new(key) }, vec![key.to_string()]);
}

/// After a failover: the cluster's standby takes over (and the zones swap in the store).
pub(super) fn after_failover(shared: &Arc<Shared>, store: &mut Store, key: &str, outcome: &WriteOutcome) {
    run(shared, store, outcome, Job::Failover { name: ServerName::new(key) }, vec![key.to_string()]);
}

/// After a configuration write: `azure.replication_support` reaches the cluster's settings
/// (in force at its next restart); other parameters are the emulator's alone.
pub(super) fn after_configuration(
    shared: &Arc<Shared>,
    store: &mut Store,
    key: &str,
    parameter: &str,
    outcome: &WriteOutcome,
) {
    if parameter != ReplicationSupport::PARAMETER {
        return;
    }
    let Some(value) = store.servers.get(key).and_then(|s| s.configurations.get(parameter).cloned()) else {
        return;
    };
    let job = Job::SetParameter { name: ServerName::new(key), parameter: parameter.to_string(), value };
    run(shared, store, outcome, job, vec![key.to_string()]);
}

/// At start, with a backing and servers loaded from the state file: each server gets its
/// gateway back (at its old address when it is free) and its cluster is started; the server
/// is busy until then.
pub(super) fn resume(shared: &Arc<Shared>) {
    let Some(backing) = shared.backing.clone() else { return };
    let mut store = shared.store();
    let keys: Vec<String> = store.servers.keys().cloned().collect();
    for key in keys {
        let Some(server) = store.servers.get_mut(&key) else { continue };
        let preferred = server.address.as_deref().and_then(|a| a.parse().ok());
        match backing.open_gateway_preferring(&key, login_form(server), preferred) {
            Ok(address) => server.address = Some(address.to_string()),
            Err(error) => {
                tracing::warn!(%error, server = key, "no loopback address for the server's gateway")
            }
        }
        server.held = true;
        // Unreachable while its cluster starts, as after a restart.
        server.busy_state = Some("Inaccessible".to_string());
        let (shared, backing, job) =
            (shared.clone(), backing.clone(), Job::Restart { name: ServerName::new(&key) });
        let tracked = backing.clone();
        let task = tokio::spawn(async move {
            if let Err(error) = backing.run(&job).await {
                tracing::warn!(%error, server = %job.server(), "the server's cluster did not start");
            }
            if let Some(server) = shared.store().servers.get_mut(job.server().as_str()) {
                server.held = false;
            }
        });
        tracked.track(task.abort_handle());
    }
}
