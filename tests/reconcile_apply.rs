//! The reconciler's Kubernetes I/O against the embedded API server (in-process): staged server-side
//! apply, prune, inventory deletion, health polling and Events.

use crate::common;

use std::time::Duration;

use common::{PATIENCE, in_process, quiet_options, raw, traced_in_process_client, wait_until};
use flotilla::apiserver::{Cluster, ClusterOptions};
use flotilla::apply::health::HealthTarget;
use flotilla::apply::inventory::{Inventory, InventoryEntry, ObjectRef};
use flotilla::apply::policy::{ApplyAction, Owner};
use flotilla::apply::stages::{Stage, StageKind};
use flotilla::apply::{Applier, ApplyError, DeleteMode};
use flotilla::controllers::kustomization::ReconcileError;
use flotilla::controllers::kustomization::prune::{delete_mode, prune_error};
use flotilla::controllers::kustomization::spec::DeletionPolicy;
use flotilla::controllers::kustomization::stages::{self as ks_stages, prepare_apply};
use flotilla::runtime::events::{EventRecorder, EventType, MAX_MESSAGE_BYTES};
use kube::Client;
use serde_json::{Value, json};

const KS: &str = "apps";
const KS_NS: &str = "flux-system";

/// The owner labels of the Kustomization `flux-system/apps`.
fn owner() -> Owner {
    ks_stages::owner(KS, KS_NS)
}

fn applier(client: Client) -> Applier {
    Applier::new(client)
        .with_stage_wait(Duration::from_millis(50), Duration::from_secs(5))
        .with_termination_poll(Duration::from_millis(50))
}

fn setup() -> (Cluster, Client, Applier) {
    let (cluster, client) = in_process(quiet_options());
    let a = applier(client.clone());
    (cluster, client, a)
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn crd(plural: &str, kind: &str, scope: &str) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.example.com")},
        "spec": {"group": "example.com", "scope": scope,
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind,
                      "listKind": format!("{kind}List")},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                                               "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

fn configmap(ns: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": ns}, "data": data})
}

fn deployment(ns: &str, name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image,
                                         "ports": [{"containerPort": 80}]}]}}}})
}

fn widget(ns: &str, name: &str, size: i64) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget",
           "metadata": {"name": name, "namespace": ns}, "spec": {"size": size}})
}

fn stages(objects: Vec<Value>) -> Vec<Stage> {
    prepare_apply(objects, KS, KS_NS, None, &[])
}

fn the_set(cm_value: &str) -> Vec<Value> {
    vec![
        widget("apps", "w", 1),
        deployment("apps", "web", "nginx:1.0"),
        configmap("apps", "config", json!({"key": cm_value})),
        crd("widgets", "Widget", "Namespaced"),
        namespace("apps"),
    ]
}

fn actions(apply: &flotilla::apply::prune::SuccessfulApply) -> Vec<String> {
    apply
        .entries()
        .iter()
        .map(|e| format!("{} {}", e.entry.object.display(), e.action.as_str()))
        .collect()
}

fn oref(api_version: &str, kind: &str, ns: &str, name: &str) -> (String, ObjectRef) {
    let entry = InventoryEntry::of(
        &json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": ns}}),
    );
    (api_version.to_string(), entry.object)
}

async fn live(a: &Applier, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
    let (av, r) = oref(api_version, kind, ns, name);
    a.get(&av, &r).await.expect("object readable")
}

