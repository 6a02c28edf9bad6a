//! The state lock between real processes: this test process, the built `pgfleet` binary, and a
//! child that re-runs this test binary to hold the lock through the library until it is killed.

use crate::common;

use common::{host, pgfleet, write_state};
use pgfleet::state::{LockStatus, StateError, StateStore, lock_path, lock_status};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Set in the child: the state file whose lock it holds.
const HOLD_ENV: &str = "PGFLEET_TEST_HOLD_LOCK";
/// The command the child records as holding the lock.
const HOLDER_COMMAND: &str = "pgfleet apply (lock-holding child)";
/// What the child prints once it holds the lock (libtest may print on the same line before it).
const LOCKED_MARKER: &str = "pgfleet-test-child-holds-the-lock";
/// How long a child holds the lock if nobody kills it, so a failed test leaves no process behind.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);

/// In a child started by [`HoldingChild::start`]: holds the lock until killed. Run directly, it
/// checks that a lock held and released in one process leaves nothing behind.
#[test]
fn lock_holding_child() {
    let Some(path) = std::env::var_os(HOLD_ENV) else {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payments.state.json");
        let store = StateStore::open(&path, "payments", HOLDER_COMMAND).unwrap();
        assert!(
            matches!(lock_status(&path).unwrap(), LockStatus::Held(Some(holder)) if holder.pid == std::process::id())
        );
        drop(store);
        assert_eq!(lock_status(&path).unwrap(), LockStatus::Free);
        return;
    };
    let _store = StateStore::open(Path::new(&path), "payments", HOLDER_COMMAND).unwrap();
    println!("{LOCKED_MARKER}");
    std::thread::sleep(CHILD_LIFETIME);
}

/// A child process holding the state lock; killed (SIGKILL) when dropped.
struct HoldingChild {
    child: Child,
}

impl HoldingChild {
    fn start(state: &Path) -> HoldingChild {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "state_lock::lock_holding_child", "--nocapture", "--test-threads=1"])
            .env(HOLD_ENV, state)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let locked = stdout.lines().map_while(Result::ok).any(|line| line.contains(LOCKED_MARKER));
        assert!(locked, "the child did not take the lock");
        HoldingChild { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child as `kill -9` would and waits until it is gone.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for HoldingChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn pgfleet_is_refused_while_this_process_holds_the_lock_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main"]);
    let held = StateStore::open(&path, "payments", "pgfleet apply --auto-approve").unwrap();

    let output = pgfleet(dir.path()).args(["state", "list", "--state"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains(&format!("pid {} on host {}", std::process::id(), host())), "{message}");
    assert!(message.contains("running `pgfleet apply --auto-approve` since"), "{message}");
    assert!(message.contains("pgfleet force-unlock"), "{message}");
    assert!(output.stdout.is_empty());

    drop(held);
    let output = pgfleet(dir.path()).args(["state", "list", "--state"]).arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn this_process_and_pgfleet_are_refused_while_another_process_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main"]);
    let child = HoldingChild::start(&path);

    let error = StateStore::open(&path, "payments", "pgfleet plan").unwrap_err();
    let StateError::Locked { holder: Some(holder), .. } = &error else {
        panic!("expected Locked, got {error}")
    };
    assert_eq!(holder.pid, child.pid());
    assert_eq!(holder.host, host());
    assert_eq!(holder.command, HOLDER_COMMAND);

    let output = pgfleet(dir.path())
        .args(["state", "show", "servers.pay-main", "--state"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains(&format!("pid {} on host", child.pid())), "{}", stderr(&output));
    assert!(stderr(&output).contains(HOLDER_COMMAND), "{}", stderr(&output));
}

#[test]
fn a_lock_left_by_a_killed_process_is_taken_over_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main"]);
    let child = HoldingChild::start(&path);
    let pid = child.pid();
    child.kill();
    assert!(lock_path(&path).exists(), "SIGKILL leaves the lock file behind");
    assert!(matches!(lock_status(&path).unwrap(), LockStatus::Abandoned(Some(holder)) if holder.pid == pid));

    let output = pgfleet(dir.path()).args(["state", "list", "--state"]).arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8(output.stdout.clone()).unwrap(), "servers.pay-main\n");
    let message = stderr(&output);
    assert!(message.contains(&format!("took over the state lock from pid {pid}")), "{message}");
    assert!(message.contains("may have been interrupted"), "{message}");
    let store = StateStore::open(&path, "payments", "pgfleet plan").unwrap();
    assert!(store.notes().is_empty(), "pgfleet released the lock cleanly: {:?}", store.notes());
}

