//! One server's differences, desired against live (and, for storage, against what pgfleet
//! last applied, from the state), each classified by the service's rules: in place (one
//! PATCH), by migration (create-only properties), refused (storage shrink, version downgrade,
//! turning a server into a replica), or no change at all (auto-grown storage).
//!
//! One server at a time: it never looks at other servers (replica sizes and ordering are the
//! planner's) and never re-encodes a rule; it reads `crate::rules`.

use crate::model::{CarriedNames, DatabaseSpec, FlexibleSpec, ServerName, ServerPatch, ServerSpec};
use crate::rules::{self, Key, PropertyChange, Rule, SkuSize, StorageChange, TierChange, VersionChange};
use crate::state::ServerRecord;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// One attribute's before and after (`null` before on create, `null` after on delete).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttributeChange {
    /// The fleet-file key (`vcores`, `storage_gb`, `tags.team`, `replication_support`).
    pub path: AttributePath,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// Which attribute changes: a fleet-file key, or one tag. Written as the fleet file spells it
/// (`vcores`, `tags.team`), so the plan JSON holds the same strings as before it was typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributePath {
    Key(Key),
    /// One tag, by its name: `tags.NAME`.
    Tag(String),
    /// One entry of what a server carries: `parameters.NAME`, `firewall_rules.NAME` or
    /// `databases.NAME`.
    Item(Key, String),
}

/// The keys whose entries are attributes of their own (`parameters.work_mem`).
const ITEM_KEYS: [Key; 3] = [Key::Parameters, Key::FirewallRules, Key::Databases];

impl AttributePath {
    /// The path written `text` (`vcores`, `tags.team`), if it names one.
    pub fn parse(text: &str) -> Option<AttributePath> {
        if let Some(tag) = text.strip_prefix("tags.") {
            return Some(AttributePath::Tag(tag.to_string()));
        }
        if let Some((key, name)) = text.split_once('.') {
            let key = ITEM_KEYS.into_iter().find(|item| item.as_str() == key)?;
            return Some(AttributePath::Item(key, name.to_string()));
        }
        Key::parse(text).map(AttributePath::Key)
    }

    /// The path as the fleet file writes it (`vcores`, `tags.team`).
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        match self {
            AttributePath::Key(key) => key.as_str().into(),
            AttributePath::Tag(tag) => format!("tags.{tag}").into(),
            AttributePath::Item(key, name) => format!("{key}.{name}").into(),
        }
    }

    /// The key, when the path is a whole key (not one tag).
    pub fn key(&self) -> Option<Key> {
        match self {
            AttributePath::Key(key) => Some(*key),
            AttributePath::Tag(_) | AttributePath::Item(..) => None,
        }
    }

    /// A spec field as `spec_fields` names it; every such name is a path.
    fn of_field(field: &str) -> AttributePath {
        AttributePath::parse(field).unwrap_or_else(|| panic!("spec field {field} is not a fleet-file key"))
    }
}

impl From<Key> for AttributePath {
    fn from(key: Key) -> AttributePath {
        AttributePath::Key(key)
    }
}

impl PartialEq<Key> for AttributePath {
    fn eq(&self, key: &Key) -> bool {
        self.key() == Some(*key)
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.name())
    }
}

impl Serialize for AttributePath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AttributePath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<AttributePath, D::Error> {
        let text = String::deserialize(deserializer)?;
        AttributePath::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a fleet-file key")))
    }
}

impl JsonSchema for AttributePath {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AttributePath".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

/// How one server has to change to match the config.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerDiff {
    /// What the server becomes: the desired spec, except that a refused change keeps the live
    /// value and auto-grown storage stays as it is.
    pub target: ServerSpec,
    /// Every attribute that changes, live → target, by fleet-file key (`tags.team` per tag).
    pub attributes: Vec<AttributeChange>,
    /// The in-place changes, all in one PATCH. Empty when a migration is needed: the new server
    /// gets the whole target instead.
    pub patch: ServerPatch,
    /// Create-only keys that change (`tier` when moving to or from Basic): the data has to move
    /// to a new server.
    pub migration_keys: Vec<Key>,
    /// Changes the service cannot make, with what to do instead.
    pub refusals: Vec<FieldRefusal>,
    /// Facts a reviewer should see that are not changes.
    pub notes: Vec<String>,
    /// Whether the server's place in a replication pair changes.
    pub relationship: Relationship,
    /// The live storage is above the configured `storage_gb` without pgfleet having set it
    /// (auto-grow, or a change outside pgfleet): not a change, and not a size pgfleet holds
    /// other servers (its replicas) to.
    pub storage_above_config: bool,
    /// Flexible Server: the file's `zone` is the live standby's, and it changed since pgfleet
    /// last applied the server: a planned failover swaps the zones.
    pub failover: bool,
}

