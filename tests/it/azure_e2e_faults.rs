//! The path users run, under faults: the `pgfleet` binary against the ARM emulator on
//! 127.0.0.1 with the fault mix `429=0.05,500=0.02,409=0.02,drop=0.01,lost=0.01` (the token
//! endpoint included). For 20 seeds, a 20-server fleet (primaries with replicas, standalone
//! General Purpose and Basic servers) is created, scaled up (a replica added), scaled down (that
//! replica deleted) and destroyed, and every command (`plan`, `apply`, `refresh`, `destroy`)
//! exits 0 the first time: the one retrying layer absorbs the faults, and each apply converges
//! (`plan --detailed-exitcode` right after it finds nothing to do). Once more with ARM's token
//! buckets on. An audit written here, independent of the emulator's own checks, replays every
//! write the emulator accepted and finds none that breaks the service's rules.
//!
//! Each seed has its own emulator and fleet directory; seeds run a few at a time. Nothing
//! sleeps: each command runs to its end before the next starts.

use crate::azure_common;

use azure_common::audit::{Audit, Violation};
use azure_common::*;
use pgfleet::emulator::{self, EmulatorOptions, FaultRates, RunningEmulator};
use pgfleet::providers::Provider;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SEEDS: u64 = 20;
/// Seeds in flight at once: enough to overlap the emulator's latencies, few enough for 2 cores.
const CONCURRENT_SEEDS: usize = 4;
const FAULTS: &str = "429=0.05,500=0.02,409=0.02,drop=0.01,lost=0.01,failed=0.01";

/// The fleet at one phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Initial,
    ScaledUp,
    ScaledDown,
}

/// The fleet file of a phase: three primaries with 4, 3 (4 when scaled up) and 2 replicas,
/// three standalone General Purpose servers and five Basic servers (20 servers; 21 scaled up).
fn fleet_toml(endpoint: &str, phase: Phase) -> String {
    let (vcores, storage, basic_vcores, basic_storage) = match phase {
        Phase::Initial => (2, 100, 1, 50),
        Phase::ScaledUp => (4, 200, 2, 60),
        Phase::ScaledDown => (2, 200, 1, 60),
    };
    let mut text = format!(
        "[fleet]\nname = \"faults\"\n[provider]\nkind = \"azure\"\n[provider.azure]\n\
         subscription_id = \"{SUBSCRIPTION}\"\nresource_group = \"{GROUP}\"\nlocation = \"westeurope\"\n\
         endpoint = \"{endpoint}\"\n[defaults]\nversion = \"11\"\ntier = \"GeneralPurpose\"\n\
         generation = \"Gen5\"\nvcores = {vcores}\nstorage_gb = {storage}\nadmin_login = \"fleetadmin\"\n\
         admin_password = {{ file = \"password\" }}\n"
    );
    let replicas: [(&str, usize); 3] =
        [("pri1", 4), ("pri2", if phase == Phase::ScaledUp { 4 } else { 3 }), ("pri3", 2)];
    for (primary, count) in replicas {
        text.push_str(&format!("[servers.{primary}]\n"));
        for index in 1..=count {
            text.push_str(&format!("[servers.{primary}-r{index}]\nreplica_of = \"{primary}\"\n"));
        }
    }
    // One replica larger than its primary, to keep the ordering honest in both directions.
    text = text.replace(
        "[servers.pri1-r1]\nreplica_of = \"pri1\"\n",
        &format!("[servers.pri1-r1]\nreplica_of = \"pri1\"\nvcores = {}\n", vcores * 2),
    );
    for index in 1..=3 {
        text.push_str(&format!("[servers.gp{index}]\n"));
    }
    for index in 1..=5 {
        text.push_str(&format!(
            "[servers.bas{index}]\ntier = \"Basic\"\nvcores = {basic_vcores}\nstorage_gb = {basic_storage}\n"
        ));
    }
    text
}

/// What one seed did.
#[derive(Debug, Default)]
struct SeedRun {
    seed: u64,
    /// CLI runs, and those that did not exit as expected (command, code, stderr).
    runs: usize,
    failures: Vec<String>,
    /// Retries the commands reported: `retry` events of `apply --json` and `destroy --json`,
    /// and `-v` lines of the others.
    json_retries: usize,
    verbose_retries: usize,
    requests: usize,
    faults: usize,
    token_faults: usize,
    violations: Vec<Violation>,
}

