//! One ARM call at a time: URL building, the bearer token, mapping of status codes to
//! `ProviderError` kinds, the throttling budget (logged and paced), and long-running operations
//! (201/202 then polling `Azure-AsyncOperation`, else `Location`, honouring `Retry-After`).
//!
//! Must not: retry a failed call (the command's one retrying layer, `exec::RetryingProvider`,
//! retries the provider call around it; only polls of an operation that is already running are
//! repeated, since a poll is a wait, until the operation's deadline), or log a token, a
//! password or a request body.

use super::auth::TokenCache;
use super::wire::{API_VERSION, AsyncOperation, CloudError};
use crate::providers::{ProviderError, ProviderErrorKind};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How long and how often pgfleet waits for the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSettings {
    /// The pause between polls when the service sends no `Retry-After` (or `Retry-After: 0`).
    pub interval: Duration,
    /// The longest one operation (create, update, delete, restart) may take.
    pub timeout: Duration,
    /// How long a 404 right after a create counts as "not visible yet" (DOMAIN.md §4.5).
    pub not_found_grace: Duration,
}

impl Default for PollSettings {
    /// Terraform's numbers (DOMAIN.md §4.5): 60 minutes per operation, 15 s between polls.
    fn default() -> PollSettings {
        PollSettings {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(60 * 60),
            not_found_grace: Duration::from_secs(5 * 60),
        }
    }
}

/// The environment variable that overrides the poll interval (`500ms`, `2s`): for the
/// emulator, whose operations take milliseconds, and for tests.
pub(crate) const POLL_INTERVAL_VARIABLE: &str = "PGFLEET_AZURE_POLL_INTERVAL";

impl PollSettings {
    /// The defaults, with the interval from [`POLL_INTERVAL_VARIABLE`] when it is set.
    ///
    /// # Errors
    /// A value that is not a whole number of `ms` or `s` (ignored values would hide a typo
    /// behind 15-second polls).
    pub fn from_environment() -> Result<PollSettings, String> {
        let mut settings = PollSettings::default();
        if let Some(text) = std::env::var(POLL_INTERVAL_VARIABLE).ok().filter(|v| !v.trim().is_empty()) {
            settings.interval = parse_interval(text.trim()).ok_or_else(|| {
                format!("{POLL_INTERVAL_VARIABLE}={text:?} is not a duration above zero such as 200ms or 2s")
            })?;
        }
        Ok(settings)
    }
}

/// `200ms` or `2s`; zero is refused (it would poll ARM as fast as it answers).
pub(crate) fn parse_interval(text: &str) -> Option<Duration> {
    let interval = match text.strip_suffix("ms") {
        Some(ms) => ms.parse().ok().map(Duration::from_millis),
        None => text.strip_suffix('s')?.parse().ok().map(Duration::from_secs),
    };
    interval.filter(|interval| !interval.is_zero())
}

/// The answer to one successful call.
#[derive(Debug)]
pub(crate) struct ArmResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ArmResponse {
    /// The body as JSON.
    ///
    /// # Errors
    /// `Other` when the body does not have the expected shape.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ProviderError::new(ProviderErrorKind::Other, format!("unexpected answer from ARM: {e}"))
        })
    }

    fn header(&self, name: &str) -> Option<String> {
        header(&self.headers, name)
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// `Retry-After` in whole seconds (the only form ARM sends).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header(headers, "retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
}

/// The operation class ARM budgets separately (D-THR-NEW).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Budget {
    Reads,
    Writes,
    Deletes,
}

impl Budget {
    fn of(method: &Method) -> Budget {
        match *method {
            Method::GET | Method::HEAD => Budget::Reads,
            Method::DELETE => Budget::Deletes,
            _ => Budget::Writes,
        }
    }

    fn header(self) -> &'static str {
        match self {
            Budget::Reads => "x-ms-ratelimit-remaining-subscription-reads",
            Budget::Writes => "x-ms-ratelimit-remaining-subscription-writes",
            Budget::Deletes => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }

