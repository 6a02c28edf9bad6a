//! The service's refusals, enforced by the local provider before it touches a cluster, so a
//! wrongly ordered plan fails here as it would on Azure.
//!
//! Owns: gathering the facts `crate::rules::check` reads (the server, its primary, its
//! replicas) and turning a [`Refusal`] into `ProviderError::refused` with the rule's one code
//! ([`refused`], the only place that does). Must not: restate a rule, or do I/O.

use crate::model::{ServerName, ServerPatch, ServerSpec};
use crate::providers::{ProviderError, ProviderErrorKind};
use crate::rules::check::{self, PrimaryFacts};
use crate::rules::{Refusal, ReplicationSupport, Rule};
use std::collections::BTreeMap;

/// An unknown parameter or value (not a rule: a parse step).
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

/// A rule's refusal as the local provider answers it: `Refused` with the rule's code.
pub fn refused(refusal: Refusal) -> ProviderError {
    ProviderError::refused(refusal.code(), refusal.message)
}

fn replicas_of<'a>(
    fleet: &'a FleetFacts,
    primary: &'a ServerName,
) -> impl Iterator<Item = (&'a ServerName, &'a ServerFacts)> {
    fleet.iter().filter(move |(_, facts)| facts.spec.replica_of.as_ref() == Some(primary))
}

/// Refuses a create the service would refuse (`rules::check::check_create`).
///
/// # Errors
/// `Refused` with the rule's code; `NotFound` for a replica of a missing primary.
pub fn check_create(name: &ServerName, spec: &ServerSpec, fleet: &FleetFacts) -> Result<(), ProviderError> {
    let primary = match &spec.replica_of {
        None => None,
        Some(primary_name) => {
            let primary = fleet.get(primary_name).ok_or_else(|| {
                ProviderError::new(
                    ProviderErrorKind::NotFound,
                    format!("The primary server {primary_name} does not exist."),
                )
            })?;
            Some(PrimaryFacts {
                shape: primary.spec.shape(primary_name.as_str()),
                replication_support: Some(primary.replication_support),
                other_replicas: replicas_of(fleet, primary_name).filter(|(other, _)| *other != name).count(),
            })
        }
    };
    check::check_create(&spec.shape(name.as_str()), primary.as_ref()).map_err(refused)
}

/// Refuses an in-place update the service would refuse: the change itself
/// (`rules::check::check_update`), and a resize that would leave a replica short of its primary
/// (`check_primary_resize`, `check_replica_resize`).
///
/// # Errors
/// `Refused` with the rule's code.
pub fn check_update(
    name: &ServerName,
    current: &ServerSpec,
    patch: &ServerPatch,
    fleet: &FleetFacts,
) -> Result<(), ProviderError> {
    let next = patch.apply_to(current);
    let replicas: Vec<_> =
        replicas_of(fleet, name).map(|(replica, facts)| facts.spec.shape(replica.as_str())).collect();
    let primary = current
        .replica_of
        .as_ref()
        .and_then(|primary| fleet.get_key_value(primary))
        .map(|(primary_name, primary)| primary.spec.shape(primary_name.as_str()));
    check::check_update_in_set(
        &current.shape(name.as_str()),
        &next.shape(name.as_str()),
        primary.as_ref(),
        &replicas,
    )
    .map_err(refused)
}

/// Refuses a failover of a server without a standby (`rules::check::check_failover`).
///
/// # Errors
/// `Refused` with the rule's code.
pub fn check_failover(name: &ServerName, spec: &ServerSpec) -> Result<(), ProviderError> {
    check::check_failover(&spec.shape(name.as_str())).map_err(refused)
}

/// Refuses a promote of a server that is not a replica (`rules::check::check_promote`).
///
/// # Errors
/// `Refused` with the rule's code.
pub fn check_promote(name: &ServerName, spec: &ServerSpec) -> Result<(), ProviderError> {
    check::check_promote(&spec.shape(name.as_str())).map_err(refused)
}

/// Refuses a replication support `support` on `name` that the rules forbid
/// (`rules::check::check_replication_support`).
///
/// # Errors
/// `Refused` with the rule's code.
pub fn check_replication_support(
    name: &ServerName,
    spec: &ServerSpec,
    support: ReplicationSupport,
    fleet: &FleetFacts,
) -> Result<(), ProviderError> {
    let replicas = replicas_of(fleet, name).count();
    check::check_replication_support(&spec.shape(name.as_str()), support, replicas).map_err(refused)
}

