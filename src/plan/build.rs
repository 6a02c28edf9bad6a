//! The planner's run: each configured server assessed and decided once ([`super::decide`]),
//! replicas checked against their primary's size ([`super::sizes`]), replication support for
//! first replicas ([`super::replication`]), and the servers that left the config. Ordering is
//! [`super::edges`]'s job, from what this leaves.

use super::PlanRequest;
use super::decide::{self, Assessment, PrimaryView};
use super::draft::{Draft, Kind, NewChange};
use super::edges;
use super::impact;
use super::model::{Action, Blocked, Note, Operation, Refusal};
use crate::model::{ServerName, ServerSpec};
use crate::rules::{self, SkuSize};
use std::collections::BTreeMap;

/// Everything the planner works out before the graph is ordered.
pub(super) struct Planner<'r> {
    pub request: &'r PlanRequest<'r>,
    /// Each configured server judged on its own: target, diff, whether it migrates.
    pub assessments: BTreeMap<ServerName, Assessment>,
    /// Configured replicas by configured primary.
    pub desired_replicas: BTreeMap<ServerName, Vec<ServerName>>,
    /// Live replicas by live primary.
    pub live_replicas: BTreeMap<ServerName, Vec<ServerName>>,
    pub draft: Draft,
    pub refused: Vec<Refusal>,
    pub blocked: Vec<Blocked>,
    pub notes: Vec<Note>,
}

