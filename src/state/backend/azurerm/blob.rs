//! The slice of Azure Blob Storage's REST API the azurerm backend uses, over reqwest: one
//! request at a time, authorized with Shared Key (each request signed with the account's key as
//! the Blob service specifies: HMAC-SHA256 over the verb, the standard headers, the `x-ms-`
//! headers and the resource) or with a bearer token from the Azure credential chain. It knows
//! nothing of states, journals or leases: those are `super`'s.
//!
//! Must not: log or return the access key or a token (they stay in `Redacted`).

use crate::providers::azure::auth::{TokenCache, TokenResource};
use crate::providers::azure::{Credential, extra_roots};
use crate::secret::Redacted;
use base64::Engine;
use hmac::{Hmac, Mac};
use std::sync::Arc;
use std::time::Duration;

/// The Blob service version every request asks for (append blocks, leases, metadata and
/// conditional headers are all older; Azurite serves it).
const API_VERSION: &str = "2021-08-06";

/// How long one request may take before the backend counts as unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How requests are authorized.
enum Auth {
    /// The account key, decoded from base64.
    SharedKey(Redacted<Vec<u8>>),
    Bearer(Arc<TokenCache>),
}

/// A client of one storage account's Blob service.
pub(crate) struct BlobClient {
    http: reqwest::Client,
    /// The service's URL without a trailing slash (`https://ACCOUNT.blob.core.windows.net`,
    /// Azurite's `http://127.0.0.1:10000/devstoreaccount1`).
    endpoint: String,
    /// The path part of `endpoint` (`/devstoreaccount1` for Azurite, empty on Azure), which the
    /// signed resource includes.
    endpoint_path: String,
    account: String,
    auth: Auth,
}

impl std::fmt::Debug for BlobClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobClient").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

/// One request: `resource` is `CONTAINER` or `CONTAINER/BLOB`, not yet percent-encoded.
#[derive(Debug, Default)]
pub(crate) struct Request {
    pub method: reqwest::Method,
    pub resource: String,
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub(crate) fn new(method: reqwest::Method, resource: impl Into<String>) -> Request {
        Request { method, resource: resource.into(), ..Request::default() }
    }

    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.query.push((name, value.into()));
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn body(mut self, body: Vec<u8>) -> Request {
        self.body = body;
        self
    }
}

/// The service's answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The service's error code (`BlobNotFound`, `LeaseAlreadyPresent` …), from the
    /// `x-ms-error-code` header (a HEAD has no body).
    pub(crate) fn code(&self) -> &str {
        self.header("x-ms-error-code").unwrap_or("")
    }

    /// The error in words: the code and the `<Message>` of the XML body, when there is one.
    pub(crate) fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let message = body
            .split_once("<Message>")
            .and_then(|(_, rest)| rest.split_once("</Message>"))
            .map(|(message, _)| message.lines().next().unwrap_or_default().trim().to_string());
        match (self.code(), message) {
            ("", None) => format!("HTTP {}", self.status),
            (code, None) => format!("HTTP {} {code}", self.status),
            (code, Some(message)) => format!("HTTP {} {code}: {message}", self.status),
        }
    }
}

/// A request that got no answer.
#[derive(Debug)]
pub(crate) struct Unreachable(pub String);

impl BlobClient {
    /// A client of `account` at `endpoint`: Shared Key with `access_key` (base64), else tokens
    /// for Azure Storage from the Azure credential chain.
    ///
    /// # Errors
    /// When the access key is not base64 or the HTTP client cannot be built (`SSL_CERT_FILE`
    /// unreadable); never with the key in the message.
    pub(crate) fn new(
        endpoint: &str,
        account: &str,
        access_key: Option<&Redacted<String>>,
    ) -> Result<BlobClient, String> {
        let mut http = reqwest::Client::builder()
            .user_agent(format!("pgfleet/{}", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(REQUEST_TIMEOUT);
        for certificate in extra_roots().map_err(|error| error.to_string())? {
            http = http.add_root_certificate(certificate);
        }
        let http = http.build().map_err(|error| format!("HTTP client: {error}"))?;
        let auth = match access_key {
            Some(key) => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(key.expose().trim())
                    .map_err(|_| "the storage account's access key is not base64 (copy it from the account's Access keys)".to_string())?;
                Auth::SharedKey(Redacted::new(decoded))
            }
            None => Auth::Bearer(Arc::new(TokenCache::for_resource(
                Credential::from_environment(),
                TokenResource::Storage,
                http.clone(),
            ))),
        };
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let endpoint_path = endpoint
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|at| rest[at..].to_string()))
            .unwrap_or_default();
        Ok(BlobClient { http, endpoint, endpoint_path, account: account.to_string(), auth })
    }

    /// The URL of `resource` (`CONTAINER/BLOB`), for messages and requests.
    pub(crate) fn url(&self, resource: &str) -> String {
        format!("{}/{}", self.endpoint, encode_path(resource))
    }

    /// Sends `request` once and returns the answer, whatever its status.
    ///
    /// # Errors
    /// [`Unreachable`] when no answer came (connection refused or dropped, timeout), or no
    /// token could be had.
    pub(crate) async fn send(&self, request: Request) -> Result<Response, Unreachable> {
        let path = format!("{}/{}", self.endpoint_path, encode_path(&request.resource));
        let mut url = format!("{}/{}", self.endpoint, encode_path(&request.resource));
        for (index, (name, value)) in request.query.iter().enumerate() {
            url.push(if index == 0 { '?' } else { '&' });
            url.push_str(&format!("{name}={}", encode_path(value)));
        }
        let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let mut headers = request.headers.clone();
        headers.push(("x-ms-date", date));
        headers.push(("x-ms-version", API_VERSION.to_string()));
        if !request.body.is_empty() && !headers.iter().any(|(name, _)| *name == "content-type") {
            headers.push(("content-type", "application/octet-stream".to_string()));
        }
        let authorization = match &self.auth {
            Auth::SharedKey(key) => {
                let signed = string_to_sign(&request, &headers, &self.account, &path);
                format!("SharedKey {}:{}", self.account, sign(key.expose(), &signed))
            }
            Auth::Bearer(tokens) => {
                let token = tokens
                    .token()
                    .await
                    .map_err(|error| Unreachable(format!("no Azure Storage token: {error}")))?;
                format!("Bearer {}", token.expose())
            }
        };
        let mut builder =
            self.http.request(request.method.clone(), &url).header("authorization", authorization);
        // Writes must say their length even when it is zero (signed as empty), which reqwest
        // leaves out for an empty body.
        if request.method == reqwest::Method::PUT {
            builder = builder.header("content-length", request.body.len().to_string());
        }
        for (name, value) in &headers {
            builder = builder.header(*name, value);
        }
        let response =
            builder.body(request.body).send().await.map_err(|error| Unreachable(describe_reqwest(&error)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|error| Unreachable(describe_reqwest(&error)))?.to_vec();
        Ok(Response { status, headers, body })
    }
}

