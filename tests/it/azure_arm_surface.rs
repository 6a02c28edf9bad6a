//! What ARM does in front of the resource provider, as the emulator does it, over raw HTTP on
//! 127.0.0.1: case-insensitive paths, JSON errors for unknown paths and methods, request ids,
//! api-versions by resource type, resource groups (`auto` and `strict`), `Retry-After` in
//! whole seconds, faults in the service's shapes, the identity endpoints MSAL reads, and HTTPS.

use crate::azure_common;

use azure_common::*;
use pgfleet::emulator::{self, EmulatorOptions, FaultRates, Latencies, ResourceGroupMode, TlsOptions};
use pgfleet::providers::Provider;
use serde_json::{Value, json};
use std::time::Duration;

fn create_body() -> Value {
    json!({"location": "westeurope", "sku": {"name": "GP_Gen5_2"},
           "properties": {"createMode": "Default", "administratorLogin": "fleetadmin",
                          "administratorLoginPassword": PASSWORD, "version": "11"}})
}

fn options(latency: Duration) -> EmulatorOptions {
    let latencies =
        Latencies { create: latency, update: latency, restart: latency, delete: latency, invisible: latency };
    EmulatorOptions { latencies, ..EmulatorOptions::default() }
}

fn group_url(base: &str, group: &str, version: &str) -> String {
    format!("{base}/subscriptions/{SUBSCRIPTION}/resourcegroups/{group}?api-version={version}")
}

