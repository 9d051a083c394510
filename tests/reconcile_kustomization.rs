//! The Kustomization reconciler end to end: a real git repository (base + overlay), the bundled
//! controller (GitRepository + Kustomization), and the embedded API server in-process (and once
//! over TCP) with the workload simulator. Covers apply, change, prune, substitution, inventory
//! format, dependsOn, health failures, suspend, requestedAt, build and apply failures that must
//! not prune, API faults, restart and deletion. The checks that need no embedded-only hook also run
//! against a real kube-apiserver + etcd (`both_servers!`, modules `embedded` and `real`).

use crate::common;

use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, TcpServer, TestCluster, in_process, wait_until};
use flotilla::apiserver::{Cluster, ClusterOptions};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn sim_options() -> ClusterOptions {
    ClusterOptions {
        simulate: true,
        rollout_delay: Duration::from_millis(300),
        ..ClusterOptions::default()
    }
}

fn api(client: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn ks_api(client: &kube::Client) -> Api<DynamicObject> {
    api(
        client,
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    )
}

fn git_api(client: &kube::Client) -> Api<DynamicObject> {
    api(
        client,
        "source.toolkit.fluxcd.io",
        "GitRepository",
        "gitrepositories",
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

async fn merge(api: &Api<DynamicObject>, name: &str, patch: Value) {
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits until the Kustomization satisfies `pred`; returns it.
async fn wait_ks(
    client: &kube::Client,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let api = ks_api(client);
    wait_until(
        &format!("Kustomization {name}: {what}"),
        PATIENCE,
        || async {
            let o = get(&api, name).await?;
            pred(&o).then_some(o)
        },
    )
    .await
}

fn ready_is(obj: &Value, status: &str, reason: &str) -> bool {
    condition(obj, "Ready").is_some_and(|c| c["status"] == status && c["reason"] == reason)
}

fn applied(obj: &Value, commit: &str) -> bool {
    ready_is(obj, "True", "ReconciliationSucceeded")
        && obj["status"]["lastAppliedRevision"] == format!("main@sha1:{commit}")
}

/// Asks for a new fetch of the source (as `flux reconcile source git` does).
async fn poke_source(client: &kube::Client, token: &str) {
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    merge(&git_api(client), "repo", patch).await;
}

/// The demo-like repository: apps/base (ConfigMap with a variable, Service, Deployment) and the
/// dev overlay (replicas patch).
fn app_repo() -> Repo {
    let repo = Repo::new();
    repo.write(
        "apps/base/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - configmap.yaml\n  - service.yaml\n  - deployment.yaml\n",
    );
    repo.write(
        "apps/base/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo\ndata:\n  greeting: ${GREETING:=hello}\n  env: ${ENV}\n",
    );
    repo.write(
        "apps/base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: podinfo\nspec:\n  selector:\n    app: podinfo\n  ports:\n    - port: 80\n      targetPort: 9898\n",
    );
    repo.write(
        "apps/base/deployment.yaml",
        &deployment("podinfo", "ghcr.io/stefanprodan/podinfo:6.5.0", 1),
    );
    repo.write(
        "apps/dev/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base\npatches:\n  - target:\n      kind: Deployment\n      name: podinfo\n    patch: |\n      - op: replace\n        path: /spec/replicas\n        value: 2\n",
    );
    repo
}

fn deployment(name: &str, image: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n        - name: app\n          image: {image}\n"
    )
}

fn gitrepository(url: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": "default"},
        "spec": {"url": url, "interval": "10m", "ref": {"branch": "main"}}
    })
}

fn kustomization(name: &str, path: &str, extra: Value) -> Value {
    let mut spec = json!({
        "interval": "10m",
        "retryInterval": "2s",
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

fn start(client: &kube::Client, data: &Path) -> Controller {
    let opts = ControllerOptions {
        data_dir: data.to_path_buf(),
        health_poll: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(10),
        allow_file_urls: true,
        ..ControllerOptions::default()
    };
    Controller::start(vec![("test".to_string(), client.clone())], &opts)
}

async fn namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
}

async fn config_map(client: &kube::Client, name: &str) -> Option<ConfigMap> {
    Api::<ConfigMap>::namespaced(client.clone(), "apps")
        .get_opt(name)
        .await
        .expect("get cm")
}

struct Env {
    _cluster: Option<Cluster>,
    _tc: Option<TestCluster>,
    client: kube::Client,
    data: tempfile::TempDir,
    controller: Option<Controller>,
}

impl Env {
    /// On a fresh cluster of either server (kept alive by the returned Env).
    async fn on(tc: TestCluster, repo: &Repo) -> Env {
        let client = tc.client().await;
        let mut env = Self::with(None, client, repo).await;
        env._tc = Some(tc);
        env
    }

    async fn with(cluster: Option<Cluster>, client: kube::Client, repo: &Repo) -> Env {
        namespace(&client, "apps").await;
        create(&git_api(&client), gitrepository(&repo.url())).await;
        let data = tempfile::tempdir().unwrap();
        let controller = Some(start(&client, data.path()));
        Env {
            _cluster: cluster,
            _tc: None,
            client,
            data,
            controller,
        }
    }

    async fn stop(&mut self) {
        if let Some(c) = self.controller.take() {
            c.shutdown().await;
        }
    }
}

/// The exact `status.inventory` of the dev overlay applied into `apps` (flux-semantics §3.6).
const DEV_INVENTORY: &str = r#"{"entries":[{"id":"apps_podinfo__ConfigMap","v":"v1"},{"id":"apps_podinfo__Service","v":"v1"},{"id":"apps_podinfo_apps_Deployment","v":"v1"}]}"#;

async fn applies_changes_and_prunes_a_base_and_overlay_from_git(tc: TestCluster) {
    if !have_git() {
        return;
    }
    let repo = app_repo();
    let first = repo.commit("podinfo");
    let mut env = Env::on(tc, &repo).await;
    let c = env.client.clone();
    let ks = kustomization(
        "apps",
        "./apps/dev",
        json!({"wait": true, "postBuild": {"substitute": {"GREETING": "hi", "ENV": "dev"}}}),
    );
    create(&ks_api(&c), ks).await;

    let obj = wait_ks(&c, "apps", "first apply", |o| applied(o, &first)).await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(
        ready["message"],
        format!("Applied revision: main@sha1:{first}")
    );
    assert_eq!(condition(&obj, "Healthy").unwrap()["status"], "True");
    assert!(condition(&obj, "Reconciling").is_none());
    assert_eq!(obj["status"]["observedGeneration"], 1);
    assert_eq!(
        obj["status"]["lastAttemptedRevision"],
        format!("main@sha1:{first}")
    );
    assert_eq!(
        serde_json::to_string(&obj["status"]["inventory"]).unwrap(),
        DEV_INVENTORY
    );

    // Substitution and owner labels.
    let cm = config_map(&c, "podinfo").await.expect("configmap applied");
    let data = cm.data.unwrap();
    assert_eq!(data["greeting"], "hi");
    assert_eq!(data["env"], "dev");
    let labels = cm.metadata.labels.unwrap();
    assert_eq!(labels["kustomize.toolkit.fluxcd.io/name"], "apps");
    assert_eq!(labels["kustomize.toolkit.fluxcd.io/namespace"], "default");
    let deploys = Api::<Deployment>::namespaced(c.clone(), "apps");
    let d = deploys.get("podinfo").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2), "overlay patch applied");
    let fields = d.metadata.managed_fields.unwrap_or_default();
    assert!(
        fields
            .iter()
            .any(|f| f.manager.as_deref() == Some("kustomize-controller")
                && f.operation.as_deref() == Some("Apply")),
        "applied server-side by kustomize-controller"
    );

    // Flux's events on the Kustomization: the change set, then the success summary.
    let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(c.clone(), "default");
    let list = events.list(&Default::default()).await.unwrap().items;
    let on_apps: Vec<_> = list
        .iter()
        .filter(|e| e.involved_object.name.as_deref() == Some("apps"))
        .collect();
    let change = on_apps
        .iter()
        .find(|e| e.reason.as_deref() == Some("Progressing"))
        .expect("change-set event");
    let msg = change.message.clone().unwrap_or_default();
    assert!(msg.contains("ConfigMap/apps/podinfo created"), "{msg}");
    assert!(msg.contains("Deployment/apps/podinfo created"), "{msg}");
    let done = on_apps
        .iter()
        .find(|e| e.reason.as_deref() == Some("ReconciliationSucceeded"))
        .expect("success event");
    assert_eq!(done.type_.as_deref(), Some("Normal"));
    assert!(
        done.message
            .clone()
            .unwrap_or_default()
            .starts_with("Reconciliation finished in ")
    );
    assert_eq!(
        done.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("kustomize-controller")
    );
    assert_eq!(
        done.metadata.annotations.as_ref().unwrap()["kustomize.toolkit.fluxcd.io/revision"],
        format!("main@sha1:{first}")
    );

    // A change in git reaches the cluster after the source is fetched again.
    repo.write(
        "apps/base/deployment.yaml",
        &deployment("podinfo", "ghcr.io/stefanprodan/podinfo:6.5.1", 1),
    );
    let second = repo.commit("podinfo 6.5.1");
    poke_source(&c, "1").await;
    wait_ks(&c, "apps", "second apply", |o| applied(o, &second)).await;
    let d = deploys.get("podinfo").await.unwrap();
    let image = d.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("ghcr.io/stefanprodan/podinfo:6.5.1"));

    // A file removed from git is pruned from the cluster and from the inventory.
    repo.remove("apps/base/configmap.yaml");
    repo.write(
        "apps/base/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - service.yaml\n  - deployment.yaml\n",
    );
    let third = repo.commit("drop the configmap");
    poke_source(&c, "2").await;
    let obj = wait_ks(&c, "apps", "third apply", |o| applied(o, &third)).await;
    assert!(
        config_map(&c, "podinfo").await.is_none(),
        "configmap pruned"
    );
    assert_eq!(
        serde_json::to_string(&obj["status"]["inventory"]).unwrap(),
        r#"{"entries":[{"id":"apps_podinfo__Service","v":"v1"},{"id":"apps_podinfo_apps_Deployment","v":"v1"}]}"#
    );
    env.stop().await;
}

