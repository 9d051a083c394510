//! Flux's watch of ImagePolicies by the image-automation-controller: an ImageUpdateAutomation whose
//! interval is 10 minutes commits a new tag as soon as a policy its `policySelector` selects changes
//! `status.latestRef` (a real docker-registry and a real bare git remote, as in image_e2e.rs).

use crate::image_support;

use std::path::Path;
use std::time::{Duration, Instant};

use flotilla::apiserver::{Cluster, ClusterOptions};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use image_support::{git, have_git, start_registry};
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

/// Far below the automation's 10 minute interval.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selected_policy_change_runs_the_automation_before_its_interval() {
    if !have_git() {
        return;
    }
    let Some(registry) = start_registry(None).await else {
        return;
    };
    registry.push_image("team/web", "1.0.0").await;
    let image = format!("{}/team/web", registry.addr);

    let root = tempfile::tempdir().expect("tempdir");
    let bare = root.path().join("remote.git");
    let work = root.path().join("work");
    std::fs::create_dir_all(&bare).expect("mkdir");
    std::fs::create_dir_all(work.join("deploy")).expect("mkdir");
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    git(&work, &["init", "-q", "-b", "main"]);
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: {image}:0.9.0 # {{\"$imagepolicy\": \"default:web\"}}\n"
    );
    std::fs::write(work.join("deploy/web.yaml"), &manifest).expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "initial"]);
    git(&work, &["push", "-q", bare.to_str().expect("utf8"), "main"]);

    let cluster = Cluster::new(ClusterOptions::default()).expect("cluster");
    let client = Client::new(cluster.router(), "default");
    let data = tempfile::tempdir().expect("tempdir");
    let controller = Controller::start(
        vec![("triggers".into(), client.clone())],
        &ControllerOptions {
            data_dir: data.path().to_path_buf(),
            allow_file_urls: true,
            ..ControllerOptions::default()
        },
    );
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
               "metadata": {"name": "web", "namespace": "default", "labels": {"team": "web"}},
               "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}}}),
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
               "spec": {"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                        "policySelector": {"matchLabels": {"team": "web"}},
                        "git": {"checkout": {"ref": {"branch": "main"}},
                                "commit": {"author": {"name": "Flux", "email": "flux@example.com"}},
                                "push": {"branch": "main"}},
                        "update": {"path": "./deploy", "strategy": "Setters"}}}),
    )
    .await;

    // Whichever ran first, the policy's first latestRef ends in a 1.0.0 commit.
    eventually("the 1.0.0 commit", || async {
        show(&bare, "main:deploy/web.yaml")
            .contains(":1.0.0 # {")
            .then_some(())
    })
    .await;
    let first = git(&bare, &["rev-parse", "main"]);

    // A new tag and a rescan: the policy moves to 1.1.0 and the automation runs at once, not in
    // ten minutes.
    registry.push_image("team/web", "1.1.0").await;
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "rescan"}}});
    repos
        .patch("app", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
    eventually("the 1.1.0 commit", || async {
        show(&bare, "main:deploy/web.yaml")
            .contains(":1.1.0 # {")
            .then_some(())
    })
    .await;
    assert_eq!(
        git(&bare, &["rev-parse", "main^"]),
        first,
        "one more commit"
    );
    controller.shutdown().await;
}