impl SeedRun {
    /// Runs `pgfleet ARGS` in `directory` and records whether it exited with `expected`.
    async fn run(&mut self, directory: &Path, emulator: &RunningEmulator, args: &[&str], expected: i32) {
        let output = run_pgfleet(directory, &emulator.base_url(), args).await;
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        self.runs += 1;
        self.json_retries += stdout.lines().filter(|line| line.contains(r#""type":"retry""#)).count();
        self.verbose_retries += stderr.lines().filter(|line| line.starts_with("debug: retrying ")).count();
        for secret in [PASSWORD, "client-secret-cli"] {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "`{}` printed a secret",
                args.join(" ")
            );
        }
        if output.status.code() != Some(expected) {
            let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
            self.failures.push(format!(
                "seed {}: `pgfleet {}` exited {:?}: {}",
                self.seed,
                args.join(" "),
                output.status.code(),
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ));
        }
    }
}

/// Create, scale up, scale down, destroy: every command must exit 0 the first time (and the
/// check after each apply 0: nothing left to do).
async fn run_seed(seed: u64, throttling: bool) -> SeedRun {
    let options = EmulatorOptions {
        seed,
        latencies: fast_latencies(),
        faults: FAULTS.parse::<FaultRates>().unwrap(),
        fault_retry_after: Duration::ZERO,
        throttling,
        ..EmulatorOptions::default()
    };
    let emulator = emulator::start(options).await.expect("the emulator starts");
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    std::fs::write(dir.join("password"), PASSWORD).unwrap();
    let mut run = SeedRun { seed, ..SeedRun::default() };
    for phase in [Phase::Initial, Phase::ScaledUp, Phase::ScaledDown] {
        std::fs::write(dir.join("fleet.toml"), fleet_toml(&emulator.base_url(), phase)).unwrap();
        run.run(dir, &emulator, &["plan", "-v", "--allow-delete"], 0).await;
        run.run(dir, &emulator, &["apply", "--auto-approve", "--allow-delete", "--json"], 0).await;
        run.run(dir, &emulator, &["plan", "-v", "--detailed-exitcode", "--allow-delete"], 0).await;
        run.run(dir, &emulator, &["refresh", "-v"], 0).await;
    }
    run.run(dir, &emulator, &["destroy", "--allow-delete", "--auto-approve", "--json"], 0).await;
    run.run(dir, &emulator, &["refresh", "-v"], 0).await;

    let requests = emulator.requests();
    run.violations = Audit::default().replay(&requests);
    let provider: Arc<dyn Provider> = Arc::new(provider(&emulator, &[]));
    let live = retrying(provider).refresh().await.expect("the emulator can be read");
    assert!(live.is_empty() || !run.failures.is_empty(), "seed {seed}: destroy left {:?}", live.keys());
    run.requests = requests.len();
    run.faults = requests.iter().filter(|r| r.fault.is_some()).count();
    run.token_faults = requests.iter().filter(|r| r.fault.is_some() && r.path.ends_with("/token")).count();
    emulator.shutdown().await;
    run
}

/// Prints the figures and asserts that nothing failed or broke a rule.
fn check(results: &[SeedRun]) {
    for run in results {
        eprintln!(
            "seed {:2}: {} CLI runs, {} failed; {} requests, {} faults injected ({} at the token endpoint); retries reported: {} events, {} -v lines",
            run.seed,
            run.runs,
            run.failures.len(),
            run.requests,
            run.faults,
            run.token_faults,
            run.json_retries,
            run.verbose_retries
        );
    }
    let runs: usize = results.iter().map(|run| run.runs).sum();
    let failures: Vec<&String> = results.iter().flat_map(|run| &run.failures).collect();
    eprintln!("CLI runs under faults: {runs}, failed: {}", failures.len());
    assert!(failures.is_empty(), "{failures:#?}");
    for run in results {
        assert!(
            run.violations.is_empty(),
            "seed {}: accepted against the rules: {:#?}",
            run.seed,
            run.violations
        );
    }
    assert!(results.iter().map(|run| run.faults).sum::<usize>() > 0, "faults were injected");
    let json: usize = results.iter().map(|run| run.json_retries).sum();
    let verbose: usize = results.iter().map(|run| run.verbose_retries).sum();
    assert!(json > 0 && verbose > 0, "retries were reported as events ({json}) and -v lines ({verbose})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_succeeds_first_time_under_faults_across_twenty_seeds() {
    let started = std::time::Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_SEEDS));
    let mut runs = tokio::task::JoinSet::new();
    for seed in 0..SEEDS {
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        runs.spawn(async move {
            let run = run_seed(seed, false).await;
            drop(permit);
            run
        });
    }
    let mut results = Vec::new();
    while let Some(run) = runs.join_next().await {
        results.push(run.expect("a seed's run does not panic"));
    }
    results.sort_by_key(|run| run.seed);
    check(&results);
    let token_faults: usize = results.iter().map(|run| run.token_faults).sum();
    assert!(token_faults > 0, "the token endpoint failed too, and the commands survived it");
    eprintln!("{SEEDS} seeds in {:.1}s", started.elapsed().as_secs_f64());
}

/// ARM's token buckets on as well: a 429 from a drained bucket is retried after its
/// `Retry-After` like an injected one, so the commands still succeed the first time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_succeeds_first_time_with_arm_throttling_on() {
    let started = std::time::Instant::now();
    let run = run_seed(SEEDS, true).await;
    check(std::slice::from_ref(&run));
    eprintln!("with throttling: {:.1}s", started.elapsed().as_secs_f64());
}
