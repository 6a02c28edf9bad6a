//! What each configured server becomes, decided once per server by pure functions.
//!
//! [`assess`] reads one server's desired, stored and live state (and whether the config has
//! replicas of it): its target, its diff, whether its data moves to a new server, and the
//! refusals and notes of the server on its own. [`decide`] turns an assessment, with its
//! primary's assessment and the pair's [`Resize`] when it is a replica, into the server's
//! changes (create, update, migrate, re-create, rebuild, promote) and the refusals that need
//! the pair. Every rule question goes to [`crate::rules`] (through [`crate::diff`] for a
//! server's own properties); ordering is [`super::edges`]'s job.

use super::PlanRequest;
use super::draft::{Kind, NewChange};
use super::edges::Resize;
use super::impact;
use super::model::{Action, AttributeChange, Note, Operation, Refusal};
use crate::diff::{self, Relationship, ServerDiff};
use crate::model::{ServerName, ServerPatch, ServerSpec, staging_name};
use crate::rules::{self, Key, Rule, SkuSize, TierFeature};
use serde_json::Value;

/// One configured server, judged on its own.
#[derive(Debug, Clone)]
pub(super) struct Assessment {
    /// What the server becomes: the desired spec, adjusted where a change is refused.
    pub target: ServerSpec,
    /// The diff against the live server; `None` when it does not exist live.
    pub diff: Option<Box<ServerDiff>>,
    /// Whether its data moves to a new server: a create-only change of a primary that is not
    /// refused (a retired version, a staging name that is taken).
    pub migrates: bool,
    /// The configured `storage_gb` when the live storage grew above it by itself (auto-grow,
    /// or outside pgfleet): what its replicas are held to ([`Assessment::held_size`]).
    pub grown_storage: Option<u32>,
    /// The refusals of the server on its own (its diff; Basic while it has replicas).
    pub refusals: Vec<Refusal>,
    pub notes: Vec<Note>,
}

impl Assessment {
    /// `spec`'s size (this server's live or target spec) as its replicas are held to it:
    /// storage that grew by itself (the service's auto-grow) counts at the configured size.
    /// The service grows replicas by itself as well, so pgfleet neither refuses a replica nor
    /// grows or orders it for that growth.
    pub(crate) fn held_size(&self, spec: &ServerSpec) -> SkuSize {
        let mut size = spec.size();
        if let Some(configured) = self.grown_storage {
            size.storage_gb = size.storage_gb.min(configured);
        }
        size
    }
}

/// Judges one configured server on its own; `replicas` are the configured replicas of it.
pub(super) fn assess(request: &PlanRequest, name: &ServerName, replicas: &[ServerName]) -> Assessment {
    let mut assessment = Assessment {
        target: request.desired.servers[name].spec.clone(),
        diff: None,
        migrates: false,
        grown_storage: None,
        refusals: Vec::new(),
        notes: Vec::new(),
    };
    let live = request.live.get(name);
    refuse_replicas_on_basic(name, replicas, live.map(|observed| &observed.spec), &mut assessment);
    let Some(observed) = live else {
        if request.refreshed && request.stored.is_some_and(|state| state.servers.contains_key(name)) {
            assessment.notes.push(note(
                name,
                format!(
                    "warning: {name} is recorded in the state but missing live; it will be re-created empty \
                     (restore its data from a backup if it held any)"
                ),
            ));
        }
        return assessment;
    };
    let stored = request.stored.and_then(|state| state.servers.get(name));
    let diff = diff::diff_server(&assessment.target, stored, &observed.spec);
    for refusal in &diff.refusals {
        assessment.refusals.push(refusal_of(
            name,
            Some(refusal.rule),
            refusal.path,
            refusal.reason.clone(),
            refusal.hint.clone(),
        ));
    }
    for text in &diff.notes {
        assessment.notes.push(note(name, text.clone()));
    }
    if diff.storage_above_config {
        assessment.grown_storage = Some(assessment.target.storage_gb);
    }
    assessment.migrates = diff.needs_migration()
        && !diff.target.is_replica()
        && rules::check::new_server_version_problem(&diff.target.shape(name.as_str())).is_none()
        && staging_taken(request, name).is_none();
    assessment.target = diff.target.clone();
    assessment.diff = Some(Box::new(diff));
    assessment
}

