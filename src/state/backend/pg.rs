//! The pg backend: a fleet's state in a PostgreSQL database, as Terraform's pg backend keeps
//! it. In the configured schema (created when missing): `states` holds one row per fleet (its
//! lineage, serial and document), `backups` the previous document, `journal` the journal as rows
//! (one per append, keyed by its byte offset), `locks` who holds each fleet's lock.
//!
//! The lock is a session-level `pg_advisory_lock` on the connection this process keeps open: a
//! holder that dies ends its session, which frees the lock at once. A write updates the state
//! row only where it still has the lineage and serial that were read (in one transaction with
//! the backup), and an append inserts its row only at the journal's current end and only while
//! the state is still the one the journal continues, so two writers never interleave.

use super::bridge::Bridge;
use super::{Acquired, Backend, LockGuard, Names, PgConfig, Stored, backend_error};
use crate::state::StateError;
use crate::state::journal::JournalBase;
use crate::state::lock::{Attempt, LockHolder, LockStatus, LockWait, Polling, acquire_with};
use sha2::{Digest, Sha256};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Client;

/// The connection and the names of one state's rows.
pub(crate) struct PgBackend {
    bridge: Arc<Bridge>,
    client: Arc<Client>,
    /// The fleet: the rows' key.
    name: String,
    /// The quoted schema (`"pgfleet_state"`).
    schema: String,
    /// The advisory lock's two keys, derived from the schema and the fleet.
    keys: (i32, i32),
    names: Names,
    /// The journal's length as last read or appended to (`None`: there was none).
    journal: Option<u64>,
    /// The journal as last read, to cut a torn end off when resuming.
    journal_read: Option<Vec<u8>>,
    /// The lineage and serial the journal continues, checked by every append.
    journal_base: Option<JournalBase>,
    /// The state as last read or written: it becomes the backup at the next write.
    current: Option<String>,
    /// Whether this process holds the lock (its session must stay up for it to hold).
    locked: bool,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend").field("state", &self.names.state).finish_non_exhaustive()
    }
}

/// The lock this process holds: released (and its holder row removed) on drop. Its session is
/// the backend's connection, which lives as long as either of them.
struct AdvisoryLock {
    bridge: Arc<Bridge>,
    client: Arc<Client>,
    release: String,
    name: String,
    keys: (i32, i32),
}

impl std::fmt::Debug for AdvisoryLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvisoryLock").field("name", &self.name).finish_non_exhaustive()
    }
}

impl LockGuard for AdvisoryLock {}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        let (client, release, name, keys) =
            (self.client.clone(), self.release.clone(), self.name.clone(), self.keys);
        // Best effort: a session that is gone has released the lock already.
        let _ = self.bridge.run(async move {
            client.execute(&release, &[&name]).await?;
            client.execute("SELECT pg_advisory_unlock($1, $2)", &[&keys.0, &keys.1]).await
        });
    }
}

