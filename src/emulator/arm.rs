//! What ARM itself does in front of every resource provider, for every route of the emulator:
//! paths matched case-insensitively (their fixed segments rewritten to one spelling before
//! routing), the api-version checked against the resource type's, a JSON `CloudError` body on
//! every error (unknown paths and methods included), and the request-id headers on every answer.
//!
//! Two tables make a new resource type known: [`SEGMENTS`] (the fixed segments of its paths, in
//! ARM's spelling) and [`API_VERSIONS`] (what it serves).
//!
//! Must not: know a resource's rules or state (the handlers and stores do).

use super::store::ApiError;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The fixed segments of every path the emulator serves, in ARM's spelling: the namespaces,
/// resource types, child types and actions. A request's segments at those positions (not the
/// names between them) are matched case-insensitively and rewritten to this spelling before
/// routing, so `resourcegroups`, `microsoft.dbforpostgresql` and `replicas` reach the routes
/// written as `resourceGroups`, `Microsoft.DBforPostgreSQL` and `Replicas`. A route whose fixed
/// segment is missing here is reached only when the client spells it exactly.
pub(crate) const SEGMENTS: &[&str] = &[
    // ARM and Microsoft.Resources.
    "subscriptions",
    "resourceGroups",
    "providers",
    "operationResults",
    "Microsoft.Resources",
    // Microsoft.DBforPostgreSQL, at subscription and location level.
    "Microsoft.DBforPostgreSQL",
    "locations",
    "azureAsyncOperation",
    "performanceTiers",
    "checkNameAvailability",
    "operations",
    // Single Server (`servers`) and its children and actions.
    "servers",
    "Replicas",
    "restart",
    "configurations",
    "firewallRules",
    "databases",
    "logFiles",
    "virtualNetworkRules",
    "securityAlertPolicies",
    // Flexible Server (`flexibleServers`): the children and actions Single Server lacks.
    "flexibleServers",
    "administrators",
    "capabilities",
];

/// Single Server's api-versions (the stable one and its preview).
const SINGLE_SERVER: &[&str] = &["2017-12-01", "2017-12-01-preview"];

/// Flexible Server's api-version (the latest GA).
const FLEXIBLE_SERVER: &[&str] = &[crate::providers::azure::flexible_wire::API_VERSION];

/// Microsoft.Resources' api-versions the emulator serves for resource groups: those the
/// current SDKs and CLIs send (azure-mgmt-resource, az, Terraform's azurerm).
const RESOURCES: &[&str] = &[
    "2025-04-01",
    "2025-03-01",
    "2024-11-01",
    "2024-07-01",
    "2024-03-01",
    "2023-07-01",
    "2022-09-01",
    "2021-04-01",
    "2021-01-01",
    "2020-10-01",
    "2020-06-01",
    "2019-10-01",
    "2019-08-01",
    "2019-07-01",
    "2019-05-10",
    "2019-05-01",
    "2018-05-01",
];

/// The api-versions each resource type (`Namespace/type`, the first type after the namespace)
/// serves. A type may have several rows (one per service that serves it); their versions add
/// up. A path whose type has no row is not checked (it ends at the 404 fallback anyway).
pub(crate) const API_VERSIONS: &[(&str, &[&str])] = &[
    ("Microsoft.Resources/resourceGroups", RESOURCES),
    ("Microsoft.Resources/operationResults", RESOURCES),
    ("Microsoft.DBforPostgreSQL/servers", SINGLE_SERVER),
    ("Microsoft.DBforPostgreSQL/locations", SINGLE_SERVER),
    ("Microsoft.DBforPostgreSQL/checkNameAvailability", SINGLE_SERVER),
    ("Microsoft.DBforPostgreSQL/operations", SINGLE_SERVER),
    ("Microsoft.DBforPostgreSQL/flexibleServers", FLEXIBLE_SERVER),
    ("Microsoft.DBforPostgreSQL/locations", FLEXIBLE_SERVER),
    ("Microsoft.DBforPostgreSQL/checkNameAvailability", FLEXIBLE_SERVER),
    ("Microsoft.DBforPostgreSQL/operations", FLEXIBLE_SERVER),
];

/// The ARM spelling of a fixed segment, if it is one.
fn canonical_segment(segment: &str) -> Option<&'static str> {
    SEGMENTS.iter().copied().find(|known| known.eq_ignore_ascii_case(segment))
}

