//! The changes of each server: create, update, migrate, re-create, promote, delete, and the
//! replication-support switch a first replica needs. Which change a difference becomes is
//! decided by [`crate::diff`] from the rules; ordering is [`super::edges`]'s job.

use super::PlanRequest;
use super::draft::{Draft, Kind, NewChange};
use super::impact;
use super::model::{Action, AttributeChange, Blocked, ChangeId, Note, Operation, Refusal};
use crate::diff::{self, Relationship, ServerDiff};
use crate::model::{ServerName, ServerPatch, ServerSpec};
use crate::rules::{self, Key, TierFeature};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Everything the planner works out before the graph is ordered.
pub(super) struct Planner<'r> {
    pub request: &'r PlanRequest<'r>,
    /// What each configured server becomes (the desired spec, adjusted where refused).
    pub targets: BTreeMap<ServerName, ServerSpec>,
    /// The diffs of configured servers that exist live.
    pub diffs: BTreeMap<ServerName, ServerDiff>,
    /// Configured replicas by configured primary.
    pub desired_replicas: BTreeMap<ServerName, Vec<ServerName>>,
    /// Live replicas by live primary.
    pub live_replicas: BTreeMap<ServerName, Vec<ServerName>>,
    /// Primaries whose data moves to a new server.
    pub migrating: BTreeSet<ServerName>,
    /// Servers whose live storage grew above the config by itself (auto-grow, or outside
    /// pgfleet), with the configured size: what their replicas are held to
    /// ([`Planner::held_size`]).
    pub grown_storage: BTreeMap<ServerName, u32>,
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
            targets: BTreeMap::new(),
            diffs: BTreeMap::new(),
            desired_replicas,
            live_replicas,
            migrating: BTreeSet::new(),
            grown_storage: BTreeMap::new(),
            draft: Draft::default(),
            refused: Vec::new(),
            blocked: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(super) fn refuse(&mut self, server: &ServerName, path: Key, reason: String, hint: String) {
        self.refused.push(Refusal { address: server.address(), server: server.clone(), path, reason, hint });
    }

    fn note(&mut self, server: &ServerName, message: String) {
        self.notes.push(Note { address: Some(server.address()), message });
    }

    /// Diffs every configured server against its live self.
    pub fn diff_servers(&mut self) {
        let request = self.request;
        for (name, server) in &request.desired.servers {
            let mut spec = server.spec.clone();
            let live = request.live.get(name);
            self.refuse_replicas_on_basic(name, &mut spec, live.map(|observed| &observed.spec));
            let Some(observed) = live else {
                if request.refreshed && request.stored.is_some_and(|state| state.servers.contains_key(name)) {
                    self.note(
                        name,
                        format!(
                            "warning: {name} is recorded in the state but missing live; it will be re-created \
                             empty (restore its data from a backup if it held any)"
                        ),
                    );
                }
                self.targets.insert(name.clone(), spec);
                continue;
            };
            let stored = request.stored.and_then(|state| state.servers.get(name));
            let diff = diff::diff_server(&spec, stored, &observed.spec);
            for refusal in &diff.refusals {
                self.refuse(name, refusal.path, refusal.reason.clone(), refusal.hint.clone());
            }
            for note in &diff.notes {
                self.note(name, note.clone());
            }
            if diff.storage_above_config {
                self.grown_storage.insert(name.clone(), spec.storage_gb);
            }
            if diff.needs_migration() && !diff.target.is_replica() {
                self.migrating.insert(name.clone());
            }
            self.targets.insert(name.clone(), diff.target.clone());
            self.diffs.insert(name.clone(), diff);
        }
    }

    /// GP/MO → Basic while the config still has replicas of the server: Basic has no replicas,
    /// so the tier change is refused and the live compute kept.
    fn refuse_replicas_on_basic(
        &mut self,
        name: &ServerName,
        spec: &mut ServerSpec,
        live: Option<&ServerSpec>,
    ) {
        if rules::tier_supports(spec.tier, TierFeature::ReadReplicas) {
            return;
        }
        let Some(replicas) = self.desired_replicas.get(name).filter(|replicas| !replicas.is_empty()) else {
            return;
        };
        let list = replicas.iter().map(ServerName::as_str).collect::<Vec<_>>().join(", ");
        self.refuse(
            name,
            Key::Tier,
            format!("{name} cannot move to {} while the config has replicas of it ({list}): that tier has no replicas", spec.tier),
            format!("remove or promote its replicas ({list}) first, then change the tier"),
        );
        if let Some(live) = live {
            spec.tier = live.tier;
            spec.generation = live.generation;
            spec.vcores = live.vcores;
        }
    }

    /// The create, update, migrate, re-create and promote changes of configured servers.
    pub fn server_changes(&mut self) {
        let request = self.request;
        let diffs = std::mem::take(&mut self.diffs);
        for name in request.desired.servers.keys() {
            let target = self.targets[name].clone();
            let Some(diff) = diffs.get(name) else {
                if !self.refuse_retired_version(name, &target, "would be created as a new server") {
                    self.add_create(name, &target);
                }
                continue;
            };
            if let Relationship::Promote { primary } = &diff.relationship {
                self.add_promote(name, primary);
            }
            let primary_migrates = target.replica_of.as_ref().is_some_and(|p| self.migrating.contains(p));
            let live = &request.live[name].spec;
            let new_server = diff.needs_migration() || (target.is_replica() && primary_migrates);
            let why = if target.is_replica() {
                "is a replica that would be re-created as a new server"
            } else {
                "would move to a new server (migration)"
            };
            if new_server && self.refuse_retired_version(name, &target, why) {
                continue;
            }
            if target.is_replica()
                && !primary_migrates
                && diff.needs_migration()
                && self.straddles(name, &target)
            {
                self.add_rebuild(name, diff);
            } else if target.is_replica() && (diff.needs_migration() || primary_migrates) {
                self.add_recreate(name, diff, primary_migrates);
            } else if diff.needs_migration() {
                if !self.refuse_taken_staging_name(name, diff) {
                    self.add_migrate(name, live, diff);
                }
            } else if !diff.patch.is_empty() {
                let attributes = without_replica_of(&diff.attributes);
                let reason = format!("in-place changes, all in one update: {}", describe(&attributes));
                self.add_update(name, diff.patch.clone(), attributes, reason);
            }
        }
        self.diffs = diffs;
    }

    /// Refuses a migration whose staging server's name (`NAME-migration`) belongs to another
    /// server of the fleet: the migration would take that server for its copy. Returns whether
    /// it did.
    fn refuse_taken_staging_name(&mut self, name: &ServerName, diff: &ServerDiff) -> bool {
        let staging = crate::model::staging_name(name);
        let request = self.request;
        let taken = request.desired.servers.contains_key(&staging)
            || request.stored.is_some_and(|state| state.servers.contains_key(&staging));
        if !taken {
            return false;
        }
        self.migrating.remove(name);
        let key = diff.migration_keys.first().copied().unwrap_or(Key::Tier);
        self.refuse(
            name,
            key,
            format!(
                "{name} must move to a new server ({}), which is built as {staging} — and {staging} is                  a server of this fleet",
                join_keys(&diff.migration_keys)
            ),
            format!("rename or remove the fleet's server {staging} before migrating {name}"),
        );
        true
    }

    /// Refuses a new server on a PostgreSQL version the service retired for new servers
    /// (`rules`); returns whether it did. Existing servers on it keep their in-place changes.
    fn refuse_retired_version(&mut self, name: &ServerName, target: &ServerSpec, why: &str) -> bool {
        let version = target.version;
        if version.is_supported() {
            return false;
        }
        self.migrating.remove(name);
        let supported: Vec<&str> =
            rules::PgVersion::ALL.into_iter().filter(|v| v.is_supported()).map(|v| v.as_str()).collect();
        let newest = supported.last().copied().unwrap_or_default();
        self.refuse(
            name,
            Key::Version,
            format!(
                "PostgreSQL {version} is retired: the service creates no new server on it, and {name} {why}"
            ),
            format!(
                "set version = \"{newest}\" (supported for new servers: {}); servers already running {version} \
                 keep running and take in-place changes",
                supported.join(", ")
            ),
        );
        true
    }

    fn add_create(&mut self, name: &ServerName, spec: &ServerSpec) -> ChangeId {
        let reason = match &spec.replica_of {
            Some(primary) => format!("{name} is in the config as a new read replica of {primary}"),
            None => format!("{name} is in the config but does not exist"),
        };
        let attributes = diff::spec_attributes(spec)
            .into_iter()
            .map(|(path, after)| AttributeChange { path, before: Value::Null, after })
            .collect();
        self.draft.add(
            name,
            NewChange {
                kind: Kind::Create,
                action: Action::Create,
                operation: Operation::Create { spec: spec.clone() },
                attributes,
                impact: impact::create(),
                reason,
                steps: Vec::new(),
            },
        )
    }

    fn add_promote(&mut self, name: &ServerName, primary: &ServerName) {
        let attributes = vec![AttributeChange {
            path: Key::ReplicaOf.into(),
            before: Value::String(primary.to_string()),
            after: Value::Null,
        }];
        let reason = format!(
            "replica_of was removed: {name} stops replicating {primary} and becomes a standalone read-write \
             server; it restarts, and it can never become a replica again"
        );
        let operation = Operation::Promote;
        let new = NewChange {
            kind: Kind::Promote,
            action: Action::Promote,
            operation,
            attributes,
            impact: impact::promote(),
            reason,
            steps: Vec::new(),
        };
        self.draft.add(name, new);
    }

    /// Whether a replica to re-create can go neither before nor after its primary's update
    /// ([`super::edges::resize`], the one place that orders a resizing pair).
    fn straddles(&self, replica: &ServerName, target: &ServerSpec) -> bool {
        let Some(primary) = &target.replica_of else { return false };
        super::edges::resize(self, primary, replica).is_some_and(|resize| resize.straddles())
    }

    /// A re-created replica in two changes around its primary's update: deleted before it and
    /// created again after it (see [`super::edges::Resize::straddles`]).
    fn add_rebuild(&mut self, name: &ServerName, diff: &ServerDiff) {
        let primary = diff.target.replica_of.clone().unwrap_or_else(|| name.clone());
        let keys = join_keys(&diff.migration_keys);
        let live = &self.request.live[name].spec;
        let delete = NewChange {
            kind: Kind::Delete,
            action: Action::Delete,
            operation: Operation::Delete,
            attributes: diff::spec_attributes(live)
                .into_iter()
                .map(|(path, before)| AttributeChange { path, before, after: Value::Null })
                .collect(),
            impact: impact::recreate(),
            reason: format!(
                "{keys} can only be set when a server is created, so replica {name} is re-created (it holds no \
                 data of its own); it is deleted before {primary}'s update and created again after it, because \
                 {primary}'s storage grows past the old replica while its compute shrinks below the new one"
            ),
            steps: Vec::new(),
        };
        self.draft.add(name, delete);
        let create = self.add_create(name, &diff.target);
        if let Some(change) = self.draft.change_mut(&create) {
            change.reason =
                format!("{name} is created again, from {primary}, after {primary}'s update ({keys} changed)");
        }
    }

    fn add_recreate(&mut self, name: &ServerName, diff: &ServerDiff, primary_migrates: bool) {
        let primary = diff.target.replica_of.clone().unwrap_or_else(|| name.clone());
        let reason = if primary_migrates {
            format!(
                "its primary {primary} moves to a new server; a replica cannot follow, so {name} is deleted \
                 and created again from the new {primary} after cutover (a replica holds no data of its own)"
            )
        } else {
            format!(
                "{} can only be set when a server is created; {name} is a replica and holds no data of its \
                 own, so it is deleted and created again from {primary}",
                join_keys(&diff.migration_keys)
            )
        };
        let new = NewChange {
            kind: Kind::Recreate,
            action: Action::Create,
            operation: Operation::Recreate { spec: diff.target.clone() },
            attributes: without_replica_of(&diff.attributes),
            impact: impact::recreate(),
            reason,
            steps: Vec::new(),
        };
        self.draft.add(name, new);
    }

    fn add_migrate(&mut self, name: &ServerName, live: &ServerSpec, diff: &ServerDiff) {
        let reason = format!(
            "{} can only be set when a server is created: pgfleet moves the data to a new server (dump, \
             restore, verify, cutover) instead of replacing the server",
            join_keys(&diff.migration_keys)
        );
        let new = NewChange {
            kind: Kind::Migrate,
            action: Action::Migrate,
            operation: Operation::Migrate {
                from: live.clone(),
                to: diff.target.clone(),
                staging: crate::model::staging_name(name),
            },
            attributes: without_replica_of(&diff.attributes),
            impact: impact::migrate(),
            reason,
            steps: migration_steps(name, &diff.target),
        };
        self.draft.add(name, new);
    }

    pub(super) fn add_update(
        &mut self,
        name: &ServerName,
        patch: ServerPatch,
        attributes: Vec<AttributeChange>,
        reason: String,
    ) {
        let new = NewChange {
            kind: Kind::Update,
            action: Action::Update,
            impact: impact::update(&patch, false),
            operation: Operation::Update { patch, replication_support: None },
            attributes,
            reason,
            steps: Vec::new(),
        };
        self.draft.add(name, new);
    }

    /// Servers pgfleet manages that left the config: deleted with `allow_delete`, else blocked.
    pub fn deletes(&mut self) {
        let request = self.request;
        let managed =
            |name: &ServerName| request.stored.is_some_and(|state| state.servers.contains_key(name));
        for (name, observed) in request.live {
            if request.desired.servers.contains_key(name) {
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
            let attributes = diff::spec_attributes(&observed.spec)
                .into_iter()
                .map(|(path, before)| AttributeChange { path, before, after: Value::Null })
                .collect();
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

fn without_replica_of(attributes: &[AttributeChange]) -> Vec<AttributeChange> {
    attributes.iter().filter(|attribute| attribute.path != Key::ReplicaOf).cloned().collect()
}

/// `tier, version`.
fn join_keys(keys: &[Key]) -> String {
    keys.iter().map(|key| key.as_str()).collect::<Vec<_>>().join(", ")
}

/// `vcores 4 → 8, storage_gb 100 → 200`.
pub(super) fn describe(attributes: &[AttributeChange]) -> String {
    attributes
        .iter()
        .map(|a| format!("{} {} → {}", a.path, diff::display_value(&a.before), diff::display_value(&a.after)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ordered steps of a migration (DESIGN.md: freeze writes → dump → create target →
/// restore → verify → cutover → retire source).
fn migration_steps(name: &ServerName, target: &ServerSpec) -> Vec<String> {
    vec![
        format!("freeze writes on {name} (it keeps serving reads)"),
        format!("dump every database of {name} with pg_dump"),
        format!(
            "create the new server ({}, PostgreSQL {}, {} GB, {})",
            target.sku_name(),
            target.version,
            target.storage_gb,
            target.location
        ),
        "restore the dump into the new server with pg_restore".to_string(),
        "verify the copy: every database, table and row count matches the source".to_string(),
        format!("cut over: {name} becomes the new server; clients reconnect"),
        format!("retire the old {name}"),
    ]
}
