//! The azurerm backend: a fleet's state in Azure Blob Storage, as Terraform's azurerm backend
//! keeps it. The blob `KEY` is the state, `KEY.backup` the previous one, `KEY.journal` an append
//! blob holding the journal, `KEY.lock` the lock (`lease`).
//!
//! Guarantees, as the local file gives them: the state is written only if its ETag is still
//! the one read (`If-Match`, or `If-None-Match: *` for a new state), so a writer that lost the
//! lock cannot overwrite another's; each journal append is one append block, durable when the
//! service answers, and conditional on the journal's length and ETag, so two writers never
//! interleave records. A missing container is created; a missing blob is an empty state.

mod blob;
mod lease;

use super::bridge::Bridge;
use super::{Acquired, Backend, Names, Stored, backend_error};
use crate::state::StateError;
use crate::state::journal::JournalBase;
use crate::state::lock::{LockHolder, LockStatus, LockWait, Polling, acquire_with};
use blob::{BlobClient, Request, Response};
use lease::{LeaseHealth, LeaseTarget};
use reqwest::Method;
use std::sync::Arc;
use std::time::Duration;

/// The most one append block may hold (the service's limit for API versions before 2022).
const MAX_APPEND_BLOCK: usize = 4 * 1024 * 1024;

/// The journal as this process last saw it.
#[derive(Debug, Clone)]
struct JournalBlob {
    etag: String,
    len: u64,
}

/// The blobs of one state.
pub(crate) struct AzurermBackend {
    bridge: Arc<Bridge>,
    client: Arc<BlobClient>,
    container: String,
    /// `CONTAINER/KEY`.
    state_blob: String,
    names: Names,
    /// The state blob's ETag as last read or written (`None`: there was none).
    state_etag: Option<String>,
    /// The state as last read or written: it becomes the backup at the next write.
    current: Option<Vec<u8>>,
    /// The journal as last read or appended to (`None`: there was none).
    journal: Option<JournalBlob>,
    /// The journal's bytes as last read, to cut a torn end off when resuming.
    journal_read: Option<Vec<u8>>,
    /// The health of the lease this process holds, checked before every write.
    lease: Option<Arc<LeaseHealth>>,
}

impl std::fmt::Debug for AzurermBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzurermBackend").field("state", &self.names.state).finish_non_exhaustive()
    }
}

impl AzurermBackend {
    /// The backend `config` describes; nothing is sent until the first call.
    ///
    /// # Errors
    /// [`StateError::Settings`] when the access key is not base64 or no runtime can be started.
    pub(crate) fn new(config: &super::AzurermConfig) -> Result<AzurermBackend, StateError> {
        let access_key = match &config.auth {
            super::BlobAuth::SharedKey(key) => Some(key),
            super::BlobAuth::CredentialChain => None,
        };
        let client = BlobClient::new(&config.endpoint, &config.account, access_key)
            .map_err(|message| StateError::Settings { message: format!("[state.azurerm]: {message}") })?;
        let bridge = Bridge::new().map_err(|error| StateError::Settings {
            message: format!("could not start the state's runtime: {error}"),
        })?;
        let state_blob = format!("{}/{}", config.container, config.key);
        let url = client.url(&state_blob);
        let names = Names {
            state: format!("blob {url}"),
            journal: format!("blob {url}.journal"),
            backup: format!("{url}.backup"),
            restore: format!(
                "az storage blob copy start --account-name {} --destination-container {} --destination-blob '{}' \
                 --source-container {} --source-blob '{}.backup'",
                config.account, config.container, config.key, config.container, config.key
            ),
        };
        Ok(AzurermBackend {
            bridge: Arc::new(bridge),
            client: Arc::new(client),
            container: config.container.clone(),
            state_blob,
            names,
            state_etag: None,
            current: None,
            journal: None,
            journal_read: None,
            lease: None,
        })
    }