/// The path with its fixed segments in ARM's spelling. ARM paths alternate fixed segments and
/// names: `/subscriptions/{id}[/resourceGroups/{name}][/providers/{namespace}/{type}/{name}/…]`,
/// or a type right under the subscription (`/subscriptions/{id}/resourceGroups`,
/// `…/operationResults/{id}`). Names keep their spelling; paths of another shape (the token
/// endpoint's) are returned as they are.
pub(crate) fn canonical_path(path: &str) -> String {
    let mut segments: Vec<String> = path.split('/').map(str::to_string).collect();
    let fix = |segments: &mut Vec<String>, index: usize, expected: Option<&str>| -> bool {
        let Some(segment) = segments.get(index) else { return false };
        match canonical_segment(segment) {
            Some(canonical) if expected.is_none_or(|e| e == canonical) => {
                segments[index] = canonical.to_string();
                true
            }
            _ => false,
        }
    };
    // segments[0] is the empty string before the leading slash.
    let mut index = 1;
    if fix(&mut segments, index, Some("subscriptions")) {
        index += 2;
        if fix(&mut segments, index, Some("resourceGroups")) {
            index += 2;
        } else if !segments.get(index).is_some_and(|s| s.eq_ignore_ascii_case("providers")) {
            // A type right under the subscription.
            fix(&mut segments, index, None);
            return segments.join("/");
        }
    }
    if fix(&mut segments, index, Some("providers")) {
        fix(&mut segments, index + 1, None);
        // Types (and actions) alternate with names after the namespace.
        let mut at = index + 2;
        while at < segments.len() {
            fix(&mut segments, at, None);
            at += 2;
        }
    }
    segments.join("/")
}

/// The resource type a canonical path addresses (`Microsoft.DBforPostgreSQL/servers`), for the
/// api-version check; `None` for paths outside ARM's shape.
pub(crate) fn resource_type(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut index = 0;
    if segments.first() == Some(&"subscriptions") {
        index = 2;
        match segments.get(index) {
            Some(&"resourceGroups") if segments.len() <= 4 => {
                return Some("Microsoft.Resources/resourceGroups".to_string());
            }
            Some(&"resourceGroups") => index = 4,
            Some(&"providers") | None => {}
            Some(other) => return Some(format!("Microsoft.Resources/{other}")),
        }
    }
    if segments.get(index) != Some(&"providers") {
        return None;
    }
    let namespace = segments.get(index + 1)?;
    let kind = segments.get(index + 2)?;
    Some(format!("{namespace}/{kind}"))
}

/// The resource group a canonical path names, with its subscription: `(subscription, group)`
/// for paths under `/subscriptions/{s}/resourceGroups/{g}/providers/…` (the group's own path is
/// not "in" it).
pub(crate) fn resource_group_of(path: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["subscriptions", subscription, "resourceGroups", group, "providers", ..] => {
            Some((subscription.to_string(), group.to_string()))
        }
        _ => None,
    }
}

/// The supported api-versions of a resource type, if the emulator serves it.
pub(crate) fn api_versions(resource_type: &str) -> Option<Vec<&'static str>> {
    let versions: Vec<&'static str> = API_VERSIONS
        .iter()
        .filter(|(kind, _)| kind.eq_ignore_ascii_case(resource_type))
        .flat_map(|(_, versions)| versions.iter().copied())
        .collect();
    (!versions.is_empty()).then_some(versions)
}

/// The `api-version` of a query string, if there is one.
pub(crate) fn api_version_of(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.eq_ignore_ascii_case("api-version"))
        .map(|(_, value)| value.to_string())
}

/// ARM's refusal of a missing or unknown api-version for the request's resource type; `None`
/// when the version is served (or the path is not a known type's).
pub(crate) fn api_version_problem(path: &str, query: Option<&str>) -> Option<ApiError> {
    let versions = api_versions(&resource_type(path)?)?;
    match api_version_of(query).filter(|v| !v.is_empty()) {
        None => Some(ApiError::new(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )),
        Some(version) if versions.iter().any(|known| known.eq_ignore_ascii_case(&version)) => None,
        Some(version) => Some(ApiError::new(
            400,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{version}' is invalid. The supported versions are '{}'.",
                versions.join(",")
            ),
        )),
    }
}

