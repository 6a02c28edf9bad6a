//! Values shared by the state module's tests.

use super::{InFlightStep, JournalRecord, RecordOutcome};
use crate::model::{Endpoint, ObservedServer, ServerName, ServerSpec, ServerStatus};
use crate::rules::{PgVersion, ReplicationSupport, Tier};
use chrono::Utc;

pub(super) fn observed(name: &str, vcores: u32) -> ObservedServer {
    ObservedServer {
        name: ServerName::new(name),
        provider_id: format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/servers/{name}"
        ),
        spec: ServerSpec {
            tags: [("team".to_string(), "payments".to_string())].into(),
            ..ServerSpec::new(Tier::GeneralPurpose, vcores, 100, PgVersion::V11, "fleetadmin", "westeurope")
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
            action: crate::model::Action::Update,
            stage: None,
            started_at: Utc::now(),
        },
    }
}
