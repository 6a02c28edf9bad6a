//! Verification of a copy: per table, the row count and a content checksum of every row
//! computed in SQL on both sides (`checksum`); sequences' values; views; extensions; and the
//! roles.
//!
//! Each side reads a database in one snapshot with [`SESSIONS`] sessions at once (big tables
//! in page ranges), and both sides are read at once, so verification costs about one side's
//! share spread over the server's cores. In a migration the source's side is read earlier,
//! while the frozen source is dumped and restored ([`checksum_source`]): after the restore only
//! the target is read, and the source is checked to be unchanged since its snapshot (read
//! again if it is not), so every row is still compared by content with the source as it is.
//!
//! Owns: what "the copy is faithful" means. Must not: change either server.

use super::checksum::{DatabaseSums, Hashing, TableCheck, checksum_database, unchanged_since, version};
use super::sql::{connect, context, user_databases};
use super::{DumpFile, MigrateError, MigrationEvent, Progress};
use crate::providers::Connection;
use std::collections::BTreeMap;

/// How many sessions read one side of a database at once. Checksumming is CPU-bound on the
/// servers; two keep a small server busy without starving the other sessions of a 2-vCore
/// target.
pub(crate) const SESSIONS: usize = 2;

/// How many sessions read the source while it is dumped and restored: one, so the dump and the
/// restore, which the migration waits for, keep the rest of the machine.
const SESSIONS_DURING_COPY: usize = 1;

/// The checksums of every table of every database of the (frozen) source, read while it is
/// copied; [`verify`] compares the target with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceChecksums {
    databases: BTreeMap<String, DatabaseSums>,
}

/// Checksums every table of every database of `source`, one database after the other with
/// [`SESSIONS_DURING_COPY`] sessions, each database in one snapshot.
///
/// # Errors
/// `MigrateError::Sql` when a session cannot connect or a query fails.
pub async fn checksum_source(
    source: &Connection,
    progress: Progress<'_>,
) -> Result<SourceChecksums, MigrateError> {
    let admin = connect(source, "postgres").await?;
    let databases = user_databases(&admin).await?;
    // The target hashes the same way when it can; one older than the source (which a restore
    // does not support anyway) has both sides read again, the portable way.
    let hashing = Hashing::for_versions(&[version(&admin).await?]);
    let mut checksums = SourceChecksums::default();
    for database in databases {
        let sums = checksum_database(source, &database, SESSIONS_DURING_COPY, hashing).await?;
        progress(MigrationEvent::SourceChecksummed { database: database.clone(), tables: sums.tables.len() });
        checksums.databases.insert(database, sums);
    }
    Ok(checksums)
}

async fn text_pairs(
    client: &tokio_postgres::Client,
    sql: &str,
    what: &str,
) -> Result<BTreeMap<String, String>, MigrateError> {
    let rows = client.query(sql, &[]).await.map_err(context(format!("reading {what}")))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get::<_, Option<String>>(1).unwrap_or_default())).collect())
}

/// One database as verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseCheck {
    pub name: String,
    /// The dump it was restored from, when the check follows a copy.
    pub dump: Option<DumpFile>,
    pub tables: Vec<TableCheck>,
    /// Each sequence's `last_value` (`None` before its first use).
    pub sequences: BTreeMap<String, Option<i64>>,
}

