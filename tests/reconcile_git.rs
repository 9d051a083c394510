//! The GitRepository reconciler through the runtime, against the embedded API server (in-process)
//! and real git repositories: artifact and conditions as Flux writes them, requestedAt, suspend,
//! fetch failures keeping the last artifact, the finalizer, and a fetch over `git daemon`.

use crate::common;

use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, in_process, quiet_options, wait_until};
use flotilla::reconcile::controller::{Controller, ControllerOptions};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use std::time::Duration;

fn gitrepo_api(client: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    );
    Api::namespaced_with(client.clone(), "default", &ar)
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
        .expect("get")
        .map(|o| serde_json::to_value(o).expect("json"))
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn gitrepository(name: &str, url: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"url": url, "interval": "10m", "ref": {"branch": "main"}}
    })
}

/// Waits until the object's Ready condition satisfies `pred`; returns the object.
async fn wait_ready(api: &Api<DynamicObject>, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_until(
        &format!("GitRepository {name} condition"),
        PATIENCE,
        || async {
            let o = get(api, name).await?;
            let ready = condition(&o, "Ready")?;
            pred(ready).then_some(o)
        },
    )
    .await
}

fn start(client: &kube::Client, data: &std::path::Path) -> Controller {
    let opts = ControllerOptions {
        data_dir: data.to_path_buf(),
        health_poll: Duration::from_millis(200),
        ..ControllerOptions::default()
    };
    Controller::start(vec![("test".to_string(), client.clone())], &opts)
}

#[tokio::test]
async fn stores_an_artifact_and_reports_it_like_flux() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "deploy/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n",
    );
    repo.write("logo.png", "not really a png");
    let commit = repo.commit("first commit");
    let (_cluster, client) = in_process(quiet_options());
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let api = gitrepo_api(&client);
    create(&api, gitrepository("podinfo", &repo.url())).await;

    let obj = wait_ready(&api, "podinfo", |c| c["status"] == "True").await;
    let rev = format!("main@sha1:{commit}");
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "Succeeded");
    assert_eq!(
        ready["message"],
        format!("stored artifact for revision '{rev}'")
    );
    let stored = condition(&obj, "ArtifactInStorage").unwrap();
    assert_eq!(stored["status"], "True");
    assert!(
        condition(&obj, "Reconciling").is_none(),
        "Reconciling is removed on success"
    );
    let a = &obj["status"]["artifact"];
    assert_eq!(a["revision"], rev);
    assert_eq!(
        a["path"],
        format!("gitrepository/default/podinfo/{commit}.tar.gz")
    );
    assert_eq!(
        a["url"],
        format!(
            "http://source-controller.flotilla.local/gitrepository/default/podinfo/{commit}.tar.gz"
        )
    );
    assert!(a["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(a["size"].as_u64().unwrap() > 0);
    assert_eq!(obj["status"]["observedGeneration"], 1);
    assert_eq!(
        obj["metadata"]["finalizers"],
        json!(["finalizers.fluxcd.io"])
    );
    let file = data
        .path()
        .join("test/artifacts")
        .join(a["path"].as_str().unwrap());
    assert!(file.is_file(), "artifact file {} exists", file.display());

    // The NewArtifact event names the commit subject.
    let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), "default");
    let list = events.list(&Default::default()).await.unwrap().items;
    let new_artifact = list
        .iter()
        .find(|e| e.reason.as_deref() == Some("NewArtifact"))
        .expect("NewArtifact event");
    assert_eq!(
        new_artifact.message.as_deref(),
        Some("stored artifact for commit 'first commit'")
    );
    assert_eq!(
        new_artifact
            .source
            .as_ref()
            .and_then(|s| s.component.as_deref()),
        Some("source-controller")
    );

    // A new commit is picked up on request (requestedAt), and the handled token is recorded.
    repo.write(
        "deploy/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app2\n",
    );
    let second = repo.commit("second commit");
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "2026-11-27T10:00:00Z"}}});
    api.patch("podinfo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let obj = wait_ready(&api, "podinfo", |c| {
        c["message"].as_str().is_some_and(|m| m.contains(&second))
    })
    .await;
    assert_eq!(
        obj["status"]["artifact"]["revision"],
        format!("main@sha1:{second}")
    );
    assert_eq!(
        obj["status"]["lastHandledReconcileAt"],
        "2026-11-27T10:00:00Z"
    );

    // Deleting it runs the finalizer: the object goes away and so do its artifacts.
    api.delete("podinfo", &Default::default()).await.unwrap();
    wait_until("GitRepository deleted", PATIENCE, || async {
        get(&api, "podinfo").await.is_none().then_some(())
    })
    .await;
    let dir = data
        .path()
        .join("test/artifacts/gitrepository/default/podinfo");
    wait_until("artifacts removed", PATIENCE, || async {
        (!dir.exists()).then_some(())
    })
    .await;
    controller.shutdown().await;
}

