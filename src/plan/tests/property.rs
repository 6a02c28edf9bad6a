//! Property test: for random fleets (primaries with replicas that grow, shrink, move between
//! tiers, migrate, are promoted, created or deleted), the plan is a DAG whose waves respect its
//! edges, and applying it in any wave-respecting order never makes a replica smaller than its
//! primary (rules::replica_fits: vCores, SKU max_connections, storage), never creates a replica
//! before its primary can have one, and ends exactly at the config.

use super::*;
use crate::diff::size_of;
use crate::plan::Operation;
use crate::rules::{self, Tier};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// vCore counts sold in both General Purpose and Memory Optimized on Gen5.
const VCORES: [u32; 5] = [2, 4, 8, 16, 32];

#[derive(Debug, Clone)]
struct ReplicaSeed {
    exists: bool,
    /// 0–1 keep as a replica, 2 promote, 3 delete.
    fate: u8,
    live_extra_vcores: usize,
    want_extra_vcores: usize,
    live_extra_storage: u32,
    want_extra_storage: u32,
    /// Moves to another region: create-only, so the replica is re-created.
    relocate: bool,
}

#[derive(Debug, Clone)]
struct GroupSeed {
    exists: bool,
    kept: bool,
    live_memory: bool,
    want_memory: bool,
    live_vcores: usize,
    want_vcores: usize,
    live_storage: u32,
    grow: u32,
    replication_on: bool,
    migrate: bool,
    replicas: Vec<ReplicaSeed>,
}

fn replica_seed() -> impl Strategy<Value = ReplicaSeed> {
    (any::<bool>(), 0..4u8, 0..3usize, 0..3usize, 0..200u32, 0..200u32, 0..6u8).prop_map(
        |(
            exists,
            fate,
            live_extra_vcores,
            want_extra_vcores,
            live_extra_storage,
            want_extra_storage,
            relocate,
        )| {
            ReplicaSeed {
                exists,
                fate,
                live_extra_vcores,
                want_extra_vcores,
                live_extra_storage,
                want_extra_storage,
                relocate: relocate == 0,
            }
        },
    )
}

fn group_seed() -> impl Strategy<Value = GroupSeed> {
    (
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        (0..5usize, 0..5usize, 5..500u32, 0..300u32),
        (any::<bool>(), 0..8u8),
        proptest::collection::vec(replica_seed(), 0..4),
    )
        .prop_map(
            |(
                (exists, kept, live_memory, want_memory),
                (live_vcores, want_vcores, live_storage, grow),
                (replication_on, migrate),
                replicas,
            )| {
                GroupSeed {
                    exists,
                    kept: kept || !exists,
                    live_memory,
                    want_memory,
                    live_vcores,
                    want_vcores,
                    live_storage,
                    grow,
                    replication_on,
                    migrate: migrate == 0,
                    replicas,
                }
            },
        )
}

fn sized(memory: bool, vcores: usize, storage_gb: u32, replica_of: Option<&str>) -> ServerSpec {
    let tier = if memory { Tier::MemoryOptimized } else { Tier::GeneralPurpose };
    let mut spec = spec(VCORES[vcores.min(4)], storage_gb);
    spec.tier = tier;
    spec.replica_of = replica_of.map(ServerName::new);
    spec
}

/// The wanted vCores of a primary: its compute moves up or down as a whole. A tier change that
/// raises connections while lowering vCores (GP_Gen5_4 → MO_Gen5_2) or the reverse
/// (MO_Gen5_4 → GP_Gen5_8) leaves no order of two in-place updates in which a replica keeps
/// at least its primary's connections and vCores (both are held, `rules::replica_fits`): such a
/// seed keeps the live vCores instead.
fn wanted_vcores(group: &GroupSeed) -> usize {
    let before = sized(group.live_memory, group.live_vcores, 0, None).size();
    let after = sized(group.want_memory, group.want_vcores, 0, None).size();
    let up = |a: u32, b: u32| a.cmp(&b);
    let connections = up(after.max_connections(), before.max_connections());
    let vcores = up(after.vcores, before.vcores);
    let opposite = connections.is_lt() && vcores.is_gt() || connections.is_gt() && vcores.is_lt();
    if opposite { group.live_vcores.min(4) } else { group.want_vcores }
}

