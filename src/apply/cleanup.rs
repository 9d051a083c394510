//! Removing kubectl and Flux v1 leftovers from a live object before apply (flux-semantics §3.5):
//! the cleanup annotations and labels, and the field ownership of `kubectl`, `before-first-apply` and
//! the controller's own `Update` entries folded into the controller's `Apply` entry.

use serde_json::{Map, Value, json};

use super::policy::{CLEANUP_ANNOTATIONS, CLEANUP_LABELS};

/// Deepest `fieldsV1` nesting merged; deeper parts keep the controller's own set (real field sets
/// are a few dozen levels at most).
const MAX_FIELDS_DEPTH: usize = 256;

/// Escapes a key for a JSON pointer (RFC 6901).
fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Whether a managedFields entry belongs to a manager whose ownership the controller takes over.
fn is_foreign(entry: &Value, manager: &str) -> bool {
    let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
    if !text("subresource").is_empty() {
        return false;
    }
    let (name, op) = (text("manager"), text("operation"));
    (name.starts_with("kubectl") && (op == "Apply" || op == "Update"))
        || (name.starts_with("before-first-apply") && op == "Update")
        || (!manager.is_empty() && name.starts_with(manager) && op == "Update")
}

/// The union of two `fieldsV1` tries.
fn merge_fields(into: &mut Value, from: &Value, depth: usize) {
    if depth >= MAX_FIELDS_DEPTH {
        return;
    }
    let (Value::Object(a), Value::Object(b)) = (&mut *into, from) else {
        if !into.is_object() && from.is_object() {
            *into = from.clone();
        }
        return;
    };
    for (k, v) in b {
        match a.get_mut(k) {
            Some(existing) => merge_fields(existing, v, depth + 1),
            None => {
                a.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The managedFields list after folding foreign entries into `manager`'s Apply entry, or `None`
/// when nothing is foreign.
pub fn fold_managed_fields(entries: &[Value], manager: &str) -> Option<Vec<Value>> {
    let is_ours = |e: &Value| {
        e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Apply")
            && e.get("subresource")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
    };
    if !entries
        .iter()
        .any(|e| is_foreign(e, manager) && !is_ours(e))
    {
        return None;
    }
    let mut ours: Option<Value> = entries.iter().rev().find(|e| is_ours(e)).cloned();
    let mut kept = Vec::with_capacity(entries.len());
    for entry in entries {
        if is_ours(entry) {
            continue;
        }
        if !is_foreign(entry, manager) {
            kept.push(entry.clone());
            continue;
        }
        match ours.as_mut() {
            None => {
                let mut renamed = entry.clone();
                if let Value::Object(m) = &mut renamed {
                    m.insert("manager".into(), json!(manager));
                    m.insert("operation".into(), json!("Apply"));
                }
                ours = Some(renamed);
            }
            Some(o) => {
                if let Some(theirs) = entry.get("fieldsV1") {
                    match o.get_mut("fieldsV1") {
                        Some(mine) => merge_fields(mine, theirs, 0),
                        None => {
                            if let Value::Object(m) = o {
                                m.insert("fieldsV1".into(), theirs.clone());
                            }
                        }
                    }
                }
            }
        }
    }
    kept.extend(ours);
    Some(kept)
}

/// The JSON patch that cleans `live` for `manager`, or `None` when it is already clean.
pub fn cleanup_patch(live: &Value, manager: &str) -> Option<Value> {
    let md = live.get("metadata").and_then(Value::as_object);
    let empty = Map::new();
    let md = md.unwrap_or(&empty);
    let mut ops = Vec::new();
    for (map, keys) in [
        ("annotations", &CLEANUP_ANNOTATIONS[..]),
        ("labels", &CLEANUP_LABELS[..]),
    ] {
        let Some(present) = md.get(map).and_then(Value::as_object) else {
            continue;
        };
        for key in keys {
            if present.contains_key(*key) {
                ops.push(json!({"op": "remove", "path": format!("/metadata/{map}/{}", pointer_token(key))}));
            }
        }
    }
    if let Some(entries) = md.get("managedFields").and_then(Value::as_array)
        && let Some(folded) = fold_managed_fields(entries, manager)
    {
        ops.push(json!({"op": "replace", "path": "/metadata/managedFields", "value": folded}));
    }
    (!ops.is_empty()).then_some(Value::Array(ops))
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "kustomize-controller";

    #[test]
    fn clean_objects_need_no_patch() {
        let live = json!({"metadata": {"annotations": {"a": "b"}, "labels": {"x": "y"},
            "managedFields": [{"manager": M, "operation": "Apply", "fieldsV1": {"f:data": {}}},
                              {"manager": "other", "operation": "Update"},
                              {"manager": "kubectl", "operation": "Update", "subresource": "status"}]}});
        assert_eq!(cleanup_patch(&live, M), None);
        for junk in [
            json!(null),
            json!(3),
            json!({"metadata": 5}),
            json!({"metadata": {"managedFields": "x", "labels": []}}),
        ] {
            assert_eq!(cleanup_patch(&junk, M), None);
        }
    }

    #[test]
    fn leftovers_are_removed_and_ownership_folded() {
        let live = json!({"metadata": {
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "1"},
        "labels": {"fluxcd.io/sync-gc-mark": "x", "app": "web"},
        "managedFields": [
            {"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {"f:data": {"f:a": {}}}},
            {"manager": M, "operation": "Apply", "fieldsV1": {"f:data": {"f:b": {}}}},
            {"manager": "other", "operation": "Update", "fieldsV1": {"f:data": {"f:c": {}}}},
            {"manager": M, "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {}}}},
        ]}});
        let patch = cleanup_patch(&live, M).unwrap();
        assert_eq!(
            patch,
            json!([
                {"op": "remove", "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"},
                {"op": "remove", "path": "/metadata/labels/fluxcd.io~1sync-gc-mark"},
                {"op": "replace", "path": "/metadata/managedFields", "value": [
                    {"manager": "other", "operation": "Update", "fieldsV1": {"f:data": {"f:c": {}}}},
                    {"manager": M, "operation": "Apply", "fieldsV1": {
                        "f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {}}}},
                ]},
            ])
        );
    }

    #[test]
    fn first_foreign_entry_becomes_ours_when_we_own_nothing() {
        let entries = vec![
            json!({"manager": "kubectl", "operation": "Apply", "time": "t", "fieldsV1": {"f:spec": {}}}),
            json!({"manager": "before-first-apply", "operation": "Update", "fieldsV1": {"f:data": {}}}),
        ];
        let folded = fold_managed_fields(&entries, M).unwrap();
        assert_eq!(
            folded,
            vec![json!({"manager": M, "operation": "Apply", "time": "t",
                        "fieldsV1": {"f:spec": {}, "f:data": {}}})]
        );
    }

    #[test]
    fn deep_field_sets_do_not_overflow() {
        let mut deep = json!({});
        for _ in 0..2000 {
            deep = json!({"f:x": deep});
        }
        let entries = vec![
            json!({"manager": M, "operation": "Apply", "fieldsV1": deep.clone()}),
            json!({"manager": "kubectl", "operation": "Update", "fieldsV1": deep}),
        ];
        let folded = fold_managed_fields(&entries, M).unwrap();
        assert_eq!(folded.len(), 1);
    }
}
