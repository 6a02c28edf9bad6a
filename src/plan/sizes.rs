//! Replicas against their primary's size: what size a primary holds its replicas to, and the
//! refusals for replicas that would fall short. Whether a replica fits, in which dimension and
//! by how much, is `rules::check::size_problems`'s answer alone.

use super::build::Planner;
use crate::model::{ServerName, ServerSpec};
use crate::rules::{self, SkuSize};

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
    /// refused (`rules::check::size_problems`), with the shortfall and the value that would fit.
    pub fn check_replica_sizes(&mut self) {
        let mut problems = Vec::new();
        for (primary, replicas) in &self.desired_replicas {
            let Some(primary_spec) = self.targets.get(primary) else { continue };
            let mut held = primary_spec.clone();
            held.storage_gb = self.held_size(primary, primary_spec).storage_gb;
            for replica in replicas {
                let Some(replica_spec) = self.targets.get(replica) else { continue };
                let refusals = rules::check::size_problems(
                    &replica_spec.shape(replica.as_str()),
                    &held.shape(primary.as_str()),
                );
                problems.extend(refusals.into_iter().map(|refusal| (replica.clone(), refusal)));
            }
        }
        for (replica, refusal) in problems {
            self.refuse(&replica, refusal.key, refusal.message, refusal.hint);
        }
    }
}
