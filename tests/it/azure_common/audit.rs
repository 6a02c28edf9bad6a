//! An audit of the emulator's request log, written apart from the emulator and from
//! `pgfleet::rules` on purpose: it replays every write the emulator accepted, in order, on a
//! model of its own, and reports each one that breaks a rule of the service (DOMAIN.md §2–§3):
//! a replica smaller than its primary (vCores or storage), an in-place tier change to or from
//! Basic, a storage decrease, a replica of a server without replication support in force, a
//! sixth replica, a replica of a replica (or of a Basic server).

use pgfleet::emulator::LoggedRequest;
use pgfleet::model::LiveFleet;
use serde_json::Value;
use std::collections::BTreeMap;

/// One accepted request that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Its position in the log.
    pub index: usize,
    pub request: String,
    pub rule: String,
}

/// A server as the audit's replay knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditedServer {
    /// `B`, `GP` or `MO`: the SKU name's prefix.
    pub tier: String,
    pub vcores: u32,
    pub storage_mb: u64,
    pub master: Option<String>,
    /// `azure.replication_support` as written, and as in force (after a restart).
    pub configured_replication: String,
    pub effective_replication: String,
}

/// The replay's servers, by lowercase name.
#[derive(Debug, Default)]
pub struct Audit {
    pub servers: BTreeMap<String, AuditedServer>,
}

/// `GP_Gen5_4` → (`GP`, 4).
fn parse_sku(name: &str) -> Option<(String, u32)> {
    let parts: Vec<&str> = name.split('_').collect();
    match parts.as_slice() {
        [tier, _family, vcores] => Some((tier.to_string(), vcores.parse().ok()?)),
        _ => None,
    }
}

/// What a request path addresses: the server, and what follows it (`""`, `restart`,
/// `configurations/NAME`, …).
fn target(path: &str) -> Option<(String, String)> {
    let (_, rest) = path.split_once("/providers/Microsoft.DBforPostgreSQL/servers/")?;
    let (server, tail) = rest.split_once('/').unwrap_or((rest, ""));
    Some((server.to_ascii_lowercase(), tail.to_string()))
}

fn text<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer).and_then(Value::as_str)
}

