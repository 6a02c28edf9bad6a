//! The gate every request passes, for every route (unknown paths included): on ARM paths the
//! bearer token, the api-version ([`super::arm`]), the resource group ([`super::groups`]),
//! ARM's token buckets and the injected faults; on the identity endpoints only the faults, as
//! an OAuth endpoint answers them; then the request log.
//!
//! Faults take the service's shapes: a 409 is injected only into writes (a GET on ARM, a poll
//! URL's above all, does not conflict); a failed operation (`failed`) is a write accepted whose
//! operation then ends `Failed`, the error in the poll's body as the service reports it.
//!
//! Must not: decide a rule (the stores do) or sleep on the wall clock.

use super::limits::{Fault, RequestClass};
use super::operations::{operation_of, with_retry_after};
use super::store::ApiError;
use super::{Shared, arm, groups, identity};
use crate::providers::azure::wire::{CloudError, ErrorDetail};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The error code an answer carried, for the request log.
#[derive(Debug, Clone)]
pub(crate) struct LoggedCode(pub String);

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

/// The most a request body may hold (server bodies are about 1 kB).
const BODY_LIMIT: usize = 1 << 20;

/// Checks, throttles, maybe injects a fault, and logs the answer. Writes are carried out and
/// logged one at a time (see `Shared::write_order`).
pub(crate) async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let is_identity = identity::is_identity_path(&path);
    // The token endpoint's form carries the client secret: identity bodies are never logged.
    let is_write = !is_identity && RequestClass::of(&method) != RequestClass::Read;
    let (request, body) = if is_write { with_logged_body(request).await } else { (request, None) };
    let _order = if is_write { Some(shared.write_order.lock().await) } else { None };
    let (response, fault) = if is_identity {
        identity_gate(&shared, request, next).await
    } else {
        arm_gate(&shared, request, next, body.as_ref()).await
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

/// Reads a write's body for the log (passwords redacted) and hands the request on intact.
async fn with_logged_body(request: Request) -> (Request, Option<serde_json::Value>) {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let logged = serde_json::from_slice::<serde_json::Value>(&bytes).ok().map(redacted);
    (Request::from_parts(parts, axum::body::Body::from(bytes)), logged)
}

/// The value with every password (or access key) field replaced by `****`.
fn redacted(mut value: serde_json::Value) -> serde_json::Value {
    match &mut value {
        serde_json::Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                if key.contains("password") || key.contains("accesskey") {
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

/// What ARM checks before the resource provider sees a request, in ARM's order: the refusal,
/// if any.
fn refusal(shared: &Shared, request: &Request, body: Option<&serde_json::Value>) -> Option<Response> {
    let authorization = request.headers().get("authorization");
    let bearer = authorization.and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|token| shared.knows_token(token)) {
        return Some(identity::unauthorized(shared, authorization.is_some()));
    }
    let path = request.uri().path();
    if let Some(problem) = arm::api_version_problem(path, request.uri().query()) {
        return Some(problem.into_response());
    }
    let (subscription, group) = arm::resource_group_of(path)?;
    let is_put = request.method() == Method::PUT;
    groups::admit(shared, is_put, &subscription, &group, body).err().map(IntoResponse::into_response)
}

async fn arm_gate(
    shared: &Shared,
    request: Request,
    next: Next,
    body: Option<&serde_json::Value>,
) -> (Response, Option<Fault>) {
    if let Some(refusal) = refusal(shared, &request, body) {
        return (refusal, None);
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
            // Rounded up: a client that waits as told finds a token.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return (with_retry_after(error.into_response(), Duration::from_secs(seconds)), None);
        }
    };
    let mut fault = shaped_fault(&request, shared.draw_fault());
    let mut response = match fault {
        None => next.run(request).await,
        Some(Fault::Failed) => {
            let response = next.run(request).await;
            fault = failing(shared, &response);
            response
        }
        Some(Fault::Throttled) => with_retry_after(
            ApiError::new(429, "TooManyRequests", "Injected throttling.").into_response(),
            shared.options.fault_retry_after,
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
        Some(Fault::Lost) => lost(next.run(request).await),
    };
    if let Some(remaining) = remaining {
        response.headers_mut().insert(class.header(), HeaderValue::from(remaining));
    }
    (response, fault)
}

/// The drawn fault in the service's shape: a conflict is a write's (ARM answers a read with no
/// 409, a poll URL least of all), a failed operation needs a write.
fn shaped_fault(request: &Request, fault: Option<Fault>) -> Option<Fault> {
    let is_read = RequestClass::of(request.method()) == RequestClass::Read;
    match fault {
        Some(Fault::Conflict | Fault::Failed) if is_read => None,
        fault => fault,
    }
}

/// A write carried out whose operation is to end `Failed`; `None` when the write started no
/// operation (a synchronous answer or a refusal: nothing to fail).
fn failing(shared: &Shared, response: &Response) -> Option<Fault> {
    let id = operation_of(response)?;
    let error = ApiError::new(
        500,
        "InternalServerError",
        "Injected: an unexpected error occurred while processing the operation.",
    );
    shared.with_operation(&id, |operation| operation.doom(error)).map(|()| Fault::Failed)
}

/// An answer carried out and then lost: the connection drops, the log keeps what happened.
fn lost(carried_out: Response) -> Response {
    let mut lost = dropped_connection();
    lost.extensions_mut().insert(LostStatus(carried_out.status().as_u16()));
    if let Some(code) = carried_out.extensions().get::<LoggedCode>() {
        lost.extensions_mut().insert(code.clone());
    }
    lost
}

/// Maybe injects a fault into an identity request: 429 (with `Retry-After`), 503 for a server
/// error or a conflict (a token endpoint has no operations to conflict with), a dropped
/// connection, or a token issued whose answer is lost.
async fn identity_gate(shared: &Shared, request: Request, next: Next) -> (Response, Option<Fault>) {
    let oauth_error = |status: StatusCode, error: &str| {
        let body = json!({"error": error, "error_description": format!("Injected: {error}.")});
        (status, Json(body)).into_response()
    };
    let fault = shared.draw_fault();
    let response = match fault {
        None => next.run(request).await,
        Some(Fault::Throttled) => with_retry_after(
            oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            shared.options.fault_retry_after,
        ),
        Some(Fault::ServerError | Fault::Conflict) => {
            oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
        Some(Fault::Drop) => dropped_connection(),
        Some(Fault::Lost) => lost(next.run(request).await),
        // A token endpoint has no operations to fail.
        Some(Fault::Failed) => next.run(request).await,
    };
    (response, fault.filter(|f| *f != Fault::Failed))
}

/// An answer whose body fails at once: the connection closes without a complete response.
fn dropped_connection() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("injected connection drop"))
    });
    Response::new(axum::body::Body::from_stream(stream))
}
