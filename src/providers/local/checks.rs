//! The service's refusals, enforced by the local provider before it touches a cluster, so a
//! wrongly ordered plan fails here as it would on Azure.
//!
//! Owns: turning `crate::rules` into `ProviderError::refused` with the service's error codes.
//! Must not: restate a rule `crate::rules` already holds, or do I/O.

use crate::model::{ServerName, ServerPatch, ServerSpec};
use crate::providers::ProviderError;
use crate::rules::{self, ReplicationSupport, TierChange, TierFeature};
use std::collections::BTreeMap;

/// The service's code for a tier change to or from Basic (DOMAIN.md §2).
pub const INVALID_UPGRADE_EDITION: &str = "InvalidUpgradeEdition";
/// The service's code for a storage decrease and create-only fields (DOMAIN.md §2, §4.6).
pub const UNSUPPORTED_UPDATE: &str = "UnsupportedUpdate";
/// DOMAIN.md §4.6 found no code for replica refusals; pgfleet names them with this one.
pub const INVALID_REPLICA: &str = "InvalidReplicaOperation";
/// An unknown SKU, parameter or value.
pub const INVALID_PARAMETER: &str = "InvalidParameterValue";

/// What the checks need to know of each server of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFacts {
    pub spec: ServerSpec,
    /// The replication support in effect (the running `wal_level`).
    pub replication_support: ReplicationSupport,
}

/// The servers of the fleet, by name.
pub type FleetFacts = BTreeMap<ServerName, ServerFacts>;

fn replicas_of<'a>(fleet: &'a FleetFacts, primary: &'a ServerName) -> impl Iterator<Item = &'a ServerFacts> {
    fleet.values().filter(move |facts| facts.spec.replica_of.as_ref() == Some(primary))
}

fn max_connections(spec: &ServerSpec) -> Result<u32, ProviderError> {
    spec.sku().map(|sku| sku.max_connections).ok_or_else(|| {
        ProviderError::refused(INVALID_PARAMETER, format!("The SKU {} does not exist.", spec.sku_name()))
    })
}

/// Refuses a create the service would refuse: an unknown SKU, or a replica that breaks the
/// replica rules (DOMAIN.md §3).
///
/// # Errors
/// `Refused` with the service's code.
pub fn check_create(spec: &ServerSpec, fleet: &FleetFacts) -> Result<(), ProviderError> {
    max_connections(spec)?;
    let Some(primary_name) = &spec.replica_of else { return Ok(()) };
    let refuse = |message: String| Err(ProviderError::refused(INVALID_REPLICA, message));
    let Some(primary) = fleet.get(primary_name) else {
        return Err(ProviderError::new(
            crate::providers::ProviderErrorKind::NotFound,
            format!("The primary server {primary_name} does not exist."),
        ));
    };
    if !rules::tier_supports(primary.spec.tier, TierFeature::ReadReplicas) {
        return refuse(format!("Replicas are not supported on the Basic tier ({primary_name} is Basic)."));
    }
    if primary.spec.replica_of.is_some() {
        return refuse(format!("{primary_name} is a replica; a replica of a replica is not allowed."));
    }
    if replicas_of(fleet, primary_name).count() >= rules::MAX_REPLICAS_PER_PRIMARY {
        return refuse(format!(
            "{primary_name} already has {} replicas, the most a server can have.",
            rules::MAX_REPLICAS_PER_PRIMARY
        ));
    }
    if !primary.replication_support.allows_replicas() {
        return refuse(format!(
            "{primary_name} does not have replication support on; set {} to REPLICA and restart it first.",
            ReplicationSupport::PARAMETER
        ));
    }
    if !rules::replica_fits(primary.spec.size(), spec.size()) {
        return refuse(format!(
            "A replica must have equal or greater compute and storage than its primary {primary_name} ({}, {} GB).",
            primary.spec.sku_name(),
            primary.spec.storage_gb
        ));
    }
    Ok(())
}

