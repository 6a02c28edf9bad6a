//! The executor's view of a migration: `DumpRestoreMigrator` runs
//! [`crate::migrate::run_migration`] for a plan's `migrate` change, turning migration events into
//! step progress. It holds the admin passwords the new servers get; it never records them. It
//! lives with the executor (the [`Migrator`] trait's home) so that `migrate` knows nothing of
//! plans or steps.

use super::{EventKind, Migrator, StepContext};
use crate::migrate::{MigrateError, MigrationEvent, MigrationRequest, MigrationStep, run_migration};
use crate::model::{ObservedServer, ServerName};
use crate::plan::{Change, Operation};
use crate::providers::{Provider, ProviderError, ProviderErrorKind};
use crate::secret::Redacted;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Migrates with pg_dump / pg_restore and verification, through any provider.
pub struct DumpRestoreMigrator {
    /// The state directory: dumps live under `migrations/<server>/` until a migration completes.
    pub work_dir: PathBuf,
    /// Admin passwords by server: the source's, which the new server gets too.
    pub passwords: BTreeMap<ServerName, Redacted<String>>,
    /// Where pg_dump and pg_restore are; searched when `None`.
    pub client_bindir: Option<PathBuf>,
}

#[async_trait]
impl Migrator for DumpRestoreMigrator {
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
            target: to.clone(),
            staging: staging.clone(),
            admin_password: password.clone(),
            work_dir: self.work_dir.clone(),
            client_bindir: self.client_bindir.clone(),
        };
        // The migration keeps its own resumable phase on disk; the journal says one is running.
        context.stage("dump_restore").await?;
        let events = context.events().clone();
        let (change_id, address) = (change.id.clone(), change.address.clone());
        let progress = move |event: MigrationEvent| {
            events.emit(EventKind::StepProgress {
                change_id: change_id.clone(),
                address: address.clone(),
                message: describe(&event),
            });
        };
        // `provider` is the command's retrying provider: a re-run after a crash that meets the
        // staging server mid-operation (409) waits and tries again like every other call.
        run_migration(provider, &request, &progress).await.map_err(into_provider_error)
    }
}

/// One line for people: "dumped payments (1.2 MB)", "verified payments.public.orders (100000 rows)".
fn describe(event: &MigrationEvent) -> String {
    match event {
        MigrationEvent::Step(step) => match step {
            MigrationStep::CreateTarget => "creating the target server".into(),
            MigrationStep::FreezeWrites => "freezing writes on the source".into(),
            MigrationStep::Dump => "dumping".into(),
            MigrationStep::Restore => "restoring into the target".into(),
            MigrationStep::Verify => "verifying every table".into(),
            MigrationStep::Cutover => "cutting over".into(),
            MigrationStep::Retire => "retiring the source".into(),
        },
        MigrationEvent::Dumped { database, bytes } => format!("dumped {database} ({})", human_bytes(*bytes)),
        MigrationEvent::Restored { database, bytes } => {
            format!("restored {database} ({})", human_bytes(*bytes))
        }
        MigrationEvent::TableVerified { database, table, rows } => {
            format!("verified {database}.{table} ({rows} rows)")
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