#[tokio::test]
async fn paths_are_case_insensitive_and_logged_in_arm_spelling() {
    let emulator = emulator::start(options(Duration::ZERO)).await.unwrap();
    let body = serde_json::from_value(create_body()).unwrap();
    emulator.insert_server(SUBSCRIPTION, GROUP, "case-server", body).unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let lower = format!(
        "{base}/SUBSCRIPTIONS/{SUBSCRIPTION}/resourcegroups/RG-FLEET/providers/microsoft.dbforpostgresql/servers/CASE-SERVER"
    );
    for (suffix, key) in
        [("", "name"), ("/replicas", "value"), ("/CONFIGURATIONS", "value"), ("/firewallrules", "value")]
    {
        let answer = client
            .get(format!("{lower}{suffix}?api-version=2017-12-01"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{suffix}");
        let body: Value = answer.json().await.unwrap();
        assert!(body.get(key).is_some(), "{suffix}: {body}");
    }
    let logged: Vec<String> = emulator.requests().iter().map(|r| r.path.clone()).collect();
    assert!(
        logged.contains(&format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/RG-FLEET/providers/Microsoft.DBforPostgreSQL/servers/CASE-SERVER/Replicas"
        )),
        "{logged:#?}"
    );
    // Child names compare case-insensitively too.
    let rule = json!({"properties": {"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.2"}});
    let url = |name: &str| format!("{lower}/firewallRules/{name}?api-version=2017-12-01");
    let first = client.put(url("Office")).bearer_auth(&token).json(&rule).send().await.unwrap();
    assert_eq!(first.status(), 201);
    let again = client.put(url("OFFICE")).bearer_auth(&token).json(&rule).send().await.unwrap();
    assert_eq!(again.status(), 200, "the same rule in another case");
    let read: Value =
        client.get(url("office")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(read["name"], "Office");
}

#[tokio::test]
async fn every_error_is_json_and_every_answer_has_request_ids() {
    let emulator = emulator::start(options(Duration::ZERO)).await.unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let cases = [
        ("GET", format!("{base}/nowhere"), 404, "NotFound"),
        (
            "GET",
            format!("{base}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Nothing/things?api-version=1"),
            404,
            "InvalidResourceNamespace",
        ),
        (
            "GET",
            format!(
                "{base}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.DBforPostgreSQL/gadgets?api-version=1"
            ),
            404,
            "InvalidResourceType",
        ),
        ("POST", server_url(&base, "any-server"), 405, "MethodNotAllowed"),
        ("GET", server_url(&base, "absent-server"), 404, "ResourceNotFound"),
    ];
    for (method, url, status, code) in cases {
        let answer = client
            .request(method.parse().unwrap(), &url)
            .bearer_auth(&token)
            .header("x-ms-client-request-id", "client-1")
            .header("x-ms-correlation-request-id", "correlation-1")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{method} {url}");
        let headers = answer.headers().clone();
        assert!(headers["x-ms-request-id"].to_str().unwrap().len() >= 32, "{url}");
        assert_eq!(headers["x-ms-correlation-request-id"], "correlation-1");
        assert_eq!(headers["x-ms-client-request-id"], "client-1");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{method} {url}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Without a correlation id the emulator makes one, and successes carry the ids too.
    let answer = client.get(server_url(&base, "x").replace("/servers/x", "/servers")).bearer_auth(&token);
    let answer = answer.send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().contains_key("x-ms-request-id"));
    assert!(answer.headers().contains_key("x-ms-correlation-request-id"));
}

#[tokio::test]
async fn the_api_version_is_required_and_must_be_the_resource_types() {
    let emulator = emulator::start(options(Duration::ZERO)).await.unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let get = |url: String| client.get(url).bearer_auth(&token).send();
    let missing = get(server_url(&base, "x").replace("?api-version=2017-12-01", "")).await.unwrap();
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "MissingApiVersionParameter");
    assert_eq!(
        body["error"]["message"],
        "The api-version query parameter (?api-version=) is required for all requests."
    );

    let wrong = get(server_url(&base, "x").replace("2017-12-01", "2025-08-01")).await.unwrap();
    assert_eq!(wrong.status(), 400);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidApiVersionParameter");
    assert_eq!(
        body["error"]["message"],
        "The api-version '2025-08-01' is invalid. The supported versions are '2017-12-01,2017-12-01-preview'."
    );
    // Resource groups have Microsoft.Resources' versions, not the provider's.
    assert_eq!(get(group_url(&base, "rg-x", "2017-12-01")).await.unwrap().status(), 400);
    assert_eq!(get(group_url(&base, "rg-x", "2021-04-01")).await.unwrap().status(), 404);
    let log = emulator.requests();
    assert!(log.iter().filter(|r| r.status == 400).all(|r| !r.accepted && r.code.is_some()));
}

#[tokio::test]
async fn resource_groups_are_served_like_arms() {
    let emulator = emulator::start(options(Duration::ZERO)).await.unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let url = group_url(&base, "rg-made", "2021-04-01");
    let body = json!({"location": "westeurope", "tags": {"team": "data"}});
    let created = client.put(&url).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["id"], format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-made"));
    assert_eq!(created["type"], "Microsoft.Resources/resourceGroups");
    assert_eq!(created["properties"]["provisioningState"], "Succeeded");
    assert_eq!(created["tags"]["team"], "data");
    assert_eq!(client.put(&url).bearer_auth(&token).json(&body).send().await.unwrap().status(), 200);
    let moved = json!({"location": "northeurope"});
    let refused = client.put(&url).bearer_auth(&token).json(&moved).send().await.unwrap();
    assert_eq!(refused.status(), 409);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "InvalidResourceGroupLocation");
    let unlocated = client.put(group_url(&base, "rg-y", "2021-04-01")).bearer_auth(&token).json(&json!({}));
    assert_eq!(unlocated.send().await.unwrap().status(), 400);
    assert_eq!(client.head(&url).bearer_auth(&token).send().await.unwrap().status(), 204);
    let absent = group_url(&base, "rg-absent", "2021-04-01");
    assert_eq!(client.head(&absent).bearer_auth(&token).send().await.unwrap().status(), 404);
    let missing: Value = client.get(&absent).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(missing["error"]["code"], "ResourceGroupNotFound");
    let list = format!("{base}/subscriptions/{SUBSCRIPTION}/resourceGroups?api-version=2021-04-01");
    let list: Value = client.get(&list).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["value"].as_array().unwrap().len(), 1);

    // A server in the group goes with it; the delete is polled at its Location.
    let body = serde_json::from_value(create_body()).unwrap();
    emulator.insert_server(SUBSCRIPTION, "rg-made", "grouped", body).unwrap();
    let server = server_url(&base, "grouped").replace(GROUP, "rg-made");
    assert_eq!(client.get(&server).bearer_auth(&token).send().await.unwrap().status(), 200);
    let deleted = client.delete(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), 202);
    let location = deleted.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains(&format!("/subscriptions/{SUBSCRIPTION}/operationResults/")), "{location}");
    assert_eq!(client.get(&location).bearer_auth(&token).send().await.unwrap().status(), 200);
    assert_eq!(client.get(&server).bearer_auth(&token).send().await.unwrap().status(), 404);
    assert_eq!(client.delete(&url).bearer_auth(&token).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn strict_groups_refuse_requests_into_groups_never_created_and_auto_makes_them() {
    let strict = EmulatorOptions { resource_groups: ResourceGroupMode::Strict, ..options(Duration::ZERO) };
    let emulator = emulator::start(strict).await.unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let put = client.put(server_url(&base, "strict-one")).bearer_auth(&token).json(&create_body()).send();
    let refused = put.await.unwrap();
    assert_eq!(refused.status(), 404);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ResourceGroupNotFound");
    assert_eq!(body["error"]["message"], format!("Resource group '{GROUP}' could not be found."));
    let error = provider(&emulator, &[]).refresh().await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some("ResourceGroupNotFound"), "{error:?}");

    let made = client
        .put(group_url(&base, GROUP, "2021-04-01"))
        .bearer_auth(&token)
        .json(&json!({"location": "westeurope"}));
    assert_eq!(made.send().await.unwrap().status(), 201);
    let put = client.put(server_url(&base, "strict-one")).bearer_auth(&token).json(&create_body()).send();
    assert_eq!(put.await.unwrap().status(), 202);
    assert!(provider(&emulator, &[]).refresh().await.is_ok());

    // auto (the default): the PUT made the group, in its location.
    let emulator = emulator::start(options(Duration::ZERO)).await.unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    assert!(provider(&emulator, &[]).refresh().await.unwrap().is_empty(), "reads find nothing, no error");
    let body = json!({"location": "northeurope", "sku": {"name": "GP_Gen5_2"},
        "properties": {"createMode": "Default", "administratorLogin": "fleetadmin",
                       "administratorLoginPassword": PASSWORD}});
    let put = client.put(server_url(&base, "auto-one")).bearer_auth(&token).json(&body).send();
    assert_eq!(put.await.unwrap().status(), 202);
    let group: Value = client
        .get(group_url(&base, GROUP, "2021-04-01"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((group["name"].as_str(), group["location"].as_str()), (Some(GROUP), Some("northeurope")));
}

#[tokio::test]
async fn groups_persist_and_old_state_files_get_the_groups_of_their_servers() {
    let directory = tempfile::tempdir().unwrap();
    let state = directory.path().join("emulator.json");
    let strict = || EmulatorOptions {
        state_file: Some(state.clone()),
        resource_groups: ResourceGroupMode::Strict,
        ..options(Duration::ZERO)
    };
    let first = emulator::start(EmulatorOptions { resource_groups: ResourceGroupMode::Auto, ..strict() })
        .await
        .unwrap();
    let (client, token) = raw_client(&first.base_url()).await;
    let put =
        client.put(server_url(&first.base_url(), "kept")).bearer_auth(&token).json(&create_body()).send();
    assert_eq!(put.await.unwrap().status(), 202);
    first.shutdown().await;
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["resource_groups"].as_object().unwrap().len(), 1);

    // A state file written before groups were kept: its servers' groups exist after loading.
    let mut old = saved.clone();
    old.as_object_mut().unwrap().remove("resource_groups");
    std::fs::write(&state, serde_json::to_string(&old).unwrap()).unwrap();
    let second = emulator::start(strict()).await.unwrap();
    let fleet = provider(&second, &[]).refresh().await.unwrap();
    assert_eq!(fleet.len(), 1, "strict mode finds the loaded server's group");
}

#[tokio::test]
async fn retry_after_is_whole_seconds_and_absent_under_a_second() {
    let fast = emulator::start(options(Duration::from_millis(400))).await.unwrap();
    let base = fast.base_url();
    let (client, token) = raw_client(&base).await;
    let answer =
        client.put(server_url(&base, "quick")).bearer_auth(&token).json(&create_body()).send().await.unwrap();
    assert_eq!(answer.status(), 202);
    assert!(!answer.headers().contains_key("retry-after"), "no Retry-After: 0");
    let poll = answer.headers()["azure-asyncoperation"].to_str().unwrap().to_string();
    let polled = client.get(&poll).bearer_auth(&token).send().await.unwrap();
    assert!(!polled.headers().contains_key("retry-after"));

    let slow = emulator::start(options(Duration::from_millis(2500))).await.unwrap();
    let base = slow.base_url();
    let (client, token) = raw_client(&base).await;
    let answer =
        client.put(server_url(&base, "slow")).bearer_auth(&token).json(&create_body()).send().await.unwrap();
    assert_eq!(answer.headers()["retry-after"], "2", "whole seconds, rounded down");
}

#[tokio::test]
async fn conflicts_hit_writes_only_and_failed_operations_fail_in_the_poll_body() {
    let conflicts = FaultRates { conflict: 1.0, ..FaultRates::default() };
    let emulator = emulator::start(EmulatorOptions { faults: conflicts, ..options(Duration::from_secs(30)) })
        .await
        .unwrap();
    let body = serde_json::from_value(create_body()).unwrap();
    emulator.insert_server(SUBSCRIPTION, GROUP, "steady", body).unwrap();
    let base = emulator.base_url();
    // The token endpoint answers a conflict with 503 (it has no operations): a token the
    // emulator issues directly.
    let (client, token) = (reqwest::Client::new(), emulator.issue_token());
    assert_eq!(
        client.get(server_url(&base, "steady")).bearer_auth(&token).send().await.unwrap().status(),
        200
    );
    let write = client.patch(server_url(&base, "steady")).bearer_auth(&token).json(&json!({"tags": {}}));
    let write = write.send().await.unwrap();
    assert_eq!(write.status(), 409);
    assert_eq!(write.json::<Value>().await.unwrap()["error"]["code"], "OperationInterrupted");
    let log = emulator.requests();
    assert!(log.iter().filter(|r| r.method == "GET").all(|r| r.fault.is_none()), "{log:#?}");

    let failing = FaultRates { failed: 1.0, ..FaultRates::default() };
    let emulator =
        emulator::start(EmulatorOptions { faults: failing, ..options(Duration::ZERO) }).await.unwrap();
    let base = emulator.base_url();
    let (client, token) = raw_client(&base).await;
    let answer = client
        .put(server_url(&base, "doomed"))
        .bearer_auth(&token)
        .json(&create_body())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202, "the write is accepted");
    let poll = answer.headers()["azure-asyncoperation"].to_str().unwrap().to_string();
    let location = answer.headers()["location"].to_str().unwrap().to_string();
    let status: Value = client.get(&poll).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["status"], "Failed", "{status}");
    assert_eq!(status["error"]["code"], "InternalServerError");
    let result = client.get(&location).bearer_auth(&token).send().await.unwrap();
    assert_eq!(result.status(), 500);
    let log = emulator.requests();
    assert!(
        log.iter()
            .any(|r| r.method == "PUT" && r.fault == Some(pgfleet::emulator::Fault::Failed) && r.accepted)
    );
    assert!(log.iter().all(|r| r.status != 409));
}

