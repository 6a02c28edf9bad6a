//! `pgfleet import` through the binary: servers one working copy made are adopted by another
//! into a skeleton fleet file (both services on the emulator; the local provider's clusters),
//! after which the plan is clean and the file validates; a server that exists but is not
//! managed is never adopted silently (plan refuses, naming the import command); one server is
//! imported by id, and refused when the file describes it otherwise unless `--update-file`.

use crate::azure_common::*;
use crate::cli_support;
use pgfleet::emulator::FaultRates;
use std::path::Path;

fn header(endpoint: &str) -> String {
    format!(
        "#:schema ../schemas/fleet.schema.json\n# The payments fleet.\n[fleet]\nname = \"adopt\"\n\n[provider]\nkind = \"azure\"\n\n[provider.azure]\n\
         subscription_id = \"{SUBSCRIPTION}\"\nresource_group = \"{GROUP}\"\nlocation = \"westeurope\"\n\
         endpoint = \"{endpoint}\"\n\n[defaults]\nadmin_login = \"fleetadmin\"\n\
         admin_password = {{ file = \"password\" }}  # never the password itself\nversion = \"16\"\n"
    )
}

const SERVERS: &str = "\n[servers.legacy]\ntier = \"GeneralPurpose\"\nvcores = 2\nstorage_gb = 100\nversion = \"11\"\n\n\
    [servers.orders]\nservice = \"flexible\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 128\n\
    maintenance_window = { day = \"Sunday\", hour = 2, minute = 0 }\ntags = { team = \"payments\" }\n\
    [servers.orders.parameters]\nwork_mem = \"16MB\"\n[servers.orders.firewall_rules]\noffice = \"203.0.113.0-203.0.113.255\"\n\
    [servers.orders.databases.app]\ncharset = \"UTF8\"\n\n\
    [servers.orders-ro]\nservice = \"flexible\"\nreplica_of = \"orders\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 128\n";

