//! Name-reference repair after renames (prefix/suffix, hashes, name-changing patches).

use super::kustomization::FieldSpec;
use super::resource::{ResId, Resource};
use super::transformers::{Gvk, NameRefRule, TransformerConfig, path_segments, visit};
use serde_json::Value;
use std::collections::HashMap;

fn f(group: &str, kind: &str, path: &str) -> FieldSpec {
    FieldSpec {
        group: group.into(),
        version: String::new(),
        kind: kind.into(),
        path: path.into(),
        create: false,
    }
}

fn rule(group: &str, kind: &str, referrers: Vec<FieldSpec>) -> NameRefRule {
    NameRefRule {
        group: group.into(),
        version: String::new(),
        kind: kind.into(),
        referrers,
    }
}

/// Pod-spec locations: (group, kind, path to the pod spec).
const POD_SPECS: &[(&str, &str, &str)] = &[
    ("", "Pod", "spec"),
    ("", "PodTemplate", "template/spec"),
    ("apps", "Deployment", "spec/template/spec"),
    ("extensions", "Deployment", "spec/template/spec"),
    ("apps", "ReplicaSet", "spec/template/spec"),
    ("extensions", "ReplicaSet", "spec/template/spec"),
    ("apps", "DaemonSet", "spec/template/spec"),
    ("extensions", "DaemonSet", "spec/template/spec"),
    ("apps", "StatefulSet", "spec/template/spec"),
    ("batch", "Job", "spec/template/spec"),
    ("batch", "CronJob", "spec/jobTemplate/spec/template/spec"),
];

/// Workloads for serviceAccountName / claimName / priorityClassName (adds RC, drops ReplicaSet).
const WORKLOAD_SPECS: &[(&str, &str, &str)] = &[
    ("", "Pod", "spec"),
    ("apps", "Deployment", "spec/template/spec"),
    ("extensions", "Deployment", "spec/template/spec"),
    ("apps", "StatefulSet", "spec/template/spec"),
    ("", "ReplicationController", "spec/template/spec"),
    ("apps", "DaemonSet", "spec/template/spec"),
    ("extensions", "DaemonSet", "spec/template/spec"),
    ("batch", "Job", "spec/template/spec"),
    ("batch", "CronJob", "spec/jobTemplate/spec/template/spec"),
];

fn pod_refs(tails: &[&str], include_containers: &[&str]) -> Vec<FieldSpec> {
    let mut out = Vec::new();
    for (g, k, base) in POD_SPECS {
        for t in tails {
            out.push(f(g, k, &format!("{base}/{t}")));
        }
        for c in ["containers", "initContainers"] {
            for t in include_containers {
                out.push(f(g, k, &format!("{base}/{c}/{t}")));
            }
        }
    }
    out
}

fn workload_refs(tail: &str) -> Vec<FieldSpec> {
    WORKLOAD_SPECS
        .iter()
        .map(|(g, k, base)| f(g, k, &format!("{base}/{tail}")))
        .collect()
}

