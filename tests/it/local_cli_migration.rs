//! Basic -> General Purpose through `pgfleet apply` against real PostgreSQL: a server holding
//! 100,000 rows (several tables, indexes, a sequence, a view) is dumped, restored, verified and
//! cut over; every row matches checksums computed here, independently of the migration's; the
//! old cluster outlives the verification. Then the same migration with `pgfleet apply` killed
//! (SIGKILL) while it restores: the next apply recognises it and finishes with nothing lost.

use crate::cli_support;

use cli_support::{Fleet, PASSWORD, admin, processes_mentioning, show, text};
use pgfleet::model::ServerName;
use pgfleet::providers::Provider;
use pgfleet::providers::local::{LocalProvider, LocalProviderOptions};
use pgfleet::rules::{self, Generation, Tier};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Rows per table: 100,000 in all.
const TABLES: [(&str, i64); 3] = [("customers", 20_000), ("orders", 50_000), ("audit", 30_000)];

const SCHEMA: &str = "
    CREATE SEQUENCE invoice_numbers START 5000;
    CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
    CREATE TABLE orders (id bigint PRIMARY KEY DEFAULT nextval('invoice_numbers'),
                         customer_id int NOT NULL REFERENCES customers (id),
                         amount numeric(10, 2), placed_at timestamptz);
    CREATE INDEX orders_by_customer ON orders (customer_id);
    CREATE TABLE audit (id bigserial PRIMARY KEY, payload jsonb, note text);
    CREATE INDEX audit_by_kind ON audit ((payload ->> 'kind'));
    CREATE VIEW revenue_by_customer AS
        SELECT c.id, c.name, sum(o.amount) AS revenue FROM customers c JOIN orders o ON o.customer_id = c.id
        GROUP BY c.id, c.name;
    INSERT INTO customers (name, email)
        SELECT 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 20000) g;
    INSERT INTO orders (customer_id, amount, placed_at)
        SELECT (g % 20000) + 1, (g % 997) * 1.25, timestamptz '2024-01-01' + g * interval '1 minute'
        FROM generate_series(1, 50000) g;
    INSERT INTO audit (payload, note)
        SELECT jsonb_build_object('kind', g % 7, 'n', g), md5(g::text) FROM generate_series(1, 30000) g;";

fn basic(name: &str) -> String {
    format!("[servers.{name}]\ntier = \"Basic\"\nvcores = 1\n")
}

fn general_purpose(name: &str) -> String {
    format!("[servers.{name}]\ntier = \"GeneralPurpose\"\nvcores = 2\n")
}

/// What the data is, computed here: per table the row count and an md5 of every row's text in
/// order; the sequences' last values; the view's content.
async fn fingerprint(port: u16) -> BTreeMap<String, String> {
    let client = admin(port).await;
    let mut result = BTreeMap::new();
    for (table, _) in TABLES {
        let row = client
            .query_one(
                &format!("SELECT count(*)::text || ' ' || md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {table} t"),
                &[],
            )
            .await
            .unwrap();
        result.insert(table.to_string(), row.get(0));
    }
    for sequence in ["invoice_numbers", "customers_id_seq", "audit_id_seq"] {
        let row = client.query_one(&format!("SELECT last_value::text FROM {sequence}"), &[]).await.unwrap();
        result.insert(sequence.to_string(), row.get(0));
    }
    let view = client
        .query_one(
            "SELECT count(*)::text || ' ' || md5(string_agg(v::text, '|' ORDER BY v.id)) FROM revenue_by_customer v",
            &[],
        )
        .await
        .unwrap();
    result.insert("revenue_by_customer".into(), view.get(0));
    result
}

