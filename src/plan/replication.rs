//! Replication support and split storage growth: the changes that exist only because of a
//! replica. A primary needs `azure.replication_support` on (a parameter write and a restart)
//! before its first replica is created; a replica whose storage must grow before its primary's
//! update while its compute shrinks after it gets its storage growth as a change of its own.
//! The edges around these changes are [`super::edges`]'s; this module only makes them.

use super::PlanRequest;
use super::build::Planner;
use super::decide::{self, Assessment};
use super::draft::{Kind, NewChange};
use super::impact;
use super::model::{Action, AttributeChange, ChangeId, Operation};
use crate::model::{ServerName, ServerPatch, ServerSpec};
use crate::rules::{Key, ReplicationSupport};
use serde_json::Value;

/// Turns replication support on for `primary` when it gets its first replica
/// (`gets_replica`: a replica created, or re-created from it as a new server) and may not have
/// it: merged into the primary's update when it has one (one restart), else its own change;
/// after the create or migration of a new primary. `changes` are the primary's decided changes.
pub(super) fn support(
    request: &PlanRequest,
    primary: &ServerName,
    own: &Assessment,
    changes: &mut Vec<NewChange>,
    gets_replica: bool,
) {
    // `azure.replication_support` is a Single Server parameter: a Flexible Server of a tier
    // with replicas always has replication on.
    if !gets_replica || own.target.flexible.is_some() {
        return;
    }
    let has = |changes: &[NewChange], kind| changes.iter().any(|change| change.kind == kind);
    if has(changes, Kind::Create) {
        changes.push(replication(primary, &own.target, false));
        return;
    }
    if own.migrates {
        changes.push(replication(primary, &own.target, true));
        return;
    }
    let Some(live) = request.live.get(primary) else { return };
    if live.replication_support.allows_replicas() {
        return;
    }
    let before = Value::String(live.replication_support.as_str().into());
    let why = format!(
        "its first replica needs azure.replication_support = REPLICA (now {}), which takes a restart",
        live.replication_support
    );
    let update = match changes.iter_mut().find(|change| change.kind == Kind::Update) {
        Some(update) => {
            update.attributes.push(enabling(before));
            update.reason = format!("{}; also {why} (merged: one restart)", update.reason);
            update
        }
        None => {
            changes.push(decide::update(
                ServerPatch::default(),
                &live.spec,
                vec![enabling(before)],
                format!("{primary}: {why}"),
            ));
            changes.last_mut().expect("just pushed")
        }
    };
    if let Operation::Update { patch, replication_support } = &mut update.operation {
        *replication_support = Some(ReplicationSupport::Replica);
        update.impact = impact::update(patch, &live.spec, true);
    }
}

/// Its own change turning replication support on, for a server the plan creates or migrates:
/// what the service sets on a new server is not known, and the setting needs a restart, so it
/// is made once the server exists and before any replica is created.
fn replication(primary: &ServerName, spec: &ServerSpec, migrated: bool) -> NewChange {
    let when = if migrated {
        "after the migration's cutover (one more short restart of the new server)"
    } else {
        "right after the server is created, before any client uses it"
    };
    let reason = format!(
        "{primary} is a new server and its first replica needs azure.replication_support = REPLICA, which \
         takes a restart; it is set {when}, and the replicas are created after it"
    );
    NewChange {
        kind: Kind::Replication,
        action: Action::Update,
        operation: Operation::Update {
            patch: ServerPatch::default(),
            replication_support: Some(ReplicationSupport::Replica),
        },
        attributes: vec![enabling(Value::Null)],
        impact: if migrated {
            impact::update(&ServerPatch::default(), spec, true)
        } else {
            impact::new_server_replication()
        },
        reason,
        steps: Vec::new(),
    }
}

impl Planner<'_> {
    /// Moves a replica's storage growth out of its update into a change of its own (online, no
    /// restart), so it can come before the primary's update while the rest comes after. Returns
    /// the new change's id, or `None` when the update has no storage growth or nothing else.
    pub(crate) fn split_storage(&mut self, replica: &ServerName, update: &ChangeId) -> Option<ChangeId> {
        let change = self.draft.change_mut(update)?;
        let Operation::Update { patch, replication_support } = &mut change.operation else { return None };
        let storage_gb = patch.storage_gb?;
        if impact::patch_keys(patch).len() < 2 {
            return None;
        }
        patch.storage_gb = None;
        let live = &self.request.live[replica].spec;
        change.impact = impact::update(patch, live, replication_support.is_some());
        let (moved, kept): (Vec<_>, Vec<_>) =
            change.attributes.drain(..).partition(|attribute| attribute.path == Key::StorageGb);
        change.attributes = kept;
        let storage = ServerPatch { storage_gb: Some(storage_gb), ..ServerPatch::default() };
        let new = NewChange {
            kind: Kind::Storage,
            action: Action::Update,
            impact: impact::update(&storage, live, false),
            operation: Operation::Update { patch: storage, replication_support: None },
            attributes: moved,
            reason: format!(
                "{replica}'s storage grows on its own, online, ahead of the rest of its update: its primary's \
                 storage grows while its compute shrinks, so the replica's storage has to be ready before the \
                 primary's update and its compute can shrink only after it"
            ),
            steps: Vec::new(),
        };
        Some(self.draft.add(replica, new))
    }
}

/// The attribute change of turning replication support on.
fn enabling(before: Value) -> AttributeChange {
    AttributeChange {
        path: Key::ReplicationSupport.into(),
        before,
        after: Value::String(ReplicationSupport::Replica.as_str().into()),
    }
}
