//! Flexible Server plans: how each change is classified and ordered (DESIGN.md "Two services").

use super::*;
use crate::model::FlexibleSpec;
use crate::plan::{Action, Operation};
use crate::rules::{HaMode, Key, MaintenanceWindow, StorageType, Weekday};

/// A flexible server of `sku` with `storage_gb` on PostgreSQL 16, autogrow off.
fn flex(sku: &str, storage_gb: u32) -> ServerSpec {
    ServerSpec::flexible(sku, storage_gb, PgVersion::V16, "fleetadmin", "westeurope")
}

fn flex_replica(primary: &str, sku: &str, storage_gb: u32) -> ServerSpec {
    ServerSpec { replica_of: Some(name(primary)), ..flex(sku, storage_gb) }
}

fn with(spec: ServerSpec, change: impl FnOnce(&mut FlexibleSpec)) -> ServerSpec {
    let mut spec = spec;
    change(spec.flexible.as_mut().expect("a flexible spec"));
    spec.derive_compute();
    spec
}

fn ha(spec: ServerSpec, mode: HaMode, zone: Option<&str>, standby: Option<&str>) -> ServerSpec {
    with(spec, |flexible| {
        flexible.high_availability = mode;
        flexible.zone = zone.map(str::to_string);
        flexible.standby_zone = standby.map(str::to_string);
    })
}

fn patch_of(plan: &Plan, id: &str) -> crate::model::ServerPatch {
    match &change(plan, id).operation {
        Operation::Update { patch, .. } => patch.clone(),
        other => panic!("{id} is not an update: {other:?}"),
    }
}

#[test]
fn a_sku_change_restarts_and_derives_tier_and_vcores() {
    let plan = Case::new()
        .want("orders", flex("Standard_E4ds_v5", 256))
        .have("orders", flex("Standard_D2ds_v5", 256))
        .plan();
    let update = change(&plan, "update:orders");
    assert!(update.impact.restart);
    assert!(
        update.impact.downtime_basis.contains("standby is scaled first"),
        "{}",
        update.impact.downtime_basis
    );
    assert_eq!(patch_of(&plan, "update:orders").sku.as_deref(), Some("Standard_E4ds_v5"));
    let paths: Vec<String> = update.attributes.iter().map(|a| a.path.to_string()).collect();
    assert!(paths.contains(&"sku".to_string()) && paths.contains(&"tier".to_string()), "{paths:?}");
    assert!(!paths.contains(&"generation".to_string()), "{paths:?}");
}

#[test]
fn burstable_to_general_purpose_is_in_place() {
    let plan = Case::new()
        .want("orders", flex("Standard_D2ds_v5", 128))
        .have("orders", flex("Standard_B2s", 128))
        .plan();
    assert_eq!(ids(&plan), ["update:orders"]);
    assert_eq!(change(&plan, "update:orders").action, Action::Update);
}

#[test]
fn storage_grows_online_except_across_4_tib_and_on_premium_v2() {
    let online = Case::new()
        .want("orders", flex("Standard_D4ds_v5", 4096))
        .have("orders", flex("Standard_D4ds_v5", 2048))
        .plan();
    assert!(!change(&online, "update:orders").impact.restart);
    let across = Case::new()
        .want("orders", flex("Standard_D4ds_v5", 8192))
        .have("orders", flex("Standard_D4ds_v5", 4096))
        .plan();
    assert!(change(&across, "update:orders").impact.restart);
    let v2 = |gb| with(flex("Standard_D4ds_v5", gb), |f| f.storage_type = StorageType::PremiumV2);
    let v2_plan = Case::new().want("orders", v2(300)).have("orders", v2(200)).plan();
    assert!(change(&v2_plan, "update:orders").impact.restart);
}

