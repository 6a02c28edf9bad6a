//! The state file: what pgfleet last recorded of each server. JSON, sorted, never holding a
//! secret; written atomically under an exclusive lock, with the previous version kept as
//! `.backup`, and an append-only journal beside it during an apply.
//!
//! Files of a state at `state/payments.state.json`:
//! - `payments.state.json`: the state ([`State`]), replaced atomically (`atomic`);
//! - `payments.state.json.backup`: the previous state file;
//! - `payments.state.json.journal`: records appended since the state file was written
//!   ([`journal`]), replayed when reading;
//! - `payments.state.json.lock`: present while a command holds the lock ([`lock`]).
//!
//! This module stores states; it does not decide what goes into them (the executor does).

mod atomic;
mod error;
pub(crate) mod journal;
pub(crate) mod lock;
mod model;
mod schema;
mod store;

pub use error::StateError;
pub use lock::{
    LockHolder, LockStatus, LockWait, StateLock, abandoned_lock_note, force_unlock, lock_path, lock_status,
};
pub use model::{
    InFlightStep, JournalRecord, RecordOutcome, STATE_FORMAT_VERSION, ServerRecord, Stage, State,
};
#[cfg(test)]
pub(crate) use schema::state_schema;
pub use store::{
    COMPACT_AFTER_RECORDS, LockedState, ReadState, StateStore, backup_path, default_state_path, read_state,
    read_state_with_notes,
};

#[cfg(test)]
mod journal_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_support;
