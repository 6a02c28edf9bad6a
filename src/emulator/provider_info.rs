//! What `Microsoft.DBforPostgreSQL` answers about itself rather than about one server
//! (2017-12-01; Flexible Server's 2025-08-01 for name availability): `checkNameAvailability`,
//! also by location (server names are global: any server of the emulator
//! holds its name), the performance tiers of a location or of a server (the SKU catalog of
//! `crate::rules`, its storage and retention limits), and the provider's operations list.
//!
//! Must not: keep a copy of the catalog; derive every tier from `rules`.

use super::Shared;
use super::store::ApiError;
use crate::rules::{self, SKU_CATALOG, Service, Tier};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

type AppState = State<Arc<Shared>>;

/// `POST /subscriptions/{s}/providers/Microsoft.DBforPostgreSQL/checkNameAvailability`
/// `{"name", "type"}`: whether a new server may take the name.
async fn check_name_availability(
    State(shared): AppState,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(super::routes::bad_body)?;
    let name = body.get("name").and_then(Value::as_str).ok_or_else(|| {
        ApiError::new(400, "InvalidRequestContent", "The request content must name the resource ('name').")
    })?;
    let answer = if let Some(problem) = rules::server_name_problem(name) {
        json!({"nameAvailable": false, "reason": "Invalid", "message": format!("The server name '{name}' {problem}.")})
    } else if shared.name_taken(name) {
        json!({"nameAvailable": false, "reason": "AlreadyExists", "message": "Specified server name is already used."})
    } else {
        json!({"nameAvailable": true, "reason": "", "message": ""})
    };
    Ok(Json(answer).into_response())
}

/// The performance tiers the catalog sells, each with its SKUs (`serviceLevelObjectives`).
fn performance_tiers() -> Value {
    let retention = rules::RETENTION_DAYS;
    let tiers: Vec<Value> = Service::Single
        .tiers()
        .iter()
        .map(|&tier: &Tier| {
            let limits = rules::storage_limits(tier);
            let (min_mb, max_mb) = (u64::from(limits.min_gb) * 1024, u64::from(limits.max_gb) * 1024);
            let objectives: Vec<Value> = SKU_CATALOG
                .iter()
                .filter(|sku| sku.tier == tier)
                .map(|sku| {
                    json!({
                        "id": sku.name,
                        "edition": tier.as_str(),
                        "vCore": sku.vcores,
                        "hardwareGeneration": sku.generation.as_str(),
                        "minStorageMB": min_mb,
                        "maxStorageMB": max_mb,
                        "minBackupRetentionDays": retention.start(),
                        "maxBackupRetentionDays": retention.end(),
                    })
                })
                .collect();
            json!({
                "id": tier.as_str(),
                "minStorageMB": min_mb,
                "maxStorageMB": max_mb,
                "minLargeStorageMB": min_mb,
                "maxLargeStorageMB": max_mb,
                "minBackupRetentionDays": retention.start(),
                "maxBackupRetentionDays": retention.end(),
                "serviceLevelObjectives": objectives,
            })
        })
        .collect();
    json!({ "value": tiers })
}

/// `GET …/locations/{location}/performanceTiers`: every location sells the whole catalog.
async fn location_performance_tiers() -> Response {
    Json(performance_tiers()).into_response()
}

