//! Resolution: the structurally valid parts of the document read into the raw types, and each
//! server's settings completed from `[defaults]` and pgfleet's built-in defaults, remembering
//! where every value came from so that a problem is reported where the value is written. Rules
//! of the service are checked afterwards, by `validate`.

use super::document::Document;
use super::finding::{Anchor, Finding, display_path, key_path};
use super::raw::{self, RawFleet, RawPricing, RawProvider, RawSecret, RawServer, RawState};
use crate::rules::{
    FlexibleShape, Generation, HaMode, Key, MaintenanceWindow, PgVersion, Service, Shape, StorageType, Tier,
    TlsVersion,
};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use toml::{Table, Value};

/// Where a resolved value was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// In the server's own table.
    Server,
    /// In `[defaults]`.
    Defaults,
    /// Nowhere: pgfleet's built-in default.
    Builtin,
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sourced<T> {
    pub value: T,
    pub origin: Origin,
}

/// The sections of the file that are structurally sound, read into the raw types. A section
/// with structural problems is left out, so later checks do not pile up on a broken section.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sections {
    pub fleet: Option<RawFleet>,
    pub provider: Option<RawProvider>,
    /// `[state]`: `Some(None)` when the file has none, `None` when it is broken.
    pub state: Option<Option<RawState>>,
    /// `[pricing]`: `Some(None)` when the file has none, `None` when it is broken.
    pub pricing: Option<Option<RawPricing>>,
    /// `None` when `[defaults]` is broken (servers are then not checked further).
    pub defaults: Option<RawServer>,
    pub servers: BTreeMap<String, RawServer>,
    /// Whether every server table was read (none skipped as broken).
    pub all_servers_read: bool,
}

/// Reads the sound sections of the document. `structural` are the structural findings: a
/// section with a wrong value is skipped, but one with only unknown keys is read without them,
/// so its other problems are reported too.
pub(crate) fn sections(document: &Document, structural: &[Finding]) -> (Sections, Vec<Finding>) {
    let mut findings = Vec::new();
    // Unknown keys are left out of what is read (a copy only when there are some).
    let unknown: Vec<&Finding> = structural.iter().filter(|finding| finding.unknown_key).collect();
    let root: std::borrow::Cow<'_, Table> = if unknown.is_empty() {
        std::borrow::Cow::Borrowed(&document.root)
    } else {
        let mut root = document.root.clone();
        for finding in unknown {
            remove(&mut root, &finding.at);
        }
        std::borrow::Cow::Owned(root)
    };
    let is_broken = |prefix: &[String]| {
        structural.iter().any(|finding| !finding.unknown_key && finding.at.starts_with(prefix))
    };
    let read = |keys: &[&str], value: Option<&Value>| -> Option<Option<Value>> {
        let path = key_path(keys);
        if is_broken(&path) {
            return None;
        }
        Some(value.cloned())
    };
    let root = root.as_ref();
    let mut sections = Sections { all_servers_read: true, ..Sections::default() };
    sections.fleet =
        read(&["fleet"], root.get("fleet")).flatten().and_then(|v| typed(v, &["fleet"], &mut findings));
    sections.provider = read(&["provider"], root.get("provider"))
        .flatten()
        .and_then(|v| typed(v, &["provider"], &mut findings));
    sections.state = match read(&["state"], root.get("state")) {
        None => None,
        Some(None) => Some(None),
        Some(Some(value)) => typed(value, &["state"], &mut findings).map(Some),
    };
    sections.pricing = match read(&["pricing"], root.get("pricing")) {
        None => None,
        Some(None) => Some(None),
        Some(Some(value)) => typed(value, &["pricing"], &mut findings).map(Some),
    };
    sections.defaults = match read(&["defaults"], root.get("defaults")) {
        None => None,
        Some(None) => Some(RawServer::default()),
        Some(Some(value)) => typed(value, &["defaults"], &mut findings),
    };
    for (name, value) in root.get("servers").and_then(Value::as_table).into_iter().flatten() {
        let path = ["servers", name.as_str()];
        let server = read(&path, Some(value)).flatten().and_then(|v| typed(v, &path, &mut findings));
        match server {
            Some(server) => {
                sections.servers.insert(name.clone(), server);
            }
            None => sections.all_servers_read = false,
        }
    }
    if is_broken(&key_path(&["servers"])) && sections.servers.is_empty() {
        sections.all_servers_read = false;
    }
    (sections, findings)
}

