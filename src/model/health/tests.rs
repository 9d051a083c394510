use super::*;
use serde_json::json;

fn cond(t: &str, s: &str, reason: &str, message: &str, generation: i64) -> Value {
    json!({"type": t, "status": s, "reason": reason, "message": message,
           "lastTransitionTime": "2026-08-01T10:00:00Z", "observedGeneration": generation})
}

fn ks(generation: i64, observed: i64, conditions: Vec<Value>) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system", "generation": generation},
        "spec": {"interval": "10m", "path": "./apps", "prune": true,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        "status": {"observedGeneration": observed, "conditions": conditions}
    })
}

fn h(obj: &Value) -> Health {
    assess(obj).health
}

fn ks_status(obj: &Value) -> KStatus {
    kstatus(obj).status
}

#[test]
fn flux_ready_is_ready_and_current() {
    let o = ks(
        2,
        2,
        vec![cond(
            "Ready",
            "True",
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:1234",
            2,
        )],
    );
    let a = assess(&o);
    assert_eq!(a.health, Health::Ready);
    assert_eq!(a.detail, DetailedStatus::KStatus(KStatus::Current));
    assert_eq!(a.message, "Applied revision: main@sha1:1234");
}

#[test]
fn flux_ready_false_is_failing_with_its_message_though_kstatus_says_in_progress() {
    // Kustomization quirk: status.observedGeneration stays at the last success while Ready tracks gen 3.
    let o = ks(
        3,
        2,
        vec![
            cond(
                "Ready",
                "False",
                "BuildFailed",
                "kustomize build failed: missing resource",
                3,
            ),
            cond(
                "Reconciling",
                "True",
                "ProgressingWithRetry",
                "Building manifests",
                3,
            ),
        ],
    );
    let a = assess(&o);
    assert_eq!(a.health, Health::Failing);
    assert_eq!(a.message, "kustomize build failed: missing resource");
    assert_eq!(ks_status(&o), KStatus::InProgress);
}

#[test]
fn flux_suspended_wins_over_conditions() {
    let mut o = ks(
        2,
        2,
        vec![cond("Ready", "False", "BuildFailed", "broken", 2)],
    );
    o["spec"]["suspend"] = json!(true);
    assert_eq!(h(&o), Health::Suspended);
    // A string "true" is not a suspend flag.
    o["spec"]["suspend"] = json!("true");
    assert_eq!(h(&o), Health::Failing);
}

#[test]
fn flux_reconciling_is_progressing() {
    let o = ks(
        2,
        2,
        vec![
            cond(
                "Reconciling",
                "True",
                "Progressing",
                "Running health checks for revision main@sha1:1 with a timeout of 5m",
                2,
            ),
            cond(
                "Ready",
                "Unknown",
                "Progressing",
                "Reconciliation in progress",
                2,
            ),
        ],
    );
    let a = assess(&o);
    assert_eq!(a.health, Health::Progressing);
    assert!(a.message.starts_with("Running health checks"));
    assert_eq!(a.detail, DetailedStatus::KStatus(KStatus::InProgress));
}

#[test]
fn flux_stalled_is_failing_and_kstatus_failed() {
    let o = ks(
        2,
        2,
        vec![
            cond(
                "Stalled",
                "True",
                "InvalidCELExpression",
                "failed to parse expression",
                2,
            ),
            cond(
                "Ready",
                "False",
                "InvalidCELExpression",
                "failed to parse expression",
                2,
            ),
        ],
    );
    assert_eq!(h(&o), Health::Failing);
    assert_eq!(ks_status(&o), KStatus::Failed);
}

#[test]
fn stale_generation_is_progressing() {
    let o = ks(
        5,
        4,
        vec![cond(
            "Ready",
            "True",
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:1",
            4,
        )],
    );
    let a = assess(&o);
    assert_eq!(a.health, Health::Progressing);
    assert_eq!(a.message, "waiting for generation 5 to be reconciled");
    assert_eq!(ks_status(&o), KStatus::InProgress);
    // A stale Ready=False is not a verdict on the new spec either.
    let o = ks(
        5,
        4,
        vec![cond("Ready", "False", "BuildFailed", "old failure", 4)],
    );
    assert_eq!(h(&o), Health::Progressing);
}

#[test]
fn v1beta2_objects_are_assessed_like_v1() {
    let o = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1beta2",
        "kind": "GitRepository",
        "metadata": {"name": "podinfo", "namespace": "default", "generation": 1},
        "spec": {"url": "https://github.com/stefanprodan/podinfo", "ref": {"branch": "master"}},
        "status": {"observedGeneration": 1, "conditions": [
            cond("Ready", "False", "GitOperationFailed", "failed to checkout and determine revision", 1)
        ]}
    });
    assert_eq!(h(&o), Health::Failing);
}