fn rv(obj: &Value) -> String {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn stages_create_then_leave_unchanged_then_configure() {
    let (cluster, _client) = in_process(quiet_options());
    let (traced, log) = traced_in_process_client(&cluster);
    let a = applier(traced);
    let first = a
        .apply_stages(&stages(the_set("one")), false)
        .await
        .expect("first apply succeeds");
    assert_eq!(
        actions(&first),
        [
            "CustomResourceDefinition/widgets.example.com created",
            "Namespace/apps created",
            "ConfigMap/apps/config created",
            "Deployment/apps/web created",
            "Widget/apps/w created",
        ]
    );
    let ids: Vec<String> = first
        .inventory()
        .entries
        .iter()
        .map(|e| e.object.id())
        .collect();
    assert_eq!(ids[4], "apps_w_example.com_Widget");
    let w = live(&a, "example.com/v1", "Widget", "apps", "w")
        .await
        .expect("widget exists");
    assert_eq!(
        w["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"],
        KS
    );
    assert_eq!(w["spec"]["size"], 1);
    let managers: Vec<&str> = w["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["kustomize-controller"]);

    let probe = [
        ("v1", "ConfigMap", "apps", "config"),
        ("apps/v1", "Deployment", "apps", "web"),
        ("example.com/v1", "Widget", "apps", "w"),
        ("v1", "Namespace", "", "apps"),
        (
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "",
            "widgets.example.com",
        ),
    ];
    let mut rvs = Vec::new();
    for (av, k, ns, n) in probe {
        rvs.push(rv(&live(&a, av, k, ns, n).await.unwrap()));
    }

    let from = log.len();
    let second = a
        .apply_stages(&stages(the_set("one")), false)
        .await
        .expect("re-apply succeeds");
    let writes: Vec<String> = log
        .since(from)
        .into_iter()
        .filter(|r| r.method != "GET" && r.query.get("dryRun").is_none_or(|d| d != "All"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "re-apply wrote: {writes:?}");
    assert!(
        second
            .entries()
            .iter()
            .all(|e| e.action == ApplyAction::Unchanged),
        "{:?}",
        actions(&second)
    );
    for (i, (av, k, ns, n)) in probe.iter().enumerate() {
        assert_eq!(
            rv(&live(&a, av, k, ns, n).await.unwrap()),
            rvs[i],
            "{k}/{n} was written"
        );
    }

    let third = a
        .apply_stages(&stages(the_set("two")), false)
        .await
        .expect("changed apply succeeds");
    let changed: Vec<String> = actions(&third)
        .into_iter()
        .filter(|l| !l.ends_with("unchanged"))
        .collect();
    assert_eq!(changed, ["ConfigMap/apps/config configured"]);
    let cm = live(&a, "v1", "ConfigMap", "apps", "config").await.unwrap();
    assert_eq!(cm["data"]["key"], "two");
}

#[tokio::test]
async fn skip_rules_follow_flux() {
    let (_cluster, client, a) = setup();
    a.apply_stages(&stages(vec![namespace("apps")]), false)
        .await
        .unwrap();
    let mut ignored = configmap("apps", "ignored", json!({"a": "1"}));
    ignored["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/ssa": "Ignore"});
    let mut once = configmap("apps", "once", json!({"a": "1"}));
    once["metadata"]["labels"] = json!({"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"});
    let result = a
        .apply_stages(&stages(vec![ignored.clone(), once.clone()]), false)
        .await
        .unwrap();
    assert_eq!(
        actions(&result),
        [
            "ConfigMap/apps/ignored skipped",
            "ConfigMap/apps/once created"
        ]
    );
    assert!(
        live(&a, "v1", "ConfigMap", "apps", "ignored")
            .await
            .is_none()
    );

    once["data"]["a"] = json!("2");
    let result = a
        .apply_stages(&stages(vec![once.clone()]), false)
        .await
        .unwrap();
    assert_eq!(actions(&result), ["ConfigMap/apps/once skipped"]);
    let cm = live(&a, "v1", "ConfigMap", "apps", "once").await.unwrap();
    assert_eq!(cm["data"]["a"], "1");

    // `reconcile: disabled` on the live object alone is enough.
    let plain = configmap("apps", "frozen", json!({"a": "1"}));
    a.apply_stages(&stages(vec![plain.clone()]), false)
        .await
        .unwrap();
    let r = raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/apps/configmaps/frozen",
        Some("application/merge-patch+json"),
        br#"{"metadata":{"annotations":{"kustomize.toolkit.fluxcd.io/reconcile":"disabled"}}}"#
            .to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut changed = plain.clone();
    changed["data"]["a"] = json!("2");
    let result = a.apply_stages(&stages(vec![changed]), false).await.unwrap();
    assert_eq!(actions(&result), ["ConfigMap/apps/frozen skipped"]);
    let cm = live(&a, "v1", "ConfigMap", "apps", "frozen").await.unwrap();
    assert_eq!(cm["data"]["a"], "1");
}

/// Creates a ConfigMap as `kubectl apply` (client-side) would leave it.
async fn kubectl_created(client: &Client, name: &str) {
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "apps",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{}}",
                            "keep": "me"},
            "labels": {"fluxcd.io/sync-gc-mark": "sha256.x"}},
        "data": {"a": "1", "extra": "kubectl"}});
    let r = raw(
        client,
        "POST",
        "/api/v1/namespaces/apps/configmaps?fieldManager=kubectl-client-side-apply",
        Some("application/json"),
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap_or("").to_string(),
                m["operation"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn kubectl_leftovers_are_cleaned_unless_merge() {
    let (_cluster, client, a) = setup();
    a.apply_stages(&stages(vec![namespace("apps")]), false)
        .await
        .unwrap();
    kubectl_created(&client, "legacy").await;
    let desired = configmap("apps", "legacy", json!({"a": "1"}));
    let result = a
        .apply_stages(&stages(vec![desired.clone()]), false)
        .await
        .unwrap();
    assert_eq!(actions(&result), ["ConfigMap/apps/legacy configured"]);
    let cm = live(&a, "v1", "ConfigMap", "apps", "legacy").await.unwrap();
    let annotations = cm["metadata"]["annotations"].clone();
    assert!(
        annotations
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none(),
        "{cm}"
    );
    // kubectl owned `keep` too: its ownership is now ours, and the apply no longer sets it.
    assert!(annotations.get("keep").is_none(), "{cm}");
    assert!(
        cm["metadata"]["labels"]
            .get("fluxcd.io/sync-gc-mark")
            .is_none()
    );
    assert!(
        !managers(&cm).iter().any(|(m, _)| m.starts_with("kubectl")),
        "{:?}",
        managers(&cm)
    );
    assert!(
        managers(&cm)
            .iter()
            .any(|(m, op)| m == "kustomize-controller" && op == "Apply")
    );
    // The kubectl-only key was folded into our ownership and dropped by the apply, as in Flux.
    assert!(cm["data"].get("extra").is_none(), "{cm}");

    let again = a.apply_stages(&stages(vec![desired]), false).await.unwrap();
    assert_eq!(actions(&again), ["ConfigMap/apps/legacy unchanged"]);

    kubectl_created(&client, "merged").await;
    let mut merge = configmap("apps", "merged", json!({"a": "1"}));
    merge["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/ssa": "Merge"});
    a.apply_stages(&stages(vec![merge]), false).await.unwrap();
    let cm = live(&a, "v1", "ConfigMap", "apps", "merged").await.unwrap();
    assert!(
        cm["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_some()
    );
    assert_eq!(cm["data"]["extra"], "kubectl");
}

#[tokio::test]
async fn a_stage_with_a_failed_dry_run_applies_nothing_of_it() {
    let (_cluster, _client, a) = setup();
    let objects = vec![
        namespace("apps"),
        configmap("apps", "Bad_Name", json!({})),
        json!({"apiVersion": "example.com/v1", "kind": "Gadget",
               "metadata": {"name": "g", "namespace": "apps"}}),
        configmap("apps", "good", json!({"a": "1"})),
        deployment("apps", "web", "nginx:1"),
    ];
    let failure = a
        .apply_stages(&stages(objects), false)
        .await
        .expect_err("two objects are rejected");
    let failed: Vec<String> = failure.errors.iter().map(|(r, _)| r.display()).collect();
    assert_eq!(failed, ["ConfigMap/apps/Bad_Name", "Gadget/apps/g"]);
    let bad = &failure.errors[0].1;
    assert!(
        bad.starts_with("ConfigMap/apps/Bad_Name dry-run failed (Invalid): ")
            && bad.contains("Bad_Name"),
        "{bad}"
    );
    assert_eq!(
        failure.errors[1].1,
        "Gadget/apps/g dry-run failed: no matches for kind \"Gadget\" in version \"example.com/v1\""
    );
    // The first stage (the Namespace) passed and was applied; nothing of the failed stage was.
    let ok: Vec<String> = failure
        .applied
        .iter()
        .map(|e| e.entry.object.display())
        .collect();
    assert_eq!(ok, ["Namespace/apps"]);
    assert!(live(&a, "v1", "ConfigMap", "apps", "good").await.is_none());
    assert!(
        live(&a, "apps/v1", "Deployment", "apps", "web")
            .await
            .is_none()
    );
    let message = failure.to_string();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[0], bad.as_str());
    assert_eq!(&lines[2..], ["Namespace/apps created"]);
    assert_eq!(
        ReconcileError::from(failure.clone()).reason(),
        "ReconciliationFailed"
    );

    // Once its CRD is applied, the same applier resolves the kind it found unknown before.
    let result = a
        .apply_stages(
            &stages(vec![
                crd("gadgets", "Gadget", "Namespaced"),
                json!({"apiVersion": "example.com/v1", "kind": "Gadget",
                       "metadata": {"name": "g", "namespace": "apps"}}),
            ]),
            false,
        )
        .await
        .expect("the CRD makes the kind resolvable");
    assert_eq!(
        actions(&result),
        [
            "CustomResourceDefinition/gadgets.example.com created",
            "Gadget/apps/g created"
        ]
    );
}

#[tokio::test]
async fn immutable_changes_need_force_then_recreate() {
    let (_cluster, _client, a) = setup();
    let namespaced = crd("gizmos", "Gizmo", "Namespaced");
    a.apply_stages(&stages(vec![namespaced]), false)
        .await
        .unwrap();
    let old_uid = live(
        &a,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "",
        "gizmos.example.com",
    )
    .await
    .unwrap()["metadata"]["uid"]
        .clone();
    // The embedded server enforces immutability on CRD scope/group/plural (not yet on workloads).
    let cluster_scoped = crd("gizmos", "Gizmo", "Cluster");
    let failure = a
        .apply_stages(&stages(vec![cluster_scoped.clone()]), false)
        .await
        .expect_err("scope is immutable");
    assert!(
        failure.errors[0].1.contains("is immutable"),
        "{:?}",
        failure.errors
    );

    let result = a
        .apply_stages(&stages(vec![cluster_scoped.clone()]), true)
        .await
        .expect("spec.force recreates");
    assert_eq!(
        actions(&result),
        ["CustomResourceDefinition/gizmos.example.com created"]
    );
    let now = live(
        &a,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "",
        "gizmos.example.com",
    )
    .await
    .unwrap();
    assert_eq!(now["spec"]["scope"], "Cluster");
    assert_ne!(now["metadata"]["uid"], old_uid);

    // The force annotation on the desired object works without spec.force.
    let mut back = crd("gizmos", "Gizmo", "Namespaced");
    back["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/force": "Enabled"});
    let result = a.apply_stages(&stages(vec![back]), false).await.unwrap();
    assert_eq!(
        actions(&result),
        ["CustomResourceDefinition/gizmos.example.com created"]
    );
}

