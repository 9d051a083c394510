//! Argo CD's built-in per-resource health checks (argoproj/argo-cd gitops-engine `pkg/health`) and
//! the app-level aggregation (worst of the managed resources, controller/health.go).

use serde_json::Value;

use crate::model::health::ArgoHealth;

/// Argo's order, best first: the app's health is the worst of its resources.
fn rank(h: ArgoHealth) -> u8 {
    match h {
        ArgoHealth::Healthy => 0,
        ArgoHealth::Suspended => 1,
        ArgoHealth::Progressing => 2,
        ArgoHealth::Missing => 3,
        ArgoHealth::Degraded => 4,
        ArgoHealth::Unknown => 5,
    }
}

/// The worse of two healths by Argo's order.
pub fn worse(a: ArgoHealth, b: ArgoHealth) -> ArgoHealth {
    if rank(b) > rank(a) { b } else { a }
}

fn i64_at(obj: &Value, p: &str) -> i64 {
    obj.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn cond_is(obj: &Value, type_: &str, status: &str) -> bool {
    condition(obj, type_)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some(status)
}

fn msg(obj: &Value, type_: &str) -> String {
    condition(obj, type_)
        .and_then(|c| c.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn generation_observed(obj: &Value) -> bool {
    let generation = i64_at(obj, "/metadata/generation");
    obj.pointer("/status/observedGeneration").is_none()
        || i64_at(obj, "/status/observedGeneration") >= generation
}

/// The health of one live object, or `None` for kinds Argo has no check for.
pub fn resource_health(obj: &Value) -> Option<(ArgoHealth, String)> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return Some((ArgoHealth::Progressing, "Pending deletion".into()));
    }
    let ok = |m: &str| Some((ArgoHealth::Healthy, m.to_string()));
    let progressing = |m: String| Some((ArgoHealth::Progressing, m));
    match (group, kind) {
        ("apps", "Deployment") => {
            if obj.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
                return Some((ArgoHealth::Suspended, "Deployment is paused".into()));
            }
            if !generation_observed(obj) {
                return progressing("Waiting for rollout to finish: observed deployment generation less than desired generation".into());
            }
            let reason = condition(obj, "Progressing")
                .and_then(|c| c.get("reason"))
                .and_then(Value::as_str);
            if reason == Some("ProgressDeadlineExceeded") {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                return Some((
                    ArgoHealth::Degraded,
                    format!("Deployment \"{name}\" exceeded its progress deadline"),
                ));
            }
            let want = obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let updated = i64_at(obj, "/status/updatedReplicas");
            let total = i64_at(obj, "/status/replicas");
            let available = i64_at(obj, "/status/availableReplicas");
            if updated < want {
                return progressing(format!(
                    "Waiting for rollout to finish: {updated} out of {want} new replicas have been updated..."
                ));
            }
            if total > updated {
                return progressing(format!(
                    "Waiting for rollout to finish: {} old replicas are pending termination...",
                    total - updated
                ));
            }
            if available < updated {
                return progressing(format!(
                    "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
                ));
            }
            ok("")
        }
        ("apps", "StatefulSet") | ("apps", "DaemonSet") | ("apps", "ReplicaSet") => {
            if !generation_observed(obj) {
                return progressing("Waiting for rollout to finish: observed generation less than desired generation".into());
            }
            if kind == "ReplicaSet" && cond_is(obj, "ReplicaFailure", "True") {
                return Some((ArgoHealth::Degraded, msg(obj, "ReplicaFailure")));
            }
            let (want, ready) = if kind == "DaemonSet" {
                (
                    i64_at(obj, "/status/desiredNumberScheduled"),
                    i64_at(obj, "/status/numberAvailable"),
                )
            } else {
                (
                    obj.pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1),
                    i64_at(
                        obj,
                        if kind == "ReplicaSet" {
                            "/status/availableReplicas"
                        } else {
                            "/status/readyReplicas"
                        },
                    ),
                )
            };
            if ready < want {
                return progressing(format!("Waiting for {want} pods to be ready..."));
            }
            ok("")
        }
        ("", "Pod") => match obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("")
        {
            "Succeeded" => ok("Pod completed successfully"),
            "Failed" => Some((
                ArgoHealth::Degraded,
                obj.pointer("/status/message")
                    .and_then(Value::as_str)
                    .unwrap_or("Pod failed")
                    .to_string(),
            )),
            "Running" => {
                let crash = obj
                    .pointer("/status/containerStatuses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find_map(|c| {
                        c.pointer("/state/waiting/reason")
                            .and_then(Value::as_str)
                            .filter(|r| {
                                *r == "CrashLoopBackOff"
                                    || r.starts_with("Err")
                                    || *r == "ImagePullBackOff"
                            })
                    });
                match crash {
                    Some(r) => Some((ArgoHealth::Degraded, r.to_string())),
                    None if cond_is(obj, "Ready", "True") => ok(""),
                    None => progressing(String::new()),
                }
            }
            _ => progressing(String::new()),
        },
        ("batch", "Job") => {
            if cond_is(obj, "Failed", "True") {
                return Some((ArgoHealth::Degraded, msg(obj, "Failed")));
            }
            if cond_is(obj, "Complete", "True") {
                return ok(&msg(obj, "Complete"));
            }
            if obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
                return Some((ArgoHealth::Suspended, "Job is suspended".into()));
            }
            progressing(String::new())
        }
        ("", "PersistentVolumeClaim") => match obj.pointer("/status/phase").and_then(Value::as_str)
        {
            Some("Bound") => ok(""),
            Some("Lost") => Some((ArgoHealth::Degraded, String::new())),
            _ => progressing(String::new()),
        },
        ("", "Service") => {
            if obj.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer")
                && obj
                    .pointer("/status/loadBalancer/ingress")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
            {
                return progressing(String::new());
            }
            ok("")
        }
        ("networking.k8s.io", "Ingress") => {
            if obj
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                return progressing(String::new());
            }
            ok("")
        }
        ("argoproj.io", "Application") => None,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => ok(""),
        ("", "Namespace") => ok(""),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_rules() {
        let d = |status: Value| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "w", "generation": 2}, "spec": {"replicas": 2}, "status": status})
        };
        assert_eq!(
            resource_health(&d(json!({"observedGeneration": 1})))
                .unwrap()
                .0,
            ArgoHealth::Progressing
        );
        assert_eq!(resource_health(&d(json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}))).unwrap().0, ArgoHealth::Healthy);
        assert_eq!(resource_health(&d(json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}))).unwrap().0, ArgoHealth::Degraded);
        assert!(resource_health(&json!({"apiVersion": "v1", "kind": "ConfigMap"})).is_none());
    }

    #[test]
    fn jobs_and_order() {
        let j = |c: &str| json!({"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": [{"type": c, "status": "True", "message": "m"}]}});
        assert_eq!(
            resource_health(&j("Complete")).unwrap().0,
            ArgoHealth::Healthy
        );
        assert_eq!(
            resource_health(&j("Failed")).unwrap(),
            (ArgoHealth::Degraded, "m".into())
        );
        assert_eq!(
            worse(ArgoHealth::Healthy, ArgoHealth::Missing),
            ArgoHealth::Missing
        );
        assert_eq!(
            worse(ArgoHealth::Degraded, ArgoHealth::Missing),
            ArgoHealth::Degraded
        );
    }
}
