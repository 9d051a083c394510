use super::*;
use crate::model::KINDS;
use crate::model::health::KStatus;
use crate::model::kinds::cells::{git_ref, image_tag};
use serde_json::json;

/// A row's per-kind cells as (title, value) pairs.
fn cells(r: &Row) -> Vec<(&'static str, &str)> {
    r.titled_cells().collect()
}

/// The fixture object of `kind`.
fn row_object(kind: &str) -> Value {
    every_kind()
        .into_iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("fixture {kind}"))
}

const T0: i64 = 1_785_578_400; // 2026-08-01T10:00:00Z

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "flux-system", "uid": format!("uid-{name}"),
           "generation": 1, "creationTimestamp": "2026-08-01T09:00:00Z"})
}

fn ready(message: &str) -> Value {
    json!({"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "True", "reason": "Succeeded", "message": message,
         "lastTransitionTime": "2026-08-01T10:00:00Z", "observedGeneration": 1}]})
}

fn obj(api_version: &str, kind: &str, name: &str, spec: Value, status: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": meta(name), "spec": spec, "status": status})
}

const SHA: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f80910a1b2c3";

/// One realistic object of every registry kind.
fn every_kind() -> Vec<Value> {
    vec![
        obj(
            "source.toolkit.fluxcd.io/v1",
            "GitRepository",
            "podinfo",
            json!({"url": "https://github.com/stefanprodan/podinfo", "interval": "1m", "ref": {"branch": "master"}}),
            {
                let mut s = ready(&format!("stored artifact for revision 'master@sha1:{SHA}'"));
                s["artifact"] = json!({"revision": format!("master@sha1:{SHA}"), "digest": "sha256:00",
                    "path": "gitrepository/flux-system/podinfo/x.tar.gz", "lastUpdateTime": "2026-08-01T10:00:05Z"});
                s
            },
        ),
        obj(
            "source.toolkit.fluxcd.io/v1",
            "OCIRepository",
            "manifests",
            json!({"url": "oci://ghcr.io/stefanprodan/manifests/podinfo", "interval": "5m", "ref": {"semver": "6.x"}}),
            {
                let mut s = ready("stored artifact for digest '6.5.0@sha256:abc'");
                s["artifact"] = json!({"revision": "6.5.0@sha256:abc"});
                s
            },
        ),
        obj(
            "source.toolkit.fluxcd.io/v1",
            "HelmRepository",
            "bitnami",
            json!({"url": "https://charts.bitnami.com/bitnami", "interval": "1h"}),
            {
                let mut s = ready("stored artifact: revision 'sha256:ffee'");
                s["artifact"] = json!({"revision": "sha256:ffee"});
                s
            },
        ),
        obj(
            "source.toolkit.fluxcd.io/v1",
            "HelmChart",
            "flux-system-redis",
            json!({"chart": "redis", "version": "17.x", "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}, "interval": "1h"}),
            {
                let mut s = ready("pulled 'redis' chart with version '17.11.3'");
                s["artifact"] = json!({"revision": "17.11.3"});
                s
            },
        ),
        obj(
            "source.toolkit.fluxcd.io/v1",
            "Bucket",
            "configs",
            json!({"endpoint": "minio.minio.svc:9000", "bucketName": "configs", "interval": "5m"}),
            {
                let mut s = ready("stored artifact for revision 'sha256:beef'");
                s["artifact"] = json!({"revision": "sha256:beef"});
                s
            },
        ),
        obj(
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            "apps",
            json!({"interval": "10m", "path": "./apps/production", "prune": true,
                   "sourceRef": {"kind": "GitRepository", "name": "podinfo"},
                   "dependsOn": [{"name": "infra"}, {"name": "crds", "namespace": "kube-system"}]}),
            {
                let mut s = ready(&format!("Applied revision: master@sha1:{SHA}"));
                s["lastAppliedRevision"] = json!(format!("master@sha1:{SHA}"));
                s
            },
        ),
        obj(
            "helm.toolkit.fluxcd.io/v2",
            "HelmRelease",
            "redis",
            json!({"interval": "10m", "chart": {"spec": {"chart": "redis", "version": "17.x",
                   "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}}},
                   "dependsOn": [{"name": "cert-manager", "namespace": "cert-manager"}]}),
            {
                let mut s = ready(
                    "Helm install succeeded for release flux-system/redis.v1 with chart redis@17.11.3",
                );
                s["history"] = json!([{"chartName": "redis", "chartVersion": "17.11.3", "status": "deployed", "version": 1}]);
                s
            },
        ),
        obj(
            "image.toolkit.fluxcd.io/v1",
            "ImageRepository",
            "podinfo",
            json!({"image": "ghcr.io/stefanprodan/podinfo", "interval": "5m"}),
            {
                let mut s = ready("successful scan: found 42 tags with checksum 1234");
                s["lastScanResult"] = json!({"tagCount": 42, "revision": "1234", "scanTime": "2026-08-01T10:01:00Z",
                    "latestTags": ["6.5.0", "6.4.1"]});
                s
            },
        ),
        obj(
            "image.toolkit.fluxcd.io/v1",
            "ImagePolicy",
            "podinfo",
            json!({"imageRepositoryRef": {"name": "podinfo"}, "policy": {"semver": {"range": "6.x"}}}),
            {
                let mut s =
                    ready("Latest image tag for ghcr.io/stefanprodan/podinfo resolved to 6.5.0");
                s["latestRef"] = json!({"name": "ghcr.io/stefanprodan/podinfo", "tag": "6.5.0"});
                s
            },
        ),
        obj(
            "image.toolkit.fluxcd.io/v1",
            "ImageUpdateAutomation",
            "flux-system",
            json!({"interval": "30m", "sourceRef": {"kind": "GitRepository", "name": "podinfo"},
                   "git": {"commit": {"author": {"email": "fluxcdbot@users.noreply.github.com"}}},
                   "update": {"path": "./clusters", "strategy": "Setters"}}),
            {
                let mut s = ready("repository up-to-date");
                s["observedSourceRevision"] = json!(format!("main@sha1:{SHA}"));
                s["lastAutomationRunTime"] = json!("2026-08-01T10:02:00Z");
                s
            },
        ),
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert", "metadata": meta("slack"),
               "spec": {"providerRef": {"name": "slack"}, "eventSeverity": "error",
                        "eventSources": [{"kind": "Kustomization", "name": "*"}]}}),
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider", "metadata": meta("slack"),
               "spec": {"type": "slack", "channel": "general", "secretRef": {"name": "slack-url"}}}),
        obj(
            "notification.toolkit.fluxcd.io/v1",
            "Receiver",
            "github",
            json!({"type": "github", "events": ["ping", "push"], "secretRef": {"name": "webhook-token"},
                   "resources": [{"kind": "GitRepository", "name": "podinfo"}]}),
            {
                let mut s = ready("Receiver initialized for path: /hook/abc");
                s["webhookPath"] = json!("/hook/abc");
                s
            },
        ),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": "guestbook", "namespace": "argocd", "uid": "uid-app", "creationTimestamp": "2026-08-01T09:00:00Z"},
               "spec": {"project": "default",
                        "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps", "path": "guestbook", "targetRevision": "HEAD"},
                        "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
                        "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
               "status": {"sync": {"status": "Synced", "revision": SHA}, "health": {"status": "Healthy"},
                          "reconciledAt": "2026-08-01T10:03:00Z"}}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
               "metadata": {"name": "clusters", "namespace": "argocd", "uid": "uid-set"},
               "spec": {"generators": [{"clusters": {}}], "template": {"metadata": {"name": "{{name}}-guestbook"}, "spec": {}}},
               "status": {"conditions": [{"type": "ResourcesUpToDate", "status": "True", "reason": "ApplicationSetUpToDate",
                                          "message": "All applications have been generated successfully"}]}}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
               "metadata": {"name": "default", "namespace": "argocd", "uid": "uid-proj"},
               "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}}),
        obj(
            "source.toolkit.fluxcd.io/v1",
            "ExternalArtifact",
            "apps",
            json!({"sourceRef": {"apiVersion": "source.extensions.fluxcd.io/v1beta1",
                                 "kind": "ArtifactGenerator", "name": "flux-system"}}),
            ready("Artifact is ready"),
        ),
        obj(
            "source.extensions.fluxcd.io/v1beta1",
            "ArtifactGenerator",
            "flux-system",
            json!({"sources": [{"alias": "repo", "kind": "GitRepository", "name": "flux-system"}],
                   "artifacts": [{"name": "apps", "copy": [{"from": "@repo/apps/**", "to": "@artifact/"}]}]}),
            ready("reconciliation succeeded, generated 1 artifact(s)"),
        ),
    ]
}