/// GP/MO → Basic while the config still has replicas of the server: Basic has no replicas,
/// so the tier change is refused and the live compute kept.
fn refuse_replicas_on_basic(
    name: &ServerName,
    replicas: &[ServerName],
    live: Option<&ServerSpec>,
    assessment: &mut Assessment,
) {
    let spec = &mut assessment.target;
    if rules::tier_supports(spec.tier, TierFeature::ReadReplicas) || replicas.is_empty() {
        return;
    }
    let list = replicas.iter().map(ServerName::as_str).collect::<Vec<_>>().join(", ");
    assessment.refusals.push(refusal_of(
        name,
        Some(Rule::ReplicaOnBasic),
        Key::Tier,
        format!(
            "{name} cannot move to {} while the config has replicas of it ({list}): that tier has no replicas",
            spec.tier
        ),
        format!("remove or promote its replicas ({list}) first, then change the tier"),
    ));
    if let Some(live) = live {
        spec.tier = live.tier;
        spec.generation = live.generation;
        spec.vcores = live.vcores;
    }
}

/// A configured server's changes, and the refusals that need its replication pair.
#[derive(Default)]
pub(super) struct Decision {
    pub changes: Vec<NewChange>,
    pub refusals: Vec<Refusal>,
}

/// The server's primary as a replica's decision needs it.
pub(super) struct PrimaryView<'a> {
    pub assessment: &'a Assessment,
    /// How the pair resizes, when both are live and configured.
    pub resize: Option<Resize>,
}

/// Decides a configured server's changes from its assessment and, for a replica, its
/// primary's. Pure: the same inputs give the same decision.
pub(super) fn decide(
    request: &PlanRequest,
    name: &ServerName,
    own: &Assessment,
    primary: Option<PrimaryView>,
) -> Decision {
    let mut decision = Decision::default();
    let target = &own.target;
    if let Some(refusal) = unmanaged(request, name) {
        decision.refusals.push(refusal);
        return decision;
    }
    let Some(diff) = &own.diff else {
        match new_server_version_refusal(name, target, "would be created as a new server") {
            Some(refusal) => decision.refusals.push(refusal),
            None => decision.changes.extend(create_with_follow_up(name, target)),
        }
        return decision;
    };
    if let Relationship::Promote { primary } = &diff.relationship {
        decision.changes.push(promote(name, primary));
    }
    if diff.failover && !diff.needs_migration() {
        decision.changes.push(failover(name, &request.live[name].spec, &diff.target));
    }
    let primary_migrates = target.is_replica() && primary.as_ref().is_some_and(|p| p.assessment.migrates);
    let new_server = diff.needs_migration() || primary_migrates;
    let why = if target.is_replica() {
        "is a replica that would be re-created as a new server"
    } else {
        "would move to a new server (migration)"
    };
    if let Some(refusal) = new_server.then(|| new_server_version_refusal(name, target, why)).flatten() {
        decision.refusals.push(refusal);
        return decision;
    }
    let straddles = primary.as_ref().and_then(|p| p.resize).is_some_and(|resize| resize.straddles());
    if target.is_replica() && diff.patch.version.is_some() {
        // A Flexible Server replica cannot be upgraded: its primary's major version upgrade
        // needs it deleted first, and it is created again from the upgraded primary.
        decision.changes.extend(upgrade_rebuild(request, name, diff));
    } else if target.is_replica() && !primary_migrates && diff.needs_migration() && straddles {
        decision.changes.extend(rebuild(request, name, diff));
    } else if target.is_replica() && (diff.needs_migration() || primary_migrates) {
        decision.changes.push(recreate(name, diff, primary_migrates));
    } else if diff.needs_migration() {
        match staging_taken(request, name) {
            Some(staging) => decision.refusals.push(staging_refusal(name, &staging, diff)),
            None => decision.changes.push(migrate(name, &request.live[name].spec, diff)),
        }
    } else if !diff.patch.is_empty() {
        let live = &request.live[name].spec;
        let mut attributes = without_replica_of(&diff.attributes);
        if diff.failover {
            // The failover's own change carries the zones.
            attributes.retain(|attribute| attribute.path != Key::Zone && attribute.path != Key::StandbyZone);
        }
        let reason = format!("in-place changes, all in one update: {}", describe(&attributes));
        decision.changes.extend(ha_off_first(name, live, &diff.patch));
        decision.changes.push(update(diff.patch.clone(), live, attributes, reason));
    }
    decision
}

