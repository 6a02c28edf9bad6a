//! One step of an apply: maps a plan `Operation` to provider calls (retried by the provider's
//! own retrying layer, not here), journals it as in flight before and as done after, and reports what it did. It
//! must not choose which step runs when (the scheduler does) or talk to the sink directly.

use super::events::{EventKind, EventSender};
use super::sink::{Durable, Journal, SinkError};
use crate::model::{ObservedServer, ServerName, ServerSpec};
use crate::plan::{Change, Operation};
use crate::providers::{CreateRequest, Provider, ProviderError};
use crate::rules::ReplicationSupport;
use crate::secret::Redacted;
use crate::state::{InFlightStep, JournalRecord, RecordOutcome, Stage};
use async_trait::async_trait;
use chrono::Utc;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Moves a server's data to a new server (`Operation::Migrate`): create staging, copy, verify,
/// cutover. Implemented by `crate::migrate` for real servers and by the test provider in memory.
#[async_trait]
pub trait Migrator: Send + Sync {
    /// Migrates `change.server` to the `to` spec of `change`'s `Migrate` operation and returns
    /// the server as it is after cutover. Must be resumable: run again after an interruption
    /// (any stage, see `StepContext::stage`), it reuses what the earlier run left.
    ///
    /// # Errors
    /// A provider failure or a failed copy/verification; the source server is left serving.
    async fn migrate(
        &self,
        provider: &dyn Provider,
        change: &Change,
        context: &StepContext,
    ) -> Result<ObservedServer, ProviderError>;
}

/// What a step's code may use besides the provider: events and the stage journal.
pub struct StepContext {
    change: Change,
    events: EventSender,
    journal: Journal,
    started_at: chrono::DateTime<Utc>,
}

impl StepContext {
    pub(crate) fn events(&self) -> &EventSender {
        &self.events
    }

    /// Records durably that the step reached `stage` (a re-created replica's delete or create,
    /// a restart) before it does that stage's work, so an interrupted step says where it stopped.
    ///
    /// # Errors
    /// When the state cannot be saved; the step must then stop.
    pub(crate) async fn stage(&self, stage: Stage) -> Result<(), ProviderError> {
        let message = stage.describe();
        self.journal.write(self.started_record(Some(stage))).await.map_err(sink_failure)?;
        self.events.emit(EventKind::StepProgress {
            change_id: self.change.id.clone(),
            address: self.change.address.clone(),
            message,
        });
        Ok(())
    }

    /// Records durably how far the migration of this step's server got (`None`: it ended), and
    /// the phase as the step's stage, so an interrupted apply says where it stopped.
    ///
    /// # Errors
    /// When the state cannot be saved; the migration must then stop.
    pub(crate) async fn record_migration(
        &self,
        migration: Option<&crate::migrate::MigrationRecord>,
    ) -> Result<(), SinkError> {
        let record =
            JournalRecord::Migration { server: self.change.server.clone(), migration: migration.cloned() };
        self.journal.write(record).await?;
        if let Some(migration) = migration {
            self.journal.write(self.started_record(Some(Stage::Migration(migration.phase)))).await?;
        }
        Ok(())
    }

    fn started_record(&self, stage: Option<Stage>) -> JournalRecord {
        JournalRecord::Started {
            step: InFlightStep {
                change_id: self.change.id.clone(),
                server: self.change.server.clone(),
                action: self.change.action,
                stage,
                started_at: self.started_at,
            },
        }
    }
}

fn sink_failure(error: SinkError) -> ProviderError {
    ProviderError::new(crate::providers::ProviderErrorKind::Other, error.to_string())
}

/// What a step needs from the apply.
#[derive(Clone)]
pub(crate) struct StepDeps {
    pub provider: Arc<dyn Provider>,
    pub migrator: Arc<dyn Migrator>,
    pub journal: Journal,
    pub events: EventSender,
    pub admin_passwords: Arc<BTreeMap<ServerName, Redacted<String>>>,
}

/// How a step ended.
#[derive(Debug)]
pub(crate) enum StepEnd {
    /// The provider work is done and `Finished` is queued; `durable` resolves once it is saved.
    /// Dependents may start at once: their `Started` is queued after it, so it is durable first.
    Succeeded {
        restarts: u32,
        elapsed: Duration,
        durable: Durable,
    },
    Failed {
        error: String,
    },
    /// The state could not be saved: the apply must stop starting steps.
    StateFailed {
        error: String,
    },
}

