//! Tests of the state store on real files: round trips, the journal, crashes at each point of a
//! write, refused and corrupt files, and the lock within one process (tests/state_lock.rs runs
//! real competing processes).

use super::atomic::{WriteStep, replace_file_until};
use super::journal::journal_path;
use super::tests_support::{observed, started, upsert};
use super::*;
use crate::model::ServerName;
use chrono::Utc;
use std::path::{Path, PathBuf};

/// A state with two servers, written once (serial 1).
fn written_state(dir: &Path) -> (PathBuf, State) {
    let path = dir.join("state").join("payments.state.json");
    let mut store = StateStore::open(&path, "payments", "pgfleet test").unwrap();
    assert!(store.is_new());
    let mut state = store.state().clone();
    for record in [upsert("pay-ro-1", 8), upsert("pay-main", 8)] {
        state.apply_record(&record);
    }
    store.write(state).unwrap();
    (path, store.state().clone())
}

#[test]
fn a_written_state_reads_back_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = written_state(dir.path());
    assert_eq!(written.serial, 1);
    let read = read_state(&path).unwrap();
    assert_eq!(read, written);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.find("pay-main").unwrap() < text.find("pay-ro-1").unwrap(), "servers are sorted");
    let reopened = StateStore::open(&path, "payments", "pgfleet test").unwrap();
    assert!(!reopened.is_new());
    assert_eq!(reopened.state(), &written);
}

#[test]
fn every_write_increments_the_serial_keeps_the_lineage_and_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let (path, first) = written_state(dir.path());
    let mut store = StateStore::open(&path, "payments", "pgfleet test").unwrap();
    let mut next = store.state().clone();
    next.apply_record(&upsert("pay-main", 16));
    next.lineage = uuid::Uuid::new_v4();
    store.write(next).unwrap();
    assert_eq!(store.state().serial, 2);
    assert_eq!(store.state().lineage, first.lineage, "the lineage is set once");
    assert_eq!(read_state(&backup_path(&path)).unwrap(), first);
}

#[test]
fn another_fleets_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written_state(dir.path());
    let error = StateStore::open(&path, "billing", "pgfleet test").unwrap_err();
    assert!(matches!(&error, StateError::WrongFleet { found, .. } if found == "payments"), "{error}");
}

#[test]
fn appended_records_are_replayed_when_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    let mut store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    store.append(&[started("c1", "pay-main"), upsert("pay-main", 4)]).unwrap();
    store
        .append(&[JournalRecord::Finished {
            change_id: "c1".into(),
            outcome: RecordOutcome::Upsert(observed("pay-main", 8)),
            configured_storage_gb: Some(100),
            configured_zone: None,
            configured_carried: None,
        }])
        .unwrap();
    store.append(&[started("c2", "pay-ro-1")]).unwrap();
    assert_eq!(store.state().serial, 1, "the journal does not rewrite the state file");
    let expected = store.state().clone();
    drop(store);
    let read = read_state(&path).unwrap();
    assert_eq!(read, expected);
    assert_eq!(read.servers[&ServerName::new("pay-main")].observed.spec.vcores, 8);
    let reopened = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    let interrupted: Vec<&str> = reopened.interrupted().iter().map(|step| step.change_id.as_str()).collect();
    assert_eq!(interrupted, ["c2"]);
}

#[test]
fn compaction_folds_the_journal_into_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written_state(dir.path());
    let mut store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    store.append(&[upsert("pay-ro-2", 8)]).unwrap();
    let expected_servers = store.state().servers.clone();
    store.compact().unwrap();
    assert!(!journal_path(&path).exists());
    drop(store);
    let read = read_state(&path).unwrap();
    assert_eq!(read.serial, 2);
    assert_eq!(read.servers, expected_servers);
}

#[test]
fn appending_continues_a_journal_left_by_an_earlier_process() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written_state(dir.path());
    let mut first = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    first.append(&[started("c1", "pay-main")]).unwrap();
    drop(first);
    let mut second = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    second.append(&[upsert("pay-ro-2", 8)]).unwrap();
    let expected = second.state().clone();
    drop(second);
    assert_eq!(read_state(&path).unwrap(), expected);
    assert_eq!(expected.in_flight.len(), 1);
}

#[test]
fn a_torn_last_journal_line_is_ignored_with_a_note_and_cut_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written_state(dir.path());
    let mut store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    store.append(&[upsert("pay-ro-2", 8)]).unwrap();
    let before_tear = store.state().clone();
    drop(store);
    let journal = journal_path(&path);
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(br#"{"record":"observed","outcome":{"kind":"ups"#);
    std::fs::write(&journal, &bytes).unwrap();

    let read = read_state_with_notes(&path).unwrap();
    assert_eq!(read.state, before_tear);
    assert!(read.notes.iter().any(|note| note.contains("torn")), "{:?}", read.notes);

    let mut store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    store.append(&[upsert("pay-ro-3", 8)]).unwrap();
    let expected = store.state().clone();
    drop(store);
    let read = read_state_with_notes(&path).unwrap();
    assert_eq!(read.state, expected);
    assert!(read.notes.is_empty(), "the torn line was cut off: {:?}", read.notes);
}