/// A planned failover: the file's `zone` is now the standby's, so the standby becomes the
/// primary behind the same endpoint and the zones swap.
fn failover(name: &ServerName, live: &ServerSpec, target: &ServerSpec) -> NewChange {
    let zone = |spec: &ServerSpec, standby: bool| {
        spec.flexible
            .as_ref()
            .and_then(|flexible| if standby { flexible.standby_zone.clone() } else { flexible.zone.clone() })
            .map_or(Value::Null, Value::String)
    };
    let attributes = vec![
        AttributeChange { path: Key::Zone.into(), before: zone(live, false), after: zone(target, false) },
        AttributeChange {
            path: Key::StandbyZone.into(),
            before: zone(live, true),
            after: zone(target, true),
        },
    ];
    NewChange {
        kind: Kind::Failover,
        action: Action::Update,
        operation: Operation::Failover,
        attributes,
        impact: impact::failover(),
        reason: format!(
            "zone now names {name}'s standby zone: a planned failover promotes the standby there behind the same \
             endpoint, and the former primary becomes the standby (the zones swap)"
        ),
        steps: Vec::new(),
    }
}

/// A create, and for a Flexible Server with a custom maintenance window, the update that sets
/// it: the service does not take a window at create.
fn create_with_follow_up(name: &ServerName, target: &ServerSpec) -> Vec<NewChange> {
    let window = target.flexible.as_ref().and_then(|flexible| flexible.maintenance_window);
    let Some(window) = window else { return vec![create(name, target)] };
    let mut created = target.clone();
    if let Some(flexible) = &mut created.flexible {
        flexible.maintenance_window = None;
    }
    let mut create = create(name, &created);
    create.reason = format!("{}; its maintenance window is set right after", create.reason);
    let patch = ServerPatch { maintenance_window: Some(Some(window)), ..ServerPatch::default() };
    let attributes = vec![AttributeChange {
        path: Key::MaintenanceWindow.into(),
        before: Value::Null,
        after: serde_json::to_value(window).unwrap_or(Value::Null),
    }];
    let mut follow_up = update(
        patch,
        &created,
        attributes,
        format!(
            "the service does not take a custom maintenance window when a server is created: {name}'s ({window}) \
             is set by an update once it exists"
        ),
    );
    follow_up.kind = Kind::Maintenance;
    vec![create, follow_up]
}

/// HA disabled in an update of its own, before the update that enables it again: the service
/// does not switch between SameZone and ZoneRedundant, nor move the standby to another zone,
/// while HA is on.
fn ha_off_first(name: &ServerName, live: &ServerSpec, patch: &ServerPatch) -> Option<NewChange> {
    let live_mode = live.flexible.as_ref()?.high_availability;
    let wanted = patch.high_availability?;
    if !(live_mode.is_enabled() && wanted.is_enabled()) {
        return None;
    }
    let off = ServerPatch { high_availability: Some(rules::HaMode::Disabled), ..ServerPatch::default() };
    let attributes = vec![AttributeChange {
        path: Key::HighAvailability.into(),
        before: Value::String(live_mode.as_str().into()),
        after: Value::String(rules::HaMode::Disabled.as_str().into()),
    }];
    let why = if live_mode == wanted {
        "the standby's zone cannot change while HA is on".to_string()
    } else {
        format!("the service cannot switch HA from {live_mode} to {wanted} directly")
    };
    let mut change = update(
        off,
        live,
        attributes,
        format!("{why}: HA is disabled on {name} first, and enabled again ({wanted}) by the next update"),
    );
    change.kind = Kind::HaOff;
    Some(change)
}