/// Removes the value at a key path from a TOML table.
fn remove(root: &mut Table, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut current = root;
    for key in parents {
        let Some(Value::Table(next)) = current.get_mut(key) else { return };
        current = next;
    }
    current.remove(last);
}

/// Reads one structurally valid section; the structural check should make this infallible,
/// but a failure is reported rather than trusted away.
fn typed<T: DeserializeOwned>(value: Value, keys: &[&str], findings: &mut Vec<Finding>) -> Option<T> {
    match value.try_into() {
        Ok(typed) => Some(typed),
        Err(error) => {
            let error = error.to_string().trim_end().replace('\n', "; ");
            findings.push(Finding::error(key_path(keys), Anchor::Key, format!("cannot be read: {error}")));
            None
        }
    }
}

/// One server with every setting decided, each with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedServer {
    pub name: String,
    pub service: Sourced<Service>,
    /// Flexible Server's own settings; `None` on a Single Server.
    pub flexible: Option<ResolvedFlexible>,
    pub replica_of: Option<Sourced<String>>,
    pub tier: Sourced<Tier>,
    pub generation: Sourced<Generation>,
    pub vcores: Sourced<u32>,
    pub storage_gb: Sourced<u32>,
    pub version: Sourced<PgVersion>,
    pub backup_retention_days: Sourced<u32>,
    pub geo_redundant_backup: Sourced<bool>,
    pub storage_autogrow: Sourced<bool>,
    pub ssl_enforcement: Sourced<bool>,
    pub minimal_tls_version: Sourced<TlsVersion>,
    pub admin_login: Sourced<String>,
    pub admin_password: Sourced<RawSecret>,
    pub location: Option<Sourced<String>>,
    /// The server's tags and `[defaults]`' tags, the server's winning, each with its origin.
    pub tags: BTreeMap<String, Sourced<String>>,
    /// Server parameters as written (merged key by key with `[defaults]`), values as text.
    pub parameters: BTreeMap<String, Sourced<String>>,
    /// Firewall rules as written (merged key by key with `[defaults]`).
    pub firewall_rules: BTreeMap<String, Sourced<String>>,
    /// Databases (merged key by key with `[defaults]`).
    pub databases: BTreeMap<String, Sourced<raw::RawDatabase>>,
    /// The server's timetable, as written in its own table.
    pub schedule: Vec<raw::RawScheduleEntry>,
}

/// The settings only a Flexible Server has, each with its origin. A Flexible Server's `tier` and
/// `vcores` are its SKU's, and point where `sku` is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedFlexible {
    pub sku: Sourced<String>,
    pub storage_type: Sourced<StorageType>,
    pub iops: Option<Sourced<u32>>,
    pub throughput: Option<Sourced<u32>>,
    pub high_availability: Sourced<HaMode>,
    pub zone: Option<Sourced<String>>,
    pub standby_zone: Option<Sourced<String>>,
    pub maintenance_window: Option<Sourced<MaintenanceWindow>>,
    pub public_network_access: Sourced<bool>,
}

impl ResolvedFlexible {
    fn shape(&self) -> FlexibleShape<'_> {
        FlexibleShape {
            sku: &self.sku.value,
            storage_type: self.storage_type.value,
            iops: self.iops.as_ref().map(|iops| iops.value),
            throughput: self.throughput.as_ref().map(|throughput| throughput.value),
            high_availability: self.high_availability.value,
            zone: self.zone.as_ref().map(|zone| zone.value.as_str()),
            standby_zone: self.standby_zone.as_ref().map(|zone| zone.value.as_str()),
            maintenance_window: self.maintenance_window.as_ref().map(|window| window.value),
        }
    }
}

