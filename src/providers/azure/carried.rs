//! What a server carries, over ARM: its parameters (`…/configurations`), firewall rules
//! (`…/firewallRules`) and databases (`…/databases`), in the same shapes on both services.
//! Read on refresh (parameters only where a user set them; system databases left out), and
//! written one resource at a time, each write's operation waited for.
//!
//! Must not: judge a value (the rules did, in the validator and the planner).

use super::wire::{ChildResource, Configuration, ConfigurationProperties};
use super::{AzureProvider, ServerRef};
use crate::model::{DatabaseSpec, FirewallRange, ServerName, ServerPatch, ServerSpec};
use crate::providers::{ProviderError, ProviderErrorKind};
use crate::rules::{self, ReplicationSupport};
use reqwest::Method;
use serde::Deserialize;
use std::collections::BTreeMap;
use tokio::time::Instant;

#[derive(Deserialize)]
struct List<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
}

/// A patch that sets everything `spec` carries (a new server's, or a migration target's).
pub(super) fn patch_of(spec: &ServerSpec) -> ServerPatch {
    ServerPatch {
        parameters: spec.parameters.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
        firewall_rules: spec.firewall_rules.iter().map(|(k, v)| (k.clone(), Some(*v))).collect(),
        databases: if spec.replica_of.is_some() {
            BTreeMap::new()
        } else {
            spec.databases.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect()
        },
        ..ServerPatch::default()
    }
}

fn bad_answer(what: &str) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Other, format!("the service answered {what} without its fields"))
}

impl AzureProvider {
    /// The parameters users set, the firewall rules and the databases of the server `name`,
    /// into `spec` (for the servers the fleet declares them for: `AzureProviderOptions::read_carried`).
    pub(super) async fn read_carried(
        &self,
        name: &ServerName,
        location: &ServerRef,
        spec: &mut ServerSpec,
    ) -> Result<(), ProviderError> {
        // A migration's staging server carries what its server declares.
        let declared =
            self.read_carried.iter().any(|known| known == name || crate::model::staging_name(known) == *name);
        if !declared {
            return Ok(());
        }
        let base = AzureProvider::server_path(location);
        let service = location.service;
        let configurations: List<Configuration> =
            self.client.get(&self.client.url(&format!("{base}/configurations"))).await?;
        spec.parameters = configurations
            .value
            .into_iter()
            .filter(|c| {
                c.properties.source.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("user-override"))
            })
            .filter_map(|c| Some((rules::parameter_name(service, c.name.as_deref()?)?, c.properties.value?)))
            // pgfleet sets replication support itself (the plan's replication step).
            .filter(|(name, _)| *name != ReplicationSupport::PARAMETER)
            .map(|(name, value)| (name.to_string(), value))
            .collect();
        let rules_list: List<ChildResource> =
            self.client.get(&self.client.url(&format!("{base}/firewallRules"))).await?;
        spec.firewall_rules = rules_list
            .value
            .into_iter()
            .map(|rule| {
                let address = |field: &str| rule.properties.get(field).and_then(|text| text.parse().ok());
                let range = FirewallRange {
                    start: address("startIpAddress").ok_or_else(|| bad_answer("a firewall rule"))?,
                    end: address("endIpAddress").ok_or_else(|| bad_answer("a firewall rule"))?,
                };
                Ok((rule.name.ok_or_else(|| bad_answer("a firewall rule"))?, range))
            })
            .collect::<Result<_, ProviderError>>()?;
        let databases: List<ChildResource> =
            self.client.get(&self.client.url(&format!("{base}/databases"))).await?;
        spec.databases = databases
            .value
            .into_iter()
            .filter_map(|database| {
                let name = database.name?;
                (!rules::is_system_database(&name)).then(|| {
                    let field = |key: &str| database.properties.get(key).cloned();
                    (name, DatabaseSpec { charset: field("charset"), collation: field("collation") })
                })
            })
            .collect();
        Ok(())
    }

    /// Writes the parameters, firewall rules and databases of `patch`, one request each, and
    /// restarts the server when a static parameter changed and nothing else restarts it.
    pub(super) async fn write_carried(
        &self,
        location: &ServerRef,
        patch: &ServerPatch,
        restarted_anyway: bool,
        replica: bool,
    ) -> Result<(), ProviderError> {
        let base = AzureProvider::server_path(location);
        for (name, value) in &patch.parameters {
            let properties = match value {
                Some(value) => ConfigurationProperties {
                    value: Some(value.clone()),
                    source: Some("user-override".into()),
                    ..ConfigurationProperties::default()
                },
                None => ConfigurationProperties {
                    source: Some("system-default".into()),
                    ..ConfigurationProperties::default()
                },
            };
            let body = Configuration { id: None, name: None, kind: None, properties };
            self.write_child(Method::PUT, &format!("{base}/configurations/{name}"), Some(&body)).await?;
        }
        for (name, range) in &patch.firewall_rules {
            let path = format!("{base}/firewallRules/{name}");
            match range {
                Some(range) => {
                    let properties = BTreeMap::from([
                        ("startIpAddress".to_string(), range.start.to_string()),
                        ("endIpAddress".to_string(), range.end.to_string()),
                    ]);
                    let body = ChildResource { id: None, name: None, kind: None, properties };
                    self.write_child(Method::PUT, &path, Some(&body)).await?;
                }
                None => self.write_child::<()>(Method::DELETE, &path, None).await?,
            }
        }
        if !replica {
            for (name, database) in &patch.databases {
                let path = format!("{base}/databases/{name}");
                match database {
                    Some(database) => {
                        let properties: BTreeMap<String, String> =
                            [("charset", &database.charset), ("collation", &database.collation)]
                                .into_iter()
                                .filter_map(|(key, value)| Some((key.to_string(), value.clone()?)))
                                .collect();
                        let body = ChildResource { id: None, name: None, kind: None, properties };
                        self.write_child(Method::PUT, &path, Some(&body)).await?;
                    }
                    None => self.write_child::<()>(Method::DELETE, &path, None).await?,
                }
            }
        }
        if patch.sets_static_parameter(location.service) && !restarted_anyway {
            let deadline = Instant::now() + self.client.polling.timeout;
            let url = self.client.url(&format!("{base}/restart"));
            let response = self.client.call::<()>(Method::POST, &url, None).await?;
            self.client.wait_operation(&response, deadline).await?;
        }
        Ok(())
    }

    /// One child write, its operation waited for; deleting what is gone succeeds.
    async fn write_child<B: serde::Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), ProviderError> {
        let deadline = Instant::now() + self.client.polling.timeout;
        let delete = method == Method::DELETE;
        match self.client.call(method, &self.client.url(path), body).await {
            Ok(response) => self.client.wait_operation(&response, deadline).await,
            Err(error) if delete && error.kind == ProviderErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        }
    }
}
