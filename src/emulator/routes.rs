//! The emulator's HTTP surface: the router, with the ARM paths of
//! `Microsoft.DBforPostgreSQL/servers` and their children (handlers here and in the modules
//! they name), resource groups, the async-operation polls and the identity endpoints; and the
//! layers every request passes, outside routing so that unknown paths meet them too: ARM's
//! request ids and error bodies, path normalisation, then the gate ([`super::gate`]).
//!
//! Must not: decide a rule (the store does) or sleep on the wall clock.

use super::children::ChildKind;
use super::operations::{accepted, poll_async, poll_provider_location};
use super::store::{ApiError, Store, WriteOutcome};
use super::{Shared, arm, gate, groups, identity, jobs, policies, provider_info};
use crate::providers::azure::wire::{
    API_VERSION, ChildResource, Configuration, ServerForCreate, ServerUpdateParameters,
};
use crate::secret::Redacted;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::time::Instant;

type Shared3 = Path<(String, String, String)>;
type Shared4 = Path<(String, String, String, String)>;
type AppState = State<Arc<Shared>>;

pub(crate) fn bad_body(rejection: JsonRejection) -> ApiError {
    ApiError::new(400, "InvalidRequestContent", format!("The request content is not valid: {rejection}"))
}

/// The emulator's router: every route, then the layers that see every request.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let routes = single_server_routes()
        .merge(provider_info::routes())
        .merge(flexible_placeholder_routes())
        .merge(groups::routes())
        .merge(identity::routes())
        .fallback(arm::not_found)
        .with_state(shared.clone());
    // Outside routing, so that a request is normalised before it is routed and unknown paths
    // pass the gate too. The last layer added runs first.
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn_with_state(shared, gate::gate))
        .layer(middleware::from_fn(arm::canonicalize))
        .layer(middleware::from_fn(arm::request_ids))
}

/// PLACEHOLDER until Flexible Server's routes are merged here: the azure provider's refresh
/// lists `flexibleServers` in every group, and an emulator without them would answer 404. Empty
/// lists, nothing else; delete this function (and its `.merge`) when the real routes come, or
/// axum refuses the overlapping routes at start.
fn flexible_placeholder_routes() -> Router<Arc<Shared>> {
    let empty = || async { Json(json!({ "value": [] })) };
    Router::new()
        .route(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers",
            get(empty),
        )
        .route("/subscriptions/{sub}/providers/Microsoft.DBforPostgreSQL/flexibleServers", get(empty))
}

/// The routes of `Microsoft.DBforPostgreSQL/servers` (Single Server) and the provider's
/// location-level operations.
fn single_server_routes() -> Router<Arc<Shared>> {
    let server =
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/servers/{server}";
    let rp = "/subscriptions/{sub}/providers/Microsoft.DBforPostgreSQL";
    Router::new()
        .route(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/servers",
            get(list_group),
        )
        .route(&format!("{rp}/servers"), get(list_subscription))
        .route(&format!("{rp}/locations/{{location}}/azureAsyncOperation/{{id}}"), get(poll_async))
        .route(&format!("{rp}/locations/{{location}}/operationResults/{{id}}"), get(poll_provider_location))
        .route(server, get(get_server).put(put_server).patch(patch_server).delete(delete_server))
        .route(&format!("{server}/restart"), post(restart))
        .route(&format!("{server}/Replicas"), get(replicas))
        .route(&format!("{server}/configurations"), get(list_configurations))
        .route(&format!("{server}/configurations/{{name}}"), get(get_configuration).put(put_configuration))
        .route(
            &format!("{server}/firewallRules/{{name}}"),
            get(|s: AppState, p: Shared4| get_child(s, p, ChildKind::FirewallRules))
                .put(|s: AppState, p: Shared4, b| put_child(s, p, b, ChildKind::FirewallRules))
                .delete(|s: AppState, p: Shared4| delete_child(s, p, ChildKind::FirewallRules)),
        )
        .route(
            &format!("{server}/firewallRules"),
            get(|s: AppState, p: Shared3| list_children(s, p, ChildKind::FirewallRules)),
        )
        .route(
            &format!("{server}/databases/{{name}}"),
            get(|s: AppState, p: Shared4| get_child(s, p, ChildKind::Databases))
                .put(|s: AppState, p: Shared4, b| put_child(s, p, b, ChildKind::Databases))
                .delete(|s: AppState, p: Shared4| delete_child(s, p, ChildKind::Databases)),
        )
        .route(
            &format!("{server}/databases"),
            get(|s: AppState, p: Shared3| list_children(s, p, ChildKind::Databases)),
        )
        .merge(policies::routes(server))
}

