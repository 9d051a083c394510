//! The HelmRelease reconciler through the bundled controller, against the embedded API server (with
//! its workload simulator) and a chart repository served over real HTTP on loopback by the test:
//! install → Ready with helm-controller's conditions and release Secret v1, a values change →
//! upgrade v2 and history, a failing upgrade → rollback remediation, drift corrected/warned,
//! uninstall on deletion, dependsOn, valuesFrom (optional and required), suspend/resume, and the
//! chart version range; install/upgrade also on a real kube-apiserver (`both_servers!`). The chart
//! is `tests/fixtures/helmrelease/web`, packaged by the test.

use crate::common;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::{PATIENCE, TestCluster, wait_until};
use flotilla::apiserver::ClusterOptions;
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use flotilla::controllers::helmrelease::strings as s;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// A chart repository on loopback.
struct ChartServer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChartServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(files): State<Files>, uri: Uri) -> Response {
    match files
        .lock()
        .unwrap()
        .get(uri.path().trim_start_matches('/'))
    {
        Some(b) => b.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The fixture chart packaged at `version`.
fn chart_tgz(version: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helmrelease/web");
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(enc);
    let mut files = vec![("Chart.yaml".to_string(), {
        let text = std::fs::read_to_string(root.join("Chart.yaml")).unwrap();
        text.replace("version: 0.0.0", &format!("version: {version}"))
            .into_bytes()
    })];
    files.push((
        "values.yaml".into(),
        std::fs::read(root.join("values.yaml")).unwrap(),
    ));
    files.push((
        "crds/widgets.yaml".into(),
        std::fs::read(root.join("crds/widgets.yaml")).unwrap(),
    ));
    for t in ["configmap.yaml", "deployment.yaml", "test.yaml"] {
        files.push((
            format!("templates/{t}"),
            std::fs::read(root.join("templates").join(t)).unwrap(),
        ));
    }
    for (path, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, format!("web/{path}"), body.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

impl ChartServer {
    async fn start(versions: &[&str]) -> ChartServer {
        let files: Files = Arc::default();
        let mut entries = String::new();
        for v in versions {
            let tgz = chart_tgz(v);
            entries.push_str(&format!(
                "  - apiVersion: v2\n    name: web\n    version: {v}\n    appVersion: \"1.0\"\n    digest: {:x}\n    created: \"2026-01-01T00:00:00Z\"\n    urls:\n    - web-{v}.tgz\n",
                Sha256::digest(&tgz)
            ));
            files
                .lock()
                .unwrap()
                .insert(format!("charts/web-{v}.tgz"), tgz);
        }
        let index = format!(
            "apiVersion: v1\nentries:\n  web:\n{entries}generated: \"2026-01-01T00:00:00Z\"\n"
        );
        files
            .lock()
            .unwrap()
            .insert("charts/index.yaml".into(), index.into_bytes());
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(Arc::clone(&files));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ChartServer {
            url: format!("http://{addr}/charts"),
            task,
        }
    }
}

fn sim_options() -> ClusterOptions {
    ClusterOptions {
        simulate: true,
        rollout_delay: Duration::from_millis(100),
        ..ClusterOptions::default()
    }
}

fn api(
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

fn hrs(client: &kube::Client) -> Api<DynamicObject> {
    api(
        client,
        "helm.toolkit.fluxcd.io",
        "v2",
        "HelmRelease",
        "helmreleases",
    )
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).unwrap();
    api.create(&PostParams::default(), &o).await.unwrap();
}

async fn merge(api: &Api<DynamicObject>, name: &str, patch: Value) {
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits until `pred` holds for the HelmRelease; returns it.
async fn wait_hr(
    client: &kube::Client,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let api = hrs(client);
    wait_until(&format!("{name}: {what}"), PATIENCE * 2, || async {
        let o = serde_json::to_value(api.get_opt(name).await.ok()??).ok()?;
        pred(&o).then_some(o)
    })
    .await
}

fn ready_is(o: &Value, status: &str, reason: &str) -> bool {
    condition(o, "Ready").is_some_and(|c| c["status"] == status && c["reason"] == reason)
}

async fn get(client: &kube::Client, path: &str) -> Option<Value> {
    let req = http::Request::get(path).body(Vec::new()).unwrap();
    client.request::<Value>(req).await.ok()
}

async fn configmap(client: &kube::Client, name: &str) -> Option<Value> {
    get(
        client,
        &format!("/api/v1/namespaces/default/configmaps/{name}"),
    )
    .await
}

async fn secret(client: &kube::Client, name: &str) -> Option<Value> {
    get(
        client,
        &format!("/api/v1/namespaces/default/secrets/{name}"),
    )
    .await
}

fn start(client: &kube::Client, data: &Path) -> Controller {
    let opts = ControllerOptions {
        data_dir: data.to_path_buf(),
        health_poll: Duration::from_millis(200),
        ..ControllerOptions::default()
    };
    Controller::start(vec![("test".to_string(), client.clone())], &opts)
}

fn helm_release(name: &str, version: &str, spec: Value) -> Value {
    let mut s = json!({
        "interval": "10m",
        "chart": {"spec": {
            "chart": "web",
            "version": version,
            "sourceRef": {"kind": "HelmRepository", "name": "charts"}
        }}
    });
    if let (Some(m), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": "default"},
        "spec": s
    })
}

/// A cluster with the controller running and the HelmRepository `charts` serving web 1.0.0,
/// 1.1.0 and 2.0.0.
struct Env {
    _tc: TestCluster,
    client: kube::Client,
    _server: ChartServer,
    _data: tempfile::TempDir,
    controller: Controller,
}

async fn env() -> Env {
    let tc = TestCluster::embedded(sim_options()).await;
    let server = ChartServer::start(&["1.0.0", "1.1.0", "2.0.0"]).await;
    let client = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&client, data.path());
    create(
        &api(
            &client,
            "source.toolkit.fluxcd.io",
            "v1",
            "HelmRepository",
            "helmrepositories",
        ),
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": "default"},
            "spec": {"url": server.url, "interval": "10m"}
        }),
    )
    .await;
    Env {
        _tc: tc,
        client,
        _server: server,
        _data: data,
        controller,
    }
}

async fn events(client: &kube::Client) -> Vec<(String, String)> {
    let api = Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), "default");
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_then_upgrade_with_history_and_flux_status() {
    let e = env().await;
    let c = &e.client;
    create(
        &hrs(c),
        helm_release("web", ">=1.0.0 <2.0.0", json!({"test": {"enable": true}})),
    )
    .await;

    // Install: the range picks 1.1.0; Flux's conditions, messages and status fields.
    let o = wait_hr(c, "web", "Ready", |o| {
        ready_is(o, "True", s::INSTALL_SUCCEEDED)
    })
    .await;
    let msg = "Helm install succeeded for release default/web.v1 with chart web@1.1.0";
    assert_eq!(condition(&o, "Ready").unwrap()["message"], msg);
    let released = condition(&o, s::RELEASED).unwrap();
    assert_eq!(
        (released["status"].as_str(), released["message"].as_str()),
        (Some("True"), Some(msg))
    );
    let test = condition(&o, s::TEST_SUCCESS).unwrap();
    assert_eq!(test["reason"], s::TEST_SUCCEEDED);
    assert_eq!(
        test["message"],
        "Helm test succeeded for release default/web.v1 with chart web@1.1.0: 1 test hook completed successfully"
    );
    assert!(condition(&o, "Reconciling").is_none());
    let st = &o["status"];
    assert_eq!(st["lastAttemptedRevision"], "1.1.0");
    assert_eq!(st["lastAttemptedReleaseAction"], "install");
    assert_eq!(st["helmChart"], "default/default-web");
    assert_eq!(st["storageNamespace"], "default");
    assert!(
        st["lastAttemptedConfigDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let h = st["history"].as_array().unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["chartName"], "web");
    assert_eq!(h[0]["chartVersion"], "1.1.0");
    assert_eq!(h[0]["appVersion"], "1.0");
    assert_eq!(h[0]["version"], 1);
    assert_eq!(h[0]["status"], "deployed");
    assert_eq!(h[0]["name"], "web");
    assert_eq!(h[0]["namespace"], "default");
    assert_eq!(h[0]["testHooks"]["web-test"]["phase"], "Succeeded");
    let mut ids: Vec<&str> = st["inventory"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "default_web-settings__ConfigMap",
            "default_web-web_apps_Deployment"
        ]
    );

    // Helm's record and the objects with both owners' marks.
    let rec = secret(c, "sh.helm.release.v1.web.v1")
        .await
        .expect("release Secret v1");
    assert_eq!(rec["type"], "helm.sh/release.v1");
    assert_eq!(rec["metadata"]["labels"]["status"], "deployed");
    let cm = configmap(c, "web-settings").await.expect("ConfigMap");
    assert_eq!(cm["data"]["greeting"], "hello");
    assert_eq!(cm["data"]["chart"], "1.1.0");
    assert_eq!(
        cm["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"],
        "web"
    );
    // The chart's crds/ installed first (install's default policy Create), not in the inventory.
    assert!(
        get(
            c,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.flotilla.dev"
        )
        .await
        .is_some(),
        "CRD from crds/ installed"
    );
    // The HelmChart it owns, as helm-controller writes it.
    let chart = api(
        c,
        "source.toolkit.fluxcd.io",
        "v1",
        "HelmChart",
        "helmcharts",
    )
    .get("default-web")
    .await
    .unwrap();
    let chart = serde_json::to_value(chart).unwrap();
    assert_eq!(chart["spec"]["chart"], "web");
    assert_eq!(chart["spec"]["version"], ">=1.0.0 <2.0.0");
    assert_eq!(chart["spec"]["sourceRef"]["kind"], "HelmRepository");
    assert_eq!(chart["spec"]["reconcileStrategy"], "ChartVersion");
    assert!(
        events(c)
            .await
            .iter()
            .any(|(r, m)| r == s::INSTALL_SUCCEEDED && m == msg)
    );

    // A values change: upgrade to v2, v1 superseded, history newest first.
    merge(
        &hrs(c),
        "web",
        json!({"spec": {"values": {"greeting": "bonjour"}}}),
    )
    .await;
    let o = wait_hr(c, "web", "upgraded", |o| {
        ready_is(o, "True", s::UPGRADE_SUCCEEDED)
    })
    .await;
    assert_eq!(
        condition(&o, "Ready").unwrap()["message"],
        "Helm upgrade succeeded for release default/web.v2 with chart web@1.1.0"
    );
    let h = o["status"]["history"].as_array().unwrap();
    let versions: Vec<(u64, &str)> = h
        .iter()
        .map(|s| {
            (
                s["version"].as_u64().unwrap(),
                s["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [(2, "deployed"), (1, "superseded")]);
    assert_ne!(h[0]["configDigest"], h[1]["configDigest"]);
    assert_eq!(o["status"]["lastAttemptedReleaseAction"], "upgrade");
    assert_eq!(
        configmap(c, "web-settings").await.unwrap()["data"]["greeting"],
        "bonjour"
    );

    // A wider range: the chart follows to 2.0.0 and the release upgrades to it.
    merge(
        &hrs(c),
        "web",
        json!({"spec": {"chart": {"spec": {"version": "2.x"}}}}),
    )
    .await;
    let o = wait_hr(c, "web", "upgraded to 2.0.0", |o| {
        o["status"]["lastAttemptedRevision"] == "2.0.0" && ready_is(o, "True", s::UPGRADE_SUCCEEDED)
    })
    .await;
    assert_eq!(o["status"]["history"][0]["chartVersion"], "2.0.0");
    assert_eq!(
        configmap(c, "web-settings").await.unwrap()["data"]["chart"],
        "2.0.0"
    );

    // Deletion: uninstalled, records and HelmChart gone.
    hrs(c)
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait_until("release uninstalled", PATIENCE, || async {
        (configmap(c, "web-settings").await.is_none()
            && secret(c, "sh.helm.release.v1.web.v3").await.is_none()
            && hrs(c).get_opt("web").await.ok()?.is_none())
        .then_some(())
    })
    .await;
    let charts = api(
        c,
        "source.toolkit.fluxcd.io",
        "v1",
        "HelmChart",
        "helmcharts",
    );
    wait_until("HelmChart deleted", PATIENCE, || async {
        charts
            .get_opt("default-web")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    e.controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_upgrade_is_remediated_by_rollback() {
    let e = env().await;
    let c = &e.client;
    create(
        &hrs(c),
        helm_release(
            "web",
            "1.0.0",
            json!({"upgrade": {"timeout": "2s", "remediation": {"retries": 1}}}),
        ),
    )
    .await;
    wait_hr(c, "web", "installed", |o| {
        ready_is(o, "True", s::INSTALL_SUCCEEDED)
    })
    .await;

    // A Deployment that never becomes ready: the upgrade fails its wait and is rolled back,
    // retried once, rolled back again, then the release stalls.
    merge(
        &hrs(c),
        "web",
        json!({"spec": {"values": {"tag": "broken", "greeting": "bad"}}}),
    )
    .await;
    let o = wait_hr(c, "web", "stalled after retries", |o| {
        condition(o, "Stalled").is_some_and(|s| s["reason"] == s::RETRIES_EXCEEDED)
    })
    .await;
    assert_eq!(
        condition(&o, "Stalled").unwrap()["message"],
        "Failed to upgrade after 2 attempt(s)"
    );
    let rem = condition(&o, s::REMEDIATED).unwrap();
    assert_eq!(rem["status"], "True");
    assert_eq!(rem["reason"], s::ROLLBACK_SUCCEEDED);
    let m = rem["message"].as_str().unwrap();
    assert!(
        m.starts_with("Helm rollback to previous release default/web.v")
            && m.ends_with(" with chart web@1.0.0 succeeded"),
        "{m}"
    );
    let rel = condition(&o, s::RELEASED).unwrap();
    assert_eq!(
        (rel["status"].as_str(), rel["reason"].as_str()),
        (Some("False"), Some(s::UPGRADE_FAILED))
    );
    assert!(
        rel["message"]
            .as_str()
            .unwrap()
            .starts_with("Helm upgrade failed for release default/web with chart web@1.0.0: "),
        "{rel}"
    );
    assert_eq!(o["status"]["upgradeFailures"], 2);
    assert_eq!(o["status"]["failures"], 2);
    // v1's objects are intact; the latest revision is a deployed rollback.
    assert_eq!(
        configmap(c, "web-settings").await.unwrap()["data"]["greeting"],
        "hello"
    );
    let h = o["status"]["history"].as_array().unwrap();
    assert_eq!(h[0]["status"], "deployed");
    assert_eq!(h[1]["status"], "failed");
    let evs = events(c).await;
    assert!(evs.iter().any(|(r, _)| r == s::UPGRADE_FAILED), "{evs:?}");
    assert!(
        evs.iter().any(|(r, _)| r == s::ROLLBACK_SUCCEEDED),
        "{evs:?}"
    );
    e.controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected_when_enabled_and_reported_with_warn() {
    let e = env().await;
    let c = &e.client;
    create(
        &hrs(c),
        helm_release(
            "web",
            "1.0.0",
            json!({"driftDetection": {"mode": "enabled"}}),
        ),
    )
    .await;
    wait_hr(c, "web", "installed", |o| {
        ready_is(o, "True", s::INSTALL_SUCCEEDED)
    })
    .await;
    let cms = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(c.clone(), "default");
    let edit = json!({"data": {"greeting": "edited by hand"}});
    cms.patch(
        "web-settings",
        &PatchParams::default(),
        &Patch::Merge(&edit),
    )
    .await
    .unwrap();
    merge(
        &hrs(c),
        "web",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "1"}}}),
    )
    .await;
    wait_until("drift corrected", PATIENCE, || async {
        (configmap(c, "web-settings").await?["data"]["greeting"] == "hello").then_some(())
    })
    .await;
    let evs = events(c).await;
    assert!(
        evs.iter().any(|(r, m)| r == s::DRIFT_DETECTED
            && m.starts_with("Cluster state of release default/web.v1 has been corrected:")
            && m.contains("ConfigMap/default/web-settings changed")),
        "{evs:?}"
    );

    // warn: reported, not corrected.
    merge(
        &hrs(c),
        "web",
        json!({"spec": {"driftDetection": {"mode": "warn"}}}),
    )
    .await;
    wait_hr(c, "web", "new generation handled", |o| {
        o["status"]["observedGeneration"] == o["metadata"]["generation"]
    })
    .await;
    cms.patch(
        "web-settings",
        &PatchParams::default(),
        &Patch::Merge(&edit),
    )
    .await
    .unwrap();
    merge(
        &hrs(c),
        "web",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "2"}}}),
    )
    .await;
    wait_hr(c, "web", "request handled", |o| {
        o["status"]["lastHandledReconcileAt"] == "2"
    })
    .await;
    wait_until("drift reported", PATIENCE, || async {
        events(c).await.iter().any(|(r, m)| r == s::DRIFT_DETECTED
            && m.starts_with("Cluster state of release default/web.v1 has drifted from the desired state:"))
        .then_some(())
    })
    .await;
    assert_eq!(
        configmap(c, "web-settings").await.unwrap()["data"]["greeting"],
        "edited by hand"
    );
    e.controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depends_on_values_from_and_suspend() {
    let e = env().await;
    let c = &e.client;
    // b waits for a, which does not exist yet.
    create(
        &hrs(c),
        helm_release(
            "b",
            "1.0.0",
            json!({
                "dependsOn": [{"name": "a"}],
                "valuesFrom": [
                    {"kind": "ConfigMap", "name": "absent", "optional": true},
                    {"kind": "Secret", "name": "b-values", "valuesKey": "greeting", "targetPath": "greeting"}
                ]
            }),
        ),
    )
    .await;
    let o = wait_hr(c, "b", "waiting for a", |o| {
        ready_is(o, "False", s::DEPENDENCY_NOT_READY)
    })
    .await;
    assert_eq!(
        condition(&o, "Ready").unwrap()["message"],
        "dependency 'default/a' is not ready"
    );
    // a has a kustomize post-renderer: its objects are patched and the digest observed.
    create(
        &hrs(c),
        helm_release(
            "a",
            "1.0.0",
            json!({"postRenderers": [{"kustomize": {"patches": [{
                "target": {"kind": "ConfigMap", "name": "a-settings"},
                "patch": "- op: add\n  path: /metadata/labels/post-rendered\n  value: \"yes\"\n"
            }]}}]}),
        ),
    )
    .await;
    let a = wait_hr(c, "a", "installed", |o| {
        ready_is(o, "True", s::INSTALL_SUCCEEDED)
    })
    .await;
    assert!(
        a["status"]["observedPostRenderersDigest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{a}"
    );
    let cm = configmap(c, "a-settings").await.unwrap();
    assert_eq!(cm["metadata"]["labels"]["post-rendered"], "yes");

    // The required Secret is missing: InitFailed naming it, nothing installed.
    let o = wait_hr(c, "b", "values missing", |o| {
        ready_is(o, "False", s::INIT_FAILED)
    })
    .await;
    assert_eq!(
        condition(&o, "Ready").unwrap()["message"],
        "could not find Secret 'default/b-values'"
    );
    assert!(secret(c, "sh.helm.release.v1.b.v1").await.is_none());
    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(c.clone(), "default");
    let sec: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "b-values"}, "stringData": {"greeting": "from-secret"}
    }))
    .unwrap();
    secrets.create(&PostParams::default(), &sec).await.unwrap();
    merge(
        &hrs(c),
        "b",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "1"}}}),
    )
    .await;
    wait_hr(c, "b", "installed", |o| {
        ready_is(o, "True", s::INSTALL_SUCCEEDED)
    })
    .await;
    assert_eq!(
        configmap(c, "b-settings").await.unwrap()["data"]["greeting"],
        "from-secret"
    );

    // Suspended: a values change is not released; resumed: it is.
    merge(&hrs(c), "b", json!({"spec": {"suspend": true}})).await;
    merge(&hrs(c), "b", json!({"spec": {"values": {"replicas": 2}}})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        secret(c, "sh.helm.release.v1.b.v2").await.is_none(),
        "no upgrade while suspended"
    );
    merge(&hrs(c), "b", json!({"spec": {"suspend": false}})).await;
    let o = wait_hr(c, "b", "upgraded after resume", |o| {
        ready_is(o, "True", s::UPGRADE_SUCCEEDED)
    })
    .await;
    assert_eq!(o["status"]["history"][0]["version"], 2);
    e.controller.shutdown().await;
}

