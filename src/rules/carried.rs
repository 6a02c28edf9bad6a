//! What a server carries besides its own settings — server parameters, firewall rules and
//! databases — and the service's rules about them, as predicates every part calls (validator,
//! planner, providers, emulator): which parameters users may set and to what, which firewall
//! rule and database names the service takes, and the parameters a replica must keep at least
//! as high as its primary's.
//!
//! The parameter catalog itself is data (`catalog::parameters`); this module judges values
//! against it.

use super::catalog::parameters::{REPLICA_FLOOR_PARAMETERS, default_value, normalized_value, parameter};
use super::catalog::parameters::{parameter_suggestion, value_problem};
use super::{Key, Refusal, ReplicationSupport, Rule, Service};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The databases every server has from its create: never declared, never dropped.
pub const SYSTEM_DATABASES: &[&str] =
    &["azure_maintenance", "azure_sys", "postgres", "template0", "template1"];

/// The longest firewall rule name the service takes.
const FIREWALL_RULE_NAME_MAX: usize = 128;
/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const DATABASE_NAME_MAX: usize = 63;

/// Whether `name` is a system database (any case).
pub fn is_system_database(name: &str) -> bool {
    SYSTEM_DATABASES.iter().any(|system| system.eq_ignore_ascii_case(name))
}

/// A parameter set in a fleet file, judged against the service's catalog: `Ok` with the value as
/// the service spells it (`16MB` → `16384`), or the refusal (unknown, with the nearest name;
/// not settable, with the reason; a value outside its type or range).
///
/// # Errors
/// The refusal, keyed on `parameters`.
pub fn parameter_value(service: Service, name: &str, value: &str) -> Result<String, Refusal> {
    let Some(spec) = parameter(service, name) else {
        let hint = match parameter_suggestion(service, name) {
            Some(near) => format!("did you mean {near}?"),
            None => format!(
                "see the {} parameters in docs/service-rules.md (sources server-parameters and flex-parameters)",
                service.as_str()
            ),
        };
        return Err(Refusal::new(
            Rule::UnknownParameter,
            Key::Parameters,
            format!("{name} is not a server parameter of {}", service_name(service)),
            hint,
        ));
    };
    if spec.name == ReplicationSupport::PARAMETER {
        return Err(Refusal::new(
            Rule::ParameterNotSettable,
            Key::Parameters,
            format!("{} is set by pgfleet itself (on primaries that have replicas)", spec.name),
            "remove it: pgfleet turns replication support on before it creates a replica",
        ));
    }
    if spec.read_only {
        let why = match (service, spec.name) {
            (Service::Single, "max_connections") => "Single Server fixes it by the SKU",
            (Service::Single, _) => "Single Server does not let users set it",
            (Service::Flexible, _) => "the service keeps it read-only",
        };
        return Err(Refusal::new(
            Rule::ParameterNotSettable,
            Key::Parameters,
            format!("{} cannot be set: {why}", spec.name),
            match (service, spec.name) {
                (Service::Single, "max_connections") => "choose a larger SKU (vcores) for more connections",
                _ => "remove it from the file",
            },
        ));
    }
    match value_problem(spec, value) {
        Some(problem) => Err(Refusal::new(
            Rule::InvalidParameterValue,
            Key::Parameters,
            format!("{} = {value:?} is not valid: {problem}", spec.name),
            format!(
                "allowed: {}",
                if spec.allowed.is_empty() { "see the service's documentation" } else { spec.allowed }
            ),
        )),
        None => Ok(normalized_value(spec, value).unwrap_or_else(|| value.to_string())),
    }
}

/// The catalog's spelling of a parameter name (`DateStyle` for `datestyle`), if it has it.
pub fn parameter_name(service: Service, name: &str) -> Option<&'static str> {
    parameter(service, name).map(|spec| spec.name)
}

/// Whether setting `name` takes effect only after a restart.
pub fn parameter_restarts(service: Service, name: &str) -> bool {
    parameter(service, name).is_some_and(|spec| spec.is_static)
}

fn service_name(service: Service) -> &'static str {
    match service {
        Service::Single => "Single Server",
        Service::Flexible => "Flexible Server",
    }
}

