//! The ready-set scheduler: walks the plan graph on tokio (JoinSet + Semaphore), starting a
//! change once everything it depends on succeeded, never two changes on one server at once,
//! skipping the dependents of a failure, and reacting to the two-level cancel. It owns ordering
//! and concurrency; what a step does is `step`'s business, and it never prints.

use super::ApplyOptions;
use super::cancel::{Cancel, CancelLevel};
use super::events::{EventKind, EventSender};
use super::report::{ApplyReport, ChangeOutcome, ChangeReport};
use super::sink::{Durable, StateSink, start_writer};
use super::step::{Migrator, StepDeps, StepEnd, run_step};
use crate::model::ServerName;
use crate::plan::{Change, Plan};
use crate::providers::Provider;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;

/// The plan as a graph of indices into `plan.changes`.
struct Graph<'a> {
    changes: &'a [Change],
    /// For each change, the changes that depend on it.
    dependents: Vec<Vec<usize>>,
    /// For each change, how many of its dependencies have not succeeded yet.
    waiting_on: Vec<usize>,
}

impl<'a> Graph<'a> {
    /// Dependencies on ids that are not in the plan count as done (a plan re-made from the
    /// remaining work of an interrupted apply refers to changes that already happened).
    fn new(changes: &'a [Change]) -> Graph<'a> {
        let index: HashMap<&str, usize> =
            changes.iter().enumerate().map(|(i, change)| (change.id.as_str(), i)).collect();
        let mut dependents = vec![Vec::new(); changes.len()];
        let mut waiting_on = vec![0; changes.len()];
        for (i, change) in changes.iter().enumerate() {
            let known: BTreeSet<usize> =
                change.depends_on.iter().filter_map(|id| index.get(id.as_str()).copied()).collect();
            waiting_on[i] = known.len();
            for dependency in known {
                dependents[dependency].push(i);
            }
        }
        Graph { changes, dependents, waiting_on }
    }
}

/// Whether a failure was the step's own or the state's (which stops the apply).
enum EndKind {
    Step,
    State,
}

/// The scheduler's bookkeeping while an apply runs.
struct Run<'a> {
    graph: Graph<'a>,
    outcomes: Vec<Option<ChangeOutcome>>,
    /// Changes whose dependencies all succeeded and that have not started, in plan order.
    ready: BTreeSet<usize>,
    /// Servers a running step works on: never two steps on one server at once.
    busy: BTreeSet<ServerName>,
    running: HashMap<Id, usize>,
    /// `Finished` records queued but maybe not yet durable; a change counts as succeeded only
    /// once its record is saved.
    durable: Vec<(usize, Durable)>,
    events: EventSender,
}

/// Applies `plan`; see [`super::apply`].
pub(crate) async fn run(
    plan: &Plan,
    provider: Arc<dyn Provider>,
    migrator: Arc<dyn Migrator>,
    sink: Box<dyn StateSink>,
    options: ApplyOptions,
    events: EventSender,
    cancel: Cancel,
) -> ApplyReport {
    let started = Instant::now();
    let (journal, writer) = start_writer(sink);
    let deps = StepDeps {
        provider,
        migrator,
        journal,
        events: events.clone(),
        admin_passwords: Arc::new(options.admin_passwords),
    };
    let graph = Graph::new(&plan.changes);
    let ready = (0..plan.changes.len()).filter(|&i| graph.waiting_on[i] == 0).collect();
    let mut run = Run {
        graph,
        outcomes: vec![None; plan.changes.len()],
        ready,
        busy: BTreeSet::new(),
        running: HashMap::new(),
        durable: Vec::new(),
        events: events.clone(),
    };
    run.drive(&deps, &cancel, options.parallelism).await;
    drop(deps);
    run.await_durable().await;
    let state_error = writer.await.unwrap_or(None);
    let cancelled = cancel.level() != CancelLevel::Running;
    run.finish_unstarted(cancelled);
    let wall_time = started.elapsed();
    let changes: Vec<ChangeReport> = plan
        .changes
        .iter()
        .zip(run.outcomes)
        .map(|(change, outcome)| ChangeReport {
            id: change.id.clone(),
            address: change.address.clone(),
            action: change.action,
            outcome: outcome.unwrap_or(ChangeOutcome::Cancelled),
        })
        .collect();
    let summary = ApplyReport::summarize(&changes, wall_time);
    events.emit(EventKind::ApplyFinished { summary: summary.clone() });
    ApplyReport { changes, summary, wall_time, cancelled, state_error }
}

