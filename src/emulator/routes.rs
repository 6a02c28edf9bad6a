//! The emulator's HTTP surface: the ARM paths of `Microsoft.DBforPostgreSQL/servers` and their
//! children, the async-operation polls, and a client-credentials token endpoint; plus the gate
//! every ARM request passes (bearer token, throttling, injected faults, request log). The token
//! endpoint gets the same injected faults, answered as an OAuth endpoint would (429, 503, a
//! dropped connection), but no bearer check or throttling.
//!
//! Must not: decide a rule (the store does) or sleep on the wall clock.

use super::children::ChildKind;
use super::limits::{Fault, RequestClass};
use super::store::{ApiError, WriteOutcome};
use super::{Shared, jobs};
use crate::providers::azure::wire::{
    API_VERSION, AsyncOperation, ChildResource, CloudError, Configuration, ErrorDetail, ServerForCreate,
    ServerUpdateParameters,
};
use crate::secret::Redacted;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Form, Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

type Shared3 = Path<(String, String, String)>;
type Shared4 = Path<(String, String, String, String)>;
type AppState = State<Arc<Shared>>;

/// The error code an answer carried, for the request log.
#[derive(Debug, Clone)]
struct LoggedCode(String);

/// The status of a request carried out whose answer was then lost (`Fault::Lost`).
#[derive(Clone, Copy)]
struct LostStatus(u16);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = CloudError { error: ErrorDetail { code: self.code.clone(), message: self.message } };
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(LoggedCode(self.code));
        response
    }
}

fn bad_body(rejection: JsonRejection) -> ApiError {
    ApiError::new(400, "InvalidRequestContent", format!("The request content is not valid: {rejection}"))
}

/// The ARM router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let server =
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/servers/{server}";
    let rp = "/subscriptions/{sub}/providers/Microsoft.DBforPostgreSQL";
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/servers",
            get(list_group),
        )
        .route(&format!("{rp}/servers"), get(list_subscription))
        .route(&format!("{rp}/locations/{{location}}/azureAsyncOperation/{{id}}"), get(poll_async))
        .route(&format!("{rp}/locations/{{location}}/operationResults/{{id}}"), get(poll_location))
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
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// Checks the token, takes a throttling token, maybe injects a fault, and logs the answer.
/// Writes are carried out and logged one at a time (see `Shared::write_order`).
async fn gate(State(shared): AppState, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let is_token = path.ends_with("/oauth2/v2.0/token");
    // The token endpoint's form carries the client secret: its body is never logged.
    let is_write = !is_token && RequestClass::of(&method) != RequestClass::Read;
    let (request, body) = if is_write { with_logged_body(request).await } else { (request, None) };
    let _order = if is_write { Some(shared.write_order.lock().await) } else { None };
    let (response, fault) = if is_token {
        token_gate(&shared, request, next).await
    } else {
        arm_gate(&shared, request, next).await
    };
    // A lost answer logs what was carried out, not what reached the wire.
    let status = response.extensions().get::<LostStatus>().map_or(response.status().as_u16(), |s| s.0);
    let code = response.extensions().get::<LoggedCode>().map(|c| c.0.clone());
    shared.log(super::LoggedRequest {
        method: method.to_string(),
        path,
        status,
        accepted: fault != Some(Fault::Drop) && status < 400,
        code,
        fault,
        body,
    });
    response
}

/// The most a request body may hold (server bodies are about 1 kB).
const BODY_LIMIT: usize = 1 << 20;

/// Reads a write's body for the log (passwords redacted) and hands the request on intact.
async fn with_logged_body(request: Request) -> (Request, Option<serde_json::Value>) {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let logged = serde_json::from_slice::<serde_json::Value>(&bytes).ok().map(redacted);
    (Request::from_parts(parts, axum::body::Body::from(bytes)), logged)
}

/// The value with every password field replaced by `****`.
fn redacted(mut value: serde_json::Value) -> serde_json::Value {
    match &mut value {
        serde_json::Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if key.to_ascii_lowercase().contains("password") {
                    *field = serde_json::Value::String("****".into());
                } else {
                    *field = redacted(field.take());
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items.iter_mut() {
                *item = redacted(item.take());
            }
        }
        _ => {}
    }
    value
}

