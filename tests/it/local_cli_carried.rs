//! What a server carries, through the `pgfleet` binary against real PostgreSQL: server
//! parameters (`SHOW`), firewall rules (`pg_hba_file_rules`) and databases (`pg_database`)
//! after create, after a change (a static parameter restarts once; a parameter removed from the
//! file returns to its default; a rule removed is deleted; a database removed is dropped only
//! with `--allow-delete`), on a replica (its primary's, unless it sets its own), and after a
//! migration to Flexible Server.

use crate::cli_support;

use cli_support::{Fleet, PASSWORD, connect_as, restart_windows, show, text};

/// The addresses the server's `pg_hba.conf` admits, as the server reads them.
async fn hba_addresses(port: u16) -> Vec<String> {
    connect_as(port, PASSWORD, "postgres")
        .await
        .query(
            "SELECT address || '/' || netmask FROM pg_hba_file_rules \
             WHERE type = 'host' AND 'all' = ANY(database) ORDER BY line_number",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn databases(port: u16) -> Vec<String> {
    connect_as(port, PASSWORD, "postgres")
        .await
        .query("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn carried(work_mem: &str, extra: &str, rules: &str, databases: &str) -> String {
    format!(
        "[servers.cr-main]\nservice = \"flexible\"\nversion = \"16\"\nsku = \"Standard_D2ds_v5\"\nstorage_gb = 32\n\
         [servers.cr-main.parameters]\nwork_mem = \"{work_mem}\"\n{extra}\n\
         [servers.cr-main.firewall_rules]\n{rules}\n{databases}\n\
         [servers.cr-ro]\nservice = \"flexible\"\nversion = \"16\"\nreplica_of = \"cr-main\"\nsku = \"Standard_D2ds_v5\"\n\
         storage_gb = 32\n"
    )
}

const RULES: &str = "office = \"203.0.113.0-203.0.113.255\"\nci = \"198.51.100.7\"";
const APP: &str = "[servers.cr-main.databases.app]\ncharset = \"UTF8\"\ncollation = \"C.utf8\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_firewall_rules_and_databases_are_real_on_the_clusters() {
    let fleet = Fleet::new("carry", &carried("16MB", "log_min_duration_statement = 500", RULES, APP));
    let plan = fleet.run_expecting(&["plan"], 0);
    let said = text(&plan.stdout);
    for attribute in ["parameters.work_mem", "firewall_rules.office", "databases.app"] {
        assert!(said.contains(attribute), "the plan shows {attribute}:\n{said}");
    }
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let (main, ro) = (fleet.port("cr-main"), fleet.port("cr-ro"));
    assert_eq!(show(main, PASSWORD, "work_mem").await, "16MB");
    assert_eq!(show(main, PASSWORD, "log_min_duration_statement").await, "500ms");
    // A replica takes its primary's parameters and firewall rules.
    assert_eq!(show(ro, PASSWORD, "work_mem").await, "16MB");
    let expected = ["127.0.0.1/255.255.255.255", "203.0.113.0/255.255.255.0", "198.51.100.7/255.255.255.255"];
    for port in [main, ro] {
        let admitted = hba_addresses(port).await;
        for address in expected {
            assert!(admitted.iter().any(|a| a == address), "{port}: {address} missing from {admitted:?}");
        }
    }
    assert!(databases(main).await.contains(&"app".to_string()));
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);

    // A change: work_mem raised, one parameter gone (back to its default), a static one added
    // (one restart), a rule gone, a database added.
    let reports = format!("{APP}[servers.cr-main.databases.reports]\n");
    fleet.write_servers(&carried(
        "32MB",
        "max_prepared_transactions = 10",
        "office = \"203.0.113.0-203.0.113.255\"",
        &reports,
    ));
    let plan = fleet.run_expecting(&["plan"], 0);
    let said = text(&plan.stdout);
    assert!(said.contains("restart"), "a static parameter restarts the server:\n{said}");
    let apply = fleet.run_expecting(&["apply", "--auto-approve", "--json"], 0);
    let events = cli_support::json_lines(&apply.stdout);
    let windows = restart_windows(&events);
    assert_eq!(windows.iter().filter(|(server, _)| server == "cr-main").count(), 1, "{windows:?}");
    assert_eq!(show(main, PASSWORD, "work_mem").await, "32MB");
    assert_eq!(show(main, PASSWORD, "log_min_duration_statement").await, "-1");
    assert_eq!(show(main, PASSWORD, "max_prepared_transactions").await, "10");
    let admitted = hba_addresses(main).await;
    assert!(!admitted.iter().any(|a| a.starts_with("198.51.100.7")), "{admitted:?}");
    assert!(databases(main).await.contains(&"reports".to_string()));
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);

    // A database removed from the file: blocked without --allow-delete, dropped with it.
    fleet.write_servers(&carried(
        "32MB",
        "max_prepared_transactions = 10",
        "office = \"203.0.113.0-203.0.113.255\"",
        APP,
    ));
    let blocked = fleet.run_expecting(&["plan"], 3);
    assert!(text(&blocked.stdout).contains("database reports"), "{}", text(&blocked.stdout));
    fleet.run_expecting(&["apply", "--auto-approve"], 3);
    assert!(databases(main).await.contains(&"reports".to_string()), "nothing dropped without --allow-delete");
    fleet.run_expecting(&["apply", "--auto-approve", "--allow-delete"], 0);
    assert!(!databases(main).await.contains(&"reports".to_string()));
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_to_flexible_server_carries_parameters_rules_and_databases() {
    let single = "[servers.cr-old]\ntier = \"GeneralPurpose\"\nvcores = 2\n\
                  [servers.cr-old.parameters]\nwork_mem = \"8MB\"\n\
                  [servers.cr-old.firewall_rules]\noffice = \"203.0.113.0-203.0.113.255\"\n\
                  [servers.cr-old.databases.app]\n";
    let fleet = Fleet::new("carrymig", single);
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let old = fleet.port("cr-old");
    assert_eq!(show(old, PASSWORD, "work_mem").await, "8MB");
    connect_as(old, PASSWORD, "app")
        .await
        .batch_execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
        .await
        .unwrap();

    let flexible = "[servers.cr-old]\nservice = \"flexible\"\nsku = \"Standard_B2s\"\nstorage_gb = 32\nversion = \"16\"\n\
                    [servers.cr-old.parameters]\nwork_mem = \"8MB\"\n\
                    [servers.cr-old.firewall_rules]\noffice = \"203.0.113.0-203.0.113.255\"\n\
                    [servers.cr-old.databases.app]\n";
    fleet.write_servers(flexible);
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let new = fleet.port("cr-old");
    assert_eq!(show(new, PASSWORD, "work_mem").await, "8MB");
    assert!(hba_addresses(new).await.iter().any(|a| a == "203.0.113.0/255.255.255.0"));
    let rows: i64 =
        connect_as(new, PASSWORD, "app").await.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get(0);
    assert_eq!(rows, 2);
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}
