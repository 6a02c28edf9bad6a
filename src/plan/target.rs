//! `--target`: a plan narrowed to some servers and the changes theirs depend on, as Terraform's
//! `-target` narrows to resources and their dependencies. It only removes changes (and the
//! blocked, refused and drifted servers outside the target); it never adds, reorders or
//! re-decides one, and it says in the plan that the plan is targeted.

use super::graph;
use super::model::{Change, Note, Plan};
use crate::model::ServerName;
use std::collections::BTreeSet;

/// The plan limited to `targets` and to every change a targeted change depends on (a
/// replica's primary scaled up first, say), with a note saying so.
pub fn target(plan: Plan, targets: &BTreeSet<ServerName>) -> Plan {
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    let mut pending: Vec<&Change> =
        plan.changes.iter().filter(|change| targets.contains(&change.server)).collect();
    while let Some(change) = pending.pop() {
        if !kept.insert(change.id.as_str()) {
            continue;
        }
        for before in &change.depends_on {
            pending.extend(plan.changes.iter().filter(|other| &other.id == before));
        }
    }
    let kept: BTreeSet<String> = kept.into_iter().map(str::to_string).collect();
    let Plan {
        format_version,
        fleet,
        unfinished_migrations,
        changes,
        blocked,
        refused,
        drift,
        notes,
        summary,
        cost,
        inputs,
    } = plan;
    let mut changes: Vec<Change> = changes.into_iter().filter(|change| kept.contains(&change.id)).collect();
    let servers: BTreeSet<ServerName> =
        targets.iter().cloned().chain(changes.iter().map(|change| change.server.clone())).collect();
    let pulled_in: Vec<String> = servers
        .iter()
        .filter(|server| !targets.contains(*server))
        .map(|server| server.address().to_string())
        .collect();
    graph::assign_waves(&mut changes);
    graph::sort(&mut changes);
    let blocked: Vec<_> = blocked.into_iter().filter(|blocked| servers.contains(&blocked.server)).collect();
    let unchanged = targets
        .iter()
        .filter(|server| !changes.iter().any(|change| &change.server == *server))
        .filter(|server| !blocked.iter().any(|blocked| &blocked.server == *server))
        .count()
        .min(summary.unchanged);
    let summary = graph::summary(&changes, unchanged, blocked.len());
    let cost = cost.map(|mut cost| {
        cost.scheduled.retain(|scheduled| servers.contains(&scheduled.server));
        super::cost::total(&mut cost, &changes);
        cost
    });
    let mut notes: Vec<Note> = notes
        .into_iter()
        .filter(|note| note.address.as_ref().is_none_or(|address| servers.contains(address.server_name())))
        .collect();
    let named: Vec<String> = targets.iter().map(|server| server.address().to_string()).collect();
    let mut message = format!(
        "this plan is targeted (--target {}): it leaves out every change to other servers, so the fleet may \
         still differ from the fleet file after it; use --target for exceptional cases, and run a plan \
         without it to see the rest",
        named.join(", --target ")
    );
    if !pulled_in.is_empty() {
        message.push_str(&format!(
            "; {} included because the targeted changes depend on {}",
            pulled_in.join(", "),
            if pulled_in.len() == 1 { "it" } else { "them" }
        ));
    }
    notes.insert(0, Note { address: None, message });
    Plan {
        format_version,
        fleet,
        unfinished_migrations: unfinished_migrations
            .into_iter()
            .filter(|migration| servers.contains(&migration.server))
            .collect(),
        changes,
        blocked,
        refused: refused.into_iter().filter(|refusal| servers.contains(&refusal.server)).collect(),
        drift: drift.into_iter().filter(|drift| servers.contains(&drift.server)).collect(),
        notes,
        summary,
        cost,
        inputs,
    }
}