impl PgBackend {
    /// Connects as `config.conn_str` says and creates the schema and tables when missing.
    ///
    /// # Errors
    /// [`StateError::Settings`] for a malformed connection string; [`StateError::Backend`] when
    /// the server cannot be reached, refuses the login or the tables cannot be created.
    pub(crate) fn connect(config: &PgConfig) -> Result<PgBackend, StateError> {
        let parsed = tokio_postgres::Config::from_str(config.conn_str.expose()).map_err(|error| {
            StateError::Settings {
                message: format!("[state.pg] conn_str is not a libpq connection string or URI: {error}"),
            }
        })?;
        let server = describe_server(&parsed);
        let schema = format!("\"{}\"", config.schema);
        let names = Names {
            state: format!("row {:?} of {}.states on {server}", config.name, config.schema),
            journal: format!("rows {:?} of {}.journal on {server}", config.name, config.schema),
            backup: format!("row {:?} of {}.backups on {server}", config.name, config.schema),
            restore: format!(
                "run in the state database: INSERT INTO {schema}.states (name, lineage, serial, document) SELECT name, \
                 lineage, serial, document FROM {schema}.backups WHERE name = '{}'",
                config.name.replace('\'', "''")
            ),
        };
        let bridge = Bridge::new().map_err(|error| StateError::Settings {
            message: format!("could not start the state's runtime: {error}"),
        })?;
        let connect_target = names.state.clone();
        let setup = setup_sql(&schema);
        let client = bridge.run(async move {
            let tls = tls_connector();
            let (client, connection) = parsed.connect(tls).await.map_err(|error| {
                backend_error(
                    "connect to the state database for",
                    connect_target.clone(),
                    error.to_string(),
                    true,
                )
            })?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "the state database's connection ended");
                }
            });
            client.batch_execute(&setup).await.map_err(|error| {
                backend_error("create the tables of", connect_target, describe_pg(&error), false)
            })?;
            Ok::<_, StateError>(client)
        })?;
        let digest = Sha256::digest(format!("{}\0{}", config.schema, config.name));
        let key = |at: usize| {
            i32::from_be_bytes([digest[at], digest[at + 1], digest[at + 2], digest[at + 3]]) & i32::MAX
        };
        Ok(PgBackend {
            bridge: Arc::new(bridge),
            client: Arc::new(client),
            name: config.name.clone(),
            schema,
            keys: (key(0), key(4)),
            names,
            journal: None,
            journal_read: None,
            journal_base: None,
            current: None,
            locked: false,
        })
    }

    /// Runs `work` with the connection; `action` names a failure.
    fn with_client<T, F, Fut>(&self, action: &str, work: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>> + Send + 'static,
    {
        let future = work(self.client.clone());
        self.bridge.run(future).map_err(|error| self.error(action, &error))
    }

    fn error(&self, action: &str, error: &tokio_postgres::Error) -> StateError {
        if self.locked && self.client.is_closed() {
            return StateError::LockLost {
                state: self.names.state.clone(),
                reason: "the session that held its advisory lock ended".into(),
            };
        }
        backend_error(action, self.names.state.clone(), describe_pg(error), error.as_db_error().is_none())
    }

    fn table(&self, table: &str) -> String {
        format!("{}.{table}", self.schema)
    }

    /// The holder the lock row names.
    fn holder(&self) -> Result<Option<LockHolder>, StateError> {
        let sql = format!("SELECT holder FROM {} WHERE name = $1", self.table("locks"));
        let name = self.name.clone();
        let row = self.with_client("read the holder of the lock of", move |client| async move {
            client.query_opt(&sql, &[&name]).await
        })?;
        Ok(row.and_then(|row| serde_json::from_str(&row.get::<_, String>(0)).ok()))
    }

    /// The backend process holding the advisory lock, if any.
    fn holding_backend(&self) -> Result<Option<i32>, StateError> {
        let keys = (i64::from(self.keys.0), i64::from(self.keys.1));
        let row = self.with_client("inspect the lock of", move |client| async move {
            client
                .query_opt(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 \
                     AND classid::int8 = $1 AND objid::int8 = $2 \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    &[&keys.0, &keys.1],
                )
                .await
        })?;
        Ok(row.map(|row| row.get(0)))
    }

    fn attempt(&self, command: &str) -> Result<Attempt<AdvisoryLock>, StateError> {
        let keys = self.keys;
        let taken = self.with_client("lock", move |client| async move {
            client.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&keys.0, &keys.1]).await
        })?;
        if !taken.get::<_, bool>(0) {
            return Ok(Attempt::Held(self.holder()?));
        }
        let previous = self.holder()?;
        let holder = serde_json::to_string(&LockHolder::current(command)).expect("a holder is always JSON");
        let sql = format!(
            "INSERT INTO {} (name, holder) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET holder = $2",
            self.table("locks")
        );
        let name = self.name.clone();
        self.with_client("record the holder of the lock of", move |client| async move {
            client.execute(&sql, &[&name, &holder]).await
        })?;
        let lock = AdvisoryLock {
            bridge: self.bridge.clone(),
            client: self.client.clone(),
            release: format!("DELETE FROM {} WHERE name = $1", self.table("locks")),
            name: self.name.clone(),
            keys,
        };
        Ok(Attempt::Taken(lock, previous))
    }

    /// Writes the journal anew with `bytes` (its header and whatever follows).
    fn new_journal(&mut self, bytes: &[u8], base: Option<JournalBase>) -> Result<(), StateError> {
        let text = String::from_utf8(bytes.to_vec()).expect("journal lines are JSON");
        let delete = format!("DELETE FROM {} WHERE name = $1", self.table("journal"));
        let insert =
            format!("INSERT INTO {} (name, position, lines) VALUES ($1, 0, $2)", self.table("journal"));
        let name = self.name.clone();
        self.with_client("create the journal of", move |client| async move {
            client.batch_execute("BEGIN").await?;
            let result = async {
                client.execute(&delete, &[&name]).await?;
                client.execute(&insert, &[&name, &text]).await
            }
            .await;
            client.batch_execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" }).await?;
            result
        })?;
        self.journal = Some(bytes.len() as u64);
        if base.is_some() {
            self.journal_base = base;
        }
        Ok(())
    }
}