    /// The bucket's refill time per token: reads 25/s, writes and deletes 10/s (D-THR-NEW).
    fn refill(self) -> Duration {
        match self {
            Budget::Reads => Duration::from_millis(40),
            Budget::Writes | Budget::Deletes => Duration::from_millis(100),
        }
    }
}

/// Below this many remaining requests pgfleet slows down, so it never drains the bucket and
/// gets 429s: it waits about as long as the bucket needs to refill to the threshold.
const PACING_THRESHOLD: u64 = 20;

/// A client of one subscription's ARM endpoint.
pub(crate) struct ArmClient {
    http: reqwest::Client,
    /// `https://management.azure.com` or the emulator, without a trailing slash.
    endpoint: String,
    subscription_id: String,
    tokens: TokenCache,
    /// The last remaining budget ARM reported, per class.
    remaining: Mutex<BTreeMap<Budget, u64>>,
    pub polling: PollSettings,
}

fn unavailable(error: &reqwest::Error) -> ProviderError {
    let kind = if error.is_timeout() { ProviderErrorKind::Timeout } else { ProviderErrorKind::Unavailable };
    ProviderError::new(kind, format!("cannot reach ARM: {error}"))
}

/// The 409 codes that mean "another operation is in progress" (DOMAIN.md §4.5;
/// `ServerBusy`: DOMAIN-FLEXIBLE.md §12, concurrent writes on a Flexible Server).
const BUSY_CODES: &[&str] =
    &["OperationInterrupted", "OperationCancelled", "AnotherOperationInProgress", "ServerBusy", "Conflict"];

/// Maps an ARM error answer to a `ProviderError` (DOMAIN.md §4.5–§4.7).
pub(crate) fn map_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let detail = serde_json::from_slice::<CloudError>(body).ok().map(|e| e.error);
    let message =
        detail.as_ref().map(|d| d.message.clone()).unwrap_or_else(|| format!("ARM answered {status}"));
    let busy = detail.as_ref().is_none_or(|d| BUSY_CODES.contains(&d.code.as_str()));
    let kind = match status.as_u16() {
        429 => ProviderErrorKind::Throttled,
        401 | 403 => ProviderErrorKind::Unauthorized,
        404 => ProviderErrorKind::NotFound,
        // Another operation on the resource: retry later. Any other conflict (a server name
        // taken in another resource group) will not go away by retrying.
        409 if busy => ProviderErrorKind::Conflict,
        409 => ProviderErrorKind::Refused,
        400 | 422 => ProviderErrorKind::Refused,
        500..=599 => ProviderErrorKind::ServerError,
        _ => ProviderErrorKind::Other,
    };
    let mut error = ProviderError::new(kind, message);
    error.code = detail.map(|d| d.code);
    error.retry_after = retry_after(headers);
    error
}

/// Maps the `error` of a failed async operation: the service's code decides the kind.
fn operation_error(operation: &AsyncOperation) -> ProviderError {
    let (code, message) = match &operation.error {
        Some(e) => (e.code.clone(), e.message.clone()),
        None => ("OperationFailed".to_string(), format!("the operation ended {}", operation.status)),
    };
    let kind = match code.as_str() {
        code if BUSY_CODES.contains(&code) => ProviderErrorKind::Conflict,
        "OperationTimedOut" | "InternalServerError" | "OperationFailed" => ProviderErrorKind::ServerError,
        _ => ProviderErrorKind::Refused,
    };
    ProviderError { kind, code: Some(code), message, retry_after: None }
}

impl ArmClient {
    pub fn new(
        endpoint: &str,
        subscription_id: &str,
        tokens: TokenCache,
        http: reqwest::Client,
        polling: PollSettings,
    ) -> ArmClient {
        ArmClient {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            subscription_id: subscription_id.to_string(),
            tokens,
            remaining: Mutex::new(BTreeMap::new()),
            polling,
        }
    }

    /// The URL of a path under the subscription (`/resourceGroups/…`), with the api-version of
    /// the resource type it addresses: Flexible Server's for `flexibleServers` paths, else
    /// Single Server's.
    pub fn url(&self, path: &str) -> String {
        let flexible = path.to_ascii_lowercase().contains("/flexibleservers");
        let version = if flexible { super::flexible_wire::API_VERSION } else { API_VERSION };
        format!("{}/subscriptions/{}{path}?api-version={version}", self.endpoint, self.subscription_id)
    }

