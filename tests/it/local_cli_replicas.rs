//! Replicas through `pgfleet apply` against real PostgreSQL. Scaling a primary with two
//! replicas: up, the replicas are applied before the primary; down, the primary first; the
//! replicas stream again after every step and carry the new SKU's max_connections. The same
//! changes in the wrong order, sent to the provider directly, are refused and leave the fleet
//! as the state says. A replica's slot holds WAL from the moment it is made.

use crate::cli_support;

use cli_support::{Fleet, PASSWORD, position, restart_windows, show, step_events, wait_streaming};
use pgfleet::model::{ServerName, ServerPatch};
use pgfleet::providers::Provider;
use pgfleet::providers::local::{LocalProvider, LocalProviderOptions};
use pgfleet::rules::{self, Generation, Rule, Tier};
use std::time::Duration;

const REPLICAS: [&str; 2] = ["sc-ro-1", "sc-ro-2"];

fn servers(vcores: u32) -> String {
    let mut text = format!("[servers.sc-main]\ntier = \"GeneralPurpose\"\nvcores = {vcores}\n\n");
    for replica in REPLICAS {
        text.push_str(&format!(
            "[servers.{replica}]\nreplica_of = \"sc-main\"\ntier = \"GeneralPurpose\"\nvcores = {vcores}\n\n"
        ));
    }
    text
}

fn max_connections(vcores: u32) -> String {
    rules::sku(Tier::GeneralPurpose, Generation::Gen5, vcores).unwrap().max_connections.to_string()
}

/// Applies the fleet file as it is, checking after every finished step that the primary
/// streams to both replicas again; returns the events.
async fn apply_checking_streaming(
    fleet: &Fleet,
    primary: u16,
    replicas: &[(&str, u16)],
) -> Vec<serde_json::Value> {
    let mut apply = fleet.spawn(&["apply", "--auto-approve", "--json"]);
    let mut events = Vec::new();
    while let Some(event) = apply.next_event(Duration::from_secs(120)).await {
        if event["type"] == "step_succeeded" {
            let step = event["address"].as_str().unwrap().to_string();
            wait_streaming(primary, replicas, PASSWORD)
                .await
                .unwrap_or_else(|problem| panic!("after {step}: {problem}"));
        }
        events.push(event);
    }
    assert_eq!(apply.wait(), Some(0), "{}", apply.stderr_text());
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_through_apply_orders_replicas_and_primary_and_streaming_survives_every_step() {
    let fleet = Fleet::new("scaling", &servers(2));
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let primary = fleet.port("sc-main");
    let replicas: Vec<(&str, u16)> = REPLICAS.iter().map(|name| (*name, fleet.port(name))).collect();
    wait_streaming(primary, &replicas, PASSWORD).await.unwrap();

    // Up to 8 vCores: both replicas finish before the primary starts.
    fleet.write_servers(&servers(8));
    let up = apply_checking_streaming(&fleet, primary, &replicas).await;
    let steps = step_events(&up);
    for replica in REPLICAS {
        assert!(
            position(&steps, "step_succeeded", replica) < position(&steps, "step_started", "sc-main"),
            "{replica} before the primary going up: {steps:?}"
        );
    }
    for (server, port) in [("sc-main", primary)].into_iter().chain(replicas.iter().copied()) {
        assert_eq!(show(port, PASSWORD, "max_connections").await, max_connections(8), "{server}");
    }
    let windows = restart_windows(&up);
    assert_eq!(windows.len(), 3, "one restart per server: {windows:?}");
    for (server, millis) in &windows {
        eprintln!("restart window of {server} going to 8 vCores: {millis} ms");
    }
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);

    // The wrong order sent straight to the provider is refused, and the fleet stays as the
    // state records it: a replica below its primary, a primary above its replicas.
    let settings = pgfleet::config::LocalSettings { root: fleet.root(), port_base: fleet.port_base };
    let provider = LocalProvider::new(LocalProviderOptions::from_settings(&settings, "scaling")).unwrap();
    let to = |vcores| ServerPatch { vcores: Some(vcores), ..Default::default() };
    let down_first = provider.update(&ServerName::from("sc-ro-1"), &to(2)).await.unwrap_err();
    assert_eq!(down_first.code.as_deref(), Some(Rule::ReplicaSmallerThanPrimary.code_str()), "{down_first}");
    let up_first = provider.update(&ServerName::from("sc-main"), &to(16)).await.unwrap_err();
    assert_eq!(up_first.code.as_deref(), Some(Rule::PrimaryLargerThanReplica.code_str()), "{up_first}");
    assert!(up_first.message.contains("larger max_connections value than its replica(s)"), "{up_first}");
    assert_eq!(show(replicas[0].1, PASSWORD, "max_connections").await, max_connections(8));
    assert_eq!(show(primary, PASSWORD, "max_connections").await, max_connections(8));
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);

    // Back down to 2 vCores: the primary finishes before either replica starts.
    fleet.write_servers(&servers(2));
    let down = apply_checking_streaming(&fleet, primary, &replicas).await;
    let steps = step_events(&down);
    for replica in REPLICAS {
        assert!(
            position(&steps, "step_succeeded", "sc-main") < position(&steps, "step_started", replica),
            "the primary before {replica} going down: {steps:?}"
        );
    }
    for (server, port) in [("sc-main", primary)].into_iter().chain(replicas.iter().copied()) {
        assert_eq!(show(port, PASSWORD, "max_connections").await, max_connections(2), "{server}");
    }
    for (server, millis) in restart_windows(&down) {
        eprintln!("restart window of {server} going to 2 vCores: {millis} ms");
    }
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

