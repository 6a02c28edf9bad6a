//! The state: what pgfleet last recorded of each server. JSON, sorted, never holding a
//! secret; written under an exclusive lock, only over the version that was read, with the
//! previous version kept as a backup, and an append-only journal beside it during an apply. A
//! backend keeps it (`backend`): a local file (the default), Azure Blob Storage or PostgreSQL,
//! each with the same guarantees.
//!
//! Files of a local state at `state/payments.state.json`:
//! - `payments.state.json`: the state ([`State`]), replaced atomically (`atomic`);
//! - `payments.state.json.backup`: the previous state file;
//! - `payments.state.json.journal`: records appended since the state file was written
//!   ([`journal`]), replayed when reading;
//! - `payments.state.json.lock`: present while a command holds the lock ([`lock`]).
//!
//! When a backend cannot be written at the end of an apply, the state goes to a local
//! `errored.state.json` (`errored`), which `pgfleet state push` uploads.
//!
//! This module stores states; it does not decide what goes into them (the executor does).

mod atomic;
mod backend;
mod error;
mod errored;
pub(crate) mod journal;
pub(crate) mod lock;
mod model;
mod schema;
mod store;

pub use backend::{AzurermConfig, BackendConfig, BlobAuth, PgConfig};
pub use error::StateError;
pub use errored::{ERRORED_STATE_FILE, read_state_file, save_errored};
pub use lock::{
    LockHolder, LockStatus, LockWait, StateLock, abandoned_lock_note, force_unlock, lock_path, lock_status,
};
pub use model::{
    InFlightStep, JournalRecord, RecordOutcome, STATE_FORMAT_VERSION, ServerRecord, Stage, State,
};
#[cfg(test)]
pub(crate) use schema::state_schema;
pub use store::{
    COMPACT_AFTER_RECORDS, HeldLock, LockedState, ReadState, StateBackend, StateStore, StoredParts,
    backup_path, default_state_path, read_state, read_state_with_notes,
};

#[cfg(test)]
mod journal_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_support;