#[test]
fn autogrown_storage_above_the_config_is_no_change() {
    let grown = ServerSpec { storage_autogrow: true, ..flex("Standard_D4ds_v5", 512) };
    let configured = ServerSpec { storage_autogrow: true, ..flex("Standard_D4ds_v5", 256) };
    let plan = Case::new()
        .want("orders", configured.clone())
        .have("orders", configured)
        .live_as("orders", grown)
        .plan();
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));
    assert!(plan.notes.iter().any(|note| note.message.contains("auto-grew to 512")));
}

#[test]
fn a_ha_mode_switch_is_disabled_then_enabled() {
    let same = ha(flex("Standard_D4ds_v5", 256), HaMode::SameZone, Some("1"), None);
    let zr = ha(flex("Standard_D4ds_v5", 256), HaMode::ZoneRedundant, Some("1"), Some("2"));
    let plan = Case::new().want("orders", zr).have("orders", same).plan();
    assert_eq!(ids(&plan), ["ha-off:orders", "update:orders"]);
    assert_eq!(patch_of(&plan, "ha-off:orders").high_availability, Some(HaMode::Disabled));
    let enable = patch_of(&plan, "update:orders");
    assert_eq!(enable.high_availability, Some(HaMode::ZoneRedundant));
    assert_eq!(enable.standby_zone, Some(Some("2".into())));
    assert!(waits_for(&plan, "update:orders", "ha-off:orders"));
    assert!(
        change(&plan, "ha-off:orders").reason.contains("cannot switch HA from SameZone to ZoneRedundant")
    );
}

#[test]
fn enabling_ha_is_one_online_update() {
    let plan = Case::new()
        .want("orders", ha(flex("Standard_D4ds_v5", 256), HaMode::ZoneRedundant, None, None))
        .have("orders", flex("Standard_D4ds_v5", 256))
        .plan();
    assert_eq!(ids(&plan), ["update:orders"]);
    assert!(!change(&plan, "update:orders").impact.restart);
}

#[test]
fn zones_swapped_by_a_failover_are_no_change() {
    let configured = ha(flex("Standard_D4ds_v5", 256), HaMode::ZoneRedundant, Some("1"), Some("2"));
    let failed_over = ha(flex("Standard_D4ds_v5", 256), HaMode::ZoneRedundant, Some("2"), Some("1"));
    let plan = Case::new()
        .want("orders", configured.clone())
        .have("orders", configured)
        .live_as("orders", failed_over)
        .plan();
    assert!(plan.changes.is_empty(), "{:?}", ids(&plan));
    assert!(plan.notes.iter().any(|note| note.message.contains("a failover swapped them")));
}

#[test]
fn the_file_naming_the_standby_zone_is_a_planned_failover() {
    let applied = ha(flex("Standard_D4ds_v5", 256), HaMode::ZoneRedundant, Some("1"), Some("2"));
    let swapped = ha(flex("Standard_D4ds_v5", 256), HaMode::ZoneRedundant, Some("2"), Some("1"));
    let case = Case::new().want("orders", swapped.clone()).have("orders", applied.clone());
    // The file still says what pgfleet applied before the live zones swapped: no change.
    let failed_over = Case::new()
        .want("orders", applied.clone())
        .have("orders", applied)
        .live_as("orders", swapped)
        .configured_zone("orders", "1");
    assert!(failed_over.plan().changes.is_empty());
    // The file now names the standby's zone: a planned failover.
    let plan = case.configured_zone("orders", "1").plan();
    assert_eq!(ids(&plan), ["failover:orders"]);
    let failover = change(&plan, "failover:orders");
    assert!(matches!(failover.operation, Operation::Failover));
    assert!(failover.impact.restart);
    assert!(failover.reason.contains("planned failover"), "{}", failover.reason);
    assert_eq!(failover.configured_zone.as_deref(), Some("2"));
}

#[test]
fn another_zone_is_a_migration() {
    let plan = Case::new()
        .want("orders", ha(flex("Standard_D4ds_v5", 256), HaMode::Disabled, Some("3"), None))
        .have("orders", ha(flex("Standard_D4ds_v5", 256), HaMode::Disabled, Some("1"), None))
        .plan();
    assert_eq!(ids(&plan), ["migrate:orders"]);
    assert!(change(&plan, "migrate:orders").reason.contains("zone"));
}

