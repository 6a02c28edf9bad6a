//! Migrations between real PostgreSQL clusters through the local provider: Basic to General
//! Purpose with every row verified, and re-runs after interruptions at each stage.

use crate::local_support;

use async_trait::async_trait;
use local_support::{Harness, PASSWORD, admin, admin_to, spec};
use pgfleet::migrate::{
    CopyOptions, MemoryJournal, MigrateError, MigrationEvent, MigrationRequest, PgCopier, checksum_source,
    copy_and_verify, run_migration, staging_name, unfreeze, verify, verify_against,
};
use pgfleet::model::{LiveFleet, ObservedServer, ServerName, ServerPatch, ServerSpec};
use pgfleet::providers::local::LocalProvider;
use pgfleet::providers::{Connection, CreateRequest, Provider, ProviderError, ProviderErrorKind};
use pgfleet::rules::{self, Generation, Tier};
use pgfleet::secret::Redacted;
use std::collections::BTreeMap;
use std::sync::Mutex;

const SCHEMA: &str = "
    CREATE SEQUENCE order_numbers START 1000;
    CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
    CREATE TABLE orders (id bigint PRIMARY KEY DEFAULT nextval('order_numbers'),
                         customer_id int REFERENCES customers (id), amount numeric(10, 2), placed_at timestamptz);
    CREATE INDEX orders_by_customer ON orders (customer_id);
    CREATE TABLE events (id bigserial PRIMARY KEY, payload jsonb);
    CREATE VIEW big_spenders AS
        SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id HAVING sum(amount) > 1000;
    CREATE ROLE app_reader LOGIN PASSWORD 'Reader-Password-1';
    GRANT SELECT ON ALL TABLES IN SCHEMA public TO app_reader;";

/// Fills the server with `scale` customers, `scale * 5 / 4` orders and `scale / 4` events.
async fn fill(port: u16, scale: i32) {
    let client = admin(port).await;
    client.batch_execute(SCHEMA).await.unwrap();
    let orders = scale * 5 / 4;
    let events = scale / 4;
    client
        .batch_execute(&format!(
            "INSERT INTO customers (name, email) SELECT 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, {scale}) g;
             INSERT INTO orders (customer_id, amount, placed_at)
                 SELECT (g % {scale}) + 1, (g % 997) * 1.25, timestamptz '2024-01-01' + g * interval '1 minute'
                 FROM generate_series(1, {orders}) g;
             INSERT INTO events (payload) SELECT jsonb_build_object('n', g, 'tag', md5(g::text)) FROM generate_series(1, {events}) g;"
        ))
        .await
        .unwrap();
    client.batch_execute("CREATE DATABASE inventory").await.unwrap();
    admin_to(port, "inventory")
        .await
        .batch_execute("CREATE TABLE items (sku text PRIMARY KEY, stock int); INSERT INTO items VALUES ('a', 1), ('b', 2);")
        .await
        .unwrap();
}

/// Row counts and content checksums of every table, written independently of the migration's.
async fn fingerprint(port: u16) -> BTreeMap<String, (i64, String)> {
    let mut result = BTreeMap::new();
    for (database, tables) in
        [("postgres", &["customers", "orders", "events"][..]), ("inventory", &["items"][..])]
    {
        let client = admin_to(port, database).await;
        for table in tables {
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"
                    ),
                    &[],
                )
                .await
                .unwrap();
            result.insert(format!("{database}.{table}"), (row.get(0), row.get(1)));
        }
    }
    result
}

