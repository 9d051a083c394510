//! The `/scale` subresource of Deployments, StatefulSets and ReplicaSets: an `autoscaling/v1` Scale
//! view (spec.replicas, status.replicas, status.selector as a selector string) whose writes set the
//! parent's `spec.replicas` (so they bump its generation and emit a watch event like any write).

use super::State;
use super::errors::{ApiError, Target};
use super::objects::{PatchKind, WriteOpts};
use super::registry::ResourceDef;
use crate::patch::{self, PatchError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Whether a resource serves `/scale`.
pub(crate) fn supports_scale(def: &ResourceDef) -> bool {
    !def.custom
        && def.group == "apps"
        && matches!(
            def.kind.as_str(),
            "Deployment" | "StatefulSet" | "ReplicaSet"
        )
}

/// The discovery entry of `<plural>/scale`.
pub(crate) fn discovery_entry(def: &ResourceDef) -> Value {
    json!({"name": format!("{}/scale", def.plural), "singularName": "",
        "namespaced": def.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale",
        "verbs": ["get", "patch", "update"]})
}

/// A label selector (`matchLabels` + `matchExpressions`) as a selector string, requirements sorted by
/// key like apimachinery prints them (`app=web,tier in (a,b)`).
fn selector_string(selector: &Value) -> String {
    let mut parts: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            parts.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
        let mut values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let text = match expr.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        parts.push((key.to_string(), text));
    }
    parts.sort();
    parts
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(",")
}

/// The Scale view of a workload object.
pub(crate) fn scale_of(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut md = serde_json::Map::new();
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(key) {
            md.insert(key.into(), v.clone());
        }
    }
    let replicas = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status_replicas = obj
        .pointer("/status/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let mut status = json!({"replicas": status_replicas});
    if let Some(sel) = obj.pointer("/spec/selector") {
        status["selector"] = json!(selector_string(sel));
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": md,
        "spec": {"replicas": replicas}, "status": status})
}

fn not_found(def: &ResourceDef, name: &str) -> ApiError {
    ApiError::not_found(Target {
        plural: &def.plural,
        group: &def.group,
        name,
    })
}

impl State {
    /// `GET .../<plural>/<name>/scale`.
    pub(crate) fn get_scale(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let stored = self
            .store
            .get(&def.key(), ns, name)
            .ok_or_else(|| not_found(def, name))?;
        Ok(scale_of(&stored.value()))
    }

    /// `PUT` (`patch` = None) or `PATCH` of `/scale`: computes the new Scale, then sets the parent's
    /// `spec.replicas`. Returns the resulting Scale.
    pub(crate) fn write_scale(
        &mut self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        patch: Option<PatchKind>,
        body: &Value,
        w: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let current = self.get_scale(def, ns, name)?;
        let stored_rv = current
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        let scale = match patch {
            None => body.clone(),
            Some(PatchKind::Merge | PatchKind::Strategic) => {
                if !body.is_object() {
                    return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                }
                let mut scale = current;
                patch::merge_patch(&mut scale, body);
                scale
            }
            Some(PatchKind::Json) => {
                let mut scale = current;
                match patch::json_patch(&mut scale, body) {
                    Ok(()) => scale,
                    Err(PatchError::Invalid(m)) => {
                        return Err(ApiError::bad_request(format!("invalid patch: {m}")));
                    }
                    Err(e) => {
                        return Err(ApiError::new(
                            422,
                            "Invalid",
                            format!(
                                "the server rejected our request due to an error in our request: {e}"
                            ),
                        ));
                    }
                }
            }
            Some(PatchKind::Apply) => return Err(ApiError::unsupported_media(true)),
        };
        if !scale.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object describing a Scale",
            ));
        }
        k8s_openapi::api::autoscaling::v1::Scale::deserialize(&scale).map_err(|e| {
            ApiError::bad_request(format!(
                "Scale in version \"v1\" cannot be handled as a Scale: {e}"
            ))
        })?;
        if let Some(bname) = scale.pointer("/metadata/name").and_then(Value::as_str)
            && !bname.is_empty()
            && bname != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({bname}) does not match the name on the URL ({name})"
            )));
        }
        let replicas = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::invalid(
                "Scale",
                "autoscaling",
                name,
                &[(
                    "spec.replicas",
                    "FieldValueInvalid",
                    format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                )],
            ));
        }
        // A resourceVersion in the Scale is a precondition on the parent.
        let mut parent_patch = json!({"spec": {"replicas": replicas}});
        match scale.pointer("/metadata/resourceVersion") {
            Some(Value::String(rv)) if !rv.is_empty() => {
                if Value::String(rv.clone()) != stored_rv {
                    return Err(ApiError::conflict(Target {
                        plural: &def.plural,
                        group: &def.group,
                        name,
                    }));
                }
                parent_patch["metadata"] = json!({"resourceVersion": rv});
            }
            _ => {}
        }
        let (updated, _) = self.patch(def, ns, name, PatchKind::Merge, &parent_patch, w)?;
        Ok(scale_of(&updated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_strings_sort_requirements_by_key() {
        let sel = json!({"matchLabels": {"tier": "web", "app": "x"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "Exists"},
                {"key": "b", "operator": "NotIn", "values": ["1"]}]});
        assert_eq!(
            selector_string(&sel),
            "app=x,b notin (1),!canary,env in (dev,prod),tier=web,zone"
        );
    }

    #[test]
    fn scale_view_of_a_deployment() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "7",
                "labels": {"x": "y"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2}});
        assert_eq!(
            scale_of(&d),
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "7"},
                "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=web"}})
        );
    }
}
