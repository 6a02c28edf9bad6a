//! The PostgreSQL settings a server's SKU and replication support stand for, rendered as the
//! `pgfleet.conf` file its `postgresql.conf` includes.
//!
//! Owns: the mapping from SKU to `max_connections` (the catalog's value, DOMAIN.md §1.2) and
//! memory settings, and from `azure.replication_support` to WAL settings. Pure: no I/O.

use crate::model::ServerSpec;
use crate::rules::{self, ReplicationSupport};

/// The SKU's memory is divided by this so a laptop can run a fleet: GP_Gen5_8 (40 GB) gets
/// the memory settings of a 640 MB machine.
pub const MEMORY_SCALE_DIVISOR: u32 = 64;

/// The smallest `shared_buffers`, in MB: enough buffers for the largest `max_connections`.
pub const MIN_SHARED_BUFFERS_MB: u32 = 32;

/// WAL senders and replication slots on a server whose replication support is on: the five
/// replicas the service allows, plus room for base backups and a slot being dropped.
pub const REPLICATION_SLOTS: u32 = 10;

/// The settings of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    pub port: u16,
    /// Fixed by the SKU; a hot standby refuses to run with less than its primary's.
    pub max_connections: u32,
    pub shared_buffers_mb: u32,
    pub effective_cache_size_mb: u32,
    pub work_mem_kb: u32,
    pub maintenance_work_mem_mb: u32,
    pub replication_support: ReplicationSupport,
    /// The `application_name` of a synchronous standby (a Flexible Server's HA standby).
    pub synchronous_standby: Option<String>,
    /// The server this cluster streams from as an HA standby.
    pub upstream: Option<Upstream>,
}

/// Where an HA standby streams from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub port: u16,
    /// The provider role's password (alphanumeric).
    pub secret: String,
    pub slot: String,
    pub application: String,
}

impl ClusterSettings {
    /// The settings for a spec, or `None` when the spec names no SKU the service sells. On
    /// Single Server the SKU fixes `max_connections`; on Flexible Server it is a parameter:
    /// `max_connections` when the server has one recorded, else the SKU's default.
    pub fn for_spec(
        spec: &ServerSpec,
        port: u16,
        replication_support: ReplicationSupport,
        max_connections: Option<u32>,
    ) -> Option<Self> {
        let (memory_gb, connections) = match &spec.flexible {
            Some(_) => {
                let sku = spec.flexible_sku()?;
                (sku.memory_gib, max_connections.unwrap_or(sku.default_max_connections))
            }
            None => {
                let sku = rules::sku(spec.tier, spec.generation, spec.vcores)?;
                (sku.memory_gb, sku.max_connections)
            }
        };
        let memory_mb = memory_gb * 1024 / MEMORY_SCALE_DIVISOR;
        Some(ClusterSettings {
            port,
            max_connections: connections,
            shared_buffers_mb: (memory_mb / 4).max(MIN_SHARED_BUFFERS_MB),
            effective_cache_size_mb: (memory_mb * 3 / 4).max(64),
            work_mem_kb: (memory_mb * 1024 / connections).max(1024),
            maintenance_work_mem_mb: (memory_mb / 16).max(16),
            replication_support,
            synchronous_standby: None,
            upstream: None,
        })
    }

    /// The `pgfleet.conf` text.
    pub fn render(&self) -> String {
        let upstream = match &self.upstream {
            Some(upstream) => format!(
                "primary_conninfo = 'host=127.0.0.1 port={} user={} password={} application_name={}'\n\
                 primary_slot_name = '{}'\n",
                upstream.port,
                super::cluster::INTERNAL_ROLE,
                upstream.secret,
                upstream.application,
                upstream.slot
            ),
            None => String::new(),
        };
        let (wal_level, senders) = match self.replication_support {
            ReplicationSupport::Off => ("minimal", 0),
            ReplicationSupport::Replica => ("replica", REPLICATION_SLOTS),
            ReplicationSupport::Logical => ("logical", REPLICATION_SLOTS),
        };
        format!(
            "# Written by pgfleet from the server's SKU and replication support; edits are overwritten.\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = ''\n\
             password_encryption = 'scram-sha-256'\n\
             max_connections = {max_connections}\n\
             shared_buffers = '{shared_buffers}MB'\n\
             effective_cache_size = '{effective_cache}MB'\n\
             work_mem = '{work_mem}kB'\n\
             maintenance_work_mem = '{maintenance}MB'\n\
             wal_level = '{wal_level}'\n\
             max_wal_senders = {senders}\n\
             max_replication_slots = {senders}\n\
             hot_standby = on\n\
             wal_retrieve_retry_interval = '1s'\n\
             max_wal_size = '256MB'\n\
             logging_collector = off\n\
             synchronous_standby_names = '{synchronous}'\n\
             {upstream}",
            synchronous = self.synchronous_standby.as_deref().unwrap_or(""),
            port = self.port,
            max_connections = self.max_connections,
            shared_buffers = self.shared_buffers_mb,
            effective_cache = self.effective_cache_size_mb,
            work_mem = self.work_mem_kb,
            maintenance = self.maintenance_work_mem_mb,
        )
    }
}