fn entry(api_version: &str, kind: &str, ns: &str, name: &str) -> InventoryEntry {
    InventoryEntry::of(
        &json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": ns}}),
    )
}

#[tokio::test]
async fn prune_deletes_in_reverse_order_and_counts_missing_as_deleted() {
    let (cluster, client) = in_process(quiet_options());
    let (traced, log) = traced_in_process_client(&cluster);
    let a = applier(client.clone());
    a.apply_stages(
        &stages(vec![namespace("old"), configmap("old", "owned", json!({}))]),
        false,
    )
    .await
    .unwrap();
    let stale = vec![
        entry("v1", "Namespace", "", "old"),
        entry("v1", "ConfigMap", "old", "owned"),
        entry("v1", "ConfigMap", "old", "never-existed"),
        entry("example.com/v1", "Unserved", "old", "x"),
    ];
    let pruner = applier(traced);
    let from = log.len();
    let out = pruner.prune(&stale, &owner()).await;
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert!(out.error().is_none());
    assert_eq!(
        out.deleted,
        [
            "Unserved/old/x deleted",
            "ConfigMap/old/owned deleted",
            "ConfigMap/old/never-existed deleted",
            "Namespace/old deleted",
        ]
    );
    let deletes: Vec<String> = log
        .since(from)
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| format!("{} {}", r.path, r.status))
        .collect();
    assert_eq!(
        deletes,
        [
            "/api/v1/namespaces/old/configmaps/owned 200",
            "/api/v1/namespaces/old 200",
        ]
    );
    assert!(live(&a, "v1", "ConfigMap", "old", "owned").await.is_none());
}