#[test]
fn create_only_keys_migrate() {
    let v2 = with(ServerSpec { version: PgVersion::V16, ..flex("Standard_D4ds_v5", 256) }, |f| {
        f.storage_type = StorageType::PremiumV2
    });
    let plan = Case::new().want("orders", v2).have("orders", flex("Standard_D4ds_v5", 256)).plan();
    assert_eq!(ids(&plan), ["migrate:orders"]);
    let geo = ServerSpec { geo_redundant_backup: true, ..flex("Standard_D4ds_v5", 256) };
    let plan = Case::new().want("orders", geo).have("orders", flex("Standard_D4ds_v5", 256)).plan();
    assert_eq!(ids(&plan), ["migrate:orders"]);
}

#[test]
fn single_to_flexible_is_a_migration() {
    let plan = Case::new().want("orders", flex("Standard_D4ds_v5", 256)).have("orders", spec(4, 100)).plan();
    assert_eq!(ids(&plan), ["migrate:orders"]);
    let migrate = change(&plan, "migrate:orders");
    assert!(migrate.reason.contains("moves from Single Server to Flexible Server"), "{}", migrate.reason);
    let service = migrate.attributes.iter().find(|a| a.path == Key::Service).expect("a service attribute");
    assert_eq!((service.before.as_str(), service.after.as_str()), (Some("single"), Some("flexible")));
}

#[test]
fn the_maintenance_window_is_an_update_after_create() {
    let window = MaintenanceWindow { day: Weekday::Sunday, hour: 2, minute: 0 };
    let spec = with(flex("Standard_D4ds_v5", 256), |f| f.maintenance_window = Some(window));
    let plan = Case::new().want("orders", spec).plan();
    assert_eq!(ids(&plan), ["create:orders", "maintenance:orders"]);
    let Operation::Create { spec } = &change(&plan, "create:orders").operation else { panic!() };
    assert_eq!(spec.flexible.as_ref().unwrap().maintenance_window, None);
    assert_eq!(patch_of(&plan, "maintenance:orders").maintenance_window, Some(Some(window)));
    assert!(waits_for(&plan, "maintenance:orders", "create:orders"));
}

#[test]
fn replicas_scale_up_first_and_the_primary_scales_down_first() {
    let up = Case::new()
        .want("orders", flex("Standard_D8ds_v5", 256))
        .want("orders-ro", flex_replica("orders", "Standard_D8ds_v5", 256))
        .have("orders", flex("Standard_D4ds_v5", 256))
        .have("orders-ro", flex_replica("orders", "Standard_D4ds_v5", 256))
        .plan();
    assert_eq!(ids(&up), ["update:orders-ro", "update:orders"]);
    assert!(waits_for(&up, "update:orders", "update:orders-ro"));
    let down = Case::new()
        .want("orders", flex("Standard_D2ds_v5", 256))
        .want("orders-ro", flex_replica("orders", "Standard_D2ds_v5", 256))
        .have("orders", flex("Standard_D4ds_v5", 256))
        .have("orders-ro", flex_replica("orders", "Standard_D4ds_v5", 256))
        .plan();
    assert_eq!(ids(&down), ["update:orders", "update:orders-ro"]);
}

