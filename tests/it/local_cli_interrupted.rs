//! A create interrupted part-way, through `pgfleet apply` against real PostgreSQL: pgfleet is
//! killed (SIGKILL) at a precise point of a create, and the next apply rebuilds the server from
//! what was left, whatever else holds its port, and leaves no postgres of the leftover behind.
//!
//! Regression: `state_pg::force_unlock_ends_the_holders_session_and_the_holder_writes_nothing_over_it`
//! failed under load with the next apply's "pg_ctl start failed: … could not bind IPv4 address
//! "127.0.0.1": Address already in use … Is another postmaster already running on port N?": the
//! rebuild of an unfinished cluster reused its recorded port blindly, and decided from
//! `pg_ctl status` (a failure or a timeout read as "not running") whether its postmaster had to
//! be stopped before its data directory was removed.

use crate::cli_support::{Fleet, admin, poll_until, processes_working_in, text};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long any one wait of these tests may take (clusters are slow to build on a busy machine).
const PATIENCE: Duration = Duration::from_secs(180);

const ONE_SERVER: &str = "[servers.app]\ntier = \"Basic\"\nvcores = 1\n";

/// The directory of `app`'s cluster and its data directory.
fn app_dirs(fleet: &Fleet) -> (PathBuf, PathBuf) {
    let dir = fleet.root().join(&fleet.name).join("app");
    let data = dir.join("data");
    (dir, data)
}

/// What the provider recorded beside `app`'s cluster: whether its create finished, its port.
fn recorded(dir: &Path) -> (bool, u16) {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("pgfleet.json")).unwrap()).unwrap();
    (meta["complete"].as_bool().unwrap(), meta["port"].as_u64().unwrap() as u16)
}

/// Every live process whose working directory is under `root`, with that directory as the
/// kernel names it (a process working in a removed directory shows " (deleted)").
fn processes_under(root: &Path) -> Vec<(u32, String)> {
    let root = std::fs::canonicalize(root).unwrap().display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) {
            let cwd = cwd.display().to_string();
            if cwd.starts_with(&root) {
                found.push((pid, cwd));
            }
        }
    }
    found
}

/// The postmaster pid a data directory's lock file names.
fn postmaster_pid(data: &Path) -> Option<u32> {
    let lock = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    lock.lines().next()?.trim().parse().ok()
}

/// Asserts that the only postgres processes under the fleet's root are those of `app`'s one
/// running cluster: the postmaster its lock file names, working in its data directory.
fn only_apps_cluster_runs(fleet: &Fleet, data: &Path) {
    let postmaster = postmaster_pid(data).expect("app's cluster runs");
    let canonical = std::fs::canonicalize(data).unwrap().display().to_string();
    let processes = processes_under(&fleet.root());
    assert!(processes.iter().any(|(pid, _)| *pid == postmaster), "{processes:?}");
    assert!(processes.iter().all(|(_, cwd)| *cwd == canonical), "stray postgres processes: {processes:?}");
}

/// Starts `apply` and kills it (SIGKILL) once `reached` holds; returns what the create left:
/// `app`'s port as recorded, unfinished.
fn kill_apply_when(fleet: &Fleet, reached: impl Fn() -> bool, point: &str) -> u16 {
    let (dir, _) = app_dirs(fleet);
    let mut apply = fleet.spawn(&["apply", "--auto-approve", "--json"]);
    assert!(poll_until(PATIENCE, &reached), "the create never reached {point}: {}", apply.stderr_text());
    apply.kill();
    let (complete, port) = recorded(&dir);
    assert!(!complete, "the create finished before it was killed {point}");
    port
}

/// The next apply rebuilds the interrupted create and converges.
fn next_apply_converges(fleet: &Fleet) {
    let rerun = fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let stderr = text(&rerun.stderr);
    assert!(stderr.contains("an apply was interrupted while creating app"), "{stderr}");
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

/// Killed during initdb; meanwhile something else (here the test) took the port the create
/// had recorded. The rebuild chooses another port instead of failing to start on that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_interrupted_during_initdb_is_rebuilt_on_a_free_port_when_its_port_was_taken() {
    let fleet = Fleet::new("taken", ONE_SERVER);
    let (dir, data) = app_dirs(&fleet);
    let initdb_runs = || {
        processes_working_in(&data)
            .iter()
            .any(|(_, command)| command.contains("--boot") || command.contains("--single"))
    };
    let recorded_port = kill_apply_when(&fleet, initdb_runs, "during initdb");
    // initdb's process group ends with pgfleet (see `pgtools::group`).
    assert!(poll_until(PATIENCE, || processes_under(&fleet.root()).is_empty()), "initdb outlived pgfleet");
    let stranger = std::net::TcpListener::bind(("127.0.0.1", recorded_port)).unwrap();

    next_apply_converges(&fleet);
    let port = fleet.port("app");
    assert_ne!(port, recorded_port, "the taken port");
    assert_eq!(recorded(&dir), (true, port));
    admin(port).await.batch_execute("SELECT 1").await.unwrap();
    assert_eq!(stranger.local_addr().unwrap().port(), recorded_port, "the stranger keeps its port");
    only_apps_cluster_runs(&fleet, &data);
}

/// Killed after the cluster's first start, its postmaster running; and that postmaster is one
/// `pg_ctl status` does not report (its lock file moved away: what a status check that failed
/// or timed out on a loaded machine amounted to). The rebuild ends it before removing its data
/// directory, so it neither keeps the port nor lives on in a removed directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_interrupted_after_its_postmaster_started_ends_it_before_the_rebuild() {
    let fleet = Fleet::new("started", ONE_SERVER);
    let (dir, data) = app_dirs(&fleet);
    // The postmaster `pg_ctl start` forked: the create still waits for it to accept
    // connections, then connects and finishes, so it is killed well before it could finish.
    let postmaster_forked =
        || processes_working_in(&data).iter().any(|(_, command)| command.contains(" -D "));
    let recorded_port = kill_apply_when(&fleet, postmaster_forked, "after the first start");
    // The postmaster outlives pgfleet, as a server does, and comes up.
    let listening = || std::net::TcpStream::connect(("127.0.0.1", recorded_port)).is_ok();
    assert!(poll_until(PATIENCE, listening), "the leftover postmaster never listened");
    let leftover = postmaster_pid(&data).unwrap();
    std::fs::rename(data.join("postmaster.pid"), dir.join("postmaster.pid.moved")).unwrap();

    next_apply_converges(&fleet);
    assert!(
        !processes_under(&fleet.root()).iter().any(|(pid, _)| *pid == leftover),
        "the leftover postmaster {leftover} still runs"
    );
    // Its own port again: the leftover that held it is gone.
    assert_eq!(fleet.port("app"), recorded_port);
    assert_eq!(recorded(&dir), (true, recorded_port));
    admin(recorded_port).await.batch_execute("SELECT 1").await.unwrap();
    only_apps_cluster_runs(&fleet, &data);
}
