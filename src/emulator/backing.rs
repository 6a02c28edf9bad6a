//! `--backing local`: every emulated server is a real PostgreSQL cluster on this machine, made
//! and changed by the `local` provider (under `ROOT/emulator/<server>`), and reachable at the
//! `fullyQualifiedDomainName` the emulator reports: a loopback address of its own, port 5432,
//! through the [`gateway`] that takes the Azure `user@server` login.
//!
//! Owns: the clusters' part of each accepted write (a [`Job`]), the gateways and their
//! addresses, and stopping every cluster at shutdown. Must not: decide a rule (the store
//! did, before the job was queued) or keep a password beyond the local provider's memory.
//!
//! An operation that has a job stays `InProgress` (and its server busy) until the job is done,
//! so a client that waits for it finds a cluster that answers.

use super::gateway::{self, Gateway};
use crate::model::{ServerName, ServerPatch, ServerSpec};
use crate::providers::local::{LocalProvider, LocalProviderOptions};
use crate::providers::{CreateRequest, Provider, ProviderError};
use crate::secret::Redacted;
use rand::Rng;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The clusters' fleet directory under the backing root.
pub(crate) const BACKING_FLEET: &str = "emulator";

/// How `--backing local` runs.
#[derive(Debug, Clone)]
pub struct BackingOptions {
    /// Clusters live under `ROOT/emulator/<server>`.
    pub root: PathBuf,
    /// Remove `root` at shutdown (a root the emulator made for itself).
    pub remove_root: bool,
    /// The PostgreSQL binaries; found like the local provider's when `None`.
    pub pg_bindir: Option<PathBuf>,
}

/// The clusters' part of one accepted write.
#[derive(Debug, Clone)]
pub(crate) enum Job {
    Create {
        name: ServerName,
        spec: ServerSpec,
        password: Option<Redacted<String>>,
    },
    Update {
        name: ServerName,
        patch: ServerPatch,
    },
    Promote {
        name: ServerName,
    },
    Restart {
        name: ServerName,
    },
    /// A planned failover to the HA standby (Flexible Server).
    Failover {
        name: ServerName,
    },
    SetParameter {
        name: ServerName,
        parameter: String,
        value: String,
    },
    /// Deletes the cluster; its replicas' clusters are promoted to standalone servers first.
    Delete {
        name: ServerName,
    },
}

impl Job {
    pub fn server(&self) -> &ServerName {
        match self {
            Job::Create { name, .. }
            | Job::Update { name, .. }
            | Job::Promote { name }
            | Job::Restart { name }
            | Job::Failover { name }
            | Job::SetParameter { name, .. }
            | Job::Delete { name } => name,
        }
    }
}