#[test]
fn a_row_for_every_registry_kind() {
    let objects = every_kind();
    assert_eq!(objects.len(), KINDS.len());
    for (o, k) in objects.iter().zip(KINDS) {
        let row = Row::from_object("dev", o).unwrap_or_else(|| panic!("no row for {}", k.kind));
        assert_eq!(row.kind.kind, k.kind);
        assert_eq!(row.context, "dev");
        assert!(!row.name.is_empty() && !row.uid.is_empty(), "{}", k.kind);
        assert_eq!(row.health, Health::Ready, "{} health: {:?}", k.kind, row);
        assert!(!row.suspended, "{}", k.kind);
        let key = row.key();
        assert_eq!((key.context.as_str(), key.kind), ("dev", k.kind));
        assert_eq!(key.name, row.name);
    }
}

fn row_of(kind: &str) -> Row {
    let o = every_kind()
        .into_iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("fixture {kind}"));
    Row::from_object("prod", &o).unwrap_or_else(|| panic!("row {kind}"))
}

#[test]
fn kustomization_cells() {
    let r = row_of("Kustomization");
    assert_eq!(r.version, "v1");
    assert_eq!(r.ready, ConditionStatus::True);
    assert_eq!(r.message, format!("Applied revision: master@sha1:{SHA}"));
    assert_eq!(r.revision, format!("master@sha1:{SHA}"));
    assert_eq!(r.created, Some(T0 - 3600));
    assert_eq!(r.last_reconcile, Some(T0));
    assert_eq!(
        cells(&r),
        [
            ("SOURCE", "GitRepository/flux-system/podinfo"),
            ("PATH", "./apps/production")
        ]
    );
    assert_eq!(
        r.depends_on,
        vec![
            DependencyRef {
                namespace: "flux-system".into(),
                name: "infra".into()
            },
            DependencyRef {
                namespace: "kube-system".into(),
                name: "crds".into()
            },
        ]
    );
    assert_eq!(
        r.key(),
        RowKey {
            context: "prod".into(),
            kind: "Kustomization",
            namespace: "flux-system".into(),
            name: "apps".into()
        }
    );
}

