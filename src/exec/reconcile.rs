//! Recovering from an interrupted apply: given the state it left (steps still in flight) and a
//! fresh refresh of the live servers, the corrected state. Pure: it reads no provider and
//! writes no file; the caller persists the result before planning.

use crate::model::{LiveFleet, ServerName};
use crate::state::{InFlightStep, ServerRecord, State};
use std::collections::BTreeMap;

/// Corrects a state whose apply was interrupted: every server an in-flight step touched is
/// recorded as it exists live; one that is gone live is removed only when an in-flight delete,
/// migration or re-creation explains it (otherwise it is kept, so the planner reports it as
/// drift). Servers no step touched keep their records, so drift on them still shows. The
/// in-flight list is cleared. Returns the state and one message per interrupted step and per
/// correction, for people.
pub fn reconcile_interrupted(state: &State, live: &LiveFleet) -> (State, Vec<String>) {
    let mut next = state.clone();
    let mut messages = Vec::new();
    if state.in_flight.is_empty() {
        return (next, messages);
    }
    let mut touched: BTreeMap<&ServerName, Vec<&InFlightStep>> = BTreeMap::new();
    for step in &state.in_flight {
        messages.push(format!("an apply was interrupted while {}; refreshing", describe(step)));
        touched.entry(&step.server).or_default().push(step);
    }
    for (server, steps) in touched {
        let recorded = state.servers.get(server);
        match (live.get(server), recorded) {
            (Some(observed), _) => {
                if recorded.map(|record| &record.observed) != Some(observed) {
                    messages.push(format!("recorded {server} as it exists now"));
                }
                next.servers.insert(
                    server.clone(),
                    ServerRecord { address: server.address(), observed: observed.clone() },
                );
            }
            (None, Some(_)) if steps.iter().any(|step| explains_removal(step)) => {
                messages.push(format!("{server} no longer exists; removed it from the state"));
                next.servers.remove(server);
            }
            (None, Some(_)) => messages.push(format!(
                "{server} is recorded but does not exist; kept for the plan to report as drift"
            )),
            (None, None) => {}
        }
    }
    next.in_flight.clear();
    next.serial += 1;
    (next, messages)
}

/// Whether an interrupted step could have removed its server: a delete, a migration (cutover
/// retires the old server) or a re-creation (delete, then create).
fn explains_removal(step: &InFlightStep) -> bool {
    matches!(step.action.as_str(), "delete" | "migrate")
        || matches!(step.stage.as_deref(), Some("delete" | "create_replica"))
}

/// "migrating pay-main (at stage copy)".
fn describe(step: &InFlightStep) -> String {
    let verb = match step.action.as_str() {
        "create" => "creating",
        "update" => "updating",
        "migrate" => "migrating",
        "promote" => "promoting",
        "delete" => "deleting",
        other => other,
    };
    match &step.stage {
        Some(stage) => format!("{verb} {} (at stage {})", step.server, stage.replace('_', " ")),
        None => format!("{verb} {}", step.server),
    }
}
