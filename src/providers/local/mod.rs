//! The `local` provider: every server of the fleet is a real PostgreSQL cluster on this machine,
//! under `<root>/<fleet>/<server>`, listening on 127.0.0.1 on its own port.
//!
//! Owns: the clusters' lifecycle (create, update, restart, replicas, promote, delete, cutover)
//! and enforcing the service's rules on them with the service's error codes. Must not: plan,
//! print, or keep a password anywhere but in memory (the provider's own role has a random
//! password kept beside its cluster, readable only by the cluster's OS user).
//!
//! When pgfleet runs as root the clusters run as the `postgres` OS user; otherwise as the
//! invoking user. Every wait has an explicit timeout.

mod carried;
mod checks;
mod claim;
mod cluster;
mod cutover;
mod ha;
mod operations;
mod probe;
mod replicas;
mod settings;

use crate::pgtools as tools;
pub use crate::pgtools::{BINDIR_VARIABLE, end_with_pgfleet, find_bindir_with, find_pg_bindir};
pub use checks::INVALID_PARAMETER;
pub use settings::{ClusterSettings, MEMORY_SCALE_DIVISOR};

use crate::model::{LiveFleet, ObservedServer, ServerName, ServerPatch};
use crate::providers::{Connection, CreateRequest, Provider, ProviderError, ProviderErrorKind};
use crate::secret::Redacted;
use async_trait::async_trait;
use cluster::Cluster;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// What the local provider reports beside its return values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    /// A restart (compute change, `restart`, cutover) and how long connections failed.
    RestartWindow { server: ServerName, reason: String, unavailable: Duration },
    /// The size of a server's databases against its recorded storage limit.
    StorageUsage { server: ServerName, used_bytes: u64, limit_gb: u32 },
    /// How far a replica's replay is behind what it received, in bytes.
    ReplicaLag { server: ServerName, lag_bytes: u64 },
}

/// How to build a [`LocalProvider`].
#[derive(Debug, Clone)]
pub struct LocalProviderOptions {
    /// `[provider.local] root`: clusters live under `ROOT/<fleet>/<server>`.
    pub root: PathBuf,
    /// The first port tried when a server gets its port.
    pub port_base: u16,
    /// The fleet's name.
    pub fleet: String,
    /// Admin passwords by server, for [`Provider::connection`].
    pub passwords: BTreeMap<ServerName, Redacted<String>>,
    /// Where events go, if anyone listens.
    pub events: Option<UnboundedSender<ProviderEvent>>,
    /// The PostgreSQL binaries; found with [`find_pg_bindir`] when `None`.
    pub pg_bindir: Option<PathBuf>,
}

impl LocalProviderOptions {
    /// Options from the fleet file's `[provider.local]`, with no passwords or events yet and
    /// the binaries found by [`find_pg_bindir`].
    pub fn from_settings(settings: &crate::config::LocalSettings, fleet: &str) -> LocalProviderOptions {
        LocalProviderOptions {
            root: settings.root.clone(),
            port_base: settings.port_base,
            fleet: fleet.to_string(),
            passwords: BTreeMap::new(),
            events: None,
            pg_bindir: None,
        }
    }
}

/// What went wrong in the local provider.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A PostgreSQL tool could not be found, started or finished (`pgtools`).
    #[error(transparent)]
    Tool(#[from] crate::pgtools::ToolError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}")]
    Sql {
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("malformed {}", path.display())]
    Metadata {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("server unavailable: {0}")]
    Unavailable(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("no free port from {0} upwards")]
    NoFreePort(u16),
    /// An operation found the cluster in a state it must not change (see `claim`).
    #[error("conflict: {0}")]
    Conflict(String),
}

impl From<LocalError> for ProviderError {
    fn from(error: LocalError) -> ProviderError {
        let kind = match &error {
            LocalError::Unavailable(_) => ProviderErrorKind::Unavailable,
            LocalError::Sql { source, .. } if source.as_db_error().is_none() => {
                ProviderErrorKind::Unavailable
            }
            LocalError::Sql { source, .. }
                if source.code() == Some(&tokio_postgres::error::SqlState::CANNOT_CONNECT_NOW) =>
            {
                ProviderErrorKind::Unavailable
            }
            LocalError::Timeout(_) => ProviderErrorKind::Timeout,
            _ => ProviderErrorKind::Other,
        };
        ProviderError::new(kind, crate::providers::with_causes(&error))
    }
}

/// The local provider. Cheap to share behind an `Arc`; operations on different servers may run
/// at once.
pub struct LocalProvider {
    root: PathBuf,
    fleet_dir: PathBuf,
    port_base: u16,
    /// Admin passwords: those given at construction and those of servers this provider created.
    passwords: std::sync::Mutex<BTreeMap<ServerName, Redacted<String>>>,
    events: Option<UnboundedSender<ProviderEvent>>,
    tools: tools::Tools,
    /// Held while a create picks a port and claims it on disk, so two creates never share one.
    allocation: tokio::sync::Mutex<()>,
}