/// A transport error with its causes (reqwest's own message says little: "error sending
/// request").
fn describe_reqwest(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Percent-encodes a path (or a query value), keeping `/` and the unreserved characters.
fn encode_path(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// The string a Shared Key signature covers (version 2009-09-19 and later): the verb, the
/// standard headers in their fixed order (Content-Length empty when zero), the `x-ms-` headers
/// sorted, and the resource (`/ACCOUNT/PATH`, then each query parameter on a line).
fn string_to_sign(
    request: &Request,
    headers: &[(&'static str, String)],
    account: &str,
    path: &str,
) -> String {
    let standard = |name: &str| {
        headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map_or("", |(_, value)| value.as_str())
    };
    let length = if request.body.is_empty() { String::new() } else { request.body.len().to_string() };
    // Date stays empty: x-ms-date is sent, and signed among the x-ms- headers.
    let mut text = format!(
        "{}\n{}\n{}\n{length}\n{}\n{}\n\n{}\n{}\n{}\n{}\n{}\n",
        request.method.as_str(),
        standard("content-encoding"),
        standard("content-language"),
        standard("content-md5"),
        standard("content-type"),
        standard("if-modified-since"),
        standard("if-match"),
        standard("if-none-match"),
        standard("if-unmodified-since"),
        standard("range"),
    );
    let mut canonical: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| name.to_ascii_lowercase().starts_with("x-ms-"))
        .map(|(name, value)| {
            (name.to_ascii_lowercase(), value.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .collect();
    canonical.sort();
    for (name, value) in canonical {
        text.push_str(&format!("{name}:{value}\n"));
    }
    text.push_str(&format!("/{account}{path}"));
    let mut query: Vec<(String, &str)> =
        request.query.iter().map(|(name, value)| (name.to_ascii_lowercase(), value.as_str())).collect();
    query.sort();
    for (name, value) in query {
        text.push_str(&format!("\n{name}:{value}"));
    }
    text
}

/// HMAC-SHA256 of `text` with `key`, in base64.
fn sign(key: &[u8], text: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout of the Blob service's documentation: twelve standard header lines, the
    /// `x-ms-` headers sorted, the resource with the account, the query parameters sorted.
    #[test]
    fn the_string_to_sign_follows_the_blob_service_layout() {
        let request = Request::new(reqwest::Method::PUT, "pgfleet/payments.state.json")
            .query("comp", "lease")
            .body(b"abc".to_vec());
        let headers = vec![
            ("x-ms-version", "2021-08-06".to_string()),
            ("x-ms-lease-action", "acquire".to_string()),
            ("if-match", "\"0x1\"".to_string()),
            ("content-type", "application/octet-stream".to_string()),
        ];
        let text = string_to_sign(
            &request,
            &headers,
            "devstoreaccount1",
            "/devstoreaccount1/pgfleet/payments.state.json",
        );
        assert_eq!(
            text,
            "PUT\n\n\n3\n\napplication/octet-stream\n\n\n\"0x1\"\n\n\n\n\
             x-ms-lease-action:acquire\nx-ms-version:2021-08-06\n\
             /devstoreaccount1/devstoreaccount1/pgfleet/payments.state.json\ncomp:lease"
        );
    }

    #[test]
    fn an_empty_body_signs_an_empty_content_length() {
        let request = Request::new(reqwest::Method::GET, "c/b");
        let text = string_to_sign(&request, &[], "acct", "/c/b");
        assert_eq!(text, "GET\n\n\n\n\n\n\n\n\n\n\n\n/acct/c/b");
    }

    /// HMAC-SHA256 test case 2 of RFC 4231.
    #[test]
    fn signatures_are_hmac_sha256_in_base64() {
        let expected =
            hex::decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843").unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode(expected);
        assert_eq!(sign(b"Jefe", "what do ya want for nothing?"), expected);
    }

    #[test]
    fn paths_are_percent_encoded_but_for_slashes() {
        assert_eq!(encode_path("c/team a/x+y.json"), "c/team%20a/x%2By.json");
    }

    #[test]
    fn a_key_that_is_not_base64_is_refused_without_showing_it() {
        let key = Redacted::new("not-base64-Secret!".to_string());
        let error = BlobClient::new("http://127.0.0.1:1/acct", "acct", Some(&key)).unwrap_err();
        assert!(error.contains("not base64") && !error.contains("Secret"), "{error}");
    }
}
