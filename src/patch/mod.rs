//! Patches on JSON objects: RFC 7386 merge patch, RFC 6902 JSON patch and Kubernetes strategic merge
//! patch (with the merge-key table of the built-in kinds). Pure functions with no dependency on the rest
//! of the crate: the embedded API server and the kustomize engine both use them.
//!
//! API contract (other modules code against these signatures; bodies are filled in by the patch work):
//! - [`merge_patch`]: RFC 7386.
//! - [`json_patch`]: RFC 6902 incl. `test` and the `-` index; atomic (target untouched on error).
//! - [`strategic_merge`]: SMP of `patch` onto `target` for the object kind `type_meta`.
//! - [`list_type`]: how a list at a field path of a built-in kind merges (shared with server-side apply).

mod json_patch;
mod merge;

use serde_json::Value;

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatchError {
    /// The patch document itself is malformed (not an array of operations, bad pointer, bad directive).
    #[error("invalid patch: {0}")]
    Invalid(String),
    /// A JSON patch `test` operation failed.
    #[error("test operation failed: {0}")]
    TestFailed(String),
    /// A path the patch needs does not exist in the target.
    #[error("path not found: {0}")]
    PathNotFound(String),
    /// Not implemented yet.
    #[error("{0} is not supported")]
    Unsupported(&'static str),
}

/// How items of a list merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// The list is replaced as a whole.
    Atomic,
    /// A set of scalars (`metadata.finalizers`): merged as a union.
    Set,
    /// An associative list, items identified by these key fields (`containers` by `name`).
    Map(&'static [&'static str]),
}

/// Identifies the kind of the object being patched, for merge-key lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeMeta<'a> {
    /// `apiVersion`, e.g. `apps/v1`.
    pub api_version: &'a str,
    /// `kind`, e.g. `Deployment`.
    pub kind: &'a str,
}

/// The list type at `path` (field names from the object root, list items not included, e.g.
/// `["spec", "template", "spec", "containers"]`) for built-in kinds; `Atomic` for unknown fields and kinds,
/// except `metadata.finalizers` (Set) and `metadata.ownerReferences` (Map by `uid`) on every kind.
pub fn list_type(_type_meta: TypeMeta<'_>, path: &[&str]) -> ListType {
    match path {
        ["metadata", "finalizers"] => ListType::Set,
        ["metadata", "ownerReferences"] => ListType::Map(&["uid"]),
        _ => ListType::Atomic,
    }
}

/// Applies an RFC 7386 JSON merge patch to `target` in place.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    merge::apply(target, patch);
}

/// Applies an RFC 6902 JSON patch (an array of operations) to `target`. On error `target` is unchanged.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    json_patch::apply(target, ops)
}

/// Applies a strategic merge patch to `target` and returns the result; `target` is not modified.
pub fn strategic_merge(
    _target: &Value,
    _patch: &Value,
    _type_meta: TypeMeta<'_>,
) -> Result<Value, PatchError> {
    Err(PatchError::Unsupported("strategic merge patch"))
}
