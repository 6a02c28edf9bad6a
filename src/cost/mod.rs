//! What servers cost per month, from a price table ([`table`]): compute (per SKU or per vCore),
//! provisioned storage, an HA standby, Premium SSD v2 performance beyond what is included. A
//! figure is known only when every price it needs is in the table; otherwise it is unknown, with
//! the missing price named, and nothing is estimated.
//!
//! Owns: pricing one server spec, the cost fields of a plan's changes and its total.
//! Must not: decide what changes (the planner does) or read files other than the price table.

pub mod table;

pub use table::{PriceTable, Pricing, SHIPPED_PATH};

use crate::model::ServerSpec;
use crate::rules::{self, HaMode, Service, StorageType, Tier};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One server's monthly cost, by part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Monthly {
    pub compute: f64,
    pub storage: f64,
    /// The HA standby's compute and storage.
    pub standby: f64,
    /// Premium SSD v2 IOPS and throughput beyond what is included.
    pub performance: f64,
}

impl Monthly {
    pub fn total(&self) -> f64 {
        cents(self.compute + self.storage + self.standby + self.performance)
    }

    /// What one hour of compute costs, standby included (what a migration's overlap costs).
    pub fn hourly(&self, pricing: &Pricing) -> f64 {
        (self.compute + self.storage + self.standby + self.performance) / pricing.table.hours_per_month
    }
}

/// Rounds to whole cents.
pub fn cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

/// The region whose prices a server takes: its location, or `[pricing] location` for the
/// local provider's servers.
fn region<'a>(spec: &'a ServerSpec, pricing: &'a Pricing) -> Result<&'a str, String> {
    match (spec.location.as_str(), pricing.location.as_deref()) {
        (crate::model::LOCAL_LOCATION, Some(location)) => Ok(location),
        (crate::model::LOCAL_LOCATION, None) => {
            Err("the local provider's servers have no Azure price; set [pricing] location = \
                                \"REGION\" in the fleet file to price them as that region's"
                .to_string())
        }
        (location, _) => Ok(location),
    }
}

/// What `spec` costs per month, or why that is unknown.
///
/// # Errors
/// The price that is missing from the table, in words.
pub fn monthly(spec: &ServerSpec, pricing: &Pricing) -> Result<Monthly, String> {
    let region = region(spec, pricing)?;
    let hours = pricing.table.hours_per_month;
    match spec.service() {
        Service::Single => single(spec, region, pricing, hours),
        Service::Flexible => flexible(spec, region, pricing, hours),
    }
}

fn single(spec: &ServerSpec, region: &str, pricing: &Pricing, hours: f64) -> Result<Monthly, String> {
    let prices = pricing
        .table
        .single
        .regions
        .get(region)
        .ok_or_else(|| no_region("Single Server", region, pricing))?;
    let by_tier = |tiers: &table::TierPrices| match spec.tier {
        Tier::Basic => tiers.basic,
        Tier::GeneralPurpose => tiers.general_purpose,
        Tier::MemoryOptimized => tiers.memory_optimized,
        Tier::Burstable => None,
    };
    let tier = spec.tier.as_str();
    let vcore = by_tier(&prices.vcore_hour)
        .ok_or_else(|| format!("no Single Server {tier} vCore price for {region} in the price table"))?;
    let storage = by_tier(&prices.storage_gb_month)
        .ok_or_else(|| format!("no Single Server {tier} storage price for {region} in the price table"))?;
    Ok(Monthly {
        compute: f64::from(spec.vcores) * vcore * hours,
        storage: f64::from(spec.storage_gb) * storage,
        standby: 0.0,
        performance: 0.0,
    })
}

