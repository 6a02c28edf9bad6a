//! The emulator's HTTP surface: the router, with the ARM paths of
//! `Microsoft.DBforPostgreSQL/servers` and their children (handlers here and in the modules
//! they name), resource groups, the async-operation polls and the identity endpoints; and the
//! layers every request passes, outside routing so that unknown paths meet them too: ARM's
//! request ids and error bodies, path normalisation, then the gate ([`super::gate`]).
//!
//! Must not: decide a rule (the store does) or sleep on the wall clock.

use super::children::{ChildKind, Parent};
use super::operations::{accepted, poll_async, poll_provider_location};
use super::store::{ApiError, Store, WriteOutcome};
use super::{Shared, arm, flexible, gate, groups, identity, jobs, policies, provider_info};
use crate::providers::azure::flexible_wire;
use crate::providers::azure::wire::{
    API_VERSION, ChildResource, Configuration, ServerForCreate, ServerUpdateParameters,
};
use crate::rules::Service;
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
        .merge(flexible::routes())
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
        .merge(children_routes(server, Api::SINGLE))
        .merge(policies::routes(server))
}

fn now() -> Instant {
    Instant::now()
}

async fn list_group(State(shared): AppState, Path((_, rg)): Path<(String, String)>) -> Response {
    let store = shared.store();
    let value: Vec<_> = store
        .servers
        .values()
        .filter(|s| {
            !s.is_flexible()
                && s.resource_group.eq_ignore_ascii_case(&rg)
                && s.visible_at.is_none_or(|at| now() >= at)
        })
        .map(|s| store.wire_json(s, now()))
        .collect();
    Json(json!({ "value": value })).into_response()
}

async fn list_subscription(State(shared): AppState, Path(sub): Path<String>) -> Response {
    let store = shared.store();
    let value: Vec<_> = store
        .servers
        .values()
        .filter(|s| {
            !s.is_flexible()
                && s.subscription_id.eq_ignore_ascii_case(&sub)
                && s.visible_at.is_none_or(|at| now() >= at)
        })
        .map(|s| store.wire_json(s, now()))
        .collect();
    Json(json!({ "value": value })).into_response()
}

async fn get_server(State(shared): AppState, Path((_, rg, name)): Shared3) -> Result<Response, ApiError> {
    let store = shared.store();
    let server = store.find(&rg, &name, now())?;
    Ok(Json(store.wire_json(server, now())).into_response())
}

async fn replicas(State(shared): AppState, Path((_, rg, name)): Shared3) -> Result<Response, ApiError> {
    let store = shared.store();
    let primary = store.find(&rg, &name, now())?.name.to_ascii_lowercase();
    let value: Vec<_> = store.servers.replicas_of(&primary).map(|s| store.wire_json(s, now())).collect();
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
    if store.servers.get(&key).is_some_and(|server| server.is_flexible()) {
        return flexible::delete_in_store(shared, store, group, name);
    }
    let replicas: Vec<String> =
        store.servers.replicas_of(&key).map(|replica| replica.name.to_ascii_lowercase()).collect();
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

/// The service a child route belongs to, and the api-version its async answers carry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Api {
    pub service: Service,
    pub version: &'static str,
}

impl Api {
    pub(crate) const SINGLE: Api = Api { service: Service::Single, version: API_VERSION };
    pub(crate) const FLEXIBLE: Api = Api { service: Service::Flexible, version: flexible_wire::API_VERSION };
}

/// A server's parameters, firewall rules and databases, under `server` (its path pattern).
/// Both services have them; Flexible Server's configuration writes may also be PATCHes.
pub(crate) fn children_routes(server: &str, api: Api) -> Router<Arc<Shared>> {
    let mut configuration = get(move |s: AppState, p: Shared4| get_configuration(s, p, api))
        .put(move |s: AppState, p: Shared4, b| put_configuration(s, p, b, api));
    if api.service == Service::Flexible {
        configuration =
            configuration.patch(move |s: AppState, p: Shared4, b| put_configuration(s, p, b, api));
    }
    let mut router = Router::new()
        .route(
            &format!("{server}/configurations"),
            get(move |s: AppState, p: Shared3| list_configurations(s, p, api)),
        )
        .route(&format!("{server}/configurations/{{name}}"), configuration);
    for kind in [ChildKind::FirewallRules, ChildKind::Databases] {
        router = router
            .route(
                &format!("{server}/{}/{{name}}", kind.segment()),
                get(move |s: AppState, p: Shared4| get_child(s, p, kind, api))
                    .put(move |s: AppState, p: Shared4, b| put_child(s, p, b, kind, api))
                    .delete(move |s: AppState, p: Shared4| delete_child(s, p, kind, api)),
            )
            .route(
                &format!("{server}/{}", kind.segment()),
                get(move |s: AppState, p: Shared3| list_children(s, p, kind, api)),
            );
    }
    router
}

