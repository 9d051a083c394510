//! Type checks of written objects (§A6): the real apiserver decodes every body into its Go type, so a
//! wrongly typed field (`labels: 7`, a ConfigMap value that is a number, `replicas: "three"`) is a
//! 400 BadRequest, and invalid label keys or values are 422 Invalid. Storing such objects would break
//! every typed client's list of the kind, so nothing is stored without passing here.

use super::errors::ApiError;
use super::registry::ResourceDef;
use crate::model::validation;
use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Decodes `obj` as `T` without copying it, keeping only the error.
fn decode<'v, T: Deserialize<'v>>(obj: &'v Value) -> Result<(), serde_json::Error> {
    T::deserialize(obj).map(drop)
}

/// Decodes `obj` as the typed Go struct of a built-in kind; `None` for kinds without one (CRs).
fn decode_builtin(group: &str, kind: &str, obj: &Value) -> Option<Result<(), serde_json::Error>> {
    let result = match (group, kind) {
        ("", "Namespace") => decode::<api::core::v1::Namespace>(obj),
        ("", "ConfigMap") => decode::<api::core::v1::ConfigMap>(obj),
        ("", "Secret") => decode::<api::core::v1::Secret>(obj),
        ("", "Service") => decode::<api::core::v1::Service>(obj),
        ("", "ServiceAccount") => decode::<api::core::v1::ServiceAccount>(obj),
        ("", "Pod") => decode::<api::core::v1::Pod>(obj),
        ("", "Event") => decode::<api::core::v1::Event>(obj),
        ("", "PersistentVolumeClaim") => decode::<api::core::v1::PersistentVolumeClaim>(obj),
        ("apps", "Deployment") => decode::<api::apps::v1::Deployment>(obj),
        ("apps", "StatefulSet") => decode::<api::apps::v1::StatefulSet>(obj),
        ("apps", "DaemonSet") => decode::<api::apps::v1::DaemonSet>(obj),
        ("apps", "ReplicaSet") => decode::<api::apps::v1::ReplicaSet>(obj),
        ("events.k8s.io", "Event") => decode::<api::events::v1::Event>(obj),
        ("batch", "Job") => decode::<api::batch::v1::Job>(obj),
        ("batch", "CronJob") => decode::<api::batch::v1::CronJob>(obj),
        ("networking.k8s.io", "Ingress") => decode::<api::networking::v1::Ingress>(obj),
        ("rbac.authorization.k8s.io", "Role") => decode::<api::rbac::v1::Role>(obj),
        ("rbac.authorization.k8s.io", "ClusterRole") => decode::<api::rbac::v1::ClusterRole>(obj),
        ("rbac.authorization.k8s.io", "RoleBinding") => decode::<api::rbac::v1::RoleBinding>(obj),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            decode::<api::rbac::v1::ClusterRoleBinding>(obj)
        }
        ("autoscaling", "HorizontalPodAutoscaler") => {
            decode::<api::autoscaling::v2::HorizontalPodAutoscaler>(obj)
        }
        ("coordination.k8s.io", "Lease") => decode::<api::coordination::v1::Lease>(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            decode::<CustomResourceDefinition>(obj)
        }
        _ => return None,
    };
    Some(result)
}

/// Checks an object about to be written (create/update body, patched or applied result): every
/// field a typed client decodes has the right type, and metadata holds valid label keys and values,
/// annotation keys, finalizer names and complete owner references.
pub(crate) fn check_object(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let kind = &def.kind;
    let cannot_handle = |e: serde_json::Error| {
        ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {kind}: {e}",
            def.storage_version
        ))
    };
    let decoded = if def.custom {
        None
    } else {
        decode_builtin(&def.group, kind, obj)
    };
    match decoded {
        Some(result) => result.map_err(cannot_handle)?,
        None => {
            if let Some(meta) = obj.get("metadata") {
                decode::<ObjectMeta>(meta).map_err(|e| {
                    cannot_handle(serde::de::Error::custom(format_args!("metadata: {e}")))
                })?;
            }
        }
    }
    let Some(meta) = obj.get("metadata").and_then(Value::as_object) else {
        return Ok(());
    };
    let causes = metadata_causes(meta);
    if causes.is_empty() {
        return Ok(());
    }
    let name = meta.get("name").and_then(Value::as_str).unwrap_or("");
    Err(ApiError::invalid(kind, &def.group, name, &causes))
}

