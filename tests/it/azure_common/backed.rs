//! The emulator with `--backing local` for tests: real PostgreSQL clusters under a temporary
//! root, stopped when the emulator shuts down (or is dropped by a failing test), and SQL over
//! the gateway with the Azure login form.

use super::{PASSWORD, fast_latencies};
use pgfleet::emulator::backing::BackingOptions;
use pgfleet::emulator::{self, EmulatorOptions, Latencies, RunningEmulator};
use pgfleet::model::Endpoint;
use std::path::Path;
use std::time::Duration;

/// An emulator backed by clusters under `root`.
pub async fn backed_emulator(root: &Path) -> RunningEmulator {
    backed_emulator_with(root, fast_latencies()).await
}

/// [`backed_emulator`] with other latencies.
pub async fn backed_emulator_with(root: &Path, latencies: Latencies) -> RunningEmulator {
    let options = EmulatorOptions {
        latencies,
        fault_retry_after: Duration::ZERO,
        backing: Some(BackingOptions { root: root.to_path_buf(), remove_root: false, pg_bindir: None }),
        ..EmulatorOptions::default()
    };
    emulator::start(options).await.expect("the backed emulator starts")
}

/// A SQL session as the admin through the server's host name and the Azure login.
pub async fn connect(endpoint: &Endpoint, database: &str) -> tokio_postgres::Client {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&endpoint.host)
        .port(endpoint.port)
        .user(&endpoint.user)
        .password(PASSWORD)
        .dbname(database)
        .connect_timeout(Duration::from_secs(10));
    let (client, connection) =
        config.connect(tokio_postgres::NoTls).await.expect("the gateway relays the session");
    tokio::spawn(connection);
    client
}

/// Each table's row count and content checksum (md5 of the rows in key order), computed here,
/// apart from the migration's own verification.
pub async fn checksums(client: &tokio_postgres::Client) -> Vec<(String, i64, String)> {
    let tables = client
        .query(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
             WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let mut sums = Vec::new();
    for row in tables {
        let table: String = row.get(0);
        let sql = format!(
            "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        );
        let sum = client.query_one(&sql, &[]).await.unwrap();
        sums.push((table, sum.get(0), sum.get(1)));
    }
    sums
}

/// Whether any cluster under `root` still has a postmaster.
pub fn running_clusters(root: &Path) -> Vec<String> {
    let mut running = Vec::new();
    for fleet in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for server in std::fs::read_dir(fleet.path()).into_iter().flatten().flatten() {
            if server.path().join("data/postmaster.pid").is_file() {
                running.push(server.path().display().to_string());
            }
        }
    }
    running
}