/// A Flexible Server replica around its primary's major version upgrade: deleted before it
/// and created again after it (the service refuses the upgrade while the primary has
/// replicas). The build step blocks both without `--allow-delete`.
fn upgrade_rebuild(request: &PlanRequest, name: &ServerName, diff: &ServerDiff) -> [NewChange; 2] {
    let primary = diff.target.replica_of.clone().unwrap_or_else(|| name.clone());
    let live = &request.live[name].spec;
    let delete = replica_delete(
        live,
        format!(
            "{primary}'s major version upgrade ({} → {}) needs its replicas deleted first: {name} is deleted \
             before it (a replica holds no data of its own) and created again after it",
            live.version, diff.target.version
        ),
    );
    let mut create = create(name, &diff.target);
    create.reason = format!(
        "{name} is created again, from {primary}, after {primary}'s major version upgrade to {}",
        diff.target.version
    );
    [delete, create]
}

/// The staging server's name of a migration of `name` when it belongs to another server of the
/// fleet (configured or recorded): the migration would take that server for its copy.
fn staging_taken(request: &PlanRequest, name: &ServerName) -> Option<ServerName> {
    let staging = staging_name(name);
    let taken = request.desired.servers.contains_key(&staging)
        || request.stored.is_some_and(|state| state.servers.contains_key(&staging));
    taken.then_some(staging)
}

fn staging_refusal(name: &ServerName, staging: &ServerName, diff: &ServerDiff) -> Refusal {
    let key = diff.migration_keys.first().copied().unwrap_or(Key::Tier);
    refusal_of(
        name,
        None,
        key,
        format!(
            "{name} must move to a new server ({}), which is built as {staging} — and {staging} is                  a server of this fleet",
            join_keys(&diff.migration_keys)
        ),
        format!("rename or remove the fleet's server {staging} before migrating {name}"),
    )
}

/// A new server on a PostgreSQL version the service retired for new servers
/// (`rules::check::new_server_version_problem`), with why the server is new. Existing servers
/// on it keep their in-place changes.
fn new_server_version_refusal(name: &ServerName, target: &ServerSpec, why: &str) -> Option<Refusal> {
    let problem = rules::check::new_server_version_problem(&target.shape(name.as_str()))?;
    Some(refusal_of(
        name,
        Some(problem.rule),
        problem.key,
        format!("{}, and {name} {why}", problem.message),
        problem.hint,
    ))
}

/// A server that exists live but that the state does not record is never adopted silently:
/// the plan refuses it and says how to import it.
fn unmanaged(request: &PlanRequest, name: &ServerName) -> Option<Refusal> {
    let live = request.live.get(name)?;
    if request.stored.is_some_and(|state| state.servers.contains_key(name)) {
        return None;
    }
    Some(refusal_of(
        name,
        None,
        Key::Name,
        format!(
            "{name} exists but is not managed by this state; pgfleet will not create over it nor adopt it silently"
        ),
        format!("import it: pgfleet import {} {}", name.address(), live.provider_id),
    ))
}

pub(super) fn refusal_of(
    server: &ServerName,
    rule: Option<Rule>,
    path: Key,
    reason: String,
    hint: String,
) -> Refusal {
    Refusal { address: server.address(), server: server.clone(), rule, path, reason, hint }
}

fn note(server: &ServerName, message: String) -> Note {
    Note { address: Some(server.address()), message }
}

fn create(name: &ServerName, spec: &ServerSpec) -> NewChange {
    let reason = match &spec.replica_of {
        Some(primary) => format!("{name} is in the config as a new read replica of {primary}"),
        None => format!("{name} is in the config but does not exist"),
    };
    let attributes = diff::spec_attributes(spec)
        .into_iter()
        .map(|(path, after)| AttributeChange { path, before: Value::Null, after })
        .collect();
    NewChange {
        kind: Kind::Create,
        action: Action::Create,
        operation: Operation::Create { spec: spec.clone() },
        attributes,
        impact: impact::create(),
        reason,
        steps: Vec::new(),
    }
}

fn promote(name: &ServerName, primary: &ServerName) -> NewChange {
    let attributes = vec![AttributeChange {
        path: Key::ReplicaOf.into(),
        before: Value::String(primary.to_string()),
        after: Value::Null,
    }];
    let reason = format!(
        "replica_of was removed: {name} stops replicating {primary} and becomes a standalone read-write \
         server; it restarts, and it can never become a replica again"
    );
    NewChange {
        kind: Kind::Promote,
        action: Action::Promote,
        operation: Operation::Promote,
        attributes,
        impact: impact::promote(),
        reason,
        steps: Vec::new(),
    }
}

