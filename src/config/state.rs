//! `[state]`: which backend keeps the fleet's state, and that backend's settings checked and
//! completed (the blob's default name, the Blob service's default URL, the default schema).
//! Only what the file alone can tell is checked here: nothing connects to a backend, and no
//! secret is read (access keys and connection strings are references, read when a command
//! opens the state).

use super::finding::{Anchor, Finding, key_path};
use super::model::{AzurermStateSettings, PgStateSettings, SecretRef, StateSettings};
use super::raw::{self, RawSecret, RawState, RawStateAzurerm, RawStatePg, StateBackendKind};

/// The `[state]` section with its defaults filled in; `fleet` names the default blob. A section
/// of a backend that is not chosen is a warning (it is not read), not an error.
pub(crate) fn check_state(state: Option<&RawState>, fleet: &str) -> (Option<StateSettings>, Vec<Finding>) {
    let Some(state) = state else { return (Some(StateSettings::Local), Vec::new()) };
    let backend = state.backend.unwrap_or(StateBackendKind::Local);
    let mut findings = Vec::new();
    let unused = [
        ("azurerm", state.azurerm.is_some() && backend != StateBackendKind::Azurerm),
        ("pg", state.pg.is_some() && backend != StateBackendKind::Pg),
    ];
    for (section, _) in unused.iter().filter(|(_, unused)| *unused) {
        let kind = backend_name(backend);
        findings.push(
            Finding::error(
                key_path(&["state", section]),
                Anchor::Key,
                format!("this table is not read: the backend is \"{kind}\""),
            )
            .with_hint(format!(
                "set backend = \"{section}\" in [state] to keep the state there, or remove [state.{section}]"
            ))
            .warning(),
        );
    }
    let settings = match backend {
        StateBackendKind::Local => Some(StateSettings::Local),
        StateBackendKind::Azurerm => match &state.azurerm {
            Some(azurerm) => check_azurerm(azurerm, fleet, &mut findings).map(StateSettings::Azurerm),
            None => {
                findings.push(missing_section("azurerm", "account and container"));
                None
            }
        },
        StateBackendKind::Pg => match &state.pg {
            Some(pg) => check_pg(pg, &mut findings).map(StateSettings::Pg),
            None => {
                findings.push(missing_section("pg", "conn_str = { env = \"PGFLEET_STATE_PG\" }"));
                None
            }
        },
    };
    (settings, findings)
}

fn backend_name(backend: StateBackendKind) -> &'static str {
    match backend {
        StateBackendKind::Local => "local",
        StateBackendKind::Azurerm => "azurerm",
        StateBackendKind::Pg => "pg",
    }
}

fn missing_section(section: &str, keys: &str) -> Finding {
    Finding::error(
        key_path(&["state", "backend"]),
        Anchor::Value,
        format!("backend is \"{section}\" but there is no [state.{section}] table"),
    )
    .with_path(format!("state.{section}"))
    .with_hint(format!("add [state.{section}] with {keys}"))
}

/// `[state.azurerm]`: names as Azure Storage accepts them, an http(s) endpoint.
fn check_azurerm(
    azurerm: &RawStateAzurerm,
    fleet: &str,
    findings: &mut Vec<Finding>,
) -> Option<AzurermStateSettings> {
    let before = findings.len();
    let at = |key: &str| key_path(&["state", "azurerm", key]);
    let account = &azurerm.account;
    let account_ok = (3..=24).contains(&account.len())
        && account.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !account_ok {
        findings.push(
            Finding::error(at("account"), Anchor::Value, format!("{account:?} is not a storage account name"))
                .with_hint("a storage account's name is 3–24 lowercase letters and digits (for example \"tfstatepayments\")"),
        );
    }
    let container = &azurerm.container;
    let container_ok = (3..=63).contains(&container.len())
        && container.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !container.starts_with('-')
        && !container.ends_with('-')
        && !container.contains("--");
    if !container_ok {
        findings.push(
            Finding::error(at("container"), Anchor::Value, format!("{container:?} is not a blob container name"))
                .with_hint(
                    "a container's name is 3–63 lowercase letters, digits and single hyphens, starting and ending \
                     with a letter or digit (for example \"pgfleet\")",
                ),
        );
    }
    let key = azurerm.key.clone().unwrap_or_else(|| format!("{fleet}.state.json"));
    // The journal, backup and lock blobs add up to 8 characters to the state blob's name.
    let key_ok = !key.is_empty()
        && key.len() <= 1000
        && !key.ends_with(['/', '.'])
        && !key.starts_with('/')
        && !key.chars().any(|c| c.is_control() || c == '\\');
    if !key_ok {
        findings.push(
            Finding::error(at("key"), Anchor::Value, format!("{key:?} cannot name the state blob"))
                .with_hint(
                    "use 1–1000 characters, without a backslash, not starting with '/' nor ending with '/' or '.' \
                     (for example \"payments.state.json\")",
                ),
        );
    }
    let endpoint = match &azurerm.endpoint {
        Some(endpoint) => endpoint.trim_end_matches('/').to_string(),
        None => format!("https://{account}.blob.core.windows.net"),
    };
    let host = endpoint.strip_prefix("https://").or_else(|| endpoint.strip_prefix("http://"));
    if host.is_none_or(|host| host.is_empty() || host.starts_with('/') || host.contains(['?', '#'])) {
        findings.push(
            Finding::error(at("endpoint"), Anchor::Value, format!("{endpoint:?} is not an http(s) URL"))
                .with_hint(format!(
                    "leave it out for https://{account}.blob.core.windows.net, or write Azurite's \
                     \"http://127.0.0.1:10000/devstoreaccount1\""
                )),
        );
    }
    (findings.len() == before).then(|| AzurermStateSettings {
        account: account.clone(),
        container: container.clone(),
        key,
        access_key: azurerm.access_key.as_ref().map(secret_ref),
        endpoint,
    })
}

