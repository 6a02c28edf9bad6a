//! Data migration between two servers, provider-agnostic: it needs two endpoints and the admin
//! credentials (`providers::Connection`). The phases ([`Phase`], one list the planner renders
//! and the executor runs): create the staging server, freeze writes on the source, dump every
//! database (custom format) and the roles, restore into the target, verify table by table, cut
//! over through the provider and retire the source.
//!
//! Owns: the phases, their order, and what a re-run after a crash does at each (from the
//! [`MigrationRecord`] the state journals, and the freeze record in the work directory). Must
//! not: know how a provider creates or replaces servers, or put a password anywhere but a child
//! process's environment.
//!
//! Guarantees: any failure before cutover unfreezes the source and leaves it as it was; work
//! files are private (0600 in a 0700 directory) and removed when the migration ends, fails,
//! is aborted or is resumed.

mod checksum;
mod copy;
mod freeze;
#[cfg(any(test, feature = "test-support"))]
mod memory;
mod protocol;
mod run;
mod sql;
mod tls;
mod verify;
mod work;

pub use crate::model::staging_name;
pub use checksum::TableCheck;
pub use copy::{Copier, CopyOptions, Dumps, PgCopier, copy_and_verify};
pub use freeze::{freeze, unfreeze};
#[cfg(any(test, feature = "test-support"))]
pub use memory::{MemoryCopier, MemoryJournal};
pub use protocol::{FINISH_COMMAND, MigrationRecord, Phase, abort_command, plan_steps};
pub use run::{MigrationJournal, MigrationRequest, abort_migration, run_migration, work_dir_of};
pub use sql::{connect, connect_with};
pub use tls::SessionTls;
pub use verify::{DatabaseCheck, SourceChecksums, checksum_source, verify, verify_against};

use crate::providers::ProviderError;
use std::path::PathBuf;
use std::time::Duration;

/// What a migration reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationEvent {
    /// A phase of [`run_migration`] starts.
    Step(Phase),
    /// One database's dump is written.
    Dumped { database: String, bytes: u64 },
    /// One database's dump is restored into the target.
    Restored { database: String, bytes: u64 },
    /// One table matches on both sides.
    TableVerified { database: String, table: String, rows: i64 },
    /// The source's tables of one database are checksummed (while the copy runs).
    SourceChecksummed { database: String, tables: usize },
    /// The source changed after its checksums were read: they are read again.
    SourceChanged { database: String },
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
