//! Resource groups (`Microsoft.Resources/resourceGroups`): PUT, GET, HEAD, DELETE and list at
//! `/subscriptions/{s}/resourceGroups[/{name}]`, with ARM's bodies, and what a request inside a
//! group meets ([`ResourceGroupMode`]): with `auto` (the default) a PUT into a group never
//! created creates it; with `strict` every request inside it is refused with
//! `ResourceGroupNotFound`, as on Azure.
//!
//! Owns: the groups (persisted with the servers). Must not: decide a server's rules; deleting a
//! group deletes its servers through the same path as a server's DELETE.

use super::operations::accepted_with_location;
use super::store::{ApiError, Store, WriteOutcome};
use super::{Shared, routes};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What a request inside a resource group that was never created meets (`--resource-groups`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResourceGroupMode {
    /// A PUT into it creates it (in the PUT's location); other requests find nothing in it.
    #[default]
    Auto,
    /// Every request inside it is refused with 404 `ResourceGroupNotFound`.
    Strict,
}

/// One resource group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResourceGroup {
    pub subscription_id: String,
    /// As first written (later requests may spell it in another case).
    pub name: String,
    pub location: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

impl ResourceGroup {
    fn id(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/{}", self.subscription_id, self.name)
    }

    /// ARM's body of a group.
    fn to_wire(&self) -> serde_json::Value {
        let mut body = json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": self.location,
            "properties": {"provisioningState": "Succeeded"},
        });
        if !self.tags.is_empty() {
            body["tags"] = json!(self.tags);
        }
        if let Some(managed_by) = &self.managed_by {
            body["managedBy"] = json!(managed_by);
        }
        body
    }
}

/// The key of a group: its subscription and name, lowercase (ARM names are case-insensitive).
pub(crate) fn group_key(subscription: &str, group: &str) -> String {
    format!("{}/{}", subscription.to_ascii_lowercase(), group.to_ascii_lowercase())
}

pub(crate) fn not_found(group: &str) -> ApiError {
    ApiError::new(404, "ResourceGroupNotFound", format!("Resource group '{group}' could not be found."))
}

impl Store {
    pub(crate) fn group(&self, subscription: &str, group: &str) -> Option<&ResourceGroup> {
        self.resource_groups.get(&group_key(subscription, group))
    }

    /// Makes the group if it does not exist (in `location`).
    pub(crate) fn ensure_group(&mut self, subscription: &str, group: &str, location: &str) {
        self.resource_groups.entry(group_key(subscription, group)).or_insert_with(|| ResourceGroup {
            subscription_id: subscription.to_string(),
            name: group.to_string(),
            location: location.to_string(),
            tags: BTreeMap::new(),
            managed_by: None,
        });
    }

    /// The groups of servers that have none (servers of a state file written before groups
    /// were kept, or added directly).
    pub(crate) fn ensure_groups_of_servers(&mut self) {
        let wanted: Vec<(String, String, String)> = self
            .servers
            .values()
            .map(|s| (s.subscription_id.clone(), s.resource_group.clone(), s.location.clone()))
            .collect();
        for (subscription, group, location) in wanted {
            self.ensure_group(&subscription, &group, &location);
        }
    }
}

/// The body of a group's PUT.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupBody {
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    managed_by: Option<String>,
}

/// ARM's rule for group names: 1–90 letters, digits, `_`, `-`, `.`, `(` and `)`, not ending in
/// a period.
fn name_problem(name: &str) -> Option<ApiError> {
    let valid_characters = name.chars().all(|c| c.is_alphanumeric() || "_-.()".contains(c));
    (name.is_empty() || name.chars().count() > 90 || name.ends_with('.') || !valid_characters).then(|| {
        ApiError::new(
            400,
            "InvalidResourceGroup",
            format!("The provided resource group name '{name}' has these invalid characters or is too long."),
        )
    })
}

type AppState = State<Arc<Shared>>;
type GroupPath = Path<(String, String)>;

