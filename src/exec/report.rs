//! What an apply reports: each change's outcome, the counts, restarts and wall time. Plain data;
//! it must not print.

use super::events::ApplySummary;
use super::sink::SinkError;
use crate::model::Address;
use crate::plan::{Action, ChangeId};
use std::time::Duration;

/// How one change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    Succeeded {
        restarts: u32,
    },
    Failed {
        error: String,
    },
    /// Not run because a change it depends on failed (named in the reason).
    Skipped {
        reason: String,
    },
    /// Not started: the apply was cancelled first.
    Cancelled,
    /// Stopped while running by a second Ctrl-C (or a state write failure); the state keeps it
    /// in flight.
    Aborted,
}

/// One change and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeReport {
    pub id: ChangeId,
    pub address: Address,
    pub action: Action,
    pub outcome: ChangeOutcome,
}

/// The result of an apply. Returned even when it failed: the state holds everything it did.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyReport {
    /// Every change of the plan, in plan order.
    pub changes: Vec<ChangeReport>,
    pub summary: ApplySummary,
    pub wall_time: Duration,
    /// Whether Ctrl-C stopped the apply.
    pub cancelled: bool,
    /// The first failure to save the state, which stops the apply.
    pub state_error: Option<SinkError>,
}

impl ApplyReport {
    /// Whether every change succeeded and the state was saved.
    pub fn succeeded(&self) -> bool {
        self.state_error.is_none()
            && self.changes.iter().all(|change| matches!(change.outcome, ChangeOutcome::Succeeded { .. }))
    }

    /// The outcome of one change.
    pub fn outcome(&self, id: &str) -> Option<&ChangeOutcome> {
        self.changes.iter().find(|change| change.id == id).map(|change| &change.outcome)
    }

    pub(crate) fn summarize(changes: &[ChangeReport], wall_time: Duration) -> ApplySummary {
        let mut summary =
            ApplySummary { wall_time_ms: wall_time.as_millis() as u64, ..ApplySummary::default() };
        for change in changes {
            match &change.outcome {
                ChangeOutcome::Succeeded { restarts } => {
                    summary.restarts += restarts;
                    match change.action {
                        Action::Create => summary.created += 1,
                        Action::Update => summary.updated += 1,
                        Action::Migrate => summary.migrated += 1,
                        Action::Promote => summary.promoted += 1,
                        Action::Delete => summary.deleted += 1,
                    }
                }
                ChangeOutcome::Failed { .. } => summary.failed += 1,
                ChangeOutcome::Skipped { .. } | ChangeOutcome::Cancelled => summary.skipped += 1,
                ChangeOutcome::Aborted => summary.aborted += 1,
            }
        }
        summary
    }
}
