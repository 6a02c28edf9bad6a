//! The service's rules, checked against the resolved fleet through `rules::check` (each
//! [`Refusal`] becomes a finding at the key it names), and what is the validator's own: the fleet
//! name and the provider section. No rule is written down again here. Only what the file alone
//! can tell is checked: nothing here looks at live servers or state.

use super::finding::{Anchor, Finding, key_path};
use super::model::{AzureSettings, LocalSettings, ProviderSettings};
use super::raw::{self, ProviderKind, RawFleet, RawProvider, RawServer};
use super::resolve::{Origin, ResolvedServer, finding_at};
use crate::rules::{Key, Refusal, Rule, check};
use std::path::{Path, PathBuf};

/// `[fleet]`: the name becomes a file name (`state/NAME.state.json`), so it must be one.
pub(crate) fn check_fleet(fleet: &RawFleet) -> Vec<Finding> {
    let name = &fleet.name;
    let bad = name.is_empty()
        || name.starts_with('.')
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if bad {
        let finding = Finding::error(
            key_path(&["fleet", "name"]),
            Anchor::Value,
            format!("{name:?} cannot name a state file"),
        )
        .with_hint("use letters, digits, '-', '_' and '.', not starting with '.' (for example \"payments\")");
        vec![finding]
    } else {
        Vec::new()
    }
}

/// The provider section of the chosen kind, with its defaults filled in.
/// `fleet_dir` is the fleet file's directory: a relative path the file writes is relative to
/// it (as a password file's is); a default the file does not write stays relative to the
/// working directory.
pub(crate) fn check_provider(
    provider: &RawProvider,
    fleet_dir: &Path,
) -> Result<ProviderSettings, Vec<Finding>> {
    match provider.kind {
        ProviderKind::Local => check_local(provider.local.as_ref(), fleet_dir),
        ProviderKind::Azure => check_azure(provider.azure.as_ref()),
    }
}

/// `[pricing]`: the price table plans use. A file that cannot be read or is not a price table is
/// an error at `pricing.file`; a location the table has no prices for is a warning (the
/// figures would all be unknown).
pub(crate) fn check_pricing(
    pricing: Option<&raw::RawPricing>,
    fleet_dir: &Path,
) -> (Option<crate::cost::Pricing>, Vec<Finding>) {
    let file = pricing.and_then(|pricing| pricing.file.as_ref()).map(|file| match file.is_relative() {
        true => fleet_dir.join(file),
        false => file.clone(),
    });
    let location = pricing.and_then(|pricing| pricing.location.clone());
    if location
        .as_deref()
        .is_some_and(|location| location.trim().is_empty() || location == crate::model::LOCAL_LOCATION)
    {
        let finding = Finding::error(
            key_path(&["pricing", "location"]),
            Anchor::Value,
            "does not name an Azure region",
        )
        .with_hint("name the region whose prices local servers take, for example \"eastus\"");
        return (None, vec![finding]);
    }
    let loaded = match crate::cost::Pricing::load(file.as_deref(), location.clone()) {
        Ok(loaded) => loaded,
        Err(problem) => {
            let finding =
                Finding::error(key_path(&["pricing", "file"]), Anchor::Value, problem).with_hint(format!(
                    "write it in the format of {} (currency, hours_per_month, source, as_of, then \
                 [flexible.regions.REGION] and [single.regions.REGION] blocks)",
                    crate::cost::SHIPPED_PATH
                ));
            return (None, vec![finding]);
        }
    };
    let mut regions: Vec<&String> =
        loaded.table.flexible.regions.keys().chain(loaded.table.single.regions.keys()).collect();
    regions.sort();
    regions.dedup();
    let findings = match &location {
        Some(location) if !regions.contains(&location) => vec![
            Finding::error(
                key_path(&["pricing", "location"]),
                Anchor::Value,
                format!("the price table has no prices for {location}: every figure would be unknown"),
            )
            .with_hint(format!(
                "name a region the table prices ({}) or add it with [pricing] file",
                regions.iter().map(|region| region.as_str()).collect::<Vec<_>>().join(", ")
            ))
            .warning(),
        ],
        _ => Vec::new(),
    };
    (Some(loaded), findings)
}

