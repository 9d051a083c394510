//! Argo CD Applications reconciled by flotilla's application-controller, end to end: real git
//! repositories over file://, the embedded API server with the workload simulator and the real
//! upstream Argo CD CRDs (no status subresource, as on a real cluster), and the controller on the
//! runtime. Covers directory/kustomize/helm sources, auto-sync with prune and self-heal, the
//! console's sync `operation`, refresh, hooks, AppProject refusals and comparison errors.

use crate::common;

use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, in_process, wait_until};
use flotilla::apiserver::{Cluster, ClusterOptions};
use flotilla::cluster::Action;
use flotilla::cluster::actions::plan;
use flotilla::controllers::argo::{ApplicationReconciler, ApplicationSetReconciler, ArgoOptions};
use flotilla::runtime::{Runtime, RuntimeHandle, RuntimeOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const ARGO_CRDS: &str = "/work/shared/crds/argocd";

/// The upstream Argo CD CRDs when they are on this machine (else the compact built-in ones).
fn argo_crds() -> Vec<Value> {
    let Ok(dir) = std::fs::read_dir(ARGO_CRDS) else {
        eprintln!("note: {ARGO_CRDS} absent; using flotilla's compact Argo CD CRDs");
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read crd");
        let docs: Vec<Value> = serde_saphyr::from_str_multiple(&text).expect("crd yaml");
        out.extend(
            docs.into_iter()
                .filter(|d| d["kind"] == "CustomResourceDefinition"),
        );
    }
    out
}

struct Env {
    _cluster: Option<Cluster>,
    _real: Option<common::real_kube::RealCluster>,
    client: kube::Client,
    _data: tempfile::TempDir,
    runtime: Option<RuntimeHandle>,
}

impl Env {
    async fn start(hook_timeout: Duration) -> Env {
        let (cluster, client) = in_process(ClusterOptions {
            simulate: true,
            rollout_delay: Duration::from_millis(300),
            extra_crds: argo_crds(),
            ..ClusterOptions::default()
        });
        Self::start_on(Some(cluster), None, client, hook_timeout).await
    }

    /// The same controller against a real kube-apiserver (upstream CRDs, no workload simulator).
    async fn start_real() -> Env {
        let real = common::real_kube::RealCluster::start("dev").await;
        let client = real.client().await;
        Self::start_on(None, Some(real), client, Duration::from_secs(20)).await
    }

    async fn start_on(
        cluster: Option<Cluster>,
        real: Option<common::real_kube::RealCluster>,
        client: kube::Client,
        hook_timeout: Duration,
    ) -> Env {
        let data = tempfile::tempdir().expect("tempdir");
        for ns in ["argocd", "web"] {
            let n: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
            let _ = Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &n)
                .await;
        }
        let argo = ApplicationReconciler::new(
            client.clone(),
            data.path().join("argo"),
            ArgoOptions {
                resync: Duration::from_secs(2),
                self_heal_resync: Duration::from_millis(500),
                hook_timeout,
                poll: Duration::from_millis(100),
                allow_file_urls: true,
                self_heal_timeout: Duration::from_secs(1),
            },
        )
        .expect("Application is a registered kind");
        let runtime = Runtime::new(
            client.clone(),
            RuntimeOptions {
                concurrency: 4,
                shutdown_grace: Duration::from_secs(5),
                cluster: "test".into(),
                ..RuntimeOptions::default()
            },
        )
        .register(Arc::new(argo))
        .register(Arc::new(
            ApplicationSetReconciler::new(client.clone()).expect("ApplicationSet is registered"),
        ))
        .start();
        Env {
            _cluster: cluster,
            _real: real,
            client,
            _data: data,
            runtime: Some(runtime),
        }
    }

    fn apps(&self) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
            "applications",
        );
        Api::namespaced_with(self.client.clone(), "argocd", &ar)
    }

    fn projects(&self) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"),
            "appprojects",
        );
        Api::namespaced_with(self.client.clone(), "argocd", &ar)
    }

    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), "web")
    }

    async fn create(&self, api: &Api<DynamicObject>, obj: Value) {
        let o: DynamicObject = serde_json::from_value(obj).expect("object");
        api.create(&PostParams::default(), &o)
            .await
            .expect("create");
    }

    async fn app(&self, name: &str) -> Value {
        serde_json::to_value(self.apps().get(name).await.expect("app")).expect("json")
    }

    async fn merge(&self, name: &str, patch: Value) {
        self.apps()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch app");
    }

    /// Waits until `check` holds on the Application; returns it.
    async fn until(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        wait_until(what, PATIENCE, || async {
            let a = self.app(name).await;
            check(&a).then_some(a)
        })
        .await
    }

    async fn cm(&self, name: &str) -> Option<Value> {
        self.config_maps()
            .get_opt(name)
            .await
            .expect("get cm")
            .map(|c| serde_json::to_value(c).expect("json"))
    }

    /// Sends the patch the console's sync key sends.
    async fn console_sync(&self, name: &str, prune: bool) {
        let obj = self.app(name).await;
        for p in plan(
            &Action::Sync { prune },
            &obj,
            "2026-01-01T00:00:00Z",
            "flotilla",
        )
        .expect("sync planned")
        {
            self.merge(name, p.merge_patch).await;
        }
    }

    async fn console_refresh(&self, name: &str) {
        let obj = self.app(name).await;
        for p in plan(
            &Action::Refresh,
            &obj,
            &jiff::Timestamp::now().to_string(),
            "flotilla",
        )
        .expect("refresh planned")
        {
            self.merge(name, p.merge_patch).await;
        }
    }

    async fn stop(mut self) {
        if let Some(r) = self.runtime.take() {
            r.shutdown().await;
        }
    }
}

