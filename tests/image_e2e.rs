//! Issue acceptance, end to end: a real docker-registry, a real bare git remote, the embedded API
//! server with the workload simulator, and flotilla's whole controller (sources, Kustomizations,
//! image automation). Push 1.0.0 and 1.0.1 → the policy `>=1.0.0 <2.0.0` picks 1.0.1 → the
//! automation commits exactly the marker line with the rendered message and pushes → the
//! Kustomization applies it → the Deployment runs 1.0.1. Push 2.0.0 → nothing changes. Push 1.1.0 →
//! the next commit and rollout. Runs against the embedded server and a real kube-apiserver.

use crate::image_support;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::TestCluster;
use flotilla::apiserver::ClusterOptions;
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use image_support::{git, have_git, start_registry};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(60);

fn api(client: &Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(client.clone(), "default", &ar)
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).expect("object");
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
}

async fn status_of(api: &Api<DynamicObject>, name: &str) -> Value {
    api.get(name)
        .await
        .map(|o| o.data.get("status").cloned().unwrap_or(Value::Null))
        .unwrap_or(Value::Null)
}

/// Polls `probe` until it returns Some.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn show(bare: &Path, what: &str) -> String {
    std::process::Command::new("git")
        .args(["--git-dir", bare.to_str().unwrap_or(""), "show", what])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

async fn running_image(deploys: &Api<Deployment>) -> Option<(String, bool)> {
    let d = deploys.get_opt("web").await.ok()??;
    let image = d.spec?.template.spec?.containers.first()?.image.clone()?;
    let available = d
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Available" && c.status == "True");
    Some((image, available))
}

