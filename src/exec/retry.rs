//! The one retrying layer: [`RetryingProvider`] wraps the provider where a command builds it,
//! so every provider call the command makes (its first refresh, each step, each migration's
//! calls, and the token fetch and polls inside them) is retried under one [`RetryPolicy`]:
//! exponential backoff with jitter, the service's `Retry-After` honoured, a timeout on every
//! attempt, and bounds on attempts and total time. Which errors are retried is
//! [`ProviderError::is_retryable`]'s decision, nobody else's.
//!
//! Must not: retry what a retry cannot fix (refusals, missing servers, bad credentials), change
//! what a call does, record state, or print (an observer hears of each retry).

use super::events::EventKind;
use crate::model::{LiveFleet, ObservedServer, ServerName, ServerPatch};
use crate::providers::{Connection, CreateRequest, Provider, ProviderError, ProviderErrorKind};
use async_trait::async_trait;
use rand::Rng;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The environment variable that overrides the first backoff (`50ms`, `2s`): for the emulator,
/// whose operations take milliseconds, and for tests. Later backoffs double from it.
pub const BACKOFF_VARIABLE: &str = "PGFLEET_RETRY_BACKOFF";

/// How provider calls are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt; doubled after each failure.
    pub initial_backoff: Duration,
    /// The largest backoff (before jitter).
    pub max_backoff: Duration,
    /// No retry is started once this much time has passed since the first attempt.
    pub max_total: Duration,
    /// The longest one attempt may take before it counts as timed out (and is retried).
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    /// Ten attempts, 2 s doubling to 60 s, at most 30 minutes per call and 60 minutes per
    /// attempt (Terraform's timeout for one operation). Ten attempts because one refresh is
    /// several ARM requests, any of which fails the attempt: at a fault in nine requests a
    /// refresh of four requests fails one attempt in three, and ten attempts in a row about
    /// once in 20 000 refreshes.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            max_total: Duration::from_secs(30 * 60),
            attempt_timeout: Duration::from_secs(60 * 60),
        }
    }
}

impl RetryPolicy {
    /// The defaults, with the first backoff from [`BACKOFF_VARIABLE`] when it is set.
    ///
    /// # Errors
    /// A value that is not a whole number of `ms` or `s` above zero (an ignored value would
    /// hide a typo behind 2-second backoffs).
    pub fn from_environment() -> Result<RetryPolicy, String> {
        let mut policy = RetryPolicy::default();
        if let Some(text) = std::env::var(BACKOFF_VARIABLE).ok().filter(|v| !v.trim().is_empty()) {
            policy.initial_backoff = crate::providers::azure::client::parse_interval(text.trim())
                .ok_or_else(|| {
                    format!("{BACKOFF_VARIABLE}={text:?} is not a duration above zero such as 50ms or 2s")
                })?;
        }
        Ok(policy)
    }

    /// The wait before attempt `failed + 1`: `initial * 2^(failed-1)` capped at `max_backoff`,
    /// jittered into its upper half (so concurrent calls spread out), and never shorter than
    /// what the service asked for.
    pub(crate) fn delay(&self, failed: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = failed.saturating_sub(1).min(20);
        let backoff = self.initial_backoff.saturating_mul(1 << exponent).min(self.max_backoff);
        let half = backoff / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rand::rng().random_range(0..=half.as_nanos() as u64))
        };
        (half + jitter).max(retry_after.unwrap_or_default())
    }
}

/// A retry about to happen: what the observer of a [`RetryingProvider`] hears.
#[derive(Debug, Clone)]
pub struct RetryNotice<'a> {
    /// The provider call: `refresh`, `create`, `update` …
    pub call: &'static str,
    /// The server the call is about; `None` for `refresh`.
    pub server: Option<&'a ServerName>,
    /// The attempt that failed (1-based).
    pub attempt: u32,
    pub max_attempts: u32,
    /// The wait before the next attempt.
    pub delay: Duration,
    pub error: &'a ProviderError,
}

impl RetryNotice<'_> {
    /// The notice as an event of `apply --json` (`"type": "retry"`).
    pub fn to_event(&self) -> EventKind {
        EventKind::Retry {
            call: self.call,
            server: self.server.cloned(),
            attempt: self.attempt,
            max_attempts: self.max_attempts,
            delay_ms: self.delay.as_millis() as u64,
            error: self.error.to_string(),
        }
    }

    /// One line for people: "retrying update of pay-main in 1.2s (attempt 1 of 10 failed:
    /// Injected server error. (InternalServerError))".
    pub(crate) fn describe(&self) -> String {
        let what = match self.server {
            Some(server) => format!("{} of {server}", self.call),
            None => self.call.to_string(),
        };
        if self.error.is_busy() {
            // Waited out, not counted against `max_attempts` (see `with_retries`).
            return format!(
                "retrying {what} in {:.1}s (attempt {} found another operation in progress: {})",
                self.delay.as_secs_f64(),
                self.attempt,
                self.error
            );
        }
        format!(
            "retrying {what} in {:.1}s (attempt {} of {} failed: {})",
            self.delay.as_secs_f64(),
            self.attempt,
            self.max_attempts,
            self.error
        )
    }
}

