//! `flux trace` as data: which Kustomization (or HelmRelease) manages an object, read from the
//! owner labels, and from which source, revision and path — as `---`-separated blocks of
//! `Label: value` lines. Pure: callers fetch the object, its manager and the manager's source.

use super::conditions::field::{at, str_at};
use super::conditions::{self, ConditionStatus};
use super::tree::ObjectRef;
use serde::Serialize;
use serde_json::Value;

/// Owner label of Kustomization-applied objects: the Kustomization's name.
pub const KS_NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
/// Owner label of Kustomization-applied objects: the Kustomization's namespace.
pub const KS_NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";
/// Owner label of HelmRelease-installed objects: the HelmRelease's name.
pub const HR_NAME_LABEL: &str = "helm.toolkit.fluxcd.io/name";
/// Owner label of HelmRelease-installed objects: the HelmRelease's namespace.
pub const HR_NAMESPACE_LABEL: &str = "helm.toolkit.fluxcd.io/namespace";

/// Width of the label column (`Kustomization:  `).
const LABEL_WIDTH: usize = 16;

/// The Flux object an object's owner labels name.
pub fn managed_by(obj: &Value) -> Option<ObjectRef> {
    let label = |k: &str| str_at(obj, &["metadata", "labels", k]);
    let pick = |name: &str, ns: &str, group: &str, version: &str, kind: &str| {
        Some(ObjectRef {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            namespace: label(ns)?.to_string(),
            name: label(name)?.to_string(),
        })
    };
    pick(
        KS_NAME_LABEL,
        KS_NAMESPACE_LABEL,
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
    )
    .or_else(|| {
        pick(
            HR_NAME_LABEL,
            HR_NAMESPACE_LABEL,
            "helm.toolkit.fluxcd.io",
            "v2",
            "HelmRelease",
        )
    })
}

/// The source a Kustomization or HelmRelease reads from (`spec.sourceRef`, or a HelmRelease's
/// `spec.chart.spec.sourceRef` / `spec.chartRef`); namespace defaults to the object's own.
pub fn source_ref_of(manager: &Value) -> Option<ObjectRef> {
    let r = at(manager, &["spec", "sourceRef"])
        .or_else(|| at(manager, &["spec", "chart", "spec", "sourceRef"]))
        .or_else(|| at(manager, &["spec", "chartRef"]))?;
    let kind = str_at(r, &["kind"])?;
    // Every source kind, ExternalArtifact included, is served by source.toolkit.fluxcd.io/v1.
    let (group, version) = ("source.toolkit.fluxcd.io", "v1");
    Some(ObjectRef {
        group: group.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        namespace: str_at(r, &["namespace"])
            .or_else(|| str_at(manager, &["metadata", "namespace"]))
            .unwrap_or("")
            .to_string(),
        name: str_at(r, &["name"])?.to_string(),
    })
}

/// One `---`-separated block: labelled lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceBlock {
    /// `(label, value)` pairs in print order.
    pub fields: Vec<(String, String)>,
}

impl TraceBlock {
    fn push(&mut self, label: &str, value: impl Into<String>) {
        self.fields.push((label.to_string(), value.into()));
    }
}

/// The whole trace: the object, then its manager, then the manager's source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// Blocks in print order.
    pub blocks: Vec<TraceBlock>,
    /// Whether owner labels name a manager.
    pub managed: bool,
}

/// Builds the trace of `object`: `manager` is the object its owner labels name (`None` when not
/// found or not managed), `source` the manager's source.
pub fn trace(object: &Value, manager: Option<&Value>, source: Option<&Value>) -> Trace {
    let me = ObjectRef::of(object);
    let owner = managed_by(object);
    let mut first = TraceBlock { fields: Vec::new() };
    first.push("Object", format!("{}/{}", me.kind, me.name));
    if !me.namespace.is_empty() {
        first.push("Namespace", me.namespace.clone());
    }
    first.push(
        "Status",
        match (&owner, manager) {
            (None, _) => "Not managed by Flux".to_string(),
            (Some(_), Some(_)) => "Managed by Flux".to_string(),
            (Some(o), None) => format!("Managed by Flux, but {} was not found", o.display()),
        },
    );
    let mut blocks = vec![first];
    if let Some(m) = manager {
        blocks.push(manager_block(m));
        match (source, source_ref_of(m)) {
            (Some(s), _) => blocks.push(source_block(s)),
            (None, Some(r)) => {
                let mut b = TraceBlock { fields: Vec::new() };
                b.push(&r.kind, r.name.clone());
                b.push("Namespace", r.namespace.clone());
                b.push("Status", "Not found");
                blocks.push(b);
            }
            (None, None) => {}
        }
    }
    Trace {
        blocks,
        managed: owner.is_some(),
    }
}

/// `Last reconciled at <time>` when Ready=True, else the Ready status and reason.
fn ready_status(obj: &Value) -> (String, String) {
    match conditions::ready(obj) {
        Some(c) if c.status == ConditionStatus::True => (
            format!("Last reconciled at {}", c.last_transition_time),
            c.message,
        ),
        Some(c) => (
            format!("Ready {} ({})", c.status.as_str(), c.reason),
            c.message,
        ),
        None => ("Unknown".to_string(), String::new()),
    }
}