/// A Basic server `name` created by `pgfleet apply` and filled with the 100,000 rows; its port
/// and fingerprint.
async fn filled_basic_server(fleet: &Fleet, name: &str) -> (u16, BTreeMap<String, String>) {
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let port = fleet.port(name);
    admin(port).await.batch_execute(SCHEMA).await.unwrap();
    let before = fingerprint(port).await;
    let rows: i64 = TABLES
        .iter()
        .map(|(table, _)| before[*table].split(' ').next().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(rows, TABLES.iter().map(|(_, rows)| rows).sum::<i64>());
    assert_eq!(rows, 100_000);
    (port, before)
}

/// The server after its migration: the same data and port, General Purpose settings, the
/// sequence continuing, indexes and view in place, writable, and nothing else left over.
async fn assert_migrated(fleet: &Fleet, name: &str, port: u16, before: &BTreeMap<String, String>) {
    assert_eq!(fleet.port(name), port, "the server keeps its port");
    assert_eq!(&fingerprint(port).await, before, "every row, sequence and the view match");
    let expected = rules::sku(Tier::GeneralPurpose, Generation::Gen5, 2).unwrap().max_connections;
    assert_eq!(show(port, PASSWORD, "max_connections").await, expected.to_string());
    let client = admin(port).await;
    let last: i64 = before["invoice_numbers"].parse().unwrap();
    let next: i64 = client.query_one("SELECT nextval('invoice_numbers')", &[]).await.unwrap().get(0);
    assert_eq!(next, last + 1, "the sequence continues");
    let inserted: i32 = client
        .query_one("INSERT INTO customers (name) VALUES ('after the migration') RETURNING id", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(inserted, 20_001, "writes are accepted again and the serial continues");
    let indexes: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname IN ('orders_by_customer', 'audit_by_kind')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexes, 2);

    // One cluster, no staging or retired copy, no dump left; the state and reality agree.
    assert_eq!(fleet.cluster_dirs(), [name]);
    assert!(!fleet.path("migrations").join(name).exists(), "the dump goes once the migration completes");
    let settings = pgfleet::config::LocalSettings { root: fleet.root(), port_base: fleet.port_base };
    let provider = LocalProvider::new(LocalProviderOptions::from_settings(&settings, &fleet.name)).unwrap();
    let live = provider.refresh().await.unwrap();
    assert_eq!(live.keys().map(ServerName::as_str).collect::<Vec<_>>(), [name]);
    assert_eq!(live[&ServerName::from(name)].spec.tier, Tier::GeneralPurpose);
    let recorded = fleet.run_expecting(&["state", "show", &format!("servers.{name}"), "--json"], 0);
    let recorded: serde_json::Value = serde_json::from_slice(&recorded.stdout).unwrap();
    assert_eq!(recorded["spec"]["tier"], "GeneralPurpose", "{recorded:#}");
    assert_eq!(recorded["endpoint"]["port"], port, "{recorded:#}");
    assert_eq!(recorded["status"], "ready", "{recorded:#}");
    let observed = serde_json::to_value(&live[&ServerName::from(name)]).unwrap();
    for field in ["spec", "status", "replication_support", "endpoint"] {
        assert_eq!(recorded[field], observed[field], "the state records {field} as it is live");
    }
    let list = text(&fleet.run_expecting(&["state", "list"], 0).stdout);
    assert_eq!(list.lines().filter(|line| !line.trim().is_empty()).count(), 1, "{list}");
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

/// Watches the old (Basic) cluster of `name`, in its place or moved aside by the cutover, and
/// records the last moment it was seen on disk.
struct OldClusterWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Option<chrono::DateTime<chrono::Utc>>>,
}

impl OldClusterWatch {
    fn start(fleet: &Fleet, name: &str) -> OldClusterWatch {
        let places = [
            fleet.root().join(&fleet.name).join(name),
            fleet.root().join(&fleet.name).join(format!(".retired-{name}")),
        ];
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut last_seen = None;
            while !stopped.load(Ordering::Relaxed) {
                let basic = places.iter().any(|dir| {
                    std::fs::read_to_string(dir.join("pgfleet.json"))
                        .ok()
                        .and_then(|meta| serde_json::from_str::<serde_json::Value>(&meta).ok())
                        .is_some_and(|meta| meta["spec"]["tier"] == "Basic" && dir.join("data").is_dir())
                });
                if basic {
                    last_seen = Some(chrono::Utc::now());
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            last_seen
        });
        OldClusterWatch { stop, thread }
    }

    fn finish(self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn timestamp(event: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    event["@timestamp"].as_str().unwrap().parse().unwrap()
}

fn progress(events: &[serde_json::Value]) -> Vec<(usize, String)> {
    events
        .iter()
        .enumerate()
        .filter(|(_, event)| event["type"] == "step_progress")
        .map(|(index, event)| (index, event["message"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basic_server_with_100k_rows_migrates_to_general_purpose_through_apply() {
    let fleet = Fleet::new("migration", &basic("shop"));
    let (port, before) = filled_basic_server(&fleet, "shop").await;

    fleet.write_servers(&general_purpose("shop"));
    let plan = fleet.run_expecting(&["plan", "--json"], 0);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["changes"][0]["action"], "migrate", "{plan:#}");

    let watch = OldClusterWatch::start(&fleet, "shop");
    let started = Instant::now();
    let output = fleet.run_expecting(&["apply", "--auto-approve", "--json"], 0);
    let wall = started.elapsed();
    let old_last_seen = watch.finish().expect("the old cluster was there when the apply began");
    let events = cli_support::json_lines(&output.stdout);
    let migrated = events.iter().find(|event| event["type"] == "step_succeeded").unwrap();
    eprintln!(
        "migration of 100,000 rows: apply wall time {wall:?}, migrate step {} ms",
        migrated["elapsed_ms"]
    );

    // Every table is verified, then the cutover comes, and the old cluster is gone only after.
    let steps = progress(&events);
    let verified: Vec<&(usize, String)> =
        steps.iter().filter(|(_, message)| message.starts_with("verified ")).collect();
    assert_eq!(verified.len(), TABLES.len(), "{steps:?}");
    for (table, rows) in TABLES {
        assert!(
            verified.iter().any(|(_, message)| message.contains(&format!("public.{table} ({rows} rows)"))),
            "{table}: {steps:?}"
        );
    }
    let cutover = steps.iter().find(|(_, message)| message == "cutting over").expect("a cutover event").0;
    let last_verified = verified.last().unwrap().0;
    assert!(last_verified < cutover, "{steps:?}");
    assert!(
        old_last_seen >= timestamp(&events[last_verified]),
        "the old cluster was gone ({old_last_seen}) before the last table was verified ({})",
        events[last_verified]["@timestamp"]
    );
    assert!(steps.iter().any(|(_, message)| message.starts_with("dumped postgres")), "{steps:?}");

    assert_migrated(&fleet, "shop", port, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_killed_while_migrating_is_finished_by_the_next_apply_with_nothing_lost() {
    let fleet = Fleet::new("crash", &basic("ledger"));
    let (port, before) = filled_basic_server(&fleet, "ledger").await;

    fleet.write_servers(&general_purpose("ledger"));
    let seen = apply_killed_while_restoring(&fleet).await;
    assert!(seen.iter().any(|event| event["message"] == "dumping"), "{seen:#?}");
    let dumps = fleet.path("migrations").display().to_string();

    // Nothing the killed apply started goes on writing behind the next one's back. The kernel
    // delivers the kill at once; a restore left running would go on for seconds.
    let staging_port = pgfleet_port(&fleet.root().join("crash").join("ledger-migration"));
    let leftovers = || {
        processes_mentioning(&dumps)
            .into_iter()
            .chain(processes_mentioning(&format!("-p {staging_port} ")))
            .filter(|(_, command)| command.contains("pg_dump") || command.contains("pg_restore"))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let grace = Instant::now() + Duration::from_millis(300);
    while !leftovers().is_empty() && Instant::now() < grace {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(leftovers().is_empty(), "tools of the killed apply still run: {:?}", leftovers());

    // The next apply recognises the interrupted one and finishes the migration.
    let rerun = fleet.run_expecting(&["apply", "--auto-approve", "--json"], 0);
    let stderr = text(&rerun.stderr);
    assert!(stderr.contains("an apply was interrupted while migrating ledger"), "{stderr}");
    let events = cli_support::json_lines(&rerun.stdout);
    let steps = cli_support::step_events(&events);
    assert!(steps.contains(&("step_succeeded".into(), "ledger".into())), "{steps:?}");
    assert_eq!(steps.iter().filter(|(kind, _)| kind == "step_started").count(), 1, "{steps:?}");

    assert_migrated(&fleet, "ledger", port, &before).await;
    let again = fleet.run_expecting(&["apply", "--auto-approve"], 0);
    assert!(!text(&again.stderr).contains("interrupted"), "{}", text(&again.stderr));
}

/// Runs `pgfleet apply --json` and kills it (SIGKILL) once pg_restore writes into the staging
/// server: the middle of the migration, writes frozen, the cutover not begun. Returns the events
/// seen until the restore began.
async fn apply_killed_while_restoring(fleet: &Fleet) -> Vec<serde_json::Value> {
    let mut apply = fleet.spawn(&["apply", "--auto-approve", "--json"]);
    let seen = apply
        .events_until(Duration::from_secs(120), |event| {
            event["type"] == "step_progress" && event["message"] == "restoring into the target"
        })
        .await;
    let dumps = fleet.path("migrations").display().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes_mentioning(&dumps).iter().any(|(_, command)| command.contains("pg_restore")) {
        assert!(Instant::now() < deadline, "pg_restore never started: {}", apply.stderr_text());
        std::thread::sleep(Duration::from_millis(1));
    }
    apply.kill();
    seen
}

/// The port recorded in a cluster directory's `pgfleet.json`.
fn pgfleet_port(dir: &std::path::Path) -> u64 {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("pgfleet.json")).unwrap()).unwrap();
    meta["port"].as_u64().unwrap()
}

/// Whether a new connection to the server may write (a frozen source serves reads only).
async fn writable(port: u16) -> bool {
    admin(port).await.batch_execute("CREATE TABLE write_probe (id int); DROP TABLE write_probe").await.is_ok()
}

/// The first line pgfleet wrote to stderr.
fn first_line(output: &std::process::Output) -> String {
    text(&output.stderr).lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_killed_with_writes_frozen_is_said_first_everywhere_and_migrate_abort_undoes_it() {
    let fleet = Fleet::new("abort", &basic("till"));
    let (port, before) = filled_basic_server(&fleet, "till").await;

    fleet.write_servers(&general_purpose("till"));
    // Killed while pg_restore runs: writes are frozen and the cutover has not begun.
    apply_killed_while_restoring(&fleet).await;
    assert!(!writable(port).await, "the freeze holds while the migration is unfinished");

    // Every command opens with it; the staging server is the migration's, not drift.
    let headline = "warning: writes frozen on till since ";
    let plan = fleet.run_expecting(&["plan"], 0);
    assert!(first_line(&plan).starts_with(headline), "{}", text(&plan.stderr));
    assert!(first_line(&plan).contains("`pgfleet migrate abort till`"), "{}", first_line(&plan));
    assert!(!text(&plan.stdout).contains("changed outside pgfleet"), "{}", text(&plan.stdout));
    assert!(!text(&plan.stdout).contains("till-migration exists"), "{}", text(&plan.stdout));
    let json: serde_json::Value =
        serde_json::from_slice(&fleet.run_expecting(&["plan", "--json"], 0).stdout).unwrap();
    assert_eq!(json["format_version"], "1.4");
    let unfinished = &json["unfinished_migrations"][0];
    assert_eq!(unfinished["server"], "till", "{json:#}");
    assert_eq!(unfinished["staging"], "till-migration", "{json:#}");
    assert_eq!(unfinished["phase"], "restore", "{json:#}");
    assert_eq!(unfinished["abort_command"], "pgfleet migrate abort till", "{json:#}");
    assert!(unfinished["writes_frozen_since"].is_string(), "{json:#}");
    assert!(json["drift"].as_array().unwrap().is_empty(), "{json:#}");
    let markdown = text(&fleet.run_expecting(&["plan", "--format", "markdown"], 0).stdout);
    assert!(markdown.contains("writes frozen on till since"), "{markdown}");
    let show = fleet.run_expecting(&["state", "show", "servers.till"], 0);
    assert!(first_line(&show).starts_with(headline), "{}", text(&show.stderr));
    assert!(text(&show.stdout).contains("migration.phase"), "{}", text(&show.stdout));
    assert!(text(&show.stdout).contains("till-migration"), "{}", text(&show.stdout));
    let list = fleet.run_expecting(&["state", "list"], 0);
    assert!(first_line(&list).starts_with(headline), "{}", text(&list.stderr));

    // With the change reverted in the fleet file, apply would not finish it: the plan says so.
    fleet.write_servers(&basic("till"));
    let reverted = fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
    let said = "the fleet file no longer asks for the migration: `pgfleet migrate abort till` unfreezes";
    assert!(text(&reverted.stderr).contains(said), "{}", text(&reverted.stderr));
    let json: serde_json::Value =
        serde_json::from_slice(&fleet.run_expecting(&["plan", "--json"], 0).stdout).unwrap();
    assert!(json["unfinished_migrations"][0].get("finish_command").is_none(), "{json:#}");
    fleet.write_servers(&general_purpose("till"));

    // The abort unfreezes the source exactly and removes the staging server, with no
    // --allow-delete; the data is as it was.
    let abort = fleet.run_expecting(&["migrate", "abort", "till"], 0);
    assert!(text(&abort.stderr).contains("Aborted the migration of till"), "{}", text(&abort.stderr));
    assert!(writable(port).await, "writes flow again");
    assert_eq!(&fingerprint(port).await, &before);
    assert_eq!(fleet.cluster_dirs(), ["till"]);
    assert!(!fleet.path("migrations").join("till").exists(), "no dump is left");
    let settings = pgfleet::config::LocalSettings { root: fleet.root(), port_base: fleet.port_base };
    let provider = LocalProvider::new(LocalProviderOptions::from_settings(&settings, &fleet.name)).unwrap();
    let live = provider.refresh().await.unwrap();
    assert_eq!(live[&ServerName::from("till")].spec.tier, Tier::Basic);

    // Nothing is unfinished any more; the fleet file still asks for the migration.
    let plan = fleet.run_expecting(&["plan", "--detailed-exitcode"], 2);
    assert!(!text(&plan.stderr).contains("writes frozen"), "{}", text(&plan.stderr));
    let json: serde_json::Value =
        serde_json::from_slice(&fleet.run_expecting(&["plan", "--json"], 0).stdout).unwrap();
    assert_eq!(json["unfinished_migrations"], serde_json::json!([]));
    let again = fleet.run_expecting(&["migrate", "abort", "servers.till"], 1);
    assert!(text(&again.stderr).contains("no unfinished migration of till"), "{}", text(&again.stderr));
}
