//! End to end through the `azure` provider against the ARM emulator over HTTP on 127.0.0.1,
//! with faults on: a 20-server fleet (primaries with replicas, standalone General Purpose and
//! Basic servers) is created, scaled up (a replica added), and scaled down (that replica
//! deleted), converging every time across 20 seeds (and once more with ARM's token buckets on,
//! which the provider's pacing never drains). An audit written here, independent of the
//! emulator's own checks, replays every write the emulator accepted and finds none that breaks
//! the service's rules.

#[macro_use]
#[path = "it/azure_common/mod.rs"]
mod azure_common;

use azure_common::audit::{Audit, Violation};
use azure_common::converge::{Convergence, converge};
use azure_common::*;
use pgfleet::emulator::{self, EmulatorOptions, FaultRates};
use pgfleet::providers::azure::AzureProvider;
use std::sync::Arc;
use std::time::Duration;

const SEEDS: u64 = 20;
/// Seeds in flight at once: enough to overlap the emulator's latencies, few enough for 2 cores.
const CONCURRENT_SEEDS: usize = 5;

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
        "[fleet]\nname = \"e2e\"\n[provider]\nkind = \"azure\"\n[provider.azure]\n\
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
#[derive(Debug)]
struct SeedRun {
    seed: u64,
    phases: Vec<Convergence>,
    requests: usize,
    faults: usize,
    refusals: usize,
    violations: Vec<Violation>,
}

async fn run_seed(seed: u64, throttling: bool) -> SeedRun {
    let faults: FaultRates = "429=0.05,500=0.02,409=0.02,drop=0.01,lost=0.01".parse().unwrap();
    let options = EmulatorOptions {
        seed,
        latencies: fast_latencies(),
        faults,
        fault_retry_after: Duration::ZERO,
        // With ARM's token buckets on, a seed waits for reads to refill (25/s); the 20 seeds
        // run without them (the injected 429s stand in) and one more seed runs with them.
        throttling,
        ..EmulatorOptions::default()
    };
    let emulator = emulator::start(options).await.expect("the emulator starts");
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("password"), PASSWORD).unwrap();
    let names: Vec<String> = (1..=3)
        .flat_map(|p| std::iter::once(format!("pri{p}")).chain((1..=4).map(move |r| format!("pri{p}-r{r}"))))
        .chain((1..=3).map(|g| format!("gp{g}")))
        .chain((1..=5).map(|b| format!("bas{b}")))
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let provider = Arc::new(AzureProvider::new(provider_options(&emulator, &name_refs)).unwrap());
    let mut state = pgfleet::state::State::new("e2e");
    let mut phases = Vec::new();
    for phase in [Phase::Initial, Phase::ScaledUp, Phase::ScaledDown] {
        let path = directory.path().join("fleet.toml");
        std::fs::write(&path, fleet_toml(&emulator.base_url(), phase)).unwrap();
        let (desired, _) =
            pgfleet::config::parse(&path, &std::fs::read(&path).unwrap()).expect("a valid fleet");
        let convergence = converge(provider.clone(), &desired, &mut state, PASSWORD)
            .await
            .unwrap_or_else(|problem| panic!("seed {seed}, {phase:?}: {problem}"));
        phases.push(convergence);
    }
    let requests = emulator.requests();
    let mut audit = Audit::default();
    let violations = audit.replay(&requests);
    let live = azure_common::converge::refresh(provider.as_ref()).await.unwrap();
    let mismatches = audit.compare(&live);
    assert!(
        mismatches.is_empty(),
        "seed {seed}: the audit's replay differs from the emulator: {mismatches:?}"
    );
    let run = SeedRun {
        seed,
        phases,
        requests: requests.len(),
        faults: requests.iter().filter(|r| r.fault.is_some()).count(),
        refusals: requests.iter().filter(|r| r.fault.is_none() && r.status >= 400).count(),
        violations,
    };
    emulator.shutdown().await;
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_server_fleet_converges_under_faults_across_twenty_seeds_and_breaks_no_rule() {
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
    for run in &results {
        assert!(
            run.violations.is_empty(),
            "seed {}: accepted against the rules: {:#?}",
            run.seed,
            run.violations
        );
        let rounds: Vec<usize> = run.phases.iter().map(|phase| phase.applies).collect();
        eprintln!(
            "seed {:2}: {} requests, {} faults injected, {} refused; applies per phase {rounds:?}",
            run.seed, run.requests, run.faults, run.refusals
        );
    }
    let faults: usize = results.iter().map(|run| run.faults).sum();
    assert!(faults > 0, "faults were injected");
    let retried: usize = results.iter().flat_map(|run| &run.phases).map(|phase| phase.retries).sum();
    assert!(retried > 0, "the executor retried injected faults");
    eprintln!("{SEEDS} seeds in {:.1}s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_converges_under_faults_with_arm_throttling_on() {
    let started = std::time::Instant::now();
    let run = run_seed(SEEDS, true).await;
    assert!(run.violations.is_empty(), "accepted against the rules: {:#?}", run.violations);
    // The provider slows down before the read budget is gone (it reads the remaining budget
    // from x-ms-ratelimit-remaining-subscription-reads), so the buckets never answer 429.
    assert_eq!(run.refusals, 0, "no refusal besides the injected faults, no 429 from the buckets");
    eprintln!(
        "with throttling: {} requests, {} faults injected, {:.1}s",
        run.requests,
        run.faults,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn the_audit_catches_each_broken_rule() {
    azure_common::audit::self_test();
}
