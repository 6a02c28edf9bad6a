//! The `Provider` operations of the `azure` provider, each a short sequence of ARM calls
//! followed by a wait with a deadline. See the parent module for refresh's cost and cutover.
//! Every operation addresses the server's own resource type: Single Server
//! (`servers`, 2017-12-01) or Flexible Server (`flexibleServers`, 2025-08-01).

use super::flexible_wire::{self, FlexibleServer, FlexibleServerList};
use super::wire::{self, Configuration, ConfigurationProperties, MappingContext, Server, ServerList};
use super::{AzureProvider, ServerRef, parse_replication_support};
use crate::model::{LiveFleet, ObservedServer, ServerName, ServerPatch};
use crate::providers::{Connection, CreateRequest, Provider, ProviderError, ProviderErrorKind};
use crate::rules::{ReplicationSupport, Service};
use async_trait::async_trait;
use reqwest::Method;
use std::collections::BTreeMap;
use tokio::time::Instant;

fn mapping_error(error: wire::MappingError) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Other, error.to_string())
}

/// A server of either service as ARM returns it.
#[derive(Debug, Clone)]
pub(super) enum Listed {
    Single(Box<Server>),
    Flexible(Box<FlexibleServer>),
}

impl Listed {
    fn id(&self) -> &str {
        match self {
            Listed::Single(server) => &server.id,
            Listed::Flexible(server) => server.id(),
        }
    }

    fn azure_name(&self) -> &str {
        match self {
            Listed::Single(server) => &server.name,
            Listed::Flexible(server) => server.name(),
        }
    }

    fn tags(&self) -> BTreeMap<String, String> {
        match self {
            Listed::Single(server) => server.tags.clone(),
            Listed::Flexible(server) => server.tags(),
        }
    }

    fn service(&self) -> Service {
        match self {
            Listed::Single(_) => Service::Single,
            Listed::Flexible(_) => Service::Flexible,
        }
    }

    fn fleet_name(&self) -> ServerName {
        wire::fleet_name_of(self.azure_name(), &self.tags())
    }

    /// The ARM id of the server a replica copies, as the server names it.
    fn source_id(&self) -> Option<&str> {
        match self {
            Listed::Single(server) => server.properties.master_server_id.as_deref(),
            Listed::Flexible(server) => server.properties.source_server_resource_id.as_deref(),
        }
        .filter(|id| !id.is_empty())
    }

    fn generation(&self) -> u64 {
        wire::generation_of(&self.tags())
    }

    fn is_replica(&self) -> bool {
        match self {
            Listed::Single(server) => server.is_replica(),
            Listed::Flexible(server) => server.is_replica(),
        }
    }

    fn is_ready(&self) -> bool {
        match self {
            Listed::Single(server) => {
                server.properties.user_visible_state.as_deref().is_none_or(|s| s == "Ready")
            }
            Listed::Flexible(server) => server.is_ready(),
        }
    }

    /// Where the server lives, from its id.
    fn location(&self) -> Option<ServerRef> {
        let (resource_group, name) = wire::parse_resource_id(self.id())?;
        Some(ServerRef { resource_group, name, service: self.service() })
    }
}

impl AzureProvider {
    /// Reads `azure.replication_support` of one server with one GET.
    ///
    /// # Errors
    /// `NotFound` for a missing server; a backend failure.
    pub async fn read_replication_support(
        &self,
        name: &ServerName,
    ) -> Result<ReplicationSupport, ProviderError> {
        let location = self.resolve(name);
        let url = self.client.url(&format!(
            "{}/configurations/{}",
            AzureProvider::server_path(&location),
            ReplicationSupport::PARAMETER
        ));
        let configuration: Configuration = self.client.get(&url).await?;
        let text = configuration.properties.value.unwrap_or_default();
        let value = parse_replication_support(&text).ok_or_else(|| {
            ProviderError::new(ProviderErrorKind::Other, format!("unknown replication support {text:?}"))
        })?;
        self.note_replication(name, value);
        Ok(value)
    }

    async fn list_group(&self, resource_group: &str) -> Result<Vec<Listed>, ProviderError> {
        let mut url =
            self.client.url(&format!("/resourceGroups/{resource_group}/providers/{}", wire::SERVER_TYPE));
        let mut servers = Vec::new();
        loop {
            let page: ServerList = self.client.get(&url).await?;
            servers.extend(page.value.into_iter().map(|s| Listed::Single(Box::new(s))));
            match page.next_link {
                Some(next) if !next.is_empty() => url = next,
                _ => break,
            }
        }
        url = self
            .client
            .url(&format!("/resourceGroups/{resource_group}/providers/{}", flexible_wire::SERVER_TYPE));
        loop {
            let page: FlexibleServerList = self.client.get(&url).await?;
            servers.extend(page.value.into_iter().map(|s| Listed::Flexible(Box::new(s))));
            match page.next_link {
                Some(next) if !next.is_empty() => url = next,
                _ => return Ok(servers),
            }
        }
    }

