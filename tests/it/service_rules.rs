//! One table of refusals, driven through every backend that enforces the service's rules: the
//! in-process test provider, the `local` provider (real PostgreSQL clusters on 127.0.0.1) and
//! the ARM emulator over HTTP (through the `azure` provider, and raw requests for what the
//! provider never sends). Each row asserts the rule's documented code (`rules::Rule::code`,
//! listed in docs/service-rules.md) from each backend, so one rule cannot answer with two codes.
//! The validator and the planner take their refusals from the same `rules::check` functions;
//! their tests (tests/validate_rules.rs, src/plan/tests) pin the keys and messages.

use crate::azure_common;
use crate::local_support;

use pgfleet::model::{ObservedServer, ServerName, ServerPatch, ServerSpec};
use pgfleet::providers::test_provider::TestProvider;
use pgfleet::providers::{CreateRequest, Provider, ProviderError, ProviderErrorKind};
use pgfleet::rules::{MAX_REPLICAS_PER_PRIMARY, PgVersion, ReplicationSupport, Rule, Tier, TlsVersion};
use pgfleet::secret::Redacted;

const PASSWORD: &str = "Correct-Horse-9";

fn spec(tier: Tier, vcores: u32, storage_gb: u32) -> ServerSpec {
    ServerSpec {
        // The local provider does not enforce TLS; a spec that asks for none is valid everywhere.
        ssl_enforcement: false,
        minimal_tls_version: TlsVersion::EnforcementDisabled,
        ..ServerSpec::new(tier, vcores, storage_gb, PgVersion::V11, "fleetadmin", "westeurope")
    }
}

fn replica_of(primary: &str, vcores: u32) -> ServerSpec {
    ServerSpec { replica_of: Some(ServerName::new(primary)), ..spec(Tier::GeneralPurpose, vcores, 100) }
}

