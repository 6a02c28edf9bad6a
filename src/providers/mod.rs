//! The provider boundary: one small async trait that every backend implements (the in-process
//! test provider, `local` PostgreSQL processes, `azure` over ARM). Only providers and state
//! storage do I/O.
//!
//! Guarantees every implementation gives: operations are idempotent and safe to retry (creating
//! a server that already exists with the same spec succeeds; deleting a missing server
//! succeeds); every wait has an explicit timeout; errors say whether a retry can help. A
//! provider enforces the service's rules itself and refuses, with the service's error code, what
//! the service would refuse, so a wrongly ordered plan fails as it would on Azure.

use crate::model::{Endpoint, LiveFleet, ObservedServer, ServerName, ServerPatch, ServerSpec};
use crate::secret::Redacted;
use async_trait::async_trait;

pub mod azure;
pub mod local;
#[cfg(any(test, feature = "test-support"))]
pub mod test_provider;
use std::time::Duration;

/// A server to create.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub name: ServerName,
    /// A read replica when `spec.replica_of` is set.
    pub spec: ServerSpec,
    /// The admin password; `None` for replicas, which inherit their primary's accounts.
    pub admin_password: Option<Redacted<String>>,
}

/// How to reach a server as its admin: what migration needs.
#[derive(Debug, Clone)]
pub struct Connection {
    pub endpoint: Endpoint,
    pub password: Redacted<String>,
}

/// A backend that manages the fleet's servers.
#[async_trait]
pub trait Provider: Send + Sync {
    /// `local`, `azure` or `test`.
    fn kind(&self) -> &'static str;

    /// Reads every server of the fleet, in as few calls as the backend allows.
    ///
    /// # Errors
    /// When the backend cannot be read; retryable errors say so.
    async fn refresh(&self) -> Result<LiveFleet, ProviderError>;

    /// Creates a server (or a replica) and waits until it is ready.
    ///
    /// # Errors
    /// The service's refusal (`Refused`) or a backend failure.
    async fn create(&self, request: CreateRequest) -> Result<ObservedServer, ProviderError>;

    /// Applies one PATCH of only the changed fields and waits until the server is ready again.
    ///
    /// # Errors
    /// The service's refusal (for example `InvalidUpgradeEdition`) or a backend failure.
    async fn update(&self, name: &ServerName, patch: &ServerPatch) -> Result<ObservedServer, ProviderError>;

    /// Deletes a server. Replicas of a deleted primary become standalone (DOMAIN.md §3).
    ///
    /// # Errors
    /// A backend failure; a missing server is not an error.
    async fn delete(&self, name: &ServerName) -> Result<(), ProviderError>;

    /// Restarts a server and waits until it accepts connections again.
    ///
    /// # Errors
    /// A backend failure.
    async fn restart(&self, name: &ServerName) -> Result<ObservedServer, ProviderError>;

    /// Stops replication: the replica becomes a standalone read-write server. Irreversible.
    ///
    /// # Errors
    /// `Refused` when the server is not a replica.
    async fn promote(&self, name: &ServerName) -> Result<ObservedServer, ProviderError>;

    /// A planned failover: a Flexible Server's HA standby becomes the primary behind the
    /// server's endpoint, the former primary its standby; the zones swap.
    ///
    /// # Errors
    /// `Refused` when the server has no standby, or when the backend does not run Flexible
    /// Server.
    async fn failover(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        Err(ProviderError::refused(
            crate::rules::Rule::FailoverWithoutHa.code_str(),
            format!("the {} provider does not run Flexible Server, so {name} has no standby", self.kind()),
        ))
    }

    /// Writes a server parameter (such as `azure.replication_support`); takes effect at the
    /// next restart when the parameter needs one.
    ///
    /// # Errors
    /// `Refused` for an unknown parameter or value.
    async fn set_parameter(
        &self,
        name: &ServerName,
        parameter: &str,
        value: &str,
    ) -> Result<(), ProviderError>;

    /// Replaces server `name` with `staging`, a server created for a migration that holds the
    /// verified copy of `name`'s data. Afterwards `name` is the new server (it keeps its name
    /// and, where the backend allows, its endpoint) and the old server is retired.
    ///
    /// # Errors
    /// `NotFound` when either server is missing; a backend failure.
    async fn cutover(&self, name: &ServerName, staging: &ServerName)
    -> Result<ObservedServer, ProviderError>;

    /// The admin connection to a server, for migration.
    ///
    /// # Errors
    /// `NotFound` when the server does not exist.
    async fn connection(&self, name: &ServerName) -> Result<Connection, ProviderError>;
}

/// What went wrong in a provider call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct ProviderError {
    pub kind: ProviderErrorKind,
    /// The service's error code (`InvalidUpgradeEdition`, `UnsupportedUpdate` …).
    pub code: Option<String>,
    pub message: String,
    /// How long the service asked us to wait before retrying (`Retry-After`).
    pub retry_after: Option<Duration>,
}

/// The class of a provider error, which decides whether a retry can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// 429: too many requests.
    Throttled,
    /// 5xx or an operation the service rolled back.
    ServerError,
    /// Another operation is in progress on the resource (409 `AnotherOperationInProgress`,
    /// `ServerBusy`, `OperationInterrupted`): the call can succeed once that operation ends.
    Conflict,
    /// The backend could not be reached (connection refused, for example during a restart).
    Unavailable,
    /// A wait ran out of time.
    Timeout,
    /// The server does not exist.
    NotFound,
    /// The service refuses the change under its rules.
    Refused,
    /// Bad credentials or permissions.
    Unauthorized,
    /// Anything else; not retried.
    Other,
}

impl ProviderError {
    pub fn new(kind: ProviderErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError { kind, code: None, message: message.into(), retry_after: None }
    }

    /// A refusal with the service's error code.
    pub fn refused(code: &str, message: impl Into<String>) -> ProviderError {
        ProviderError {
            kind: ProviderErrorKind::Refused,
            code: Some(code.to_string()),
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, retry_after: Duration) -> ProviderError {
        self.retry_after = Some(retry_after);
        self
    }

    /// Whether the service turned the call away because another operation is in progress on
    /// the resource: a retry succeeds once that operation ends, however long it runs, so the
    /// retrying layer waits it out (until its time bound) rather than count it as a fault.
    pub fn is_busy(&self) -> bool {
        self.kind == ProviderErrorKind::Conflict
    }

    /// Whether retrying the same call can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ProviderErrorKind::Throttled
                | ProviderErrorKind::ServerError
                | ProviderErrorKind::Conflict
                | ProviderErrorKind::Unavailable
                | ProviderErrorKind::Timeout
        )
    }
}

/// An error's message followed by each of its causes (`a: b: c`): drivers' own messages are
/// often generic ("error performing TLS handshake") and the causes say why.
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        use ProviderErrorKind::*;
        for kind in [Throttled, ServerError, Conflict, Unavailable, Timeout] {
            assert!(ProviderError::new(kind, "x").is_retryable(), "{kind:?}");
        }
        for kind in [NotFound, Refused, Unauthorized, Other] {
            assert!(!ProviderError::new(kind, "x").is_retryable(), "{kind:?}");
        }
    }

    #[test]
    fn message_names_the_code() {
        let error =
            ProviderError::refused("UnsupportedUpdate", "Cannot update StorageMB Downscaling for server");
        assert_eq!(error.to_string(), "Cannot update StorageMB Downscaling for server (UnsupportedUpdate)");
    }
}