/// `GET …/servers/{name}/performanceTiers`: the tiers a server can be scaled within.
async fn server_performance_tiers(
    State(shared): AppState,
    Path((_, rg, server)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    shared.store().find(&rg, &server, tokio::time::Instant::now())?;
    Ok(Json(performance_tiers()).into_response())
}

/// The provider's operations: (name, resource, operation, description).
const OPERATIONS: &[(&str, &str, &str, &str)] = &[
    (
        "servers/read",
        "PostgreSQL Server",
        "List/Get PostgreSQL Servers",
        "Return the list of servers or gets the properties for the specified server.",
    ),
    (
        "servers/write",
        "PostgreSQL Server",
        "Create/Update PostgreSQL Server",
        "Creates a server with the specified parameters or update the properties or tags for the specified server.",
    ),
    ("servers/delete", "PostgreSQL Server", "Delete PostgreSQL Server", "Deletes an existing server."),
    (
        "servers/restart/action",
        "PostgreSQL Server",
        "Restart PostgreSQL Server",
        "Restarts a specific server.",
    ),
    (
        "servers/replicas/read",
        "Replicas",
        "Get PostgreSQL Server Replicas",
        "Get read replicas of a PostgreSQL server.",
    ),
    (
        "servers/firewallRules/read",
        "Firewall Rules",
        "List/Get Firewall Rules",
        "Return the list of firewall rules for a server or gets the properties for the specified firewall rule.",
    ),
    (
        "servers/firewallRules/write",
        "Firewall Rules",
        "Create/Update Firewall Rule",
        "Creates a firewall rule with the specified parameters or update an existing rule.",
    ),
    (
        "servers/firewallRules/delete",
        "Firewall Rules",
        "Delete Firewall Rule",
        "Deletes an existing firewall rule.",
    ),
    (
        "servers/databases/read",
        "PostgreSQL Database",
        "List/Get PostgreSQL Databases",
        "Return the list of PostgreSQL Databases or gets the properties for the specified Database.",
    ),
    (
        "servers/databases/write",
        "PostgreSQL Database",
        "Create/Update PostgreSQL Database",
        "Creates a PostgreSQL Database with the specified parameters or update the properties for the specified Database.",
    ),
    (
        "servers/databases/delete",
        "PostgreSQL Database",
        "Delete PostgreSQL Database",
        "Deletes an existing PostgreSQL Database.",
    ),
    (
        "servers/configurations/read",
        "Configurations",
        "List/Get Configurations",
        "Return the list of configurations for a server or gets the properties for the specified configuration.",
    ),
    (
        "servers/configurations/write",
        "Configurations",
        "Update Configurations",
        "Update the value for the specified configuration.",
    ),
    (
        "servers/logFiles/read",
        "Log Files",
        "List Server Log Files",
        "Return the list of PostgreSQL server log files for a server.",
    ),
    (
        "servers/virtualNetworkRules/read",
        "Virtual Network Rules",
        "List/Get Virtual Network Rules",
        "Return the list of virtual network rules or gets the properties for the specified virtual network rule.",
    ),
    (
        "servers/virtualNetworkRules/write",
        "Virtual Network Rules",
        "Create/Update Virtual Network Rule",
        "Creates a virtual network rule or updates an existing one.",
    ),
    (
        "servers/virtualNetworkRules/delete",
        "Virtual Network Rules",
        "Delete Virtual Network Rule",
        "Deletes an existing virtual network rule.",
    ),
    (
        "servers/securityAlertPolicies/read",
        "Server Threat Detection Policy",
        "Get Server Threat Detection Policy",
        "Retrieve details of the server threat detection policy configured on a given server.",
    ),
    (
        "servers/securityAlertPolicies/write",
        "Server Threat Detection Policy",
        "Update Server Threat Detection Policy",
        "Change the server threat detection policy for a given server.",
    ),
    (
        "servers/performanceTiers/read",
        "Performance Tiers",
        "List Performance Tiers",
        "Returns the list of Performance Tiers available for a server.",
    ),
    (
        "locations/performanceTiers/read",
        "Performance Tiers",
        "List Performance Tiers",
        "Returns the list of Performance Tiers available.",
    ),
    (
        "locations/azureAsyncOperation/read",
        "PostgreSQL Server",
        "Get PostgreSQL Server Async Operation Results",
        "Return PostgreSQL Server Operation Results.",
    ),
    (
        "locations/operationResults/read",
        "PostgreSQL Server",
        "Get PostgreSQL Server Operation Results",
        "Return ResourceGroup based PostgreSQL Server Operation Results.",
    ),
    (
        "checkNameAvailability/action",
        "PostgreSQL Server",
        "Check Server Name Availability",
        "Verify whether given server name is available for provisioning worldwide for a given subscription.",
    ),
    ("operations/read", "Operations", "List Operations", "Return the list of PostgreSQL Operations."),
];

/// `GET /providers/Microsoft.DBforPostgreSQL/operations`.
async fn operations() -> Response {
    let value: Vec<Value> = OPERATIONS
        .iter()
        .map(|(name, resource, operation, description)| {
            json!({
                "name": format!("Microsoft.DBforPostgreSQL/{name}"),
                "display": {
                    "provider": "Microsoft DB for PostgreSQL",
                    "resource": resource,
                    "operation": operation,
                    "description": description,
                },
                "origin": "NotSpecified",
                "properties": {},
            })
        })
        .collect();
    Json(json!({ "value": value })).into_response()
}

/// The routes of the provider-level operations.
pub(crate) fn routes() -> axum::Router<Arc<Shared>> {
    use axum::routing::{get, post};
    let rp = "/subscriptions/{sub}/providers/Microsoft.DBforPostgreSQL";
    axum::Router::new()
        .route(&format!("{rp}/checkNameAvailability"), post(check_name_availability))
        // Flexible Server's form, scoped to a location (names are global all the same).
        .route(&format!("{rp}/locations/{{location}}/checkNameAvailability"), post(check_name_availability))
        .route(&format!("{rp}/locations/{{location}}/performanceTiers"), get(location_performance_tiers))
        .route(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/servers/{server}/performanceTiers",
            get(server_performance_tiers),
        )
        .route("/providers/Microsoft.DBforPostgreSQL/operations", get(operations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn performance_tiers_are_the_catalogs() {
        let tiers = performance_tiers();
        let skus: usize = tiers["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["serviceLevelObjectives"].as_array().unwrap().len())
            .sum();
        assert_eq!(skus, SKU_CATALOG.len());
        let basic = &tiers["value"][0];
        assert_eq!(basic["id"], "Basic");
        assert_eq!(basic["maxStorageMB"], 1024 * 1024);
        assert_eq!(basic["serviceLevelObjectives"][0]["id"], "B_Gen4_1");
    }
}
