//! The local provider's server operations: refresh, create, update, restart, parameters and
//! delete. Replicas, promote and cutover live in their own files.
//!
//! Owns: the order of each operation's steps so a retry after a failure finishes the job.
//! Must not: decide what the service allows (that is `checks`, reading `crate::rules`).

use super::checks::{self, FleetFacts, ServerFacts};
use super::cluster::{Cluster, ClusterMeta, INTERNAL_ROLE, connect};
use super::probe::Probe;
use super::settings::{ClusterSettings, replication_support_of_wal_level};
use super::{LocalError, LocalProvider, ProviderEvent};
use crate::model::{Endpoint, LiveFleet, ObservedServer, ServerName, ServerPatch, ServerSpec, ServerStatus};
use crate::providers::{CreateRequest, ProviderError};
use crate::rules::ReplicationSupport;
use rand::Rng;
use std::time::Duration;

/// The endpoint clients use: 127.0.0.1, the cluster's port, the admin login.
pub(super) fn endpoint(meta: &ClusterMeta) -> Endpoint {
    Endpoint {
        host: "127.0.0.1".into(),
        port: meta.port,
        user: meta.spec.admin_login.clone(),
        database: "postgres".into(),
    }
}

/// The spec with a flexible server placed as the service places it (`rules::placement`).
fn placed(spec: &ServerSpec) -> ServerSpec {
    let mut spec = spec.clone();
    if let Some(flexible) = &mut spec.flexible {
        let (zone, standby) = crate::rules::placement(
            flexible.zone.as_deref(),
            flexible.standby_zone.as_deref(),
            flexible.high_availability,
        );
        flexible.zone = Some(zone);
        flexible.standby_zone = standby;
    }
    spec
}

/// What a running server tells about itself.
struct LiveFacts {
    in_recovery: bool,
    replication_support: ReplicationSupport,
    used_bytes: u64,
    lag_bytes: Option<u64>,
}

const LIVE_FACTS_SQL: &str = "SELECT pg_is_in_recovery(), current_setting('wal_level'), \
     (SELECT sum(pg_database_size(oid)) FROM pg_database)::bigint, \
     CASE WHEN pg_is_in_recovery() THEN \
       coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint END";

fn random_secret() -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(32).map(char::from).collect()
}

