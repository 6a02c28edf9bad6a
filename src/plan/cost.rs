//! Each change's cost and the plan's total, priced by [`crate::cost`] from the fleet's price
//! table: the server before and after the change, a migration's overlap, the fleet's monthly
//! total before and after, and the month of every server with a timetable.

use super::PlanRequest;
use super::model::{Change, Operation};
use crate::cost::{self, ChangeCost, PlanCost, Pricing};
use crate::model::ServerSpec;
use crate::rules::Downtime;

/// Sets each change's `cost` and returns the plan's, or nothing when the fleet runs on the
/// local provider and `[pricing] location` does not say which region's prices to use.
pub(super) fn price(changes: &mut [Change], request: &PlanRequest) -> Option<PlanCost> {
    let pricing = &request.desired.pricing;
    let local = matches!(request.desired.provider, crate::config::ProviderSettings::Local(_));
    if local && pricing.location.is_none() {
        return None;
    }
    for change in changes.iter_mut() {
        change.cost = Some(Box::new(change_cost(change, request, pricing)));
    }
    let mut unknown: Vec<String> = Vec::new();
    let mut note = |why: Option<&String>| {
        if let Some(why) = why.filter(|why| !unknown.contains(why)) {
            unknown.push(why.clone());
        }
    };
    let managed = request.live.iter().filter(|(name, _)| {
        request.desired.servers.contains_key(*name)
            || request.stored.is_some_and(|state| state.servers.contains_key(*name))
    });
    let monthly_before = cost::sum(managed.map(|(_, live)| match cost::monthly(&live.spec, pricing) {
        Ok(monthly) => Some(monthly.total()),
        Err(why) => {
            note(Some(&why));
            None
        }
    }));
    for change in changes.iter() {
        note(change.cost.as_ref().and_then(|cost| cost.unknown.as_ref()));
    }
    let scheduled: Vec<_> = request
        .desired
        .servers
        .values()
        .filter(|server| !server.schedule.is_empty())
        .map(|server| cost::scheduled(server, request.at, pricing))
        .collect();
    for server in &scheduled {
        note(server.unknown.as_ref());
    }
    let table = &pricing.table;
    let mut plan_cost = PlanCost {
        currency: table.currency.clone(),
        monthly_delta: None,
        monthly_before,
        monthly_after: None,
        one_time: None,
        scheduled,
        unknown,
        excludes: cost::EXCLUDES.to_string(),
        source: table.source.clone(),
        as_of: table.as_of.clone(),
        prices_file: pricing.file.as_ref().map(|file| file.display().to_string()),
        priced_as: pricing.location.clone().filter(|_| local),
    };
    total(&mut plan_cost, changes);
    Some(plan_cost)
}

/// The plan's totals from its changes: the sum of their monthly deltas (unknown when one is),
/// the month after, and the sum of their one-time costs. Also what a targeted plan's totals are.
pub(super) fn total(cost: &mut PlanCost, changes: &[Change]) {
    cost.monthly_delta =
        cost::sum(changes.iter().map(|change| change.cost.as_ref().and_then(|cost| cost.monthly_delta)));
    cost.monthly_after =
        cost.monthly_before.zip(cost.monthly_delta).map(|(before, delta)| cost::cents(before + delta));
    let migrations: Vec<Option<f64>> = changes
        .iter()
        .filter_map(|change| change.cost.as_ref().filter(|cost| cost.one_time_basis.is_some()))
        .map(|cost| cost.one_time)
        .collect();
    cost.one_time = (!migrations.is_empty()).then(|| cost::sum(migrations)).flatten();
}

/// One change: the server as it is before (live) and as the change leaves it.
fn change_cost(change: &Change, request: &PlanRequest, pricing: &Pricing) -> ChangeCost {
    let live = request.live.get(&change.server).map(|observed| &observed.spec);
    let (before, after, overlap): (Option<&ServerSpec>, Option<ServerSpec>, Option<f64>) = match &change
        .operation
    {
        Operation::Create { spec } => (None, Some(spec.clone()), None),
        Operation::Recreate { spec } => (live, Some(spec.clone()), None),
        Operation::Migrate { from, to, .. } => (
            Some(from.as_ref()),
            Some(to.as_ref().clone()),
            Some(f64::from(Downtime::MIGRATION.max_seconds) / 3600.0),
        ),
        Operation::Update { patch, .. } => match live {
            Some(live) => (Some(live), Some(patch.apply_to(live)), None),
            // Replication support for a server the plan creates: the create prices it.
            None => (None, None, None),
        },
        Operation::Promote => (live, live.map(|spec| ServerSpec { replica_of: None, ..spec.clone() }), None),
        Operation::Failover => (live, live.cloned(), None),
        Operation::Delete => (live, None, None),
    };
    // Neither side (replication support for a server the plan creates): a delta of nothing.
    ChangeCost::between(before, after.as_ref(), overlap, pricing)
}