impl Backend for PgBackend {
    fn names(&self) -> &Names {
        &self.names
    }

    fn lock(&mut self, command: &str, wait: LockWait<'_>) -> Result<Acquired, StateError> {
        let polling =
            Polling { first: Duration::from_millis(50), max: Duration::from_millis(500), expiry: None };
        let (lock, previous) =
            acquire_with(&self.names.state.clone(), wait, polling, || self.attempt(command))?;
        self.locked = true;
        Ok(Acquired { guard: Box::new(lock), previous })
    }

    fn lock_status(&mut self) -> Result<LockStatus, StateError> {
        let holder = self.holder()?;
        Ok(match (self.holding_backend()?, holder) {
            (Some(_), holder) => LockStatus::Held(holder),
            (None, Some(holder)) => LockStatus::Abandoned(Some(holder)),
            (None, None) => LockStatus::Free,
        })
    }

    fn force_unlock(&mut self) -> Result<Option<LockHolder>, StateError> {
        let holder = self.holder()?;
        if let Some(pid) = self.holding_backend()? {
            self.with_client("end the session holding the lock of", move |client| async move {
                client.execute("SELECT pg_terminate_backend($1)", &[&pid]).await
            })?;
        }
        let sql = format!("DELETE FROM {} WHERE name = $1", self.table("locks"));
        let name = self.name.clone();
        self.with_client("remove the holder of the lock of", move |client| async move {
            client.execute(&sql, &[&name]).await
        })?;
        Ok(holder)
    }

    fn read(&mut self) -> Result<Stored, StateError> {
        let state_sql = format!("SELECT document FROM {} WHERE name = $1", self.table("states"));
        let journal_sql =
            format!("SELECT lines FROM {} WHERE name = $1 ORDER BY position", self.table("journal"));
        let backup_sql = format!("SELECT 1 FROM {} WHERE name = $1", self.table("backups"));
        let name = self.name.clone();
        let (state, journal, backup_exists) = self.with_client("read", move |client| async move {
            // One snapshot for the three reads.
            client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
            let state: Option<String> = client.query_opt(&state_sql, &[&name]).await?.map(|row| row.get(0));
            let rows = client.query(&journal_sql, &[&name]).await?;
            let backup = client.query_opt(&backup_sql, &[&name]).await?.is_some();
            client.batch_execute("COMMIT").await?;
            let journal: Option<String> =
                (!rows.is_empty()).then(|| rows.iter().map(|row| row.get::<_, String>(0)).collect());
            Ok((state, journal, backup))
        })?;
        self.journal = journal.as_ref().map(|text| text.len() as u64);
        self.journal_read = journal.as_ref().map(|text| text.clone().into_bytes());
        self.current = state.clone();
        self.journal_base = None;
        Ok(Stored {
            backup_exists: state.is_none() && backup_exists,
            state: state.map(String::into_bytes),
            journal: journal.map(String::into_bytes),
        })
    }

