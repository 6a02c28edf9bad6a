//! Direct tests of the diff: classification of each property, refusals, notes and drift.

use super::*;
use crate::model::{ObservedServer, ServerName, ServerPatch, ServerSpec, ServerStatus};
use crate::rules::{Generation, Key, PgVersion, ReplicationSupport, Tier, TlsVersion};
use crate::state::{ServerRecord, State};
use std::collections::BTreeMap;

fn spec() -> ServerSpec {
    ServerSpec {
        storage_autogrow: false,
        ..ServerSpec::new(Tier::GeneralPurpose, 4, 100, PgVersion::V11, "fleetadmin", "westeurope")
    }
}

#[test]
fn identical_specs_have_no_diff() {
    let diff = diff_server(&spec(), None, &spec());
    assert!(diff.is_unchanged() && diff.patch.is_empty() && !diff.needs_migration());
    assert_eq!(diff.target, spec());
}

/// Each in-place property lands in the patch, and only there.
#[test]
fn in_place_properties_go_into_the_patch() {
    let cases: Vec<(ServerSpec, ServerPatch)> = vec![
        (ServerSpec { vcores: 8, ..spec() }, ServerPatch { vcores: Some(8), ..ServerPatch::default() }),
        (
            ServerSpec { generation: Generation::Gen4, ..spec() },
            ServerPatch { generation: Some(Generation::Gen4), ..ServerPatch::default() },
        ),
        (
            ServerSpec { tier: Tier::MemoryOptimized, ..spec() },
            ServerPatch { tier: Some(Tier::MemoryOptimized), ..ServerPatch::default() },
        ),
        (
            ServerSpec { storage_gb: 200, ..spec() },
            ServerPatch { storage_gb: Some(200), ..ServerPatch::default() },
        ),
        (
            ServerSpec { backup_retention_days: 35, ..spec() },
            ServerPatch { backup_retention_days: Some(35), ..ServerPatch::default() },
        ),
        (
            ServerSpec { storage_autogrow: true, ..spec() },
            ServerPatch { storage_autogrow: Some(true), ..ServerPatch::default() },
        ),
        (
            ServerSpec {
                ssl_enforcement: false,
                minimal_tls_version: TlsVersion::EnforcementDisabled,
                ..spec()
            },
            ServerPatch {
                ssl_enforcement: Some(false),
                minimal_tls_version: Some(TlsVersion::EnforcementDisabled),
                ..ServerPatch::default()
            },
        ),
    ];
    for (desired, patch) in cases {
        let diff = diff_server(&desired, None, &spec());
        assert_eq!(diff.patch, patch, "{desired:?}");
        assert!(!diff.needs_migration() && diff.refusals.is_empty(), "{desired:?}");
        assert_eq!(diff.patch.apply_to(&spec()), desired);
    }
}

#[test]
fn tags_are_one_attribute_per_key() {
    let mut live = spec();
    live.tags.insert("team".into(), "a".into());
    live.tags.insert("old".into(), "x".into());
    let mut desired = spec();
    desired.tags.insert("team".into(), "b".into());
    let diff = diff_server(&desired, None, &live);
    let paths: Vec<(String, String, String)> = diff
        .attributes
        .iter()
        .map(|a| (a.path.to_string(), a.before.to_string(), a.after.to_string()))
        .collect();
    assert_eq!(
        paths,
        vec![
            ("tags.old".into(), "\"x\"".into(), "null".into()),
            ("tags.team".into(), "\"a\"".into(), "\"b\"".into())
        ]
    );
    assert_eq!(diff.patch.tags, Some(desired.tags.clone()));
}

#[test]
fn create_only_properties_need_a_migration() {
    let cases: Vec<(ServerSpec, Key)> = vec![
        (ServerSpec { tier: Tier::Basic, vcores: 2, ..spec() }, Key::Tier),
        (ServerSpec { geo_redundant_backup: true, ..spec() }, Key::GeoRedundantBackup),
        (ServerSpec { location: "northeurope".into(), ..spec() }, Key::Location),
        (ServerSpec { admin_login: "owner".into(), ..spec() }, Key::AdminLogin),
    ];
    for (desired, key) in cases {
        let diff = diff_server(&desired, None, &spec());
        assert!(diff.migration_keys.contains(&key), "{key}: {:?}", diff.migration_keys);
        assert_eq!(diff.target, desired);
    }
    let older = ServerSpec { version: PgVersion::V10, ..spec() };
    assert_eq!(diff_server(&spec(), None, &older).migration_keys, vec![Key::Version]);
}

#[test]
fn shrink_and_downgrade_are_refused_and_keep_the_live_value() {
    let live = ServerSpec { storage_gb: 200, ..spec() };
    let diff = diff_server(&ServerSpec { version: PgVersion::V10, ..spec() }, None, &live);
    let paths: Vec<&str> = diff.refusals.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, vec!["storage_gb", "version"]);
    assert_eq!(diff.target, live);
    assert!(diff.attributes.is_empty() && diff.patch.is_empty() && !diff.needs_migration());
}

