//! The plan under construction: changes by id, the ids of each server's changes, and edges
//! added with their reasons. Knows nothing of the service's rules.

use super::model::{Action, AttributeChange, Change, ChangeId, Impact, Operation, Ordering};
use crate::model::ServerName;
use std::collections::{BTreeMap, HashMap};

/// The kinds of change one server can have; each is at most one change, id `KIND:SERVER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    Create,
    /// Turns `azure.replication_support` on, after the server was created or migrated.
    Replication,
    /// Flexible Server: a custom maintenance window, which the service takes only after create.
    Maintenance,
    /// Flexible Server: HA disabled before the update that enables it in another mode or zone.
    HaOff,
    /// Flexible Server: a planned failover to the HA standby.
    Failover,
    Update,
    /// A replica's storage growth split from its update, when it must come before the
    /// primary's update while the rest of the replica's update must come after it.
    Storage,
    Migrate,
    Recreate,
    Promote,
    Delete,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Replication => "replication",
            Kind::Maintenance => "maintenance",
            Kind::HaOff => "ha-off",
            Kind::Failover => "failover",
            Kind::Update => "update",
            Kind::Storage => "storage",
            Kind::Migrate => "migrate",
            Kind::Recreate => "recreate",
            Kind::Promote => "promote",
            Kind::Delete => "delete",
        }
    }
}

/// A change before it is placed in the graph.
pub(super) struct NewChange {
    pub kind: Kind,
    pub action: Action,
    pub operation: Operation,
    pub attributes: Vec<AttributeChange>,
    pub impact: Impact,
    pub reason: String,
    pub steps: Vec<String>,
}

/// Changes in the order they were added, with an index by id and by server.
#[derive(Default)]
pub(super) struct Draft {
    pub changes: Vec<Change>,
    index: HashMap<ChangeId, usize>,
    by_server: HashMap<ServerName, BTreeMap<Kind, ChangeId>>,
}

impl Draft {
    /// Adds a change and returns its id.
    pub fn add(&mut self, server: &ServerName, new: NewChange) -> ChangeId {
        let id = format!("{}:{server}", new.kind.as_str());
        self.index.insert(id.clone(), self.changes.len());
        self.by_server.entry(server.clone()).or_default().insert(new.kind, id.clone());
        self.changes.push(Change {
            id: id.clone(),
            address: server.address(),
            server: server.clone(),
            action: new.action,
            depends_on: Vec::new(),
            ordering: Vec::new(),
            attributes: new.attributes,
            impact: new.impact,
            reason: new.reason,
            steps: new.steps,
            wave: 0,
            operation: new.operation,
            configured_storage_gb: None,
            configured_zone: None,
            configured_carried: None,
            endpoint: None,
            cost: None,
        });
        id
    }

    /// The id of a server's change of one kind.
    pub fn id(&self, server: &ServerName, kind: Kind) -> Option<ChangeId> {
        self.by_server.get(server).and_then(|kinds| kinds.get(&kind)).cloned()
    }

    /// Every change of a server, by kind.
    pub(crate) fn of_server(&self, server: &ServerName) -> Vec<(Kind, ChangeId)> {
        self.by_server
            .get(server)
            .map(|kinds| kinds.iter().map(|(kind, id)| (*kind, id.clone())).collect())
            .unwrap_or_default()
    }

    /// Whether a server has any change.
    pub fn has_changes(&self, server: &ServerName) -> bool {
        self.by_server.get(server).is_some_and(|kinds| !kinds.is_empty())
    }

    pub fn change(&self, id: &ChangeId) -> Option<&Change> {
        self.index.get(id).map(|&at| &self.changes[at])
    }

    pub(crate) fn change_mut(&mut self, id: &ChangeId) -> Option<&mut Change> {
        self.index.get(id).map(|&at| &mut self.changes[at])
    }

    /// Every change in an order that keeps every edge (by wave, then server and id).
    pub(crate) fn topological_order(&self) -> Vec<&Change> {
        let waves = super::graph::waves(&self.changes);
        let mut order: Vec<(u32, &Change)> = waves.into_iter().zip(&self.changes).collect();
        order.sort_unstable_by(|(a_wave, a), (b_wave, b)| {
            (a_wave, &a.server, &a.id).cmp(&(b_wave, &b.server, &b.id))
        });
        order.into_iter().map(|(_, change)| change).collect()
    }

    /// Whether `after` waits for `before`, directly or through other changes.
    pub(crate) fn depends(&self, after: &ChangeId, before: &ChangeId) -> bool {
        let mut stack = vec![after.clone()];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(id) = stack.pop() {
            let Some(change) = self.change(&id) else { continue };
            for dependency in &change.depends_on {
                if dependency == before {
                    return true;
                }
                if seen.insert(dependency.clone()) {
                    stack.push(dependency.clone());
                }
            }
        }
        false
    }

    /// Records that `after` waits for `before`, with the reason; a repeated edge is ignored.
    pub(crate) fn edge(&mut self, before: &ChangeId, after: &ChangeId, reason: String) {
        if before == after || !self.index.contains_key(before) {
            return;
        }
        let Some(change) = self.change_mut(after) else { return };
        if !change.depends_on.contains(before) {
            change.depends_on.push(before.clone());
            change.ordering.push(Ordering { after: before.clone(), reason });
        }
    }
}
