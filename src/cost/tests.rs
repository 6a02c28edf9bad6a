//! Every figure here is worked out by hand from the shipped table (eastus: Single Server
//! General Purpose 0.0876 and Basic 0.034 per vCore-hour, storage 0.115 and 0.10 per GB-month;
//! Flexible Server Ddsv5 0.089 per vCore-hour, Standard_B1ms 0.017 per hour, Premium SSD 0.115
//! per GB-month; 730 hours a month).

use super::*;
use crate::config::{DesiredServer, SecretRef};
use crate::model::{FlexibleSpec, ServerName};
use crate::rules::PgVersion;
use crate::schedule::{Entry, Scheduled};
use chrono::{TimeZone, Utc, Weekday};

fn single(tier: Tier, vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec::new(tier, vcores, storage_gb, PgVersion::V11, "fleetadmin", "eastus")
}

fn flexible(sku: &str, storage_gb: u32, ha: HaMode) -> ServerSpec {
    let mut spec = ServerSpec::flexible(sku, storage_gb, PgVersion::V16, "fleetadmin", "eastus");
    spec.flexible.as_mut().unwrap().high_availability = ha;
    spec
}

fn total(spec: &ServerSpec) -> f64 {
    monthly(spec, &Pricing::shipped()).unwrap().total()
}

#[test]
fn single_server_with_replicas() {
    // 4 × 0.0876 × 730 = 255.792 compute, 100 × 0.115 = 11.50 storage.
    let primary = single(Tier::GeneralPurpose, 4, 100);
    assert_eq!(total(&primary), 267.29);
    // A replica is a server of its own: the same size costs the same again.
    let mut replica = primary.clone();
    replica.replica_of = Some(ServerName::new("pay-main"));
    assert_eq!(total(&replica), 267.29);
    assert_eq!(sum([Some(total(&primary)), Some(total(&replica)), Some(total(&replica))]), Some(801.87));
    // Basic: 2 × 0.034 × 730 = 49.64 compute, 50 × 0.10 = 5.00 storage.
    assert_eq!(total(&single(Tier::Basic, 2, 50)), 54.64);
}

#[test]
fn flexible_server_with_ha_and_a_replica() {
    // 4 × 0.089 × 730 = 259.88 compute, 128 × 0.115 = 14.72 storage; the standby the same again.
    let primary = flexible("Standard_D4ds_v5", 128, HaMode::ZoneRedundant);
    let parts = monthly(&primary, &Pricing::shipped()).unwrap();
    assert_eq!((cents(parts.compute), cents(parts.storage), cents(parts.standby)), (259.88, 14.72, 274.6));
    assert_eq!(total(&primary), 549.2);
    let replica = flexible("Standard_D4ds_v5", 128, HaMode::Disabled);
    assert_eq!(total(&replica), 274.6);
    // Burstable is priced per size: 0.017 × 730 = 12.41, 32 × 0.115 = 3.68.
    assert_eq!(total(&flexible("Standard_B1ms", 32, HaMode::Disabled)), 16.09);
}

#[test]
fn a_scale_up_costs_the_compute_it_adds() {
    let before = flexible("Standard_D4ds_v5", 128, HaMode::Disabled);
    let after = flexible("Standard_D8ds_v5", 128, HaMode::Disabled);
    let cost = ChangeCost::between(Some(&before), Some(&after), None, &Pricing::shipped());
    // 8 × 0.089 × 730 = 519.76 + 14.72.
    assert_eq!(
        (cost.monthly_before, cost.monthly_after, cost.monthly_delta),
        (Some(274.6), Some(534.48), Some(259.88))
    );
    assert_eq!(cost.one_time, None);
    let create = ChangeCost::between(None, Some(&after), None, &Pricing::shipped());
    assert_eq!((create.monthly_before, create.monthly_delta), (None, Some(534.48)));
    let delete = ChangeCost::between(Some(&before), None, None, &Pricing::shipped());
    assert_eq!(delete.monthly_delta, Some(-274.6));
}

