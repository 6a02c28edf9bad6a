//! A server's child resources in the emulator: firewall rules and databases, with the shapes
//! of the upstream examples (server parameters are `parameters`), for both services.

use super::policies::{SecurityAlertPolicy, VirtualNetworkRule};
use super::store::{ApiError, Store, resource_type};
use crate::providers::azure::wire::ChildResource;
use crate::rules::Service;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use tokio::time::Instant;

/// The system databases a server lists (`crate::rules::SYSTEM_DATABASES` are those that cannot
/// be declared or dropped; the templates are not listed).
pub(crate) const SYSTEM_DATABASES: &[&str] = &["azure_maintenance", "azure_sys", "postgres"];

/// The properties of a system database (the service's charset and collation).
fn system_database() -> BTreeMap<String, String> {
    [("charset", "UTF8"), ("collation", "English_United States.1252")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn is_system_database(name: &str) -> bool {
    crate::rules::is_system_database(name)
}

/// The children of one server, by name. Fields added after the first state files have serde
/// defaults, so those still load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChildMaps {
    pub firewall_rules: BTreeMap<String, BTreeMap<String, String>>,
    /// The user's databases (the system ones are implied: [`SYSTEM_DATABASES`]).
    pub databases: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) virtual_network_rules: BTreeMap<String, VirtualNetworkRule>,
    /// `None` until first written: the default policy (`Disabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) security_alert_policy: Option<SecurityAlertPolicy>,
}

/// Which collection a child request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    FirewallRules,
    Databases,
}

impl ChildKind {
    pub fn segment(self) -> &'static str {
        match self {
            ChildKind::FirewallRules => "firewallRules",
            ChildKind::Databases => "databases",
        }
    }

    fn of(self, children: &ChildMaps) -> &BTreeMap<String, BTreeMap<String, String>> {
        match self {
            ChildKind::FirewallRules => &children.firewall_rules,
            ChildKind::Databases => &children.databases,
        }
    }

    fn map(self, children: &mut ChildMaps) -> &mut BTreeMap<String, BTreeMap<String, String>> {
        match self {
            ChildKind::FirewallRules => &mut children.firewall_rules,
            ChildKind::Databases => &mut children.databases,
        }
    }
}

/// The server a child request is under: its service, resource group and name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parent<'a> {
    pub service: Service,
    pub group: &'a str,
    pub server: &'a str,
}

impl Store {
    /// `PUT` of a firewall rule or database: synchronous 201 (new) or 200 (replaced).
    ///
    /// # Errors
    /// 404 for a missing server; 400 for a firewall rule without valid IPv4 addresses.
    pub(crate) fn put_child(
        &mut self,
        parent: Parent<'_>,
        kind: ChildKind,
        name: &str,
        body: ChildResource,
        now: Instant,
    ) -> Result<(u16, ChildResource), ApiError> {
        if kind == ChildKind::FirewallRules {
            for field in ["startIpAddress", "endIpAddress"] {
                let value = body.properties.get(field).map(String::as_str).unwrap_or_default();
                if value.parse::<Ipv4Addr>().is_err() {
                    return Err(ApiError::new(
                        400,
                        "InvalidParameterValue",
                        format!("{field} '{value}' is not an IPv4 address."),
                    ));
                }
            }
        }
        let range = || {
            let field = |key: &str| body.properties.get(key).map(String::as_str).unwrap_or_default();
            format!("{}-{}", field("startIpAddress"), field("endIpAddress"))
        };
        let problem = match kind {
            ChildKind::FirewallRules => crate::rules::firewall_rule_name_problem(name)
                .or_else(|| crate::rules::firewall_range(name, &range()).err()),
            ChildKind::Databases if is_system_database(name) => None,
            ChildKind::Databases => crate::rules::database_name_problem(name),
        };
        if let Some(refusal) = problem {
            return Err(super::store::refused(refusal));
        }
        let found = self.find_mut_in(parent.service, parent.group, parent.server, now)?;
        if kind == ChildKind::FirewallRules {
            found.extras.check_network_rules("Firewall rules")?;
        }
        if kind == ChildKind::Databases && is_system_database(name) {
            let name = name.to_ascii_lowercase();
            let id = format!("{}/databases/{name}", found.id());
            return Ok((200, child(parent.service, kind, id, &name, system_database())));
        }
        let map = kind.map(&mut found.children);
        // Names are case-insensitive: a PUT in another case replaces the child, which keeps
        // the spelling it was created with.
        let existing = key_of(map, name);
        let name = existing.clone().unwrap_or_else(|| name.to_string());
        map.insert(name.clone(), body.properties.clone());
        let id = format!("{}/{}/{name}", found.id(), kind.segment());
        Ok((
            if existing.is_some() { 200 } else { 201 },
            child(parent.service, kind, id, &name, body.properties),
        ))
    }

    /// `GET` of one child, or of all (`name` `None`).
    ///
    /// # Errors
    /// 404 for a missing server or child.
    pub(crate) fn get_children(
        &mut self,
        parent: Parent<'_>,
        kind: ChildKind,
        name: Option<&str>,
        now: Instant,
    ) -> Result<Vec<ChildResource>, ApiError> {
        let found = self.find_in(parent.service, parent.group, parent.server, now)?;
        let base = found.id();
        // A replica is a copy of its primary: it has the primary's databases.
        let holder = match (kind, found.master.as_ref().and_then(|m| self.servers.get(m))) {
            (ChildKind::Databases, Some(primary)) => primary,
            _ => found,
        };
        let mut all = kind.of(&holder.children).clone();
        if kind == ChildKind::Databases {
            all.extend(SYSTEM_DATABASES.iter().map(|name| (name.to_string(), system_database())));
        }
        let children: Vec<ChildResource> = all
            .iter()
            .filter(|(child_name, _)| name.is_none_or(|n| n.eq_ignore_ascii_case(child_name)))
            .map(|(child_name, props)| {
                child(
                    parent.service,
                    kind,
                    format!("{base}/{}/{child_name}", kind.segment()),
                    child_name,
                    props.clone(),
                )
            })
            .collect();
        if name.is_some() && children.is_empty() {
            return Err(ApiError::new(
                404,
                "ResourceNotFound",
                format!("'{}' was not found.", name.unwrap_or_default()),
            ));
        }
        Ok(children)
    }

    /// `DELETE` of a child: whether it existed.
    ///
    /// # Errors
    /// 404 for a missing server.
    pub(crate) fn delete_child(
        &mut self,
        parent: Parent<'_>,
        kind: ChildKind,
        name: &str,
        now: Instant,
    ) -> Result<bool, ApiError> {
        let found = self.find_mut_in(parent.service, parent.group, parent.server, now)?;
        if kind == ChildKind::Databases && is_system_database(name) {
            return Err(ApiError::new(
                400,
                "SystemDatabaseCannotBeDropped",
                format!("The database '{name}' is a system database and cannot be dropped."),
            ));
        }
        let map = kind.map(&mut found.children);
        Ok(key_of(map, name).and_then(|key| map.remove(&key)).is_some())
    }
}

/// The key under which a child called `name` (in any case) is kept.
pub(crate) fn key_of<T>(map: &BTreeMap<String, T>, name: &str) -> Option<String> {
    map.keys().find(|key| key.eq_ignore_ascii_case(name)).cloned()
}

fn child(
    service: Service,
    kind: ChildKind,
    id: String,
    name: &str,
    properties: BTreeMap<String, String>,
) -> ChildResource {
    ChildResource {
        id: Some(id),
        name: Some(name.to_string()),
        kind: Some(format!("{}/{}", resource_type(service), kind.segment())),
        properties,
    }
}
