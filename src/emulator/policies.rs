//! The Single Server children that clients read and set beside the core (2017-12-01):
//! virtual network rules (`…/virtualNetworkRules[/{name}]`: list, get, put, delete), the
//! security alert policy (`…/securityAlertPolicies[/Default]`: list, get, put) and the log files
//! (`…/logFiles`). What a tier offers is `rules::tier_supports` (neither VNet rules nor threat
//! detection on Basic, DOMAIN.md §1.4); a server whose public network access is disabled takes
//! no network rules (§1.6).
//!
//! Must not: keep a secret (a policy's storage access key is accepted, never stored or shown).

use super::children::key_of;
use super::extras::not_on_tier;
use super::store::{ApiError, EmServer, sku_of};
use super::{Shared, routes};
use crate::rules::{self, TierFeature};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::time::Instant;

/// One virtual network rule (its name is the map's key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VirtualNetworkRule {
    pub subnet_id: String,
    pub ignore_missing_endpoint: bool,
}

/// The server's security alert (threat detection) policy, without the storage access key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct SecurityAlertPolicy {
    pub state: String,
    pub disabled_alerts: Vec<String>,
    pub email_addresses: Vec<String>,
    pub email_account_admins: bool,
    pub storage_endpoint: Option<String>,
    pub retention_days: i64,
}

type AppState = State<Arc<Shared>>;
type ServerPath = Path<(String, String, String)>;
type ChildPath = Path<(String, String, String, String)>;

fn tier_allows(server: &EmServer, feature: TierFeature, what: &str) -> Result<(), ApiError> {
    let tier = sku_of(&server.sku)?.tier;
    if rules::tier_supports(tier, feature) { Ok(()) } else { Err(not_on_tier(what, tier)) }
}

fn rule_json(server: &EmServer, name: &str, rule: &VirtualNetworkRule) -> Value {
    json!({
        "id": format!("{}/virtualNetworkRules/{name}", server.id()),
        "name": name,
        "type": "Microsoft.DBforPostgreSQL/servers/virtualNetworkRules",
        "properties": {
            "virtualNetworkSubnetId": rule.subnet_id,
            "ignoreMissingVnetServiceEndpoint": rule.ignore_missing_endpoint,
            "state": "Ready",
        },
    })
}

fn rule_not_found(name: &str) -> ApiError {
    ApiError::new(404, "ResourceNotFound", format!("The virtual network rule '{name}' was not found."))
}

/// A subnet's ARM id: `/subscriptions/…/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}`.
fn is_subnet_id(id: &str) -> bool {
    let segments: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    segments.len() == 10
        && segments[0].eq_ignore_ascii_case("subscriptions")
        && segments[5].eq_ignore_ascii_case("Microsoft.Network")
        && segments[6].eq_ignore_ascii_case("virtualNetworks")
        && segments[8].eq_ignore_ascii_case("subnets")
}

async fn list_rules(
    State(shared): AppState,
    Path((_, rg, server)): ServerPath,
) -> Result<Response, ApiError> {
    let store = shared.store();
    let found = store.find(&rg, &server, Instant::now())?;
    let value: Vec<Value> = found
        .children
        .virtual_network_rules
        .iter()
        .map(|(name, rule)| rule_json(found, name, rule))
        .collect();
    Ok(Json(json!({ "value": value })).into_response())
}

async fn get_rule(
    State(shared): AppState,
    Path((_, rg, server, name)): ChildPath,
) -> Result<Response, ApiError> {
    let store = shared.store();
    let found = store.find(&rg, &server, Instant::now())?;
    let rules = &found.children.virtual_network_rules;
    let key = key_of(rules, &name).ok_or_else(|| rule_not_found(&name))?;
    Ok(Json(rule_json(found, &key, &rules[&key])).into_response())
}

