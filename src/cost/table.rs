//! The price table: what pgfleet ships (`pricing/azure-postgresql.toml`, with its sources and
//! dates) and what a user's `[pricing] file` replaces, region block by region block.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The table pgfleet ships.
const SHIPPED: &str = include_str!("../../pricing/azure-postgresql.toml");

/// Where the shipped table lives in the repository, for messages and docs.
pub const SHIPPED_PATH: &str = "pricing/azure-postgresql.toml";

/// A price table: pay-as-you-go prices per service and region. A price that is absent is
/// unknown; nothing is derived from another region, size or tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// The currency of every figure (`USD`).
    pub currency: String,
    /// How many hours a month counts (Azure's calculator uses 730).
    pub hours_per_month: f64,
    /// Where the figures come from.
    pub source: String,
    /// When the table was put together.
    pub as_of: String,
    #[serde(default)]
    pub flexible: FlexiblePrices,
    #[serde(default)]
    pub single: SinglePrices,
}

/// Flexible Server's prices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlexiblePrices {
    /// How many times the primary's compute an HA standby adds (1: the same again).
    #[serde(default)]
    pub ha_standby_compute: Option<f64>,
    /// How many times the primary's storage an HA standby adds.
    #[serde(default)]
    pub ha_standby_storage: Option<f64>,
    #[serde(default)]
    pub regions: BTreeMap<String, FlexibleRegion>,
}

/// Flexible Server's prices in one region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlexibleRegion {
    pub source: String,
    pub as_of: String,
    /// Premium SSD, per provisioned GB and month.
    #[serde(default)]
    pub storage_gb_month: Option<f64>,
    /// Per hour, by SKU name (`Standard_B1ms`): sizes priced one by one (Burstable).
    #[serde(default)]
    pub sku_hour: BTreeMap<String, f64>,
    /// Per vCore and hour, by series (`Ddsv5`), as the price list names it.
    #[serde(default)]
    pub vcore_hour: BTreeMap<String, f64>,
    /// Premium SSD v2, per provisioned GiB and month.
    #[serde(default)]
    pub premium_v2_gb_month: Option<f64>,
    /// Premium SSD v2, per IOPS and month beyond the included IOPS.
    #[serde(default)]
    pub premium_v2_iops_month: Option<f64>,
    /// Premium SSD v2, per MB/s and month beyond the included throughput.
    #[serde(default)]
    pub premium_v2_mbps_month: Option<f64>,
    /// Backup storage beyond the free amount (the provisioned storage), per GB and month.
    #[serde(default)]
    pub backup_gb_month: BackupPrices,
}

/// Single Server's prices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinglePrices {
    #[serde(default)]
    pub regions: BTreeMap<String, SingleRegion>,
}

/// Single Server's prices in one region (Gen5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SingleRegion {
    pub source: String,
    pub as_of: String,
    /// Per vCore and hour, by tier.
    #[serde(default)]
    pub vcore_hour: TierPrices,
    /// Per provisioned GB and month, by tier.
    #[serde(default)]
    pub storage_gb_month: TierPrices,
    /// Backup storage beyond the free amount (the provisioned storage), per GB and month.
    #[serde(default)]
    pub backup_gb_month: BackupPrices,
}

/// A price per Single Server tier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierPrices {
    #[serde(default)]
    pub basic: Option<f64>,
    #[serde(default)]
    pub general_purpose: Option<f64>,
    #[serde(default)]
    pub memory_optimized: Option<f64>,
}

/// Backup storage prices by redundancy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupPrices {
    /// Locally redundant.
    #[serde(default)]
    pub lrs: Option<f64>,
    /// Geo-redundant.
    #[serde(default)]
    pub grs: Option<f64>,
}

/// The prices a fleet is planned with.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub table: PriceTable,
    /// The user's file (`[pricing] file`), when the fleet names one.
    pub file: Option<PathBuf>,
    /// `[pricing] location`: the region whose prices the local provider's servers take.
    pub location: Option<String>,
}

impl Default for Pricing {
    fn default() -> Pricing {
        Pricing::shipped()
    }
}

impl Pricing {
    /// The table pgfleet ships, alone.
    pub fn shipped() -> Pricing {
        Pricing { table: shipped_table(), file: None, location: None }
    }

    /// The shipped table with `file`'s region blocks in place of its own (a file in another
    /// currency replaces the whole table), and `location` for local servers.
    ///
    /// # Errors
    /// The file cannot be read, or is not a price table: the message names the line and column.
    pub fn load(file: Option<&Path>, location: Option<String>) -> Result<Pricing, String> {
        let Some(path) = file else { return Ok(Pricing { location, ..Pricing::shipped() }) };
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let theirs = parse(&text).map_err(|error| format!("{}:{error}", path.display()))?;
        Ok(Pricing { table: overlay(shipped_table(), theirs), file: Some(path.to_path_buf()), location })
    }
}

/// The shipped table, parsed once.
fn shipped_table() -> PriceTable {
    static TABLE: std::sync::OnceLock<PriceTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| parse(SHIPPED).expect("the shipped price table parses (tested)")).clone()
}

/// Parses a price table; an error reads `LINE:COLUMN: what is wrong`.
fn parse(text: &str) -> Result<PriceTable, String> {
    let table: PriceTable = toml::from_str(text).map_err(|error| {
        let (line, column) = error.span().map_or((1, 1), |span| line_column(text, span.start));
        format!("{line}:{column}: {}", error.message())
    })?;
    let mut problems = Vec::new();
    if !table.hours_per_month.is_finite() || table.hours_per_month <= 0.0 {
        problems.push("hours_per_month must be more than 0".to_string());
    }
    for (name, price) in prices(&table) {
        if !price.is_finite() || price < 0.0 {
            problems.push(format!("{name} = {price}: a price is a number of at least 0"));
        }
    }
    match problems.is_empty() {
        true => Ok(table),
        false => Err(format!("1:1: {}", problems.join("; "))),
    }
}

