//! How the emulator misbehaves like the cloud: ARM's token-bucket throttling (D-THR-NEW: reads
//! 250 burst refilled at 25/s, writes and deletes 200 at 10/s), seeded fault injection, and the
//! `--latency` / `--faults` option syntax.
//!
//! Must not: read the wall clock (tokio time only, so tests can pause it) or an unseeded RNG.

use super::store::Latencies;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::str::FromStr;
use std::time::Duration;
use tokio::time::Instant;

/// The operation class ARM budgets separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestClass {
    Read,
    Write,
    Delete,
}

impl RequestClass {
    pub fn of(method: &axum::http::Method) -> RequestClass {
        match *method {
            axum::http::Method::GET | axum::http::Method::HEAD => RequestClass::Read,
            axum::http::Method::DELETE => RequestClass::Delete,
            _ => RequestClass::Write,
        }
    }

    /// The header that reports the remaining budget.
    pub fn header(self) -> &'static str {
        match self {
            RequestClass::Read => "x-ms-ratelimit-remaining-subscription-reads",
            RequestClass::Write => "x-ms-ratelimit-remaining-subscription-writes",
            RequestClass::Delete => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
}

/// A token bucket: `capacity` tokens, refilled at `per_second`.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(capacity: u32, per_second: u32, now: Instant) -> TokenBucket {
        let capacity = f64::from(capacity);
        TokenBucket { capacity, per_second: f64::from(per_second), tokens: capacity, last: now }
    }

    /// Takes a token: the remaining whole tokens, or how long until one is available.
    pub fn take(&mut self, now: Instant) -> Result<u64, Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(self.tokens.floor() as u64)
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_second))
        }
    }
}

/// The three buckets of one subscription.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    reads: TokenBucket,
    writes: TokenBucket,
    deletes: TokenBucket,
}

impl Throttle {
    pub fn new(now: Instant) -> Throttle {
        Throttle {
            reads: TokenBucket::new(250, 25, now),
            writes: TokenBucket::new(200, 10, now),
            deletes: TokenBucket::new(200, 10, now),
        }
    }

    /// Takes a token of the request's class.
    pub fn take(&mut self, class: RequestClass, now: Instant) -> Result<u64, Duration> {
        match class {
            RequestClass::Read => self.reads.take(now),
            RequestClass::Write => self.writes.take(now),
            RequestClass::Delete => self.deletes.take(now),
        }
    }
}

/// Probabilities of injected faults per ARM request
/// (`--faults "429=0.05,500=0.02,409=0.02,drop=0.01,lost=0.01,failed=0.01"`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultRates {
    pub throttled: f64,
    pub server_error: f64,
    pub conflict: f64,
    /// The connection closes without an answer, before the request is carried out.
    pub drop: f64,
    /// The request is carried out, then the connection closes without its answer: the client
    /// cannot tell whether its write happened (a retry must be safe).
    pub lost: f64,
    /// A write is accepted and its operation then fails: the poll reports `Failed` with the
    /// error, as the service reports a failed operation. Whatever it changed stays changed.
    pub failed: f64,
}

/// An injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttled,
    ServerError,
    Conflict,
    Drop,
    Lost,
    Failed,
}

/// A `--faults` or `--latency` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(String);

fn pairs(text: &str) -> impl Iterator<Item = Result<(&str, &str), SpecError>> {
    text.split(',').filter(|p| !p.trim().is_empty()).map(|pair| {
        pair.split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| SpecError(format!("{pair:?} is not KEY=VALUE")))
    })
}

impl FromStr for FaultRates {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<FaultRates, SpecError> {
        let mut rates = FaultRates::default();
        for pair in pairs(text) {
            let (key, value) = pair?;
            let rate: f64 =
                value.parse().map_err(|_| SpecError(format!("{value:?} is not a probability")))?;
            if !(0.0..=1.0).contains(&rate) {
                return Err(SpecError(format!("{key}={value}: a probability is between 0 and 1")));
            }
            match key {
                "429" => rates.throttled = rate,
                "500" => rates.server_error = rate,
                "409" => rates.conflict = rate,
                "drop" => rates.drop = rate,
                "lost" => rates.lost = rate,
                "failed" => rates.failed = rate,
                other => {
                    return Err(SpecError(format!(
                        "unknown fault {other:?}; use 429, 500, 409, drop, lost or failed"
                    )));
                }
            }
        }
        Ok(rates)
    }
}