#[test]
fn auto_grown_storage_is_a_note_only_while_auto_grow_is_on() {
    let live = ServerSpec { storage_gb: 130, storage_autogrow: true, ..spec() };
    let desired = ServerSpec { storage_autogrow: true, ..spec() };
    let diff = diff_server(&desired, None, &live);
    assert!(diff.refusals.is_empty() && diff.is_unchanged());
    assert!(diff.notes[0].contains("auto-grew to 130 GB"));
    // Turning auto-grow off in the config: the larger size is then a shrink request.
    let diff = diff_server(&spec(), None, &live);
    assert_eq!(diff.refusals[0].path, Key::StorageGb);
    assert_eq!(diff.patch, ServerPatch { storage_autogrow: Some(false), ..ServerPatch::default() });
}

/// A state record of `spec` as pgfleet applied it with `storage_gb` configured.
fn applied(spec: ServerSpec, configured_storage_gb: u32) -> ServerRecord {
    let observed = observed("pay-main", spec, ReplicationSupport::Replica);
    ServerRecord { configured_storage_gb: Some(configured_storage_gb), ..ServerRecord::new(observed) }
}

/// Configured 100 GB, applied at 100 GB, live auto-grown to 130 GB (and recorded so by a
/// refresh): no change, a note, no refusal, even with auto-grow now turned off in the config.
#[test]
fn storage_auto_grown_above_the_applied_size_is_a_note() {
    let configured = ServerSpec { storage_autogrow: true, ..spec() };
    let grown = ServerSpec { storage_gb: 130, ..configured.clone() };
    let record = applied(grown.clone(), 100);
    let diff = diff_server(&configured, Some(&record), &grown);
    assert!(diff.refusals.is_empty() && diff.is_unchanged() && diff.storage_above_config, "{diff:?}");
    assert_eq!(diff.target.storage_gb, 130);
    assert!(diff.notes[0].contains("auto-grew to 130 GB") && diff.notes[0].contains("not a shrink"));
    // Raised to 120, still under the grown size: nothing to send either.
    let raised = ServerSpec { storage_gb: 120, ..configured.clone() };
    assert!(diff_server(&raised, Some(&record), &grown).refusals.is_empty());
    // Auto-grow off in the config: the growth still happened while it was on.
    let off = ServerSpec { storage_autogrow: false, ..spec() };
    let diff = diff_server(&off, Some(&record), &grown);
    assert!(diff.refusals.is_empty() && diff.storage_above_config, "{diff:?}");
    assert_eq!(diff.patch, ServerPatch { storage_autogrow: Some(false), ..ServerPatch::default() });
}

/// Configured lowered from 200 to 100 while live is 200 (or auto-grown to 230): a shrink,
/// refused with the applied size as the way out.
#[test]
fn storage_lowered_below_the_applied_size_is_a_refused_shrink() {
    let live = ServerSpec { storage_gb: 200, storage_autogrow: true, ..spec() };
    let lowered = ServerSpec { storage_gb: 100, storage_autogrow: true, ..spec() };
    for live in [live.clone(), ServerSpec { storage_gb: 230, ..live.clone() }] {
        let diff = diff_server(&lowered, Some(&applied(live.clone(), 200)), &live);
        assert!(!diff.storage_above_config && diff.notes.is_empty(), "{diff:?}");
        assert_eq!(diff.refusals.len(), 1, "{diff:?}");
        let refusal = &diff.refusals[0];
        assert_eq!(refusal.path, Key::StorageGb);
        assert!(refusal.reason.contains("lowered from 200 GB"), "{}", refusal.reason);
        assert!(refusal.hint.starts_with("set storage_gb = 200 or more"), "{}", refusal.hint);
        assert!(refusal.hint.contains("pg_dump/pg_restore"), "{}", refusal.hint);
        assert_eq!(diff.target.storage_gb, live.storage_gb, "the live size is kept");
        assert!(diff.patch.is_empty());
    }
}

/// Grown without auto-grow since pgfleet applied the size (outside pgfleet, or auto-grow was
/// turned off after it grew): the config did not go below what pgfleet applied, so no shrink.
/// Without a recorded size, the old rule refuses it.
#[test]
fn storage_above_the_applied_size_without_auto_grow_is_a_note() {
    let live = ServerSpec { storage_gb: 150, ..spec() };
    let diff = diff_server(&spec(), Some(&applied(live.clone(), 100)), &live);
    assert!(diff.refusals.is_empty() && diff.storage_above_config && diff.is_unchanged(), "{diff:?}");
    assert!(diff.notes[0].contains("grew to 150 GB since pgfleet applied 100 GB"), "{}", diff.notes[0]);
    let diff = diff_server(&spec(), None, &live);
    assert_eq!(diff.refusals[0].path, Key::StorageGb);
    assert!(diff.refusals[0].hint.starts_with("set storage_gb = 150 or more"), "{}", diff.refusals[0].hint);
}