fn fleet(groups: &[GroupSeed]) -> Case {
    let mut case = Case::new().allow_delete();
    for (at, group) in groups.iter().enumerate() {
        let primary = format!("p{at}");
        let want_storage = group.live_storage + group.grow;
        let want_vcores = wanted_vcores(group);
        let mut wanted = sized(group.want_memory, want_vcores, want_storage, None);
        wanted.geo_redundant_backup = group.migrate && group.exists;
        if group.exists {
            // A primary with live replicas has replication support on: the service needs it.
            let on = group.replication_on || group.replicas.iter().any(|seed| seed.exists);
            let replication = if on { ReplicationSupport::Replica } else { ReplicationSupport::Off };
            let live = sized(group.live_memory, group.live_vcores, group.live_storage, None);
            case = case.have_with(&primary, live, replication);
        }
        if group.kept {
            case = case.want(&primary, wanted.clone());
        }
        for (index, seed) in group.replicas.iter().enumerate() {
            let name = format!("{primary}-r{index}");
            let exists = seed.exists && group.exists;
            let live = sized(
                group.live_memory,
                group.live_vcores + seed.live_extra_vcores,
                group.live_storage + seed.live_extra_storage,
                Some(&primary),
            );
            if exists {
                case = case.have(&name, live.clone());
            }
            let fate = if exists && !group.kept && seed.fate < 2 { 3 } else { seed.fate };
            match fate {
                2 if exists => case = case.want(&name, ServerSpec { replica_of: None, ..live }),
                3 if exists => {}
                _ if group.kept => {
                    let storage = (want_storage + seed.want_extra_storage).max(if exists {
                        live.storage_gb
                    } else {
                        0
                    });
                    let spec = sized(
                        group.want_memory,
                        want_vcores + seed.want_extra_vcores,
                        storage,
                        Some(&primary),
                    );
                    let location = if seed.relocate { "northeurope" } else { "westeurope" };
                    case = case.want(&name, ServerSpec { location: location.into(), ..spec });
                }
                _ => {}
            }
        }
    }
    case
}

/// The fleet as the changes leave it, checked after every step.
struct Simulation {
    specs: BTreeMap<ServerName, ServerSpec>,
    replication: BTreeMap<ServerName, bool>,
}

impl Simulation {
    fn apply(&mut self, change: &Change) {
        let server = &change.server;
        match &change.operation {
            Operation::Create { spec } | Operation::Recreate { spec } => {
                if let Some(primary) = &spec.replica_of {
                    assert!(self.specs.contains_key(primary), "{}: primary {primary} missing", change.id);
                    assert!(
                        self.replication[primary],
                        "{}: {primary} has replication support off",
                        change.id
                    );
                }
                self.specs.insert(server.clone(), spec.clone());
                self.replication.insert(server.clone(), false);
            }
            Operation::Update { patch, replication_support } => {
                let next = patch.apply_to(&self.specs[server]);
                self.specs.insert(server.clone(), next);
                if replication_support.is_some() {
                    self.replication.insert(server.clone(), true);
                }
            }
            Operation::Migrate { to, .. } => {
                for spec in self.specs.values_mut().filter(|s| s.replica_of.as_ref() == Some(server)) {
                    spec.replica_of = None; // the source is retired: its old replicas are detached
                }
                self.specs.insert(server.clone(), (**to).clone());
                self.replication.insert(server.clone(), false);
            }
            Operation::Promote => self.specs.get_mut(server).unwrap().replica_of = None,
            Operation::Failover => {
                if let Some(flexible) = &mut self.specs.get_mut(server).unwrap().flexible {
                    std::mem::swap(&mut flexible.zone, &mut flexible.standby_zone);
                }
            }
            Operation::Delete => {
                let attached = self.specs.values().any(|s| s.replica_of.as_ref() == Some(server));
                assert!(!attached, "{}: a replica is still attached", change.id);
                self.specs.remove(server);
            }
        }
        for (name, spec) in &self.specs {
            let Some(primary) = spec.replica_of.as_ref().and_then(|p| self.specs.get(p)) else { continue };
            assert!(
                rules::replica_fits(size_of(primary), size_of(spec)),
                "after {}: replica {name} {:?} is smaller than its primary {:?}",
                change.id,
                size_of(spec),
                size_of(primary)
            );
        }
    }
}

fn simulate(case: &Case, order: &[&Change]) {
    let mut simulation = Simulation {
        specs: case.live.iter().map(|(name, o)| (name.clone(), o.spec.clone())).collect(),
        replication: case
            .live
            .iter()
            .map(|(name, o)| (name.clone(), o.replication_support.allows_replicas()))
            .collect(),
    };
    for change in order {
        simulation.apply(change);
    }
    let desired: BTreeMap<ServerName, ServerSpec> =
        case.desired.servers.iter().map(|(name, server)| (name.clone(), server.spec.clone())).collect();
    assert_eq!(simulation.specs, desired, "the plan does not end at the config");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn plans_are_dags_that_keep_replicas_large_enough(groups in proptest::collection::vec(group_seed(), 1..6)) {
        let case = fleet(&groups);
        let plan = case.plan();
        prop_assert!(plan.refused.is_empty(), "{:#?}", plan.refused);
        let position: BTreeMap<&str, usize> = plan.changes.iter().enumerate().map(|(at, c)| (c.id.as_str(), at)).collect();
        for change in &plan.changes {
            prop_assert!(change.wave >= 1);
            prop_assert_eq!(change.depends_on.len(), change.ordering.len());
            for before in &change.depends_on {
                let earlier = &plan.changes[position[before.as_str()]];
                prop_assert!(earlier.wave < change.wave, "{} (wave {}) waits for {} (wave {})", change.id, change.wave, before, earlier.wave);
            }
        }
        simulate(&case, &plan.changes.iter().collect::<Vec<_>>());
        // Another order the waves allow: each wave backwards.
        let mut reversed: Vec<&Change> = plan.changes.iter().collect();
        reversed.sort_by(|a, b| a.wave.cmp(&b.wave).then(b.id.cmp(&a.id)));
        simulate(&case, &reversed);
    }
}
