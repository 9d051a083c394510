//! HelmRepository and HelmChart through the bundled controller, against the embedded API server
//! (and a real kube-apiserver where `both_servers!` says so) and a chart repository served over
//! real HTTP on loopback by the test: index revision and artifact, version ranges, a new version
//! picked up through the repository's new index, digest mismatch, an unreachable repository
//! keeping the last artifact, basic auth, and a chart packaged from a GitRepository path.
//!
//! The charts are built by the test itself (tar + gzip of a few files written here), so no Helm
//! CLI is needed.

use crate::common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, TestCluster, quiet_options, wait_until};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct RepoState {
    files: HashMap<String, Vec<u8>>,
    basic: Option<(String, String)>,
}

/// A chart repository on loopback.
struct ChartServer {
    url: String,
    state: Arc<Mutex<RepoState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChartServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    State(state): State<Arc<Mutex<RepoState>>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let st = state.lock().unwrap();
    if let Some((u, p)) = &st.basic {
        let want = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{u}:{p}")
            )
        );
        let got = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if got != want {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    match st.files.get(uri.path().trim_start_matches('/')) {
        Some(b) => b.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl ChartServer {
    async fn start() -> ChartServer {
        let state = Arc::new(Mutex::new(RepoState::default()));
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ChartServer {
            url: format!("http://{addr}/charts"),
            state,
            task,
        }
    }

    fn put(&self, path: &str, bytes: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_string(), bytes);
    }

    /// Publishes `demo` at these versions (archive under `charts/`) and the index listing them.
    /// `bad_digest` gives one version a wrong index digest.
    fn publish(&self, versions: &[&str], bad_digest: Option<&str>) -> BTreeMap<String, Vec<u8>> {
        let mut archives = BTreeMap::new();
        let mut entries = String::new();
        for v in versions {
            let tgz = chart_tgz("demo", v, &format!("greeting: hello-{v}\n"));
            let digest = if bad_digest == Some(*v) {
                "0".repeat(64)
            } else {
                format!("{:x}", Sha256::digest(&tgz))
            };
            entries.push_str(&format!(
                "  - apiVersion: v2\n    name: demo\n    version: {v}\n    digest: {digest}\n    created: \"2026-01-01T00:00:00Z\"\n    urls:\n    - demo-{v}.tgz\n"
            ));
            self.put(&format!("charts/demo-{v}.tgz"), tgz.clone());
            archives.insert(v.to_string(), tgz);
        }
        let index = format!(
            "apiVersion: v1\nentries:\n  demo:\n{entries}generated: \"2026-01-01T00:00:00Z\"\n"
        );
        self.put("charts/index.yaml", index.into_bytes());
        archives
    }

    fn index_digest(&self) -> String {
        let st = self.state.lock().unwrap();
        format!("{:x}", Sha256::digest(&st.files["charts/index.yaml"]))
    }
}

/// A chart archive `<name>/{Chart.yaml,values.yaml,templates/cm.yaml}` written for these tests.
fn chart_tgz(name: &str, version: &str, values: &str) -> Vec<u8> {
    let files = [
        (
            "Chart.yaml",
            format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
        ),
        ("values.yaml", values.to_string()),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting }}\n".to_string(),
        ),
    ];
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(enc);
    for (path, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, format!("{name}/{path}"), body.as_bytes())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn api(client: &kube::Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", kind),
        plural,
    );
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn repos(client: &kube::Client) -> Api<DynamicObject> {
    api(client, "HelmRepository", "helmrepositories")
}

fn charts(client: &kube::Client) -> Api<DynamicObject> {
    api(client, "HelmChart", "helmcharts")
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).unwrap();
    api.create(&PostParams::default(), &o).await.unwrap();
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits until the object's Ready condition satisfies `pred`; returns the object.
async fn wait_ready(api: &Api<DynamicObject>, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_until(&format!("{name} Ready condition"), PATIENCE, || async {
        let o = serde_json::to_value(api.get_opt(name).await.ok()??).ok()?;
        let ready = condition(&o, "Ready")?;
        pred(ready).then_some(o)
    })
    .await
}

