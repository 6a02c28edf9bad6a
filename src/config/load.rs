//! Reading a fleet file end to end: bytes → spanned document → structural check → sections →
//! resolution → rules → [`DesiredFleet`], collecting every diagnostic on the way. [`parse`] is
//! pure; [`load`] only adds reading the file. Secret files are not read here.

use super::diagnostics::{Diagnostic, Diagnostics, LineStarts, Severity};
use super::document::Document;
use super::finding::{Finding, positioned};
use super::model::{DesiredFleet, DesiredServer, ProviderSettings, SecretRef, SourceFile, StateSettings};
use super::raw::RawSecret;
use super::resolve::{Origin, ResolvedServer, resolve_server, sections};
use super::{replicas, structure, validate};
use crate::model::{DatabaseSpec, FirewallRange, FlexibleSpec, ServerName, ServerSpec};
use crate::rules;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a fleet file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the fleet file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the fleet file is not valid:\n{0}")]
    Invalid(Diagnostics),
}

/// Reads and validates the fleet file at `path`.
///
/// # Errors
///
/// [`ConfigError::Io`] when the file cannot be read; [`ConfigError::Invalid`] with every
/// problem when it is not a valid fleet file.
pub fn load(path: &Path) -> Result<DesiredFleet, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
    parse(path, &bytes).map(|(fleet, _warnings)| fleet).map_err(ConfigError::Invalid)
}

/// Validates the bytes of a fleet file named `path` (used in messages and to resolve nothing
/// else: this function does no I/O). Returns the fleet and its warnings.
///
/// # Errors
///
/// Every diagnostic, warnings included, when there is at least one error.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<(DesiredFleet, Vec<Diagnostic>), Diagnostics> {
    let (document, syntax) = match Document::parse(bytes) {
        Ok(parsed) => parsed,
        Err((text, problem)) => {
            let lines = LineStarts::new(&text);
            let (line, column) = lines.position(&text, problem.span.start);
            return Err(Diagnostics(vec![Diagnostic {
                severity: Severity::Error,
                file: path.to_path_buf(),
                line,
                column,
                end_line: line,
                end_column: column + 1,
                path: String::new(),
                message: problem.message,
                hint: problem.hint,
                rule: None,
            }]));
        }
    };
    if !syntax.is_empty() {
        let diagnostics = syntax
            .iter()
            .map(|problem| {
                let finding =
                    Finding::error(Vec::new(), super::finding::Anchor::Key, problem.message.clone());
                let finding = match &problem.hint {
                    Some(hint) => finding.with_hint(hint.clone()),
                    None => finding,
                };
                positioned(path, &document, problem.span.clone(), &finding)
            })
            .collect();
        return Err(Diagnostics(diagnostics));
    }
    let (findings, fleet) = check(&document, bytes, path);
    let findings = merge_inherited(without_missing_behind_typos(findings));
    let mut diagnostics: Vec<Diagnostic> =
        findings.iter().map(|finding| finding.locate(path, &document)).collect();
    diagnostics.sort_by(|a, b| (a.line, a.column, &a.path).cmp(&(b.line, b.column, &b.path)));
    diagnostics.dedup();
    match fleet {
        Some(fleet) if diagnostics.iter().all(|d| d.severity != Severity::Error) => Ok((fleet, diagnostics)),
        _ => Err(Diagnostics(diagnostics)),
    }
}

/// Drops each "missing required key `K`" whose table (or, for a server, `[defaults]`) has an
/// unknown key that is a likely typo of `K`: the typo is the one mistake, reported alone.
fn without_missing_behind_typos(findings: Vec<Finding>) -> Vec<Finding> {
    let typos: Vec<(&[String], &str)> = findings
        .iter()
        .filter(|finding| finding.unknown_key)
        .filter_map(|finding| Some((finding.at.split_last()?.1, finding.at.last()?.as_str())))
        .collect();
    let behind_typo = |finding: &Finding| {
        let Some(key) =
            finding.message.strip_prefix("missing required key `").and_then(|rest| rest.split('`').next())
        else {
            return false;
        };
        let server = finding.at.len() == 2 && finding.at[0] == "servers";
        typos.iter().any(|(table, typo)| {
            let same_table = *table == finding.at.as_slice() || (server && *table == ["defaults"]);
            same_table && super::finding::did_you_mean(typo, [key]).is_some()
        })
    };
    let dropped: Vec<bool> = findings.iter().map(behind_typo).collect();
    findings.into_iter().zip(dropped).filter(|(_, dropped)| !dropped).map(|(finding, _)| finding).collect()
}

