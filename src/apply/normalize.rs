//! Flux's `normalize.Unstructured` applied to desired objects before server-side apply, so that
//! dry-run answers and live objects compare without spurious drift.

use base64::Engine;
use serde_json::{Map, Value};

/// Flux's `normalize.Unstructured`: Secret `stringData` folded into `data`, empty port protocols
/// defaulted to TCP, `creationTimestamp` and `status` (except on CRDs) dropped, invalid CRD
/// conversion `caBundle` removed.
pub fn normalize(obj: &mut Value) {
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(md)) = map.get_mut("metadata") {
        md.remove("creationTimestamp");
    }
    if kind != "CustomResourceDefinition" {
        map.remove("status");
    }
    match kind.as_str() {
        "Secret" => fold_string_data(map),
        "Service" => default_protocols(map.get_mut("spec").and_then(|s| s.get_mut("ports"))),
        "Pod" => default_pod_spec_protocols(map.get_mut("spec")),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            default_pod_spec_protocols(
                map.get_mut("spec")
                    .and_then(|s| s.get_mut("template"))
                    .and_then(|t| t.get_mut("spec")),
            )
        }
        "CronJob" => default_pod_spec_protocols(
            map.get_mut("spec")
                .and_then(|s| s.get_mut("jobTemplate"))
                .and_then(|j| j.get_mut("spec"))
                .and_then(|s| s.get_mut("template"))
                .and_then(|t| t.get_mut("spec")),
        ),
        "CustomResourceDefinition" => drop_invalid_ca_bundle(map),
        _ => {}
    }
}

fn fold_string_data(map: &mut Map<String, Value>) {
    let Some(Value::Object(sd)) = map.remove("stringData") else {
        return;
    };
    let data = map
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Value::Object(d) = data {
        for (k, v) in sd {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            d.insert(
                k,
                Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

fn default_protocols(ports: Option<&mut Value>) {
    let Some(Value::Array(ports)) = ports else {
        return;
    };
    for p in ports {
        if let Value::Object(p) = p {
            let empty = p
                .get("protocol")
                .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
            if empty {
                p.insert("protocol".into(), Value::String("TCP".into()));
            }
        }
    }
}

fn default_pod_spec_protocols(spec: Option<&mut Value>) {
    let Some(Value::Object(spec)) = spec else {
        return;
    };
    for key in ["initContainers", "containers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(key) {
            for c in cs {
                default_protocols(c.get_mut("ports"));
            }
        }
    }
}

fn drop_invalid_ca_bundle(map: &mut Map<String, Value>) {
    let Some(Value::Object(cc)) = map
        .get_mut("spec")
        .and_then(|s| s.get_mut("conversion"))
        .and_then(|c| c.get_mut("webhook"))
        .and_then(|w| w.get_mut("clientConfig"))
    else {
        return;
    };
    let valid = match cc.get("caBundle") {
        None => return,
        Some(Value::String(s)) => {
            !s.is_empty() && base64::engine::general_purpose::STANDARD.decode(s).is_ok()
        }
        Some(_) => false,
    };
    if !valid {
        cc.remove("caBundle");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalisation_matches_flux() {
        let mut secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "creationTimestamp": null},
            "data": {"a": "YQ=="}, "stringData": {"b": "hello"}, "status": {}});
        normalize(&mut secret);
        assert_eq!(
            secret,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                   "data": {"a": "YQ==", "b": "aGVsbG8="}})
        );
        let mut deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]}]}}},
            "status": {"replicas": 1}});
        normalize(&mut deploy);
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
            "TCP"
        );
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["ports"][1]["protocol"],
            "UDP"
        );
        assert!(deploy.get("status").is_none());
        let mut svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "protocol": ""}]}});
        normalize(&mut svc);
        assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
        let mut crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "w"}, "status": {"x": 1},
            "spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": "not base64!"}}}}});
        normalize(&mut crd);
        assert_eq!(crd["status"], json!({"x": 1}));
        assert_eq!(
            crd["spec"]["conversion"]["webhook"]["clientConfig"],
            json!({})
        );
        let mut role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}, "rules": []});
        let before = role.clone();
        normalize(&mut role);
        assert_eq!(role, before);
        for mut junk in [
            json!(null),
            json!([1]),
            json!({"kind": "Secret", "stringData": 3}),
            json!({"kind": "Service", "spec": {"ports": [1, null]}}),
        ] {
            normalize(&mut junk);
        }
    }
}