/// What a row asks of a backend.
enum Ask {
    Create(&'static str, ServerSpec),
    Update(&'static str, ServerPatch),
}

/// One refusal: the rule, and what breaks it.
struct Row {
    rule: Rule,
    ask: Ask,
}

/// The servers every backend holds before the rows run: a General Purpose primary `pri` with one
/// replica `rep-1`, a Basic server `bas`, and a primary `off-p` whose replication support is OFF.
fn rows() -> Vec<Row> {
    let create = |name, spec| Ask::Create(name, spec);
    let update = |name, patch| Ask::Update(name, patch);
    vec![
        Row { rule: Rule::InvalidServerName, ask: create("Bad_Name", spec(Tier::GeneralPurpose, 2, 100)) },
        Row {
            rule: Rule::InvalidAdminLogin,
            ask: create(
                "login-x",
                ServerSpec { admin_login: "admin".into(), ..spec(Tier::GeneralPurpose, 2, 100) },
            ),
        },
        Row { rule: Rule::SkuNotOffered, ask: create("sku-x", spec(Tier::Basic, 4, 100)) },
        Row { rule: Rule::StorageOutOfRange, ask: create("storage-x", spec(Tier::Basic, 2, 2000)) },
        Row {
            rule: Rule::RetentionOutOfRange,
            ask: create(
                "retention-x",
                ServerSpec { backup_retention_days: 40, ..spec(Tier::GeneralPurpose, 2, 100) },
            ),
        },
        Row {
            rule: Rule::GeoBackupNotOffered,
            ask: create("geo-x", ServerSpec { geo_redundant_backup: true, ..spec(Tier::Basic, 2, 100) }),
        },
        Row {
            rule: Rule::TlsWithoutSsl,
            ask: create(
                "tls-x",
                ServerSpec { minimal_tls_version: TlsVersion::Tls1_2, ..spec(Tier::GeneralPurpose, 2, 100) },
            ),
        },
        Row {
            rule: Rule::RetiredVersion,
            ask: create(
                "retired-x",
                ServerSpec { version: PgVersion::V9_6, ..spec(Tier::GeneralPurpose, 2, 100) },
            ),
        },
        Row { rule: Rule::ReplicaOfReplica, ask: create("chain-x", replica_of("rep-1", 4)) },
        Row { rule: Rule::ReplicaOnBasic, ask: create("basic-x", replica_of("bas", 4)) },
        Row { rule: Rule::ReplicaSmallerThanPrimary, ask: create("small-x", replica_of("pri", 2)) },
        Row { rule: Rule::ReplicationSupportOff, ask: create("off-x", replica_of("off-p", 4)) },
        Row {
            rule: Rule::TierChangeNotInPlace,
            ask: update(
                "pri",
                ServerPatch { tier: Some(Tier::Basic), vcores: Some(2), ..ServerPatch::default() },
            ),
        },
        Row {
            rule: Rule::StorageShrink,
            ask: update("pri", ServerPatch { storage_gb: Some(50), ..ServerPatch::default() }),
        },
        Row {
            rule: Rule::PrimaryLargerThanReplica,
            ask: update("pri", ServerPatch { vcores: Some(8), ..ServerPatch::default() }),
        },
        Row {
            rule: Rule::ReplicaSmallerThanPrimary,
            ask: update("rep-1", ServerPatch { vcores: Some(2), ..ServerPatch::default() }),
        },
        Row {
            rule: Rule::ReplicaAutogrowOff,
            ask: update("rep-1", ServerPatch { storage_autogrow: Some(false), ..ServerPatch::default() }),
        },
    ]
}

/// Runs every row against `provider` and returns, per row, the code it answered with.
async fn answers(provider: &dyn Provider) -> Vec<(Rule, Option<String>)> {
    let mut answers = Vec::new();
    for row in rows() {
        let result: Result<ObservedServer, ProviderError> = match row.ask {
            Ask::Create(name, spec) => {
                let admin_password = spec.replica_of.is_none().then(|| Redacted::new(PASSWORD.to_string()));
                provider.create(CreateRequest { name: ServerName::new(name), spec, admin_password }).await
            }
            Ask::Update(name, patch) => provider.update(&ServerName::new(name), &patch).await,
        };
        let code = match result {
            Ok(_) => None,
            Err(error) => {
                assert_eq!(error.kind, ProviderErrorKind::Refused, "{:?} answered {error}", row.rule);
                error.code
            }
        };
        answers.push((row.rule, code));
    }
    answers
}

fn assert_documented_codes(backend: &str, answers: &[(Rule, Option<String>)]) {
    for (rule, code) in answers {
        assert_eq!(code.as_deref(), Some(rule.code_str()), "{backend}: {rule:?} answered {code:?}");
    }
}

/// The fleet every backend starts from.
async fn seed(provider: &dyn Provider) {
    let create = |name: &str, spec: ServerSpec| {
        let admin_password = spec.replica_of.is_none().then(|| Redacted::new(PASSWORD.to_string()));
        CreateRequest { name: ServerName::new(name), spec, admin_password }
    };
    for (name, spec) in [
        ("pri", spec(Tier::GeneralPurpose, 4, 100)),
        ("bas", spec(Tier::Basic, 2, 100)),
        ("off-p", spec(Tier::GeneralPurpose, 4, 100)),
    ] {
        provider.create(create(name, spec)).await.unwrap_or_else(|error| panic!("create {name}: {error}"));
    }
    for name in ["pri", "off-p"] {
        let value = if name == "pri" { ReplicationSupport::Replica } else { ReplicationSupport::Off };
        let name = ServerName::new(name);
        provider.set_parameter(&name, ReplicationSupport::PARAMETER, value.as_str()).await.unwrap();
        provider.restart(&name).await.unwrap();
    }
    provider.create(create("rep-1", replica_of("pri", 4))).await.expect("create rep-1");
}

#[tokio::test]
async fn the_test_provider_answers_every_rule_with_its_documented_code() {
    let provider = TestProvider::new();
    seed(&provider).await;
    assert_documented_codes("test provider", &answers(&provider).await);
    assert_sixth_replica_refused(&provider).await;
}

/// A primary's replica count: with `rep-1` and four more, the sixth replica is refused.
async fn assert_sixth_replica_refused(provider: &dyn Provider) {
    for index in 2..=MAX_REPLICAS_PER_PRIMARY {
        let name = ServerName::new(format!("rep-{index}"));
        provider
            .create(CreateRequest { name, spec: replica_of("pri", 4), admin_password: None })
            .await
            .unwrap();
    }
    let sixth = CreateRequest {
        name: ServerName::new("rep-sixth"),
        spec: replica_of("pri", 4),
        admin_password: None,
    };
    let error = provider.create(sixth).await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some(Rule::TooManyReplicas.code_str()), "{error}");
}

#[tokio::test]
async fn the_local_provider_answers_every_rule_with_its_documented_code() {
    let harness = local_support::Harness::new(55_100);
    seed(&harness.provider).await;
    assert_documented_codes("local provider", &answers(&harness.provider).await);
    assert_sixth_replica_refused(&harness.provider).await;
}

#[tokio::test]
async fn the_emulator_answers_every_rule_with_its_documented_code_over_http() {
    let emulator = azure_common::emulator(pgfleet::emulator::FaultRates::default(), 7).await;
    let names = ["pri", "bas", "off-p", "rep-1", "rep-2", "rep-3", "rep-4", "rep-5", "rep-sixth"];
    let provider = azure_common::provider(&emulator, &names);
    seed(&provider).await;
    assert_documented_codes("emulator", &answers(&provider).await);
    assert_sixth_replica_refused(&provider).await;

    // What the provider never sends, straight on the wire: a version change in a PATCH, a
    // password change on a replica, a promote of a primary.
    let (client, token) = azure_common::raw_client(&emulator.base_url()).await;
    let patch = |name: &str, body: serde_json::Value| {
        client
            .patch(azure_common::server_url(&emulator.base_url(), name))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let wire_rows = [
        (Rule::CreateOnlyChange, "pri", serde_json::json!({ "properties": { "version": "10" } })),
        (
            Rule::PasswordChangeOnReplica,
            "rep-1",
            serde_json::json!({ "properties": { "administratorLoginPassword": "Another-Horse-7" } }),
        ),
        (Rule::NotAReplica, "pri", serde_json::json!({ "properties": { "replicationRole": "None" } })),
    ];
    for (rule, name, body) in wire_rows {
        let answer = patch(name, body).await.unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{rule:?}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], rule.code_str(), "{rule:?}: {body}");
    }
    emulator.shutdown().await;
}
