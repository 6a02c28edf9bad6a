//! Saved plans: round trip, plan ids, staleness for each cause, newer and corrupt files.

use super::*;
use crate::plan::saved::{self, CurrentInputs, SavedPlanError, StaleReason};

fn scenario() -> Case {
    Case::new()
        .want("pay-main", spec(8, 100))
        .want("pay-ro-1", replica("pay-main", 8, 100))
        .have("pay-main", spec(4, 100))
        .have("pay-ro-1", replica("pay-main", 4, 100))
}

fn saved_plan(case: &Case) -> (tempfile::TempDir, std::path::PathBuf, saved::SavedPlan) {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("payments.plan.json");
    saved::save(&case.plan(), &case.live, &path).unwrap();
    let loaded = saved::load(&path).unwrap();
    (directory, path, loaded)
}

#[test]
fn a_saved_plan_round_trips_and_is_fresh() {
    let case = scenario();
    let (_directory, _path, loaded) = saved_plan(&case);
    assert_eq!(loaded.plan, case.plan());
    assert_eq!(loaded.plan_id, saved::plan_id(&case.plan()));
    assert_eq!(loaded.observed.len(), 2);
    let current = CurrentInputs::new(&case.desired, Some(&case.stored), &case.live);
    assert_eq!(saved::check_fresh(&loaded, &current), Ok(()));
}

#[test]
fn plan_id_is_stable_and_tracks_content() {
    let case = scenario();
    let id = saved::plan_id(&case.plan());
    assert!(id.starts_with("sha256:") && id.len() == 7 + 64, "{id}");
    assert_eq!(id, saved::plan_id(&case.plan()));
    let mut later = case.plan();
    later.inputs.created_at += chrono::Duration::hours(1);
    assert_eq!(saved::plan_id(&later), id, "the creation time is not part of the id");
    let other = scenario().want("pay-main", spec(16, 100)).plan();
    assert_ne!(saved::plan_id(&other), id);
    // The id is the digest of the plan's JSON with `inputs.created_at` taken out, as plan files
    // saved by earlier versions computed it from a JSON tree.
    let mut tree = serde_json::to_value(case.plan()).unwrap();
    tree["inputs"].as_object_mut().unwrap().remove("created_at");
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(serde_json::to_vec(&tree).unwrap()));
    assert_eq!(id, format!("sha256:{digest}"));
}

#[test]
fn each_moved_input_makes_the_plan_stale() {
    let case = scenario();
    let (_directory, _path, loaded) = saved_plan(&case);
    let mut edited = case.desired.clone();
    edited.source.sha256 = "bb".repeat(32);
    let mut moved_state = case.stored.clone();
    moved_state.serial = 5;
    let mut moved_live = case.live.clone();
    moved_live.get_mut(&name("pay-main")).unwrap().spec.vcores = 8;
    let cases: Vec<(CurrentInputs, StaleReason, &str)> = vec![
        (
            CurrentInputs::new(&edited, Some(&case.stored), &case.live),
            StaleReason::ConfigChanged { path: "fleet.toml".into() },
            "the fleet file changed (fleet.toml)",
        ),
        (
            CurrentInputs::new(&case.desired, Some(&moved_state), &case.live),
            StaleReason::StateChanged { from: Some(3), to: Some(5) },
            "the state changed (serial 3 → 5)",
        ),
        (
            CurrentInputs::new(&case.desired, Some(&case.stored), &moved_live),
            StaleReason::ServerChanged { server: name("pay-main"), details: "vcores 4 → 8".into() },
            "pay-main changed since the plan was made (vcores 4 → 8)",
        ),
    ];
    for (current, reason, message) in cases {
        let stale = saved::check_fresh(&loaded, &current).unwrap_err();
        assert_eq!(stale.reasons, vec![reason.clone()]);
        assert_eq!(stale.to_string(), format!("plan is stale: {message}; run plan again"));
    }
}

#[test]
fn servers_appearing_or_disappearing_make_the_plan_stale() {
    let case = scenario();
    let (_directory, _path, loaded) = saved_plan(&case);
    let mut live = case.live.clone();
    live.remove(&name("pay-ro-1"));
    live.insert(name("pay-new"), observed("pay-new", spec(2, 50), ReplicationSupport::Replica));
    let stale = saved::check_fresh(&loaded, &CurrentInputs::new(&case.desired, Some(&case.stored), &live))
        .unwrap_err();
    assert_eq!(
        stale.reasons,
        vec![
            StaleReason::ServerAppeared { server: name("pay-new") },
            StaleReason::ServerGone { server: name("pay-ro-1") }
        ]
    );
}

