//! Azure Database for PostgreSQL – Flexible Server in the emulator
//! (`Microsoft.DBforPostgreSQL/flexibleServers`, api-version 2025-08-01): servers, replicas,
//! promote, restart and failover, HA, the maintenance window, with the same paths, bodies and
//! status codes as Microsoft's examples and the rules of `crate::rules`.
//!
//! Flexible servers live in the store beside Single Servers (one name space: both answer at
//! `NAME.postgres.database.azure.com`), marked by their [`EmFlexible`] part; the ARM layer
//! (paths, api-versions, errors, faults, throttling, the request log) and the long-running
//! operations are the emulator's, shared with Single Server. With `--backing local` each server
//! is a real cluster, with a real synchronous standby when it has HA.
//!
//! Owns: the flexibleServers routes and [`server`]'s store operations. Must not: re-encode a
//! rule that `rules` holds.

mod server;

pub(crate) use server::EmFlexible;

use super::operations::accepted;
use super::routes::{Api, bad_body, children_routes};
use super::store::ApiError;
use super::{Shared, jobs};
use crate::providers::azure::flexible_wire::{API_VERSION, FlexibleServer, RestartParameter, SERVER_TYPE};
use crate::secret::Redacted;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;
use tokio::time::Instant;

type AppState = State<Arc<Shared>>;
type Shared3 = Path<(String, String, String)>;

/// The routes of `Microsoft.DBforPostgreSQL/flexibleServers`.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    let group = format!("/subscriptions/{{sub}}/resourceGroups/{{rg}}/providers/{SERVER_TYPE}");
    let server = format!("{group}/{{server}}");
    Router::new()
        .route(&group, get(list_group))
        .route(&format!("/subscriptions/{{sub}}/providers/{SERVER_TYPE}"), get(list_subscription))
        .route(&server, get(get_server).put(put_server).patch(patch_server).delete(delete_server))
        .route(&format!("{server}/restart"), post(restart))
        .route(&format!("{server}/Replicas"), get(replicas))
        .merge(children_routes(&server, Api::FLEXIBLE))
}

fn now() -> Instant {
    Instant::now()
}

fn list(shared: &Shared, keep: impl Fn(&super::store::EmServer) -> bool) -> Response {
    let store = shared.store();
    let at = now();
    let value: Vec<FlexibleServer> = store
        .servers
        .values()
        .filter(|s| s.flexible.is_some() && s.visible_at.is_none_or(|v| at >= v) && keep(s))
        .map(|s| store.flexible_wire(s, at))
        .collect();
    Json(json!({ "value": value })).into_response()
}

async fn list_group(State(shared): AppState, Path((sub, rg)): Path<(String, String)>) -> Response {
    list(&shared, |s| {
        s.subscription_id.eq_ignore_ascii_case(&sub) && s.resource_group.eq_ignore_ascii_case(&rg)
    })
}

async fn list_subscription(State(shared): AppState, Path(sub): Path<String>) -> Response {
    list(&shared, |s| s.subscription_id.eq_ignore_ascii_case(&sub))
}

async fn get_server(State(shared): AppState, Path((_, rg, name)): Shared3) -> Result<Response, ApiError> {
    let store = shared.store();
    let server = store.find_flexible(&rg, &name, now())?;
    Ok(Json(store.flexible_wire(server, now())).into_response())
}

async fn replicas(State(shared): AppState, Path((_, rg, name)): Shared3) -> Result<Response, ApiError> {
    let key = {
        let store = shared.store();
        store.find_flexible(&rg, &name, now())?.name.to_ascii_lowercase()
    };
    Ok(list(&shared, |s| s.master.as_deref() == Some(key.as_str())))
}

async fn put_server(
    State(shared): AppState,
    Path((sub, rg, name)): Shared3,
    body: Result<Json<FlexibleServer>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let password = body.properties.administrator_login_password.clone().map(Redacted::new);
    let key = name.to_ascii_lowercase();
    let outcome = {
        let mut store = shared.store();
        let before = store.servers.get(&key).cloned();
        let outcome = store.create_flexible(&sub, &rg, &name, body, now())?;
        jobs::after_put(&shared, &mut store, &key, before, password, &outcome);
        outcome
    };
    Ok(accepted(&shared, &sub, API_VERSION, outcome))
}

async fn patch_server(
    State(shared): AppState,
    Path((sub, rg, name)): Shared3,
    body: Result<Json<FlexibleServer>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let key = name.to_ascii_lowercase();
    let outcome = {
        let mut store = shared.store();
        let before = store.servers.get(&key).cloned();
        let outcome = store.update_flexible(&rg, &name, body, now())?;
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

/// A flexible server's DELETE in the store (and of its cluster, with a backing): `None` when
/// there was nothing to delete. Also the path of a resource group's delete.
///
/// # Errors
/// 409 while the server or a replica of it is busy.
pub(crate) fn delete_in_store(
    shared: &Arc<Shared>,
    store: &mut super::store::Store,
    group: &str,
    name: &str,
) -> Result<Option<super::store::WriteOutcome>, ApiError> {
    let key = name.to_ascii_lowercase();
    let mut held: Vec<String> =
        store.flexible_replicas_of(&key).iter().map(|replica| replica.name.to_ascii_lowercase()).collect();
    // The primary of a deleted replica is locked until the replica is gone.
    held.extend(store.find_flexible(group, name, now()).ok().and_then(|s| s.master.clone()));
    let outcome = store.delete_flexible(group, name, now())?;
    if let Some(outcome) = &outcome {
        jobs::after_delete(shared, store, &key, held, outcome);
    }
    Ok(outcome)
}

/// `POST …/restart`, its body (`RestartParameter`) optional.
async fn restart(
    State(shared): AppState,
    Path((sub, rg, name)): Shared3,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parameter: RestartParameter = if body.iter().all(u8::is_ascii_whitespace) {
        RestartParameter::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::new(400, "InvalidRequestContent", format!("The request content was invalid: {error}"))
        })?
    };
    let key = name.to_ascii_lowercase();
    let outcome = {
        let mut store = shared.store();
        let outcome = store.restart_flexible(&rg, &name, &parameter, now())?;
        if parameter.restart_with_failover.unwrap_or(false) {
            jobs::after_failover(&shared, &mut store, &key, &outcome);
        } else {
            jobs::after_restart(&shared, &mut store, &key, &outcome);
        }
        outcome
    };
    Ok(accepted(&shared, &sub, API_VERSION, outcome))
}