    /// GET of one server.
    async fn get_server(&self, location: &ServerRef) -> Result<Listed, ProviderError> {
        let url = self.client.url(&AzureProvider::server_path(location));
        Ok(match location.service {
            Service::Single => Listed::Single(Box::new(self.client.get(&url).await?)),
            Service::Flexible => Listed::Flexible(Box::new(self.client.get(&url).await?)),
        })
    }

    /// What `azure.replication_support` is known to be without reading it: never on where the
    /// rules allow no replicas (`rules::check::check_replication_support`).
    fn inferred_replication(&self, server: &Server, observed: &ObservedServer) -> ReplicationSupport {
        let shape = observed.spec.shape(observed.name.as_str());
        let may_have_replicas =
            crate::rules::check::check_replication_support(&shape, ReplicationSupport::Replica, 0).is_ok();
        let known = self.known_replication(&observed.name);
        match (may_have_replicas, known) {
            (false, _) => ReplicationSupport::Off,
            (_, Some(value)) if value.allows_replicas() || !server.is_primary_with_replicas() => value,
            _ if server.is_primary_with_replicas() => ReplicationSupport::Replica,
            _ => ReplicationSupport::Off,
        }
    }

    /// Maps one server, knowing the other servers' fleet names.
    fn observe(
        &self,
        server: &Listed,
        names_by_id: &BTreeMap<String, ServerName>,
    ) -> Result<ObservedServer, ProviderError> {
        match server {
            Listed::Single(server) => {
                let context = MappingContext { names_by_id, replication_support: ReplicationSupport::Off };
                let mut observed = wire::to_observed(server, context).map_err(mapping_error)?;
                observed.replication_support = self.inferred_replication(server, &observed);
                Ok(observed)
            }
            Listed::Flexible(server) => {
                flexible_wire::to_observed(server, names_by_id).map_err(mapping_error)
            }
        }
    }

    /// Maps a server, looking its primary's fleet name up in what is known.
    fn observe_one(&self, server: &Listed) -> Result<ObservedServer, ProviderError> {
        // Only the primary a replica names is looked up (one entry, not the whole fleet: this
        // runs for every server an apply touches).
        let names_by_id: BTreeMap<String, ServerName> = server
            .source_id()
            .and_then(|id| {
                let locations = self.locations.lock().ok()?;
                Some((id.to_ascii_lowercase(), locations.name_at(id)?.clone()))
            })
            .into_iter()
            .collect();
        self.observe(server, &names_by_id)
    }

