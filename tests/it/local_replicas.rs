//! Replicas on real PostgreSQL: scaling in the service's order while streaming continues, the
//! wrong order refused, promote, and delete.

use crate::local_support;

use local_support::{Harness, admin, replica, show, spec, wait_streaming};
use pgfleet::model::{ServerName, ServerPatch};
use pgfleet::providers::Provider;
use pgfleet::providers::local::ProviderEvent;
use pgfleet::rules::{self, Generation, Rule, Tier};
use std::time::Duration;

fn vcores(count: u32) -> ServerPatch {
    ServerPatch { vcores: Some(count), ..Default::default() }
}

fn max_connections(vcores: u32) -> String {
    rules::sku(Tier::GeneralPurpose, Generation::Gen5, vcores).unwrap().max_connections.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_follows_the_replica_order_and_streaming_survives_every_step() {
    let mut harness = Harness::new(55520);
    let primary_port =
        harness.create("scale-main", spec(Tier::GeneralPurpose, 2, 20)).await.endpoint.unwrap().port;
    let mut replica_ports = Vec::new();
    for name in ["scale-ro-1", "scale-ro-2"] {
        replica_ports.push(harness.create(name, replica("scale-main", 2, 20)).await.endpoint.unwrap().port);
    }
    assert!(wait_streaming(primary_port, &replica_ports).await);
    let provider = &harness.provider;

    // The primary first is the wrong order going up.
    let error = provider.update(&"scale-main".into(), &vcores(8)).await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some(Rule::PrimaryLargerThanReplica.code_str()));
    assert!(error.message.contains("larger max_connections value than its replica(s)"), "{error}");
    assert_eq!(show(primary_port, "max_connections").await, max_connections(2));

    // Up: replicas first, then the primary; streaming after every step.
    for (name, port) in [("scale-ro-1", replica_ports[0]), ("scale-ro-2", replica_ports[1])] {
        provider.update(&name.into(), &vcores(8)).await.unwrap();
        assert_eq!(show(port, "max_connections").await, max_connections(8));
        assert!(wait_streaming(primary_port, &replica_ports).await, "after scaling {name} up");
    }
    provider.update(&"scale-main".into(), &vcores(8)).await.unwrap();
    assert_eq!(show(primary_port, "max_connections").await, max_connections(8));
    assert!(wait_streaming(primary_port, &replica_ports).await, "after scaling the primary up");

    // The replica first is the wrong order going down.
    let error = provider.update(&"scale-ro-1".into(), &vcores(2)).await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some(Rule::ReplicaSmallerThanPrimary.code_str()));
    assert_eq!(show(replica_ports[0], "max_connections").await, max_connections(8));

    // Down: the primary first, then the replicas.
    provider.update(&"scale-main".into(), &vcores(2)).await.unwrap();
    assert!(wait_streaming(primary_port, &replica_ports).await, "after scaling the primary down");
    for (name, port) in [("scale-ro-1", replica_ports[0]), ("scale-ro-2", replica_ports[1])] {
        provider.update(&name.into(), &vcores(2)).await.unwrap();
        assert_eq!(show(port, "max_connections").await, max_connections(2));
        assert!(wait_streaming(primary_port, &replica_ports).await, "after scaling {name} down");
    }

    let windows: Vec<(ServerName, Duration)> = harness
        .drain_events()
        .into_iter()
        .filter_map(|event| match event {
            ProviderEvent::RestartWindow { server, unavailable, .. } => Some((server, unavailable)),
            _ => None,
        })
        .collect();
    assert_eq!(windows.len(), 6, "one restart per compute change: {windows:?}");
    for (server, unavailable) in &windows {
        eprintln!("restart window of {server}: {unavailable:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_makes_a_writable_server_and_delete_removes_clusters() {
    let harness = Harness::new(55560);
    let primary_port =
        harness.create("prom-main", spec(Tier::GeneralPurpose, 2, 20)).await.endpoint.unwrap().port;
    let ro_port = harness.create("prom-ro-1", replica("prom-main", 2, 20)).await.endpoint.unwrap().port;
    let other_port = harness.create("prom-ro-2", replica("prom-main", 2, 20)).await.endpoint.unwrap().port;
    assert!(wait_streaming(primary_port, &[ro_port, other_port]).await);
    let provider = &harness.provider;

    // A replica of a replica is refused; so is promoting a primary.
    let error = provider
        .create(pgfleet::providers::CreateRequest {
            name: "prom-chain".into(),
            spec: replica("prom-ro-1", 2, 20),
            admin_password: None,
        })
        .await
        .unwrap_err();
    assert_eq!(error.code.as_deref(), Some(Rule::ReplicaOfReplica.code_str()));
    assert_eq!(error.code.as_deref(), Some("ReplicaOfReplicaNotSupported"));
    assert_eq!(
        provider.promote(&"prom-main".into()).await.unwrap_err().code.as_deref(),
        Some(Rule::NotAReplica.code_str())
    );

    admin(primary_port).await.batch_execute("CREATE TABLE kept AS SELECT 7 AS id").await.unwrap();
    assert!(wait_streaming(primary_port, &[ro_port, other_port]).await);
    let replica_client = admin(ro_port).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while replica_client.query_one("SELECT id FROM kept", &[]).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the table never reached the replica");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let promoted = provider.promote(&"prom-ro-1".into()).await.unwrap();
    assert_eq!(promoted.spec.replica_of, None);
    let client = admin(ro_port).await;
    client.batch_execute("INSERT INTO kept VALUES (8)").await.unwrap();
    let count: i64 = client.query_one("SELECT count(*) FROM kept", &[]).await.unwrap().get(0);
    assert_eq!(count, 2);
    let slots: i64 = admin(primary_port)
        .await
        .query_one("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgfleet_prom_ro_1'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(slots, 0, "the promoted replica's slot is dropped on the old primary");
    let fleet = provider.refresh().await.unwrap();
    assert_eq!(fleet[&ServerName::from("prom-ro-1")].spec.replica_of, None);
    assert_eq!(fleet[&ServerName::from("prom-ro-2")].spec.replica_of, Some("prom-main".into()));

    // Delete: the promoted server's directory goes; deleting it again succeeds.
    provider.delete(&"prom-ro-1".into()).await.unwrap();
    assert!(!harness.server_dir("prom-ro-1").exists());
    provider.delete(&"prom-ro-1".into()).await.unwrap();

    // Deleting a primary makes its replicas standalone, as on Azure.
    provider.delete(&"prom-main".into()).await.unwrap();
    assert!(!harness.server_dir("prom-main").exists());
    let fleet = provider.refresh().await.unwrap();
    assert_eq!(fleet.keys().map(ServerName::as_str).collect::<Vec<_>>(), ["prom-ro-2"]);
    assert_eq!(fleet[&ServerName::from("prom-ro-2")].spec.replica_of, None);
    admin(other_port).await.batch_execute("INSERT INTO kept VALUES (9)").await.unwrap();
}