    /// Sends one request and returns a 2xx answer.
    ///
    /// # Errors
    /// The mapped error of any other status; `Unavailable` when ARM cannot be reached or the
    /// connection drops.
    pub async fn call<B: Serialize>(
        &self,
        method: Method,
        url: &str,
        body: Option<&B>,
    ) -> Result<ArmResponse, ProviderError> {
        let budget = Budget::of(&method);
        self.pace(budget).await;
        let token = self.tokens.token().await?;
        let mut request = self.http.request(method.clone(), url).bearer_auth(token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| unavailable(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        self.note_budget(budget, &headers);
        let body = response.bytes().await.map_err(|e| unavailable(&e))?.to_vec();
        tracing::debug!(%method, url = %url.split('?').next().unwrap_or(url), %status, "ARM call");
        if status.is_success() {
            Ok(ArmResponse { status, headers, body })
        } else {
            Err(map_error(status, &headers, &body))
        }
    }

    /// GET and parse.
    ///
    /// # Errors
    /// As [`ArmClient::call`], or `Other` for an unexpected body.
    pub async fn get<T: DeserializeOwned>(&self, url: &str) -> Result<T, ProviderError> {
        self.call::<()>(Method::GET, url, None).await?.json()
    }

    /// Logs the remaining budget and remembers it for pacing.
    fn note_budget(&self, budget: Budget, headers: &HeaderMap) {
        let Some(remaining) = header(headers, budget.header()).and_then(|v| v.parse::<u64>().ok()) else {
            return;
        };
        tracing::debug!(header = budget.header(), remaining, "ARM throttling budget");
        if let Ok(mut map) = self.remaining.lock() {
            map.insert(budget, remaining);
        }
    }

    /// Waits before a request when the last answer said the budget is nearly spent.
    async fn pace(&self, budget: Budget) {
        let remaining = self.remaining.lock().ok().and_then(|m| m.get(&budget).copied());
        if let Some(remaining) = remaining.filter(|r| *r < PACING_THRESHOLD) {
            let missing = u32::try_from(PACING_THRESHOLD - remaining).unwrap_or(u32::MAX);
            let pause = budget.refill() * missing;
            tracing::debug!(?budget, remaining, pause_ms = pause.as_millis() as u64, "pacing ARM calls");
            tokio::time::sleep(pause).await;
            if let Ok(mut map) = self.remaining.lock() {
                map.insert(budget, PACING_THRESHOLD);
            }
        }
    }

    /// Waits for a long-running operation started by `initial` to end.
    ///
    /// A 200/204 is already done. A 201/202 is polled at `Azure-AsyncOperation` (terminal
    /// states `Succeeded`, `Failed`, `Canceled`), else at `Location` (202 while running), with
    /// `Retry-After` (or the poll interval) between polls, until `deadline`.
    ///
    /// # Errors
    /// The operation's own error (`Refused`, `Conflict` …), `Timeout` at the deadline.
    pub(crate) async fn wait_operation(
        &self,
        initial: &ArmResponse,
        deadline: Instant,
    ) -> Result<(), ProviderError> {
        if !matches!(initial.status.as_u16(), 201 | 202) {
            return Ok(());
        }
        let async_url = initial.header("azure-asyncoperation");
        let location = initial.header("location");
        let mut pause = self.pause(&initial.headers);
        loop {
            if Instant::now() + pause > deadline {
                return Err(ProviderError::new(
                    ProviderErrorKind::Timeout,
                    "the operation did not finish in time",
                ));
            }
            tokio::time::sleep(pause).await;
            let poll = match (&async_url, &location) {
                (Some(url), _) => self.poll_async(url).await,
                (None, Some(url)) => self.poll_location(url).await,
                // No polling header: the resource itself is polled by the caller.
                (None, None) => return Ok(()),
            };
            match poll {
                Ok(Poll::Done) => return Ok(()),
                // The operation itself failed: polling again would read the same end.
                Ok(Poll::Failed(error)) => return Err(error),
                Ok(Poll::Running(headers)) => pause = self.pause(&headers),
                // The poll's request failed (throttled, a 5xx, a dropped connection): poll again.
                Err(error) if error.is_retryable() => {
                    pause = error.retry_after.unwrap_or(self.polling.interval).max(self.polling.interval);
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn pause(&self, headers: &HeaderMap) -> Duration {
        retry_after(headers).unwrap_or(self.polling.interval).max(self.polling.interval)
    }

    async fn poll_async(&self, url: &str) -> Result<Poll, ProviderError> {
        let response = self.call::<()>(Method::GET, url, None).await?;
        let operation: AsyncOperation = response.json()?;
        Ok(match operation.status.as_str() {
            "Succeeded" => Poll::Done,
            "Failed" | "Canceled" => Poll::Failed(operation_error(&operation)),
            _ => Poll::Running(response.headers),
        })
    }

    async fn poll_location(&self, url: &str) -> Result<Poll, ProviderError> {
        let response = self.call::<()>(Method::GET, url, None).await?;
        Ok(if response.status == StatusCode::ACCEPTED { Poll::Running(response.headers) } else { Poll::Done })
    }
}

/// What one poll of a long-running operation read.
enum Poll {
    Running(HeaderMap),
    Done,
    /// The operation ended in `Failed` or `Canceled`, with its error.
    Failed(ProviderError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn body(code: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"error": {"code": code, "message": "m"}})).unwrap()
    }

    #[test]
    fn status_codes_map_to_kinds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        let throttled = map_error(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
        assert_eq!(throttled.kind, ProviderErrorKind::Throttled);
        assert_eq!(throttled.retry_after, Some(Duration::from_secs(7)));
        let none = HeaderMap::new();
        let cases = [
            (500, "InternalServerError", ProviderErrorKind::ServerError),
            (503, "ServiceUnavailable", ProviderErrorKind::ServerError),
            (409, "OperationInterrupted", ProviderErrorKind::Conflict),
            (409, "AnotherOperationInProgress", ProviderErrorKind::Conflict),
            (409, "ServerBusy", ProviderErrorKind::Conflict),
            (409, "ServerNameAlreadyExists", ProviderErrorKind::Refused),
            (400, "InvalidUpgradeEdition", ProviderErrorKind::Refused),
            (401, "InvalidAuthenticationToken", ProviderErrorKind::Unauthorized),
            (403, "AuthorizationFailed", ProviderErrorKind::Unauthorized),
            (404, "ResourceNotFound", ProviderErrorKind::NotFound),
        ];
        for (status, code, kind) in cases {
            let error = map_error(StatusCode::from_u16(status).unwrap(), &none, &body(code));
            assert_eq!(error.kind, kind, "{status}");
            assert_eq!(error.code.as_deref(), Some(code));
        }
    }

    #[test]
    fn poll_intervals_parse() {
        assert_eq!(parse_interval("200ms"), Some(Duration::from_millis(200)));
        assert_eq!(parse_interval("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_interval("2"), None);
        assert_eq!(parse_interval("fast"), None);
        assert_eq!(parse_interval("0ms"), None, "zero would poll as fast as ARM answers");
        assert_eq!(parse_interval("0s"), None);
    }

    #[test]
    fn failed_operations_keep_the_service_code() {
        let failed = |code: &str| AsyncOperation {
            name: None,
            status: "Failed".into(),
            start_time: None,
            error: Some(super::super::wire::ErrorDetail { code: code.into(), message: "m".into() }),
        };
        assert_eq!(operation_error(&failed("OperationInterrupted")).kind, ProviderErrorKind::Conflict);
        assert_eq!(operation_error(&failed("OperationTimedOut")).kind, ProviderErrorKind::ServerError);
        let refused = operation_error(&failed("UnsupportedUpdate"));
        assert_eq!(
            (refused.kind, refused.code.as_deref()),
            (ProviderErrorKind::Refused, Some("UnsupportedUpdate"))
        );
    }
}