#[test]
fn force_unlock_breaks_a_lock_a_running_process_holds_only_when_told_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main"]);
    let child = HoldingChild::start(&path);

    let output = pgfleet(dir.path()).args(["force-unlock", "--state"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--even-if-held"), "{}", stderr(&output));
    assert!(StateStore::open(&path, "payments", "pgfleet plan").is_err(), "still locked");

    let output =
        pgfleet(dir.path()).args(["force-unlock", "--even-if-held", "--state"]).arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("pid {} on host", child.pid())), "{}", stderr(&output));
    let output = pgfleet(dir.path()).args(["state", "list", "--state"]).arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    drop(child);
}

/// Regression: a plan started 1-10 ms before an apply made the apply fail; with
/// `--lock-timeout` the second command waits, says for whom, and proceeds once the lock is
/// released (here by this test, after it saw the waiting message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_lock_timeout_pgfleet_waits_for_the_holder_and_proceeds_when_it_releases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main"]);
    let held = StateStore::open(&path, "payments", "pgfleet apply --auto-approve").unwrap();

    let mut command = pgfleet(dir.path());
    command.args(["state", "list", "--lock-timeout", "30s", "--state"]).arg(&path).stdin(Stdio::null());
    let mut waiting = crate::cli_support::Running::start(command);
    let line = waiting.stderr_until(Duration::from_secs(30), "waiting up to 30s for the lock").await;
    assert!(line.contains(&format!("held by pid {} on host", std::process::id())), "{line}");
    assert!(line.contains("running `pgfleet apply --auto-approve`"), "{line}");
    drop(held);

    assert_eq!(waiting.wait(), Some(0), "{}", waiting.stderr_text());
    let listed = waiting.next_line(Duration::from_secs(30)).await;
    assert_eq!(listed.as_deref(), Some("servers.pay-main"));
    assert!(!waiting.stderr_text().contains("took over"), "{}", waiting.stderr_text());
}

#[test]
fn a_lock_timeout_that_runs_out_fails_naming_the_holder_and_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main"]);
    let _held = StateStore::open(&path, "payments", "pgfleet plan").unwrap();

    let output = pgfleet(dir.path())
        .args(["state", "list", "--lock-timeout", "100ms", "--state"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("waiting up to 100ms for the lock"), "{message}");
    assert!(message.contains(&format!("is locked by pid {} on host", std::process::id())), "{message}");
    assert!(message.contains("(waited 100ms for it)"), "{message}");
    assert!(output.stdout.is_empty());
}

#[test]
fn without_a_lock_timeout_pgfleet_fails_at_once_and_says_how_to_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main"]);
    let _held = StateStore::open(&path, "payments", "pgfleet plan").unwrap();

    let output = pgfleet(dir.path()).args(["state", "list", "--state"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(!message.contains("waiting"), "{message}");
    assert!(!message.contains("waited"), "{message}");
    assert!(message.contains("--lock-timeout"), "{message}");

    let output = pgfleet(dir.path())
        .args(["state", "list", "--lock-timeout", "soon", "--state"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(stderr(&output).contains("expected a duration such as 30s, 5m or 0"), "{}", stderr(&output));
}

/// The same wait in a command that loads the fleet: a plan behind an apply's lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_with_a_lock_timeout_waits_for_an_apply_and_then_plans() {
    let fleet = crate::cli_support::Fleet::new("waiting", "");
    let held = StateStore::open(&fleet.state(), "waiting", "pgfleet apply").unwrap();
    let mut plan = crate::cli_support::Running::start(fleet.command(&["plan", "--lock-timeout", "5m"]));
    let line = plan.stderr_until(Duration::from_secs(30), "waiting up to 5m for the lock").await;
    assert!(line.contains("running `pgfleet apply`"), "{line}");
    drop(held);
    assert_eq!(plan.wait(), Some(0), "{}", plan.stderr_text());
    assert!(!plan.stderr_text().contains("took over"), "{}", plan.stderr_text());
}
