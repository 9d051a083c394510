//! Snapshots of the views' text renderings: a failing tree, a deep nested tree, an empty
//! inventory, an Argo CD application, a diff with a masked Secret, a big diff, a trace and a
//! dependsOn chain.

use flotilla::model::depends::{self, depends_on_view};
use flotilla::model::trace;
use flotilla::model::tree::{self, ObjectIndex, ObjectRef};
use flotilla::views::diff::{self, Change, DiffReport};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000;

fn ks(name: &str, ns: &str, ids: &[String], ready: (&str, &str)) -> Value {
    let entries: Vec<Value> = ids.iter().map(|id| json!({"id": id, "v": "v1"})).collect();
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns, "generation": 1},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "flux-system"}, "path": "./clusters/prod"},
        "status": {"observedGeneration": 1, "lastAppliedRevision": "main@sha1:0123abc",
                   "inventory": {"entries": entries},
                   "conditions": [{"type": "Ready", "status": ready.0, "reason": "R", "message": ready.1}]}
    })
}

fn git() -> Value {
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": "flux-system", "namespace": "flux-system", "generation": 1},
           "status": {"observedGeneration": 1, "artifact": {"revision": "main@sha1:0123abc"},
                      "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored"}]}})
}

fn deployment(ns: &str, name: &str, broken: bool) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": ns, "generation": 1},
           "spec": {"replicas": 2},
           "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                      "readyReplicas": if broken {1} else {2}, "availableReplicas": if broken {1} else {2},
                      "conditions": [{"type": "Available", "status": "True"},
                                     if broken {json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": format!("ReplicaSet \"{name}-7d9\" has timed out progressing.")})}
                                     else {json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"})}]}})
}

#[test]
fn failing_and_nested_trees() {
    let top = ks(
        "flux-system",
        "flux-system",
        &[
            "flux-system_infra_kustomize.toolkit.fluxcd.io_Kustomization".into(),
            "flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization".into(),
            "_apps__Namespace".into(),
        ],
        ("True", "Applied revision: main@sha1:0123abc"),
    );
    let infra = ks(
        "infra",
        "flux-system",
        &[
            "infra_redis_apps_Deployment".into(),
            "infra_redis__Service".into(),
        ],
        ("True", "ok"),
    );
    let apps = ks(
        "apps",
        "flux-system",
        &[
            "apps_podinfo_apps_Deployment".into(),
            "apps_frontend_apps_Deployment".into(),
            "apps_podinfo__Service".into(),
            "apps_settings__ConfigMap".into(),
        ],
        (
            "False",
            "health check failed after 5m0s: failed early due to stalled resources: [Deployment/apps/frontend status: 'Failed']",
        ),
    );
    let index: ObjectIndex = [
        infra.clone(), apps.clone(), json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}),
        deployment("infra", "redis", false), json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "redis", "namespace": "infra"}}),
        deployment("apps", "podinfo", false), deployment("apps", "frontend", true),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "podinfo", "namespace": "apps"}}),
    ].into_iter().collect();
    let t = tree::kustomization_tree_at(&top, Some(&git()), &index, NOW);
    insta::assert_snapshot!("tree_failing_nested", tree::render_text(&t));

    let empty = ks(
        "empty",
        "flux-system",
        &[],
        ("True", "Applied revision: main@sha1:0123abc"),
    );
    let t = tree::kustomization_tree_at(&empty, Some(&git()), &ObjectIndex::new(), NOW);
    insta::assert_snapshot!("tree_empty_inventory", tree::render_text(&t));

    // A chain nested five deep.
    let mut objects = Vec::new();
    for i in 0..5 {
        let child = format!(
            "flux-system_level{}_kustomize.toolkit.fluxcd.io_Kustomization",
            i + 1
        );
        objects.push(ks(
            &format!("level{i}"),
            "flux-system",
            &[child, format!("apps_cm{i}__ConfigMap")],
            ("True", "ok"),
        ));
        objects.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm{i}"), "namespace": "apps"}}));
    }
    objects.push(ks(
        "level5",
        "flux-system",
        &[],
        ("Unknown", "Reconciliation in progress"),
    ));
    let index: ObjectIndex = objects.iter().cloned().collect();
    let t = tree::kustomization_tree_at(&objects[0], None, &index, NOW);
    insta::assert_snapshot!("tree_deep", tree::render_text(&t));
}