fn application(name: &str, repo: &str, path: &str, extra: Value) -> Value {
    let mut spec = json!({
        "project": "default",
        "source": {"repoURL": repo, "path": path, "targetRevision": "HEAD"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": name, "namespace": "argocd"}, "spec": spec})
}

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n        - name: main\n          image: {image}\n"
    )
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn synced_healthy(a: &Value) -> bool {
    s(a, "/status/sync/status") == "Synced" && s(a, "/status/health/status") == "Healthy"
}

fn resource<'a>(a: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
    a.pointer("/status/resources")?
        .as_array()?
        .iter()
        .find(|r| r["kind"] == kind && r["name"] == name)
}

fn condition<'a>(a: &'a Value, type_: &str) -> Option<&'a Value> {
    a.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

#[tokio::test]
async fn directory_app_auto_syncs_prunes_and_self_heals() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("guestbook/cm.yaml", &config_map("settings", "one"));
    repo.write("guestbook/web.yaml", &deployment("web", "nginx:1.27"));
    repo.write("guestbook/README.md", "not a manifest");
    let first = repo.commit("guestbook");
    let env = Env::start(Duration::from_secs(20)).await;
    env.create(
        &env.apps(),
        application(
            "guestbook",
            &repo.url(),
            "guestbook",
            json!({"syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}),
        ),
    )
    .await;

    let a = env
        .until("guestbook", "Synced/Healthy", synced_healthy)
        .await;
    assert_eq!(s(&a, "/status/sync/revision"), first);
    assert_eq!(s(&a, "/status/sourceType"), "Directory");
    // Argo CD's controller adds no finalizer (only a user's resources-finalizer asks for one).
    assert_eq!(a["metadata"].get("finalizers"), None, "no finalizer added");
    assert_eq!(s(&a, "/status/operationState/phase"), "Succeeded");
    assert_eq!(
        s(&a, "/status/operationState/message"),
        "successfully synced (all tasks run)"
    );
    assert_eq!(
        a["status"]["operationState"]["operation"]["initiatedBy"]["automated"],
        true
    );
    assert_eq!(a["status"]["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(a["status"]["history"][0]["revision"], first);
    assert_eq!(a["status"]["summary"]["images"], json!(["nginx:1.27"]));
    assert_eq!(
        a["status"]["sync"]["comparedTo"]["source"]["path"],
        "guestbook"
    );
    let dep = resource(&a, "Deployment", "web").expect("deployment in resources");
    assert_eq!(dep["group"], "apps");
    assert_eq!(dep["status"], "Synced");
    assert_eq!(dep["health"]["status"], "Healthy");
    assert!(a.get("operation").is_none_or(Value::is_null));
    let cm = env.cm("settings").await.expect("configmap applied");
    assert_eq!(
        cm["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
        "guestbook:/ConfigMap:web/settings"
    );

    // Self-heal: a manual edit is put back.
    env.config_maps()
        .patch(
            "settings",
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": {"value": "edited by hand"}})),
        )
        .await
        .expect("edit");
    wait_until("self-heal restores the value", PATIENCE, || async {
        let cm = env.cm("settings").await?;
        (cm["data"]["value"] == "one").then_some(())
    })
    .await;

    // A new commit: changed value, removed Deployment → synced and pruned.
    repo.write("guestbook/cm.yaml", &config_map("settings", "two"));
    repo.remove("guestbook/web.yaml");
    let second = repo.commit("drop web");
    let a = env
        .until("guestbook", "second revision synced", |a| {
            synced_healthy(a) && s(a, "/status/sync/revision") == second
        })
        .await;
    assert_eq!(env.cm("settings").await.unwrap()["data"]["value"], "two");
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(env.client.clone(), "web");
    wait_until("pruned deployment is gone", PATIENCE, || async {
        deployments
            .get_opt("web")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
    let pruned = a["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "Deployment")
        .cloned()
        .expect("deployment in the sync result");
    assert_eq!(pruned["status"], "Pruned");
    assert_eq!(pruned["message"], "pruned");
    assert!(resource(&a, "Deployment", "web").is_none());
    // Initial sync, the self-heal sync, and this one.
    let history = a["status"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[1]["revision"], first);
    assert_eq!(history[2]["revision"], second);
    assert_eq!(history[2]["id"], 2);
    env.stop().await;
}

#[tokio::test]
async fn console_sync_operation_is_executed_cleared_and_prune_is_explicit() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("app/a.yaml", &config_map("alpha", "1"));
    repo.write("app/b.yaml", &config_map("beta", "1"));
    let first = repo.commit("two maps");
    let env = Env::start(Duration::from_secs(20)).await;
    env.create(
        &env.apps(),
        application(
            "manual",
            &repo.url(),
            "app",
            json!({"syncPolicy": {"syncOptions": ["CreateNamespace=true"]}}),
        ),
    )
    .await;
    let a = env
        .until("manual", "OutOfSync/Missing", |a| {
            s(a, "/status/sync/status") == "OutOfSync"
        })
        .await;
    assert_eq!(s(&a, "/status/health/status"), "Missing");
    assert_eq!(s(&a, "/status/sync/revision"), first);
    assert!(
        env.cm("alpha").await.is_none(),
        "nothing applied without a sync"
    );

    env.console_sync("manual", false).await;
    let a = env
        .until("manual", "operation done", |a| {
            a.get("operation").is_none_or(Value::is_null)
                && s(a, "/status/operationState/phase") == "Succeeded"
        })
        .await;
    assert_eq!(
        a["status"]["operationState"]["operation"]["initiatedBy"]["username"],
        "flotilla"
    );
    assert_eq!(s(&a, "/status/operationState/syncResult/revision"), first);
    let results = a["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap();
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| r["status"] == "Synced" && r["syncPhase"] == "Sync")
    );
    assert_eq!(results[0]["message"], "configmap/alpha created");
    assert_eq!(
        a["status"]["history"][0]["initiatedBy"]["username"],
        "flotilla"
    );
    assert!(
        s(&a, "/status/operationState/startedAt") <= s(&a, "/status/operationState/finishedAt")
    );
    let a = env.until("manual", "Synced", synced_healthy).await;
    assert_eq!(
        resource(&a, "ConfigMap", "beta").unwrap()["status"],
        "Synced"
    );

    // Removed from Git: OutOfSync with requiresPruning, kept by a sync without prune.
    repo.remove("app/b.yaml");
    let second = repo.commit("drop beta");
    env.console_refresh("manual").await;
    let a = env
        .until("manual", "requiresPruning after refresh", |a| {
            s(a, "/status/sync/revision") == second
                && resource(a, "ConfigMap", "beta").is_some_and(|r| r["requiresPruning"] == true)
        })
        .await;
    assert_eq!(s(&a, "/status/sync/status"), "OutOfSync");
    assert!(
        a.pointer("/metadata/annotations/argocd.argoproj.io~1refresh")
            .is_none(),
        "refresh annotation removed"
    );
    env.console_sync("manual", false).await;
    let a = env
        .until("manual", "sync without prune done", |a| {
            a.get("operation").is_none_or(Value::is_null)
                && s(a, "/status/operationState/syncResult/revision") == second
        })
        .await;
    let beta = a["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "beta")
        .cloned()
        .unwrap();
    assert_eq!(beta["status"], "PruneSkipped");
    assert_eq!(beta["message"], "ignored (requires pruning)");
    assert!(env.cm("beta").await.is_some(), "not pruned without prune");
    assert_eq!(s(&a, "/status/sync/status"), "OutOfSync");

    env.console_sync("manual", true).await;
    env.until("manual", "pruned and Synced", |a| {
        a.get("operation").is_none_or(Value::is_null) && s(a, "/status/sync/status") == "Synced"
    })
    .await;
    assert!(env.cm("beta").await.is_none(), "pruned with prune");
    assert!(env.cm("alpha").await.is_some());
    env.stop().await;
}

#[tokio::test]
async fn kustomize_overrides_and_helm_values_render() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("kust/kustomization.yaml", "resources:\n  - web.yaml\n");
    repo.write("kust/web.yaml", &deployment("web", "nginx:1.25"));
    repo.write(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    );
    repo.write("chart/values.yaml", "greeting: hello\nextra: none\n");
    repo.write("chart/values-prod.yaml", "extra: prod\n");
    repo.write(
        "chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  extra: {{ .Values.extra | quote }}\n  count: {{ .Values.count | quote }}\n",
    );
    repo.commit("kustomize + helm");
    let env = Env::start(Duration::from_secs(20)).await;
    env.create(
        &env.apps(),
        application(
            "kust",
            &repo.url(),
            "kust",
            json!({"source": {"repoURL": repo.url(), "path": "kust", "targetRevision": "main",
                              "kustomize": {"namePrefix": "prod-", "images": ["nginx:1.27"],
                                            "commonLabels": {"team": "shop"}}},
                   "syncPolicy": {"automated": {}}}),
        ),
    )
    .await;
    env.create(
        &env.apps(),
        application(
            "helm",
            &repo.url(),
            "chart",
            json!({"source": {"repoURL": repo.url(), "path": "chart", "targetRevision": "HEAD",
                              "helm": {"releaseName": "rel", "valueFiles": ["values-prod.yaml"],
                                       "valuesObject": {"greeting": "hi"},
                                       "parameters": [{"name": "count", "value": "3", "forceString": true}]}},
                   "syncPolicy": {"automated": {}}}),
        ),
    )
    .await;
    let a = env
        .until("kust", "kustomize app Synced/Healthy", synced_healthy)
        .await;
    assert_eq!(s(&a, "/status/sourceType"), "Kustomize");
    assert_eq!(a["status"]["summary"]["images"], json!(["nginx:1.27"]));
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(env.client.clone(), "web");
    let d =
        serde_json::to_value(deployments.get("prod-web").await.expect("prefixed name")).unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(d["metadata"]["labels"]["team"], "shop");
    assert_eq!(
        d["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
        "kust:apps/Deployment:web/prod-web"
    );

    let h = env.until("helm", "helm app Synced", synced_healthy).await;
    assert_eq!(s(&h, "/status/sourceType"), "Helm");
    let cm = env
        .cm("rel-greeting")
        .await
        .expect("release-named configmap");
    assert_eq!(
        cm["data"],
        json!({"greeting": "hi", "extra": "prod", "count": "3"})
    );
    env.stop().await;
}

fn hook_job(name: &str, image: &str, extra_annotations: Value) -> String {
    let mut ann = json!({"argocd.argoproj.io/hook": "PreSync"});
    if let (Some(a), Some(e)) = (ann.as_object_mut(), extra_annotations.as_object()) {
        for (k, v) in e {
            a.insert(k.clone(), v.clone());
        }
    }
    let job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "annotations": ann},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "m", "image": image}]}}}});
    serde_json::to_string(&job).unwrap()
}

