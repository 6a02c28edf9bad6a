//! `pgfleet validate` on what servers carry: parameters against the service's catalog (with
//! did-you-mean, value ranges, the ones Single Server does not let users set), firewall rules
//! (names, IPv4 ranges), databases (names, none on a replica), a replica's parameters never
//! below its primary's, and `[defaults]` tables merged key by key; each error at its key with
//! line, column and a hint.

use assert_cmd::Command;

fn fleet(servers: &str) -> String {
    format!(
        "[fleet]\nname = \"carry\"\n\n[provider]\nkind = \"local\"\n\n[defaults]\nversion = \"16\"\nadmin_login = \
         \"fleetadmin\"\nadmin_password = {{ env = \"PGFLEET_ADMIN_PASSWORD\" }}\n\n{servers}"
    )
}

fn validate(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.toml");
    std::fs::write(&path, text).unwrap();
    let output = Command::cargo_bin("pgfleet")
        .unwrap()
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .args(["validate", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8(output.stderr).unwrap())
}

#[track_caller]
fn one_error(text: &str, path: &str, at: (usize, usize), message: &str, hint: &str) {
    let (code, stderr) = validate(text);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().filter(|line| line.starts_with("error:")).count(), 1, "one error:\n{stderr}");
    assert!(stderr.contains(&format!(":{}:{}", at.0, at.1)), "{path} at {at:?}:\n{stderr}");
    assert!(stderr.contains(path), "{path}:\n{stderr}");
    assert!(stderr.contains(message), "{message:?}:\n{stderr}");
    assert!(stderr.contains(hint), "hint {hint:?}:\n{stderr}");
}

const MAIN: &str = "[servers.orders]\nservice = \"flexible\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 256\n";

#[test]
fn what_servers_carry_validates_and_defaults_merge() {
    let text = fleet(&format!(
        "[defaults.parameters]\nlog_min_duration_statement = 1000\n[defaults.firewall_rules]\noffice = \"203.0.113.0-203.0.113.255\"\n\n\
         {MAIN}[servers.orders.parameters]\nwork_mem = \"16MB\"\nmax_connections = 800\njit = false\n\
         [servers.orders.firewall_rules]\nci = \"198.51.100.7\"\n[servers.orders.databases.app]\ncharset = \"UTF8\"\n\n\
         [servers.orders-ro]\nservice = \"flexible\"\nreplica_of = \"orders\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 256\n"
    ));
    let (code, stderr) = validate(&text);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn parameters_are_checked_against_the_catalog() {
    // Line 17: the parameters table's first key.
    let table = |entries: &str| fleet(&format!("{MAIN}[servers.orders.parameters]\n{entries}\n"));
    one_error(
        &table("work_memm = \"16MB\""),
        "servers.orders.parameters.work_memm",
        (17, 1),
        "not a server parameter",
        "did you mean work_mem?",
    );
    one_error(
        &table("work_mem = \"lots\""),
        "servers.orders.parameters.work_mem",
        (17, 12),
        "is not valid",
        "allowed:",
    );
    let single = fleet(
        "[servers.legacy]\ntier = \"GeneralPurpose\"\nvcores = 2\nstorage_gb = 100\nversion = \"11\"\n\
         [servers.legacy.parameters]\nmax_connections = 500\n",
    );
    one_error(
        &single,
        "servers.legacy.parameters.max_connections",
        (18, 1),
        "fixes it by the SKU",
        "larger SKU",
    );
    one_error(
        &single.replace("max_connections = 500", "\"azure.replication_support\" = \"REPLICA\""),
        "parameters",
        (18, 1),
        "set by pgfleet itself",
        "remove it",
    );
}

#[test]
fn firewall_rules_and_databases_have_the_services_names_and_ranges() {
    let rules = |entries: &str| fleet(&format!("{MAIN}[servers.orders.firewall_rules]\n{entries}\n"));
    one_error(
        &rules("office = \"10.0.0.9-10.0.0.1\""),
        "servers.orders.firewall_rules.office",
        (17, 10),
        "above its end",
        "START-END",
    );
    one_error(
        &rules("office = \"::1\""),
        "servers.orders.firewall_rules.office",
        (17, 10),
        "not an IPv4 address",
        "IPv4",
    );
    one_error(
        &rules("\"no spaces\" = \"10.0.0.1\""),
        "firewall_rules",
        (17, 1),
        "not a firewall rule name",
        "1–128",
    );
    one_error(
        &fleet(&format!("{MAIN}[servers.orders.databases.postgres]\n")),
        "servers.orders.databases.postgres",
        (16, 27),
        "system database",
        "remove it",
    );
    let replica = format!(
        "{MAIN}\n[servers.orders-ro]\nservice = \"flexible\"\nreplica_of = \"orders\"\nsku = \"Standard_D4ds_v5\"\n\
         storage_gb = 256\n[servers.orders-ro.databases.app]\n"
    );
    one_error(
        &fleet(&replica),
        "servers.orders-ro.databases.app",
        (22, 30),
        "read replica",
        "declare it on orders",
    );
}

#[test]
fn a_replica_never_has_less_than_its_primary() {
    let text = fleet(&format!(
        "{MAIN}[servers.orders.parameters]\nmax_connections = 800\n\n\
         [servers.orders-ro]\nservice = \"flexible\"\nreplica_of = \"orders\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 256\n\
         [servers.orders-ro.parameters]\nmax_connections = 400\n"
    ));
    one_error(
        &text,
        "servers.orders-ro.parameters.max_connections",
        (25, 19),
        "below its primary",
        "800 or more",
    );
}
