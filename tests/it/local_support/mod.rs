//! Shared harness of the real-PostgreSQL tests: a temporary root per test, a provider over it,
//! and a guard that stops every cluster under the root whatever happens.

#![allow(dead_code)]

use pgfleet::model::{ServerName, ServerSpec};
use pgfleet::providers::local::{LocalProvider, LocalProviderOptions, ProviderEvent, find_pg_bindir};
use pgfleet::providers::{CreateRequest, Provider};
use pgfleet::rules::{PgVersion, Tier, TlsVersion};
use pgfleet::secret::Redacted;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

pub const PASSWORD: &str = "Local-Test-Password-1";

/// A temporary root with a provider; dropping it stops every cluster under the root.
pub struct Harness {
    pub provider: LocalProvider,
    pub events: UnboundedReceiver<ProviderEvent>,
    pub root: PathBuf,
    pub port_base: u16,
    bindir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub fn new(port_base: u16) -> Harness {
        let dir = tempfile::tempdir().expect("temporary root");
        let root = dir.path().to_path_buf();
        let bindir = find_pg_bindir().expect("PostgreSQL binaries");
        let (sender, events) = tokio::sync::mpsc::unbounded_channel();
        let provider =
            LocalProvider::new(options(&root, port_base, Some(sender), &bindir)).expect("provider");
        Harness { provider, events, root, port_base, bindir, _dir: dir }
    }

    /// A second provider over the same root, as a new pgfleet process would build it.
    pub fn reopen(&self) -> LocalProvider {
        LocalProvider::new(options(&self.root, self.port_base, None, &self.bindir)).expect("provider")
    }

    pub fn drain_events(&mut self) -> Vec<ProviderEvent> {
        let mut events = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            events.push(event);
        }
        events
    }

    pub async fn create(&self, name: &str, spec: ServerSpec) -> pgfleet::model::ObservedServer {
        let admin_password = spec.replica_of.is_none().then(|| Redacted::new(PASSWORD.to_string()));
        self.provider
            .create(CreateRequest { name: name.into(), spec, admin_password })
            .await
            .unwrap_or_else(|error| panic!("create {name}: {error}"))
    }

    /// Stops every cluster, as a reboot of the machine would.
    pub fn stop_all(&self) {
        LocalProvider::stop_all_blocking(&self.root, &self.bindir);
    }

    pub fn server_dir(&self, name: &str) -> PathBuf {
        self.provider.server_dir(&ServerName::from(name))
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        LocalProvider::stop_all_blocking(&self.root, &self.bindir);
    }
}

fn options(
    root: &std::path::Path,
    port_base: u16,
    events: Option<tokio::sync::mpsc::UnboundedSender<ProviderEvent>>,
    bindir: &std::path::Path,
) -> LocalProviderOptions {
    LocalProviderOptions {
        root: root.to_path_buf(),
        port_base,
        fleet: "testfleet".into(),
        passwords: [].into(),
        events,
        pg_bindir: Some(bindir.to_path_buf()),
    }
}

pub fn spec(tier: Tier, vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec {
        ssl_enforcement: false,
        minimal_tls_version: TlsVersion::EnforcementDisabled,
        ..ServerSpec::new(tier, vcores, storage_gb, PgVersion::V11, "fleetadmin", "local")
    }
}

pub fn replica(primary: &str, vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec { replica_of: Some(primary.into()), ..spec(Tier::GeneralPurpose, vcores, storage_gb) }
}

/// A connection as the admin.
pub async fn admin(port: u16) -> tokio_postgres::Client {
    admin_to(port, "postgres").await
}

pub async fn admin_to(port: u16, database: &str) -> tokio_postgres::Client {
    let mut config = tokio_postgres::Config::new();
    config.host("127.0.0.1").port(port).user("fleetadmin").password(PASSWORD).dbname(database);
    config.connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.expect("admin connection");
    tokio::spawn(connection);
    client
}

pub async fn show(port: u16, setting: &str) -> String {
    admin(port).await.query_one(&format!("SHOW {setting}"), &[]).await.unwrap().get(0)
}

/// Waits (30 s at most) until the primary streams to `replicas` standbys and each of them
/// reports a streaming WAL receiver; returns whether it happened.
pub async fn wait_streaming(primary_port: u16, replica_ports: &[u16]) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if streaming(primary_port, replica_ports).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

async fn streaming(primary_port: u16, replica_ports: &[u16]) -> bool {
    let primary = admin(primary_port).await;
    let senders: i64 = primary
        .query_one("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", &[])
        .await
        .unwrap()
        .get(0);
    if senders as usize != replica_ports.len() {
        return false;
    }
    for port in replica_ports {
        let rows = admin(*port).await.query("SELECT status FROM pg_stat_wal_receiver", &[]).await.unwrap();
        if rows.first().map(|row| row.get::<_, String>(0)).as_deref() != Some("streaming") {
            return false;
        }
    }
    true
}

/// A connection as another role; panics when it is refused.
pub async fn admin_as(port: u16, user: &str, password: &str) -> tokio_postgres::Client {
    let mut config = tokio_postgres::Config::new();
    config.host("127.0.0.1").port(port).user(user).password(password).dbname("postgres");
    let (client, connection) =
        config.connect(tokio_postgres::NoTls).await.expect("connection as another role");
    tokio::spawn(connection);
    client
}
