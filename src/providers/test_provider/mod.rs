//! The in-process test provider: a deterministic in-memory backend behind the `Provider` trait,
//! for engine tests, integration tests and benchmarks (so it is not `cfg(test)`). Live state is
//! scriptable, every call is logged, each operation can take a set latency (`tokio::time::sleep`,
//! exact under paused time), chosen calls fail with chosen errors, and it enforces the service's
//! rules (`rules`, read from `crate::rules`). It must not touch disk, network or processes.
//!
//! An operation's effect happens halfway through its latency, so an apply dropped mid-call may
//! leave the change made but not reported, as a crash against the real service can.

mod rules;

use super::{Connection, CreateRequest, Provider, ProviderError, ProviderErrorKind};
use crate::model::{Endpoint, LiveFleet, ObservedServer, ServerName, ServerPatch, ServerSpec, ServerStatus};
use crate::rules::ReplicationSupport;
use crate::secret::Redacted;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// A provider operation, for latencies, scripted failures and the call log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Refresh,
    Create,
    Update,
    Delete,
    Restart,
    Promote,
    Failover,
    SetParameter,
    Cutover,
    Connection,
}

/// One logged call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub op: Op,
    /// The server called on (empty for `refresh`).
    pub server: ServerName,
    /// When the call started and ended, from the provider's creation (`None`: never ended).
    pub started_at: Duration,
    pub ended_at: Option<Duration>,
    /// The error it returned, if it failed.
    pub error: Option<ProviderError>,
}

#[derive(Debug)]
struct Inner {
    epoch: Instant,
    servers: LiveFleet,
    /// Parameter values that take effect at the next restart.
    pending_replication: BTreeMap<ServerName, ReplicationSupport>,
    /// What new servers start with, when a test overrides the rule
    /// (`rules::check::initial_replication_support`).
    default_replication: Option<ReplicationSupport>,
    latencies: BTreeMap<Op, Duration>,
    /// Scripted failures: the Nth call (1-based) of an op on a server fails with the error.
    failures: BTreeMap<(Op, ServerName, usize), ProviderError>,
    call_counts: BTreeMap<(Op, ServerName), usize>,
    log: Vec<Call>,
    active: BTreeMap<ServerName, usize>,
    active_total: usize,
    max_active_total: usize,
    max_active_one_server: usize,
    /// How many servers each name was really created as (idempotent repeats not counted).
    creations: BTreeMap<ServerName, usize>,
    /// Replicas by primary, built on demand and dropped whenever a server appears, disappears
    /// or changes role (updates cannot change `replica_of`), so an update does not scan the
    /// whole fleet.
    replica_index: Option<BTreeMap<ServerName, Vec<ServerName>>>,
}

/// The test provider. Clones share one backend, so a test keeps a handle while the engine holds
/// an `Arc<dyn Provider>`.
#[derive(Debug, Clone)]
pub struct TestProvider {
    inner: Arc<Mutex<Inner>>,
}

impl Default for TestProvider {
    fn default() -> TestProvider {
        TestProvider::new()
    }
}

/// An observed server with the test provider's id and endpoint, ready and with replication
/// support off.
pub fn observed(name: &ServerName, spec: ServerSpec) -> ObservedServer {
    ObservedServer {
        name: name.clone(),
        provider_id: format!("test/{name}"),
        endpoint: Some(Endpoint {
            host: "127.0.0.1".into(),
            port: 5432,
            user: spec.admin_login.clone(),
            database: "postgres".into(),
        }),
        spec,
        status: ServerStatus::Ready,
        replication_support: ReplicationSupport::Off,
    }
}

