//! Data migration between two servers, provider-agnostic: it needs two endpoints and the admin
//! credentials (`providers::Connection`). Freeze writes on the source, dump every database
//! (custom format) and the roles, restore into the target, verify table by table, and — in
//! [`run_migration`] — cut over through the provider and retire the source.
//!
//! Owns: the migration's steps, their order, and what a re-run after a crash finds on disk
//! (a freeze record and a journal in the work directory). Must not: know how a provider
//! creates or replaces servers, or put a password anywhere but a child process's environment.
//!
//! Guarantees: any failure before cutover unfreezes the source and leaves it as it was; the
//! dump files are kept until the migration is complete.

mod copy;
mod freeze;
mod run;
mod sql;
mod tls;
mod verify;

pub use crate::model::staging_name;
pub use copy::{CopyOptions, copy_and_verify};
pub use freeze::{freeze, unfreeze};
pub use run::{MigrationRequest, run_migration};
pub use sql::{connect, connect_with};
pub use tls::SessionTls;
pub use verify::{DatabaseCheck, TableCheck, verify};

use crate::providers::ProviderError;
use std::path::PathBuf;
use std::time::Duration;

/// What a migration reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationEvent {
    /// A step of [`run_migration`] starts.
    Step(MigrationStep),
    /// One database's dump is written.
    Dumped { database: String, bytes: u64 },
    /// One database's dump is restored into the target.
    Restored { database: String, bytes: u64 },
    /// One table matches on both sides.
    TableVerified { database: String, table: String, rows: i64 },
}

/// The steps of a migration, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationStep {
    CreateTarget,
    FreezeWrites,
    Dump,
    Restore,
    Verify,
    Cutover,
    Retire,
}

/// Receives migration events; called from the migration's task.
pub(crate) type Progress<'a> = &'a (dyn Fn(MigrationEvent) + Send + Sync);

/// What a verified copy found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Each database copied, with its dump and its verified tables.
    pub databases: Vec<DatabaseCheck>,
    /// The roles found on both sides.
    pub roles: Vec<String>,
    /// The globals dump (roles), with its sha256.
    pub globals: DumpFile,
    /// From freezing writes to the end of verification.
    pub elapsed: Duration,
}

/// One dump file kept in the work directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpFile {
    pub path: PathBuf,
    pub bytes: u64,
    /// Hex sha256 of the file, recorded when it is written and checked before it is restored.
    pub sha256: String,
}

/// What went wrong in a migration.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{context}: {}", describe(source))]
    Sql {
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("{tool} failed: {message}")]
    Tool { tool: String, message: String },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("verification failed: {0}")]
    Mismatch(String),
    #[error("the dump {} changed after it was written (sha256 {expected}, now {actual})", path.display())]
    CorruptDump { path: PathBuf, expected: String, actual: String },
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    #[error("PostgreSQL client tools not found: {0}")]
    ToolsNotFound(String),
    #[error("{0}")]
    Invalid(String),
}

/// A driver error with the server's message, which the driver's own Display leaves out.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => crate::providers::with_causes(error),
    }
}
