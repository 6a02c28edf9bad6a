//! The whole migration of one server through a provider, phase by phase as `protocol` orders
//! them: create the staging server, freeze writes, dump, restore, verify, cut over, retire.
//! Each phase is journaled (a [`MigrationRecord`] through [`MigrationJournal`]) before its work
//! starts, so a re-run after a crash at any point finishes the job without losing data, and
//! every command can say where an interrupted migration stopped.
//!
//! Owns: what a re-run does at each point, and the failure rule (before cutover, a failure
//! unfreezes the source). Must not: know how the provider creates servers or cuts over, or how
//! the data is copied (the [`Copier`]).

use super::copy::{Copier, copy_checksummed, unfreeze_after, verify_analyzing};
use super::protocol::{MigrationRecord, Phase};
use super::{MigrateError, MigrationEvent, Progress, work};
use crate::model::{LiveFleet, ObservedServer, ServerName, ServerSpec, ServerStatus};
use crate::providers::{Connection, CreateRequest, Provider};
use crate::secret::Redacted;
use async_trait::async_trait;
use chrono::Utc;
use std::path::{Path, PathBuf};

/// What to migrate, and where its work files go.
#[derive(Debug, Clone)]
pub struct MigrationRequest {
    /// The server whose data moves; it keeps its name (and, where the backend allows, its
    /// endpoint).
    pub name: ServerName,
    /// The server it becomes.
    pub target: ServerSpec,
    /// The staging server the copy is built on (`crate::model::staging_name`, recorded in the
    /// plan's migrate operation).
    pub staging: ServerName,
    /// The admin password of the server, which the new server gets too.
    pub admin_password: Redacted<String>,
    /// The state directory; the migration works in `migrations/<name>/` under it.
    pub work_dir: PathBuf,
}

impl MigrationRequest {
    /// The migration's work directory (its freeze record and dumps).
    pub fn dir(&self) -> PathBuf {
        work_dir_of(&self.work_dir, &self.name)
    }
}

/// `migrations/<server>/` under the state directory.
pub fn work_dir_of(state_dir: &Path, server: &ServerName) -> PathBuf {
    state_dir.join("migrations").join(server.as_str())
}

/// Where a migration's progress is kept: the state's fsynced journal in an apply.
#[async_trait]
pub trait MigrationJournal: Send + Sync {
    /// The unfinished migration of `server` that an earlier run recorded, if any.
    fn unfinished(&self, server: &ServerName) -> Option<MigrationRecord>;

    /// Records durably that the migration of `server` reached `record.phase` (before the
    /// phase's work starts), or, with `None`, that it is over.
    ///
    /// # Errors
    /// When the record cannot be made durable; the migration must then stop.
    async fn record(&self, server: &ServerName, record: Option<&MigrationRecord>)
    -> Result<(), MigrateError>;
}

fn connection(server: &ObservedServer, password: &Redacted<String>) -> Result<Connection, MigrateError> {
    let endpoint = server
        .endpoint
        .clone()
        .ok_or_else(|| MigrateError::Invalid(format!("{} has no endpoint", server.name)))?;
    Ok(Connection { endpoint, password: password.clone() })
}

fn ready<'a>(live: &'a LiveFleet, server: &ServerName) -> Option<&'a ObservedServer> {
    live.get(server).filter(|observed| observed.status == ServerStatus::Ready)
}

/// One migration as it runs: the request, its record and where each phase is journaled.
struct Run<'a> {
    request: &'a MigrationRequest,
    copier: &'a dyn Copier,
    journal: &'a dyn MigrationJournal,
    progress: Progress<'a>,
    record: MigrationRecord,
    dir: PathBuf,
}