    fn write_state(&mut self, bytes: &[u8], expected: Option<JournalBase>) -> Result<(), StateError> {
        #[derive(serde::Deserialize)]
        struct Version {
            lineage: uuid::Uuid,
            serial: u64,
        }
        let document = String::from_utf8(bytes.to_vec()).expect("a state is JSON");
        let version: Version = serde_json::from_str(&document).expect("the store writes states");
        let (lineage, serial) = (version.lineage.to_string(), version.serial as i64);
        let expected_text = expected.map(|base| (base.lineage.to_string(), base.serial as i64));
        let states = self.table("states");
        let backups = self.table("backups");
        // The state being replaced becomes the backup, in the same transaction.
        let backup = self.current.as_ref().and_then(|current| {
            let version: Version = serde_json::from_str(current).ok()?;
            Some((version.lineage.to_string(), version.serial as i64, current.clone()))
        });
        let name = self.name.clone();
        let written = self.with_client("write", move |client| async move {
            client.batch_execute("BEGIN").await?;
            let result = async {
                let changed = match &expected_text {
                    Some((old_lineage, old_serial)) => {
                        let sql = format!(
                            "UPDATE {states} SET lineage = $2, serial = $3, document = $4, updated_at = now() \
                             WHERE name = $1 AND lineage = $5 AND serial = $6"
                        );
                        client.execute(&sql, &[&name, &lineage, &serial, &document, old_lineage, old_serial]).await?
                    }
                    None => {
                        let sql = format!(
                            "INSERT INTO {states} (name, lineage, serial, document) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (name) DO NOTHING"
                        );
                        client.execute(&sql, &[&name, &lineage, &serial, &document]).await?
                    }
                };
                if let (1, Some((old_lineage, old_serial, old_document))) = (changed, &backup) {
                    let sql = format!(
                        "INSERT INTO {backups} (name, lineage, serial, document) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (name) DO UPDATE SET lineage = excluded.lineage, serial = excluded.serial, \
                         document = excluded.document"
                    );
                    client.execute(&sql, &[&name, old_lineage, old_serial, old_document]).await?;
                }
                Ok::<_, tokio_postgres::Error>(changed == 1)
            }
            .await;
            let commit = matches!(result, Ok(true));
            client.batch_execute(if commit { "COMMIT" } else { "ROLLBACK" }).await?;
            result
        })?;
        if !written {
            let sql = format!("SELECT lineage, serial FROM {} WHERE name = $1", self.table("states"));
            let name = self.name.clone();
            let found = self
                .with_client("read", move |client| async move { client.query_opt(&sql, &[&name]).await })
                .ok()
                .flatten()
                .and_then(|row| {
                    let lineage = uuid::Uuid::parse_str(&row.get::<_, String>(0)).ok()?;
                    Some((lineage, row.get::<_, i64>(1) as u64))
                });
            return Err(StateError::Conflict {
                state: self.names.state.clone(),
                expected: expected.map(|base| (base.lineage, base.serial)),
                found,
            });
        }
        self.current = Some(String::from_utf8(bytes.to_vec()).expect("a state is JSON"));
        self.journal_base = Some(JournalBase { lineage: version.lineage, serial: version.serial });
        Ok(())
    }

    fn create_journal(&mut self, header: &[u8]) -> Result<(), StateError> {
        #[derive(serde::Deserialize)]
        struct Header {
            journal_of: JournalBase,
        }
        let base = serde_json::from_slice::<Header>(header).ok().map(|header| header.journal_of);
        self.new_journal(header, base)
    }

