//! Raw REST calls against the API server (shared with [`crate::runtime::events`]): URL building with escaped path segments and JSON bodies,
//! so objects travel as `serde_json::Value` without a typed round trip.

use http::{Method, Request};
use kube::Client;
use serde_json::Value;

/// Media type of server-side apply bodies (JSON is valid YAML).
pub(crate) const APPLY_PATCH: &str = "application/apply-patch+yaml";
/// Media type of RFC 6902 JSON patches.
pub(crate) const JSON_PATCH: &str = "application/json-patch+json";
/// Media type of RFC 7386 merge patches.
pub(crate) const MERGE_PATCH: &str = "application/merge-patch+json";
/// Media type of plain JSON bodies.
pub(crate) const JSON: &str = "application/json";

/// Percent-encodes one URL path segment or query value (everything but RFC 3986 unreserved bytes).
pub(crate) fn escape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds a query string from pairs (values escaped); empty when there are none.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", escape(v)))
        .collect();
    format!("?{}", parts.join("&"))
}

/// Sends one request and parses the JSON answer; non-2xx answers become `kube::Error::Api`.
pub(crate) async fn send(
    client: &Client,
    method: Method,
    path_and_query: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<Value, kube::Error> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(http::header::ACCEPT, JSON);
    if let Some(ct) = content_type {
        builder = builder.header(http::header::CONTENT_TYPE, ct);
    }
    let request = builder.body(body).map_err(kube::Error::HttpError)?;
    client.request::<Value>(request).await
}

/// The HTTP status code of an API error, if the server answered.
pub(crate) fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Whether the server answered 404.
pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    status_code(err) == Some(404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_queries_are_escaped() {
        assert_eq!(escape("web-1.a_b~"), "web-1.a_b~");
        assert_eq!(escape("a b/c?d#%"), "a%20b%2Fc%3Fd%23%25");
        assert_eq!(escape("é"), "%C3%A9");
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("fieldManager", "kustomize controller"), ("force", "true")]),
            "?fieldManager=kustomize%20controller&force=true"
        );
    }
}
