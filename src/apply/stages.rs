//! Flux's staged apply order (fluxcd/pkg `ssa` sort and `ApplyAllStaged`): cluster definitions,
//! then classes, then configured custom kinds, then everything else, each sorted by kind rank.

use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::inventory::ObjectRef;

/// Kind rank of Flux's apply sort; unlisted kinds rank between `PodDisruptionBudget` and the
/// webhook configurations.
const KIND_ORDER_FIRST: [&str; 23] = [
    "CustomResourceDefinition",
    "Namespace",
    "ClusterRole",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ClusterRoleBinding",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const KIND_ORDER_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn kind_rank(kind: &str) -> usize {
    if let Some(i) = KIND_ORDER_FIRST.iter().position(|k| *k == kind) {
        return i;
    }
    match KIND_ORDER_LAST.iter().position(|k| *k == kind) {
        Some(i) => KIND_ORDER_FIRST.len() + 1 + i,
        None => KIND_ORDER_FIRST.len(),
    }
}

/// Flux's apply order: kind rank, then group, kind, namespace, name.
pub fn apply_order(a: &Value, b: &Value) -> Ordering {
    let (ra, rb) = (ObjectRef::of(a), ObjectRef::of(b));
    compare_refs(&ra, &rb)
}

/// [`apply_order`] on identities.
pub fn compare_refs(a: &ObjectRef, b: &ObjectRef) -> Ordering {
    kind_rank(&a.kind)
        .cmp(&kind_rank(&b.kind))
        .then_with(|| a.group.cmp(&b.group))
        .then_with(|| a.kind.cmp(&b.kind))
        .then_with(|| a.namespace.cmp(&b.namespace))
        .then_with(|| a.name.cmp(&b.name))
}

/// Which apply stage an object belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StageKind {
    /// CRDs, Namespaces, ClusterRoles: applied first, then waited for.
    ClusterDefinitions,
    /// Kinds ending in `Class`: applied, then waited for.
    Classes,
    /// Kinds configured as a custom stage.
    Custom,
    /// Everything else.
    Rest,
}

/// One apply stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Which stage.
    pub kind: StageKind,
    /// Objects, sorted in apply order.
    pub objects: Vec<Value>,
    /// Whether to wait for the objects to become Current (poll 2s, timeout 60s) before the next stage.
    pub wait: bool,
}

/// Whether an object is a cluster definition of stage 1.
pub fn is_cluster_definition(obj: &Value) -> bool {
    let r = ObjectRef::of(obj);
    match r.kind.as_str() {
        "CustomResourceDefinition" => r.group == "apiextensions.k8s.io",
        "Namespace" => r.group.is_empty(),
        "ClusterRole" => r.group == "rbac.authorization.k8s.io",
        _ => false,
    }
}

/// Splits objects into the non-empty apply stages of Flux (`custom_kinds` = the configured
/// custom-stage kinds, usually empty), each sorted in apply order.
pub fn apply_stages(objects: Vec<Value>, custom_kinds: &[String]) -> Vec<Stage> {
    let mut buckets: BTreeMap<StageKind, Vec<Value>> = BTreeMap::new();
    for o in objects {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or("");
        let stage = if is_cluster_definition(&o) {
            StageKind::ClusterDefinitions
        } else if kind.ends_with("Class") {
            StageKind::Classes
        } else if custom_kinds.iter().any(|k| k == kind) {
            StageKind::Custom
        } else {
            StageKind::Rest
        };
        buckets.entry(stage).or_default().push(o);
    }
    buckets
        .into_iter()
        .map(|(kind, mut objects)| {
            objects.sort_by(apply_order);
            Stage {
                kind,
                objects,
                wait: matches!(kind, StageKind::ClusterDefinitions | StageKind::Classes),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn o(api: &str, kind: &str, ns: Option<&str>, name: &str) -> Value {
        let mut v = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
        if let Some(ns) = ns {
            v["metadata"]["namespace"] = json!(ns);
        }
        v
    }

    fn names(stage: &Stage) -> Vec<String> {
        stage
            .objects
            .iter()
            .map(|v| ObjectRef::of(v).display())
            .collect()
    }

    #[test]
    fn stages_follow_flux_order() {
        let objects = vec![
            o(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                None,
                "vw",
            ),
            o("apps/v1", "Deployment", Some("apps"), "web"),
            o("v1", "Service", Some("apps"), "web"),
            o("example.com/v1", "Widget", Some("apps"), "w"),
            o("networking.k8s.io/v1", "IngressClass", None, "nginx"),
            o("v1", "Namespace", None, "apps"),
            o(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                None,
                "widgets.example.com",
            ),
            o(
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                None,
                "reader",
            ),
            o("v1", "ConfigMap", Some("apps"), "b"),
            o("v1", "ConfigMap", Some("apps"), "a"),
            o("policy/v1", "PodDisruptionBudget", Some("apps"), "web"),
            o("example.com/v1", "Gadget", None, "g"),
        ];
        let stages = apply_stages(objects, &[]);
        assert_eq!(stages.len(), 3);
        assert_eq!(stages[0].kind, StageKind::ClusterDefinitions);
        assert!(stages[0].wait && stages[1].wait && !stages[2].wait);
        assert_eq!(
            names(&stages[0]),
            [
                "CustomResourceDefinition/widgets.example.com",
                "Namespace/apps",
                "ClusterRole/reader"
            ]
        );
        assert_eq!(names(&stages[1]), ["IngressClass/nginx"]);
        assert_eq!(
            names(&stages[2]),
            [
                "ConfigMap/apps/a",
                "ConfigMap/apps/b",
                "Service/apps/web",
                "Deployment/apps/web",
                "PodDisruptionBudget/apps/web",
                "Gadget/g",
                "Widget/apps/w",
                "ValidatingWebhookConfiguration/vw"
            ]
        );
    }

    #[test]
    fn custom_stage_kinds_get_their_own_stage() {
        let stages = apply_stages(
            vec![
                o("v1", "ConfigMap", Some("a"), "x"),
                o("example.com/v1", "Widget", Some("a"), "w"),
            ],
            &["Widget".to_string()],
        );
        assert_eq!(stages[0].kind, StageKind::Custom);
        assert!(!stages[0].wait);
        assert_eq!(stages[1].kind, StageKind::Rest);
    }

    #[test]
    fn namespace_of_another_group_is_not_a_cluster_definition() {
        assert!(!is_cluster_definition(&o(
            "example.com/v1",
            "Namespace",
            None,
            "x"
        )));
        assert!(is_cluster_definition(&o("v1", "Namespace", None, "x")));
    }
}