#[test]
fn flux_without_status_is_unknown_but_statusless_kinds_are_ready() {
    let mut o = ks(1, 0, vec![]);
    o.as_object_mut().map(|m| m.remove("status"));
    assert_eq!(h(&o), Health::Unknown);
    let alert = json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
        "metadata": {"name": "slack", "namespace": "flux-system", "generation": 1},
        "spec": {"providerRef": {"name": "slack"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]}});
    assert_eq!(h(&alert), Health::Ready);
}

#[test]
fn deleting_object_is_terminating() {
    let mut o = ks(1, 1, vec![cond("Ready", "True", "Succeeded", "ok", 1)]);
    o["metadata"]["deletionTimestamp"] = json!("2026-08-01T10:00:00Z");
    assert_eq!(ks_status(&o), KStatus::Terminating);
    assert_eq!(h(&o), Health::Progressing);
}

fn deploy(spec_replicas: i64, status: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "podinfo", "namespace": "default", "generation": 2},
           "spec": {"replicas": spec_replicas, "progressDeadlineSeconds": 600},
           "status": status})
}

#[test]
fn deployment_rules() {
    let done = deploy(
        2,
        json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
        "readyReplicas": 2, "availableReplicas": 2, "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}),
    );
    assert_eq!(
        kstatus(&done),
        KStatusReport {
            status: KStatus::Current,
            message: "Deployment is available. Replicas: 2".into()
        }
    );
    assert_eq!(h(&done), Health::Ready);

    let rolling = deploy(
        3,
        json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
        "readyReplicas": 1, "availableReplicas": 1, "conditions": []}),
    );
    let k = kstatus(&rolling);
    assert_eq!(k.status, KStatus::InProgress);
    assert_eq!(k.message, "Available: 1/3");

    let stuck = deploy(
        3,
        json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1,
        "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                        "message": "ReplicaSet \"podinfo-7d\" has timed out progressing."}]}),
    );
    assert_eq!(ks_status(&stuck), KStatus::Failed);
    assert_eq!(h(&stuck), Health::Failing);

    let no_deadline_condition = deploy(
        1,
        json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
        "readyReplicas": 1, "availableReplicas": 1,
        "conditions": [{"type": "Available", "status": "True"}]}),
    );
    assert_eq!(
        kstatus(&no_deadline_condition).message,
        "ReplicaSet not Available"
    );

    let mut paused = rolling.clone();
    paused["spec"]["paused"] = json!(true);
    assert_eq!(h(&paused), Health::Suspended);
    assert_eq!(
        assess(&paused).detail,
        DetailedStatus::KStatus(KStatus::InProgress)
    );

    let behind = deploy(1, json!({"observedGeneration": 1}));
    assert_eq!(ks_status(&behind), KStatus::InProgress);
}

#[test]
fn statefulset_daemonset_replicaset_rules() {
    let sts = |status: Value, strategy: Value| {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "generation": 1}, "spec": {"replicas": 3, "updateStrategy": strategy},
        "status": status})
    };
    let ok = json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3,
        "updatedReplicas": 3, "currentRevision": "db-1", "updateRevision": "db-1"});
    assert_eq!(
        ks_status(&sts(ok.clone(), json!({"type": "RollingUpdate"}))),
        KStatus::Current
    );
    let mut rev = ok.clone();
    rev["updateRevision"] = json!("db-2");
    assert_eq!(
        ks_status(&sts(rev.clone(), json!({"type": "RollingUpdate"}))),
        KStatus::InProgress
    );
    assert_eq!(
        ks_status(&sts(
            rev,
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 3}})
        )),
        KStatus::Current
    );
    assert_eq!(
        ks_status(&sts(
            json!({"observedGeneration": 1}),
            json!({"type": "OnDelete"})
        )),
        KStatus::Current
    );
    assert_eq!(
        ks_status(&sts(
            json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 1}),
            json!({})
        )),
        KStatus::InProgress
    );

    let ds = |status: Value| {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "generation": 1}, "status": status})
    };
    assert_eq!(
        ks_status(&ds(
            json!({"observedGeneration": 1, "desiredNumberScheduled": 2,
        "currentNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2, "numberReady": 2})
        )),
        KStatus::Current
    );
    let k = kstatus(&ds(
        json!({"observedGeneration": 1, "desiredNumberScheduled": 2,
        "currentNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1, "numberReady": 1}),
    ));
    assert_eq!(
        (k.status, k.message.as_str()),
        (KStatus::InProgress, "Available: 1/2")
    );
    assert_eq!(
        ks_status(&ds(json!({"observedGeneration": 1}))),
        KStatus::InProgress
    );
    assert_eq!(ks_status(&ds(json!({}))), KStatus::InProgress);

    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "x", "generation": 1},
        "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "replicas": 2, "fullyLabeledReplicas": 2,
        "availableReplicas": 2, "readyReplicas": 2, "conditions": [
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "quota exceeded"}]}});
    assert_eq!(ks_status(&rs), KStatus::InProgress);
}

