//! Flexible Server through the `pgfleet` binary against real PostgreSQL: `max_connections`
//! from the SKU at create and kept after a SKU change, a real synchronous HA standby, a compute
//! change made on the standby first and then the primary (no failover), `pgfleet failover`
//! behind the same endpoint with every row kept, and HA removed again.

use crate::cli_support;

use cli_support::{Fleet, PASSWORD, connect_as, json_lines, restart_windows, show, text, wait_streaming};
use std::time::Duration;

fn servers(sku: &str, burstable: &str, ha: &str) -> String {
    format!(
        "[servers.fx-main]\nservice = \"flexible\"\nversion = \"16\"\nsku = \"{sku}\"\nstorage_gb = 128\n\
         high_availability = \"{ha}\"\n\n\
         [servers.fx-ro]\nservice = \"flexible\"\nversion = \"16\"\nreplica_of = \"fx-main\"\nsku = \"{sku}\"\n\
         storage_gb = 128\n\n\
         [servers.fx-small]\nservice = \"flexible\"\nversion = \"16\"\nsku = \"{burstable}\"\nstorage_gb = 32\n"
    )
}

/// The standby of the server on `port`, as the server sees it: (application, state, sync).
async fn standby_of(port: u16) -> Vec<(String, String, String)> {
    connect_as(port, PASSWORD, "postgres")
        .await
        .query(
            "SELECT application_name, state, sync_state FROM pg_stat_replication \
             WHERE application_name = 'pgfleet_standby'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

async fn wait_for_sync_standby(port: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        let standby = standby_of(port).await;
        if standby.iter().any(|(_, state, sync)| state == "streaming" && sync == "sync") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no synchronous standby streams from port {port}: {:?}", standby_of(port).await);
}

/// When the server on `port` started, in seconds since the epoch.
async fn started_at(port: u16) -> f64 {
    connect_as(port, PASSWORD, "postgres")
        .await
        .query_one("SELECT extract(epoch FROM pg_postmaster_start_time())::float8", &[])
        .await
        .unwrap()
        .get(0)
}

fn standby_port(fleet: &Fleet) -> Option<u16> {
    let meta = std::fs::read_to_string(fleet.root().join(&fleet.name).join("fx-main/pgfleet.json")).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    meta["standby_port"].as_u64().map(|port| u16::try_from(port).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flexible_servers_run_for_real_with_a_synchronous_standby_and_a_planned_failover() {
    let fleet = Fleet::new("flex", &servers("Standard_D4ds_v5", "Standard_B1ms", "ZoneRedundant"));
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let (main, ro, small) = (fleet.port("fx-main"), fleet.port("fx-ro"), fleet.port("fx-small"));
    // The SKUs' defaults at create; the replica takes its primary's.
    assert_eq!(show(main, PASSWORD, "max_connections").await, "1718");
    assert_eq!(show(ro, PASSWORD, "max_connections").await, "1718");
    assert_eq!(show(small, PASSWORD, "max_connections").await, "50");
    wait_for_sync_standby(main).await;
    wait_streaming(main, &[("fx-ro", ro)], PASSWORD).await.unwrap();
    let standby = standby_port(&fleet).expect("the HA standby's port is recorded");
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);

    // Down to 2 vCores (and the Burstable server up): the standby restarts before the primary;
    // max_connections stays what it was at create, as on the service.
    let before = started_at(standby).await;
    fleet.write_servers(&servers("Standard_D2ds_v5", "Standard_B2s", "ZoneRedundant"));
    let output = fleet.run_expecting(&["apply", "--auto-approve", "--json"], 0);
    let windows = restart_windows(&json_lines(&output.stdout));
    let window = |server: &str| windows.iter().find(|(name, _)| name == server).map(|(_, ms)| *ms);
    let (ha_window, plain_window) =
        (window("fx-main").expect("fx-main restarted"), window("fx-small").unwrap());
    eprintln!(
        "compute change with HA (fx-main, primary's window): {ha_window} ms; without HA (fx-small): {plain_window} ms"
    );
    let standby_started = started_at(standby).await;
    let primary_started = started_at(main).await;
    assert!(standby_started > before, "the standby restarted for the compute change");
    assert!(
        standby_started < primary_started,
        "standby first ({standby_started}), then the primary ({primary_started})"
    );
    assert_eq!(show(main, PASSWORD, "max_connections").await, "1718", "kept after the SKU change");
    assert_eq!(show(small, PASSWORD, "max_connections").await, "50", "kept after the SKU change");
    assert_eq!(show(standby, PASSWORD, "shared_buffers").await, show(main, PASSWORD, "shared_buffers").await);
    wait_for_sync_standby(main).await;
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);

    // A planned failover: the same endpoint, every committed row, the zones swapped.
    let client = connect_as(main, PASSWORD, "postgres").await;
    client
        .batch_execute(
            "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 5000)",
        )
        .await
        .unwrap();
    drop(client);
    let output = fleet.run_expecting(&["failover", "fx-main", "--json"], 0);
    let windows = restart_windows(&json_lines(&output.stdout));
    assert_eq!(windows.len(), 1, "{windows:?}");
    eprintln!("planned failover of fx-main: {} ms", windows[0].1);
    assert!(
        text(&output.stderr).contains("primary now in zone 2, standby in zone 1"),
        "{}",
        text(&output.stderr)
    );
    let client = connect_as(main, PASSWORD, "postgres").await;
    let recovering: bool = client.query_one("SELECT pg_is_in_recovery()", &[]).await.unwrap().get(0);
    assert!(!recovering, "the endpoint serves the new primary");
    let rows: i64 = client.query_one("SELECT count(*) FROM orders", &[]).await.unwrap().get(0);
    assert_eq!(rows, 5000);
    client.execute("INSERT INTO orders VALUES (5001)", &[]).await.unwrap();
    wait_for_sync_standby(main).await;
    wait_streaming(main, &[("fx-ro", ro)], PASSWORD).await.unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fleet.state()).unwrap()).unwrap();
    let flexible = &state["servers"]["fx-main"]["spec"]["flexible"];
    assert_eq!((flexible["zone"].as_str(), flexible["standby_zone"].as_str()), (Some("2"), Some("1")));
    // Swapped zones are not a change.
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);

    // No standby, no failover.
    let refused = fleet.run_expecting(&["failover", "fx-small"], 1);
    assert!(text(&refused.stderr).contains("FailoverNotSupported"), "{}", text(&refused.stderr));

    // HA off: the standby stops and its cluster is removed.
    fleet.write_servers(&servers("Standard_D2ds_v5", "Standard_B2s", "Disabled"));
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    assert!(standby_of(main).await.is_empty());
    assert!(!fleet.root().join(&fleet.name).join("fx-main/standby").exists());
    assert_eq!(standby_port(&fleet), None);
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_server_moves_to_flexible_with_every_row() {
    let single = "[servers.fx-legacy]\ntier = \"Basic\"\nvcores = 1\n";
    let fleet = Fleet::new("toflex", single);
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let port = fleet.port("fx-legacy");
    let client = connect_as(port, PASSWORD, "postgres").await;
    client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        .await
        .unwrap();
    drop(client);
    fleet.write_servers("[servers.fx-legacy]\nservice = \"flexible\"\nversion = \"16\"\nsku = \"Standard_B2s\"\nstorage_gb = 32\n");
    let plan = fleet.run_expecting(&["plan"], 0);
    assert!(
        text(&plan.stdout).contains("moves from Single Server to Flexible Server"),
        "{}",
        text(&plan.stdout)
    );
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    assert_eq!(fleet.port("fx-legacy"), port, "the endpoint is kept");
    let client = connect_as(port, PASSWORD, "postgres").await;
    let rows: i64 = client.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get(0);
    assert_eq!(rows, 20000);
    assert_eq!(show(port, PASSWORD, "max_connections").await, "429", "Standard_B2s's default");
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_major_version_upgrade_deletes_and_recreates_the_replicas_only_with_allow_delete() {
    let servers = |version: &str| {
        format!(
            "[servers.fx-up]\nservice = \"flexible\"\nversion = \"{version}\"\nsku = \"Standard_D2ds_v5\"\nstorage_gb = 64\n\n\
             [servers.fx-up-ro]\nservice = \"flexible\"\nversion = \"{version}\"\nreplica_of = \"fx-up\"\n\
             sku = \"Standard_D2ds_v5\"\nstorage_gb = 64\n"
        )
    };
    let fleet = Fleet::new("upgrade", &servers("16"));
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let main = fleet.port("fx-up");
    connect_as(main, PASSWORD, "postgres")
        .await
        .batch_execute("CREATE TABLE kept (id int); INSERT INTO kept SELECT generate_series(1, 300)")
        .await
        .unwrap();
    fleet.write_servers(&servers("17"));
    let blocked = fleet.run_expecting(&["plan"], 3);
    assert!(
        text(&blocked.stdout)
            .contains("major version upgrade to 17 needs its replicas (fx-up-ro) deleted first")
    );
    assert!(
        text(&blocked.stdout).contains("installed PostgreSQL"),
        "the version note: {}",
        text(&blocked.stdout)
    );
    let output = fleet.run_expecting(&["apply", "--auto-approve", "--allow-delete", "--json"], 0);
    let events = json_lines(&output.stdout);
    let order: Vec<(String, String)> = events
        .iter()
        .filter(|event| event["type"] == "step_succeeded")
        .map(|event| {
            (
                event["action"].as_str().unwrap_or("").to_string(),
                event["address"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("delete".to_string(), "servers.fx-up-ro".to_string()),
            ("update".to_string(), "servers.fx-up".to_string()),
            ("create".to_string(), "servers.fx-up-ro".to_string())
        ],
        "{events:?}"
    );
    let rows: i64 = connect_as(main, PASSWORD, "postgres")
        .await
        .query_one("SELECT count(*) FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 300);
    // The re-created replica streams from the upgraded primary.
    wait_streaming(main, &[("fx-up-ro", fleet.port("fx-up-ro"))], PASSWORD).await.unwrap();
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_zone_and_standby_zone_in_the_file_is_a_planned_failover() {
    let servers = |zone: &str, standby: &str| {
        format!(
            "[servers.fx-zr]\nservice = \"flexible\"\nversion = \"16\"\nsku = \"Standard_E2ds_v5\"\nstorage_gb = 64\n\
             high_availability = \"ZoneRedundant\"\nzone = \"{zone}\"\nstandby_zone = \"{standby}\"\n"
        )
    };
    let fleet = Fleet::new("zones", &servers("1", "2"));
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let port = fleet.port("fx-zr");
    assert_eq!(show(port, PASSWORD, "max_connections").await, "1718", "Standard_E2ds_v5's default");
    wait_for_sync_standby(port).await;
    fleet.write_servers(&servers("2", "1"));
    let plan = fleet.run_expecting(&["plan"], 0);
    assert!(text(&plan.stdout).contains("failover:fx-zr"), "{}", text(&plan.stdout));
    assert!(text(&plan.stdout).contains("a planned failover promotes the standby"), "{}", text(&plan.stdout));
    let output = fleet.run_expecting(&["apply", "--auto-approve", "--json"], 0);
    let windows = restart_windows(&json_lines(&output.stdout));
    assert_eq!(windows.len(), 1, "{windows:?}");
    eprintln!("planned failover through apply: {} ms", windows[0].1);
    assert_eq!(fleet.port("fx-zr"), port);
    wait_for_sync_standby(port).await;
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
    // A failover the file did not ask for swaps the zones back live: not drift, no change.
    fleet.run_expecting(&["failover", "fx-zr"], 0);
    fleet.run_expecting(&["refresh"], 0);
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}