/// A firewall rule as the fleet file writes it, `"START-END"` or one address, read into its
/// range.
///
/// # Errors
/// The refusal: not IPv4, or a start above the end.
pub fn firewall_range(name: &str, text: &str) -> Result<(Ipv4Addr, Ipv4Addr), Refusal> {
    let refuse = |message: String| {
        Refusal::new(
            Rule::InvalidFirewallRule,
            Key::FirewallRules,
            message,
            "write one IPv4 address (\"198.51.100.7\") or a range \"START-END\" (\"203.0.113.0-203.0.113.255\")",
        )
    };
    let (start, end) = text.split_once('-').unwrap_or((text, text));
    let parse = |part: &str| {
        part.trim()
            .parse::<Ipv4Addr>()
            .map_err(|_| refuse(format!("firewall rule {name}: {:?} is not an IPv4 address", part.trim())))
    };
    let (start, end) = (parse(start)?, parse(end)?);
    if start > end {
        return Err(refuse(format!(
            "firewall rule {name}: the range starts at {start}, above its end {end}"
        )));
    }
    Ok((start, end))
}

/// What is wrong with a firewall rule name, if anything.
pub fn firewall_rule_name_problem(name: &str) -> Option<Refusal> {
    let valid = !name.is_empty()
        && name.len() <= FIREWALL_RULE_NAME_MAX
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (!valid).then(|| {
        Refusal::new(
            Rule::InvalidFirewallRule,
            Key::FirewallRules,
            format!("{name:?} is not a firewall rule name the service takes"),
            "use 1–128 letters, digits, '-', '_' and '.'",
        )
    })
}

/// What is wrong with a database name, if anything (system databases included).
pub fn database_name_problem(name: &str) -> Option<Refusal> {
    if is_system_database(name) {
        return Some(Refusal::new(
            Rule::InvalidDatabaseName,
            Key::Databases,
            format!("{name} is a system database: every server has it, and it cannot be declared or dropped"),
            "remove it from the file",
        ));
    }
    let mut chars = name.chars();
    let valid = name.len() <= DATABASE_NAME_MAX
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    (!valid).then(|| {
        Refusal::new(
            Rule::InvalidDatabaseName,
            Key::Databases,
            format!("{name:?} is not a database name the service takes"),
            "use 1–63 letters, digits, '_' and '-', starting with a letter or '_'",
        )
    })
}

/// A database declared on a replica.
pub fn database_on_replica(server: &str, database: &str, primary: &str) -> Refusal {
    Refusal::new(
        Rule::DatabaseOnReplica,
        Key::Databases,
        format!(
            "{server} is a read replica of {primary}: database {database} cannot be declared on it (a replica is read-only)"
        ),
        format!("declare it on {primary}: its replicas have every database of their primary"),
    )
}

/// The value in force of a parameter a replica must keep at least as high as its primary's:
/// the configured one, else the default for the server's SKU.
fn in_force(service: Service, name: &str, configured: &BTreeMap<String, String>, sku: &str) -> Option<f64> {
    configured
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.clone())
        .or_else(|| default_value(service, name, Some(sku)))
        .and_then(|value| value.parse::<f64>().ok())
}

/// The parameters whose value on a replica (`replica`, of SKU `replica_sku`) would be below its
/// primary's: `(name, replica's, primary's)`; only those set on either (at their defaults, they
/// follow the compute, which the size rules judge). On Single Server `max_connections` follows the SKU
/// and is judged with the compute (`ReplicaSmallerThanPrimary`).
pub fn replica_parameters_below(
    service: Service,
    primary: (&BTreeMap<String, String>, &str),
    replica: (&BTreeMap<String, String>, &str),
) -> Vec<(&'static str, f64, f64)> {
    REPLICA_FLOOR_PARAMETERS
        .iter()
        .filter(|name| parameter(service, name).is_some_and(|spec| !spec.read_only))
        // Left at their defaults on both, they follow the compute, which the size rules judge.
        .filter(|name| {
            let set = |map: &BTreeMap<String, String>| map.keys().any(|key| key.eq_ignore_ascii_case(name));
            set(primary.0) || set(replica.0)
        })
        .filter_map(|name| {
            let theirs = in_force(service, name, primary.0, primary.1)?;
            let ours = in_force(service, name, replica.0, replica.1)?;
            (ours < theirs).then_some((*name, ours, theirs))
        })
        .collect()
}