fn helm_repository(name: &str, url: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"url": url, "interval": "10m"}
    })
}

fn helm_chart(name: &str, chart: &str, version: &str, kind: &str, source: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "chart": chart,
            "version": version,
            "sourceRef": {"kind": kind, "name": source},
            "interval": "10m"
        }
    })
}

fn start(client: &kube::Client, data: &Path) -> Controller {
    let opts = ControllerOptions {
        data_dir: data.to_path_buf(),
        allow_file_urls: true,
        ..ControllerOptions::default()
    };
    Controller::start(vec![("test".to_string(), client.clone())], &opts)
}

fn stored(data: &Path, obj: &Value) -> Vec<u8> {
    let path = obj["status"]["artifact"]["path"].as_str().unwrap();
    std::fs::read(data.join("test/artifacts").join(path)).unwrap()
}

async fn request_reconcile(api: &Api<DynamicObject>, name: &str, token: &str) {
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

async fn repository_and_chart_follow_the_index(tc: TestCluster) {
    let server = ChartServer::start().await;
    let archives = server.publish(&["1.0.0", "1.5.0", "2.0.0"], None);
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let (repos, charts) = (repos(&client), charts(&client));
    create(&repos, helm_repository("charts", &server.url)).await;
    create(
        &charts,
        helm_chart("demo", "demo", ">=1.0.0 <2.0.0", "HelmRepository", "charts"),
    )
    .await;

    // The repository: the index stored with its sha256 as revision, Flux's message.
    let obj = wait_ready(&repos, "charts", |c| c["status"] == "True").await;
    let hex = server.index_digest();
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "Succeeded");
    assert_eq!(
        ready["message"],
        format!("stored artifact: revision 'sha256:{hex}'")
    );
    assert_eq!(
        condition(&obj, "ArtifactInStorage").unwrap()["status"],
        "True"
    );
    let a = &obj["status"]["artifact"];
    assert_eq!(a["revision"], format!("sha256:{hex}"));
    assert_eq!(
        a["path"],
        format!("helmrepository/default/charts/index-{hex}.yaml")
    );
    assert_eq!(a["digest"], format!("sha256:{hex}"));
    assert_eq!(
        stored(data.path(), &obj),
        server.state.lock().unwrap().files["charts/index.yaml"]
    );

    // The chart: the highest version in range, pulled byte for byte.
    let obj = wait_ready(&charts, "demo", |c| c["status"] == "True").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "ChartPullSucceeded");
    assert_eq!(ready["message"], "pulled 'demo' chart with version '1.5.0'");
    let stored_cond = condition(&obj, "ArtifactInStorage").unwrap();
    assert_eq!(stored_cond["reason"], "ChartPullSucceeded");
    assert_eq!(obj["status"]["artifact"]["revision"], "1.5.0");
    assert_eq!(
        obj["status"]["artifact"]["path"],
        "helmchart/default/demo/demo-1.5.0.tgz"
    );
    assert_eq!(obj["status"]["observedChartName"], "demo");
    assert_eq!(stored(data.path(), &obj), archives["1.5.0"]);
    common::wait_event(&client, "default", "ChartPullSucceeded event", |e| {
        e.reason.as_deref() == Some("ChartPullSucceeded")
            && e.message.as_deref() == Some("pulled 'demo' chart with version '1.5.0'")
    })
    .await;

    // A new version in range: the repository's next index revision re-runs the chart.
    server.publish(&["1.0.0", "1.5.0", "1.9.0", "2.0.0"], None);
    request_reconcile(&repos, "charts", "2026-12-07T10:00:00Z").await;
    let obj = wait_ready(&charts, "demo", |c| {
        c["message"] == "pulled 'demo' chart with version '1.9.0'"
    })
    .await;
    assert_eq!(
        obj["status"]["artifact"]["path"],
        "helmchart/default/demo/demo-1.9.0.tgz"
    );
    controller.shutdown().await;
}