#[test]
fn source_cells() {
    let g = row_of("GitRepository");
    assert_eq!(
        cells(&g),
        [
            ("URL", "https://github.com/stefanprodan/podinfo"),
            ("REF", "branch master")
        ]
    );
    assert_eq!(g.revision, format!("master@sha1:{SHA}"));
    assert_eq!(
        g.last_reconcile,
        Some(T0 + 5),
        "artifact time is newer than Ready"
    );
    assert_eq!(
        cells(&row_of("OCIRepository")),
        [
            ("URL", "oci://ghcr.io/stefanprodan/manifests/podinfo"),
            ("REF", "semver 6.x")
        ]
    );
    assert_eq!(
        cells(&row_of("HelmChart")),
        [
            ("CHART", "redis"),
            ("VERSION", "17.x"),
            ("SOURCE", "HelmRepository/bitnami")
        ]
    );
    assert_eq!(row_of("HelmChart").revision, "17.11.3");
    assert_eq!(
        cells(&row_of("Bucket")),
        [("ENDPOINT", "minio.minio.svc:9000"), ("BUCKET", "configs")]
    );
    assert_eq!(
        cells(&row_of("HelmRepository")),
        [("URL", "https://charts.bitnami.com/bitnami")]
    );
}

#[test]
fn git_ref_precedence() {
    let r = |v: Value| git_ref(Some(&v));
    assert_eq!(r(json!({"tag": "v1.0.0"})), "tag v1.0.0");
    assert_eq!(r(json!({"semver": ">=1.0.0"})), "semver >=1.0.0");
    assert_eq!(r(json!({"tag": "v1", "semver": "1.x"})), "tag v1");
    assert_eq!(
        r(json!({"name": "refs/pull/420/head", "branch": "main"})),
        "name refs/pull/420/head"
    );
    assert_eq!(r(json!({"commit": SHA})), "commit 1a2b3c4");
    assert_eq!(
        r(json!({"commit": SHA, "branch": "main"})),
        "branch main@1a2b3c4"
    );
    assert_eq!(r(json!({})), "branch master");
    assert_eq!(git_ref(None), "branch master");
    assert_eq!(r(json!("main")), "branch master");
}

