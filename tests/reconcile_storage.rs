//! The controller's artifact storage server over real HTTP: a GitRepository from a file:// repo is
//! reconciled against the embedded API server, `status.artifact.url` downloads the archive whose
//! sha256 is `status.artifact.digest`, odd paths are refused, and `flotilla diff` (the real
//! binary, without `--data-dir` and with an empty HOME) builds from the downloaded artifact.

use crate::common;

use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, TcpServer, wait_until};
use flotilla::apiserver::ClusterOptions;
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use flotilla::controllers::source::StorageError;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};
use sha2::Digest as _;
use std::time::Duration;

const CONTEXT: &str = "default";

fn api(client: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(client.clone(), "default", &ar)
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).expect("object");
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
}

/// Waits until `name` of `api` has condition Ready=True; returns the object.
async fn ready(api: &Api<DynamicObject>, name: &str) -> Value {
    wait_until(&format!("{name} Ready=True"), PATIENCE, || async {
        let o = serde_json::to_value(api.get_opt(name).await.ok()??).ok()?;
        let ok = o
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        ok.then_some(o)
    })
    .await
}

fn http() -> reqwest::Client {
    // Err means a provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// The status code of a `GET <target>` sent verbatim over HTTP/1.1.
async fn raw_get(addr: std::net::SocketAddr, target: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8_lossy(&response);
    response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_are_served_and_diff_downloads_them() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n",
    );
    repo.commit("config");
    let server = TcpServer::start(ClusterOptions {
        name: CONTEXT.into(),
        ..ClusterOptions::default()
    })
    .await;
    let client = server.client().await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "apps"}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    let git_api = api(
        &client,
        "source.toolkit.fluxcd.io",
        "GitRepository",
        "gitrepositories",
    );
    create(
        &git_api,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": "repo", "namespace": "default"},
               "spec": {"url": repo.url(), "interval": "10m", "ref": {"branch": "main"}}}),
    )
    .await;
    let ks_api = api(
        &client,
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    );
    create(
        &ks_api,
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"name": "apps", "namespace": "default"},
               "spec": {"interval": "10m", "path": "./app", "prune": true, "targetNamespace": "apps",
                        "sourceRef": {"kind": "GitRepository", "name": "repo"}}}),
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let controller = Controller::try_start(
        vec![(CONTEXT.to_string(), client.clone())],
        &ControllerOptions {
            data_dir: data.path().to_path_buf(),
            shutdown_grace: Duration::from_secs(10),
            storage_addr: Some("127.0.0.1:0".parse().unwrap()),
            allow_file_urls: true,
            ..ControllerOptions::default()
        },
    )
    .expect("controller with storage starts");
    let addr = controller.storage_addr().expect("storage server runs");
    assert_eq!(controller.stats().storage_addr(), Some(addr));

    let git = ready(&git_api, "repo").await;
    let artifact = &git["status"]["artifact"];
    let path = artifact["path"].as_str().expect("artifact path");
    let url = artifact["url"].as_str().expect("artifact url");
    assert_eq!(url, format!("http://{addr}/{CONTEXT}/{path}"));
    assert!(
        path.starts_with("gitrepository/default/repo/") && path.ends_with(".tar.gz"),
        "{path}"
    );

    let http = http();
    let resp = http.get(url).send().await.expect("GET artifact");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/gzip");
    let bytes = resp.bytes().await.expect("body");
    assert_eq!(
        format!("sha256:{:x}", sha2::Sha256::digest(&bytes)),
        artifact["digest"].as_str().expect("digest")
    );
    assert_eq!(Some(bytes.len() as u64), artifact["size"].as_u64());

    let head = http.head(url).send().await.expect("HEAD artifact");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        bytes.len().to_string()
    );

    // A file next to the store, inside the cluster's data directory, must stay private.
    std::fs::write(data.path().join(CONTEXT).join("private"), b"x").unwrap();
    // Raw requests: an HTTP client would normalise `..` and backslashes away before sending.
    for (p, code) in [
        (
            format!("/{CONTEXT}/gitrepository/default/repo/nope.tar.gz"),
            404,
        ),
        (format!("/other/{path}"), 404),
        (format!("/{CONTEXT}/../{CONTEXT}/private"), 400),
        (format!("/{CONTEXT}/%2e%2e/private"), 400),
        (
            format!("/{CONTEXT}/gitrepository/%2E%2E/%2E%2E/../private"),
            400,
        ),
        (format!("/{CONTEXT}/gitrepository\\..\\..\\private"), 400),
        (format!("/{CONTEXT}/a%00b"), 400),
        (format!("/{CONTEXT}//etc/passwd"), 400),
    ] {
        assert_eq!(raw_get(addr, &p).await, code, "{p}");
    }
    let r = http.put(url).body("x").send().await.expect("PUT");
    assert_eq!(r.status(), 405);

    ready(&ks_api, "apps").await;
    // The real binary, as a user in another terminal runs it: no --data-dir and an empty HOME,
    // so the artifact can only come from status.artifact.url.
    let home = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "diff",
            "ks",
            "apps",
            "-n",
            "default",
            "-o",
            "json",
            "--kubeconfig",
        ])
        .arg(&server.kubeconfig)
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("KUBECONFIG")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .output()
        .await
        .expect("flotilla runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let report: Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["summary"]["unchanged"], 1, "{report}");
    assert_eq!(report["summary"]["created"], 0, "{report}");
    let default_store = home
        .path()
        .join(".local/share/flotilla/controller")
        .join(CONTEXT)
        .join("artifacts")
        .join(path);
    assert!(
        !default_store.exists(),
        "the artifact must come over HTTP, not from {}",
        default_store.display()
    );

    controller.shutdown().await;
    assert!(
        http.get(url).send().await.is_err(),
        "the storage server stops with the controller"
    );

    // A restart on another port re-advertises the unchanged artifact under the new address.
    let controller = Controller::try_start(
        vec![(CONTEXT.to_string(), client.clone())],
        &ControllerOptions {
            data_dir: data.path().to_path_buf(),
            shutdown_grace: Duration::from_secs(10),
            storage_addr: Some("127.0.0.1:0".parse().unwrap()),
            storage_adv_addr: Some("localhost:1".to_string()),
            allow_file_urls: true,
            ..ControllerOptions::default()
        },
    )
    .expect("controller restarts");
    let readvertised = format!("http://localhost:1/{CONTEXT}/{path}");
    wait_until("the artifact URL is re-advertised", PATIENCE, || async {
        let o = serde_json::to_value(git_api.get("repo").await.ok()?).ok()?;
        (o.pointer("/status/artifact/url")? == readvertised.as_str()).then_some(())
    })
    .await;
    let o = serde_json::to_value(git_api.get("repo").await.unwrap()).unwrap();
    assert_eq!(o["status"]["artifact"]["digest"], artifact["digest"]);
    controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_its_artifacts() {
    let demo = flotilla::demo::Demo::start(flotilla::demo::DemoOptions::default())
        .await
        .expect("demo starts");
    let addr = demo.storage_addr().expect("the demo serves artifacts");
    assert!(addr.ip().is_loopback(), "{addr}");
    let (_, client) = demo
        .clients()
        .iter()
        .find(|(n, _)| n == "staging")
        .expect("staging")
        .clone();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"),
        "gitrepositories",
    );
    let git = ready(
        &Api::namespaced_with(client, "flux-system", &ar),
        "flux-system",
    )
    .await;
    let artifact = &git["status"]["artifact"];
    let url = artifact["url"].as_str().expect("url");
    assert!(url.starts_with(&format!("http://{addr}/staging/")), "{url}");
    let bytes = http().get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(
        format!("sha256:{:x}", sha2::Sha256::digest(&bytes)),
        artifact["digest"].as_str().expect("digest")
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_storage_address_is_reported() {
    let server = TcpServer::start(ClusterOptions {
        name: CONTEXT.into(),
        ..ClusterOptions::default()
    })
    .await;
    let client = server.client().await;
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = busy.local_addr().unwrap();
    let data = tempfile::tempdir().unwrap();
    let opts = ControllerOptions {
        data_dir: data.path().to_path_buf(),
        storage_addr: Some(taken),
        allow_file_urls: true,
        ..ControllerOptions::default()
    };
    match Controller::try_start(vec![(CONTEXT.to_string(), client.clone())], &opts) {
        Err(e @ StorageError::Bind { .. }) => {
            assert!(e.to_string().contains(&taken.to_string()), "{e}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("binding a busy address must fail"),
    }
    // The infallible start falls back to the placeholder address and runs without a server.
    let c = Controller::start(vec![(CONTEXT.to_string(), client)], &opts);
    assert_eq!(c.storage_addr(), None);
    c.shutdown().await;
}
