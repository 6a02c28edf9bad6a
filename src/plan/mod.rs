//! The plan: turning desired, stored and live state into a dependency-ordered change graph,
//! saving it, and rendering it for people and machines.
//!
//! [`build`] is a pure function of a [`PlanRequest`]: no I/O, no clock (the time comes in the
//! request). It reads every service rule from [`crate::rules`] and never re-encodes one. Only
//! [`saved`] touches the disk, to write and read plan files.

mod build;
mod cost;
mod decide;
mod dot;
mod draft;
mod edges;
mod graph;
mod impact;
mod model;
pub mod render;
mod replication;
pub mod saved;
mod sizes;
mod target;

#[cfg(test)]
mod tests;

pub use dot::dot;
pub use model::{
    Action, AttributeChange, Blocked, Change, ChangeId, DowntimeRange, Drift, EndpointMove, Impact, Note,
    Operation, Ordering, PLAN_FORMAT_VERSION, Plan, PlanInputs, Refusal, Summary, UnfinishedMigration,
};
pub use saved::plan_id;
pub use target::target;

use crate::config::DesiredFleet;
use crate::model::LiveFleet;
use crate::state::State;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Everything a plan is computed from.
#[derive(Debug, Clone, Copy)]
pub struct PlanRequest<'a> {
    pub desired: &'a DesiredFleet,
    /// The state, when there is one yet.
    pub stored: Option<&'a State>,
    /// The live servers; without a refresh the caller passes `stored.observed()`.
    pub live: &'a LiveFleet,
    /// Whether `live` was read from the provider (drift is only detected then).
    pub refreshed: bool,
    /// Whether servers removed from the config may be deleted (otherwise they are blocked).
    pub allow_delete: bool,
    /// When the plan is made (recorded in its inputs).
    pub now: DateTime<Utc>,
    /// The moment the desired fleet is for (`plan --at`, otherwise `now`): timetabled servers'
    /// months are priced from it.
    pub at: DateTime<Utc>,
}

/// Computes the plan: drift, per-server changes, their order, impact and summary.
pub fn build(request: &PlanRequest) -> Plan {
    let drift = crate::diff::detect_drift(request.stored, request.live, request.refreshed);
    let mut planner = build::Planner::new(request);
    // Each configured server judged on its own, once; replicas against their primary's size;
    // each server's changes decided once from those judgements (replication support from the
    // decisions); servers that left the config; then the edges, derived from all of that.
    planner.assess_servers();
    planner.check_replica_sizes();
    planner.decide_changes();
    planner.deletes();
    edges::add_edges(&mut planner);
    let unchanged = request.desired.servers.keys().filter(|name| !planner.draft.has_changes(name)).count();
    let mut changes = std::mem::take(&mut planner.draft.changes);
    record_configured_storage(&mut changes, request);
    record_endpoint_moves(&mut changes, request);
    graph::assign_waves(&mut changes);
    graph::sort(&mut changes);
    let summary = graph::summary(&changes, unchanged, planner.blocked.len());
    let cost = cost::price(&mut changes, request);
    Plan {
        format_version: PLAN_FORMAT_VERSION.to_string(),
        fleet: request.desired.name.clone(),
        unfinished_migrations: unfinished_migrations(request, &changes),
        changes,
        blocked: planner.blocked,
        refused: planner.refused,
        drift,
        notes: planner.notes,
        summary,
        cost,
        inputs: inputs(request),
    }
}

/// Every change but a delete carries the server's configured `storage_gb`, for the state to
/// record once it is applied (what later plans compare the config with).
fn record_configured_storage(changes: &mut [Change], request: &PlanRequest) {
    for change in changes.iter_mut().filter(|change| change.action != Action::Delete) {
        let desired = request.desired.servers.get(&change.server);
        change.configured_storage_gb = desired.map(|server| server.spec.storage_gb);
        change.configured_zone = desired
            .and_then(|server| server.spec.flexible.as_ref())
            .and_then(|flexible| flexible.zone.clone());
        // Recorded when there is something to record: names declared now, or declared before
        // (which an empty set then forgets).
        let declared_before =
            request.stored.and_then(|state| state.servers.get(&change.server)).is_some_and(|record| {
                record.configured_carried.as_ref().is_some_and(|names| *names != Default::default())
            });
        change.configured_carried = desired
            .map(|server| crate::model::CarriedNames::of(&server.spec))
            .filter(|names| declared_before || *names != Default::default());
    }
}