/// Runs the real binary against the server's kubeconfig; (exit code, stdout, stderr).
async fn flotilla(kubeconfig: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("flotilla runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_hr_and_tree_hr_read_the_chart_and_release_storage() {
    let server = common::TcpServer::start(ClusterOptions {
        name: "hrctx".into(),
        rollout_delay: Duration::from_millis(100),
        ..ClusterOptions::default()
    })
    .await;
    let c = server.client().await;
    let charts = ChartServer::start(&["1.0.0"]).await;
    let data = tempfile::tempdir().unwrap();
    let opts = ControllerOptions {
        data_dir: data.path().to_path_buf(),
        health_poll: Duration::from_millis(200),
        ..ControllerOptions::default()
    };
    let controller = Controller::start(vec![("hrctx".to_string(), c.clone())], &opts);
    create(
        &api(
            &c,
            "source.toolkit.fluxcd.io",
            "v1",
            "HelmRepository",
            "helmrepositories",
        ),
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": "default"},
            "spec": {"url": charts.url, "interval": "10m"}
        }),
    )
    .await;
    let secret_values: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "web-values"}, "stringData": {"values.yaml": "greeting: from-secret\n"}
    }))
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &secret_values)
        .await
        .unwrap();
    create(
        &hrs(&c),
        helm_release(
            "web",
            "1.0.0",
            json!({"valuesFrom": [{"kind": "Secret", "name": "web-values"}]}),
        ),
    )
    .await;
    wait_hr(&c, "web", "installed", |o| {
        ready_is(o, "True", s::INSTALL_SUCCEEDED)
    })
    .await;
    let data_dir = data.path().to_str().unwrap();

    // In sync: nothing to change.
    let (code, out, err) = flotilla(
        &server.kubeconfig,
        &[
            "diff",
            "hr",
            "web",
            "-n",
            "default",
            "--data-dir",
            data_dir,
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["summary"]["unchanged"], 2, "{report}");

    // A pending values change (suspended, so only the diff sees it).
    merge(
        &hrs(&c),
        "web",
        json!({"spec": {"suspend": true, "values": {"greeting": "pending"}}}),
    )
    .await;
    let (code, out, err) = flotilla(
        &server.kubeconfig,
        &["diff", "hr", "web", "-n", "default", "--data-dir", data_dir],
    )
    .await;
    assert_eq!(code, Some(1), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("ConfigMap/default/web-settings drifted"),
        "{out}"
    );
    assert!(
        out.contains("-  greeting: from-secret") && out.contains("+  greeting: pending"),
        "{out}"
    );
    assert!(!out.contains("Deployment/default/web-web drifted"), "{out}");

    // The tree lists the release's objects as recorded in release storage.
    let (code, out, err) =
        flotilla(&server.kubeconfig, &["tree", "hr", "web", "-n", "default"]).await;
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("web-settings") && out.contains("web-web"),
        "{out}"
    );
    controller.shutdown().await;
}