impl ResolvedServer {
    /// The facts `rules::check` reads. `default_location` is the provider's, for a server that
    /// names none.
    pub(crate) fn shape<'a>(&'a self, default_location: &'a str) -> Shape<'a> {
        Shape {
            name: &self.name,
            tier: self.tier.value,
            generation: self.generation.value,
            vcores: self.vcores.value,
            storage_gb: self.storage_gb.value,
            version: self.version.value,
            backup_retention_days: self.backup_retention_days.value,
            geo_redundant_backup: self.geo_redundant_backup.value,
            storage_autogrow: self.storage_autogrow.value,
            ssl_enforcement: self.ssl_enforcement.value,
            minimal_tls_version: self.minimal_tls_version.value,
            admin_login: &self.admin_login.value,
            location: self.location.as_ref().map_or(default_location, |location| &location.value),
            replica_of: self.replica_of.as_ref().map(|primary| primary.value.as_str()),
            flexible: self.flexible.as_ref().map(ResolvedFlexible::shape),
        }
    }

    /// Where the value of a server key was written. The server's name is written in its own
    /// header; `location` unset is the provider's; `tags` is its own table (tags are judged one by
    /// one, see `validate`).
    pub(crate) fn origin(&self, key: Key) -> Origin {
        let optional =
            |field: &Option<Sourced<_>>| field.as_ref().map_or(Origin::Builtin, |f: &Sourced<_>| f.origin);
        if let Some(flexible) = &self.flexible {
            match key {
                // A flexible server's tier and vCores are its SKU's.
                Key::Sku | Key::Tier | Key::Vcores => return flexible.sku.origin,
                Key::StorageType => return flexible.storage_type.origin,
                Key::Iops => return flexible.iops.as_ref().map_or(Origin::Builtin, |f| f.origin),
                Key::Throughput => return flexible.throughput.as_ref().map_or(Origin::Builtin, |f| f.origin),
                Key::HighAvailability => return flexible.high_availability.origin,
                Key::Zone => return optional(&flexible.zone),
                Key::StandbyZone => return optional(&flexible.standby_zone),
                Key::MaintenanceWindow => {
                    return flexible.maintenance_window.as_ref().map_or(Origin::Builtin, |f| f.origin);
                }
                Key::PublicNetworkAccess => return flexible.public_network_access.origin,
                _ => {}
            }
        }
        match key {
            // Judged one entry at a time, where each is written (see `validate`).
            Key::Name | Key::Tags | Key::Parameters | Key::FirewallRules | Key::Databases | Key::Schedule => {
                Origin::Server
            }
            Key::Service => self.service.origin,
            Key::Tier => self.tier.origin,
            Key::Generation => self.generation.origin,
            Key::Vcores => self.vcores.origin,
            Key::StorageGb => self.storage_gb.origin,
            Key::Version => self.version.origin,
            Key::BackupRetentionDays => self.backup_retention_days.origin,
            Key::GeoRedundantBackup => self.geo_redundant_backup.origin,
            Key::StorageAutogrow => self.storage_autogrow.origin,
            Key::SslEnforcement => self.ssl_enforcement.origin,
            Key::MinimalTlsVersion => self.minimal_tls_version.origin,
            Key::AdminLogin => self.admin_login.origin,
            Key::AdminPassword => self.admin_password.origin,
            Key::Location => self.location.as_ref().map_or(Origin::Builtin, |location| location.origin),
            Key::ReplicaOf => self.replica_of.as_ref().map_or(Origin::Builtin, |primary| primary.origin),
            // Not a fleet-file key: pgfleet sets it.
            Key::ReplicationSupport => Origin::Builtin,
            // Keys of the other service: a single server has none of them.
            Key::Sku
            | Key::StorageType
            | Key::Iops
            | Key::Throughput
            | Key::HighAvailability
            | Key::Zone
            | Key::StandbyZone
            | Key::MaintenanceWindow
            | Key::PublicNetworkAccess => Origin::Builtin,
        }
    }
}

