use super::*;

const NOW: &str = "2026-08-01T10:00:00.123456789Z";

fn ks(extra: Value) -> Value {
    let mut o = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system", "resourceVersion": "7"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./apps"}
    });
    merge(&mut o, extra);
    o
}

fn app(extra: Value) -> Value {
    let mut o = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "argocd", "resourceVersion": "42"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://example.com/r.git", "path": "guestbook", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "gb"}
        }
    });
    merge(&mut o, extra);
    o
}

fn merge(base: &mut Value, extra: Value) {
    crate::patch::merge_patch(base, &extra);
}

fn single(p: Vec<PlannedPatch>) -> Value {
    assert_eq!(p.len(), 1, "{p:?}");
    p.into_iter().next().unwrap().merge_patch
}

#[test]
fn flux_suspend_and_resume_match_the_cli() {
    let p = single(plan(&Action::Suspend, &ks(json!({})), NOW, "u").unwrap());
    assert_eq!(p, json!({"spec": {"suspend": true}}));
    let p = single(
        plan(
            &Action::Resume,
            &ks(json!({"spec": {"suspend": true}})),
            NOW,
            "u",
        )
        .unwrap(),
    );
    assert_eq!(p, json!({"spec": {"suspend": null}}));
}

#[test]
fn flux_reconcile_annotates_requested_at_and_refuses_suspended() {
    let p = single(plan(&Action::Reconcile, &ks(json!({})), NOW, "u").unwrap());
    assert_eq!(
        p,
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": NOW}}})
    );
    let e = plan(
        &Action::Reconcile,
        &ks(json!({"spec": {"suspend": true}})),
        NOW,
        "u",
    )
    .unwrap_err();
    assert!(e.to_string().contains("resource is suspended"), "{e}");
}

#[test]
fn reconcile_with_source_annotates_the_source_first() {
    let p = plan(&Action::ReconcileWithSource, &ks(json!({})), NOW, "u").unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].target.kind.kind, "GitRepository");
    assert_eq!(p[0].target.namespace, "flux-system");
    assert_eq!(p[0].target.name, "repo");
    assert_eq!(p[1].target.kind.kind, "Kustomization");
    for patch in &p {
        assert_eq!(
            patch.merge_patch,
            json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": NOW}}})
        );
    }
    // An explicit source namespace and an OCIRepository.
    let o = ks(
        json!({"spec": {"sourceRef": {"kind": "OCIRepository", "name": "oci", "namespace": "other"}}}),
    );
    let p = plan(&Action::ReconcileWithSource, &o, NOW, "u").unwrap();
    assert_eq!(p[0].target.to_string(), "OCIRepository other/oci");
    // No sourceRef: refused.
    let o = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "x", "namespace": "n"}, "spec": {"sourceRef": 5}});
    assert!(plan(&Action::ReconcileWithSource, &o, NOW, "u").is_err());
}

#[test]
fn helm_force_and_reset_set_both_tokens() {
    let hr = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "apps"},
        "spec": {"chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": "flux-system"}}}}
    });
    let p = single(plan(&Action::HelmForce, &hr, NOW, "u").unwrap());
    assert_eq!(
        p,
        json!({"metadata": {"annotations": {
            "reconcile.fluxcd.io/requestedAt": NOW, "reconcile.fluxcd.io/forceAt": NOW}}})
    );
    let p = single(plan(&Action::HelmReset, &hr, NOW, "u").unwrap());
    assert_eq!(
        p,
        json!({"metadata": {"annotations": {
            "reconcile.fluxcd.io/requestedAt": NOW, "reconcile.fluxcd.io/resetAt": NOW}}})
    );
    let p = plan(&Action::ReconcileWithSource, &hr, NOW, "u").unwrap();
    assert_eq!(
        p[0].target.to_string(),
        "HelmRepository flux-system/podinfo"
    );
    // Force is HelmRelease-only.
    assert!(plan(&Action::HelmForce, &ks(json!({})), NOW, "u").is_err());
}

#[test]
fn argo_refresh_sends_mode_and_timestamp() {
    let p = single(plan(&Action::HardRefresh, &app(json!({})), NOW, "u").unwrap());
    assert_eq!(
        p,
        json!({"metadata": {"annotations": {
            "argocd.argoproj.io/refresh": "hard", "argocd.argoproj.io/refresh-timestamp": NOW}}})
    );
    let p = single(plan(&Action::Refresh, &app(json!({})), NOW, "u").unwrap());
    assert_eq!(p["metadata"]["annotations"][ARGO_REFRESH], "normal");
    let p = single(plan(&Action::Reconcile, &app(json!({})), NOW, "u").unwrap());
    assert_eq!(p["metadata"]["annotations"][ARGO_REFRESH], "normal");
}

