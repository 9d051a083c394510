//! The Kustomization used by the API-server benchmark and the RSS measurement: a realistic Flux object
//! (spec, two status conditions, an eight-entry inventory), about 2 KB of JSON once the server has added
//! uid, timestamps and managedFields.

use serde_json::{Value, json};

/// Group/version of the Kustomization API.
pub const API_VERSION: &str = "kustomize.toolkit.fluxcd.io/v1";
/// Namespace the benchmark objects live in (created before loading).
pub const NAMESPACE: &str = "flux-system";
/// Cluster-wide collection path (the "full list").
pub const LIST_PATH: &str = "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations";

/// Name of the `i`-th benchmark object.
pub fn name(i: usize) -> String {
    format!("ks-{i:05}")
}

/// Path of one object (or, with `/status`, its status subresource).
pub fn object_path(i: usize) -> String {
    format!(
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/kustomizations/{}",
        name(i)
    )
}

/// The body POSTed to create the `i`-th object (spec and metadata; status is written separately).
pub fn create_body(i: usize) -> Value {
    let app = format!("app-{:03}", i % 500);
    json!({
        "apiVersion": API_VERSION,
        "kind": "Kustomization",
        "metadata": {
            "name": name(i),
            "namespace": NAMESPACE,
            "labels": {
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/part-of": "platform",
                "toolkit.fluxcd.io/tenant": format!("team-{}", i % 20)
            },
            "annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "enabled"}
        },
        "spec": {
            "interval": "10m0s",
            "retryInterval": "2m0s",
            "timeout": "5m0s",
            "path": format!("./apps/{app}/overlays/production"),
            "prune": true,
            "wait": true,
            "force": false,
            "targetNamespace": app,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system", "namespace": NAMESPACE},
            "dependsOn": [{"name": "infra-controllers"}, {"name": "infra-configs"}],
            "postBuild": {
                "substitute": {"cluster_name": "production", "region": "eu-west-1", "domain": "example.com"},
                "substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}]
            },
            "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}}
        }
    })
}

/// A status merge patch for the `i`-th object; `marker` lands in `status.lastHandledReconcileAt`.
pub fn status_patch(i: usize, marker: &str) -> Value {
    let app = format!("app-{:03}", i % 500);
    let rev = "main@sha1:0123456789abcdef0123456789abcdef01234567";
    let inventory: Vec<Value> = [
        ("", "ServiceAccount"),
        ("", "ConfigMap"),
        ("", "Service"),
        ("apps", "Deployment"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("policy", "PodDisruptionBudget"),
        ("networking.k8s.io", "Ingress"),
        ("monitoring.coreos.com", "ServiceMonitor"),
    ]
    .iter()
    .map(|(group, kind)| json!({"id": format!("{app}_{app}_{group}_{kind}"), "v": "v1"}))
    .collect();
    json!({"status": {
        "observedGeneration": 1,
        "lastAppliedRevision": rev,
        "lastAttemptedRevision": rev,
        "lastHandledReconcileAt": marker,
        "conditions": [
            {"type": "Ready", "status": "True", "observedGeneration": 1, "reason": "ReconciliationSucceeded",
             "message": format!("Applied revision: {rev}"), "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "Healthy", "status": "True", "observedGeneration": 1, "reason": "Succeeded",
             "message": "Health check passed in 2.1s", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        ],
        "inventory": {"entries": inventory}
    }})
}

/// The Namespace object for [`NAMESPACE`].
pub fn namespace_body() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
}
