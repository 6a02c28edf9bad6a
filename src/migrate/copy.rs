//! The data phases of a migration behind one trait ([`Copier`]): freeze the source, dump the
//! roles (`pg_dumpall --globals-only`) and every database (`pg_dump` custom format) into the
//! work directory with their sha256, restore into the target, verify.
//!
//! Owns: running the client tools with explicit timeouts. Must not: create or delete servers,
//! or decide the order of the phases (`protocol` and `run` do).

use super::checksum::TABLES_SQL;
use super::freeze::{freeze, unfreeze};
use super::sql::{connect, context, ident, user_databases};
use super::verify::{DatabaseCheck, SourceChecksums, checksum_source, verify_against};
use super::{DumpFile, MigrateError, MigrationEvent, MigrationReport, Phase, Progress, work};
use crate::providers::Connection;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// How long one dump or restore may take.
pub(crate) const TOOL_TIMEOUT: Duration = Duration::from_secs(3600);

/// `pg_restore --jobs`: tables load and indexes build two at a time, as a 2-vCore target
/// (the smallest General Purpose server) can take.
pub(crate) const RESTORE_JOBS: usize = 2;

/// `pg_dump --compress`: zlib's fastest level. A migration's dump is a work file read once,
/// on the same machine, minutes later, so what counts is how fast it is written: level 1
/// writes it about three times faster than pg_dump's default (6) for a file only a few percent
/// larger (2,000,000 rows of the migration bench: 2.2 s and 75 MB against 6.4 s and 70 MB),
/// and the dump runs while writes are frozen.
pub(crate) const DUMP_COMPRESSION: u8 = 1;

/// Where and with what the copy works.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Holds the dumps and the freeze record; kept until the migration is complete.
    pub work_dir: PathBuf,
    /// The directory of `pg_dump`, `pg_dumpall` and `pg_restore`; searched like the local
    /// provider's binaries when `None`.
    pub client_bindir: Option<PathBuf>,
}

struct Tools {
    bindir: PathBuf,
}

impl Tools {
    fn command(&self, tool: &str, server: &Connection) -> Command {
        let endpoint = &server.endpoint;
        let mut command = Command::new(self.bindir.join(tool));
        command
            .args(["-h", &endpoint.host, "-p", &endpoint.port.to_string(), "-U", &endpoint.user])
            .env("PGPASSWORD", server.password.expose())
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        // Ctrl-C must not reach the tool (the first one lets a running restore finish), and a
        // pgfleet killed outright must not leave a restore (or its workers) writing into the
        // staging server, or reading a dump the next run rewrites, behind the next run's back.
        crate::pgtools::end_with_pgfleet(&mut command, crate::pgtools::Descendants::EndWithTool);
        command
    }

    async fn run(&self, tool: &str, mut command: Command) -> Result<(), MigrateError> {
        let output = tokio::time::timeout(TOOL_TIMEOUT, command.output())
            .await
            .map_err(|_| MigrateError::Tool {
                tool: tool.into(),
                message: format!("timed out after {TOOL_TIMEOUT:?}"),
            })?
            .map_err(|source| MigrateError::Io { context: format!("running {tool}"), source })?;
        if output.status.success() {
            Ok(())
        } else {
            let message = format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
            Err(MigrateError::Tool { tool: tool.into(), message })
        }
    }
}

fn sha256_of(path: &Path) -> Result<DumpFile, MigrateError> {
    let bytes = std::fs::read(path)
        .map_err(|source| MigrateError::Io { context: format!("reading {}", path.display()), source })?;
    Ok(DumpFile {
        path: path.to_path_buf(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
    })
}

/// Fails when a dump no longer has the digest recorded when it was written.
fn check_digest(dump: &DumpFile) -> Result<(), MigrateError> {
    let now = sha256_of(&dump.path)?;
    if now.sha256 == dump.sha256 {
        Ok(())
    } else {
        Err(MigrateError::CorruptDump {
            path: dump.path.clone(),
            expected: dump.sha256.clone(),
            actual: now.sha256,
        })
    }
}

/// The dumps of one migration: the roles script and each database's dump, with their digests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dumps {
    pub globals: Option<DumpFile>,
    /// Each database of the source with its dump.
    pub databases: Vec<(String, DumpFile)>,
}