fn request(harness: &Harness, name: &str) -> MigrationRequest {
    MigrationRequest {
        name: name.into(),
        target: spec(Tier::GeneralPurpose, 2, 20),
        staging: staging_name(&name.into()),
        admin_password: Redacted::new(PASSWORD.into()),
        work_dir: harness.root.join("state"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_server_with_100k_rows_migrates_to_general_purpose_keeping_name_and_port() {
    let harness = Harness::new(55600);
    let port = harness.create("shop-db", spec(Tier::Basic, 1, 20)).await.endpoint.unwrap().port;
    fill(port, 40_000).await;
    let before = fingerprint(port).await;
    assert_eq!(before.values().map(|(rows, _)| rows).sum::<i64>(), 100_002);
    let next_order: i64 =
        admin(port).await.query_one("SELECT last_value FROM order_numbers", &[]).await.unwrap().get(0);

    let events = Mutex::new(Vec::new());
    let source_dir = harness.server_dir("shop-db");
    let source_seen_at_verification = Mutex::new(Vec::new());
    let work = harness.root.join("state/migrations/shop-db");
    let modes_at_restore = Mutex::new(Vec::new());
    let progress = |event: MigrationEvent| {
        if matches!(event, MigrationEvent::TableVerified { .. }) {
            source_seen_at_verification.lock().unwrap().push(source_dir.join("data").exists());
        }
        if matches!(event, MigrationEvent::Restored { .. }) {
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            let mut modes = modes_at_restore.lock().unwrap();
            modes.push(("dir".to_string(), mode(&work)));
            for entry in std::fs::read_dir(&work).unwrap() {
                let path = entry.unwrap().path();
                modes.push((path.file_name().unwrap().to_string_lossy().into_owned(), mode(&path)));
            }
        }
        events.lock().unwrap().push(event);
    };
    let journal = MemoryJournal::default();
    let started = std::time::Instant::now();
    let migrated = run_migration(
        &harness.provider,
        &request(&harness, "shop-db"),
        &PgCopier::default(),
        &journal,
        &progress,
    )
    .await
    .unwrap();
    eprintln!("migration of 100,002 rows took {:?}", started.elapsed());

    assert_eq!(migrated.name.as_str(), "shop-db");
    assert_eq!(migrated.spec.tier, Tier::GeneralPurpose);
    assert_eq!(migrated.endpoint.as_ref().unwrap().port, port, "the server keeps its port");
    let expected = rules::sku(Tier::GeneralPurpose, Generation::Gen5, 2).unwrap().max_connections;
    assert_eq!(local_support::show(port, "max_connections").await, expected.to_string());
    assert_eq!(fingerprint(port).await, before, "every row of every table is there");
    let statistics: i64 = admin(port)
        .await
        .query_one("SELECT count(*) FROM pg_stats WHERE tablename = 'orders'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(statistics > 0, "the new server has planner statistics from the start");

    let client = admin(port).await;
    let after: i64 = client.query_one("SELECT nextval('order_numbers')", &[]).await.unwrap().get(0);
    assert_eq!(after, next_order + 1, "the sequence continues");
    client.batch_execute("INSERT INTO orders (customer_id, amount) VALUES (1, 5000)").await.unwrap();
    let spenders: i64 = client.query_one("SELECT count(*) FROM big_spenders", &[]).await.unwrap().get(0);
    assert!(spenders > 0);
    let indexes: i64 = client
        .query_one("SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_by_customer'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexes, 1);
    local_support::admin_as(port, "app_reader", "Reader-Password-1").await;

    let fleet = harness.provider.refresh().await.unwrap();
    assert_eq!(fleet.keys().map(ServerName::as_str).collect::<Vec<_>>(), ["shop-db"]);
    let fleet_dir = harness.root.join("testfleet");
    let left: Vec<_> =
        std::fs::read_dir(&fleet_dir).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert_eq!(left, ["shop-db"], "the old cluster and the staging directory are gone");
    assert!(!harness.root.join("state/migrations/shop-db").exists(), "the dump is removed once complete");
    let modes = modes_at_restore.into_inner().unwrap();
    assert!(modes.iter().any(|(file, _)| file == "globals.sql"), "{modes:?}");
    assert!(modes.iter().any(|(file, _)| file == "freeze.json"), "{modes:?}");
    for (file, mode) in &modes {
        let private = if file == "dir" { 0o700 } else { 0o600 };
        assert_eq!(*mode, private, "{file} is readable by others: {mode:o}");
    }
    let phases: Vec<_> =
        journal.history().into_iter().map(|(_, record)| record.map(|record| record.phase)).collect();
    let expected: Vec<_> = pgfleet::migrate::Phase::ALL.into_iter().map(Some).chain([None]).collect();
    assert_eq!(phases, expected, "each phase journaled once, in order, then the record cleared");

    let seen = source_seen_at_verification.into_inner().unwrap();
    assert!(!seen.is_empty() && seen.iter().all(|present| *present), "the old cluster outlives verification");
    let events = events.into_inner().unwrap();
    let verified =
        events.iter().filter(|event| matches!(event, MigrationEvent::TableVerified { .. })).count();
    assert_eq!(verified, 4);
    let checksummed =
        events.iter().filter(|event| matches!(event, MigrationEvent::SourceChecksummed { .. })).count();
    assert_eq!(checksummed, 2, "the source's two databases are checksummed while they are copied");
    assert!(events.iter().any(|event| matches!(event, MigrationEvent::Dumped { bytes, .. } if *bytes > 0)));
    assert!(events.iter().any(|event| matches!(event, MigrationEvent::Restored { .. })));
}

/// How the wrapper interrupts a migration.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Interruption {
    /// The staging server's endpoint names a login that does not exist: the restore fails.
    BrokenTarget,
    /// The cutover fails before it starts, as a crash right after the copy would leave it.
    BeforeCutover,
    /// The cutover's first step happens (both clusters stopped, the old one moved aside), then
    /// the process "dies".
    DuringCutover,
}

/// A provider that interrupts a migration at one point and otherwise delegates.
struct Interrupting<'a> {
    inner: &'a LocalProvider,
    harness: &'a Harness,
    mode: Interruption,
}

#[async_trait]
impl Provider for Interrupting<'_> {
    fn kind(&self) -> &'static str {
        "test"
    }
    async fn refresh(&self) -> Result<LiveFleet, ProviderError> {
        let mut fleet = self.inner.refresh().await?;
        if self.mode == Interruption::BrokenTarget {
            for server in fleet.values_mut().filter(|server| server.name.as_str().ends_with("-migration")) {
                server.endpoint.as_mut().unwrap().user = "nobody_here".into();
            }
        }
        Ok(fleet)
    }
    async fn create(&self, request: CreateRequest) -> Result<ObservedServer, ProviderError> {
        let mut created = self.inner.create(request).await?;
        if self.mode == Interruption::BrokenTarget {
            created.endpoint.as_mut().unwrap().user = "nobody_here".into();
        }
        Ok(created)
    }
    async fn update(&self, name: &ServerName, patch: &ServerPatch) -> Result<ObservedServer, ProviderError> {
        self.inner.update(name, patch).await
    }
    async fn delete(&self, name: &ServerName) -> Result<(), ProviderError> {
        self.inner.delete(name).await
    }
    async fn restart(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.inner.restart(name).await
    }
    async fn promote(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.inner.promote(name).await
    }
    async fn set_parameter(
        &self,
        name: &ServerName,
        parameter: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        self.inner.set_parameter(name, parameter, value).await
    }
    async fn cutover(
        &self,
        name: &ServerName,
        staging: &ServerName,
    ) -> Result<ObservedServer, ProviderError> {
        if self.mode == Interruption::DuringCutover {
            LocalProvider::stop_all_blocking(
                &self.harness.root,
                &pgfleet::providers::local::find_pg_bindir().unwrap(),
            );
            let dir = self.harness.server_dir(name.as_str());
            std::fs::rename(&dir, dir.with_file_name(format!(".retired-{name}"))).unwrap();
        }
        Err(ProviderError::new(
            ProviderErrorKind::Other,
            format!("interrupted before cutting {staging} over"),
        ))
    }
    async fn connection(&self, name: &ServerName) -> Result<Connection, ProviderError> {
        self.inner.connection(name).await
    }
}

fn quiet(_: MigrationEvent) {}

async fn database_settings(port: u16) -> Vec<String> {
    let rows = admin(port)
        .await
        .query(
            "SELECT d.datname || ':' || array_to_string(r.setconfig, ',') FROM pg_db_role_setting r \
             JOIN pg_database d ON d.oid = r.setdatabase ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_before_cutover_leaves_the_source_unfrozen_and_unchanged() {
    let harness = Harness::new(55640);
    let port = harness.create("frozen-db", spec(Tier::Basic, 1, 20)).await.endpoint.unwrap().port;
    fill(port, 400).await;
    // A setting the user had before must come back exactly.
    admin(port)
        .await
        .batch_execute("ALTER DATABASE inventory SET default_transaction_read_only = off")
        .await
        .unwrap();
    let settings = database_settings(port).await;
    let before = fingerprint(port).await;

    let journal = MemoryJournal::default();
    let broken =
        Interrupting { inner: &harness.provider, harness: &harness, mode: Interruption::BrokenTarget };
    let error =
        run_migration(&broken, &request(&harness, "frozen-db"), &PgCopier::default(), &journal, &quiet)
            .await
            .unwrap_err();
    assert!(error.to_string().contains("pg_restore") || error.to_string().contains("nobody_here"), "{error}");

    assert_eq!(database_settings(port).await, settings, "the freeze is undone exactly");
    assert_eq!(fingerprint(port).await, before);
    admin(port)
        .await
        .batch_execute("INSERT INTO customers (name) VALUES ('after the failure')")
        .await
        .unwrap();
    let fleet = harness.provider.refresh().await.unwrap();
    assert_eq!(fleet[&ServerName::from("frozen-db")].spec.tier, Tier::Basic);

    // The dumps (roles with their password hashes, every row) are gone with the failed copy;
    // the record says the staging server exists with writes flowing. A re-run without the
    // fault completes with the new row.
    let work = harness.root.join("state/migrations/frozen-db");
    let left: Vec<_> = std::fs::read_dir(&work).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
    let record = journal.history().last().cloned().unwrap().1.expect("the migration is unfinished");
    assert_eq!((record.phase, record.writes_frozen_since), (pgfleet::migrate::Phase::CreateTarget, None));
    let after_failure = fingerprint(port).await;
    run_migration(&harness.provider, &request(&harness, "frozen-db"), &PgCopier::default(), &journal, &quiet)
        .await
        .unwrap();
    assert_eq!(fingerprint(port).await, after_failure);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_migrations_complete_on_rerun_without_losing_data() {
    let harness = Harness::new(55680);
    let journal = MemoryJournal::default();
    for (name, mode) in
        [("cut-before", Interruption::BeforeCutover), ("cut-during", Interruption::DuringCutover)]
    {
        let port = harness.create(name, spec(Tier::Basic, 2, 20)).await.endpoint.unwrap().port;
        fill(port, 800).await;
        let before = fingerprint(port).await;
        let interrupting = Interrupting { inner: &harness.provider, harness: &harness, mode };
        run_migration(&interrupting, &request(&harness, name), &PgCopier::default(), &journal, &quiet)
            .await
            .unwrap_err();
        assert!(harness.server_dir(staging_name(&name.into()).as_str()).exists());

        let migrated = run_migration(
            &harness.provider,
            &request(&harness, name),
            &PgCopier::default(),
            &journal,
            &quiet,
        )
        .await
        .unwrap();
        assert_eq!(migrated.spec.tier, Tier::GeneralPurpose, "{name}");
        assert_eq!(migrated.endpoint.unwrap().port, port, "{name}");
        assert_eq!(fingerprint(port).await, before, "{name}");
        assert!(!harness.server_dir(staging_name(&name.into()).as_str()).exists(), "{name}");
        assert!(!harness.root.join(format!("testfleet/.retired-{name}")).exists(), "{name}");
        // A third run finds the migration done and changes nothing.
        let again = run_migration(
            &harness.provider,
            &request(&harness, name),
            &PgCopier::default(),
            &journal,
            &quiet,
        )
        .await
        .unwrap();
        // The server as observed lists its databases too: the migrated one among them.
        assert_eq!(again.spec.databases.keys().collect::<Vec<_>>(), ["inventory"], "{name}");
        assert_eq!(
            pgfleet::model::ServerSpec { databases: Default::default(), ..again.spec },
            spec_of_target()
        );
    }
}

fn spec_of_target() -> ServerSpec {
    spec(Tier::GeneralPurpose, 2, 20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_freezes_the_source_and_verification_catches_any_difference() {
    let harness = Harness::new(55720);
    harness.create("copy-from", spec(Tier::Basic, 1, 20)).await;
    harness.create("copy-into", spec(Tier::GeneralPurpose, 2, 20)).await;
    let source_port = harness.provider.connection(&"copy-from".into()).await.unwrap().endpoint.port;
    fill(source_port, 400).await;
    let source = harness.provider.connection(&"copy-from".into()).await.unwrap();
    let target = harness.provider.connection(&"copy-into".into()).await.unwrap();
    let options = CopyOptions { work_dir: harness.root.join("work"), client_bindir: None };

    let report = copy_and_verify(&source, &target, &options, &quiet).await.unwrap();
    let postgres = report.databases.iter().find(|database| database.name == "postgres").unwrap();
    assert_eq!(postgres.tables.iter().map(|table| table.rows).sum::<i64>(), 400 + 500 + 100);
    let dump = postgres.dump.as_ref().unwrap();
    assert!(dump.path.exists() && dump.sha256.len() == 64, "the dump is kept with its digest");
    assert!(report.roles.contains(&"app_reader".to_string()));

    // Writes are frozen on the source until cutover.
    let write = admin(source_port).await.batch_execute("INSERT INTO customers (name) VALUES ('late')").await;
    let refused = write.unwrap_err();
    assert!(format!("{:?}", refused.as_db_error()).contains("read-only transaction"), "{refused:?}");
    let frozen: String =
        admin(source_port).await.query_one("SHOW default_transaction_read_only", &[]).await.unwrap().get(0);
    assert_eq!(frozen, "on");

    // Any difference fails verification: a changed row, then a moved sequence.
    let target_port = target.endpoint.port;
    admin(target_port)
        .await
        .batch_execute("UPDATE customers SET name = 'changed' WHERE id = 7")
        .await
        .unwrap();
    let error = verify(&source, &target, &quiet).await.unwrap_err();
    assert!(matches!(&error, MigrateError::Mismatch(message) if message.contains("customers")), "{error}");
    let original: String = admin(source_port)
        .await
        .query_one("SELECT name FROM customers WHERE id = 7", &[])
        .await
        .unwrap()
        .get(0);
    admin(target_port)
        .await
        .execute("UPDATE customers SET name = $1 WHERE id = 7", &[&original])
        .await
        .unwrap();
    verify(&source, &target, &quiet).await.unwrap();
    // Two rows trading one value: every column holds the same values as before, in other rows.
    let names = |seventh: &str, eighth: &str| {
        format!(
            "UPDATE customers SET name = CASE id WHEN 7 THEN '{seventh}' ELSE '{eighth}' END WHERE id IN (7, 8)"
        )
    };
    admin(target_port).await.batch_execute(&names("customer 8", "customer 7")).await.unwrap();
    let error = verify(&source, &target, &quiet).await.unwrap_err();
    assert!(matches!(&error, MigrateError::Mismatch(message) if message.contains("customers")), "{error}");
    admin(target_port).await.batch_execute(&names("customer 7", "customer 8")).await.unwrap();
    verify(&source, &target, &quiet).await.unwrap();
    admin(target_port).await.batch_execute("SELECT setval('order_numbers', 999999)").await.unwrap();
    let error = verify(&source, &target, &quiet).await.unwrap_err();
    assert!(matches!(&error, MigrateError::Mismatch(message) if message.contains("sequences")), "{error}");

    unfreeze(&source, &options.work_dir).await.unwrap();
    let thawed: String =
        admin(source_port).await.query_one("SHOW default_transaction_read_only", &[]).await.unwrap().get(0);
    assert_eq!(thawed, "off");
}

/// A table of 9,000 pages (one row a page): big enough to be checksummed in page ranges.
const WIDE_TABLE: &str = "CREATE TABLE wide (id int PRIMARY KEY, body text) WITH (fillfactor = 10);
    INSERT INTO wide SELECT g, repeat(md5(g::text), 16) FROM generate_series(1, 9000) g;";

/// The migration's checksum of `table` (PostgreSQL 11 on: two 64-bit hashes of each row's
/// text, summed), computed in one query over the whole table.
async fn whole_table_checksum(port: u16, table: &str) -> (i64, String) {
    let sql = format!(
        "SELECT count(*), concat_ws(':', sum(hashtextextended(s, 1)), sum(hashtextextended(s, 2))) \
         FROM (SELECT t::text AS s FROM {table} t) r"
    );
    let row = admin(port).await.query_one(&sql, &[]).await.unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_checksums_read_during_the_copy_catch_changes_on_either_side() {
    let harness = Harness::new(55800);
    harness.create("early-from", spec(Tier::Basic, 1, 20)).await;
    harness.create("early-into", spec(Tier::GeneralPurpose, 2, 20)).await;
    let source = harness.provider.connection(&"early-from".into()).await.unwrap();
    let target = harness.provider.connection(&"early-into".into()).await.unwrap();
    let (source_port, target_port) = (source.endpoint.port, target.endpoint.port);
    fill(source_port, 400).await;
    admin(source_port).await.batch_execute(WIDE_TABLE).await.unwrap();
    let options = CopyOptions { work_dir: harness.root.join("work"), client_bindir: None };

    // The copy checksums the source while it dumps and restores it, the wide table in page
    // ranges on each side: their sums add up to the whole table's.
    let report = copy_and_verify(&source, &target, &options, &quiet).await.unwrap();
    let postgres = report.databases.iter().find(|database| database.name == "postgres").unwrap();
    let wide = postgres.tables.iter().find(|table| table.table == "public.wide").unwrap();
    assert_eq!((wide.rows, wide.checksum.clone()), whole_table_checksum(source_port, "wide").await);
    assert_eq!(
        whole_table_checksum(target_port, "wide").await,
        whole_table_checksum(source_port, "wide").await
    );

    // Checksums of the frozen source, read before the target changes, still catch a changed row
    // of the target, in a page range as in a small table.
    let checked = checksum_source(&source, &quiet).await.unwrap();
    for change in
        ["UPDATE wide SET body = 'changed' WHERE id = 8999", "UPDATE customers SET name = 'x' WHERE id = 7"]
    {
        admin(target_port).await.batch_execute(change).await.unwrap();
        let error = verify_against(&source, &target, Some(&checked), &quiet).await.unwrap_err();
        assert!(matches!(&error, MigrateError::Mismatch(_)), "{change}: {error}");
    }
    let repair = "UPDATE wide SET body = repeat(md5(id::text), 16) WHERE id = 8999; \
                  UPDATE customers SET name = 'customer 7' WHERE id = 7";
    admin(target_port).await.batch_execute(repair).await.unwrap();
    verify_against(&source, &target, Some(&checked), &quiet).await.unwrap();

    // A write that gets past the freeze after the source was checksummed: the source is read
    // again, so the target, which lacks it, fails verification...
    let bypassing = admin(source_port).await;
    bypassing.batch_execute("SET default_transaction_read_only = off").await.unwrap();
    bypassing.batch_execute("UPDATE wide SET body = 'late' WHERE id = 1").await.unwrap();
    let changed = Mutex::new(Vec::new());
    let progress = |event: MigrationEvent| {
        if let MigrationEvent::SourceChanged { database } = event {
            changed.lock().unwrap().push(database);
        }
    };
    let error = verify_against(&source, &target, Some(&checked), &progress).await.unwrap_err();
    assert!(matches!(&error, MigrateError::Mismatch(message) if message.contains("wide")), "{error}");
    assert!(changed.lock().unwrap().contains(&"postgres".to_string()), "the source is read again");
    // ...and once the target has the same row, the checksums read before it no longer count.
    admin(target_port).await.batch_execute("UPDATE wide SET body = 'late' WHERE id = 1").await.unwrap();
    verify_against(&source, &target, Some(&checked), &quiet).await.unwrap();
    unfreeze(&source, &options.work_dir).await.unwrap();
}