impl ServerDiff {
    /// Whether a create-only property changes.
    pub(crate) fn needs_migration(&self) -> bool {
        !self.migration_keys.is_empty()
    }

    /// Whether nothing is to be done (refusals and notes aside).
    pub fn is_unchanged(&self) -> bool {
        self.attributes.is_empty() && self.relationship == Relationship::Unchanged && !self.failover
    }
}

/// A change the service cannot make to one property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRefusal {
    /// The service rule that refuses it.
    pub rule: Rule,
    /// The fleet-file key (`storage_gb`, `version`, `replica_of`).
    pub path: Key,
    pub reason: String,
    /// What to do instead.
    pub hint: String,
}

/// A change of the replication relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relationship {
    Unchanged,
    /// `replica_of` was removed: the replica is promoted to a standalone server.
    Promote {
        primary: ServerName,
    },
}

/// Compares what the config wants with what the server is, live, and with what pgfleet
/// recorded of it (`stored`, when the state has the server): storage is judged against the
/// `storage_gb` pgfleet last applied, so auto-growth is told apart from a shrink.
pub fn diff_server(desired: &ServerSpec, stored: Option<&ServerRecord>, live: &ServerSpec) -> ServerDiff {
    let mut diff = ServerDiff {
        target: desired.clone(),
        attributes: Vec::new(),
        patch: ServerPatch::default(),
        migration_keys: Vec::new(),
        refusals: Vec::new(),
        notes: Vec::new(),
        relationship: Relationship::Unchanged,
        storage_above_config: false,
        failover: false,
    };
    if desired == live {
        return diff;
    }
    relationship(live, &mut diff);
    carried(live, stored.and_then(|record| record.configured_carried.as_ref()), &mut diff);
    if live.service() != desired.service() {
        // A server moves between services only by migration: the new server gets the whole
        // target.
        diff.migration_keys.push(Key::Service);
        diff.attributes = changed_attributes(live, &diff.target);
        return diff;
    }
    storage(live, stored.and_then(|record| record.configured_storage_gb), &mut diff);
    version(live, &mut diff);
    let mut keys = Vec::new();
    match (&live.flexible, diff.target.flexible.clone()) {
        (Some(live_flexible), Some(target)) => {
            let configured_zone = stored.and_then(|record| record.configured_zone.as_deref());
            flexible(live_flexible, target, configured_zone, &mut diff, &mut keys)
        }
        _ => single(live, &mut diff, &mut keys),
    }
    let target = diff.target.clone();
    let patch = &mut diff.patch;
    in_place(
        target.service(),
        Key::BackupRetentionDays,
        live.backup_retention_days != target.backup_retention_days,
        &mut keys,
        || patch.backup_retention_days = Some(target.backup_retention_days),
    );
    in_place(
        target.service(),
        Key::StorageAutogrow,
        live.storage_autogrow != target.storage_autogrow,
        &mut keys,
        || patch.storage_autogrow = Some(target.storage_autogrow),
    );
    in_place(target.service(), Key::Tags, live.tags != target.tags, &mut keys, || {
        patch.tags = Some(target.tags.clone())
    });
    // These have no PATCH field: the service sets them only at create (rules say create-only).
    for (key, differs) in [
        (Key::GeoRedundantBackup, live.geo_redundant_backup != target.geo_redundant_backup),
        (Key::Location, live.location != target.location),
        (Key::AdminLogin, live.admin_login != target.admin_login),
    ] {
        if differs {
            keys.push(key);
        }
    }
    diff.migration_keys.extend(keys);
    if diff.needs_migration() {
        diff.patch = ServerPatch::default();
    }
    diff.attributes = changed_attributes(live, &diff.target);
    diff
}