/// kustomize's builtin `nameReference` table (docs/kustomize-scope.md section 7).
pub fn builtin_rules() -> Vec<NameRefRule> {
    let mut rules = Vec::new();
    let mut cm = pod_refs(
        &[
            "volumes/configMap/name",
            "volumes/projected/sources/configMap/name",
        ],
        &[
            "env/valueFrom/configMapKeyRef/name",
            "envFrom/configMapRef/name",
        ],
    );
    cm.push(f("", "Node", "spec/configSource/configMap"));
    cm.push(f(
        "rbac.authorization.k8s.io",
        "Role",
        "rules/resourceNames",
    ));
    cm.push(f(
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "rules/resourceNames",
    ));
    cm.push(f(
        "",
        "Ingress",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
    ));
    rules.push(rule("", "ConfigMap", cm));

    let mut secret = pod_refs(
        &[
            "volumes/secret/secretName",
            "volumes/projected/sources/secret/name",
            "imagePullSecrets/name",
        ],
        &["env/valueFrom/secretKeyRef/name", "envFrom/secretRef/name"],
    );
    secret.push(f("", "ServiceAccount", "imagePullSecrets/name"));
    secret.push(f("", "Ingress", "spec/tls/secretName"));
    for a in [
        "ingress.kubernetes.io\\/auth-secret",
        "nginx.ingress.kubernetes.io\\/auth-secret",
        "nginx.ingress.kubernetes.io\\/auth-tls-secret",
    ] {
        secret.push(f("", "Ingress", &format!("metadata/annotations/{a}")));
    }
    for p in [
        "secretName",
        "adminSecretName",
        "userSecretName",
        "secretRef",
    ] {
        secret.push(f(
            "storage.k8s.io",
            "StorageClass",
            &format!("parameters/{p}"),
        ));
    }
    secret.push(f(
        "rbac.authorization.k8s.io",
        "Role",
        "rules/resourceNames",
    ));
    secret.push(f(
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "rules/resourceNames",
    ));
    secret.push(f(
        "serving.knative.dev",
        "Service",
        "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
    ));
    secret.push(f("", "PersistentVolume", "spec/azureFile/secretName"));
    rules.push(rule("", "Secret", secret));

    rules.push(rule(
        "",
        "Service",
        vec![
            f("apps", "StatefulSet", "spec/serviceName"),
            f("", "Ingress", "spec/rules/http/paths/backend/serviceName"),
            f("", "Ingress", "spec/backend/serviceName"),
            f(
                "networking.k8s.io",
                "Ingress",
                "spec/rules/http/paths/backend/service/name",
            ),
            f(
                "networking.k8s.io",
                "Ingress",
                "spec/defaultBackend/service/name",
            ),
            f("apiregistration.k8s.io", "APIService", "spec/service"),
            f(
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
                "webhooks/clientConfig/service",
            ),
            f(
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration",
                "webhooks/clientConfig/service",
            ),
        ],
    ));
    rules.push(rule(
        "rbac.authorization.k8s.io",
        "Role",
        vec![f(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            "roleRef/name",
        )],
    ));
    rules.push(rule(
        "rbac.authorization.k8s.io",
        "ClusterRole",
        vec![
            f("rbac.authorization.k8s.io", "RoleBinding", "roleRef/name"),
            f(
                "rbac.authorization.k8s.io",
                "ClusterRoleBinding",
                "roleRef/name",
            ),
        ],
    ));
    let mut sa = vec![
        f("rbac.authorization.k8s.io", "RoleBinding", "subjects"),
        f(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            "subjects",
        ),
    ];
    sa.extend(workload_refs("serviceAccountName"));
    rules.push(rule("", "ServiceAccount", sa));
    rules.push(rule(
        "",
        "PersistentVolumeClaim",
        workload_refs("volumes/persistentVolumeClaim/claimName"),
    ));
    rules.push(rule(
        "",
        "PersistentVolume",
        vec![
            f("", "PersistentVolumeClaim", "spec/volumeName"),
            f(
                "rbac.authorization.k8s.io",
                "ClusterRole",
                "rules/resourceNames",
            ),
        ],
    ));
    rules.push(rule(
        "storage.k8s.io",
        "StorageClass",
        vec![
            f("", "PersistentVolume", "spec/storageClassName"),
            f("", "PersistentVolumeClaim", "spec/storageClassName"),
            f(
                "apps",
                "StatefulSet",
                "spec/volumeClaimTemplates/spec/storageClassName",
            ),
        ],
    ));
    rules.push(rule(
        "scheduling.k8s.io",
        "PriorityClass",
        workload_refs("priorityClassName"),
    ));
    for (g, k) in [
        ("apps", "Deployment"),
        ("", "ReplicationController"),
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
    ] {
        rules.push(rule(
            g,
            k,
            vec![f(
                "autoscaling",
                "HorizontalPodAutoscaler",
                "spec/scaleTargetRef/name",
            )],
        ));
    }
    rules.push(rule(
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicy",
        vec![f(
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
            "spec/policyName",
        )],
    ));
    rules
}

