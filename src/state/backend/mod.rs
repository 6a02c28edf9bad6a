//! Where a state is kept. Every backend speaks one small, blocking [`Backend`] trait — lock,
//! read, conditional write, journal — so that the store gives the same guarantees whatever the
//! backend: a lock that names its holder and frees itself when its holder dies, writes refused
//! when the state moved since it was read (lineage and serial), a durable journal of the steps in
//! flight, a backup of the previous state.
//!
//! - `file`: the local file (`state/<fleet>.state.json`), its `.journal`, `.backup` and `.lock`;
//! - `azurerm`: blobs in Azure Blob Storage, the lock a 15 s lease renewed in the background;
//! - `pg`: rows in a schema of a PostgreSQL database, the lock a session-level advisory lock.
//!
//! This module chooses and describes backends; it does not decide what goes into a state.

pub(crate) mod azurerm;
mod bridge;
pub(crate) mod file;
pub(crate) mod pg;

use super::StateError;
use super::journal::JournalBase;
use super::lock::{LockHolder, LockStatus, LockWait};
use crate::secret::Redacted;
use std::path::PathBuf;

/// Where a fleet's state is kept, with its secrets read (the fleet file holds references).
#[derive(Debug, Clone)]
pub enum BackendConfig {
    /// A file on this machine.
    Local { path: PathBuf },
    /// A blob in Azure Blob Storage.
    Azurerm(AzurermConfig),
    /// Rows in a PostgreSQL database.
    Pg(PgConfig),
}

/// The azurerm backend: the state is the blob `key` of `container`; its journal, backup and
/// lock are the blobs `key.journal`, `key.backup` and `key.lock` beside it.
#[derive(Debug, Clone)]
pub struct AzurermConfig {
    pub account: String,
    pub container: String,
    pub key: String,
    /// The Blob service's URL (`https://ACCOUNT.blob.core.windows.net`, or Azurite's
    /// `http://127.0.0.1:10000/devstoreaccount1`), without a trailing slash.
    pub endpoint: String,
    pub auth: BlobAuth,
}

/// How requests to Blob Storage are authorized.
#[derive(Debug, Clone)]
pub enum BlobAuth {
    /// Shared Key: each request signed with the account's access key (base64).
    SharedKey(Redacted<String>),
    /// A bearer token for `https://storage.azure.com` from the Azure credential chain.
    CredentialChain,
}

/// The pg backend: the state of fleet `name` is a row of `schema.states`.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// A libpq connection string or URI (it may hold a password).
    pub conn_str: Redacted<String>,
    pub schema: String,
    /// The fleet: the row's key.
    pub name: String,
}

/// What a backend holds of one state, as bytes.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    /// The state document; `None` when there is none.
    pub state: Option<Vec<u8>>,
    /// The journal continuing it; `None` when there is none.
    pub journal: Option<Vec<u8>>,
    /// Whether a backup exists (asked only when there is no state).
    pub backup_exists: bool,
}

/// How a backend names its parts in messages.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// The state, with its kind (`file state/payments.state.json`, `blob https://…`).
    pub state: String,
    /// The journal, likewise.
    pub journal: String,
    /// The backup, as a location (a path, a URL, a column).
    pub backup: String,
    /// The command that makes the backup the state again.
    pub restore: String,
}

/// A held lock, released when dropped.
pub(crate) trait LockGuard: Send + std::fmt::Debug {}

/// A lock just taken, and the holder that had it before and ended without releasing it.
pub(crate) struct Acquired {
    pub guard: Box<dyn LockGuard>,
    pub previous: Option<LockHolder>,
}

/// One backend of one state. Calls block the calling thread; remote backends run their I/O on a
/// runtime of their own, so they may be called from inside an async task.
pub(crate) trait Backend: Send + std::fmt::Debug {
    /// How messages name the state, its journal and its backup.
    fn names(&self) -> &Names;

    /// Takes the state's exclusive lock for `command`, waiting as `wait` says.
    ///
    /// # Errors
    /// [`StateError::Locked`] naming the holder once the wait is over; the backend's errors.
    fn lock(&mut self, command: &str, wait: LockWait<'_>) -> Result<Acquired, StateError>;

    /// Whether the lock is free, held, or left by a holder that ended without releasing it.
    fn lock_status(&mut self) -> Result<LockStatus, StateError>;

    /// Breaks the lock whoever holds it (a holder that still runs loses it) and returns the
    /// holder it named.
    fn force_unlock(&mut self) -> Result<Option<LockHolder>, StateError>;

    /// Reads the state and its journal as they are now.
    fn read(&mut self) -> Result<Stored, StateError>;

    /// Replaces the state with `bytes`, first keeping the current one as the backup. Refused
    /// with [`StateError::Conflict`] unless the stored state is still `expected` (`None`: no
    /// state), so two writers never interleave.
    fn write_state(&mut self, bytes: &[u8], expected: Option<JournalBase>) -> Result<(), StateError>;

    /// Starts a new journal holding `header`, replacing any journal.
    fn create_journal(&mut self, header: &[u8]) -> Result<(), StateError>;

    /// Continues the journal read last, whose first `valid_len` bytes are whole lines (anything
    /// after them is cut off).
    fn resume_journal(&mut self, valid_len: u64) -> Result<(), StateError>;

    /// Appends `lines` to the open journal, durably. Refused with
    /// [`StateError::JournalConflict`] when another writer changed the journal meanwhile.
    fn append_journal(&mut self, lines: &[u8]) -> Result<(), StateError>;

    /// The length of the open journal up to its last durable append.
    fn journal_len(&self) -> u64;

    /// Removes the journal, if any.
    fn remove_journal(&mut self) -> Result<(), StateError>;
}

/// Opens the backend `config` describes; remote backends check their settings here and
/// connect at their first call (pg connects here).
///
/// # Errors
/// [`StateError::Settings`] for unusable settings; [`StateError::Backend`] when the pg server
/// cannot be reached.
pub(crate) fn open(config: &BackendConfig) -> Result<Box<dyn Backend>, StateError> {
    Ok(match config {
        BackendConfig::Local { path } => Box::new(file::FileBackend::new(path)),
        BackendConfig::Azurerm(config) => Box::new(azurerm::AzurermBackend::new(config)?),
        BackendConfig::Pg(config) => Box::new(pg::PgBackend::connect(config)?),
    })
}

/// Where a remote backend's I/O happens, for [`StateError::Backend`].
pub(crate) fn backend_error(
    action: impl Into<String>,
    target: impl Into<String>,
    message: impl Into<String>,
    unreachable: bool,
) -> StateError {
    StateError::Backend { action: action.into(), target: target.into(), message: message.into(), unreachable }
}