#[tokio::test]
async fn presync_hook_runs_first_and_a_failing_hook_fails_the_sync() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("hooks/cm.yaml", &config_map("after-hook", "x"));
    repo.write(
        "hooks/migrate.json",
        &hook_job(
            "migrate",
            "busybox:1",
            json!({"argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}),
        ),
    );
    repo.commit("hooked");
    let env = Env::start(Duration::from_secs(20)).await;
    env.create(
        &env.apps(),
        application("hooked", &repo.url(), "hooks", json!({})),
    )
    .await;
    env.until("hooked", "first comparison", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    })
    .await;
    // Hooks are not managed resources.
    assert!(resource(&env.app("hooked").await, "Job", "migrate").is_none());
    env.console_sync("hooked", false).await;
    let a = env
        .until("hooked", "hooked sync finished", |a| {
            a.get("operation").is_none_or(Value::is_null)
                && s(a, "/status/operationState/phase") == "Succeeded"
        })
        .await;
    let results = a["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(results[0]["kind"], "Job");
    assert_eq!(results[0]["hookType"], "PreSync");
    assert_eq!(results[0]["hookPhase"], "Succeeded");
    assert_eq!(results[0]["syncPhase"], "PreSync");
    assert_eq!(results[1]["name"], "after-hook");
    // HookSucceeded: deleted after it succeeded.
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(env.client.clone(), "web");
    wait_until("succeeded hook deleted", PATIENCE, || async {
        jobs.get_opt("migrate")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;

    // A hook that fails: the sync fails with Argo's message and the Sync phase never runs.
    repo.write("hooks/cm.yaml", &config_map("after-hook", "y"));
    repo.write(
        "hooks/migrate.json",
        &hook_job("migrate", "busybox:broken", json!({})),
    );
    repo.commit("broken hook");
    env.console_refresh("hooked").await;
    env.until("hooked", "new revision compared", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    })
    .await;
    env.console_sync("hooked", false).await;
    // The job controller's verdict, written as the real one would once backoffLimit is reached.
    wait_until("hook job created", PATIENCE, || async {
        jobs.get_opt("migrate").await.expect("get").map(|_| ())
    })
    .await;
    jobs.patch_status(
        "migrate",
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"conditions": [{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}})),
    )
    .await
    .expect("fail the job");
    let a = env
        .until("hooked", "failed sync", |a| {
            a.get("operation").is_none_or(Value::is_null)
                && s(a, "/status/operationState/phase") == "Failed"
        })
        .await;
    let msg = s(&a, "/status/operationState/message");
    assert!(
        msg.contains("one or more synchronization tasks completed unsuccessfully")
            && msg.contains("Job has reached the specified backoff limit"),
        "{msg}"
    );
    assert_eq!(
        env.cm("after-hook").await.unwrap()["data"]["value"],
        "x",
        "the Sync phase did not run"
    );
    assert!(condition(&a, "SyncError").is_some());
    env.stop().await;
}

