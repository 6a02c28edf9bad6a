//! The emulator's stand-in for Microsoft Entra ID, enough for pgfleet and for azure-identity
//! (MSAL) unmodified: the client-credentials token endpoint (a client secret or a client
//! assertion, for either ARM scope), the OpenID configuration of a tenant
//! (`/{tenant}/v2.0/.well-known/openid-configuration`) and MSAL's instance discovery
//! (`/common/discovery/instance`), all pointing back at the emulator; and the `WWW-Authenticate`
//! challenge of ARM's 401s.
//!
//! These paths take no bearer token, are not throttled and never log a body (a token request
//! carries a secret); injected faults reach them as an OAuth endpoint's (see `gate`).
//!
//! Must not: issue a token for any other scope or grant, or accept a token it did not issue.

use super::Shared;
use super::store::ApiError;
use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The scopes of ARM a token may be asked for: Azure Resource Manager's, and the classic
/// management endpoint's that the Azure CLI and older SDKs ask for (its double slash is ARM's).
pub(crate) const ARM_SCOPES: &[&str] = &[
    "https://management.azure.com/.default",
    "https://management.azure.com//.default",
    "https://management.core.windows.net//.default",
    "https://management.core.windows.net/.default",
];

/// OpenID scopes MSAL may add to a request beside the resource's.
const OPENID_SCOPES: &[&str] = &["openid", "profile", "offline_access"];

/// Whether a path is one of the identity endpoints (no bearer, no throttling, no body logged).
pub(crate) fn is_identity_path(path: &str) -> bool {
    path.ends_with("/oauth2/v2.0/token")
        || path.ends_with("/v2.0/.well-known/openid-configuration")
        || path == "/common/discovery/instance"
}

/// The identity routes.
pub(crate) fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(openid_configuration))
        .route("/common/discovery/instance", get(instance_discovery))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

/// `POST /{tenant}/oauth2/v2.0/token`: a client-credentials grant with a client secret or a
/// client assertion (workload identity federation), for an ARM scope.
async fn token(
    Path(_tenant): Path<String>,
    State(shared): State<Arc<Shared>>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let scopes: Vec<&str> = field("scope").split_whitespace().collect();
    let for_arm = scopes.iter().any(|scope| ARM_SCOPES.contains(scope))
        && scopes.iter().all(|scope| ARM_SCOPES.contains(scope) || OPENID_SCOPES.contains(scope));
    let has_secret = !field("client_secret").is_empty();
    let has_assertion = !field("client_assertion").is_empty() && !field("client_assertion_type").is_empty();
    let problem = if field("grant_type") != "client_credentials" {
        Some("unsupported_grant_type")
    } else if !for_arm {
        Some("invalid_scope")
    } else if field("client_id").is_empty() || !(has_secret || has_assertion) {
        Some("invalid_client")
    } else {
        None
    };
    if let Some(error) = problem {
        return oauth_error(StatusCode::BAD_REQUEST, error, &format!("{error}: the request was refused"));
    }
    let token = shared.issue_token();
    Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}))
        .into_response()
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`: where MSAL finds the token endpoint.
async fn openid_configuration(Path(tenant): Path<String>, State(shared): State<Arc<Shared>>) -> Response {
    let base = shared.base_url();
    let at = |path: &str| format!("{base}/{tenant}{path}");
    Json(json!({
        "token_endpoint": at("/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": at("/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": at("/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": at("/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": at("/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": at("/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid"],
        "tenant_region_scope": null,
        "cloud_instance_name": "pgfleet.emulator",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    }))
    .into_response()
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`: MSAL's instance
/// discovery. Any authority on this machine is known; its tenant's OpenID configuration is the
/// emulator's.
async fn instance_discovery(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(endpoint) = query.get("authorization_endpoint") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request must name an authorization_endpoint.",
        );
    };
    // https://HOST[:PORT]/TENANT/oauth2/v2.0/authorize
    let tenant = endpoint
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').nth(1))
        .filter(|tenant| !tenant.is_empty());
    let Some(tenant) = tenant else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_instance",
            "The authorization_endpoint names no tenant.",
        );
    };
    let base = shared.base_url();
    let host = base.split_once("://").map_or(base, |(_, host)| host);
    Json(json!({
        "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host, "127.0.0.1", "localhost"],
        }],
    }))
    .into_response()
}

/// ARM's 401: `AuthenticationFailed` without an `Authorization` header, else
/// `InvalidAuthenticationToken`, with the `WWW-Authenticate` challenge naming the authority.
pub(crate) fn unauthorized(shared: &Shared, header_present: bool) -> Response {
    let (error, description) = if header_present {
        (
            ApiError::new(401, "InvalidAuthenticationToken", "The access token is invalid."),
            "The access token is invalid.",
        )
    } else {
        (
            ApiError::new(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            ),
            "The authentication failed because of missing 'Authorization' header.",
        )
    };
    let mut response = error.into_response();
    let challenge = format!(
        "Bearer authorization_uri=\"{}/\", error=\"invalid_token\", error_description=\"{description}\"",
        shared.base_url()
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert("www-authenticate", value);
    }
    response
}