/// Every figure of a table, by its key path, to check them.
fn prices(table: &PriceTable) -> Vec<(String, f64)> {
    let mut all = Vec::new();
    let mut push = |name: String, price: Option<f64>| all.extend(price.map(|price| (name, price)));
    push("flexible.ha_standby_compute".into(), table.flexible.ha_standby_compute);
    push("flexible.ha_standby_storage".into(), table.flexible.ha_standby_storage);
    for (region, prices) in &table.flexible.regions {
        let at = format!("flexible.regions.{region}");
        push(format!("{at}.storage_gb_month"), prices.storage_gb_month);
        push(format!("{at}.premium_v2_gb_month"), prices.premium_v2_gb_month);
        push(format!("{at}.premium_v2_iops_month"), prices.premium_v2_iops_month);
        push(format!("{at}.premium_v2_mbps_month"), prices.premium_v2_mbps_month);
        push(format!("{at}.backup_gb_month.lrs"), prices.backup_gb_month.lrs);
        push(format!("{at}.backup_gb_month.grs"), prices.backup_gb_month.grs);
        for (sku, price) in &prices.sku_hour {
            push(format!("{at}.sku_hour.{sku}"), Some(*price));
        }
        for (series, price) in &prices.vcore_hour {
            push(format!("{at}.vcore_hour.{series}"), Some(*price));
        }
    }
    for (region, prices) in &table.single.regions {
        let at = format!("single.regions.{region}");
        for (what, tiers) in
            [("vcore_hour", &prices.vcore_hour), ("storage_gb_month", &prices.storage_gb_month)]
        {
            push(format!("{at}.{what}.basic"), tiers.basic);
            push(format!("{at}.{what}.general_purpose"), tiers.general_purpose);
            push(format!("{at}.{what}.memory_optimized"), tiers.memory_optimized);
        }
        push(format!("{at}.backup_gb_month.lrs"), prices.backup_gb_month.lrs);
        push(format!("{at}.backup_gb_month.grs"), prices.backup_gb_month.grs);
    }
    all
}

/// The 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    (line, column)
}

/// `theirs` over `ours`: their region blocks replace ours; their HA factors, hours, source and
/// date are the table's. In another currency, theirs is the whole table.
fn overlay(ours: PriceTable, theirs: PriceTable) -> PriceTable {
    if theirs.currency != ours.currency {
        return theirs;
    }
    let mut table = ours;
    table.hours_per_month = theirs.hours_per_month;
    table.source = format!("{}; other regions: {}", theirs.source, table.source);
    table.as_of = theirs.as_of;
    table.flexible.ha_standby_compute =
        theirs.flexible.ha_standby_compute.or(table.flexible.ha_standby_compute);
    table.flexible.ha_standby_storage =
        theirs.flexible.ha_standby_storage.or(table.flexible.ha_standby_storage);
    table.flexible.regions.extend(theirs.flexible.regions);
    table.single.regions.extend(theirs.single.regions);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_dates_every_block() {
        let table = shipped_table();
        assert_eq!((table.currency.as_str(), table.hours_per_month), ("USD", 730.0));
        assert!(!table.flexible.regions.is_empty() && !table.single.regions.is_empty());
        for region in table.flexible.regions.values() {
            assert!(region.source.contains("Retail Prices API") && region.as_of.len() == 10, "{region:?}");
        }
        for region in table.single.regions.values() {
            assert!(region.source.contains("Retail Prices API") && region.as_of.len() == 10, "{region:?}");
        }
    }

    #[test]
    fn a_broken_file_names_line_and_column() {
        let error =
            parse("currency = \"USD\"\nhours_per_month = 730\nsource = \"x\"\nas_of = \"d\"\nsurprise = 1\n")
                .unwrap_err();
        assert!(error.starts_with("5:1:"), "{error}");
        assert!(error.contains("surprise"), "{error}");
        let negative = "currency = \"USD\"\nhours_per_month = 730\nsource = \"x\"\nas_of = \"d\"\n\
                        [single.regions.x]\nsource = \"s\"\nas_of = \"d\"\nvcore_hour = { basic = -1.0 }\n";
        assert!(parse(negative).unwrap_err().contains("single.regions.x.vcore_hour.basic = -1"));
    }

    #[test]
    fn their_blocks_replace_ours_in_the_same_currency_and_everything_otherwise() {
        let theirs = parse(
            "currency = \"USD\"\nhours_per_month = 730\nsource = \"our contract\"\nas_of = \"2026-11-01\"\n\
             [flexible.regions.eastus]\nsource = \"contract\"\nas_of = \"2026-11-01\"\nvcore_hour = { Ddsv5 = 0.05 }\n",
        )
        .unwrap();
        let table = overlay(shipped_table(), theirs.clone());
        assert_eq!(table.flexible.regions["eastus"].vcore_hour["Ddsv5"], 0.05);
        assert_eq!(table.flexible.regions["eastus"].storage_gb_month, None, "the whole block is theirs");
        assert!(table.flexible.regions.contains_key("westus"));
        assert!(table.source.starts_with("our contract"));
        let euros = PriceTable { currency: "EUR".into(), ..theirs };
        let table = overlay(shipped_table(), euros);
        assert!(!table.flexible.regions.contains_key("westus") && table.single.regions.is_empty());
    }
}
