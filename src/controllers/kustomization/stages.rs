//! Preparing built objects for server-side apply the way kustomize-controller does: normalisation,
//! `commonMetadata`, owner labels, the staged apply order and the per-object SSA policy.

use base64::Engine;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::inventory::{ObjectRef, split_api_version};
use super::spec::CommonMetadata;

/// Field manager of every apply.
pub const FIELD_MANAGER: &str = "kustomize-controller";
/// Field owner of the controller's own status patches.
pub const STATUS_FIELD_MANAGER: &str = "gotk-kustomize-controller";
/// Owner label: the Kustomization's name.
pub const OWNER_NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
/// Owner label: the Kustomization's namespace.
pub const OWNER_NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";
/// `disabled` here excludes an object from reconciliation and pruning.
pub const RECONCILE_KEY: &str = "kustomize.toolkit.fluxcd.io/reconcile";
/// SSA policy key (`Ignore`, `IfNotPresent`, `Merge`, `Override`).
pub const SSA_KEY: &str = "kustomize.toolkit.fluxcd.io/ssa";
/// `enabled` here allows recreating the object on immutable-field errors.
pub const FORCE_KEY: &str = "kustomize.toolkit.fluxcd.io/force";
/// `disabled` here keeps the object when it leaves the inventory.
pub const PRUNE_KEY: &str = "kustomize.toolkit.fluxcd.io/prune";

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
    if let Some(m) = metadata_map(obj, "labels") {
        m.insert(OWNER_NAME_LABEL.into(), Value::String(ks_name.into()));
        m.insert(
            OWNER_NAMESPACE_LABEL.into(),
            Value::String(ks_namespace.into()),
        );
    }
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

/// The value of a Flux key on an object, from its labels or (if not a label) its annotations.
pub fn flux_key<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    let md = obj.get("metadata")?;
    ["labels", "annotations"]
        .iter()
        .find_map(|k| md.get(*k)?.get(key)?.as_str())
}

fn has_value(obj: Option<&Value>, key: &str, value: &str) -> bool {
    obj.and_then(|o| {
        let md = o.get("metadata")?;
        Some(["labels", "annotations"].iter().any(|k| {
            md.get(*k)
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(value))
        }))
    })
    .unwrap_or(false)
}

/// What to do with one object during apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyPolicy {
    /// Do not apply (reported as `skipped`, still inventoried).
    Skip,
    /// Apply with SSA.
    Apply {
        /// Recreate the object when the dry-run reports an immutable-field change.
        force: bool,
        /// `ssa: Merge`: keep kubectl leftovers (no annotation/managedFields cleanup).
        merge: bool,
    },
}

/// The per-object SSA policy from the desired object, the live one (if it exists) and `spec.force`.
pub fn apply_policy(desired: &Value, live: Option<&Value>, spec_force: bool) -> ApplyPolicy {
    let either = |key: &str, value: &str| {
        has_value(Some(desired), key, value) || has_value(live, key, value)
    };
    if either(RECONCILE_KEY, "disabled") || either(SSA_KEY, "Ignore") {
        return ApplyPolicy::Skip;
    }
    if live.is_some() && has_value(Some(desired), SSA_KEY, "IfNotPresent") {
        return ApplyPolicy::Skip;
    }
    ApplyPolicy::Apply {
        force: spec_force || either(FORCE_KEY, "enabled"),
        merge: has_value(Some(desired), SSA_KEY, "Merge"),
    }
}

/// Annotations removed from live objects before apply unless `ssa: Merge`.
pub const CLEANUP_ANNOTATIONS: [&str; 3] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
];
/// Labels removed from live objects before apply unless `ssa: Merge`.
pub const CLEANUP_LABELS: [&str; 1] = ["fluxcd.io/sync-gc-mark"];

/// The outcome of applying one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyAction {
    /// Newly created.
    Created,
    /// Changed.
    Configured,
    /// No drift, not written.
    Unchanged,
    /// Excluded by policy.
    Skipped,
}

impl ApplyAction {
    /// Flux's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Skipped => "skipped",
        }
    }
}

/// Flux's change line `<Kind>/<ns>/<name> <action>` (namespace omitted when cluster-scoped).
pub fn change_line(obj: &Value, action: ApplyAction) -> String {
    format!("{} {}", ObjectRef::of(obj).display(), action.as_str())
}

/// Checks the `apiVersion` of an object has a version part (used for inventory versions).
pub fn version_of(obj: &Value) -> &str {
    split_api_version(obj.get("apiVersion").and_then(Value::as_str).unwrap_or("")).1
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

    #[test]
    fn per_object_policy() {
        let plain = o("v1", "ConfigMap", Some("a"), "c");
        let with = |kind: &str, key: &str, val: &str| {
            let mut v = plain.clone();
            v["metadata"][kind] = json!({key: val});
            v
        };
        assert_eq!(
            apply_policy(&plain, None, false),
            ApplyPolicy::Apply {
                force: false,
                merge: false
            }
        );
        assert_eq!(
            apply_policy(&plain, None, true),
            ApplyPolicy::Apply {
                force: true,
                merge: false
            }
        );
        assert_eq!(
            apply_policy(&with("labels", SSA_KEY, "ignore"), None, false),
            ApplyPolicy::Skip
        );
        assert_eq!(
            apply_policy(
                &plain,
                Some(&with("annotations", RECONCILE_KEY, "Disabled")),
                false
            ),
            ApplyPolicy::Skip
        );
        let inp = with("annotations", SSA_KEY, "IfNotPresent");
        assert_eq!(apply_policy(&inp, Some(&plain), false), ApplyPolicy::Skip);
        assert!(matches!(
            apply_policy(&inp, None, false),
            ApplyPolicy::Apply { .. }
        ));
        assert_eq!(
            apply_policy(&with("annotations", SSA_KEY, "Merge"), None, false),
            ApplyPolicy::Apply {
                force: false,
                merge: true
            }
        );
        assert_eq!(
            apply_policy(&plain, Some(&with("labels", FORCE_KEY, "Enabled")), false),
            ApplyPolicy::Apply {
                force: true,
                merge: false
            }
        );
    }

    #[test]
    fn change_lines() {
        assert_eq!(
            change_line(&o("v1", "Namespace", None, "apps"), ApplyAction::Created),
            "Namespace/apps created"
        );
        assert_eq!(
            change_line(
                &o("apps/v1", "Deployment", Some("a"), "web"),
                ApplyAction::Configured
            ),
            "Deployment/a/web configured"
        );
    }
}