fn now() -> Instant {
    Instant::now()
}

async fn list_group(State(shared): AppState, Path((_, rg)): Path<(String, String)>) -> Response {
    let store = shared.store();
    let masters = store.masters();
    let value: Vec<_> = store
        .servers
        .values()
        .filter(|s| s.resource_group.eq_ignore_ascii_case(&rg) && s.visible_at.is_none_or(|at| now() >= at))
        .map(|s| store.wire_json(s, now(), &masters))
        .collect();
    Json(json!({ "value": value })).into_response()
}

async fn list_subscription(State(shared): AppState, Path(sub): Path<String>) -> Response {
    let store = shared.store();
    let masters = store.masters();
    let value: Vec<_> = store
        .servers
        .values()
        .filter(|s| s.subscription_id.eq_ignore_ascii_case(&sub) && s.visible_at.is_none_or(|at| now() >= at))
        .map(|s| store.wire_json(s, now(), &masters))
        .collect();
    Json(json!({ "value": value })).into_response()
}

async fn get_server(State(shared): AppState, Path((_, rg, name)): Shared3) -> Result<Response, ApiError> {
    let store = shared.store();
    let server = store.find(&rg, &name, now())?;
    Ok(Json(store.wire_json(server, now(), &store.masters())).into_response())
}

async fn replicas(State(shared): AppState, Path((_, rg, name)): Shared3) -> Result<Response, ApiError> {
    let store = shared.store();
    let primary = store.find(&rg, &name, now())?.name.to_ascii_lowercase();
    let masters = store.masters();
    let value: Vec<_> = store
        .servers
        .values()
        .filter(|s| s.master.as_deref() == Some(primary.as_str()))
        .map(|s| store.wire_json(s, now(), &masters))
        .collect();
    Ok(Json(json!({ "value": value })).into_response())
}

/// A body read as JSON, then as the wire type (so fields the type does not name, such as
/// `identity`, can still be read from the JSON).
fn typed<T: serde::de::DeserializeOwned>(raw: &Value) -> Result<T, ApiError> {
    serde_json::from_value(raw.clone()).map_err(|error| {
        ApiError::new(400, "InvalidRequestContent", format!("The request content is not valid: {error}"))
    })
}

/// The request's `identity`, on the server it was accepted for.
fn set_identity(store: &mut Store, key: &str, raw: &Value) {
    if let Some(server) = store.servers.get_mut(key) {
        server.extras.set_identity(raw);
    }
}

async fn put_server(
    State(shared): AppState,
    Path((sub, rg, name)): Shared3,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(raw) = body.map_err(bad_body)?;
    let body: ServerForCreate = typed(&raw)?;
    let password = body.properties.administrator_login_password.clone().map(Redacted::new);
    let key = name.to_ascii_lowercase();
    let outcome = {
        let mut store = shared.store();
        let before = store.servers.get(&key).cloned();
        let outcome = store.create(&sub, &rg, &name, body, now())?;
        set_identity(&mut store, &key, &raw);
        jobs::after_put(&shared, &mut store, &key, before, password, &outcome);
        outcome
    };
    Ok(accepted(&shared, &sub, API_VERSION, outcome))
}

async fn patch_server(
    State(shared): AppState,
    Path((sub, rg, name)): Shared3,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(raw) = body.map_err(bad_body)?;
    let body: ServerUpdateParameters = typed(&raw)?;
    let key = name.to_ascii_lowercase();
    let outcome = {
        let mut store = shared.store();
        let before = store.servers.get(&key).cloned();
        let outcome = store.update(&rg, &name, body, now())?;
        set_identity(&mut store, &key, &raw);
        jobs::after_patch(&shared, &mut store, &key, before, &outcome);
        outcome
    };
    Ok(accepted(&shared, &sub, API_VERSION, outcome))
}