#[test]
fn autogrow_is_enabled_on_replicas_first_and_disabled_on_the_primary_first() {
    let on = |spec: ServerSpec| ServerSpec { storage_autogrow: true, ..spec };
    let enable = Case::new()
        .want("orders", on(flex("Standard_D4ds_v5", 256)))
        .want("orders-ro", on(flex_replica("orders", "Standard_D4ds_v5", 256)))
        .have("orders", flex("Standard_D4ds_v5", 256))
        .have("orders-ro", flex_replica("orders", "Standard_D4ds_v5", 256))
        .plan();
    assert!(waits_for(&enable, "update:orders", "update:orders-ro"));
    let disable = Case::new()
        .want("orders", flex("Standard_D4ds_v5", 256))
        .want("orders-ro", flex_replica("orders", "Standard_D4ds_v5", 256))
        .have("orders", on(flex("Standard_D4ds_v5", 256)))
        .have("orders-ro", on(flex_replica("orders", "Standard_D4ds_v5", 256)))
        .plan();
    assert!(waits_for(&disable, "update:orders-ro", "update:orders"));
    assert!(
        change(&disable, "update:orders-ro")
            .ordering
            .iter()
            .any(|o| o.reason.contains("disabled on orders before"))
    );
}

#[test]
fn one_write_at_a_time_in_a_replication_set() {
    let plan = Case::new()
        .want("orders", with(flex("Standard_D4ds_v5", 256), |f| f.public_network_access = false))
        .want("orders-ro-1", flex_replica("orders", "Standard_D4ds_v5", 256))
        .want("orders-ro-2", flex_replica("orders", "Standard_D4ds_v5", 256))
        .have("orders", flex("Standard_D4ds_v5", 256))
        .plan();
    assert_eq!(ids(&plan), ["update:orders", "create:orders-ro-1", "create:orders-ro-2"]);
    assert!(waits_for(&plan, "create:orders-ro-2", "create:orders-ro-1"));
    let reasons: Vec<&str> =
        change(&plan, "create:orders-ro-2").ordering.iter().map(|o| o.reason.as_str()).collect();
    assert!(reasons.iter().any(|r| r.contains("one write at a time")), "{reasons:?}");
    // No replication-support step: that is a Single Server parameter.
    assert!(!ids(&plan).iter().any(|id| id.starts_with("replication:")));
}

#[test]
fn a_major_version_upgrade_deletes_and_recreates_the_replicas() {
    let v = |spec: ServerSpec, version| ServerSpec { version, ..spec };
    let case = Case::new()
        .want("orders", v(flex("Standard_D4ds_v5", 256), PgVersion::V17))
        .want("orders-ro", v(flex_replica("orders", "Standard_D4ds_v5", 256), PgVersion::V17))
        .have("orders", flex("Standard_D4ds_v5", 256))
        .have("orders-ro", flex_replica("orders", "Standard_D4ds_v5", 256));
    let blocked = case.plan();
    assert!(blocked.changes.is_empty(), "{:?}", ids(&blocked));
    assert!(
        blocked
            .blocked
            .iter()
            .any(|b| b.server == name("orders") && b.reason.contains("major version upgrade"))
    );
    assert!(blocked.blocked.iter().any(|b| b.server == name("orders-ro") && b.action == Action::Delete));
    let plan = case.allow_delete().plan();
    assert_eq!(ids(&plan), ["delete:orders-ro", "update:orders", "create:orders-ro"]);
    assert!(waits_for(&plan, "update:orders", "delete:orders-ro"));
    assert!(waits_for(&plan, "create:orders-ro", "update:orders"));
    let upgrade = change(&plan, "update:orders");
    assert_eq!(patch_of(&plan, "update:orders").version, Some(PgVersion::V17));
    assert!(upgrade.impact.restart && !upgrade.impact.reversible);
}

#[test]
fn storage_shrink_and_version_downgrade_are_refused() {
    let plan = Case::new()
        .want("orders", ServerSpec { version: PgVersion::V15, ..flex("Standard_D4ds_v5", 128) })
        .have("orders", flex("Standard_D4ds_v5", 256))
        .plan();
    let rules: Vec<_> = plan.refused.iter().filter_map(|r| r.rule).collect();
    assert!(rules.contains(&crate::rules::Rule::FlexibleStorageShrink), "{rules:?}");
    assert!(rules.contains(&crate::rules::Rule::VersionDowngrade), "{rules:?}");
}

