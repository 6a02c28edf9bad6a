//! Replicas against their primary's size: what size a primary holds its replicas to, and the
//! refusals for replicas that would fall short, saying which dimension (vCores or storage) and
//! by how much. Whether a replica fits is `rules::replica_shortfall`'s answer alone; this module
//! only asks it and puts the answer in words.

use super::build::Planner;
use crate::model::{ServerName, ServerSpec};
use crate::rules::{self, ReplicaShortfall, SkuSize};

impl Planner<'_> {
    /// `spec`'s size (the primary's live or target spec) as `primary`'s replicas are held to
    /// it: storage that grew by itself (the service's auto-grow) counts at the configured size.
    /// The service grows replicas by itself as well, so pgfleet neither refuses a replica nor
    /// grows or orders it for that growth.
    pub(super) fn held_size(&self, primary: &ServerName, spec: &ServerSpec) -> SkuSize {
        let mut size = spec.size();
        if let Some(&configured) = self.grown_storage.get(primary) {
            size.storage_gb = size.storage_gb.min(configured);
        }
        size
    }

    /// A replica needs at least its primary's size; each dimension it falls short in is
    /// refused, with the shortfall and the value that would fit.
    pub fn check_replica_sizes(&mut self) {
        let mut problems = Vec::new();
        for (primary, replicas) in &self.desired_replicas {
            let Some(primary_spec) = self.targets.get(primary) else { continue };
            let primary_size = self.held_size(primary, primary_spec);
            for replica in replicas {
                let Some(replica_spec) = self.targets.get(replica) else { continue };
                let pair = Pair { primary, primary_size, replica, replica_size: replica_spec.size() };
                problems.extend(pair.shortfalls().into_iter().map(|problem| (replica.clone(), problem)));
            }
        }
        for (replica, problem) in problems {
            self.refuse(&replica, problem.path, problem.reason, problem.hint);
        }
    }
}

/// One dimension a replica falls short in.
struct Problem {
    /// `vcores` or `storage_gb`.
    path: &'static str,
    reason: String,
    hint: String,
}

/// A replica and its primary, at the sizes compared.
struct Pair<'a> {
    primary: &'a ServerName,
    primary_size: SkuSize,
    replica: &'a ServerName,
    replica_size: SkuSize,
}

impl Pair<'_> {
    /// Compute first, then storage on its own: the replica's storage is checked against a
    /// replica with the primary's compute, so one rule answers both questions.
    fn shortfalls(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Some(ReplicaShortfall::MaxConnections { primary, replica }) =
            rules::replica_shortfall(self.primary_size, self.replica_size)
        {
            problems.push(self.compute_problem(primary, replica));
        }
        let same_compute = SkuSize { storage_gb: self.replica_size.storage_gb, ..self.primary_size };
        if let Some(ReplicaShortfall::Storage { primary_gb, replica_gb }) =
            rules::replica_shortfall(self.primary_size, same_compute)
        {
            problems.push(self.storage_problem(primary_gb, replica_gb));
        }
        problems
    }

    fn compute_problem(&self, primary_connections: u32, replica_connections: u32) -> Problem {
        let (p, r) = (self.primary_size, self.replica_size);
        let (primary, replica) = (self.primary, self.replica);
        let short = primary_connections - replica_connections;
        let vcores_short = match r.vcores.cmp(&p.vcores) {
            std::cmp::Ordering::Less => {
                format!("{} vCores and {short} connections short", p.vcores - r.vcores)
            }
            _ => {
                format!("{short} connections short at {} vCores (its tier allows fewer per vCore)", r.vcores)
            }
        };
        let reason = format!(
            "replica {replica} falls short of its primary {primary} in vcores: {} vCores ({}, {replica_connections} \
             connections) against {primary}'s {} ({}, {primary_connections} connections), {vcores_short}; a \
             replica needs at least its primary's max_connections, which the SKU fixes",
            r.vcores,
            sku_name(r),
            p.vcores,
            sku_name(p),
        );
        let fitting = rules::valid_vcores(r.tier, r.generation).into_iter().find(|&vcores| {
            !matches!(
                rules::replica_shortfall(p, SkuSize { vcores, ..r }),
                Some(ReplicaShortfall::MaxConnections { .. })
            )
        });
        let hint = match fitting {
            Some(vcores) => format!(
                "set vcores = {vcores} or more on {replica} ({} allows {} connections), or keep {primary} at \
                 fewer vcores",
                sku_name(SkuSize { vcores, ..r }),
                SkuSize { vcores, ..r }.max_connections()
            ),
            None => format!(
                "no {} {} size of {replica} has {primary_connections} connections; move {replica} to {primary}'s \
                 tier ({}) or keep {primary} smaller",
                r.tier, r.generation, p.tier
            ),
        };
        Problem { path: "vcores", reason, hint }
    }

    fn storage_problem(&self, primary_gb: u32, replica_gb: u32) -> Problem {
        let (primary, replica) = (self.primary, self.replica);
        Problem {
            path: "storage_gb",
            reason: format!(
                "replica {replica} falls short of its primary {primary} in storage: {replica_gb} GB against \
                 {primary}'s {primary_gb} GB, {} GB short; a replica needs at least its primary's storage",
                primary_gb - replica_gb
            ),
            hint: format!("set storage_gb = {primary_gb} or more on {replica}"),
        }
    }
}

/// `GP_Gen5_8`.
fn sku_name(size: SkuSize) -> String {
    format!("{}_{}_{}", size.tier.sku_prefix(), size.generation, size.vcores)
}
