//! The image reconcilers through the runtime on the embedded API server: a real registry and a
//! bare git remote. Push 1.0.0/1.0.1/2.0.0 → the policy `>=1.0.0 <2.0.0` picks 1.0.1 → the
//! automation commits it; push 1.1.0 and request a rescan → the next commit.

use crate::image_support;

use std::time::{Duration, Instant};

use flotilla::apiserver::{Cluster, ClusterOptions};
use flotilla::controllers::image::reconcilers::image_reconcilers;
use flotilla::runtime::{Runtime, RuntimeOptions};
use image_support::{git, have_git, start_registry};
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

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn registry_to_policy_to_commit_through_the_runtime() {
    if !have_git() {
        return;
    }
    let Some(registry) = start_registry(None).await else {
        return;
    };
    for tag in ["1.0.0", "1.0.1", "2.0.0"] {
        registry.push_image("team/app", tag).await;
    }
    let image = format!("{}/team/app", registry.addr);
    let root = tempfile::tempdir().expect("tempdir");
    let bare = root.path().join("remote.git");
    let work = root.path().join("work");
    std::fs::create_dir_all(&bare).expect("mkdir");
    std::fs::create_dir_all(work.join("deploy")).expect("mkdir");
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    git(&work, &["init", "-q", "-b", "main"]);
    let manifest = format!(
        "kind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {image}:1.0.0 # {{\"$imagepolicy\": \"default:app\"}}\n"
    );
    std::fs::write(work.join("deploy/web.yaml"), &manifest).expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "initial"]);
    git(&work, &["push", "-q", bare.to_str().expect("utf8"), "main"]);

    let cluster = Cluster::new(ClusterOptions {
        simulate: false,
        ..ClusterOptions::default()
    })
    .expect("cluster");
    let client = Client::new(cluster.router(), "default");
    let data = tempfile::tempdir().expect("tempdir");
    let mut runtime = Runtime::new(client.clone(), RuntimeOptions::default());
    for r in image_reconcilers(&client, data.path(), true) {
        runtime = runtime.register(r);
    }
    let handle = runtime.start();

    create(
        &api(&client, "source.toolkit.fluxcd.io", "GitRepository", "gitrepositories"),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": "fleet", "namespace": "default"},
               "spec": {"url": format!("file://{}", bare.display()), "interval": "10m", "ref": {"branch": "main"}}}),
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
               "spec": {"image": image, "interval": "10m"}}),
    )
    .await;
    create(
        &api(&client, "image.toolkit.fluxcd.io", "ImagePolicy", "imagepolicies"),
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
               "metadata": {"name": "app", "namespace": "default"},
               "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0 <2.0.0"}}}}),
    )
    .await;
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
                                "commit": {"author": {"name": "Flux", "email": "flux@example.com"}},
                                "push": {"branch": "main"}},
                        "update": {"path": "./deploy"}}}),
    )
    .await;

    let shown = || {
        std::process::Command::new("git")
            .args([
                "--git-dir",
                bare.to_str().unwrap_or(""),
                "show",
                "main:deploy/web.yaml",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    wait_for("the 1.0.1 commit", || shown().contains(":1.0.1 # {")).await;
    assert_eq!(shown(), manifest.replace(":1.0.0 #", ":1.0.1 #"));
    let first = git(&bare, &["rev-parse", "main"]);
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "main"]).trim(),
        "Update from image update automation"
    );

    // 1.1.0 appears; a rescan is requested; the policy follows and the automation commits.
    registry.push_image("team/app", "1.1.0").await;
    repos
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "1"}}}),
            ),
        )
        .await
        .expect("annotate");
    wait_for("the 1.1.0 commit", || shown().contains(":1.1.0 # {")).await;
    assert_eq!(
        git(&bare, &["rev-parse", "main^"]),
        first,
        "exactly one more commit"
    );
    handle.shutdown().await;
}
