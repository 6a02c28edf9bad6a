//! The Azure path end to end against real databases: the ARM emulator with `--backing local`
//! (each server a PostgreSQL cluster behind its own loopback address, port 5432, Azure login
//! form), driven through the `azure` provider and the executor. A Basic server with data is
//! migrated to General Purpose (dump, restore, verify, cutover) and keeps every row, by
//! checksums computed here. Deleting a primary leaves its replica a writable standalone server.

use crate::azure_common;

use azure_common::backed::{backed_emulator, checksums, connect, running_clusters};
use azure_common::converge::converge_with;
use azure_common::*;
use pgfleet::emulator::gateway::INVALID_USERNAME;
use pgfleet::exec::PhasedMigrator;
use pgfleet::model::{ServerName, ServerStatus};
use pgfleet::providers::Provider;
use pgfleet::providers::azure::AzureProvider;
use pgfleet::rules::Tier;
use pgfleet::secret::Redacted;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn fleet_toml(endpoint: &str, tier: &str, vcores: u32) -> String {
    fleet_toml_geo(endpoint, tier, vcores, false)
}

fn fleet_toml_geo(endpoint: &str, tier: &str, vcores: u32, geo: bool) -> String {
    format!(
        "[fleet]\nname = \"backed\"\n[provider]\nkind = \"azure\"\n[provider.azure]\n\
         subscription_id = \"{SUBSCRIPTION}\"\nresource_group = \"{GROUP}\"\nlocation = \"westeurope\"\n\
         endpoint = \"{endpoint}\"\n[defaults]\nversion = \"11\"\nadmin_login = \"fleetadmin\"\n\
         admin_password = {{ file = \"password\" }}\nstorage_gb = 20\n\
         [servers.shop-db]\ntier = \"{tier}\"\nvcores = {vcores}\ngeo_redundant_backup = {geo}\n"
    )
}

fn slow_provider(emulator: &pgfleet::emulator::RunningEmulator, names: &[&str]) -> AzureProvider {
    let mut options = provider_options(emulator, names);
    // Clusters take seconds to build on a busy machine; polls stay fast.
    options.polling.timeout = Duration::from_secs(300);
    AzureProvider::new(options).unwrap()
}

