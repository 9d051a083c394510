//! Flux's stage and health semantics end to end (issue 12): a real git repository, the bundled
//! controller and the embedded API server in-process. A stage whose dry-run fails applies nothing
//! of it; `wait` over a GitOps object nothing reconciles waits for its status instead of passing.

use crate::common;

use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, in_process};
use flotilla::apiserver::ClusterOptions;
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use std::time::Duration;

fn dynamic(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn ks_api(client: &kube::Client) -> Api<DynamicObject> {
    dynamic(
        client,
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        "kustomizations",
    )
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).expect("object");
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Option<Value> {
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .map(|o| serde_json::to_value(o).expect("json"))
}

fn ready(obj: &Value) -> Option<&Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

fn ready_is(obj: &Value, status: &str, reason: &str) -> bool {
    ready(obj).is_some_and(|c| c["status"] == status && c["reason"] == reason)
}

fn ready_message(obj: &Value) -> String {
    ready(obj)
        .and_then(|c| c["message"].as_str())
        .unwrap_or("")
        .to_string()
}

async fn wait_ks(
    client: &kube::Client,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    wait_ks_for(client, name, what, PATIENCE, pred).await
}

/// [`wait_ks`] with its own patience (health checks wait at least Flux's minimal 30 s timeout).
async fn wait_ks_for(
    client: &kube::Client,
    name: &str,
    what: &str,
    patience: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let api = ks_api(client);
    let deadline = tokio::time::Instant::now() + patience;
    let mut last = None;
    loop {
        if let Some(o) = get(&api, name).await {
            if pred(&o) {
                return o;
            }
            last = Some(o);
        }
        // The last object seen says why the state never came.
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for Kustomization {name}: {what}; last seen: {last:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn revision(commit: &str) -> String {
    format!("main@sha1:{commit}")
}

fn inventory_ids(obj: &Value) -> Vec<String> {
    obj.pointer("/status/inventory/entries")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| e["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn poke_source(client: &kube::Client, token: &str) {
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    dynamic(
        client,
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        "gitrepositories",
    )
    .patch("repo", &PatchParams::default(), &Patch::Merge(&patch))
    .await
    .expect("poke");
}

fn kustomization(name: &str, path: &str, extra: Value) -> Value {
    let mut spec = json!({
        "interval": "10m",
        "retryInterval": "1s",
        "timeout": "20s",
        "path": path,
        "prune": true,
        "targetNamespace": "apps",
        "sourceRef": {"kind": "GitRepository", "name": "repo"}
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec
    })
}

/// The cluster with namespace `apps`, a GitRepository `repo` over `repo` and the bundled controller.
async fn start(
    repo: &Repo,
) -> (
    flotilla::apiserver::Cluster,
    kube::Client,
    Controller,
    tempfile::TempDir,
) {
    let (cluster, client) = in_process(ClusterOptions::default());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "apps"}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    create(
        &dynamic(
            &client,
            "source.toolkit.fluxcd.io",
            "v1",
            "GitRepository",
            "gitrepositories",
        ),
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": "default"},
            "spec": {"url": repo.url(), "interval": "10m", "ref": {"branch": "main"}}
        }),
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let opts = ControllerOptions {
        data_dir: data.path().to_path_buf(),
        health_poll: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(10),
        allow_file_urls: true,
        ..ControllerOptions::default()
    };
    let controller = Controller::start(vec![("test".to_string(), client.clone())], &opts);
    (cluster, client, controller, data)
}

fn config_map_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: \"1\"\n")
}

const GADGET: &str =
    "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\nspec:\n  size: 3\n";

const GADGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names:\n    plural: gadgets\n    singular: gadget\n    kind: Gadget\n    listKind: GadgetList\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          x-kubernetes-preserve-unknown-fields: true\n";

async fn config_map_exists(client: &kube::Client, name: &str) -> bool {
    Api::<ConfigMap>::namespaced(client.clone(), "apps")
        .get_opt(name)
        .await
        .expect("get cm")
        .is_some()
}

#[tokio::test]
async fn a_stage_whose_dry_run_fails_applies_nothing_until_fixed() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("stage/base.yaml", &config_map_yaml("base"));
    let first = repo.commit("one configmap");
    let (_cluster, c, controller, _data) = start(&repo).await;
    create(&ks_api(&c), kustomization("stage", "./stage", json!({}))).await;
    let obj = wait_ks(&c, "stage", "first apply", |o| {
        ready_is(o, "True", "ReconciliationSucceeded")
            && o["status"]["lastAppliedRevision"] == revision(&first)
    })
    .await;
    let before = inventory_ids(&obj);
    assert_eq!(before, ["apps_base__ConfigMap"]);

    // Three valid objects and one of a kind the server does not serve, all in the last stage.
    for name in ["one", "two", "three"] {
        repo.write(&format!("stage/{name}.yaml"), &config_map_yaml(name));
    }
    repo.write("stage/gadget.yaml", GADGET);
    let broken = repo.commit("three configmaps and an unknown kind");
    poke_source(&c, "1").await;
    let obj = wait_ks(&c, "stage", "dry-run failure", |o| {
        ready_is(o, "False", "ReconciliationFailed")
            && o["status"]["lastAttemptedRevision"] == revision(&broken)
    })
    .await;
    let msg = ready_message(&obj);
    assert!(
        msg.starts_with(
            "Gadget/apps/g dry-run failed: no matches for kind \"Gadget\" in version \"example.com/v1\""
        ),
        "{msg}"
    );
    assert!(!msg.contains("created"), "nothing was created: {msg}");
    for name in ["one", "two", "three"] {
        assert!(
            !config_map_exists(&c, name).await,
            "{name} must not be applied"
        );
    }
    assert_eq!(inventory_ids(&obj), before, "inventory unchanged");
    assert_eq!(obj["status"]["lastAppliedRevision"], revision(&first));
    // No event claims the objects of the failed stage.
    let events = Api::<Event>::namespaced(c.clone(), "default")
        .list(&ListParams::default())
        .await
        .expect("events");
    for e in &events.items {
        let m = e.message.clone().unwrap_or_default();
        assert!(
            !m.contains("ConfigMap/apps/one"),
            "event claims an apply: {m}"
        );
    }

    // The next commit serves the kind: all four are applied and inventoried.
    repo.write("stage/crd.yaml", GADGET_CRD);
    let fixed = repo.commit("the Gadget CRD");
    poke_source(&c, "2").await;
    let obj = wait_ks(&c, "stage", "fixed apply", |o| {
        ready_is(o, "True", "ReconciliationSucceeded")
            && o["status"]["lastAppliedRevision"] == revision(&fixed)
    })
    .await;
    for name in ["one", "two", "three"] {
        assert!(config_map_exists(&c, name).await, "{name} applied");
    }
    let gadgets = Api::<DynamicObject>::namespaced_with(
        c.clone(),
        "apps",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.com", "v1", "Gadget"),
            "gadgets",
        ),
    );
    assert!(get(&gadgets, "g").await.is_some(), "Gadget applied");
    let mut ids = inventory_ids(&obj);
    ids.sort();
    assert_eq!(
        ids,
        [
            "_gadgets.example.com_apiextensions.k8s.io_CustomResourceDefinition",
            "apps_base__ConfigMap",
            "apps_g_example.com_Gadget",
            "apps_one__ConfigMap",
            "apps_three__ConfigMap",
            "apps_two__ConfigMap",
        ]
    );
    controller.shutdown().await;
}