/// The data phases of a migration ([`super::Phase`]'s freeze, dump, restore and verify):
/// pg_dump / pg_restore for real servers, or an in-memory copy for the engine's tests. The
/// order, the journal and the failure handling are [`super::run_migration`]'s; a copier only
/// does each phase's work.
#[async_trait]
pub trait Copier: Send + Sync {
    /// Freezes writes on the source, recording what to restore in `work_dir` first.
    async fn freeze(&self, source: &Connection, work_dir: &Path) -> Result<(), MigrateError>;
    /// Undoes [`Copier::freeze`] exactly; a no-op when nothing is frozen.
    async fn unfreeze(&self, source: &Connection, work_dir: &Path) -> Result<(), MigrateError>;
    /// Dumps the roles and every database into `work_dir` (0600 files).
    async fn dump(
        &self,
        source: &Connection,
        work_dir: &Path,
        progress: Progress<'_>,
    ) -> Result<Dumps, MigrateError>;
    /// Restores `dumps` into the target, each checked against its digest first.
    async fn restore(
        &self,
        target: &Connection,
        dumps: &Dumps,
        progress: Progress<'_>,
    ) -> Result<(), MigrateError>;
    /// Checksums every table of the frozen source, while it is dumped and restored, for
    /// [`Copier::verify`].
    async fn checksum_source(
        &self,
        source: &Connection,
        progress: Progress<'_>,
    ) -> Result<SourceChecksums, MigrateError>;
    /// Gathers the planner's statistics of every database of the target, which a restore
    /// leaves without any, so the new server plans well from its first query after cutover.
    async fn analyze(&self, target: &Connection) -> Result<(), MigrateError>;
    /// Compares both sides; fails on the first difference. The source's tables are taken from
    /// `checked` where the source has not changed since they were read.
    async fn verify(
        &self,
        source: &Connection,
        target: &Connection,
        checked: Option<&SourceChecksums>,
        progress: Progress<'_>,
    ) -> Result<(Vec<DatabaseCheck>, Vec<String>), MigrateError>;
}

/// The real copier: `pg_dumpall --globals-only`, `pg_dump` (custom format), `pg_restore`, and
/// verification in SQL.
#[derive(Debug, Clone, Default)]
pub struct PgCopier {
    /// The directory of `pg_dump`, `pg_dumpall` and `pg_restore`; searched when `None`.
    pub client_bindir: Option<PathBuf>,
}

impl PgCopier {
    fn tools(&self) -> Result<Tools, MigrateError> {
        let bindir = match &self.client_bindir {
            Some(dir) => dir.clone(),
            None => crate::pgtools::find_bindir_with(&["pg_dump", "pg_dumpall", "pg_restore"])
                .map_err(|error| MigrateError::ToolsNotFound(error.to_string()))?,
        };
        Ok(Tools { bindir })
    }
}

#[async_trait]
impl Copier for PgCopier {
    async fn freeze(&self, source: &Connection, work_dir: &Path) -> Result<(), MigrateError> {
        freeze(source, work_dir).await
    }

    async fn unfreeze(&self, source: &Connection, work_dir: &Path) -> Result<(), MigrateError> {
        unfreeze(source, work_dir).await
    }

    async fn dump(
        &self,
        source: &Connection,
        work_dir: &Path,
        progress: Progress<'_>,
    ) -> Result<Dumps, MigrateError> {
        let tools = self.tools()?;
        let globals_path = work::private_file(&work_dir.join("globals.sql"))?;
        let mut command = tools.command("pg_dumpall", source);
        command.args(["--globals-only", "--no-tablespaces", "-l", "postgres", "-f"]).arg(&globals_path);
        tools.run("pg_dumpall", command).await?;
        let globals = sha256_of(&globals_path)?;
        let databases = user_databases(&connect(source, "postgres").await?).await?;
        let mut dumps = Vec::new();
        for database in databases {
            let path =
                work::private_file(&work_dir.join(format!("database-{}.dump", hex::encode(&database))))?;
            let mut command = tools.command("pg_dump", source);
            command.args([
                "--format=custom",
                &format!("--compress={DUMP_COMPRESSION}"),
                "-d",
                &database,
                "-f",
            ]);
            command.arg(&path);
            tools.run("pg_dump", command).await?;
            let dump = sha256_of(&path)?;
            progress(MigrationEvent::Dumped { database: database.clone(), bytes: dump.bytes });
            dumps.push((database, dump));
        }
        Ok(Dumps { globals: Some(globals), databases: dumps })
    }