async fn depends_on_gates_and_reports_dependency_not_ready(tc: TestCluster) {
    if !have_git() {
        return;
    }
    let repo = app_repo();
    repo.write(
        "infra/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: infra\ndata:\n  region: eu\n",
    );
    let commit = repo.commit("infra and apps");
    let mut env = Env::on(tc, &repo).await;
    let c = env.client.clone();
    // infra points at a missing path: it fails, and apps must wait for it.
    create(&ks_api(&c), kustomization("infra", "./missing", json!({}))).await;
    create(
        &ks_api(&c),
        kustomization(
            "apps",
            "./apps/dev",
            json!({"dependsOn": [{"name": "infra"}], "postBuild": {"substitute": {"ENV": "x"}}}),
        ),
    )
    .await;
    wait_ks(&c, "infra", "path failure", |o| {
        ready_is(o, "False", "ArtifactFailed")
            && condition(o, "Ready").unwrap()["message"]
                .as_str()
                .unwrap()
                .contains("kustomization path not found")
    })
    .await;
    let apps = wait_ks(&c, "apps", "blocked", |o| {
        ready_is(o, "False", "DependencyNotReady")
    })
    .await;
    assert_eq!(
        condition(&apps, "Ready").unwrap()["message"],
        "dependency 'default/infra' is not ready"
    );
    assert!(
        config_map(&c, "podinfo").await.is_none(),
        "nothing applied while blocked"
    );

    // Fixing infra unblocks apps (without waiting for the 30 s dependency requeue).
    merge(&ks_api(&c), "infra", json!({"spec": {"path": "./infra"}})).await;
    wait_ks(&c, "infra", "applied", |o| applied(o, &commit)).await;
    wait_ks(&c, "apps", "applied after infra", |o| applied(o, &commit)).await;
    assert!(config_map(&c, "infra").await.is_some());
    env.stop().await;
}

