//! Flexible Server high availability on this machine: a synchronous standby cluster beside the
//! server (`<server>/standby`), streaming from it through a slot, named in the server's
//! `synchronous_standby_names`. As on the service, planned compute and storage changes are made
//! on the standby first and then on the primary, without a failover; a planned failover
//! promotes the standby behind the server's unchanged endpoint (its port), and the former
//! primary follows it as the new standby.
//!
//! Owns: the standby's lifecycle and the failover's steps. Must not: decide whether HA is
//! allowed (that is `checks`, reading `crate::rules`).

use super::cluster::{Cluster, ClusterMeta, INTERNAL_ROLE, STANDBY_DIR};
use super::probe::Probe;
use super::settings::Upstream;
use super::{LocalError, LocalProvider, ProviderEvent};
use crate::model::{ObservedServer, ServerName};
use crate::providers::ProviderError;
use std::time::Duration;
use tokio::time::Instant;

/// The standby's `application_name`, which the primary's `synchronous_standby_names` names.
pub(super) const STANDBY_APPLICATION: &str = "pgfleet_standby";

/// The replication slot on the primary that keeps WAL for the standby.
const STANDBY_SLOT: &str = "pgfleet_standby";

/// How long a base backup may take.
const BASE_BACKUP_TIMEOUT: Duration = Duration::from_secs(600);

/// How long the standby may take to stream again after it (or its primary) restarted.
const STREAMING_TIMEOUT: Duration = Duration::from_secs(60);

fn sql(context: &str) -> impl FnOnce(tokio_postgres::Error) -> LocalError + '_ {
    move |source| LocalError::Sql { context: context.to_string(), source }
}

impl LocalProvider {
    /// The standby cluster of a server (whether or not it exists).
    pub(super) fn standby_of(cluster: &Cluster) -> Cluster {
        Cluster::new(cluster.dir.join(STANDBY_DIR))
    }

    /// The standby's settings: the server's own (same SKU, same `max_connections`), on the
    /// standby's port, streaming from the server.
    fn standby_settings(meta: &ClusterMeta, secret: &str) -> Result<super::ClusterSettings, ProviderError> {
        let mut settings = Self::settings(meta)?;
        settings.port = meta.standby_port.ok_or_else(|| {
            ProviderError::from(LocalError::Timeout(format!("{} has no standby port", meta.name)))
        })?;
        settings.synchronous_standby = None;
        settings.upstream = Some(Upstream {
            port: meta.port,
            secret: secret.to_string(),
            slot: STANDBY_SLOT.to_string(),
            application: STANDBY_APPLICATION.to_string(),
        });
        Ok(settings)
    }

    /// Builds and starts the standby of a running server, then makes it synchronous. `meta` is
    /// updated with the standby's port (and written) once the standby streams.
    pub(super) async fn build_standby(
        &self,
        cluster: &Cluster,
        meta: &mut ClusterMeta,
    ) -> Result<(), ProviderError> {
        let standby = self.discard_standby(cluster).await?;
        super::cluster::prepare_dir(&self.root, &self.fleet_dir, &standby.dir, &self.tools)?;
        if meta.standby_port.is_none() {
            let _allocation = self.allocation.lock().await;
            meta.standby_port = Some(self.allocate_port()?);
            cluster.write_meta(meta, &self.tools)?;
        }
        let client = cluster.connect(meta.port).await?;
        super::replicas::create_slot(&client, STANDBY_SLOT).await?;
        let secret = cluster.internal_secret()?;
        let mut command = self.tools.command("pg_basebackup");
        command
            .args(["-h", "127.0.0.1", "-p", &meta.port.to_string(), "-U", INTERNAL_ROLE])
            .args(["-X", "stream", "-S", STANDBY_SLOT, "--checkpoint=fast", "-D"])
            .arg(standby.data_dir())
            .env("PGPASSWORD", &secret);
        crate::pgtools::run_command("pg_basebackup", command, BASE_BACKUP_TIMEOUT)
            .await
            .map_err(LocalError::from)?;
        standby.write_internal_secret(&secret, &self.tools)?;
        self.write_standby_signal(&standby)?;
        self.confirm_standby_port(cluster, meta).await?;
        standby.write_settings(&Self::standby_settings(meta, &secret)?, &self.tools)?;
        standby.start(&self.tools).await?;
        self.wait_for_standby(cluster, meta).await?;
        cluster.write_settings(&Self::settings(meta)?, &self.tools)?;
        reload(cluster, meta.port).await?;
        Ok(())
    }

    /// Stops a server's standby and removes its cluster (whatever is left of it).
    async fn discard_standby(&self, cluster: &Cluster) -> Result<Cluster, ProviderError> {
        let standby = Self::standby_of(cluster);
        standby.stop(&self.tools).await?;
        if standby.dir.exists() {
            std::fs::remove_dir_all(&standby.dir).map_err(|source| LocalError::Io {
                context: format!("removing {}", standby.dir.display()),
                source,
            })?;
        }
        Ok(standby)
    }

    fn write_standby_signal(&self, standby: &Cluster) -> Result<(), LocalError> {
        let signal = standby.data_dir().join("standby.signal");
        std::fs::write(&signal, "")
            .map_err(|source| LocalError::Io { context: format!("writing {}", signal.display()), source })?;
        Ok(self.tools.give(&signal)?)
    }

