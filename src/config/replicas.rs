//! The rules that relate servers to each other. What only the file can get wrong is checked
//! here: `replica_of` names a server of the fleet, and not the replica itself. The service's
//! replica rules (no replica of a replica, none of or on Basic, at most five per primary, a
//! replica at least as large as its primary and sharing its create-only properties) are asked
//! of `rules::check::replica_problems`, and each refusal is reported where its key is written.

use super::finding::{Anchor, Finding, did_you_mean, key_path};
use super::resolve::{ResolvedServer, field_finding};
use super::validate::refusal_finding;
use crate::rules::check::{self, PrimaryFacts};
use crate::rules::{self, Key, Refusal, Rule, Shape};
use std::collections::BTreeMap;

/// Every replica problem of the fleet. `servers` are the resolved servers; `names` every
/// server name in the file (some may not have resolved); `default_location` the provider's.
pub(crate) fn check_replicas(
    servers: &BTreeMap<String, ResolvedServer>,
    names: &[String],
    default_location: &str,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut replicas_of: BTreeMap<&str, Vec<&ResolvedServer>> = BTreeMap::new();
    let named: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
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
        if !named.contains(target) {
            let finding = at(format!("there is no server {target:?} in this fleet"));
            findings.push(match did_you_mean(target, names.iter().map(String::as_str)) {
                Some(suggestion) => finding.with_hint(format!("did you mean \"{suggestion}\"?")),
                None => finding.with_hint("replica_of must name a [servers.NAME] table of this file"),
            });
            continue;
        }
        replicas_of.entry(target).or_default().push(replica);
    }
    for (primary_name, replicas) in replicas_of {
        // A primary whose table did not resolve has its own errors; its replicas wait for it.
        let Some(primary) = servers.get(primary_name) else { continue };
        findings.extend(check_replication_set(primary, &replicas, default_location));
    }
    findings
}

/// One primary and the replicas the file gives it, in name order. Each replica is judged as if
/// created after the ones before it, so the rules refuse exactly the replicas past the limit;
/// those are reported once, on the primary.
fn check_replication_set(
    primary: &ResolvedServer,
    replicas: &[&ResolvedServer],
    default_location: &str,
) -> Vec<Finding> {
    let primary_shape = primary.shape(default_location);
    let mut findings = Vec::new();
    let mut refused_for_count = Vec::new();
    for (before, replica) in replicas.iter().enumerate() {
        let shape = replica.shape(default_location);
        let facts = PrimaryFacts { shape: primary_shape, replication_support: None, other_replicas: before };
        // A SKU the service does not sell has no connection limit to compare: its own finding
        // says what is wrong, and a size comparison with it would only repeat it.
        let unsold = not_sold(&shape) || not_sold(&primary_shape);
        for refusal in check::replica_problems(&shape, &facts) {
            match (refusal.rule, refusal.key) {
                (Rule::TooManyReplicas, _) => refused_for_count.push(replica.name.as_str()),
                (Rule::ReplicaSmallerThanPrimary, Key::Vcores) if unsold => {}
                _ => findings.push(refusal_finding(replica, refusal)),
            }
        }
        findings.extend(parameter_floor(primary, replica));
        findings.extend(scheduled_sizes(primary, replica, default_location));
    }
    if !refused_for_count.is_empty() {
        let names: Vec<&str> = replicas.iter().map(|replica| replica.name.as_str()).collect();
        findings.push(
            Finding::error(
                key_path(&["servers", &primary.name]),
                Anchor::Key,
                format!(
                    "has {} replicas ({}); a primary has at most {}",
                    replicas.len(),
                    names.join(", "),
                    rules::MAX_REPLICAS_PER_PRIMARY
                ),
            )
            .with_hint(format!(
                "remove {} of them (for example {}), or make some replicas of another primary",
                refused_for_count.len(),
                refused_for_count.join(", ")
            ))
            .with_rule(Rule::TooManyReplicas),
        );
    }
    findings
}