#[tokio::test]
async fn prune_keeps_unowned_and_protected_objects() {
    let (_cluster, client, a) = setup();
    let mut disabled = configmap("apps", "disabled", json!({}));
    disabled["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/prune": "disabled"});
    a.apply_stages(
        &stages(vec![
            namespace("apps"),
            configmap("apps", "owned", json!({})),
            disabled,
        ]),
        false,
    )
    .await
    .unwrap();
    applier(client.clone())
        .apply_stages(
            &prepare_apply(
                vec![configmap("apps", "foreign", json!({}))],
                "other",
                KS_NS,
                None,
                &[],
            ),
            false,
        )
        .await
        .unwrap();
    let out = a
        .prune(
            &[
                entry("v1", "ConfigMap", "apps", "foreign"),
                entry("v1", "ConfigMap", "apps", "disabled"),
                entry("v1", "ConfigMap", "apps", "owned"),
            ],
            &owner(),
        )
        .await;
    assert_eq!(out.deleted, ["ConfigMap/apps/owned deleted"]);
    assert!(live(&a, "v1", "ConfigMap", "apps", "owned").await.is_none());
    assert!(
        live(&a, "v1", "ConfigMap", "apps", "foreign")
            .await
            .is_some()
    );
    assert!(
        live(&a, "v1", "ConfigMap", "apps", "disabled")
            .await
            .is_some()
    );
}