fn flexible(spec: &ServerSpec, region: &str, pricing: &Pricing, hours: f64) -> Result<Monthly, String> {
    let Some(flexible) = &spec.flexible else { return Err("not a Flexible Server".into()) };
    let prices = pricing
        .table
        .flexible
        .regions
        .get(region)
        .ok_or_else(|| no_region("Flexible Server", region, pricing))?;
    let sku = rules::flexible_sku(&flexible.sku)
        .ok_or_else(|| format!("{} is not a size pgfleet knows, so it has no price", flexible.sku))?;
    let hourly = match (prices.sku_hour.get(sku.name), prices.vcore_hour.get(sku.series)) {
        (Some(price), _) => *price,
        (None, Some(per_vcore)) => per_vcore * f64::from(sku.vcores),
        (None, None) => {
            return Err(format!(
                "no price for {} ({} series) in {region} in the price table",
                sku.name, sku.series
            ));
        }
    };
    let compute = hourly * hours;
    let gb = f64::from(spec.storage_gb);
    let missing = |what: &str| format!("no {what} price for {region} in the price table");
    let (storage, performance) = match flexible.storage_type {
        StorageType::Premium => {
            (prices.storage_gb_month.ok_or_else(|| missing("Premium SSD storage"))? * gb, 0.0)
        }
        StorageType::PremiumV2 => {
            let storage = prices.premium_v2_gb_month.ok_or_else(|| missing("Premium SSD v2 storage"))? * gb;
            let (included_iops, included_mbps) = rules::premium_v2_included(spec.storage_gb);
            let extra_iops = flexible.iops.unwrap_or(included_iops).saturating_sub(included_iops);
            let extra_mbps = flexible.throughput.unwrap_or(included_mbps).saturating_sub(included_mbps);
            let mut performance = 0.0;
            if extra_iops > 0 {
                performance += prices.premium_v2_iops_month.ok_or_else(|| missing("Premium SSD v2 IOPS"))?
                    * f64::from(extra_iops);
            }
            if extra_mbps > 0 {
                performance +=
                    prices.premium_v2_mbps_month.ok_or_else(|| missing("Premium SSD v2 throughput"))?
                        * f64::from(extra_mbps);
            }
            (storage, performance)
        }
    };
    let standby = match flexible.high_availability {
        HaMode::Disabled => 0.0,
        HaMode::SameZone | HaMode::ZoneRedundant => {
            let factors = &pricing.table.flexible;
            let (Some(compute_factor), Some(storage_factor)) =
                (factors.ha_standby_compute, factors.ha_standby_storage)
            else {
                return Err("no price for a high-availability standby in the price table".into());
            };
            compute * compute_factor + (storage + performance) * storage_factor
        }
    };
    Ok(Monthly { compute, storage, standby, performance })
}

fn no_region(service: &str, region: &str, pricing: &Pricing) -> String {
    let file = pricing.file.as_ref().map_or_else(String::new, |file| format!(" or {}", file.display()));
    format!("no {service} prices for {region} in {SHIPPED_PATH}{file}; add them with [pricing] file")
}

/// A change's cost: the server's monthly cost before and after it, and what the change costs
/// once (both servers running while a migration copies the data). Absent figures are unknown,
/// and `unknown` says why. Since plan format 1.4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeCost {
    /// What the server costs a month before the change (absent for a server it creates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_before: Option<f64>,
    /// What the server costs a month after the change (absent for a server it deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_after: Option<f64>,
    /// After minus before; absent when either is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_delta: Option<f64>,
    /// What the change costs once, on top of the monthly figures: the staging server of a
    /// migration runs beside the source for the migration's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_time: Option<f64>,
    /// How `one_time` was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_time_basis: Option<String>,
    /// Why a figure is unknown (the price missing from the table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

impl ChangeCost {
    /// The cost of turning `before` into `after` (either absent: a create or a delete), and
    /// `overlap_hours` of both running side by side.
    pub fn between(
        before: Option<&ServerSpec>,
        after: Option<&ServerSpec>,
        overlap_hours: Option<f64>,
        pricing: &Pricing,
    ) -> ChangeCost {
        let price = |spec: Option<&ServerSpec>| spec.map(|spec| monthly(spec, pricing));
        let (before, after) = (price(before), price(after));
        let mut unknown = None;
        let mut known = |figure: Option<Result<Monthly, String>>| match figure {
            None => Some(None),
            Some(Ok(monthly)) => Some(Some(monthly)),
            Some(Err(why)) => {
                unknown.get_or_insert(why);
                None
            }
        };
        let (before, after) = (known(before), known(after));
        let total = |figure: Option<Monthly>| figure.map_or(0.0, |monthly| monthly.total());
        let monthly_delta = match (before, after) {
            (Some(before), Some(after)) => Some(cents(total(after) - total(before))),
            _ => None,
        };
        let one_time = match (overlap_hours, after) {
            (Some(hours), Some(Some(after))) => Some(cents(after.hourly(pricing) * hours)),
            _ => None,
        };
        ChangeCost {
            monthly_before: before.flatten().map(|monthly| monthly.total()),
            monthly_after: after.flatten().map(|monthly| monthly.total()),
            monthly_delta,
            one_time_basis: overlap_hours.map(|hours| {
                format!(
                    "the new server runs beside the old one while the data is copied: up to {hours} h at the \
                     migration's expected window"
                )
            }),
            one_time,
            unknown,
        }
    }
}