/// `[provider.local]`, optional as a whole.
fn check_local(local: Option<&raw::RawLocal>, fleet_dir: &Path) -> Result<ProviderSettings, Vec<Finding>> {
    let local = local.cloned().unwrap_or(raw::RawLocal { root: None, port_base: None });
    let port_base = local.port_base.unwrap_or(u32::from(raw::DEFAULT_PORT_BASE));
    let root = match local.root {
        Some(written) if written.is_relative() && !written.as_os_str().is_empty() => fleet_dir.join(written),
        Some(written) => written,
        None => PathBuf::from(raw::DEFAULT_LOCAL_ROOT),
    };
    let mut findings = Vec::new();
    let ports = crate::rules::LOCAL_PORTS;
    let port = Some(port_base).filter(|port| ports.contains(port)).and_then(|port| u16::try_from(port).ok());
    if port.is_none() {
        findings.push(
            Finding::error(
                key_path(&["provider", "local", "port_base"]),
                Anchor::Value,
                format!("port {port_base} cannot be used"),
            )
            .with_hint(format!(
                "choose a port from {} to {} (ports below {} need root)",
                ports.start(),
                ports.end(),
                ports.start()
            )),
        );
    }
    if root.as_os_str().is_empty() {
        findings.push(
            Finding::error(key_path(&["provider", "local", "root"]), Anchor::Value, "is empty")
                .with_hint("name a directory, for example \"state/local\""),
        );
    }
    match port {
        Some(port_base) if findings.is_empty() => {
            Ok(ProviderSettings::Local(LocalSettings { root, port_base }))
        }
        _ => Err(findings),
    }
}

/// `[provider.azure]`, required when `kind = "azure"`.
fn check_azure(azure: Option<&raw::RawAzure>) -> Result<ProviderSettings, Vec<Finding>> {
    let Some(azure) = azure else {
        return Err(vec![
            Finding::error(
                key_path(&["provider", "kind"]),
                Anchor::Value,
                "kind is \"azure\" but there is no [provider.azure] table",
            )
            .with_path("provider.azure".into())
            .with_hint("add [provider.azure] with subscription_id, resource_group and location"),
        ]);
    };
    let mut findings = Vec::new();
    for (key, value) in [
        ("subscription_id", &azure.subscription_id),
        ("resource_group", &azure.resource_group),
        ("location", &azure.location),
    ] {
        if value.trim().is_empty() {
            findings.push(Finding::error(key_path(&["provider", "azure", key]), Anchor::Value, "is empty"));
        }
    }
    let endpoint = azure.endpoint.clone().unwrap_or_else(|| raw::DEFAULT_AZURE_ENDPOINT.to_string());
    let host = endpoint.strip_prefix("https://").or_else(|| endpoint.strip_prefix("http://"));
    if host.is_none_or(|host| host.is_empty() || host.starts_with('/')) {
        findings.push(
            Finding::error(
                key_path(&["provider", "azure", "endpoint"]),
                Anchor::Value,
                format!("{endpoint:?} is not an http(s) URL"),
            )
            .with_hint(format!(
                "for example \"{}\" or \"http://127.0.0.1:8443\" for the emulator",
                raw::DEFAULT_AZURE_ENDPOINT
            )),
        );
    }
    if !findings.is_empty() {
        return Err(findings);
    }
    Ok(ProviderSettings::Azure(AzureSettings {
        subscription_id: azure.subscription_id.clone(),
        resource_group: azure.resource_group.clone(),
        location: azure.location.clone(),
        endpoint,
    }))
}