/// Parameters, firewall rules and databases: what the file declares is set, created or
/// changed; what pgfleet applied before (`managed`, from the state) and the file no longer
/// declares is reset, deleted or dropped; what exists live that pgfleet never managed is kept as
/// it is (and carried over by a migration). A replica's databases are its primary's: never
/// changed on it. A database's charset and collation are create-only.
fn carried(live: &ServerSpec, managed: Option<&CarriedNames>, diff: &mut ServerDiff) {
    let service = diff.target.service();
    let patch = &mut diff.patch;
    let target = &mut diff.target;
    let was_managed = |names: fn(&CarriedNames) -> &std::collections::BTreeSet<String>, name: &str| {
        managed.is_some_and(|managed| names(managed).contains(name))
    };
    for (name, value) in &live.parameters {
        if target.parameters.contains_key(name) {
            continue;
        }
        if was_managed(|m| &m.parameters, name) {
            patch.parameters.insert(name.clone(), None);
        } else if rules::parameter_name(service, name).is_some() {
            target.parameters.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in &target.parameters {
        if live.parameters.get(name) != Some(value) {
            patch.parameters.insert(name.clone(), Some(value.clone()));
        }
    }
    for (name, range) in &live.firewall_rules {
        if target.firewall_rules.contains_key(name) {
            continue;
        }
        if was_managed(|m| &m.firewall_rules, name) {
            patch.firewall_rules.insert(name.clone(), None);
        } else {
            target.firewall_rules.insert(name.clone(), *range);
        }
    }
    for (name, range) in &target.firewall_rules {
        if live.firewall_rules.get(name) != Some(range) {
            patch.firewall_rules.insert(name.clone(), Some(*range));
        }
    }
    if target.replica_of.is_some() {
        target.databases = live.databases.clone();
        return;
    }
    for (name, database) in &live.databases {
        match target.databases.get(name) {
            None if was_managed(|m| &m.databases, name) => {
                patch.databases.insert(name.clone(), None);
            }
            None => {
                target.databases.insert(name.clone(), database.clone());
            }
            Some(wanted) if !same_database(wanted, database) => {
                diff.refusals.push(FieldRefusal {
                    rule: Rule::CreateOnlyChange,
                    path: Key::Databases,
                    reason: format!(
                        "database {name}'s charset and collation are set at create ({}); they cannot change",
                        describe_database(database)
                    ),
                    hint: "keep the database's charset and collation as they are, or create a new database and move \
                           the data"
                        .to_string(),
                });
                target.databases.insert(name.clone(), database.clone());
            }
            Some(_) => {
                // Unset in the file means the server's default: what it has.
                target.databases.insert(name.clone(), database.clone());
            }
        }
    }
    for (name, database) in &target.databases {
        if !live.databases.contains_key(name) {
            patch.databases.insert(name.clone(), Some(database.clone()));
        }
    }
}

/// Whether a database as the file declares it (unset: any) is the one that exists.
fn same_database(wanted: &DatabaseSpec, live: &DatabaseSpec) -> bool {
    let same = |want: &Option<String>, has: &Option<String>| {
        want.as_ref().is_none_or(|want| has.as_ref().is_some_and(|has| has.eq_ignore_ascii_case(want)))
    };
    same(&wanted.charset, &live.charset) && same(&wanted.collation, &live.collation)
}

fn describe_database(database: &DatabaseSpec) -> String {
    format!(
        "charset {}, collation {}",
        database.charset.as_deref().unwrap_or("default"),
        database.collation.as_deref().unwrap_or("default")
    )
}

/// Single Server's own properties: tier (to or from Basic migrates), generation, vCores, SSL
/// and TLS.
fn single(live: &ServerSpec, diff: &mut ServerDiff, keys: &mut Vec<Key>) {
    let target = diff.target.clone();
    match rules::tier_change(live.tier, target.tier) {
        TierChange::Same => {}
        TierChange::InPlaceRestart => diff.patch.tier = Some(target.tier),
        TierChange::Migration => diff.migration_keys.push(Key::Tier),
    }
    let service = target.service();
    let patch = &mut diff.patch;
    in_place(service, Key::Generation, live.generation != target.generation, keys, || {
        patch.generation = Some(target.generation)
    });
    in_place(service, Key::Vcores, live.vcores != target.vcores, keys, || patch.vcores = Some(target.vcores));
    in_place(service, Key::SslEnforcement, live.ssl_enforcement != target.ssl_enforcement, keys, || {
        patch.ssl_enforcement = Some(target.ssl_enforcement)
    });
    in_place(
        service,
        Key::MinimalTlsVersion,
        live.minimal_tls_version != target.minimal_tls_version,
        keys,
        || patch.minimal_tls_version = Some(target.minimal_tls_version),
    );
}

/// Flexible Server's own properties: the SKU (any tier to any tier, in place), storage type
/// and zone (create-only; zones swapped by a failover are no change), IOPS and throughput, HA
/// (with the standby's zone when enabled), the maintenance window and public access.
fn flexible(
    live: &FlexibleSpec,
    mut target: FlexibleSpec,
    configured_zone: Option<&str>,
    diff: &mut ServerDiff,
    keys: &mut Vec<Key>,
) {
    let swapped = live.high_availability.is_enabled()
        && target.high_availability.is_enabled()
        && rules::zones_swapped(
            (live.zone.as_deref(), live.standby_zone.as_deref()),
            (target.zone.as_deref(), target.standby_zone.as_deref()),
        );
    // The file still names the zone pgfleet applied: a failover swapped the zones (no change).
    // The file now names the standby's zone: the user asks for a planned failover.
    let asked =
        swapped && configured_zone.is_some_and(|configured| Some(configured) != target.zone.as_deref());
    if asked {
        diff.failover = true;
        target.standby_zone = live.zone.clone();
    } else if swapped {
        diff.notes.push(format!(
            "the primary runs in zone {} and its standby in zone {}: a failover swapped them; that is not a \
             change",
            live.zone.as_deref().unwrap_or("?"),
            live.standby_zone.as_deref().unwrap_or("?")
        ));
        target.zone = live.zone.clone();
        target.standby_zone = live.standby_zone.clone();
    }
    // No zone in the file: the service places the server (and the standby); nothing to compare.
    if target.zone.is_none() {
        target.zone = live.zone.clone();
    }
    if target.standby_zone.is_none() && target.high_availability == live.high_availability {
        target.standby_zone = live.standby_zone.clone();
    }
    let patch = &mut diff.patch;
    let service = rules::Service::Flexible;
    in_place(service, Key::Sku, live.sku != target.sku, keys, || patch.sku = Some(target.sku.clone()));
    in_place(service, Key::StorageType, live.storage_type != target.storage_type, keys, || {});
    // After a planned failover the server runs where the file says: the zones are its change.
    let failover = diff.failover;
    in_place(service, Key::Zone, live.zone != target.zone && !failover, keys, || {});
    in_place(service, Key::Iops, live.iops != target.iops, keys, || patch.iops = target.iops);
    in_place(service, Key::Throughput, live.throughput != target.throughput, keys, || {
        patch.throughput = target.throughput
    });
    let standby_moves = live.standby_zone != target.standby_zone && !failover;
    in_place(
        service,
        Key::HighAvailability,
        live.high_availability != target.high_availability || standby_moves,
        keys,
        || {
            patch.high_availability = Some(target.high_availability);
            if target.high_availability.is_enabled() {
                patch.standby_zone = Some(target.standby_zone.clone());
            }
        },
    );
    in_place(
        service,
        Key::MaintenanceWindow,
        live.maintenance_window != target.maintenance_window,
        keys,
        || patch.maintenance_window = Some(target.maintenance_window),
    );
    in_place(
        service,
        Key::PublicNetworkAccess,
        live.public_network_access != target.public_network_access,
        keys,
        || patch.public_network_access = Some(target.public_network_access),
    );
    diff.target.flexible = Some(target);
    diff.target.derive_compute();
}

/// Records an in-place change through `set`, or a migration key when the rules say the
/// property is create-only.
fn in_place(
    service: rules::Service,
    key: Key,
    differs: bool,
    migration_keys: &mut Vec<Key>,
    set: impl FnOnce(),
) {
    if !differs {
        return;
    }
    match rules::property_rule(service, key).map(|rule| rule.change) {
        Some(PropertyChange::CreateOnly) => migration_keys.push(key),
        _ => set(),
    }
}

fn relationship(live: &ServerSpec, diff: &mut ServerDiff) {
    match (&live.replica_of, &diff.target.replica_of) {
        (Some(primary), None) => diff.relationship = Relationship::Promote { primary: primary.clone() },
        (None, Some(primary)) => {
            diff.refusals.push(FieldRefusal {
                rule: Rule::ServerToReplica,
                path: Key::ReplicaOf,
                reason: format!(
                    "the service cannot turn an existing server into a replica (of {primary}); a replica is \
                     always created as one"
                ),
                hint: format!(
                    "for a replica of {primary}, add a new server with replica_of = \"{primary}\"; to replace \
                     this server by a replica, remove it, apply with --allow-delete, then add it back"
                ),
            });
            diff.target.replica_of = None;
        }
        (Some(current), Some(wanted)) if current != wanted => {
            diff.refusals.push(FieldRefusal {
                rule: Rule::ReplicaMove,
                path: Key::ReplicaOf,
                reason: format!("a replica of {current} cannot be moved to another primary ({wanted})"),
                hint: format!(
                    "remove replica_of to promote it to a standalone server, or add a new server with \
                     replica_of = \"{wanted}\""
                ),
            });
            diff.target.replica_of = Some(current.clone());
        }
        _ => {}
    }
}

/// Storage: desired (`wanted`) against live and against the size pgfleet last applied
/// (`applied`, from the state). Growing is a change. The live size being above the config is
/// no change (a note) unless the config was lowered below what pgfleet applied: that is a
/// shrink, which the service refuses. Without a recorded size, only auto-growth (auto-grow on,
/// live and in the config) is told apart from a shrink.
fn storage(live: &ServerSpec, applied: Option<u32>, diff: &mut ServerDiff) {
    let wanted = diff.target.storage_gb;
    let has = live.storage_gb;
    match rules::storage_change(has, wanted) {
        StorageChange::Grow => {
            diff.patch.storage_gb = Some(wanted);
            return;
        }
        StorageChange::Same => return,
        StorageChange::ShrinkRefused => {}
    }
    diff.target.storage_gb = has;
    let lowered_from =
        applied.filter(|&applied| rules::storage_change(applied, wanted) == StorageChange::ShrinkRefused);
    let above_config = match applied {
        Some(_) => lowered_from.is_none(),
        None => live.storage_autogrow && diff.target.storage_autogrow,
    };
    if above_config {
        diff.storage_above_config = true;
        let how = match applied {
            Some(applied) if !live.storage_autogrow => format!(
                "grew to {has} GB since pgfleet applied {applied} GB (outside pgfleet, or while auto-grow was on)"
            ),
            _ => format!("auto-grew to {has} GB"),
        };
        diff.notes.push(format!(
            "storage {how}, above the configured {wanted} GB; storage never shrinks, so this is not a change \
             and not a shrink (set storage_gb = {has} to make the config match)"
        ));
        return;
    }
    let rule = if live.flexible.is_some() { Rule::FlexibleStorageShrink } else { Rule::StorageShrink };
    let code = rule.code_str();
    let (reason, floor) = match lowered_from {
        Some(applied) => (
            format!(
                "storage cannot shrink: storage_gb was lowered from {applied} GB (applied by pgfleet) to \
                 {wanted} GB and the server has {has} GB (the service refuses with {code})"
            ),
            applied,
        ),
        None => (
            format!(
                "storage cannot shrink: the server has {has} GB and the config asks for {wanted} GB (the \
                 service refuses with {code})"
            ),
            has,
        ),
    };
    diff.refusals.push(FieldRefusal {
        rule,
        path: Key::StorageGb,
        reason,
        hint: format!(
            "set storage_gb = {floor} or more; for a smaller disk, create a new server of that size and \
             move the data with pg_dump/pg_restore"
        ),
    });
}

fn version(live: &ServerSpec, diff: &mut ServerDiff) {
    match rules::version_change(live.service(), live.version, diff.target.version) {
        VersionChange::Same => {}
        VersionChange::UpgradeByMigration => diff.migration_keys.push(Key::Version),
        VersionChange::UpgradeInPlace => diff.patch.version = Some(diff.target.version),
        VersionChange::DowngradeRefused => {
            diff.refusals.push(FieldRefusal {
                rule: Rule::VersionDowngrade,
                path: Key::Version,
                reason: format!(
                    "PostgreSQL {} cannot be downgraded to {}: a dump of a newer server is not guaranteed to \
                     restore into an older one",
                    live.version, diff.target.version
                ),
                hint: format!(
                    "keep version = \"{}\"; for an older version, create a new server and move the data \
                     yourself",
                    live.version
                ),
            });
            diff.target.version = live.version;
        }
    }
}

/// A spec as fleet-file keys and JSON values, with one `tags.KEY` entry per tag and one
/// `parameters.NAME`, `firewall_rules.NAME`, `databases.NAME` entry per carried item.
///
/// Only the keys of the server's service are listed (a flexible server's `sku`, `zone` …, with
/// its derived `tier` and `vcores`; a single server's `generation`, `ssl_enforcement` …).
/// `service` is listed on flexible servers; a single server leaves it out, as its file may.
pub fn spec_fields(spec: &ServerSpec) -> BTreeMap<String, Value> {
    let mut fields = BTreeMap::new();
    let service = spec.service();
    if let Ok(Value::Object(object)) = serde_json::to_value(spec) {
        for (key, value) in object {
            match key.as_str() {
                "tags" | "parameters" | "firewall_rules" | "databases" => {}
                "flexible" => {
                    fields.insert(Key::Service.as_str().to_string(), Value::String(service.as_str().into()));
                    if let Value::Object(flexible) = value {
                        fields.extend(flexible);
                    }
                }
                // Derived from the SKU on a flexible server, and shown.
                "tier" | "vcores" => {
                    fields.insert(key, value);
                }
                _ if Key::parse(&key).is_some_and(|key| !key.is_of(service)) => {}
                _ => {
                    fields.insert(key, value);
                }
            }
        }
    }
    for (key, value) in &spec.tags {
        fields.insert(format!("tags.{key}"), Value::String(value.clone()));
    }
    for (name, value) in &spec.parameters {
        fields.insert(format!("{}.{name}", Key::Parameters), Value::String(value.clone()));
    }
    for (name, range) in &spec.firewall_rules {
        fields.insert(format!("{}.{name}", Key::FirewallRules), Value::String(range.to_string()));
    }
    for (name, database) in &spec.databases {
        let value = serde_json::to_value(database).unwrap_or(Value::Null);
        fields.insert(format!("{}.{name}", Key::Databases), value);
    }
    fields
}

/// A spec as attribute paths and JSON values, in the order of [`spec_fields`].
pub fn spec_attributes(spec: &ServerSpec) -> Vec<(AttributePath, Value)> {
    spec_fields(spec).into_iter().map(|(field, value)| (AttributePath::of_field(&field), value)).collect()
}

/// Every key whose value differs between two specs (`null` where a key is absent).
fn changed_attributes(before: &ServerSpec, after: &ServerSpec) -> Vec<AttributeChange> {
    let before = spec_fields(before);
    let after = spec_fields(after);
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    // A single server leaves `service` out of its fields: it is "single", not absent.
    let value = |fields: &BTreeMap<String, Value>, key: &str| match fields.get(key) {
        Some(value) => value.clone(),
        None if key == Key::Service.as_str() => Value::String(rules::Service::Single.as_str().into()),
        None => Value::Null,
    };
    keys.into_iter()
        .filter_map(|key| {
            let old = value(&before, key);
            let new = value(&after, key);
            (old != new).then(|| AttributeChange {
                path: AttributePath::of_field(key),
                before: old,
                after: new,
            })
        })
        .collect()
}

/// The size of a server as the replica rules see it.
pub fn size_of(spec: &ServerSpec) -> SkuSize {
    spec.size()
}