/// A replica's parameters in force (its primary's, overridden by the ones its own table sets)
/// must not fall below its primary's where the standby needs as much (`max_connections` …); the
/// problem is reported at the replica's own value.
fn parameter_floor(primary: &ResolvedServer, replica: &ResolvedServer) -> Option<Finding> {
    let service = replica.service.value;
    let text = |server: &ResolvedServer| -> BTreeMap<String, String> {
        server
            .parameters
            .iter()
            .filter_map(|(name, value)| {
                Some((
                    rules::parameter_name(service, name)?.to_string(),
                    rules::parameter_value(service, name, &value.value).ok()?,
                ))
            })
            .collect()
    };
    let theirs = text(primary);
    let mut ours = theirs.clone();
    let own: BTreeMap<String, String> = text(replica)
        .into_iter()
        .filter(|(name, _)| {
            replica.parameters.iter().any(|(written, value)| {
                written.eq_ignore_ascii_case(name) && value.origin == super::resolve::Origin::Server
            })
        })
        .collect();
    ours.extend(own);
    let sku =
        |server: &ResolvedServer| server.flexible.as_ref().map(|f| f.sku.value.clone()).unwrap_or_default();
    let below = rules::replica_parameters_below(service, (&theirs, &sku(primary)), (&ours, &sku(replica)));
    let refusal = rules::replica_parameter_refusal(&replica.name, &primary.name, &below)?;
    let (name, _, _) = below.first()?;
    let written = replica
        .parameters
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string());
    Some(
        Finding::error(
            key_path(&["servers", &replica.name, Key::Parameters.as_str(), &written]),
            Anchor::Value,
            refusal.message,
        )
        .with_hint(refusal.hint)
        .with_rule(refusal.rule),
    )
}

/// Under the timetables of a primary and its replica, the replica is never smaller than the
/// primary: judged at every moment either changes (over a year and a week, so both
/// daylight-saving changes meet every weekday), and reported at the first moment it would be.
fn scheduled_sizes(
    primary: &ResolvedServer,
    replica: &ResolvedServer,
    default_location: &str,
) -> Option<Finding> {
    use super::validate::{during, timetable};
    if primary.schedule.is_empty() && replica.schedule.is_empty() {
        return None;
    }
    let (primary_entries, replica_entries) = (timetable(primary), timetable(replica));
    let all: Vec<&crate::schedule::Entry> = primary_entries.iter().chain(&replica_entries).collect();
    let (start, end) = crate::schedule::checked_span();
    for moment in crate::schedule::boundaries(&all, start, end) {
        let at = |server: &ResolvedServer, entries: &[crate::schedule::Entry]| match crate::schedule::in_force(
            entries, moment,
        ) {
            Some(entry) => during(server, entry),
            None => server.clone(),
        };
        let (primary_then, replica_then) = (at(primary, &primary_entries), at(replica, &replica_entries));
        let facts = PrimaryFacts {
            shape: primary_then.shape(default_location),
            replication_support: None,
            other_replicas: 0,
        };
        let problem = check::replica_problems(&replica_then.shape(default_location), &facts)
            .into_iter()
            .find(|refusal| matches!(refusal.rule, Rule::ReplicaSmallerThanPrimary));
        if let Some(refusal) = problem {
            let (owner, written) = if replica.schedule.is_empty() {
                (primary, &primary_entries)
            } else {
                (replica, &replica_entries)
            };
            let entry = crate::schedule::in_force(written, moment).map_or(0, |entry| entry.index);
            return Some(
                Finding::error(
                    key_path(&["servers", &owner.name, "schedule", &entry.to_string()]),
                    Anchor::Key,
                    format!(
                        "at {} UTC under the timetables: {}",
                        moment.format("%a %Y-%m-%d %H:%M"),
                        refusal.message
                    ),
                )
                .with_hint(format!("schedule {} to grow with (or before) {}", replica.name, primary.name))
                .with_rule(refusal.rule),
            );
        }
    }
    None
}

fn not_sold(server: &Shape) -> bool {
    check::server_problems(server).iter().any(|refusal: &Refusal| refusal.rule == Rule::SkuNotOffered)
}