/// The server's value, else the default's.
fn pick<T: Clone>(server: &Option<T>, defaults: &Option<T>) -> Option<Sourced<T>> {
    match (server, defaults) {
        (Some(value), _) => Some(Sourced { value: value.clone(), origin: Origin::Server }),
        (None, Some(value)) => Some(Sourced { value: value.clone(), origin: Origin::Defaults }),
        (None, None) => None,
    }
}

/// The server's value, else the default's, else pgfleet's built-in default.
fn pick_or<T: Clone>(server: &Option<T>, defaults: &Option<T>, builtin: T) -> Sourced<T> {
    pick(server, defaults).unwrap_or(Sourced { value: builtin, origin: Origin::Builtin })
}

/// Completes a server from `[defaults]`. Missing required keys are reported at the server's
/// header and the server is not resolved.
pub(crate) fn resolve_server(
    name: &str,
    server: &RawServer,
    defaults: &RawServer,
) -> Result<ResolvedServer, Vec<Finding>> {
    let service = pick_or(&server.service, &defaults.service, Service::Single);
    let mut problems = keys_not_in_service(name, server, service.value);
    let mut require = |key: &str, present: bool| {
        if !present {
            problems.push(missing_key(name, key));
        }
    };
    // `[defaults]` keys of the other service do not apply to this server.
    let own = |key: Key| key.is_of(service.value);
    let sku = pick(&server.sku, &defaults.sku).filter(|_| own(Key::Sku));
    let tier = pick(&server.tier, &defaults.tier).filter(|_| own(Key::Tier));
    let vcores = pick(&server.vcores, &defaults.vcores).filter(|_| own(Key::Vcores));
    let storage_gb = pick(&server.storage_gb, &defaults.storage_gb);
    let version = pick(&server.version, &defaults.version);
    let admin_login = pick(&server.admin_login, &defaults.admin_login);
    let admin_password = pick(&server.admin_password, &defaults.admin_password);
    match service.value {
        Service::Single => {
            require("tier", tier.is_some());
            require("vcores", vcores.is_some());
        }
        Service::Flexible => require("sku", sku.is_some()),
    }
    require("storage_gb", storage_gb.is_some());
    require("version", version.is_some());
    require("admin_login", admin_login.is_some());
    require("admin_password", admin_password.is_some());
    if !problems.is_empty() {
        return Err(problems);
    }
    let (Some(storage_gb), Some(version), Some(admin_login), Some(admin_password)) =
        (storage_gb, version, admin_login, admin_password)
    else {
        return Err(problems);
    };
    let flexible = sku.map(|sku| resolve_flexible(sku, server, defaults));
    // A flexible server's tier and vCores are its SKU's (an unknown SKU is reported at `sku`).
    let (tier, vcores) = match &flexible {
        Some(flexible) => {
            let known = crate::rules::flexible_sku(&flexible.sku.value);
            let origin = flexible.sku.origin;
            (
                Sourced { value: known.map_or(Tier::GeneralPurpose, |sku| sku.tier), origin },
                Sourced { value: known.map_or(0, |sku| sku.vcores), origin },
            )
        }
        None => match (tier, vcores) {
            (Some(tier), Some(vcores)) => (tier, vcores),
            _ => return Err(problems),
        },
    };
    let single = |key: Key| key.is_of(service.value);
    let ssl_enforcement = pick(&server.ssl_enforcement, &defaults.ssl_enforcement)
        .filter(|_| single(Key::SslEnforcement))
        .unwrap_or(Sourced { value: raw::DEFAULT_SSL_ENFORCEMENT, origin: Origin::Builtin });
    let default_tls =
        if ssl_enforcement.value { TlsVersion::Tls1_2 } else { TlsVersion::EnforcementDisabled };
    let minimal_tls_version = pick(&server.minimal_tls_version, &defaults.minimal_tls_version)
        .filter(|_| single(Key::MinimalTlsVersion))
        .unwrap_or(Sourced { value: default_tls, origin: Origin::Builtin });
    let generation = pick(&server.generation, &defaults.generation)
        .filter(|_| single(Key::Generation))
        .unwrap_or(Sourced { value: raw::DEFAULT_GENERATION, origin: Origin::Builtin });
    // Tags merge key by key; every other key is the server's own, else `[defaults]`', else
    // pgfleet's: nothing is taken from a replica's primary (geo-redundant backup, location and
    // the rest are judged per server).
    let tags = merged(&defaults.tags, &server.tags, Clone::clone);
    // What a server carries merges the same way (a replica's primary is applied in `load`).
    let parameters = merged(&defaults.parameters, &server.parameters, raw::RawParameterValue::text);
    let firewall_rules = merged(&defaults.firewall_rules, &server.firewall_rules, Clone::clone);
    let databases = merged(&defaults.databases, &server.databases, Clone::clone);
    Ok(ResolvedServer {
        name: name.to_string(),
        replica_of: pick(&server.replica_of, &None),
        backup_retention_days: pick_or(
            &server.backup_retention_days,
            &defaults.backup_retention_days,
            raw::DEFAULT_RETENTION_DAYS,
        ),
        geo_redundant_backup: pick_or(
            &server.geo_redundant_backup,
            &defaults.geo_redundant_backup,
            raw::DEFAULT_GEO_REDUNDANT_BACKUP,
        ),
        storage_autogrow: pick_or(
            &server.storage_autogrow,
            &defaults.storage_autogrow,
            crate::rules::default_storage_autogrow(service.value),
        ),
        location: pick(&server.location, &defaults.location),
        service,
        flexible,
        generation,
        minimal_tls_version,
        ssl_enforcement,
        tier,
        vcores,
        storage_gb,
        version,
        admin_login,
        admin_password,
        tags,
        parameters,
        firewall_rules,
        databases,
        schedule: server.schedule.clone().unwrap_or_default(),
    })
}

