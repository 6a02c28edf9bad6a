//! Drift: what changed outside pgfleet, found by comparing what pgfleet last recorded (the
//! state) with what the provider reports now. Drift is reported, never acted on here: the plan
//! is computed against live, so acting on it is the planner's business.

use super::server::spec_fields;
use crate::model::{Address, LiveFleet, ObservedServer, ServerName};
use crate::state::State;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Something that changed outside pgfleet since it last recorded the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Drift {
    pub address: Address,
    pub server: ServerName,
    /// The attribute (`vcores`), or `server` when the whole server is missing.
    pub path: String,
    /// What pgfleet last recorded (`null` if it recorded nothing).
    pub recorded: serde_json::Value,
    /// What the provider reports now (`null` when the server is gone).
    pub live: serde_json::Value,
    /// One line for people: "changed outside pgfleet: pay-main vcores 4 → 8".
    pub message: String,
}

/// Every difference between the recorded and the live servers. Empty when nothing was
/// refreshed (the live fleet is then the state itself) or when there is no state yet. The
/// staging server of an unfinished migration is not drift: the state records it as such.
pub fn detect_drift(stored: Option<&State>, live: &LiveFleet, refreshed: bool) -> Vec<Drift> {
    let Some(stored) = stored.filter(|_| refreshed) else {
        return Vec::new();
    };
    let mut drift = Vec::new();
    for (name, record) in &stored.servers {
        match live.get(name) {
            Some(observed) => drift.extend(server_drift(name, &record.observed, observed)),
            None => drift.push(Drift {
                address: name.address(),
                server: name.clone(),
                path: "server".into(),
                recorded: serde_json::to_value(&record.observed.spec).unwrap_or(Value::Null),
                live: Value::Null,
                message: format!("changed outside pgfleet: {name} is gone (deleted outside pgfleet)"),
            }),
        }
    }
    // A staging server of a migration pgfleet recorded as unfinished is pgfleet's own.
    let staging = |name: &ServerName| stored.migrations.values().any(|record| &record.staging == name);
    let unrecorded = live.iter().filter(|(name, _)| !stored.servers.contains_key(*name) && !staging(name));
    for (name, observed) in unrecorded {
        drift.push(Drift {
            address: name.address(),
            server: name.clone(),
            path: "server".into(),
            recorded: Value::Null,
            live: serde_json::to_value(&observed.spec).unwrap_or(Value::Null),
            message: format!("changed outside pgfleet: {name} exists but pgfleet has no record of it"),
        });
    }
    drift
}

/// The attributes of one server that differ between the record and the live server.
fn server_drift(name: &ServerName, recorded: &ObservedServer, live: &ObservedServer) -> Vec<Drift> {
    let mut before = spec_fields(&recorded.spec);
    let mut after = spec_fields(&live.spec);
    before.insert("replication_support".into(), Value::String(recorded.replication_support.as_str().into()));
    after.insert("replication_support".into(), Value::String(live.replication_support.as_str().into()));
    // A failover swaps a Flexible Server's zone and standby zone: that is never drift.
    let swapped = match (zones(&recorded.spec), zones(&live.spec)) {
        (Some(before), Some(after)) => before.0.is_some() && crate::rules::zones_swapped(before, after),
        _ => false,
    };
    if swapped {
        for fields in [&mut before, &mut after] {
            fields.remove("zone");
            fields.remove("standby_zone");
        }
    }
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let recorded = before.get(key).cloned().unwrap_or(Value::Null);
            let live = after.get(key).cloned().unwrap_or(Value::Null);
            (recorded != live).then(|| Drift {
                address: name.address(),
                server: name.clone(),
                path: key.clone(),
                message: format!(
                    "changed outside pgfleet: {name} {key} {} → {}",
                    display_value(&recorded),
                    display_value(&live)
                ),
                recorded,
                live,
            })
        })
        .collect()
}

/// A flexible server's (zone, standby zone).
fn zones(spec: &crate::model::ServerSpec) -> Option<(Option<&str>, Option<&str>)> {
    spec.flexible.as_ref().map(|flexible| (flexible.zone.as_deref(), flexible.standby_zone.as_deref()))
}

/// A value as people read it: strings unquoted, absence as `(none)`.
pub(crate) fn display_value(value: &Value) -> String {
    match value {
        Value::Null => "(none)".into(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