impl TestProvider {
    /// An empty backend with zero latency. New primaries start with replication support off
    /// (the strict case: a replica needs the parameter set and a restart first).
    pub fn new() -> TestProvider {
        TestProvider {
            inner: Arc::new(Mutex::new(Inner {
                epoch: Instant::now(),
                servers: LiveFleet::new(),
                pending_replication: BTreeMap::new(),
                default_replication: None,
                latencies: BTreeMap::new(),
                failures: BTreeMap::new(),
                call_counts: BTreeMap::new(),
                log: Vec::new(),
                active: BTreeMap::new(),
                active_total: 0,
                max_active_total: 0,
                max_active_one_server: 0,
                creations: BTreeMap::new(),
                replica_index: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts a server into the live fleet as it is (scripting live state).
    pub fn insert(&self, server: ObservedServer) {
        let mut inner = self.lock();
        inner.replica_index = None;
        inner.servers.insert(server.name.clone(), server);
    }

    /// Removes a server from the live fleet behind pgfleet's back.
    pub fn remove(&self, name: &ServerName) {
        let mut inner = self.lock();
        inner.replica_index = None;
        inner.servers.remove(name);
    }

    /// The live fleet now (not logged, no latency).
    pub fn servers(&self) -> LiveFleet {
        self.lock().servers.clone()
    }

    pub fn set_latency(&self, op: Op, latency: Duration) {
        self.lock().latencies.insert(op, latency);
    }

    /// The replication support new primaries get.
    pub fn set_default_replication_support(&self, value: ReplicationSupport) {
        self.lock().default_replication = Some(value);
    }

    /// Makes the `nth` call (1-based) of `op` on `server` fail with `error`, without effect.
    pub fn fail_call(&self, op: Op, server: &ServerName, nth: usize, error: ProviderError) {
        self.lock().failures.insert((op, server.clone(), nth), error);
    }

    /// Every call so far, in the order they started.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().log.clone()
    }

    /// How many times each server was really created.
    pub fn creations(&self) -> BTreeMap<ServerName, usize> {
        self.lock().creations.clone()
    }

    /// The most calls that ran at once, and the most that ran at once on one server.
    pub fn max_concurrency(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.max_active_total, inner.max_active_one_server)
    }

    /// Runs one operation: log it, count it as active, sleep half the latency, apply `effect`
    /// (or the scripted failure), sleep the rest.
    async fn operate<T>(
        &self,
        op: Op,
        server: &ServerName,
        effect: impl FnOnce(&mut Inner) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let (entry, latency, scripted) = {
            let mut inner = self.lock();
            let count = inner.call_counts.entry((op, server.clone())).or_insert(0);
            *count += 1;
            let nth = *count;
            let scripted = inner.failures.remove(&(op, server.clone(), nth));
            let started_at = inner.epoch.elapsed();
            inner.log.push(Call { op, server: server.clone(), started_at, ended_at: None, error: None });
            let on_server = inner.active.entry(server.clone()).or_insert(0);
            *on_server += 1;
            let on_server = *on_server;
            inner.active_total += 1;
            inner.max_active_total = inner.max_active_total.max(inner.active_total);
            inner.max_active_one_server = inner.max_active_one_server.max(on_server);
            (inner.log.len() - 1, inner.latencies.get(&op).copied().unwrap_or_default(), scripted)
        };
        let _active = Active { provider: self, server };
        // Deadlines from one start, so timer rounding does not add up across the two waits.
        let start = Instant::now();
        sleep_until(start, latency / 2).await;
        let result = match scripted {
            Some(error) => Err(error),
            None => effect(&mut self.lock()),
        };
        sleep_until(start, latency).await;
        let mut inner = self.lock();
        inner.log[entry].ended_at = Some(inner.epoch.elapsed());
        inner.log[entry].error = result.as_ref().err().cloned();
        result
    }
}

async fn sleep_until(start: Instant, after: Duration) {
    if !after.is_zero() {
        tokio::time::sleep_until(start + after).await;
    }
}

/// Counts a call as active until it ends or is dropped.
struct Active<'a> {
    provider: &'a TestProvider,
    server: &'a ServerName,
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        let mut inner = self.provider.lock();
        inner.active_total -= 1;
        if let Some(count) = inner.active.get_mut(self.server) {
            *count -= 1;
        }
    }
}

fn not_found(name: &ServerName) -> ProviderError {
    ProviderError::new(ProviderErrorKind::NotFound, format!("The server {name} was not found."))
}

impl Inner {
    fn server_mut(&mut self, name: &ServerName) -> Result<&mut ObservedServer, ProviderError> {
        self.servers.get_mut(name).ok_or_else(|| not_found(name))
    }

    /// A restart: pending parameters take effect.
    fn restart(&mut self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        let pending = self.pending_replication.remove(name);
        let server = self.server_mut(name)?;
        if let Some(value) = pending {
            server.replication_support = value;
        }
        Ok(server.clone())
    }

    /// Replicas of a deleted or retired primary become standalone servers (DOMAIN.md §3).
    fn detach_replicas(&mut self, primary: &ServerName) {
        self.replica_index = None;
        for server in self.servers.values_mut() {
            if server.spec.replica_of.as_ref() == Some(primary) {
                server.spec.replica_of = None;
            }
        }
    }

    fn create(&mut self, request: &CreateRequest) -> Result<ObservedServer, ProviderError> {
        if let Some(existing) = self.servers.get(&request.name) {
            if existing.spec == request.spec {
                return Ok(existing.clone());
            }
            return Err(ProviderError::refused(
                "ServerAlreadyExists",
                format!("A server named {} already exists with other settings.", request.name),
            ));
        }
        rules::check_create(&self.servers, &request.name, &request.spec)?;
        self.replica_index = None;
        let mut server = observed(&request.name, request.spec.clone());
        let initial =
            crate::rules::check::initial_replication_support(&request.spec.shape(request.name.as_str()));
        server.replication_support = match self.default_replication {
            Some(value) if !request.spec.is_replica() => value,
            // A replica as the rules start any server of its tier.
            _ => initial,
        };
        self.servers.insert(request.name.clone(), server.clone());
        *self.creations.entry(request.name.clone()).or_insert(0) += 1;
        Ok(server)
    }

