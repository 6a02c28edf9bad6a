//! The service's rules, checked against the resolved fleet: SKUs, storage and retention limits,
//! tier features, TLS, names and logins, replicas, and the provider section. Every rule is read
//! from `crate::rules`; none is written down again here. Only what the file alone can tell is
//! checked: nothing here looks at live servers or state.

use super::finding::{Anchor, Finding, key_path};
use super::model::{AzureSettings, LocalSettings, ProviderSettings};
use super::raw::{self, ProviderKind, RawFleet, RawProvider, RawServer};
use super::resolve::{ResolvedServer, field_finding};
use crate::rules::{self, TlsVersion};
use std::path::PathBuf;

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
pub(crate) fn check_provider(provider: &RawProvider) -> Result<ProviderSettings, Vec<Finding>> {
    match provider.kind {
        ProviderKind::Local => check_local(provider.local.as_ref()),
        ProviderKind::Azure => check_azure(provider.azure.as_ref()),
    }
}

/// `[provider.local]`, optional as a whole.
fn check_local(local: Option<&raw::RawLocal>) -> Result<ProviderSettings, Vec<Finding>> {
    let local = local.cloned().unwrap_or(raw::RawLocal { root: None, port_base: None });
    let port_base = local.port_base.unwrap_or(u32::from(raw::DEFAULT_PORT_BASE));
    let root = local.root.unwrap_or_else(|| PathBuf::from(raw::DEFAULT_LOCAL_ROOT));
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
/// would include that server itself.
pub(crate) fn check_defaults(defaults: &RawServer) -> Vec<Finding> {
    match defaults.replica_of {
        Some(_) => vec![
            Finding::error(
                key_path(&["defaults", "replica_of"]),
                Anchor::Key,
                "replica_of cannot be a default",
            )
            .with_hint("set replica_of in each replica's [servers.NAME] table"),
        ],
        None => Vec::new(),
    }
}

/// The rules one server must meet on its own.
pub(crate) fn check_server(server: &ResolvedServer) -> Vec<Finding> {
    let name = server.name.as_str();
    let mut findings = Vec::new();
    if let Some(problem) = rules::server_name_problem(name) {
        findings.push(
            Finding::error(key_path(&["servers", name]), Anchor::Key, format!("server name {name:?} {problem}"))
                .with_hint("server names are 3 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen"),
        );
    }
    findings.extend(check_sku(server));
    findings.extend(check_storage_and_backups(server));
    findings.extend(check_access(server));
    findings
}

/// The tier, generation and vCores name a SKU the service sells.
fn check_sku(server: &ResolvedServer) -> Option<Finding> {
    let name = server.name.as_str();
    let (tier, generation, vcores) = (server.tier.value, server.generation.value, server.vcores.value);
    let offered = rules::valid_vcores(tier, generation);
    if offered.is_empty() {
        let generations: Vec<&str> = [rules::Generation::Gen4, rules::Generation::Gen5]
            .into_iter()
            .filter(|g| !rules::valid_vcores(tier, *g).is_empty())
            .map(rules::Generation::as_str)
            .collect();
        return Some(
            field_finding(
                name,
                "generation",
                &server.generation,
                format!("{tier} is not offered on {generation}"),
            )
            .with_hint(format!("{tier} servers use {}", generations.join(" or "))),
        );
    }
    rules::sku(tier, generation, vcores).is_none().then(|| {
        let list: Vec<String> = offered.iter().map(u32::to_string).collect();
        field_finding(
            name,
            "vcores",
            &server.vcores,
            format!("{vcores} vCores is not offered on {tier} {generation}"),
        )
        .with_hint(format!("{tier} {generation} offers {} vCores", list.join(", ")))
    })
}

/// Storage within the tier's range; retention within the service's; geo-redundant backup only
/// where the tier has it.
fn check_storage_and_backups(server: &ResolvedServer) -> Vec<Finding> {
    let name = server.name.as_str();
    let tier = server.tier.value;
    let mut findings = Vec::new();
    let limits = rules::storage_limits(tier);
    let storage = server.storage_gb.value;
    if !(limits.min_gb..=limits.max_gb).contains(&storage) || storage % limits.step_gb != 0 {
        findings.push(
            field_finding(
                name,
                "storage_gb",
                &server.storage_gb,
                format!("{storage} GB is outside {tier}'s storage range"),
            )
            .with_hint(format!("{tier} storage is {} to {} GB, in whole GB", limits.min_gb, limits.max_gb)),
        );
    }
    let days = server.backup_retention_days.value;
    if !rules::RETENTION_DAYS.contains(&days) {
        findings.push(
            field_finding(
                name,
                "backup_retention_days",
                &server.backup_retention_days,
                format!("{days} days is outside the retention range"),
            )
            .with_hint(format!(
                "keep backups {} to {} days",
                rules::RETENTION_DAYS.start(),
                rules::RETENTION_DAYS.end()
            )),
        );
    }
    if server.geo_redundant_backup.value && !rules::GEO_BACKUP_TIERS.contains(&tier) {
        findings.push(
            field_finding(
                name,
                "geo_redundant_backup",
                &server.geo_redundant_backup,
                format!("geo-redundant backup is not available on {tier}"),
            )
            .with_hint(format!(
                "set geo_redundant_backup = false, or use one of: {}",
                tier_list(rules::GEO_BACKUP_TIERS)
            )),
        );
    }
    findings
}

/// TLS agrees with SSL enforcement; the admin login is one the service accepts; the version is
/// not retired (a warning: existing servers keep running).
fn check_access(server: &ResolvedServer) -> Vec<Finding> {
    let name = server.name.as_str();
    let mut findings = Vec::new();
    let tls = server.minimal_tls_version.value;
    if !server.ssl_enforcement.value && tls != TlsVersion::EnforcementDisabled {
        findings.push(
            field_finding(
                name,
                "minimal_tls_version",
                &server.minimal_tls_version,
                format!("is {tls} but ssl_enforcement is false"),
            )
            .with_hint(format!(
                "without SSL, set minimal_tls_version = \"{}\" (or turn ssl_enforcement on)",
                TlsVersion::EnforcementDisabled
            )),
        );
    }
    if let Some(problem) = rules::admin_login_problem(&server.admin_login.value) {
        findings.push(
            field_finding(name, "admin_login", &server.admin_login, format!("admin login {problem}"))
                .with_hint(format!(
                    "choose another login, for example \"fleetadmin\"; reserved: {}",
                    rules::FORBIDDEN_ADMIN_LOGINS.join(", ")
                )),
        );
    }
    let version = server.version.value;
    if !version.is_supported() {
        findings.push(
            field_finding(
                name,
                "version",
                &server.version,
                format!("PostgreSQL {version} is retired by the service"),
            )
            .with_hint("new servers cannot be created with it; plan an upgrade to a supported version")
            .warning(),
        );
    }
    findings
}

fn tier_list(tiers: &[rules::Tier]) -> String {
    tiers.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
}
