//! The whole migration of one server through a provider: create the staging server, copy and
//! verify, cut over, retire. A journal in the work directory records how far it got, so a
//! re-run after a crash at any point finishes the job without losing data.
//!
//! Owns: the order of the steps and what a re-run does at each point. Must not: know how the
//! provider creates servers or performs the cutover.

use super::copy::{CopyOptions, copy_and_verify};
use super::verify::verify;
use super::{MigrateError, MigrationEvent, MigrationStep, Progress, freeze};
use crate::model::{ObservedServer, ServerName, ServerSpec, ServerStatus};
use crate::providers::{Connection, CreateRequest, Provider};
use crate::secret::Redacted;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What to migrate, and where to keep the dumps and the journal.
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
    /// Where `pg_dump`, `pg_dumpall` and `pg_restore` are; searched when `None`.
    pub client_bindir: Option<PathBuf>,
}

/// How far a migration got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    Copying,
    /// The staging server holds a verified copy and the source's writes are frozen.
    Verified,
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    staging: ServerName,
    phase: Phase,
}

fn journal_path(dir: &Path) -> PathBuf {
    dir.join("journal.json")
}

fn read_phase(dir: &Path) -> Phase {
    std::fs::read_to_string(journal_path(dir))
        .ok()
        .and_then(|text| serde_json::from_str::<Journal>(&text).ok())
        .map(|journal| journal.phase)
        .unwrap_or(Phase::Copying)
}

fn write_phase(dir: &Path, staging: &ServerName, phase: Phase) -> Result<(), MigrateError> {
    let journal = Journal { staging: staging.clone(), phase };
    let text =
        serde_json::to_string_pretty(&journal).map_err(|error| MigrateError::Invalid(error.to_string()))?;
    let path = journal_path(dir);
    let temporary = path.with_extension("tmp");
    let io = |source| MigrateError::Io { context: format!("writing {}", path.display()), source };
    std::fs::write(&temporary, text).map_err(io)?;
    std::fs::rename(&temporary, &path).map_err(io)
}

fn connection(server: &ObservedServer, password: &Redacted<String>) -> Result<Connection, MigrateError> {
    let endpoint = server
        .endpoint
        .clone()
        .ok_or_else(|| MigrateError::Invalid(format!("{} has no endpoint", server.name)))?;
    Ok(Connection { endpoint, password: password.clone() })
}

/// Migrates a server to `request.target`: creates the staging server, copies and verifies the
/// data, cuts over (the server keeps its name) and retires the old server. Re-running after a
/// crash at any point finishes the migration: a copy not yet verified is redone, a verified
/// copy is checked again and cut over, a cutover in progress is finished by the provider.
///
/// # Errors
/// A provider, copy or verification failure. Before verification the source is unfrozen and
/// unchanged; after it, writes stay frozen and a re-run finishes the cutover.
pub async fn run_migration(
    provider: &dyn Provider,
    request: &MigrationRequest,
    progress: Progress<'_>,
) -> Result<ObservedServer, MigrateError> {
    let name = &request.name;
    let staging = &request.staging;
    let dir = request.work_dir.join("migrations").join(name.as_str());
    std::fs::create_dir_all(&dir)
        .map_err(|source| MigrateError::Io { context: format!("creating {}", dir.display()), source })?;
    let options = CopyOptions { work_dir: dir.clone(), client_bindir: request.client_bindir.clone() };
    let live = provider.refresh().await?;
    let ready =
        |server: &ServerName| live.get(server).filter(|observed| observed.status == ServerStatus::Ready);
    let mut phase = read_phase(&dir);
    if phase == Phase::Verified {
        if let (Some(source), Some(target)) = (ready(name), ready(staging)) {
            let (source, target) =
                (connection(source, &request.admin_password)?, connection(target, &request.admin_password)?);
            if verify(&source, &target, progress).await.is_err() {
                phase = Phase::Copying;
            }
        } else if !live.contains_key(staging) {
            // No staging server: the cutover finished before the crash (the server already is
            // the target), or the verified copy is gone and the copy is made again.
            phase = Phase::Copying;
        }
    }
    if phase == Phase::Copying && !live.contains_key(staging) {
        if let Some(done) = live.get(name).filter(|server| server.spec == request.target) {
            // Migrated before: the server already is the target and the staging server is gone.
            forget_work(&dir)?;
            return Ok(done.clone());
        }
    }
    if phase == Phase::Copying {
        let source = live.get(name).ok_or_else(|| {
            MigrateError::Invalid(format!("{name} does not exist and no verified copy of it was made"))
        })?;
        progress(MigrationEvent::Step(MigrationStep::CreateTarget));
        let spec = ServerSpec { replica_of: None, ..request.target.clone() };
        let create = CreateRequest {
            name: staging.clone(),
            spec,
            admin_password: Some(request.admin_password.clone()),
        };
        let target = provider.create(create).await?;
        let source_connection = connection(source, &request.admin_password)?;
        let target_connection = connection(&target, &request.admin_password)?;
        copy_and_verify(&source_connection, &target_connection, &options, progress).await?;
        write_phase(&dir, staging, Phase::Verified)?;
    }
    progress(MigrationEvent::Step(MigrationStep::Cutover));
    let observed = provider.cutover(name, staging).await?;
    progress(MigrationEvent::Step(MigrationStep::Retire));
    forget_work(&dir)?;
    Ok(observed)
}

/// Removes a finished migration's work directory: its freeze record, journal and dumps.
fn forget_work(dir: &Path) -> Result<(), MigrateError> {
    freeze::forget(dir)?;
    match std::fs::remove_dir_all(dir) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
            Err(MigrateError::Io { context: format!("removing {}", dir.display()), source })
        }
        _ => Ok(()),
    }
}
