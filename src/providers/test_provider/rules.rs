//! The service's rules as the test provider enforces them: the facts `crate::rules::check`
//! reads, gathered from the live fleet, and a [`Refusal`] turned into a `ProviderError` with the
//! rule's one code ([`refused`], the only place that does). No I/O, no state of its own.

use crate::model::{LiveFleet, ServerName, ServerPatch, ServerSpec};
use crate::providers::{ProviderError, ProviderErrorKind};
use crate::rules::check::{self, PrimaryFacts};
use crate::rules::{Refusal, ReplicationSupport};

/// A rule's refusal as the test provider answers it: `Refused` with the rule's code.
pub fn refused(refusal: Refusal) -> ProviderError {
    ProviderError::refused(refusal.code(), refusal.message)
}

fn replicas_of<'a>(servers: &'a LiveFleet, primary: &'a ServerName) -> impl Iterator<Item = &'a ServerName> {
    servers.values().filter(move |server| server.spec.replica_of.as_ref() == Some(primary)).map(|s| &s.name)
}

/// Whether the service accepts creating `name` with `spec` among `servers`
/// (`rules::check::check_create`).
///
/// # Errors
/// The refusal the service gives; `NotFound` for a replica of a missing primary.
pub(crate) fn check_create(
    servers: &LiveFleet,
    name: &ServerName,
    spec: &ServerSpec,
) -> Result<(), ProviderError> {
    let primary = match &spec.replica_of {
        None => None,
        Some(primary_name) => {
            let primary = servers.get(primary_name).ok_or_else(|| {
                ProviderError::new(
                    ProviderErrorKind::NotFound,
                    format!("The source server {primary_name} was not found."),
                )
            })?;
            Some(PrimaryFacts {
                shape: primary.spec.shape(primary_name.as_str()),
                replication_support: Some(primary.replication_support),
                other_replicas: replicas_of(servers, primary_name).filter(|other| *other != name).count(),
            })
        }
    };
    check::check_create(&spec.shape(name.as_str()), primary.as_ref()).map_err(refused)
}

/// Whether the service accepts `patch` on server `name` (currently `current`, with `replicas`)
/// among `servers`: the change itself (`rules::check::check_update`) and the sizes of its
/// replication set (`check_primary_resize`, `check_replica_resize`).
///
/// # Errors
/// The refusal the service gives.
pub(crate) fn check_update(
    servers: &LiveFleet,
    name: &ServerName,
    current: &ServerSpec,
    replicas: &[(&ServerName, &ServerSpec)],
    patch: &ServerPatch,
) -> Result<(), ProviderError> {
    let next = patch.apply_to(current);
    let replicas: Vec<_> = replicas.iter().map(|(replica, spec)| spec.shape(replica.as_str())).collect();
    let primary = current
        .replica_of
        .as_ref()
        .and_then(|primary| servers.get(primary))
        .map(|primary| primary.spec.shape(primary.name.as_str()));
    check::check_update_in_set(
        &current.shape(name.as_str()),
        &next.shape(name.as_str()),
        primary.as_ref(),
        &replicas,
    )
    .map_err(refused)
}

/// Whether the service promotes `name` (`rules::check::check_promote`).
///
/// # Errors
/// The refusal the service gives.
pub(crate) fn check_promote(name: &ServerName, spec: &ServerSpec) -> Result<(), ProviderError> {
    check::check_promote(&spec.shape(name.as_str())).map_err(refused)
}

/// Whether the service fails `name` over (`rules::check::check_failover`).
///
/// # Errors
/// The refusal the service gives.
pub(crate) fn check_failover(name: &ServerName, spec: &ServerSpec) -> Result<(), ProviderError> {
    check::check_failover(&spec.shape(name.as_str())).map_err(refused)
}

/// Whether `name`, with `replicas` replicas, may have its replication support set to `support`
/// (`rules::check::check_replication_support`).
///
/// # Errors
/// The refusal the service gives.
pub(crate) fn check_replication_support(
    name: &ServerName,
    spec: &ServerSpec,
    support: ReplicationSupport,
    replicas: usize,
) -> Result<(), ProviderError> {
    check::check_replication_support(&spec.shape(name.as_str()), support, replicas).map_err(refused)
}
