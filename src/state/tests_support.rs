//! Values shared by the state module's tests.

use super::{InFlightStep, JournalRecord, RecordOutcome};
use crate::model::{Endpoint, ObservedServer, ServerName, ServerSpec, ServerStatus};
use crate::rules::{Generation, PgVersion, ReplicationSupport, Tier, TlsVersion};
use chrono::Utc;

pub(super) fn observed(name: &str, vcores: u32) -> ObservedServer {
    ObservedServer {
        name: ServerName::new(name),
        provider_id: format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/servers/{name}"
        ),
        spec: ServerSpec {
            tier: Tier::GeneralPurpose,
            generation: Generation::Gen5,
            vcores,
            storage_gb: 100,
            version: PgVersion::V11,
            backup_retention_days: 7,
            geo_redundant_backup: false,
            storage_autogrow: true,
            ssl_enforcement: true,
            minimal_tls_version: TlsVersion::Tls1_2,
            admin_login: "fleetadmin".into(),
            location: "westeurope".into(),
            tags: [("team".to_string(), "payments".to_string())].into(),
            replica_of: None,
        },
        status: ServerStatus::Ready,
        replication_support: ReplicationSupport::Replica,
        endpoint: Some(Endpoint {
            host: format!("{name}.postgres.database.azure.com"),
            port: 5432,
            user: format!("fleetadmin@{name}"),
            database: "postgres".into(),
        }),
    }
}

pub(super) fn upsert(name: &str, vcores: u32) -> JournalRecord {
    JournalRecord::Observed { outcome: RecordOutcome::Upsert(observed(name, vcores)) }
}

pub(super) fn started(change_id: &str, server: &str) -> JournalRecord {
    JournalRecord::Started {
        step: InFlightStep {
            change_id: change_id.into(),
            server: ServerName::new(server),
            action: "update".into(),
            stage: None,
            started_at: Utc::now(),
        },
    }
}