fn manager_block(m: &Value) -> TraceBlock {
    let r = ObjectRef::of(m);
    let mut b = TraceBlock { fields: Vec::new() };
    b.push(&r.kind, r.name.clone());
    b.push("Namespace", r.namespace.clone());
    if let Some(t) = str_at(m, &["spec", "targetNamespace"]) {
        b.push("Target", t);
    }
    if r.kind == "Kustomization" {
        b.push("Path", str_at(m, &["spec", "path"]).unwrap_or("./"));
        b.push(
            "Revision",
            str_at(m, &["status", "lastAppliedRevision"]).unwrap_or(""),
        );
    } else {
        if let Some(chart) = str_at(m, &["spec", "chart", "spec", "chart"]) {
            b.push("Chart", chart);
        }
        if let Some(v) = str_at(m, &["status", "lastAttemptedRevision"]) {
            b.push("Revision", v);
        }
    }
    let (status, message) = ready_status(m);
    b.push("Status", status);
    b.push("Message", message);
    b
}

fn source_block(s: &Value) -> TraceBlock {
    let r = ObjectRef::of(s);
    let mut b = TraceBlock { fields: Vec::new() };
    b.push(&r.kind, r.name.clone());
    b.push("Namespace", r.namespace.clone());
    if let Some(url) = str_at(s, &["spec", "url"]) {
        b.push("URL", url);
    }
    for (key, label) in [
        ("tag", "Tag"),
        ("semver", "Tag"),
        ("commit", "Commit"),
        ("name", "Ref"),
        ("branch", "Branch"),
    ] {
        if let Some(v) = str_at(s, &["spec", "ref", key]) {
            b.push(label, v);
            break;
        }
    }
    if let Some(v) = str_at(s, &["status", "artifact", "revision"]) {
        b.push("Revision", v);
    }
    let (status, message) = ready_status(s);
    b.push("Status", status);
    b.push("Message", message);
    b
}

/// Prints blocks like `flux trace`: a leading blank line, `Label:` padded to one column, `---`
/// between blocks; values are kept on one line.
pub fn render_text(trace: &Trace) -> String {
    let mut out = String::from("\n");
    for (i, block) in trace.blocks.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        for (label, value) in &block.fields {
            let head = format!("{label}:");
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push_str(&format!("{head:<LABEL_WIDTH$}{value}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(labels: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "podinfo", "namespace": "apps", "labels": labels}})
    }

    fn kustomization() -> Value {
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"path": "./apps/dev", "targetNamespace": "apps",
                     "sourceRef": {"kind": "GitRepository", "name": "repo"}},
            "status": {"lastAppliedRevision": "main@sha1:abc",
                       "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                                       "message": "Applied revision: main@sha1:abc",
                                       "lastTransitionTime": "2024-01-02T03:04:05Z"}]}
        })
    }

    fn git() -> Value {
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": "flux-system"},
            "spec": {"url": "https://example.com/repo.git", "ref": {"branch": "main"}},
            "status": {"artifact": {"revision": "main@sha1:abc"},
                       "conditions": [{"type": "Ready", "status": "False", "reason": "GitOperationFailed",
                                       "message": "failed to checkout\nand more"}]}
        })
    }

    #[test]
    fn a_managed_deployment_traces_to_its_kustomization_and_source() {
        let d = deployment(json!({KS_NAME_LABEL: "apps", KS_NAMESPACE_LABEL: "flux-system"}));
        let owner = managed_by(&d).unwrap();
        assert_eq!(owner.display(), "Kustomization/flux-system/apps");
        let ks = kustomization();
        assert_eq!(
            source_ref_of(&ks).unwrap().display(),
            "GitRepository/flux-system/repo"
        );
        let t = trace(&d, Some(&ks), Some(&git()));
        assert!(t.managed);
        assert_eq!(
            render_text(&t),
            "\nObject:         Deployment/podinfo\nNamespace:      apps\nStatus:         Managed by Flux\n---\n\
Kustomization:  apps\nNamespace:      flux-system\nTarget:         apps\nPath:           ./apps/dev\n\
Revision:       main@sha1:abc\nStatus:         Last reconciled at 2024-01-02T03:04:05Z\n\
Message:        Applied revision: main@sha1:abc\n---\nGitRepository:  repo\nNamespace:      flux-system\n\
URL:            https://example.com/repo.git\nBranch:         main\nRevision:       main@sha1:abc\n\
Status:         Ready False (GitOperationFailed)\nMessage:        failed to checkout and more\n"
        );
    }

    #[test]
    fn unmanaged_and_dangling_owners_say_so() {
        let plain = deployment(json!({"app": "x"}));
        let t = trace(&plain, None, None);
        assert!(!t.managed);
        assert_eq!(t.blocks.len(), 1);
        assert!(render_text(&t).contains("Not managed by Flux"));
        let d = deployment(json!({KS_NAME_LABEL: "gone", KS_NAMESPACE_LABEL: "x"}));
        let t = trace(&d, None, None);
        assert!(render_text(&t).contains("Kustomization/x/gone was not found"));
        let t = trace(&d, Some(&kustomization()), None);
        assert!(render_text(&t).contains(
            "GitRepository:  repo\nNamespace:      flux-system\nStatus:         Not found\n"
        ));
    }

    #[test]
    fn helm_release_labels_and_garbage_are_handled() {
        let d = deployment(json!({HR_NAME_LABEL: "web", HR_NAMESPACE_LABEL: "apps"}));
        assert_eq!(managed_by(&d).unwrap().kind, "HelmRelease");
        let hr = json!({"kind": "HelmRelease", "metadata": {"name": "web", "namespace": "apps"},
                        "spec": {"chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}});
        assert_eq!(
            source_ref_of(&hr).unwrap().display(),
            "HelmRepository/apps/charts"
        );
        for bad in [
            json!(null),
            json!([1]),
            json!({"metadata": {"labels": {KS_NAME_LABEL: 3}}}),
        ] {
            assert_eq!(managed_by(&bad), None);
            let _ = render_text(&trace(&bad, Some(&bad), Some(&bad)));
        }
    }
}
