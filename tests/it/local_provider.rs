//! The local provider against real PostgreSQL clusters: create, refresh, rules, restarts,
//! replication support, delete. Each test has its own root and ports; the harness stops every
//! cluster it started.

use crate::local_support;

use local_support::{Harness, PASSWORD, admin, replica, show, spec};
use pgfleet::model::{ServerName, ServerPatch, ServerStatus};
use pgfleet::providers::local::{ProviderEvent, find_pg_bindir};
use pgfleet::providers::{CreateRequest, Provider, ProviderErrorKind};
use pgfleet::rules::{self, Generation, ReplicationSupport, Rule, Tier};
use pgfleet::secret::Redacted;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_server_is_created_with_its_sku_settings_and_refresh_finds_it_again() {
    let harness = Harness::new(55400);
    let created = harness.create("basic-one", spec(Tier::Basic, 1, 10)).await;
    assert_eq!(created.status, ServerStatus::Ready);
    assert_eq!(created.replication_support, ReplicationSupport::Off);
    let port = created.endpoint.as_ref().unwrap().port;
    assert!(port >= 55400);
    let expected = rules::sku(Tier::Basic, Generation::Gen5, 1).unwrap().max_connections;
    assert_eq!(show(port, "max_connections").await, expected.to_string());
    assert_eq!(show(port, "wal_level").await, "minimal");
    assert_eq!(show(port, "password_encryption").await, "scram-sha-256");

    // A wrong password is refused: SCRAM over TCP, not trust.
    let mut config = tokio_postgres::Config::new();
    config.host("127.0.0.1").port(port).user("fleetadmin").password("wrong").dbname("postgres");
    assert!(config.connect(tokio_postgres::NoTls).await.is_err());

    // Creating the same server again succeeds and changes nothing.
    let again = harness.create("basic-one", spec(Tier::Basic, 1, 10)).await;
    assert_eq!(again.endpoint, created.endpoint);
    let different = harness
        .provider
        .create(CreateRequest {
            name: "basic-one".into(),
            spec: spec(Tier::Basic, 2, 10),
            admin_password: Some(Redacted::new(PASSWORD.into())),
        })
        .await
        .unwrap_err();
    assert_eq!(different.kind, ProviderErrorKind::Refused);

    // A new provider (a new pgfleet run) learns the port from disk, even after a restart.
    let reopened = harness.reopen();
    let fleet = reopened.refresh().await.unwrap();
    assert_eq!(fleet.len(), 1);
    assert_eq!(fleet[&ServerName::from("basic-one")].endpoint, created.endpoint);
    harness.stop_all();
    let stopped = reopened.refresh().await.unwrap();
    assert_eq!(stopped[&ServerName::from("basic-one")].status, ServerStatus::Inaccessible);
    assert_eq!(stopped[&ServerName::from("basic-one")].endpoint, created.endpoint);
    let restarted = reopened.restart(&"basic-one".into()).await.unwrap();
    assert_eq!(restarted.endpoint, created.endpoint);
    assert_eq!(restarted.status, ServerStatus::Ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn general_purpose_primary_with_two_replicas_is_reported_by_refresh() {
    let harness = Harness::new(55440);
    harness.create("basic-two", spec(Tier::Basic, 2, 10)).await;
    let primary = harness.create("gp-main", spec(Tier::GeneralPurpose, 2, 20)).await;
    assert_eq!(primary.replication_support, ReplicationSupport::Replica);
    harness.create("gp-ro-1", replica("gp-main", 2, 20)).await;
    harness.create("gp-ro-2", replica("gp-main", 4, 30)).await;

    let fleet = harness.provider.refresh().await.unwrap();
    let names: Vec<&str> = fleet.keys().map(ServerName::as_str).collect();
    assert_eq!(names, ["basic-two", "gp-main", "gp-ro-1", "gp-ro-2"]);
    let ports: std::collections::BTreeSet<u16> =
        fleet.values().map(|server| server.endpoint.as_ref().unwrap().port).collect();
    assert_eq!(ports.len(), 4, "every server has its own port");
    for server in fleet.values() {
        assert_eq!(server.status, ServerStatus::Ready, "{}", server.name);
    }
    assert_eq!(fleet[&ServerName::from("gp-ro-1")].spec.replica_of, Some("gp-main".into()));
    assert_eq!(fleet[&ServerName::from("gp-ro-2")].spec.vcores, 4);
    assert_eq!(fleet[&ServerName::from("gp-main")].spec.replica_of, None);
    assert_eq!(fleet[&ServerName::from("basic-two")].replication_support, ReplicationSupport::Off);

    let primary_port = primary.endpoint.unwrap().port;
    let replica_ports: Vec<u16> = ["gp-ro-1", "gp-ro-2"]
        .iter()
        .map(|name| fleet[&ServerName::from(*name)].endpoint.as_ref().unwrap().port)
        .collect();
    assert!(local_support::wait_streaming(primary_port, &replica_ports).await);
    // Data written on the primary reaches the replicas, which are read-only.
    admin(primary_port)
        .await
        .batch_execute("CREATE TABLE seen (id int); INSERT INTO seen VALUES (42)")
        .await
        .unwrap();
    let replica_client = admin(replica_ports[0]).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(row) = replica_client.query_one("SELECT id FROM seen", &[]).await {
            assert_eq!(row.get::<_, i32>(0), 42);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the row never reached the replica");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(replica_client.batch_execute("INSERT INTO seen VALUES (1)").await.is_err());
    let mut harness = harness;
    let events = harness.drain_events();
    let usage = events
        .iter()
        .filter(|event| matches!(event, ProviderEvent::StorageUsage { used_bytes, .. } if *used_bytes > 0));
    assert!(usage.count() >= 4);
    for replica in ["gp-ro-1", "gp-ro-2"] {
        assert!(
            events.iter().any(|event| matches!(event, ProviderEvent::ReplicaLag { server, .. } if server.as_str() == replica)),
            "no lag reported for {replica}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_refusals_come_with_their_codes() {
    let harness = Harness::new(55480);
    harness.create("basic-three", spec(Tier::Basic, 1, 50)).await;
    harness.create("gp-three", spec(Tier::GeneralPurpose, 2, 100)).await;
    let provider = &harness.provider;

    let shrink = ServerPatch { storage_gb: Some(50), ..Default::default() };
    let error = provider.update(&"gp-three".into(), &shrink).await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some(Rule::StorageShrink.code_str()));
    assert!(error.message.contains("Downscaling"), "{error}");

    let to_gp = ServerPatch { tier: Some(Tier::GeneralPurpose), vcores: Some(2), ..Default::default() };
    let error = provider.update(&"basic-three".into(), &to_gp).await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some(Rule::TierChangeNotInPlace.code_str()));

    let on_basic =
        CreateRequest { name: "basic-ro".into(), spec: replica("basic-three", 2, 50), admin_password: None };
    let error = provider.create(on_basic).await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some(Rule::ReplicaOnBasic.code_str()));
    assert!(error.message.contains("Basic"), "{error}");
    assert!(!harness.server_dir("basic-ro").exists());

    // Storage grows online and refresh reports the recorded limit.
    let grow = ServerPatch { storage_gb: Some(200), ..Default::default() };
    assert_eq!(provider.update(&"gp-three".into(), &grow).await.unwrap().spec.storage_gb, 200);

    // Replication support off: a real wal_level change at the next restart; replicas refused.
    provider.set_parameter(&"gp-three".into(), "azure.replication_support", "OFF").await.unwrap();
    let before_restart = provider.refresh().await.unwrap();
    assert_eq!(
        before_restart[&ServerName::from("gp-three")].replication_support,
        ReplicationSupport::Replica
    );
    let restarted = provider.restart(&"gp-three".into()).await.unwrap();
    assert_eq!(restarted.replication_support, ReplicationSupport::Off);
    let port = restarted.endpoint.unwrap().port;
    assert_eq!(show(port, "wal_level").await, "minimal");
    let error = provider
        .create(CreateRequest {
            name: "gp-ro".into(),
            spec: replica("gp-three", 2, 200),
            admin_password: None,
        })
        .await
        .unwrap_err();
    assert_eq!(error.code.as_deref(), Some(Rule::ReplicationSupportOff.code_str()));
    let error =
        provider.set_parameter(&"gp-three".into(), "azure.replication_support", "ON").await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Refused);
    provider.set_parameter(&"gp-three".into(), "azure.replication_support", "LOGICAL").await.unwrap();
    provider.restart(&"gp-three".into()).await.unwrap();
    assert_eq!(show(port, "wal_level").await, "logical");
    harness.create("gp-ro", replica("gp-three", 2, 200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_did_not_finish_is_redone_on_retry_with_its_port() {
    let harness = Harness::new(55500);
    let first = harness.create("half-made", spec(Tier::GeneralPurpose, 2, 20)).await;
    let port = first.endpoint.unwrap().port;
    // What a crash in the middle of create leaves: the cluster's record says it is unfinished.
    let meta_path = harness.server_dir("half-made").join("pgfleet.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["complete"] = serde_json::Value::Bool(false);
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    // A crash during initdb also leaves the admin password file it reads.
    let password_file = harness.server_dir("half-made").join("initdb.pw");
    std::fs::write(&password_file, "left-by-a-crash").unwrap();
    assert!(harness.provider.refresh().await.unwrap().is_empty(), "an unfinished server is not reported");
    let error = harness.provider.update(&"half-made".into(), &ServerPatch::default()).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::NotFound);

    let redone = harness.create("half-made", spec(Tier::GeneralPurpose, 2, 20)).await;
    assert_eq!(redone.endpoint.unwrap().port, port);
    assert_eq!(redone.status, ServerStatus::Ready);
    admin(port).await.batch_execute("SELECT 1").await.unwrap();
    assert!(!password_file.exists(), "no password file outlives the create");
}

/// Regression: after an initdb killed with pgfleet, the next create failed in 9 of 68 kills with
/// "single-user server is running": initdb's single-user postgres outlived it in the data
/// directory the create rebuilds. Here such a server is left on purpose (started by the test,
/// as initdb starts it, with its input still open), and the create ends it and rebuilds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_rebuilds_over_a_single_user_server_a_killed_initdb_left() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let harness = Harness::new(crate::cli_support::free_port_base(16));
    let port = harness.create("left-over", spec(Tier::GeneralPurpose, 2, 20)).await.endpoint.unwrap().port;
    harness.stop_all();
    let meta_path = harness.server_dir("left-over").join("pgfleet.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["complete"] = serde_json::Value::Bool(false);
    std::fs::write(&meta_path, meta.to_string()).unwrap();

    let data = harness.server_dir("left-over").join("data");
    let owner = std::fs::metadata(&data).unwrap();
    let mut command = std::process::Command::new(find_pg_bindir().unwrap().join("postgres"));
    command.args(["--single", "-D"]).arg(&data).arg("postgres").current_dir("/");
    // The clusters' OS user (postgres refuses to run as root).
    command.uid(owner.uid()).gid(owner.gid());
    let single = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let single = KillOnDrop(single);
    let negated = format!("-{}", single.0.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(data.join("postmaster.pid"))
        .ok()
        .is_none_or(|lock| lock.lines().next() != Some(negated.as_str()))
    {
        assert!(std::time::Instant::now() < deadline, "the single-user server never locked the directory");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }

    let redone = harness.create("left-over", spec(Tier::GeneralPurpose, 2, 20)).await;
    assert_eq!((redone.status, redone.endpoint.unwrap().port), (ServerStatus::Ready, port));
    admin(port).await.batch_execute("SELECT 1").await.unwrap();
    let mut single = single;
    let status = single.0.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL), "{status}");
}

/// A process of the test, killed if the test ends before it does.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
