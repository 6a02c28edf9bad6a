//! Access tokens for ARM: a service principal (client-credentials flow, with a secret or, by
//! workload identity federation, with a token from GitHub Actions or Kubernetes as the client
//! assertion), the Azure CLI's token, or a managed identity, tried in that order; tokens are
//! cached until shortly before expiry.
//!
//! Why not the `azure_identity` crate: it brings a second HTTP stack and the whole
//! `azure_core`/typespec tree into a build that already has reqwest, and its credential chain
//! is tuned for the SDK's own pipeline. The client-credentials flow is one form POST
//! (DOMAIN.md §4.8), the CLI is one subprocess, and managed identity one GET, so doing them here
//! keeps the build small and lets tests point `AZURE_AUTHORITY_HOST` at the emulator.
//!
//! A token endpoint that is busy or failing (429, 5xx, a dropped connection) answers with a
//! retryable error, so the provider call that needed the token is retried by the command's one
//! retrying layer; a refused credential is `Unauthorized` and is not. Nothing here retries: the
//! fetch runs inside a provider call that the layer already retries, and a second loop here
//! would multiply the attempts.
//!
//! Must not: log, print or store a token or a secret (they stay in `Redacted`).

use crate::providers::{ProviderError, ProviderErrorKind};
use crate::secret::Redacted;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The scope of ARM tokens.
pub(crate) const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// What a token is for: its resource (`https://management.azure.com`), from which the scope
/// (`RESOURCE/.default`) and the resource the CLI and managed identity are asked for follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenResource {
    /// Azure Resource Manager: the provider's calls.
    Arm,
    /// Azure Storage: the azurerm state backend's blobs (`https://storage.azure.com/.default`).
    Storage,
}

impl TokenResource {
    fn resource(self) -> &'static str {
        match self {
            TokenResource::Arm => "https://management.azure.com",
            TokenResource::Storage => "https://storage.azure.com",
        }
    }

    /// The OAuth 2.0 scope (`https://storage.azure.com/.default`).
    pub(crate) fn scope(self) -> &'static str {
        match self {
            TokenResource::Arm => ARM_SCOPE,
            TokenResource::Storage => "https://storage.azure.com/.default",
        }
    }
}

/// The default authority host (`AZURE_AUTHORITY_HOST` overrides it).
pub(crate) const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// Tokens are renewed this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(120);

/// Where tokens come from.
#[derive(Debug, Clone)]
pub enum Credential {
    /// OAuth 2.0 client credentials: `POST {authority}/{tenant}/oauth2/v2.0/token`.
    ServicePrincipal(ServicePrincipal),
    /// Workload identity federation: client credentials whose assertion is a token the workload's
    /// own issuer signed (GitHub Actions' OIDC token, a Kubernetes service account token).
    WorkloadIdentity(WorkloadIdentity),
    /// `az account get-access-token`.
    AzureCli,
    /// The managed identity endpoint (App Service's `IDENTITY_ENDPOINT`, else IMDS).
    ManagedIdentity,
    /// The Azure CLI, then the managed identity: what [`Credential::from_environment`] chooses
    /// when no service principal is configured.
    CliThenManagedIdentity,
}

/// A service principal's client-credentials settings.
#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    /// `https://login.microsoftonline.com`, or the emulator.
    pub authority_host: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Redacted<String>,
}

/// A federated workload's client-credentials settings.
#[derive(Debug, Clone)]
pub struct WorkloadIdentity {
    pub authority_host: String,
    pub tenant_id: String,
    pub client_id: String,
    pub assertion: AssertionSource,
}