/// The refusal of a replica whose floor parameters fall below its primary's.
pub fn replica_parameter_refusal(
    replica: &str,
    primary: &str,
    below: &[(&str, f64, f64)],
) -> Option<Refusal> {
    let (name, ours, theirs) = below.first()?;
    Some(Refusal::new(
        Rule::ReplicaParameterBelowPrimary,
        Key::Parameters,
        format!(
            "{replica}'s {name} ({ours}) would be below its primary {primary}'s ({theirs}): a standby cannot start with less"
        ),
        format!("set {name} to {theirs} or more on {replica} (pgfleet raises replicas before their primary)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_judged_against_the_catalog() {
        assert_eq!(parameter_value(Service::Flexible, "work_mem", "16MB").unwrap(), "16384");
        let unknown = parameter_value(Service::Flexible, "work_memm", "1").unwrap_err();
        assert_eq!((unknown.rule, unknown.hint.as_str()), (Rule::UnknownParameter, "did you mean work_mem?"));
        let fixed = parameter_value(Service::Single, "max_connections", "500").unwrap_err();
        assert_eq!(fixed.rule, Rule::ParameterNotSettable);
        assert!(fixed.message.contains("fixes it by the SKU"), "{}", fixed.message);
        assert_eq!(parameter_value(Service::Flexible, "max_connections", "800").unwrap(), "800");
        let bad = parameter_value(Service::Flexible, "work_mem", "lots").unwrap_err();
        assert_eq!(bad.rule, Rule::InvalidParameterValue);
        let ours = parameter_value(Service::Single, "azure.replication_support", "REPLICA").unwrap_err();
        assert_eq!(ours.rule, Rule::ParameterNotSettable);
        assert!(parameter_restarts(Service::Flexible, "max_connections"));
        assert!(!parameter_restarts(Service::Flexible, "work_mem"));
    }

    #[test]
    fn firewall_rules_are_ipv4_ranges_with_names_the_service_takes() {
        let one: Ipv4Addr = "198.51.100.7".parse().unwrap();
        assert_eq!(firewall_range("ci", "198.51.100.7").unwrap(), (one, one));
        let (start, end) = firewall_range("office", "203.0.113.0-203.0.113.255").unwrap();
        assert_eq!((start.to_string(), end.to_string()), ("203.0.113.0".into(), "203.0.113.255".into()));
        assert_eq!(firewall_range("x", "10.0.0.9-10.0.0.1").unwrap_err().rule, Rule::InvalidFirewallRule);
        assert_eq!(firewall_range("x", "::1").unwrap_err().rule, Rule::InvalidFirewallRule);
        assert!(firewall_rule_name_problem("office-1.v2_x").is_none());
        assert!(firewall_rule_name_problem("no spaces").is_some());
        assert!(firewall_rule_name_problem("").is_some());
    }

    #[test]
    fn database_names_exclude_system_databases() {
        assert!(database_name_problem("app").is_none());
        assert!(database_name_problem("_app-2").is_none());
        assert_eq!(database_name_problem("postgres").unwrap().rule, Rule::InvalidDatabaseName);
        assert_eq!(database_name_problem("Azure_Sys").unwrap().rule, Rule::InvalidDatabaseName);
        assert!(database_name_problem("9lives").is_some());
        assert!(database_name_problem(&"a".repeat(64)).is_some());
    }

    #[test]
    fn a_replica_keeps_its_floor_parameters_at_least_as_high() {
        let primary = BTreeMap::from([("max_connections".to_string(), "800".to_string())]);
        let none = BTreeMap::new();
        // Defaults on both follow the SKU: the size rules judge them, not this one.
        assert!(
            replica_parameters_below(
                Service::Flexible,
                (&none, "Standard_D4ds_v5"),
                (&none, "Standard_D2ds_v5")
            )
            .is_empty()
        );
        // The replica's default on a D2ds_v5 (859) is above 800: fine.
        assert!(
            replica_parameters_below(
                Service::Flexible,
                (&primary, "Standard_D2ds_v5"),
                (&none, "Standard_D2ds_v5")
            )
            .is_empty()
        );
        let low = BTreeMap::from([("max_connections".to_string(), "400".to_string())]);
        let below = replica_parameters_below(
            Service::Flexible,
            (&primary, "Standard_D2ds_v5"),
            (&low, "Standard_D2ds_v5"),
        );
        assert_eq!(below, [("max_connections", 400.0, 800.0)]);
        let refusal = replica_parameter_refusal("ro", "main", &below).unwrap();
        assert_eq!(refusal.rule, Rule::ReplicaParameterBelowPrimary);
    }
}
