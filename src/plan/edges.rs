//! The edges of the change graph, each with its reason (DESIGN.md "Ordering rules"):
//! replicas grow before their primary and shrink after it; a replica is created after its
//! primary's changes (and its replication support); replicas are promoted or deleted before
//! their primary changes; replicas of a migrated primary are re-created after cutover.
//!
//! Size comparisons are `rules::replica_fits`; this module only decides which change waits.

use super::PlanRequest;
use super::build::Planner;
use super::decide::Assessment;
use super::draft::Kind;
use super::model::ChangeId;
use crate::diff::size_of;
use crate::model::{ServerName, ServerSpec};
use crate::rules::{self, SkuSize};
use std::collections::BTreeMap;

/// Adds every edge of the plan.
pub(super) fn add_edges(planner: &mut Planner) {
    same_server(planner);
    configured_replicas(planner);
    live_replicas(planner);
    one_write_at_a_time(planner);
}

/// Changes of one server that come in sequence.
fn same_server(planner: &mut Planner) {
    let servers: std::collections::BTreeSet<ServerName> =
        planner.draft.changes.iter().map(|c| c.server.clone()).collect();
    for server in servers {
        let draft = &mut planner.draft;
        if let Some(replication) = draft.id(&server, Kind::Replication) {
            if let Some(create) = draft.id(&server, Kind::Create) {
                draft.edge(
                    &create,
                    &replication,
                    format!("replication support is set on {server} once it exists"),
                );
            }
            if let Some(migrate) = draft.id(&server, Kind::Migrate) {
                let reason = format!("replication support is set on the new {server}, after cutover");
                draft.edge(&migrate, &replication, reason);
            }
        }
        if let (Some(create), Some(window)) =
            (draft.id(&server, Kind::Create), draft.id(&server, Kind::Maintenance))
        {
            let reason =
                format!("{server}'s maintenance window is set once it exists (not accepted at create)");
            draft.edge(&create, &window, reason);
        }
        if let (Some(failover), Some(update)) =
            (draft.id(&server, Kind::Failover), draft.id(&server, Kind::Update))
        {
            let reason = format!("{server} fails over first; the update is made on the new primary");
            draft.edge(&failover, &update, reason);
        }
        if let (Some(off), Some(update)) = (draft.id(&server, Kind::HaOff), draft.id(&server, Kind::Update)) {
            let reason = format!("HA is disabled on {server} before the update that enables it again");
            draft.edge(&off, &update, reason);
        }
        if let (Some(delete), Some(create)) =
            (draft.id(&server, Kind::Delete), draft.id(&server, Kind::Create))
        {
            let reason = format!("the old {server} is deleted before it is created again");
            draft.edge(&delete, &create, reason);
        }
        if let Some(promote) = draft.id(&server, Kind::Promote) {
            for kind in [Kind::Update, Kind::Migrate] {
                if let Some(id) = draft.id(&server, kind) {
                    let reason = format!(
                        "{server} is promoted first: standalone, it is no longer bound to its primary's size, and \
                         the service takes no other change in the same request as a promote"
                    );
                    draft.edge(&promote, &id, reason);
                }
            }
        }
    }
}

/// Edges between configured replicas and their configured primary.
fn configured_replicas(planner: &mut Planner) {
    let pairs: Vec<(ServerName, ServerName)> = planner
        .desired_replicas
        .iter()
        .flat_map(|(primary, replicas)| replicas.iter().map(move |r| (primary.clone(), r.clone())))
        .collect();
    for (primary, replica) in pairs {
        if let Some(create) = planner.draft.id(&replica, Kind::Create) {
            after_primary(planner, &primary, &replica, &create);
        }
        if let Some(recreate) = planner.draft.id(&replica, Kind::Recreate) {
            if planner.migrates(&primary) {
                after_primary(planner, &primary, &replica, &recreate);
            } else {
                sizing(planner, &primary, &replica, &recreate);
            }
        }
        let stays_replica =
            planner.request.live.get(&replica).and_then(|o| o.spec.replica_of.as_ref()) == Some(&primary);
        if let Some(update) = planner.draft.id(&replica, Kind::Update).filter(|_| stays_replica) {
            sizing(planner, &primary, &replica, &update);
            autogrow(planner, &primary, &replica);
            parameter_floor(planner, &primary, &replica);
        }
    }
}