impl Run<'_> {
    /// Journals that `phase` begins, then tells the progress listener.
    async fn begin(&mut self, phase: Phase) -> Result<(), MigrateError> {
        self.record.phase = phase;
        if phase == Phase::FreezeWrites {
            self.record.writes_frozen_since.get_or_insert_with(Utc::now);
        }
        self.journal.record(&self.request.name, Some(&self.record)).await?;
        (self.progress)(MigrationEvent::Step(phase));
        Ok(())
    }

    /// The data phases: freeze, dump, restore, verify. On failure the source is unfrozen, the
    /// dumps removed, and the record says the staging server exists with writes flowing.
    async fn copy(&mut self, source: &Connection, target: &Connection) -> Result<(), MigrateError> {
        let copied = self.copy_phases(source, target).await;
        let Err(error) = copied else { return Ok(()) };
        let error = unfreeze_after(self.copier, source, &self.dir, error).await;
        work::remove_dumps(&self.dir)?;
        self.record.phase = Phase::CreateTarget;
        self.record.writes_frozen_since = None;
        self.journal.record(&self.request.name, Some(&self.record)).await?;
        Err(error)
    }

    async fn copy_phases(&mut self, source: &Connection, target: &Connection) -> Result<(), MigrateError> {
        self.begin(Phase::FreezeWrites).await?;
        self.copier.freeze(source, &self.dir).await?;
        self.begin(Phase::Dump).await?;
        // Writes are frozen from here on: the source's checksums are read while it is dumped and
        // restored, and after the restore only the target is left to read (the source is read
        // again if it changed meanwhile).
        let (copier, progress, dir) = (self.copier, self.progress, self.dir.clone());
        let restoring = self.begin(Phase::Restore);
        let (_, checked) = copy_checksummed(copier, source, target, &dir, progress, restoring).await?;
        self.begin(Phase::Verify).await?;
        verify_analyzing(copier, source, target, &checked, progress).await?;
        Ok(())
    }

    /// Whether only the cutover is left: a run stopped at or after the cutover's start, and
    /// either both servers are up and the verified copy still matches, or the cutover left
    /// them mid-way (the provider finishes it). A copy that no longer matches, or a staging
    /// server that is gone, is made again.
    async fn only_cutover_left(&self, live: &LiveFleet) -> Result<bool, MigrateError> {
        if self.record.phase < Phase::Cutover || !live.contains_key(&self.request.staging) {
            return Ok(false);
        }
        let (Some(source), Some(target)) =
            (ready(live, &self.request.name), ready(live, &self.request.staging))
        else {
            return Ok(true);
        };
        let password = &self.request.admin_password;
        let (source, target) = (connection(source, password)?, connection(target, password)?);
        Ok(self.copier.verify(&source, &target, None, self.progress).await.is_ok())
    }

    /// Cutover, then retire: the work files go and the record is cleared.
    async fn finish(&mut self, provider: &dyn Provider) -> Result<ObservedServer, MigrateError> {
        self.begin(Phase::Cutover).await?;
        let observed = provider.cutover(&self.request.name, &self.request.staging).await?;
        self.begin(Phase::Retire).await?;
        forget(self.journal, &self.request.name, &self.dir).await?;
        Ok(observed)
    }
}

/// What the new server lacks of the parameters, firewall rules and databases its spec carries
/// (`None` when it has them all), checked before the copy so that clients are never cut over
/// to a server their firewall rules or parameters did not reach. Only what the provider reports
/// is compared: a provider that reports none of them (the `azure` provider for a fleet that
/// declares none) is not asked.
fn carried_missing(wanted: &ServerSpec, has: &ServerSpec) -> Option<String> {
    let reports = !(has.parameters.is_empty() && has.firewall_rules.is_empty() && has.databases.is_empty());
    if !reports {
        return None;
    }
    if let Some((name, value)) =
        wanted.parameters.iter().find(|(name, value)| has.parameters.get(*name) != Some(value))
    {
        return Some(format!("parameter {name} = {value}"));
    }
    if let Some((name, range)) =
        wanted.firewall_rules.iter().find(|(name, range)| has.firewall_rules.get(*name) != Some(range))
    {
        return Some(format!("firewall rule {name} ({range})"));
    }
    wanted
        .databases
        .keys()
        .find(|name| !has.databases.contains_key(*name))
        .map(|name| format!("database {name}"))
}

