//! Preparing built objects for server-side apply the way kustomize-controller does: normalisation,
//! `commonMetadata`, owner labels, then [`crate::apply::stages`]' staged order.

use serde_json::{Map, Value};

use super::error::ReconcileError;
use super::spec::CommonMetadata;
use crate::apply::ApplyFailure;
use crate::apply::inventory::split_api_version;
use crate::apply::normalize::normalize;
use crate::apply::policy::Owner;
use crate::apply::stages::{Stage, apply_stages};

/// The API group of the Kustomization, the prefix of its owner labels.
pub const OWNER_GROUP: &str = "kustomize.toolkit.fluxcd.io";
/// Field owner of the controller's own status patches.
pub const STATUS_FIELD_MANAGER: &str = "gotk-kustomize-controller";
/// Owner label: the Kustomization's name.
pub const OWNER_NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
/// Owner label: the Kustomization's namespace.
pub const OWNER_NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

impl From<ApplyFailure> for ReconcileError {
    fn from(f: ApplyFailure) -> Self {
        ReconcileError::ReconciliationFailed(f.to_string())
    }
}

/// The owner of the objects the Kustomization `ks_namespace/ks_name` applies.
pub fn owner(ks_name: &str, ks_namespace: &str) -> Owner {
    Owner::new(OWNER_GROUP, ks_name, ks_namespace)
}

fn metadata_map<'a>(obj: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let root = obj.as_object_mut()?;
    let md = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !md.is_object() {
        *md = Value::Object(Map::new());
    }
    let m = md
        .as_object_mut()?
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut()
}

/// Forces `commonMetadata` labels and annotations onto an object.
pub fn apply_common_metadata(obj: &mut Value, common: &CommonMetadata) {
    for (key, entries) in [
        ("labels", &common.labels),
        ("annotations", &common.annotations),
    ] {
        if entries.is_empty() {
            continue;
        }
        if let Some(m) = metadata_map(obj, key) {
            for (k, v) in entries {
                m.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
}

/// Sets the owner labels naming the Kustomization that applies the object.
pub fn set_owner_labels(obj: &mut Value, ks_name: &str, ks_namespace: &str) {
    owner(ks_name, ks_namespace).label(obj);
}

/// Every apply-preparation step on the built, substituted objects: normalisation, then
/// `commonMetadata`, then owner labels; returns the apply stages.
pub fn prepare_apply(
    mut objects: Vec<Value>,
    ks_name: &str,
    ks_namespace: &str,
    common: Option<&CommonMetadata>,
    custom_stage_kinds: &[String],
) -> Vec<Stage> {
    for o in &mut objects {
        normalize(o);
        if let Some(c) = common {
            apply_common_metadata(o, c);
        }
        set_owner_labels(o, ks_name, ks_namespace);
    }
    apply_stages(objects, custom_stage_kinds)
}

/// Checks the `apiVersion` of an object has a version part (used for inventory versions).
pub fn version_of(obj: &Value) -> &str {
    split_api_version(obj.get("apiVersion").and_then(Value::as_str).unwrap_or("")).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owner_labels_win_over_common_metadata() {
        let common = CommonMetadata {
            labels: [
                ("team".to_string(), "a".to_string()),
                (OWNER_NAME_LABEL.to_string(), "evil".to_string()),
            ]
            .into(),
            annotations: [("note".to_string(), "x".to_string())].into(),
        };
        let stages = prepare_apply(
            vec![
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": "junk"}}),
            ],
            "apps",
            "flux-system",
            Some(&common),
            &[],
        );
        let md = &stages[0].objects[0]["metadata"];
        assert_eq!(md["labels"]["team"], "a");
        assert_eq!(md["labels"][OWNER_NAME_LABEL], "apps");
        assert_eq!(md["labels"][OWNER_NAMESPACE_LABEL], "flux-system");
        assert_eq!(md["annotations"]["note"], "x");
    }
}