/// A new (or re-created) replica waits for every change of its primary, so it starts from the
/// primary's final size, with replication support on.
fn after_primary(planner: &mut Planner, primary: &ServerName, replica: &ServerName, id: &ChangeId) {
    for (kind, primary_change) in planner.draft.of_server(primary) {
        let reason = match kind {
            Kind::Create => format!("a replica is created after its primary: {primary} must exist first"),
            Kind::Replication => format!(
                "{primary}'s replication support (azure.replication_support = REPLICA) must be on before {replica} \
                 is created"
            ),
            Kind::Migrate => {
                format!("{replica} is created from the new {primary}, after the migration's cutover")
            }
            Kind::Promote => {
                format!("{primary} must be promoted to a standalone server before it can have replicas")
            }
            Kind::Update if has_replication(planner, &primary_change) => format!(
                "{primary}'s update turns replication support on (azure.replication_support = REPLICA), which \
                 {replica} needs, and leaves {primary} at its final size"
            ),
            Kind::Update if upgrades_version(planner, &primary_change) => format!(
                "{replica} is created again after {primary}'s major version upgrade, from the upgraded server"
            ),
            Kind::Update | Kind::Storage | Kind::Maintenance | Kind::HaOff | Kind::Failover => {
                format!("{replica} is created after {primary}'s update, so it starts from its final size")
            }
            Kind::Recreate | Kind::Delete => continue,
        };
        planner.draft.edge(&primary_change, id, reason);
    }
}

fn upgrades_version(planner: &Planner, id: &ChangeId) -> bool {
    planner.draft.change(id).is_some_and(|change| {
        matches!(&change.operation, super::model::Operation::Update { patch, .. } if patch.version.is_some())
    })
}

fn has_replication(planner: &Planner, id: &ChangeId) -> bool {
    planner.draft.change(id).is_some_and(|change| {
        matches!(change.operation, super::model::Operation::Update { replication_support: Some(_), .. })
    })
}

/// Which side of a live replication pair has to resize first, decided once (DESIGN.md ordering
/// rules) for every use: a replica's update (split or not) and a replica's re-creation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resize {
    /// The primary's size before and after its change, as its replicas are held to it.
    pub primary_before: SkuSize,
    pub primary_after: SkuSize,
    /// The replica as it is does not fit the primary's new size: the replica grows first.
    pub grow_first: bool,
    /// The replica's new size does not fit the primary as it is: the primary shrinks first.
    pub shrink_after: bool,
}

impl Resize {
    /// Neither order works: the replica has to grow before the primary's change and shrink
    /// after it (storage up, compute down).
    pub(crate) fn straddles(&self) -> bool {
        self.grow_first && self.shrink_after
    }
}

/// How a configured replica and its configured primary, both live, have to be ordered as each
/// goes from its live spec to its assessed target; `None` when either is not live. Whether a
/// size fits is `rules::replica_fits`'s answer.
pub(super) fn resize(
    request: &PlanRequest,
    (primary, primary_assessment): (&ServerName, &Assessment),
    (replica, replica_assessment): (&ServerName, &Assessment),
) -> Option<Resize> {
    let (primary_live, replica_live) = (request.live.get(primary)?, request.live.get(replica)?);
    let primary_before = primary_assessment.held_size(&primary_live.spec);
    let primary_after = primary_assessment.held_size(&primary_assessment.target);
    Some(Resize {
        primary_before,
        primary_after,
        grow_first: !rules::replica_fits(primary_after, size_of(&replica_live.spec)),
        shrink_after: !rules::replica_fits(primary_before, size_of(&replica_assessment.target)),
    })
}