/// A server's time-weighted monthly cost under its timetable. Since plan format 1.4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduledCost {
    pub server: crate::model::ServerName,
    /// The month from the plan's moment, each hour priced at the size in force then; absent
    /// when a size's price is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<f64>,
    /// The month at the base size alone, for comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_unscheduled: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

/// What a server with a timetable costs over the month (`hours_per_month` hours) from `start`:
/// every window of every entry priced at the size it sets, the rest at the base size.
pub fn scheduled(
    server: &crate::config::DesiredServer,
    start: chrono::DateTime<chrono::Utc>,
    pricing: &Pricing,
) -> ScheduledCost {
    let hours = pricing.table.hours_per_month;
    let end = start + chrono::Duration::seconds((hours * 3600.0) as i64);
    let mut unknown = None;
    let mut price = |spec: &ServerSpec| match monthly(spec, pricing) {
        Ok(monthly) => Some(monthly.total()),
        Err(why) => {
            unknown.get_or_insert(why);
            None
        }
    };
    let base = price(&server.base);
    let mut total = base;
    for entry in &server.schedule {
        let mut spec = server.base.clone();
        crate::config::apply_entry(&mut spec, entry);
        let in_force: f64 = entry
            .windows(start, end)
            .iter()
            .map(|(begins, ends)| ((*ends).min(end) - (*begins).max(start)).num_seconds() as f64 / 3600.0)
            .sum();
        total = match (total, base, price(&spec)) {
            (Some(total), Some(base), Some(then)) => Some(total + (then - base) * in_force / hours),
            _ => None,
        };
    }
    ScheduledCost {
        server: server.name.clone(),
        monthly: total.map(cents),
        monthly_unscheduled: base,
        unknown,
    }
}

/// The plan's cost: the managed servers' monthly total before and after it, what it adds, what
/// it costs once, and the prices used. Since plan format 1.4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanCost {
    /// The currency of every figure (`USD`).
    pub currency: String,
    /// The sum of the changes' monthly deltas; absent when one is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_delta: Option<f64>,
    /// What the servers the fleet manages cost a month before the plan; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_before: Option<f64>,
    /// And after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_after: Option<f64>,
    /// The sum of the changes' one-time costs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_time: Option<f64>,
    /// Servers with a timetable, priced hour by hour over the coming month.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduled: Vec<ScheduledCost>,
    /// Why some figure is unknown, once per reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    /// What the figures leave out (backup storage beyond the free amount is billed by use).
    pub excludes: String,
    /// Where the prices come from and when they were read.
    pub source: String,
    pub as_of: String,
    /// The user's price file, when the fleet names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices_file: Option<String>,
    /// The region whose prices the local provider's servers take (`[pricing] location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priced_as: Option<String>,
}

/// What the figures never include.
pub const EXCLUDES: &str = "backup storage beyond the free amount (the provisioned storage), billed by use; \
                            network egress; taxes and discounts";

/// Sums what is known; unknown when any part is.
pub fn sum(parts: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    parts.into_iter().try_fold(0.0, |total, part| part.map(|part| total + part)).map(cents)
}

/// `+$12.30`, `−$4.00`, `$0.00`; `unknown` when absent.
pub fn signed(amount: Option<f64>, currency: &str) -> String {
    match amount {
        None => "unknown".into(),
        Some(amount) if amount.abs() < 0.005 => format!("{}0.00", symbol(currency)),
        Some(amount) if amount > 0.0 => format!("+{}{}", symbol(currency), grouped(amount)),
        Some(amount) => format!("−{}{}", symbol(currency), grouped(-amount)),
    }
}

/// `$1,234.50`; `unknown` when absent.
pub fn amount(amount: Option<f64>, currency: &str) -> String {
    amount.map_or_else(|| "unknown".into(), |amount| format!("{}{}", symbol(currency), grouped(amount)))
}

fn symbol(currency: &str) -> String {
    match currency {
        "USD" => "$".into(),
        "EUR" => "€".into(),
        "GBP" => "£".into(),
        other => format!("{other} "),
    }
}

/// `1234.5` → `1,234.50`.
fn grouped(amount: f64) -> String {
    let text = format!("{amount:.2}");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, "00"));
    let digits: Vec<char> = whole.chars().collect();
    let mut out = String::new();
    for (index, digit) in digits.iter().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(*digit);
    }
    format!("{out}.{fraction}")
}

#[cfg(test)]
mod tests;
