//! The views end to end: a real git repository, the bundled controller and the embedded API server
//! over TCP with the workload simulator; `flotilla tree`, `trace` and `diff` run as users run them
//! (the real binary with the server's kubeconfig) and through the library; also against a real
//! kube-apiserver (`real_*`, the simulator running as its client).

use crate::common;

use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, TcpServer, TestCluster, wait_until};
use flotilla::apiserver::ClusterOptions;
use flotilla::cli::tree::kustomization_health_tree;
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use flotilla::model::depends::depends_on_view;
use flotilla::views::diff::live::LiveClient;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) const CONTEXT: &str = "default";

fn options() -> ClusterOptions {
    ClusterOptions {
        name: CONTEXT.into(),
        simulate: true,
        rollout_delay: Duration::from_millis(300),
        ..ClusterOptions::default()
    }
}

fn api(client: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(client.clone(), "default", &ar)
}

pub(crate) fn ks_api(client: &kube::Client) -> Api<DynamicObject> {
    api(
        client,
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    )
}

pub(crate) async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).expect("object");
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
}

pub(crate) fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n        - name: app\n          image: {image}\n"
    )
}

pub(crate) fn kustomization(name: &str, path: &str, extra: Value) -> Value {
    let mut spec = json!({
        "interval": "10m", "retryInterval": "1s", "timeout": "4s", "path": path, "prune": true,
        "targetNamespace": "apps", "sourceRef": {"kind": "GitRepository", "name": "repo"}
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

pub(crate) struct Env {
    /// The kubeconfig reaching the cluster (context [`CONTEXT`]).
    pub(crate) kubeconfig: PathBuf,
    /// HOME for the binary.
    home: PathBuf,
    _server: Option<TcpServer>,
    _real: Option<TestCluster>,
    pub(crate) client: kube::Client,
    data: tempfile::TempDir,
    controller: Option<Controller>,
}

impl Env {
    /// The embedded server over TCP.
    pub(crate) async fn start(repo: &Repo) -> Env {
        Self::start_on(false, repo).await
    }

    /// The embedded server over TCP, or a real kube-apiserver when `real`.
    pub(crate) async fn start_on(real: bool, repo: &Repo) -> Env {
        let (server, real, kubeconfig, home, client) = if real {
            let tc = TestCluster::real(options()).await;
            let rc = tc.real_cluster().expect("a real cluster");
            let (kubeconfig, home) = (rc.kubeconfig.clone(), rc.dir.clone());
            let client = tc.client().await;
            (None, Some(tc), kubeconfig, home, client)
        } else {
            let server = TcpServer::start(options()).await;
            let client = server.client().await;
            let (kubeconfig, home) = (server.kubeconfig.clone(), server.dir.path().to_path_buf());
            (Some(server), None, kubeconfig, home, client)
        };
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "apps"}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace");
        create(
            &api(
                &client,
                "source.toolkit.fluxcd.io",
                "GitRepository",
                "gitrepositories",
            ),
            json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                   "metadata": {"name": "repo", "namespace": "default"},
                   "spec": {"url": repo.url(), "interval": "10m", "ref": {"branch": "main"}}}),
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
        // Named like the kubeconfig context, so artifacts land where `flotilla diff` looks.
        let controller = Controller::start(vec![(CONTEXT.to_string(), client.clone())], &opts);
        Env {
            kubeconfig,
            home,
            _server: server,
            _real: real,
            client,
            data,
            controller: Some(controller),
        }
    }

    pub(crate) async fn wait_ready(&self, name: &str, status: &str, reason: &str) -> Value {
        let api = ks_api(&self.client);
        wait_until(
            &format!("Kustomization {name} Ready={status} {reason}"),
            PATIENCE,
            || async {
                let o = serde_json::to_value(api.get_opt(name).await.ok()??).ok()?;
                let ok = o
                    .pointer("/status/conditions")?
                    .as_array()?
                    .iter()
                    .any(|c| {
                        c["type"] == "Ready" && c["status"] == status && c["reason"] == reason
                    });
                ok.then_some(o)
            },
        )
        .await
    }

    /// Runs the real binary with the server's kubeconfig; (exit code, stdout, stderr).
    pub(crate) async fn flotilla(&self, args: &[&str]) -> (i32, String, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("HOME", &self.home)
            .env_remove("KUBECONFIG")
            .output()
            .await
            .expect("flotilla runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) fn data_dir(&self) -> &Path {
        self.data.path()
    }

    pub(crate) async fn stop(&mut self) {
        if let Some(c) = self.controller.take() {
            c.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_image_is_the_root_cause_of_the_tree() {
    a_broken_image_is_the_root_cause_of_the_tree_on(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_a_broken_image_is_the_root_cause_of_the_tree() {
    crate::require_real_kube!();
    a_broken_image_is_the_root_cause_of_the_tree_on(true).await
}

async fn a_broken_image_is_the_root_cause_of_the_tree_on(real: bool) {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "app/web.yaml",
        &deployment("web", "registry.local/web:v2-broken"),
    );
    repo.write("app/api.yaml", &deployment("api", "registry.local/api:v1"));
    repo.write(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n",
    );
    repo.commit("broken web");
    let mut env = Env::start_on(real, &repo).await;
    create(
        &ks_api(&env.client),
        kustomization("apps", "./app", json!({"wait": true})),
    )
    .await;
    env.wait_ready("apps", "False", "HealthCheckFailed").await;

    let live = LiveClient::new(env.client.clone());
    let local = flotilla::views::LocalData {
        context: CONTEXT.to_string(),
        data_dir: Some(env.data_dir().to_path_buf()),
    };
    let tree = kustomization_health_tree(&live, "default", "apps", &local)
        .await
        .expect("tree");
    // The source node names the commit, read with gix from the repository.
    assert!(
        tree.root.detail.contains("\"broken web\" by "),
        "{}",
        tree.root.detail
    );
    let rc = tree.root_cause.clone().expect("root cause");
    assert_eq!(rc.object.display(), "Deployment/apps/web");
    assert_eq!(rc.status, "Failed");
    assert!(
        rc.message.contains("has timed out progressing"),
        "{}",
        rc.message
    );
    let focus = tree.focus_path.clone().expect("focus");
    assert_eq!(tree.node_at(&focus).unwrap().object.name, "web");

    let (code, out, err) = env.flotilla(&["tree", "ks", "apps", "-n", "default"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Root cause: Deployment/apps/web Failed: "),
        "{out}"
    );
    assert!(
        out.contains("└── Kustomization/default/apps Failing"),
        "{out}"
    );
    assert!(out.contains("Deployment/apps/api Current"), "{out}");
    assert!(out.contains("\"broken web\" by "), "{out}");
    let (code, out, _) = env
        .flotilla(&["tree", "ks", "apps", "-n", "default", "-o", "json"])
        .await;
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["rootCause"]["object"]["name"], "web");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_trace_and_depends_on_against_a_reconciled_cluster() {
    diff_trace_and_depends_on_against_a_reconciled_cluster_on(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_diff_trace_and_depends_on_against_a_reconciled_cluster() {
    crate::require_real_kube!();
    diff_trace_and_depends_on_against_a_reconciled_cluster_on(true).await
}

async fn diff_trace_and_depends_on_against_a_reconciled_cluster_on(real: bool) {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("app/web.yaml", &deployment("web", "registry.local/web:v1"));
    repo.write(
        "app/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: hunter2\n  user: admin\n",
    );
    repo.write(
        "app/old.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\ndata:\n  a: b\n",
    );
    repo.commit("app");
    let mut env = Env::start_on(real, &repo).await;
    let c = env.client.clone();
    create(&ks_api(&c), kustomization("apps", "./app", json!({}))).await;
    create(&ks_api(&c), kustomization("infra", "./missing", json!({}))).await;
    create(
        &ks_api(&c),
        kustomization("mid", "./app", json!({"dependsOn": [{"name": "infra"}]})),
    )
    .await;
    create(
        &ks_api(&c),
        kustomization("top", "./app", json!({"dependsOn": [{"name": "mid"}]})),
    )
    .await;
    env.wait_ready("apps", "True", "ReconciliationSucceeded")
        .await;
    env.wait_ready("infra", "False", "ArtifactFailed").await;
    env.wait_ready("mid", "False", "DependencyNotReady").await;
    env.wait_ready("top", "False", "DependencyNotReady").await;
    let data = env.data_dir().to_str().unwrap().to_string();

    // In sync: the artifact the controller applied equals the cluster.
    let (code, out, err) = env
        .flotilla(&["diff", "ks", "apps", "-n", "default", "--data-dir", &data])
        .await;
    assert_eq!(code, 0, "in sync: {out}{err}");
    assert!(
        out.ends_with("0 created, 0 changed, 0 deleted by prune, 3 unchanged\n"),
        "{out}"
    );

    // A local change: replicas, the Secret's password, a new object, a removed one.
    repo.write(
        "app/web.yaml",
        &deployment("web", "registry.local/web:v1").replace("replicas: 1", "replicas: 3"),
    );
    repo.write(
        "app/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: swordfish\n  user: admin\n",
    );
    repo.write(
        "app/new.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new\ndata:\n  x: y\n",
    );
    repo.remove("app/old.yaml");
    let local = repo.work.join("app");
    let (code, out, err) = env
        .flotilla(&[
            "diff",
            "ks",
            "apps",
            "-n",
            "default",
            "--path",
            local.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, 1, "changes: {out}{err}");
    assert!(out.contains("► Deployment/apps/web drifted\n"), "{out}");
    assert!(out.contains("-  replicas: 1\n+  replicas: 3\n"), "{out}");
    assert!(out.contains("► Secret/apps/creds drifted\n"), "{out}");
    assert!(
        out.contains("*** (before)") && out.contains("*** (after)"),
        "{out}"
    );
    for secret in [
        "hunter2",
        "swordfish",
        "aHVudGVyMg==",
        "c3dvcmRmaXNo",
        "YWRtaW4=",
    ] {
        assert!(!out.contains(secret), "{secret} leaked: {out}");
    }
    assert!(out.contains("► ConfigMap/apps/new created\n"), "{out}");
    assert!(out.contains("► ConfigMap/apps/old deleted\n"), "{out}");
    assert!(
        out.ends_with("1 created, 2 changed, 1 deleted by prune, 0 unchanged\n"),
        "{out}"
    );

    // Trace of a plain Deployment.
    let (code, out, err) = env
        .flotilla(&["trace", "deployment", "web", "-n", "apps"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Object:         Deployment/web\nNamespace:      apps\nStatus:         Managed by Flux\n---\nKustomization:  apps\n"), "{out}");
    assert!(out.contains("Path:           ./app\n"), "{out}");
    assert!(out.contains("---\nGitRepository:  repo\n"), "{out}");
    let (code, _, err) = env
        .flotilla(&["trace", "deployment", "nope", "-n", "apps"])
        .await;
    assert_eq!(code, 2);
    assert!(err.contains("not found"), "{err}");

    // dependsOn chain of three: top → mid → infra (the blocker).
    let live = LiveClient::new(c.clone());
    let all = live
        .list("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "")
        .await
        .unwrap();
    let top = all.iter().find(|o| o["metadata"]["name"] == "top").unwrap();
    let view = depends_on_view(top, &all);
    let blocker = view.blocked_by.expect("blocked");
    assert_eq!(blocker.object.name, "infra");
    assert_eq!(blocker.reason, "ArtifactFailed");
    let (code, out, err) = env
        .flotilla(&["tree", "deps", "top", "-n", "default"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("blocked by default/infra (ArtifactFailed)"),
        "{out}"
    );
    assert!(
        out.contains("    default/mid NotReady (DependencyNotReady)"),
        "{out}"
    );
    let (_, out, _) = env
        .flotilla(&["tree", "deps", "infra", "-n", "default"])
        .await;
    assert!(out.contains("required by:\n    default/mid"), "{out}");
    env.stop().await;
}