#[test]
fn journal_damage_before_the_last_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written_state(dir.path());
    let mut store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    store.append(&[upsert("pay-ro-2", 8), upsert("pay-ro-3", 8)]).unwrap();
    drop(store);
    let journal = journal_path(&path);
    let text = std::fs::read_to_string(&journal).unwrap();
    let damaged = text.replacen("\"observed\"", "\"obs", 1);
    std::fs::write(&journal, &damaged).unwrap();
    let error = read_state(&path).unwrap_err();
    assert!(matches!(error, StateError::JournalCorrupt { line: 2, .. }), "{error}");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), damaged, "left untouched");
}

#[test]
fn a_journal_already_compacted_is_not_replayed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written_state(dir.path());
    let mut store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    store.append(&[started("c1", "pay-main")]).unwrap();
    let journal = journal_path(&path);
    let kept = std::fs::read(&journal).unwrap();
    store
        .append(&[JournalRecord::Finished {
            change_id: "c1".into(),
            outcome: RecordOutcome::Unchanged,
            configured_storage_gb: None,
            configured_zone: None,
            configured_carried: None,
        }])
        .unwrap();
    store.compact().unwrap();
    let compacted = store.state().clone();
    drop(store);
    // A crash after the compacted state was renamed in but before the journal was removed.
    std::fs::write(&journal, kept).unwrap();
    assert_eq!(read_state(&path).unwrap(), compacted);
    assert!(compacted.in_flight.is_empty());
}

#[test]
fn a_crash_at_any_point_of_a_write_leaves_a_readable_state() {
    let dir = tempfile::tempdir().unwrap();
    let (path, old) = written_state(dir.path());
    let mut new = old.clone();
    new.apply_record(&upsert("pay-ro-2", 8));
    new.serial += 1;
    let bytes = serde_json::to_vec_pretty(&new).unwrap();
    for step in [WriteStep::TempWritten, WriteStep::BackupKept] {
        replace_file_until(&path, &bytes, true, Some(step)).unwrap();
        assert_eq!(read_state(&path).unwrap(), old, "crash after {step:?}");
        let store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
        assert_eq!(store.state(), &old, "crash after {step:?}");
    }
    // A crash while the temporary file was half written.
    std::fs::write(path.with_file_name("payments.state.json.tmp"), &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(read_state(&path).unwrap(), old);
    // The next write succeeds over the leftovers.
    let mut store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    store.write(new.clone()).unwrap();
    drop(store);
    assert_eq!(read_state(&path).unwrap().servers, new.servers);
    replace_file_until(&path, &bytes, true, Some(WriteStep::Renamed)).unwrap();
    assert_eq!(read_state(&path).unwrap(), new, "after the rename the new state is in place");
}

#[test]
fn a_newer_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written_state(dir.path());
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    value["format_version"] = (STATE_FORMAT_VERSION + 1).into();
    value["tool_version"] = "9.0.0".into();
    value["servers"] = serde_json::json!({"renamed": "in a way this build cannot read"});
    let text = serde_json::to_string_pretty(&value).unwrap();
    std::fs::write(&path, &text).unwrap();
    let error = StateStore::open(&path, "payments", "pgfleet apply").unwrap_err();
    assert!(matches!(&error, StateError::NewerFormat { written_by, .. } if written_by == "9.0.0"), "{error}");
    assert!(error.to_string().contains("upgrade pgfleet"), "{error}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn a_corrupt_state_file_is_reported_with_its_position_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written_state(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    let corrupt = text.replacen("\"serial\": 1,", "\"serial\": 1", 1);
    std::fs::write(&path, &corrupt).unwrap();
    let expected_line = corrupt.lines().position(|line| line.contains("\"fleet\"")).unwrap() + 1;
    let error = StateStore::open(&path, "payments", "pgfleet apply").unwrap_err();
    match &error {
        StateError::Corrupt { line, .. } => assert_eq!(*line, expected_line, "{error}"),
        other => panic!("expected a corrupt-file error, got {other}"),
    }
    assert!(error.to_string().contains(".backup"), "{error}");
    assert!(read_state(&path).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), corrupt, "never overwritten");
}

#[test]
fn a_second_opener_in_the_same_process_is_told_who_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    let held = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    let error = StateStore::open(&path, "payments", "pgfleet plan").unwrap_err();
    let StateError::Locked { holder: Some(holder), .. } = &error else {
        panic!("expected Locked, got {error}")
    };
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.command, "pgfleet apply");
    assert!(error.to_string().contains("force-unlock"), "{error}");
    drop(held);
    assert!(!lock_path(&path).exists(), "released locks leave no file");
    StateStore::open(&path, "payments", "pgfleet plan").unwrap();
}

