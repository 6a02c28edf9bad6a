//! Shared setup of the provider-against-emulator tests: an emulator on 127.0.0.1 with scaled-down
//! latencies, and an `AzureProvider` that authenticates against the emulator's token endpoint.

#![allow(dead_code)]

use pgfleet::config::AzureSettings;
use pgfleet::emulator::{self, EmulatorOptions, FaultRates, Latencies, RunningEmulator};
use pgfleet::exec::{RetryPolicy, RetryingProvider};
use pgfleet::model::{ServerName, ServerSpec};
use pgfleet::providers::azure::{
    AzureProvider, AzureProviderOptions, Credential, PollSettings, ServicePrincipal,
};
use pgfleet::providers::{CreateRequest, Provider};
use pgfleet::rules::{PgVersion, Tier};
use pgfleet::secret::Redacted;
use std::collections::BTreeMap;
use std::time::Duration;

pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000001";
pub const GROUP: &str = "rg-fleet";
pub const PASSWORD: &str = "Correct-Horse-9";

/// Latencies short enough for tests, long enough that polling and restart windows happen.
pub fn fast_latencies() -> Latencies {
    Latencies {
        create: Duration::from_millis(60),
        update: Duration::from_millis(30),
        restart: Duration::from_millis(30),
        delete: Duration::from_millis(20),
        invisible: Duration::from_millis(30),
    }
}

pub async fn emulator(faults: FaultRates, seed: u64) -> RunningEmulator {
    let options = EmulatorOptions {
        seed,
        latencies: fast_latencies(),
        faults,
        fault_retry_after: Duration::ZERO,
        ..EmulatorOptions::default()
    };
    emulator::start(options).await.expect("the emulator starts")
}

pub fn credential(emulator: &RunningEmulator, secret: &str) -> Credential {
    Credential::ServicePrincipal(ServicePrincipal {
        authority_host: emulator.base_url(),
        tenant_id: "tenant-1".into(),
        client_id: "client-1".into(),
        client_secret: Redacted::new(secret.to_string()),
    })
}

pub fn provider_options(emulator: &RunningEmulator, names: &[&str]) -> AzureProviderOptions {
    let settings = AzureSettings {
        subscription_id: SUBSCRIPTION.into(),
        resource_group: GROUP.into(),
        location: "westeurope".into(),
        endpoint: emulator.base_url(),
    };
    let passwords: BTreeMap<ServerName, Redacted<String>> =
        names.iter().map(|n| (ServerName::new(*n), Redacted::new(PASSWORD.to_string()))).collect();
    let mut options = AzureProviderOptions::new(settings, "tests", passwords);
    options.credential = Some(credential(emulator, "client-secret"));
    options.polling = PollSettings {
        interval: Duration::from_millis(10),
        timeout: Duration::from_secs(30),
        not_found_grace: Duration::from_secs(10),
    };
    options
}

pub fn provider(emulator: &RunningEmulator, names: &[&str]) -> AzureProvider {
    AzureProvider::new(provider_options(emulator, names)).expect("the provider builds")
}

pub fn spec(tier: Tier, vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec::new(tier, vcores, storage_gb, PgVersion::V11, "fleetadmin", "westeurope")
}

pub fn primary(name: &str, tier: Tier, vcores: u32) -> CreateRequest {
    CreateRequest { name: ServerName::new(name), spec: spec(tier, vcores, 100), admin_password: None }
}

pub fn replica(name: &str, of: &str, vcores: u32) -> CreateRequest {
    let mut spec = spec(Tier::GeneralPurpose, vcores, 100);
    spec.replica_of = Some(ServerName::new(of));
    CreateRequest { name: ServerName::new(name), spec, admin_password: None }
}

/// The product's retrying layer around `provider`, as the CLI builds it, with a policy scaled
/// to the emulator's milliseconds.
pub fn retrying(provider: std::sync::Arc<dyn Provider>) -> RetryingProvider {
    RetryingProvider::new(provider, fast_retries())
}

/// The default policy with backoffs scaled to the emulator's milliseconds.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
        max_total: Duration::from_secs(60),
        attempt_timeout: Duration::from_secs(120),
        ..RetryPolicy::default()
    }
}

pub mod audit;
pub mod backed;
pub mod converge;
pub mod flexible_audit;

/// An HTTP client and a bearer token from the emulator's token endpoint, for requests sent
/// straight to the emulator (as a portal user or a test of the wire would).
pub async fn raw_client(base: &str) -> (reqwest::Client, String) {
    let client = reqwest::Client::new();
    let answer: serde_json::Value = client
        .post(format!("{base}/tenant/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "portal"),
            ("client_secret", "portal-secret"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["token_type"], "Bearer");
    (client, answer["access_token"].as_str().unwrap().to_string())
}

/// The ARM URL of a server of the test subscription and group.
pub fn server_url(base: &str, name: &str) -> String {
    format!(
        "{base}/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.DBforPostgreSQL/servers/{name}?api-version=2017-12-01"
    )
}

/// The `pgfleet` binary on `dir/fleet.toml` and `dir/state.json`, run in `dir`, with credentials
/// pointed at the emulator at `base` (never at Azure or the managed-identity endpoint), fast
/// polls and fast retries; no terminal, no GitHub Actions.
pub fn pgfleet_command(dir: &std::path::Path, base: &str, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pgfleet"));
    command
        .args(args)
        .arg("-c")
        .arg(dir.join("fleet.toml"))
        .arg("--state")
        .arg(dir.join("state.json"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AZURE_TENANT_ID", "tenant-1")
        .env("AZURE_CLIENT_ID", "client-1")
        .env("AZURE_CLIENT_SECRET", "client-secret-cli")
        .env("AZURE_AUTHORITY_HOST", base)
        .env("PGFLEET_AZURE_POLL_INTERVAL", "20ms")
        .env("PGFLEET_RETRY_BACKOFF", "10ms")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdin(std::process::Stdio::null());
    command
}

/// Runs [`pgfleet_command`] to its end, off the async runtime's threads.
pub async fn run_pgfleet(dir: &std::path::Path, base: &str, args: &[&str]) -> std::process::Output {
    let mut command = pgfleet_command(dir, base, args);
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
#[track_caller]
pub fn assert_exit(output: &std::process::Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
}
