//! How the emulator behaves like the cloud, seen over raw HTTP on 127.0.0.1 and through the
//! provider: tokens, throttling, async operations, eventual consistency, restart windows,
//! child resources and the state file.

use crate::azure_common;

use azure_common::*;
use pgfleet::emulator::{self, EmulatorOptions, FaultRates, Latencies};
use pgfleet::model::ServerName;
use pgfleet::providers::azure::AzureProvider;
use pgfleet::providers::{Provider, ProviderErrorKind};
use pgfleet::rules::{Rule, Tier};
use serde_json::{Value, json};
use std::time::Duration;

fn create_body() -> Value {
    json!({"location": "westeurope", "sku": {"name": "GP_Gen5_2"},
           "properties": {"createMode": "Default", "administratorLogin": "fleetadmin",
                          "administratorLoginPassword": PASSWORD, "version": "11"}})
}

fn slow(latency: Duration) -> EmulatorOptions {
    let latencies =
        Latencies { create: latency, update: latency, restart: latency, delete: latency, invisible: latency };
    EmulatorOptions { latencies, ..EmulatorOptions::default() }
}

#[tokio::test]
async fn arm_requests_need_a_token_from_the_token_endpoint() {
    let emulator = emulator(FaultRates::default(), 0).await;
    // As ARM: a missing header and a token it did not issue are two codes, and both answers
    // carry the challenge that names the authority.
    let answer = reqwest::get(server_url(&emulator.base_url(), "nobody")).await.unwrap();
    assert_eq!(answer.status(), 401);
    let challenge = answer.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.starts_with("Bearer authorization_uri=\""), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "AuthenticationFailed");
    let forged = reqwest::Client::new()
        .get(server_url(&emulator.base_url(), "nobody"))
        .bearer_auth("not-issued-here")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert!(forged.headers().contains_key("www-authenticate"));
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");

    let mut options = provider_options(&emulator, &[]);
    options.credential = Some(credential(&emulator, ""));
    let error = AzureProvider::new(options).unwrap().refresh().await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Unauthorized);
    assert!(!error.message.contains("client-secret"));
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after_and_the_provider_reports_it() {
    let emulator = emulator::start(EmulatorOptions::default()).await.unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let list = format!(
        "{base}/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.DBforPostgreSQL/servers?api-version=2017-12-01"
    );
    let mut remaining = Vec::new();
    let mut throttled = None;
    for _ in 0..2000 {
        let answer = client.get(&list).bearer_auth(&token).send().await.unwrap();
        if answer.status() == 429 {
            throttled =
                answer.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            break;
        }
        let header = answer.headers()["x-ms-ratelimit-remaining-subscription-reads"].to_str().unwrap();
        remaining.push(header.parse::<u64>().unwrap());
    }
    assert!(remaining.len() >= 250, "the burst of 250 reads is served first");
    assert_eq!(remaining[0], 249);
    // Each read takes a token and the bucket refills 25 a second, so on a slow machine the
    // count may tick back up between two reads; over 200 reads it must fall well.
    assert!(remaining[199] + 100 <= remaining[0], "{:?}", &remaining[..200]);
    assert!(throttled.is_some_and(|seconds| seconds >= 1), "a 429 with Retry-After");

    let always = FaultRates { throttled: 1.0, ..FaultRates::default() };
    let faulty =
        emulator::start(EmulatorOptions { faults: always, ..EmulatorOptions::default() }).await.unwrap();
    let error = provider(&faulty, &[]).refresh().await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Throttled);
    assert_eq!(error.retry_after, Some(Duration::from_secs(1)));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_new_server_is_invisible_and_its_operation_in_progress() {
    let emulator = emulator::start(slow(Duration::from_secs(60))).await.unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let url = server_url(&base, "fresh-server");
    let answer = client.put(&url).bearer_auth(&token).json(&create_body()).send().await.unwrap();
    assert_eq!(answer.status(), 202);
    let headers = answer.headers().clone();
    let operation = headers["azure-asyncoperation"].to_str().unwrap().to_string();
    let location = headers["location"].to_str().unwrap().to_string();
    assert!(operation.contains(&format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.DBforPostgreSQL/locations/westeurope/azureAsyncOperation/")));
    assert!(headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);

    assert_eq!(client.get(&url).bearer_auth(&token).send().await.unwrap().status(), 404);
    let poll: Value = client.get(&operation).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(poll["status"], "InProgress");
    assert_eq!(client.get(&location).bearer_auth(&token).send().await.unwrap().status(), 202);
    // The name is taken even while the server is invisible.
    let elsewhere = url.replace(GROUP, "rg-other");
    let clash = client.put(&elsewhere).bearer_auth(&token).json(&create_body()).send().await.unwrap();
    assert_eq!(clash.status(), 409);
}

#[tokio::test]
async fn a_restarting_server_is_inaccessible_and_refuses_other_writes() {
    let emulator = emulator::start(slow(Duration::from_secs(60))).await.unwrap();
    let body = serde_json::from_value(create_body()).unwrap();
    emulator.insert_server(SUBSCRIPTION, GROUP, "busy-server", body).unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let url = server_url(&base, "busy-server");
    let server: Value = client.get(&url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(server["properties"]["userVisibleState"], "Ready");
    let restart = url.replace("?api-version", "/restart?api-version");
    assert_eq!(client.post(&restart).bearer_auth(&token).send().await.unwrap().status(), 202);
    let server: Value = client.get(&url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(server["properties"]["userVisibleState"], "Inaccessible");

    let mut options = provider_options(&emulator, &[]);
    options.polling.timeout = Duration::from_secs(5);
    let provider = AzureProvider::new(options).unwrap();
    let patch = pgfleet::model::ServerPatch { backup_retention_days: Some(10), ..Default::default() };
    let error = provider.update(&ServerName::new("busy-server"), &patch).await.unwrap_err();
    assert_eq!(
        (error.kind, error.code.as_deref()),
        (ProviderErrorKind::Conflict, Some("AnotherOperationInProgress"))
    );
    let error = provider.restart(&ServerName::new("busy-server")).await.unwrap_err();
    assert_eq!(error.kind, ProviderErrorKind::Conflict);
}

#[tokio::test]
async fn firewall_rules_databases_and_configurations() {
    let emulator = emulator(FaultRates::default(), 0).await;
    let body = serde_json::from_value(create_body()).unwrap();
    emulator.insert_server(SUBSCRIPTION, GROUP, "child-host", body).unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let child =
        |path: &str| server_url(&base, "child-host").replace("?api-version", &format!("/{path}?api-version"));
    let rule = json!({"properties": {"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.9"}});
    let put = |url: String, body: Value| client.put(url).bearer_auth(&token).json(&body).send();
    assert_eq!(put(child("firewallRules/office"), rule.clone()).await.unwrap().status(), 201);
    assert_eq!(put(child("firewallRules/office"), rule).await.unwrap().status(), 200);
    let bad = json!({"properties": {"startIpAddress": "ten", "endIpAddress": "10.0.0.9"}});
    assert_eq!(put(child("firewallRules/bad"), bad).await.unwrap().status(), 400);
    let database = json!({"properties": {"charset": "UTF8", "collation": "English_United States.1252"}});
    let created: Value = put(child("databases/db1"), database).await.unwrap().json().await.unwrap();
    assert_eq!(created["type"], "Microsoft.DBforPostgreSQL/servers/databases");
    let list: Value =
        client.get(child("databases")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    // db1 beside the system databases every server has (postgres, azure_maintenance, azure_sys).
    assert_eq!(list["value"].as_array().unwrap().len(), 4);
    assert_eq!(client.delete(child("databases/db1")).bearer_auth(&token).send().await.unwrap().status(), 200);

    let configuration: Value = client
        .get(child("configurations/array_nulls"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (configuration["properties"]["value"].as_str(), configuration["properties"]["source"].as_str()),
        (Some("on"), Some("system-default"))
    );
    let wrong = json!({"properties": {"value": "SOMETIMES", "source": "user-override"}});
    let refused = put(child("configurations/azure.replication_support"), wrong).await.unwrap();
    assert_eq!(refused.status(), 400);
    let log = emulator.requests();
    assert_eq!(log.iter().filter(|r| !r.accepted).count(), 2);
    assert!(log.iter().filter(|r| !r.accepted).all(|r| r.code.as_deref() == Some("InvalidParameterValue")));
}

#[tokio::test]
async fn the_state_file_keeps_servers_across_runs() {
    let directory = tempfile::tempdir().unwrap();
    let state = directory.path().join("emulator.json");
    let options = || EmulatorOptions {
        latencies: fast_latencies(),
        state_file: Some(state.clone()),
        ..EmulatorOptions::default()
    };
    let first = emulator::start(options()).await.unwrap();
    provider(&first, &["kept-server"]).create(primary("kept-server", Tier::GeneralPurpose, 2)).await.unwrap();
    first.shutdown().await;
    let second = emulator::start(options()).await.unwrap();
    let fleet = provider(&second, &[]).refresh().await.unwrap();
    assert_eq!(fleet.keys().map(ServerName::as_str).collect::<Vec<_>>(), ["kept-server"]);
    assert!(!std::fs::read_to_string(&state).unwrap().contains(PASSWORD), "no password in the state file");
}

#[tokio::test]
async fn the_provider_paces_itself_before_the_read_budget_runs_out() {
    let emulator = emulator::start(EmulatorOptions::default()).await.unwrap();
    let provider = provider(&emulator, &[]);
    // 280 refreshes of two lists each (Single and Flexible servers): more reads than the
    // burst of 250, so only pacing avoids a 429.
    for _ in 0..280 {
        provider.refresh().await.unwrap();
    }
    let log = emulator.requests();
    let reads = log.iter().filter(|r| r.method == "GET").count();
    assert_eq!(reads, 560);
    assert!(log.iter().all(|r| r.status != 429), "no request was throttled");
}

#[tokio::test]
async fn a_404_right_after_create_is_pending_until_the_server_is_ready() {
    let latencies = Latencies { invisible: Duration::from_millis(300), ..fast_latencies() };
    let emulator =
        emulator::start(EmulatorOptions { latencies, ..EmulatorOptions::default() }).await.unwrap();
    let provider = provider(&emulator, &["late-server"]);
    let created = provider.create(primary("late-server", Tier::GeneralPurpose, 2)).await.unwrap();
    assert_eq!(created.status, pgfleet::model::ServerStatus::Ready);
    let gets: Vec<u16> = emulator
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/servers/late-server"))
        .map(|r| r.status)
        .collect();
    assert!(gets.len() >= 2 && gets[0] == 404, "{gets:?}");
    assert_eq!(gets.last(), Some(&200));
}

#[tokio::test]
async fn create_only_fields_and_password_rules_are_refused_on_patch() {
    let emulator = emulator(FaultRates::default(), 0).await;
    emulator
        .insert_server(SUBSCRIPTION, GROUP, "main-server", serde_json::from_value(create_body()).unwrap())
        .unwrap();
    emulator.enable_replication("main-server").unwrap();
    let source = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.DBforPostgreSQL/servers/main-server"
    );
    let replica =
        json!({"location": "westeurope", "properties": {"createMode": "Replica", "sourceServerId": source}});
    emulator
        .insert_server(SUBSCRIPTION, GROUP, "copy-server", serde_json::from_value(replica).unwrap())
        .unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let cases = [
        (
            "main-server",
            json!({"properties": {"version": "10"}}),
            Rule::VersionDowngrade,
            "PostgreSQL 11 cannot be downgraded to 10",
        ),
        (
            "main-server",
            json!({"properties": {"storageProfile": {"geoRedundantBackup": "Enabled"}}}),
            Rule::CreateOnlyChange,
            "Cannot update geo_redundant_backup for server",
        ),
        (
            "main-server",
            json!({"properties": {"storageProfile": {"storageMB": 2048}}}),
            Rule::StorageShrink,
            "Cannot update StorageMB Downscaling for server",
        ),
        (
            "main-server",
            json!({"properties": {"storageProfile": {"backupRetentionDays": 40}}}),
            Rule::RetentionOutOfRange,
            "retention range",
        ),
        (
            "main-server",
            json!({"sku": {"name": "B_Gen5_2"}}),
            Rule::TierChangeNotInPlace,
            "Edition cannot be changed by update",
        ),
        ("main-server", json!({"sku": {"name": "GP_Gen5_3"}}), Rule::SkuNotOffered, "not a valid sku name"),
        (
            "copy-server",
            json!({"properties": {"administratorLoginPassword": "New-Password-2"}}),
            Rule::PasswordChangeOnReplica,
            "replicated from its primary",
        ),
        (
            "copy-server",
            json!({"properties": {"storageProfile": {"storageAutogrow": "Disabled"}}}),
            Rule::ReplicaAutogrowOff,
            "always on for replicas",
        ),
        (
            "copy-server",
            json!({"properties": {"replicationRole": "None", "administratorLoginPassword": "New-Password-2"}}),
            Rule::PasswordChangeOnReplica,
            "cannot be combined with a promote",
        ),
        (
            "main-server",
            json!({"properties": {"replicationRole": "None"}}),
            Rule::NotAReplica,
            "not a replica",
        ),
    ];
    for (server, body, rule, message) in cases {
        let answer =
            client.patch(server_url(&base, server)).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{body}");
        let error: Value = answer.json().await.unwrap();
        assert_eq!(error["error"]["code"], rule.code_str(), "{body}");
        assert!(error["error"]["message"].as_str().unwrap().contains(message), "{error}");
    }
    let replica: Value = client
        .get(server_url(&base, "copy-server"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replica["properties"]["replicationRole"], "Replica", "the refused promote changed nothing");
    assert!(replica["properties"]["masterServerId"].as_str().unwrap().eq_ignore_ascii_case(&source));
}

/// A server migrated again and again lives under alternating Azure names (`NAME-migration`,
/// `NAME-migration-2`, `NAME-migration` …). When a cutover is interrupted after the new copy took
/// the name (tags) and before the old copy was deleted, the older copy (fewer cutovers behind it)
/// stands for the name whichever order the list returns them in, the newer one is reported as
/// the migration's staging server, and the re-run's cutover deletes the old copy.
#[tokio::test]
async fn interrupted_cutovers_report_the_older_copy_and_the_newer_one_as_staging() {
    let emulator = emulator(FaultRates::default(), 0).await;
    let tagged = |generation: u32| {
        let mut body = create_body();
        body["tags"] = json!({"pgfleet-name": "app-db", "pgfleet-generation": generation.to_string()});
        serde_json::from_value(body).unwrap()
    };
    let provider = provider(&emulator, &["app-db"]);
    let (name, staging) = (ServerName::new("app-db"), ServerName::new("app-db-migration"));
    let user =
        |live: &pgfleet::model::LiveFleet, server: &ServerName| live[server].endpoint.clone().unwrap().user;
    let names =
        |live: &pgfleet::model::LiveFleet| live.keys().map(|n| n.as_str().to_string()).collect::<Vec<_>>();

    // The second migration's cutover, interrupted: the old copy is listed first.
    emulator.insert_server(SUBSCRIPTION, GROUP, "app-db-migration", tagged(1)).unwrap();
    emulator.insert_server(SUBSCRIPTION, GROUP, "app-db-migration-2", tagged(2)).unwrap();
    let live = provider.refresh().await.unwrap();
    assert_eq!(names(&live), ["app-db", "app-db-migration"]);
    assert_eq!(user(&live, &name), "fleetadmin@app-db-migration", "the older copy has the name");
    assert_eq!(user(&live, &staging), "fleetadmin@app-db-migration-2", "the newer one is the staging server");
    let cut = provider.cutover(&name, &staging).await.unwrap();
    assert_eq!(cut.endpoint.unwrap().user, "fleetadmin@app-db-migration-2");
    let live = provider.refresh().await.unwrap();
    assert_eq!(
        (names(&live), user(&live, &name)),
        (vec!["app-db".to_string()], "fleetadmin@app-db-migration-2".into())
    );

    // The third migration: its staging server takes the freed name, and its cutover is
    // interrupted too; now the newer copy is listed first.
    let request = pgfleet::providers::CreateRequest {
        name: staging.clone(),
        spec: spec(Tier::GeneralPurpose, 2, 100),
        admin_password: Some(pgfleet::secret::Redacted::new(PASSWORD.to_string())),
    };
    let created = provider.create(request).await.unwrap();
    assert_eq!(
        (created.name.as_str(), created.endpoint.unwrap().user.as_str()),
        ("app-db-migration", "fleetadmin@app-db-migration")
    );
    assert!(
        provider.refresh().await.unwrap()[&staging].spec.tags.is_empty(),
        "pgfleet's tags are not the user's"
    );
    let tags = json!({"tags": {"pgfleet-name": "app-db", "pgfleet-generation": "3"}});
    let (client, token) = raw_client(&emulator.base_url()).await;
    let answer = client
        .patch(server_url(&emulator.base_url(), "app-db-migration"))
        .bearer_auth(&token)
        .json(&tags)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let live = provider.refresh().await.unwrap();
    assert_eq!(user(&live, &name), "fleetadmin@app-db-migration-2", "the older copy has the name");
    assert_eq!(user(&live, &staging), "fleetadmin@app-db-migration");
    provider.cutover(&name, &staging).await.unwrap();
    let live = provider.refresh().await.unwrap();
    assert_eq!(
        (names(&live), user(&live, &name)),
        (vec!["app-db".to_string()], "fleetadmin@app-db-migration".into())
    );
}

/// A PUT on a server that is still being created (not visible yet) waits its turn with a
/// retryable 409, as a write on any busy server does, rather than a 404 for the server it names.
#[tokio::test]
async fn a_put_on_a_server_still_being_created_is_another_operation_in_progress() {
    let latencies = Latencies { invisible: Duration::from_secs(30), ..fast_latencies() };
    let emulator =
        emulator::start(EmulatorOptions { latencies, ..EmulatorOptions::default() }).await.unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let url = server_url(&base, "twice-put");
    let first = client.put(&url).bearer_auth(&token).json(&create_body()).send().await.unwrap();
    assert!(first.status().is_success(), "{}", first.status());
    let second = client.put(&url).bearer_auth(&token).json(&create_body()).send().await.unwrap();
    assert_eq!(second.status(), 409);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"]["code"], "AnotherOperationInProgress", "{body}");
}

/// Deleting a primary while one of its replicas is still being built waits its turn (409), as
/// a delete of a busy server does: the replica is not left half made.
#[tokio::test]
async fn a_primary_is_not_deleted_while_a_replica_of_it_is_being_built() {
    let emulator = emulator::start(slow(Duration::from_secs(30))).await.unwrap();
    emulator
        .insert_server(SUBSCRIPTION, GROUP, "main-server", serde_json::from_value(create_body()).unwrap())
        .unwrap();
    emulator.enable_replication("main-server").unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let source = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.DBforPostgreSQL/servers/main-server"
    );
    let replica =
        json!({"location": "westeurope", "properties": {"createMode": "Replica", "sourceServerId": source}});
    let put = client.put(server_url(&base, "copy-server")).bearer_auth(&token).json(&replica).send().await;
    assert!(put.unwrap().status().is_success());
    let delete = client.delete(server_url(&base, "main-server")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(delete.status(), 409);
    let body: Value = delete.json().await.unwrap();
    assert_eq!(body["error"]["code"], "AnotherOperationInProgress", "{body}");
}