/// Snapshot of a candidate referral.
#[derive(Debug, Clone)]
struct Candidate {
    cur: ResId,
    prev: Vec<ResId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Candidate {
    fn ids(&self) -> impl Iterator<Item = &ResId> {
        std::iter::once(&self.cur).chain(self.prev.iter())
    }
}

fn kind_matches(rule: &NameRefRule, id: &ResId) -> bool {
    // The referral group "" in a rule means "any group" for kinds outside the core (kustomize's
    // selection by GVK treats empty fields as wildcards).
    id.kind == rule.kind
        && (rule.group.is_empty() || rule.group == id.group)
        && (rule.version.is_empty() || rule.version == id.version)
}

struct Referrer {
    cur: ResId,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    /// For a RoleBinding, the raw `namespace` of its ServiceAccount subjects (kustomize's
    /// `getNamespacesForRoleBinding`): objects there may be referred to from another namespace.
    role_binding_namespaces: Vec<String>,
}

impl Referrer {
    /// kustomize's `SubsetThatCouldBeReferencedByResource`: a namespaced referrer sees cluster-scoped
    /// objects, objects of its own namespace and, for a RoleBinding, those in its subjects' namespaces.
    fn could_refer_to(&self, c: &Candidate) -> bool {
        self.cur.is_cluster_scoped()
            || c.cur.is_cluster_scoped()
            || c.cur.effective_namespace() == self.cur.effective_namespace()
            || self.role_binding_namespaces.contains(&c.cur.namespace)
    }

    fn new(r: &Resource) -> Self {
        let mut role_binding_namespaces = Vec::new();
        if r.kind() == "RoleBinding"
            && let Some(Value::Array(subjects)) = r.obj.get("subjects")
        {
            for s in subjects {
                if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                    && let Some(ns) = s.get("namespace").and_then(Value::as_str)
                {
                    role_binding_namespaces.push(ns.to_string());
                }
            }
        }
        Referrer {
            cur: r.id(),
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
            role_binding_namespaces,
        }
    }
}

/// The id an object was first loaded with (kustomize's `OrgId`).
fn original(c: &Candidate) -> &ResId {
    c.prev.first().unwrap_or(&c.cur)
}

/// Picks the referral for `old_name` (kustomize's `selectReferral`). `mapping` is `None` for a
/// plain name and `Some(namespace field)` for a `{name, namespace}` mapping (RoleBinding subjects,
/// webhook services): with a namespace, kustomize only considers objects originally in it if there
/// are any (`all` is every object, whatever its kind), else those now in it.
fn select<'c>(
    cands: impl Iterator<Item = &'c Candidate>,
    all: &[Candidate],
    rule: &NameRefRule,
    referrer: &Referrer,
    old_name: &str,
    mapping: Option<Option<&str>>,
    role_ref: Option<(&str, &str)>,
) -> Result<Option<&'c Candidate>, String> {
    let old_ns = mapping.flatten();
    let in_ns = |id: &ResId, ns: &str| !id.is_cluster_scoped() && id.effective_namespace() == ns;
    let by_original = old_ns.is_some_and(|ns| {
        all.iter()
            .any(|c| in_ns(original(c), ns) && referrer.could_refer_to(c))
    });
    let mut sel: Vec<&Candidate> = cands
        .filter(|c| referrer.could_refer_to(c))
        .filter(|c| match old_ns {
            Some(ns) if by_original => in_ns(original(c), ns),
            Some(ns) => in_ns(&c.cur, ns),
            None => true,
        })
        .filter(|c| c.prev.iter().any(|p| p.name == old_name))
        .filter(|c| c.ids().any(|id| kind_matches(rule, id)))
        .filter(|c| match role_ref {
            Some((kind, group)) => c.cur.kind == kind && (group.is_empty() || c.cur.group == group),
            None => true,
        })
        .collect();
    if !referrer.cur.is_cluster_scoped() {
        sel.retain(|c| {
            c.cur.is_cluster_scoped()
                || c.cur.kind == "ServiceAccount"
                || c.cur.effective_namespace() == referrer.cur.effective_namespace()
        });
    }
    if sel.len() == 1 {
        return Ok(Some(sel[0]));
    }
    sel.retain(|c| c.prefixes == referrer.prefixes && c.suffixes == referrer.suffixes);
    match sel.len() {
        0 => Ok(None),
        1 => Ok(Some(sel[0])),
        _ => {
            if sel.iter().all(|c| {
                c.cur.name == sel[0].cur.name
                    && (mapping.is_none() || c.cur.namespace == sel[0].cur.namespace)
            }) {
                return Ok(Some(sel[0]));
            }
            let names: Vec<String> = sel.iter().map(|c| c.cur.describe()).collect();
            Err(format!(
                "found multiple possible referrals for {} {old_name}: {}",
                rule.kind,
                names.join(", ")
            ))
        }
    }
}

