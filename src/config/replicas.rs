//! The replica rules that relate servers to each other: `replica_of` names a server of the
//! fleet, no replica of a replica, no replicas of Basic servers, at most five per primary, a
//! replica at least as large as its primary and sharing its create-only properties. The rules
//! come from `crate::rules`.

use super::finding::{Anchor, Finding, did_you_mean, key_path};
use super::resolve::{ResolvedServer, Sourced, field_finding};
use crate::rules::{self, TierFeature};
use std::collections::BTreeMap;
use std::fmt;

/// Every replica problem of the fleet. `servers` are the resolved servers; `names` every
/// server name in the file (some may not have resolved).
pub(crate) fn check_replicas(servers: &BTreeMap<String, ResolvedServer>, names: &[String]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut replicas_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for replica in servers.values() {
        let Some(primary_name) = &replica.replica_of else { continue };
        let target = primary_name.value.as_str();
        let at = |message: String| field_finding(&replica.name, "replica_of", primary_name, message);
        if target == replica.name {
            findings.push(
                at("a server cannot be a replica of itself".into())
                    .with_hint("remove replica_of, or name another server"),
            );
            continue;
        }
        if !names.iter().any(|name| name == target) {
            let finding = at(format!("there is no server {target:?} in this fleet"));
            findings.push(match did_you_mean(target, names.iter().map(String::as_str)) {
                Some(suggestion) => finding.with_hint(format!("did you mean \"{suggestion}\"?")),
                None => finding.with_hint("replica_of must name a [servers.NAME] table of this file"),
            });
            continue;
        }
        replicas_of.entry(target).or_default().push(&replica.name);
        let Some(primary) = servers.get(target) else { continue };
        findings.extend(check_pair(replica, primary_name, primary));
    }
    for (primary, replicas) in replicas_of {
        if replicas.len() > rules::MAX_REPLICAS_PER_PRIMARY {
            findings.push(
                Finding::error(
                    key_path(&["servers", primary]),
                    Anchor::Key,
                    format!(
                        "has {} replicas ({}); a primary has at most {}",
                        replicas.len(),
                        replicas.join(", "),
                        rules::MAX_REPLICAS_PER_PRIMARY
                    ),
                )
                .with_hint(format!(
                    "remove {} of them, or make some replicas of another primary",
                    replicas.len() - rules::MAX_REPLICAS_PER_PRIMARY
                )),
            );
        }
    }
    findings
}

/// The rules between one replica and its primary.
fn check_pair(replica: &ResolvedServer, link: &Sourced<String>, primary: &ResolvedServer) -> Vec<Finding> {
    let name = replica.name.as_str();
    let mut findings = Vec::new();
    if let Some(grand) = &primary.replica_of {
        findings.push(
            field_finding(
                name,
                "replica_of",
                link,
                format!(
                    "{} is itself a replica (of {}); replicas of replicas are not allowed",
                    primary.name, grand.value
                ),
            )
            .with_hint(format!("make it a replica of {} instead", grand.value)),
        );
    }
    let primary_tier = primary.tier.value;
    if !rules::tier_supports(primary_tier, TierFeature::ReadReplicas) {
        findings.push(
            field_finding(
                name,
                "replica_of",
                link,
                format!(
                    "{} is a {primary_tier} server, and {primary_tier} servers have no replicas",
                    primary.name
                ),
            )
            .with_hint(format!("move {} to GeneralPurpose or MemoryOptimized", primary.name)),
        );
    }
    let tier = replica.tier.value;
    if !rules::tier_supports(tier, TierFeature::ReadReplicas) {
        findings.push(
            field_finding(name, "tier", &replica.tier, format!("a replica cannot be on {tier}"))
                .with_hint("replicas are GeneralPurpose or MemoryOptimized"),
        );
    }
    findings.extend(check_sizes(replica, primary));
    for key in rules::REPLICA_INHERITED_PROPERTIES {
        let finding = match *key {
            "version" => differing(name, key, &replica.version, &primary.version, &primary.name),
            "admin_login" => differing(name, key, &replica.admin_login, &primary.admin_login, &primary.name),
            _ => None,
        };
        findings.extend(finding);
    }
    findings
}

/// A replica has at least its primary's vCores (so at least its max_connections) and storage.
fn check_sizes(replica: &ResolvedServer, primary: &ResolvedServer) -> Vec<Finding> {
    let name = replica.name.as_str();
    let mut findings = Vec::new();
    let primary_vcores = primary.vcores.value;
    if replica.vcores.value < primary_vcores {
        findings.push(
            field_finding(name, "vcores", &replica.vcores, format!("the replica has {} vCores, fewer than its primary {} ({primary_vcores})", replica.vcores.value, primary.name))
                .with_hint(format!("replicas must have at least the primary's vcores ({primary_vcores}); raise it to {primary_vcores} or more")),
        );
    }
    let size = |server: &ResolvedServer| rules::SkuSize {
        tier: server.tier.value,
        generation: server.generation.value,
        vcores: server.vcores.value,
        storage_gb: server.storage_gb.value,
    };
    let both_sold = size(replica).max_connections() > 0 && size(primary).max_connections() > 0;
    if let (true, true, Some(rules::ReplicaShortfall::MaxConnections { primary: wanted, replica: has })) =
        (both_sold, findings.is_empty(), rules::replica_shortfall(size(primary), size(replica)))
    {
        let (tier, vcores) = (primary.tier.value, primary.vcores.value);
        findings.push(
            field_finding(name, "vcores", &replica.vcores, format!("the replica's SKU allows {has} connections, fewer than its primary {} ({tier} with {vcores} vCores: {wanted})", primary.name))
                .with_hint(format!("a replica's max_connections (fixed by its SKU) must be at least its primary's; give {name} the primary's tier ({tier}), or more vCores")),
        );
    }
    let primary_storage = primary.storage_gb.value;
    if replica.storage_gb.value < primary_storage {
        findings.push(
            field_finding(name, "storage_gb", &replica.storage_gb, format!("the replica has {} GB of storage, less than its primary {} ({primary_storage} GB)", replica.storage_gb.value, primary.name))
                .with_hint(format!("replicas must have at least the primary's storage_gb ({primary_storage}); raise it to {primary_storage} or more")),
        );
    }
    findings
}

/// A finding when a replica's create-only property differs from its primary's.
fn differing<T: PartialEq + fmt::Display>(
    name: &str,
    key: &str,
    replica: &Sourced<T>,
    primary: &Sourced<T>,
    primary_name: &str,
) -> Option<Finding> {
    (replica.value != primary.value).then(|| {
        let message = format!(
            "is \"{}\" but its primary {primary_name} has \"{}\"; a replica takes {key} from its primary",
            replica.value, primary.value
        );
        field_finding(name, key, replica, message)
            .with_hint(format!("set {key} = \"{}\" on {name}, as on {primary_name}", primary.value))
    })
}