#[test]
fn argo_sync_writes_operation_like_the_cli() {
    let o = app(json!({
        "spec": {"syncPolicy": {"syncOptions": ["CreateNamespace=true"], "retry": {"limit": 3}}},
        "status": {"operationState": {"phase": "Succeeded"}}
    }));
    let p = single(plan(&Action::Sync { prune: true }, &o, NOW, "alice").unwrap());
    assert_eq!(
        p,
        json!({
            "metadata": {"resourceVersion": "42"},
            "operation": {
                "initiatedBy": {"username": "alice"},
                "retry": {"limit": 3},
                "sync": {
                    "source": {"repoURL": "https://example.com/r.git", "path": "guestbook", "targetRevision": "HEAD"},
                    "prune": true,
                    "syncOptions": ["CreateNamespace=true"]
                }
            },
            "status": {"operationState": null}
        })
    );
    // Minimal: no prune key, no retry, no status clearing.
    let p = single(plan(&Action::Sync { prune: false }, &app(json!({})), NOW, "u").unwrap());
    assert!(p["operation"]["sync"].get("prune").is_none());
    assert!(p["operation"].get("retry").is_none());
    assert!(p.get("status").is_none());
    // Multi-source apps copy `sources`.
    let o = app(json!({"spec": {"source": null, "sources": [{"repoURL": "a"}, {"repoURL": "b"}]}}));
    let p = single(plan(&Action::Sync { prune: false }, &o, NOW, "u").unwrap());
    assert_eq!(
        p["operation"]["sync"]["sources"],
        json!([{"repoURL": "a"}, {"repoURL": "b"}])
    );
    assert!(p["operation"]["sync"].get("source").is_none());
    // An operation in flight refuses.
    let o = app(json!({"operation": {"sync": {}}}));
    let e = plan(&Action::Sync { prune: false }, &o, NOW, "u").unwrap_err();
    assert!(e.to_string().contains("already in progress"), "{e}");
}

#[test]
fn argo_pause_and_resume_keep_the_sync_policy() {
    let o = app(
        json!({"spec": {"syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["X=y"]}}}),
    );
    let p = single(plan(&Action::Suspend, &o, NOW, "u").unwrap());
    assert_eq!(
        p,
        json!({"spec": {"syncPolicy": {"automated": {"enabled": false}}}})
    );
    let mut paused = o.clone();
    merge(&mut paused, p);
    assert_eq!(
        paused["spec"]["syncPolicy"],
        json!({"automated": {"prune": true, "selfHeal": true, "enabled": false}, "syncOptions": ["X=y"]})
    );
    let p = single(plan(&Action::Resume, &paused, NOW, "u").unwrap());
    merge(&mut paused, p);
    assert_eq!(paused["spec"]["syncPolicy"], o["spec"]["syncPolicy"]);
    // No automated block: nothing to pause or restore.
    assert!(plan(&Action::Suspend, &app(json!({})), NOW, "u").is_err());
    assert!(plan(&Action::Resume, &app(json!({})), NOW, "u").is_err());
}

#[test]
fn unsupported_combinations_and_malformed_objects_are_refused() {
    let appset = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "s", "namespace": "argocd"}});
    assert!(plan(&Action::Sync { prune: false }, &appset, NOW, "u").is_err());
    assert!(plan(&Action::Suspend, &appset, NOW, "u").is_err());
    assert!(plan(&Action::HardRefresh, &ks(json!({})), NOW, "u").is_err());
    for bad in [
        json!(null),
        json!([1, 2]),
        json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x"}}),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization"}),
        json!({"apiVersion": 5, "kind": {"a": 1}}),
    ] {
        for action in [
            Action::Suspend,
            Action::Reconcile,
            Action::Sync { prune: true },
        ] {
            assert!(plan(&action, &bad, NOW, "u").is_err(), "{bad}");
        }
    }
    // Wrong types inside a known kind degrade gracefully.
    let o =
        app(json!({"spec": {"syncPolicy": {"automated": "yes", "syncOptions": 3, "retry": []}}}));
    assert!(plan(&Action::Suspend, &o, NOW, "u").is_err());
    let p = single(plan(&Action::Sync { prune: false }, &o, NOW, "u").unwrap());
    assert!(p["operation"].get("retry").is_none());
    assert!(Action::Sync { prune: false }.is_mutation() && Action::Refresh.is_mutation());
}

#[test]
fn request_token_is_rfc3339() {
    let t = request_token_now();
    assert!(t.ends_with('Z') && t.contains('T'), "{t}");
    assert!(t.parse::<jiff::Timestamp>().is_ok());
}