/// Install and upgrade on both servers (no workload controllers on the real one: no waits).
async fn install_and_upgrade_without_wait(tc: TestCluster) {
    let server = ChartServer::start(&["1.0.0"]).await;
    let c = tc.client().await;
    let data = tempfile::tempdir().unwrap();
    let controller = start(&c, data.path());
    create(
        &api(
            &c,
            "source.toolkit.fluxcd.io",
            "v1",
            "HelmRepository",
            "helmrepositories",
        ),
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": "default"},
            "spec": {"url": server.url, "interval": "10m"}
        }),
    )
    .await;
    create(
        &hrs(&c),
        helm_release(
            "web",
            "1.x",
            json!({"install": {"disableWait": true}, "upgrade": {"disableWait": true}}),
        ),
    )
    .await;
    let o = wait_hr(&c, "web", "installed", |o| {
        ready_is(o, "True", s::INSTALL_SUCCEEDED)
    })
    .await;
    assert_eq!(
        condition(&o, "Ready").unwrap()["message"],
        "Helm install succeeded for release default/web.v1 with chart web@1.0.0"
    );
    assert!(secret(&c, "sh.helm.release.v1.web.v1").await.is_some());
    merge(
        &hrs(&c),
        "web",
        json!({"spec": {"values": {"greeting": "hi"}}}),
    )
    .await;
    let o = wait_hr(&c, "web", "upgraded", |o| {
        ready_is(o, "True", s::UPGRADE_SUCCEEDED)
    })
    .await;
    assert_eq!(o["status"]["history"][0]["version"], 2);
    assert_eq!(
        configmap(&c, "web-settings").await.unwrap()["data"]["greeting"],
        "hi"
    );
    controller.shutdown().await;
}