async fn arm_gate(shared: &Shared, request: Request, next: Next) -> (Response, Option<Fault>) {
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    if !bearer.is_some_and(|token| shared.knows_token(&token)) {
        let error =
            ApiError::new(401, "InvalidAuthenticationToken", "The access token is missing or invalid.");
        return (error.into_response(), None);
    }
    let class = RequestClass::of(request.method());
    let remaining = match shared.take_budget(class) {
        Ok(remaining) => remaining,
        Err(wait) => {
            let error = ApiError::new(
                429,
                "TooManyRequests",
                "The request was throttled; retry after the interval in Retry-After.",
            );
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return (with_retry_after(error.into_response(), seconds), None);
        }
    };
    let fault = shared.draw_fault();
    let mut response = match fault {
        None => next.run(request).await,
        Some(Fault::Throttled) => with_retry_after(
            ApiError::new(429, "TooManyRequests", "Injected throttling.").into_response(),
            shared.options.fault_retry_after.as_secs(),
        ),
        Some(Fault::ServerError) => {
            ApiError::new(500, "InternalServerError", "Injected server error.").into_response()
        }
        Some(Fault::Conflict) => ApiError::new(
            409,
            "OperationInterrupted",
            "Injected: the operation was interrupted by another operation.",
        )
        .into_response(),
        Some(Fault::Drop) => dropped_connection(),
        Some(Fault::Lost) => {
            let carried_out = next.run(request).await;
            let mut lost = dropped_connection();
            lost.extensions_mut().insert(LostStatus(carried_out.status().as_u16()));
            if let Some(code) = carried_out.extensions().get::<LoggedCode>() {
                lost.extensions_mut().insert(code.clone());
            }
            lost
        }
    };
    if let Some(remaining) = remaining {
        response.headers_mut().insert(class.header(), HeaderValue::from(remaining));
    }
    (response, fault)
}

/// Maybe injects a fault into a token request: 429 (with `Retry-After`), 503 for a server
/// error or a conflict (a token endpoint has no operations to conflict with), a dropped
/// connection, or a token issued whose answer is lost.
async fn token_gate(shared: &Shared, request: Request, next: Next) -> (Response, Option<Fault>) {
    let oauth_error = |status: StatusCode, error: &str| {
        let body = json!({"error": error, "error_description": format!("Injected: {error}.")});
        (status, Json(body)).into_response()
    };
    let fault = shared.draw_fault();
    let response = match fault {
        None => next.run(request).await,
        Some(Fault::Throttled) => with_retry_after(
            oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            shared.options.fault_retry_after.as_secs(),
        ),
        Some(Fault::ServerError | Fault::Conflict) => {
            oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
        Some(Fault::Drop) => dropped_connection(),
        Some(Fault::Lost) => {
            let issued = next.run(request).await;
            let mut lost = dropped_connection();
            lost.extensions_mut().insert(LostStatus(issued.status().as_u16()));
            lost
        }
    };
    (response, fault)
}

fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response.headers_mut().insert("retry-after", HeaderValue::from(seconds));
    response
}

/// An answer whose body fails at once: the connection closes without a complete response.
fn dropped_connection() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("injected connection drop"))
    });
    Response::new(axum::body::Body::from_stream(stream))
}

async fn token(
    Path(_tenant): Path<String>,
    State(shared): AppState,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let problem = if field("grant_type") != "client_credentials" {
        Some("unsupported_grant_type")
    } else if field("scope") != crate::providers::azure::auth::ARM_SCOPE {
        Some("invalid_scope")
    } else if field("client_id").is_empty() || field("client_secret").is_empty() {
        Some("invalid_client")
    } else {
        None
    };
    if let Some(error) = problem {
        let body = json!({"error": error, "error_description": format!("{error}: the request was refused")});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let token = shared.issue_token();
    Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}))
        .into_response()
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
        .map(|s| store.to_wire_with(s, now(), &masters))
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
        .map(|s| store.to_wire_with(s, now(), &masters))
        .collect();
    Json(json!({ "value": value })).into_response()
}

async fn get_server(State(shared): AppState, Path((_, rg, name)): Shared3) -> Result<Response, ApiError> {
    let store = shared.store();
    let server = store.find(&rg, &name, now())?;
    Ok(Json(store.to_wire(server, now())).into_response())
}

async fn replicas(State(shared): AppState, Path((_, rg, name)): Shared3) -> Result<Response, ApiError> {
    let store = shared.store();
    let primary = store.find(&rg, &name, now())?.name.to_ascii_lowercase();
    let value: Vec<_> = store
        .servers
        .values()
        .filter(|s| s.master.as_deref() == Some(primary.as_str()))
        .map(|s| store.to_wire(s, now()))
        .collect();
    Ok(Json(json!({ "value": value })).into_response())
}