impl LocalProvider {
    /// Builds the provider: finds the binaries and the OS user clusters run as.
    ///
    /// # Errors
    /// When no PostgreSQL binaries are found, or pgfleet runs as root without a `postgres` user.
    pub fn new(options: LocalProviderOptions) -> Result<LocalProvider, LocalError> {
        let bindir = match options.pg_bindir {
            Some(dir) => dir,
            None => find_pg_bindir()?,
        };
        let tools = tools::Tools { bindir, run_as: tools::cluster_user()? };
        // Tools run with other working directories (and as another user): paths must be absolute.
        let root = std::path::absolute(&options.root).map_err(|source| LocalError::Io {
            context: format!("resolving {}", options.root.display()),
            source,
        })?;
        Ok(LocalProvider {
            fleet_dir: root.join(&options.fleet),
            root,
            port_base: options.port_base,
            passwords: std::sync::Mutex::new(options.passwords),
            events: options.events,
            tools,
            allocation: tokio::sync::Mutex::new(()),
        })
    }

    /// The directory of a server's cluster.
    pub fn server_dir(&self, name: &ServerName) -> PathBuf {
        self.fleet_dir.join(name.as_str())
    }

    /// The TCP port on 127.0.0.1 of a server's cluster, from its metadata; `None` when the
    /// server has no cluster. (For the ARM emulator's gateway, which fronts these clusters.)
    pub fn port(&self, name: &ServerName) -> Option<u16> {
        let cluster = self.cluster(name);
        cluster.exists().then(|| cluster.read_meta().ok().map(|meta| meta.port)).flatten()
    }

    /// Stops every cluster under `root` synchronously (immediate shutdown), ignoring errors:
    /// for drop guards in tests and for emergencies.
    pub fn stop_all_blocking(root: &Path, pg_bindir: &Path) {
        let run_as = tools::cluster_user().ok().flatten();
        cluster::stop_all_blocking(root, &tools::Tools { bindir: pg_bindir.to_path_buf(), run_as });
    }

    fn cluster(&self, name: &ServerName) -> Cluster {
        Cluster::new(self.server_dir(name))
    }

    fn emit(&self, event: ProviderEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    fn not_found(name: &ServerName) -> ProviderError {
        ProviderError::new(ProviderErrorKind::NotFound, format!("The server {name} does not exist."))
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn refresh(&self) -> Result<LiveFleet, ProviderError> {
        Ok(self.refresh_fleet().await?)
    }

    async fn create(&self, request: CreateRequest) -> Result<ObservedServer, ProviderError> {
        self.create_server(request).await
    }

    async fn update(&self, name: &ServerName, patch: &ServerPatch) -> Result<ObservedServer, ProviderError> {
        self.update_server(name, patch).await
    }

    async fn delete(&self, name: &ServerName) -> Result<(), ProviderError> {
        self.delete_server(name).await
    }

    async fn restart(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.restart_server(name, "restart").await
    }

    async fn promote(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.promote_replica(name).await
    }

    async fn failover(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.failover_server(name).await
    }

    async fn set_parameter(
        &self,
        name: &ServerName,
        parameter: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        self.set_server_parameter(name, parameter, value).await
    }

    async fn cutover(
        &self,
        name: &ServerName,
        staging: &ServerName,
    ) -> Result<ObservedServer, ProviderError> {
        self.cutover_servers(name, staging).await
    }

    async fn connection(&self, name: &ServerName) -> Result<Connection, ProviderError> {
        let cluster = self.cluster(name);
        if !cluster.exists() {
            return Err(Self::not_found(name));
        }
        let meta = cluster.read_meta()?;
        let passwords = self.passwords.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let primary = meta.spec.replica_of.as_ref();
        let known = passwords.get(name).or_else(|| primary.and_then(|primary| passwords.get(primary)));
        let password = known.cloned().ok_or_else(|| {
            ProviderError::new(ProviderErrorKind::Unauthorized, format!("no admin password known for {name}"))
        })?;
        Ok(Connection { endpoint: operations::endpoint(&meta), password })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_retryable() {
        // A port nothing listens on: what a client sees while a cluster restarts.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let error = cluster::connect(port, "nobody", "nothing", "postgres").await.unwrap_err();
        let provider_error = ProviderError::from(error);
        assert_eq!(provider_error.kind, ProviderErrorKind::Unavailable);
        assert!(provider_error.is_retryable());
    }

    #[test]
    fn a_failed_tool_is_not_retried() {
        let failed = crate::pgtools::ToolError::Tool { tool: "initdb".into(), message: "exit 1".into() };
        let error = ProviderError::from(LocalError::from(failed));
        assert_eq!(error.kind, ProviderErrorKind::Other);
        assert!(error.message.contains("initdb failed"));
    }
}