/// Where the workload's own token (the client assertion) comes from. It is read again for
/// every access token: both issuers rotate it.
#[derive(Debug, Clone)]
pub enum AssertionSource {
    /// `AZURE_FEDERATED_TOKEN_FILE` (Kubernetes workload identity, or a file a CI step wrote).
    File(std::path::PathBuf),
    /// GitHub Actions' OIDC endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`, with the bearer
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`), asked for the audience Entra ID expects.
    GitHubActions { request_url: String, request_token: Redacted<String> },
}

/// The audience of a federated token that Entra ID exchanges.
const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

impl Credential {
    /// The credential the environment configures, first match wins:
    /// - a service principal when `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
    ///   `AZURE_CLIENT_SECRET` are all set;
    /// - workload identity federation when `AZURE_TENANT_ID` and `AZURE_CLIENT_ID` are set with
    ///   `AZURE_FEDERATED_TOKEN_FILE`, or inside a GitHub Actions job granted `id-token: write`
    ///   (`ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`);
    /// - else the CLI, then the managed identity.
    ///
    /// The authority is `AZURE_AUTHORITY_HOST` when set.
    pub fn from_environment() -> Credential {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let authority_host =
            || var("AZURE_AUTHORITY_HOST").unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_string());
        let (Some(tenant_id), Some(client_id)) = (var("AZURE_TENANT_ID"), var("AZURE_CLIENT_ID")) else {
            return Credential::CliThenManagedIdentity;
        };
        if let Some(secret) = var("AZURE_CLIENT_SECRET") {
            return Credential::ServicePrincipal(ServicePrincipal {
                authority_host: authority_host(),
                tenant_id,
                client_id,
                client_secret: Redacted::new(secret),
            });
        }
        let assertion = match (
            var("AZURE_FEDERATED_TOKEN_FILE"),
            var("ACTIONS_ID_TOKEN_REQUEST_URL"),
            var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ) {
            (Some(file), _, _) => AssertionSource::File(file.into()),
            (None, Some(request_url), Some(token)) => {
                AssertionSource::GitHubActions { request_url, request_token: Redacted::new(token) }
            }
            _ => return Credential::CliThenManagedIdentity,
        };
        Credential::WorkloadIdentity(WorkloadIdentity {
            authority_host: authority_host(),
            tenant_id,
            client_id,
            assertion,
        })
    }
}

/// A token and when it stops being usable.
#[derive(Clone)]
struct CachedToken {
    token: Redacted<String>,
    renew_at: Instant,
}

/// Hands out bearer tokens, fetching a new one only when the cached one is about to expire.
pub(crate) struct TokenCache {
    credential: Credential,
    /// What the tokens are for.
    resource: TokenResource,
    http: reqwest::Client,
    cached: Mutex<Option<CachedToken>>,
}

/// The token endpoint's answer (client credentials and managed identity).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// The CLI's answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CliToken {
    access_token: String,
    #[serde(default, rename = "expires_on")]
    expires_on: Option<i64>,
}

fn auth_error(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Unauthorized, message)
}

impl TokenCache {
    /// Hands out ARM tokens.
    pub fn new(credential: Credential, http: reqwest::Client) -> TokenCache {
        TokenCache::for_resource(credential, TokenResource::Arm, http)
    }

    /// Hands out tokens for `resource`.
    pub(crate) fn for_resource(
        credential: Credential,
        resource: TokenResource,
        http: reqwest::Client,
    ) -> TokenCache {
        TokenCache { credential, resource, http, cached: Mutex::new(None) }
    }

