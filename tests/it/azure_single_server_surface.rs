//! Single Server's operations beyond pgfleet's own use, as the emulator answers them over raw
//! HTTP on 127.0.0.1 (shapes of the 2017-12-01 spec): name availability, performance tiers,
//! the operations list, log files, virtual network rules, the security alert policy, every
//! field a create or update may send kept and returned, system databases, and server
//! parameters served from the catalog of `pgfleet::rules`.

use crate::azure_common;

use azure_common::*;
use pgfleet::emulator::{self, EmulatorOptions};
use pgfleet::rules::{self, Service};
use serde_json::{Value, json};

fn create_body(sku: &str) -> Value {
    json!({"location": "westeurope", "sku": {"name": sku},
           "properties": {"createMode": "Default", "administratorLogin": "fleetadmin",
                          "administratorLoginPassword": PASSWORD, "version": "11",
                          "publicNetworkAccess": "Enabled", "infrastructureEncryption": "Enabled"}})
}

fn rp_url(base: &str, tail: &str) -> String {
    format!(
        "{base}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.DBforPostgreSQL/{tail}?api-version=2017-12-01"
    )
}

fn child_url(base: &str, server: &str, tail: &str) -> String {
    server_url(base, server).replace("?api-version", &format!("/{tail}?api-version"))
}

async fn with_server(sku: &str) -> (emulator::RunningEmulator, reqwest::Client, String) {
    let emulator =
        emulator::start(EmulatorOptions { latencies: fast_latencies(), ..EmulatorOptions::default() })
            .await
            .unwrap();
    emulator
        .insert_server(SUBSCRIPTION, GROUP, "host", serde_json::from_value(create_body(sku)).unwrap())
        .unwrap();
    let (client, token) = raw_client(&emulator.base_url()).await;
    (emulator, client, token)
}

