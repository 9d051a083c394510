//! `kind: Status` error bodies (kube-wire §A14): every failed request answers with one of these.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

/// A failed API request: HTTP code, `reason`, message and optional `details`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code, repeated in the body's `code`.
    pub code: u16,
    /// The exact `reason` string clients match on (`NotFound`, `AlreadyExists`, ...).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `details` object, if any.
    pub details: Option<Value>,
    /// `Retry-After` header value in seconds (429/5xx from fault injection).
    pub retry_after: Option<u32>,
}

/// Identifies an object in error details: name, API group and resource plural.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Resource plural (`configmaps`).
    pub plural: &'a str,
    /// API group (`""` for core).
    pub group: &'a str,
    /// Object name (may be empty).
    pub name: &'a str,
}

impl Target<'_> {
    /// `configmaps` or `widgets.example.dev`: how Kubernetes names a resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn details(&self) -> Value {
        let mut d = json!({"name": self.name, "kind": self.plural});
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d
    }
}

impl ApiError {
    /// A bare error without details.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// Attaches `details`.
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// 404 for an unknown path or resource.
    pub fn unknown_path() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 404 `configmaps "demo" not found`.
    pub fn not_found(t: Target<'_>) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", t.qualified(), t.name),
        )
        .with_details(t.details())
    }

    /// 404 for a namespace that does not exist when creating inside it.
    pub fn namespace_not_found(ns: &str) -> ApiError {
        ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            .with_details(json!({"name": ns, "kind": "namespaces"}))
    }

    /// 409 AlreadyExists.
    pub fn already_exists(t: Target<'_>) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", t.qualified(), t.name),
        )
        .with_details(t.details())
    }

    /// 409 Conflict on a stale resourceVersion.
    pub fn conflict(t: Target<'_>) -> ApiError {
        ApiError::conflict_because(
            t,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 Conflict with a custom explanation (`Operation cannot be fulfilled on …: <why>`).
    pub fn conflict_because(t: Target<'_>, why: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {why}",
                t.qualified(),
                t.name
            ),
        )
        .with_details(t.details())
    }

    /// 422 Invalid: `<Kind> "<name>" is invalid: <field>: <msg>`, one cause per field.
    pub fn invalid(
        kind: &str,
        group: &str,
        name: &str,
        causes: &[(&str, &'static str, String)],
    ) -> ApiError {
        let text: Vec<String> = causes
            .iter()
            .map(|(field, _, msg)| format!("{field}: {msg}"))
            .collect();
        let message = match text.len() {
            1 => format!("{kind} \"{name}\" is invalid: {}", text[0]),
            _ => format!("{kind} \"{name}\" is invalid: [{}]", text.join(", ")),
        };
        let causes: Vec<Value> = causes
            .iter()
            .map(|(field, reason, msg)| json!({"reason": reason, "message": msg, "field": field}))
            .collect();
        let mut details = json!({"name": name, "kind": kind, "causes": causes});
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        ApiError::new(422, "Invalid", message).with_details(details)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "Forbidden", message)
    }

    /// 405 MethodNotAllowed for a verb a resource does not support.
    pub fn method_not_allowed(verb: &str, t: Target<'_>) -> ApiError {
        let mut d = json!({"kind": t.plural});
        if !t.group.is_empty() {
            d["group"] = json!(t.group);
        }
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!(
                "{verb} is not supported on resources of kind \"{}\"",
                t.qualified()
            ),
        )
        .with_details(d)
    }

    /// 410 Expired.
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// 415 for bodies in a format the server does not speak (protobuf, CBOR).
    pub fn unsupported_media(patch: bool) -> ApiError {
        let types = if patch {
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
        } else {
            "application/json, application/yaml"
        };
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {types}"
            ),
        )
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "InternalError", message)
    }

    /// The `kind: Status` body.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

/// The reason string Kubernetes uses for a fault-injected status code.
pub fn reason_for_code(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.to_status().to_string();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_group_qualified_resource() {
        let e = ApiError::not_found(Target {
            plural: "widgets",
            group: "example.dev",
            name: "w1",
        });
        let s = e.to_status();
        assert_eq!(s["message"], "widgets.example.dev \"w1\" not found");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["group"], "example.dev");
        assert_eq!(s["details"]["kind"], "widgets");
    }

    #[test]
    fn invalid_lists_causes() {
        let e = ApiError::invalid(
            "ConfigMap",
            "",
            "Bad_Name",
            &[(
                "metadata.name",
                "FieldValueInvalid",
                "Invalid value: \"Bad_Name\": x".into(),
            )],
        );
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": x"
        );
        assert_eq!(
            e.to_status()["details"]["causes"][0]["field"],
            "metadata.name"
        );
    }
}
