//! An emulator of the ARM API of Azure Database for PostgreSQL – Single Server
//! (`Microsoft.DBforPostgreSQL/servers`, api-version 2017-12-01), faithful enough that a client
//! that works against it works against Azure, Microsoft's own SDKs included: the same paths,
//! bodies and status codes as Microsoft's examples, the service's rules and error codes (read
//! from `crate::rules`), async operations with polling headers, eventual consistency after
//! create, restart windows, token-bucket throttling, seeded faults, scaled latencies, resource
//! groups, an Entra ID stand-in (token endpoint, OpenID configuration, instance discovery) and,
//! with `--tls`, HTTPS.
//!
//! Layers, outside in (`routes::router`): ARM's request ids and error bodies and its
//! case-insensitive paths ([`arm`]); the gate ([`gate`]: token, api-version, resource group,
//! throttling, faults, request log); then the routes of each resource type, whose handlers ask
//! the stores. What is ARM's stays generic, so another resource type (Flexible Server) gets it
//! by registering its routes, segments and api-versions; see `arm`, `operations` and
//! `Shared::with_operation`.
//!
//! Owns: the HTTP server on a loopback address, its in-memory servers and resource groups, the
//! request log (every request, whether it was accepted, and the body of each write with
//! passwords redacted), the optional state file, the run's TLS certificates, and with
//! `--backing local` the clusters behind the servers ([`backing`], [`gateway`]).
//! Must not: listen beyond the address it is given (and, with a backing, port 5432 of one
//! 127.0.0.0/8 address per server), or use the wall clock for timing (tokio time only; a
//! server's creation date is the one display timestamp, see `extras`).

mod arm;
pub mod backing;
mod children;
mod create;
mod extras;
mod flexible;
mod gate;
pub mod gateway;
mod groups;
mod identity;
mod jobs;
mod lifecycle;
pub mod limits;
mod operations;
mod parameters;
mod policies;
mod provider_info;
mod routes;
mod servers;
pub mod store;
mod tls;

pub use children::ChildKind;
pub use groups::ResourceGroupMode;
pub use limits::{Fault, FaultRates};
pub use store::{ApiError, Latencies};
pub use tls::{CertificateError, TlsOptions};

use limits::{FaultInjector, RequestClass, Throttle};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Seeds the fault injector, so a run's faults replay.
    pub seed: u64,
    pub latencies: Latencies,
    pub faults: FaultRates,
    /// `Retry-After` of injected 429s.
    pub fault_retry_after: Duration,
    /// Whether ARM's token buckets apply.
    pub throttling: bool,
    /// Loaded at start when it exists, written after every accepted write.
    pub state_file: Option<PathBuf>,
    /// `--backing local`: real PostgreSQL clusters behind the servers.
    pub backing: Option<backing::BackingOptions>,
    /// How many of the latest requests [`RunningEmulator::requests`] keeps (`None`: all, for
    /// tests that audit a whole run). A long-running emulator keeps a window so its memory
    /// stays bounded; [`RunningEmulator::counts`] counts every request regardless.
    pub request_log: Option<usize>,
    /// `--resource-groups`: whether a PUT into a group never created creates it (`auto`) or
    /// every request inside it is refused (`strict`).
    pub resource_groups: ResourceGroupMode,
    /// `--tls`: HTTPS with a certificate made at start; `None`: plain HTTP.
    pub tls: Option<TlsOptions>,
}

impl Default for EmulatorOptions {
    fn default() -> EmulatorOptions {
        EmulatorOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 0,
            latencies: Latencies::default(),
            faults: FaultRates::default(),
            fault_retry_after: Duration::from_secs(1),
            throttling: true,
            state_file: None,
            backing: None,
            request_log: None,
            resource_groups: ResourceGroupMode::default(),
            tls: None,
        }
    }
}