    fn update(&mut self, name: &ServerName, patch: &ServerPatch) -> Result<ObservedServer, ProviderError> {
        let current = self.servers.get(name).ok_or_else(|| not_found(name))?.spec.clone();
        let replica_names = self.replicas_of(name);
        let replicas: Vec<(&ServerName, &ServerSpec)> = replica_names
            .iter()
            .filter_map(|replica| self.servers.get(replica))
            .map(|s| (&s.name, &s.spec))
            .collect();
        rules::check_update(&self.servers, name, &current, &replicas, patch)?;
        self.server_mut(name)?.spec = patch.apply_to(&current);
        if patch.restarts(&current) {
            return self.restart(name);
        }
        Ok(self.server_mut(name)?.clone())
    }

    /// The names of `primary`'s replicas.
    fn replicas_of(&mut self, primary: &ServerName) -> Vec<ServerName> {
        let servers = &self.servers;
        let index = self.replica_index.get_or_insert_with(|| {
            let mut index: BTreeMap<ServerName, Vec<ServerName>> = BTreeMap::new();
            for server in servers.values() {
                if let Some(primary) = &server.spec.replica_of {
                    index.entry(primary.clone()).or_default().push(server.name.clone());
                }
            }
            index
        });
        index.get(primary).cloned().unwrap_or_default()
    }

    fn cutover(&mut self, name: &ServerName, staging: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.servers.get(name).ok_or_else(|| not_found(name))?;
        let mut next = self.servers.remove(staging).ok_or_else(|| not_found(staging))?;
        next.name = name.clone();
        next.provider_id = format!("test/{name}");
        self.detach_replicas(name);
        self.servers.insert(name.clone(), next.clone());
        Ok(next)
    }
}

#[async_trait]
impl Provider for TestProvider {
    fn kind(&self) -> &'static str {
        "test"
    }

    async fn refresh(&self) -> Result<LiveFleet, ProviderError> {
        self.operate(Op::Refresh, &ServerName::new(""), |inner| Ok(inner.servers.clone())).await
    }

    async fn create(&self, request: CreateRequest) -> Result<ObservedServer, ProviderError> {
        self.operate(Op::Create, &request.name.clone(), |inner| inner.create(&request)).await
    }

    async fn update(&self, name: &ServerName, patch: &ServerPatch) -> Result<ObservedServer, ProviderError> {
        self.operate(Op::Update, name, |inner| inner.update(name, patch)).await
    }

    async fn delete(&self, name: &ServerName) -> Result<(), ProviderError> {
        self.operate(Op::Delete, name, |inner| {
            if inner.servers.remove(name).is_some() {
                inner.detach_replicas(name);
                inner.pending_replication.remove(name);
            }
            Ok(())
        })
        .await
    }

    async fn restart(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.operate(Op::Restart, name, |inner| inner.restart(name)).await
    }

    async fn promote(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.operate(Op::Promote, name, |inner| {
            inner.replica_index = None;
            let server = inner.server_mut(name)?;
            rules::check_promote(name, &server.spec)?;
            server.spec.replica_of = None;
            Ok(server.clone())
        })
        .await
    }

    async fn failover(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.operate(Op::Failover, name, |inner| {
            let server = inner.server_mut(name)?;
            rules::check_failover(name, &server.spec)?;
            if let Some(flexible) = &mut server.spec.flexible {
                std::mem::swap(&mut flexible.zone, &mut flexible.standby_zone);
            }
            Ok(server.clone())
        })
        .await
    }

    async fn set_parameter(
        &self,
        name: &ServerName,
        parameter: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        self.operate(Op::SetParameter, name, |inner| {
            let spec = inner.server_mut(name)?.spec.clone();
            let known = [ReplicationSupport::Off, ReplicationSupport::Replica, ReplicationSupport::Logical];
            let parsed = known.into_iter().find(|known| known.as_str().eq_ignore_ascii_case(value));
            match (parameter == ReplicationSupport::PARAMETER, parsed) {
                (true, Some(value)) => {
                    let replicas = inner.replicas_of(name).len();
                    rules::check_replication_support(name, &spec, value, replicas)?;
                    inner.pending_replication.insert(name.clone(), value);
                    Ok(())
                }
                _ => Err(ProviderError::refused(
                    "InvalidParameterValue",
                    format!("Invalid value '{value}' for parameter '{parameter}'."),
                )),
            }
        })
        .await
    }

    async fn cutover(
        &self,
        name: &ServerName,
        staging: &ServerName,
    ) -> Result<ObservedServer, ProviderError> {
        self.operate(Op::Cutover, name, |inner| inner.cutover(name, staging)).await
    }

    async fn connection(&self, name: &ServerName) -> Result<Connection, ProviderError> {
        self.operate(Op::Connection, name, |inner| {
            let server = inner.server_mut(name)?;
            let endpoint = server.endpoint.clone().ok_or_else(|| not_found(name))?;
            Ok(Connection { endpoint, password: Redacted::new("test-password".to_string()) })
        })
        .await
    }
}