async fn fill(client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, total numeric(12,2), placed timestamptz);\n\
             INSERT INTO orders SELECT g, 'customer ' || (g % 97), (g * 7 % 1000) / 3.0, \
               timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 20000) g;\n\
             CREATE TABLE notes (id serial PRIMARY KEY, body text);\n\
             INSERT INTO notes (body) SELECT repeat(md5(g::text), 3) FROM generate_series(1, 500) g;\n\
             CREATE ROLE reporting NOLOGIN; GRANT SELECT ON orders TO reporting;",
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basic_to_general_purpose_migration_keeps_every_row() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("password"), PASSWORD).unwrap();
    let root = directory.path().join("clusters");
    let emulator = backed_emulator(&root).await;
    let provider: Arc<dyn Provider> = Arc::new(slow_provider(&emulator, &["shop-db"]));
    let path = directory.path().join("fleet.toml");
    let mut state = pgfleet::state::State::new("backed");
    let passwords = BTreeMap::from([(ServerName::new("shop-db"), Redacted::new(PASSWORD.to_string()))]);
    let migrator = Arc::new(PhasedMigrator::dump_restore(directory.path().join("work"), passwords, None));

    std::fs::write(&path, fleet_toml(&emulator.base_url(), "Basic", 1)).unwrap();
    let (desired, _) = pgfleet::config::parse(&path, &std::fs::read(&path).unwrap()).unwrap();
    let created =
        converge_with(provider.clone(), &desired, &mut state, PASSWORD, migrator.clone()).await.unwrap();
    assert_eq!(created.applies, 1, "{:?}", created.errors);

    let live = retrying(provider.clone()).refresh().await.unwrap();
    let source = live[&ServerName::new("shop-db")].endpoint.clone().unwrap();
    // The host name is the server's own loopback address, port 5432, as on Azure.
    assert_eq!(source.port, 5432);
    let address: std::net::Ipv4Addr = source.host.parse().expect("an address for a host name");
    assert!(address.is_loopback() && address != std::net::Ipv4Addr::LOCALHOST, "{address}");
    assert_eq!(source.user, "fleetadmin@shop-db");
    let admin = connect(&source, "postgres").await;
    admin.batch_execute("CREATE DATABASE shop").await.unwrap();
    let shop = connect(&source, "shop").await;
    fill(&shop).await;
    let before = checksums(&shop).await;
    assert_eq!(before.iter().map(|(_, rows, _)| rows).sum::<i64>(), 20_500);
    drop((admin, shop));

    // The gateway takes only the Azure login form.
    let plain = pgfleet::model::Endpoint { user: "fleetadmin".into(), ..source.clone() };
    let mut config = tokio_postgres::Config::new();
    config.host(&plain.host).port(5432).user(&plain.user).password(PASSWORD).dbname("postgres");
    let refused = config.connect(tokio_postgres::NoTls).await.err().expect("a plain login is refused");
    assert_eq!(refused.as_db_error().map(|e| e.message()), Some(INVALID_USERNAME));

    std::fs::write(&path, fleet_toml(&emulator.base_url(), "GeneralPurpose", 2)).unwrap();
    let (desired, _) = pgfleet::config::parse(&path, &std::fs::read(&path).unwrap()).unwrap();
    let started = std::time::Instant::now();
    let migrated = converge_with(provider.clone(), &desired, &mut state, PASSWORD, migrator).await.unwrap();
    eprintln!(
        "Basic → GeneralPurpose migration: {:.1}s, {} apply",
        started.elapsed().as_secs_f64(),
        migrated.applies
    );
    assert_eq!(migrated.applies, 1, "{:?}", migrated.errors);

    let live = retrying(provider.clone()).refresh().await.unwrap();
    let server = &live[&ServerName::new("shop-db")];
    assert_eq!(
        (server.spec.tier, server.spec.vcores, server.status),
        (Tier::GeneralPurpose, 2, ServerStatus::Ready)
    );
    let target = server.endpoint.clone().unwrap();
    assert_ne!(target.host, source.host, "the migrated server has a new host name");
    assert_eq!(target.user, "fleetadmin@shop-db-migration");
    let shop = connect(&target, "shop").await;
    assert_eq!(checksums(&shop).await, before, "every row, byte for byte");
    // The copy is writable (the freeze of the source does not follow it) and keeps its role.
    shop.batch_execute("INSERT INTO orders VALUES (20001, 'after', 1, now())").await.unwrap();
    let roles = shop.query("SELECT 1 FROM pg_roles WHERE rolname = 'reporting'", &[]).await.unwrap();
    assert_eq!(roles.len(), 1);
    drop(shop);
    // The Basic server is retired: its cluster is gone and its address no longer answers.
    assert!(!root.join("emulator/shop-db").exists());
    let old = tokio::net::TcpStream::connect((source.host.as_str(), 5432)).await;
    assert!(old.is_err(), "the retired server's gateway is closed");

    // A second migration of the same server (geo-redundant backups are chosen at creation):
    // its staging server cannot take the Azure name the server now lives under, so it gets
    // another, and the server keeps its fleet name and every row again.
    let shop = connect(&target, "shop").await;
    let before = checksums(&shop).await;
    drop(shop);
    std::fs::write(&path, fleet_toml_geo(&emulator.base_url(), "GeneralPurpose", 2, true)).unwrap();
    let (desired, _) = pgfleet::config::parse(&path, &std::fs::read(&path).unwrap()).unwrap();
    let migrator = Arc::new(PhasedMigrator::dump_restore(
        directory.path().join("work"),
        BTreeMap::from([(ServerName::new("shop-db"), Redacted::new(PASSWORD.to_string()))]),
        None,
    ));
    let again = converge_with(provider.clone(), &desired, &mut state, PASSWORD, migrator).await.unwrap();
    assert_eq!(again.applies, 1, "{:?}", again.errors);
    let live = retrying(provider.clone()).refresh().await.unwrap();
    assert_eq!(live.keys().map(ServerName::as_str).collect::<Vec<_>>(), ["shop-db"]);
    let server = &live[&ServerName::new("shop-db")];
    assert!(server.spec.geo_redundant_backup && server.status == ServerStatus::Ready, "{server:?}");
    let second = server.endpoint.clone().unwrap();
    assert_eq!(second.user, "fleetadmin@shop-db-migration-2");
    let shop = connect(&second, "shop").await;
    assert_eq!(checksums(&shop).await, before, "every row again, the one written after the first included");
    drop(shop);
    assert!(!root.join("emulator/shop-db-migration").exists(), "the first copy is retired");

    emulator.shutdown().await;
    assert_eq!(running_clusters(&root), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_primary_leaves_its_replica_a_writable_standalone_cluster() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path().join("clusters");
    let emulator = backed_emulator(&root).await;
    let provider = retrying(Arc::new(slow_provider(&emulator, &["ledger-main"])));
    let main = ServerName::new("ledger-main");
    let replica_name = ServerName::new("ledger-ro");
    provider.create(primary("ledger-main", Tier::GeneralPurpose, 2)).await.unwrap();
    provider.set_parameter(&main, "azure.replication_support", "REPLICA").await.unwrap();
    provider.restart(&main).await.unwrap();
    let endpoint = provider.connection(&main).await.unwrap().endpoint;
    connect(&endpoint, "postgres")
        .await
        .batch_execute("CREATE TABLE entries AS SELECT 1 AS id")
        .await
        .unwrap();
    provider.create(replica("ledger-ro", "ledger-main", 2)).await.unwrap();
    let replica_endpoint = provider.connection(&replica_name).await.unwrap().endpoint;
    let read_only = connect(&replica_endpoint, "postgres").await;
    let recovering: bool = read_only.query_one("SELECT pg_is_in_recovery()", &[]).await.unwrap().get(0);
    assert!(recovering, "a replica's cluster is a standby");
    drop(read_only);

    provider.delete(&main).await.unwrap();
    // The replica restarts as a standalone server; once Ready its cluster takes writes.
    let mut ready = false;
    for _ in 0..600 {
        let live = provider.refresh().await.unwrap();
        if live
            .get(&replica_name)
            .is_some_and(|s| s.status == ServerStatus::Ready && s.spec.replica_of.is_none())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the replica became a Ready standalone server");
    let standalone = connect(&replica_endpoint, "postgres").await;
    let recovering: bool = standalone.query_one("SELECT pg_is_in_recovery()", &[]).await.unwrap().get(0);
    assert!(!recovering, "the former replica's cluster was promoted");
    standalone.batch_execute("INSERT INTO entries VALUES (2)").await.unwrap();
    drop(standalone);
    emulator.shutdown().await;
    assert_eq!(running_clusters(&root), Vec::<String>::new());
}

/// Starts `pgfleet emulator --backing local` (the binary) and returns its base URL.
async fn spawn_emulator(root: &std::path::Path, state: &std::path::Path) -> (String, KillOnDrop) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pgfleet"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--backing", "local", "--backing-root"])
        .arg(root)
        .arg("--state")
        .arg(state)
        .args(["--latency", "create=50ms,update=20ms,restart=20ms,delete=20ms,invisible=20ms"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (base_url, child) = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).unwrap();
        (line.trim().to_string(), child)
    })
    .await
    .unwrap();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");
    (base_url, KillOnDrop { child, root: root.to_path_buf() })
}