async fn get_configuration(
    State(shared): AppState,
    Path((_, rg, server, name)): Shared4,
    api: Api,
) -> Result<Response, ApiError> {
    Ok(Json(shared.store().configuration(api.service, &rg, &server, &name, now())?).into_response())
}

async fn list_configurations(
    State(shared): AppState,
    Path((_, rg, server)): Shared3,
    api: Api,
) -> Result<Response, ApiError> {
    let value = shared.store().configurations(api.service, &rg, &server, now())?;
    Ok(Json(json!({ "value": value })).into_response())
}

async fn put_configuration(
    State(shared): AppState,
    Path((sub, rg, server, name)): Shared4,
    body: Result<Json<Configuration>, JsonRejection>,
    api: Api,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let outcome = {
        let mut store = shared.store();
        let outcome = store.set_configuration(api.service, &rg, &server, &name, body, now())?;
        jobs::after_configuration(&shared, &mut store, &server.to_ascii_lowercase(), &name, &outcome);
        outcome
    };
    Ok(accepted(&shared, &sub, api.version, outcome))
}

/// A child's PUT: synchronous. Single Server answers 201 for a new child, 200 for a replaced
/// one; Flexible Server's api-version answers 200 for both (its SDK takes no 201).
async fn put_child(
    State(shared): AppState,
    Path((_, rg, server, name)): Shared4,
    body: Result<Json<ChildResource>, JsonRejection>,
    kind: ChildKind,
    api: Api,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let (status, child) = shared.store().put_child(
        Parent { service: api.service, group: &rg, server: &server },
        kind,
        &name,
        body,
        now(),
    )?;
    shared.persist();
    let status = if api.service == Service::Flexible { 200 } else { status };
    Ok((StatusCode::from_u16(status).unwrap_or(StatusCode::OK), Json(child)).into_response())
}

async fn get_child(
    State(shared): AppState,
    Path((_, rg, server, name)): Shared4,
    kind: ChildKind,
    api: Api,
) -> Result<Response, ApiError> {
    let mut children = shared.store().get_children(
        Parent { service: api.service, group: &rg, server: &server },
        kind,
        Some(&name),
        now(),
    )?;
    Ok(Json(children.remove(0)).into_response())
}

async fn list_children(
    State(shared): AppState,
    Path((_, rg, server)): Shared3,
    kind: ChildKind,
    api: Api,
) -> Result<Response, ApiError> {
    let value = shared.store().get_children(
        Parent { service: api.service, group: &rg, server: &server },
        kind,
        None,
        now(),
    )?;
    Ok(Json(json!({ "value": value })).into_response())
}

/// A child's DELETE: 204 when there was none. Single Server answers 200 at once; Flexible
/// Server's api-version answers 202 with an operation to poll (its SDK takes no 200).
async fn delete_child(
    State(shared): AppState,
    Path((sub, rg, server, name)): Shared4,
    kind: ChildKind,
    api: Api,
) -> Result<Response, ApiError> {
    let mut store = shared.store();
    let existed = store.delete_child(
        Parent { service: api.service, group: &rg, server: &server },
        kind,
        &name,
        now(),
    )?;
    if !existed {
        drop(store);
        shared.persist();
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if api.service == Service::Flexible {
        let found = store.find_in(api.service, &rg, &server, now())?.clone();
        let outcome = store.accepted_for(&found, std::time::Duration::ZERO, now());
        drop(store);
        return Ok(accepted(&shared, &sub, api.version, outcome));
    }
    drop(store);
    shared.persist();
    Ok(StatusCode::OK.into_response())
}