    /// A bearer token for the cache's resource.
    ///
    /// # Errors
    /// `Unauthorized` when no credential yields a token; `Throttled` or `ServerError` when the
    /// token endpoint is busy or failing; `Unavailable` when the token endpoint
    /// cannot be reached.
    pub async fn token(&self) -> Result<Redacted<String>, ProviderError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        let renew_at = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
        *cached = Some(CachedToken { token: token.clone(), renew_at });
        tracing::debug!(
            lifetime_seconds = lifetime.as_secs(),
            resource = self.resource.resource(),
            "acquired an access token"
        );
        Ok(token)
    }

    async fn fetch(&self) -> Result<(Redacted<String>, Duration), ProviderError> {
        match &self.credential {
            Credential::ServicePrincipal(principal) => {
                let secret = principal.client_secret.expose();
                let form = [("client_secret", secret.as_str())];
                self.client_credentials(&principal.authority_host, &principal.tenant_id, &principal.client_id, &form)
                    .await
            }
            Credential::WorkloadIdentity(workload) => {
                let assertion = self.federated_assertion(&workload.assertion).await?;
                let form = [
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", assertion.expose().as_str()),
                ];
                self.client_credentials(&workload.authority_host, &workload.tenant_id, &workload.client_id, &form)
                    .await
            }
            Credential::AzureCli => azure_cli_token(self.resource).await,
            Credential::ManagedIdentity => self.managed_identity().await,
            Credential::CliThenManagedIdentity => match azure_cli_token(self.resource).await {
                Ok(token) => Ok(token),
                Err(cli_error) => self.managed_identity().await.map_err(|identity_error| {
                    auth_error(format!(
                        "no Azure credential: set AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET \
                         or AZURE_FEDERATED_TOKEN_FILE, or log in with `az login` ({cli_error}); managed identity: {identity_error}"
                    ))
                }),
            },
        }
    }

    /// The client-credentials flow, proving the client with `proof` (a secret or an assertion).
    async fn client_credentials(
        &self,
        authority_host: &str,
        tenant_id: &str,
        client_id: &str,
        proof: &[(&str, &str)],
    ) -> Result<(Redacted<String>, Duration), ProviderError> {
        let url = format!("{}/{tenant_id}/oauth2/v2.0/token", authority_host.trim_end_matches('/'));
        let mut form = vec![("grant_type", "client_credentials"), ("client_id", client_id)];
        form.extend_from_slice(proof);
        form.push(("scope", self.resource.scope()));
        let body = serde_urlencoded_form(&form);
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                ProviderError::new(ProviderErrorKind::Unavailable, format!("token endpoint: {e}"))
            })?;
        read_token_response(response).await
    }

    /// The workload's own token, read afresh.
    async fn federated_assertion(&self, source: &AssertionSource) -> Result<Redacted<String>, ProviderError> {
        match source {
            AssertionSource::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    auth_error(format!("cannot read AZURE_FEDERATED_TOKEN_FILE {}: {e}", path.display()))
                })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(auth_error(format!(
                        "AZURE_FEDERATED_TOKEN_FILE {} is empty",
                        path.display()
                    )));
                }
                Ok(Redacted::new(token.to_string()))
            }
            AssertionSource::GitHubActions { request_url, request_token } => {
                #[derive(Deserialize)]
                struct GitHubToken {
                    value: String,
                }
                let response = self
                    .http
                    .get(request_url)
                    .query(&[("audience", FEDERATED_AUDIENCE)])
                    .bearer_auth(request_token.expose())
                    .send()
                    .await
                    .map_err(|e| {
                        ProviderError::new(
                            ProviderErrorKind::Unavailable,
                            format!("GitHub's OIDC endpoint: {e}"),
                        )
                    })?;
                let status = response.status();
                if !status.is_success() {
                    return Err(token_status_error(status, "github_oidc", None));
                }
                let token: GitHubToken = response
                    .json()
                    .await
                    .map_err(|_| auth_error("GitHub's OIDC endpoint did not answer with a token"))?;
                Ok(Redacted::new(token.value))
            }
        }
    }

    async fn managed_identity(&self) -> Result<(Redacted<String>, Duration), ProviderError> {
        let resource = format!("{}/", self.resource.resource());
        let request = match (std::env::var("IDENTITY_ENDPOINT"), std::env::var("IDENTITY_HEADER")) {
            (Ok(endpoint), Ok(header)) => self
                .http
                .get(format!("{endpoint}?api-version=2019-08-01&resource={resource}"))
                .header("X-IDENTITY-HEADER", header),
            _ => self
                .http
                .get(format!(
                    "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource={resource}"
                ))
                .header("Metadata", "true"),
        };
        let response = request
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| auth_error(format!("managed identity endpoint: {e}")))?;
        read_token_response(response).await
    }
}

/// Encodes a form body (`application/x-www-form-urlencoded`).
fn serde_urlencoded_form(fields: &[(&str, &str)]) -> String {
    fn encode(text: &str) -> String {
        let mut out = String::new();
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(byte as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{byte:02X}")),
            }
        }
        out
    }
    fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

async fn read_token_response(
    response: reqwest::Response,
) -> Result<(Redacted<String>, Duration), ProviderError> {
    let status = response.status();
    let retry_after = super::client::retry_after(response.headers());
    let text = response
        .text()
        .await
        .map_err(|e| ProviderError::new(ProviderErrorKind::Unavailable, format!("token endpoint: {e}")))?;
    if !status.is_success() {
        // The error body names the problem (`error`, `error_description`); it holds no secret.
        let detail: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let code = detail["error"].as_str().unwrap_or("unknown_error");
        return Err(token_status_error(status, code, retry_after));
    }
    let parsed: TokenResponse =
        serde_json::from_str(&text).map_err(|_| auth_error("the token endpoint's answer is not a token"))?;
    let seconds = match parsed.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(300),
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(300),
        _ => 300,
    };
    Ok((Redacted::new(parsed.access_token), Duration::from_secs(seconds)))
}