/// Ctrl-C to the emulator; it must exit cleanly.
async fn interrupt(child: KillOnDrop) {
    stop_with(child, libc::SIGINT).await;
}

/// Sends `signal` to the emulator, which must exit cleanly.
async fn stop_with(child: KillOnDrop, signal: libc::c_int) {
    // SAFETY: kill(2) on our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(child.child.id() as libc::pid_t, signal) }, 0);
    let status = tokio::task::spawn_blocking(move || {
        let mut child = child;
        child.child.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "{status}");
}

fn cli_provider(base_url: &str) -> AzureProvider {
    let settings = pgfleet::config::AzureSettings {
        subscription_id: SUBSCRIPTION.into(),
        resource_group: GROUP.into(),
        location: "westeurope".into(),
        endpoint: base_url.to_string(),
    };
    let passwords = BTreeMap::from([(ServerName::new("cli-backed"), Redacted::new(PASSWORD.to_string()))]);
    let mut options = pgfleet::providers::azure::AzureProviderOptions::new(settings, "cli", passwords);
    options.credential = Some(pgfleet::providers::azure::Credential::ServicePrincipal(
        pgfleet::providers::azure::ServicePrincipal {
            authority_host: base_url.to_string(),
            tenant_id: "tenant-1".into(),
            client_id: "client-1".into(),
            client_secret: Redacted::new("client-secret".into()),
        },
    ));
    options.polling.interval = Duration::from_millis(20);
    options.polling.timeout = Duration::from_secs(300);
    AzureProvider::new(options).unwrap()
}

/// `pgfleet emulator --backing local` as a user runs it: the first line of stdout is the base
/// URL; a server created through the azure provider answers SQL at its host name; Ctrl-C
/// (SIGINT) stops the emulator and every cluster (SIGTERM too: the test after this one); started again on the same `--backing-root`
/// and `--state`, the server answers again with its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_command_backs_servers_with_clusters_stops_them_on_interrupt_and_resumes() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path().join("clusters");
    let state = directory.path().join("emulator.json");
    let (base_url, child) = spawn_emulator(&root, &state).await;
    let provider = cli_provider(&base_url);
    let name = ServerName::new("cli-backed");
    provider.create(primary("cli-backed", Tier::GeneralPurpose, 2)).await.unwrap();
    let endpoint = provider.connection(&name).await.unwrap().endpoint;
    assert_eq!((endpoint.port, endpoint.user.as_str()), (5432, "fleetadmin@cli-backed"));
    let client = connect(&endpoint, "postgres").await;
    let connections: String = client.query_one("SHOW max_connections", &[]).await.unwrap().get(0);
    assert_eq!(connections, "150", "GP_Gen5_2's max_connections, as on the service");
    client.batch_execute("CREATE TABLE kept AS SELECT 42 AS answer").await.unwrap();
    drop(client);
    assert_eq!(running_clusters(&root).len(), 1);
    assert!(!std::fs::read_to_string(&state).unwrap().contains(PASSWORD), "no password in the state file");

    interrupt(child).await;
    assert_eq!(running_clusters(&root), Vec::<String>::new());
    assert!(tokio::net::TcpStream::connect((endpoint.host.as_str(), 5432)).await.is_err());

    let (base_url, child) = spawn_emulator(&root, &state).await;
    let provider = cli_provider(&base_url);
    let mut resumed = None;
    for _ in 0..600 {
        let live = provider.refresh().await.unwrap();
        if live.get(&name).is_some_and(|server| server.status == ServerStatus::Ready) {
            resumed = live[&name].endpoint.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resumed = resumed.expect("the server is Ready again");
    assert_eq!(resumed.host, endpoint.host, "it keeps its address when it is free");
    let client = connect(&resumed, "postgres").await;
    let answer: i32 = client.query_one("SELECT answer FROM kept", &[]).await.unwrap().get(0);
    assert_eq!(answer, 42);
    drop(client);
    interrupt(child).await;
    assert_eq!(running_clusters(&root), Vec::<String>::new());
}

/// Stops the emulator if the test fails before it does, and then every cluster under its root
/// (which the emulator may have failed to stop: that is what some tests check).
struct KillOnDrop {
    child: std::process::Child,
    root: std::path::PathBuf,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child, not yet reaped.
            let _ = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
            let _ = self.child.wait();
        }
        if let Ok(bindir) = pgfleet::providers::local::find_pg_bindir() {
            pgfleet::providers::local::LocalProvider::stop_all_blocking(&self.root, &bindir);
        }
    }
}