/// Hears of every retry (the CLI prints it with `-v` or as a JSON event).
pub type RetryObserver = Arc<dyn Fn(&RetryNotice<'_>) + Send + Sync>;

/// Runs `call` until it succeeds, fails with an error a retry cannot fix, or the policy's
/// bounds are reached. Each attempt is cut off after `policy.attempt_timeout` (a retryable
/// `Timeout`). `on_retry` hears of each retry, with the attempt that failed and the delay.
///
/// An answer that another operation is in progress on the resource
/// ([`ProviderError::is_busy`]) is waited out: the service will take the call once that
/// operation ends, which can take as long as the operation itself (an interrupted apply's
/// create runs on for minutes), so it does not use up `max_attempts`, meant for faults; only
/// `max_total` bounds it, with the same growing backoff between tries.
///
/// # Errors
/// The last error: not retryable, or retryable but out of attempts or time.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    mut call: F,
    mut on_retry: impl FnMut(u32, Duration, &ProviderError),
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let started = Instant::now();
    // Every attempt, for the backoff and the observer.
    let mut attempt = 0;
    // The attempts that failed with a fault, which `max_attempts` bounds (a busy answer is no
    // fault: see above).
    let mut faults = 0;
    loop {
        attempt += 1;
        let error = match tokio::time::timeout(policy.attempt_timeout, call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => error,
            Err(_) => ProviderError::new(
                ProviderErrorKind::Timeout,
                format!("no answer within {}s", policy.attempt_timeout.as_secs()),
            ),
        };
        if !error.is_busy() {
            faults += 1;
        }
        if !error.is_retryable() || faults >= policy.max_attempts {
            return Err(error);
        }
        let delay = policy.delay(attempt, error.retry_after);
        if started.elapsed() + delay > policy.max_total {
            return Err(error);
        }
        on_retry(attempt, delay, &error);
        tokio::time::sleep(delay).await;
    }
}

/// A provider whose every call is retried under one policy. Built once, where a command builds
/// its provider; everything downstream (the executor, migrations) uses it as a plain provider.
pub struct RetryingProvider {
    inner: Arc<dyn Provider>,
    policy: RetryPolicy,
    /// Told of each retry before its wait.
    observer: Option<RetryObserver>,
}

impl RetryingProvider {
    /// `inner` with its calls retried under `policy`, silently.
    pub fn new(inner: Arc<dyn Provider>, policy: RetryPolicy) -> RetryingProvider {
        RetryingProvider { inner, policy, observer: None }
    }

    /// The same, telling `observer` of each retry.
    pub fn observed(self, observer: RetryObserver) -> RetryingProvider {
        RetryingProvider { observer: Some(observer), ..self }
    }

    async fn retry<T, F, Fut>(
        &self,
        call: &'static str,
        server: Option<&ServerName>,
        operation: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        with_retries(&self.policy, operation, |attempt, delay, error| {
            if let Some(observer) = &self.observer {
                let max_attempts = self.policy.max_attempts;
                observer(&RetryNotice { call, server, attempt, max_attempts, delay, error });
            }
        })
        .await
    }
}

#[async_trait]
impl Provider for RetryingProvider {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn refresh(&self) -> Result<LiveFleet, ProviderError> {
        self.retry("refresh", None, || self.inner.refresh()).await
    }

    async fn create(&self, request: CreateRequest) -> Result<ObservedServer, ProviderError> {
        self.retry("create", Some(&request.name), || self.inner.create(request.clone())).await
    }

    async fn update(&self, name: &ServerName, patch: &ServerPatch) -> Result<ObservedServer, ProviderError> {
        self.retry("update", Some(name), || self.inner.update(name, patch)).await
    }

    async fn delete(&self, name: &ServerName) -> Result<(), ProviderError> {
        self.retry("delete", Some(name), || self.inner.delete(name)).await
    }

    async fn failover(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.retry("failover", Some(name), || self.inner.failover(name)).await
    }

    async fn restart(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.retry("restart", Some(name), || self.inner.restart(name)).await
    }

    async fn promote(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.retry("promote", Some(name), || self.inner.promote(name)).await
    }

    async fn set_parameter(
        &self,
        name: &ServerName,
        parameter: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        self.retry("set_parameter", Some(name), || self.inner.set_parameter(name, parameter, value)).await
    }

    async fn cutover(
        &self,
        name: &ServerName,
        staging: &ServerName,
    ) -> Result<ObservedServer, ProviderError> {
        self.retry("cutover", Some(name), || self.inner.cutover(name, staging)).await
    }