    /// Polls a server until it is visible and `Ready`: a 404 within the grace period after a
    /// create is "not visible yet" (DOMAIN.md §4.5).
    async fn wait_ready(&self, location: &ServerRef, deadline: Instant) -> Result<Listed, ProviderError> {
        let started = Instant::now();
        let polling = self.client.polling;
        loop {
            let pause = match self.get_server(location).await {
                Ok(server) if server.is_ready() => return Ok(server),
                Ok(_) => polling.interval,
                Err(error) if error.kind == ProviderErrorKind::NotFound => {
                    if started.elapsed() > polling.not_found_grace {
                        return Err(error);
                    }
                    polling.interval
                }
                Err(error) if error.is_retryable() => {
                    error.retry_after.unwrap_or(polling.interval).max(polling.interval)
                }
                Err(error) => return Err(error),
            };
            if Instant::now() + pause > deadline {
                return Err(ProviderError::new(
                    ProviderErrorKind::Timeout,
                    format!("server {} did not become Ready in time", location.name),
                ));
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// Sends a write, waits for its operation and then for the server to be `Ready`.
    async fn write_and_wait<B: serde::Serialize>(
        &self,
        method: Method,
        location: &ServerRef,
        suffix: &str,
        body: Option<&B>,
    ) -> Result<Listed, ProviderError> {
        let deadline = Instant::now() + self.client.polling.timeout;
        let url = self.client.url(&format!("{}{suffix}", AzureProvider::server_path(location)));
        let response = self.client.call(method, &url, body).await?;
        self.client.wait_operation(&response, deadline).await?;
        self.wait_ready(location, deadline).await
    }

    /// Applies a patch: the server's parameters, firewall rules and databases first (so that
    /// a restart the server's own change makes also applies static parameters), then one PATCH
    /// on a Single Server, or on a Flexible Server the requests the service needs, one after the
    /// other (`flexible_wire::update_bodies`).
    async fn patch(&self, name: &ServerName, patch: &ServerPatch) -> Result<ObservedServer, ProviderError> {
        let location = self.resolve(name);
        let current = self.get_server(&location).await?;
        let observed = self.observe_one(&current)?;
        let own = ServerPatch {
            parameters: BTreeMap::new(),
            firewall_rules: BTreeMap::new(),
            databases: BTreeMap::new(),
            ..patch.clone()
        };
        let restarts = own.restarts(&observed.spec);
        self.write_carried(&location, patch, restarts, observed.spec.is_replica()).await?;
        if own.is_empty() {
            let server = self.wait_ready(&location, Instant::now() + self.client.polling.timeout).await?;
            return self.observe_carried(&server).await;
        }
        // pgfleet's own tags (the fleet name after a cutover) survive a change of user tags.
        let reserved: BTreeMap<String, String> =
            current.tags().into_iter().filter(|(k, _)| k.starts_with(wire::RESERVED_TAG_PREFIX)).collect();
        let server = match &current {
            Listed::Single(_) => {
                let mut body = wire::update_body(&observed.spec, &own, None);
                if let Some(tags) = body.tags.as_mut() {
                    tags.extend(reserved);
                }
                self.write_and_wait(Method::PATCH, &location, "", Some(&body)).await?
            }
            Listed::Flexible(_) => {
                let mut server = current.clone();
                for mut body in flexible_wire::update_bodies(&observed.spec, &own) {
                    if let Some(tags) = body.tags.as_mut() {
                        tags.extend(reserved.clone());
                    }
                    server = self.write_and_wait(Method::PATCH, &location, "", Some(&body)).await?;
                }
                server
            }
        };
        self.observe_carried(&server).await
    }

    /// A server as observed, with what it carries read from its child resources.
    async fn observe_carried(&self, server: &Listed) -> Result<ObservedServer, ProviderError> {
        let mut observed = self.observe_one(server)?;
        if let Some(location) = server.location() {
            self.read_carried(&observed.name, &location, &mut observed.spec).await?;
        }
        Ok(observed)
    }

    /// The PATCH that sets a server's tags (every tag, pgfleet's included).
    async fn write_tags(
        &self,
        location: &ServerRef,
        tags: BTreeMap<String, String>,
    ) -> Result<Listed, ProviderError> {
        match location.service {
            Service::Single => {
                let body = wire::ServerUpdateParameters { tags: Some(tags), ..Default::default() };
                self.write_and_wait(Method::PATCH, location, "", Some(&body)).await
            }
            Service::Flexible => {
                let body = FlexibleServer { tags: Some(tags), ..FlexibleServer::default() };
                self.write_and_wait(Method::PATCH, location, "", Some(&body)).await
            }
        }
    }
}

#[async_trait]
impl Provider for AzureProvider {
    fn kind(&self) -> &'static str {
        "azure"
    }

    async fn refresh(&self) -> Result<LiveFleet, ProviderError> {
        let mut groups = vec![self.settings.resource_group.clone()];
        groups.extend(self.extra_resource_groups.iter().cloned());
        let mut by_id: BTreeMap<String, Listed> = BTreeMap::new();
        for group in &groups {
            for server in self.list_group(group).await? {
                by_id.insert(server.id().to_ascii_lowercase(), server);
            }
        }
        // Single Server replicas may live in groups the fleet does not list: the primary's
        // `Replicas` finds them. A flexible replica names its source in every answer, and
        // pgfleet creates replicas in the fleet's own group.
        let primaries: Vec<Server> = by_id
            .values()
            .filter_map(|s| match s {
                Listed::Single(server) if server.is_primary_with_replicas() => Some((**server).clone()),
                _ => None,
            })
            .collect();
        for primary in primaries {
            let url = self.client.url(&format!(
                "{}/Replicas",
                primary
                    .id
                    .split_once("/resourceGroups")
                    .map(|(_, p)| format!("/resourceGroups{p}"))
                    .unwrap_or_default()
            ));
            let replicas: ServerList = self.client.get(&url).await?;
            for replica in replicas.value {
                by_id.entry(replica.id.to_ascii_lowercase()).or_insert(Listed::Single(Box::new(replica)));
            }
        }
        let names_by_id: BTreeMap<String, ServerName> =
            by_id.iter().map(|(id, s)| (id.clone(), s.fleet_name())).collect();
        // Two servers answer to one name only when a cutover was interrupted after the staging
        // server took the name (its tags) and before the old server was deleted: the old server
        // (fewer cutovers behind it; at equal counts, the one whose Azure name is the fleet
        // name) stands for the name until it is gone, so the plan still migrates, and the newer
        // copy is reported as the migration's staging server, where the migration's re-run
        // verifies it again and finishes the cutover (see the module docs).
        let mut claims: BTreeMap<ServerName, Vec<((u64, bool), ObservedServer, &Listed)>> = BTreeMap::new();
        for server in by_id.values() {
            let observed = self.observe(server, &names_by_id)?;
            let original = server.azure_name().eq_ignore_ascii_case(observed.name.as_str());
            claims.entry(observed.name.clone()).or_default().push((
                (server.generation(), !original),
                observed,
                server,
            ));
        }
        let mut fleet = LiveFleet::new();
        for (name, mut claimants) in claims {
            claimants.sort_by_key(|(rank, ..)| *rank);
            let staging = crate::model::staging_name(&name);
            for (index, (_, mut observed, server)) in claimants.into_iter().enumerate().take(2) {
                if index == 1 {
                    observed.name = staging.clone();
                }
                if let Some(location) = server.location() {
                    self.read_carried(&observed.name, &location, &mut observed.spec).await?;
                    self.remember(&observed.name, location);
                }
                fleet.insert(observed.name.clone(), observed);
            }
        }
        Ok(fleet)
    }

    async fn create(&self, request: CreateRequest) -> Result<ObservedServer, ProviderError> {
        let location = self.location_for_new(&request.name, request.spec.service());
        let source_id =
            request.spec.replica_of.as_ref().map(|primary| self.server_id(&self.resolve(primary)));
        let password = request.admin_password.as_ref().or_else(|| self.passwords.get(&request.name));
        if source_id.is_none() && password.is_none() {
            return Err(ProviderError::new(
                ProviderErrorKind::Other,
                format!("no admin password for server {}", request.name),
            ));
        }
        // Under another Azure name: the tag tells every refresh which server it is.
        let renamed = (location.name != request.name.as_str())
            .then(|| (wire::FLEET_NAME_TAG.to_string(), request.name.as_str().to_string()));
        let server = match location.service {
            Service::Single => {
                let mut body = wire::create_body(&request.spec, password, source_id.as_deref());
                body.tags.extend(renamed);
                self.write_and_wait(Method::PUT, &location, "", Some(&body)).await?
            }
            Service::Flexible => {
                let mut body = flexible_wire::create_body(&request.spec, password, source_id.as_deref());
                body.tags.get_or_insert_with(BTreeMap::new).extend(renamed);
                self.write_and_wait(Method::PUT, &location, "", Some(&body)).await?
            }
        };
        self.remember(&request.name, location.clone());
        let observed = self.observe_one(&server)?;
        // The parameters, firewall rules and databases the server carries: set after its
        // create, in the one follow-up update (a Flexible Server replica has its primary's
        // already; setting them again changes nothing).
        let carried = super::carried::patch_of(&request.spec);
        let follow_up = if location.service == Service::Flexible {
            // What a create cannot say (the maintenance window), or a replica took from its
            // source instead.
            flexible_wire::create_follow_up(&observed.spec, &request.spec)
        } else if request.spec.replica_of.is_some() {
            // A replica's create sends its own settings; should the service have taken some
            // from the primary instead, what the fleet wants differently (DOMAIN.md §1.6, TF-PG).
            wire::patch_between(&observed.spec, &request.spec)
        } else {
            ServerPatch::default()
        };
        let follow_up = ServerPatch {
            parameters: carried.parameters,
            firewall_rules: carried.firewall_rules,
            databases: carried.databases,
            ..follow_up
        };
        if !follow_up.is_empty() {
            return self.patch(&request.name, &follow_up).await;
        }
        Ok(observed)
    }

    async fn update(&self, name: &ServerName, patch: &ServerPatch) -> Result<ObservedServer, ProviderError> {
        self.patch(name, patch).await
    }

    async fn delete(&self, name: &ServerName) -> Result<(), ProviderError> {
        let location = self.resolve(name);
        let deadline = Instant::now() + self.client.polling.timeout;
        let url = self.client.url(&AzureProvider::server_path(&location));
        match self.client.call::<()>(Method::DELETE, &url, None).await {
            Ok(response) => self.client.wait_operation(&response, deadline).await?,
            Err(error) if error.kind == ProviderErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        self.forget(name);
        Ok(())
    }

    async fn restart(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        let location = self.resolve(name);
        let server = self.write_and_wait::<()>(Method::POST, &location, "/restart", None).await?;
        self.observe_one(&server)
    }

    async fn promote(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        let location = self.resolve(name);
        // Promoting twice is refused (the server is no longer a replica), and a retry after an
        // answer lost on the way is exactly that: a standalone server is already promoted.
        let current = self.get_server(&location).await?;
        if !current.is_replica() {
            if current.is_ready() {
                return self.observe_one(&current);
            }
            // Still restarting from that promotion: wait until it is Ready.
            let deadline = Instant::now() + self.client.polling.timeout;
            let ready = self.wait_ready(&location, deadline).await?;
            return self.observe_one(&ready);
        }
        let server = match location.service {
            Service::Single => {
                self.write_and_wait(Method::PATCH, &location, "", Some(&wire::promote_body())).await?
            }
            Service::Flexible => {
                self.write_and_wait(Method::PATCH, &location, "", Some(&flexible_wire::promote_body()))
                    .await?
            }
        };
        self.observe_one(&server)
    }

    async fn failover(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        let location = self.resolve(name);
        if location.service != Service::Flexible {
            return Err(ProviderError::refused(
                crate::rules::Rule::FailoverWithoutHa.code_str(),
                format!("{name} is a Single Server, which has no standby to fail over to"),
            ));
        }
        let body = flexible_wire::failover_body();
        let server = self.write_and_wait(Method::POST, &location, "/restart", Some(&body)).await?;
        self.observe_one(&server)
    }

    async fn set_parameter(
        &self,
        name: &ServerName,
        parameter: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        let location = self.resolve(name);
        let deadline = Instant::now() + self.client.polling.timeout;
        let url =
            self.client.url(&format!("{}/configurations/{parameter}", AzureProvider::server_path(&location)));
        let body = Configuration {
            id: None,
            name: None,
            kind: None,
            properties: ConfigurationProperties {
                value: Some(value.to_string()),
                source: Some("user-override".into()),
                ..ConfigurationProperties::default()
            },
        };
        let response = self.client.call(Method::PUT, &url, Some(&body)).await?;
        self.client.wait_operation(&response, deadline).await?;
        if parameter == ReplicationSupport::PARAMETER {
            if let Some(parsed) = parse_replication_support(value) {
                self.note_replication(name, parsed);
            }
        }
        Ok(())
    }

    async fn cutover(
        &self,
        name: &ServerName,
        staging: &ServerName,
    ) -> Result<ObservedServer, ProviderError> {
        let staging_at = self.resolve(staging);
        let mut server = self.get_server(&staging_at).await?;
        let old = self.resolve(name);
        if server.tags().get(wire::FLEET_NAME_TAG).map(String::as_str) != Some(name.as_str()) {
            // One cutover more than the server it replaces, so a refresh between this tag and
            // the old server's delete still reports the old one (see `refresh`).
            let replaced = match self.get_server(&old).await {
                Ok(old_server) if old != staging_at => old_server.generation(),
                Ok(_) => 0,
                Err(error) if error.kind == ProviderErrorKind::NotFound => 0,
                Err(error) => return Err(error),
            };
            let mut tags = server.tags();
            tags.insert(wire::FLEET_NAME_TAG.to_string(), name.as_str().to_string());
            tags.insert(wire::GENERATION_TAG.to_string(), (replaced + 1).to_string());
            server = self.write_tags(&staging_at, tags).await?;
        }
        if old != staging_at {
            self.delete(name).await?;
        }
        self.forget(staging);
        self.remember(name, staging_at);
        self.observe_one(&server)
    }

    async fn connection(&self, name: &ServerName) -> Result<Connection, ProviderError> {
        let server = self.get_server(&self.resolve(name)).await?;
        let observed = self.observe_one(&server)?;
        let endpoint = observed.endpoint.clone().ok_or_else(|| {
            ProviderError::new(ProviderErrorKind::Other, format!("server {name} has no host name yet"))
        })?;
        // A replica shares its primary's accounts (DOMAIN.md §3).
        let password = self
            .passwords
            .get(name)
            .or_else(|| observed.spec.replica_of.as_ref().and_then(|p| self.passwords.get(p)))
            .cloned()
            .ok_or_else(|| {
                ProviderError::new(ProviderErrorKind::Other, format!("no admin password for server {name}"))
            })?;
        Ok(Connection { endpoint, password })
    }
}