/// The error of a token endpoint's non-2xx answer: busy or failing (429, 5xx) is retryable, as
/// for ARM itself; anything else is the credential's fault.
fn token_status_error(
    status: reqwest::StatusCode,
    code: &str,
    retry_after: Option<Duration>,
) -> ProviderError {
    let kind = match status.as_u16() {
        429 => ProviderErrorKind::Throttled,
        408 => ProviderErrorKind::Timeout,
        500..=599 => ProviderErrorKind::ServerError,
        _ => {
            return auth_error(format!("the token endpoint refused the credential: {status} {code}"));
        }
    };
    let mut error = ProviderError::new(kind, format!("the token endpoint answered {status} {code}"));
    error.retry_after = retry_after;
    error
}

async fn azure_cli_token(resource: TokenResource) -> Result<(Redacted<String>, Duration), ProviderError> {
    let mut command = tokio::process::Command::new("az");
    // Like every child tool: out of reach of the terminal's Ctrl-C (pgfleet decides what an
    // interrupt stops), and gone with pgfleet.
    command.kill_on_drop(true);
    crate::pgtools::end_with_pgfleet(&mut command, crate::pgtools::Descendants::EndWithTool);
    let output = command
        .args([
            "account",
            "get-access-token",
            "--resource",
            &format!("{}/", resource.resource()),
            "--output",
            "json",
        ])
        .output()
        .await
        .map_err(|e| auth_error(format!("cannot run the Azure CLI: {e}")))?;
    if !output.status.success() {
        return Err(auth_error("`az account get-access-token` failed; run `az login`"));
    }
    let token: CliToken = serde_json::from_slice(&output.stdout)
        .map_err(|_| auth_error("the Azure CLI's answer is not a token"))?;
    let now = chrono::Utc::now().timestamp();
    let seconds = token.expires_on.map(|at| (at - now).max(0)).unwrap_or(300);
    Ok((Redacted::new(token.access_token), Duration::from_secs(seconds.unsigned_abs())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_tokens_ask_for_the_storage_scope_and_resource() {
        assert_eq!(TokenResource::Storage.scope(), "https://storage.azure.com/.default");
        assert_eq!(TokenResource::Storage.resource(), "https://storage.azure.com");
        assert_eq!(TokenResource::Arm.scope(), ARM_SCOPE);
    }

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        let body = serde_urlencoded_form(&[("scope", ARM_SCOPE), ("client_secret", "a b&c=d")]);
        assert_eq!(body, "scope=https%3A%2F%2Fmanagement.azure.com%2F.default&client_secret=a+b%26c%3Dd");
    }

    /// A 503 from the token endpoint is retried by the layer around the provider call; a
    /// refused credential is not.
    #[test]
    fn a_busy_token_endpoint_is_retryable_and_a_refusal_is_not() {
        use reqwest::StatusCode;
        let unavailable =
            token_status_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", None);
        assert_eq!(unavailable.kind, ProviderErrorKind::ServerError);
        let throttled = token_status_error(StatusCode::TOO_MANY_REQUESTS, "x", Some(Duration::from_secs(3)));
        assert!(throttled.is_retryable());
        assert_eq!(throttled.retry_after, Some(Duration::from_secs(3)));
        let refused = token_status_error(StatusCode::BAD_REQUEST, "invalid_client", None);
        assert_eq!(refused.kind, ProviderErrorKind::Unauthorized);
        assert!(!refused.is_retryable());
    }

    #[test]
    fn credentials_never_print_the_secret() {
        let credential = Credential::ServicePrincipal(ServicePrincipal {
            authority_host: DEFAULT_AUTHORITY_HOST.into(),
            tenant_id: "t".into(),
            client_id: "c".into(),
            client_secret: Redacted::new("very-secret".into()),
        });
        assert!(!format!("{credential:?}").contains("very-secret"));
    }
}