impl LocalProvider {
    /// Every finished cluster of the fleet (directories starting with `.` are cutover leftovers).
    pub(super) fn clusters(&self) -> Result<Vec<(Cluster, ClusterMeta)>, LocalError> {
        let entries = match std::fs::read_dir(&self.fleet_dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(LocalError::Io {
                    context: format!("reading {}", self.fleet_dir.display()),
                    source,
                });
            }
        };
        let mut clusters = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let cluster = Cluster::new(entry.path());
            if cluster.exists() {
                let meta = cluster.read_meta()?;
                if meta.complete {
                    clusters.push((cluster, meta));
                }
            }
        }
        clusters.sort_by(|a, b| a.1.name.cmp(&b.1.name));
        Ok(clusters)
    }

    /// A server's cluster and metadata, or `NotFound`.
    pub(super) fn existing(&self, name: &ServerName) -> Result<(Cluster, ClusterMeta), ProviderError> {
        let cluster = self.cluster(name);
        if !cluster.exists() {
            return Err(Self::not_found(name));
        }
        let meta = cluster.read_meta()?;
        if !meta.complete {
            return Err(Self::not_found(name));
        }
        Ok((cluster, meta))
    }

    async fn live_facts(&self, cluster: &Cluster, port: u16) -> Result<LiveFacts, LocalError> {
        let client = cluster.connect(port).await?;
        let row = client
            .query_one(LIVE_FACTS_SQL, &[])
            .await
            .map_err(|source| LocalError::Sql { context: "reading the server's state".into(), source })?;
        Ok(LiveFacts {
            in_recovery: row.get(0),
            replication_support: replication_support_of_wal_level(row.get(1)),
            used_bytes: row.get::<_, Option<i64>>(2).unwrap_or(0).max(0) as u64,
            lag_bytes: row.get::<_, Option<i64>>(3).map(|lag| lag.max(0) as u64),
        })
    }

    /// What the provider observes of one cluster.
    pub(super) async fn observe(&self, cluster: &Cluster, meta: &ClusterMeta) -> ObservedServer {
        self.inspect(cluster, meta, false).await
    }

    /// What the provider observes of one cluster; with `report`, its storage usage and replica
    /// lag go out as events (refresh does this, once per server).
    async fn inspect(&self, cluster: &Cluster, meta: &ClusterMeta, report: bool) -> ObservedServer {
        let mut spec = meta.spec.clone();
        let (status, replication_support) = if !cluster.is_running() {
            if !cluster.data_dir().join("standby.signal").exists() {
                spec.replica_of = None;
            }
            (ServerStatus::Inaccessible, meta.replication_support)
        } else {
            match self.live_facts(cluster, meta.port).await {
                Ok(live) => {
                    if !live.in_recovery {
                        spec.replica_of = None;
                    }
                    if let Ok(databases) = self.databases(cluster, meta.port).await {
                        spec.databases = databases;
                    }
                    if report {
                        self.report(meta, &live);
                    }
                    (ServerStatus::Ready, live.replication_support)
                }
                Err(_) => (ServerStatus::Restarting, meta.replication_support),
            }
        };
        ObservedServer {
            name: meta.name.clone(),
            provider_id: cluster.dir.display().to_string(),
            spec,
            status,
            replication_support,
            endpoint: Some(endpoint(meta)),
        }
    }

    fn report(&self, meta: &ClusterMeta, live: &LiveFacts) {
        self.emit(ProviderEvent::StorageUsage {
            server: meta.name.clone(),
            used_bytes: live.used_bytes,
            limit_gb: meta.spec.storage_gb,
        });
        if let Some(lag_bytes) = live.lag_bytes {
            self.emit(ProviderEvent::ReplicaLag { server: meta.name.clone(), lag_bytes });
        }
    }

    pub(super) async fn refresh_fleet(&self) -> Result<LiveFleet, LocalError> {
        let mut fleet = LiveFleet::new();
        for (cluster, meta) in self.clusters()? {
            let observed = self.inspect(&cluster, &meta, true).await;
            fleet.insert(meta.name.clone(), observed);
        }
        Ok(fleet)
    }

    /// The facts the rule checks need: specs and the replication support in effect.
    pub(super) async fn fleet_facts(&self) -> Result<FleetFacts, LocalError> {
        let mut facts = FleetFacts::new();
        for (cluster, meta) in self.clusters()? {
            let observed = self.observe(&cluster, &meta).await;
            let replication_support = observed.replication_support;
            facts.insert(meta.name.clone(), ServerFacts { spec: observed.spec, replication_support });
        }
        Ok(facts)
    }

    /// A Flexible Server's `max_connections` parameter when it is created: its SKU's default,
    /// or on a replica its primary's (a replica takes its primary's server parameters). `None`
    /// on Single Server, whose SKU fixes it.
    pub(super) fn initial_max_connections(&self, spec: &ServerSpec) -> Option<u32> {
        spec.flexible.as_ref()?;
        if let Some(configured) = spec.parameters.get("max_connections").and_then(|value| value.parse().ok())
        {
            return Some(configured);
        }
        let inherited =
            spec.replica_of.as_ref().and_then(|primary| self.existing(primary).ok()).and_then(
                |(_, primary)| Self::settings(&primary).ok().map(|settings| settings.max_connections),
            );
        inherited.or_else(|| spec.flexible_sku().map(|sku| sku.default_max_connections))
    }

    pub(super) async fn create_server(
        &self,
        request: CreateRequest,
    ) -> Result<ObservedServer, ProviderError> {
        let request = CreateRequest { spec: placed(&request.spec), ..request };
        let name = &request.name;
        let cluster = self.cluster(name);
        if cluster.exists() {
            let meta = cluster.read_meta()?;
            if meta.complete {
                if meta.spec != request.spec {
                    return Err(ProviderError::refused(
                        "ServerNameAlreadyExists",
                        format!("The server {name} already exists with different properties."),
                    ));
                }
                cluster.start(&self.tools).await?;
                return Ok(self.observe(&cluster, &meta).await);
            }
        }
        checks::check_create(name, &request.spec, &self.fleet_facts().await?)?;
        let password = match (&request.admin_password, request.spec.is_replica()) {
            (_, true) => None,
            (Some(password), false) => Some(password),
            (None, false) => {
                return Err(ProviderError::refused(
                    checks::INVALID_PARAMETER,
                    "A new server needs an admin password.",
                ));
            }
        };
        let (cluster, mut meta) = self.claim(name, &request.spec).await?;
        if let Some(password) = password {
            self.build_primary(&cluster, &mut meta, password.expose()).await?;
            self.passwords
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(name.clone(), password.clone());
        } else {
            self.build_replica(&cluster, &mut meta).await?;
        }
        // Before the standby is copied from it, so that the standby carries them too.
        let carried = ServerPatch {
            parameters: meta.spec.parameters.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
            firewall_rules: meta.spec.firewall_rules.iter().map(|(k, v)| (k.clone(), Some(*v))).collect(),
            databases: meta.spec.databases.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
            ..ServerPatch::default()
        };
        self.apply_carried(&cluster, &meta, &carried).await?;
        if carried.sets_static_parameter(meta.spec.service()) {
            // A new server: nobody is connected yet, so no restart window to report.
            cluster.write_settings(&Self::settings(&meta)?, &self.tools)?;
            cluster.stop(&self.tools).await?;
            cluster.start(&self.tools).await?;
        }
        if meta.spec.flexible.as_ref().is_some_and(|flexible| flexible.high_availability.is_enabled()) {
            self.build_standby(&cluster, &mut meta).await?;
        }
        meta.complete = true;
        cluster.write_meta(&meta, &self.tools)?;
        Ok(self.observe(&cluster, &meta).await)
    }

    pub(super) fn settings(meta: &ClusterMeta) -> Result<ClusterSettings, ProviderError> {
        let mut settings =
            ClusterSettings::for_spec(&meta.spec, meta.port, meta.replication_support, meta.max_connections)
                .ok_or_else(|| checks::unknown_sku(&meta.spec))?;
        if meta.standby_port.is_some() {
            settings.synchronous_standby = Some(super::ha::STANDBY_APPLICATION.to_string());
        }
        Ok(settings)
    }

    async fn build_primary(
        &self,
        cluster: &Cluster,
        meta: &mut ClusterMeta,
        password: &str,
    ) -> Result<(), ProviderError> {
        cluster.init(&self.tools, &meta.spec.admin_login, password).await?;
        self.confirm_port(cluster, meta).await?;
        cluster.write_settings(&Self::settings(meta)?, &self.tools)?;
        let secret = random_secret();
        cluster.write_internal_secret(&secret, &self.tools)?;
        cluster.start(&self.tools).await?;
        let admin = connect(meta.port, &meta.spec.admin_login, password, "postgres").await?;
        let statement =
            format!("CREATE ROLE {INTERNAL_ROLE} WITH LOGIN SUPERUSER REPLICATION PASSWORD '{secret}'");
        admin
            .batch_execute(&statement)
            .await
            .map_err(|source| LocalError::Sql { context: "creating the provider's role".into(), source })?;
        Ok(())
    }

    pub(super) async fn update_server(
        &self,
        name: &ServerName,
        patch: &ServerPatch,
    ) -> Result<ObservedServer, ProviderError> {
        let (cluster, mut meta) = self.existing(name)?;
        checks::check_update(name, &meta.spec, patch, &self.fleet_facts().await?)?;
        let restarts = patch.restarts(&meta.spec);
        let ha = |spec: &ServerSpec| spec.flexible.as_ref().is_some_and(|f| f.high_availability.is_enabled());
        let had_ha = ha(&meta.spec);
        meta.spec = placed(&patch.apply_to(&meta.spec));
        if let (Some(_), Some(Some(value))) = (&meta.spec.flexible, patch.parameters.get("max_connections")) {
            // Flexible Server's max_connections is the cluster's own setting (see `settings`).
            meta.max_connections = value.parse().ok().or(meta.max_connections);
        }
        Self::settings(&meta)?;
        cluster.write_meta(&meta, &self.tools)?;
        self.apply_carried(&cluster, &meta, patch).await?;
        if had_ha && !ha(&meta.spec) {
            self.remove_standby(&cluster, &mut meta).await?;
        }
        let mut observed = None;
        if restarts {
            if meta.standby_port.is_some() {
                // As on the service: the standby first, then the server, without a failover.
                self.restart_standby_first(&cluster, &meta).await?;
            }
            let reason = match patch.version {
                Some(version) => format!(
                    "major version upgrade to {version} (the clusters keep running the installed PostgreSQL)"
                ),
                None if !patch.changes_compute() && patch.sets_static_parameter(meta.spec.service()) => {
                    let names: Vec<&str> = patch
                        .parameters
                        .keys()
                        .filter(|name| crate::rules::parameter_restarts(meta.spec.service(), name))
                        .map(String::as_str)
                        .collect();
                    format!("static parameters ({})", names.join(", "))
                }
                None => format!("compute change to {}", meta.spec.sku_name()),
            };
            observed = Some(self.restart_server(name, &reason).await?);
        }
        if !had_ha && ha(&meta.spec) {
            self.build_standby(&cluster, &mut meta).await?;
            observed = None;
        }
        match observed {
            Some(observed) => Ok(observed),
            None => Ok(self.observe(&cluster, &meta).await),
        }
    }

    /// Rewrites the settings from the metadata and restarts, measuring how long connections
    /// failed; a primary then waits (bounded) for its replicas to stream again.
    pub(super) async fn restart_server(
        &self,
        name: &ServerName,
        reason: &str,
    ) -> Result<ObservedServer, ProviderError> {
        let (cluster, meta) = self.existing(name)?;
        cluster.write_settings(&Self::settings(&meta)?, &self.tools)?;
        let probe = Probe::start(meta.port, cluster.internal_secret()?);
        let restarted = async {
            cluster.stop(&self.tools).await?;
            cluster.start(&self.tools).await
        }
        .await;
        let unavailable = probe.finish().await;
        restarted?;
        self.emit(ProviderEvent::RestartWindow {
            server: name.clone(),
            reason: reason.to_string(),
            unavailable,
        });
        if meta.spec.replica_of.is_none() {
            self.wait_for_replicas(name, &meta, Duration::from_secs(30)).await;
        }
        Ok(self.observe(&cluster, &meta).await)
    }

    pub(super) async fn set_server_parameter(
        &self,
        name: &ServerName,
        parameter: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        let support = checks::parse_replication_support(parameter, value)?;
        let (cluster, mut meta) = self.existing(name)?;
        checks::check_replication_support(name, &meta.spec, support, &self.fleet_facts().await?)?;
        meta.replication_support = support;
        cluster.write_meta(&meta, &self.tools)?;
        Ok(())
    }

    /// The names of a primary's replicas.
    pub(super) fn replica_names(
        &self,
        primary: &ServerName,
    ) -> Result<impl Iterator<Item = ServerName>, LocalError> {
        let primary = primary.clone();
        Ok(self
            .clusters()?
            .into_iter()
            .filter(move |(_, meta)| meta.spec.replica_of.as_ref() == Some(&primary))
            .map(|(_, meta)| meta.name))
    }

    pub(super) async fn delete_server(&self, name: &ServerName) -> Result<(), ProviderError> {
        let cluster = self.cluster(name);
        if cluster.exists() {
            let meta = cluster.read_meta()?;
            for replica in self.replica_names(name)?.collect::<Vec<_>>() {
                self.promote_replica(&replica).await?;
            }
            Self::standby_of(&cluster).stop(&self.tools).await?;
            cluster.stop(&self.tools).await?;
            if let Some(primary) = &meta.spec.replica_of {
                self.drop_slot(primary, name).await?;
            }
        }
        match std::fs::remove_dir_all(&cluster.dir) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(LocalError::Io {
                    context: format!("removing {}", cluster.dir.display()),
                    source,
                }
                .into());
            }
        }
        self.passwords.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name);
        Ok(())
    }
}