#[tokio::test]
async fn digest_mismatch_is_a_pull_error_naming_the_chart() {
    let tc = TestCluster::embedded(quiet_options()).await;
    let server = ChartServer::start().await;
    server.publish(&["1.0.0"], Some("1.0.0"));
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let (repos, charts) = (repos(&client), charts(&client));
    create(&repos, helm_repository("charts", &server.url)).await;
    create(
        &charts,
        helm_chart("demo", "demo", "1.0.0", "HelmRepository", "charts"),
    )
    .await;
    let obj = wait_ready(&charts, "demo", |c| {
        c["status"] == "False" && c["reason"] == "ChartPullError"
    })
    .await;
    let msg = condition(&obj, "Ready").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.starts_with("chart pull error: failed to download chart for remote reference: digest mismatch for chart 'demo' version '1.0.0'"),
        "{msg}"
    );
    let fetch = condition(&obj, "FetchFailed").unwrap();
    assert_eq!(fetch["status"], "True");
    assert_eq!(fetch["reason"], "ChartPullError");
    assert!(obj["status"].get("artifact").is_none());

    // A version that is not in the index stalls with a reference error.
    let patch = json!({"spec": {"version": ">=3.0.0"}});
    charts
        .patch("demo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let obj = wait_ready(&charts, "demo", |c| c["reason"] == "ChartReferenceError").await;
    assert_eq!(
        condition(&obj, "Ready").unwrap()["message"],
        "chart reference error: failed to get chart version for remote reference: no 'demo' chart with version matching '>=3.0.0' found"
    );
    assert_eq!(condition(&obj, "Stalled").unwrap()["status"], "True");
    controller.shutdown().await;
}

#[tokio::test]
async fn unreachable_repository_keeps_the_last_artifact() {
    let tc = TestCluster::embedded(quiet_options()).await;
    let server = ChartServer::start().await;
    server.publish(&["1.0.0"], None);
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let repos = repos(&client);
    create(&repos, helm_repository("charts", &server.url)).await;
    let good = wait_ready(&repos, "charts", |c| c["status"] == "True").await;

    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let patch = json!({"spec": {"url": format!("http://127.0.0.1:{port}/charts")}});
    repos
        .patch("charts", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let obj = wait_ready(&repos, "charts", |c| c["status"] == "False").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "Failed");
    let msg = ready["message"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!(
            "failed to fetch Helm repository index: failed to fetch http://127.0.0.1:{port}/charts/index.yaml : "
        )),
        "{msg}"
    );
    assert_eq!(condition(&obj, "FetchFailed").unwrap()["status"], "True");
    assert_eq!(obj["status"]["artifact"], good["status"]["artifact"]);
    assert_eq!(
        condition(&obj, "ArtifactInStorage").unwrap()["status"],
        "True",
        "the last artifact is still served"
    );
    controller.shutdown().await;
}

#[tokio::test]
async fn basic_auth_from_the_secret_ref() {
    let tc = TestCluster::embedded(quiet_options()).await;
    let server = ChartServer::start().await;
    server.publish(&["1.0.0"], None);
    server.state.lock().unwrap().basic = Some(("reader".into(), "s3cret".into()));
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let (repos, charts) = (repos(&client), charts(&client));
    create(&repos, helm_repository("charts", &server.url)).await;
    let obj = wait_ready(&repos, "charts", |c| c["status"] == "False").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "AuthenticationFailed");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .ends_with("/charts/index.yaml : 401 Unauthorized"),
        "{ready}"
    );

    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), "default");
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "repo-auth"},
        "stringData": {"username": "reader", "password": "s3cret"}
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let patch = json!({"spec": {"secretRef": {"name": "repo-auth"}}});
    repos
        .patch("charts", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_ready(&repos, "charts", |c| c["status"] == "True").await;
    // The chart download uses the repository's credentials too.
    create(
        &charts,
        helm_chart("demo", "demo", "*", "HelmRepository", "charts"),
    )
    .await;
    let obj = wait_ready(&charts, "demo", |c| c["status"] == "True").await;
    assert_eq!(obj["status"]["artifact"]["revision"], "1.0.0");
    controller.shutdown().await;
}

