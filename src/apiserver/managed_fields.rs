//! Field ownership (`metadata.managedFields`, FieldsV1) and server-side apply, as pure functions.
//!
//! API contract (the REST layer codes against these signatures; bodies are filled in by the SSA work):
//! - [`server_side_apply`]: apply `applied` for a manager onto `live`, with conflicts and `force`.
//! - [`record_update`]: update ownership after a non-apply write (POST, PUT, merge/JSON/SMP patch).
//!
//! Neither touches `resourceVersion`, `generation` or timestamps other than `managedFields[].time`.

use crate::patch::ListType;
use serde_json::Value;

/// Tells how a list at a field path merges (built-in merge keys, CRD `x-kubernetes-list-type`).
pub trait ListTypes {
    /// The list type at `path` (field names from the root, list items not included).
    fn list_type(&self, path: &[&str]) -> ListType;
}

/// Who is writing, and how.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// The field manager (`fieldManager` query parameter, or derived from the User-Agent).
    pub manager: &'a str,
    /// `apiVersion` of the request (recorded in the managedFields entry).
    pub api_version: &'a str,
    /// `Some("status")` for writes through the status subresource.
    pub subresource: Option<&'a str>,
    /// RFC 3339 second-precision UTC timestamp for the entry's `time`.
    pub now: &'a str,
}

/// One field owned by another manager whose value the apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The other entry's apiVersion.
    pub api_version: String,
    /// The other entry's subresource, if any.
    pub subresource: Option<String>,
    /// The field in kubectl's notation, e.g. `.spec.replicas` or `.spec.containers[name="web"].image`.
    pub field: String,
}

/// Why an apply was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApplyError {
    /// Fields owned by other managers would change and `force` was not given (HTTP 409).
    #[error("apply failed with {} conflict(s)", .0.len())]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is malformed (HTTP 400/422), e.g. duplicate keys in an associative list.
    #[error("{0}")]
    Invalid(String),
}

/// Server-side apply of `applied` by `writer` onto `live` (`None` when the object does not exist yet).
/// Returns the new object, with `metadata.managedFields` updated. The caller decides no-op detection
/// (compare the result with `live`), generation and resourceVersion.
pub fn server_side_apply(
    _live: Option<&Value>,
    _applied: &Value,
    _writer: &Writer<'_>,
    _force: bool,
    _list_types: &dyn ListTypes,
) -> Result<Value, ApplyError> {
    Err(ApplyError::Invalid(
        "server-side apply is not supported yet".into(),
    ))
}

/// Records ownership after a non-apply write: fields `new` adds or changes relative to `old` go into
/// `writer`'s `Update` entry and are taken from every other manager; removed fields leave every set.
/// Rewrites `new`'s `metadata.managedFields`.
pub fn record_update(
    _old: Option<&Value>,
    _new: &mut Value,
    _writer: &Writer<'_>,
    _list_types: &dyn ListTypes,
) {
}
