//! Verification of a copy: per table, the row count and a content checksum computed in SQL on
//! both sides (md5 of the ordered md5s of every row's text); sequences' values; views;
//! extensions; and the roles.
//!
//! Owns: what "the copy is faithful" means. Must not: change either server.

use super::sql::{connect, context, user_databases};
use super::{DumpFile, MigrateError, MigrationEvent, Progress};
use crate::providers::Connection;
use std::collections::BTreeMap;

/// One table as found on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    /// `schema.table`.
    pub table: String,
    pub rows: i64,
    /// md5 of the ordered md5s of the rows' text.
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

/// Every table as `schema.table`, quoted only where SQL needs it (PostgreSQL's `quote_ident`),
/// so the same text goes into queries and reads well in progress lines.
const TABLES_SQL: &str = "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY n.nspname, c.relname";

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
    let sql = format!(
        "SELECT count(*)::bigint, md5(coalesce(string_agg(h, '' ORDER BY h), '')) \
         FROM (SELECT md5(t::text) AS h FROM {table} AS t) AS rows"
    );
    let row = client.query_one(&sql, &[]).await.map_err(context(format!("checksumming {table}")))?;
    Ok(TableCheck { table: table.to_string(), rows: row.get(0), checksum: row.get(1) })
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
    let source_client = connect(source, database).await?;
    let target_client = connect(target, database).await?;
    let source_tables = tables(&source_client).await?;
    let target_tables = tables(&target_client).await?;
    require(source_tables == target_tables, || {
        format!("{database}: tables differ: source {source_tables:?}, target {target_tables:?}")
    })?;
    let mut checks = Vec::new();
    for table in &source_tables {
        let (expected, actual) =
            (table_check(&source_client, table).await?, table_check(&target_client, table).await?);
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
        checks.push(expected);
    }
    let source_sequences = sequences(&source_client).await?;
    let target_sequences = sequences(&target_client).await?;
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
        let expected = text_pairs(&source_client, sql, what).await?;
        let actual = text_pairs(&target_client, sql, what).await?;
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
    let source_admin = connect(source, "postgres").await?;
    let target_admin = connect(target, "postgres").await?;
    let roles_sql = "SELECT rolname, concat_ws(',', rolcanlogin, rolinherit, rolcreatedb, rolcreaterole) \
                     FROM pg_roles WHERE rolname !~ '^pg_'";
    let source_roles = text_pairs(&source_admin, roles_sql, "roles").await?;
    let target_roles = text_pairs(&target_admin, roles_sql, "roles").await?;
    contained(&source_roles, &target_roles)
        .map_err(|problem| MigrateError::Mismatch(format!("roles: {problem}")))?;
    let databases = user_databases(&source_admin).await?;
    let target_databases = user_databases(&target_admin).await?;
    if let Some(missing) = databases.iter().find(|database| !target_databases.contains(database)) {
        return Err(MigrateError::Mismatch(format!("database {missing} is missing on the target")));
    }
    let mut checks = Vec::new();
    for database in &databases {
        checks.push(verify_database(source, target, database, progress).await?);
    }
    Ok((checks, source_roles.into_keys().collect()))
}