/// The 422 causes of a decoded (so well-typed) ObjectMeta.
fn metadata_causes(meta: &Map<String, Value>) -> Vec<(&'static str, &'static str, String)> {
    let mut causes = Vec::new();
    let strings = |field: &str| {
        meta.get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
    };
    for (key, value) in strings("labels") {
        if let Err(e) = validation::validate_qualified_name(key) {
            causes.push((
                "metadata.labels",
                "FieldValueInvalid",
                format!("Invalid value: {key:?}: {e}"),
            ));
        }
        if let Err(e) = validation::validate_label_value(value) {
            causes.push((
                "metadata.labels",
                "FieldValueInvalid",
                format!("Invalid value: {value:?}: {e}"),
            ));
        }
    }
    for (key, _) in strings("annotations") {
        if let Err(e) = validation::validate_qualified_name(&key.to_ascii_lowercase()) {
            causes.push((
                "metadata.annotations",
                "FieldValueInvalid",
                format!("Invalid value: {key:?}: {e}"),
            ));
        }
    }
    for finalizer in meta
        .get("finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Err(e) = validation::validate_qualified_name(finalizer) {
            causes.push((
                "metadata.finalizers",
                "FieldValueInvalid",
                format!("Invalid value: {finalizer:?}: {e}"),
            ));
        }
    }
    for owner in meta
        .get("ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for (field, what) in [
            ("apiVersion", "metadata.ownerReferences.apiVersion"),
            ("kind", "metadata.ownerReferences.kind"),
            ("name", "metadata.ownerReferences.name"),
            ("uid", "metadata.ownerReferences.uid"),
        ] {
            if owner
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                causes.push((
                    what,
                    "FieldValueInvalid",
                    format!("Invalid value: \"\": {field} must not be empty"),
                ));
            }
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::registry::Registry;
    use serde_json::json;

    fn check(key: &str, obj: Value) -> Result<(), ApiError> {
        let registry = Registry::with_builtins();
        let def = registry.by_key(key).expect("built-in resource");
        check_object(&def, &obj)
    }

    fn code(r: Result<(), ApiError>) -> u16 {
        r.err().map_or(200, |e| e.code)
    }

    #[test]
    fn wrong_types_are_bad_requests_naming_the_kind() {
        let cm = |meta: Value, data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data});
        let err = check("/configmaps", cm(json!({"name": "a"}), json!({"k": 5})))
            .expect_err("number in data");
        assert_eq!(err.code, 400);
        assert!(
            err.message.contains("ConfigMap in version \"v1\""),
            "{}",
            err.message
        );
        for meta in [
            json!({"name": "a", "labels": ["x"]}),
            json!({"name": "a", "labels": {"a": 1}}),
            json!({"name": "a", "annotations": "x"}),
            json!({"name": "a", "finalizers": {"a": "b"}}),
            json!({"name": "a", "finalizers": [1]}),
            json!({"name": "a", "generateName": false}),
            json!({"name": "a", "ownerReferences": {"uid": "x"}}),
            json!({"name": "a", "creationTimestamp": "yesterday"}),
            json!({"name": 3}),
        ] {
            assert_eq!(
                code(check("/configmaps", cm(meta.clone(), json!({})))),
                400,
                "{meta}"
            );
        }
        let deploy = |replicas: Value| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"replicas": replicas}})
        };
        assert_eq!(code(check("apps/deployments", deploy(json!("three")))), 400);
        assert_eq!(
            code(check("apps/deployments", deploy(json!(99_999_999_999_i64)))),
            400
        );
        assert_eq!(code(check("apps/deployments", deploy(json!(3)))), 200);
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"},
            "spec": {"finalizers": "kubernetes"}});
        assert_eq!(code(check("/namespaces", ns)), 400);
    }

    #[test]
    fn invalid_metadata_values_are_422() {
        let cm = |meta: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta});
        for meta in [
            json!({"name": "a", "labels": {"bad key!": "v"}}),
            json!({"name": "a", "labels": {"k": "bad value!"}}),
            json!({"name": "a", "annotations": {"": "v"}}),
            json!({"name": "a", "finalizers": ["not a name"]}),
            json!({"name": "a", "ownerReferences": [{"name": "x"}]}),
        ] {
            assert_eq!(code(check("/configmaps", cm(meta.clone()))), 422, "{meta}");
        }
        let ok = cm(
            json!({"name": "a", "labels": {"app.kubernetes.io/name": "x", "e": ""},
            "annotations": {"example.com/Any": "any text!"}, "finalizers": ["example.com/f", "kubernetes"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u"}]}),
        );
        assert_eq!(code(check("/configmaps", ok)), 200);
    }

    #[test]
    fn custom_resources_check_metadata_only() {
        let mut registry = Registry::with_builtins();
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.dev"},
            "spec": {"group": "example.dev", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
        registry.register_crd(&crd).expect("CRD registers");
        let def = registry.by_key("example.dev/widgets").expect("registered");
        let cr = |meta: Value, spec: Value| json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": meta, "spec": spec});
        assert_eq!(
            code(check_object(&def, &cr(json!({"name": "w"}), json!(7)))),
            200
        );
        assert_eq!(
            code(check_object(
                &def,
                &cr(json!({"name": "w", "labels": 7}), json!({}))
            )),
            400
        );
        assert_eq!(
            code(check_object(
                &def,
                &cr(
                    json!({"name": "w", "finalizers": {"$patch": "x"}}),
                    json!({})
                )
            )),
            400
        );
    }
}