fn target(api_version: &str, kind: &str, ns: &str, name: &str) -> HealthTarget {
    let e = entry(api_version, kind, ns, name);
    HealthTarget {
        api_version: e.api_version(),
        object: e.object,
    }
}

/// Splits `health check failed after <d>: <rest>` into the duration text and the rest.
fn split_health(message: &str) -> (String, String) {
    let rest = message
        .strip_prefix("health check failed after ")
        .unwrap_or_else(|| panic!("unexpected message: {message}"));
    let (d, tail) = rest.split_once(": ").expect("duration then colon");
    (d.to_string(), tail.to_string())
}

#[tokio::test]
async fn health_checks_pass_stall_and_time_out() {
    let opts = ClusterOptions {
        rollout_delay: Duration::from_millis(200),
        ..ClusterOptions::default()
    };
    let (_cluster, client) = in_process(opts);
    let a = applier(client);
    a.apply_stages(
        &stages(vec![
            namespace("apps"),
            deployment("apps", "web", "nginx:1.0"),
            deployment("apps", "bad", "nginx:broken"),
            configmap("apps", "c", json!({})),
        ]),
        false,
    )
    .await
    .unwrap();
    let poll = Duration::from_millis(100);
    let healthy = a
        .wait_healthy(
            &[
                target("apps/v1", "Deployment", "apps", "web"),
                target("v1", "ConfigMap", "apps", "c"),
            ],
            PATIENCE,
            poll,
        )
        .await;
    assert!(healthy.is_ok(), "{healthy:?}");
    assert_eq!(
        a.wait_healthy(&[], PATIENCE, poll).await,
        Ok(Duration::ZERO)
    );

    let err = a
        .wait_healthy(
            &[
                target("apps/v1", "Deployment", "apps", "web"),
                target("apps/v1", "Deployment", "apps", "bad"),
            ],
            PATIENCE,
            poll,
        )
        .await
        .expect_err("broken image stalls");
    assert_eq!(
        ReconcileError::from(err.clone()).reason(),
        "HealthCheckFailed"
    );
    let (d, tail) = split_health(&err.to_string());
    assert!(d.ends_with('s'), "{d}");
    assert_eq!(
        tail,
        "failed early due to stalled resources: [Deployment/apps/bad status: 'Failed']"
    );

    let err = a
        .wait_healthy(
            &[target("apps/v1", "Deployment", "apps", "missing")],
            Duration::from_millis(300),
            poll,
        )
        .await
        .expect_err("missing object times out");
    let (_, tail) = split_health(&err.to_string());
    assert_eq!(
        tail,
        "timeout waiting for: [Deployment/apps/missing status: 'NotFound']"
    );
}