    async fn restore(
        &self,
        target: &Connection,
        dumps: &Dumps,
        progress: Progress<'_>,
    ) -> Result<(), MigrateError> {
        let tools = self.tools()?;
        if let Some(globals) = &dumps.globals {
            check_digest(globals)?;
            restore_roles(&globals.path, target).await?;
        }
        let target_admin = connect(target, "postgres").await?;
        let existing: BTreeSet<String> = user_databases(&target_admin).await?.into_iter().collect();
        for (database, dump) in &dumps.databases {
            if !existing.contains(database) {
                let statement = format!("CREATE DATABASE {}", ident(database));
                target_admin
                    .batch_execute(&statement)
                    .await
                    .map_err(context(format!("creating {database}")))?;
            }
            let mut command = tools.command("pg_restore", target);
            // Parallel, so not in one transaction (pg_restore refuses both). What a failed
            // restore leaves is only ever on the staging server: the source is untouched (and
            // unfrozen by `run`), the record says the staging server holds no verified copy, and
            // the re-run restores again over it (`--clean`) before verifying every row.
            command.args(["--clean", "--if-exists", "--exit-on-error"]);
            command.args(["--jobs", &RESTORE_JOBS.to_string(), "-d", database]);
            command.arg(&dump.path);
            // The digest is read while the restore runs: a dump changed since it was written
            // fails the phase all the same, without a second pass over it before the restore.
            let digest = {
                let dump = dump.clone();
                tokio::task::spawn_blocking(move || check_digest(&dump))
            };
            let restored = tools.run("pg_restore", command).await;
            digest
                .await
                .map_err(|error| MigrateError::Invalid(format!("checking {database}'s dump: {error}")))??;
            restored?;
            progress(MigrationEvent::Restored { database: database.clone(), bytes: dump.bytes });
        }
        Ok(())
    }

    async fn checksum_source(
        &self,
        source: &Connection,
        progress: Progress<'_>,
    ) -> Result<SourceChecksums, MigrateError> {
        checksum_source(source, progress).await
    }

    async fn analyze(&self, target: &Connection) -> Result<(), MigrateError> {
        for database in user_databases(&connect(target, "postgres").await?).await? {
            let client = connect(target, &database).await?;
            let rows = client.query(TABLES_SQL, &[]).await.map_err(context("listing tables"))?;
            // Only what the restore wrote: a database-wide ANALYZE would also analyze every
            // catalog, work the new server does not need before it serves (autovacuum's).
            for row in rows {
                let table: String = row.get(0);
                let statement = format!("ANALYZE {table}");
                client
                    .batch_execute(&statement)
                    .await
                    .map_err(context(format!("analyzing {database}.{table}")))?;
            }
        }
        Ok(())
    }

    async fn verify(
        &self,
        source: &Connection,
        target: &Connection,
        checked: Option<&SourceChecksums>,
        progress: Progress<'_>,
    ) -> Result<(Vec<DatabaseCheck>, Vec<String>), MigrateError> {
        verify_against(source, target, checked, progress).await
    }
}

/// Copies every database and role of `source` into `target` and verifies the copy, outside a
/// migration (the phases of [`super::run_migration`] without a staging server or a journal).
/// Writes on the source stay frozen when this succeeds; any failure unfreezes them.
///
/// # Errors
/// A tool, SQL or verification failure; the source is unfrozen first.
pub async fn copy_and_verify(
    source: &Connection,
    target: &Connection,
    options: &CopyOptions,
    progress: Progress<'_>,
) -> Result<MigrationReport, MigrateError> {
    let copier = PgCopier { client_bindir: options.client_bindir.clone() };
    work::create_private_dir(&options.work_dir)?;
    let started = Instant::now();
    let work_dir = options.work_dir.as_path();
    let copied = async {
        progress(MigrationEvent::Step(Phase::FreezeWrites));
        copier.freeze(source, work_dir).await?;
        progress(MigrationEvent::Step(Phase::Dump));
        let restoring = async {
            progress(MigrationEvent::Step(Phase::Restore));
            Ok(())
        };
        let (dumps, checked) =
            copy_checksummed(&copier, source, target, work_dir, progress, restoring).await?;
        progress(MigrationEvent::Step(Phase::Verify));
        let (mut checks, roles) = verify_analyzing(&copier, source, target, &checked, progress).await?;
        for check in &mut checks {
            check.dump =
                dumps.databases.iter().find(|(name, _)| *name == check.name).map(|(_, dump)| dump.clone());
        }
        let globals = dumps.globals.clone().ok_or_else(|| MigrateError::Invalid("no roles dump".into()))?;
        Ok::<_, MigrateError>(MigrationReport { databases: checks, roles, globals, elapsed: Duration::ZERO })
    }
    .await;
    match copied {
        Ok(mut report) => {
            report.elapsed = started.elapsed();
            Ok(report)
        }
        Err(error) => Err(unfreeze_after(&copier, source, work_dir, error).await),
    }
}