/// One request as the emulator saw and answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub status: u16,
    /// Whether the emulator carried the request out (2xx/3xx and not dropped).
    pub accepted: bool,
    /// The error code of a refusal.
    pub code: Option<String>,
    /// The injected fault, if any.
    pub fault: Option<Fault>,
    /// The JSON body sent with a write, passwords replaced by `****` (for audits of what the
    /// emulator accepted); `None` for reads and bodies that are not JSON.
    pub body: Option<serde_json::Value>,
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {address}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the state file {path}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot back the servers with local clusters")]
    Backing(#[source] crate::providers::ProviderError),
    #[error("cannot serve HTTPS")]
    Tls(#[source] CertificateError),
    #[error("cannot write the CA certificate to {path}")]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the state file {path} is not an emulator state")]
    StateFormat {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// What the handlers share.
pub(crate) struct Shared {
    options: EmulatorOptions,
    store: Mutex<Store>,
    throttle: Mutex<Throttle>,
    faults: Mutex<FaultInjector>,
    log: Mutex<std::collections::VecDeque<LoggedRequest>>,
    /// Every request served, and those refused or failed, whatever the log keeps.
    counts: Mutex<(u64, u64)>,
    tokens: Mutex<BTreeSet<String>>,
    base_url: OnceLock<String>,
    /// Held by a write from its handler until it is logged, so accepted writes appear in the
    /// log in the order the store carried them out (an audit replays them in that order).
    write_order: tokio::sync::Mutex<()>,
    /// The clusters behind the servers, with `--backing local`.
    backing: Option<Arc<backing::Backing>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A handler that panicked leaves consistent data behind (every change is one insert).
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    fn base_url(&self) -> &str {
        self.base_url.get().map(String::as_str).unwrap_or_default()
    }

    fn log(&self, entry: LoggedRequest) {
        {
            let mut counts = lock(&self.counts);
            counts.0 += 1;
            counts.1 += u64::from(!entry.accepted);
        }
        let mut log = lock(&self.log);
        log.push_back(entry);
        if let Some(limit) = self.options.request_log {
            while log.len() > limit {
                log.pop_front();
            }
        }
    }

    fn knows_token(&self, token: &str) -> bool {
        lock(&self.tokens).contains(token)
    }

    fn issue_token(&self) -> String {
        let token = format!("emulator-{}", uuid::Uuid::new_v4().simple());
        lock(&self.tokens).insert(token.clone());
        token
    }

    /// The remaining budget after taking a token (`None` with throttling off), or the wait.
    fn take_budget(&self, class: RequestClass) -> Result<Option<u64>, Duration> {
        if !self.options.throttling {
            return Ok(None);
        }
        lock(&self.throttle).take(class, tokio::time::Instant::now()).map(Some)
    }

    fn draw_fault(&self) -> Option<Fault> {
        lock(&self.faults).draw()
    }

    /// Whether a server of any service holds `name` (server names are global, and Single and
    /// Flexible Server share them). The one place `checkNameAvailability` asks.
    pub(crate) fn name_taken(&self, name: &str) -> bool {
        self.store().servers.contains_key(&name.to_ascii_lowercase())
    }

    /// Runs `change` on the async operation `id`, in whichever store holds it; `None` when
    /// none does. The one place a poll or the fault injector finds an operation.
    pub(crate) fn with_operation<T>(
        &self,
        id: &str,
        change: impl FnOnce(&mut operations::Operation) -> T,
    ) -> Option<T> {
        let mut store = self.store();
        store.operations.get_mut(id).map(change)
    }

    /// Writes the servers to the state file, if there is one (atomically: temp file + rename).
    fn persist(&self) {
        let Some(path) = &self.options.state_file else { return };
        let text = match serde_json::to_string_pretty(&*self.store()) {
            Ok(text) => text,
            Err(error) => {
                tracing::warn!(%error, "cannot serialize the emulator state");
                return;
            }
        };
        let temporary = path.with_extension("tmp");
        if let Err(error) = std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, path))
        {
            tracing::warn!(%error, path = %path.display(), "cannot write the emulator state");
        }
    }
}

/// A running emulator: its address, request log and shutdown handle.
pub struct RunningEmulator {
    pub address: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// With `--tls`: the CA certificate (PEM) clients trust.
    ca_pem: Option<String>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT` (`https://` with TLS): the ARM endpoint and the authority host.
    pub fn base_url(&self) -> String {
        self.shared.base_url().to_string()
    }

    /// With TLS, the CA certificate (PEM) that signed the emulator's certificate.
    pub fn ca_certificate_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Every request so far (the latest `request_log` of them when that is set), in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// How many requests were served, and how many of them were refused or failed.
    pub fn counts(&self) -> (u64, u64) {
        *lock(&self.shared.counts)
    }

    /// A bearer token, as the token endpoint issues them (for demos, and tests whose injected
    /// faults reach the token endpoint too).
    pub fn issue_token(&self) -> String {
        self.shared.issue_token()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Adds a ready server directly (benchmarks and demos), checked by the same rules as a
    /// create through the API. With `--backing local` no cluster is made for it.
    ///
    /// # Errors
    /// The refusal the API would give.
    pub fn insert_server(
        &self,
        subscription_id: &str,
        resource_group: &str,
        name: &str,
        body: crate::providers::azure::wire::ServerForCreate,
    ) -> Result<(), ApiError> {
        let mut store = self.shared.store();
        let now = tokio::time::Instant::now();
        store.create(subscription_id, resource_group, name, body, now)?;
        store.ensure_groups_of_servers();
        let server = store.servers.get_mut(&name.to_ascii_lowercase()).expect("just created");
        server.visible_at = None;
        server.busy_until = None;
        Ok(())
    }

    /// Stands for a flexible server's disk filling up to `used_gb`: storage autogrow (when the
    /// server has it on, on Premium SSD) grows the disk as the service does
    /// (`rules::autogrow_size`), as often as the rule triggers. Returns the size it has then.
    ///
    /// # Errors
    /// 404 for a missing flexible server.
    pub fn fill_storage(&self, name: &str, used_gb: f64) -> Result<u32, ApiError> {
        let mut store = self.shared.store();
        let server = store
            .servers
            .get_mut(&name.to_ascii_lowercase())
            .filter(|s| s.is_flexible())
            .ok_or_else(|| ApiError::not_found_in(crate::rules::Service::Flexible, name))?;
        let premium =
            server.flexible.as_ref().is_some_and(|f| f.storage_type == crate::rules::StorageType::Premium);
        while server.storage_autogrow && premium {
            let Some(grown) = crate::rules::autogrow_size(server.storage_gb(), used_gb) else { break };
            server.storage_mb = u64::from(grown) * 1024;
        }
        let size = server.storage_gb();
        drop(store);
        self.shared.persist();
        Ok(size)
    }

    /// Sets a server's `azure.replication_support` as in force (as after a restart).
    ///
    /// # Errors
    /// 404 for a missing server.
    pub fn enable_replication(&self, name: &str) -> Result<(), ApiError> {
        let mut store = self.shared.store();
        let server = store
            .servers
            .get_mut(&name.to_ascii_lowercase())
            .ok_or_else(|| ApiError::new(404, "ResourceNotFound", name.to_string()))?;
        server.configurations.insert(
            crate::rules::ReplicationSupport::PARAMETER.to_string(),
            crate::rules::ReplicationSupport::Replica.as_str().to_string(),
        );
        server.replication_effective = crate::rules::ReplicationSupport::Replica;
        Ok(())
    }

    /// The gateway address of a server (its `fullyQualifiedDomainName`) with `--backing local`.
    pub fn server_address(&self, name: &str) -> Option<String> {
        self.shared.store().servers.get(&name.to_ascii_lowercase()).and_then(|s| s.address.clone())
    }

    /// Stops the server and waits for it to finish; with a backing, stops every cluster.
    pub async fn shutdown(mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
        let _ = (&mut self.task).await;
        if let Some(backing) = self.shared.backing.clone() {
            let _ = tokio::task::spawn_blocking(move || backing.stop_blocking()).await;
        }
    }
}

impl Drop for RunningEmulator {
    /// A dropped emulator (a test that failed, for example) leaves no cluster running.
    fn drop(&mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
            if let Some(backing) = &self.shared.backing {
                backing.stop_blocking();
            }
        }
    }
}

fn load_store(options: &EmulatorOptions) -> Result<Store, EmulatorError> {
    let mut store = Store::new(options.latencies);
    if let Some(path) = options.state_file.as_ref().filter(|p| p.exists()) {
        let text = std::fs::read_to_string(path)
            .map_err(|source| EmulatorError::State { path: path.clone(), source })?;
        let loaded: Store = serde_json::from_str(&text)
            .map_err(|source| EmulatorError::StateFormat { path: path.clone(), source })?;
        store.servers = loaded.servers;
        store.resource_groups = loaded.resource_groups;
        // Servers of older state files get a creation time once, kept from then on.
        store.servers.for_each_mut(|server| {
            server.extras.created.get_or_insert_with(extras::display_timestamp);
        });
        store.ensure_groups_of_servers();
    }
    Ok(store)
}

/// Makes the run's certificates and writes the CA's where the options say.
fn tls_certificates(listen: SocketAddr, tls: &TlsOptions) -> Result<tls::Certificates, EmulatorError> {
    let certificates = tls::certificates(listen).map_err(EmulatorError::Tls)?;
    let write = || -> std::io::Result<()> {
        if let Some(parent) = tls.ca_file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&tls.ca_file, &certificates.ca_pem)
    };
    write().map_err(|source| EmulatorError::CaFile { path: tls.ca_file.clone(), source })?;
    Ok(certificates)
}