#[test]
fn job_pod_pvc_service_namespace_rules() {
    let job = |spec: Value, status: Value| {
        json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate"}, "spec": spec, "status": status})
    };
    assert_eq!(ks_status(&job(json!({}), json!({}))), KStatus::InProgress);
    assert_eq!(
        ks_status(&job(
            json!({}),
            json!({"startTime": "2026-08-01T10:00:00Z", "active": 1})
        )),
        KStatus::InProgress
    );
    assert_eq!(
        ks_status(&job(
            json!({}),
            json!({"conditions": [{"type": "Complete", "status": "True"}]})
        )),
        KStatus::Current
    );
    assert_eq!(
        ks_status(&job(
            json!({}),
            json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]})
        )),
        KStatus::Failed
    );
    let suspended = job(json!({"suspend": true}), json!({}));
    assert_eq!(ks_status(&suspended), KStatus::Current);
    assert_eq!(h(&suspended), Health::Suspended);

    let pod = |status: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "status": status});
    assert_eq!(
        ks_status(&pod(json!({"phase": "Succeeded"}))),
        KStatus::Current
    );
    assert_eq!(
        ks_status(&pod(json!({"phase": "Failed"}))),
        KStatus::Current
    );
    assert_eq!(
        ks_status(&pod(
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
        )),
        KStatus::Current
    );
    assert_eq!(
        ks_status(&pod(
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]})
        )),
        KStatus::Failed
    );
    let unschedulable = pod(
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
        "reason": "Unschedulable", "message": "0/3 nodes are available", "lastTransitionTime": "2026-08-01T10:00:00Z"}]}),
    );
    assert_eq!(ks_status(&unschedulable), KStatus::InProgress);
    let t0 = 1_785_578_400;
    assert_eq!(
        kstatus_at(&unschedulable, t0 + 10).status,
        KStatus::InProgress
    );
    assert_eq!(kstatus_at(&unschedulable, t0 + 16).status, KStatus::Failed);
    assert_eq!(assess_at(&unschedulable, t0 + 16).health, Health::Failing);
    assert_eq!(
        ks_status(&pod(json!({"phase": "Pending"}))),
        KStatus::InProgress
    );

    let pvc = |phase: &str| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "status": {"phase": phase}});
    assert_eq!(ks_status(&pvc("Bound")), KStatus::Current);
    assert_eq!(ks_status(&pvc("Pending")), KStatus::InProgress);
    assert_eq!(ks_status(&pvc("Lost")), KStatus::InProgress);

    let svc = |spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec});
    assert_eq!(
        ks_status(&svc(json!({"type": "LoadBalancer"}))),
        KStatus::InProgress
    );
    assert_eq!(
        ks_status(&svc(
            json!({"type": "LoadBalancer", "clusterIP": "10.0.0.1"})
        )),
        KStatus::Current
    );
    assert_eq!(
        ks_status(&svc(json!({"type": "ClusterIP"}))),
        KStatus::Current
    );

    let ns = |phase: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}, "status": {"phase": phase}});
    assert_eq!(ks_status(&ns("Active")), KStatus::Current);
    assert_eq!(ks_status(&ns("Terminating")), KStatus::Terminating);
}

#[test]
fn crd_and_unknown_kinds_follow_generic_rules() {
    let crd = |conds: Value| {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"}, "status": {"conditions": conds}})
    };
    assert_eq!(
        ks_status(&crd(json!([{"type": "Established", "status": "True"}]))),
        KStatus::Current
    );
    assert_eq!(
        ks_status(&crd(
            json!([{"type": "NamesAccepted", "status": "False", "reason": "Conflict"}])
        )),
        KStatus::Failed
    );
    assert_eq!(
        ks_status(&crd(
            json!([{"type": "Established", "status": "False", "reason": "Installing"}])
        )),
        KStatus::InProgress
    );

    let widget = |conds: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "status": {"conditions": conds}})
    };
    assert_eq!(ks_status(&widget(json!([]))), KStatus::Current);
    // Ready=False is never Failed under kstatus.
    assert_eq!(
        ks_status(&widget(
            json!([{"type": "Ready", "status": "False", "message": "nope"}])
        )),
        KStatus::InProgress
    );
    assert_eq!(
        ks_status(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})),
        KStatus::Current
    );
}

