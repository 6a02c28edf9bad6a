//! The DAG executor: applies a plan through a provider, in dependency order, in parallel where
//! it can, persisting every step, so the state file never lies. It owns scheduling, per-step
//! journaling, the event stream, the reconciliation of an interrupted apply, and the one
//! retrying layer every provider call goes through ([`RetryingProvider`], which the CLI wraps
//! around the provider where it builds it; the executor itself never retries). It never prints
//! (the CLI renders its events) and never reads the fleet file.
//!
//! - `scheduler`: the ready-set walk (JoinSet + Semaphore) and cancel handling.
//! - `step`: one change's provider calls; the [`Migrator`] trait for data migrations.
//! - `sink`: the [`StateSink`] contract and the batching writer task. Records are persisted in
//!   the order they are queued, which is what lets a dependent start as soon as its
//!   dependency's `Finished` record is queued.
//! - `migration`: [`PhasedMigrator`], which runs `migrate`'s phases for a `migrate` change
//!   (journaled in the state).
//! - `retry`: [`RetryPolicy`] and [`RetryingProvider`].
//! - `events`, `cancel`, `report`, `reconcile`.

mod cancel;
mod events;
mod migration;
mod reconcile;
mod report;
mod retry;
mod scheduler;
mod sink;
mod step;

pub use cancel::{Cancel, CancelLevel};
pub use events::{ApplySummary, Event, EventKind, EventSender};
pub use migration::PhasedMigrator;
pub use reconcile::reconcile_interrupted;
pub use report::{ApplyReport, ChangeOutcome, ChangeReport};
pub use retry::{BACKOFF_VARIABLE, RetryNotice, RetryObserver, RetryPolicy, RetryingProvider};
pub use sink::{MemorySink, SinkError, StateSink};
pub use step::{Migrator, StepContext};

use crate::model::ServerName;
use crate::plan::Plan;
use crate::providers::Provider;
use crate::secret::Redacted;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How an apply runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Most steps running at once (each step is one server's provider operations).
    pub parallelism: usize,
    /// Admin passwords of servers the plan creates, by server (replicas need none). Never
    /// recorded anywhere.
    pub admin_passwords: BTreeMap<ServerName, Redacted<String>>,
}

impl Default for ApplyOptions {
    fn default() -> ApplyOptions {
        ApplyOptions { parallelism: 10, admin_passwords: BTreeMap::new() }
    }
}

/// Applies `plan` through `provider`, in dependency order, at most `options.parallelism` steps
/// at once and never two on one server. Every step is durably recorded in `sink` as in flight
/// before its first provider call and as finished (with what exists afterwards) after its last.
/// A failed step skips its dependents; independent changes go on. `cancel` at `Stop` starts no
/// new step and lets running ones finish; at `Abort` running steps are dropped and stay in flight
/// in the state. Events go to `events`; nothing is printed.
///
/// The executor calls `provider` once per operation and never retries: pass a
/// [`RetryingProvider`] (as the CLI does) for calls to be retried.
///
/// Dropping the returned future is a crash: what was persisted tells the truth, and
/// [`reconcile_interrupted`] recovers on the next run.
pub async fn apply(
    plan: &Plan,
    provider: Arc<dyn Provider>,
    migrator: Arc<dyn Migrator>,
    sink: Box<dyn StateSink>,
    options: ApplyOptions,
    events: EventSender,
    cancel: Cancel,
) -> ApplyReport {
    scheduler::run(plan, provider, migrator, sink, options, events, cancel).await
}