/// One finding for a `[defaults]` value that breaks a rule for several servers, naming them,
/// instead of the same error once per server that inherits it.
fn merge_inherited(findings: Vec<Finding>) -> Vec<Finding> {
    let inherited = |finding: &Finding| {
        finding.at.first().is_some_and(|key| key == "defaults") && finding.path.starts_with("servers.")
    };
    let mut merged: Vec<(Finding, Vec<String>)> = Vec::new();
    let mut rest = Vec::new();
    for finding in findings {
        if !inherited(&finding) {
            rest.push(finding);
            continue;
        }
        let key = finding.at.last().map_or(String::new(), |key| format!(".{key}"));
        let server = finding.path.trim_start_matches("servers.").trim_end_matches(&key).to_string();
        let same = |(seen, _): &&mut (Finding, Vec<String>)| {
            (&seen.at, seen.anchor, seen.severity, &seen.message, &seen.hint, seen.rule)
                == (
                    &finding.at,
                    finding.anchor,
                    finding.severity,
                    &finding.message,
                    &finding.hint,
                    finding.rule,
                )
        };
        match merged.iter_mut().find(same) {
            Some((_, servers)) => servers.push(server),
            None => merged.push((finding, vec![server])),
        }
    }
    for (finding, servers) in merged {
        if servers.len() == 1 {
            rest.push(finding);
            continue;
        }
        let path = super::finding::display_path(&finding.at);
        let message = finding.message.replace(
            " (inherited from [defaults])",
            &format!(" (inherited by {} servers: {})", servers.len(), servers.join(", ")),
        );
        rest.push(Finding { message, ..finding.with_path(path) });
    }
    rest
}

/// What the state commands read of a fleet file: the fleet's name and where its state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSection {
    /// `[fleet] name`, when the file has one.
    pub name: Option<String>,
    /// `[state]`, checked and completed.
    pub state: StateSettings,
}

/// Reads `[fleet] name` and `[state]` alone, from a fleet file whose other sections may be
/// invalid (`pgfleet state …` and `force-unlock` must work on a broken file). Returns the
/// section and the warnings about `[state]`.
///
/// # Errors
/// The diagnostics when the file is not TOML or `[state]` is not valid.
pub fn parse_state_section(
    path: &Path,
    bytes: &[u8],
) -> Result<(StateSection, Vec<Diagnostic>), Diagnostics> {
    let document = match Document::parse(bytes) {
        Ok((document, syntax)) if syntax.is_empty() => document,
        // Not TOML: the whole file's syntax errors, as `parse` reports them.
        _ => return Err(parse(path, bytes).err().unwrap_or_default()),
    };
    let in_state = |finding: &Finding| finding.at.first().is_some_and(|key| key == "state");
    let mut findings: Vec<Finding> = structure::check(&document).into_iter().filter(in_state).collect();
    let (sections, read_problems) = sections(&document, &findings);
    findings.extend(read_problems.into_iter().filter(in_state));
    let name = document.root.get("fleet").and_then(|fleet| fleet.get("name")).and_then(|name| name.as_str());
    let mut state = None;
    if let Some(section) = &sections.state {
        let (settings, problems) = super::state::check_state(section.as_ref(), name.unwrap_or("fleet"));
        findings.extend(problems);
        state = settings;
    }
    let mut diagnostics: Vec<Diagnostic> =
        findings.iter().map(|finding| finding.locate(path, &document)).collect();
    diagnostics.sort_by(|a, b| (a.line, a.column, &a.path).cmp(&(b.line, b.column, &b.path)));
    diagnostics.dedup();
    match state {
        Some(state) if diagnostics.iter().all(|d| d.severity != Severity::Error) => {
            Ok((StateSection { name: name.map(str::to_string), state }, diagnostics))
        }
        _ => Err(Diagnostics(diagnostics)),
    }
}

