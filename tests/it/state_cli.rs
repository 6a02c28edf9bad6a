//! `pgfleet state list|show` and `pgfleet force-unlock` as a user runs them: the built binary,
//! real files, exit codes, stdout and stderr.

use crate::common;

use common::{pgfleet, write_state};
use pgfleet::state::{LockHolder, default_state_path, lock_path};
use std::path::Path;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn state_list_prints_one_address_per_line_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-ro-1", "pay-main", "audit"]);
    let output = pgfleet(dir.path()).args(["state", "list", "--state"]).arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "servers.audit\nservers.pay-main\nservers.pay-ro-1\n");
}

#[test]
fn without_state_the_path_comes_from_the_fleet_name_even_in_an_invalid_fleet_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.toml"), "[fleet]\nname = \"billing\"\nunknown_key = 3\n").unwrap();
    write_state(&dir.path().join(default_state_path("billing")), "billing", &["bill-main"]);
    let output = pgfleet(dir.path()).args(["state", "list"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "servers.bill-main\n");

    std::fs::write(dir.path().join("other.toml"), "[provider]\nkind = \"local\"\n").unwrap();
    let output = pgfleet(dir.path()).args(["state", "list", "-c", "other.toml"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("has no `[fleet] name`"), "{}", stderr(&output));
    assert!(stderr(&output).contains("--state"), "{}", stderr(&output));
}

#[test]
fn state_list_of_a_fleet_never_applied_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        pgfleet(dir.path()).args(["state", "list", "--state", "nowhere/x.state.json"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    assert!(stderr(&output).contains("nothing is recorded yet"), "{}", stderr(&output));
    assert!(!dir.path().join("nowhere").exists(), "a read creates nothing");
}

#[test]
fn state_show_prints_the_recorded_attributes_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main"]);
    let output = pgfleet(dir.path())
        .args(["state", "show", "servers.pay-main", "--state"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("# servers.pay-main\n"), "{text}");
    assert!(text.lines().any(|line| line.starts_with("spec.vcores ") && line.ends_with("= 8")), "{text}");
    assert!(text.contains("pay-main.postgres.database.azure.com"), "{text}");
    assert!(text.lines().any(|line| line.starts_with("sku ") && line.ends_with("= GP_Gen5_8")), "{text}");
    let uri = "postgresql://fleetadmin%40pay-main@pay-main.postgres.database.azure.com:5432/postgres";
    assert!(text.lines().any(|line| line.starts_with("endpoint.uri ") && line.ends_with(uri)), "{text}");

    let output = pgfleet(dir.path())
        .args(["state", "show", "servers.pay-main", "--json", "--state"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let recorded: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(shown, recorded["servers"]["pay-main"]);
    assert!(!stdout(&output).to_lowercase().contains("password"));

    // The name alone names the same server, as in every command.
    let output = pgfleet(dir.path())
        .args(["state", "show", "pay-main", "--json", "--state"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stdout(&output)).unwrap(), shown);
}

#[test]
fn state_show_of_an_unknown_address_suggests_the_closest_recorded_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main", "audit"]);
    for typed in ["servers.pay-mian", "pay-mian"] {
        let output =
            pgfleet(dir.path()).args(["state", "show", typed, "--state"]).arg(&path).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{typed}");
        let message = stderr(&output);
        assert!(message.contains(&format!("{typed} is not recorded")), "{message}");
        assert!(message.contains("did you mean servers.pay-main?"), "{message}");
    }
    let output =
        pgfleet(dir.path()).args(["state", "show", "servers.zzz", "--state"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(!stderr(&output).contains("did you mean"), "{}", stderr(&output));
}

#[test]
fn a_corrupt_state_is_reported_with_line_and_column_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    std::fs::write(&path, "{\n  \"format_version\": 1,\n  \"serial\": oops\n}\n").unwrap();
    let output = pgfleet(dir.path()).args(["state", "list", "--state"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("is corrupt at line 3, column"), "{message}");
    assert!(message.contains("hint:"), "{message}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\n  \"format_version\": 1,\n  \"serial\": oops\n}\n"
    );
}

fn leave_lock(path: &Path, pid: u32) {
    let holder = LockHolder {
        pid,
        host: "elsewhere".into(),
        command: "pgfleet apply".into(),
        since: chrono::Utc::now(),
    };
    std::fs::write(lock_path(path), serde_json::to_string(&holder).unwrap()).unwrap();
}

#[test]
fn force_unlock_removes_an_abandoned_lock_and_says_whose_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main"]);
    leave_lock(&path, 4242);
    let output = pgfleet(dir.path()).args(["force-unlock", "--state"]).arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("pid 4242 on host elsewhere"), "{}", stderr(&output));
    assert!(!lock_path(&path).exists());

    let output = pgfleet(dir.path()).args(["force-unlock", "--state"]).arg(&path).output().unwrap();
    assert!(output.status.success());
    assert!(stderr(&output).contains("is not locked"), "{}", stderr(&output));
}

#[test]
fn a_command_after_an_abandoned_lock_takes_it_over_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main"]);
    leave_lock(&path, 4343);
    let output = pgfleet(dir.path()).args(["state", "list", "--state"]).arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "servers.pay-main\n");
    assert!(
        stderr(&output).contains("warning: took over the state lock from pid 4343"),
        "{}",
        stderr(&output)
    );
    assert!(!lock_path(&path).exists(), "released at exit");
}

/// A state and journal pgfleet 0.1.0 wrote when an apply was killed mid-migration (see the
/// fixture's README) load in the current pgfleet, which recovers the interrupted step and
/// writes the state in its own form in place, keeping the lineage.
#[test]
fn a_state_an_earlier_release_left_mid_migration_loads_and_is_upgraded_in_place() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state/0.1.0-interrupted-migration");
    let dir = tempfile::tempdir().unwrap();
    for file in ["state.json", "state.json.journal", "state.json.backup"] {
        std::fs::copy(fixture.join(file), dir.path().join(file)).unwrap();
    }
    let old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("state.json")).unwrap()).unwrap();
    std::fs::write(dir.path().join("password"), "Correct-Horse-9").unwrap();
    let fleet = format!(
        "[fleet]\nname = \"upgrade\"\n[provider]\nkind = \"local\"\n[provider.local]\nroot = {:?}\nport_base = 57300\n\
         [defaults]\nversion = \"11\"\ngeneration = \"Gen5\"\nstorage_gb = 20\ntier = \"GeneralPurpose\"\nvcores = 2\n\
         ssl_enforcement = false\nminimal_tls_version = \"TLSEnforcementDisabled\"\nadmin_login = \"fleetadmin\"\n\
         admin_password = {{ file = \"password\" }}\n[servers.pay-main]\n[servers.ledger]\n",
        dir.path().join("local").display().to_string()
    );
    std::fs::write(dir.path().join("fleet.toml"), fleet).unwrap();
    let run =
        |args: &[&str]| pgfleet(dir.path()).args(args).args(["--state", "state.json"]).output().unwrap();

    // Read as it is: the servers it records and the step in flight.
    let list = run(&["state", "list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    assert_eq!(stdout(&list), "servers.ledger\nservers.pay-main\nservers.pay-ro-1\n");
    let show = run(&["state", "show", "servers.ledger", "--json"]);
    assert!(show.status.success(), "{}", stderr(&show));
    let ledger: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    assert_eq!(ledger["spec"]["tier"], "Basic");

    // The first command that writes recovers the interrupted step and upgrades the file. None
    // of the servers exists on this machine, so the refresh finds them gone.
    let refresh = run(&["refresh"]);
    assert!(refresh.status.success(), "{}", stderr(&refresh));
    assert!(
        stderr(&refresh).contains("an apply was interrupted while migrating ledger (at stage dump restore)"),
        "{}",
        stderr(&refresh)
    );
    let new: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json")).unwrap()).unwrap();
    assert_eq!(new["lineage"], old["lineage"]);
    assert!(new["serial"].as_u64() > old["serial"].as_u64(), "{new:#}");
    assert_eq!(new["format_version"], pgfleet::state::STATE_FORMAT_VERSION);
    assert_eq!(new["tool_version"], env!("CARGO_PKG_VERSION"));
    assert!(new.get("in_flight").is_none(), "{new:#}");
    assert!(!dir.path().join("state.json.journal").exists(), "the journal is folded in");
    let backup: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json.backup")).unwrap())
            .unwrap();
    assert_eq!(backup["lineage"], old["lineage"], "the backup is the state before this write");
}

/// The files of a directory with their contents.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().is_file())
        .map(|entry| (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).unwrap()))
        .collect();
    files.sort();
    files
}