#[test]
fn a_migration_counts_both_servers_during_its_window() {
    let basic = single(Tier::Basic, 2, 50);
    let general = single(Tier::GeneralPurpose, 2, 50);
    let cost = ChangeCost::between(Some(&basic), Some(&general), Some(1.0), &Pricing::shipped());
    // 2 × 0.0876 × 730 = 127.896 + 50 × 0.115 = 5.75 → 133.65; minus 54.64.
    assert_eq!(cost.monthly_delta, Some(79.01));
    // One hour of the new server beside the old: 133.646 / 730.
    assert_eq!(cost.one_time, Some(0.18));
    assert!(cost.one_time_basis.unwrap().contains("up to 1 h"));
}

#[test]
fn a_missing_price_is_unknown_never_estimated() {
    let mut elsewhere = flexible("Standard_D4ds_v5", 128, HaMode::Disabled);
    elsewhere.location = "westeurope".into();
    let why = monthly(&elsewhere, &Pricing::shipped()).unwrap_err();
    assert!(why.contains("no Flexible Server prices for westeurope"), "{why}");
    // westus has Ddsv5 but not the Edsv5 series.
    let mut memory = flexible("Standard_E4ds_v5", 128, HaMode::Disabled);
    memory.location = "westus".into();
    assert!(monthly(&memory, &Pricing::shipped()).unwrap_err().contains("Standard_E4ds_v5 (Edsv5 series)"));
    let cost = ChangeCost::between(Some(&memory), Some(&elsewhere), None, &Pricing::shipped());
    assert_eq!((cost.monthly_delta, cost.monthly_before), (None, None));
    assert!(cost.unknown.is_some());
    // Premium SSD v2 has no shipped price.
    let mut v2 = flexible("Standard_D4ds_v5", 128, HaMode::Disabled);
    v2.storage_autogrow = false;
    v2.flexible.as_mut().unwrap().storage_type = StorageType::PremiumV2;
    assert!(monthly(&v2, &Pricing::shipped()).unwrap_err().contains("Premium SSD v2 storage"));
    // A local server is priced only as a region the fleet names.
    let local = ServerSpec { location: "local".into(), ..single(Tier::Basic, 2, 50) };
    assert!(monthly(&local, &Pricing::shipped()).unwrap_err().contains("[pricing] location"));
    let as_eastus = Pricing { location: Some("eastus".into()), ..Pricing::shipped() };
    assert_eq!(monthly(&local, &as_eastus).unwrap().total(), 54.64);
}

/// A table whose Premium SSD v2 prices are round numbers: 0.10 per GiB, 0.01 per IOPS and 0.05
/// per MB/s beyond what is included.
fn premium_v2_table() -> Pricing {
    let mut pricing = Pricing::shipped();
    let region = pricing.table.flexible.regions.get_mut("eastus").unwrap();
    region.premium_v2_gb_month = Some(0.10);
    region.premium_v2_iops_month = Some(0.01);
    region.premium_v2_mbps_month = Some(0.05);
    pricing
}

#[test]
fn premium_ssd_v2_bills_performance_beyond_what_is_included() {
    let mut spec = flexible("Standard_D2ds_v5", 100, HaMode::Disabled);
    spec.storage_autogrow = false;
    spec.flexible = Some(FlexibleSpec {
        storage_type: StorageType::PremiumV2,
        iops: Some(5_000),
        throughput: Some(200),
        ..FlexibleSpec::new("Standard_D2ds_v5")
    });
    // Under 400 GiB 3,000 IOPS and 125 MB/s are included: 2,000 × 0.01 + 75 × 0.05 = 23.75.
    let parts = monthly(&spec, &premium_v2_table()).unwrap();
    assert_eq!((cents(parts.storage), cents(parts.performance)), (10.0, 23.75));
    // From 400 GiB, 12,000 IOPS and 500 MB/s are: nothing beyond them is provisioned.
    spec.storage_gb = 400;
    assert_eq!(cents(monthly(&spec, &premium_v2_table()).unwrap().performance), 0.0);
}