/// Every finding of a syntactically valid document, and the fleet when nothing stopped
/// resolution.
fn check(document: &Document, bytes: &[u8], path: &Path) -> (Vec<Finding>, Option<DesiredFleet>) {
    let mut findings = structure::check(document);
    let (sections, read_problems) = sections(document, &findings);
    findings.extend(read_problems);
    if let Some(fleet) = &sections.fleet {
        findings.extend(validate::check_fleet(fleet));
    }
    let state = match (&sections.state, &sections.fleet) {
        (Some(state), Some(fleet)) => {
            let (settings, problems) = super::state::check_state(state.as_ref(), &fleet.name);
            findings.extend(problems);
            settings
        }
        _ => None,
    };
    let provider = sections
        .provider
        .as_ref()
        .map(|provider| validate::check_provider(provider, path.parent().unwrap_or(Path::new(""))))
        .and_then(|checked| checked.map_err(|problems| findings.extend(problems)).ok());
    let pricing = sections.pricing.as_ref().and_then(|pricing| {
        let (pricing, problems) =
            validate::check_pricing(pricing.as_ref(), path.parent().unwrap_or(Path::new("")));
        findings.extend(problems);
        pricing
    });
    let Some(defaults) = &sections.defaults else { return (findings, None) };
    findings.extend(validate::check_defaults(defaults));
    // Where servers that name no location are; the rules read no location of a lone server, so
    // a broken provider section leaves it empty.
    let default_location = provider.as_ref().map_or("", ProviderSettings::default_location);
    let mut resolved = BTreeMap::new();
    let mut all_resolved = sections.all_servers_read;
    for (name, server) in &sections.servers {
        match resolve_server(name, server, defaults) {
            Ok(server) => {
                findings.extend(validate::check_server(&server, default_location));
                resolved.insert(name.clone(), server);
            }
            Err(missing) => {
                findings.extend(missing);
                all_resolved = false;
            }
        }
    }
    let names: Vec<String> = document
        .root
        .get("servers")
        .and_then(|servers| servers.as_table())
        .map(|servers| servers.keys().cloned().collect())
        .unwrap_or_default();
    findings.extend(replicas::check_replicas(&resolved, &names, default_location));
    let (Some(fleet), Some(provider), Some(state), Some(pricing), true) =
        (&sections.fleet, provider, state, pricing, all_resolved)
    else {
        return (findings, None);
    };
    let source = SourceFile { path: path.to_path_buf(), sha256: hex::encode(Sha256::digest(bytes)) };
    let mut servers: BTreeMap<ServerName, DesiredServer> = resolved
        .values()
        .map(|server| {
            let line = document
                .entry(&["servers", &server.name])
                .map_or(1, |entry| document.lines.position(&document.text, entry.key.start).0);
            (ServerName::new(&server.name), desired_server(server, &provider, line))
        })
        .collect();
    inherit_from_primaries(&resolved, &mut servers);
    for server in servers.values_mut() {
        server.base = server.spec.clone();
    }
    (findings, Some(DesiredFleet { name: fleet.name.clone(), provider, servers, state, source, pricing }))
}

/// What a replica takes from its primary: the primary's parameters, each overridden by one the
/// replica's own table sets; the primary's firewall rules unless its own table sets some; and
/// the primary's databases (a replica has them; it declares none of its own).
fn inherit_from_primaries(
    resolved: &BTreeMap<String, ResolvedServer>,
    servers: &mut BTreeMap<ServerName, DesiredServer>,
) {
    let primaries: BTreeMap<ServerName, ServerSpec> = servers
        .iter()
        .filter(|(_, s)| s.spec.replica_of.is_none())
        .map(|(n, s)| (n.clone(), s.spec.clone()))
        .collect();
    for (name, server) in servers.iter_mut() {
        let (Some(primary_name), Some(own)) = (server.spec.replica_of.clone(), resolved.get(name.as_str()))
        else {
            continue;
        };
        let Some(primary) = primaries.get(&primary_name) else { continue };
        let service = server.spec.service();
        let mut parameters = primary.parameters.clone();
        for (key, value) in own.parameters.iter().filter(|(_, value)| value.origin == Origin::Server) {
            if let Ok(value) = rules::parameter_value(service, key, &value.value) {
                parameters.insert(rules::parameter_name(service, key).unwrap_or(key).to_string(), value);
            }
        }
        server.spec.parameters = parameters;
        if !own.firewall_rules.values().any(|rule| rule.origin == Origin::Server) {
            server.spec.firewall_rules = primary.firewall_rules.clone();
        }
        server.spec.databases = primary.databases.clone();
    }
}

