//! The azurerm backend's lock: a 15-second lease on the blob `KEY.lock`, renewed every 5
//! seconds in the background while pgfleet runs, with the holder (pid, host, command, since) in
//! the blob's metadata. A holder that dies stops renewing, so its lease expires by itself
//! within 15 s; a holder that releases deletes the blob, so a lock blob whose lease has expired
//! always names a holder that ended without releasing it. `force-unlock` breaks the lease.

use super::super::LockGuard;
use super::super::bridge::Bridge;
use super::blob::{BlobClient, Request, Response};
use crate::state::StateError;
use crate::state::lock::{Attempt, LockHolder, LockStatus};
use base64::Engine;
use reqwest::Method;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a lease lasts unless renewed: a dead holder's lock frees itself within this.
pub(crate) const LEASE_SECONDS: u64 = 15;

/// How often the holder renews its lease (three chances before it would expire).
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// The metadata entry naming the holder (base64 of its JSON: metadata values are ASCII).
const HOLDER_METADATA: &str = "x-ms-meta-pgfleetlock";

/// What the holder's renewal task found: `Some(reason)` once the lease is lost.
#[derive(Debug, Default)]
pub(crate) struct LeaseHealth {
    lost: Mutex<Option<String>>,
}

impl LeaseHealth {
    /// Why the lease was lost, if it was.
    pub(crate) fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn set_lost(&self, reason: String) {
        self.lost.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(reason);
    }
}

/// The lease this process holds; released (the lock blob deleted) on drop.
pub(crate) struct LeaseLock {
    bridge: Arc<Bridge>,
    client: Arc<BlobClient>,
    blob: String,
    lease_id: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock").field("blob", &self.blob).finish_non_exhaustive()
    }
}

impl LockGuard for LeaseLock {}

impl Drop for LeaseLock {
    fn drop(&mut self) {
        self.renewal.abort();
        let client = self.client.clone();
        let request =
            Request::new(Method::DELETE, self.blob.clone()).header("x-ms-lease-id", self.lease_id.clone());
        // Best effort: a backend that cannot be reached lets the lease expire instead.
        let _ = self.bridge.run(async move { client.send(request).await });
    }
}

/// The blobs and client the lock works with.
pub(crate) struct LeaseTarget<'a> {
    pub bridge: &'a Arc<Bridge>,
    pub client: &'a Arc<BlobClient>,
    pub container: &'a str,
    /// `CONTAINER/KEY.lock`.
    pub blob: &'a str,
}

impl LeaseTarget<'_> {
    fn send(&self, request: Request) -> Result<Response, StateError> {
        let client = self.client.clone();
        self.bridge.run(async move { client.send(request).await }).map_err(|unreachable| {
            super::super::backend_error("lock the state through", self.url(), unreachable.0, true)
        })
    }

    fn url(&self) -> String {
        self.client.url(self.blob)
    }

    fn refused(&self, action: &str, response: &Response) -> StateError {
        super::super::backend_error(action, self.url(), response.describe(), false)
    }

    /// The holder the lock blob's metadata names; `Err(())` when there is no lock blob.
    fn holder(&self) -> Result<Result<(Option<LockHolder>, bool), ()>, StateError> {
        let response = self.send(Request::new(Method::HEAD, self.blob))?;
        if response.status == 404 {
            return Ok(Err(()));
        }
        if !response.is_success() {
            return Err(self.refused("read the holder of the lock", &response));
        }
        let holder = response.header(HOLDER_METADATA).and_then(decode_holder);
        let leased = response.header("x-ms-lease-state") == Some("leased");
        Ok(Ok((holder, leased)))
    }

    /// One attempt to take the lease for `command`.
    pub(crate) fn attempt(
        &self,
        command: &str,
        health: &Arc<LeaseHealth>,
    ) -> Result<Attempt<LeaseLock>, StateError> {
        let lease_id = uuid::Uuid::new_v4().to_string();
        let response = self.send(
            Request::new(Method::PUT, self.blob)
                .query("comp", "lease")
                .header("x-ms-lease-action", "acquire")
                .header("x-ms-lease-duration", LEASE_SECONDS.to_string())
                .header("x-ms-proposed-lease-id", lease_id.clone()),
        )?;
        match (response.status, response.code()) {
            (201 | 200, _) => {}
            (409, "LeaseAlreadyPresent") => {
                return Ok(match self.holder()? {
                    Ok((holder, _)) => Attempt::Held(holder),
                    Err(()) => Attempt::Replaced,
                });
            }
            (404, _) => {
                self.create_lock_blob()?;
                return Ok(Attempt::Replaced);
            }
            _ => return Err(self.refused("lease", &response)),
        }
        let previous = match self.holder()? {
            Ok((holder, _)) => holder,
            Err(()) => return Ok(Attempt::Replaced),
        };
        let holder = LockHolder::current(command);
        let response = self.send(
            Request::new(Method::PUT, self.blob)
                .query("comp", "metadata")
                .header("x-ms-lease-id", lease_id.clone())
                .header(HOLDER_METADATA, encode_holder(&holder)),
        )?;
        if !response.is_success() {
            return Err(self.refused("record the holder of the lock in", &response));
        }
        let renewal = self.bridge.spawn(renew(
            self.client.clone(),
            self.blob.to_string(),
            lease_id.clone(),
            health.clone(),
        ));
        let lock = LeaseLock {
            bridge: self.bridge.clone(),
            client: self.client.clone(),
            blob: self.blob.to_string(),
            lease_id,
            renewal,
        };
        Ok(Attempt::Taken(lock, previous))
    }

    /// Creates the container (when missing) and the empty lock blob (unless it exists).
    fn create_lock_blob(&self) -> Result<(), StateError> {
        let create = || {
            self.send(
                Request::new(Method::PUT, self.blob)
                    .header("x-ms-blob-type", "BlockBlob")
                    .header("if-none-match", "*"),
            )
        };
        let mut response = create()?;
        if response.status == 404 {
            ensure_container(self.bridge, self.client, self.container)?;
            response = create()?;
        }
        match response.status {
            200..=299 | 409 | 412 => Ok(()),
            _ => Err(self.refused("create the lock blob", &response)),
        }
    }

    /// Free, held, or left by a holder whose lease expired.
    pub(crate) fn status(&self) -> Result<LockStatus, StateError> {
        Ok(match self.holder()? {
            Err(()) => LockStatus::Free,
            Ok((holder, true)) => LockStatus::Held(holder),
            Ok((Some(holder), false)) => LockStatus::Abandoned(Some(holder)),
            Ok((None, false)) => LockStatus::Free,
        })
    }

    /// Breaks the lease at once and deletes the lock blob; returns the holder it named.
    pub(crate) fn force_unlock(&self) -> Result<Option<LockHolder>, StateError> {
        let holder = match self.holder()? {
            Err(()) => return Ok(None),
            Ok((holder, _)) => holder,
        };
        let response = self.send(
            Request::new(Method::PUT, self.blob)
                .query("comp", "lease")
                .header("x-ms-lease-action", "break")
                .header("x-ms-lease-break-period", "0"),
        )?;
        // 409: there was no lease to break.
        if !response.is_success() && response.status != 409 && response.status != 404 {
            return Err(self.refused("break the lease of", &response));
        }
        let response = self.send(Request::new(Method::DELETE, self.blob))?;
        if !response.is_success() && response.status != 404 {
            return Err(self.refused("delete", &response));
        }
        Ok(holder)
    }
}