fn timetabled(entry: Entry) -> DesiredServer {
    let base = flexible("Standard_D2ds_v5", 32, HaMode::Disabled);
    DesiredServer {
        name: ServerName::new("orders"),
        spec: base.clone(),
        admin_password: SecretRef::Env("PW".into()),
        line: 1,
        schedule: vec![entry],
        base,
    }
}

fn business_hours(timezone: chrono_tz::Tz, from: u32, to: u32, days: Vec<Weekday>) -> Entry {
    Entry {
        index: 0,
        days,
        from: chrono::NaiveTime::from_hms_opt(from, 0, 0).unwrap(),
        to: chrono::NaiveTime::from_hms_opt(to, 0, 0).unwrap(),
        timezone,
        set: Scheduled::Sku("Standard_D8ds_v5".into()),
    }
}

#[test]
fn a_timetable_is_priced_hour_by_hour() {
    let weekdays = vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
    let server = timetabled(business_hours(chrono_tz::UTC, 8, 18, weekdays));
    // From Monday 2026-12-07 00:00 UTC, 730 hours end on Wednesday 2027-01-06 10:00: 22 whole
    // weekdays of 10 hours and 2 hours of the 23rd, 222 hours at D8ds_v5.
    let start = Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap();
    let cost = scheduled(&server, start, &Pricing::shipped());
    // Base: 2 × 0.089 × 730 + 32 × 0.115 = 133.62; at D8: 523.44.
    // 133.62 + (523.44 − 133.62) × 222 / 730 = 252.168.
    assert_eq!((cost.monthly_unscheduled, cost.monthly), (Some(133.62), Some(252.17)));
}

#[test]
fn a_timetable_across_midnight_and_a_daylight_saving_change() {
    // Nightly 22:00–06:00 in Amsterdam, priced over one week (a 168-hour "month") from
    // Monday 2027-03-22 00:00 UTC. Amsterdam is UTC+1 until 01:00 UTC on Sunday the 28th and
    // UTC+2 after, so the nights in UTC are: Sunday 21st 21:00 → 05:00 (5 hours inside the
    // week), Monday to Friday 21:00 → 05:00 (5 × 8 = 40), Saturday 27th 21:00 → 04:00 (7: the
    // clocks skip an hour), Sunday 28th 20:00 → 04:00 (4 before the week ends): 56 hours.
    let mut pricing = Pricing::shipped();
    pricing.table.hours_per_month = 168.0;
    let server = timetabled(business_hours(chrono_tz::Europe::Amsterdam, 22, 6, all_days()));
    let start = Utc.with_ymd_and_hms(2027, 3, 22, 0, 0, 0).unwrap();
    let cost = scheduled(&server, start, &pricing);
    // Base over 168 hours: 2 × 0.089 × 168 + 3.68 = 33.584; D8: 8 × 0.089 × 168 + 3.68 = 123.296.
    // 33.584 + (123.296 − 33.584) × 56 / 168 = 63.488.
    assert_eq!((cost.monthly_unscheduled, cost.monthly), (Some(33.58), Some(63.49)));
}

fn all_days() -> Vec<Weekday> {
    vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun]
}

#[test]
fn figures_read_as_money() {
    assert_eq!(signed(Some(1234.5), "USD"), "+$1,234.50");
    assert_eq!(signed(Some(-4.0), "USD"), "−$4.00");
    assert_eq!(signed(Some(0.001), "EUR"), "€0.00");
    assert_eq!(signed(None, "USD"), "unknown");
    assert_eq!(amount(Some(1_000_000.0), "CHF"), "CHF 1,000,000.00");
}