impl<'r> Planner<'r> {
    pub fn new(request: &'r PlanRequest<'r>) -> Planner<'r> {
        let mut desired_replicas: BTreeMap<ServerName, Vec<ServerName>> = BTreeMap::new();
        for (name, server) in &request.desired.servers {
            if let Some(primary) = &server.spec.replica_of {
                desired_replicas.entry(primary.clone()).or_default().push(name.clone());
            }
        }
        let mut live_replicas: BTreeMap<ServerName, Vec<ServerName>> = BTreeMap::new();
        for (name, observed) in request.live {
            if let Some(primary) = &observed.spec.replica_of {
                live_replicas.entry(primary.clone()).or_default().push(name.clone());
            }
        }
        Planner {
            request,
            assessments: BTreeMap::new(),
            desired_replicas,
            live_replicas,
            draft: Draft::default(),
            refused: Vec::new(),
            blocked: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(super) fn refuse(&mut self, server: &ServerName, refusal: rules::Refusal) {
        self.refused.push(decide::refusal_of(
            server,
            Some(refusal.rule),
            refusal.key,
            refusal.message,
            refusal.hint,
        ));
    }

    fn note(&mut self, server: &ServerName, message: String) {
        self.notes.push(Note { address: Some(server.address()), message });
    }

    /// What a configured server becomes.
    pub fn target(&self, name: &ServerName) -> Option<&ServerSpec> {
        self.assessments.get(name).map(|assessment| &assessment.target)
    }

    /// Whether a configured server's data moves to a new server.
    pub(crate) fn migrates(&self, name: &ServerName) -> bool {
        self.assessments.get(name).is_some_and(|assessment| assessment.migrates)
    }

    /// `spec`'s size as `primary`'s replicas are held to it ([`Assessment::held_size`]).
    pub(crate) fn held_size(&self, primary: &ServerName, spec: &ServerSpec) -> SkuSize {
        match self.assessments.get(primary) {
            Some(assessment) => assessment.held_size(spec),
            None => spec.size(),
        }
    }

    /// Judges every configured server on its own ([`decide::assess`]).
    pub(crate) fn assess_servers(&mut self) {
        let request = self.request;
        for name in request.desired.servers.keys() {
            let replicas = self.desired_replicas.get(name).map(Vec::as_slice).unwrap_or_default();
            let assessment = decide::assess(request, name, replicas);
            self.refused.extend(assessment.refusals.iter().cloned());
            self.notes.extend(assessment.notes.iter().cloned());
            self.assessments.insert(name.clone(), assessment);
        }
    }

    /// The changes of configured servers: each server's decided once ([`decide::decide`]),
    /// then replication support for primaries that get their first replica
    /// ([`super::replication::support`]), from those decisions.
    pub(crate) fn decide_changes(&mut self) {
        let request = self.request;
        let mut decisions = BTreeMap::new();
        for (name, own) in &self.assessments {
            let primary = own.target.replica_of.as_ref().and_then(|primary| {
                let assessment = self.assessments.get(primary)?;
                let resize = edges::resize(request, (primary, assessment), (name, own));
                Some(PrimaryView { assessment, resize })
            });
            let decision = decide::decide(request, name, own, primary);
            self.refused.extend(decision.refusals.iter().cloned());
            decisions.insert(name.clone(), decision.changes);
        }
        if !request.allow_delete {
            self.block_upgrades_with_replicas(&mut decisions);
            self.block_database_drops(&mut decisions);
        }
        for (primary, replicas) in &self.desired_replicas {
            let Some(own) = self.assessments.get(primary) else { continue };
            // A new replica, or a replica re-created from a migrated (so new) primary. A replica
            // re-created for its own create-only change is not a first replica: its primary
            // already replicates to it.
            let has = |server: &ServerName, kind| {
                decisions
                    .get(server)
                    .is_some_and(|changes| changes.iter().any(|c: &NewChange| c.kind == kind))
            };
            let gets_replica = replicas
                .iter()
                .any(|replica| has(replica, Kind::Create) || (own.migrates && has(replica, Kind::Recreate)));
            if let Some(changes) = decisions.get_mut(primary) {
                super::replication::support(request, primary, own, changes, gets_replica);
            }
        }
        // Room for every decided change at once: a large plan's changes are never copied while
        // the list doubles.
        self.draft.changes.reserve(decisions.values().map(Vec::len).sum());
        for (name, changes) in decisions {
            for change in changes {
                self.draft.add(&name, change);
            }
        }
    }

    /// Without `--allow-delete`, a Flexible Server primary's major version upgrade is blocked
    /// while it has replicas: the service upgrades only a primary without replicas, so its
    /// replicas would be deleted first (and created again after). The upgrade leaves the
    /// primary's update; the rest of the update stays.
    /// A database removed from the file is dropped only with `--allow-delete`: without it the
    /// drop leaves the update (the rest of it goes ahead) and blocks the plan.
    fn block_database_drops(&mut self, decisions: &mut BTreeMap<ServerName, Vec<NewChange>>) {
        let request = self.request;
        for (server, changes) in decisions.iter_mut() {
            let Some(update) = changes.iter_mut().find(|change| change.kind == Kind::Update) else {
                continue;
            };
            let Operation::Update { patch, .. } = &mut update.operation else { continue };
            let drops: Vec<String> = patch
                .databases
                .iter()
                .filter(|(_, database)| database.is_none())
                .map(|(name, _)| name.clone())
                .collect();
            if drops.is_empty() {
                continue;
            }
            for name in &drops {
                patch.databases.remove(name);
                let path = crate::diff::AttributePath::Item(rules::Key::Databases, name.clone());
                update.attributes.retain(|attribute| attribute.path != path);
                self.blocked.push(Blocked {
                    address: server.address(),
                    server: server.clone(),
                    action: Action::Update,
                    reason: format!(
                        "database {name} of {server} is no longer in the config; dropping it destroys its data"
                    ),
                    hint: "apply with --allow-delete to drop it, or add it back to the config to keep it".into(),
                });
            }
            let live = &request.live[server].spec;
            update.impact = impact::update(patch, live, false);
            if patch.is_empty() {
                changes.retain(|change| change.kind != Kind::Update);
            }
        }
    }

    fn block_upgrades_with_replicas(&mut self, decisions: &mut BTreeMap<ServerName, Vec<NewChange>>) {
        let request = self.request;
        for (primary, changes) in decisions.iter_mut() {
            let Some(update) = changes.iter_mut().find(|change| change.kind == Kind::Update) else {
                continue;
            };
            let Operation::Update { patch, .. } = &mut update.operation else { continue };
            let Some(version) = patch.version else { continue };
            let replicas = self.live_replicas.get(primary).cloned().unwrap_or_default();
            if replicas.is_empty() {
                continue;
            }
            let list = replicas.iter().map(ServerName::as_str).collect::<Vec<_>>().join(", ");
            patch.version = None;
            let live = &request.live[primary].spec;
            update.impact = impact::update(patch, live, false);
            update.attributes.retain(|attribute| attribute.path != rules::Key::Version);
            let hint = "apply with --allow-delete to delete the replicas, upgrade, and create them again"
                .to_string();
            self.blocked.push(Blocked {
                address: primary.address(),
                server: primary.clone(),
                action: Action::Update,
                reason: format!(
                    "{primary}'s major version upgrade to {version} needs its replicas ({list}) deleted first and \
                     created again after"
                ),
                hint: hint.clone(),
            });
            for replica in &replicas {
                self.blocked.push(Blocked {
                    address: replica.address(),
                    server: replica.clone(),
                    action: Action::Delete,
                    reason: format!(
                        "{replica} would be deleted (and created again) for {primary}'s major version upgrade"
                    ),
                    hint: hint.clone(),
                });
            }
            if patch.is_empty() {
                changes.retain(|change| change.kind != Kind::Update);
            }
        }
        for (name, changes) in decisions.iter_mut() {
            let blocked = self.blocked.iter().any(|b| &b.server == name && b.action == Action::Delete);
            if blocked && self.assessments.get(name).is_some_and(|own| own.target.is_replica()) {
                // Its rebuild waits with the upgrade; the replica keeps running as it is.
                changes.retain(|change| !matches!(change.kind, Kind::Delete | Kind::Create));
            }
        }
    }

    /// Servers pgfleet manages that left the config: deleted with `allow_delete`, else blocked.
    pub fn deletes(&mut self) {
        let request = self.request;
        let managed =
            |name: &ServerName| request.stored.is_some_and(|state| state.servers.contains_key(name));
        // The staging server of an unfinished migration: the plan reports the migration itself.
        let staging = |name: &ServerName| {
            request
                .stored
                .is_some_and(|state| state.migrations.values().any(|record| &record.staging == name))
        };
        for (name, observed) in request.live {
            if request.desired.servers.contains_key(name) || staging(name) {
                continue;
            }
            if !managed(name) {
                self.note(
                    name,
                    format!("{name} exists live but is neither in the config nor in the state; pgfleet leaves it alone"),
                );
                continue;
            }
            let reason = format!("{name} is no longer in the config; deleting it destroys its data");
            if !request.allow_delete {
                self.blocked.push(Blocked {
                    address: name.address(),
                    server: name.clone(),
                    action: Action::Delete,
                    reason,
                    hint: "apply with --allow-delete to delete it, or add it back to the config to keep it"
                        .into(),
                });
                continue;
            }
            let attributes = decide::deleted_attributes(&observed.spec);
            let new = NewChange {
                kind: Kind::Delete,
                action: Action::Delete,
                operation: Operation::Delete,
                attributes,
                impact: impact::delete(),
                reason,
                steps: Vec::new(),
            };
            self.draft.add(name, new);
        }
    }
}