/// Refuses an in-place update the service would refuse: to or from Basic, a storage
/// decrease, an unknown SKU, and a SKU order that would leave a replica with a lower
/// `max_connections` than its primary (DOMAIN.md §2, §3).
///
/// # Errors
/// `Refused` with the service's code.
pub fn check_update(
    name: &ServerName,
    current: &ServerSpec,
    patch: &ServerPatch,
    fleet: &FleetFacts,
) -> Result<(), ProviderError> {
    let next = patch.apply_to(current);
    if rules::tier_change(current.tier, next.tier) == TierChange::Migration {
        return Err(ProviderError::refused(
            INVALID_UPGRADE_EDITION,
            format!(
                "The edition '{}' is not a valid edition. Edition cannot be changed by update.",
                next.tier
            ),
        ));
    }
    if next.storage_gb < current.storage_gb {
        return Err(ProviderError::refused(
            UNSUPPORTED_UPDATE,
            "Cannot update StorageMB Downscaling for server",
        ));
    }
    max_connections(&next)?;
    let unchanged = |spec: &ServerSpec| (spec.size(), spec.size());
    if replicas_of(fleet, name).any(|replica| {
        rules::replica_resize_shortfall((current.size(), next.size()), unchanged(&replica.spec)).is_some()
    }) {
        return Err(ProviderError::refused(
            UNSUPPORTED_UPDATE,
            "The requested sku update would cause the master server to have a larger max_connections value than its replica(s).",
        ));
    }
    if let Some(primary) = current.replica_of.as_ref().and_then(|primary| fleet.get(primary)) {
        if rules::replica_resize_shortfall(unchanged(&primary.spec), (current.size(), next.size())).is_some()
        {
            return Err(ProviderError::refused(
                UNSUPPORTED_UPDATE,
                format!(
                    "The requested sku update would cause the replica to have a smaller max_connections value \
                     or storage than its master server {} ({}).",
                    current.replica_of.as_ref().map(ServerName::as_str).unwrap_or_default(),
                    primary.spec.sku_name()
                ),
            ));
        }
    }
    Ok(())
}