#[test]
fn application_tree() {
    let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "argocd"},
        "status": {"sync": {"status": "OutOfSync", "revision": "4f1c2e9"},
                   "health": {"status": "Degraded", "message": "Deployment \"ui\" exceeded its progress deadline"},
                   "resources": [
                       {"group": "", "version": "v1", "kind": "Service", "namespace": "gb", "name": "ui", "status": "Synced", "health": {"status": "Healthy"}},
                       {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "gb", "name": "ui", "status": "OutOfSync",
                        "health": {"status": "Degraded", "message": "Deployment \"ui\" exceeded its progress deadline"}}]}});
    let t = tree::application_tree_at(&app, &ObjectIndex::new(), NOW);
    insta::assert_snapshot!("tree_application", tree::render_text(&t));
}

fn secret(password: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "apps", "resourceVersion": "9"},
           "type": "Opaque", "data": {"password": password, "user": "YWRtaW4="}})
}

#[test]
fn diffs_with_masked_secrets_and_big_changes() {
    let mut before = deployment("apps", "podinfo", false);
    let mut after = before.clone();
    after["spec"]["replicas"] = json!(3);
    before["metadata"]["managedFields"] = json!([{"manager": "kustomize-controller"}]);
    let big_before = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big", "namespace": "apps"},
        "data": (0..60).map(|i| (format!("key{i:02}"), json!(format!("value {i}")))).collect::<serde_json::Map<_, _>>()});
    let mut big_after = big_before.clone();
    for i in [3, 4, 30, 58] {
        big_after["data"][format!("key{i:02}")] = json!(format!("changed {i}"));
    }
    let report = DiffReport {
        objects: vec![
            diff::object_diff(
                ObjectRef::of(&before),
                Change::Drifted,
                Some(&before),
                Some(&after),
            ),
            diff::object_diff(
                ObjectRef::of(&secret("b2xk")),
                Change::Drifted,
                Some(&secret("b2xk")),
                Some(&secret("bmV3")),
            ),
            diff::object_diff(
                ObjectRef::of(&big_before),
                Change::Drifted,
                Some(&big_before),
                Some(&big_after),
            ),
            diff::object_diff(
                ObjectRef::of(&secret("b2xk")),
                Change::Deleted,
                Some(&secret("b2xk")),
                None,
            ),
        ],
        errors: vec![],
    };
    let text = diff::render_text(&report);
    assert!(!text.contains("b2xk") && !text.contains("bmV3") && !text.contains("YWRtaW4="));
    insta::assert_snapshot!("diff_masked_and_big", text);
    let rows: Vec<String> = diff::text::side_by_side(&report.objects[2].hunks[0])
        .iter()
        .map(|r| {
            format!(
                "{:<22}|{}",
                r.left.as_ref().map(|l| l.1.as_str()).unwrap_or(""),
                r.right.as_ref().map(|l| l.1.as_str()).unwrap_or("")
            )
        })
        .collect();
    insta::assert_snapshot!("diff_side_by_side", rows.join("\n"));
}

#[test]
fn trace_and_depends_on() {
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "podinfo", "namespace": "apps",
        "labels": {"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}}});
    let mut apps = ks(
        "apps",
        "flux-system",
        &[],
        ("True", "Applied revision: main@sha1:0123abc"),
    );
    apps["status"]["conditions"][0]["lastTransitionTime"] = json!("2024-05-01T10:00:00Z");
    let mut src = git();
    src["spec"] = json!({"url": "ssh://git@github.com/acme/fleet", "ref": {"branch": "main"}});
    insta::assert_snapshot!(
        "trace_deployment",
        trace::render_text(&trace::trace(&d, Some(&apps), Some(&src)))
    );

    let mut infra = ks(
        "infra",
        "flux-system",
        &[],
        ("False", "kustomization path not found"),
    );
    infra["status"]["conditions"][0]["reason"] = json!("ArtifactFailed");
    let mut mid = ks(
        "mid",
        "flux-system",
        &[],
        ("False", "dependency 'flux-system/infra' is not ready"),
    );
    mid["spec"]["dependsOn"] = json!([{"name": "infra"}]);
    mid["status"]["conditions"][0]["reason"] = json!("DependencyNotReady");
    let mut top = mid.clone();
    top["metadata"]["name"] = json!("top");
    top["spec"]["dependsOn"] = json!([{"name": "mid"}]);
    top["status"]["conditions"][0]["message"] = json!("dependency 'flux-system/mid' is not ready");
    let all = vec![infra, mid.clone(), top];
    insta::assert_snapshot!(
        "depends_on_mid",
        depends::render_text(&depends_on_view(&mid, &all))
    );
}
