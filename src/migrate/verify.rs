//! Verification of a copy: per table, the row count and a content checksum of every row
//! computed in SQL on both sides (see [`CHECKSUM_SQL`]); sequences' values; views; extensions;
//! and the roles.
//!
//! Both sides are read at once, and up to [`TABLES_AT_ONCE`] tables at a time (each on its
//! own pair of sessions), so verification costs about one side's slowest share instead of the
//! sum of both sides' work, one table after the other.
//!
//! Owns: what "the copy is faithful" means. Must not: change either server.

use super::sql::{connect, context, user_databases};
use super::{DumpFile, MigrateError, MigrationEvent, Progress};
use crate::providers::Connection;
use futures_util::future::try_join_all;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One table as found on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    /// `schema.table`.
    pub table: String,
    pub rows: i64,
    /// The four sums of [`CHECKSUM_SQL`], `A:B:C:D`.
    pub checksum: String,
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

/// How many tables of a database are checksummed at once, each with one session per side.
/// Checksumming is CPU-bound on the servers; two keep a small server busy without starving
/// the other sessions of a 2-vCore target.
pub(crate) const TABLES_AT_ONCE: usize = 2;

/// Every table as `schema.table`, quoted only where SQL needs it (PostgreSQL's `quote_ident`),
/// so the same text goes into queries and reads well in progress lines.
const TABLES_SQL: &str = "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY n.nspname, c.relname";

/// A table's row count and content checksum (`{table}` is replaced by its quoted name): every
/// row's text (`t::text`, all columns) is hashed four times (`hashtext` of the text with four
/// suffixes: four 32-bit hashes), and each of the four is summed exactly over the rows. A sum
/// does not depend on the order rows are read in, so neither side sorts N hashes (the ordered
/// `md5(string_agg(md5(row)))` used before spent most of its time sorting, and md5 is slow in
/// PostgreSQL), and unlike an xor it counts duplicate rows. One row whose content differs
/// goes unnoticed only if all four hashes of its old and new text collide (about 2^-128).
/// `hashtext` exists on every PostgreSQL version pgfleet migrates (9.5 on) and hashes the
/// same bytes the same way on all of them, so both sides of a major version migration compute
/// the same function (on servers of different byte order it would differ: the check fails,
/// it cannot pass wrongly). `OFFSET 0` keeps each row's text computed once.
pub(crate) const CHECKSUM_SQL: &str = "SELECT count(*)::bigint, concat_ws(':', \
     coalesce(sum(hashtext(s)::bigint), 0), coalesce(sum(hashtext(s || '1')::bigint), 0), \
     coalesce(sum(hashtext(s || '2')::bigint), 0), coalesce(sum(hashtext(s || '3')::bigint), 0)) \
     FROM (SELECT t::text AS s FROM {table} AS t OFFSET 0) AS rows";

async fn text_pairs(
    client: &tokio_postgres::Client,
    sql: &str,
    what: &str,
) -> Result<BTreeMap<String, String>, MigrateError> {
    let rows = client.query(sql, &[]).await.map_err(context(format!("reading {what}")))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get::<_, Option<String>>(1).unwrap_or_default())).collect())
}

async fn tables(client: &tokio_postgres::Client) -> Result<Vec<String>, MigrateError> {
    let rows = client.query(TABLES_SQL, &[]).await.map_err(context("listing tables"))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

async fn table_check(client: &tokio_postgres::Client, table: &str) -> Result<TableCheck, MigrateError> {
    let sql = CHECKSUM_SQL.replace("{table}", table);
    let row = client.query_one(&sql, &[]).await.map_err(context(format!("checksumming {table}")))?;
    Ok(TableCheck { table: table.to_string(), rows: row.get(0), checksum: row.get(1) })
}

/// Checksums every table on both sides at once, [`TABLES_AT_ONCE`] tables at a time (each
/// worker with its own session on each side), and fails on the first table that differs.
/// Returns the source's checks in `tables`' order.
async fn check_tables(
    source: &Connection,
    target: &Connection,
    database: &str,
    tables: &[String],
    progress: Progress<'_>,
) -> Result<Vec<TableCheck>, MigrateError> {
    let next = Mutex::new(tables.iter().enumerate());
    let checked = Mutex::new(Vec::with_capacity(tables.len()));
    let worker = || async {
        let (source_client, target_client) =
            futures_util::future::try_join(connect(source, database), connect(target, database)).await?;
        loop {
            let Some((index, table)) = next.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next()
            else {
                return Ok::<(), MigrateError>(());
            };
            let (expected, actual) = futures_util::future::try_join(
                table_check(&source_client, table),
                table_check(&target_client, table),
            )
            .await?;
            require(expected == actual, || {
                format!(
                    "{database}.{table}: source {} rows ({}), target {} rows ({})",
                    expected.rows, expected.checksum, actual.rows, actual.checksum
                )
            })?;
            progress(MigrationEvent::TableVerified {
                database: database.into(),
                table: table.clone(),
                rows: expected.rows,
            });
            checked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((index, expected));
        }
    };
    try_join_all((0..TABLES_AT_ONCE.min(tables.len())).map(|_| worker())).await?;
    let mut checked = checked.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    checked.sort_by_key(|(index, _)| *index);
    Ok(checked.into_iter().map(|(_, check)| check).collect())
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

async fn verify_database(
    source: &Connection,
    target: &Connection,
    database: &str,
    progress: Progress<'_>,
) -> Result<DatabaseCheck, MigrateError> {
    let (source_client, target_client) =
        futures_util::future::try_join(connect(source, database), connect(target, database)).await?;
    let (source_tables, target_tables) =
        futures_util::future::try_join(tables(&source_client), tables(&target_client)).await?;
    require(source_tables == target_tables, || {
        format!("{database}: tables differ: source {source_tables:?}, target {target_tables:?}")
    })?;
    let checks = check_tables(source, target, database, &source_tables, progress).await?;
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
    Ok(DatabaseCheck { name: database.into(), dump: None, tables: checks, sequences: source_sequences })
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
    let mut checks = Vec::new();
    for database in &databases {
        checks.push(verify_database(source, target, database, progress).await?);
    }
    Ok((checks, source_roles.into_keys().collect()))
}
