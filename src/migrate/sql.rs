//! SQL sessions for the migration (as the admin, able to write even while the source is frozen),
//! the list of databases a migration copies, and identifier quoting. Must not: change data.

use super::MigrateError;
use super::tls::SessionTls;
use crate::providers::Connection;
use std::time::Duration;

/// How long one connection attempt may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to one database of a server as its admin.
///
/// # Errors
/// `MigrateError::Sql` when the connection fails.
pub async fn connect(server: &Connection, database: &str) -> Result<tokio_postgres::Client, MigrateError> {
    // Read the environment and the trusted roots once per process, not once per session.
    static FROM_ENV: std::sync::OnceLock<Result<SessionTls, String>> = std::sync::OnceLock::new();
    let tls = FROM_ENV.get_or_init(|| SessionTls::from_env().map_err(|error| error.to_string()));
    let tls = tls.as_ref().map_err(|error| MigrateError::Invalid(error.clone()))?;
    connect_with(server, database, tls).await
}

/// Connects to one database of a server as its admin, with TLS as `tls` says.
///
/// # Errors
/// `MigrateError::Sql` when the connection fails.
pub async fn connect_with(
    server: &Connection,
    database: &str,
    tls: &SessionTls,
) -> Result<tokio_postgres::Client, MigrateError> {
    let endpoint = &server.endpoint;
    let mut config = tokio_postgres::Config::new();
    config
        .host(&endpoint.host)
        .port(endpoint.port)
        .user(&endpoint.user)
        .password(server.password.expose().as_str())
        .dbname(database)
        .ssl_mode(tls.mode_for(&endpoint.host))
        .connect_timeout(CONNECT_TIMEOUT);
    let context = || format!("connecting to {} database {database}", endpoint.uri());
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tls.connector.clone()))
        .await
        .map_err(|_| MigrateError::Invalid(format!("{} timed out", context())))?
        .map_err(|source| MigrateError::Sql { context: context(), source })?;
    tokio::spawn(connection);
    // The migration's own sessions write even while the source's databases default to
    // read-only (the freeze), so they can undo it.
    client
        .batch_execute("SET default_transaction_read_only = off")
        .await
        .map_err(|source| MigrateError::Sql { context: context(), source })?;
    Ok(client)
}

/// A closure turning a driver error into a `MigrateError` with context.
pub(crate) fn context(text: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> MigrateError {
    let context = text.into();
    move |source| MigrateError::Sql { context, source }
}

/// Quotes an identifier for SQL.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The databases a migration copies: every database that accepts connections, except
/// templates and the service's own (`azure_*`).
///
/// # Errors
/// When the list cannot be read.
pub(crate) async fn user_databases(client: &tokio_postgres::Client) -> Result<Vec<String>, MigrateError> {
    let rows = client
        .query(
            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate \
             AND datname NOT LIKE 'azure\\_%' ORDER BY datname",
            &[],
        )
        .await
        .map_err(context("listing databases"))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(super::ident("pay"), "\"pay\"");
        assert_eq!(super::ident("we\"ird"), "\"we\"\"ird\"");
    }
}
