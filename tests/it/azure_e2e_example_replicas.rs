//! `examples/primary-with-replicas.toml` applied with the real binary against the ARM emulator
//! on 127.0.0.1 converges: its replicas keep their own per-server settings (geo-redundant
//! backup, retention, location, tags) rather than their primary's, refresh reports them as the
//! fleet file says, and a second plan has nothing to do.

use crate::azure_common;

use azure_common::*;
use pgfleet::emulator::FaultRates;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// The example, with its provider pointed at the emulator.
fn example_against(endpoint: &str) -> String {
    let example = std::fs::read_to_string("examples/primary-with-replicas.toml").unwrap();
    let location = "location = \"westeurope\"\n";
    let at = example.find("[provider.azure]").expect("the example has [provider.azure]");
    let line = at + example[at..].find(location).expect("[provider.azure] names a location");
    let mut text = example.clone();
    text.insert_str(line + location.len(), &format!("endpoint = \"{endpoint}\"\n"));
    text
}

async fn run(dir: &Path, base: &str, args: &[&str]) -> Output {
    let mut command = pgfleet_command(dir, base, args);
    command.env("PGFLEET_ADMIN_PASSWORD", PASSWORD);
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

async fn server(base: &str, name: &str) -> Value {
    let (client, token) = raw_client(base).await;
    let url = format!(
        "{base}/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-payments/providers/\
         Microsoft.DBforPostgreSQL/servers/{name}?api-version=2017-12-01"
    );
    client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_with_replicas_example_converges_on_the_emulator() {
    let emulator = emulator(FaultRates::default(), 0).await;
    let base = emulator.base_url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.toml"), example_against(&base)).unwrap();

    assert_exit(&run(dir.path(), &base, &["apply", "--auto-approve"]).await, 0);

    let main = server(&base, "pay-main").await;
    let storage = |server: &Value, field: &str| server["properties"]["storageProfile"][field].clone();
    assert_eq!(storage(&main, "geoRedundantBackup"), "Enabled", "{main}");
    assert_eq!(storage(&main, "backupRetentionDays"), 35, "{main}");
    for (name, location, sku) in
        [("pay-ro-1", "westeurope", "GP_Gen5_8"), ("pay-ro-2", "northeurope", "GP_Gen5_16")]
    {
        let replica = server(&base, name).await;
        assert_eq!(replica["properties"]["replicationRole"], "Replica", "{replica}");
        assert_eq!(replica["sku"]["name"], sku, "{replica}");
        assert_eq!(replica["location"], location, "{replica}");
        assert_eq!(storage(&replica, "geoRedundantBackup"), "Disabled", "not its primary's: {replica}");
        assert_eq!(storage(&replica, "backupRetentionDays"), 7, "not its primary's: {replica}");
        assert_eq!(storage(&replica, "storageMB"), 512 * 1024, "{replica}");
        assert_eq!(replica["properties"]["minimalTlsVersion"], "TLS1_2", "{replica}");
        assert!(replica["tags"].as_object().is_none_or(|tags| tags.is_empty()), "{replica}");
        assert_eq!(replica["properties"]["administratorLogin"], "fleetadmin", "{replica}");
    }

    // Nothing left to do, and a second apply changes nothing either.
    let again = run(dir.path(), &base, &["plan", "--detailed-exitcode"]).await;
    assert_exit(&again, 0);
    let writes = |emulator: &pgfleet::emulator::RunningEmulator| {
        emulator
            .requests()
            .iter()
            .filter(|r| r.accepted && r.method != "GET" && !r.path.ends_with("/token"))
            .count()
    };
    let before = writes(&emulator);
    assert_exit(&run(dir.path(), &base, &["apply", "--auto-approve"]).await, 0);
    assert_eq!(writes(&emulator), before, "a converged fleet is not written to");
    assert_exit(&run(dir.path(), &base, &["plan", "--detailed-exitcode"]).await, 0);
    emulator.shutdown().await;
}
