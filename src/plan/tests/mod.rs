//! Planner tests: fleets built in Rust with the small builders below (desired, recorded and
//! live servers), planned, and checked change by change.

mod actions;
mod cost;
mod flexible;
mod migrations;
mod ordering;
mod property;
mod refusals;
mod saved;

use super::{Change, Plan, PlanRequest, build};
use crate::config::{DesiredFleet, DesiredServer, LocalSettings, ProviderSettings, SecretRef, SourceFile};
use crate::model::{LiveFleet, ObservedServer, ServerName, ServerSpec, ServerStatus};
use crate::rules::{PgVersion, ReplicationSupport, Tier};
use crate::state::{ServerRecord, State};
use chrono::{TimeZone, Utc};
use std::collections::BTreeMap;

/// A General Purpose Gen5 server on PostgreSQL 11.
pub(super) fn spec(vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec {
        storage_autogrow: false,
        ..ServerSpec::new(
            Tier::GeneralPurpose,
            vcores,
            storage_gb,
            PgVersion::V11,
            "fleetadmin",
            "westeurope",
        )
    }
}

/// The same spec as a replica of `primary`.
pub(super) fn replica(primary: &str, vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec { replica_of: Some(ServerName::new(primary)), ..spec(vcores, storage_gb) }
}

pub(super) fn name(text: &str) -> ServerName {
    ServerName::new(text)
}

pub(super) fn observed(server: &str, spec: ServerSpec, replication: ReplicationSupport) -> ObservedServer {
    ObservedServer {
        name: name(server),
        provider_id: format!("/servers/{server}"),
        spec,
        status: ServerStatus::Ready,
        replication_support: replication,
        endpoint: None,
    }
}

/// A planning scenario: what the config wants, what pgfleet recorded, what is live.
#[derive(Clone)]
pub(super) struct Case {
    pub desired: DesiredFleet,
    pub stored: State,
    pub live: LiveFleet,
    pub refreshed: bool,
    pub allow_delete: bool,
}

impl Case {
    pub fn new() -> Case {
        let mut stored = State::new("payments");
        stored.serial = 3;
        Case {
            desired: DesiredFleet {
                name: "payments".into(),
                provider: ProviderSettings::Local(LocalSettings {
                    root: "state/local".into(),
                    port_base: 54320,
                }),
                servers: BTreeMap::new(),
                state: Default::default(),
                source: SourceFile { path: "fleet.toml".into(), sha256: "aa".repeat(32) },
                pricing: Default::default(),
            },
            stored,
            live: LiveFleet::new(),
            refreshed: true,
            allow_delete: false,
        }
    }

    /// The config has this server.
    pub(crate) fn want(mut self, server: &str, spec: ServerSpec) -> Case {
        let desired = DesiredServer {
            name: name(server),
            base: spec.clone(),
            spec,
            admin_password: SecretRef::Env("PGFLEET_ADMIN_PASSWORD".into()),
            line: 1,
            schedule: Vec::new(),
        };
        self.desired.servers.insert(name(server), desired);
        self
    }

    /// The server exists live, as pgfleet applied and recorded it (with its `storage_gb` as the
    /// configured size), with replication support on.
    pub fn have(self, server: &str, spec: ServerSpec) -> Case {
        self.have_with(server, spec, ReplicationSupport::Replica)
    }

    pub(crate) fn have_with(
        mut self,
        server: &str,
        spec: ServerSpec,
        replication: ReplicationSupport,
    ) -> Case {
        let configured_storage_gb = Some(spec.storage_gb);
        let observed = observed(server, spec, replication);
        let record = ServerRecord { configured_storage_gb, ..ServerRecord::new(observed.clone()) };
        self.stored.servers.insert(name(server), record);
        self.live.insert(name(server), observed);
        self
    }

    /// pgfleet recorded the server like this (a refresh: the configured size stays); live is
    /// left as it is.
    pub fn recorded(mut self, server: &str, spec: ServerSpec) -> Case {
        self.stored.record_observed(observed(server, spec, ReplicationSupport::Replica));
        self
    }

    /// The state records no configured size for the server (a state file written before
    /// pgfleet recorded it).
    pub(crate) fn without_configured_storage(mut self, server: &str) -> Case {
        if let Some(record) = self.stored.servers.get_mut(&name(server)) {
            record.configured_storage_gb = None;
        }
        self
    }

    /// pgfleet last applied the server with this `zone` in the fleet file.
    pub(crate) fn configured_zone(mut self, server: &str, zone: &str) -> Case {
        if let Some(record) = self.stored.servers.get_mut(&name(server)) {
            record.configured_zone = Some(zone.to_string());
        }
        self
    }

    /// The server is live like this; the record is left as it is.
    pub(crate) fn live_as(mut self, server: &str, spec: ServerSpec) -> Case {
        match self.live.get_mut(&name(server)) {
            Some(live) => live.spec = spec,
            None => {
                self.live.insert(name(server), observed(server, spec, ReplicationSupport::Replica));
            }
        }
        self
    }

    /// The server is gone live (still recorded).
    pub fn gone(mut self, server: &str) -> Case {
        self.live.remove(&name(server));
        self
    }

    pub fn allow_delete(mut self) -> Case {
        self.allow_delete = true;
        self
    }

    pub fn plan(&self) -> Plan {
        build(&PlanRequest {
            desired: &self.desired,
            stored: Some(&self.stored),
            live: &self.live,
            refreshed: self.refreshed,
            allow_delete: self.allow_delete,
            now: Utc.with_ymd_and_hms(2026, 11, 23, 19, 0, 0).unwrap(),
            at: Utc.with_ymd_and_hms(2026, 11, 23, 19, 0, 0).unwrap(),
        })
    }
}

/// The change with this id; fails the test when it is missing.
pub(super) fn change<'p>(plan: &'p Plan, id: &str) -> &'p Change {
    plan.changes.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no change {id} in {:#?}", ids(plan)))
}

pub(super) fn ids(plan: &Plan) -> Vec<&str> {
    plan.changes.iter().map(|c| c.id.as_str()).collect()
}

/// Whether `after` waits for `before` (directly).
pub(super) fn waits_for(plan: &Plan, after: &str, before: &str) -> bool {
    let change = change(plan, after);
    let has_reason = change.ordering.iter().any(|o| o.after == before && !o.reason.is_empty());
    change.depends_on.iter().any(|d| d == before) && has_reason
}

/// The position of a change in the plan's order.
pub(super) fn position(plan: &Plan, id: &str) -> usize {
    plan.changes.iter().position(|c| c.id == id).unwrap_or_else(|| panic!("no change {id}"))
}