/// `[state.pg]`: a schema name pgfleet can create and quote without surprises.
fn check_pg(pg: &RawStatePg, findings: &mut Vec<Finding>) -> Option<PgStateSettings> {
    let schema = pg.schema.clone().unwrap_or_else(|| raw::DEFAULT_STATE_SCHEMA.to_string());
    let mut characters = schema.chars();
    let schema_ok = schema.len() <= 63
        && characters.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && characters.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with("pg_");
    if !schema_ok {
        findings.push(
            Finding::error(
                key_path(&["state", "pg", "schema"]),
                Anchor::Value,
                format!("{schema:?} cannot name the state's schema"),
            )
            .with_hint(format!(
                "use up to 63 lowercase letters, digits and '_', starting with a letter or '_' and not with \
                 \"pg_\" (for example \"{}\")",
                raw::DEFAULT_STATE_SCHEMA
            )),
        );
        return None;
    }
    Some(PgStateSettings { conn_str: secret_ref(&pg.conn_str), schema })
}

fn secret_ref(secret: &RawSecret) -> SecretRef {
    match secret {
        RawSecret::Env(name) => SecretRef::Env(name.clone()),
        RawSecret::File(path) => SecretRef::File(path.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn azurerm(account: &str, container: &str, key: Option<&str>, endpoint: Option<&str>) -> RawState {
        RawState {
            backend: Some(StateBackendKind::Azurerm),
            azurerm: Some(RawStateAzurerm {
                account: account.into(),
                container: container.into(),
                key: key.map(Into::into),
                access_key: Some(RawSecret::Env("AZURE_STORAGE_KEY".into())),
                endpoint: endpoint.map(Into::into),
            }),
            pg: None,
        }
    }

    fn paths(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|finding| finding.path.as_str()).collect()
    }

    #[test]
    fn no_state_section_is_the_local_file() {
        assert_eq!(check_state(None, "payments"), (Some(StateSettings::Local), Vec::new()));
    }

    #[test]
    fn azurerm_defaults_the_blob_and_the_endpoint() {
        let (settings, findings) = check_state(Some(&azurerm("tfstate1", "pgfleet", None, None)), "payments");
        assert!(findings.is_empty(), "{findings:?}");
        let Some(StateSettings::Azurerm(settings)) = settings else { panic!("{settings:?}") };
        assert_eq!(settings.key, "payments.state.json");
        assert_eq!(settings.endpoint, "https://tfstate1.blob.core.windows.net");
        assert_eq!(settings.access_key, Some(SecretRef::Env("AZURE_STORAGE_KEY".into())));
    }

    #[test]
    fn azurerm_names_azure_refuses_are_each_reported() {
        let state = azurerm("Tf-State", "-bad--name", Some("dir/"), Some("ftp://x"));
        let (settings, findings) = check_state(Some(&state), "payments");
        assert_eq!(settings, None);
        assert_eq!(
            paths(&findings),
            [
                "state.azurerm.account",
                "state.azurerm.container",
                "state.azurerm.key",
                "state.azurerm.endpoint"
            ]
        );
        assert!(findings.iter().all(|finding| finding.hint.is_some()));
    }

    #[test]
    fn a_chosen_backend_without_its_table_and_an_unread_table_are_reported() {
        let state =
            RawState { backend: Some(StateBackendKind::Pg), ..azurerm("tfstate1", "pgfleet", None, None) };
        let (settings, findings) = check_state(Some(&state), "payments");
        assert_eq!(settings, None);
        assert_eq!(paths(&findings), ["state.azurerm", "state.pg"]);
        assert_eq!(findings[0].severity, super::super::Severity::Warning);
        assert_eq!(findings[1].message, "backend is \"pg\" but there is no [state.pg] table");
    }

    #[test]
    fn pg_schemas_must_be_plain_identifiers() {
        for (schema, ok) in
            [("pgfleet_state", true), ("_x1", true), ("Bad", false), ("pg_x", false), ("1a", false)]
        {
            let state = RawState {
                backend: Some(StateBackendKind::Pg),
                azurerm: None,
                pg: Some(RawStatePg { conn_str: RawSecret::Env("PG".into()), schema: Some(schema.into()) }),
            };
            let (settings, findings) = check_state(Some(&state), "payments");
            assert_eq!(settings.is_some(), ok, "{schema}: {findings:?}");
        }
    }
}