/// On Azure a migrated server lives on under its staging server's name, so its host changes:
/// `pgfleet plan` says so (the address is known once the new server exists, behind the
/// emulator's loopback gateway), and `pgfleet apply` ends with where clients connect now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_through_the_binary_says_where_clients_reconnect() {
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    std::fs::write(dir.join("password"), PASSWORD).unwrap();
    let root = dir.join("clusters");
    let emulator = backed_emulator(&root).await;
    let base = emulator.base_url();
    std::fs::write(dir.join("fleet.toml"), fleet_toml(&base, "Basic", 1)).unwrap();
    assert_exit(&run_pgfleet(dir, &base, &["apply", "--auto-approve"]).await, 0);
    let before = text(&run_pgfleet(dir, &base, &["endpoint", "shop-db"]).await.stdout).trim().to_string();
    assert!(before.starts_with("postgresql://fleetadmin%40shop-db@127."), "{before}");

    std::fs::write(dir.join("fleet.toml"), fleet_toml(&base, "GeneralPurpose", 2)).unwrap();
    let plan = run_pgfleet(dir, &base, &["plan"]).await;
    assert_exit(&plan, 0);
    let said = format!(
        "endpoint: clients reconnect: {before} → the new server shop-db-migration's address, printed when the \
         apply ends"
    );
    assert!(text(&plan.stdout).contains(&said), "{}", text(&plan.stdout));
    let json = run_pgfleet(dir, &base, &["plan", "--json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["changes"][0]["endpoint"]["from"], before.as_str(), "{json:#}");
    assert!(json["changes"][0]["endpoint"].get("to").is_none(), "{json:#}");

    let apply = run_pgfleet(dir, &base, &["apply", "--auto-approve"]).await;
    assert_exit(&apply, 0);
    let after = text(&run_pgfleet(dir, &base, &["endpoint", "shop-db"]).await.stdout).trim().to_string();
    assert!(after.starts_with("postgresql://fleetadmin%40shop-db-migration@127."), "{after}");
    assert_ne!(after, before);
    let told = format!("Where clients connect:\n  servers.shop-db  {after}  (moved; was {before})");
    assert!(text(&apply.stderr).contains(&told), "{}", text(&apply.stderr));

    emulator.shutdown().await;
    assert_eq!(running_clusters(&root), Vec::<String>::new());
}

/// Regression: `pgfleet emulator --backing local` stopped with SIGTERM (as `kill`, service
/// managers and CI runners stop it) exited at once and left its PostgreSQL clusters running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_command_stops_its_clusters_on_sigterm() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path().join("clusters");
    let (base_url, child) = spawn_emulator(&root, &directory.path().join("emulator.json")).await;
    let provider = cli_provider(&base_url);
    provider.create(primary("cli-backed", Tier::GeneralPurpose, 2)).await.unwrap();
    let endpoint = provider.connection(&ServerName::new("cli-backed")).await.unwrap().endpoint;
    connect(&endpoint, "postgres").await.batch_execute("SELECT 1").await.unwrap();
    let clusters = running_clusters(&root);
    assert_eq!(clusters.len(), 1);
    let data = std::path::Path::new(&clusters[0]).join("data");
    assert!(!crate::cli_support::processes_working_in(&data).is_empty(), "the postmaster runs");

    stop_with(child, libc::SIGTERM).await;
    assert_eq!(running_clusters(&root), Vec::<String>::new());
    assert_eq!(crate::cli_support::processes_working_in(&data), Vec::new(), "no postgres is left");
    assert!(tokio::net::TcpStream::connect((endpoint.host.as_str(), 5432)).await.is_err());
}

/// The user's endpoint URL (`pgfleet endpoint`) read back into an endpoint to connect with.
fn endpoint_of(url: &str) -> pgfleet::model::Endpoint {
    let rest = url.strip_prefix("postgresql://").unwrap_or_else(|| panic!("not a URL: {url}"));
    let (user, rest) = rest.rsplit_once('@').unwrap_or_else(|| panic!("no user in {url}"));
    let (host_port, database) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let (host, port) = host_port.rsplit_once(':').unwrap_or_else(|| panic!("no port in {url}"));
    pgfleet::model::Endpoint {
        host: host.to_string(),
        port: port.parse().unwrap(),
        user: user.replace("%40", "@"),
        database: database.split('?').next().unwrap().to_string(),
    }
}

fn legacy_toml(endpoint: &str, flexible: bool) -> String {
    let server = if flexible {
        "service = \"flexible\"\nsku = \"Standard_B2s\"\nstorage_gb = 32\nversion = \"16\"\n"
    } else {
        "service = \"single\"\ntier = \"GeneralPurpose\"\nvcores = 2\nstorage_gb = 20\nversion = \"11\"\n"
    };
    format!(
        "[fleet]\nname = \"legacy\"\n[provider]\nkind = \"azure\"\n[provider.azure]\n\
         subscription_id = \"{SUBSCRIPTION}\"\nresource_group = \"{GROUP}\"\nlocation = \"westeurope\"\n\
         endpoint = \"{endpoint}\"\n[defaults]\nadmin_login = \"fleetadmin\"\n\
         admin_password = {{ file = \"password\" }}\n[servers.shop-db]\n{server}"
    )
}

/// A Single Server moves to Flexible Server through `pgfleet apply` against `pgfleet emulator
/// --backing local`: the plan says the login loses its `@server` and the host changes, the data
/// arrives whole (checksums computed here), and clients log in as the plain user at the new
/// server's address, as on Azure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_server_migrates_to_flexible_server_through_the_binary() {
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    std::fs::write(dir.join("password"), PASSWORD).unwrap();
    let root = dir.join("clusters");
    let emulator = backed_emulator(&root).await;
    let base = emulator.base_url();
    std::fs::write(dir.join("fleet.toml"), legacy_toml(&base, false)).unwrap();
    assert_exit(&run_pgfleet(dir, &base, &["apply", "--auto-approve"]).await, 0);
    let before = text(&run_pgfleet(dir, &base, &["endpoint", "shop-db"]).await.stdout).trim().to_string();
    assert!(before.starts_with("postgresql://fleetadmin%40shop-db@127."), "{before}");
    let source = endpoint_of(&before);
    connect(&source, "postgres").await.batch_execute("CREATE DATABASE shop").await.unwrap();
    let shop = connect(&source, "shop").await;
    fill(&shop).await;
    let sums = checksums(&shop).await;
    drop(shop);

    std::fs::write(dir.join("fleet.toml"), legacy_toml(&base, true)).unwrap();
    let plan = run_pgfleet(dir, &base, &["plan"]).await;
    assert_exit(&plan, 0);
    let said = text(&plan.stdout);
    assert!(said.contains("migrat"), "{said}");
    assert!(said.contains("the user becomes fleetadmin"), "the login change is disclosed:\n{said}");

    let apply = run_pgfleet(dir, &base, &["apply", "--auto-approve"]).await;
    assert_exit(&apply, 0);
    let after = text(&run_pgfleet(dir, &base, &["endpoint", "shop-db"]).await.stdout).trim().to_string();
    assert!(after.starts_with("postgresql://fleetadmin@127."), "a plain login on Flexible Server: {after}");
    assert_ne!(after, before);
    let target = endpoint_of(&after);
    assert_eq!(checksums(&connect(&target, "shop").await).await, sums, "every row arrived");
    let flexible = emulator.requests().iter().any(|r| {
        r.method == "PUT"
            && r.accepted
            && r.path.contains("/flexibleServers/")
            && !r.path.contains("/configurations")
    });
    assert!(flexible, "the new server was created through flexibleServers");
    assert_exit(&run_pgfleet(dir, &base, &["plan", "--detailed-exitcode"]).await, 0);

    emulator.shutdown().await;
    assert_eq!(running_clusters(&root), Vec::<String>::new());
}