/// Rewrites the request's path to ARM's spelling before routing (the query is kept).
pub(crate) async fn canonicalize(mut request: Request, next: Next) -> Response {
    let uri = request.uri();
    let canonical = canonical_path(uri.path());
    if canonical != uri.path() {
        let rebuilt = match uri.query() {
            Some(query) => format!("{canonical}?{query}"),
            None => canonical,
        };
        if let Ok(path_and_query) = rebuilt.parse() {
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(path_and_query);
            if let Ok(uri) = Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    next.run(request).await
}

/// Adds ARM's request-id headers to every answer: a new `x-ms-request-id`, the client's
/// `x-ms-correlation-request-id` (else a new one), and the client's `x-ms-client-request-id`
/// echoed. An error answer that is not JSON yet (axum's own 404, 405, 413, 415 …) gets ARM's
/// `CloudError` body.
pub(crate) async fn request_ids(request: Request, next: Next) -> Response {
    let client_id = request.headers().get("x-ms-client-request-id").cloned();
    let correlation = request.headers().get("x-ms-correlation-request-id").cloned();
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let mut response = next.run(request).await;
    if response.status().as_u16() >= 400 && !is_json(response.headers()) {
        response = plain_error(response, &method, &path);
    }
    let headers = response.headers_mut();
    let new_id = || HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok();
    if let Some(id) = new_id() {
        headers.insert("x-ms-request-id", id);
    }
    if let Some(correlation) = correlation.or_else(new_id) {
        headers.insert("x-ms-correlation-request-id", correlation);
    }
    if let Some(client_id) = client_id {
        headers.insert("x-ms-client-request-id", client_id);
    }
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// ARM's body for an error answered without one, keeping its status and headers (`Allow` …).
fn plain_error(response: Response, method: &Method, path: &str) -> Response {
    let status = response.status();
    let error = match status.as_u16() {
        404 => not_found_error(path),
        405 => ApiError::new(
            405,
            "MethodNotAllowed",
            format!("The HTTP method '{method}' is not supported on the resource '{path}'."),
        ),
        413 => ApiError::new(413, "RequestEntityTooLarge", "The request content is too large."),
        415 => ApiError::new(
            415,
            "UnsupportedMediaType",
            "The content media type is not supported; send application/json.",
        ),
        400..=499 => ApiError::new(status.as_u16(), "BadRequest", "The request is not valid."),
        _ => {
            ApiError::new(status.as_u16(), "InternalServerError", "The server encountered an internal error.")
        }
    };
    let (parts, _) = response.into_parts();
    let mut answer = error.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

/// Why a path is not found, as ARM says it: an unknown namespace or resource type, or else a
/// path that names nothing.
fn not_found_error(path: &str) -> ApiError {
    let served = |prefix: &str| API_VERSIONS.iter().any(|(kind, _)| kind.starts_with(prefix));
    if let Some(kind) = resource_type(path) {
        let (namespace, name) = kind.split_once('/').unwrap_or((kind.as_str(), ""));
        if !served(&format!("{namespace}/")) {
            return ApiError::new(
                404,
                "InvalidResourceNamespace",
                format!("The resource namespace '{namespace}' is invalid."),
            );
        }
        if api_versions(&kind).is_none() {
            return ApiError::new(
                404,
                "InvalidResourceType",
                format!("The resource type '{name}' could not be found in the namespace '{namespace}'."),
            );
        }
    }
    ApiError::new(404, "NotFound", format!("The requested path '{path}' was not found."))
}

/// The router's fallback: an unknown path, answered as ARM does.
pub(crate) async fn not_found(request: Request) -> Response {
    not_found_error(request.uri().path()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_segments_take_arm_spelling_and_names_keep_theirs() {
        let path = "/SUBSCRIPTIONS/Sub-1/resourcegroups/Providers/providers/microsoft.dbforpostgresql/SERVERS/Replicas/replicas";
        assert_eq!(
            canonical_path(path),
            "/subscriptions/Sub-1/resourceGroups/Providers/providers/Microsoft.DBforPostgreSQL/servers/Replicas/Replicas"
        );
        assert_eq!(canonical_path("/subscriptions/s/resourcegroups"), "/subscriptions/s/resourceGroups");
        assert_eq!(
            canonical_path("/subscriptions/s/operationresults/ID"),
            "/subscriptions/s/operationResults/ID"
        );
        assert_eq!(
            canonical_path("/providers/microsoft.dbforpostgresql/OPERATIONS"),
            "/providers/Microsoft.DBforPostgreSQL/operations"
        );
        assert_eq!(
            canonical_path(
                "/subscriptions/s/providers/Microsoft.DBForPostgreSQL/locations/WestUS/performancetiers"
            ),
            "/subscriptions/s/providers/Microsoft.DBforPostgreSQL/locations/WestUS/performanceTiers"
        );
        // The token endpoint is not an ARM path.
        assert_eq!(canonical_path("/tenant/oauth2/v2.0/token"), "/tenant/oauth2/v2.0/token");
        // Unknown segments keep their spelling (and end at the 404 fallback).
        assert_eq!(
            canonical_path("/subscriptions/s/providers/Other.NS/Things"),
            "/subscriptions/s/providers/Other.NS/Things"
        );
    }

    #[test]
    fn the_api_version_is_checked_against_the_resource_type() {
        let server = "/subscriptions/s/resourceGroups/g/providers/Microsoft.DBforPostgreSQL/servers/x";
        assert_eq!(resource_type(server).as_deref(), Some("Microsoft.DBforPostgreSQL/servers"));
        assert_eq!(api_version_problem(server, Some("api-version=2017-12-01")), None);
        let missing = api_version_problem(server, Some("x=1")).unwrap();
        assert_eq!((missing.status, missing.code.as_str()), (400, "MissingApiVersionParameter"));
        let wrong = api_version_problem(server, Some("api-version=2025-08-01")).unwrap();
        assert_eq!(wrong.code, "InvalidApiVersionParameter");
        assert!(wrong.message.contains("'2017-12-01,2017-12-01-preview'"), "{}", wrong.message);
        let group = "/subscriptions/s/resourceGroups/g";
        assert_eq!(resource_type(group).as_deref(), Some("Microsoft.Resources/resourceGroups"));
        assert_eq!(api_version_problem(group, Some("api-version=2021-04-01")), None);
        assert_eq!(api_version_problem("/tenant/oauth2/v2.0/token", None), None);
        assert_eq!(resource_group_of(server), Some(("s".into(), "g".into())));
        assert_eq!(resource_group_of(group), None);
    }
}