/// Removes a migration's work directory and clears its record: it is over.
async fn forget(journal: &dyn MigrationJournal, server: &ServerName, dir: &Path) -> Result<(), MigrateError> {
    super::freeze::forget(dir)?;
    work::remove_dir(dir)?;
    journal.record(server, None).await
}

/// Migrates a server to `request.target`, phase by phase ([`Phase::ALL`]). Re-running after a
/// crash at any point finishes the migration: a staging server an earlier run created is
/// reused (creates are idempotent), a copy not yet verified is redone from the freeze (the
/// freeze record keeps the settings from before the first freeze), a verified copy is checked
/// again and cut over, a cutover in progress is finished by the provider.
///
/// # Errors
/// A provider, copy or verification failure. Before cutover the source is unfrozen and
/// unchanged; from the cutover on, writes stay frozen and a re-run finishes the migration.
pub async fn run_migration(
    provider: &dyn Provider,
    request: &MigrationRequest,
    copier: &dyn Copier,
    journal: &dyn MigrationJournal,
    progress: Progress<'_>,
) -> Result<ObservedServer, MigrateError> {
    let (name, staging) = (&request.name, &request.staging);
    let dir = request.dir();
    work::create_private_dir(&dir)?;
    let live = provider.refresh().await?;
    if !live.contains_key(staging) {
        if let Some(done) = live.get(name).filter(|server| server.spec == request.target) {
            // Migrated before: the server already is the target and the staging server is gone.
            forget(journal, name, &dir).await?;
            return Ok(done.clone());
        }
    }
    let record = journal.unfinished(name).filter(|record| &record.staging == staging).unwrap_or_else(|| {
        MigrationRecord {
            staging: staging.clone(),
            phase: Phase::CreateTarget,
            started_at: Utc::now(),
            writes_frozen_since: None,
        }
    });
    let mut run = Run { request, copier, journal, progress, record, dir };
    if !run.only_cutover_left(&live).await? {
        // A resumed copy dumps again: what an interrupted run left goes first.
        work::remove_dumps(&run.dir)?;
        let source = live.get(name).ok_or_else(|| {
            MigrateError::Invalid(format!("{name} does not exist and no verified copy of it was made"))
        })?;
        run.begin(Phase::CreateTarget).await?;
        let spec = ServerSpec { replica_of: None, ..request.target.clone() };
        let create = CreateRequest {
            name: staging.clone(),
            spec,
            admin_password: Some(request.admin_password.clone()),
        };
        let target = provider.create(create).await?;
        if let Some(missing) = carried_missing(&request.target, &target.spec) {
            // Nothing is frozen yet: the source serves on, unchanged; a re-run tries again.
            return Err(MigrateError::Mismatch(format!(
                "the new server {staging} does not carry {missing}; {name} is unchanged"
            )));
        }
        let password = &request.admin_password;
        run.copy(&connection(source, password)?, &connection(&target, password)?).await?;
    }
    run.finish(provider).await
}

