//! Retrying provider calls: exponential backoff with jitter, the service's `Retry-After`
//! honoured, a timeout on every attempt, and bounds on attempts and total time. It owns the
//! policy and the loop; it must not decide what a call does or record state.

use crate::providers::{ProviderError, ProviderErrorKind};
use rand::Rng;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

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
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            max_total: Duration::from_secs(30 * 60),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `failed + 1`: `initial * 2^(failed-1)` capped at `max_backoff`,
    /// jittered into its upper half (so concurrent steps spread out), and never shorter than
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

/// A retry about to happen, for the caller's event.
#[derive(Debug, Clone)]
pub struct RetryNotice<'a> {
    pub attempt: u32,
    pub delay: Duration,
    pub error: &'a ProviderError,
}

/// Runs `call` until it succeeds, fails with an error a retry cannot fix, or the policy's
/// bounds are reached. Each attempt is cut off after `timeout` (a retryable `Timeout`).
///
/// # Errors
/// The last error: not retryable, or retryable but out of attempts or time.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    timeout: Duration,
    mut call: F,
    mut on_retry: impl FnMut(RetryNotice<'_>),
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match tokio::time::timeout(timeout, call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => error,
            Err(_) => ProviderError::new(
                ProviderErrorKind::Timeout,
                format!("no answer within {}s", timeout.as_secs()),
            ),
        };
        if !error.is_retryable() || attempt >= policy.max_attempts {
            return Err(error);
        }
        let delay = policy.delay(attempt, error.retry_after);
        if started.elapsed() + delay > policy.max_total {
            return Err(error);
        }
        on_retry(RetryNotice { attempt, delay, error: &error });
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_is_capped_and_honours_retry_after() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(10),
            max_total: Duration::from_secs(600),
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
        };
        let mut calls = 0;
        let result: Result<(), _> = with_retries(
            &policy,
            Duration::from_secs(5),
            || {
                calls += 1;
                async { Err(ProviderError::new(ProviderErrorKind::ServerError, "boom")) }
            },
            |_| {},
        )
        .await;
        assert!(result.is_err());
        // Delays are 5..=10 s each, so 35 s allows at least 3 and at most 7 retries.
        assert!((4..=8).contains(&calls), "{calls}");
    }
}
