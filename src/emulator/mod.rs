//! An emulator of the ARM API of Azure Database for PostgreSQL – Single Server
//! (`Microsoft.DBforPostgreSQL/servers`, api-version 2017-12-01), faithful enough that a client
//! that works against it works against Azure: the same paths, bodies and status codes as
//! Microsoft's examples, the service's rules and error codes (read from `crate::rules`), async
//! operations with polling headers, eventual consistency after create, restart windows,
//! token-bucket throttling, seeded faults, scaled latencies, and a client-credentials token
//! endpoint.
//!
//! Owns: the HTTP server on a loopback address, its in-memory servers, the request log (every
//! request, whether it was accepted, and the body of each write with passwords redacted), the
//! optional state file, and with `--backing local` the clusters behind the servers
//! ([`backing`], [`gateway`]).
//! Must not: listen beyond the address it is given (and, with a backing, port 5432 of one
//! 127.0.0.0/8 address per server), or use the wall clock (tokio time only).

pub mod backing;
mod children;
mod create;
pub mod gateway;
mod jobs;
mod lifecycle;
pub mod limits;
mod routes;
pub mod store;

pub use children::ChildKind;
pub use limits::{Fault, FaultRates};
pub use store::{ApiError, Latencies};

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
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`: the ARM endpoint and the authority host.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request so far (the latest `request_log` of them when that is set), in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// How many requests were served, and how many of them were refused or failed.
    pub fn counts(&self) -> (u64, u64) {
        *lock(&self.shared.counts)
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
        let server = store.servers.get_mut(&name.to_ascii_lowercase()).expect("just created");
        server.visible_at = None;
        server.busy_until = None;
        Ok(())
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
    }
    Ok(store)
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
    let _ = shared.base_url.set(format!("http://{address}"));
    jobs::resume(&shared);
    let (sender, receiver) = oneshot::channel::<()>();
    let app = routes::router(shared.clone());
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = receiver.await;
        });
        if let Err(error) = serve.await {
            tracing::warn!(%error, "the emulator stopped with an error");
        }
    });
    Ok(RunningEmulator { address, shared, shutdown: Some(sender), task })
}
