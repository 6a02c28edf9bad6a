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
    let port = u16::try_from(port_base).ok().filter(|port| *port >= 1024);
    if port.is_none() {
        findings.push(
            Finding::error(
                key_path(&["provider", "local", "port_base"]),
                Anchor::Value,
                format!("port {port_base} cannot be used"),
            )
            .with_hint("choose a port from 1024 to 65535 (ports below 1024 need root)"),
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