async fn a_broken_image_fails_the_health_check_naming_the_deployment(tc: TestCluster) {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "app/deployment.yaml",
        &deployment("web", "registry.example.com/web:1.0.0-broken", 1),
    );
    let commit = repo.commit("broken web");
    let mut env = Env::on(tc, &repo).await;
    let c = env.client.clone();
    create(
        &ks_api(&c),
        kustomization("web", "./app", json!({"wait": true, "timeout": "15s"})),
    )
    .await;
    let obj = wait_ks(&c, "web", "health failure", |o| {
        ready_is(o, "False", "HealthCheckFailed")
    })
    .await;
    let msg = condition(&obj, "Ready").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.starts_with("health check failed after "), "{msg}");
    assert!(
        msg.contains(
            "failed early due to stalled resources: [Deployment/apps/web status: 'Failed']"
        ),
        "{msg}"
    );
    assert_eq!(condition(&obj, "Healthy").unwrap()["status"], "False");
    assert_eq!(
        obj["status"]["lastAttemptedRevision"],
        format!("main@sha1:{commit}")
    );
    assert!(obj["status"].get("lastAppliedRevision").is_none());
    env.stop().await;
}

async fn build_and_apply_failures_never_prune(tc: TestCluster) {
    if !have_git() {
        return;
    }
    let repo = app_repo();
    repo.write(
        "extra/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-a\n",
    );
    repo.write(
        "extra/b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-b\n",
    );
    let first = repo.commit("two configmaps");
    let mut env = Env::on(tc, &repo).await;
    let c = env.client.clone();
    create(&ks_api(&c), kustomization("extra", "./extra", json!({}))).await;
    wait_ks(&c, "extra", "first apply", |o| applied(o, &first)).await;

    // Broken YAML: BuildFailed naming the file; nothing applied or pruned; last revision kept.
    repo.remove("extra/b.yaml");
    repo.write(
        "extra/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-a\n  labels: [oops\n",
    );
    let broken = repo.commit("broken yaml");
    poke_source(&c, "1").await;
    let obj = wait_ks(&c, "extra", "build failure", |o| {
        ready_is(o, "False", "BuildFailed")
            && o["status"]["lastAttemptedRevision"] == format!("main@sha1:{broken}")
    })
    .await;
    let msg = condition(&obj, "Ready").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("a.yaml"), "the message names the file: {msg}");
    assert_eq!(
        obj["status"]["lastAppliedRevision"],
        format!("main@sha1:{first}")
    );
    assert!(
        config_map(&c, "keep-b").await.is_some(),
        "no prune after a failed build"
    );
    assert_eq!(
        obj["status"]["inventory"]["entries"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // An object the server rejects: named in the message; its stage is not applied at all (Flux
    // dry-runs a stage as a whole), nothing pruned.
    repo.write(
        "extra/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-a\ndata:\n  changed: \"yes\"\n",
    );
    repo.write(
        "extra/bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Valid_Name\n",
    );
    let rejected = repo.commit("one invalid object");
    poke_source(&c, "2").await;
    let obj = wait_ks(&c, "extra", "apply failure", |o| {
        ready_is(o, "False", "ReconciliationFailed")
            && o["status"]["lastAttemptedRevision"] == format!("main@sha1:{rejected}")
    })
    .await;
    let msg = condition(&obj, "Ready").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("ConfigMap/apps/Not_A_Valid_Name"), "{msg}");
    let a = config_map(&c, "keep-a").await.expect("keep-a");
    assert!(
        !a.data.unwrap_or_default().contains_key("changed"),
        "the valid object of the failed stage was not applied"
    );
    assert!(
        config_map(&c, "keep-b").await.is_some(),
        "no prune after a failed apply"
    );
    assert_eq!(
        obj["status"]["lastAppliedRevision"],
        format!("main@sha1:{first}")
    );
    env.stop().await;
}