#[tokio::test]
async fn the_identity_endpoints_serve_msal() {
    let emulator = emulator::start(options(Duration::ZERO)).await.unwrap();
    let base = emulator.base_url();
    let client = reqwest::Client::new();
    let config =
        client.get(format!("{base}/tenant-9/v2.0/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(config.status(), 200, "no token needed");
    let config: Value = config.json().await.unwrap();
    assert_eq!(config["token_endpoint"], format!("{base}/tenant-9/oauth2/v2.0/token"));
    assert_eq!(config["authorization_endpoint"], format!("{base}/tenant-9/oauth2/v2.0/authorize"));
    assert_eq!(config["issuer"], format!("{base}/tenant-9/v2.0"));

    let discovery = client
        .get(format!("{base}/common/discovery/instance"))
        .query(&[
            ("api-version", "1.1"),
            ("authorization_endpoint", "https://127.0.0.1/tenant-9/oauth2/v2.0/authorize"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
    let discovery: Value = discovery.json().await.unwrap();
    assert_eq!(
        discovery["tenant_discovery_endpoint"],
        format!("{base}/tenant-9/v2.0/.well-known/openid-configuration")
    );

    let token = |scope: &'static str, secret: (&'static str, &'static str)| {
        client
            .post(format!("{base}/tenant-9/oauth2/v2.0/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", "app"), ("scope", scope), secret])
            .send()
    };
    let secret = ("client_secret", "s3cret");
    for scope in ["https://management.azure.com/.default", "https://management.core.windows.net//.default"] {
        let answer = token(scope, secret).await.unwrap();
        assert_eq!(answer.status(), 200, "{scope}");
        let body: Value = answer.json().await.unwrap();
        let issued = body["access_token"].as_str().unwrap().to_string();
        let list = server_url(&base, "x").replace("/servers/x", "/servers");
        assert_eq!(client.get(list).bearer_auth(issued).send().await.unwrap().status(), 200);
    }
    let federated = client
        .post(format!("{base}/tenant-9/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "app"),
            ("scope", "https://management.azure.com/.default"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", "eyJ.a.b"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(federated.status(), 200, "workload identity federation's assertion");
    let other = token("https://graph.microsoft.com/.default", secret).await.unwrap();
    assert_eq!(other.status(), 400);
    assert_eq!(other.json::<Value>().await.unwrap()["error"], "invalid_scope");
    assert!(emulator.requests().iter().all(|r| r.body.is_none()), "identity bodies are never logged");
}

#[tokio::test]
async fn tls_serves_https_with_a_certificate_its_ca_file_vouches_for() {
    let directory = tempfile::tempdir().unwrap();
    let ca_file = directory.path().join("nested").join("ca.pem");
    let tls =
        EmulatorOptions { tls: Some(TlsOptions { ca_file: ca_file.clone() }), ..options(Duration::ZERO) };
    let emulator = emulator::start(tls).await.unwrap();
    let base = emulator.base_url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let pem = std::fs::read_to_string(&ca_file).unwrap();
    assert_eq!(Some(pem.as_str()), emulator.ca_certificate_pem());
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));

    let trusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let port = emulator.address.port();
    for host in [format!("https://127.0.0.1:{port}"), format!("https://localhost:{port}")] {
        let config =
            trusting.get(format!("{host}/t/v2.0/.well-known/openid-configuration")).send().await.unwrap();
        assert_eq!(config.status(), 200, "{host}");
        let config: Value = config.json().await.unwrap();
        assert!(config["token_endpoint"].as_str().unwrap().starts_with("https://"));
    }
    // A client that does not trust the CA is refused at the handshake.
    assert!(
        reqwest::Client::new()
            .get(format!("{base}/t/v2.0/.well-known/openid-configuration"))
            .send()
            .await
            .is_err()
    );

    // The provider works over it, its polls included, once it trusts the CA.
    let token: Value = trusting
        .post(format!("{base}/t/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "c"),
            ("client_secret", "s"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let put = trusting
        .put(server_url(&base, "secure"))
        .bearer_auth(&token)
        .json(&create_body())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 202);
    let poll = put.headers()["azure-asyncoperation"].to_str().unwrap();
    assert!(poll.starts_with("https://127.0.0.1:"), "{poll}");
    assert_eq!(trusting.get(poll).bearer_auth(&token).send().await.unwrap().status(), 200);
    emulator.shutdown().await;
}

/// `pgfleet emulator` as a child process, stopped with SIGTERM (and killed if a test fails
/// before that).
struct EmulatorProcess {
    /// `None` once stopped.
    child: Option<std::process::Child>,
    /// The lines it printed on stdout first.
    lines: Vec<String>,
}

impl EmulatorProcess {
    /// Starts `pgfleet emulator ARGS` and reads its first `lines` lines of stdout.
    async fn start(args: &[&str], lines: usize) -> EmulatorProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pgfleet"))
            .arg("emulator")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = tokio::task::spawn_blocking(move || {
            std::io::BufReader::new(stdout).lines().take(lines).map(Result::unwrap).collect::<Vec<_>>()
        })
        .await
        .unwrap();
        EmulatorProcess { child: Some(child), lines }
    }

    /// SIGTERM, and the exit status must be success.
    async fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
        assert!(status.success(), "{status}");
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `--tls --ca-file PATH --resource-groups strict` through the binary: the URL is https, the
/// lines to export follow it, the CA in PATH vouches for the emulator, and strict groups hold.
#[tokio::test]
async fn the_emulator_command_serves_https_and_strict_groups() {
    let directory = tempfile::tempdir().unwrap();
    let ca_file = directory.path().join("ca.pem");
    let ca = ca_file.to_str().unwrap();
    let process = EmulatorProcess::start(&["--tls", "--ca-file", ca, "--resource-groups", "strict"], 3).await;
    let base = process.lines[0].clone();
    assert!(base.starts_with("https://127.0.0.1:"), "{:?}", process.lines);
    assert_eq!(process.lines[1], format!("export SSL_CERT_FILE={ca}"));
    assert_eq!(process.lines[2], format!("export REQUESTS_CA_BUNDLE={ca}"));
    let pem = std::fs::read(&ca_file).unwrap();
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let token: Value = client
        .post(format!("{base}/t/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "c"),
            ("client_secret", "s"),
            ("scope", "https://management.core.windows.net//.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let put = client.put(server_url(&base, "cli-strict")).bearer_auth(token).json(&create_body()).send();
    let refused: Value = put.await.unwrap().json().await.unwrap();
    assert_eq!(refused["error"]["code"], "ResourceGroupNotFound");
    process.stop().await;
}

/// Without `--ca-file` nor `--state` the CA goes to a temporary file, removed at exit; beside
/// `--state FILE` it is `FILE`'s name with `.ca.pem` (and kept).
#[tokio::test]
async fn the_emulator_command_puts_its_ca_in_a_temporary_file_or_beside_the_state() {
    let process = EmulatorProcess::start(&["--tls"], 2).await;
    let path = process.lines[1].strip_prefix("export SSL_CERT_FILE=").unwrap().to_string();
    assert!(std::path::Path::new(&path).is_file(), "{path}");
    process.stop().await;
    assert!(!std::path::Path::new(&path).exists(), "{path} is removed at exit");

    let directory = tempfile::tempdir().unwrap();
    let state = directory.path().join("emulator.json");
    let process = EmulatorProcess::start(&["--tls", "--state", state.to_str().unwrap()], 2).await;
    let beside = directory.path().join("emulator.ca.pem");
    assert_eq!(process.lines[1], format!("export SSL_CERT_FILE={}", beside.display()));
    process.stop().await;
    assert!(beside.is_file());
}

#[test]
fn the_emulator_help_names_its_arm_options() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pgfleet"))
        .args(["emulator", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for option in ["--tls", "--ca-file <PATH>", "--resource-groups <RESOURCE_GROUPS>", "strict", "failed="] {
        assert!(help.contains(option), "{option} in:\n{help}");
    }
}