/// On Azure a migration from Single to Flexible Server lands on a new server name, and the
/// login loses its `@server`: the plan says where clients go and that the user changes.
#[test]
fn a_move_to_flexible_on_azure_discloses_the_new_host_and_login() {
    let mut case = Case::new().want("shop", flex("Standard_D2ds_v5", 128)).have(
        "shop",
        ServerSpec::new(
            crate::rules::Tier::GeneralPurpose,
            2,
            128,
            PgVersion::V16,
            "fleetadmin",
            "westeurope",
        ),
    );
    case.desired.provider = crate::config::ProviderSettings::Azure(crate::config::AzureSettings {
        subscription_id: "s".into(),
        resource_group: "g".into(),
        location: "westeurope".into(),
        endpoint: "https://management.azure.com".into(),
    });
    let live = case.live.get_mut(&name("shop")).unwrap();
    live.endpoint = Some(crate::model::Endpoint {
        host: "shop.postgres.database.azure.com".into(),
        port: 5432,
        user: "fleetadmin@shop".into(),
        database: "postgres".into(),
    });
    let plan = case.plan();
    let moved =
        plan.changes.iter().find_map(|c| c.endpoint.as_ref()).expect("the endpoint move is disclosed");
    let to = moved.to.as_deref().expect("the new host is known ahead");
    assert!(to.contains("shop-migration.postgres.database.azure.com"), "{to}");
    assert!(to.contains("fleetadmin@") && !to.contains("fleetadmin%40"), "{to}");
    assert!(moved.message.contains("the user becomes fleetadmin"), "{}", moved.message);
}

fn with_parameter(spec: ServerSpec, name: &str, value: &str) -> ServerSpec {
    let mut spec = spec;
    spec.parameters.insert(name.to_string(), value.to_string());
    spec
}

/// A replica's max_connections never falls below its primary's: raised on the replica before
/// the primary, lowered on the primary before the replica; a static parameter restarts.
#[test]
fn floor_parameters_are_raised_on_replicas_first_and_lowered_on_primaries_first() {
    let main = |value| with_parameter(flex("Standard_D4ds_v5", 256), "max_connections", value);
    let ro =
        |value| with_parameter(flex_replica("orders", "Standard_D4ds_v5", 256), "max_connections", value);
    let raised = Case::new()
        .want("orders", main("1200"))
        .want("orders-ro", ro("1200"))
        .have("orders", main("800"))
        .have("orders-ro", ro("800"))
        .plan();
    assert!(waits_for(&raised, "update:orders", "update:orders-ro"));
    assert!(change(&raised, "update:orders").impact.restart, "max_connections is static");
    let paths: Vec<String> =
        change(&raised, "update:orders").attributes.iter().map(|a| a.path.to_string()).collect();
    assert_eq!(paths, ["parameters.max_connections"]);
    let lowered = Case::new()
        .want("orders", main("500"))
        .want("orders-ro", ro("500"))
        .have("orders", main("800"))
        .have("orders-ro", ro("800"))
        .plan();
    assert!(waits_for(&lowered, "update:orders-ro", "update:orders"));
    assert!(!waits_for(&lowered, "update:orders", "update:orders-ro"));
}

/// A dynamic parameter is an online change; one pgfleet never managed is left alone.
#[test]
fn a_dynamic_parameter_is_online_and_unmanaged_ones_are_kept() {
    let live =
        with_parameter(with_parameter(flex("Standard_D4ds_v5", 256), "work_mem", "4096"), "jit", "off");
    let plan = Case::new()
        .want("orders", with_parameter(flex("Standard_D4ds_v5", 256), "work_mem", "8192"))
        .have("orders", live)
        .plan();
    let update = change(&plan, "update:orders");
    assert!(!update.impact.restart);
    let patch = patch_of(&plan, "update:orders");
    assert_eq!(
        patch.parameters,
        std::collections::BTreeMap::from([("work_mem".to_string(), Some("8192".to_string()))])
    );
}