    fn resume_journal(&mut self, valid_len: u64) -> Result<(), StateError> {
        let journal = self.journal_read.clone().unwrap_or_default();
        if let Some(first) = journal.split(|&byte| byte == b'\n').next() {
            #[derive(serde::Deserialize)]
            struct Header {
                journal_of: JournalBase,
            }
            self.journal_base = serde_json::from_slice::<Header>(first).ok().map(|header| header.journal_of);
        }
        if self.journal == Some(valid_len) {
            return Ok(());
        }
        let valid = journal.get(..valid_len as usize).unwrap_or(&journal).to_vec();
        self.new_journal(&valid, None)
    }

    fn append_journal(&mut self, lines: &[u8]) -> Result<(), StateError> {
        let position = self.journal.expect("the store opens the journal before appending") as i64;
        let base = self.journal_base.expect("an open journal continues a state");
        let text = String::from_utf8(lines.to_vec()).expect("journal lines are JSON");
        let sql = format!(
            "INSERT INTO {} (name, position, lines) SELECT $1, $2, $3 WHERE EXISTS \
             (SELECT 1 FROM {} WHERE name = $1 AND lineage = $4 AND serial = $5) \
             AND $2 = (SELECT coalesce(sum(octet_length(lines)), 0) FROM {} WHERE name = $1) \
             ON CONFLICT DO NOTHING",
            self.table("journal"),
            self.table("states"),
            self.table("journal")
        );
        let (name, lineage, serial) = (self.name.clone(), base.lineage.to_string(), base.serial as i64);
        let inserted = self.with_client("append to the journal of", move |client| async move {
            client.execute(&sql, &[&name, &position, &text, &lineage, &serial]).await
        })?;
        if inserted != 1 {
            return Err(StateError::JournalConflict { journal: self.names.journal.clone() });
        }
        self.journal = Some(position as u64 + lines.len() as u64);
        Ok(())
    }

    fn journal_len(&self) -> u64 {
        self.journal.unwrap_or(0)
    }

    fn remove_journal(&mut self) -> Result<(), StateError> {
        let sql = format!("DELETE FROM {} WHERE name = $1", self.table("journal"));
        let name = self.name.clone();
        self.with_client("remove the journal of", move |client| async move {
            client.execute(&sql, &[&name]).await
        })?;
        self.journal = None;
        Ok(())
    }
}

/// The schema and tables, created when missing. Two processes creating them at once would race
/// on the catalog, so the creation holds a transaction-level advisory lock.
fn setup_sql(schema: &str) -> String {
    format!(
        "BEGIN;
         SELECT pg_advisory_xact_lock(hashtext('pgfleet state tables'));
         CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.states (
             name text PRIMARY KEY, lineage text NOT NULL, serial bigint NOT NULL, document text NOT NULL,
             updated_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE IF NOT EXISTS {schema}.backups (
             name text PRIMARY KEY, lineage text NOT NULL, serial bigint NOT NULL, document text NOT NULL);
         CREATE TABLE IF NOT EXISTS {schema}.journal (
             name text NOT NULL, position bigint NOT NULL, lines text NOT NULL, PRIMARY KEY (name, position));
         CREATE TABLE IF NOT EXISTS {schema}.locks (name text PRIMARY KEY, holder text NOT NULL);
         COMMIT;"
    )
}

/// TLS as the connection string's `sslmode` asks (libpq's default, `prefer`, uses it when the
/// server offers it), verifying certificates against Mozilla's roots.
fn tls_connector() -> tokio_postgres_rustls::MakeRustlsConnect {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

/// `host:port/database` of a connection string, without its user or password.
fn describe_server(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().or(config.get_user()).unwrap_or("postgres");
    format!("{host}:{port}/{database}")
}

/// A PostgreSQL error with the server's message when there is one.
fn describe_pg(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}
