//! A Single Server's parameters (`…/configurations`), served from the catalog of
//! `crate::rules` (`rules::parameters(Service::Single)`): each parameter's default (computed for
//! the server's SKU where it follows the compute), data type, allowed values and description;
//! a configured value is shown with `source: user-override`. A PUT is checked by
//! `rules::value_problem` (and, for `azure.replication_support`, by the replication rules) and
//! stored as `rules::normalized_value` spells it; `source: system-default` resets it.
//!
//! Must not: keep a list of parameters of its own.

use super::store::{ApiError, EmServer, Store, WriteOutcome, refused, resource_type, shape_of};
use crate::providers::azure::parse_replication_support;
use crate::providers::azure::wire::{Configuration, ConfigurationProperties};
use crate::rules::{self, ParameterSpec, ReplicationSupport, Service, check};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The catalog's entry for `name`.
///
/// # Errors
/// 404 `ResourceNotFound` for a parameter the service does not have.
fn spec(service: Service, name: &str) -> Result<&'static ParameterSpec, ApiError> {
    rules::parameter(service, name).ok_or_else(|| {
        ApiError::new(
            404,
            "ResourceNotFound",
            format!(
                "The requested resource of type '{}/configurations' with name '{name}' was not found.",
                resource_type(service)
            ),
        )
    })
}

/// One parameter of `server` as GET answers it.
fn configuration(server: &EmServer, spec: &ParameterSpec) -> Configuration {
    let service = server.service();
    let default = rules::default_value(service, spec.name, Some(&server.sku))
        .unwrap_or_else(|| spec.default.to_string());
    let configured = server.configurations.get(spec.name);
    // Flexible Server's api-version says more about each parameter than Single Server's.
    let flexible = service == Service::Flexible;
    Configuration {
        id: Some(format!("{}/configurations/{}", server.id(), spec.name)),
        name: Some(spec.name.to_string()),
        kind: Some(format!("{}/configurations", resource_type(service))),
        properties: ConfigurationProperties {
            value: Some(configured.cloned().unwrap_or_else(|| default.clone())),
            description: Some(spec.description.into()),
            default_value: Some(default),
            data_type: Some(spec.data_type.arm_name().into()),
            allowed_values: Some(spec.allowed.into()),
            source: Some(if configured.is_some() { "user-override" } else { "system-default" }.into()),
            is_read_only: Some(spec.read_only),
            is_dynamic_config: flexible.then_some(!spec.is_static),
            unit: spec.unit.filter(|_| flexible).map(str::to_string),
        },
    }
}

fn invalid(name: &str, why: &str) -> ApiError {
    ApiError::new(
        400,
        "InvalidParameterValue",
        format!("Invalid value given for parameter {name}: {why}. Specify a valid parameter value."),
    )
}

/// A primary and a replica, each with the parameters it has (or would have).
type FloorPair<'a> = (&'a EmServer, &'a BTreeMap<String, String>, &'a EmServer, &'a BTreeMap<String, String>);

impl Store {
    /// A replica's `max_connections`-like parameters never fall below its primary's
    /// (`rules::replica_parameters_below`): a write to `server` that would make them is refused.
    fn check_parameter_floor(
        &self,
        server: &EmServer,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), ApiError> {
        let service = server.service();
        let mut changed = server.configurations.clone();
        match value {
            Some(value) => changed.insert(name.to_string(), value.to_string()),
            None => changed.remove(name),
        };
        let key = server.name.to_ascii_lowercase();
        let pairs: Vec<FloorPair<'_>> = match server.master.as_ref().and_then(|m| self.servers.get(m)) {
            Some(primary) => vec![(primary, &primary.configurations, server, &changed)],
            None => self
                .servers
                .replicas_of(&key)
                .map(|replica| (server, &changed, replica, &replica.configurations))
                .collect(),
        };
        for (primary, theirs, replica, ours) in pairs {
            let below =
                rules::replica_parameters_below(service, (theirs, &primary.sku), (ours, &replica.sku));
            if let Some(refusal) = rules::replica_parameter_refusal(&replica.name, &primary.name, &below) {
                return Err(refused(refusal));
            }
        }
        Ok(())
    }

    /// `GET …/configurations/{name}`: the configured value, else the default.
    ///
    /// # Errors
    /// 404 for a missing server or an unknown parameter.
    pub fn configuration(
        &self,
        service: Service,
        group: &str,
        server: &str,
        name: &str,
        now: Instant,
    ) -> Result<Configuration, ApiError> {
        let found = self.find_in(service, group, server, now)?;
        Ok(configuration(found, spec(service, name)?))
    }

    /// `GET …/configurations`: every parameter of the catalog.
    ///
    /// # Errors
    /// 404 for a missing server.
    pub fn configurations(
        &self,
        service: Service,
        group: &str,
        server: &str,
        now: Instant,
    ) -> Result<Vec<Configuration>, ApiError> {
        let found = self.find_in(service, group, server, now)?;
        Ok(rules::parameters(service).iter().map(|spec| configuration(found, spec)).collect())
    }

    /// `PUT …/configurations/{name}` (async; a restart applies static ones such as
    /// `azure.replication_support`). `source: system-default` (or no value) resets it.
    ///
    /// # Errors
    /// 404 for a missing server or parameter; 400 for a read-only parameter, a value the
    /// catalog refuses, or replication support the rules refuse.
    pub(crate) fn set_configuration(
        &mut self,
        service: Service,
        group: &str,
        server: &str,
        name: &str,
        body: Configuration,
        now: Instant,
    ) -> Result<WriteOutcome, ApiError> {
        let spec = spec(service, name)?;
        let found = self.find_in(service, group, server, now)?;
        if spec.read_only {
            return Err(invalid(spec.name, "the parameter is read-only"));
        }
        let reset =
            body.properties.source.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("system-default"))
                || body.properties.value.is_none();
        let value = match body.properties.value.as_deref().filter(|_| !reset) {
            Some(value) => {
                if let Some(problem) = rules::value_problem(spec, value) {
                    return Err(invalid(spec.name, &problem));
                }
                Some(rules::normalized_value(spec, value).unwrap_or_else(|| value.to_string()))
            }
            None => None,
        };
        if spec.name == ReplicationSupport::PARAMETER {
            let in_effect =
                value.clone().or_else(|| rules::default_value(Service::Single, spec.name, Some(&found.sku)));
            if let Some(support) = in_effect.as_deref().and_then(parse_replication_support) {
                let key = found.name.to_ascii_lowercase();
                let replicas = self.servers.replicas_of(&key).count();
                check::check_replication_support(&shape_of(found)?, support, replicas).map_err(refused)?;
            }
        }
        if rules::REPLICA_FLOOR_PARAMETERS.contains(&spec.name) {
            self.check_parameter_floor(found, spec.name, value.as_deref())?;
        }
        let server = self.servers.get_mut(&server.to_ascii_lowercase()).expect("found above");
        match value {
            Some(value) => server.configurations.insert(spec.name.to_string(), value),
            None => server.configurations.remove(spec.name),
        };
        let server = server.clone();
        Ok(self.accepted_for(&server, Duration::ZERO, now))
    }
}
