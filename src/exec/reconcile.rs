//! Recovering from an interrupted apply: given the state it left (steps still in flight) and a
//! fresh refresh of the live servers, the corrected state. Pure: it reads no provider and
//! writes no file; the caller persists the result before planning.

use crate::model::Action;
use crate::model::{LiveFleet, ServerName};
use crate::state::{InFlightStep, Stage, State};
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
                next.record_observed(observed.clone());
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
    matches!(step.action, Action::Delete | Action::Migrate)
        || matches!(step.stage, Some(Stage::Delete | Stage::CreateReplica))
}

/// "migrating pay-main (at stage copy)".
fn describe(step: &InFlightStep) -> String {
    let verb = match step.action {
        Action::Create => "creating",
        Action::Update => "updating",
        Action::Migrate => "migrating",
        Action::Promote => "promoting",
        Action::Delete => "deleting",
    };
    match &step.stage {
        Some(stage) => format!("{verb} {} (at stage {})", step.server, stage.describe()),
        None => format!("{verb} {}", step.server),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObservedServer, ServerSpec};
    use crate::providers::test_provider::observed;
    use crate::rules::{PgVersion, Tier};
    use crate::state::{JournalRecord, RecordOutcome};
    use chrono::Utc;

    fn server(name: &str, vcores: u32) -> ObservedServer {
        let spec =
            ServerSpec::new(Tier::GeneralPurpose, vcores, 100, PgVersion::V11, "fleetadmin", "westeurope");
        observed(&ServerName::new(name), spec)
    }

    fn in_flight(state: &mut State, server: &str, action: Action, stage: Option<Stage>) {
        state.apply_record(&JournalRecord::Started {
            step: InFlightStep {
                change_id: format!("{}:{server}", action.as_str()),
                server: ServerName::new(server),
                action,
                stage,
                started_at: Utc::now(),
            },
        });
    }

    fn recorded(servers: &[ObservedServer]) -> State {
        let mut state = State::new("payments");
        for server in servers {
            state.apply_record(&JournalRecord::Observed { outcome: RecordOutcome::Upsert(server.clone()) });
        }
        state
    }

    #[test]
    fn records_what_exists_and_removes_only_what_a_step_explains() {
        let mut state = recorded(&[server("pay-main", 4), server("old-db", 2), server("gone", 2)]);
        in_flight(
            &mut state,
            "pay-main",
            Action::Migrate,
            Some(Stage::Migration(crate::migrate::Phase::Restore)),
        );
        in_flight(&mut state, "new-db", Action::Create, None);
        in_flight(&mut state, "old-db", Action::Delete, None);
        in_flight(&mut state, "gone", Action::Update, None);
        let live: LiveFleet =
            [server("pay-main", 8), server("new-db", 2)].into_iter().map(|s| (s.name.clone(), s)).collect();

        let (next, messages) = reconcile_interrupted(&state, &live);
        assert!(next.in_flight.is_empty());
        assert_eq!(next.servers[&ServerName::new("pay-main")].observed.spec.vcores, 8);
        assert!(next.servers.contains_key(&ServerName::new("new-db")));
        assert!(!next.servers.contains_key(&ServerName::new("old-db")));
        // An update cannot delete a server: keep it so the plan reports the drift.
        assert!(next.servers.contains_key(&ServerName::new("gone")));
        assert_eq!(
            messages[0],
            "an apply was interrupted while migrating pay-main (at stage restore); refreshing"
        );
        assert!(messages.iter().any(|m| m.contains("gone is recorded but does not exist")));
        assert_eq!(next.serial, state.serial + 1);
    }

    #[test]
    fn a_state_with_nothing_in_flight_is_left_alone() {
        let state = recorded(&[server("pay-main", 4)]);
        let (next, messages) = reconcile_interrupted(&state, &LiveFleet::new());
        assert_eq!(next, state);
        assert!(messages.is_empty());
    }
}
