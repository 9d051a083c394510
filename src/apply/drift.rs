//! Drift detection (flux-semantics §3.5): the server-side dry-run result differs from the live
//! object in labels, annotations, or anything outside `metadata` and `status`.

use serde_json::{Map, Value};

use super::policy::ApplyAction;

/// Deepest nesting compared; anything deeper counts as drift (re-applying is always safe).
const MAX_DEPTH: usize = 512;

/// Equality where numbers compare by value (`1` = `1.0`) and nothing else is coerced.
fn semantic_eq(a: &Value, b: &Value, depth: usize) -> bool {
    if depth >= MAX_DEPTH {
        return false;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| semantic_eq(p, q, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| semantic_eq(v, w, depth + 1)))
        }
        _ => a == b,
    }
}

/// A metadata map (`labels`/`annotations`); absent, null and empty are the same.
fn meta_map<'a>(
    obj: &'a Value,
    key: &str,
    empty: &'a Map<String, Value>,
) -> &'a Map<String, Value> {
    obj.get("metadata")
        .and_then(|m| m.get(key))
        .and_then(Value::as_object)
        .unwrap_or(empty)
}

/// Whether applying would change the live object, judged by the dry-run result.
pub fn has_drifted(live: &Value, dry_run: &Value) -> bool {
    let empty = Map::new();
    for key in ["labels", "annotations"] {
        let (a, b) = (meta_map(live, key, &empty), meta_map(dry_run, key, &empty));
        if a.len() != b.len()
            || !a
                .iter()
                .all(|(k, v)| b.get(k).is_some_and(|w| semantic_eq(v, w, 0)))
        {
            return true;
        }
    }
    let body = |obj: &Value| -> Map<String, Value> {
        obj.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    !semantic_eq(&Value::Object(body(live)), &Value::Object(body(dry_run)), 0)
}

/// What applying does after a successful dry-run (Flux's `ApplyAll` decision): `created` when the
/// object does not exist (the dry-run answer has no resourceVersion), `configured` when it drifted
/// or its metadata was cleaned up, else `unchanged` (not written). The reconciler and `diff` share it.
pub fn dry_run_action(live: Option<&Value>, dry_run: &Value, cleaned: bool) -> ApplyAction {
    let existed = dry_run
        .get("metadata")
        .and_then(|m| m.get("resourceVersion"))
        .and_then(Value::as_str)
        .is_some_and(|rv| !rv.is_empty());
    let drifted = live.is_none_or(|l| has_drifted(l, dry_run));
    if !cleaned && !drifted {
        ApplyAction::Unchanged
    } else if existed {
        ApplyAction::Configured
    } else {
        ApplyAction::Created
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(labels: Value, data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "labels": labels, "resourceVersion": "5",
                            "managedFields": [{"manager": "m", "time": "t1"}]},
               "data": data, "status": {"x": 1}})
    }

    #[test]
    fn only_labels_annotations_and_body_count() {
        let live = cm(json!({"a": "1"}), json!({"k": "v"}));
        let mut same = live.clone();
        same["metadata"]["resourceVersion"] = json!("9");
        same["metadata"]["managedFields"] = json!([{"manager": "m", "time": "t2"}]);
        same["status"] = json!({"x": 2});
        assert!(!has_drifted(&live, &same));
        assert!(has_drifted(
            &live,
            &cm(json!({"a": "2"}), json!({"k": "v"}))
        ));
        assert!(has_drifted(
            &live,
            &cm(json!({"a": "1"}), json!({"k": "w"}))
        ));
        let mut annotated = live.clone();
        annotated["metadata"]["annotations"] = json!({"n": "x"});
        assert!(has_drifted(&live, &annotated));
        let mut empty_annotations = live.clone();
        empty_annotations["metadata"]["annotations"] = json!({});
        assert!(!has_drifted(&live, &empty_annotations));
        let mut extra = live.clone();
        extra["immutable"] = json!(true);
        assert!(has_drifted(&live, &extra));
    }

    #[test]
    fn numbers_compare_by_value() {
        let a = json!({"spec": {"replicas": 1, "ratio": 0.5}});
        let b = json!({"spec": {"replicas": 1.0, "ratio": 0.5}});
        assert!(!has_drifted(&a, &b));
        assert!(has_drifted(
            &a,
            &json!({"spec": {"replicas": 2, "ratio": 0.5}})
        ));
    }

    #[test]
    fn junk_and_deep_values_do_not_panic() {
        assert!(!has_drifted(&json!(null), &json!(3)));
        assert!(has_drifted(
            &json!({"metadata": 1, "a": [1]}),
            &json!({"a": [1, 2]})
        ));
        let mut deep = json!(1);
        for _ in 0..1000 {
            deep = json!([deep]);
        }
        let obj = json!({"spec": deep});
        assert!(has_drifted(&obj, &obj.clone()));
    }
}
