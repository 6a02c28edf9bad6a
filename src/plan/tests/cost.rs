//! The plan's cost fields, worked out by hand from the shipped table (eastus, Single Server:
//! Basic 0.034 and General Purpose 0.0876 per vCore-hour, storage 0.10 and 0.115 per GB-month;
//! 730 hours a month).

use super::{Case, change, spec};
use crate::model::ServerSpec;
use crate::rules::Tier;

fn in_eastus(spec: ServerSpec) -> ServerSpec {
    ServerSpec { location: "eastus".into(), ..spec }
}

/// A local fleet priced as eastus.
fn priced() -> Case {
    let mut case = Case::new();
    case.desired.pricing.location = Some("eastus".into());
    case
}

#[test]
fn a_scale_up_of_a_primary_and_its_replica_adds_their_compute() {
    let small = in_eastus(spec(4, 100));
    let large = in_eastus(spec(8, 100));
    let replica = |spec: &ServerSpec| ServerSpec { replica_of: Some(super::name("pay")), ..spec.clone() };
    let plan = priced()
        .have("pay", small.clone())
        .have("pay-ro", replica(&small))
        .want("pay", large.clone())
        .want("pay-ro", replica(&large))
        .plan();
    // 4 × 0.0876 × 730 + 100 × 0.115 = 267.29 before; 8 vCores: 523.08.
    for id in ["update:pay", "update:pay-ro"] {
        let cost = change(&plan, id).cost.clone().unwrap();
        assert_eq!(
            (cost.monthly_before, cost.monthly_after, cost.monthly_delta),
            (Some(267.29), Some(523.08), Some(255.79))
        );
    }
    let total = plan.cost.unwrap();
    assert_eq!(
        (total.monthly_before, total.monthly_delta, total.monthly_after),
        (Some(534.58), Some(511.58), Some(1046.16))
    );
    assert_eq!((total.one_time, total.currency.as_str()), (None, "USD"));
}

#[test]
fn a_migration_counts_the_new_server_beside_the_old_during_its_window() {
    let basic = in_eastus(ServerSpec { tier: Tier::Basic, ..spec(2, 100) });
    let plan = priced().have("ledger", basic).want("ledger", in_eastus(spec(2, 100))).plan();
    let cost = change(&plan, "migrate:ledger").cost.clone().unwrap();
    // Basic: 2 × 0.034 × 730 + 100 × 0.10 = 59.64; General Purpose: 127.896 + 11.50 = 139.40.
    assert_eq!(
        (cost.monthly_before, cost.monthly_after, cost.monthly_delta),
        (Some(59.64), Some(139.4), Some(79.76))
    );
    // An hour (the migration's expected window at most) of the new server: 139.396 / 730.
    assert_eq!(cost.one_time, Some(0.19));
    let total = plan.cost.unwrap();
    assert_eq!((total.monthly_delta, total.one_time), (Some(79.76), Some(0.19)));
}

#[test]
fn a_delete_saves_the_server_and_an_unknown_price_makes_the_total_unknown() {
    let plan = priced()
        .have("old", in_eastus(spec(4, 100)))
        .want("new", spec(4, 100)) // westeurope: not in the shipped table
        .allow_delete()
        .plan();
    assert_eq!(change(&plan, "delete:old").cost.as_ref().unwrap().monthly_delta, Some(-267.29));
    let create = change(&plan, "create:new").cost.clone().unwrap();
    assert_eq!(create.monthly_delta, None);
    assert!(create.unknown.as_deref().unwrap().contains("no Single Server prices for westeurope"));
    let total = plan.cost.unwrap();
    assert_eq!((total.monthly_before, total.monthly_delta, total.monthly_after), (Some(267.29), None, None));
    assert_eq!(total.unknown.len(), 1, "{:?}", total.unknown);
}

#[test]
fn a_local_fleet_without_a_pricing_location_is_not_priced() {
    let plan = Case::new().want("pay", spec(4, 100)).plan();
    assert!(plan.cost.is_none() && plan.changes.iter().all(|change| change.cost.is_none()));
}