#[tokio::test]
async fn forbidden_destination_and_bad_revision_apply_nothing() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("app/a.yaml", &config_map("guarded", "1"));
    repo.commit("one map");
    let env = Env::start(Duration::from_secs(20)).await;
    env.create(
        &env.projects(),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
               "metadata": {"name": "narrow", "namespace": "argocd"},
               "spec": {"sourceRepos": ["*"],
                        "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "other"}]}}),
    )
    .await;
    let auto = json!({"automated": {"prune": true}});
    let mut forbidden = application("forbidden", &repo.url(), "app", json!({"syncPolicy": auto}));
    forbidden["spec"]["project"] = json!("narrow");
    env.create(&env.apps(), forbidden).await;
    let mut orphan = application("orphan", &repo.url(), "app", json!({"syncPolicy": auto}));
    orphan["spec"]["project"] = json!("nope");
    env.create(&env.apps(), orphan).await;
    let a = env
        .until("forbidden", "InvalidSpecError", |a| {
            condition(a, "InvalidSpecError").is_some()
        })
        .await;
    assert_eq!(
        condition(&a, "InvalidSpecError").unwrap()["message"],
        "application destination server 'https://kubernetes.default.svc' and namespace 'web' do not match any of the allowed destinations in project 'narrow'"
    );
    let o = env
        .until("orphan", "InvalidSpecError", |a| {
            condition(a, "InvalidSpecError").is_some()
        })
        .await;
    assert_eq!(
        condition(&o, "InvalidSpecError").unwrap()["message"],
        "Application referencing project nope which does not exist"
    );
    assert!(env.cm("guarded").await.is_none(), "nothing applied");

    // An app that synced once, then points at a revision that does not exist: ComparisonError,
    // nothing pruned.
    env.create(
        &env.apps(),
        application("moving", &repo.url(), "app", json!({"syncPolicy": auto})),
    )
    .await;
    env.until("moving", "Synced", synced_healthy).await;
    env.merge(
        "moving",
        json!({"spec": {"source": {"targetRevision": "no-such-branch"}}}),
    )
    .await;
    let a = env
        .until("moving", "ComparisonError", |a| {
            condition(a, "ComparisonError").is_some()
        })
        .await;
    assert_eq!(
        condition(&a, "ComparisonError").unwrap()["message"],
        "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = Unable to resolve 'no-such-branch' to a commit SHA"
    );
    assert_eq!(s(&a, "/status/sync/status"), "Unknown");
    assert!(env.cm("guarded").await.is_some(), "nothing pruned");

    // A render error (a manifest without kind) is a ComparisonError too, and recovers.
    env.merge(
        "moving",
        json!({"spec": {"source": {"targetRevision": "main"}}}),
    )
    .await;
    env.until("moving", "recovered", |a| {
        condition(a, "ComparisonError").is_none() && synced_healthy(a)
    })
    .await;
    repo.write("app/broken.yaml", "foo: bar\n");
    repo.commit("broken manifest");
    env.console_refresh("moving").await;
    let a = env
        .until("moving", "render error", |a| {
            condition(a, "ComparisonError").is_some()
        })
        .await;
    assert!(
        s(condition(&a, "ComparisonError").unwrap(), "/message").contains("broken.yaml"),
        "{a}"
    );
    assert!(
        env.cm("guarded").await.is_some(),
        "nothing pruned on a render error"
    );
    env.stop().await;
}

