//! The ranges the validator enforces, written into the published fleet schema so that an editor
//! refuses `vcores = 0` or `storage_gb = 2` as `pgfleet validate` does. Every number is read from
//! [`crate::rules`] (the SKU catalog, storage limits and sizes, retention, the maintenance
//! window, the local provider's ports), so schema and validator cannot drift; where a range
//! depends on another key of the same table (vCores on `tier` and `generation`, storage on
//! `tier`, `service` and `storage_type`), it is an `if`/`then` on that key. Structural checking
//! does not read these: the rules report them with their own messages and hints.

use crate::rules::{self, Generation, Tier};
use serde_json::{Map, Value, json};
use std::ops::RangeInclusive;

/// Adds the rules' ranges to every table of the schema that has the keys they bound (a
/// server, `[defaults]`, a timetable entry, `[provider.local]`, a maintenance window).
pub(super) fn add_rule_ranges(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else { return };
    // Inner tables first: the conditions added here are not walked again.
    for child in object.values_mut() {
        match child {
            Value::Object(_) => add_rule_ranges(child),
            Value::Array(items) => items.iter_mut().for_each(add_rule_ranges),
            _ => {}
        }
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        bound(properties, "vcores", json!(offered_vcores(|_| true)));
        bound_range(properties, "backup_retention_days", &rules::RETENTION_DAYS);
        bound_range(properties, "port_base", &rules::LOCAL_PORTS);
        bound_range(properties, "iops", &rules::PREMIUM_V2_IOPS);
        bound_range(properties, "throughput", &rules::PREMIUM_V2_THROUGHPUT);
        bound_range(properties, "hour", &rules::MAINTENANCE_HOURS);
        bound_range(properties, "minute", &rules::MAINTENANCE_MINUTES);
        bound_range(properties, "storage_gb", &storage_bounds());
        let conditions = conditions(properties);
        if !conditions.is_empty() {
            object.insert("allOf".into(), Value::Array(conditions));
        }
    }
}

/// Sets `enum` on `key` when the table has it.
fn bound(properties: &mut Map<String, Value>, key: &str, options: Value) {
    if let Some(Value::Object(schema)) = properties.get_mut(key) {
        schema.remove("minimum");
        schema.remove("maximum");
        schema.insert("enum".into(), options);
    }
}

/// Sets `minimum` and `maximum` on `key` when the table has it.
fn bound_range(properties: &mut Map<String, Value>, key: &str, range: &RangeInclusive<u32>) {
    if let Some(Value::Object(schema)) = properties.get_mut(key) {
        schema.insert("minimum".into(), (*range.start()).into());
        schema.insert("maximum".into(), (*range.end()).into());
    }
}

/// The vCore counts the catalog sells for the tiers and generations `offered` picks, ascending.
fn offered_vcores(offered: impl Fn(&rules::SkuInfo) -> bool) -> Vec<u32> {
    let mut vcores: Vec<u32> =
        rules::SKU_CATALOG.iter().filter(|sku| offered(sku)).map(|sku| sku.vcores).collect();
    vcores.sort_unstable();
    vcores.dedup();
    vcores
}

/// The smallest and largest storage any server may have (both services, both disk types).
fn storage_bounds() -> RangeInclusive<u32> {
    let single = Tier::ALL.map(rules::storage_limits);
    let sizes = rules::PREMIUM_SSD_SIZES_GB.iter().copied();
    let smallest = single
        .iter()
        .map(|limits| limits.min_gb)
        .chain(sizes.clone())
        .chain([*rules::PREMIUM_V2_SIZE_GB.start()]);
    let largest =
        single.iter().map(|limits| limits.max_gb).chain(sizes).chain([*rules::PREMIUM_V2_SIZE_GB.end()]);
    smallest.min().unwrap_or(0)..=largest.max().unwrap_or(u32::MAX)
}

/// `if`/`then` pairs for the ranges that depend on another key of the same table.
fn conditions(properties: &Map<String, Value>) -> Vec<Value> {
    let has = |key: &str| properties.contains_key(key);
    let when = |keys: Value, required: &[&str], then: Value| json!({ "if": { "properties": keys, "required": required }, "then": { "properties": then } });
    let mut conditions = Vec::new();
    if has("tier") && has("vcores") {
        for tier in Tier::ALL {
            let vcores = offered_vcores(|sku| sku.tier == tier);
            conditions.push(when(
                json!({ "tier": { "const": tier.as_str() } }),
                &["tier"],
                json!({ "vcores": { "enum": vcores } }),
            ));
            if !has("generation") {
                continue;
            }
            for generation in [Generation::Gen4, Generation::Gen5] {
                let vcores = rules::valid_vcores(tier, generation);
                let keys = json!({ "tier": { "const": tier.as_str() }, "generation": { "const": generation.as_str() } });
                // A generation the tier does not offer (Gen4 on Memory Optimized) has no size.
                let then = if vcores.is_empty() {
                    json!({ "vcores": false })
                } else {
                    json!({ "vcores": { "enum": vcores } })
                };
                conditions.push(when(keys, &["tier", "generation"], then));
            }
        }
    }
    if has("tier") && has("storage_gb") {
        for tier in Tier::ALL {
            let limits = rules::storage_limits(tier);
            let then = json!({ "storage_gb": { "minimum": limits.min_gb, "maximum": limits.max_gb } });
            conditions.push(when(json!({ "tier": { "const": tier.as_str() } }), &["tier"], then));
        }
    }
    if has("service") && has("storage_type") && has("storage_gb") {
        let flexible = rules::Service::Flexible.as_str();
        let premium = json!({ "service": { "const": flexible }, "storage_type": { "const": rules::StorageType::Premium.as_str() } });
        conditions.push(when(
            premium,
            &["service"],
            json!({ "storage_gb": { "enum": rules::PREMIUM_SSD_SIZES_GB } }),
        ));
        let v2 = json!({ "service": { "const": flexible }, "storage_type": { "const": rules::StorageType::PremiumV2.as_str() } });
        let range = &rules::PREMIUM_V2_SIZE_GB;
        conditions.push(when(
            v2,
            &["service", "storage_type"],
            json!({ "storage_gb": { "minimum": range.start(), "maximum": range.end() } }),
        ));
    }
    conditions
}
