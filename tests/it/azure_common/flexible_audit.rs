//! An audit of the flexibleServers writes the emulator accepted, written apart from the
//! emulator and from `pgfleet::rules` on purpose: it replays them in order on a model of its own
//! and reports each one that breaks a documented rule of Flexible Server: a replica with fewer
//! vCores or less storage than its primary, replicas of or on Burstable, a sixth replica, a
//! replica of a replica, HA on Burstable or on a replica, HA switched between SameZone and
//! ZoneRedundant in one request, a storage decrease, a failover of a server without HA, a
//! major version upgrade of a server with replicas, a version downgrade.

use pgfleet::emulator::LoggedRequest;
use serde_json::Value;
use std::collections::BTreeMap;

use super::audit::Violation;

/// A flexible server as the replay knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlexServer {
    pub burstable: bool,
    pub vcores: u32,
    pub storage_gb: u64,
    pub ha: String,
    pub version: u32,
    pub master: Option<String>,
}

/// `Standard_D4ds_v5` → (burstable?, 4).
fn parse_sku(name: &str) -> Option<(bool, u32)> {
    let size = name.strip_prefix("Standard_")?;
    let series = size.chars().next()?;
    let digits: String = size[1..].chars().take_while(char::is_ascii_digit).collect();
    Some((series == 'B', digits.parse().ok()?))
}

fn target(path: &str) -> Option<(String, String)> {
    let (_, rest) = path.split_once("/providers/Microsoft.DBforPostgreSQL/flexibleServers/")?;
    let (server, tail) = rest.split_once('/').unwrap_or((rest, ""));
    Some((server.to_ascii_lowercase(), tail.to_ascii_lowercase()))
}

fn text<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer).and_then(Value::as_str)
}

/// The replay's servers, by lowercase name.
#[derive(Debug, Default)]
pub struct FlexibleAudit {
    pub servers: BTreeMap<String, FlexServer>,
}

impl FlexibleAudit {
    /// Replays the accepted flexibleServers writes of `log` and returns every rule they break.
    pub fn replay(&mut self, log: &[LoggedRequest]) -> Vec<Violation> {
        let mut violations = Vec::new();
        for (index, request) in log.iter().enumerate() {
            if !request.accepted || request.method == "GET" {
                continue;
            }
            let Some((server, tail)) = target(&request.path) else { continue };
            let body = request.body.clone().unwrap_or(Value::Null);
            let broken = match (request.method.as_str(), tail.as_str()) {
                ("PUT", "") if !self.servers.contains_key(&server) => self.create(&server, &body),
                ("PUT", "") | ("PATCH", "") => self.update(&server, &body),
                ("DELETE", "") => {
                    self.servers.remove(&server);
                    for replica in self.servers.values_mut() {
                        if replica.master.as_deref() == Some(server.as_str()) {
                            replica.master = None;
                        }
                    }
                    Vec::new()
                }
                ("POST", "restart") if body.pointer("/restartWithFailover") == Some(&Value::Bool(true)) => {
                    match self.servers.get(&server) {
                        Some(found) if found.ha == "Disabled" => {
                            vec![format!("failover of {server} without HA")]
                        }
                        _ => Vec::new(),
                    }
                }
                _ => Vec::new(),
            };
            violations.extend(broken.into_iter().map(|rule| Violation {
                index,
                request: format!("{} {}", request.method, request.path),
                rule,
            }));
        }
        violations
    }

    fn replicas_of(&self, server: &str) -> Vec<(&String, &FlexServer)> {
        self.servers.iter().filter(|(_, s)| s.master.as_deref() == Some(server)).collect()
    }

    fn create(&mut self, name: &str, body: &Value) -> Vec<String> {
        let mut broken = Vec::new();
        let replica_of = text(body, "/properties/createMode")
            .filter(|mode| mode.eq_ignore_ascii_case("Replica"))
            .and_then(|_| text(body, "/properties/sourceServerResourceId"))
            .map(|id| id.rsplit('/').next().unwrap_or_default().to_ascii_lowercase());
        let source = replica_of.as_ref().and_then(|s| self.servers.get(s).cloned());
        let (burstable, vcores) = text(body, "/sku/name")
            .and_then(parse_sku)
            .or_else(|| source.as_ref().map(|s| (s.burstable, s.vcores)))
            .unwrap_or((false, 0));
        let storage_gb = body
            .pointer("/properties/storage/storageSizeGB")
            .and_then(Value::as_u64)
            .or_else(|| source.as_ref().map(|s| s.storage_gb))
            .unwrap_or(128);
        let ha = text(body, "/properties/highAvailability/mode").unwrap_or("Disabled").to_string();
        let version = text(body, "/properties/version")
            .and_then(|v| v.parse().ok())
            .or_else(|| source.as_ref().map(|s| s.version))
            .unwrap_or(17);
        if burstable && ha != "Disabled" {
            broken.push(format!("HA on Burstable {name}"));
        }
        if let (Some(source_name), Some(source)) = (&replica_of, &source) {
            if source.master.is_some() {
                broken.push(format!("replica of {source_name}, itself a replica"));
            }
            if source.burstable || burstable {
                broken.push(format!("replica {name} of or on Burstable"));
            }
            if self.replicas_of(source_name).len() >= 5 {
                broken.push(format!("a sixth replica of {source_name}"));
            }
            if vcores < source.vcores || storage_gb < source.storage_gb {
                broken.push(format!("replica {name} smaller than its primary {source_name}"));
            }
            if ha != "Disabled" {
                broken.push(format!("HA on replica {name}"));
            }
        } else if let Some(source_name) = &replica_of {
            broken.push(format!("replica of {source_name}, which does not exist"));
        }
        self.servers.insert(
            name.to_string(),
            FlexServer { burstable, vcores, storage_gb, ha, version, master: replica_of },
        );
        broken
    }