const HELM_RELEASE: &str = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\nspec:\n  interval: 5m\n  chart:\n    spec:\n      chart: podinfo\n      sourceRef:\n        kind: HelmRepository\n        name: podinfo\n  suspend: true\n";

#[tokio::test]
async fn wait_never_passes_a_gitops_object_nothing_reconciled() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("hr/release.yaml", HELM_RELEASE);
    repo.commit("a HelmRelease");
    let (_cluster, c, controller, _data) = start(&repo).await;
    create(
        &ks_api(&c),
        kustomization("hr", "./hr", json!({"wait": true, "timeout": "30s"})),
    )
    .await;
    // 30 s is the shortest health-check timeout Flux allows.
    let obj = wait_ks_for(
        &c,
        "hr",
        "health check timeout",
        PATIENCE + Duration::from_secs(30),
        |o| ready_is(o, "False", "HealthCheckFailed"),
    )
    .await;
    let msg = ready_message(&obj);
    assert!(msg.starts_with("health check failed after "), "{msg}");
    assert!(
        msg.contains(
            "timeout waiting for: [HelmRelease/apps/podinfo status: 'InProgress' (no status yet: never reconciled)]"
        ),
        "{msg}"
    );

    // A reconciler (the test) reports the release ready for its generation: the wait passes.
    let hrs = Api::<DynamicObject>::namespaced_with(
        c.clone(),
        "apps",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
            "helmreleases",
        ),
    );
    let hr = get(&hrs, "podinfo")
        .await
        .expect("the HelmRelease was applied");
    let generation = hr["metadata"]["generation"].as_i64().unwrap_or(1);
    let status = json!({"status": {"observedGeneration": generation, "conditions": [{
        "type": "Ready", "status": "True", "reason": "InstallSucceeded",
        "message": "Helm install succeeded", "observedGeneration": generation,
        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    hrs.patch_status("podinfo", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    let obj = wait_ks(&c, "hr", "health check passed", |o| {
        ready_is(o, "True", "ReconciliationSucceeded")
    })
    .await;
    let healthy = obj["status"]["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == "Healthy"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(healthy["status"], "True", "{healthy}");
    controller.shutdown().await;
}