#[test]
fn replica_relationships() {
    let primary = ServerName::new("pay-main");
    let replica = ServerSpec { replica_of: Some(primary.clone()), ..spec() };
    let promote = diff_server(&spec(), None, &replica);
    assert_eq!(promote.relationship, Relationship::Promote { primary: primary.clone() });
    let adopt = diff_server(&replica, None, &spec());
    assert_eq!(adopt.refusals[0].path, Key::ReplicaOf);
    assert_eq!(adopt.target.replica_of, None);
    let moved = ServerSpec { replica_of: Some(ServerName::new("other")), ..spec() };
    let repoint = diff_server(&moved, None, &replica);
    assert_eq!(repoint.refusals[0].path, Key::ReplicaOf);
    assert_eq!(repoint.target.replica_of, Some(primary));
}

fn observed(name: &str, spec: ServerSpec, replication: ReplicationSupport) -> ObservedServer {
    ObservedServer {
        name: ServerName::new(name),
        provider_id: format!("/servers/{name}"),
        spec,
        status: ServerStatus::Ready,
        replication_support: replication,
        endpoint: None,
    }
}

#[test]
fn drift_lists_every_attribute_changed_outside_pgfleet() {
    let mut state = State::new("payments");
    for name in ["pay-main", "pay-gone"] {
        let observed = observed(name, spec(), ReplicationSupport::Replica);
        state.servers.insert(ServerName::new(name), ServerRecord::new(observed));
    }
    let live = BTreeMap::from([
        (
            ServerName::new("pay-main"),
            observed("pay-main", ServerSpec { vcores: 8, ..spec() }, ReplicationSupport::Off),
        ),
        (ServerName::new("pay-new"), observed("pay-new", spec(), ReplicationSupport::Replica)),
    ]);
    let drift = detect_drift(Some(&state), &live, true);
    let messages: Vec<&str> = drift.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "changed outside pgfleet: pay-gone is gone (deleted outside pgfleet)",
            "changed outside pgfleet: pay-main replication_support REPLICA → OFF",
            "changed outside pgfleet: pay-main vcores 4 → 8",
            "changed outside pgfleet: pay-new exists but pgfleet has no record of it",
        ]
    );
    assert!(detect_drift(Some(&state), &live, false).is_empty());
    assert!(detect_drift(None, &live, true).is_empty());
}

#[test]
fn attribute_paths_are_written_as_the_fleet_file_keys() {
    let mut tagged = spec();
    tagged.tags.insert("team".into(), "a".into());
    tagged.replica_of = Some(ServerName::new("p"));
    for (field, _) in spec_fields(&tagged) {
        let path = AttributePath::parse(&field).unwrap_or_else(|| panic!("{field}"));
        assert_eq!(serde_json::to_value(&path).unwrap(), serde_json::Value::String(field.clone()));
        let back: AttributePath = serde_json::from_value(serde_json::Value::String(field.clone())).unwrap();
        assert_eq!(back, path);
    }
    assert_eq!(AttributePath::parse("tags.team"), Some(AttributePath::Tag("team".into())));
    assert_eq!(format!("{:8}|", AttributePath::from(Key::Tier)), "tier    |");
    assert!(serde_json::from_value::<AttributePath>("nonsense".into()).is_err());
}

#[test]
fn zones_swapped_by_a_failover_are_not_drift() {
    let zoned = |zone: &str, standby: &str| {
        let mut spec =
            ServerSpec::flexible("Standard_D4ds_v5", 128, PgVersion::V16, "fleetadmin", "westeurope");
        let flexible = spec.flexible.as_mut().unwrap();
        flexible.high_availability = crate::rules::HaMode::ZoneRedundant;
        flexible.zone = Some(zone.into());
        flexible.standby_zone = Some(standby.into());
        spec
    };
    let mut state = State::new("payments");
    let recorded = observed("orders", zoned("1", "2"), ReplicationSupport::Replica);
    state.servers.insert(ServerName::new("orders"), ServerRecord::new(recorded));
    let swapped = BTreeMap::from([(
        ServerName::new("orders"),
        observed("orders", zoned("2", "1"), ReplicationSupport::Replica),
    )]);
    assert!(detect_drift(Some(&state), &swapped, true).is_empty());
    let moved = BTreeMap::from([(
        ServerName::new("orders"),
        observed("orders", zoned("3", "2"), ReplicationSupport::Replica),
    )]);
    let drift = detect_drift(Some(&state), &moved, true);
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0].path, "zone");
}