#[tokio::test]
async fn fetch_failures_are_reported_and_the_last_artifact_stays() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("a.yaml", "a: 1\n");
    let commit = repo.commit("one");
    let (_cluster, client) = in_process(quiet_options());
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let api = gitrepo_api(&client);

    // A repository that does not exist: Ready=False GitOperationFailed, FetchFailed=True,
    // Reconciling kept as ProgressingWithRetry.
    create(
        &api,
        gitrepository("missing", "file:///nonexistent/flotilla/repo.git"),
    )
    .await;
    let obj = wait_ready(&api, "missing", |c| c["status"] == "False").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "GitOperationFailed");
    assert_eq!(condition(&obj, "FetchFailed").unwrap()["status"], "True");
    assert_eq!(
        condition(&obj, "Reconciling").unwrap()["reason"],
        "ProgressingWithRetry"
    );
    assert!(obj["status"].get("artifact").is_none());

    // A good one, then its remote disappears: the failure is reported, the artifact stays.
    create(&api, gitrepository("good", &repo.url())).await;
    wait_ready(&api, "good", |c| c["status"] == "True").await;
    std::fs::rename(&repo.bare, repo.bare.with_extension("moved")).unwrap();
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "again"}}});
    api.patch("good", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let obj = wait_ready(&api, "good", |c| c["status"] == "False").await;
    assert_eq!(
        obj["status"]["artifact"]["revision"],
        format!("main@sha1:{commit}")
    );
    assert_eq!(
        condition(&obj, "ArtifactInStorage").unwrap()["status"],
        "True"
    );

    // An invalid URL stalls (terminal): Stalled=True URLInvalid, no Reconciling.
    create(&api, gitrepository("bad-url", "ftp://example.com/repo.git")).await;
    let obj = wait_ready(&api, "bad-url", |c| c["status"] == "False").await;
    assert_eq!(condition(&obj, "Stalled").unwrap()["reason"], "URLInvalid");
    assert!(condition(&obj, "Reconciling").is_none());
    controller.shutdown().await;
}

#[tokio::test]
async fn suspended_repositories_are_left_alone() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("a.yaml", "a: 1\n");
    let first = repo.commit("one");
    let (_cluster, client) = in_process(quiet_options());
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let api = gitrepo_api(&client);
    create(&api, gitrepository("r", &repo.url())).await;
    wait_ready(&api, "r", |c| c["status"] == "True").await;

    let patch = json!({"spec": {"suspend": true}});
    api.patch("r", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    repo.write("a.yaml", "a: 2\n");
    repo.commit("two");
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "t1"}}});
    api.patch("r", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    // Give the runtime time to (not) act, then check nothing moved.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let obj = get(&api, "r").await.unwrap();
    assert_eq!(
        obj["status"]["artifact"]["revision"],
        format!("main@sha1:{first}")
    );
    assert!(obj["status"].get("lastHandledReconcileAt").is_none());
    controller.shutdown().await;
}

#[tokio::test]
async fn fetches_over_git_daemon() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("kustomization.yaml", "resources: []\n");
    let commit = repo.commit("network");
    let Some((_daemon, url)) = repo.serve() else {
        return;
    };
    let (_cluster, client) = in_process(quiet_options());
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let api = gitrepo_api(&client);
    create(&api, gitrepository("net", &url)).await;
    let obj = wait_ready(&api, "net", |c| c["status"] == "True").await;
    assert_eq!(
        obj["status"]["artifact"]["revision"],
        format!("main@sha1:{commit}")
    );
    controller.shutdown().await;
}

#[tokio::test]
async fn new_commits_are_fetched_at_the_interval() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("a.yaml", "a: 1\n");
    repo.commit("one");
    let (_cluster, client) = in_process(quiet_options());
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let api = gitrepo_api(&client);
    let mut obj = gitrepository("polled", &repo.url());
    obj["spec"]["interval"] = json!("1s");
    create(&api, obj).await;
    wait_ready(&api, "polled", |c| c["status"] == "True").await;
    repo.write("a.yaml", "a: 2\n");
    let second = repo.commit("two");
    let obj = wait_ready(&api, "polled", |c| {
        c["message"].as_str().is_some_and(|m| m.contains(&second))
    })
    .await;
    assert_eq!(
        obj["status"]["artifact"]["revision"],
        format!("main@sha1:{second}")
    );
    assert!(controller.stats().runs() >= 2, "ran at least twice");
    controller.shutdown().await;
}