/// Abandons an unfinished migration of `server` that has not begun its cutover: the source's
/// writes are unfrozen exactly, the staging server deleted, the work files removed and the
/// record cleared. `source` is the server's connection (its admin password from the fleet).
///
/// # Errors
/// When the cutover has begun (`pgfleet apply` must finish it), or a step fails (the record is
/// kept, so the abort can be run again).
pub async fn abort_migration(
    provider: &dyn Provider,
    server: &ServerName,
    source: Option<&Connection>,
    copier: &dyn Copier,
    journal: &dyn MigrationJournal,
    state_dir: &Path,
) -> Result<MigrationRecord, MigrateError> {
    let record = journal
        .unfinished(server)
        .ok_or_else(|| MigrateError::Invalid(format!("no unfinished migration of {server} is recorded")))?;
    if !record.phase.abortable() {
        return Err(MigrateError::Invalid(format!(
            "the cutover of {server} to {} has begun, so the migration can no longer be aborted: run `pgfleet apply` \
             to finish it",
            record.staging
        )));
    }
    let dir = work_dir_of(state_dir, server);
    match source {
        Some(source) => copier.unfreeze(source, &dir).await?,
        None if record.writes_frozen_since.is_some() => {
            return Err(MigrateError::Invalid(format!(
                "{server} does not exist, so its writes cannot be unfrozen; nothing was changed"
            )));
        }
        None => {}
    }
    let live = provider.refresh().await?;
    if live.contains_key(&record.staging) {
        provider.delete(&record.staging).await?;
    }
    forget(journal, server, &dir).await?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::{MemoryCopier, MemoryJournal};
    use crate::providers::test_provider::{TestProvider, observed};
    use crate::rules::{PgVersion, Tier};

    fn spec(tier: Tier) -> ServerSpec {
        ServerSpec::new(tier, 2, 100, PgVersion::V11, "fleetadmin", "westeurope")
    }

    /// `ledger` and its staging server live, and a journal recording its migration at `phase`.
    async fn stopped_at(phase: Phase) -> (TestProvider, MemoryJournal, Connection) {
        let provider = TestProvider::new();
        let (ledger, staging) = (ServerName::new("ledger"), ServerName::new("ledger-migration"));
        let source = observed(&ledger, spec(Tier::Basic));
        provider.insert(source.clone());
        provider.insert(observed(&staging, spec(Tier::GeneralPurpose)));
        let journal = MemoryJournal::default();
        let record = MigrationRecord {
            staging,
            phase,
            started_at: Utc::now(),
            writes_frozen_since: phase.writes_frozen().then(Utc::now),
        };
        journal.record(&ledger, Some(&record)).await.unwrap();
        let password = Redacted::new("secret".to_string());
        (provider, journal, connection(&source, &password).unwrap())
    }

    #[tokio::test]
    async fn abort_unfreezes_the_source_deletes_the_staging_server_and_forgets_the_migration() {
        let (provider, journal, source) = stopped_at(Phase::Restore).await;
        let copier = MemoryCopier::default();
        let dir = tempfile::tempdir().unwrap();
        let ledger = ServerName::new("ledger");
        let record =
            abort_migration(&provider, &ledger, Some(&source), &copier, &journal, dir.path()).await.unwrap();
        assert_eq!(record.phase, Phase::Restore);
        assert_eq!(copier.unfrozen(), [source.endpoint.port]);
        let live = provider.servers();
        assert!(live.contains_key(&ledger) && !live.contains_key(&ServerName::new("ledger-migration")));
        assert_eq!(journal.unfinished(&ledger), None);
        assert!(!work_dir_of(dir.path(), &ledger).exists());
    }

    #[tokio::test]
    async fn abort_refuses_once_the_cutover_began_and_changes_nothing() {
        for phase in [Phase::Cutover, Phase::Retire] {
            let (provider, journal, source) = stopped_at(phase).await;
            let copier = MemoryCopier::default();
            let dir = tempfile::tempdir().unwrap();
            let ledger = ServerName::new("ledger");
            let error = abort_migration(&provider, &ledger, Some(&source), &copier, &journal, dir.path())
                .await
                .unwrap_err();
            assert!(error.to_string().contains("run `pgfleet apply` to finish it"), "{error}");
            assert!(copier.unfrozen().is_empty());
            assert_eq!(provider.servers().len(), 2, "{phase}: the staging server stays");
            assert_eq!(journal.unfinished(&ledger).map(|record| record.phase), Some(phase));
        }
    }

    #[tokio::test]
    async fn abort_without_a_source_refuses_when_writes_are_frozen() {
        let (provider, journal, _) = stopped_at(Phase::Dump).await;
        let ledger = ServerName::new("ledger");
        let dir = tempfile::tempdir().unwrap();
        let copier = MemoryCopier::default();
        let error =
            abort_migration(&provider, &ledger, None, &copier, &journal, dir.path()).await.unwrap_err();
        assert!(error.to_string().contains("cannot be unfrozen"), "{error}");
        assert_eq!(provider.servers().len(), 2);
        assert!(journal.unfinished(&ledger).is_some());
    }
}