#[test]
fn helm_release_and_image_cells() {
    let hr = row_of("HelmRelease");
    assert_eq!(cells(&hr), [("CHART", "redis"), ("VERSION", "17.11.3")]);
    assert_eq!(hr.revision, "17.11.3");
    assert_eq!(
        hr.depends_on,
        vec![DependencyRef {
            namespace: "cert-manager".into(),
            name: "cert-manager".into()
        }]
    );

    let chart_ref = json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": meta("podinfo"),
        "spec": {"chartRef": {"kind": "OCIRepository", "name": "podinfo"}}});
    let r = Row::from_object("dev", &chart_ref).expect("row");
    assert_eq!(
        cells(&r),
        [
            ("CHART", "OCIRepository/flux-system/podinfo"),
            ("VERSION", "")
        ]
    );
    assert_eq!(r.health, Health::Unknown);

    let beta = json!({"apiVersion": "helm.toolkit.fluxcd.io/v2beta2", "kind": "HelmRelease", "metadata": meta("old"),
        "spec": {"chart": {"spec": {"chart": "nginx", "version": "1.2.3"}}},
        "status": {"lastAppliedRevision": "1.2.3", "conditions": []}});
    let r = Row::from_object("dev", &beta).expect("row");
    assert_eq!(
        (r.version.as_str(), r.revision.as_str()),
        ("v2beta2", "1.2.3")
    );

    let ir = row_of("ImageRepository");
    assert_eq!(
        cells(&ir),
        [("IMAGE", "ghcr.io/stefanprodan/podinfo"), ("TAGS", "42")]
    );
    assert_eq!(ir.last_reconcile, Some(T0 + 60));
    let ip = row_of("ImagePolicy");
    assert_eq!(
        cells(&ip),
        [("LATEST IMAGE", "ghcr.io/stefanprodan/podinfo:6.5.0")]
    );
    assert_eq!(ip.revision, "6.5.0");

    let v1beta2 = json!({"apiVersion": "image.toolkit.fluxcd.io/v1beta2", "kind": "ImagePolicy", "metadata": meta("old"),
        "spec": {}, "status": {"latestImage": "registry.local:5000/app:1.4.2", "conditions": []}});
    let r = Row::from_object("dev", &v1beta2).expect("row");
    assert_eq!(
        cells(&r),
        [("LATEST IMAGE", "registry.local:5000/app:1.4.2")]
    );
    assert_eq!(r.revision, "1.4.2");
    assert_eq!(image_tag("registry.local:5000/app"), None);
    assert_eq!(image_tag("app:1@sha256:abc"), Some("1"));

    let iua = row_of("ImageUpdateAutomation");
    assert_eq!(
        cells(&iua),
        [("SOURCE", "GitRepository/flux-system/podinfo")]
    );
    assert_eq!(iua.last_reconcile, Some(T0 + 120));
}

#[test]
fn failing_and_suspended_flux_rows() {
    let mut o = every_kind()
        .into_iter()
        .find(|o| o["kind"] == "Kustomization")
        .expect("ks");
    o["metadata"]["generation"] = json!(2);
    o["status"]["conditions"] = json!([
        {"type": "Ready", "status": "False", "reason": "HealthCheckFailed", "observedGeneration": 2,
         "message": "health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']",
         "lastTransitionTime": "2026-08-01T11:00:00Z"}]);
    let r = Row::from_object("dev", &o).expect("row");
    assert_eq!(r.health, Health::Failing);
    assert_eq!(r.ready, ConditionStatus::False);
    assert_eq!(r.reason, "HealthCheckFailed");
    assert!(r.message.starts_with("health check failed"));
    assert_eq!(r.last_reconcile, Some(T0 + 3600));

    o["spec"]["suspend"] = json!(true);
    o["metadata"]["managedFields"] = json!([
        {"manager": "kustomize-controller", "operation": "Apply", "time": "2026-08-01T09:00:00Z",
         "fieldsV1": {"f:spec": {"f:path": {}}}},
        {"manager": "flux", "operation": "Update", "time": "2026-08-01T12:00:00Z",
         "fieldsV1": {"f:spec": {"f:suspend": {}}}}]);
    let r = Row::from_object("dev", &o).expect("row");
    assert_eq!(r.health, Health::Suspended);
    assert!(r.suspended);
    assert_eq!(r.suspended_since, Some(T0 + 7200));
}

