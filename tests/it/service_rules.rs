//! One table of refusals, driven through every backend that enforces the service's rules: the
//! in-process test provider, the `local` provider (real PostgreSQL clusters on 127.0.0.1) and
//! the ARM emulator over HTTP (through the `azure` provider, and raw requests for what the
//! provider never sends). Each row asserts the rule's documented code (`rules::Rule::code`,
//! listed in docs/service-rules.md) from each backend, so one rule cannot answer with two codes.
//! The validator answers the rows a fleet file alone can break (every create), through
//! `config::parse`, with each diagnostic naming the rule it reports.

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

/// The seed fleet and one more server as a fleet file (the servers that `seed` creates).
fn fleet_file(extra: Option<(&str, &ServerSpec)>) -> String {
    let mut text = String::from(
        "[fleet]\nname = \"rules\"\n\n[provider]\nkind = \"local\"\n\n[defaults]\n\
         admin_password = { env = \"PGFLEET_ADMIN_PASSWORD\" }\n",
    );
    let seeded = [
        ("pri", spec(Tier::GeneralPurpose, 4, 100)),
        ("bas", spec(Tier::Basic, 2, 100)),
        ("off-p", spec(Tier::GeneralPurpose, 4, 100)),
        ("rep-1", replica_of("pri", 4)),
    ];
    let servers = seeded.iter().map(|(name, spec)| (*name, spec)).chain(extra);
    for (name, spec) in servers {
        text.push_str(&format!(
            "\n[servers.\"{name}\"]\ntier = \"{}\"\ngeneration = \"{}\"\nvcores = {}\nstorage_gb = {}\n\
             version = \"{}\"\nbackup_retention_days = {}\ngeo_redundant_backup = {}\n\
             storage_autogrow = {}\nssl_enforcement = {}\nminimal_tls_version = \"{}\"\n\
             admin_login = \"{}\"\nlocation = \"{}\"\n",
            spec.tier,
            spec.generation,
            spec.vcores,
            spec.storage_gb,
            spec.version,
            spec.backup_retention_days,
            spec.geo_redundant_backup,
            spec.storage_autogrow,
            spec.ssl_enforcement,
            spec.minimal_tls_version,
            spec.admin_login,
            spec.location,
        ));
        if let Some(primary) = &spec.replica_of {
            text.push_str(&format!("replica_of = \"{primary}\"\n"));
        }
    }
    text
}

/// The rules a fleet file alone can break are reported by the validator, each diagnostic
/// naming the rule (and so the code every backend answers with).
#[test]
fn the_validator_reports_every_rule_a_fleet_file_can_break() {
    let path = std::path::Path::new("rules.toml");
    let (_, warnings) =
        pgfleet::config::parse(path, fleet_file(None).as_bytes()).expect("the seed fleet is valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    // What needs live servers (replication support in force) is not the validator's to see.
    let rows = rows().into_iter().filter(|row| row.rule != Rule::ReplicationSupportOff);
    let mut checked = 0;
    for row in rows {
        let Ask::Create(name, spec) = row.ask else { continue };
        let diagnostics = match pgfleet::config::parse(path, fleet_file(Some((name, &spec))).as_bytes()) {
            Ok((_, warnings)) => warnings,
            Err(errors) => errors.0,
        };
        assert!(
            diagnostics.iter().any(|diagnostic| diagnostic.rule == Some(row.rule)),
            "validator: {:?} not reported: {diagnostics:#?}",
            row.rule
        );
        checked += 1;
    }
    assert_eq!(checked, 11);
    // Six replicas of one primary.
    let mut text = fleet_file(None);
    for index in 2..=MAX_REPLICAS_PER_PRIMARY + 1 {
        text.push_str(&format!(
            "\n[servers.rep-{index}]\ntier = \"GeneralPurpose\"\nvcores = 4\nstorage_gb = 100\nversion = \"11\"\n\
             ssl_enforcement = false\nminimal_tls_version = \"TLSEnforcementDisabled\"\n\
             admin_login = \"fleetadmin\"\nreplica_of = \"pri\"\n"
        ));
    }
    let errors = pgfleet::config::parse(path, text.as_bytes()).expect_err("six replicas are refused").0;
    assert!(errors.iter().any(|error| error.rule == Some(Rule::TooManyReplicas)), "{errors:#?}");
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

    // What the provider never sends, straight on the wire: a create-only field or a lower
    // version in a PATCH, a password change on a replica, a promote of a primary.
    let (client, token) = azure_common::raw_client(&emulator.base_url()).await;
    let patch = |name: &str, body: serde_json::Value| {
        client
            .patch(azure_common::server_url(&emulator.base_url(), name))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let wire_rows = [
        (
            Rule::CreateOnlyChange,
            "pri",
            serde_json::json!({ "properties": { "storageProfile": { "geoRedundantBackup": "Enabled" } } }),
        ),
        (Rule::VersionDowngrade, "pri", serde_json::json!({ "properties": { "version": "10" } })),
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