fn with_annotations(yaml: &str, annotations: &[(&str, &str)]) -> String {
    let mut v: Value = serde_saphyr::from_str(yaml).expect("yaml");
    for (k, val) in annotations {
        v["metadata"]["annotations"][*k] = json!(val);
    }
    serde_json::to_string(&v).unwrap()
}

#[tokio::test]
async fn waves_denied_kinds_retries_and_cascading_delete() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    let wave = "argocd.argoproj.io/sync-wave";
    repo.write(
        "waves/late.json",
        &with_annotations(&config_map("late", "1"), &[(wave, "2")]),
    );
    repo.write(
        "waves/early.json",
        &with_annotations(&config_map("early", "1"), &[(wave, "-1")]),
    );
    repo.write("waves/mid.yaml", &deployment("mid", "nginx:1"));
    repo.write(
        "waves/kept.json",
        &with_annotations(
            &config_map("kept", "1"),
            &[("argocd.argoproj.io/sync-options", "Delete=false")],
        ),
    );
    repo.write(
        "secret/s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData:\n  t: x\n",
    );
    repo.write(
        "unknown/w.yaml",
        "apiVersion: example.dev/v1\nkind: Widget\nmetadata:\n  name: w\n",
    );
    repo.commit("waves");
    let env = Env::start(Duration::from_secs(20)).await;
    let mut waves = application("waves", &repo.url(), "waves", json!({}));
    waves["metadata"]["finalizers"] = json!(["resources-finalizer.argocd.argoproj.io"]);
    env.create(&env.apps(), waves).await;
    env.until("waves", "compared", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    })
    .await;
    env.console_sync("waves", false).await;
    let a = env
        .until("waves", "waves synced", |a| {
            a.get("operation").is_none_or(Value::is_null)
                && s(a, "/status/operationState/phase") == "Succeeded"
        })
        .await;
    let order: Vec<&str> = a["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    // Wave -1, then wave 0 by kind (ConfigMap before Deployment), then wave 2.
    assert_eq!(order, ["early", "kept", "mid", "late"]);
    assert_eq!(resource(&a, "ConfigMap", "late").unwrap()["syncWave"], 2);

    // A project that denies Secrets: the sync fails before anything is applied.
    env.create(
        &env.projects(),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
               "metadata": {"name": "strict", "namespace": "argocd"},
               "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                        "namespaceResourceBlacklist": [{"group": "", "kind": "Secret"}]}}),
    )
    .await;
    let mut denied = application("denied", &repo.url(), "secret", json!({}));
    denied["spec"]["project"] = json!("strict");
    env.create(&env.apps(), denied).await;
    env.until("denied", "compared", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    })
    .await;
    env.console_sync("denied", false).await;
    let a = env
        .until("denied", "denied sync", |a| {
            s(a, "/status/operationState/phase") == "Failed"
        })
        .await;
    assert_eq!(
        s(&a, "/status/operationState/message"),
        "one or more synchronization tasks are not valid"
    );
    assert_eq!(
        a["status"]["operationState"]["syncResult"]["resources"][0]["message"],
        "resource :Secret is not permitted in project strict"
    );
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(env.client.clone(), "web");
    assert!(secrets.get_opt("token").await.unwrap().is_none());

    // A resource that cannot be applied, with retry: retried with backoff, then Failed.
    env.create(
        &env.apps(),
        application(
            "retrying",
            &repo.url(),
            "unknown",
            json!({"syncPolicy": {"retry": {"limit": 2, "backoff": {"duration": "200ms", "factor": 2}}}}),
        ),
    )
    .await;
    env.until("retrying", "compared", |a| {
        s(a, "/status/sync/status") == "OutOfSync"
    })
    .await;
    env.console_sync("retrying", false).await;
    let a = env
        .until("retrying", "retries exhausted", |a| {
            a.get("operation").is_none_or(Value::is_null)
                && s(a, "/status/operationState/phase") == "Failed"
        })
        .await;
    assert_eq!(a["status"]["operationState"]["retryCount"], 2);
    let msg = s(&a, "/status/operationState/message");
    assert!(
        msg.starts_with("one or more objects failed to apply, reason: "),
        "{msg}"
    );
    assert!(msg.contains("Widget"), "{msg}");

    // Deleting an app with Argo's resources finalizer deletes its resources, except Delete=false.
    env.apps()
        .delete("waves", &Default::default())
        .await
        .expect("delete app");
    wait_until("app gone", PATIENCE, || async {
        env.apps()
            .get_opt("waves")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
    assert!(env.cm("early").await.is_none(), "cascaded");
    assert!(env.cm("late").await.is_none(), "cascaded");
    assert!(env.cm("kept").await.is_some(), "Delete=false kept");
    env.stop().await;
}

#[tokio::test]
async fn application_set_list_generator_creates_updates_and_deletes() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("app/a.yaml", &config_map("generated", "1"));
    repo.write("other/a.yaml", &config_map("generated-other", "1"));
    repo.commit("paths");
    let env = Env::start(Duration::from_secs(20)).await;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "ApplicationSet"),
        "applicationsets",
    );
    let sets: Api<DynamicObject> = Api::namespaced_with(env.client.clone(), "argocd", &ar);
    let set = |elements: Value, path: &str| {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
               "metadata": {"name": "guestbooks", "namespace": "argocd"},
               "spec": {"generators": [{"list": {"elements": elements}}],
                        "template": {"metadata": {"name": "{{cluster}}-guestbook",
                                                  "labels": {"cluster": "{{cluster}}"}},
                                     "spec": {"project": "default",
                                              "source": {"repoURL": repo.url(), "path": path, "targetRevision": "HEAD"},
                                              "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{ns}}"}}}}})
    };
    env.create(
        &sets,
        set(
            json!([{"cluster": "dev", "ns": "web"}, {"cluster": "prod", "ns": "web"}]),
            "app",
        ),
    )
    .await;
    let dev = env
        .until("dev-guestbook", "generated app compared", |a| {
            s(a, "/status/sync/status") == "OutOfSync"
        })
        .await;
    assert_eq!(dev["metadata"]["labels"]["cluster"], "dev");
    assert_eq!(
        dev["metadata"]["ownerReferences"][0]["kind"],
        "ApplicationSet"
    );
    assert_eq!(dev["metadata"]["ownerReferences"][0]["name"], "guestbooks");
    assert_eq!(
        s(
            &env.app("prod-guestbook").await,
            "/spec/destination/namespace"
        ),
        "web"
    );
    let set_obj = wait_until("set status", PATIENCE, || async {
        let o = serde_json::to_value(sets.get("guestbooks").await.ok()?).ok()?;
        o.pointer("/status/conditions")?
            .as_array()?
            .iter()
            .any(|c| c["type"] == "ResourcesUpToDate" && c["status"] == "True")
            .then_some(o)
    })
    .await;
    assert!(
        set_obj["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "ErrorOccurred" && c["status"] == "False")
    );

    // Drop prod and change the path: prod deleted, dev updated.
    let changed = set(json!([{"cluster": "dev", "ns": "web"}]), "other");
    sets.patch(
        "guestbooks",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": changed["spec"]})),
    )
    .await
    .expect("update set");
    wait_until("prod app deleted", PATIENCE, || async {
        env.apps()
            .get_opt("prod-guestbook")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
    env.until("dev-guestbook", "dev app updated", |a| {
        s(a, "/spec/source/path") == "other"
    })
    .await;

    // An unsupported generator is an ErrorOccurred condition.
    env.create(
        &sets,
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
               "metadata": {"name": "from-git", "namespace": "argocd"},
               "spec": {"generators": [{"scmProvider": {}}], "template": {"metadata": {}, "spec": {}}}}),
    )
    .await;
    wait_until("ErrorOccurred", PATIENCE, || async {
        let o = serde_json::to_value(sets.get("from-git").await.ok()?).ok()?;
        o.pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "ErrorOccurred" && c["status"] == "True")
            .filter(|c| c["message"].as_str().unwrap_or("").contains("scmProvider"))
            .map(|_| ())
    })
    .await;
    env.stop().await;
}