/// A 202 with the polling headers of D-ASYNC; `Retry-After` in whole seconds, rounded down
/// so scaled-down latencies poll at the client's own interval.
fn accepted(shared: &Shared, subscription: &str, outcome: WriteOutcome) -> Response {
    let Some((id, duration)) = outcome.operation else {
        return (StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK), Json(outcome.body))
            .into_response();
    };
    shared.persist();
    let base = format!(
        "{}/subscriptions/{}/providers/Microsoft.DBforPostgreSQL/locations/{}",
        shared.base_url(),
        subscription,
        outcome.location
    );
    let mut response = StatusCode::ACCEPTED.into_response();
    let headers = response.headers_mut();
    let header = |text: String| HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""));
    headers.insert(
        "azure-asyncoperation",
        header(format!("{base}/azureAsyncOperation/{id}?api-version={API_VERSION}")),
    );
    headers.insert("location", header(format!("{base}/operationResults/{id}?api-version={API_VERSION}")));
    headers.insert("retry-after", HeaderValue::from(duration.as_secs()));
    response
}

async fn put_server(
    State(shared): AppState,
    Path((sub, rg, name)): Shared3,
    body: Result<Json<ServerForCreate>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let password = body.properties.administrator_login_password.clone().map(Redacted::new);
    let key = name.to_ascii_lowercase();
    let outcome = {
        let mut store = shared.store();
        let before = store.servers.get(&key).cloned();
        let outcome = store.create(&sub, &rg, &name, body, now())?;
        jobs::after_put(&shared, &mut store, &key, before, password, &outcome);
        outcome
    };
    Ok(accepted(&shared, &sub, outcome))
}

async fn patch_server(
    State(shared): AppState,
    Path((sub, rg, name)): Shared3,
    body: Result<Json<ServerUpdateParameters>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let key = name.to_ascii_lowercase();
    let outcome = {
        let mut store = shared.store();
        let before = store.servers.get(&key).cloned();
        let outcome = store.update(&rg, &name, body, now())?;
        jobs::after_patch(&shared, &mut store, &key, before, &outcome);
        outcome
    };
    Ok(accepted(&shared, &sub, outcome))
}

async fn delete_server(
    State(shared): AppState,
    Path((sub, rg, name)): Shared3,
) -> Result<Response, ApiError> {
    let key = name.to_ascii_lowercase();
    let outcome = {
        let mut store = shared.store();
        let replicas: Vec<String> = store
            .servers
            .iter()
            .filter(|(_, server)| server.master.as_deref() == Some(key.as_str()))
            .map(|(replica, _)| replica.clone())
            .collect();
        let outcome = store.delete(&rg, &name, now())?;
        if let Some(outcome) = &outcome {
            jobs::after_delete(&shared, &mut store, &key, replicas, outcome);
        }
        outcome
    };
    Ok(match outcome {
        Some(outcome) => accepted(&shared, &sub, outcome),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

async fn restart(State(shared): AppState, Path((sub, rg, name)): Shared3) -> Result<Response, ApiError> {
    let outcome = {
        let mut store = shared.store();
        let outcome = store.restart(&rg, &name, now())?;
        jobs::after_restart(&shared, &mut store, &name.to_ascii_lowercase(), &outcome);
        outcome
    };
    Ok(accepted(&shared, &sub, outcome))
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
    Ok(accepted(&shared, &sub, outcome))
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

fn operation(shared: &Shared, id: &str) -> Result<(bool, Option<ApiError>, Duration), ApiError> {
    let store = shared.store();
    let operation = store.operations.get(id).ok_or_else(|| {
        ApiError::new(404, "OperationIdNotFound", format!("Operation '{id}' was not found."))
    })?;
    let left = operation.done_at.saturating_duration_since(now());
    // A held operation (its backing cluster still at work) is polled again at the client's pace.
    Ok((left.is_zero() && !operation.held, operation.error.clone(), left))
}

async fn poll_async(State(shared): AppState, Path((_, _, id)): Shared3) -> Result<Response, ApiError> {
    let (done, error, left) = operation(&shared, &id)?;
    let status = match (done, &error) {
        (false, _) => "InProgress",
        (true, None) => "Succeeded",
        (true, Some(_)) => "Failed",
    };
    let body = AsyncOperation {
        name: Some(id),
        status: status.to_string(),
        start_time: None,
        error: error.map(|e| ErrorDetail { code: e.code, message: e.message }),
    };
    let response = Json(body).into_response();
    Ok(if done { response } else { with_retry_after(response, left.as_secs()) })
}

async fn poll_location(State(shared): AppState, Path((_, _, id)): Shared3) -> Result<Response, ApiError> {
    let (done, error, left) = operation(&shared, &id)?;
    match (done, error) {
        (false, _) => Ok(with_retry_after(StatusCode::ACCEPTED.into_response(), left.as_secs())),
        (true, None) => Ok(StatusCode::OK.into_response()),
        (true, Some(error)) => Err(error),
    }
}