fn copy(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("password"), PASSWORD).unwrap();
    std::fs::write(dir.join("fleet.toml"), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_of_another_working_copy_are_imported_and_never_adopted_silently() {
    let emulator = emulator(FaultRates::default(), 3).await;
    let base = emulator.base_url();
    let root = tempfile::tempdir().unwrap();
    let (first, second, third) =
        (root.path().join("first"), root.path().join("second"), root.path().join("third"));
    copy(&first, &format!("{}{SERVERS}", header(&base)));
    assert_exit(&run_pgfleet(&first, &base, &["apply", "--auto-approve"]).await, 0);

    // The same file with no state: nothing is adopted silently.
    copy(&second, &format!("{}{SERVERS}", header(&base)));
    let plan = run_pgfleet(&second, &base, &["plan"]).await;
    assert_exit(&plan, 1);
    let said = format!("{}{}", text(&plan.stdout), text(&plan.stderr));
    assert!(said.contains("exists but is not managed by this state"), "{said}");
    assert!(said.contains("pgfleet import servers.orders /subscriptions/"), "{said}");
    assert_exit(&run_pgfleet(&second, &base, &["apply", "--auto-approve"]).await, 1);

    // A skeleton file imports the whole group.
    copy(&third, &header(&base));
    let import = run_pgfleet(&third, &base, &["import", "--resource-group", GROUP]).await;
    assert_exit(&import, 0);
    assert!(text(&import.stderr).contains("Imported 3 servers"), "{}", text(&import.stderr));
    let written = std::fs::read_to_string(third.join("fleet.toml")).unwrap();
    assert!(
        written.starts_with("#:schema ../schemas/fleet.schema.json\n# The payments fleet.\n"),
        "comments kept:\n{written}"
    );
    assert!(written.contains("# never the password itself"), "{written}");
    assert!(!written.contains(PASSWORD), "no password value:\n{written}");
    for table in [
        "[servers.legacy]",
        "[servers.orders]",
        "[servers.orders-ro]",
        "[servers.orders.parameters]",
        "[servers.orders.databases.app]",
    ] {
        assert!(written.contains(table), "{table}:\n{written}");
    }
    let servers = &written[written.find("[servers.").unwrap()..];
    assert!(!servers.contains("admin_login"), "[defaults] says it:\n{written}");
    assert_exit(&run_pgfleet(&third, &base, &["validate"]).await, 0);
    // What editors check the file with agrees.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/fleet.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let json = serde_json::to_value(toml::from_str::<toml::Value>(&written).unwrap()).unwrap();
    let errors: Vec<String> =
        jsonschema::validator_for(&schema).unwrap().iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let plan = run_pgfleet(&third, &base, &["plan", "--detailed-exitcode"]).await;
    assert_exit(&plan, 0);
    let again = run_pgfleet(&third, &base, &["import", "--resource-group", GROUP]).await;
    assert_exit(&again, 0);
    assert!(text(&again.stderr).contains("Nothing to import"), "{}", text(&again.stderr));
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_is_imported_by_id_and_a_differing_file_is_refused_unless_updated() {
    let emulator = emulator(FaultRates::default(), 4).await;
    let base = emulator.base_url();
    let root = tempfile::tempdir().unwrap();
    let (first, second) = (root.path().join("first"), root.path().join("second"));
    copy(&first, &format!("{}{SERVERS}", header(&base)));
    assert_exit(&run_pgfleet(&first, &base, &["apply", "--auto-approve"]).await, 0);
    let id = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.DBforPostgreSQL/servers/legacy"
    );

    // The file says 4 vCores; the server has 2.
    let differing =
        "\n[servers.legacy]\ntier = \"GeneralPurpose\"\nvcores = 4\nstorage_gb = 100\nversion = \"11\"\n";
    copy(&second, &format!("{}{differing}", header(&base)));
    let refused = run_pgfleet(&second, &base, &["import", "servers.legacy", &id]).await;
    assert_exit(&refused, 1);
    assert!(text(&refused.stderr).contains("vcores"), "{}", text(&refused.stderr));
    let updated = run_pgfleet(&second, &base, &["import", "servers.legacy", &id, "--update-file"]).await;
    assert_exit(&updated, 0);
    assert!(std::fs::read_to_string(second.join("fleet.toml")).unwrap().contains("vcores = 2"));
    // The other servers are neither in this file nor in its state: left alone.
    assert_exit(&run_pgfleet(&second, &base, &["plan", "--detailed-exitcode"]).await, 0);
    let wrong = run_pgfleet(&second, &base, &["import", "servers.other", &id]).await;
    assert_exit(&wrong, 1);
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_providers_clusters_are_imported_into_a_skeleton_file() {
    let fleet = cli_support::Fleet::new(
        "adoptlocal",
        "[servers.lc-main]\ntier = \"GeneralPurpose\"\nvcores = 2\n[servers.lc-main.parameters]\nwork_mem = \"8MB\"\n\
         [servers.lc-main.databases.app]\n",
    );
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let config = std::fs::read_to_string(fleet.config()).unwrap();
    let skeleton = &config[..config.find("[servers.").unwrap()];
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("fleet.toml"), skeleton).unwrap();
    std::fs::write(other.path().join("password"), cli_support::PASSWORD).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pgfleet"))
            .args(args)
            .arg("-c")
            .arg(other.path().join("fleet.toml"))
            .arg("--state")
            .arg(other.path().join("state.json"))
            .current_dir(other.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let import = run(&["import"]);
    assert_eq!(import.status.code(), Some(0), "{}", text(&import.stderr));
    let plan = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}{}", text(&plan.stdout), text(&plan.stderr));
    let written = std::fs::read_to_string(other.path().join("fleet.toml")).unwrap();
    assert!(written.contains("[servers.lc-main.databases.app]") && written.contains("work_mem"), "{written}");
}