impl Audit {
    /// Replays the accepted writes of `log` and returns every rule they break.
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
                    self.delete(&server);
                    Vec::new()
                }
                ("POST", "restart") => {
                    if let Some(found) = self.servers.get_mut(&server) {
                        found.effective_replication = found.configured_replication.clone();
                    }
                    Vec::new()
                }
                ("PUT", "configurations/azure.replication_support") => {
                    let value = text(&body, "/properties/value").unwrap_or("OFF").to_ascii_uppercase();
                    if let Some(found) = self.servers.get_mut(&server) {
                        found.configured_replication = value;
                    }
                    Vec::new()
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

    fn replicas_of(&self, server: &str) -> Vec<&AuditedServer> {
        self.servers.values().filter(|s| s.master.as_deref() == Some(server)).collect()
    }

    fn create(&mut self, name: &str, body: &Value) -> Vec<String> {
        let mut broken = Vec::new();
        let sku = text(body, "/sku/name").and_then(parse_sku);
        let mode = text(body, "/properties/createMode").unwrap_or("Default");
        let server = if mode.eq_ignore_ascii_case("Replica") {
            let source_id = text(body, "/properties/sourceServerId").unwrap_or_default();
            let source_name = source_id.rsplit('/').next().unwrap_or_default().to_ascii_lowercase();
            let Some(source) = self.servers.get(&source_name).cloned() else {
                return vec![format!("replica of {source_name}, which does not exist")];
            };
            if source.master.is_some() {
                broken.push(format!("replica of {source_name}, itself a replica"));
            }
            if source.tier == "B" {
                broken.push(format!("replica of the Basic server {source_name}"));
            }
            if !matches!(source.effective_replication.as_str(), "REPLICA" | "LOGICAL") {
                broken.push(format!(
                    "replica of {source_name}, whose replication support in force is {}",
                    source.effective_replication
                ));
            }
            let siblings = self.replicas_of(&source_name).len();
            if siblings >= 5 {
                broken.push(format!("replica number {} of {source_name}", siblings + 1));
            }
            let (tier, vcores) = sku.unwrap_or((source.tier.clone(), source.vcores));
            if (tier == "B") != (source.tier == "B") {
                broken.push(format!("replica in tier {tier} of a {} primary", source.tier));
            }
            if vcores < source.vcores {
                broken.push(format!("replica with {vcores} vCores of a primary with {}", source.vcores));
            }
            // A replica create may name its storage; without one it takes its source's.
            let storage_mb = body
                .pointer("/properties/storageProfile/storageMB")
                .and_then(Value::as_u64)
                .unwrap_or(source.storage_mb);
            if storage_mb < source.storage_mb {
                broken.push(format!("replica with {storage_mb} MB of a primary with {}", source.storage_mb));
            }
            AuditedServer {
                tier,
                vcores,
                storage_mb,
                master: Some(source_name),
                configured_replication: "OFF".into(),
                effective_replication: "OFF".into(),
            }
        } else {
            let Some((tier, vcores)) = sku else {
                return vec!["a create without a sku".into()];
            };
            let initial = initial_replication(&tier);
            AuditedServer {
                tier,
                vcores,
                storage_mb: body
                    .pointer("/properties/storageProfile/storageMB")
                    .and_then(Value::as_u64)
                    .unwrap_or(5120),
                master: None,
                // The service's default on GP/MO servers; Basic has no replicas (read from the
                // docs, not from pgfleet's rules).
                configured_replication: initial.into(),
                effective_replication: initial.into(),
            }
        };
        self.servers.insert(name.to_string(), server);
        broken
    }

    fn update(&mut self, name: &str, body: &Value) -> Vec<String> {
        let Some(current) = self.servers.get(name).cloned() else {
            return vec![format!("an update of {name}, which does not exist")];
        };
        let mut next = current.clone();
        let mut broken = Vec::new();
        if text(body, "/properties/replicationRole").is_some_and(|r| r.eq_ignore_ascii_case("None")) {
            if current.master.is_none() {
                broken.push(format!("promote of {name}, which is not a replica"));
            }
            next.master = None;
            self.servers.insert(name.to_string(), next);
            return broken;
        }
        if let Some((tier, vcores)) = text(body, "/sku/name").and_then(parse_sku) {
            if (tier == "B") != (current.tier == "B") {
                broken.push(format!("in-place tier change {} → {tier}", current.tier));
            }
            next.tier = tier;
            next.vcores = vcores;
        }
        if let Some(mb) = body.pointer("/properties/storageProfile/storageMB").and_then(Value::as_u64) {
            if mb < current.storage_mb {
                broken.push(format!("storage decrease {} → {mb} MB", current.storage_mb));
            }
            next.storage_mb = mb;
        }
        if let Some(master) = next.master.as_ref().and_then(|m| self.servers.get(m)) {
            if next.vcores < master.vcores || next.storage_mb < master.storage_mb {
                broken.push(format!(
                    "replica at {} vCores / {} MB below its primary's {} / {}",
                    next.vcores, next.storage_mb, master.vcores, master.storage_mb
                ));
            }
        }
        for replica in self.replicas_of(name) {
            if replica.vcores < next.vcores || replica.storage_mb < next.storage_mb {
                broken.push(format!(
                    "primary at {} vCores / {} MB above a replica's {} / {}",
                    next.vcores, next.storage_mb, replica.vcores, replica.storage_mb
                ));
            }
        }
        self.servers.insert(name.to_string(), next);
        broken
    }

    /// A deleted primary's replicas become standalone servers.
    fn delete(&mut self, name: &str) {
        self.servers.remove(name);
        for server in self.servers.values_mut().filter(|s| s.master.as_deref() == Some(name)) {
            server.master = None;
        }
    }

    /// Where the replay differs from what the provider reads from the emulator (vCores,
    /// storage, primary), by server: shows the replay followed what really happened.
    pub fn compare(&self, live: &LiveFleet) -> Vec<String> {
        let mut differences = Vec::new();
        for (name, observed) in live {
            let Some(audited) = self
                .servers
                .get(&observed.provider_id.rsplit('/').next().unwrap_or_default().to_ascii_lowercase())
            else {
                differences.push(format!("{name} is not in the replay"));
                continue;
            };
            let master = observed.spec.replica_of.as_ref().map(|m| m.as_str().to_ascii_lowercase());
            let seen = (observed.spec.vcores, u64::from(observed.spec.storage_gb) * 1024, master);
            let replayed = (audited.vcores, audited.storage_mb, audited.master.clone());
            if seen != replayed {
                differences.push(format!("{name}: emulator {seen:?}, replay {replayed:?}"));
            }
        }
        if live.len() != self.servers.len() {
            differences.push(format!("{} servers live, {} replayed", live.len(), self.servers.len()));
        }
        differences
    }
}