    fn blob(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.state_blob)
    }

    /// Sends one request; `action` and the blob name the failure.
    fn send(&self, action: &str, request: Request) -> Result<Response, StateError> {
        let target = self.client.url(&request.resource);
        let client = self.client.clone();
        self.bridge
            .run(async move { client.send(request).await })
            .map_err(|unreachable| backend_error(action, target, unreachable.0, true))
    }

    fn refused(&self, action: &str, resource: &str, response: &Response) -> StateError {
        backend_error(action, self.client.url(resource), response.describe(), false)
    }

    fn lease_target(&self) -> (String, Arc<LeaseHealth>) {
        (self.blob(".lock"), Arc::new(LeaseHealth::default()))
    }

    /// Refuses to write once the lease this process held is lost.
    fn check_lease(&self) -> Result<(), StateError> {
        match self.lease.as_ref().and_then(|health| health.lost()) {
            Some(reason) => Err(StateError::LockLost { state: self.names.state.clone(), reason }),
            None => Ok(()),
        }
    }

    /// GETs a blob: `None` when it (or its container) does not exist.
    fn get(&self, action: &str, resource: &str) -> Result<Option<(Vec<u8>, String)>, StateError> {
        let response = self.send(action, Request::new(Method::GET, resource))?;
        match response.status {
            404 => Ok(None),
            200 => {
                let etag = response.header("etag").unwrap_or_default().to_string();
                Ok(Some((response.body, etag)))
            }
            _ => Err(self.refused(action, resource, &response)),
        }
    }

    /// PUTs a block blob under `condition` (a header and its value), creating the container
    /// when it is missing; returns the answer (the caller judges a refused condition).
    fn put_block_blob(
        &self,
        action: &str,
        resource: &str,
        bytes: &[u8],
        condition: Option<(&'static str, String)>,
    ) -> Result<Response, StateError> {
        let request = || {
            let mut request = Request::new(Method::PUT, resource)
                .header("x-ms-blob-type", "BlockBlob")
                .header("content-type", "application/json")
                .body(bytes.to_vec());
            if let Some((name, value)) = &condition {
                request = request.header(name, value.clone());
            }
            request
        };
        let response = self.send(action, request())?;
        if response.status == 404 && response.code() == "ContainerNotFound" {
            lease::ensure_container(&self.bridge, &self.client, &self.container)?;
            return self.send(action, request());
        }
        Ok(response)
    }

    /// The lineage and serial the state blob holds now, for a conflict's message.
    fn found_version(&self) -> Option<(uuid::Uuid, u64)> {
        #[derive(serde::Deserialize)]
        struct Version {
            lineage: uuid::Uuid,
            serial: u64,
        }
        let (bytes, _) = self.get("read the state blob", &self.state_blob).ok()??;
        let version: Version = serde_json::from_slice(&bytes).ok()?;
        Some((version.lineage, version.serial))
    }

    /// Creates the append blob `KEY.journal` holding `bytes`, replacing the journal this process
    /// last saw (or none), and returns where it stands.
    fn new_journal(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let resource = self.blob(".journal");
        let condition = match &self.journal {
            Some(seen) => ("if-match", seen.etag.clone()),
            None => ("if-none-match", "*".to_string()),
        };
        let request = || {
            Request::new(Method::PUT, resource.as_str())
                .header("x-ms-blob-type", "AppendBlob")
                .header(condition.0, condition.1.clone())
        };
        let mut response = self.send("create the journal", request())?;
        if response.status == 404 && response.code() == "ContainerNotFound" {
            lease::ensure_container(&self.bridge, &self.client, &self.container)?;
            response = self.send("create the journal", request())?;
        }
        match response.status {
            200..=299 => {}
            409 | 412 => return Err(StateError::JournalConflict { journal: self.names.journal.clone() }),
            _ => return Err(self.refused("create the journal", &resource, &response)),
        }
        let etag = response.header("etag").unwrap_or_default().to_string();
        self.journal = Some(JournalBlob { etag, len: 0 });
        self.append_journal(bytes)
    }
}

impl Backend for AzurermBackend {
    fn names(&self) -> &Names {
        &self.names
    }

    fn lock(&mut self, command: &str, wait: LockWait<'_>) -> Result<Acquired, StateError> {
        let (blob, health) = self.lease_target();
        let target = LeaseTarget {
            bridge: &self.bridge,
            client: &self.client,
            container: &self.container,
            blob: &blob,
        };
        let polling = Polling {
            first: Duration::from_millis(100),
            max: Duration::from_secs(1),
            expiry: Some("within 15 s, when its lease expires"),
        };
        let (lock, previous) =
            acquire_with(&self.names.state, wait, polling, || target.attempt(command, &health))?;
        self.lease = Some(health);
        Ok(Acquired { guard: Box::new(lock), previous })
    }

    fn lock_status(&mut self) -> Result<LockStatus, StateError> {
        let blob = self.blob(".lock");
        LeaseTarget { bridge: &self.bridge, client: &self.client, container: &self.container, blob: &blob }
            .status()
    }

    fn force_unlock(&mut self) -> Result<Option<LockHolder>, StateError> {
        let blob = self.blob(".lock");
        LeaseTarget { bridge: &self.bridge, client: &self.client, container: &self.container, blob: &blob }
            .force_unlock()
    }

    fn read(&mut self) -> Result<Stored, StateError> {
        let state = self.get("read the state blob", &self.state_blob)?;
        let journal = self.get("read the journal blob", &self.blob(".journal"))?;
        let backup_exists = match &state {
            Some(_) => false,
            None => {
                let backup = self.blob(".backup");
                let response =
                    self.send("read the backup blob", Request::new(Method::HEAD, backup.as_str()))?;
                match response.status {
                    200 => true,
                    404 => false,
                    _ => return Err(self.refused("read the backup blob", &backup, &response)),
                }
            }
        };
        self.state_etag = state.as_ref().map(|(_, etag)| etag.clone());
        self.current = state.as_ref().map(|(bytes, _)| bytes.clone());
        self.journal =
            journal.as_ref().map(|(bytes, etag)| JournalBlob { etag: etag.clone(), len: bytes.len() as u64 });
        self.journal_read = journal.as_ref().map(|(bytes, _)| bytes.clone());
        Ok(Stored {
            state: state.map(|(bytes, _)| bytes),
            journal: journal.map(|(bytes, _)| bytes),
            backup_exists,
        })
    }