/// Dumps and restores the frozen source while its checksums are read (one snapshot per
/// database); `restoring` runs between the dump and the restore (the restore phase's start).
pub(crate) async fn copy_checksummed(
    copier: &dyn Copier,
    source: &Connection,
    target: &Connection,
    work_dir: &Path,
    progress: Progress<'_>,
    restoring: impl std::future::Future<Output = Result<(), MigrateError>>,
) -> Result<(Dumps, SourceChecksums), MigrateError> {
    let copied = async {
        let dumps = copier.dump(source, work_dir, progress).await?;
        restoring.await?;
        copier.restore(target, &dumps, progress).await?;
        Ok(dumps)
    };
    futures_util::future::try_join(copied, copier.checksum_source(source, progress)).await
}

/// Verifies the target against the source (its checksums from the copy where it has not
/// changed since) while the target's planner statistics are gathered: sampling reads little
/// and changes no row.
pub(crate) async fn verify_analyzing(
    copier: &dyn Copier,
    source: &Connection,
    target: &Connection,
    checked: &SourceChecksums,
    progress: Progress<'_>,
) -> Result<(Vec<DatabaseCheck>, Vec<String>), MigrateError> {
    let verified = copier.verify(source, target, Some(checked), progress);
    let (verified, ()) = futures_util::future::try_join(verified, copier.analyze(target)).await?;
    Ok(verified)
}

/// The error of a failed phase, after unfreezing the source (and saying so if that fails too).
pub(crate) async fn unfreeze_after(
    copier: &dyn Copier,
    source: &Connection,
    work_dir: &Path,
    error: MigrateError,
) -> MigrateError {
    match copier.unfreeze(source, work_dir).await {
        Ok(()) => error,
        Err(unfreeze_error) => {
            MigrateError::Invalid(format!("{error}; and unfreezing the source failed: {unfreeze_error}"))
        }
    }
}

/// Runs the roles script on the target, leaving out the statements about roles the target
/// already has (its admin, the service's or provider's own roles), whose passwords and
/// attributes belong to the target.
async fn restore_roles(script: &Path, target: &Connection) -> Result<(), MigrateError> {
    let text = std::fs::read_to_string(script)
        .map_err(|source| MigrateError::Io { context: format!("reading {}", script.display()), source })?;
    let client = connect(target, "postgres").await?;
    let rows = client.query("SELECT rolname FROM pg_roles", &[]).await.map_err(context("listing roles"))?;
    let existing: BTreeSet<String> = rows.iter().map(|row| row.get(0)).collect();
    let filtered = filter_roles_script(&text, &existing);
    client.batch_execute(&filtered).await.map_err(context("restoring roles"))
}

/// Drops the `CREATE ROLE` and `ALTER ROLE` lines of a `pg_dumpall --globals-only` script that
/// name a role in `existing`.
pub(super) fn filter_roles_script(script: &str, existing: &BTreeSet<String>) -> String {
    let role_of = |line: &str| -> Option<String> {
        let rest = line.strip_prefix("CREATE ROLE ").or_else(|| line.strip_prefix("ALTER ROLE "))?;
        let name = if let Some(quoted) = rest.strip_prefix('"') {
            quoted.split("\"").next()?.to_string()
        } else {
            rest.split([' ', ';']).next()?.to_string()
        };
        Some(name)
    };
    script
        .lines()
        // psql meta-commands (`\restrict`, `\connect`) are not SQL; roles the target has stay its own.
        .filter(|line| !line.starts_with('\\') && !role_of(line).is_some_and(|role| existing.contains(&role)))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_roles_are_left_alone() {
        let script = "CREATE ROLE fleetadmin;\nALTER ROLE fleetadmin WITH SUPERUSER PASSWORD 'x';\n\
                      CREATE ROLE app;\nALTER ROLE app WITH LOGIN;\nCREATE ROLE \"odd name\";\nGRANT app TO fleetadmin;\n\\unrestrict key\n";
        let existing: BTreeSet<String> = ["fleetadmin".to_string(), "odd name".to_string()].into();
        let filtered = filter_roles_script(script, &existing);
        assert_eq!(filtered, "CREATE ROLE app;\nALTER ROLE app WITH LOGIN;\nGRANT app TO fleetadmin;\n");
    }
}