async fn events_in(client: &Client, ns: &str) -> Vec<Value> {
    let r = raw(
        client,
        "GET",
        &format!("/api/v1/namespaces/{ns}/events"),
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn events_are_created_then_aggregated() {
    let (_cluster, client) = in_process(quiet_options());
    let a = applier(client.clone());
    a.apply_stages(&stages(vec![namespace("flux-system")]), false)
        .await
        .unwrap();
    let ks = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system", "uid": "1234", "resourceVersion": "9"}});
    let rec = EventRecorder::new(client.clone(), "kustomize-controller");
    let ann = vec![(
        "kustomize.toolkit.fluxcd.io/revision".to_string(),
        "main@sha1:abc".to_string(),
    )];
    rec.record(
        &ks,
        EventType::Normal,
        "ReconciliationSucceeded",
        "ConfigMap/apps/c created",
        &ann,
    )
    .await;
    let events = events_in(&client, "flux-system").await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    let name = e["metadata"]["name"].as_str().unwrap();
    let (prefix, hex) = name.rsplit_once('.').unwrap();
    assert_eq!(prefix, "apps");
    assert_eq!(hex.len(), 16, "{name}");
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        e["involvedObject"],
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "name": "apps", "namespace": "flux-system", "uid": "1234", "resourceVersion": "9"})
    );
    assert_eq!(e["reason"], "ReconciliationSucceeded");
    assert_eq!(e["type"], "Normal");
    assert_eq!(e["count"], 1);
    assert_eq!(e["source"]["component"], "kustomize-controller");
    assert_eq!(e["reportingComponent"], "kustomize-controller");
    assert_eq!(
        e["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/revision"],
        "main@sha1:abc"
    );
    assert!(e["firstTimestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(e["firstTimestamp"], e["lastTimestamp"]);
    assert!(e["eventTime"].is_null());
    assert_eq!(e["reportingInstance"], "flotilla");

    rec.clone()
        .record(
            &ks,
            EventType::Normal,
            "ReconciliationSucceeded",
            "ConfigMap/apps/c created",
            &ann,
        )
        .await;
    let events = events_in(&client, "flux-system").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["count"], 2);
    assert_eq!(events[0]["metadata"]["name"], name);
    assert!(
        events[0]["lastTimestamp"].as_str().unwrap()
            >= events[0]["firstTimestamp"].as_str().unwrap()
    );

    rec.record(
        &ks,
        EventType::Warning,
        "HealthCheckFailed",
        &"x".repeat(5000),
        &[],
    )
    .await;
    let events = events_in(&client, "flux-system").await;
    assert_eq!(events.len(), 2);
    let warning = events.iter().find(|e| e["type"] == "Warning").unwrap();
    assert!(warning["message"].as_str().unwrap().len() <= MAX_MESSAGE_BYTES);

    // Cluster-scoped objects get their Events in `default`; junk is ignored without panicking.
    rec.record(
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}),
        EventType::Normal,
        "Created",
        "hello",
        &[],
    )
    .await;
    let defaults = events_in(&client, "default").await;
    assert_eq!(defaults.len(), 1);
    assert!(defaults[0]["involvedObject"].get("namespace").is_none());
    for junk in [
        json!(null),
        json!({"kind": "X"}),
        json!({"metadata": {"name": 5}}),
    ] {
        rec.record(&junk, EventType::Normal, "R", "m", &[]).await;
    }
    // An Event in a namespace that does not exist fails quietly.
    rec.record(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "nowhere"}}),
        EventType::Normal, "R", "m", &[]).await;
}

