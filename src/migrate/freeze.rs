//! Freezing writes on the source: every database defaults to read-only transactions and open
//! sessions are ended. The previous per-database setting is recorded in the work directory
//! before anything changes (0600, fsynced), so unfreezing restores exactly what was there, even
//! after a crash.

use super::MigrateError;
use super::sql::{connect, context, ident, user_databases};
use crate::providers::Connection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SETTING: &str = "default_transaction_read_only";

/// What the source's databases had before the freeze: each database's own
/// `default_transaction_read_only` setting (`None` when it had none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FreezeRecord {
    databases: BTreeMap<String, Option<String>>,
}

fn record_path(work_dir: &Path) -> PathBuf {
    work_dir.join("freeze.json")
}

/// Freezes writes on every database of the source. A freeze left by a crashed run is kept: its
/// record still holds the settings from before the first freeze.
///
/// # Errors
/// When the record cannot be written or the source refuses the change.
pub async fn freeze(source: &Connection, work_dir: &Path) -> Result<(), MigrateError> {
    let path = record_path(work_dir);
    let client = connect(source, "postgres").await?;
    let databases = user_databases(&client).await?;
    let record = if path.is_file() {
        read_record(&path)?
    } else {
        let rows = client
            .query(
                "SELECT d.datname, (SELECT split_part(s, '=', 2) FROM unnest(r.setconfig) AS s \
                   WHERE s LIKE 'default_transaction_read_only=%') \
                 FROM pg_database d LEFT JOIN pg_db_role_setting r ON r.setdatabase = d.oid AND r.setrole = 0 \
                 WHERE d.datname = ANY($1)",
                &[&databases],
            )
            .await
            .map_err(context("reading the databases' settings"))?;
        let record = FreezeRecord { databases: rows.iter().map(|row| (row.get(0), row.get(1))).collect() };
        let text = serde_json::to_string_pretty(&record)
            .map_err(|error| MigrateError::Invalid(error.to_string()))?;
        // Durable before the first ALTER: a crash after it must still know what to restore.
        super::work::write_record(&path, text.as_bytes())?;
        record
    };
    for database in record.databases.keys() {
        let statement = format!("ALTER DATABASE {} SET {SETTING} = on", ident(database));
        client.batch_execute(&statement).await.map_err(context(format!("freezing {database}")))?;
    }
    let sessions = client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
             AND backend_type = 'client backend' AND datname = ANY($1)",
            &[&databases],
        )
        .await
        .map_err(context("listing open sessions"))?;
    for session in sessions {
        let pid: i32 = session.get(0);
        // A session that ended meanwhile, or one the service protects, is not an error.
        let _ = client.execute("SELECT pg_terminate_backend($1)", &[&pid]).await;
    }
    Ok(())
}

/// Undoes [`freeze`]: each database gets back the setting it had. A no-op without a record.
///
/// # Errors
/// When the source cannot be reached or refuses the change; the record is kept for a retry.
pub async fn unfreeze(source: &Connection, work_dir: &Path) -> Result<(), MigrateError> {
    let path = record_path(work_dir);
    if !path.is_file() {
        return Ok(());
    }
    let record = read_record(&path)?;
    let client = connect(source, "postgres").await?;
    for (database, previous) in &record.databases {
        let statement = match previous {
            Some(value) => {
                format!("ALTER DATABASE {} SET {SETTING} = '{}'", ident(database), value.replace('\'', "''"))
            }
            None => format!("ALTER DATABASE {} RESET {SETTING}", ident(database)),
        };
        client.batch_execute(&statement).await.map_err(context(format!("unfreezing {database}")))?;
    }
    super::work::remove_record(&path)
}

/// Forgets the freeze once the source is retired.
///
/// # Errors
/// When the record cannot be removed.
pub(crate) fn forget(work_dir: &Path) -> Result<(), MigrateError> {
    super::work::remove_record(&record_path(work_dir))
}

fn read_record(path: &Path) -> Result<FreezeRecord, MigrateError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| MigrateError::Io { context: format!("reading {}", path.display()), source })?;
    serde_json::from_str(&text).map_err(|error| MigrateError::Invalid(format!("{}: {error}", path.display())))
}