async fn rescan(repos: &Api<DynamicObject>, token: &str) {
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    repos
        .patch("app", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_policy_commit_apply_rollout() {
    registry_policy_commit_apply_rollout_on(false).await
}

/// The same against a real kube-apiserver (the workload simulator running as its client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_policy_commit_apply_rollout() {
    crate::require_real_kube!();
    registry_policy_commit_apply_rollout_on(true).await
}

async fn registry_policy_commit_apply_rollout_on(real: bool) {
    if !have_git() {
        return;
    }
    let Some(registry) = start_registry(None).await else {
        return;
    };
    for tag in ["1.0.0", "1.0.1"] {
        registry.push_image("team/web", tag).await;
    }
    let image = format!("{}/team/web", registry.addr);

    // The GitOps repository: one Deployment whose image line carries the setter marker.
    let root = tempfile::tempdir().expect("tempdir");
    let bare = root.path().join("remote.git");
    let work = root.path().join("work");
    std::fs::create_dir_all(&bare).expect("mkdir");
    std::fs::create_dir_all(work.join("deploy")).expect("mkdir");
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    git(&work, &["init", "-q", "-b", "main"]);
    let manifest = format!(
        "# the web app\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n          image: {image}:1.0.0 # {{\"$imagepolicy\": \"default:web\"}}\n          ports:\n            - containerPort: 8080   # http\n"
    );
    std::fs::write(work.join("deploy/web.yaml"), &manifest).expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "initial"]);
    git(&work, &["push", "-q", bare.to_str().expect("utf8"), "main"]);

    let opts = ClusterOptions {
        rollout_delay: Duration::from_millis(300),
        ..ClusterOptions::default()
    };
    let cluster = if real {
        TestCluster::real(opts).await
    } else {
        TestCluster::embedded(opts).await
    };
    let client = cluster.client().await;
    let data = tempfile::tempdir().expect("tempdir");
    let controller = Controller::start(
        vec![("e2e".into(), client.clone())],
        &ControllerOptions {
            data_dir: data.path().to_path_buf(),
            health_poll: Duration::from_millis(200),
            allow_file_urls: true,
            ..ControllerOptions::default()
        },
    );

    create(
        &api(&client, "source.toolkit.fluxcd.io", "GitRepository", "gitrepositories"),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": "fleet", "namespace": "default"},
               "spec": {"url": format!("file://{}", bare.display()), "interval": "1s", "ref": {"branch": "main"}}}),
    )
    .await;
    let kss = api(
        &client,
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    );
    create(
        &kss,
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"name": "web", "namespace": "default"},
               "spec": {"interval": "10m", "path": "./deploy", "prune": true, "targetNamespace": "default", "wait": true, "timeout": "30s",
                        "sourceRef": {"kind": "GitRepository", "name": "fleet"}}}),
    )
    .await;
    let repos = api(
        &client,
        "image.toolkit.fluxcd.io",
        "ImageRepository",
        "imagerepositories",
    );
    create(
        &repos,
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
               "metadata": {"name": "app", "namespace": "default"},
               "spec": {"image": image, "interval": "10m", "insecure": true}}),
    )
    .await;
    let policies = api(
        &client,
        "image.toolkit.fluxcd.io",
        "ImagePolicy",
        "imagepolicies",
    );
    create(
        &policies,
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
               "metadata": {"name": "web", "namespace": "default"},
               "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0 <2.0.0"}}}}),
    )
    .await;
    let template = "Automated image update by {{ .AutomationObject }}\n\n{{ range .Changed.Changes -}}\n- {{ .OldValue }} -> {{ .NewValue }}\n{{ end -}}";
    create(
        &api(
            &client,
            "image.toolkit.fluxcd.io",
            "ImageUpdateAutomation",
            "imageupdateautomations",
        ),
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
               "metadata": {"name": "auto", "namespace": "default"},
               "spec": {"interval": "1s", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                        "git": {"checkout": {"ref": {"branch": "main"}},
                                "commit": {"author": {"name": "Flux", "email": "flux@example.com"},
                                           "messageTemplate": template},
                                "push": {"branch": "main"}},
                        "update": {"path": "./deploy", "strategy": "Setters"}}}),
    )
    .await;

    // The policy picks 1.0.1; the automation commits exactly the marker line.
    eventually("the 1.0.1 commit", || async {
        show(&bare, "main:deploy/web.yaml")
            .contains(":1.0.1 # {")
            .then_some(())
    })
    .await;
    assert_eq!(
        show(&bare, "main:deploy/web.yaml"),
        manifest.replace(":1.0.0 #", ":1.0.1 #")
    );
    let message = git(&bare, &["log", "-1", "--format=%B", "main"]);
    assert_eq!(
        message.trim_end(),
        format!("Automated image update by default/auto\n\n- {image}:1.0.0 -> {image}:1.0.1")
    );
    let author = git(&bare, &["log", "-1", "--format=%an <%ae>", "main"]);
    assert_eq!(author.trim(), "Flux <flux@example.com>");
    let first = git(&bare, &["rev-parse", "main"]);

    // The Kustomization applies the automation's commit and the Deployment rolls out 1.0.1.
    let deploys = Api::<Deployment>::namespaced(client.clone(), "default");
    eventually("the Deployment running 1.0.1", || async {
        running_image(&deploys)
            .await
            .filter(|(i, ok)| *ok && i.ends_with(":1.0.1"))
            .map(|_| ())
    })
    .await;
    eventually("the Kustomization at the automation's commit", || async {
        let s = status_of(&kss, "web").await;
        (s["lastAppliedRevision"] == format!("main@sha1:{}", first.trim())).then_some(())
    })
    .await;

    // 2.0.0 is out of range: after a rescan that sees it, nothing changes.
    registry.push_image("team/web", "2.0.0").await;
    rescan(&repos, "2").await;
    eventually("a scan that sees 3 tags", || async {
        (status_of(&repos, "app").await["lastScanResult"]["tagCount"] == 3).then_some(())
    })
    .await;
    // Let the policy and the automation (interval 1s) run again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        status_of(&policies, "web").await["latestRef"]["tag"],
        "1.0.1"
    );
    assert_eq!(
        git(&bare, &["rev-parse", "main"]),
        first,
        "no commit for 2.0.0"
    );

    // 1.1.0 is in range: the next commit, and the rollout follows.
    registry.push_image("team/web", "1.1.0").await;
    rescan(&repos, "3").await;
    eventually("the 1.1.0 commit", || async {
        show(&bare, "main:deploy/web.yaml")
            .contains(":1.1.0 # {")
            .then_some(())
    })
    .await;
    assert_eq!(
        git(&bare, &["rev-parse", "main^"]),
        first,
        "exactly one more commit"
    );
    eventually("the Deployment running 1.1.0", || async {
        running_image(&deploys)
            .await
            .filter(|(i, ok)| *ok && i.ends_with(":1.1.0"))
            .map(|_| ())
    })
    .await;
    controller.shutdown().await;
}
