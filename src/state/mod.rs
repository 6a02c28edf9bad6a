//! The state file: what pgfleet last recorded of each server. JSON, sorted, never holding a
//! secret; written atomically under an exclusive lock, with the previous version kept as
//! `.backup`.

mod model;

pub use model::{InFlightStep, JournalRecord, RecordOutcome, STATE_FORMAT_VERSION, ServerRecord, State};