/// A re-created replica in two changes around its primary's update: deleted before it and
/// created again after it (see [`Resize::straddles`]).
fn rebuild(request: &PlanRequest, name: &ServerName, diff: &ServerDiff) -> [NewChange; 2] {
    let primary = diff.target.replica_of.clone().unwrap_or_else(|| name.clone());
    let keys = join_keys(&diff.migration_keys);
    let live = &request.live[name].spec;
    let delete = replica_delete(
        live,
        format!(
            "{keys} can only be set when a server is created, so replica {name} is re-created (it holds no \
             data of its own); it is deleted before {primary}'s update and created again after it, because \
             {primary}'s storage grows past the old replica while its compute shrinks below the new one"
        ),
    );
    let mut create = create(name, &diff.target);
    create.reason =
        format!("{name} is created again, from {primary}, after {primary}'s update ({keys} changed)");
    [delete, create]
}

fn recreate(name: &ServerName, diff: &ServerDiff, primary_migrates: bool) -> NewChange {
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
    NewChange {
        kind: Kind::Recreate,
        action: Action::Create,
        operation: Operation::Recreate { spec: diff.target.clone() },
        attributes: without_replica_of(&diff.attributes),
        impact: impact::recreate(),
        reason,
        steps: Vec::new(),
    }
}

fn migrate(name: &ServerName, live: &ServerSpec, diff: &ServerDiff) -> NewChange {
    let reason = if diff.migration_keys.contains(&Key::Service) {
        format!(
            "{name} moves from {} to {}: a server changes service only by moving its data to a new server \
             (dump, restore, verify, cutover), never by replacing it",
            live.service().title(),
            diff.target.service().title()
        )
    } else {
        format!(
            "{} can only be set when a server is created: pgfleet moves the data to a new server (dump, \
             restore, verify, cutover) instead of replacing the server",
            join_keys(&diff.migration_keys)
        )
    };
    let staging = staging_name(name);
    NewChange {
        kind: Kind::Migrate,
        action: Action::Migrate,
        steps: crate::migrate::plan_steps(name, &staging, &diff.target),
        operation: Operation::Migrate {
            from: Box::new(live.clone()),
            to: Box::new(diff.target.clone()),
            staging,
        },
        attributes: without_replica_of(&diff.attributes),
        impact: impact::migrate(),
        reason,
    }
}

/// One update with every in-place change of a server.
pub(super) fn update(
    patch: ServerPatch,
    current: &ServerSpec,
    attributes: Vec<AttributeChange>,
    reason: String,
) -> NewChange {
    NewChange {
        kind: Kind::Update,
        action: Action::Update,
        impact: impact::update(&patch, current, false),
        operation: Operation::Update { patch, replication_support: None },
        attributes,
        reason,
        steps: Vec::new(),
    }
}

/// A replica deleted so that it can be created again (it holds no data of its own).
fn replica_delete(live: &ServerSpec, reason: String) -> NewChange {
    NewChange {
        kind: Kind::Delete,
        action: Action::Delete,
        operation: Operation::Delete,
        attributes: deleted_attributes(live),
        impact: impact::recreate(),
        reason,
        steps: Vec::new(),
    }
}

/// Every attribute of a server that is deleted, before → `null`.
pub(super) fn deleted_attributes(live: &ServerSpec) -> Vec<AttributeChange> {
    diff::spec_attributes(live)
        .into_iter()
        .map(|(path, before)| AttributeChange { path, before, after: Value::Null })
        .collect()
}

fn without_replica_of(attributes: &[AttributeChange]) -> Vec<AttributeChange> {
    attributes.iter().filter(|attribute| attribute.path != Key::ReplicaOf).cloned().collect()
}

/// `tier, version`.
fn join_keys(keys: &[Key]) -> String {
    keys.iter().map(|key| key.as_str()).collect::<Vec<_>>().join(", ")
}

/// `vcores 4 → 8, storage_gb 100 → 200`.
fn describe(attributes: &[AttributeChange]) -> String {
    attributes
        .iter()
        .map(|a| format!("{} {} → {}", a.path, diff::display_value(&a.before), diff::display_value(&a.after)))
        .collect::<Vec<_>>()
        .join(", ")
}
