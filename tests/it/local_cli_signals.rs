//! Signals as users send them, through `pgfleet apply` against real PostgreSQL: Ctrl-C
//! (SIGINT to the whole foreground process group, as a terminal sends it) once lets the running
//! migration finish, pg_restore included, and starts nothing new; twice cancels it cleanly and
//! the next apply finishes it. A pgfleet killed outright (SIGKILL) while initdb runs leaves no
//! postgres of the half-made cluster behind, and the next apply converges. Ctrl-C at the
//! confirmation prompt (on a pseudo-terminal) changes nothing and releases the lock.

use crate::cli_support;

use cli_support::{
    Fleet, admin, poll_until, processes_mentioning, processes_working_in, signal, step_events, text,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long any one wait of these tests may take (clusters are slow to build on a busy machine).
const PATIENCE: Duration = Duration::from_secs(180);

/// 200,000 rows: enough that pg_restore runs for a while, little enough to dump quickly.
const FILL: &str = "
    CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount numeric(10, 2), note text);
    INSERT INTO orders SELECT g, g % 997, (g % 1000) * 1.25, md5(g::text) FROM generate_series(1, 200000) g;
    CREATE INDEX orders_by_customer ON orders (customer);";

/// The table's row count and an md5 of every row in order, computed here.
async fn fingerprint(port: u16) -> String {
    let sql = "SELECT count(*)::text || ' ' || md5(string_agg(o::text, '|' ORDER BY o.id)) FROM orders o";
    admin(port).await.query_one(sql, &[]).await.unwrap().get(0)
}

/// A Basic server `shop` holding [`FILL`], then the fleet file changed so that the next apply
/// migrates it to General Purpose and then creates its replica `shop-ro` (which needs the
/// migration first: Basic servers have no replicas). Returns the port and the fingerprint.
async fn shop_about_to_migrate(fleet: &Fleet) -> (u16, String) {
    fleet.run_expecting(&["apply", "--auto-approve"], 0);
    let port = fleet.port("shop");
    admin(port).await.batch_execute(FILL).await.unwrap();
    let before = fingerprint(port).await;
    fleet.write_servers(
        "[servers.shop]\ntier = \"GeneralPurpose\"\nvcores = 2\n\n\
         [servers.shop-ro]\nreplica_of = \"shop\"\ntier = \"GeneralPurpose\"\nvcores = 2\n",
    );
    (port, before)
}

/// Waits until the apply restores into the staging server and returns pg_restore's pid.
async fn pg_restore_of(fleet: &Fleet, apply: &mut cli_support::Running) -> u32 {
    apply
        .events_until(PATIENCE, |event| {
            event["type"] == "step_progress" && event["message"] == "restoring into the target"
        })
        .await;
    let dumps = fleet.path("migrations").display().to_string();
    let restore = || {
        processes_mentioning(&dumps)
            .into_iter()
            .find(|(_, command)| command.contains("pg_restore"))
            .map(|(pid, _)| pid)
    };
    assert!(poll_until(PATIENCE, || restore().is_some()), "pg_restore never ran: {}", apply.stderr_text());
    restore().unwrap()
}

/// The dump and restore tools of this fleet's migration that still run.
fn copy_tools(fleet: &Fleet) -> Vec<(u32, String)> {
    let dumps = fleet.path("migrations").display().to_string();
    processes_mentioning(&dumps)
        .into_iter()
        .filter(|(_, command)| command.contains("pg_dump") || command.contains("pg_restore"))
        .collect()
}

fn summary(events: &[serde_json::Value]) -> &serde_json::Value {
    let finished = events.iter().find(|event| event["type"] == "apply_finished");
    &finished.unwrap_or_else(|| panic!("no apply_finished in {events:#?}"))["summary"]
}

/// Starts `pgfleet apply --json` and, once pg_restore runs, sends the terminal's Ctrl-C to the
/// apply's process group; returns when pgfleet has heard it. The restore (whose pid is
/// returned) is held still with SIGSTOP while the interrupt arrives, so it is certainly running
/// when the SIGINT reaches every process of the foreground group; the caller resumes it.
async fn interrupted_while_restoring(fleet: &Fleet) -> (cli_support::Running, u32) {
    let mut apply = fleet.spawn(&["apply", "--auto-approve", "--json"]);
    let restore = pg_restore_of(fleet, &mut apply).await;
    signal(restore, libc::SIGSTOP);
    apply.interrupt();
    apply.stderr_until(PATIENCE, "interrupt: no new steps will start").await;
    (apply, restore)
}