#[tokio::test]
async fn chart_packaged_from_a_git_repository_path() {
    if !have_git() {
        return;
    }
    let tc = TestCluster::embedded(quiet_options()).await;
    let repo = Repo::new();
    repo.write(
        "charts/demo/Chart.yaml",
        "apiVersion: v2\nname: demo\nversion: 0.3.0\ndependencies:\n- name: sub\n  version: 0.1.0\n",
    );
    repo.write("charts/demo/values.yaml", "greeting: hello\nreplicas: 1\n");
    repo.write(
        "charts/demo/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    );
    repo.write(
        "charts/demo/charts/sub/Chart.yaml",
        "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    );
    repo.write("values-prod.yaml", "replicas: 3\n");
    let commit = repo.commit("chart");
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    let git = api(&client, "GitRepository", "gitrepositories");
    create(
        &git,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": "default"},
            "spec": {"url": repo.url(), "interval": "10m", "ref": {"branch": "main"}}
        }),
    )
    .await;
    let charts = charts(&client);
    let mut by_version = helm_chart("demo", "./charts/demo", "", "GitRepository", "repo");
    by_version["spec"]["valuesFiles"] = json!(["charts/demo/values.yaml", "values-prod.yaml"]);
    create(&charts, by_version).await;
    let mut by_revision = helm_chart("demo-rev", "charts/demo", "", "GitRepository", "repo");
    by_revision["spec"]["reconcileStrategy"] = json!("Revision");
    create(&charts, by_revision).await;

    let obj = wait_ready(&charts, "demo", |c| c["status"] == "True").await;
    let ready = condition(&obj, "Ready").unwrap();
    assert_eq!(ready["reason"], "ChartPackageSucceeded");
    assert_eq!(
        ready["message"],
        "packaged 'demo' chart with version '0.3.0' and merged values files [charts/demo/values.yaml values-prod.yaml]"
    );
    assert_eq!(obj["status"]["artifact"]["revision"], "0.3.0");
    assert_eq!(
        obj["status"]["observedSourceArtifactRevision"],
        format!("main@sha1:{commit}")
    );
    let files =
        flotilla::controllers::source::helm_chart::archive_files(&stored(data.path(), &obj))
            .unwrap();
    assert!(
        files.contains_key("charts/sub/Chart.yaml"),
        "dependency kept: {:?}",
        files.keys()
    );
    let values: Value =
        serde_saphyr::from_str(std::str::from_utf8(&files["values.yaml"]).unwrap()).unwrap();
    assert_eq!(values, json!({"greeting": "hello", "replicas": 3}));

    let obj = wait_ready(&charts, "demo-rev", |c| c["status"] == "True").await;
    let version = format!("0.3.0+{}", &commit[..12]);
    assert_eq!(obj["status"]["artifact"]["revision"], version);
    assert_eq!(
        condition(&obj, "Ready").unwrap()["message"],
        format!("packaged 'demo' chart with version '{version}'")
    );
    let files =
        flotilla::controllers::source::helm_chart::archive_files(&stored(data.path(), &obj))
            .unwrap();
    let meta: Value =
        serde_saphyr::from_str(std::str::from_utf8(&files["Chart.yaml"]).unwrap()).unwrap();
    assert_eq!(meta["version"], version.as_str());

    // A new commit: the Revision chart gets a new version, the ChartVersion one keeps its artifact.
    repo.write("README.md", "docs\n");
    let second = repo.commit("docs");
    request_reconcile(&git, "repo", "2026-12-07T11:00:00Z").await;
    let version = format!("0.3.0+{}", &second[..12]);
    wait_ready(&charts, "demo-rev", |c| {
        c["message"] == format!("packaged 'demo' chart with version '{version}'").as_str()
    })
    .await;
    let obj = wait_ready(&charts, "demo", |c| c["status"] == "True").await;
    assert_eq!(obj["status"]["artifact"]["revision"], "0.3.0");
    controller.shutdown().await;
}

both_servers!(quiet_options;
    repository_and_chart_follow_the_index,
);
