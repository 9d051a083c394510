//! Patches on JSON objects: RFC 7386 merge patch, RFC 6902 JSON patch and Kubernetes strategic merge
//! patch (with the merge-key table of the built-in kinds). Pure functions with no dependency on the rest
//! of the crate: the embedded API server and the kustomize engine both use them.
//!
//! API contract (other modules code against these signatures; bodies are filled in by the patch work):
//! - [`merge_patch`]: RFC 7386.
//! - [`json_patch`]: RFC 6902 incl. `test` and the `-` index; atomic (target untouched on error).
//! - [`strategic_merge`]: SMP of `patch` onto `target` for the object kind `type_meta`.
//! - [`list_type`]: how a list at a field path of a built-in kind merges (shared with server-side apply).
//! - Added: [`strategic_merge_as`] with [`SmpFlavor`] (API server vs kustomize), [`is_delete_patch`],
//!   [`is_builtin_kind`], [`MAX_DEPTH`], [`json_patch_kustomize`] (lenient `replace`).

mod json_patch;
mod merge;
mod schema;
mod strategic;

pub use schema::is_builtin_kind;
pub use strategic::{MAX_DEPTH, is_delete_patch};

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
///
/// Multi-key lists carry the SSA `x-kubernetes-list-map-keys` (container `ports` by `containerPort` +
/// `protocol`), see the `schema` module for how SMP's single merge key relates to them.
pub fn list_type(type_meta: TypeMeta<'_>, path: &[&str]) -> ListType {
    schema::lookup(type_meta, path).map_or(ListType::Atomic, |entry| entry.ssa)
}

/// Applies an RFC 7386 JSON merge patch to `target` in place.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    merge::apply(target, patch);
}

/// Applies an RFC 6902 JSON patch (an array of operations) to `target`. On error `target` is unchanged.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    json_patch::apply(target, ops, false)
}

/// [`json_patch`] as kustomize applies it: `replace` of a missing member of an existing object adds
/// the member (kustomize's json-patch library does); a missing parent or array index is still an error.
pub fn json_patch_kustomize(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    json_patch::apply(target, ops, true)
}

/// Applies a strategic merge patch to `target` and returns the result; `target` is not modified.
///
/// This is the API server's flavour ([`SmpFlavor::ApiServer`]); the kustomize engine wants
/// [`strategic_merge_as`] with [`SmpFlavor::Kustomize`] to reproduce `kustomize build` output exactly.
/// A patch with a top-level `$patch: delete` means "delete the object": it is refused with
/// [`PatchError::Invalid`], so callers check [`is_delete_patch`] first and delete the object themselves.
/// Input nested deeper than [`MAX_DEPTH`] is refused with [`PatchError::Invalid`].
pub fn strategic_merge(
    target: &Value,
    patch: &Value,
    type_meta: TypeMeta<'_>,
) -> Result<Value, PatchError> {
    strategic_merge_as(target, patch, type_meta, SmpFlavor::ApiServer)
}

/// Which implementation's strategic-merge behaviour to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmpFlavor {
    /// apimachinery `strategicpatch` (kube-apiserver PATCH, kubectl): honours `$setElementOrder`,
    /// `$retainKeys`, `$deleteFromPrimitiveList`; list order follows apimachinery's `mergeSortedSlice`
    /// (patched items in patch order, server-only items keep their relative place); single SMP merge keys (container ports by `containerPort`); map-level `$patch: delete`
    /// leaves an empty map.
    #[default]
    ApiServer,
    /// kustomize v5.5.0 (kyaml merge2): patch items come first; `$setElementOrder`, `$retainKeys` and
    /// `$deleteFromPrimitiveList` are copied as ordinary keys; multi-key merge keys; map-level
    /// `$patch: delete` removes the map; every list of a kind outside the built-in schema is atomic.
    Kustomize,
}

/// [`strategic_merge`] with an explicit flavour.
pub fn strategic_merge_as(
    target: &Value,
    patch: &Value,
    type_meta: TypeMeta<'_>,
    flavor: SmpFlavor,
) -> Result<Value, PatchError> {
    strategic::apply(target, patch, type_meta, flavor)
}

#[cfg(test)]
mod smp_tests;
