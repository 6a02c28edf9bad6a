//! Driving a fleet to its fleet file through the library, as `pgfleet apply` does: refresh,
//! recover what an earlier apply left in flight, plan, apply; again until the plan is empty.
//! The provider goes through the product's retrying layer, as the CLI's does. Tests of what a
//! user sees under faults drive the binary instead (`azure_e2e_faults`).

use pgfleet::config::DesiredFleet;
use pgfleet::exec::{
    ApplyOptions, Cancel, EventKind, EventSender, MemorySink, Migrator, RetryNotice, RetryingProvider,
    StepContext, apply, reconcile_interrupted,
};
use pgfleet::model::ObservedServer;
use pgfleet::plan::{self, Change, Operation, PlanRequest};
use pgfleet::providers::{Provider, ProviderError, ProviderErrorKind};
use pgfleet::secret::Redacted;
use pgfleet::state::State;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most applies a phase may take before it counts as not converging.
pub const MAX_APPLIES: usize = 6;

/// How one phase converged.
#[derive(Debug, Clone, Default)]
pub struct Convergence {
    /// Applies run until the plan was empty (1 when the first apply did it all).
    pub applies: usize,
    /// Provider calls the retrying layer retried.
    pub retries: usize,
    /// The errors of steps that failed even after retries (a later apply finished them).
    pub errors: Vec<String>,
}

/// A fleet without migrations: any migrate step is a test failure.
struct NoMigration;

#[async_trait::async_trait]
impl Migrator for NoMigration {
    async fn migrate(
        &self,
        _: &dyn Provider,
        change: &Change,
        _: &StepContext,
    ) -> Result<ObservedServer, ProviderError> {
        Err(ProviderError::new(ProviderErrorKind::Other, format!("unexpected migration {}", change.id)))
    }
}

/// Applies until a fresh plan has no changes.
///
/// # Errors
/// A plan with blocked or refused changes, or no convergence within [`MAX_APPLIES`].
pub async fn converge(
    provider: Arc<dyn Provider>,
    desired: &DesiredFleet,
    state: &mut State,
    password: &str,
) -> Result<Convergence, String> {
    converge_with(provider, desired, state, password, Arc::new(NoMigration)).await
}

/// [`converge`] with a migrator for `migrate` steps.
///
/// # Errors
/// As [`converge`].
pub async fn converge_with(
    provider: Arc<dyn Provider>,
    desired: &DesiredFleet,
    state: &mut State,
    password: &str,
    migrator: Arc<dyn Migrator>,
) -> Result<Convergence, String> {
    let retried = Arc::new(AtomicUsize::new(0));
    let counter = retried.clone();
    let provider: Arc<dyn Provider> =
        Arc::new(RetryingProvider::new(provider, super::fast_retries()).observed(Arc::new(
            move |_: &RetryNotice<'_>| {
                counter.fetch_add(1, Ordering::Relaxed);
            },
        )));
    let mut convergence = Convergence::default();
    loop {
        convergence.retries = retried.load(Ordering::Relaxed);
        let live = provider.refresh().await.map_err(|e| format!("refresh: {e}"))?;
        let (recovered, _) = reconcile_interrupted(state, &live);
        *state = recovered;
        let plan = plan::build(&PlanRequest {
            desired,
            stored: Some(state),
            live: &live,
            refreshed: true,
            allow_delete: true,
            now: chrono::Utc::now(),
            at: chrono::Utc::now(),
        });
        if !plan.blocked.is_empty() || !plan.refused.is_empty() {
            return Err(format!("blocked {:?}, refused {:?}", plan.blocked, plan.refused));
        }
        if !plan.has_changes() {
            return Ok(convergence);
        }
        if convergence.applies == MAX_APPLIES {
            let left: Vec<&str> = plan.changes.iter().map(|c| c.id.as_str()).collect();
            return Err(format!("no convergence after {MAX_APPLIES} applies; still to do: {left:?}"));
        }
        convergence.applies += 1;
        let admin_passwords = plan
            .changes
            .iter()
            .filter(
                |change| matches!(&change.operation, Operation::Create { spec } if spec.replica_of.is_none()),
            )
            .map(|change| (change.server.clone(), Redacted::new(password.to_string())))
            .collect();
        let options = ApplyOptions { parallelism: 10, admin_passwords };
        let sink = MemorySink::new(state.clone());
        let (events, mut receiver) = EventSender::channel();
        let report = apply(
            &plan,
            provider.clone(),
            migrator.clone(),
            Box::new(sink.clone()),
            options,
            events,
            Cancel::new(),
        )
        .await;
        while let Ok(event) = receiver.try_recv() {
            if let EventKind::StepFailed { error, .. } = event.kind {
                convergence.errors.push(error);
            }
        }
        if let Some(error) = &report.state_error {
            return Err(format!("state: {error}"));
        }
        *state = sink.state();
    }
}
