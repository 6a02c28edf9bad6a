//! The executor's view of a migration: [`PhasedMigrator`] runs
//! [`crate::migrate::run_migration`] for a plan's `migrate` change with a [`Copier`]
//! (pg_dump / pg_restore for real servers, in memory for the engine's tests), journaling each
//! phase in the state's fsynced journal and turning migration events into step progress. It
//! holds the admin passwords the new servers get; it never records them. It lives with the
//! executor (the [`Migrator`] trait's home) so that `migrate` knows nothing of plans or steps.

use super::{EventKind, Migrator, StepContext};
use crate::migrate::{
    Copier, MigrateError, MigrationEvent, MigrationJournal, MigrationRecord, MigrationRequest, PgCopier,
    Phase, run_migration,
};
use crate::model::{ObservedServer, ServerName};
use crate::plan::{Change, Operation};
use crate::providers::{Provider, ProviderError, ProviderErrorKind};
use crate::secret::Redacted;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Migrates through the one migration protocol, with any copier, through any provider.
pub struct PhasedMigrator {
    /// Does the data phases (freeze, dump, restore, verify).
    pub copier: Arc<dyn Copier>,
    /// The state directory: work files live under `migrations/<server>/` while a migration runs.
    pub work_dir: PathBuf,
    /// Admin passwords by server: the source's, which the new server gets too.
    pub passwords: BTreeMap<ServerName, Redacted<String>>,
    /// The unfinished migrations the state recorded when the apply began (where to resume).
    pub unfinished: BTreeMap<ServerName, MigrationRecord>,
}

impl PhasedMigrator {
    /// The real migrator: pg_dump / pg_restore from `client_bindir` (searched when `None`).
    pub fn dump_restore(
        work_dir: PathBuf,
        passwords: BTreeMap<ServerName, Redacted<String>>,
        client_bindir: Option<PathBuf>,
    ) -> PhasedMigrator {
        PhasedMigrator {
            copier: Arc::new(PgCopier { client_bindir }),
            work_dir,
            passwords,
            unfinished: BTreeMap::new(),
        }
    }

    /// The engine tests' migrator: the real protocol with `copier` in memory, working under
    /// `work_dir`, each migrated server of `plan` given a test password.
    #[cfg(any(test, feature = "test-support"))]
    pub fn in_memory(
        plan: &crate::plan::Plan,
        work_dir: &std::path::Path,
        copier: crate::migrate::MemoryCopier,
    ) -> PhasedMigrator {
        let passwords = plan
            .changes
            .iter()
            .filter(|change| matches!(change.operation, Operation::Migrate { .. }))
            .map(|change| (change.server.clone(), Redacted::new("test-password".to_string())))
            .collect();
        PhasedMigrator {
            copier: Arc::new(copier),
            work_dir: work_dir.to_path_buf(),
            passwords,
            unfinished: BTreeMap::new(),
        }
    }
}

/// The state's journal as a migration writes to it: through the step's context.
struct StepJournal<'a> {
    context: &'a StepContext,
    unfinished: Option<MigrationRecord>,
}

#[async_trait]
impl MigrationJournal for StepJournal<'_> {
    fn unfinished(&self, _server: &ServerName) -> Option<MigrationRecord> {
        self.unfinished.clone()
    }

    async fn record(
        &self,
        _server: &ServerName,
        record: Option<&MigrationRecord>,
    ) -> Result<(), MigrateError> {
        self.context
            .record_migration(record)
            .await
            .map_err(|error| MigrateError::Invalid(format!("the state could not be saved: {error}")))
    }
}

#[async_trait]
impl Migrator for PhasedMigrator {
    async fn migrate(
        &self,
        provider: &dyn Provider,
        change: &Change,
        context: &StepContext,
    ) -> Result<ObservedServer, ProviderError> {
        let Operation::Migrate { to, staging, .. } = &change.operation else {
            return Err(ProviderError::new(
                ProviderErrorKind::Other,
                format!("{} is not a migration", change.id),
            ));
        };
        let Some(password) = self.passwords.get(&change.server) else {
            return Err(ProviderError::new(
                ProviderErrorKind::Other,
                format!("no admin password for {}: the migration needs it to connect", change.server),
            ));
        };
        let request = MigrationRequest {
            name: change.server.clone(),
            target: (**to).clone(),
            staging: staging.clone(),
            admin_password: password.clone(),
            work_dir: self.work_dir.clone(),
        };
        let events = context.events().clone();
        let (change_id, address) = (change.id.clone(), change.address.clone());
        let progress = move |event: MigrationEvent| {
            events.emit(EventKind::StepProgress {
                change_id: change_id.clone(),
                address: address.clone(),
                message: describe(&event),
            });
        };
        let journal = StepJournal { context, unfinished: self.unfinished.get(&change.server).cloned() };
        // `provider` is the command's retrying provider: a re-run after a crash that meets the
        // staging server mid-operation (409) waits and tries again like every other call.
        run_migration(provider, &request, self.copier.as_ref(), &journal, &progress)
            .await
            .map_err(into_provider_error)
    }
}

/// One line for people: "dumped payments (1.2 MB)", "verified payments.public.orders (100000 rows)".
fn describe(event: &MigrationEvent) -> String {
    match event {
        MigrationEvent::Step(phase) => match phase {
            Phase::CreateTarget => "creating the target server".into(),
            Phase::FreezeWrites => "freezing writes on the source".into(),
            Phase::Dump => "dumping".into(),
            Phase::Restore => "restoring into the target".into(),
            Phase::Verify => "verifying every table".into(),
            Phase::Cutover => "cutting over".into(),
            Phase::Retire => "retiring the source".into(),
        },
        MigrationEvent::Dumped { database, bytes } => format!("dumped {database} ({})", human_bytes(*bytes)),
        MigrationEvent::Restored { database, bytes } => {
            format!("restored {database} ({})", human_bytes(*bytes))
        }
        MigrationEvent::TableVerified { database, table, rows } => {
            format!("verified {database}.{table} ({rows} rows)")
        }
        MigrationEvent::SourceChecksummed { database, tables } => {
            format!("checksummed the source's {database} ({tables} tables)")
        }
        MigrationEvent::SourceChanged { database } => {
            format!("the source's {database} changed since it was checksummed: checksumming it again")
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Provider failures keep their class (and so whether the executor retries); a failed copy or
/// verification is not retried blindly: re-running the apply resumes it.
fn into_provider_error(error: MigrateError) -> ProviderError {
    match error {
        MigrateError::Provider(error) => error,
        other => ProviderError::new(ProviderErrorKind::Other, format!("migration failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_progress_lines() {
        assert_eq!(
            describe(&MigrationEvent::Dumped { database: "pay".into(), bytes: 1_234_567 }),
            "dumped pay (1.2 MB)"
        );
        assert_eq!(
            describe(&MigrationEvent::Restored { database: "pay".into(), bytes: 999 }),
            "restored pay (999 B)"
        );
        assert_eq!(
            describe(&MigrationEvent::TableVerified {
                database: "pay".into(),
                table: "public.orders".into(),
                rows: 5
            }),
            "verified pay.public.orders (5 rows)"
        );
    }

    #[test]
    fn provider_failures_keep_their_class() {
        let throttled = ProviderError::new(ProviderErrorKind::Throttled, "slow down");
        assert!(into_provider_error(MigrateError::Provider(throttled)).is_retryable());
        assert!(!into_provider_error(MigrateError::Mismatch("orders differ".into())).is_retryable());
    }
}
