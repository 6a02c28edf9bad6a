//! The README's first command through the real binary against real PostgreSQL: the quickstart
//! fleet is created, its clusters serve and stream, and a second plan has nothing to do. Then
//! the service's refusals as a user meets them on the command line, each changing nothing.

use crate::cli_support;

use cli_support::{Fleet, PASSWORD, connect_as, json_lines, show, text, wait_streaming};
use pgfleet::model::{ServerName, ServerPatch};
use pgfleet::providers::Provider;
use pgfleet::providers::local::{LocalProvider, LocalProviderOptions};
use pgfleet::rules::{self, Generation, Tier};

fn max_connections(tier: Tier, vcores: u32) -> String {
    rules::sku(tier, Generation::Gen5, vcores).unwrap().max_connections.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_creates_a_serving_fleet_and_a_second_plan_has_no_changes() {
    let fleet = Fleet::empty("quickstart");
    let example = std::fs::read_to_string(cli_support::example("quickstart.toml")).unwrap();
    let root = format!("root = {:?}", fleet.root().display().to_string());
    let config = example
        .replace("root = \"../state/local\"", &root)
        .replace("port_base = 54320", &format!("port_base = {}", fleet.port_base));
    assert_ne!(config, example, "the quickstart's root and port_base lines moved");
    std::fs::write(fleet.config(), config).unwrap();
    std::fs::copy(cli_support::example("quickstart.password"), fleet.path("quickstart.password")).unwrap();
    let password = std::fs::read_to_string(fleet.path("quickstart.password")).unwrap().trim().to_string();

    let started = std::time::Instant::now();
    let output = fleet.run_expecting(&["apply", "--auto-approve"], 0);
    eprintln!("quickstart apply took {:?}", started.elapsed());
    let stderr = text(&output.stderr);
    assert!(!stderr.contains(&password) && !text(&output.stdout).contains(&password));
    // The plan's "no restarts" and the apply's count agree: the new primary's restart for its
    // replication setting happens before anyone uses it, and neither counts it.
    assert!(text(&output.stdout).contains("no restarts"), "{}", text(&output.stdout));
    assert!(stderr.contains("; 0 restarts;"), "{stderr}");
    assert_eq!(fleet.cluster_dirs(), ["qs-burst", "qs-legacy", "qs-main", "qs-ro-1"]);

    // Every server accepts the admin's connections with its SKU's max_connections (a Flexible
    // Server's default at create; the replica takes its primary's).
    let mut ports = std::collections::BTreeMap::new();
    for (server, connections) in [
        ("qs-burst", "50".to_string()),
        ("qs-legacy", max_connections(Tier::Basic, 1)),
        ("qs-main", "859".to_string()),
        ("qs-ro-1", "859".to_string()),
    ] {
        let port = fleet.port(server);
        assert!(port >= fleet.port_base, "{server} on {port}");
        assert_eq!(show(port, &password, "max_connections").await, connections, "{server}");
        ports.insert(server, port);
    }
    assert_eq!(ports.values().collect::<std::collections::BTreeSet<_>>().len(), 4, "one port each");
    // qs-main has a synchronous standby beside it.
    let standby: i64 = connect_as(ports["qs-main"], &password, "postgres")
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgfleet_standby' AND sync_state = 'sync'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(standby, 1, "qs-main's HA standby streams synchronously");

    // The apply ends with where clients connect, as `pgfleet output` prints it for scripts.
    let outputs: serde_json::Value =
        serde_json::from_slice(&fleet.run_expecting(&["output", "--json"], 0).stdout).unwrap();
    let mut told = String::from("Where clients connect:");
    for (server, port) in &ports {
        let endpoint = &outputs["servers"][server]["endpoint"];
        assert_eq!(endpoint["port"], *port, "{outputs:#}");
        let uri = endpoint["uri"].as_str().unwrap();
        assert_eq!(uri, text(&fleet.run_expecting(&["endpoint", server], 0).stdout).trim());
        told.push_str(&format!("\n  servers.{server:<9}  {uri}"));
    }
    assert!(stderr.contains(&told), "{stderr}");
    let human = text(&fleet.run_expecting(&["output"], 0).stdout);
    assert_eq!(human.lines().count(), 4, "{human}");
    assert!(!human.contains(&password) && !outputs.to_string().contains(&password));

    // The primary streams to its replica, a read-only hot standby with its data.
    let replicas = [("qs-ro-1", ports["qs-ro-1"])];
    wait_streaming(ports["qs-main"], &replicas, &password).await.unwrap();
    connect_as(ports["qs-main"], &password, "postgres")
        .await
        .batch_execute("CREATE TABLE hello AS SELECT 'world'::text AS greeting")
        .await
        .unwrap();
    for (server, port) in replicas {
        let client = connect_as(port, &password, "postgres").await;
        let in_recovery: bool = client.query_one("SELECT pg_is_in_recovery()", &[]).await.unwrap().get(0);
        assert!(in_recovery, "{server} is a standby");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while client.query_one("SELECT greeting FROM hello", &[]).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "the table never reached {server}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    // The second run plans no changes, and an apply says so without touching anything.
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
    let again = fleet.run_expecting(&["apply", "--auto-approve"], 0);
    assert!(text(&again.stderr).contains("No changes"), "{}", text(&again.stderr));

    // The README's suggested edits, in its order.
    let edit = |from: &str, to: &str| {
        let config = std::fs::read_to_string(fleet.config()).unwrap();
        assert!(config.contains(from), "the quickstart no longer has {from:?}");
        std::fs::write(fleet.config(), config.replace(from, to)).unwrap();
    };
    let order = |plan: &serde_json::Value| -> Vec<String> {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|change| change["id"].as_str().unwrap().to_string())
            .collect()
    };
    // 1. A bigger SKU for the primary and its replica: the replica first.
    edit("sku = \"Standard_D2ds_v5\"", "sku = \"Standard_D4ds_v5\"");
    let plan: serde_json::Value =
        serde_json::from_slice(&fleet.run_expecting(&["plan", "--json"], 0).stdout).unwrap();
    assert_eq!(order(&plan), ["update:qs-ro-1", "update:qs-main"], "{plan:#}");
    let resized = text(&fleet.run_expecting(&["apply", "--auto-approve"], 0).stderr);
    // The plain log says how long connections failed, as a terminal does above its bars.
    assert!(resized.contains("qs-main: connections failed for "), "{resized}");
    // 2. ZoneRedundant to SameZone: HA disabled, then enabled in the new mode.
    edit("high_availability = \"ZoneRedundant\"", "high_availability = \"SameZone\"");
    let plan: serde_json::Value =
        serde_json::from_slice(&fleet.run_expecting(&["plan", "--json"], 0).stdout).unwrap();
    assert_eq!(order(&plan), ["ha-off:qs-main", "update:qs-main"], "{plan:#}");
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    // 3. The Single Server moves to Flexible Server: a migration that keeps every row.
    connect_as(ports["qs-legacy"], &password, "postgres")
        .await
        .batch_execute("CREATE TABLE legacy AS SELECT generate_series(1, 1000) AS id")
        .await
        .unwrap();
    edit(
        "service = \"single\"\ntier = \"Basic\"\nvcores = 1\nstorage_gb = 20\nversion = \"11\"",
        "service = \"flexible\"\nsku = \"Standard_B2s\"\nstorage_gb = 32\nversion = \"16\"",
    );
    let plan: serde_json::Value =
        serde_json::from_slice(&fleet.run_expecting(&["plan", "--json"], 0).stdout).unwrap();
    assert_eq!(order(&plan), ["migrate:qs-legacy"], "{plan:#}");
    let migrated = text(&fleet.run_expecting(&["apply", "--auto-approve"], 0).stderr);
    // The plain log says what was dumped and what was verified, as a terminal does.
    assert!(migrated.contains("qs-legacy: dumped postgres ("), "{migrated}");
    assert!(migrated.contains("qs-legacy: verified postgres.public.legacy (1000 rows)"), "{migrated}");
    let rows: i64 = connect_as(ports["qs-legacy"], &password, "postgres")
        .await
        .query_one("SELECT count(*) FROM legacy", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1000);
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

const REFUSALS_FLEET: &str = "[servers.ref-basic]\ntier = \"Basic\"\nvcores = 1\n\n\
                              [servers.ref-main]\ntier = \"GeneralPurpose\"\nvcores = 2\nstorage_gb = 50\n\
                              storage_autogrow = false\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_shrink_replica_on_basic_and_basic_to_gp_in_place_are_refused_and_change_nothing() {
    let fleet = Fleet::new("refusals", REFUSALS_FLEET);
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let state_before = std::fs::read(fleet.state()).unwrap();
    let basic_port = fleet.port("ref-basic");
    let main_port = fleet.port("ref-main");

    // Storage never shrinks: the plan refuses it (exit 1) and so does apply, before any step.
    // (With auto-grow on, a smaller value is read as auto-grow drift and planned as no change.)
    fleet.write_servers(&REFUSALS_FLEET.replace("storage_gb = 50", "storage_gb = 30"));
    let plan = fleet.run_expecting(&["plan"], 1);
    let shown = text(&plan.stdout) + &text(&plan.stderr);
    assert!(shown.contains("storage cannot shrink") && shown.contains("ref-main"), "{shown}");
    let apply = fleet.run_expecting(&["apply", "--auto-approve", "--json"], 1);
    assert!(json_lines(&apply.stdout).iter().all(|event| event["type"] != "step_started"));

    // A replica of a Basic server is refused when the fleet file is read, naming the rule.
    fleet.write_servers(&format!(
        "{REFUSALS_FLEET}\n[servers.ref-ro]\nreplica_of = \"ref-basic\"\ntier = \"Basic\"\nvcores = 1\n"
    ));
    let validate = fleet.run_expecting(&["validate"], 1);
    let problem = text(&validate.stderr);
    assert!(problem.contains("ref-ro") && problem.contains("Basic"), "{problem}");
    let apply = fleet.run_expecting(&["apply", "--auto-approve"], 1);
    assert!(text(&apply.stderr).contains("not valid"), "{}", text(&apply.stderr));

    // Basic -> General Purpose is never planned in place: the planner makes it a migration ...
    fleet.write_servers(&REFUSALS_FLEET.replacen(
        "tier = \"Basic\"\nvcores = 1",
        "tier = \"GeneralPurpose\"\nvcores = 2",
        1,
    ));
    let plan = fleet.run_expecting(&["plan", "--json"], 0);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{plan:#}");
    assert_eq!(changes[0]["server"], "ref-basic");
    assert_eq!(changes[0]["action"], "migrate");
    // ... and the provider refuses the in-place update as the service does.
    let settings = pgfleet::config::LocalSettings { root: fleet.root(), port_base: fleet.port_base };
    let provider = LocalProvider::new(LocalProviderOptions::from_settings(&settings, "refusals")).unwrap();
    let in_place = ServerPatch { tier: Some(Tier::GeneralPurpose), vcores: Some(2), ..Default::default() };
    let error = provider.update(&ServerName::from("ref-basic"), &in_place).await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some(pgfleet::rules::Rule::TierChangeNotInPlace.code_str()), "{error}");
    assert!(error.message.contains("Edition cannot be changed by update"), "{error}");

    // Nothing changed: same clusters, same settings, the state untouched, no changes planned.
    assert_eq!(fleet.cluster_dirs(), ["ref-basic", "ref-main"]);
    assert_eq!(show(basic_port, PASSWORD, "max_connections").await, max_connections(Tier::Basic, 1));
    assert_eq!(show(main_port, PASSWORD, "max_connections").await, max_connections(Tier::GeneralPurpose, 2));
    let live = provider.refresh().await.unwrap();
    assert_eq!(live[&ServerName::from("ref-basic")].spec.tier, Tier::Basic);
    assert_eq!(live[&ServerName::from("ref-main")].spec.storage_gb, 50);
    fleet.write_servers(REFUSALS_FLEET);
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(std::fs::read(fleet.state()).unwrap(), state_before, "the state file is untouched");
}

/// `-q` keeps only errors and the final summary: no plan (nothing is to be confirmed with
/// `--auto-approve`), no progress lines, no endpoints.
#[test]
fn a_quiet_apply_says_only_how_it_ended() {
    let fleet = Fleet::new("quiet", "[servers.hush]\ntier = \"Basic\"\nvcores = 1\n");
    let output = fleet.run_expecting(&["apply", "-q", "--auto-approve"], 0);
    assert_eq!(text(&output.stdout), "", "the plan is not printed");
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("Apply complete: 1 created, 0 updated"), "{stderr}");
}
