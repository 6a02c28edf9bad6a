//! Where a new server's cluster goes: its port and its directory, claimed on disk before any
//! other work, and reclaimed from a create that did not finish.
//!
//! A create can be interrupted anywhere (pgfleet killed, or stopped and its step abandoned):
//! after the claim (metadata saying `complete: false`, nothing else), during initdb (a
//! half-made data directory, initdb's password file, its standalone backend), after the first
//! start (a postmaster on the server's port), while an HA standby is built (a standby
//! postmaster on its own port), or just before the metadata says `complete`. The metadata is
//! written complete last, so such a cluster was never reported by a refresh, no state records
//! it as existing, and nobody was told its port: the next create ends its processes, removes
//! it and builds it again, on its port if that is still free and on another otherwise.
//!
//! Owns: choosing ports and clearing an unfinished create's leftovers. Must not: discard a
//! cluster whose metadata says complete (its data is a server's data).

use super::cluster::{Cluster, ClusterMeta, prepare_dir};
use super::settings::default_replication_support;
use super::{LocalError, LocalProvider};
use crate::model::{ServerName, ServerSpec};

/// Whether nothing listens on `port` of 127.0.0.1 (nor on the wildcard address).
fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

impl LocalProvider {
    /// The lowest port from `port_base` that no cluster under the root records (finished or
    /// not, standbys included), no postmaster under the root runs on, and nothing listens on.
    pub(super) fn allocate_port(&self) -> Result<u16, LocalError> {
        let mut used = std::collections::BTreeSet::new();
        for fleet in std::fs::read_dir(&self.root).into_iter().flatten().filter_map(Result::ok) {
            for server in std::fs::read_dir(fleet.path()).into_iter().flatten().filter_map(Result::ok) {
                let cluster = Cluster::new(server.path());
                if let Ok(meta) = cluster.read_meta() {
                    used.insert(meta.port);
                    used.extend(meta.standby_port);
                }
                // A postmaster whose metadata does not name its port (one left by an older
                // pgfleet, or still starting) holds it all the same.
                used.extend(cluster.port_in_use());
                used.extend(Self::standby_of(&cluster).port_in_use());
            }
        }
        (self.port_base..=u16::MAX)
            .find(|port| !used.contains(port) && port_is_free(*port))
            .ok_or(LocalError::NoFreePort(self.port_base))
    }

    /// Claims a directory and a port for a new server, or reclaims those of a create that did
    /// not finish (see the module's documentation).
    ///
    /// # Errors
    /// When the leftovers cannot be cleared, no port is free, or the metadata cannot be
    /// written; `LocalError::Conflict` when the cluster turns out to be finished.
    pub(super) async fn claim(
        &self,
        name: &ServerName,
        spec: &ServerSpec,
    ) -> Result<(Cluster, ClusterMeta), LocalError> {
        let _allocation = self.allocation.lock().await;
        let cluster = self.cluster(name);
        let unfinished_port = if cluster.exists() {
            let unfinished = cluster.read_meta()?;
            if unfinished.complete {
                return Err(LocalError::Conflict(format!(
                    "{name} exists and is complete; its cluster is not rebuilt"
                )));
            }
            self.discard_leftovers(&cluster).await?;
            Some(unfinished.port)
        } else {
            None
        };
        let port = match unfinished_port {
            // Our own leftover postmaster is gone now: whatever still holds the port is not ours.
            Some(port) if port_is_free(port) => port,
            _ => self.allocate_port()?,
        };
        prepare_dir(&self.root, &self.fleet_dir, &cluster.dir, &self.tools)?;
        let meta = ClusterMeta {
            name: name.clone(),
            port,
            spec: spec.clone(),
            replication_support: default_replication_support(spec),
            complete: false,
            cutover_from: None,
            max_connections: self.initial_max_connections(spec),
            standby_port: None,
        };
        cluster.write_meta(&meta, &self.tools)?;
        Ok((cluster, meta))
    }

    /// Clears what an unfinished create left in `cluster`'s directory: every process working
    /// in its data directory or its standby's (whether or not a lock file names it), initdb's
    /// password file, the data directory and the standby's directory. The metadata stays (the
    /// claim rewrites it), so the port stays claimed meanwhile.
    async fn discard_leftovers(&self, cluster: &Cluster) -> Result<(), LocalError> {
        let standby = Self::standby_of(cluster);
        standby.end_every_process().await?;
        // initdb's standalone backend is killed outright, as `stop` does: it has nothing to
        // clean up. Whatever else works in the directory is asked to quit first.
        cluster.end_standalone_backend().await?;
        cluster.end_every_process().await?;
        // A crash during initdb leaves its password file behind: it goes before anything else.
        cluster.remove_init_password()?;
        for dir in [standby.dir, cluster.data_dir()] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|source| LocalError::Io {
                    context: format!("removing {}", dir.display()),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Makes sure nothing took a new cluster's port while the cluster was being made: initdb or
    /// a base backup take seconds (more on a loaded machine, or when pgfleet is stopped), and
    /// what runs outside this root (other fleets, other programs) does not read its metadata.
    /// A taken port is replaced by a free one, recorded before the cluster first starts, while
    /// nobody but the metadata knows it.
    ///
    /// # Errors
    /// When no port is free or the metadata cannot be written.
    pub(super) async fn confirm_port(
        &self,
        cluster: &Cluster,
        meta: &mut ClusterMeta,
    ) -> Result<(), LocalError> {
        if port_is_free(meta.port) {
            return Ok(());
        }
        let _allocation = self.allocation.lock().await;
        meta.port = self.allocate_port()?;
        cluster.write_meta(meta, &self.tools)
    }

    /// [`Self::confirm_port`] for the standby of an HA server, before it first starts.
    ///
    /// # Errors
    /// When no port is free or the metadata cannot be written.
    pub(super) async fn confirm_standby_port(
        &self,
        cluster: &Cluster,
        meta: &mut ClusterMeta,
    ) -> Result<(), LocalError> {
        if meta.standby_port.is_none_or(port_is_free) {
            return Ok(());
        }
        let _allocation = self.allocation.lock().await;
        meta.standby_port = Some(self.allocate_port()?);
        cluster.write_meta(meta, &self.tools)
    }
}