/// The replication support a new server starts with (`rules::check::initial_replication_support`).
pub fn default_replication_support(spec: &ServerSpec) -> ReplicationSupport {
    rules::check::initial_replication_support(&spec.shape(""))
}

/// The replication support a running server's `wal_level` stands for.
pub fn replication_support_of_wal_level(wal_level: &str) -> ReplicationSupport {
    match wal_level {
        "logical" => ReplicationSupport::Logical,
        "replica" => ReplicationSupport::Replica,
        _ => ReplicationSupport::Off,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Generation, PgVersion, Tier, TlsVersion};

    pub(crate) fn spec(tier: Tier, vcores: u32) -> ServerSpec {
        ServerSpec {
            ssl_enforcement: false,
            minimal_tls_version: TlsVersion::EnforcementDisabled,
            ..ServerSpec::new(tier, vcores, 10, PgVersion::V11, "fleetadmin", "local")
        }
    }

    #[test]
    fn max_connections_is_the_catalogs() {
        for (tier, vcores) in [(Tier::Basic, 1), (Tier::GeneralPurpose, 8), (Tier::MemoryOptimized, 32)] {
            let settings =
                ClusterSettings::for_spec(&spec(tier, vcores), 5432, ReplicationSupport::Off, None).unwrap();
            let sku = rules::sku(tier, Generation::Gen5, vcores).unwrap();
            assert_eq!(settings.max_connections, sku.max_connections);
            assert!(settings.render().contains(&format!("max_connections = {}\n", sku.max_connections)));
        }
    }

    #[test]
    fn memory_scales_with_the_sku_above_floors() {
        let small =
            ClusterSettings::for_spec(&spec(Tier::Basic, 1), 1, ReplicationSupport::Off, None).unwrap();
        let large =
            ClusterSettings::for_spec(&spec(Tier::GeneralPurpose, 8), 1, ReplicationSupport::Off, None)
                .unwrap();
        assert_eq!(small.shared_buffers_mb, MIN_SHARED_BUFFERS_MB);
        // 40 GB / 64 = 640 MB, a quarter of it shared buffers.
        assert_eq!(large.shared_buffers_mb, 160);
        assert_eq!(large.effective_cache_size_mb, 480);
        assert!(large.work_mem_kb >= 1024);
    }

    #[test]
    fn replication_support_sets_wal_level() {
        let off = ClusterSettings::for_spec(&spec(Tier::Basic, 1), 1, ReplicationSupport::Off, None)
            .unwrap()
            .render();
        assert!(off.contains("wal_level = 'minimal'") && off.contains("max_wal_senders = 0"));
        let replica =
            ClusterSettings::for_spec(&spec(Tier::GeneralPurpose, 2), 1, ReplicationSupport::Replica, None)
                .unwrap();
        assert!(replica.render().contains("wal_level = 'replica'"));
        assert_eq!(replication_support_of_wal_level("logical"), ReplicationSupport::Logical);
        assert_eq!(default_replication_support(&spec(Tier::Basic, 1)), ReplicationSupport::Off);
    }

    #[test]
    fn flexible_max_connections_is_set_at_create_and_kept() {
        let d4 = ServerSpec::flexible("Standard_D4ds_v5", 256, PgVersion::V16, "fleetadmin", "local");
        let created = ClusterSettings::for_spec(&d4, 1, ReplicationSupport::Replica, None).unwrap();
        assert_eq!(created.max_connections, 1718);
        let d2 = ServerSpec::flexible("Standard_D2ds_v5", 256, PgVersion::V16, "fleetadmin", "local");
        assert_eq!(
            ClusterSettings::for_spec(&d2, 1, ReplicationSupport::Replica, None).unwrap().max_connections,
            859
        );
        // Scaled to D2ds_v5 later, it keeps the 1718 it was created with.
        let kept = ClusterSettings::for_spec(&d2, 1, ReplicationSupport::Replica, Some(1718)).unwrap();
        assert_eq!(kept.max_connections, 1718);
        assert_eq!(default_replication_support(&d2), ReplicationSupport::Replica);
    }

    #[test]
    fn unknown_sku_has_no_settings() {
        assert!(ClusterSettings::for_spec(&spec(Tier::Basic, 4), 1, ReplicationSupport::Off, None).is_none());
    }
}