async fn json_of(answer: reqwest::Response) -> (u16, Value) {
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn name_availability_performance_tiers_and_operations() {
    let (emulator, client, token) = with_server("GP_Gen5_2").await;
    let base = emulator.base_url();
    let check = |name: &str| {
        client
            .post(rp_url(&base, "checkNameAvailability"))
            .bearer_auth(&token)
            .json(&json!({"name": name, "type": "Microsoft.DBforPostgreSQL/servers"}))
            .send()
    };
    let (status, taken) = json_of(check("host").await.unwrap()).await;
    assert_eq!(
        (status, &taken["nameAvailable"], &taken["reason"]),
        (200, &json!(false), &json!("AlreadyExists"))
    );
    let (_, free) = json_of(check("free-name").await.unwrap()).await;
    assert_eq!((&free["nameAvailable"], &free["message"]), (&json!(true), &json!("")));
    let (_, invalid) = json_of(check("Bad_Name").await.unwrap()).await;
    assert_eq!((&invalid["nameAvailable"], &invalid["reason"]), (&json!(false), &json!("Invalid")));

    let (status, tiers) = json_of(
        client
            .get(rp_url(&base, "locations/westeurope/performanceTiers"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let objectives: Vec<&str> = tiers["value"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|tier| tier["serviceLevelObjectives"].as_array().unwrap())
        .map(|slo| slo["id"].as_str().unwrap())
        .collect();
    let catalog: Vec<&str> = rules::SKU_CATALOG.iter().map(|sku| sku.name).collect();
    assert_eq!(objectives, catalog, "the tiers are the catalog's, in its order");
    let general = tiers["value"].as_array().unwrap().iter().find(|t| t["id"] == "GeneralPurpose").unwrap();
    let limits = rules::storage_limits(rules::Tier::GeneralPurpose);
    assert_eq!(general["serviceLevelObjectives"][0]["maxStorageMB"], u64::from(limits.max_gb) * 1024);
    let (status, by_server) = json_of(
        client.get(child_url(&base, "host", "performanceTiers")).bearer_auth(&token).send().await.unwrap(),
    )
    .await;
    assert_eq!((status, by_server["value"].as_array().unwrap().len()), (200, 3));

    let operations = format!("{base}/providers/Microsoft.DBforPostgreSQL/operations?api-version=2017-12-01");
    let (status, operations) =
        json_of(client.get(operations).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let names: Vec<&str> =
        operations["value"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Microsoft.DBforPostgreSQL/servers/read"), "{names:?}");
    assert!(operations["value"][0]["display"]["provider"].is_string());
}

#[tokio::test]
async fn created_fields_are_kept_and_system_databases_listed() {
    let (emulator, client, token) = with_server("GP_Gen5_2").await;
    let base = emulator.base_url();
    let (_, server) =
        json_of(client.get(server_url(&base, "host")).bearer_auth(&token).send().await.unwrap()).await;
    let properties = &server["properties"];
    assert_eq!(properties["publicNetworkAccess"], "Enabled");
    assert_eq!(properties["infrastructureEncryption"], "Enabled");
    assert_eq!(properties["byokEnforcement"], "Disabled");
    let restore = properties["earliestRestoreDate"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(restore).is_ok(), "{restore}");
    assert!(server.get("identity").is_none(), "none until asked for");

    let patch =
        json!({"identity": {"type": "SystemAssigned"}, "properties": {"publicNetworkAccess": "Disabled"}});
    let answer =
        client.patch(server_url(&base, "host")).bearer_auth(&token).json(&patch).send().await.unwrap();
    assert_eq!(answer.status(), 202);
    let (_, server) =
        json_of(client.get(server_url(&base, "host")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(server["properties"]["publicNetworkAccess"], "Disabled");
    assert_eq!(server["identity"]["type"], "SystemAssigned");
    assert_eq!(server["identity"]["principalId"].as_str().unwrap().len(), 36);
    assert_eq!(server["properties"]["earliestRestoreDate"], restore, "the same date at every read");
    // With public access denied, network rules are refused.
    let rule = json!({"properties": {"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.2"}});
    let refused = client
        .put(child_url(&base, "host", "firewallRules/office"))
        .bearer_auth(&token)
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    let (_, databases) =
        json_of(client.get(child_url(&base, "host", "databases")).bearer_auth(&token).send().await.unwrap())
            .await;
    let names: Vec<&str> =
        databases["value"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["azure_maintenance", "azure_sys", "postgres"]);
    let (status, postgres) = json_of(
        client.get(child_url(&base, "host", "databases/postgres")).bearer_auth(&token).send().await.unwrap(),
    )
    .await;
    assert_eq!((status, &postgres["properties"]["charset"]), (200, &json!("UTF8")));
    for system in ["postgres", "azure_sys", "azure_maintenance"] {
        let answer = client
            .delete(child_url(&base, "host", &format!("databases/{system}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{system} cannot be dropped");
    }

    // Basic cannot deny public access (DOMAIN.md §1.4).
    let basic = json!({"location": "westeurope", "sku": {"name": "B_Gen5_1"},
        "properties": {"createMode": "Default", "administratorLogin": "fleetadmin",
                       "administratorLoginPassword": PASSWORD, "publicNetworkAccess": "Disabled"}});
    let refused =
        client.put(server_url(&base, "basic-closed")).bearer_auth(&token).json(&basic).send().await.unwrap();
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn virtual_network_rules_security_policies_and_log_files() {
    let (emulator, client, token) = with_server("GP_Gen5_2").await;
    let base = emulator.base_url();
    let subnet = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Network/virtualNetworks/net/subnets/db"
    );
    let rule =
        json!({"properties": {"virtualNetworkSubnetId": subnet, "ignoreMissingVnetServiceEndpoint": true}});
    let url = child_url(&base, "host", "virtualNetworkRules/app-subnet");
    let (status, created) =
        json_of(client.put(&url).bearer_auth(&token).json(&rule).send().await.unwrap()).await;
    assert_eq!(status, 201);
    assert_eq!(created["properties"]["ignoreMissingVnetServiceEndpoint"], true);
    assert_eq!(created["properties"]["state"], "Ready");
    assert_eq!(client.put(&url).bearer_auth(&token).json(&rule).send().await.unwrap().status(), 200);
    let (_, listed) = json_of(
        client.get(child_url(&base, "host", "virtualNetworkRules")).bearer_auth(&token).send().await.unwrap(),
    )
    .await;
    assert_eq!(listed["value"][0]["properties"]["virtualNetworkSubnetId"], subnet.as_str());
    let bad = json!({"properties": {"virtualNetworkSubnetId": "not-a-subnet"}});
    assert_eq!(client.put(&url).bearer_auth(&token).json(&bad).send().await.unwrap().status(), 400);
    assert_eq!(client.delete(&url).bearer_auth(&token).send().await.unwrap().status(), 200);
    assert_eq!(client.delete(&url).bearer_auth(&token).send().await.unwrap().status(), 204);
    assert_eq!(client.get(&url).bearer_auth(&token).send().await.unwrap().status(), 404);

    let policy = child_url(&base, "host", "securityAlertPolicies/Default");
    let (status, default) = json_of(client.get(&policy).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((status, &default["properties"]["state"]), (200, &json!("Disabled")));
    let enabled = json!({"properties": {"state": "Enabled", "emailAddresses": ["dba@example.com"],
        "emailAccountAdmins": true, "retentionDays": 5, "storageAccountAccessKey": "secret-key"}});
    let (status, set) = json_of(
        client
            .put(child_url(&base, "host", "securityAlertPolicies/default"))
            .bearer_auth(&token)
            .json(&enabled)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, &set["properties"]["state"]), (200, &json!("Enabled")));
    assert!(set["properties"].get("storageAccountAccessKey").is_none(), "a secret is never shown");
    let (_, read) = json_of(client.get(&policy).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(read["properties"]["emailAddresses"][0], "dba@example.com");
    assert!(
        emulator
            .requests()
            .iter()
            .filter_map(|r| r.body.as_ref())
            .all(|b| !b.to_string().contains("secret-key"))
    );

    let (status, logs) =
        json_of(client.get(child_url(&base, "host", "logFiles")).bearer_auth(&token).send().await.unwrap())
            .await;
    assert_eq!(status, 200);
    let name = logs["value"][0]["name"].as_str().unwrap();
    assert!(name.starts_with("postgresql-") && name.ends_with("0000.log"), "{name}");
    assert_eq!(logs["value"][0]["type"], "Microsoft.DBforPostgreSQL/servers/logFiles");

    // Neither on Basic.
    emulator.insert_server(SUBSCRIPTION, GROUP, "small", serde_json::from_value(json!({"location": "westeurope",
        "sku": {"name": "B_Gen5_1"}, "properties": {"createMode": "Default", "administratorLogin": "fleetadmin",
        "administratorLoginPassword": PASSWORD}})).unwrap()).unwrap();
    let url = child_url(&base, "small", "virtualNetworkRules/app-subnet");
    assert_eq!(client.put(&url).bearer_auth(&token).json(&rule).send().await.unwrap().status(), 400);
    let url = child_url(&base, "small", "securityAlertPolicies/Default");
    assert_eq!(client.put(&url).bearer_auth(&token).json(&enabled).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn parameters_come_from_the_catalog() {
    let (emulator, client, token) = with_server("GP_Gen5_4").await;
    let base = emulator.base_url();
    let (status, list) = json_of(
        client.get(child_url(&base, "host", "configurations")).bearer_auth(&token).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> =
        list["value"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    let catalog: Vec<&str> = rules::parameters(Service::Single).iter().map(|spec| spec.name).collect();
    assert_eq!(names, catalog);

    let timeout =
        rules::parameter(Service::Single, "statement_timeout").expect("statement_timeout is in the catalog");
    let (status, read) = json_of(
        client
            .get(child_url(&base, "host", "configurations/statement_timeout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read["properties"]["defaultValue"], timeout.default);
    assert_eq!(read["properties"]["value"], timeout.default);
    assert_eq!(read["properties"]["dataType"], timeout.data_type.arm_name());
    assert_eq!(read["properties"]["allowedValues"], timeout.allowed);
    assert_eq!(read["properties"]["source"], "system-default");
    // A default that follows the SKU.
    let (_, connections) = json_of(
        client
            .get(child_url(&base, "host", "configurations/max_connections"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let expected = rules::default_value(Service::Single, "max_connections", Some("GP_Gen5_4")).unwrap();
    assert_eq!(connections["properties"]["value"], expected.as_str());

    let set = |name: &str, value: &str| {
        client
            .put(child_url(&base, "host", &format!("configurations/{name}")))
            .bearer_auth(&token)
            .json(&json!({"properties": {"value": value, "source": "user-override"}}))
            .send()
    };
    assert_eq!(set("statement_timeout", "8192").await.unwrap().status(), 202);
    let (_, read) = json_of(
        client
            .get(child_url(&base, "host", "configurations/STATEMENT_TIMEOUT"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (&read["properties"]["value"], &read["properties"]["source"]),
        (&json!("8192"), &json!("user-override"))
    );
    let (status, refused) = json_of(set("statement_timeout", "lots").await.unwrap()).await;
    assert_eq!((status, &refused["error"]["code"]), (400, &json!("InvalidParameterValue")));
    let (status, unknown) = json_of(set("no_such_parameter", "1").await.unwrap()).await;
    assert_eq!((status, &unknown["error"]["code"]), (404, &json!("ResourceNotFound")));
    // Back to the default.
    let reset = json!({"properties": {"source": "system-default"}});
    let answer = client
        .put(child_url(&base, "host", "configurations/statement_timeout"))
        .bearer_auth(&token)
        .json(&reset)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let (_, read) = json_of(
        client
            .get(child_url(&base, "host", "configurations/statement_timeout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(read["properties"]["source"], "system-default");
}