#[test]
fn an_abandoned_lock_file_is_taken_over_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    let dead =
        LockHolder { pid: 999_999, host: "gone".into(), command: "pgfleet apply".into(), since: Utc::now() };
    std::fs::write(lock_path(&path), serde_json::to_string(&dead).unwrap()).unwrap();
    assert_eq!(lock_status(&path).unwrap(), LockStatus::Abandoned(Some(dead.clone())));
    let store = StateStore::open(&path, "payments", "pgfleet plan").unwrap();
    assert!(store.notes().iter().any(|note| note.contains("pid 999999 on host gone")), "{:?}", store.notes());
}

#[test]
fn force_unlock_breaks_a_held_lock_and_names_its_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    assert_eq!(force_unlock(&path).unwrap(), None);
    let stuck = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    assert!(matches!(lock_status(&path).unwrap(), LockStatus::Held(Some(_))));
    let broken = force_unlock(&path).unwrap().expect("a holder");
    assert_eq!(broken.command, "pgfleet apply");
    assert_eq!(lock_status(&path).unwrap(), LockStatus::Free);
    let next = StateStore::open(&path, "payments", "pgfleet plan").unwrap();
    assert!(next.notes().is_empty(), "{:?}", next.notes());
    drop(stuck);
    assert!(lock_path(&path).exists(), "the stuck holder's release does not remove the new lock");
    assert!(StateStore::open(&path, "payments", "pgfleet plan").is_err(), "still held by `next`");
}

#[test]
fn a_written_state_file_matches_the_state_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = written_state(dir.path());
    let instance: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&state_schema()).unwrap();
    let errors: Vec<String> = validator.iter_errors(&instance).map(|error| error.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!validator.is_valid(&serde_json::json!({"format_version": 1})));
}

/// An apply step records the configured storage it applied; a refresh (an observation of an
/// auto-grown server) keeps it, so the planner never mistakes auto-growth for a lowered config.
#[test]
fn the_configured_storage_survives_observations_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    let mut store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    store
        .append(&[
            started("update:pay-main", "pay-main"),
            JournalRecord::Finished {
                change_id: "update:pay-main".into(),
                outcome: RecordOutcome::Upsert(observed("pay-main", 8)),
                configured_storage_gb: Some(100),
                configured_zone: None,
                configured_carried: None,
            },
        ])
        .unwrap();
    let mut grown = observed("pay-main", 8);
    grown.spec.storage_gb = 130;
    store.append(&[JournalRecord::Observed { outcome: RecordOutcome::Upsert(grown.clone()) }]).unwrap();
    let mut refreshed = store.state().clone();
    refreshed.record_observed(grown);
    store.write(refreshed).unwrap();
    drop(store);
    let read = read_state(&path).unwrap();
    let record = &read.servers[&ServerName::new("pay-main")];
    assert_eq!((record.observed.spec.storage_gb, record.configured_storage_gb), (130, Some(100)));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"configured_storage_gb\": 100"), "{text}");
}

/// State files and journals written before the configured storage was recorded still load.
#[test]
fn records_and_journal_lines_without_the_configured_storage_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = written_state(dir.path());
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for record in value["servers"].as_object_mut().unwrap().values_mut() {
        assert!(record.as_object_mut().unwrap().remove("configured_storage_gb").is_none());
    }
    std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    let old_line =
        r#"{"record":"finished","change_id":"c1","outcome":{"kind":"remove","server":"pay-ro-1"}}"#;
    let header =
        format!(r#"{{"journal_of":{{"lineage":"{}","serial":{}}}}}"#, written.lineage, written.serial);
    std::fs::write(journal_path(&path), format!("{header}\n{old_line}\n")).unwrap();
    let read = read_state(&path).unwrap();
    assert_eq!(read.servers.len(), written.servers.len() - 1);
    assert_eq!(read.servers[&ServerName::new("pay-main")].configured_storage_gb, None);
}

#[test]
fn stages_keep_their_journal_spelling_and_older_ones_still_load() {
    use crate::migrate::Phase;
    for (stage, text) in [
        (Stage::Migration(Phase::Restore), "restore"),
        (Stage::Migration(Phase::CreateTarget), "create_target"),
        (Stage::CreateReplica, "create_replica"),
        (Stage::Delete, "delete"),
        (Stage::Restart, "restart"),
    ] {
        assert_eq!(serde_json::to_value(&stage).unwrap(), text);
        assert_eq!(serde_json::from_value::<Stage>(text.into()).unwrap(), stage);
    }
    // What the migrators before the phased protocol journaled.
    for older in ["create_staging", "copy"] {
        assert_eq!(serde_json::from_value::<Stage>(older.into()).unwrap(), Stage::Other(older.into()));
    }
    assert_eq!(Stage::Other("create_staging".into()).describe(), "create staging");
    let step: InFlightStep = serde_json::from_value(serde_json::json!({
        "change_id": "migrate:pay-main", "server": "pay-main", "action": "migrate", "stage": "copy",
        "started_at": "2026-12-01T10:00:00Z"
    }))
    .unwrap();
    assert_eq!(step.action, crate::model::Action::Migrate);
}
