//! Read replicas: a base backup of the primary through a replication slot, streaming as a hot
//! standby; promote with `pg_promote()`; the slot on the primary dropped when the replica
//! stops replicating.
//!
//! Owns: slots, base backups and promotion. Must not: check the service's replica rules
//! (that is `checks`, before `create` gets here).

use super::cluster::{Cluster, ClusterMeta, INTERNAL_ROLE};
use super::{LocalError, LocalProvider};
use crate::model::{ObservedServer, ServerName};
use crate::providers::ProviderError;
use std::time::Duration;
use tokio::time::Instant;

/// How long a base backup may take.
const BASE_BACKUP_TIMEOUT: Duration = Duration::from_secs(600);

/// How long promote waits for the replica to leave recovery.
const PROMOTE_TIMEOUT_SECONDS: i32 = 60;

/// The replication slot on the primary that keeps WAL for one replica.
pub(super) fn slot_name(replica: &ServerName) -> String {
    format!("pgfleet_{}", replica.as_str().replace('-', "_"))
}

/// Creates a physical replication slot unless it exists. Reserved at once
/// (`immediately_reserve`): otherwise the slot holds no WAL until a streamer first uses it,
/// and what is written before can be recycled.
pub(super) async fn create_slot(client: &tokio_postgres::Client, slot: &str) -> Result<(), LocalError> {
    client
        .execute(
            "SELECT pg_create_physical_replication_slot($1, true) \
             WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
            &[&slot],
        )
        .await
        .map_err(sql("creating a replication slot"))?;
    Ok(())
}

fn sql(context: &str) -> impl FnOnce(tokio_postgres::Error) -> LocalError + '_ {
    move |source| LocalError::Sql { context: context.to_string(), source }
}

impl LocalProvider {
    /// Makes `cluster` a streaming hot standby of its primary.
    pub(super) async fn build_replica(
        &self,
        cluster: &Cluster,
        meta: &mut ClusterMeta,
    ) -> Result<(), ProviderError> {
        let primary_name = meta.spec.replica_of.as_ref().expect("build_replica is called for replicas");
        let (primary, primary_meta) = self.existing(primary_name)?;
        let slot = slot_name(&meta.name);
        let client = primary.connect(primary_meta.port).await?;
        create_slot(&client, &slot).await?;
        let secret = primary.internal_secret()?;
        let data = cluster.data_dir();
        let mut command = self.tools.command("pg_basebackup");
        command
            .args(["-h", "127.0.0.1", "-p", &primary_meta.port.to_string(), "-U", INTERNAL_ROLE])
            .args(["-X", "stream", "-S", &slot, "-R", "--checkpoint=fast", "-D"])
            .arg(&data)
            .env("PGPASSWORD", &secret);
        crate::pgtools::run_command("pg_basebackup", command, BASE_BACKUP_TIMEOUT)
            .await
            .map_err(LocalError::from)?;
        cluster.write_internal_secret(&secret, &self.tools)?;
        self.confirm_port(cluster, meta).await?;
        cluster.write_settings(&Self::settings(meta)?, &self.tools)?;
        cluster.start(&self.tools).await?;
        Ok(())
    }

    /// Stops replication: the replica leaves recovery and becomes read-write; its slot on the
    /// old primary is dropped. A server that is already standalone after a promote succeeds.
    pub(super) async fn promote_replica(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        let (cluster, mut meta) = self.existing(name)?;
        super::checks::check_promote(name, &meta.spec)?;
        let primary = meta.spec.replica_of.clone().expect("check_promote passes replicas only");
        cluster.start(&self.tools).await?;
        let client = cluster.connect(meta.port).await?;
        let in_recovery: bool = client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .map_err(sql("reading recovery state"))?
            .get(0);
        if in_recovery {
            let promoted: bool = client
                .query_one("SELECT pg_promote(true, $1)", &[&PROMOTE_TIMEOUT_SECONDS])
                .await
                .map_err(sql("promoting"))?
                .get(0);
            if !promoted {
                return Err(LocalError::Timeout(format!("{name} did not finish promoting")).into());
            }
        }
        for statement in [
            "ALTER SYSTEM RESET primary_conninfo",
            "ALTER SYSTEM RESET primary_slot_name",
            "SELECT pg_reload_conf()",
        ] {
            client.batch_execute(statement).await.map_err(sql("clearing the replication settings"))?;
        }
        meta.spec.replica_of = None;
        cluster.write_meta(&meta, &self.tools)?;
        self.drop_slot(&primary, name).await?;
        Ok(self.observe(&cluster, &meta).await)
    }

    /// Drops a replica's slot on its primary, waiting (bounded) for the walsender to let go of
    /// it. A missing primary or slot is not an error; a stopped primary keeps the slot.
    pub(super) async fn drop_slot(
        &self,
        primary: &ServerName,
        replica: &ServerName,
    ) -> Result<(), ProviderError> {
        let Ok((primary_cluster, primary_meta)) = self.existing(primary) else { return Ok(()) };
        if !primary_cluster.is_running() {
            return Ok(());
        }
        let client = primary_cluster.connect(primary_meta.port).await?;
        let slot = slot_name(replica);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let dropped = client
                .execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                     WHERE slot_name = $1 AND NOT active",
                    &[&slot],
                )
                .await
                .map_err(sql("dropping the replication slot"))?;
            let remaining = client
                .query_one("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", &[&slot])
                .await
                .map_err(sql("reading replication slots"))?
                .get::<_, i64>(0);
            if dropped > 0 || remaining == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LocalError::Timeout(format!("slot {slot} on {primary} stayed active")).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every replica of a primary streams from it again, up to `timeout`. Replicas
    /// reconnect by themselves; this only bounds how long a restart reports before they do.
    pub(super) async fn wait_for_replicas(
        &self,
        primary: &ServerName,
        meta: &ClusterMeta,
        timeout: Duration,
    ) {
        let Ok(replicas) = self.replica_names(primary) else { return };
        let slots: Vec<String> = replicas.map(|replica| slot_name(&replica)).collect();
        if slots.is_empty() {
            return;
        }
        let cluster = self.cluster(primary);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(client) = cluster.connect(meta.port).await {
                let active = client
                    .query_one(
                        "SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = ANY($1)",
                        &[&slots],
                    )
                    .await
                    .map(|row| row.get::<_, i64>(0))
                    .unwrap_or(0);
                if active as usize == slots.len() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