/// The migrations the state records as unfinished, each with the sentence people read first:
/// what finishes it when this plan migrates the server again, what to do when the fleet file
/// no longer asks for it.
fn unfinished_migrations(request: &PlanRequest, changes: &[Change]) -> Vec<UnfinishedMigration> {
    let Some(stored) = request.stored else { return Vec::new() };
    stored
        .migrations
        .iter()
        .map(|(server, record)| {
            let planned = changes.iter().any(|change| {
                &change.server == server && matches!(change.operation, Operation::Migrate { .. })
            });
            UnfinishedMigration {
                address: server.address(),
                server: server.clone(),
                staging: record.staging.clone(),
                phase: record.phase,
                started_at: record.started_at,
                writes_frozen_since: record.writes_frozen_since,
                abortable: record.phase.abortable(),
                finish_command: planned.then(|| crate::migrate::FINISH_COMMAND.to_string()),
                abort_command: record.phase.abortable().then(|| crate::migrate::abort_command(server)),
                message: if planned { record.headline(server) } else { record.headline_not_planned(server) },
            }
        })
        .collect()
}

/// A migration on a provider whose new server is reached elsewhere says where clients go. The
/// new address is known ahead when the server's host is named after it (Azure: `NAME.…`) and no
/// live server already goes by the staging name (a server migrated before does): the staging
/// server's name takes its place, and the login takes the target service's form (Single
/// Server's `admin@NAME`, Flexible Server's plain `admin`, so a move between the services
/// changes it). Otherwise it is known once the new server exists, and the end of the apply
/// prints it.
fn record_endpoint_moves(changes: &mut [Change], request: &PlanRequest) {
    if request.desired.provider.keeps_endpoint_on_cutover() {
        return;
    }
    // A live server's name where the service hosts it: its ARM id's last segment.
    let azure_name = |live: &crate::model::ObservedServer| {
        live.provider_id.rsplit('/').next().filter(|name| !name.is_empty()).map(str::to_string)
    };
    let known_as = |name: &str| {
        request
            .live
            .values()
            .any(|live| azure_name(live).is_some_and(|known| known.eq_ignore_ascii_case(name)))
    };
    for change in changes.iter_mut() {
        let Operation::Migrate { staging, .. } = &change.operation else { continue };
        let Some(live) = request.live.get(&change.server) else { continue };
        let Some(endpoint) = live.endpoint.as_ref() else { continue };
        let to_flexible =
            request.desired.servers.get(&change.server).is_some_and(|s| s.spec.flexible.is_some());
        let login = endpoint.user.rsplit_once('@').map_or(endpoint.user.as_str(), |(login, _)| login);
        let renamed = azure_name(live).filter(|_| !known_as(staging.as_str())).and_then(|named| {
            let rest = endpoint.host.strip_prefix(named.as_str())?.strip_prefix('.')?;
            Some(crate::model::Endpoint {
                host: format!("{staging}.{rest}"),
                user: if to_flexible { login.to_string() } else { format!("{login}@{staging}") },
                ..endpoint.clone()
            })
        });
        // Known whether or not the new host is: the login loses its `@server`.
        let login_changes = to_flexible && login != endpoint.user;
        let (from_uri, to) = (endpoint.uri(), renamed.map(|endpoint| endpoint.uri()));
        let mut message = match &to {
            Some(to) => format!("clients reconnect: {from_uri} → {to}"),
            None => format!(
                "clients reconnect: {from_uri} → the new server {staging}'s address, printed when the apply ends"
            ),
        };
        if login_changes {
            message
                .push_str(&format!(" (Flexible Server logins carry no @server: the user becomes {login})"));
        }
        change.endpoint = Some(EndpointMove { from: from_uri, to, message });
    }
}

/// What the plan rests on: the fleet file's digest, the state's lineage and serial, and a
/// fingerprint of every live server read.
fn inputs(request: &PlanRequest) -> PlanInputs {
    let source = &request.desired.source;
    PlanInputs {
        config_files: BTreeMap::from([(source.path.display().to_string(), source.sha256.clone())]),
        state_lineage: request.stored.map(|state| state.lineage.to_string()),
        state_serial: request.stored.map(|state| state.serial),
        refreshed: request.refreshed,
        live_fingerprints: request
            .live
            .iter()
            .map(|(name, observed)| (name.clone(), saved::fingerprint(observed)))
            .collect(),
        created_at: request.now,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}