/// The refusal of a SKU the catalog does not sell, for a spec that was checked before.
pub fn unknown_sku(spec: &ServerSpec) -> ProviderError {
    ProviderError::refused(
        Rule::SkuNotOffered.code_str(),
        format!("The SKU {} does not exist.", spec.sku_name()),
    )
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
        assert_eq!(
            code(check_update(&"a".into(), &current, &patch, &facts)),
            Rule::TierChangeNotInPlace.code_str()
        );
    }

    #[test]
    fn storage_shrink_is_unsupported_update() {
        let current = spec(Tier::GeneralPurpose, 2, 100, None);
        let patch = ServerPatch { storage_gb: Some(50), ..Default::default() };
        let facts = fleet(&[("a", current.clone())]);
        assert_eq!(code(check_update(&"a".into(), &current, &patch, &facts)), Rule::StorageShrink.code_str());
    }

    #[test]
    fn primary_may_not_outgrow_its_replicas() {
        let primary = spec(Tier::GeneralPurpose, 2, 10, None);
        let facts = fleet(&[("p", primary.clone()), ("r", spec(Tier::GeneralPurpose, 2, 10, Some("p")))]);
        let up = ServerPatch { vcores: Some(8), ..Default::default() };
        let error = check_update(&"p".into(), &primary, &up, &facts).unwrap_err();
        assert_eq!(error.code.as_deref(), Some(Rule::PrimaryLargerThanReplica.code_str()));
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
            Rule::ReplicaSmallerThanPrimary.code_str()
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
        let larger = Rule::PrimaryLargerThanReplica.code_str();
        assert_eq!(code(check_update(&"p".into(), &primary, &further, &facts)), larger);
        let compute = ServerPatch { vcores: Some(8), ..Default::default() };
        assert_eq!(code(check_update(&"p".into(), &primary, &compute, &facts)), larger);
    }

    #[test]
    fn replica_rules_at_create() {
        let new = |primary: &str| spec(Tier::GeneralPurpose, 2, 10, Some(primary));
        let create =
            |spec: &ServerSpec, fleet: &FleetFacts| code(check_create(&"new-ro".into(), spec, fleet));
        let basic = fleet(&[("b", spec(Tier::Basic, 1, 10, None))]);
        assert_eq!(create(&new("b"), &basic), Rule::ReplicaOnBasic.code_str());
        let mut chain = fleet(&[
            ("p", spec(Tier::GeneralPurpose, 2, 10, None)),
            ("r", spec(Tier::GeneralPurpose, 2, 10, Some("p"))),
        ]);
        assert_eq!(create(&new("r"), &chain), Rule::ReplicaOfReplica.code_str());
        assert_eq!(create(&new("r"), &chain), "ReplicaOfReplicaNotSupported");
        let smaller = spec(Tier::GeneralPurpose, 2, 5, Some("p"));
        assert_eq!(create(&smaller, &chain), Rule::ReplicaSmallerThanPrimary.code_str());
        check_create(&"new-ro".into(), &new("p"), &chain).unwrap();
        for index in 0..4 {
            chain.insert(
                ServerName::new(format!("rep{index}")),
                ServerFacts {
                    spec: spec(Tier::GeneralPurpose, 2, 10, Some("p")),
                    replication_support: ReplicationSupport::Off,
                },
            );
        }
        assert_eq!(create(&new("p"), &chain), Rule::TooManyReplicas.code_str());
        // A retry of one of the five is not a sixth.
        check_create(&"rep0".into(), &new("p"), &chain).unwrap();
        let mut off = fleet(&[("p", spec(Tier::GeneralPurpose, 2, 10, None))]);
        off.get_mut(&ServerName::from("p")).unwrap().replication_support = ReplicationSupport::Off;
        assert_eq!(create(&new("p"), &off), Rule::ReplicationSupportOff.code_str());
        let missing = check_create(&"new-ro".into(), &new("gone"), &off).unwrap_err();
        assert_eq!(missing.kind, ProviderErrorKind::NotFound);
    }

    #[test]
    fn a_server_on_its_own_is_checked_at_create_and_update() {
        let none = FleetFacts::new();
        let create = |spec: &ServerSpec| code(check_create(&"a-server".into(), spec, &none));
        assert_eq!(create(&spec(Tier::Basic, 2, 2000, None)), Rule::StorageOutOfRange.code_str());
        assert_eq!(create(&spec(Tier::Basic, 2, 2000, None)), "InvalidStorageSize");
        assert_eq!(create(&spec(Tier::GeneralPurpose, 3, 100, None)), Rule::SkuNotOffered.code_str());
        let old = ServerSpec { version: PgVersion::V9_6, ..spec(Tier::GeneralPurpose, 2, 100, None) };
        assert_eq!(create(&old), Rule::RetiredVersion.code_str());
        let current = spec(Tier::Basic, 2, 100, None);
        let facts = fleet(&[("a-server", current.clone())]);
        let patch = ServerPatch { storage_gb: Some(2000), ..Default::default() };
        assert_eq!(
            code(check_update(&"a-server".into(), &current, &patch, &facts)),
            Rule::StorageOutOfRange.code_str()
        );
    }

    #[test]
    fn promote_and_replication_support() {
        let primary = spec(Tier::GeneralPurpose, 2, 10, None);
        let facts = fleet(&[("p", primary.clone()), ("r", spec(Tier::GeneralPurpose, 2, 10, Some("p")))]);
        assert_eq!(code(check_promote(&"p".into(), &primary)), Rule::NotAReplica.code_str());
        check_promote(&"r".into(), &facts[&ServerName::from("r")].spec).unwrap();
        assert_eq!(
            code(check_replication_support(&"p".into(), &primary, ReplicationSupport::Off, &facts)),
            Rule::ReplicationSupportOff.code_str()
        );
        let basic = spec(Tier::Basic, 2, 10, None);
        assert_eq!(
            code(check_replication_support(&"b".into(), &basic, ReplicationSupport::Replica, &facts)),
            Rule::ReplicaOnBasic.code_str()
        );
        check_replication_support(&"p".into(), &primary, ReplicationSupport::Logical, &facts).unwrap();
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
