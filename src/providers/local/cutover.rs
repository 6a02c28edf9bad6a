//! Cutover after a migration: the staging cluster takes the server's place, name and port.
//!
//! Owns: a rename-based sequence a re-run finishes from wherever it stopped, read from what is
//! on disk: (1) stop both clusters and move the old one aside to `.retired-<name>`; (2) move
//! the staging cluster into the server's directory; (3) give it the server's name and port,
//! start it; (4) remove the old cluster. Must not: check that the copy is verified (the
//! migration does, before it calls cutover).

use super::cluster::Cluster;
use super::{LocalError, LocalProvider};
use crate::model::{ObservedServer, ServerName};
use crate::providers::ProviderError;

fn rename(from: &Cluster, to: &Cluster) -> Result<(), LocalError> {
    std::fs::rename(&from.dir, &to.dir).map_err(|source| LocalError::Io {
        context: format!("moving {} to {}", from.dir.display(), to.dir.display()),
        source,
    })
}

impl LocalProvider {
    fn retired(&self, name: &ServerName) -> Cluster {
        Cluster::new(self.fleet_dir.join(format!(".retired-{name}")))
    }

    pub(super) async fn cutover_servers(
        &self,
        name: &ServerName,
        staging: &ServerName,
    ) -> Result<ObservedServer, ProviderError> {
        let current = self.cluster(name);
        let incoming = self.cluster(staging);
        let retired = self.retired(name);
        if current.exists() && !retired.exists() {
            let meta = current.read_meta()?;
            if meta.cutover_from.as_ref() == Some(staging) && !incoming.exists() {
                // Done before: the server already holds the staging cluster.
                current.start(&self.tools).await?;
                return Ok(self.observe(&current, &meta).await);
            }
            if !incoming.exists() {
                return Err(Self::not_found(staging));
            }
            // Both at once: the staging cluster's shutdown checkpoint (everything the restore
            // wrote) is the long one, and the source's writes are frozen meanwhile.
            let stop = |cluster: &Cluster| {
                let standby = Self::standby_of(cluster);
                let cluster = cluster.clone();
                async move {
                    standby.stop(&self.tools).await?;
                    cluster.stop(&self.tools).await
                }
            };
            futures_util::future::try_join(stop(&incoming), stop(&current)).await?;
            rename(&current, &retired)?;
        }
        if !retired.exists() {
            return Err(Self::not_found(name));
        }
        if incoming.exists() && !current.exists() {
            rename(&incoming, &current)?;
        }
        if !current.exists() {
            return Err(Self::not_found(staging));
        }
        let old = retired.read_meta()?;
        let mut meta = current.read_meta()?;
        meta.name = name.clone();
        meta.port = old.port;
        meta.cutover_from = Some(staging.clone());
        meta.complete = true;
        current.write_meta(&meta, &self.tools)?;
        current.write_settings(&Self::settings(&meta)?, &self.tools)?;
        current.start(&self.tools).await?;
        if meta.standby_port.is_some() {
            // The HA standby follows the server to its port.
            self.restart_standby_first(&current, &meta).await?;
        }
        Self::standby_of(&retired).stop(&self.tools).await?;
        retired.stop(&self.tools).await?;
        std::fs::remove_dir_all(&retired.dir).map_err(|source| LocalError::Io {
            context: format!("removing {}", retired.dir.display()),
            source,
        })?;
        Ok(self.observe(&current, &meta).await)
    }
}