async fn sequences(client: &tokio_postgres::Client) -> Result<BTreeMap<String, Option<i64>>, MigrateError> {
    let rows = client
        .query("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences ORDER BY 1", &[])
        .await
        .map_err(context("reading sequences"))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

fn require(same: bool, what: impl FnOnce() -> String) -> Result<(), MigrateError> {
    if same { Ok(()) } else { Err(MigrateError::Mismatch(what())) }
}

/// Every entry of `source` is in `target` with the same value.
fn contained(source: &BTreeMap<String, String>, target: &BTreeMap<String, String>) -> Result<(), String> {
    match source.iter().find(|(key, value)| target.get(*key) != Some(value)) {
        Some((key, value)) => Err(format!("{key} ({value}) differs or is missing on the target")),
        None => Ok(()),
    }
}

/// The tables of both sides match, in name, row count and checksum.
fn compare_tables(
    database: &str,
    expected: &[TableCheck],
    actual: &[TableCheck],
    progress: Progress<'_>,
) -> Result<(), MigrateError> {
    let names = |checks: &[TableCheck]| checks.iter().map(|check| check.table.clone()).collect::<Vec<_>>();
    require(names(expected) == names(actual), || {
        format!("{database}: tables differ: source {:?}, target {:?}", names(expected), names(actual))
    })?;
    for (expected, actual) in expected.iter().zip(actual) {
        require(expected == actual, || {
            format!(
                "{database}.{}: source {} rows ({}), target {} rows ({})",
                expected.table, expected.rows, expected.checksum, actual.rows, actual.checksum
            )
        })?;
        progress(MigrationEvent::TableVerified {
            database: database.into(),
            table: expected.table.clone(),
            rows: expected.rows,
        });
    }
    Ok(())
}

/// Both sides' checksums of `database`, rows hashed as `hashing` says: the target's read now;
/// the source's read now too, or taken from `checked` (read during the copy) when the source
/// has not changed since and was hashed the same way.
async fn table_sums(
    source: &Connection,
    target: &Connection,
    database: &str,
    checked: Option<&DatabaseSums>,
    hashing: Hashing,
    progress: Progress<'_>,
) -> Result<(DatabaseSums, DatabaseSums), MigrateError> {
    let Some(checked) = checked.filter(|checked| checked.hashing == hashing) else {
        return futures_util::future::try_join(
            checksum_database(source, database, SESSIONS, hashing),
            checksum_database(target, database, SESSIONS, hashing),
        )
        .await;
    };
    let actual = checksum_database(target, database, SESSIONS, hashing).await?;
    // Asked once the target is read: the source is as it was in its snapshot at least until now.
    if unchanged_since(&connect(source, database).await?, &checked.snapshot).await? {
        return Ok((checked.clone(), actual));
    }
    progress(MigrationEvent::SourceChanged { database: database.into() });
    Ok((checksum_database(source, database, SESSIONS, hashing).await?, actual))
}

async fn verify_database(
    source: &Connection,
    target: &Connection,
    database: &str,
    checked: Option<&DatabaseSums>,
    hashing: Hashing,
    progress: Progress<'_>,
) -> Result<DatabaseCheck, MigrateError> {
    let (expected, actual) = table_sums(source, target, database, checked, hashing, progress).await?;
    compare_tables(database, &expected.tables, &actual.tables, progress)?;
    let (source_client, target_client) =
        futures_util::future::try_join(connect(source, database), connect(target, database)).await?;
    let (source_sequences, target_sequences) =
        futures_util::future::try_join(sequences(&source_client), sequences(&target_client)).await?;
    require(source_sequences == target_sequences, || {
        format!("{database}: sequences differ: source {source_sequences:?}, target {target_sequences:?}")
    })?;
    for (sql, what) in [
        (
            "SELECT schemaname || '.' || viewname, definition FROM pg_views \
          WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
            "views",
        ),
        ("SELECT extname, extversion FROM pg_extension", "extensions"),
    ] {
        let (expected, actual) = futures_util::future::try_join(
            text_pairs(&source_client, sql, what),
            text_pairs(&target_client, sql, what),
        )
        .await?;
        contained(&expected, &actual)
            .map_err(|problem| MigrateError::Mismatch(format!("{database}: {what}: {problem}")))?;
    }
    Ok(DatabaseCheck {
        name: database.into(),
        dump: None,
        tables: expected.tables,
        sequences: source_sequences,
    })
}

/// Compares the target with the source: every database, table, sequence, view, extension and
/// role of the source must be on the target with the same content. Returns the databases
/// checked and the source's roles.
///
/// # Errors
/// `MigrateError::Mismatch` naming the first difference, or a connection failure.
pub async fn verify(
    source: &Connection,
    target: &Connection,
    progress: Progress<'_>,
) -> Result<(Vec<DatabaseCheck>, Vec<String>), MigrateError> {
    verify_against(source, target, None, progress).await
}

/// [`verify`], with the source's tables taken from `checked` (read while the frozen source was
/// copied, [`checksum_source`]) for each database whose source has not changed since; a
/// database whose source did change, or that `checked` lacks, is read again.
///
/// # Errors
/// `MigrateError::Mismatch` naming the first difference, or a connection failure.
pub async fn verify_against(
    source: &Connection,
    target: &Connection,
    checked: Option<&SourceChecksums>,
    progress: Progress<'_>,
) -> Result<(Vec<DatabaseCheck>, Vec<String>), MigrateError> {
    let (source_admin, target_admin) =
        futures_util::future::try_join(connect(source, "postgres"), connect(target, "postgres")).await?;
    let roles_sql = "SELECT rolname, concat_ws(',', rolcanlogin, rolinherit, rolcreatedb, rolcreaterole) \
                     FROM pg_roles WHERE rolname !~ '^pg_'";
    let (source_roles, target_roles) = futures_util::future::try_join(
        text_pairs(&source_admin, roles_sql, "roles"),
        text_pairs(&target_admin, roles_sql, "roles"),
    )
    .await?;
    contained(&source_roles, &target_roles)
        .map_err(|problem| MigrateError::Mismatch(format!("roles: {problem}")))?;
    let (databases, target_databases) =
        futures_util::future::try_join(user_databases(&source_admin), user_databases(&target_admin)).await?;
    if let Some(missing) = databases.iter().find(|database| !target_databases.contains(database)) {
        return Err(MigrateError::Mismatch(format!("database {missing} is missing on the target")));
    }
    let (source_version, target_version) =
        futures_util::future::try_join(version(&source_admin), version(&target_admin)).await?;
    let hashing = Hashing::for_versions(&[source_version, target_version]);
    let mut checks = Vec::new();
    for database in &databases {
        let checked = checked.and_then(|checked| checked.databases.get(database));
        checks.push(verify_database(source, target, database, checked, hashing, progress).await?);
    }
    Ok((checks, source_roles.into_keys().collect()))
}