/// A table of `[defaults]` and the server's, merged key by key (the server's winning), each
/// entry with its origin.
fn merged<T, V>(
    defaults: &Option<BTreeMap<String, T>>,
    server: &Option<BTreeMap<String, T>>,
    value: impl Fn(&T) -> V,
) -> BTreeMap<String, Sourced<V>> {
    let mut merged = BTreeMap::new();
    for (written, origin) in [(defaults, Origin::Defaults), (server, Origin::Server)] {
        for (key, entry) in written.iter().flatten() {
            merged.insert(key.clone(), Sourced { value: value(entry), origin });
        }
    }
    merged
}

/// A flexible server's own settings, from the server's table, else `[defaults]`, else the
/// service's defaults.
fn resolve_flexible(sku: Sourced<String>, server: &RawServer, defaults: &RawServer) -> ResolvedFlexible {
    ResolvedFlexible {
        sku,
        storage_type: pick_or(&server.storage_type, &defaults.storage_type, StorageType::default()),
        iops: pick(&server.iops, &defaults.iops),
        throughput: pick(&server.throughput, &defaults.throughput),
        high_availability: pick_or(&server.high_availability, &defaults.high_availability, HaMode::Disabled),
        zone: pick(&server.zone, &defaults.zone),
        standby_zone: pick(&server.standby_zone, &defaults.standby_zone),
        maintenance_window: pick(&server.maintenance_window, &defaults.maintenance_window),
        public_network_access: pick_or(&server.public_network_access, &defaults.public_network_access, true),
    }
}

/// Keys the server's own table sets that its service does not have (`vcores` on a flexible
/// server), each an error where it is written.
fn keys_not_in_service(name: &str, server: &RawServer, service: Service) -> Vec<Finding> {
    server
        .keys_set()
        .into_iter()
        .filter_map(|key| crate::rules::check::key_not_in_service(key, service))
        .map(|refusal| {
            Finding::error(key_path(&["servers", name, refusal.key.as_str()]), Anchor::Key, refusal.message)
                .with_hint(refusal.hint)
                .with_rule(refusal.rule)
        })
        .collect()
}