fn ha_toml(endpoint: &str, zone: &str, standby: &str) -> String {
    format!(
        "[fleet]\nname = \"ha\"\n[provider]\nkind = \"azure\"\n[provider.azure]\n\
         subscription_id = \"{SUBSCRIPTION}\"\nresource_group = \"{GROUP}\"\nlocation = \"westeurope\"\n\
         endpoint = \"{endpoint}\"\n[defaults]\nadmin_login = \"fleetadmin\"\n\
         admin_password = {{ file = \"password\" }}\n[servers.ha-db]\nservice = \"flexible\"\n\
         sku = \"Standard_D2ds_v5\"\nstorage_gb = 32\nversion = \"16\"\nhigh_availability = \"ZoneRedundant\"\n\
         zone = \"{zone}\"\nstandby_zone = \"{standby}\"\n"
    )
}

/// A flexible server with HA through `pgfleet emulator --backing local`: a real synchronous
/// standby, so a planned failover (the file names the standby's zone) keeps every committed row
/// and the server takes writes again at the same address, with the plain login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flexible_server_with_ha_fails_over_to_its_real_standby() {
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    std::fs::write(dir.join("password"), PASSWORD).unwrap();
    let root = dir.join("clusters");
    let emulator = backed_emulator(&root).await;
    let base = emulator.base_url();
    std::fs::write(dir.join("fleet.toml"), ha_toml(&base, "1", "2")).unwrap();
    assert_exit(&run_pgfleet(dir, &base, &["apply", "--auto-approve"]).await, 0);
    let url = text(&run_pgfleet(dir, &base, &["endpoint", "ha-db"]).await.stdout).trim().to_string();
    assert!(url.starts_with("postgresql://fleetadmin@127."), "{url}");
    let endpoint = endpoint_of(&url);
    let client = connect(&endpoint, "postgres").await;
    client
        .batch_execute(
            "CREATE TABLE ledger (id int PRIMARY KEY); INSERT INTO ledger SELECT generate_series(1, 1000)",
        )
        .await
        .unwrap();
    let standby: Option<String> = client
        .query_one("SELECT sync_state FROM pg_stat_replication LIMIT 1", &[])
        .await
        .ok()
        .map(|r| r.get(0));
    assert_eq!(standby.as_deref(), Some("sync"), "HA is a synchronous standby");
    drop(client);

    std::fs::write(dir.join("fleet.toml"), ha_toml(&base, "2", "1")).unwrap();
    let plan = run_pgfleet(dir, &base, &["plan"]).await;
    assert!(text(&plan.stdout).contains("failover"), "{}", text(&plan.stdout));
    assert_exit(&run_pgfleet(dir, &base, &["apply", "--auto-approve"]).await, 0);
    let failovers = emulator.requests().into_iter().filter(|r| {
        r.method == "POST"
            && r.accepted
            && r.path.ends_with("/restart")
            && r.body.as_ref().is_some_and(|b| b["restartWithFailover"] == true)
    });
    assert_eq!(failovers.count(), 1);
    let after = text(&run_pgfleet(dir, &base, &["endpoint", "ha-db"]).await.stdout).trim().to_string();
    assert_eq!(after, url, "the same address after a failover");
    let client = connect(&endpoint, "postgres").await;
    let rows: i64 = client.query_one("SELECT count(*) FROM ledger", &[]).await.unwrap().get(0);
    assert_eq!(rows, 1000, "every committed row survived the failover");
    client.batch_execute("INSERT INTO ledger VALUES (1001)").await.unwrap();
    drop(client);
    assert_exit(&run_pgfleet(dir, &base, &["plan", "--detailed-exitcode"]).await, 0);

    emulator.shutdown().await;
    assert_eq!(running_clusters(&root), Vec::<String>::new());
}