/// The clusters behind the emulator.
pub(crate) struct Backing {
    provider: Arc<LocalProvider>,
    options: BackingOptions,
    bindir: PathBuf,
    /// Each server's gateway, by lowercase name.
    gateways: Mutex<BTreeMap<String, Gateway>>,
    /// The 127.A.B.0/24 block this emulator takes its addresses from (random, so emulators
    /// running side by side rarely meet; a taken address is skipped).
    block: (u8, u8),
    /// Jobs still running, aborted at shutdown.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Backing {
    /// Prepares the backing (no cluster is started until a server is created).
    ///
    /// # Errors
    /// No PostgreSQL binaries, or the root cannot be resolved.
    pub fn new(options: BackingOptions) -> Result<Backing, ProviderError> {
        let bindir = match &options.pg_bindir {
            Some(dir) => dir.clone(),
            None => crate::providers::local::find_pg_bindir()
                .map_err(crate::providers::local::LocalError::from)?,
        };
        let mut random = rand::rng();
        let local = LocalProviderOptions {
            root: options.root.clone(),
            // Below the ephemeral range, where the emulator's own port comes from.
            port_base: random.random_range(20_000..30_000),
            fleet: BACKING_FLEET.to_string(),
            passwords: BTreeMap::new(),
            events: None,
            pg_bindir: Some(bindir.clone()),
        };
        let provider = Arc::new(LocalProvider::new(local)?);
        let block = (random.random_range(16..=254), random.random_range(1..=254));
        Ok(Backing {
            provider,
            options,
            bindir,
            gateways: Mutex::new(BTreeMap::new()),
            block,
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Opens the gateway of a new server and returns its address (the server's host name).
    ///
    /// # Errors
    /// No address of the block (nor of the next ones) is free.
    pub(crate) fn open_gateway(&self, server: &str, login: gateway::LoginForm) -> std::io::Result<Ipv4Addr> {
        self.open_gateway_preferring(server, login, None)
    }

    /// [`Backing::open_gateway`], trying `preferred` first (the address a server had before
    /// the emulator restarted).
    ///
    /// # Errors
    /// No address is free.
    pub(crate) fn open_gateway_preferring(
        &self,
        server: &str,
        login: gateway::LoginForm,
        preferred: Option<Ipv4Addr>,
    ) -> std::io::Result<Ipv4Addr> {
        let key = server.to_ascii_lowercase();
        let mut gateways = super::lock(&self.gateways);
        if let Some(gateway) = gateways.get(&key) {
            return Ok(gateway.address);
        }
        let (a, b) = self.block;
        let candidates = (0..8u8).flat_map(move |shift| {
            let b = b.wrapping_add(shift).max(1);
            (1..=254).map(move |c| Ipv4Addr::new(127, a, b, c))
        });
        let provider = self.provider.clone();
        let name = ServerName::new(key.clone());
        let backend: gateway::Backend = Arc::new(move || provider.port(&name));
        let taken: Vec<Ipv4Addr> = gateways.values().map(|g| g.address).collect();
        let candidates = preferred.into_iter().chain(candidates).filter(|c| !taken.contains(c));
        let gateway = gateway::open(&key, login, candidates, backend)?;
        let address = gateway.address;
        gateways.insert(key, gateway);
        Ok(address)
    }

    /// Stops listening for a server.
    pub(crate) fn close_gateway(&self, server: &str) {
        super::lock(&self.gateways).remove(&server.to_ascii_lowercase());
    }

    /// Keeps a job's task so shutdown can abort it.
    pub(crate) fn track(&self, task: tokio::task::AbortHandle) {
        let mut tasks = super::lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Carries out a job on the clusters.
    ///
    /// # Errors
    /// The local provider's failure.
    pub async fn run(&self, job: &Job) -> Result<(), ProviderError> {
        let provider = self.provider.as_ref();
        match job {
            Job::Create { name, spec, password } => {
                let request = CreateRequest {
                    name: name.clone(),
                    spec: spec.clone(),
                    admin_password: password.clone(),
                };
                provider.create(request).await.map(drop)
            }
            Job::Update { name, patch } => provider.update(name, patch).await.map(drop),
            Job::Promote { name } => provider.promote(name).await.map(drop),
            Job::Restart { name } => provider.restart(name).await.map(drop),
            Job::Failover { name } => provider.failover(name).await.map(drop),
            Job::SetParameter { name, parameter, value } => {
                provider.set_parameter(name, parameter, value).await
            }
            Job::Delete { name } => {
                provider.delete(name).await?;
                self.close_gateway(name.as_str());
                Ok(())
            }
        }
    }

    /// Aborts running jobs, closes every gateway and stops every cluster (immediate shutdown);
    /// removes the root when the emulator made it. Blocking: for shutdown and drop.
    pub(crate) fn stop_blocking(&self) {
        for task in super::lock(&self.tasks).drain(..) {
            task.abort();
        }
        super::lock(&self.gateways).clear();
        LocalProvider::stop_all_blocking(&self.options.root, &self.bindir);
        if self.options.remove_root {
            let _ = std::fs::remove_dir_all(&self.options.root);
        }
    }
}