impl Run<'_> {
    /// The ready-set walk: start what can start, wait for a step to end, repeat until nothing
    /// runs. A `Stop` (or a state write failure) starts nothing new; an `Abort` drops running
    /// steps, which stay in flight in the state.
    async fn drive(&mut self, deps: &StepDeps, cancel: &Cancel, parallelism: usize) {
        // The semaphore bounds concurrent steps; a permit moves into each step's task.
        let semaphore = Arc::new(Semaphore::new(parallelism.max(1)));
        let mut tasks = JoinSet::new();
        let mut state_failed = false;
        loop {
            if cancel.level() == CancelLevel::Running && !state_failed {
                self.start_ready(&semaphore, &mut tasks, deps);
            }
            if tasks.is_empty() {
                return;
            }
            tokio::select! {
                biased;
                () = cancel.reached(CancelLevel::Abort) => {
                    tasks.abort_all();
                    while let Some(joined) = tasks.join_next_with_id().await {
                        match joined {
                            Ok((id, end)) => {
                                self.finish(id, end);
                            }
                            Err(error) => self.abort(error.id()),
                        }
                    }
                    return;
                }
                Some(joined) = tasks.join_next_with_id() => {
                    state_failed |= match joined {
                        Ok((id, end)) => self.finish(id, end),
                        Err(error) => {
                            let end = StepEnd::Failed { error: format!("the step panicked: {error}") };
                            self.finish(error.id(), end)
                        }
                    };
                }
            }
        }
    }

    /// Starts every ready change whose server is free, while permits last.
    fn start_ready(&mut self, semaphore: &Arc<Semaphore>, tasks: &mut JoinSet<StepEnd>, deps: &StepDeps) {
        let mut started = Vec::new();
        for &index in &self.ready {
            let server = &self.graph.changes[index].server;
            if self.busy.contains(server) {
                continue;
            }
            let Ok(permit) = semaphore.clone().try_acquire_owned() else { break };
            self.busy.insert(server.clone());
            let change = self.graph.changes[index].clone();
            let deps = deps.clone();
            let handle = tasks.spawn(async move {
                let end = run_step(change, deps).await;
                drop(permit);
                end
            });
            self.running.insert(handle.id(), index);
            started.push(index);
        }
        for index in started {
            self.ready.remove(&index);
        }
    }

    /// Records a finished step and releases its dependents (or skips them). Returns whether the
    /// step failed because the state could not be saved.
    fn finish(&mut self, id: Id, end: StepEnd) -> bool {
        let Some(index) = self.running.remove(&id) else { return false };
        let change = &self.graph.changes[index];
        self.busy.remove(&change.server);
        let end_kind =
            if matches!(end, StepEnd::StateFailed { .. }) { EndKind::State } else { EndKind::Step };
        match end {
            StepEnd::Succeeded { restarts, elapsed, durable } => {
                self.events.emit(EventKind::StepSucceeded {
                    change_id: change.id.clone(),
                    address: change.address.clone(),
                    action: change.action,
                    elapsed_ms: elapsed.as_millis() as u64,
                    restarts,
                });
                self.outcomes[index] = Some(ChangeOutcome::Succeeded { restarts });
                self.durable.push((index, durable));
                for &dependent in &self.graph.dependents[index] {
                    self.graph.waiting_on[dependent] -= 1;
                    if self.graph.waiting_on[dependent] == 0 && self.outcomes[dependent].is_none() {
                        self.ready.insert(dependent);
                    }
                }
                false
            }
            StepEnd::Failed { error } | StepEnd::StateFailed { error } => {
                let state_failed = matches!(end_kind, EndKind::State);
                self.events.emit(EventKind::StepFailed {
                    change_id: change.id.clone(),
                    address: change.address.clone(),
                    action: change.action,
                    error: error.clone(),
                });
                self.outcomes[index] = Some(ChangeOutcome::Failed { error });
                self.skip_dependents(index);
                state_failed
            }
        }
    }

    /// Waits until every queued `Finished` record is saved; a change whose record could not be
    /// saved is reported failed (the provider did the work, but the state does not say so).
    async fn await_durable(&mut self) {
        for (index, durable) in std::mem::take(&mut self.durable) {
            if let Err(error) = durable.wait().await {
                let error = format!("the change was made, but {error}");
                self.outcomes[index] = Some(ChangeOutcome::Failed { error });
            }
        }
    }

    /// Records a step a second Ctrl-C stopped: it stays in flight in the state.
    fn abort(&mut self, id: Id) {
        if let Some(index) = self.running.remove(&id) {
            self.busy.remove(&self.graph.changes[index].server);
            self.outcomes[index] = Some(ChangeOutcome::Aborted);
        }
    }

    /// Marks every change that (transitively) depends on `failed` as skipped, once each.
    fn skip_dependents(&mut self, failed: usize) {
        let failed_id = self.graph.changes[failed].id.clone();
        let mut pending = self.graph.dependents[failed].clone();
        while let Some(index) = pending.pop() {
            if self.outcomes[index].is_some() {
                continue;
            }
            let change = &self.graph.changes[index];
            let reason = format!("skipped because {failed_id} failed");
            self.events.emit(EventKind::StepSkipped {
                change_id: change.id.clone(),
                address: change.address.clone(),
                action: change.action,
                reason: reason.clone(),
            });
            self.outcomes[index] = Some(ChangeOutcome::Skipped { reason });
            self.ready.remove(&index);
            pending.extend(self.graph.dependents[index].iter().copied());
        }
    }

    /// Changes that never started: cancelled (reported as skipped, once each).
    fn finish_unstarted(&mut self, cancelled: bool) {
        for (index, outcome) in self.outcomes.iter_mut().enumerate() {
            if outcome.is_some() {
                continue;
            }
            let change = &self.graph.changes[index];
            let reason = if cancelled {
                "not started: the apply was cancelled"
            } else {
                "not started: the apply stopped"
            };
            self.events.emit(EventKind::StepSkipped {
                change_id: change.id.clone(),
                address: change.address.clone(),
                action: change.action,
                reason: reason.to_string(),
            });
            *outcome = Some(ChangeOutcome::Cancelled);
        }
    }
}
