//! Measuring how long a server refused connections during a restart: a probe opens a
//! connection and runs `SELECT 1` in a loop while the restart happens.
//!
//! Owns: the probe loop and its bounds. Must not: restart anything itself.

use super::cluster::{INTERNAL_ROLE, connect};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Pause between two probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(20);

/// How long the probe keeps trying after the restart finished before it gives up on closing
/// the window.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running probe.
pub struct Probe {
    stop: watch::Sender<bool>,
    task: JoinHandle<Duration>,
}

impl Probe {
    /// Starts probing `127.0.0.1:port` as the provider's role.
    pub fn start(port: u16, secret: String) -> Probe {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut unavailable = Duration::ZERO;
            let mut failing_since: Option<Instant> = None;
            let mut deadline: Option<Instant> = None;
            loop {
                let attempt = async {
                    let client = connect(port, INTERNAL_ROLE, &secret, "postgres").await.ok()?;
                    client.simple_query("SELECT 1").await.ok()
                };
                let succeeded =
                    tokio::time::timeout(Duration::from_secs(1), attempt).await.ok().flatten().is_some();
                let now = Instant::now();
                match (succeeded, failing_since) {
                    (true, Some(since)) => {
                        unavailable += now - since;
                        failing_since = None;
                    }
                    (false, None) => failing_since = Some(now),
                    _ => {}
                }
                if *stopped.borrow() {
                    let deadline = *deadline.get_or_insert(now + SETTLE_TIMEOUT);
                    if failing_since.is_none() || now >= deadline {
                        return unavailable + failing_since.map(|since| now - since).unwrap_or_default();
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                    changed = stopped.changed() => {
                        if changed.is_err() {
                            // The probe was dropped without `finish`: nobody wants the figure.
                            return unavailable;
                        }
                    }
                }
            }
        });
        Probe { stop, task }
    }

    /// Stops the probe once the server answers again (or after a bounded wait) and returns
    /// how long connections failed in total.
    pub async fn finish(self) -> Duration {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}
