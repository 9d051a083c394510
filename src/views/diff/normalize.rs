//! Dropping what the server owns, so a diff shows only what a manifest can change.

use serde_json::{Map, Value};

/// Metadata fields the API server writes.
pub const SERVER_METADATA: [&str; 8] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Annotations written by controllers or clients rather than by the manifest.
pub const SERVER_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];

/// A copy of `obj` without `status`, server-owned metadata and annotations; emptied
/// `labels`/`annotations` maps are removed.
pub fn normalize(obj: &Value) -> Value {
    let mut out = obj.clone();
    let Some(map) = out.as_object_mut() else {
        return out;
    };
    map.remove("status");
    if let Some(Value::Object(md)) = map.get_mut("metadata") {
        for f in SERVER_METADATA {
            md.remove(f);
        }
        if let Some(Value::Object(a)) = md.get_mut("annotations") {
            for k in SERVER_ANNOTATIONS {
                a.remove(k);
            }
        }
        drop_empty(md, "annotations");
        drop_empty(md, "labels");
    }
    out
}

fn drop_empty(md: &mut Map<String, Value>, key: &str) {
    let empty = match md.get(key) {
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    if empty {
        md.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_fields_go_and_the_manifest_stays() {
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7", "generation": 2,
                         "creationTimestamp": "2024-01-01T00:00:00Z", "managedFields": [{}],
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                         "labels": {"app": "a"}},
            "data": {"k": "v"},
            "status": {"x": 1}
        });
        assert_eq!(
            normalize(&live),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "a", "namespace": "n", "labels": {"app": "a"}},
                   "data": {"k": "v"}})
        );
        assert_eq!(normalize(&json!([1])), json!([1]));
        assert_eq!(normalize(&json!({"metadata": 3})), json!({"metadata": 3}));
    }
}
