//! A team sharing one state in PostgreSQL (a real cluster on 127.0.0.1), through the `pgfleet`
//! binary in two working copies: one applies and the other plans no change; concurrent applies
//! (the second is refused naming the first); a holder killed with SIGKILL mid-apply (its session
//! ends, so the advisory lock is free at once); `force-unlock --even-if-held` ends the holder's
//! session, and the holder then saves nothing more over it; a state moved from another fleet
//! file's backend (Azurite) with `state migrate --from FILE`.

use crate::cli_support::text;
use crate::team_support::{Azurite, CONN_VARIABLE, PATIENCE, StateDatabase, Team, apply_in_progress, host};

const ONE_SERVER: &str = "[servers.app]\ntier = \"Basic\"\nvcores = 1\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_working_copies_share_one_state_in_postgresql() {
    let database = StateDatabase::start().await;
    let team = Team::on_pg("shared", &database, "pgfleet_state");
    let (alice, bob) = (team.checkout(ONE_SERVER), team.checkout(ONE_SERVER));

    alice.run_expecting(&["apply", "--auto-approve"], 0);
    bob.run_expecting(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(text(&bob.run_expecting(&["state", "list"], 0).stdout), "servers.app\n");

    // The state is a row of the schema's table; the previous one is its backup; no journal is
    // left once the apply ended, and no lock once the commands ended.
    let client = database.connect().await;
    let row = client
        .query_one("SELECT serial, document FROM pgfleet_state.states WHERE name = 'shared'", &[])
        .await
        .unwrap();
    let serial: i64 = row.get(0);
    let document: String = row.get(1);
    assert_eq!(serial as u64, bob.pull()["serial"].as_u64().unwrap());
    assert!(!document.contains(crate::cli_support::PASSWORD), "no password in the state");
    let backups: i64 =
        client.query_one("SELECT count(*) FROM pgfleet_state.backups", &[]).await.unwrap().get(0);
    assert_eq!(backups, 1);
    for table in ["journal", "locks"] {
        let rows: i64 = client
            .query_one(&format!("SELECT count(*) FROM pgfleet_state.{table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 0, "{table}");
    }
    // The connection string (which holds the password) is never printed.
    let output = bob.run_expecting(&["state", "pull"], 0);
    assert!(!text(&output.stderr).contains("password="), "{}", text(&output.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_apply_is_refused_naming_the_holder_of_the_advisory_lock() {
    let database = StateDatabase::start().await;
    let team = Team::on_pg("busy", &database, "pgfleet_state");
    let (alice, bob) = (team.checkout(ONE_SERVER), team.checkout(ONE_SERVER));

    let mut running = apply_in_progress(&alice).await;
    let refused = bob.run_expecting(&["apply", "--auto-approve"], 1);
    let stderr = text(&refused.stderr);
    let holder = format!("is locked by pid {} on host {} running `apply` since ", running.pid(), host());
    assert!(stderr.contains(&holder), "{stderr}");
    assert!(stderr.contains("row \"busy\" of pgfleet_state.states on 127.0.0.1:"), "{stderr}");

    assert_eq!(running.wait(), Some(0), "{}", running.stderr_text());
    bob.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_mid_apply_frees_the_lock_with_its_session() {
    let database = StateDatabase::start().await;
    let team = Team::on_pg("killed", &database, "pgfleet_state");
    let (alice, bob) = (team.checkout(ONE_SERVER), team.checkout(ONE_SERVER));

    let mut running = apply_in_progress(&alice).await;
    let pid = running.pid();
    running.kill();

    let output = bob.run_expecting(&["apply", "--auto-approve", "--lock-timeout", "30s"], 0);
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&format!("took over the state lock from pid {pid} on host")), "{stderr}");
    bob.run_expecting(&["plan", "--detailed-exitcode"], 0);
    alice.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_unlock_ends_the_holders_session_and_the_holder_writes_nothing_over_it() {
    let database = StateDatabase::start().await;
    let team = Team::on_pg("stuck", &database, "pgfleet_state");
    let (alice, bob) = (team.checkout(ONE_SERVER), team.checkout(ONE_SERVER));

    let mut running = apply_in_progress(&alice).await;
    // Held still meanwhile, so that its step certainly ends after its session did.
    crate::cli_support::signal(running.pid(), libc::SIGSTOP);
    let refused = bob.run_expecting(&["force-unlock"], 1);
    assert!(text(&refused.stderr).contains("which still holds the lock"), "{}", text(&refused.stderr));
    let broken = bob.run_expecting(&["force-unlock", "--even-if-held"], 0);
    let stderr = text(&broken.stderr);
    assert!(stderr.contains(&format!("held by pid {} on host", running.pid())), "{stderr}");
    crate::cli_support::signal(running.pid(), libc::SIGCONT);

    // Its session is gone: the apply cannot record its step's end, and says where it went.
    running.remaining_events(PATIENCE).await;
    assert_eq!(running.wait(), Some(1), "{}", running.stderr_text());
    let stderr = running.stderr_text();
    assert!(stderr.contains("errored.state.json"), "{stderr}");
    // The next apply recovers the interrupted step; pushing the errored state is not needed.
    bob.run_expecting(&["apply", "--auto-approve"], 0);
    bob.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_migrate_moves_the_state_from_another_fleet_files_backend() {
    let azurite = Azurite::start();
    let database = StateDatabase::start().await;
    let on_blobs = Team::on_azurite("moving", &azurite, "pgfleet");
    let alice = on_blobs.checkout(ONE_SERVER);
    alice.run_expecting(&["apply", "--auto-approve"], 0);
    let before = alice.pull();
    std::fs::copy(alice.path("fleet.toml"), alice.path("blobs.toml")).unwrap();

    // The same fleet (servers under the same root), its state now in PostgreSQL.
    alice.write_fleet_with_state(&on_blobs, &database.state_section("team_state"), ONE_SERVER);
    let moved = alice
        .command(&["state", "migrate", "--from", "blobs.toml"])
        .env(CONN_VARIABLE, database.conn_str())
        .output()
        .unwrap();
    assert_eq!(moved.status.code(), Some(0), "{}", text(&moved.stderr));
    let mut pulled = alice.command(&["state", "pull"]);
    pulled.env(CONN_VARIABLE, database.conn_str());
    let after: serde_json::Value = serde_json::from_slice(&pulled.output().unwrap().stdout).unwrap();
    assert_eq!(after, before, "the same state, lineage and serial");
    // The source stays readable where it was.
    let source = alice.run_expecting(&["state", "list", "-c", "blobs.toml"], 0);
    assert_eq!(text(&source.stdout), "servers.app\n");
}