/// Regression: the replica's slot was made with `pg_create_physical_replication_slot(name)`,
/// which reserves no WAL until a client first uses it, so WAL written between the slot and the
/// standby's first connection could be recycled. A slot must hold WAL from the moment it exists,
/// even when the replica's create fails after it and only a later apply finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_slot_reserves_wal_from_its_creation_even_when_the_base_backup_fails() {
    let fleet = Fleet::new(
        "slots",
        "[servers.sl-main]\ntier = \"GeneralPurpose\"\nvcores = 2\n\n\
         [servers.sl-ro]\nreplica_of = \"sl-main\"\ntier = \"GeneralPurpose\"\nvcores = 2\n",
    );
    // Something in the replica's data directory makes its base backup fail after the slot exists.
    let data = fleet.root().join("slots").join("sl-ro").join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("in-the-way"), "not a cluster").unwrap();
    let failed = fleet.run_expecting(&["apply", "--auto-approve"], 1);
    assert!(
        cli_support::text(&failed.stderr).contains("pg_basebackup"),
        "{}",
        cli_support::text(&failed.stderr)
    );

    let primary = fleet.port("sl-main");
    let client = cli_support::admin(primary).await;
    let reserved = "SELECT restart_lsn IS NOT NULL, \
                    (SELECT count(*) FROM pg_ls_waldir() WHERE name = pg_walfile_name(restart_lsn)) \
                    FROM pg_replication_slots WHERE slot_name = 'pgfleet_sl_ro'";
    let row = client.query_one(reserved, &[]).await.unwrap();
    assert!(row.get::<_, bool>(0), "the slot reserves no WAL");
    // WAL moves on and checkpoints recycle what nothing holds; the slot's segment stays.
    client
        .batch_execute(
            "CREATE TABLE churn AS SELECT g AS id, md5(g::text) AS filler FROM generate_series(1, 20000) g;
             SELECT pg_switch_wal(); CHECKPOINT; SELECT pg_switch_wal(); CHECKPOINT;",
        )
        .await
        .unwrap();
    let row = client.query_one(reserved, &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(1), 1, "the WAL the slot holds was recycled");

    // The next apply rebuilds the replica through the same slot; it streams and has the data.
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let replica = fleet.port("sl-ro");
    wait_streaming(primary, &[("sl-ro", replica)], PASSWORD).await.unwrap();
    let rows: i64 =
        cli_support::admin(replica).await.query_one("SELECT count(*) FROM churn", &[]).await.unwrap().get(0);
    assert_eq!(rows, 20_000);
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

/// An apply killed (SIGKILL) while a replica's base backup runs: no pg_basebackup goes on
/// writing into the directory the next apply rebuilds, and that apply creates the replica once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_killed_during_a_base_backup_leaves_no_copy_running_and_the_next_apply_builds_the_replica() {
    let primary_only = "[servers.bb-main]\ntier = \"GeneralPurpose\"\nvcores = 2\n";
    let fleet = Fleet::new("basebackup", primary_only);
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let primary = fleet.port("bb-main");
    // Enough data that the base backup lasts well beyond the moment it is killed.
    cli_support::admin(primary)
        .await
        .batch_execute("CREATE TABLE bulk AS SELECT g AS id, repeat(md5(g::text), 8) AS filler FROM generate_series(1, 50000) g")
        .await
        .unwrap();
    fleet.write_servers(&format!(
        "{primary_only}\n[servers.bb-ro]\nreplica_of = \"bb-main\"\ntier = \"GeneralPurpose\"\nvcores = 2\n"
    ));

    let replica_dir = fleet.root().join("basebackup").join("bb-ro").display().to_string();
    let copies = || {
        cli_support::processes_mentioning(&replica_dir)
            .into_iter()
            .filter(|(_, command)| command.contains("pg_basebackup"))
            .collect::<Vec<_>>()
    };
    let mut apply = fleet.spawn(&["apply", "--auto-approve", "--json"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while copies().is_empty() {
        assert!(std::time::Instant::now() < deadline, "pg_basebackup never started: {}", apply.stderr_text());
        std::thread::sleep(Duration::from_millis(1));
    }
    apply.kill();
    let grace = std::time::Instant::now() + Duration::from_millis(300);
    while !copies().is_empty() && std::time::Instant::now() < grace {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(copies().is_empty(), "the killed apply's base backup still runs: {:?}", copies());

    let rerun = fleet.run_expecting(&["apply", "--auto-approve", "--json"], 0);
    let stderr = cli_support::text(&rerun.stderr);
    assert!(stderr.contains("an apply was interrupted while creating bb-ro"), "{stderr}");
    let replica = fleet.port("bb-ro");
    wait_streaming(primary, &[("bb-ro", replica)], PASSWORD).await.unwrap();
    let rows: i64 =
        cli_support::admin(replica).await.query_one("SELECT count(*) FROM bulk", &[]).await.unwrap().get(0);
    assert_eq!(rows, 50_000);
    assert_eq!(fleet.cluster_dirs(), ["bb-main", "bb-ro"]);
    let slots: i64 = cli_support::admin(primary)
        .await
        .query_one("SELECT count(*) FROM pg_replication_slots", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(slots, 1, "one slot, the replica's");
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}