/// `[defaults]` may hold every server key but `replica_of`: a fleet of replicas of one server
/// would include that server itself. Its tags are judged once, where they are written.
pub(crate) fn check_defaults(defaults: &RawServer) -> Vec<Finding> {
    let mut findings = Vec::new();
    if defaults.replica_of.is_some() {
        findings.push(
            Finding::error(
                key_path(&["defaults", "replica_of"]),
                Anchor::Key,
                "replica_of cannot be a default",
            )
            .with_hint("set replica_of in each replica's [servers.NAME] table"),
        );
    }
    for tag in defaults.tags.iter().flat_map(|tags| tags.keys()) {
        for refusal in check::tag_problems([tag.as_str()]) {
            let at = key_path(&["defaults", refusal.key.as_str(), tag]);
            findings.push(Finding::error(at, Anchor::Key, refusal.message).with_hint(refusal.hint));
        }
    }
    if defaults.schedule.is_some() {
        findings.push(
            Finding::error(key_path(&["defaults", "schedule"]), Anchor::Key, "schedule cannot be a default")
                .with_hint("give each server its own [[servers.NAME.schedule]] entries"),
        );
    }
    // What servers carry, judged once here against the service `[defaults]` names.
    let service = defaults.service.unwrap_or_default();
    let parameters: Vec<(&String, String)> =
        defaults.parameters.iter().flatten().map(|(name, value)| (name, value.text())).collect();
    let firewall: Vec<(&String, &String)> = defaults.firewall_rules.iter().flatten().collect();
    let databases: Vec<&String> = defaults.databases.iter().flat_map(|d| d.keys()).collect();
    findings.extend(carried_findings(&["defaults"], service, &parameters, &firewall, &databases));
    findings
}

/// The problems of parameters, firewall rules and databases written in one table (`owner`:
/// `["defaults"]` or `["servers", NAME]`), each reported where it is written.
fn carried_findings(
    owner: &[&str],
    service: crate::rules::Service,
    parameters: &[(&String, String)],
    firewall_rules: &[(&String, &String)],
    databases: &[&String],
) -> Vec<Finding> {
    let at = |key: Key, name: &str, anchor: Anchor, refusal: Refusal| {
        let mut path: Vec<&str> = owner.to_vec();
        path.extend([key.as_str(), name]);
        Finding::error(key_path(&path), anchor, refusal.message)
            .with_hint(refusal.hint)
            .with_rule(refusal.rule)
    };
    let mut findings = Vec::new();
    for (name, value) in parameters {
        if let Err(refusal) = crate::rules::parameter_value(service, name, value) {
            let anchor =
                if refusal.rule == Rule::InvalidParameterValue { Anchor::Value } else { Anchor::Key };
            findings.push(at(Key::Parameters, name, anchor, refusal));
        }
    }
    for (name, range) in firewall_rules {
        if let Some(refusal) = crate::rules::firewall_rule_name_problem(name) {
            findings.push(at(Key::FirewallRules, name, Anchor::Key, refusal));
        } else if let Err(refusal) = crate::rules::firewall_range(name, range) {
            findings.push(at(Key::FirewallRules, name, Anchor::Value, refusal));
        }
    }
    for name in databases {
        if let Some(refusal) = crate::rules::database_name_problem(name) {
            findings.push(at(Key::Databases, name, Anchor::Key, refusal));
        }
    }
    findings
}

