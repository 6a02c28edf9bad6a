//! A `pgfleet apply` (the real binary) of a Basic → General Purpose migration through the
//! `azure` provider against the emulator with `--backing local`, killed with SIGKILL in the
//! middle of the migration, completes on re-run with every row kept (checksums compared here).
//! Three points of death: while the emulator still builds the staging server (the re-run meets
//! 409 AnotherOperationInProgress), while the data is being copied (the source frozen), and
//! in the cutover, after the staging server took the server's name and before the old server
//! is deleted.

use crate::azure_common;

use azure_common::backed::{backed_emulator_with, checksums, connect, running_clusters};
use azure_common::*;
use pgfleet::emulator::RunningEmulator;
use pgfleet::model::ServerName;
use pgfleet::providers::Provider;
use pgfleet::providers::azure::AzureProvider;
use pgfleet::rules::Tier;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const SERVER: &str = "kill-shop";

/// Where the first apply dies.
#[derive(Debug, Clone, Copy)]
enum Death {
    /// As soon as the emulator accepted the staging server's create.
    StagingCreate,
    /// Once the source is frozen and the dump is under way.
    Copy,
    /// At cutover, once the staging server took the server's name (its tag), before the old
    /// server is deleted.
    Cutover,
}

struct Setup {
    directory: tempfile::TempDir,
    emulator: RunningEmulator,
}

impl Setup {
    fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    fn write_fleet(&self, tier: &str, vcores: u32) {
        let text = format!(
            "[fleet]\nname = \"killed\"\n[provider]\nkind = \"azure\"\n[provider.azure]\n\
             subscription_id = \"{SUBSCRIPTION}\"\nresource_group = \"{GROUP}\"\nlocation = \"westeurope\"\n\
             endpoint = \"{}\"\n[defaults]\nversion = \"11\"\nadmin_login = \"fleetadmin\"\n\
             admin_password = {{ file = \"password\" }}\nstorage_gb = 20\n\
             [servers.{SERVER}]\ntier = \"{tier}\"\nvcores = {vcores}\n",
            self.emulator.base_url()
        );
        std::fs::write(self.path("fleet.toml"), text).unwrap();
    }

    /// The binary with credentials pointed at the emulator and fast polls.
    fn command(&self, args: &[&str]) -> Command {
        pgfleet_command(self.directory.path(), &self.emulator.base_url(), args)
    }

    async fn run(&self, args: &[&str]) -> Output {
        run_pgfleet(self.directory.path(), &self.emulator.base_url(), args).await
    }

    fn provider(&self) -> AzureProvider {
        let mut options = provider_options(&self.emulator, &[SERVER]);
        options.polling.timeout = Duration::from_secs(300);
        AzureProvider::new(options).unwrap()
    }
}

/// Whether the first apply reached the point where it dies.
fn reached(setup: &Setup, death: Death) -> bool {
    match death {
        Death::StagingCreate => setup.emulator.requests().iter().any(|request| {
            request.accepted
                && request.method == "PUT"
                && request.path.ends_with(&format!("/servers/{SERVER}-migration"))
        }),
        Death::Cutover => setup.emulator.requests().iter().any(|request| {
            request.accepted
                && request.method == "PATCH"
                && request.path.ends_with(&format!("/servers/{SERVER}-migration"))
                && request.body.as_ref().is_some_and(|body| body.pointer("/tags/pgfleet-name").is_some())
        }),
        Death::Copy => {
            let work = setup.path("migrations").join(SERVER);
            work.join("freeze.json").is_file()
                && std::fs::read_dir(&work).into_iter().flatten().flatten().any(|entry| {
                    entry.file_name().to_string_lossy().starts_with("database-")
                        || entry.file_name().to_string_lossy() == "globals.sql"
                })
        }
    }
}

/// The processes whose parent is `pid` (from `/proc/*/stat`).
fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The fields after the command name (which may hold spaces) in parentheses.
        let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if parent.and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            children.push(child);
        }
    }
    children
}

