//! Replicas against their primary's size: what size a primary holds its replicas to, and the
//! refusals for replicas that would fall short. Whether a replica fits, in which dimension and
//! by how much, is `rules::check::size_problems`'s answer alone.

use super::build::Planner;
use crate::rules;

impl Planner<'_> {
    /// A replica needs at least its primary's size; each dimension it falls short in is
    /// refused (`rules::check::size_problems`), with the shortfall and the value that would fit.
    pub(crate) fn check_replica_sizes(&mut self) {
        let mut problems = Vec::new();
        for (primary, replicas) in &self.desired_replicas {
            let Some(primary_spec) = self.target(primary) else { continue };
            let mut held = primary_spec.clone();
            held.storage_gb = self.held_size(primary, primary_spec).storage_gb;
            for replica in replicas {
                let Some(replica_spec) = self.target(replica) else { continue };
                let refusals = rules::check::size_problems(
                    &replica_spec.shape(replica.as_str()),
                    &held.shape(primary.as_str()),
                );
                problems.extend(refusals.into_iter().map(|refusal| (replica.clone(), refusal)));
            }
        }
        for (replica, refusal) in problems {
            self.refuse(&replica, refusal);
        }
    }
}