async fn suspend_blocks_runs_and_requested_at_runs_at_once(tc: TestCluster) {
    if !have_git() {
        return;
    }
    let repo = app_repo();
    let first = repo.commit("first");
    let mut env = Env::on(tc, &repo).await;
    let c = env.client.clone();
    create(
        &ks_api(&c),
        kustomization(
            "apps",
            "./apps/dev",
            json!({"postBuild": {"substitute": {"ENV": "a"}}}),
        ),
    )
    .await;
    wait_ks(&c, "apps", "applied", |o| applied(o, &first)).await;

    // Suspended: a new revision and a request are not acted on, but the request is acknowledged.
    merge(&ks_api(&c), "apps", json!({"spec": {"suspend": true}})).await;
    repo.write(
        "apps/base/deployment.yaml",
        &deployment("podinfo", "ghcr.io/stefanprodan/podinfo:7.0.0", 1),
    );
    let second = repo.commit("second");
    poke_source(&c, "1").await;
    merge(
        &ks_api(&c),
        "apps",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "s1"}}}),
    )
    .await;
    let obj = wait_ks(&c, "apps", "request acknowledged", |o| {
        o["status"]["lastHandledReconcileAt"] == "s1"
    })
    .await;
    assert_eq!(
        obj["status"]["lastAppliedRevision"],
        format!("main@sha1:{first}")
    );

    // Resumed: runs (generation changed) and applies the new revision; a request is handled at once
    // although the interval is 10 minutes.
    merge(&ks_api(&c), "apps", json!({"spec": {"suspend": null}})).await;
    wait_ks(&c, "apps", "applied after resume", |o| applied(o, &second)).await;
    merge(
        &ks_api(&c),
        "apps",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "r2"}}}),
    )
    .await;
    wait_ks(&c, "apps", "request handled", |o| {
        o["status"]["lastHandledReconcileAt"] == "r2" && applied(o, &second)
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn recovers_from_api_faults_and_resumes_after_a_restart() {
    if !have_git() {
        return;
    }
    let repo = app_repo();
    let first = repo.commit("first");
    let (cluster, client) = in_process(sim_options());
    let faults = cluster.faults();
    let mut env = Env::with(Some(cluster), client, &repo).await;
    let c = env.client.clone();
    create(
        &ks_api(&c),
        kustomization(
            "apps",
            "./apps/dev",
            json!({"postBuild": {"substitute": {"ENV": "a"}}}),
        ),
    )
    .await;
    wait_ks(&c, "apps", "applied", |o| applied(o, &first)).await;

    // Faults while a change arrives: dropped watches, expired history, 500s and 429s.
    repo.write(
        "apps/base/deployment.yaml",
        &deployment("podinfo", "ghcr.io/stefanprodan/podinfo:6.6.0", 1),
    );
    let second = repo.commit("second");
    faults.close_watches();
    faults.compact_history();
    faults.fail_next(5, 500, None);
    poke_source(&c, "f1").await;
    faults.fail_next(3, 429, Some(1));
    wait_ks(&c, "apps", "applied despite faults", |o| {
        applied(o, &second)
    })
    .await;

    // Stop the controller, remove a file from git, start a new controller on the same data dir:
    // it resumes from status.inventory and prunes what disappeared meanwhile.
    env.stop().await;
    repo.remove("apps/base/configmap.yaml");
    repo.write(
        "apps/base/kustomization.yaml",
        "resources:\n  - service.yaml\n  - deployment.yaml\n",
    );
    let third = repo.commit("third");
    env.controller = Some(start(&c, env.data.path()));
    poke_source(&c, "f2").await;
    wait_ks(&c, "apps", "applied after restart", |o| applied(o, &third)).await;
    assert!(
        config_map(&c, "podinfo").await.is_none(),
        "pruned after restart"
    );
    assert!(
        Api::<Service>::namespaced(c.clone(), "apps")
            .get_opt("podinfo")
            .await
            .unwrap()
            .is_some()
    );
    env.stop().await;
}

async fn deleting_a_kustomization_garbage_collects_per_deletion_policy(tc: TestCluster) {
    if !have_git() {
        return;
    }
    let repo = app_repo();
    repo.write(
        "keep/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: orphaned\n",
    );
    let commit = repo.commit("first");
    let mut env = Env::on(tc, &repo).await;
    let c = env.client.clone();
    let ks = ks_api(&c);
    create(
        &ks,
        kustomization(
            "apps",
            "./apps/dev",
            json!({"postBuild": {"substitute": {"ENV": "a"}}}),
        ),
    )
    .await;
    create(
        &ks,
        kustomization("keep", "./keep", json!({"deletionPolicy": "Orphan"})),
    )
    .await;
    wait_ks(&c, "apps", "applied", |o| applied(o, &commit)).await;
    wait_ks(&c, "keep", "applied", |o| applied(o, &commit)).await;

    ks.delete("apps", &Default::default()).await.unwrap();
    ks.delete("keep", &Default::default()).await.unwrap();
    wait_until("both Kustomizations gone", PATIENCE, || async {
        (get(&ks, "apps").await.is_none() && get(&ks, "keep").await.is_none()).then_some(())
    })
    .await;
    assert!(
        config_map(&c, "podinfo").await.is_none(),
        "prune: true → inventory deleted"
    );
    let deploys = Api::<Deployment>::namespaced(c.clone(), "apps");
    wait_until("deployment deleted", PATIENCE, || async {
        deploys
            .get_opt("podinfo")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        config_map(&c, "orphaned").await.is_some(),
        "Orphan keeps the objects"
    );
    env.stop().await;
}

#[tokio::test]
async fn reconciles_over_tcp() {
    if !have_git() {
        return;
    }
    let repo = app_repo();
    let commit = repo.commit("first");
    let server = TcpServer::start(ClusterOptions {
        name: "tcp".into(),
        ..sim_options()
    })
    .await;
    let client = server.client().await;
    let mut env = Env::with(None, client, &repo).await;
    let c = env.client.clone();
    create(
        &ks_api(&c),
        kustomization(
            "apps",
            "./apps/dev",
            json!({"wait": true, "postBuild": {"substitute": {"ENV": "tcp"}}}),
        ),
    )
    .await;
    let obj = wait_ks(&c, "apps", "applied over TCP", |o| applied(o, &commit)).await;
    assert_eq!(
        serde_json::to_string(&obj["status"]["inventory"]).unwrap(),
        DEV_INVENTORY
    );
    assert_eq!(
        config_map(&c, "podinfo").await.unwrap().data.unwrap()["env"],
        "tcp"
    );
    env.stop().await;
}

/// A loopback TCP proxy in front of `target` that keeps every byte clients send.
async fn recording_proxy(
    target: std::net::SocketAddr,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let (mut ri, mut wi) = inbound.split();
                let (mut ro, mut wo) = tokio::io::split(outbound);
                let up = async {
                    let mut buf = vec![0u8; 16384];
                    loop {
                        let n = match ri.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                        if wo.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = wo.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut ro, &mut wi).await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn service_account_name_is_impersonated() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: impersonated\n",
    );
    let commit = repo.commit("one configmap");
    let server = TcpServer::start(ClusterOptions {
        name: "imp".into(),
        ..sim_options()
    })
    .await;
    let kc = kube::config::Kubeconfig::read_from(&server.kubeconfig).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let real: std::net::SocketAddr = config
        .cluster_url
        .authority()
        .unwrap()
        .as_str()
        .parse()
        .unwrap();
    let (proxy, seen) = recording_proxy(real).await;
    let mut parts = config.cluster_url.clone().into_parts();
    parts.authority = Some(proxy.to_string().parse().unwrap());
    config.cluster_url = http::Uri::from_parts(parts).unwrap();
    let client = kube::Client::try_from(config.clone()).unwrap();

    namespace(&client, "apps").await;
    create(&git_api(&client), gitrepository(&repo.url())).await;
    let data = tempfile::tempdir().unwrap();
    let opts = ControllerOptions {
        data_dir: data.path().to_path_buf(),
        health_poll: Duration::from_millis(200),
        allow_file_urls: true,
        ..ControllerOptions::default()
    };
    let controller = Controller::start_connections(
        vec![flotilla::controllers::bundle::ClusterConnection {
            name: "imp".into(),
            client: client.clone(),
            config: Some(config),
        }],
        &opts,
    );
    create(
        &ks_api(&client),
        kustomization("app", "./app", json!({"serviceAccountName": "deployer"})),
    )
    .await;
    wait_ks(&client, "app", "applied", |o| applied(o, &commit)).await;
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).to_ascii_lowercase();
    let apply = text
        .split("\r\n\r\n")
        .find(|req| {
            req.contains("patch /")
                && req.contains("configmaps/impersonated")
                && req.contains("fieldmanager=kustomize-controller")
        })
        .map(str::to_string)
        .expect("the apply of the ConfigMap went through the proxy");
    assert!(
        apply.contains("impersonate-user: system:serviceaccount:default:deployer"),
        "apply request headers: {apply}"
    );
    controller.shutdown().await;
}

// The reconciler's end-to-end checks, each against the embedded server and a real kube-apiserver.
both_servers!(sim_options;
    applies_changes_and_prunes_a_base_and_overlay_from_git,
    depends_on_gates_and_reports_dependency_not_ready,
    a_broken_image_fails_the_health_check_naming_the_deployment,
    build_and_apply_failures_never_prune,
    suspend_blocks_runs_and_requested_at_runs_at_once,
    deleting_a_kustomization_garbage_collects_per_deletion_policy,
);

/// Impersonation through RBAC, on the real kube-apiserver only: a service account without bindings
/// is refused (nothing applied, the Kustomization says forbidden), and once a RoleBinding grants it
/// ConfigMaps in `apps` the same Kustomization applies. The embedded server does not evaluate RBAC
/// yet (issue 16), so this cannot run against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_rbac_refuses_an_unbound_service_account() {
    if !have_git() {
        return;
    }
    crate::require_real_kube!();
    let repo = Repo::new();
    repo.write(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: impersonated\n",
    );
    let commit = repo.commit("one configmap");
    let tc = TestCluster::real(ClusterOptions {
        name: "rbac".into(),
        ..sim_options()
    })
    .await;
    let real = tc.real_cluster().expect("a real cluster");
    let config = real.config().await;
    let client = real.client().await;
    namespace(&client, "apps").await;
    create(&git_api(&client), gitrepository(&repo.url())).await;
    let data = tempfile::tempdir().unwrap();
    let opts = ControllerOptions {
        data_dir: data.path().to_path_buf(),
        health_poll: Duration::from_millis(200),
        allow_file_urls: true,
        ..ControllerOptions::default()
    };
    let controller = Controller::start_connections(
        vec![flotilla::controllers::bundle::ClusterConnection {
            name: "rbac".into(),
            client: client.clone(),
            config: Some(config),
        }],
        &opts,
    );
    create(
        &ks_api(&client),
        kustomization("app", "./app", json!({"serviceAccountName": "nobody"})),
    )
    .await;
    let obj = wait_ks(&client, "app", "refused by RBAC", |o| {
        condition(o, "Ready").is_some_and(|c| {
            c["status"] == "False"
                && c["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("forbidden"))
        })
    })
    .await;
    let msg = condition(&obj, "Ready").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("system:serviceaccount:default:nobody"),
        "the message names the impersonated account: {msg}"
    );
    assert!(obj["status"].get("lastAppliedRevision").is_none(), "{obj}");
    assert!(
        config_map(&client, "impersonated").await.is_none(),
        "nothing applied as an account without bindings"
    );

    // Grant the account ConfigMaps in `apps`: the same Kustomization now applies.
    let rbac = |v: Value| serde_json::from_value::<DynamicObject>(v).unwrap();
    let role_api = api_rbac(&client, "Role", "roles");
    role_api
        .create(
            &PostParams::default(),
            &rbac(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "configmaps", "namespace": "apps"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]
            })),
        )
        .await
        .expect("role");
    api_rbac(&client, "RoleBinding", "rolebindings")
        .create(
            &PostParams::default(),
            &rbac(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "nobody-configmaps", "namespace": "apps"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps"},
                "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": "default"}]
            })),
        )
        .await
        .expect("rolebinding");
    merge(
        &ks_api(&client),
        "app",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "granted"}}}),
    )
    .await;
    wait_ks(&client, "app", "applied once bound", |o| {
        applied(o, &commit)
    })
    .await;
    assert!(config_map(&client, "impersonated").await.is_some());
    controller.shutdown().await;
}

fn api_rbac(client: &kube::Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", kind),
        plural,
    );
    Api::namespaced_with(client.clone(), "apps", &ar)
}