/// Grow replicas before their primary; shrink the primary before its replicas. A replica that
/// already fits the primary's new size gets no edge.
fn sizing(planner: &mut Planner, primary: &ServerName, replica: &ServerName, replica_change: &ChangeId) {
    let Some(primary_update) = planner.draft.id(primary, Kind::Update) else { return };
    let (Some(primary_assessment), Some(replica_assessment)) =
        (planner.assessments.get(primary), planner.assessments.get(replica))
    else {
        return;
    };
    let pair = ((primary, primary_assessment), (replica, replica_assessment));
    let Some(resize) = resize(planner.request, pair.0, pair.1) else { return };
    let Resize { primary_before, primary_after, grow_first, shrink_after } = resize;
    let grow_reason = format!(
        "replica {replica} must reach at least {primary}'s new size ({}) before {primary}'s update: a replica may \
         not have fewer connections or less storage than its primary",
        describe_size(primary_after)
    );
    let shrink_reason = format!(
        "{primary} shrinks first: {replica} may go below {primary}'s current size ({}) only once {primary} is \
         smaller",
        describe_size(primary_before)
    );
    if resize.straddles() {
        // A re-created replica is deleted before the primary's update and created after it;
        // only an update in place has to fit both sizes of its primary.
        let in_place = planner.draft.id(replica, Kind::Update).as_ref() == Some(replica_change);
        if let Some(refusal) = compute_straddle(planner, (primary, resize), replica).filter(|_| in_place) {
            planner.refuse(replica, refusal);
            return;
        }
        // Storage grows (it never shrinks) while compute shrinks: the replica's storage goes
        // first on its own, its compute after the primary's.
        if let Some(storage) = planner.split_storage(replica, replica_change) {
            planner.draft.edge(&storage, &primary_update, grow_reason);
            planner.draft.edge(
                &storage,
                replica_change,
                format!("{replica}'s storage grows before the rest of its update"),
            );
            planner.draft.edge(&primary_update, replica_change, shrink_reason);
            return;
        }
    }
    if grow_first {
        planner.draft.edge(replica_change, &primary_update, grow_reason);
    } else if shrink_after {
        planner.draft.edge(&primary_update, replica_change, shrink_reason);
    }
}

/// When the replica's compute can neither change before its primary's (it would fall short of
/// the primary's current size) nor after it (the primary's new size would exceed the replica's
/// current compute) — a tier change that raises connections while lowering vCores, for
/// instance — no order of the two updates keeps the pair valid, whatever the storage does.
/// pgfleet refuses, naming the compute the replica can hold through both sizes of its primary.
fn compute_straddle(
    planner: &Planner,
    (primary, resize): (&ServerName, Resize),
    replica: &ServerName,
) -> Option<rules::Refusal> {
    let live = size_of(&planner.request.live.get(replica)?.spec);
    let target = size_of(planner.target(replica)?);
    let storage_gb = live.storage_gb.max(target.storage_gb);
    let compute_first = SkuSize { storage_gb, ..target };
    let compute_last = SkuSize { storage_gb, ..live };
    let blocked = !rules::replica_fits(resize.primary_before, compute_first)
        && !rules::replica_fits(resize.primary_after, compute_last);
    if !blocked {
        return None;
    }
    let interim = rules::size_fitting_all(&[resize.primary_before, resize.primary_after], compute_first);
    let first_step = match interim {
        Some(size) => format!(
            "first set {replica} to {} ({} connections; it fits {primary} before and after) and apply, then              set the final sizes and apply again",
            size.sku_name(),
            size.max_connections()
        ),
        None => format!(
            "first change {primary} alone (remove or promote {replica} if it cannot follow) and apply, then              change {replica}"
        ),
    };
    Some(rules::Refusal::new(
        rules::Rule::ReplicaSmallerThanPrimary,
        rules::Key::Vcores,
        format!(
            "{replica} and its primary {primary} cannot reach their new sizes in either order: changed first,              {replica} ({}) would be smaller than {primary} as it is ({}); changed last, it ({}) would be              smaller than {primary}'s new size ({})",
            describe_size(compute_first),
            describe_size(resize.primary_before),
            describe_size(compute_last),
            describe_size(resize.primary_after)
        ),
        first_step,
    ))
}