#[test]
fn argo_rows() {
    let a = row_of("Application");
    assert_eq!(a.ready, ConditionStatus::True);
    assert_eq!(a.message, "Synced, Healthy");
    assert_eq!(a.reason, "Healthy");
    assert_eq!(a.revision, "1a2b3c4");
    assert_eq!(a.last_reconcile, Some(T0 + 180));
    assert!(!a.suspended);
    assert_eq!(
        cells(&a),
        [
            ("SYNC", "Synced"),
            ("HEALTH", "Healthy"),
            ("PROJECT", "default"),
            ("DESTINATION", "https://kubernetes.default.svc/guestbook")
        ]
    );
    assert_eq!(auto_sync(&row_object("Application")), AutoSync::On);
    assert_eq!(a.detail, DetailedStatus::Argo(ArgoHealth::Healthy));

    let mut o = every_kind()
        .into_iter()
        .find(|o| o["kind"] == "Application")
        .expect("app");
    o["status"]["sync"]["status"] = json!("OutOfSync");
    o["status"]["health"] = json!({"status": "Degraded", "message": "Deployment \"guestbook-ui\" exceeded its progress deadline"});
    o["spec"]["syncPolicy"]["automated"]["enabled"] = json!(false);
    o["metadata"]["managedFields"] = json!([{"manager": "flotilla", "time": "2026-08-01T10:30:00Z",
        "fieldsV1": {"f:spec": {"f:syncPolicy": {"f:automated": {"f:enabled": {}}}}}}]);
    let r = Row::from_object("dev", &o).expect("row");
    assert_eq!(r.health, Health::Failing);
    assert_eq!(r.ready, ConditionStatus::False);
    assert_eq!(
        r.message,
        "OutOfSync, Degraded: Deployment \"guestbook-ui\" exceeded its progress deadline"
    );
    assert!(r.suspended);
    assert_eq!(r.reason, "Degraded");
    assert_eq!(r.suspended_since, Some(T0 + 1800));
    assert_eq!(auto_sync(&o), AutoSync::Disabled);

    o["status"]["sync"]["status"] = json!("Synced");
    o["status"]["health"] = json!({"status": "Progressing"});
    o["spec"].as_object_mut().map(|s| s.remove("syncPolicy"));
    let r = Row::from_object("dev", &o).expect("row");
    assert_eq!(
        (r.health, r.ready),
        (Health::Progressing, ConditionStatus::Unknown)
    );
    assert!(r.suspended, "manual sync counts as auto-sync off");
    assert_eq!(r.suspended_since, None);
    assert_eq!(auto_sync(&o), AutoSync::Manual);

    let bare = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "new", "namespace": "argocd"}});
    let r = Row::from_object("dev", &bare).expect("row");
    assert_eq!(
        (r.health, r.ready, r.message.as_str()),
        (
            Health::Unknown,
            ConditionStatus::Unknown,
            "Unknown, Unknown"
        )
    );
    let mut erroring = bare.clone();
    erroring["status"] =
        json!({"conditions": [{"type": "ComparisonError", "message": "repo not found"}]});
    let r = Row::from_object("dev", &erroring).expect("row");
    assert_eq!(r.reason, "ComparisonError");
}

#[test]
fn short_revisions() {
    assert_eq!(short_revision(SHA), "1a2b3c4");
    assert_eq!(
        short_revision(&format!("sha256:{SHA}{SHA}")),
        "sha256:1a2b3c4"
    );
    assert_eq!(short_revision("17.11.3"), "17.11.3");
    assert_eq!(short_revision("HEAD"), "HEAD");
    assert_eq!(short_revision(""), "");
    assert_eq!(
        short_revision("ééééééééééééééééééééééééééééééééééééééééé"),
        "ééééééééééééééééééééééééééééééééééééééééé"
    );
}