crate::both_servers!(sim_options;
    install_and_upgrade_without_wait,
);

/// Peak resident set of this process (the controller and the embedded server together), KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// helm-controller's benchmark shape: N HelmReleases of one small chart from one HelmRepository,
/// time until all are Ready and peak RSS. `FLOTILLA_HR_BENCH=100,500,1000` picks the sizes (one
/// run each, fresh cluster); build with `--release` and run on a quiet machine:
/// `FLOTILLA_HR_BENCH=100,500,1000 cargo test --release --test integration -- --ignored --nocapture measure_helmreleases_to_ready`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement: run by hand on a quiet machine (see BENCHMARKS.md)"]
async fn measure_helmreleases_to_ready() {
    let sizes: Vec<usize> = std::env::var("FLOTILLA_HR_BENCH")
        .unwrap_or_else(|_| "100".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    for n in sizes {
        let e = env().await;
        let c = &e.client;
        let started = std::time::Instant::now();
        for i in 0..n {
            create(
                &hrs(c),
                helm_release(&format!("app-{i}"), "1.0.0", json!({})),
            )
            .await;
        }
        wait_until(
            &format!("{n} HelmReleases Ready"),
            Duration::from_secs(1800),
            || async {
                let list = hrs(c).list(&Default::default()).await.ok()?;
                let ready = list
                    .items
                    .iter()
                    .filter_map(|o| serde_json::to_value(o).ok())
                    .filter(|o| ready_is(o, "True", s::INSTALL_SUCCEEDED))
                    .count();
                (ready == n).then_some(())
            },
        )
        .await;
        println!(
            "helmreleases={n} all_ready_secs={:.1} peak_rss_mib={}",
            started.elapsed().as_secs_f64(),
            peak_rss_kib() / 1024
        );
        e.controller.shutdown().await;
    }
}
