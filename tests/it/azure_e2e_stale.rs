//! `pgfleet plan --out` then `pgfleet apply PLANFILE` (the real binary) against the ARM
//! emulator on 127.0.0.1: a saved plan is refused once a server was changed out of band on the
//! emulator, naming the server and the change, and nothing is written; a fresh plan applies.

use crate::azure_common;

use azure_common::*;
use pgfleet::emulator::{FaultRates, RunningEmulator};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A fleet directory: the fleet file, its password file and the state.
struct FleetDir {
    dir: tempfile::TempDir,
    endpoint: String,
}

impl FleetDir {
    fn new(emulator: &RunningEmulator) -> FleetDir {
        let fleet = FleetDir { dir: tempfile::tempdir().unwrap(), endpoint: emulator.base_url() };
        std::fs::write(fleet.path("password"), PASSWORD).unwrap();
        fleet
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the fleet file: a General Purpose server with `vcores` and a Basic server.
    fn write(&self, vcores: u32) {
        let text = format!(
            "[fleet]\nname = \"stale\"\n[provider]\nkind = \"azure\"\n[provider.azure]\n\
             subscription_id = \"{SUBSCRIPTION}\"\nresource_group = \"{GROUP}\"\nlocation = \"westeurope\"\n\
             endpoint = \"{endpoint}\"\n[defaults]\nversion = \"11\"\nadmin_login = \"fleetadmin\"\n\
             admin_password = {{ file = \"password\" }}\nstorage_gb = 100\n\
             [servers.stale-main]\ntier = \"GeneralPurpose\"\nvcores = {vcores}\n\
             [servers.stale-basic]\ntier = \"Basic\"\nvcores = 1\n",
            endpoint = self.endpoint
        );
        std::fs::write(self.path("fleet.toml"), text).unwrap();
    }

    /// Runs the binary with credentials pointed at the emulator (never at Azure or the
    /// managed-identity endpoint) and a fast poll interval.
    async fn run(&self, args: &[&str]) -> Output {
        run_pgfleet(self.dir.path(), &self.endpoint, args).await
    }
}

/// PATCHes a server's sku directly on the emulator, as someone in the portal would.
async fn patch_sku_out_of_band(base: &str, server: &str, sku: &str) {
    let (client, token) = raw_client(base).await;
    let url = server_url(base, server);
    let answer =
        client.patch(url).bearer_auth(token).json(&json!({"sku": {"name": sku}})).send().await.unwrap();
    assert_eq!(answer.status(), 202);
}

fn accepted_writes(emulator: &RunningEmulator) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.accepted && r.method != "GET" && !r.path.ends_with("/token"))
        .count()
}

fn plan_path(fleet: &FleetDir) -> String {
    fleet.path("scale.pgfleet").to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_after_an_out_of_band_change_on_the_emulator() {
    let emulator = emulator(FaultRates::default(), 0).await;
    let fleet = FleetDir::new(&emulator);
    fleet.write(2);
    assert_exit(&fleet.run(&["apply", "--auto-approve"]).await, 0);

    fleet.write(4);
    let plan = plan_path(&fleet);
    assert_exit(&fleet.run(&["plan", "--out", &plan]).await, 0);
    patch_sku_out_of_band(&emulator.base_url(), "stale-main", "GP_Gen5_8").await;
    // The out-of-band change finishes (the emulator's update latency) before the apply.
    tokio::time::sleep(fast_latencies().update * 3).await;
    let writes_before = accepted_writes(&emulator);

    let refused = fleet.run(&["apply", &plan]).await;
    assert_exit(&refused, 1);
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("plan is stale"), "{stderr}");
    assert!(stderr.contains("stale-main changed since the plan was made"), "{stderr}");
    assert!(stderr.contains("vcores 2 → 8"), "{stderr}");
    assert!(!stderr.contains("stale-basic"), "only the changed server is named: {stderr}");
    assert_eq!(accepted_writes(&emulator), writes_before, "a refused plan writes nothing");
    assert!(!text(&refused.stdout).contains(PASSWORD) && !stderr.contains(PASSWORD));

    // A fresh plan sees 8 vCores and scales down to the fleet file's 4.
    assert_exit(&fleet.run(&["plan", "--out", &plan]).await, 0);
    assert_exit(&fleet.run(&["apply", &plan]).await, 0);
    assert_exit(&fleet.run(&["plan", "--detailed-exitcode"]).await, 0);
    let state = std::fs::read_to_string(fleet.path("state.json")).unwrap();
    assert!(state.contains("stale-main") && !state.contains(PASSWORD) && !state.contains("client-secret"));
    assert!(Path::new(&plan).exists());
    emulator.shutdown().await;
}