/// The rules one server must meet on its own, as `rules::check` states them: name, admin
/// login, SKU, storage, retention, geo-redundant backup, TLS, reserved tags; a retired version
/// is a warning (servers already on it keep running). `default_location` is the provider's.
pub(crate) fn check_server(server: &ResolvedServer, default_location: &str) -> Vec<Finding> {
    let shape = server.shape(default_location);
    let mut findings: Vec<Finding> =
        check::server_problems(&shape).into_iter().map(|refusal| refusal_finding(server, refusal)).collect();
    if let Some(refusal) = check::new_server_version_problem(&shape) {
        findings.push(refusal_finding(server, refusal).warning());
    }
    // Tags from `[defaults]` are reported once, by `check_defaults`.
    let own_tags = server.tags.iter().filter(|(_, tag)| tag.origin == Origin::Server);
    for (tag, _) in own_tags {
        for refusal in check::tag_problems([tag.as_str()]) {
            let at = key_path(&["servers", &server.name, refusal.key.as_str(), tag]);
            findings.push(Finding::error(at, Anchor::Key, refusal.message).with_hint(refusal.hint));
        }
    }
    // So are parameters, firewall rules and databases from `[defaults]`.
    let own = |origin: Origin| origin == Origin::Server;
    let parameters: Vec<(&String, String)> =
        server.parameters.iter().filter(|(_, v)| own(v.origin)).map(|(n, v)| (n, v.value.clone())).collect();
    let firewall: Vec<(&String, &String)> =
        server.firewall_rules.iter().filter(|(_, v)| own(v.origin)).map(|(n, v)| (n, &v.value)).collect();
    let databases: Vec<&String> =
        server.databases.iter().filter(|(_, v)| own(v.origin)).map(|(n, _)| n).collect();
    let owner = ["servers", server.name.as_str()];
    findings.extend(carried_findings(&owner, server.service.value, &parameters, &firewall, &databases));
    findings.extend(check_schedule(server, default_location));
    if let Some(primary) = &server.replica_of {
        for database in &databases {
            let refusal = crate::rules::database_on_replica(&server.name, database, &primary.value);
            let at = key_path(&["servers", &server.name, Key::Databases.as_str(), database]);
            findings.push(
                Finding::error(at, Anchor::Key, refusal.message)
                    .with_hint(refusal.hint)
                    .with_rule(refusal.rule),
            );
        }
    }
    findings
}

/// A refusal as a finding where the key it is about is written: the server's own key, the
/// `[defaults]` key it inherits, or its header (for its name and for pgfleet's defaults).
pub(crate) fn refusal_finding(server: &ResolvedServer, mut refusal: Refusal) -> Finding {
    if server.flexible.is_some() && matches!(refusal.key, Key::Tier | Key::Vcores) {
        // A flexible server's tier and vCores are its SKU's: the finding points at `sku`.
        refusal.key = Key::Sku;
    }
    if let (Rule::SkuNotOffered, Key::Sku, Some(flexible)) = (refusal.rule, refusal.key, &server.flexible) {
        let names = crate::rules::flexible_skus().iter().map(|sku| sku.name);
        if let Some(suggestion) = super::finding::did_you_mean(&flexible.sku.value, names) {
            refusal.hint = format!("did you mean \"{suggestion}\"? {}", refusal.hint);
        }
    }
    let finding = match refusal.key {
        Key::Name => Finding::error(key_path(&["servers", &server.name]), Anchor::Key, refusal.message),
        key => finding_at(&server.name, key.as_str(), server.origin(key), refusal.message),
    };
    finding.with_hint(refusal.hint).with_rule(refusal.rule)
}

/// A server's timetable entries, read (entries with a problem are left out: the validator
/// reports them).
pub(crate) fn timetable(server: &ResolvedServer) -> Vec<crate::schedule::Entry> {
    server.schedule.iter().enumerate().filter_map(|(index, raw)| entry_of(server, index, raw).ok()).collect()
}