/// The same reconciler against a real kube-apiserver: auto-sync with the tracking annotation,
/// then prune after a commit and a refresh.
#[tokio::test]
async fn real_kube_apiserver_auto_sync_and_prune() {
    crate::require_real_kube!();
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("app/a.yaml", &config_map("real-a", "1"));
    repo.write("app/b.yaml", &config_map("real-b", "1"));
    repo.commit("two maps");
    let env = Env::start_real().await;
    env.create(
        &env.apps(),
        application(
            "real",
            &repo.url(),
            "app",
            json!({"syncPolicy": {"automated": {"prune": true}}}),
        ),
    )
    .await;
    let a = env.until("real", "Synced/Healthy", synced_healthy).await;
    assert_eq!(s(&a, "/status/operationState/phase"), "Succeeded");
    let cm = env.cm("real-a").await.expect("applied");
    assert_eq!(
        cm["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"],
        "real:/ConfigMap:web/real-a"
    );
    assert!(
        cm["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["manager"] == "argocd-controller")
    );
    repo.remove("app/b.yaml");
    let second = repo.commit("drop b");
    env.console_refresh("real").await;
    env.until("real", "second revision synced", |a| {
        synced_healthy(a) && s(a, "/status/sync/revision") == second
    })
    .await;
    assert!(env.cm("real-b").await.is_none(), "pruned");
    env.stop().await;
}