/// `PUT`: 201 new, 200 replaced (the spec's long-running operation, answered at once).
async fn put_rule(
    State(shared): AppState,
    Path((_, rg, server, name)): ChildPath,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(routes::bad_body)?;
    let subnet_id =
        body.pointer("/properties/virtualNetworkSubnetId").and_then(Value::as_str).unwrap_or_default();
    if !is_subnet_id(subnet_id) {
        return Err(ApiError::new(
            400,
            "InvalidParameterValue",
            format!(
                "virtualNetworkSubnetId '{subnet_id}' is not the resource id of a virtual network subnet."
            ),
        ));
    }
    let rule = VirtualNetworkRule {
        subnet_id: subnet_id.to_string(),
        ignore_missing_endpoint: body
            .pointer("/properties/ignoreMissingVnetServiceEndpoint")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let (status, answer) = {
        let mut store = shared.store();
        let found = store.find_mut(&rg, &server, Instant::now())?;
        tier_allows(found, TierFeature::VnetRules, "Virtual network rules")?;
        found.extras.check_network_rules("Virtual network rules")?;
        let existing = key_of(&found.children.virtual_network_rules, &name);
        let key = existing.clone().unwrap_or(name);
        found.children.virtual_network_rules.insert(key.clone(), rule.clone());
        let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
        (status, rule_json(found, &key, &rule))
    };
    shared.persist();
    Ok((status, Json(answer)).into_response())
}

/// `DELETE`: 200 when it existed, 204 when not.
async fn delete_rule(
    State(shared): AppState,
    Path((_, rg, server, name)): ChildPath,
) -> Result<Response, ApiError> {
    let existed = {
        let mut store = shared.store();
        let rules = &mut store.find_mut(&rg, &server, Instant::now())?.children.virtual_network_rules;
        key_of(rules, &name).and_then(|key| rules.remove(&key)).is_some()
    };
    shared.persist();
    Ok(if existed { StatusCode::OK } else { StatusCode::NO_CONTENT }.into_response())
}

fn policy_json(server: &EmServer) -> Value {
    let policy = server.children.security_alert_policy.clone().unwrap_or_else(|| SecurityAlertPolicy {
        state: "Disabled".into(),
        ..SecurityAlertPolicy::default()
    });
    let mut properties = json!({
        "state": policy.state,
        "disabledAlerts": policy.disabled_alerts,
        "emailAddresses": policy.email_addresses,
        "emailAccountAdmins": policy.email_account_admins,
        "retentionDays": policy.retention_days,
    });
    if let Some(endpoint) = policy.storage_endpoint {
        properties["storageEndpoint"] = json!(endpoint);
    }
    json!({
        "id": format!("{}/securityAlertPolicies/Default", server.id()),
        "name": "Default",
        "type": "Microsoft.DBforPostgreSQL/servers/securityAlertPolicies",
        "properties": properties,
    })
}

/// The one policy a server has is `Default` (any case).
fn check_policy_name(name: &str) -> Result<(), ApiError> {
    if name.eq_ignore_ascii_case("Default") {
        Ok(())
    } else {
        Err(ApiError::new(
            404,
            "ResourceNotFound",
            format!("The security alert policy '{name}' was not found."),
        ))
    }
}

async fn list_policies(
    State(shared): AppState,
    Path((_, rg, server)): ServerPath,
) -> Result<Response, ApiError> {
    let store = shared.store();
    let found = store.find(&rg, &server, Instant::now())?;
    Ok(Json(json!({ "value": [policy_json(found)] })).into_response())
}

async fn get_policy(
    State(shared): AppState,
    Path((_, rg, server, name)): ChildPath,
) -> Result<Response, ApiError> {
    check_policy_name(&name)?;
    let store = shared.store();
    Ok(Json(policy_json(store.find(&rg, &server, Instant::now())?)).into_response())
}

/// `PUT …/securityAlertPolicies/Default`: 200 with the policy (the spec's long-running
/// operation, answered at once).
async fn put_policy(
    State(shared): AppState,
    Path((_, rg, server, name)): ChildPath,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    check_policy_name(&name)?;
    let Json(body) = body.map_err(routes::bad_body)?;
    let properties = body.get("properties").cloned().unwrap_or(Value::Null);
    let state = properties.get("state").and_then(Value::as_str).unwrap_or_default();
    let state =
        ["Enabled", "Disabled"].into_iter().find(|s| s.eq_ignore_ascii_case(state)).ok_or_else(|| {
            ApiError::new(
                400,
                "InvalidServerSecurityAlertPolicyCreateRequest",
                "The security alert policy needs a state, 'Enabled' or 'Disabled'.",
            )
        })?;
    let strings = |field: &str| -> Vec<String> {
        properties
            .get(field)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let policy = SecurityAlertPolicy {
        state: state.to_string(),
        disabled_alerts: strings("disabledAlerts"),
        email_addresses: strings("emailAddresses"),
        email_account_admins: properties.get("emailAccountAdmins").and_then(Value::as_bool).unwrap_or(false),
        storage_endpoint: properties.get("storageEndpoint").and_then(Value::as_str).map(str::to_string),
        retention_days: properties.get("retentionDays").and_then(Value::as_i64).unwrap_or(0),
    };
    let answer = {
        let mut store = shared.store();
        let found = store.find_mut(&rg, &server, Instant::now())?;
        tier_allows(found, TierFeature::ThreatDetection, "Threat detection")?;
        found.children.security_alert_policy = Some(policy);
        policy_json(found)
    };
    shared.persist();
    Ok(Json(answer).into_response())
}

/// `GET …/logFiles`: the server's current log file, named by its creation hour as the
/// service names them (`postgresql-YYYY-MM-DD_HH0000.log`).
async fn list_log_files(
    State(shared): AppState,
    Path((_, rg, server)): ServerPath,
) -> Result<Response, ApiError> {
    let store = shared.store();
    let found = store.find(&rg, &server, Instant::now())?;
    let created = found.extras.created.clone().unwrap_or_default();
    let hour = created.get(..13).unwrap_or("1970-01-01T00").replace('T', "_");
    let name = format!("postgresql-{hour}0000.log");
    let file = json!({
        "id": format!("{}/logFiles/{name}", found.id()),
        "name": name,
        "type": "Microsoft.DBforPostgreSQL/servers/logFiles",
        "properties": {"sizeInKB": 1, "createdTime": created, "lastModifiedTime": created, "type": "text"},
    });
    Ok(Json(json!({ "value": [file] })).into_response())
}

/// The routes of these children under `server` (`…/servers/{server}`).
pub(crate) fn routes(server: &str) -> axum::Router<Arc<Shared>> {
    use axum::routing::get;
    axum::Router::new()
        .route(&format!("{server}/virtualNetworkRules"), get(list_rules))
        .route(
            &format!("{server}/virtualNetworkRules/{{name}}"),
            get(get_rule).put(put_rule).delete(delete_rule),
        )
        .route(&format!("{server}/securityAlertPolicies"), get(list_policies))
        .route(&format!("{server}/securityAlertPolicies/{{name}}"), get(get_policy).put(put_policy))
        .route(&format!("{server}/logFiles"), get(list_log_files))
}
