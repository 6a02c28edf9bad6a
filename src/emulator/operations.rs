//! Long-running operations as ARM reports them (D-ASYNC): a write answers 202 with the
//! `Azure-AsyncOperation` and `Location` URLs of its operation, which the client polls until the
//! operation ends; a failed operation reports its error in the poll's body. Shared by every
//! resource type the emulator serves: a store keeps its [`Operations`], and
//! [`super::Shared::with_operation`] finds an operation in whichever store holds it.
//!
//! Must not: read the wall clock (tokio time only), or answer a poll with a refusal that is no
//! operation's outcome (a 409 on a poll URL is not ARM's; an operation fails in its body).

use super::Shared;
use super::store::{ApiError, WriteOutcome};
use crate::providers::azure::wire::{AsyncOperation, ErrorDetail};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// An async operation: done at `done_at`, with its outcome.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub done_at: Instant,
    pub error: Option<ApiError>,
    /// Not done before the backing cluster has carried the write out.
    pub held: bool,
}

/// What a poll reports at one moment.
#[derive(Debug, Clone)]
pub(crate) struct PollState {
    pub done: bool,
    pub error: Option<ApiError>,
    /// Until the operation is due to end (zero when it is, or when it is held).
    pub left: Duration,
}

impl Operation {
    pub(crate) fn state(&self, now: Instant) -> PollState {
        let left = self.done_at.saturating_duration_since(now);
        // A held operation (its backing cluster still at work) is polled again at the client's pace.
        PollState { done: left.is_zero() && !self.held, error: self.error.clone(), left }
    }

    /// Makes the operation end `Failed` with `error` when it ends (an injected fault, reported
    /// as the service reports a failure: in the poll's body). Whatever the operation changed
    /// stays changed; after a failure on Azure the client reads the resource again. An
    /// operation with an outcome already keeps it.
    pub(crate) fn doom(&mut self, error: ApiError) {
        self.error.get_or_insert(error);
    }
}

/// Ids of operations, unique across stores and runs of the process (a store's operations are
/// not persisted).
static NEXT_OPERATION: AtomicU64 = AtomicU64::new(1);

/// The operations of one store, by id.
#[derive(Debug, Default)]
pub(crate) struct Operations {
    by_id: BTreeMap<String, Operation>,
}

impl Operations {
    /// Starts an operation that ends after `duration`, and returns its id.
    pub(crate) fn start(&mut self, duration: Duration, now: Instant) -> String {
        let number = NEXT_OPERATION.fetch_add(1, Ordering::Relaxed);
        let id = format!("{number:08x}-0000-4000-8000-{number:012x}");
        self.by_id.insert(id.clone(), Operation { done_at: now + duration, error: None, held: false });
        id
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Operation> {
        self.by_id.get_mut(id)
    }
}

/// `Retry-After` in whole seconds, rounded down so scaled-down latencies poll at the client's
/// own interval; omitted when that is zero (`Retry-After: 0` reads as absent to some clients,
/// and as "poll at once" to others).
pub(crate) fn with_retry_after(mut response: Response, wait: Duration) -> Response {
    if wait.as_secs() > 0 {
        response.headers_mut().insert("retry-after", HeaderValue::from(wait.as_secs()));
    }
    response
}

fn header(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""))
}

/// The answer to an accepted write: the outcome's own status and body when it is synchronous,
/// else a 202 with the polling headers of D-ASYNC under the resource provider `namespace`
/// (`Microsoft.DBforPostgreSQL`) at the outcome's location, carrying `api_version`. Persists
/// the state when an operation started.
pub(crate) fn accepted(
    shared: &Shared,
    subscription: &str,
    api_version: &str,
    outcome: WriteOutcome,
) -> Response {
    let Some((id, duration)) = outcome.operation else {
        return (StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK), Json(outcome.body))
            .into_response();
    };
    shared.persist();
    let base = format!(
        "{}/subscriptions/{subscription}/providers/Microsoft.DBforPostgreSQL/locations/{}",
        shared.base_url(),
        outcome.location
    );
    let mut response = StatusCode::ACCEPTED.into_response();
    let headers = response.headers_mut();
    headers.insert(
        "azure-asyncoperation",
        header(&format!("{base}/azureAsyncOperation/{id}?api-version={api_version}")),
    );
    headers.insert("location", header(&format!("{base}/operationResults/{id}?api-version={api_version}")));
    with_retry_after(response, duration)
}

/// A 202 whose only polling header is `Location`, as Microsoft.Resources answers (a resource
/// group's delete): `/subscriptions/{s}/operationResults/{id}`.
pub(crate) fn accepted_with_location(
    shared: &Shared,
    subscription: &str,
    api_version: &str,
    id: &str,
    duration: Duration,
) -> Response {
    let mut response = StatusCode::ACCEPTED.into_response();
    let url = format!(
        "{}/subscriptions/{subscription}/operationResults/{id}?api-version={api_version}",
        shared.base_url()
    );
    response.headers_mut().insert("location", header(&url));
    with_retry_after(response, duration)
}

fn state_of(shared: &Shared, id: &str) -> Result<PollState, ApiError> {
    shared
        .with_operation(id, |operation| operation.state(Instant::now()))
        .ok_or_else(|| ApiError::new(404, "OperationIdNotFound", format!("Operation '{id}' was not found.")))
}

type AppState = State<Arc<Shared>>;

/// `GET …/locations/{location}/azureAsyncOperation/{id}`: the operation's status in the body.
pub(crate) async fn poll_async(
    State(shared): AppState,
    Path((_, _, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let state = state_of(&shared, &id)?;
    let status = match (state.done, &state.error) {
        (false, _) => "InProgress",
        (true, None) => "Succeeded",
        (true, Some(_)) => "Failed",
    };
    let body = AsyncOperation {
        name: Some(id),
        status: status.to_string(),
        start_time: None,
        error: state.error.map(|e| ErrorDetail { code: e.code, message: e.message }),
    };
    let response = Json(body).into_response();
    Ok(if state.done { response } else { with_retry_after(response, state.left) })
}

/// `GET …/operationResults/{id}` (a provider's, under a location, or Microsoft.Resources',
/// under the subscription): 202 while running, 200 when done, the error when it failed.
pub(crate) async fn poll_location(shared: &Shared, id: &str) -> Result<Response, ApiError> {
    let state = state_of(shared, id)?;
    match (state.done, state.error) {
        (false, _) => Ok(with_retry_after(StatusCode::ACCEPTED.into_response(), state.left)),
        (true, None) => Ok(StatusCode::OK.into_response()),
        (true, Some(error)) => Err(error),
    }
}

/// `GET …/locations/{location}/operationResults/{id}`.
pub(crate) async fn poll_provider_location(
    State(shared): AppState,
    Path((_, _, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    poll_location(&shared, &id).await
}

/// `GET /subscriptions/{s}/operationResults/{id}` (Microsoft.Resources).
pub(crate) async fn poll_subscription_location(
    State(shared): AppState,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    poll_location(&shared, &id).await
}

/// The operation id of an accepted write's answer (from its `Azure-AsyncOperation` header).
pub(crate) fn operation_of(response: &Response) -> Option<String> {
    let url = response.headers().get("azure-asyncoperation")?.to_str().ok()?;
    let path = url.split('?').next()?;
    path.rsplit('/').next().map(str::to_string)
}