/// Parses a value of `azure.replication_support`, refusing other parameters and values.
///
/// # Errors
/// `Refused` with `InvalidParameterValue`.
pub fn parse_replication_support(parameter: &str, value: &str) -> Result<ReplicationSupport, ProviderError> {
    if parameter != ReplicationSupport::PARAMETER {
        return Err(ProviderError::refused(
            INVALID_PARAMETER,
            format!("The configuration '{parameter}' does not exist for this server."),
        ));
    }
    [ReplicationSupport::Off, ReplicationSupport::Replica, ReplicationSupport::Logical]
        .into_iter()
        .find(|support| support.as_str().eq_ignore_ascii_case(value))
        .ok_or_else(|| {
            ProviderError::refused(
                INVALID_PARAMETER,
                format!("The value '{value}' for configuration '{parameter}' is not valid (OFF, REPLICA, LOGICAL)."),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderErrorKind;
    use crate::rules::{PgVersion, Tier, TlsVersion};

    fn spec(tier: Tier, vcores: u32, storage_gb: u32, replica_of: Option<&str>) -> ServerSpec {
        ServerSpec {
            ssl_enforcement: false,
            minimal_tls_version: TlsVersion::EnforcementDisabled,
            replica_of: replica_of.map(ServerName::from),
            ..ServerSpec::new(tier, vcores, storage_gb, PgVersion::V11, "fleetadmin", "local")
        }
    }

    fn fleet(entries: &[(&str, ServerSpec)]) -> FleetFacts {
        entries
            .iter()
            .map(|(name, spec)| {
                let support = if spec.tier == Tier::Basic {
                    ReplicationSupport::Off
                } else {
                    ReplicationSupport::Replica
                };
                (ServerName::from(*name), ServerFacts { spec: spec.clone(), replication_support: support })
            })
            .collect()
    }

    fn code(result: Result<(), ProviderError>) -> String {
        let error = result.unwrap_err();
        assert_eq!(error.kind, ProviderErrorKind::Refused);
        error.code.unwrap()
    }

    #[test]
    fn basic_to_general_purpose_in_place_is_invalid_upgrade_edition() {
        let current = spec(Tier::Basic, 2, 10, None);
        let patch = ServerPatch { tier: Some(Tier::GeneralPurpose), ..Default::default() };
        let facts = fleet(&[("a", current.clone())]);
        assert_eq!(code(check_update(&"a".into(), &current, &patch, &facts)), INVALID_UPGRADE_EDITION);
    }

    #[test]
    fn storage_shrink_is_unsupported_update() {
        let current = spec(Tier::GeneralPurpose, 2, 100, None);
        let patch = ServerPatch { storage_gb: Some(50), ..Default::default() };
        let facts = fleet(&[("a", current.clone())]);
        assert_eq!(code(check_update(&"a".into(), &current, &patch, &facts)), UNSUPPORTED_UPDATE);
    }

    #[test]
    fn primary_may_not_outgrow_its_replicas() {
        let primary = spec(Tier::GeneralPurpose, 2, 10, None);
        let facts = fleet(&[("p", primary.clone()), ("r", spec(Tier::GeneralPurpose, 2, 10, Some("p")))]);
        let up = ServerPatch { vcores: Some(8), ..Default::default() };
        let error = check_update(&"p".into(), &primary, &up, &facts).unwrap_err();
        assert!(error.message.contains("larger max_connections value than its replica(s)"));
        // The replica first is fine, and then the primary.
        let replica = facts[&ServerName::from("r")].spec.clone();
        check_update(&"r".into(), &replica, &up, &facts).unwrap();
        let grown = fleet(&[("p", primary.clone()), ("r", up.apply_to(&replica))]);
        check_update(&"p".into(), &primary, &up, &grown).unwrap();
        // Scaling the replica below its primary is refused.
        let down = ServerPatch { vcores: Some(2), ..Default::default() };
        let bigger = fleet(&[("p", up.apply_to(&primary)), ("r", up.apply_to(&replica))]);
        assert_eq!(
            code(check_update(&"r".into(), &up.apply_to(&replica), &down, &bigger)),
            UNSUPPORTED_UPDATE
        );
    }

    #[test]
    fn a_pair_already_short_by_auto_growth_does_not_block_updates_that_make_it_no_worse() {
        // The primary's storage grew by itself to 130 GB; its replica still has 100 GB.
        let primary = spec(Tier::GeneralPurpose, 4, 130, None);
        let replica = spec(Tier::GeneralPurpose, 4, 100, Some("p"));
        let facts = fleet(&[("p", primary.clone()), ("r", replica.clone())]);
        let tags = ServerPatch {
            tags: Some([("team".to_string(), "payments".to_string())].into()),
            ..Default::default()
        };
        check_update(&"r".into(), &replica, &tags, &facts).unwrap();
        check_update(&"p".into(), &primary, &tags, &facts).unwrap();
        let towards = ServerPatch { storage_gb: Some(120), ..Default::default() };
        check_update(&"r".into(), &replica, &towards, &facts).unwrap();
        // Worse is still refused: the primary growing further, or its compute past the replica's.
        let further = ServerPatch { storage_gb: Some(200), ..Default::default() };
        assert_eq!(code(check_update(&"p".into(), &primary, &further, &facts)), UNSUPPORTED_UPDATE);
        let compute = ServerPatch { vcores: Some(8), ..Default::default() };
        assert_eq!(code(check_update(&"p".into(), &primary, &compute, &facts)), UNSUPPORTED_UPDATE);
    }

    #[test]
    fn replica_rules_at_create() {
        let basic = fleet(&[("b", spec(Tier::Basic, 1, 10, None))]);
        assert_eq!(
            code(check_create(&spec(Tier::GeneralPurpose, 2, 10, Some("b")), &basic)),
            INVALID_REPLICA
        );
        let mut chain = fleet(&[
            ("p", spec(Tier::GeneralPurpose, 2, 10, None)),
            ("r", spec(Tier::GeneralPurpose, 2, 10, Some("p"))),
        ]);
        assert_eq!(
            code(check_create(&spec(Tier::GeneralPurpose, 2, 10, Some("r")), &chain)),
            INVALID_REPLICA
        );
        let smaller = spec(Tier::GeneralPurpose, 2, 5, Some("p"));
        assert_eq!(code(check_create(&smaller, &chain)), INVALID_REPLICA);
        for index in 0..4 {
            chain.insert(
                ServerName::new(format!("r{index}")),
                ServerFacts {
                    spec: spec(Tier::GeneralPurpose, 2, 10, Some("p")),
                    replication_support: ReplicationSupport::Off,
                },
            );
        }
        assert_eq!(
            code(check_create(&spec(Tier::GeneralPurpose, 2, 10, Some("p")), &chain)),
            INVALID_REPLICA
        );
        let mut off = fleet(&[("p", spec(Tier::GeneralPurpose, 2, 10, None))]);
        off.get_mut(&ServerName::from("p")).unwrap().replication_support = ReplicationSupport::Off;
        assert_eq!(code(check_create(&spec(Tier::GeneralPurpose, 2, 10, Some("p")), &off)), INVALID_REPLICA);
    }

    #[test]
    fn replication_support_values() {
        assert_eq!(
            parse_replication_support("azure.replication_support", "logical").unwrap(),
            ReplicationSupport::Logical
        );
        assert!(parse_replication_support("azure.replication_support", "ON").is_err());
        assert!(parse_replication_support("work_mem", "REPLICA").is_err());
    }
}