fn describe_size(size: SkuSize) -> String {
    if size.service == rules::Service::Flexible {
        return format!("{}, {} GB", size.sku_name(), size.storage_gb);
    }
    format!(
        "{}_{}_{}, {} connections, {} GB",
        size.tier.sku_prefix(),
        size.generation,
        size.vcores,
        size.max_connections(),
        size.storage_gb
    )
}

/// Edges from what happens to live replicas: promoted or deleted before their primary changes.
fn live_replicas(planner: &mut Planner) {
    let pairs: Vec<(ServerName, ServerName)> = planner
        .live_replicas
        .iter()
        .flat_map(|(primary, replicas)| replicas.iter().map(move |r| (primary.clone(), r.clone())))
        .collect();
    for (primary, replica) in pairs {
        if let Some(promote) = planner.draft.id(&replica, Kind::Promote) {
            for (kind, id) in planner.draft.of_server(&primary) {
                if matches!(
                    kind,
                    Kind::Update | Kind::Storage | Kind::Migrate | Kind::Delete | Kind::Replication
                ) {
                    let reason = format!(
                        "{replica} is promoted before its primary {primary} changes: once standalone it no longer \
                         follows {primary}"
                    );
                    planner.draft.edge(&promote, &id, reason);
                }
            }
        }
        let Some(delete) = planner.draft.id(&replica, Kind::Delete) else { continue };
        if let Some(primary_delete) = planner.draft.id(&primary, Kind::Delete) {
            planner.draft.edge(
                &delete,
                &primary_delete,
                format!("replica {replica} is deleted before its primary {primary}"),
            );
        }
        let too_small = match (planner.target(&primary), planner.request.live.get(&replica)) {
            (Some(target), Some(live)) => {
                !rules::replica_fits(planner.held_size(&primary, target), size_of(&live.spec))
            }
            _ => false,
        };
        let update = planner.draft.id(&primary, Kind::Update);
        if let Some(update) = update.clone().filter(|id| upgrades_version(planner, id)) {
            let reason = format!(
                "replica {replica} is deleted before {primary}'s major version upgrade: the service upgrades only a \
                 primary without replicas"
            );
            planner.draft.edge(&delete, &update, reason);
        } else if let Some(update) = update.filter(|_| too_small) {
            let reason = format!("replica {replica} is deleted before {primary} grows past its size");
            planner.draft.edge(&delete, &update, reason);
        }
    }
}

/// Storage autogrow in a Flexible Server replication pair: a replica has it whenever its
/// primary does, so it is enabled on the replica first and disabled on the primary first.
fn autogrow(planner: &mut Planner, primary: &ServerName, replica: &ServerName) {
    let autogrow_of = |planner: &Planner, server: &ServerName| {
        let id = planner.draft.id(server, Kind::Update)?;
        match &planner.draft.change(&id)?.operation {
            super::model::Operation::Update { patch, .. } => patch.storage_autogrow.map(|on| (id, on)),
            _ => None,
        }
    };
    let flexible = planner.target(primary).is_some_and(|spec| spec.flexible.is_some());
    if !flexible {
        return;
    }
    let (primary_change, replica_change) = (autogrow_of(planner, primary), autogrow_of(planner, replica));
    match (primary_change, replica_change) {
        (Some((primary_id, true)), Some((replica_id, true))) => planner.draft.edge(
            &replica_id,
            &primary_id,
            format!("storage autogrow is enabled on replica {replica} before its primary {primary}"),
        ),
        (Some((primary_id, false)), Some((replica_id, false))) => planner.draft.edge(
            &primary_id,
            &replica_id,
            format!("storage autogrow is disabled on {primary} before its replica {replica}"),
        ),
        _ => {}
    }
}