/// Regression: a missing state file with its `.backup` beside it silently started a new lineage,
/// whose second write overwrote the only backup. Now every command refuses, writes nothing, and
/// gives the command that restores it; that command works.
#[test]
fn a_missing_state_file_with_its_backup_beside_it_is_an_error_that_says_how_to_restore_it() {
    let fleet = crate::cli_support::Fleet::new("lost", "");
    let path = fleet.state();
    write_state(&path, "lost", &["pay-main"]);
    // The backup is the state before the last write: this one adds pay-ro-1.
    write_state(&path, "lost", &["pay-ro-1"]);
    let backup = pgfleet::state::backup_path(&path);
    std::fs::remove_file(&path).unwrap();
    let dir = path.parent().unwrap();
    let before = snapshot(dir);

    for args in [&["plan"][..], &["apply", "--auto-approve"], &["refresh"], &["state", "list"]] {
        let output = fleet.run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", stderr(&output));
        let message = stderr(&output);
        assert!(message.contains(&format!("the state file {} is missing", path.display())), "{message}");
        assert!(message.contains(&format!("its backup {} is there", backup.display())), "{message}");
        assert_eq!(snapshot(dir), before, "{args:?} wrote nothing");
    }

    let message = stderr(&fleet.run(&["plan"]));
    let restore = message
        .lines()
        .find_map(|line| line.strip_prefix("hint: restore it: "))
        .unwrap_or_else(|| panic!("no restore command in {message}"));
    assert_eq!(restore, format!("cp {} {}", backup.display(), path.display()));
    let restored = std::process::Command::new("sh").args(["-c", restore]).current_dir(dir).status().unwrap();
    assert!(restored.success());
    let output = fleet.run(&["state", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "servers.pay-main\n");
}

#[test]
fn state_rm_forgets_servers_and_state_pull_prints_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main", "pay-ro-1"]);
    let before: serde_json::Value = serde_json::from_slice(
        &pgfleet(dir.path()).args(["state", "pull", "--state"]).arg(&path).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(before["fleet"], "payments");

    let output =
        pgfleet(dir.path()).args(["state", "rm", "servers.pay-ro-1", "--state"]).arg(&path).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("Removed servers.pay-ro-1 from the state"), "{}", stderr(&output));
    let output = pgfleet(dir.path()).args(["state", "pull", "--state"]).arg(&path).output().unwrap();
    let after: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(after["serial"].as_u64(), before["serial"].as_u64().map(|serial| serial + 1));
    assert_eq!(after["lineage"], before["lineage"]);
    assert_eq!(after["servers"].as_object().unwrap().keys().collect::<Vec<_>>(), ["pay-main"]);

    let output =
        pgfleet(dir.path()).args(["state", "rm", "pay-mian", "--state"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("did you mean servers.pay-main?"), "{}", stderr(&output));
}

#[test]
fn state_push_refuses_a_file_that_does_not_continue_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    write_state(&path, "payments", &["pay-main"]);
    // Another lineage: a state of some other backend.
    let other = dir.path().join("other.state.json");
    write_state(&other, "payments", &["pay-main"]);
    let output = pgfleet(dir.path())
        .args(["state", "push", "other.state.json", "--state"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("pushing it would replace another state"), "{}", stderr(&output));
    // An older serial of the same state: written since.
    let older = dir.path().join("older.state.json");
    std::fs::copy(&path, &older).unwrap();
    write_state(&path, "payments", &["pay-ro-1"]);
    let output = pgfleet(dir.path())
        .args(["state", "push", "older.state.json", "--state"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("already has serial"), "{}", stderr(&output));
}