/// One raw entry as a timetable entry, or the findings that stop it.
fn entry_of(
    server: &ResolvedServer,
    index: usize,
    raw: &raw::RawScheduleEntry,
) -> Result<crate::schedule::Entry, Vec<Finding>> {
    use crate::schedule::{self, Scheduled};
    let position = index.to_string();
    let at = |field: &str| key_path(&["servers", &server.name, "schedule", &position, field]);
    let mut findings = Vec::new();
    let mut read = |field: &str, result: Result<(), String>| {
        if let Err(problem) = result {
            findings.push(Finding::error(at(field), Anchor::Value, problem));
        }
    };
    let days = schedule::parse_days(&raw.days);
    read("days", days.as_ref().map(drop).map_err(Clone::clone));
    let from = schedule::parse_time(&raw.from);
    read("from", from.as_ref().map(drop).map_err(Clone::clone));
    let to = schedule::parse_time(&raw.to);
    read("to", to.as_ref().map(drop).map_err(Clone::clone));
    let timezone = schedule::parse_timezone(&raw.timezone);
    read("timezone", timezone.as_ref().map(drop).map_err(Clone::clone));
    let service = server.service.value;
    let set = match (service, &raw.sku, raw.vcores) {
        (crate::rules::Service::Flexible, Some(sku), None) => Some(Scheduled::Sku(sku.clone())),
        (crate::rules::Service::Single, None, Some(vcores)) => Some(Scheduled::Vcores(vcores)),
        (_, sku, vcores) => {
            let (wrong, right) = match service {
                crate::rules::Service::Flexible => ("vcores", "sku"),
                crate::rules::Service::Single => ("sku", "vcores"),
            };
            let written_wrong = if wrong == "sku" { sku.is_some() } else { vcores.is_some() };
            let finding = if written_wrong {
                Finding::error(
                    at(wrong),
                    Anchor::Key,
                    format!("{wrong} is not schedulable on a {} server", service.as_str()),
                )
            } else {
                Finding::error(
                    key_path(&["servers", &server.name, "schedule", &position]),
                    Anchor::Key,
                    format!(
                        "this entry sets nothing: a {} server's schedulable key is {right}",
                        service.as_str()
                    ),
                )
            };
            findings.push(
                finding.with_hint(format!("a {} server's timetable sets {right} only", service.as_str())),
            );
            None
        }
    };
    let (Ok(days), Ok(from), Ok(to), Ok(timezone), Some(set)) = (days, from, to, timezone, set) else {
        return Err(findings);
    };
    if !findings.is_empty() {
        return Err(findings);
    }
    Ok(crate::schedule::Entry { index, days, from, to, timezone, set })
}

/// The server as it is while `entry` is in force.
pub(crate) fn during(server: &ResolvedServer, entry: &crate::schedule::Entry) -> ResolvedServer {
    let mut during = server.clone();
    match (&entry.set, during.flexible.as_mut()) {
        (crate::schedule::Scheduled::Sku(sku), Some(flexible)) => {
            flexible.sku.value = sku.clone();
            if let Some(known) = crate::rules::flexible_sku(sku) {
                during.tier.value = known.tier;
                during.vcores.value = known.vcores;
            }
        }
        (crate::schedule::Scheduled::Vcores(vcores), None) => during.vcores.value = *vcores,
        _ => {}
    }
    during
}

/// Each entry's values judged by the rules as the server's own would be, and no two entries
/// in force at once.
fn check_schedule(server: &ResolvedServer, default_location: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut entries = Vec::new();
    for (index, raw) in server.schedule.iter().enumerate() {
        match entry_of(server, index, raw) {
            Ok(entry) => entries.push(entry),
            Err(problems) => findings.extend(problems),
        }
    }
    for entry in &entries {
        let during = during(server, entry);
        let key = match entry.set {
            crate::schedule::Scheduled::Sku(_) => "sku",
            crate::schedule::Scheduled::Vcores(_) => "vcores",
        };
        for refusal in check::server_problems(&during.shape(default_location)) {
            if matches!(refusal.key, Key::Sku | Key::Vcores | Key::Tier) {
                let at = key_path(&["servers", &server.name, "schedule", &entry.index.to_string(), key]);
                findings.push(
                    Finding::error(
                        at,
                        Anchor::Value,
                        format!("while {} is in force: {}", entry.describe(), refusal.message),
                    )
                    .with_hint(refusal.hint)
                    .with_rule(refusal.rule),
                );
            }
        }
    }
    if let Some((first, second, moment)) = crate::schedule::overlap(&entries) {
        let at = key_path(&["servers", &server.name, "schedule", &second.index.to_string()]);
        findings.push(
            Finding::error(
                at,
                Anchor::Key,
                format!(
                    "overlaps entry {} ({}): both are in force at {} UTC",
                    first.index + 1,
                    first.describe(),
                    moment.format("%a %Y-%m-%d %H:%M")
                ),
            )
            .with_hint("make the windows apart: one ends when or before the other starts"),
        );
    }
    findings
}