/// Runs one change: journal `Started`, the provider calls, journal `Finished` with what exists
/// afterwards. A failed step is not journaled as finished: it may have changed something
/// before failing, so it stays in flight and the next run reconciles it by refresh.
pub(crate) async fn run_step(change: Change, deps: StepDeps) -> StepEnd {
    let context = StepContext {
        change,
        events: deps.events.clone(),
        journal: deps.journal.clone(),
        started_at: Utc::now(),
    };
    if let Err(error) = deps.journal.write(context.started_record(None)).await {
        return StepEnd::StateFailed { error: error.to_string() };
    }
    deps.events.emit(EventKind::StepStarted {
        change_id: context.change.id.clone(),
        address: context.change.address.clone(),
        action: context.change.action,
    });
    let started = tokio::time::Instant::now();
    match perform(&context, &deps).await {
        Ok((outcome, restarts)) => {
            let finished = JournalRecord::Finished {
                change_id: context.change.id.clone(),
                outcome,
                configured_storage_gb: context.change.configured_storage_gb,
                configured_zone: context.change.configured_zone.clone(),
                configured_carried: context.change.configured_carried.clone(),
            };
            // Restarts count as the plan counts them: those clients see. A server the plan
            // creates restarts once for its replication setting before anyone uses it, and the
            // plan's impact says so; neither counts it.
            let restarts = if context.change.impact.restart { restarts } else { 0 };
            StepEnd::Succeeded { restarts, elapsed: started.elapsed(), durable: deps.journal.queue(finished) }
        }
        Err(error) => StepEnd::Failed { error: error.to_string() },
    }
}

/// The provider calls of one operation; returns what to record and how many restarts it caused.
async fn perform(context: &StepContext, deps: &StepDeps) -> Result<(RecordOutcome, u32), ProviderError> {
    let change = &context.change;
    let provider = deps.provider.as_ref();
    let name = &change.server;
    match &change.operation {
        Operation::Create { spec } => {
            let observed = create(context, deps, spec.clone()).await?;
            Ok((RecordOutcome::Upsert(observed), 0))
        }
        Operation::Update { patch, replication_support } => {
            update(context, provider, name, patch, *replication_support).await
        }
        Operation::Failover => {
            let observed = deps.provider.failover(&context.change.server).await?;
            Ok((RecordOutcome::Upsert(observed), 1))
        }
        Operation::Promote => {
            let observed = provider.promote(name).await?;
            Ok((RecordOutcome::Upsert(observed), 1))
        }
        Operation::Delete => {
            provider.delete(name).await?;
            Ok((RecordOutcome::Remove(name.clone()), 0))
        }
        Operation::Recreate { spec } => {
            context.stage(Stage::Delete).await?;
            provider.delete(name).await?;
            context.stage(Stage::CreateReplica).await?;
            let observed = create(context, deps, spec.clone()).await?;
            Ok((RecordOutcome::Upsert(observed), 0))
        }
        Operation::Migrate { .. } => {
            let observed = deps.migrator.migrate(provider, change, context).await?;
            Ok((RecordOutcome::Upsert(observed), 0))
        }
    }
}

async fn create(
    context: &StepContext,
    deps: &StepDeps,
    spec: ServerSpec,
) -> Result<ObservedServer, ProviderError> {
    let name = &context.change.server;
    let admin_password = if spec.is_replica() { None } else { deps.admin_passwords.get(name).cloned() };
    let request = CreateRequest { name: name.clone(), spec, admin_password };
    deps.provider.create(request).await
}

/// Replication support first (a parameter write), then the patch, then a restart unless the
/// patch changed compute (which restarts the server anyway).
async fn update(
    context: &StepContext,
    provider: &dyn Provider,
    name: &ServerName,
    patch: &crate::model::ServerPatch,
    replication_support: Option<ReplicationSupport>,
) -> Result<(RecordOutcome, u32), ProviderError> {
    if let Some(value) = replication_support {
        provider.set_parameter(name, ReplicationSupport::PARAMETER, value.as_str()).await?;
    }
    let mut observed = None;
    if !patch.is_empty() {
        observed = Some(provider.update(name, patch).await?);
    }
    // Replication support is a Single Server parameter; a Single Server patch restarts the
    // server by its keys alone (compute), and then no explicit restart is needed.
    let patch_restarts = crate::rules::restarts(crate::rules::Service::Single, patch.keys());
    if replication_support.is_some() && !patch_restarts {
        context.stage(Stage::Restart).await?;
        observed = Some(provider.restart(name).await?);
    }
    // The plan judged whether clients see a restart (a flexible SKU or storage change restarts
    // by its sizes); the step counts as the plan does.
    let restarts = u32::from(context.change.impact.restart);
    let outcome = observed.map_or(RecordOutcome::Unchanged, RecordOutcome::Upsert);
    Ok((outcome, restarts))
}