    async fn connection(&self, name: &ServerName) -> Result<Connection, ProviderError> {
        self.retry("connection", Some(name), || self.inner.connection(name)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerName;
    use crate::providers::test_provider::{Op, TestProvider};
    use std::sync::Mutex;

    #[test]
    fn delay_grows_is_capped_and_honours_retry_after() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(10),
            max_total: Duration::from_secs(600),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let first = policy.delay(1, None);
            assert!(first >= Duration::from_secs(1) && first <= Duration::from_secs(2), "{first:?}");
            let third = policy.delay(3, None);
            assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(8), "{third:?}");
            let capped = policy.delay(9, None);
            assert!(capped <= Duration::from_secs(10), "{capped:?}");
            assert!(policy.delay(1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_max_total() {
        let policy = RetryPolicy {
            max_attempts: 100,
            initial_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(10),
            max_total: Duration::from_secs(35),
            attempt_timeout: Duration::from_secs(5),
        };
        let mut calls = 0;
        let result: Result<(), _> = with_retries(
            &policy,
            || {
                calls += 1;
                async { Err(ProviderError::new(ProviderErrorKind::ServerError, "boom")) }
            },
            |_, _, _| {},
        )
        .await;
        assert!(result.is_err());
        // Delays are 5..=10 s each, so 35 s allows at least 3 and at most 7 retries.
        assert!((4..=8).contains(&calls), "{calls}");
    }

    /// Regression: a re-run's create met the staging server an interrupted apply was still
    /// creating (409 AnotherOperationInProgress) and gave up after `max_attempts` quick tries,
    /// long before the operation in progress ended. Busy answers are waited out until
    /// `max_total`; faults still stop at `max_attempts`.
    #[tokio::test(start_paused = true)]
    async fn busy_answers_are_waited_out_until_max_total() {
        let policy = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(4),
            max_total: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(5),
        };
        let busy = || {
            let mut error = ProviderError::new(ProviderErrorKind::Conflict, "in progress");
            error.code = Some("AnotherOperationInProgress".into());
            error
        };
        // The operation in progress ends after 60 s: the call then succeeds.
        let started = Instant::now();
        let result = with_retries(
            &policy,
            || async move { if started.elapsed() < Duration::from_secs(60) { Err(busy()) } else { Ok(()) } },
            |_, _, _| {},
        )
        .await;
        assert_eq!(result, Ok(()));
        // One that never ends is given up at `max_total`.
        let started = Instant::now();
        let result: Result<(), _> = with_retries(&policy, || async { Err(busy()) }, |_, _, _| {}).await;
        assert!(result.unwrap_err().is_busy());
        assert!(started.elapsed() <= policy.max_total, "{:?}", started.elapsed());
        assert!(started.elapsed() >= policy.max_total - policy.max_backoff, "{:?}", started.elapsed());
        // Faults between busy answers still count: three faults end it.
        let mut calls = 0;
        let result: Result<(), _> = with_retries(
            &policy,
            || {
                calls += 1;
                let error = if calls % 2 == 1 {
                    busy()
                } else {
                    ProviderError::new(ProviderErrorKind::ServerError, "boom")
                };
                async move { Err(error) }
            },
            |_, _, _| {},
        )
        .await;
        assert_eq!(result.unwrap_err().kind, ProviderErrorKind::ServerError);
        assert_eq!(calls, 6);
    }

    /// The first read of a command is retried like every other call, and the observer hears
    /// of each retry with the call's name; a refusal is not retried.
    #[tokio::test(start_paused = true)]
    async fn refresh_is_retried_and_refusals_are_not() {
        let provider = TestProvider::new();
        let pay = ServerName::new("pay-main");
        for nth in 1..=2 {
            let error = ProviderError::new(ProviderErrorKind::ServerError, "Injected server error.");
            // The test provider counts refreshes under the empty server name.
            provider.fail_call(Op::Refresh, &ServerName::new(""), nth, error);
        }
        provider.fail_call(Op::Delete, &pay, 1, ProviderError::refused("Nope", "refused"));
        let heard = Arc::new(Mutex::new(Vec::new()));
        let log = heard.clone();
        let retrying = RetryingProvider::new(Arc::new(provider.clone()), RetryPolicy::default())
            .observed(Arc::new(move |notice: &RetryNotice<'_>| log.lock().unwrap().push(notice.describe())));

        retrying.refresh().await.unwrap();
        let error = retrying.delete(&pay).await.unwrap_err();

        assert_eq!(error.kind, ProviderErrorKind::Refused);
        let heard = heard.lock().unwrap().clone();
        assert_eq!(heard.len(), 2, "{heard:?}");
        assert!(
            heard[0].starts_with("retrying refresh in ") && heard[0].contains("attempt 1 of 10"),
            "{heard:?}"
        );
        assert_eq!(provider.calls().iter().filter(|c| c.op == Op::Delete).count(), 1);
    }
}
