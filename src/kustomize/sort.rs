//! kustomize's "legacy" output order.

use super::resource::{ResId, Resource};
use std::cmp::Ordering;

/// Kinds sorted first by default.
pub const DEFAULT_ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds sorted last by default.
pub const DEFAULT_ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn rank(kind: &str, first: &[String], last: &[String]) -> i64 {
    if let Some(i) = first.iter().position(|k| k == kind) {
        return i as i64 - first.len() as i64;
    }
    if let Some(i) = last.iter().position(|k| k == kind) {
        return 1 + i as i64;
    }
    0
}

fn gvk_string(id: &ResId) -> String {
    format!(
        "{}_{}_{}",
        if id.group.is_empty() { "~G" } else { &id.group },
        if id.version.is_empty() {
            "~V"
        } else {
            &id.version
        },
        if id.kind.is_empty() { "~K" } else { &id.kind },
    )
}

fn compare(a: &ResId, b: &ResId, first: &[String], last: &[String]) -> Ordering {
    let same_gvk = a.group == b.group && a.version == b.version && a.kind == b.kind;
    if !same_gvk {
        let (ra, rb) = (rank(&a.kind, first, last), rank(&b.kind, first, last));
        if ra != rb {
            return ra.cmp(&rb);
        }
        let ord = gvk_string(a).cmp(&gvk_string(b));
        if a.kind == "Namespace"
            && b.kind == "Namespace"
            && (a.group.is_empty() || b.group.is_empty())
        {
            return ord.reverse();
        }
        return ord;
    }
    // kustomize compares the joined string `namespace|name`, so `a|x` sorts after `a-b|x`.
    sort_key(a).cmp(sort_key(b))
}

/// The bytes of `namespace|name` with kustomize's placeholders for empty parts.
fn sort_key(id: &ResId) -> impl Iterator<Item = u8> + '_ {
    let ns = if id.namespace.is_empty() {
        "~X"
    } else {
        id.namespace.as_str()
    };
    let name = if id.name.is_empty() {
        "~N"
    } else {
        id.name.as_str()
    };
    ns.bytes().chain(std::iter::once(b'|')).chain(name.bytes())
}

/// Sorts in place with the legacy comparator and the given first/last kind lists.
pub fn legacy_sort(list: &mut Vec<Resource>, first: &[String], last: &[String]) {
    // Ids computed once per object rather than twice per comparison (stable sort, same order).
    let mut keyed: Vec<(ResId, Resource)> = std::mem::take(list)
        .into_iter()
        .map(|r| (r.id(), r))
        .collect();
    keyed.sort_by(|a, b| compare(&a.0, &b.0, first, last));
    *list = keyed.into_iter().map(|(_, r)| r).collect();
}