/// Serves `app` on `listener` until `stopped` resolves, then lets open requests finish.
async fn serve<L>(
    listener: L,
    app: axum::Router,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
        tracing::warn!(%error, "the emulator stopped with an error");
    }
}

/// Starts the emulator on `options.listen` and serves until shut down.
///
/// # Errors
/// The address cannot be bound, or the state file cannot be read.
pub async fn start(options: EmulatorOptions) -> Result<RunningEmulator, EmulatorError> {
    let store = load_store(&options)?;
    let backing = match &options.backing {
        Some(backing) if backing.remove_root && !store.servers.is_empty() => {
            return Err(EmulatorError::Backing(crate::providers::ProviderError::new(
                crate::providers::ProviderErrorKind::Other,
                format!(
                    "the state file holds {} servers whose clusters a temporary backing root cannot have; \
                     name the root they live in with --backing-root",
                    store.servers.len()
                ),
            )));
        }
        Some(backing) => {
            Some(Arc::new(backing::Backing::new(backing.clone()).map_err(EmulatorError::Backing)?))
        }
        None => None,
    };
    let certificates = match &options.tls {
        Some(tls) => Some(tls_certificates(options.listen, tls)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| EmulatorError::Bind { address: options.listen, source })?;
    let address =
        listener.local_addr().map_err(|source| EmulatorError::Bind { address: options.listen, source })?;
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        throttle: Mutex::new(Throttle::new(tokio::time::Instant::now())),
        faults: Mutex::new(FaultInjector::new(options.faults, options.seed)),
        log: Mutex::new(std::collections::VecDeque::new()),
        counts: Mutex::new((0, 0)),
        tokens: Mutex::new(BTreeSet::new()),
        base_url: OnceLock::new(),
        write_order: tokio::sync::Mutex::new(()),
        backing,
        options,
    });
    let scheme = if certificates.is_some() { "https" } else { "http" };
    let _ = shared.base_url.set(format!("{scheme}://{address}"));
    jobs::resume(&shared);
    let (sender, receiver) = oneshot::channel::<()>();
    let app = routes::router(shared.clone());
    let stopped = async {
        let _ = receiver.await;
    };
    let task = match &certificates {
        Some(certificates) => {
            let listener = tls::TlsListener::new(listener, certificates.server.clone());
            tokio::spawn(serve(listener, app, stopped))
        }
        None => tokio::spawn(serve(listener, app, stopped)),
    };
    let ca_pem = certificates.map(|c| c.ca_pem);
    Ok(RunningEmulator { address, shared, shutdown: Some(sender), task, ca_pem })
}
