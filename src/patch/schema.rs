//! The merge-key table for built-in kinds, shared by strategic merge patch and server-side apply.
//!
//! SMP's `patchMergeKey` is a single field while SSA's `x-kubernetes-list-map-keys` may name several. They
//! differ for container `ports` (SMP `containerPort`, SSA `containerPort`+`protocol`), Service `spec.ports`
//! (SMP `port`, SSA `port`+`protocol`) and `topologySpreadConstraints` (SMP `topologyKey`, SSA
//! `topologyKey`+`whenUnsatisfiable`). Decision: [`ListType`] (and so [`super::list_type`]) carries the SSA keys,
//! because managedFields must spell items as the real server does (`k:{"containerPort":80,"protocol":"TCP"}`);
//! the API-server SMP flavour uses the single SMP key, because that is what kubectl's client-side patches are
//! computed against (a patch `{containerPort: 53, $patch: delete}` must find the item); the kustomize
//! flavour uses the SSA keys, as kustomize's 1.21 OpenAPI schema does.

use super::{ListType, TypeMeta};

/// What the table knows about one list field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ListSchema {
    /// Server-side apply list type (also the kustomize merge keys).
    pub ssa: ListType,
    /// The single SMP `patchMergeKey` of an associative list.
    pub smp_key: Option<&'static str>,
}

const ATOMIC: ListSchema = ListSchema {
    ssa: ListType::Atomic,
    smp_key: None,
};
const SET: ListSchema = ListSchema {
    ssa: ListType::Set,
    smp_key: None,
};

const fn by(keys: &'static [&'static str], smp_key: &'static str) -> ListSchema {
    ListSchema {
        ssa: ListType::Map(keys),
        smp_key: Some(smp_key),
    }
}

/// The path of the pod spec inside objects of this kind, if it has one.
fn pod_spec_prefix(type_meta: TypeMeta<'_>) -> Option<&'static [&'static str]> {
    match (type_meta.api_version, type_meta.kind) {
        ("v1", "Pod") => Some(&["spec"]),
        ("v1", "PodTemplate") => Some(&["template", "spec"]),
        ("v1", "ReplicationController")
        | ("apps/v1", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch/v1", "Job") => Some(&["spec", "template", "spec"]),
        ("batch/v1" | "batch/v1beta1", "CronJob") => {
            Some(&["spec", "jobTemplate", "spec", "template", "spec"])
        }
        _ => None,
    }
}

/// Paths of `ObjectMeta` inside objects of this kind (the object's own and its pod template's).
fn object_meta_prefixes(type_meta: TypeMeta<'_>) -> [Option<&'static [&'static str]>; 2] {
    let template: Option<&'static [&'static str]> = match (type_meta.api_version, type_meta.kind) {
        ("v1", "PodTemplate") => Some(&["template", "metadata"]),
        ("v1", "ReplicationController")
        | ("apps/v1", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch/v1", "Job") => Some(&["spec", "template", "metadata"]),
        ("batch/v1" | "batch/v1beta1", "CronJob") => {
            Some(&["spec", "jobTemplate", "spec", "template", "metadata"])
        }
        _ => None,
    };
    [Some(&["metadata"]), template]
}

/// Whether the kind is a built-in one (in the API groups and versions of the Kubernetes schema). Custom
/// resources are not: their lists are atomic for SMP (kustomize) and their merge keys come from the CRD.
pub fn is_builtin_kind(type_meta: TypeMeta<'_>) -> bool {
    matches!(
        type_meta.api_version,
        "v1" | "apps/v1"
            | "batch/v1"
            | "batch/v1beta1"
            | "autoscaling/v1"
            | "networking.k8s.io/v1"
            | "policy/v1"
            | "rbac.authorization.k8s.io/v1"
            | "storage.k8s.io/v1"
            | "scheduling.k8s.io/v1"
            | "coordination.k8s.io/v1"
            | "discovery.k8s.io/v1"
            | "events.k8s.io/v1"
            | "node.k8s.io/v1"
            | "certificates.k8s.io/v1"
            | "admissionregistration.k8s.io/v1"
            | "apiextensions.k8s.io/v1"
            | "apiregistration.k8s.io/v1"
    )
}

/// The table lookup; `None` means "not a known list" (atomic).
pub(super) fn lookup(type_meta: TypeMeta<'_>, path: &[&str]) -> Option<ListSchema> {
    for prefix in object_meta_prefixes(type_meta).into_iter().flatten() {
        if let Some(rest) = path.strip_prefix(prefix) {
            match rest {
                ["finalizers"] => return Some(SET),
                ["ownerReferences"] => return Some(by(&["uid"], "uid")),
                _ => {}
            }
        }
    }
    if !is_builtin_kind(type_meta) {
        return None;
    }
    if let Some(prefix) = pod_spec_prefix(type_meta)
        && let Some(rest) = path.strip_prefix(prefix)
    {
        return pod_spec_list(rest);
    }
    match (type_meta.kind, path) {
        (_, ["status", "conditions"]) => Some(by(&["type"], "type")),
        ("Service", ["spec", "ports"]) => Some(by(&["port", "protocol"], "port")),
        _ => None,
    }
}

/// Lists inside a pod spec, `rest` relative to the pod spec.
fn pod_spec_list(rest: &[&str]) -> Option<ListSchema> {
    const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
    match rest {
        [list] if CONTAINER_LISTS.contains(list) => Some(by(&["name"], "name")),
        [list, field] if CONTAINER_LISTS.contains(list) => match *field {
            "env" => Some(by(&["name"], "name")),
            "ports" => Some(by(&["containerPort", "protocol"], "containerPort")),
            "volumeMounts" => Some(by(&["mountPath"], "mountPath")),
            "volumeDevices" => Some(by(&["devicePath"], "devicePath")),
            "resizePolicy" => Some(by(&["resourceName"], "resourceName")),
            _ => Some(ATOMIC),
        },
        ["volumes"] => Some(by(&["name"], "name")),
        ["imagePullSecrets"] => Some(by(&["name"], "name")),
        ["hostAliases"] => Some(by(&["ip"], "ip")),
        ["topologySpreadConstraints"] => {
            Some(by(&["topologyKey", "whenUnsatisfiable"], "topologyKey"))
        }
        ["resourceClaims"] => Some(by(&["name"], "name")),
        ["schedulingGates"] => Some(by(&["name"], "name")),
        _ => None,
    }
}