    fn update(&mut self, name: &str, body: &Value) -> Vec<String> {
        let Some(current) = self.servers.get(name).cloned() else {
            return vec![format!("update of {name}, which does not exist")];
        };
        let mut broken = Vec::new();
        let promote = body.pointer("/properties/replica/promoteMode").is_some()
            || text(body, "/properties/replicationRole").is_some_and(|r| r.eq_ignore_ascii_case("None"));
        let mut next = current.clone();
        if promote {
            if current.master.is_none() {
                broken.push(format!("promote of {name}, not a replica"));
            }
            next.master = None;
        }
        if let Some((burstable, vcores)) = text(body, "/sku/name").and_then(parse_sku) {
            next.burstable = burstable;
            next.vcores = vcores;
        }
        if let Some(size) = body.pointer("/properties/storage/storageSizeGB").and_then(Value::as_u64) {
            if size < current.storage_gb {
                broken.push(format!("storage of {name} shrunk from {} to {size} GB", current.storage_gb));
            }
            next.storage_gb = size.max(current.storage_gb);
        }
        if let Some(mode) = text(body, "/properties/highAvailability/mode") {
            if current.ha != "Disabled" && mode != "Disabled" && mode != current.ha {
                broken.push(format!("HA of {name} switched from {} to {mode} in one request", current.ha));
            }
            next.ha = mode.to_string();
        }
        if let Some(version) = text(body, "/properties/version").and_then(|v| v.parse::<u32>().ok()) {
            if version < current.version {
                broken.push(format!("{name} downgraded to {version}"));
            }
            if version > current.version && !self.replicas_of(name).is_empty() {
                broken.push(format!("{name} upgraded to {version} with replicas"));
            }
            next.version = version;
        }
        if next.burstable && next.ha != "Disabled" {
            broken.push(format!("HA on Burstable {name}"));
        }
        if next.master.is_some() && next.ha != "Disabled" {
            broken.push(format!("HA on replica {name}"));
        }
        if let Some(primary) = next.master.as_ref().and_then(|m| self.servers.get(m)) {
            if next.vcores < primary.vcores || next.storage_gb < primary.storage_gb {
                broken.push(format!("replica {name} made smaller than its primary"));
            }
        }
        for (replica_name, replica) in self.replicas_of(name) {
            if replica.vcores < next.vcores || replica.storage_gb < next.storage_gb {
                broken.push(format!("{name} made larger than its replica {replica_name}"));
            }
        }
        self.servers.insert(name.to_string(), next);
        broken
    }
}

/// The audit finds what it is written to find.
pub fn self_test() {
    let log = |method: &str, path: &str, body: Value| LoggedRequest {
        method: method.into(),
        path: format!(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.DBforPostgreSQL/flexibleServers/{path}"
        ),
        status: 202,
        accepted: true,
        code: None,
        fault: None,
        body: Some(body),
    };
    let requests = [
        log(
            "PUT",
            "p",
            serde_json::json!({"sku": {"name": "Standard_D4ds_v5"}, "properties": {"storage": {"storageSizeGB": 128}}}),
        ),
        log(
            "PUT",
            "r",
            serde_json::json!({"sku": {"name": "Standard_D2ds_v5"}, "properties": {"createMode": "Replica", "sourceServerResourceId": "/x/flexibleServers/p"}}),
        ),
        log(
            "PUT",
            "b",
            serde_json::json!({"sku": {"name": "Standard_B1ms"}, "properties": {"highAvailability": {"mode": "SameZone"}}}),
        ),
        log("POST", "p/restart", serde_json::json!({"restartWithFailover": true})),
        log("PATCH", "p", serde_json::json!({"properties": {"storage": {"storageSizeGB": 64}}})),
    ];
    let violations = FlexibleAudit::default().replay(&requests);
    let rules: Vec<(usize, &str)> = violations.iter().map(|v| (v.index, v.rule.as_str())).collect();
    assert_eq!(
        rules,
        [
            (1, "replica r smaller than its primary p"),
            (2, "HA on Burstable b"),
            (3, "failover of p without HA"),
            (4, "storage of p shrunk from 128 to 64 GB"),
            // The replica created too small is still smaller after the primary's next write.
            (4, "p made larger than its replica r"),
        ],
        "{violations:#?}"
    );
}