    fn write_state(&mut self, bytes: &[u8], expected: Option<JournalBase>) -> Result<(), StateError> {
        self.check_lease()?;
        let conflict = |backend: &AzurermBackend| StateError::Conflict {
            state: backend.names.state.clone(),
            expected: expected.map(|base| (base.lineage, base.serial)),
            found: backend.found_version(),
        };
        let condition = match (&expected, &self.state_etag) {
            (None, _) => ("if-none-match", "*".to_string()),
            (Some(_), Some(etag)) => ("if-match", etag.clone()),
            (Some(_), None) => return Err(conflict(self)),
        };
        if let Some(current) = &self.current {
            let backup = self.blob(".backup");
            let response = self.put_block_blob("keep the backup", &backup, current, None)?;
            if !response.is_success() {
                return Err(self.refused("keep the backup", &backup, &response));
            }
        }
        let response =
            self.put_block_blob("write the state blob", &self.state_blob, bytes, Some(condition))?;
        match response.status {
            200..=299 => {
                self.state_etag = response.header("etag").map(str::to_string);
                self.current = Some(bytes.to_vec());
                Ok(())
            }
            409 | 412 => Err(conflict(self)),
            _ => Err(self.refused("write the state blob", &self.state_blob, &response)),
        }
    }

    fn create_journal(&mut self, header: &[u8]) -> Result<(), StateError> {
        self.check_lease()?;
        self.new_journal(header)
    }

    fn resume_journal(&mut self, valid_len: u64) -> Result<(), StateError> {
        self.check_lease()?;
        let seen = self.journal.as_ref().map_or(0, |journal| journal.len);
        if seen == valid_len {
            return Ok(());
        }
        // Append blocks are whole, so this is a journal written otherwise: rewrite its valid part.
        let valid = self.journal_read.as_deref().unwrap_or_default();
        let valid = valid.get(..valid_len as usize).unwrap_or(valid).to_vec();
        self.new_journal(&valid)
    }

    fn append_journal(&mut self, lines: &[u8]) -> Result<(), StateError> {
        self.check_lease()?;
        let resource = self.blob(".journal");
        for chunk in chunks(lines, MAX_APPEND_BLOCK) {
            let seen = self.journal.clone().expect("the store opens the journal before appending");
            let request = Request::new(Method::PUT, resource.as_str())
                .query("comp", "appendblock")
                .header("x-ms-blob-condition-appendpos", seen.len.to_string())
                .header("if-match", seen.etag.clone())
                .body(chunk.to_vec());
            let response = self.send("append to the journal", request)?;
            match response.status {
                200..=299 => {
                    let etag = response.header("etag").unwrap_or_default().to_string();
                    self.journal = Some(JournalBlob { etag, len: seen.len + chunk.len() as u64 });
                }
                404 | 409 | 412 => {
                    return Err(StateError::JournalConflict { journal: self.names.journal.clone() });
                }
                _ => return Err(self.refused("append to the journal", &resource, &response)),
            }
        }
        Ok(())
    }

    fn journal_len(&self) -> u64 {
        self.journal.as_ref().map_or(0, |journal| journal.len)
    }

    fn remove_journal(&mut self) -> Result<(), StateError> {
        self.check_lease()?;
        let Some(seen) = self.journal.take() else { return Ok(()) };
        let resource = self.blob(".journal");
        let request = Request::new(Method::DELETE, resource.as_str()).header("if-match", seen.etag);
        let response = self.send("remove the journal", request)?;
        match response.status {
            200..=299 | 404 => Ok(()),
            412 => Err(StateError::JournalConflict { journal: self.names.journal.clone() }),
            _ => Err(self.refused("remove the journal", &resource, &response)),
        }
    }
}

/// `lines` cut into pieces of at most `max` bytes, each ending at a line's end (a line longer
/// than `max` is a piece of its own).
fn chunks(lines: &[u8], max: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let mut end = (start + max).min(lines.len());
        if end < lines.len() {
            end = match lines[start..end].iter().rposition(|&byte| byte == b'\n') {
                Some(at) => start + at + 1,
                None => {
                    lines[end..].iter().position(|&byte| byte == b'\n').map_or(lines.len(), |at| end + at + 1)
                }
            };
        }
        pieces.push(&lines[start..end]);
        start = end;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn appends_are_cut_at_line_ends() {
        assert_eq!(chunks(b"ab\ncd\nef\n", 7), [&b"ab\ncd\n"[..], b"ef\n"]);
        assert_eq!(chunks(b"abcdefgh\nij\n", 4), [&b"abcdefgh\n"[..], b"ij\n"]);
        assert!(chunks(b"", 4).is_empty());
    }
}