#[test]
fn unknown_kinds_have_no_row() {
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}});
    assert!(Row::from_object("dev", &deploy).is_none());
    // Right kind, wrong group.
    let fake =
        json!({"apiVersion": "example.com/v1", "kind": "Kustomization", "metadata": {"name": "x"}});
    assert!(Row::from_object("dev", &fake).is_none());
    assert!(Row::from_object("dev", &json!({"kind": "Kustomization"})).is_none());
}

#[test]
fn garbage_degrades_to_unknown_cells() {
    let garbage = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": 5, "namespace": ["x"], "creationTimestamp": "yesterday", "managedFields": "x", "generation": "2"},
        "spec": {"sourceRef": "podinfo", "path": 3, "dependsOn": [1, {"name": 2}, {"namespace": "x"}, {"name": "ok"}], "suspend": "yes"},
        "status": {"conditions": [{"type": "Ready", "status": "maybe", "message": 1}], "lastAppliedRevision": 7,
                   "lastHandledReconcileAt": "2026-08-01 10:00:00.1234 +0000 UTC"}});
    let r = Row::from_object("dev", &garbage).expect("registry kind");
    assert_eq!(r.name, "");
    assert_eq!(r.ready, ConditionStatus::Unknown);
    assert_eq!(r.revision, "");
    assert_eq!(r.created, None);
    assert_eq!(r.last_reconcile, None);
    assert!(!r.suspended);
    assert_eq!(cells(&r), [("SOURCE", ""), ("PATH", "./")]);
    assert_eq!(
        r.depends_on,
        vec![DependencyRef {
            namespace: String::new(),
            name: "ok".into()
        }]
    );
    assert_eq!(r.detail, DetailedStatus::KStatus(KStatus::InProgress));
    assert_eq!(r.health, Health::Progressing);

    for o in [
        json!(null),
        json!([]),
        json!("Kustomization"),
        json!({"apiVersion": 1, "kind": "Kustomization"}),
    ] {
        assert!(Row::from_object("dev", &o).is_none());
    }
    // Every registry kind with a hostile body still yields a Row.
    for k in KINDS {
        let hostile = json!({"apiVersion": format!("{}/{}", k.group, k.versions[0]), "kind": k.kind,
            "metadata": null, "spec": [1, 2], "status": {"conditions": {"Ready": true}, "sync": "x", "health": 3,
            "history": "x", "latestRef": [], "lastScanResult": {"tagCount": "many"}, "artifact": 1}});
        let r = Row::from_object("dev", &hostile).expect("registry kind");
        if k.kind != "AppProject" {
            assert_ne!(r.health, Health::Ready, "{}", k.kind);
        }
    }
}

#[test]
fn row_stays_small() {
    // The console keeps 10,000 rows; guard against someone embedding the object.
    assert!(
        std::mem::size_of::<Row>() <= 512,
        "Row is {} bytes",
        std::mem::size_of::<Row>()
    );
}

#[test]
fn labels_are_read_sorted_and_tolerant() {
    let mut o = obj(
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        "apps",
        json!({"sourceRef": {"kind": "GitRepository", "name": "podinfo"}}),
        ready("ok"),
    );
    o["metadata"]["labels"] = json!({"tier": "web", "app.kubernetes.io/name": "podinfo",
        "bad": 5, "empty": "", "nested": {"x": "y"}});
    let r = Row::from_object("dev", &o).expect("registry kind");
    let all: Vec<(&str, &str)> = r.labels.iter().collect();
    assert_eq!(
        all,
        [
            ("app.kubernetes.io/name", "podinfo"),
            ("empty", ""),
            ("tier", "web")
        ]
    );
    assert_eq!(r.labels.get("tier"), Some("web"));
    assert_eq!(r.labels.get("bad"), None);
    assert!(r.labels.contains_key("empty"));
    assert!(!r.labels.contains_key("nested"));
    assert_eq!(r.labels.len(), 3);

    for junk in [json!(null), json!("a=b"), json!(["a"]), json!(7)] {
        o["metadata"]["labels"] = junk;
        let r = Row::from_object("dev", &o).expect("registry kind");
        assert!(r.labels.is_empty());
    }
}

#[test]
fn duplicate_label_pairs_keep_the_last() {
    let l = Labels::from_pairs([("b", "1"), ("a", "x"), ("b", "2")]);
    assert_eq!(l.iter().collect::<Vec<_>>(), [("a", "x"), ("b", "2")]);
    assert_eq!(Labels::default().get("a"), None);
}