#[test]
fn a_replaced_state_makes_the_plan_stale() {
    let case = scenario();
    let (_directory, _path, loaded) = saved_plan(&case);
    let other = State::new("payments");
    let stale = saved::check_fresh(&loaded, &CurrentInputs::new(&case.desired, Some(&other), &case.live))
        .unwrap_err();
    assert!(matches!(stale.reasons[..], [StaleReason::StateReplaced { .. }]), "{stale}");
}

#[test]
fn a_snapshot_other_than_the_planned_one_is_not_saved() {
    let case = scenario();
    let mut other = case.live.clone();
    other.get_mut(&name("pay-ro-1")).unwrap().spec.vcores = 16;
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("plan.json");
    let error = saved::save(&case.plan(), &other, &path).unwrap_err();
    assert!(
        matches!(error, SavedPlanError::SnapshotMismatch { ref server } if server.as_str() == "pay-ro-1")
    );
    assert!(!path.exists());
}

#[test]
fn a_newer_format_is_refused() {
    let case = scenario();
    let (_directory, path, _loaded) = saved_plan(&case);
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    value["format_version"] = 3.into();
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    let error = saved::load(&path).unwrap_err();
    assert!(matches!(error, SavedPlanError::NewerFormat { found: 3, supported: 2, .. }), "{error}");
    assert!(error.to_string().contains("newer"));
}

/// A plan saved by the release before migrations named their staging server (format 1) is
/// not taken for a corrupt file: the error says to plan again.
#[test]
fn an_older_format_is_refused_with_plan_again() {
    let case = scenario();
    let (_directory, path, _loaded) = saved_plan(&case);
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    value["format_version"] = 1.into();
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    let error = saved::load(&path).unwrap_err();
    assert!(matches!(error, SavedPlanError::OlderFormat { found: 1, supported: 2, .. }), "{error}");
    assert!(error.to_string().contains("run `pgfleet plan --out` again"), "{error}");
}

#[test]
fn corrupt_files_are_reported() {
    let case = scenario();
    let (_directory, path, _loaded) = saved_plan(&case);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen("\"vcores\":8", "\"vcores\":64", 1);
    assert_ne!(edited, text);
    let cases = [
        ("truncated", text[..text.len() / 2].to_string(), "not JSON"),
        ("not a plan", "{\"serial\": 3}".to_string(), "not a pgfleet plan file"),
        ("edited", edited, "does not match its plan_id"),
    ];
    for (label, content, words) in cases {
        std::fs::write(&path, content).unwrap();
        let error = saved::load(&path).unwrap_err();
        assert!(matches!(error, SavedPlanError::Corrupt { .. }), "{label}: {error}");
        assert!(error.to_string().contains(words), "{label}: {error}");
    }
}

#[test]
fn a_missing_file_is_a_read_error() {
    let directory = tempfile::tempdir().unwrap();
    let error = saved::load(&directory.path().join("missing.json")).unwrap_err();
    assert!(matches!(error, SavedPlanError::Read { .. }));
}

#[test]
fn the_saved_file_holds_no_secret_or_endpoint() {
    let mut case = scenario();
    for server in case.live.values_mut() {
        server.endpoint = Some(crate::model::Endpoint {
            host: "10.0.0.7".into(),
            port: 5432,
            user: "fleetadmin".into(),
            database: "postgres".into(),
        });
    }
    let (_directory, path, _loaded) = saved_plan(&case);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("10.0.0.7"));
    assert!(!text.contains("PGFLEET_ADMIN_PASSWORD"));
}

#[test]
fn the_plan_records_what_it_was_based_on() {
    let case = scenario();
    let inputs = case.plan().inputs;
    assert_eq!(inputs.config_files, BTreeMap::from([("fleet.toml".to_string(), "aa".repeat(32))]));
    assert_eq!(inputs.state_lineage, Some(case.stored.lineage.to_string()));
    assert_eq!(inputs.state_serial, Some(3));
    assert!(inputs.refreshed);
    let servers: Vec<&str> = inputs.live_fingerprints.keys().map(ServerName::as_str).collect();
    assert_eq!(servers, vec!["pay-main", "pay-ro-1"]);
    assert!(inputs.live_fingerprints.values().all(|f| f.len() == 64));
    assert_ne!(inputs.live_fingerprints[&name("pay-main")], inputs.live_fingerprints[&name("pay-ro-1")]);
}

#[test]
fn planning_is_deterministic() {
    let case = scenario().want("pay-ro-2", replica("pay-main", 8, 100));
    let first = serde_json::to_string(&case.plan()).unwrap();
    let second = serde_json::to_string(&case.plan()).unwrap();
    assert_eq!(first, second);
}