/// A replica's `max_connections`, `max_prepared_transactions`, `max_locks_per_transaction`,
/// `max_wal_senders` and `max_worker_processes` never fall below its primary's
/// (`rules::replica_parameters_below`): raised on the replica before the primary, lowered on the
/// primary before the replica.
fn parameter_floor(planner: &mut Planner, primary: &ServerName, replica: &ServerName) {
    let (Some(primary_id), Some(replica_id)) =
        (planner.draft.id(primary, Kind::Update), planner.draft.id(replica, Kind::Update))
    else {
        return;
    };
    let (Some(primary_live), Some(replica_live)) =
        (planner.request.live.get(primary), planner.request.live.get(replica))
    else {
        return;
    };
    let (Some(primary_target), Some(replica_target)) = (planner.target(primary), planner.target(replica))
    else {
        return;
    };
    let service = replica_target.service();
    let sku = |spec: &ServerSpec| spec.flexible.as_ref().map(|f| f.sku.clone()).unwrap_or_default();
    let facts = |spec: &ServerSpec| (spec.parameters.clone(), sku(spec));
    let (primary_before, primary_after) = (facts(&primary_live.spec), facts(primary_target));
    let (replica_before, replica_after) = (facts(&replica_live.spec), facts(replica_target));
    let below = |primary: &(BTreeMap<String, String>, String),
                 replica: &(BTreeMap<String, String>, String)| {
        rules::replica_parameters_below(service, (&primary.0, &primary.1), (&replica.0, &replica.1))
    };
    let raise_first = below(&primary_after, &replica_before);
    let lower_first = below(&primary_before, &replica_after);
    match (raise_first.first(), lower_first.first()) {
        (Some((name, _, _)), None) => planner.draft.edge(
            &replica_id,
            &primary_id,
            format!("{name} is raised on replica {replica} before its primary {primary}: a standby may not have less"),
        ),
        (None, Some((name, _, _))) => planner.draft.edge(
            &primary_id,
            &replica_id,
            format!("{name} is lowered on {primary} before its replica {replica}: a standby may not have less"),
        ),
        _ => {}
    }
}

/// One write at a time in each Flexible Server replication set: the service locks a primary
/// while one of its replicas is created, deleted or promoted, so the set's changes run one
/// after another, in an order that keeps every other edge.
fn one_write_at_a_time(planner: &mut Planner) {
    let mut sets: std::collections::BTreeMap<ServerName, std::collections::BTreeSet<ServerName>> =
        std::collections::BTreeMap::new();
    let flexible = |planner: &Planner, name: &ServerName| {
        planner
            .target(name)
            .or_else(|| planner.request.live.get(name).map(|o| &o.spec))
            .is_some_and(|spec| spec.flexible.is_some())
    };
    for (primary, replicas) in planner.desired_replicas.iter().chain(planner.live_replicas.iter()) {
        if !flexible(planner, primary) {
            continue;
        }
        let set = sets.entry(primary.clone()).or_default();
        set.insert(primary.clone());
        set.extend(replicas.iter().cloned());
    }
    if sets.is_empty() {
        return;
    }
    // A server moving from one primary to another is in both sets.
    let mut sets_of: std::collections::HashMap<&ServerName, Vec<&ServerName>> =
        std::collections::HashMap::new();
    for (primary, members) in &sets {
        for member in members {
            sets_of.entry(member).or_default().push(primary);
        }
    }
    let mut chains: std::collections::BTreeMap<&ServerName, Vec<ChangeId>> =
        std::collections::BTreeMap::new();
    for change in planner.draft.topological_order() {
        for primary in sets_of.get(&change.server).into_iter().flatten() {
            chains.entry(*primary).or_default().push(change.id.clone());
        }
    }
    for (primary, chain) in chains {
        for pair in chain.windows(2) {
            if planner.draft.depends(&pair[1], &pair[0]) {
                continue;
            }
            let reason = format!(
                "one write at a time in {primary}'s replication set: the service locks {primary} while a replica \
                 is created, deleted or promoted"
            );
            planner.draft.edge(&pair[0], &pair[1], reason);
        }
    }
}