/// Creates `container` unless it exists.
pub(crate) fn ensure_container(
    bridge: &Arc<Bridge>,
    client: &Arc<BlobClient>,
    container: &str,
) -> Result<(), StateError> {
    let request = Request::new(Method::PUT, container).query("restype", "container");
    let sender = client.clone();
    let response = bridge.run(async move { sender.send(request).await }).map_err(|unreachable| {
        super::super::backend_error("create the container", client.url(container), unreachable.0, true)
    })?;
    match (response.status, response.code()) {
        (200..=299, _) | (409, "ContainerAlreadyExists") => Ok(()),
        _ => Err(super::super::backend_error(
            "create the container",
            client.url(container),
            response.describe(),
            false,
        )),
    }
}

/// Renews the lease every [`RENEW_EVERY`] until aborted; marks it lost when the service refuses
/// a renewal (the lease was broken or taken) or none succeeded for a whole lease period.
async fn renew(client: Arc<BlobClient>, blob: String, lease_id: String, health: Arc<LeaseHealth>) {
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let request = Request::new(Method::PUT, blob.clone())
            .query("comp", "lease")
            .header("x-ms-lease-action", "renew")
            .header("x-ms-lease-id", lease_id.clone());
        match client.send(request).await {
            Ok(response) if response.is_success() => renewed = tokio::time::Instant::now(),
            Ok(response) if (400..500).contains(&response.status) => {
                health.set_lost(format!("its lease could not be renewed ({})", response.describe()));
                return;
            }
            Ok(response) => tracing::debug!(answer = %response.describe(), "renewing the state lease failed"),
            Err(unreachable) => tracing::debug!(error = %unreachable.0, "renewing the state lease failed"),
        }
        if renewed.elapsed() >= Duration::from_secs(LEASE_SECONDS) {
            health.set_lost(format!("its lease could not be renewed for {LEASE_SECONDS} s and has expired"));
            return;
        }
    }
}

fn encode_holder(holder: &LockHolder) -> String {
    let json = serde_json::to_vec(holder).expect("a holder is always JSON");
    base64::engine::general_purpose::STANDARD.encode(json)
}

fn decode_holder(value: &str) -> Option<LockHolder> {
    let json = base64::engine::general_purpose::STANDARD.decode(value).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_survives_metadata_encoding() {
        let holder = LockHolder::current("pgfleet apply --auto-approve «quoted»");
        let encoded = encode_holder(&holder);
        assert!(encoded.is_ascii());
        assert_eq!(decode_holder(&encoded), Some(holder));
        assert_eq!(decode_holder("not base64 at all"), None);
    }
}
