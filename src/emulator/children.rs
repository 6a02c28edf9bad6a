//! A server's child resources in the emulator: configurations (server parameters), firewall
//! rules and databases, with the shapes of the upstream examples.

use super::store::{ApiError, Store, WriteOutcome, refused, shape_of};
use crate::providers::azure::parse_replication_support;
use crate::providers::azure::wire::{ChildResource, Configuration, ConfigurationProperties};
use crate::rules::ReplicationSupport;
use crate::rules::check;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::time::Instant;

/// Firewall rules and databases of one server, by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChildMaps {
    pub firewall_rules: BTreeMap<String, BTreeMap<String, String>>,
    pub databases: BTreeMap<String, BTreeMap<String, String>>,
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

    fn map(self, children: &mut ChildMaps) -> &mut BTreeMap<String, BTreeMap<String, String>> {
        match self {
            ChildKind::FirewallRules => &mut children.firewall_rules,
            ChildKind::Databases => &mut children.databases,
        }
    }
}

/// A known server parameter: default, data type, allowed values, description.
struct Parameter {
    name: &'static str,
    default: &'static str,
    data_type: &'static str,
    allowed: &'static str,
    description: &'static str,
}

/// The parameters the emulator knows (`array_nulls` is the upstream example's).
const PARAMETERS: &[Parameter] = &[
    Parameter {
        name: ReplicationSupport::PARAMETER,
        default: "OFF",
        data_type: "Enumeration",
        allowed: "OFF,REPLICA,LOGICAL",
        description: "Sets the level of replication support: OFF, REPLICA or LOGICAL (takes effect on restart).",
    },
    Parameter {
        name: "array_nulls",
        default: "on",
        data_type: "Boolean",
        allowed: "on,off",
        description: "Enable input of NULL elements in arrays.",
    },
];

fn parameter(name: &str) -> Result<&'static Parameter, ApiError> {
    PARAMETERS.iter().find(|p| p.name == name).ok_or_else(|| {
        ApiError::new(404, "ConfigurationNotFound", format!("The configuration '{name}' does not exist."))
    })
}

impl Store {
    /// `GET …/configurations/{name}`: the configured value, else the default.
    ///
    /// # Errors
    /// 404 for a missing server or an unknown parameter.
    pub fn configuration(
        &self,
        group: &str,
        server: &str,
        name: &str,
        now: Instant,
    ) -> Result<Configuration, ApiError> {
        let found = self.find(group, server, now)?;
        let parameter = parameter(name)?;
        let configured = found.configurations.get(name);
        Ok(Configuration {
            id: Some(format!("{}/configurations/{name}", found.id())),
            name: Some(name.to_string()),
            kind: Some("Microsoft.DBforPostgreSQL/servers/configurations".into()),
            properties: ConfigurationProperties {
                value: Some(configured.cloned().unwrap_or_else(|| parameter.default.to_string())),
                description: Some(parameter.description.into()),
                default_value: Some(parameter.default.into()),
                data_type: Some(parameter.data_type.into()),
                allowed_values: Some(parameter.allowed.into()),
                source: Some(if configured.is_some() { "user-override" } else { "system-default" }.into()),
            },
        })
    }

    /// `PUT …/configurations/{name}` (async; a restart applies `azure.replication_support`).
    ///
    /// # Errors
    /// 404 for a missing server or parameter; 400 for a value outside the allowed ones, or
    /// replication on Basic.
    pub(crate) fn set_configuration(
        &mut self,
        group: &str,
        server: &str,
        name: &str,
        body: Configuration,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        let parameter = parameter(name)?;
        let found = self.find(group, server, now)?;
        let value = body.properties.value.unwrap_or_else(|| parameter.default.to_string());
        if !parameter.allowed.split(',').any(|a| a.eq_ignore_ascii_case(&value)) {
            return Err(ApiError::new(
                400,
                "InvalidParameterValue",
                format!("Invalid value '{value}' for parameter '{name}'; allowed: {}.", parameter.allowed),
            ));
        }
        if let Some(support) =
            parse_replication_support(&value).filter(|_| name == ReplicationSupport::PARAMETER)
        {
            let key = found.name.to_ascii_lowercase();
            let replicas =
                self.servers.values().filter(|s| s.master.as_deref() == Some(key.as_str())).count();
            check::check_replication_support(&shape_of(found)?, support, replicas).map_err(refused)?;
        }
        let server = self.servers.get_mut(&server.to_ascii_lowercase()).expect("found above");
        server.configurations.insert(name.to_string(), stored_value(name, &value));
        let server = server.clone();
        Ok(self.accepted_for(&server, Duration::ZERO, now))
    }

    /// `GET …/configurations`: every known parameter.
    ///
    /// # Errors
    /// 404 for a missing server.
    pub fn configurations(
        &self,
        group: &str,
        server: &str,
        now: Instant,
    ) -> Result<Vec<Configuration>, ApiError> {
        PARAMETERS.iter().map(|p| self.configuration(group, server, p.name, now)).collect()
    }

    /// `PUT` of a firewall rule or database: synchronous 201 (new) or 200 (replaced).
    ///
    /// # Errors
    /// 404 for a missing server; 400 for a firewall rule without valid IPv4 addresses.
    pub(crate) fn put_child(
        &mut self,
        group: &str,
        server: &str,
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
        let found = self.find_mut(group, server, now)?;
        let id = format!("{}/{}/{name}", found.id(), kind.segment());
        let existed =
            kind.map(&mut found.children).insert(name.to_string(), body.properties.clone()).is_some();
        Ok((if existed { 200 } else { 201 }, child(kind, id, name, body.properties)))
    }

    /// `GET` of one child, or of all (`name` `None`).
    ///
    /// # Errors
    /// 404 for a missing server or child.
    pub(crate) fn get_children(
        &mut self,
        group: &str,
        server: &str,
        kind: ChildKind,
        name: Option<&str>,
        now: Instant,
    ) -> Result<Vec<ChildResource>, ApiError> {
        let found = self.find_mut(group, server, now)?;
        let base = found.id();
        let map = kind.map(&mut found.children);
        let children: Vec<ChildResource> = map
            .iter()
            .filter(|(child_name, _)| name.is_none_or(|n| n == child_name.as_str()))
            .map(|(child_name, props)| {
                child(kind, format!("{base}/{}/{child_name}", kind.segment()), child_name, props.clone())
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
        group: &str,
        server: &str,
        kind: ChildKind,
        name: &str,
        now: Instant,
    ) -> Result<bool, ApiError> {
        let found = self.find_mut(group, server, now)?;
        Ok(kind.map(&mut found.children).remove(name).is_some())
    }
}

fn child(kind: ChildKind, id: String, name: &str, properties: BTreeMap<String, String>) -> ChildResource {
    ChildResource {
        id: Some(id),
        name: Some(name.to_string()),
        kind: Some(format!("Microsoft.DBforPostgreSQL/servers/{}", kind.segment())),
        properties,
    }
}

/// Replication support is stored upper-case as the service spells it; other values as sent.
fn stored_value(parameter: &str, value: &str) -> String {
    if parameter == ReplicationSupport::PARAMETER { value.to_ascii_uppercase() } else { value.to_string() }
}