#[tokio::test]
async fn delete_inventory_follows_the_policy() {
    let (_cluster, client, a) = setup();
    let applied = a
        .apply_stages(
            &stages(vec![
                namespace("apps"),
                configmap("apps", "a", json!({})),
                configmap("apps", "b", json!({})),
            ]),
            false,
        )
        .await
        .unwrap();
    let cms = Inventory {
        entries: applied.inventory().entries[1..].to_vec(),
    };
    // Orphan deletes nothing: the Kustomization never asks the applier.
    assert_eq!(delete_mode(DeletionPolicy::Orphan), None);
    assert_eq!(
        delete_mode(DeletionPolicy::WaitForTermination),
        Some(DeleteMode::WaitForTermination)
    );
    assert!(live(&a, "v1", "ConfigMap", "apps", "a").await.is_some());

    // A finalizer holds `b` until a helper removes it.
    let r = raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/apps/configmaps/b",
        Some("application/merge-patch+json"),
        br#"{"metadata":{"finalizers":["example.com/hold"]}}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let helper_client = client.clone();
    let helper_applier = a.clone();
    let helper = tokio::spawn(async move {
        wait_until("b is terminating", PATIENCE, || {
            let a = helper_applier.clone();
            async move {
                live(&a, "v1", "ConfigMap", "apps", "b")
                    .await
                    .filter(|b| b["metadata"].get("deletionTimestamp").is_some())
            }
        })
        .await;
        let r = raw(
            &helper_client,
            "PATCH",
            "/api/v1/namespaces/apps/configmaps/b",
            Some("application/merge-patch+json"),
            br#"{"metadata":{"finalizers":null}}"#.to_vec(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    });
    let out = a
        .delete_inventory(&cms, DeleteMode::WaitForTermination, &owner(), PATIENCE)
        .await;
    helper.await.unwrap();
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_eq!(
        out.deleted,
        ["ConfigMap/apps/b deleted", "ConfigMap/apps/a deleted"]
    );
    assert!(live(&a, "v1", "ConfigMap", "apps", "a").await.is_none());
    assert!(live(&a, "v1", "ConfigMap", "apps", "b").await.is_none());

    // A finalizer nobody removes: the wait times out and the object is reported.
    let held = a
        .apply_stages(&stages(vec![configmap("apps", "held", json!({}))]), false)
        .await
        .unwrap()
        .inventory();
    raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/apps/configmaps/held",
        Some("application/merge-patch+json"),
        br#"{"metadata":{"finalizers":["example.com/hold"]}}"#.to_vec(),
    )
    .await;
    let out = a
        .delete_inventory(
            &held,
            DeleteMode::WaitForTermination,
            &owner(),
            Duration::from_millis(200),
        )
        .await;
    assert!(out.deleted.is_empty());
    assert_eq!(out.failed.len(), 1);
    let e = prune_error(&out).unwrap();
    assert_eq!(e.reason(), "PruneFailed");
    assert!(
        e.to_string()
            .starts_with("ConfigMap/apps/held termination timeout"),
        "{e}"
    );

    // Delete (no wait) removes it from the API's point of view at once when nothing holds it.
    let c = a
        .apply_stages(&stages(vec![configmap("apps", "c", json!({}))]), false)
        .await
        .unwrap()
        .inventory();
    let out = a
        .delete_inventory(&c, DeleteMode::Background, &owner(), PATIENCE)
        .await;
    assert_eq!(out.deleted, ["ConfigMap/apps/c deleted"]);
}

/// A ConfigMap whose `data` hides a `depth`-deep list (built and dropped by the test thread).
fn deep_configmap(depth: usize) -> Value {
    let mut deep = json!("x");
    for _ in 0..depth {
        deep = json!([deep]);
    }
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "deep", "namespace": "apps"}, "data": {"a": deep}})
}

