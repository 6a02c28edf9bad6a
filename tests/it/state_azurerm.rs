//! A team sharing one state in Azure Blob Storage (Azurite on 127.0.0.1), through the `pgfleet`
//! binary in two working copies: one applies and the other plans no change; concurrent applies
//! (the second is refused naming the first); a holder killed with SIGKILL mid-apply (its lease
//! expires by itself and the other's apply goes on, waiting with --lock-timeout); Azurite stopped
//! in the middle of an apply (the state goes to errored.state.json, and `state push` brings it
//! back once Azurite runs again, nothing lost); moving a local state there with `state migrate`.

use crate::cli_support::text;
use crate::team_support::{AZURITE_KEY, Azurite, PATIENCE, Team, apply_in_progress, host};

const ONE_SERVER: &str = "[servers.app]\ntier = \"Basic\"\nvcores = 1\n";
const TWO_SERVERS: &str =
    "[servers.app]\ntier = \"Basic\"\nvcores = 1\n\n[servers.api]\ntier = \"Basic\"\nvcores = 1\n";

#[test]
fn two_working_copies_share_one_state_in_blob_storage() {
    let azurite = Azurite::start();
    let team = Team::on_azurite("shared", &azurite, "pgfleet");
    let (alice, bob) = (team.checkout(ONE_SERVER), team.checkout(ONE_SERVER));

    alice.run_expecting(&["apply", "--auto-approve"], 0);
    bob.run_expecting(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(text(&bob.run_expecting(&["state", "list"], 0).stdout), "servers.app\n");

    // Bob changes the fleet; Alice's next plan sees his apply in the shared state.
    bob.write_fleet(&team, TWO_SERVERS);
    alice.write_fleet(&team, TWO_SERVERS);
    bob.run_expecting(&["apply", "--auto-approve"], 0);
    alice.run_expecting(&["plan", "--detailed-exitcode"], 0);
    let state = alice.pull();
    assert_eq!(state["fleet"], "shared");
    assert_eq!(state["servers"].as_object().unwrap().keys().collect::<Vec<_>>(), ["api", "app"]);
    for copy in [&alice, &bob] {
        assert!(!copy.path("state").exists(), "no local state file in {}", copy.dir().display());
    }

    // Neither the access key nor the admin password is in the state or the output.
    let pulled = text(&alice.run_expecting(&["state", "pull"], 0).stdout);
    assert!(!pulled.contains(AZURITE_KEY) && !pulled.contains(crate::cli_support::PASSWORD), "{pulled}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_apply_is_refused_naming_the_holder_of_the_lease() {
    let azurite = Azurite::start();
    let team = Team::on_azurite("busy", &azurite, "pgfleet");
    let (alice, bob) = (team.checkout(ONE_SERVER), team.checkout(ONE_SERVER));

    let mut running = apply_in_progress(&alice).await;
    let refused = bob.run_expecting(&["apply", "--auto-approve"], 1);
    let stderr = text(&refused.stderr);
    let holder = format!("is locked by pid {} on host {} running `apply` since ", running.pid(), host());
    assert!(stderr.contains(&holder), "{stderr}");
    assert!(stderr.contains(&format!("blob {}/pgfleet/busy.state.json", azurite.endpoint())), "{stderr}");
    assert!(stderr.contains("--lock-timeout"), "{stderr}");

    assert_eq!(running.wait(), Some(0), "{}", running.stderr_text());
    bob.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_mid_apply_frees_its_lease_and_the_other_apply_goes_on() {
    let azurite = Azurite::start();
    let team = Team::on_azurite("killed", &azurite, "pgfleet");
    let (alice, bob) = (team.checkout(ONE_SERVER), team.checkout(ONE_SERVER));

    let mut running = apply_in_progress(&alice).await;
    let pid = running.pid();
    running.kill();

    // The lease is 15 s: Bob's wait of 30 s sees it expire, with no force-unlock.
    let started = std::time::Instant::now();
    let output = bob.run_expecting(&["apply", "--auto-approve", "--lock-timeout", "30s"], 0);
    let stderr = text(&output.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "{stderr}");
    assert!(stderr.contains("waiting up to 30s for the lock of the state blob"), "{stderr}");
    assert!(stderr.contains(&format!("took over the state lock from pid {pid} on host")), "{stderr}");
    bob.run_expecting(&["plan", "--detailed-exitcode"], 0);
    alice.run_expecting(&["plan", "--detailed-exitcode"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_storage_failing_mid_apply_leaves_an_errored_state_that_push_recovers() {
    let mut azurite = Azurite::start();
    let team = Team::on_azurite("outage", &azurite, "pgfleet");
    let (alice, bob) = (team.checkout(ONE_SERVER), team.checkout(ONE_SERVER));

    let mut running = apply_in_progress(&alice).await;
    // Held still while Azurite stops, so that every later request of the apply fails.
    crate::cli_support::signal(running.pid(), libc::SIGSTOP);
    azurite.stop();
    crate::cli_support::signal(running.pid(), libc::SIGCONT);
    running.remaining_events(PATIENCE).await;
    assert_eq!(running.wait(), Some(1), "{}", running.stderr_text());
    let stderr = running.stderr_text();
    assert!(stderr.contains("could not save the state to blob"), "{stderr}");
    assert!(stderr.contains("is saved in errored.state.json instead"), "{stderr}");
    assert!(stderr.contains("pgfleet state push errored.state.json"), "{stderr}");
    let errored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(alice.path("errored.state.json")).unwrap()).unwrap();
    assert!(errored["servers"]["app"].is_object(), "the created server is recorded: {errored:#}");
    assert!(errored.get("in_flight").is_none(), "its step finished: {errored:#}");

    azurite.restart();
    // The backend still has the state before the outage, with the step in flight.
    let before = bob.pull();
    assert_eq!(before["serial"].as_u64().unwrap() + 1, errored["serial"].as_u64().unwrap());
    let pushed = alice.run_expecting(&["state", "push", "errored.state.json", "--lock-timeout", "30s"], 0);
    assert!(text(&pushed.stderr).contains("Pushed errored.state.json"), "{}", text(&pushed.stderr));
    assert_eq!(bob.pull(), errored, "the backend has the errored state as it was");

    // Nothing was lost: the server the interrupted apply created is recorded, and nothing changes.
    let plan = bob.run_expecting(&["plan", "--detailed-exitcode"], 0);
    assert!(!text(&plan.stderr).contains("interrupted"), "{}", text(&plan.stderr));
    // A second push of the same file is refused: the backend has that serial already.
    let again = alice.run_expecting(&["state", "push", "errored.state.json"], 1);
    assert!(text(&again.stderr).contains("already has serial"), "{}", text(&again.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_migrate_moves_a_local_state_with_its_journal_into_blob_storage() {
    let azurite = Azurite::start();
    let team = Team::on_azurite("moved", &azurite, "pgfleet");
    let alice = team.checkout(ONE_SERVER);
    // The team starts on one laptop: the local state file.
    alice.write_fleet_with_state(&team, "", ONE_SERVER);
    alice.run_expecting(&["apply", "--auto-approve"], 0);
    let local = alice.path("state/moved.state.json");
    // An apply left a step in flight: the journal must move with the state.
    let mut store = pgfleet::state::StateStore::open(&local, "moved", "test").unwrap();
    store.append(&[crate::common::started("c1", "app")]).unwrap();
    drop(store);
    let before = alice.pull();
    assert_eq!(before["in_flight"].as_array().map(Vec::len), Some(1), "{before:#}");

    alice.write_fleet(&team, ONE_SERVER);
    let moved = alice.run_expecting(&["state", "migrate", "--from", "local"], 0);
    assert!(text(&moved.stderr).contains("1 journal records"), "{}", text(&moved.stderr));
    let after = alice.pull();
    assert_eq!(after, before, "the same state, serial, lineage and journal");
    // The source is left readable, and a second migration finds nothing to do.
    let source = alice.run_expecting(&["state", "list", "--state", "state/moved.state.json"], 0);
    assert_eq!(text(&source.stdout), "servers.app\n");
    let again = alice.run_expecting(&["state", "migrate", "--from", "local"], 0);
    assert!(text(&again.stderr).contains("nothing to move"), "{}", text(&again.stderr));
    // The next apply finishes the interrupted step from the blob's journal.
    let apply = alice.run_expecting(&["apply", "--auto-approve"], 0);
    assert!(text(&apply.stderr).contains("interrupted"), "{}", text(&apply.stderr));
    assert!(alice.pull().get("in_flight").is_none());
    // Plan and apply refuse --state with a remote backend, saying what to do.
    let refused = alice.run_expecting(&["plan", "--state", "state/moved.state.json"], 1);
    assert!(text(&refused.stderr).contains("state migrate --from local"), "{}", text(&refused.stderr));
}