/// `PUT /subscriptions/{s}/resourceGroups/{name}`: 201 new, 200 updated (tags); the location
/// of an existing group cannot change.
async fn put_group(
    State(shared): AppState,
    Path((subscription, name)): GroupPath,
    body: Result<Json<GroupBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(routes::bad_body)?;
    if let Some(problem) = name_problem(&name) {
        return Err(problem);
    }
    let location = body.location.filter(|l| !l.is_empty()).ok_or_else(|| {
        ApiError::new(400, "LocationRequired", "The location property is required for this definition.")
    })?;
    let (status, wire) = {
        let mut store = shared.store();
        let key = group_key(&subscription, &name);
        let status = match store.resource_groups.get_mut(&key) {
            Some(existing) if !existing.location.eq_ignore_ascii_case(&location) => {
                return Err(ApiError::new(
                    409,
                    "InvalidResourceGroupLocation",
                    format!(
                        "Invalid resource group location '{location}'. The Resource group already exists in location '{}'.",
                        existing.location
                    ),
                ));
            }
            Some(existing) => {
                existing.tags = body.tags.unwrap_or_default();
                if body.managed_by.is_some() {
                    existing.managed_by = body.managed_by;
                }
                StatusCode::OK
            }
            None => {
                let group = ResourceGroup {
                    subscription_id: subscription.clone(),
                    name: name.clone(),
                    location,
                    tags: body.tags.unwrap_or_default(),
                    managed_by: body.managed_by,
                };
                store.resource_groups.insert(key.clone(), group);
                StatusCode::CREATED
            }
        };
        (status, store.resource_groups[&key].to_wire())
    };
    shared.persist();
    Ok((status, Json(wire)).into_response())
}

async fn get_group(
    State(shared): AppState,
    Path((subscription, name)): GroupPath,
) -> Result<Response, ApiError> {
    let store = shared.store();
    let group = store.group(&subscription, &name).ok_or_else(|| not_found(&name))?;
    Ok(Json(group.to_wire()).into_response())
}

/// `HEAD` (check existence): 204 or 404, no body.
async fn head_group(State(shared): AppState, Path((subscription, name)): GroupPath) -> StatusCode {
    if shared.store().group(&subscription, &name).is_some() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn list_groups(State(shared): AppState, Path(subscription): Path<String>) -> Response {
    let store = shared.store();
    let value: Vec<_> = store
        .resource_groups
        .values()
        .filter(|g| g.subscription_id.eq_ignore_ascii_case(&subscription))
        .map(ResourceGroup::to_wire)
        .collect();
    Json(json!({ "value": value })).into_response()
}

/// `DELETE`: the group and every server in it (each as its own DELETE would, refused while any
/// is busy), then 202 with a `Location` to poll until the deletes' time has passed.
async fn delete_group(
    State(shared): AppState,
    Path((subscription, name)): GroupPath,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let (id, duration) = {
        let mut store = shared.store();
        if store.group(&subscription, &name).is_none() {
            return Err(not_found(&name));
        }
        let servers: Vec<String> = store
            .servers
            .values()
            .filter(|s| s.subscription_id.eq_ignore_ascii_case(&subscription))
            .filter(|s| s.resource_group.eq_ignore_ascii_case(&name))
            .map(|s| s.name.clone())
            .collect();
        let now = tokio::time::Instant::now();
        if let Some(busy) = servers.iter().find(|server| store.is_held_for_delete(server, now)) {
            return Err(ApiError::busy(busy));
        }
        let mut longest = Duration::ZERO;
        for server in &servers {
            let outcome: Option<WriteOutcome> = routes::delete_in_store(&shared, &mut store, &name, server)?;
            if let Some((_, duration)) = outcome.and_then(|o| o.operation) {
                longest = longest.max(duration);
            }
        }
        store.resource_groups.remove(&group_key(&subscription, &name));
        (store.start_operation(longest, now), longest)
    };
    shared.persist();
    let version = super::arm::api_version_of(query.as_deref()).unwrap_or_else(|| "2021-04-01".to_string());
    Ok(accepted_with_location(&shared, &subscription, &version, &id, duration))
}

/// The routes of Microsoft.Resources.
pub(crate) fn routes() -> axum::Router<Arc<Shared>> {
    use axum::routing::get;
    axum::Router::new()
        .route("/subscriptions/{sub}/resourceGroups", get(list_groups))
        .route(
            "/subscriptions/{sub}/resourceGroups/{rg}",
            get(get_group).head(head_group).put(put_group).delete(delete_group),
        )
        .route(
            "/subscriptions/{sub}/operationResults/{id}",
            get(super::operations::poll_subscription_location),
        )
}

/// What the gate does with a request inside `group`: in `strict` mode refuse it when the group
/// was never created; in `auto` mode make the group on a PUT (in the body's location).
///
/// # Errors
/// 404 `ResourceGroupNotFound` in strict mode.
pub(crate) fn admit(
    shared: &Shared,
    is_put: bool,
    subscription: &str,
    group: &str,
    body: Option<&serde_json::Value>,
) -> Result<(), ApiError> {
    let mut store = shared.store();
    if store.group(subscription, group).is_some() {
        return Ok(());
    }
    match shared.options.resource_groups {
        ResourceGroupMode::Strict => Err(not_found(group)),
        ResourceGroupMode::Auto if is_put => {
            let location =
                body.and_then(|b| b.get("location")).and_then(|l| l.as_str()).unwrap_or("westeurope");
            store.ensure_group(subscription, group, location);
            Ok(())
        }
        ResourceGroupMode::Auto => Ok(()),
    }
}