#[tokio::test]
async fn malformed_objects_are_errors_not_panics() {
    let (_cluster, _client, a) = setup();
    a.apply_stages(&stages(vec![namespace("apps")]), false)
        .await
        .unwrap();
    let junk = vec![
        json!({"apiVersion": "v1", "metadata": {"name": "nokind", "namespace": "apps"}}),
        json!({"apiVersion": "nope.example/v9", "kind": "Thing", "metadata": {"name": "t", "namespace": "apps"}}),
        json!({"apiVersion": "a/b/c", "kind": "Thing", "metadata": {"name": "t2"}}),
        json!({"kind": "ConfigMap", "metadata": {"name": "noversion", "namespace": "apps"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a/b", "namespace": "apps"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "apps"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nons"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "wrongtype", "namespace": "apps"}, "data": {"a": 1}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge", "namespace": "apps"}, "data": {"a": "1"}, "x": 1e300}),
        json!(5),
        json!(null),
        deep_configmap(600),
    ];
    let stage = Stage {
        kind: StageKind::Rest,
        objects: junk.clone(),
        wait: false,
    };
    let failure = a
        .apply_stages(&[stage], false)
        .await
        .expect_err("junk is rejected");
    assert!(
        failure.errors.len() >= junk.len() - 1,
        "{:#?}",
        failure.errors
    );
    let all = ReconcileError::from(failure.clone()).to_string();
    assert!(all.contains("kind is missing"), "{all}");
    assert!(
        all.contains("no matches for kind \"Thing\" in version \"nope.example/v9\""),
        "{all}"
    );
    assert!(
        all.contains("ConfigMap/nons namespace not specified"),
        "{all}"
    );

    let (av, r) = oref("v1", "ConfigMap", "apps", "x");
    assert!(matches!(
        a.get("no/such/version", &r).await,
        Err(ApplyError::InvalidObject { .. })
    ));
    assert!(matches!(
        a.get("nope.example/v9", &r).await,
        Err(ApplyError::UnknownKind { .. })
    ));
    assert_eq!(a.get(&av, &r).await, Ok(None));
    let bad_target = target("nope.example/v9", "Thing", "apps", "t");
    let err = a
        .wait_healthy(
            &[bad_target],
            Duration::from_millis(100),
            Duration::from_millis(50),
        )
        .await
        .expect_err("unknown kinds never become healthy");
    assert!(
        err.to_string().contains("Thing/apps/t status: 'NotFound'"),
        "{err}"
    );
}

#[tokio::test]
async fn staged_definitions_that_never_become_current_fail_the_apply() {
    let (_cluster, client) = in_process(quiet_options());
    let a = Applier::new(client.clone())
        .with_stage_wait(Duration::from_millis(50), Duration::from_millis(300));
    a.apply_stages(
        &stages(vec![
            namespace("doomed"),
            namespace("apps"),
            configmap("doomed", "held", json!({})),
        ]),
        false,
    )
    .await
    .unwrap();
    // A finalizer keeps the namespace Terminating.
    let r = raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/doomed/configmaps/held",
        Some("application/merge-patch+json"),
        br#"{"metadata":{"finalizers":["example.com/hold"]}}"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = raw(
        &client,
        "DELETE",
        "/api/v1/namespaces/doomed",
        None,
        Vec::new(),
    )
    .await;
    assert!(r.status == 200 || r.status == 202, "{}", r.text());

    let failure = a
        .apply_stages(
            &stages(vec![
                namespace("doomed"),
                configmap("apps", "after", json!({})),
            ]),
            false,
        )
        .await
        .expect_err("a Terminating namespace is never Current");
    assert_eq!(failure.errors.len(), 1, "{:?}", failure.errors);
    assert_eq!(
        failure.errors[0].1,
        "Namespace/doomed wait failed: timeout after 300ms waiting for status 'Current', last status 'Terminating'"
    );
    // Flux stops at the stage that failed: later stages are not applied.
    assert!(live(&a, "v1", "ConfigMap", "apps", "after").await.is_none());
}