fn app(sync: &str, health: &str, extra: Value) -> Value {
    let mut o = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": "argocd"},
        "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
                 "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps", "path": "guestbook", "targetRevision": "HEAD"}},
        "status": {"sync": {"status": sync, "revision": "53e28ff20cc530b9ada2173fbbd64d48338583ba"},
                   "health": {"status": health}}
    });
    if let (Some(status), Some(extra)) = (o["status"].as_object_mut(), extra.as_object()) {
        status.extend(extra.clone());
    }
    o
}

#[test]
fn argo_applications() {
    let ok = app("Synced", "Healthy", json!({}));
    assert_eq!(assess(&ok).health, Health::Ready);
    assert_eq!(
        assess(&ok).detail,
        DetailedStatus::Argo(ArgoHealth::Healthy)
    );
    assert_eq!(argo_sync_status(&ok), SyncStatus::Synced);

    let bad = app("OutOfSync", "Degraded", json!({}));
    assert_eq!(assess(&bad).health, Health::Failing);
    assert_eq!(argo_sync_status(&bad), SyncStatus::OutOfSync);

    let rolling = app("Synced", "Progressing", json!({}));
    assert_eq!(assess(&rolling).health, Health::Progressing);
    assert_eq!(h(&app("Synced", "Suspended", json!({}))), Health::Suspended);
    assert_eq!(h(&app("OutOfSync", "Missing", json!({}))), Health::Failing);

    let syncing = app(
        "OutOfSync",
        "Healthy",
        json!({"operationState": {"phase": "Running", "message": "waiting for healthy state of apps/Deployment/guestbook-ui"}}),
    );
    let a = assess(&syncing);
    assert_eq!(a.health, Health::Progressing);
    assert!(a.message.starts_with("waiting for healthy state"));

    let compare_err = app(
        "Unknown",
        "Healthy",
        json!({"conditions": [
        {"type": "OrphanedResourceWarning", "message": "1 orphaned"},
        {"type": "ComparisonError", "message": "rpc error: repository not found"}]}),
    );
    let a = assess(&compare_err);
    assert_eq!(a.health, Health::Failing);
    assert_eq!(
        a.message,
        "ComparisonError: rpc error: repository not found"
    );
    assert_eq!(argo_sync_status(&compare_err), SyncStatus::Unknown);

    let no_status = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x"}});
    assert_eq!(assess(&no_status).health, Health::Unknown);
    assert_eq!(argo_health(&no_status), ArgoHealth::Unknown);
}

#[test]
fn argo_application_sets_and_projects() {
    let set = |conds: Value| {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "clusters"}, "status": {"conditions": conds}})
    };
    assert_eq!(
        h(&set(
            json!([{"type": "ErrorOccurred", "status": "True", "message": "generator failed"}])
        )),
        Health::Failing
    );
    assert_eq!(
        h(&set(
            json!([{"type": "ErrorOccurred", "status": "False"}, {"type": "ResourcesUpToDate", "status": "True"}])
        )),
        Health::Ready
    );
    assert_eq!(h(&set(json!([]))), Health::Unknown);
    let proj = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "default"}, "spec": {}});
    assert_eq!(h(&proj), Health::Ready);
}

#[test]
fn garbage_never_panics() {
    let samples = [
        json!(null),
        json!(1),
        json!("Deployment"),
        json!([]),
        json!({}),
        json!({"kind": 5, "apiVersion": ["apps/v1"]}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": "x", "status": [1]}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": "1"}, "spec": {"replicas": 1e300},
               "status": {"observedGeneration": 18446744073709551615u64, "replicas": -5}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"replicas": i64::MIN, "updateStrategy": {"rollingUpdate": {"partition": i64::MAX}}}}),
        json!({"apiVersion": "v1", "kind": "Pod", "status": {"containerStatuses": "x", "conditions": {"a": 1}}}),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": [], "spec": {"suspend": 1}, "status": "ok"}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "status": {"health": "Healthy", "sync": [], "conditions": [1, {"type": 2}]}}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "status": {"conditions": null}}),
    ];
    for s in &samples {
        let _ = assess(s);
        let _ = assess_at(s, i64::MAX);
        let _ = kstatus_at(s, i64::MIN);
    }
    assert_eq!(ks_status(&json!(null)), KStatus::Unknown);
    assert_eq!(h(&json!(null)), Health::Unknown);
    let broken_ks = &samples[10];
    assert_eq!(h(broken_ks), Health::Unknown);
}