/// A required key that neither the server nor `[defaults]` sets, reported at the server's header.
fn missing_key(name: &str, key: &str) -> Finding {
    Finding::error(key_path(&["servers", name]), Anchor::Key, format!("missing required key `{key}`"))
        .with_path(display_path(&key_path(&["servers", name, key])))
        .with_hint(format!("set `{key}` in [servers.{name}] or in [defaults]"))
}

/// A finding about a resolved value, pointing at where it is written: the server's own key,
/// the `[defaults]` key it inherits (saying so), or the server's header for built-in defaults.
pub(crate) fn field_finding<T>(
    server: &str,
    key: &str,
    field: &Sourced<T>,
    message: impl Into<String>,
) -> Finding {
    finding_at(server, key, field.origin, message)
}

/// [`field_finding`] for a value written at `origin`.
pub(crate) fn finding_at(server: &str, key: &str, origin: Origin, message: impl Into<String>) -> Finding {
    let message = message.into();
    let path = display_path(&key_path(&["servers", server, key]));
    match origin {
        Origin::Server => Finding::error(key_path(&["servers", server, key]), Anchor::Value, message),
        Origin::Defaults => Finding::error(
            key_path(&["defaults", key]),
            Anchor::Value,
            format!("{message} (inherited from [defaults])"),
        )
        .with_path(path),
        Origin::Builtin => Finding::error(
            key_path(&["servers", server]),
            Anchor::Key,
            format!("{message} (pgfleet's default for `{key}`)"),
        )
        .with_path(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_inherit_field_by_field_and_remember_where_from() {
        let defaults = RawServer {
            tier: Some(Tier::GeneralPurpose),
            vcores: Some(2),
            storage_gb: Some(100),
            version: Some(PgVersion::V11),
            admin_login: Some("fleetadmin".into()),
            admin_password: Some(RawSecret::Env("P".into())),
            tags: Some(BTreeMap::from([("team".into(), "pay".into()), ("env".into(), "dev".into())])),
            ..RawServer::default()
        };
        let server = RawServer {
            vcores: Some(8),
            tags: Some(BTreeMap::from([("env".into(), "prod".into())])),
            ..RawServer::default()
        };
        let resolved = resolve_server("pay-main", &server, &defaults).unwrap();
        assert_eq!(resolved.vcores, Sourced { value: 8, origin: Origin::Server });
        assert_eq!(resolved.tier, Sourced { value: Tier::GeneralPurpose, origin: Origin::Defaults });
        assert_eq!(resolved.generation, Sourced { value: Generation::Gen5, origin: Origin::Builtin });
        assert_eq!(resolved.minimal_tls_version.value, TlsVersion::Tls1_2);
        assert_eq!(resolved.tags["env"], Sourced { value: "prod".into(), origin: Origin::Server });
        assert_eq!(resolved.tags["team"], Sourced { value: "pay".into(), origin: Origin::Defaults });
    }

    #[test]
    fn missing_required_keys_are_each_named() {
        let error = resolve_server("pay-main", &RawServer::default(), &RawServer::default()).unwrap_err();
        let paths: Vec<&str> = error.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "servers.pay-main.tier",
                "servers.pay-main.vcores",
                "servers.pay-main.storage_gb",
                "servers.pay-main.version",
                "servers.pay-main.admin_login",
                "servers.pay-main.admin_password"
            ]
        );
        assert!(error.iter().all(|f| f.at == key_path(&["servers", "pay-main"])));
    }

    #[test]
    fn tls_defaults_to_disabled_without_ssl() {
        let defaults = RawServer {
            tier: Some(Tier::Basic),
            vcores: Some(1),
            storage_gb: Some(5),
            version: Some(PgVersion::V11),
            admin_login: Some("fleetadmin".into()),
            admin_password: Some(RawSecret::Env("P".into())),
            ssl_enforcement: Some(false),
            ..RawServer::default()
        };
        let resolved = resolve_server("b", &RawServer::default(), &defaults).unwrap();
        assert_eq!(resolved.minimal_tls_version.value, TlsVersion::EnforcementDisabled);
    }
}