/// Regression: Ctrl-C during an apply killed pg_restore (it shared the terminal's process
/// group), although the message promised that running steps finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_ctrl_c_lets_a_running_restore_finish_and_starts_nothing_new() {
    let fleet = Fleet::new("stop", "[servers.shop]\ntier = \"Basic\"\nvcores = 1\n");
    let (port, before) = shop_about_to_migrate(&fleet).await;

    let (mut apply, restore) = interrupted_while_restoring(&fleet).await;
    signal(restore, libc::SIGCONT);

    let events = apply.remaining_events(PATIENCE).await;
    assert_eq!(apply.wait(), Some(1), "{}", apply.stderr_text());
    let steps = step_events(&events);
    assert!(steps.contains(&("step_succeeded".into(), "shop".into())), "{steps:?}\n{}", apply.stderr_text());
    assert!(!steps.contains(&("step_started".into(), "shop-ro".into())), "{steps:?}");
    let skipped =
        events.iter().find(|event| event["type"] == "step_skipped").expect("the replica was not started");
    assert_eq!(skipped["reason"], "not started: the apply was cancelled", "{skipped:#}");
    assert_eq!(
        (summary(&events)["migrated"].as_u64(), summary(&events)["aborted"].as_u64()),
        (Some(1), Some(0))
    );
    let stderr = apply.stderr_text();
    assert!(stderr.contains("the apply was interrupted; run `pgfleet apply` again to finish it"), "{stderr}");

    // The state says what happened: the migration done, the replica not made.
    let recorded = fleet.run_expecting(&["state", "show", "servers.shop", "--json"], 0);
    let recorded: serde_json::Value = serde_json::from_slice(&recorded.stdout).unwrap();
    assert_eq!(recorded["spec"]["tier"], "GeneralPurpose", "{recorded:#}");
    assert_eq!(text(&fleet.run_expecting(&["state", "list"], 0).stdout), "servers.shop\n");
    assert_eq!(fingerprint(port).await, before);

    let rerun = fleet.run_expecting(&["apply", "--auto-approve", "--json"], 0);
    assert!(!text(&rerun.stderr).contains("interrupted"), "{}", text(&rerun.stderr));
    let steps = step_events(&cli_support::json_lines(&rerun.stdout));
    assert_eq!(steps.iter().filter(|(kind, _)| kind == "step_started").count(), 1, "{steps:?}");
    assert!(steps.contains(&("step_succeeded".into(), "shop-ro".into())), "{steps:?}");
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_cancels_the_running_restore_and_the_next_apply_finishes_the_migration() {
    let fleet = Fleet::new("abort", "[servers.shop]\ntier = \"Basic\"\nvcores = 1\n");
    let (port, before) = shop_about_to_migrate(&fleet).await;

    // The restore is still held, so it is certainly the restore that the second interrupt cancels.
    let (mut apply, _restore) = interrupted_while_restoring(&fleet).await;
    apply.interrupt();
    apply.stderr_until(PATIENCE, "second interrupt: aborting running steps").await;

    let events = apply.remaining_events(PATIENCE).await;
    assert_eq!(apply.wait(), Some(1), "{}", apply.stderr_text());
    let steps = step_events(&events);
    assert!(!steps.iter().any(|(kind, server)| kind == "step_succeeded" && server == "shop"), "{steps:?}");
    assert_eq!(summary(&events)["aborted"].as_u64(), Some(1), "{events:#?}");
    let stderr = apply.stderr_text();
    assert!(stderr.contains("the apply was interrupted; run `pgfleet apply` again to finish it"), "{stderr}");
    // The restore (stopped, so it could not have ended by itself) went with the step.
    assert!(
        poll_until(PATIENCE, || copy_tools(&fleet).is_empty()),
        "still running: {:?}",
        copy_tools(&fleet)
    );
    let lock = pgfleet::state::lock_path(&fleet.state());
    assert!(!lock.exists(), "the lock is released");

    let rerun = fleet.run_expecting(&["apply", "--auto-approve", "--json"], 0);
    let stderr = text(&rerun.stderr);
    assert!(stderr.contains("an apply was interrupted while migrating shop"), "{stderr}");
    assert!(!stderr.contains("took over the state lock"), "{stderr}");
    let steps = step_events(&cli_support::json_lines(&rerun.stdout));
    for server in ["shop", "shop-ro"] {
        assert!(steps.contains(&("step_succeeded".into(), server.into())), "{steps:?}");
    }
    assert_eq!(fleet.port("shop"), port);
    assert_eq!(fingerprint(port).await, before);
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

/// Regression: after a SIGKILL of pgfleet during initdb, initdb's single-user postgres lived on
/// in the data directory, and the re-run failed in 9 of 68 kills with "single-user server is
/// running".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pgfleet_killed_during_initdb_leaves_no_postgres_and_the_next_apply_converges() {
    let fleet = Fleet::new("initdb", "[servers.fresh]\ntier = \"GeneralPurpose\"\nvcores = 2\n");
    let data = fleet.root().join(&fleet.name).join("fresh").join("data");
    let mut apply = fleet.spawn(&["apply", "--auto-approve", "--json"]);
    // initdb runs postgres in bootstrap, then single-user mode, working in the data directory.
    let backend = || {
        processes_working_in(&data)
            .into_iter()
            .find(|(_, command)| command.contains("--boot") || command.contains("--single"))
            .map(|(pid, _)| pid)
    };
    assert!(
        poll_until(PATIENCE, || backend().is_some()),
        "initdb never ran postgres: {}",
        apply.stderr_text()
    );
    let backend = backend().unwrap();
    // It reads its commands from initdb through a pipe, and ends by itself soon after initdb
    // is gone and the pipe closes. The test keeps the pipe open (as a slow machine keeps it
    // busy), so that only the end of initdb's process group can end it.
    let pipe = std::fs::OpenOptions::new().write(true).open(format!("/proc/{backend}/fd/0"));
    let _pipe = pipe.unwrap_or_else(|error| panic!("the backend's input: {error}"));
    apply.kill();

    // The kernel delivers the kills at once; 30 s only bounds a failure.
    let gone = poll_until(Duration::from_secs(30), || processes_working_in(&data).is_empty());
    let leftovers: BTreeMap<u32, String> = processes_working_in(&data).into_iter().collect();
    for pid in leftovers.keys() {
        signal(*pid, libc::SIGKILL);
    }
    assert!(gone, "postgres processes of the killed apply still run in {}: {leftovers:?}", data.display());
    assert!(processes_mentioning(&data.display().to_string()).is_empty(), "initdb still runs");

    let rerun = fleet.run_expecting(&["apply", "--auto-approve"], 0);
    assert!(text(&rerun.stderr).contains("took over the state lock"), "{}", text(&rerun.stderr));
    admin(fleet.port("fresh")).await.batch_execute("SELECT 1").await.unwrap();
    fleet.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

/// Regression: Ctrl-C at the confirmation prompt killed pgfleet and left the lock file, so the
/// next command reported that it "took over the state lock" from a command that may have been
/// interrupted mid-apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_at_the_confirmation_prompt_changes_nothing_and_releases_the_lock() {
    let fleet = Fleet::new("prompt", "[servers.asked]\ntier = \"GeneralPurpose\"\nvcores = 2\n");
    // The prompt is asked on a terminal only; nobody ever answers this one.
    let (_keyboard, terminal) = cli_support::terminal();
    let mut command = fleet.command(&["apply"]);
    command.stdin(terminal);
    let mut apply = cli_support::Running::start(command);
    apply.stderr_until(PATIENCE, "Only 'yes' will be accepted").await;
    apply.interrupt();
    assert_eq!(apply.wait(), Some(1), "{}", apply.stderr_text());
    let stderr = apply.stderr_text();
    assert!(stderr.contains("Do you want to apply this change to fleet \"prompt\"? Only 'yes'"), "{stderr}");
    assert!(stderr.contains("Apply cancelled: nothing was changed."), "{stderr}");

    assert!(!pgfleet::state::lock_path(&fleet.state()).exists(), "the lock file is left behind");
    assert!(!fleet.state().exists(), "a state was written");
    assert!(fleet.cluster_dirs().is_empty(), "{:?}", fleet.cluster_dirs());
    let plan = fleet.run_expecting(&["plan"], 0);
    assert!(!text(&plan.stderr).contains("took over"), "{}", text(&plan.stderr));
}