async fn delete_server(
    State(shared): AppState,
    Path((sub, rg, name)): Shared3,
) -> Result<Response, ApiError> {
    let outcome = delete_in_store(&shared, &mut shared.store(), &rg, &name)?;
    Ok(match outcome {
        Some(outcome) => accepted(&shared, &sub, API_VERSION, outcome),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// A server's DELETE in the store (and of its cluster, with a backing): `None` when there was
/// nothing to delete. Also the path of a resource group's delete.
///
/// # Errors
/// 409 while the server or a replica being built from it is busy.
pub(crate) fn delete_in_store(
    shared: &Arc<Shared>,
    store: &mut Store,
    group: &str,
    name: &str,
) -> Result<Option<WriteOutcome>, ApiError> {
    let key = name.to_ascii_lowercase();
    let replicas: Vec<String> = store
        .servers
        .iter()
        .filter(|(_, server)| server.master.as_deref() == Some(key.as_str()))
        .map(|(replica, _)| replica.clone())
        .collect();
    let outcome = store.delete(group, name, now())?;
    if let Some(outcome) = &outcome {
        jobs::after_delete(shared, store, &key, replicas, outcome);
    }
    Ok(outcome)
}

async fn restart(State(shared): AppState, Path((sub, rg, name)): Shared3) -> Result<Response, ApiError> {
    let outcome = {
        let mut store = shared.store();
        let outcome = store.restart(&rg, &name, now())?;
        jobs::after_restart(&shared, &mut store, &name.to_ascii_lowercase(), &outcome);
        outcome
    };
    Ok(accepted(&shared, &sub, API_VERSION, outcome))
}

async fn get_configuration(
    State(shared): AppState,
    Path((_, rg, server, name)): Shared4,
) -> Result<Response, ApiError> {
    Ok(Json(shared.store().configuration(&rg, &server, &name, now())?).into_response())
}

async fn list_configurations(
    State(shared): AppState,
    Path((_, rg, server)): Shared3,
) -> Result<Response, ApiError> {
    let value = shared.store().configurations(&rg, &server, now())?;
    Ok(Json(json!({ "value": value })).into_response())
}

async fn put_configuration(
    State(shared): AppState,
    Path((sub, rg, server, name)): Shared4,
    body: Result<Json<Configuration>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let outcome = {
        let mut store = shared.store();
        let outcome = store.set_configuration(&rg, &server, &name, body, now())?;
        jobs::after_configuration(&shared, &mut store, &server.to_ascii_lowercase(), &name, &outcome);
        outcome
    };
    Ok(accepted(&shared, &sub, API_VERSION, outcome))
}

async fn put_child(
    State(shared): AppState,
    Path((_, rg, server, name)): Shared4,
    body: Result<Json<ChildResource>, JsonRejection>,
    kind: ChildKind,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let (status, child) = shared.store().put_child(&rg, &server, kind, &name, body, now())?;
    shared.persist();
    Ok((StatusCode::from_u16(status).unwrap_or(StatusCode::OK), Json(child)).into_response())
}

async fn get_child(
    State(shared): AppState,
    Path((_, rg, server, name)): Shared4,
    kind: ChildKind,
) -> Result<Response, ApiError> {
    let mut children = shared.store().get_children(&rg, &server, kind, Some(&name), now())?;
    Ok(Json(children.remove(0)).into_response())
}

async fn list_children(
    State(shared): AppState,
    Path((_, rg, server)): Shared3,
    kind: ChildKind,
) -> Result<Response, ApiError> {
    let value = shared.store().get_children(&rg, &server, kind, None, now())?;
    Ok(Json(json!({ "value": value })).into_response())
}

async fn delete_child(
    State(shared): AppState,
    Path((_, rg, server, name)): Shared4,
    kind: ChildKind,
) -> Result<Response, ApiError> {
    let existed = shared.store().delete_child(&rg, &server, kind, &name, now())?;
    shared.persist();
    Ok(if existed { StatusCode::OK } else { StatusCode::NO_CONTENT }.into_response())
}