async fn kill_when(setup: &Setup, mut child: Child, death: Death) {
    for _ in 0..6000 {
        if reached(setup, death) {
            let tools = children_of(child.id());
            child.kill().expect("SIGKILL");
            child.wait().unwrap();
            // pg_dump or pg_restore, orphaned by the kill, finish on their own: wait for them,
            // so the re-run does not race them and no process outlives the test.
            for _ in 0..600 {
                if tools.iter().all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the killed apply's tools {tools:?} did not finish");
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the apply ended ({status}) before it could be killed at {death:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = child.kill();
    panic!("the apply never reached {death:?}");
}

async fn killed_and_rerun(death: Death) {
    // Updates and deletes take long enough that the cutover's window (after the tag, before
    // the old server is gone) is not missed on a busy machine.
    let latencies = pgfleet::emulator::Latencies {
        update: Duration::from_millis(400),
        delete: Duration::from_millis(400),
        ..fast_latencies()
    };
    killed_and_rerun_with(death, latencies).await;
}

/// Returns how many writes of the staging server the emulator turned away as busy.
async fn killed_and_rerun_with(death: Death, latencies: pgfleet::emulator::Latencies) -> usize {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("password"), PASSWORD).unwrap();
    let root = directory.path().join("clusters");
    let emulator = backed_emulator_with(&root, latencies).await;
    let setup = Setup { directory, emulator };
    setup.write_fleet("Basic", 1);
    assert_exit(&setup.run(&["apply", "--auto-approve"]).await, 0);

    let provider = retrying(std::sync::Arc::new(setup.provider()));
    let source = provider.connection(&ServerName::new(SERVER)).await.unwrap().endpoint;
    connect(&source, "postgres").await.batch_execute("CREATE DATABASE shop").await.unwrap();
    let shop = connect(&source, "shop").await;
    shop.batch_execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer text, total numeric(12,2));\n\
         INSERT INTO orders SELECT g, 'customer ' || (g % 101), (g * 13 % 997) / 7.0 FROM generate_series(1, 200000) g;\n\
         CREATE TABLE audit (id bigserial PRIMARY KEY, line text);\n\
         INSERT INTO audit (line) SELECT md5(g::text) FROM generate_series(1, 20000) g;",
    )
    .await
    .unwrap();
    let before = checksums(&shop).await;
    drop(shop);

    setup.write_fleet("GeneralPurpose", 2);
    let child = setup
        .command(&["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_when(&setup, child, death).await;
    if let Death::Cutover = death {
        assert!(setup.emulator.server_address(SERVER).is_some(), "killed before the old server was deleted");
    }

    let started = std::time::Instant::now();
    let rerun = setup.run(&["apply", "--auto-approve"]).await;
    assert_exit(&rerun, 0);
    eprintln!("{death:?}: the re-run finished the migration in {:.1}s", started.elapsed().as_secs_f64());
    let again = setup.run(&["plan", "--detailed-exitcode"]).await;
    assert_exit(&again, 0);

    let live = provider.refresh().await.unwrap();
    let server = &live[&ServerName::new(SERVER)];
    assert_eq!((server.spec.tier, server.spec.vcores), (Tier::GeneralPurpose, 2));
    let target = server.endpoint.clone().unwrap();
    assert_ne!(target.host, source.host);
    let shop = connect(&target, "shop").await;
    assert_eq!(checksums(&shop).await, before, "every row after {death:?}");
    drop(shop);
    assert_eq!(live.len(), 1, "no staging server is left: {:?}", live.keys().collect::<Vec<_>>());
    // On the emulator itself: the old server is gone (not only hidden behind the new one).
    assert_eq!(setup.emulator.server_address(SERVER), None, "the Basic server is retired");
    assert!(setup.emulator.server_address(&format!("{SERVER}-migration")).is_some());
    assert!(!setup.path("migrations").join(SERVER).exists(), "the dumps are removed once done");
    let state = std::fs::read_to_string(setup.path("state.json")).unwrap();
    assert!(!state.contains(PASSWORD) && !text(&rerun.stderr).contains(PASSWORD));

    let busy = setup
        .emulator
        .requests()
        .iter()
        .filter(|request| {
            request.path.ends_with(&format!("/servers/{SERVER}-migration"))
                && request.code.as_deref() == Some("AnotherOperationInProgress")
        })
        .count();

    let Setup { directory, emulator } = setup;
    emulator.shutdown().await;
    assert_eq!(running_clusters(&root), Vec::<String>::new());
    drop(directory);
    busy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_killed_while_the_staging_server_is_built_completes_on_rerun() {
    killed_and_rerun(Death::StagingCreate).await;
}

/// Regression: the re-run met the staging server's create still in progress (409
/// AnotherOperationInProgress) and gave up after ten quick retries (about 5 s with the tests'
/// 10 ms first backoff) instead of waiting for the operation, so it failed whenever the
/// create outlasted them (under load, on the base commit too). Here every create takes 12 s,
/// so the re-run always meets the operation the killed apply left for longer than that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_killed_during_a_slow_staging_create_waits_for_it_on_rerun() {
    let latencies = pgfleet::emulator::Latencies {
        create: Duration::from_secs(12),
        update: Duration::from_millis(400),
        delete: Duration::from_millis(400),
        ..fast_latencies()
    };
    let busy = killed_and_rerun_with(Death::StagingCreate, latencies).await;
    assert!(busy > 0, "the re-run did not meet the create in progress");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_killed_while_copying_completes_on_rerun() {
    killed_and_rerun(Death::Copy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_killed_in_the_cutover_completes_on_rerun() {
    killed_and_rerun(Death::Cutover).await;
}
