//! The GitRepository reconciler through the runtime, against the embedded API server (in-process)
//! and real git repositories: artifact and conditions as Flux writes them, requestedAt, suspend,
//! fetch failures keeping the last artifact, the finalizer, and a fetch over `git daemon`. The checks
//! that need no embedded-only hook also run against a real kube-apiserver (`both_servers!`).

use crate::common;

use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, TestCluster, in_process, quiet_options, wait_until};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
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
        allow_file_urls: true,
        ..ControllerOptions::default()
    };
    Controller::start(vec![("test".to_string(), client.clone())], &opts)
}

async fn stores_an_artifact_and_reports_it_like_flux(tc: TestCluster) {
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
    let client = tc.client().await;
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
    let new_artifact = common::wait_event(&client, "default", "NewArtifact event", |e| {
        e.reason.as_deref() == Some("NewArtifact")
    })
    .await;
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

// Embedded only: the real server's CRD schema refuses the `ftp://` URL at admission (spec.url
// pattern), so the reconciler never sees it there; the embedded server validates no CRD schema yet.
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

async fn suspended_repositories_are_left_alone(tc: TestCluster) {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("a.yaml", "a: 1\n");
    let first = repo.commit("one");
    let client = tc.client().await;
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

async fn new_commits_are_fetched_at_the_interval(tc: TestCluster) {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("a.yaml", "a: 1\n");
    repo.commit("one");
    let client = tc.client().await;
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
    // The run counter is bumped after the status write the wait above saw: poll it.
    wait_until("ran at least twice", PATIENCE, || async {
        (controller.stats().runs() >= 2).then_some(())
    })
    .await;
    controller.shutdown().await;
}

/// The same repository through the in-process file:// path and through `git daemon` gives the
/// same revision and byte-identical artifacts (digest and size).
#[tokio::test]
async fn file_and_network_fetches_store_identical_artifacts() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("deploy/app.yaml", "kind: ConfigMap\n");
    repo.write("bin/run.sh", "#!/bin/sh\necho hi\n");
    {
        use std::os::unix::fs::PermissionsExt;
        let script = repo.work.join("bin/run.sh");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let commit = repo.commit("identical");
    let Some((_daemon, url)) = repo.serve() else {
        return;
    };
    let (_cluster, client) = in_process(quiet_options());
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let api = gitrepo_api(&client);
    create(&api, gitrepository("local", &repo.url())).await;
    create(&api, gitrepository("network", &url)).await;
    let local = wait_ready(&api, "local", |c| c["status"] == "True").await;
    let network = wait_ready(&api, "network", |c| c["status"] == "True").await;
    let (a, b) = (&local["status"]["artifact"], &network["status"]["artifact"]);
    assert_eq!(a["revision"], format!("main@sha1:{commit}"));
    assert_eq!(a["revision"], b["revision"]);
    assert_eq!(a["digest"], b["digest"]);
    assert_eq!(a["size"], b["size"]);
    controller.shutdown().await;
}

/// Issue 8: `flotilla controller` (the real binary) with `PATH` set to an empty directory, so no
/// `git` can run, reconciles file:// GitRepositories by branch, annotated tag, semver and commit,
/// picks up a new commit, and reports a missing branch as Flux does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_without_git_on_path_fetches_file_remotes() {
    use common::TcpServer;
    use common::gitrepo::git;
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("a.yaml", "a: 1\n");
    let first = repo.commit("one");
    git(&repo.work, &["tag", "1.0.0"]);
    repo.write("a.yaml", "a: 2\n");
    let second = repo.commit("two");
    git(&repo.work, &["tag", "-a", "v1.1.0", "-m", "annotated"]);
    git(&repo.work, &["tag", "2.0.0"]);
    git(&repo.work, &["push", "-q", "origin", "--tags"]);

    let server = TcpServer::start(quiet_options()).await;
    let client = server.client().await;
    let api = gitrepo_api(&client);
    let dir = tempfile::tempdir().unwrap();
    let empty_path = dir.path().join("empty-bin");
    std::fs::create_dir(&empty_path).unwrap();
    let _controller = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .arg("controller")
        .arg("--allow-file-urls")
        .arg("--kubeconfig")
        .arg(&server.kubeconfig)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--log-file")
        .arg(dir.path().join("controller.log"))
        .env_clear()
        .env("PATH", &empty_path)
        .env("HOME", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("controller runs");

    let with_ref = |name: &str, reference: Value| {
        let mut obj = gitrepository(name, &repo.url());
        obj["spec"]["ref"] = reference;
        obj["spec"]["interval"] = json!("1s");
        obj
    };
    create(&api, with_ref("branch", json!({"branch": "main"}))).await;
    create(&api, with_ref("tag", json!({"tag": "v1.1.0"}))).await;
    create(
        &api,
        with_ref("semver", json!({"semver": ">=1.0.0 <2.0.0"})),
    )
    .await;
    create(&api, with_ref("commit", json!({"commit": first}))).await;
    create(&api, with_ref("missing", json!({"branch": "nope"}))).await;

    for (name, revision) in [
        ("branch", format!("main@sha1:{second}")),
        ("tag", format!("v1.1.0@sha1:{second}")),
        // The annotated tag is the highest match below 2.0.0, peeled to its commit.
        ("semver", format!("v1.1.0@sha1:{second}")),
        ("commit", format!("sha1:{first}")),
    ] {
        let obj = wait_ready(&api, name, |c| c["status"] == "True").await;
        assert_eq!(obj["status"]["artifact"]["revision"], revision, "{name}");
        assert_eq!(
            condition(&obj, "Ready").unwrap()["message"],
            format!("stored artifact for revision '{revision}'"),
            "{name}"
        );
    }
    let obj = wait_ready(&api, "missing", |c| c["status"] == "False").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "GitOperationFailed");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains("nope") && message.contains(&repo.url()),
        "{message}"
    );
    assert_eq!(condition(&obj, "FetchFailed").unwrap()["status"], "True");

    // A new commit on the remote is picked up at the interval.
    repo.write("a.yaml", "a: 3\n");
    let third = repo.commit("three");
    let obj = wait_ready(&api, "branch", |c| {
        c["message"].as_str().is_some_and(|m| m.contains(&third))
    })
    .await;
    assert_eq!(
        obj["status"]["artifact"]["revision"],
        format!("main@sha1:{third}")
    );
}

// The GitRepository checks against the embedded server and a real kube-apiserver.
both_servers!(quiet_options;
    stores_an_artifact_and_reports_it_like_flux,
    suspended_repositories_are_left_alone,
    new_commits_are_fetched_at_the_interval,
);