fn logged(method: &str, path: &str, body: Value) -> LoggedRequest {
    LoggedRequest {
        method: method.into(),
        path: format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/servers/{path}"
        ),
        status: 202,
        accepted: true,
        code: None,
        fault: None,
        body: Some(body),
    }
}

fn create(name: &str, sku: &str, mb: u64) -> LoggedRequest {
    logged(
        "PUT",
        name,
        serde_json::json!({"sku": {"name": sku}, "properties": {"createMode": "Default", "storageProfile": {"storageMB": mb}}}),
    )
}

fn replica(name: &str, of: &str, sku: &str) -> LoggedRequest {
    logged(
        "PUT",
        name,
        serde_json::json!({"sku": {"name": sku}, "properties": {"createMode": "Replica",
            "sourceServerId": format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/servers/{of}")}}),
    )
}

fn patch(name: &str, body: Value) -> LoggedRequest {
    logged("PATCH", name, body)
}

/// What a new primary of `tier` starts with: REPLICA, except on Basic.
fn initial_replication(tier: &str) -> &'static str {
    if tier.eq_ignore_ascii_case("basic") || tier == "B" { "OFF" } else { "REPLICA" }
}

fn disable_replication(name: &str) -> [LoggedRequest; 2] {
    [
        logged(
            "PUT",
            &format!("{name}/configurations/azure.replication_support"),
            serde_json::json!({"properties": {"value": "OFF"}}),
        ),
        logged("POST", &format!("{name}/restart"), Value::Null),
    ]
}

fn enable_replication(name: &str) -> [LoggedRequest; 2] {
    [
        logged(
            "PUT",
            &format!("{name}/configurations/azure.replication_support"),
            serde_json::json!({"properties": {"value": "REPLICA"}}),
        ),
        logged("POST", &format!("{name}/restart"), Value::Null),
    ]
}

/// Feeds the audit a log that breaks each rule once (and one that breaks none), so a silent
/// audit in the end-to-end test means something.
pub fn self_test() {
    let rules_broken = |log: Vec<LoggedRequest>| -> Vec<String> {
        Audit::default().replay(&log).into_iter().map(|v| v.rule).collect()
    };
    let mut fine = vec![create("p", "GP_Gen5_2", 102400)];
    fine.extend(enable_replication("p"));
    fine.extend([
        replica("r", "p", "GP_Gen5_2"),
        patch("r", serde_json::json!({"sku": {"name": "GP_Gen5_4"}})),
        patch("p", serde_json::json!({"sku": {"name": "GP_Gen5_4"}})),
    ]);
    assert_eq!(rules_broken(fine.clone()), Vec::<String>::new());

    let cases: Vec<(Vec<LoggedRequest>, &str)> = vec![
        (vec![patch("p", serde_json::json!({"sku": {"name": "GP_Gen5_8"}}))], "above a replica"),
        (vec![patch("r", serde_json::json!({"sku": {"name": "GP_Gen5_2"}}))], "below its primary"),
        (
            vec![patch("p", serde_json::json!({"properties": {"storageProfile": {"storageMB": 51200}}}))],
            "storage decrease",
        ),
        (
            vec![
                create("b", "B_Gen5_1", 51200),
                patch("b", serde_json::json!({"sku": {"name": "GP_Gen5_2"}})),
            ],
            "tier change",
        ),
        (
            [
                vec![create("q", "GP_Gen5_2", 102400)],
                disable_replication("q").to_vec(),
                vec![replica("q1", "q", "GP_Gen5_2")],
            ]
            .concat(),
            "replication support",
        ),
        (vec![replica("rr", "r", "GP_Gen5_4")], "itself a replica"),
        ((1..=5).map(|i| replica(&format!("x{i}"), "p", "GP_Gen5_4")).collect(), "replica number 6"),
    ];
    for (extra, expected) in cases {
        let mut log = fine.clone();
        log.extend(extra);
        let broken = rules_broken(log);
        assert!(broken.iter().any(|rule| rule.contains(expected)), "expected {expected:?} in {broken:?}");
    }
    // A refused or dropped request is not replayed.
    let mut refused = patch("p", serde_json::json!({"sku": {"name": "GP_Gen5_8"}}));
    refused.accepted = false;
    let mut log = fine;
    log.push(refused);
    assert_eq!(rules_broken(log), Vec::<String>::new());
}