/// Parses `2s`, `500ms`, `1m`.
///
/// # Errors
/// A value without a known unit.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, SpecError> {
    let bad = || SpecError(format!("{text:?} is not a duration such as 500ms, 2s or 1m"));
    let (number, unit) =
        text.find(|c: char| !c.is_ascii_digit() && c != '.').map(|i| text.split_at(i)).ok_or_else(bad)?;
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs_f64(seconds))
}

impl FromStr for Latencies {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Latencies, SpecError> {
        let mut latencies = Latencies::default();
        for pair in pairs(text) {
            let (key, value) = pair?;
            let duration = parse_duration(value)?;
            match key {
                "create" => latencies.create = duration,
                "update" => latencies.update = duration,
                "restart" => latencies.restart = duration,
                "delete" => latencies.delete = duration,
                "invisible" => latencies.invisible = duration,
                other => {
                    return Err(SpecError(format!(
                        "unknown operation {other:?}; use create, update, restart, delete or invisible"
                    )));
                }
            }
        }
        Ok(latencies)
    }
}

/// Draws faults from a seeded RNG, so a seed replays the same faults for the same requests.
#[derive(Debug)]
pub(crate) struct FaultInjector {
    rates: FaultRates,
    rng: StdRng,
}

impl FaultInjector {
    pub fn new(rates: FaultRates, seed: u64) -> FaultInjector {
        FaultInjector { rates, rng: StdRng::seed_from_u64(seed) }
    }

    /// The fault for the next request, if any.
    pub(crate) fn draw(&mut self) -> Option<Fault> {
        let roll: f64 = self.rng.random();
        let rates = self.rates;
        let table = [
            (rates.throttled, Fault::Throttled),
            (rates.server_error, Fault::ServerError),
            (rates.conflict, Fault::Conflict),
            (rates.drop, Fault::Drop),
            (rates.lost, Fault::Lost),
            // Last, so that rates without it draw as they always did for a seed.
            (rates.failed, Fault::Failed),
        ];
        let mut threshold = 0.0;
        for (rate, fault) in table {
            threshold += rate;
            if roll < threshold {
                return Some(fault);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_syntax() {
        let rates: FaultRates = "429=0.05,500=0.02,409=0.02,drop=0.01,lost=0.03,failed=0.04".parse().unwrap();
        assert_eq!(
            rates,
            FaultRates {
                throttled: 0.05,
                server_error: 0.02,
                conflict: 0.02,
                drop: 0.01,
                lost: 0.03,
                failed: 0.04
            }
        );
        assert!("418=0.1".parse::<FaultRates>().is_err());
        assert!("429=2".parse::<FaultRates>().is_err());
        let latencies: Latencies = "create=2s,update=1s,restart=500ms".parse().unwrap();
        assert_eq!(latencies.create, Duration::from_secs(2));
        assert_eq!(latencies.restart, Duration::from_millis(500));
        assert!("create=2h".parse::<Latencies>().is_err());
    }

    #[test]
    fn buckets_run_dry_and_refill() {
        let start = Instant::now();
        let mut throttle = Throttle::new(start);
        for _ in 0..250 {
            throttle.take(RequestClass::Read, start).unwrap();
        }
        let wait = throttle.take(RequestClass::Read, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(40));
        assert_eq!(throttle.take(RequestClass::Write, start), Ok(199));
        let later = start + Duration::from_secs(1);
        assert_eq!(throttle.take(RequestClass::Read, later), Ok(24));
    }

    #[test]
    fn a_seed_replays_the_same_faults() {
        let rates = FaultRates {
            throttled: 0.2,
            server_error: 0.2,
            conflict: 0.1,
            drop: 0.1,
            lost: 0.1,
            failed: 0.0,
        };
        let draw = |seed| {
            let mut injector = FaultInjector::new(rates, seed);
            (0..200).map(|_| injector.draw()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        let faults = draw(7).iter().filter(|f| f.is_some()).count();
        assert!((60..=180).contains(&faults), "{faults} faults in 200 draws at 60%");
    }
}