/// Rewrites references in every object (pipeline step 7).
pub fn fix_references(list: &mut [Resource], config: &TransformerConfig) -> Result<(), String> {
    let cands: Vec<Candidate> = list
        .iter()
        .map(|r| Candidate {
            cur: r.id(),
            prev: r.prev_ids.clone(),
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
        })
        .collect();
    // Candidates per rule, computed once: doing it per referrer made this step quadratic in
    // allocations and dominated the build time of large overlays.
    let cands_by_rule: Vec<Vec<Candidate>> = config
        .name_reference
        .iter()
        .map(|rule| {
            cands
                .iter()
                .filter(|c| c.ids().any(|id| kind_matches(rule, id)))
                .cloned()
                .collect()
        })
        .collect();
    // Per rule, the candidates (ascending positions) having each previous name: `select` only
    // considers candidates with a previous id named like the reference, so looking them up by
    // name instead of scanning every candidate per reference keeps this step linear.
    let by_prev_name: Vec<HashMap<&str, Vec<usize>>> = cands_by_rule
        .iter()
        .map(|rule_cands| {
            let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
            for (i, c) in rule_cands.iter().enumerate() {
                for p in &c.prev {
                    let at = index.entry(p.name.as_str()).or_default();
                    if at.last() != Some(&i) {
                        at.push(i);
                    }
                }
            }
            index
        })
        .collect();
    for r in list.iter_mut() {
        let referrer = Referrer::new(r);
        // The referrer field specs of each rule that apply to this object, matched with one GVK
        // lookup (most objects match none of most rules).
        let gvk = Gvk::of(r);
        let specs_by_rule: Vec<Vec<&FieldSpec>> = config
            .name_reference
            .iter()
            .zip(&cands_by_rule)
            .map(|(rule, rule_cands)| {
                if rule_cands.is_empty() {
                    return Vec::new();
                }
                rule.referrers
                    .iter()
                    .filter(|s| gvk.selected_by(s))
                    .collect()
            })
            .collect();
        for (((rule, rule_cands), by_name), specs) in config
            .name_reference
            .iter()
            .zip(&cands_by_rule)
            .zip(&by_prev_name)
            .zip(specs_by_rule)
        {
            for spec in specs {
                let segs = path_segments(&spec.path);
                let role_ref = if spec.path == "roleRef/name" {
                    let rr = r.obj.get("roleRef");
                    let kind = rr
                        .and_then(|v| v.get("kind"))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let group = rr
                        .and_then(|v| v.get("apiGroup"))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    Some((kind, group))
                } else {
                    None
                };
                let mut failure: Option<String> = None;
                visit(&mut r.obj, &segs, false, &mut |v| {
                    let rr = role_ref.as_ref().map(|(k, g)| (k.as_str(), g.as_str()));
                    let mut fix_name =
                        |name: &str, ns: Option<Option<&str>>| -> Option<(String, String)> {
                            let named = by_name.get(name).map_or(&[][..], Vec::as_slice);
                            let named = named.iter().map(|&i| &rule_cands[i]);
                            match select(named, &cands, rule, &referrer, name, ns, rr) {
                                Ok(Some(c)) => Some((c.cur.name.clone(), c.cur.namespace.clone())),
                                Ok(None) => None,
                                Err(e) => {
                                    failure.get_or_insert(e);
                                    None
                                }
                            }
                        };
                    match v {
                        Value::String(s) => {
                            if let Some((n, _)) = fix_name(s, None) {
                                *s = n;
                            }
                        }
                        Value::Array(items) => {
                            for item in items {
                                if let Value::String(s) = item
                                    && let Some((n, _)) = fix_name(s, None)
                                {
                                    *s = n;
                                }
                            }
                        }
                        Value::Object(m) => {
                            // Like kustomize, the subject's `kind` is not consulted: any subject
                            // named like a renamed ServiceAccount follows it.
                            let Some(name) =
                                m.get("name").and_then(Value::as_str).map(str::to_string)
                            else {
                                return;
                            };
                            let ns = m
                                .get("namespace")
                                .and_then(Value::as_str)
                                .map(str::to_string);
                            if let Some((n, new_ns)) = fix_name(&name, Some(ns.as_deref())) {
                                if n == name && new_ns.is_empty() {
                                    return;
                                }
                                m.insert("name".into(), Value::String(n));
                                // An empty namespace is a wildcard, not `default`: never written.
                                if !new_ns.is_empty() {
                                    m.insert("namespace".into(), Value::String(new_ns));
                                }
                            }
                        }
                        _ => {}
                    }
                });
                if let Some(e) = failure {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}