    /// Removes a server's standby: the server stops waiting for it first.
    pub(super) async fn remove_standby(
        &self,
        cluster: &Cluster,
        meta: &mut ClusterMeta,
    ) -> Result<(), ProviderError> {
        meta.standby_port = None;
        cluster.write_meta(meta, &self.tools)?;
        cluster.write_settings(&Self::settings(meta)?, &self.tools)?;
        if cluster.is_running() {
            reload(cluster, meta.port).await?;
        }
        self.discard_standby(cluster).await?;
        if cluster.is_running() {
            let client = cluster.connect(meta.port).await?;
            client
                .execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                    &[&STANDBY_SLOT],
                )
                .await
                .map_err(sql("dropping the standby's slot"))?;
        }
        Ok(())
    }

    /// A planned change on an HA server, standby first: the server stops waiting for the
    /// standby, the standby restarts with the new settings and catches up, and the server waits
    /// for it again. The server itself is restarted after this by the caller (no failover).
    pub(super) async fn restart_standby_first(
        &self,
        cluster: &Cluster,
        meta: &ClusterMeta,
    ) -> Result<(), ProviderError> {
        let standby = Self::standby_of(cluster);
        let mut alone = meta.clone();
        alone.standby_port = None;
        cluster.write_settings(&Self::settings(&alone)?, &self.tools)?;
        reload(cluster, meta.port).await?;
        let secret = cluster.internal_secret()?;
        standby.write_settings(&Self::standby_settings(meta, &secret)?, &self.tools)?;
        standby.stop(&self.tools).await?;
        standby.start(&self.tools).await?;
        self.wait_for_standby(cluster, meta).await?;
        cluster.write_settings(&Self::settings(meta)?, &self.tools)?;
        reload(cluster, meta.port).await?;
        Ok(())
    }

    /// Waits until the standby streams from the server through its slot.
    async fn wait_for_standby(&self, cluster: &Cluster, meta: &ClusterMeta) -> Result<(), ProviderError> {
        let deadline = Instant::now() + STREAMING_TIMEOUT;
        loop {
            if let Ok(client) = cluster.connect(meta.port).await {
                let streaming = client
                    .query_one(
                        "SELECT count(*) FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'",
                        &[&STANDBY_APPLICATION],
                    )
                    .await
                    .map(|row| row.get::<_, i64>(0))
                    .unwrap_or(0);
                if streaming > 0 {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(
                    LocalError::Timeout(format!("the standby of {} did not stream", meta.name)).into()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A planned failover: the server stops (its last WAL reaches the synchronous standby),
    /// the standby is promoted and takes the server's port, so clients reconnect to the same
    /// endpoint, and the former primary follows it as the new standby. The zones swap. The
    /// window clients saw is measured and reported.
    pub(super) async fn failover_server(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        let (cluster, mut meta) = self.existing(name)?;
        super::checks::check_failover(name, &meta.spec)?;
        let standby = Self::standby_of(&cluster);
        self.wait_for_standby(&cluster, &meta).await?;
        let secret = cluster.internal_secret()?;
        let probe = Probe::start(meta.port, secret.clone());
        let swapped: Result<(), ProviderError> = async {
            cluster.stop(&self.tools).await?;
            let promoted = standby.connect(meta.standby_port.unwrap_or_default()).await?;
            let done: bool = promoted
                .query_one("SELECT pg_promote(true, 60)", &[])
                .await
                .map_err(sql("promoting the standby"))?
                .get(0);
            if !done {
                return Err(
                    LocalError::Timeout(format!("the standby of {name} did not finish promoting")).into()
                );
            }
            // The slots the read replicas and the new standby stream through.
            let mut slots = vec![STANDBY_SLOT.to_string()];
            slots.extend(self.replica_names(name)?.map(|replica| super::replicas::slot_name(&replica)));
            for slot in &slots {
                super::replicas::create_slot(&promoted, slot).await?;
            }
            drop(promoted);
            standby.stop(&self.tools).await?;
            swap_data_dirs(&cluster, &standby)?;
            cluster.write_settings(&Self::settings(&meta)?, &self.tools)?;
            cluster.start(&self.tools).await?;
            Ok(())
        }
        .await;
        let unavailable = probe.finish().await;
        swapped?;
        if let Some(flexible) = &mut meta.spec.flexible {
            std::mem::swap(&mut flexible.zone, &mut flexible.standby_zone);
        }
        cluster.write_meta(&meta, &self.tools)?;
        self.emit(ProviderEvent::RestartWindow {
            server: name.clone(),
            reason: "planned failover to the standby".into(),
            unavailable,
        });
        // The former primary, cleanly shut down before the promote, follows the new timeline.
        self.write_standby_signal(&standby)?;
        standby.write_settings(&Self::standby_settings(&meta, &secret)?, &self.tools)?;
        standby.start(&self.tools).await?;
        if self.wait_for_standby(&cluster, &meta).await.is_err() {
            // It could not follow (it had WAL the promoted standby never received): rebuilt.
            self.build_standby(&cluster, &mut meta).await?;
        }
        self.wait_for_replicas(name, &meta, Duration::from_secs(30)).await;
        Ok(self.observe(&cluster, &meta).await)
    }
}

/// Swaps the server's and the standby's data directories (both stopped).
fn swap_data_dirs(cluster: &Cluster, standby: &Cluster) -> Result<(), LocalError> {
    let (primary, secondary) = (cluster.data_dir(), standby.data_dir());
    let parked = cluster.dir.join("data.failover");
    let rename = |from: &std::path::Path, to: &std::path::Path| {
        std::fs::rename(from, to).map_err(|source| LocalError::Io {
            context: format!("moving {} to {}", from.display(), to.display()),
            source,
        })
    };
    rename(&primary, &parked)?;
    rename(&secondary, &primary)?;
    rename(&parked, &secondary)
}

/// Makes a running server re-read its settings.
async fn reload(cluster: &Cluster, port: u16) -> Result<(), LocalError> {
    let client = cluster.connect(port).await?;
    client.batch_execute("SELECT pg_reload_conf()").await.map_err(sql("reloading the settings"))?;
    Ok(())
}