/// The parameters, firewall rules and databases a server's table (with `[defaults]`) declares,
/// as the service spells them. Entries the validator refuses are left out (their errors stop
/// the load).
fn carried(
    server: &ResolvedServer,
) -> (BTreeMap<String, String>, BTreeMap<String, FirewallRange>, BTreeMap<String, DatabaseSpec>) {
    let service = server.service.value;
    let parameters = server
        .parameters
        .iter()
        .filter_map(|(name, value)| {
            let value = rules::parameter_value(service, name, &value.value).ok()?;
            Some((rules::parameter_name(service, name)?.to_string(), value))
        })
        .collect();
    let firewall_rules = server
        .firewall_rules
        .iter()
        .filter_map(|(name, text)| {
            let (start, end) = rules::firewall_range(name, &text.value).ok()?;
            Some((name.clone(), FirewallRange { start, end }))
        })
        .collect();
    // A replica's databases are its primary's (`inherit_from_primaries`).
    let databases = if server.replica_of.is_some() {
        BTreeMap::new()
    } else {
        server
            .databases
            .iter()
            .map(|(name, database)| {
                let database = &database.value;
                (
                    name.clone(),
                    DatabaseSpec { charset: database.charset.clone(), collation: database.collation.clone() },
                )
            })
            .collect()
    };
    (parameters, firewall_rules, databases)
}

fn desired_server(server: &ResolvedServer, provider: &ProviderSettings, line: usize) -> DesiredServer {
    let (parameters, firewall_rules, databases) = carried(server);
    let spec = ServerSpec {
        parameters,
        firewall_rules,
        databases,
        tier: server.tier.value,
        generation: server.generation.value,
        vcores: server.vcores.value,
        storage_gb: server.storage_gb.value,
        version: server.version.value,
        backup_retention_days: server.backup_retention_days.value,
        geo_redundant_backup: server.geo_redundant_backup.value,
        storage_autogrow: server.storage_autogrow.value,
        ssl_enforcement: server.ssl_enforcement.value,
        minimal_tls_version: server.minimal_tls_version.value,
        admin_login: server.admin_login.value.clone(),
        location: server
            .location
            .as_ref()
            .map_or_else(|| provider.default_location().to_string(), |location| location.value.clone()),
        tags: server.tags.iter().map(|(key, tag)| (key.clone(), tag.value.clone())).collect(),
        replica_of: server.replica_of.as_ref().map(|primary| ServerName::new(&primary.value)),
        flexible: server.flexible.as_ref().map(|flexible| FlexibleSpec {
            sku: flexible.sku.value.clone(),
            storage_type: flexible.storage_type.value,
            iops: flexible.iops.as_ref().map(|iops| iops.value),
            throughput: flexible.throughput.as_ref().map(|throughput| throughput.value),
            high_availability: flexible.high_availability.value,
            zone: flexible.zone.as_ref().map(|zone| zone.value.clone()),
            standby_zone: flexible.standby_zone.as_ref().map(|zone| zone.value.clone()),
            maintenance_window: flexible.maintenance_window.as_ref().map(|window| window.value),
            public_network_access: flexible.public_network_access.value,
        }),
    };
    let admin_password = match &server.admin_password.value {
        RawSecret::Env(name) => SecretRef::Env(name.clone()),
        RawSecret::File(path) => SecretRef::File(path.clone()),
    };
    DesiredServer {
        name: ServerName::new(&server.name),
        base: spec.clone(),
        spec,
        admin_password,
        line,
        schedule: super::validate::timetable(server),
    }
}
