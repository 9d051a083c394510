//! Remote resources in kustomizations and the decode memory budget, against real servers: a local
//! HTTP server (axum, real HTTP) serving files, errors, redirect loops, slow and oversized bodies,
//! and real git repositories served by `git daemon` (git://) and over file://. Successful builds
//! are compared with `kubectl kustomize` where kubectl can reach the same remotes (HTTP files and
//! file:// repositories; kustomize v5 refuses git:// URLs, so daemon-served forms are checked
//! against hand-written expectations). The alias bomb and the 30 MB scalar are refused by
//! `flotilla build` and by the controller (Ready=False BuildFailed, nothing pruned).

use crate::common;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::gitrepo::{Repo, have_git};
use common::{PATIENCE, in_process, wait_until};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use flotilla::controllers::kustomization::remote::{RemoteFetcher, RemoteLimits};
use flotilla::kustomize::{self, BuildOptions, RemoteResources};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------- servers

/// An HTTP server on a loopback port, on its own thread and runtime (builds are synchronous).
struct HttpServer {
    base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn configmap_yaml(name: &str, key: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  {key}: \"1\"\n")
}

async fn file(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match name.as_str() {
        "cm.yaml" => configmap_yaml("from-http", "served").into_response(),
        "two.yaml" => format!(
            "{}---\n{}",
            configmap_yaml("http-one", "a"),
            configmap_yaml("http-two", "b")
        )
        .into_response(),
        "patch.yaml" => "not: [valid".into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn redirect_loop() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/loop")]).into_response()
}

async fn slow() -> Response {
    tokio::time::sleep(Duration::from_secs(10)).await;
    configmap_yaml("slow", "late").into_response()
}

async fn big() -> Response {
    // 2 MiB of comment: over the 1 MiB limit the tests set.
    format!("{}\n{}", "#".repeat(2 << 20), configmap_yaml("big", "x")).into_response()
}

impl HttpServer {
    fn start() -> HttpServer {
        let (tx_addr, rx_addr) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let app = Router::new()
                    .route("/files/{name}", get(file))
                    .route("/loop", get(redirect_loop))
                    .route("/slow", get(slow))
                    .route("/big", get(big));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx_addr.send(listener.local_addr().expect("addr")).ok();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .ok();
            });
        });
        let addr = rx_addr.recv().expect("server address");
        HttpServer {
            base: format!("http://{addr}"),
            _stop: stop,
        }
    }
}

/// A TCP port that accepts connections and never answers (a hung git server).
fn silent_port() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

// ---------------------------------------------------------------- repositories

/// A repository whose `base` holds a ConfigMap, tagged `v1`, then changed on `main`.
fn base_repo(extra_resources: &[&str]) -> (Repo, String) {
    let repo = Repo::new();
    let mut resources = vec!["cm.yaml".to_string()];
    resources.extend(extra_resources.iter().map(|s| s.to_string()));
    repo.write(
        "base/kustomization.yaml",
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{}",
            resources
                .iter()
                .map(|r| format!("  - {r}\n"))
                .collect::<String>()
        ),
    );
    repo.write("base/cm.yaml", &configmap_yaml("from-git", "v1"));
    let v1 = repo.commit("v1");
    common::gitrepo::git(&repo.work, &["tag", "v1"]);
    common::gitrepo::git(&repo.work, &["push", "-q", "origin", "v1"]);
    repo.write("base/cm.yaml", &configmap_yaml("from-git", "main"));
    repo.commit("main moves on");
    (repo, v1)
}

fn fetcher(limits: RemoteLimits) -> RemoteResources {
    let dir = std::env::temp_dir().join(format!("flotilla-remote-test-{}", uuid_like()));
    RemoteResources::Fetch(Arc::new(RemoteFetcher::new(dir, limits)))
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn test_limits() -> RemoteLimits {
    RemoteLimits {
        max_file_bytes: 1 << 20,
        http_timeout: Duration::from_secs(2),
        allow_file_urls: true,
        ..RemoteLimits::default()
    }
}

/// An overlay directory whose kustomization lists `resources`.
fn overlay(resources: &[String]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let list: String = resources.iter().map(|r| format!("  - {r}\n")).collect();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: x-\nresources:\n{list}"),
    )
    .expect("write");
    dir
}

fn build(dir: &Path, remote: RemoteResources) -> Result<Vec<Value>, String> {
    let opts = BuildOptions {
        remote,
        ..BuildOptions::default()
    };
    kustomize::build(dir, &opts).map_err(|e| e.to_string())
}

fn names(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{}={}",
                o["metadata"]["name"].as_str().unwrap_or(""),
                o["data"]
                    .as_object()
                    .map(|d| d.keys().cloned().collect::<Vec<_>>().join(","))
                    .unwrap_or_default()
            )
        })
        .collect()
}

fn flotilla_build(dir: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .arg("build")
        .arg(dir)
        .args(extra)
        .output()
        .expect("run flotilla build")
}

// ---------------------------------------------------------------- success cases

#[test]
fn http_files_and_git_daemon_bases_build() {
    if !have_git() {
        return;
    }
    let http = HttpServer::start();
    let (repo, _) = base_repo(&[]);
    let Some((_daemon, url)) = repo.serve() else {
        return;
    };
    let dir = overlay(&[
        format!("{}/files/cm.yaml", http.base),
        format!("{}/files/two.yaml", http.base),
        format!("{url}//base?ref=v1"),
    ]);
    let objects = build(dir.path(), fetcher(test_limits())).expect("build");
    assert_eq!(
        names(&objects),
        vec![
            "x-from-git=v1",
            "x-from-http=served",
            "x-http-one=a",
            "x-http-two=b"
        ]
    );
}

#[test]
fn every_git_url_form_served_locally_builds() {
    if !have_git() {
        return;
    }
    let (repo, v1) = base_repo(&[]);
    let Some((_daemon, url)) = repo.serve() else {
        return;
    };
    let file_url = repo.url();
    // (reference, expected data key of the ConfigMap)
    let cases = [
        (format!("{url}//base?ref=v1"), "v1"),
        (format!("{url}/base?ref=v1"), "v1"), // `.git` marks the repository end
        (format!("git::{url}//base?ref=v1"), "v1"),
        (format!("{url}//base?ref={v1}"), "v1"),
        (format!("{url}//base?ref=main"), "main"),
        (format!("{url}//base?ref=refs/heads/main"), "main"),
        (format!("{url}//base"), "main"), // the remote HEAD
        (format!("{url}//base?version=v1"), "v1"),
        (
            format!("{url}//base?ref=v1&timeout=20&submodules=false"),
            "v1",
        ),
        (format!("{url}//base?ref=v1&timeout=1m"), "v1"),
        (format!("{file_url}//base?ref=v1"), "v1"),
        (format!("{file_url}/base?ref=main"), "main"),
    ];
    for (reference, key) in cases {
        let dir = overlay(std::slice::from_ref(&reference));
        let objects = build(dir.path(), fetcher(test_limits()))
            .unwrap_or_else(|e| panic!("{reference}: {e}"));
        assert_eq!(
            names(&objects),
            vec![format!("x-from-git={key}")],
            "{reference}"
        );
    }
}

#[test]
fn a_remote_base_with_its_own_remote_bases_builds() {
    if !have_git() {
        return;
    }
    let http = HttpServer::start();
    let (inner, _) = base_repo(&[]);
    let Some((_d1, inner_url)) = inner.serve() else {
        return;
    };
    let outer = Repo::new();
    outer.write(
        "app/kustomization.yaml",
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnameSuffix: -outer\nresources:\n  - {inner_url}//base?ref=v1\n  - {}/files/cm.yaml\n  - local.yaml\n",
            http.base
        ),
    );
    outer.write("app/local.yaml", &configmap_yaml("outer-local", "here"));
    outer.commit("outer");
    let Some((_d2, outer_url)) = outer.serve() else {
        return;
    };
    let dir = overlay(&[format!("{outer_url}//app")]);
    let objects = build(dir.path(), fetcher(test_limits())).expect("build");
    assert_eq!(
        names(&objects),
        vec![
            "x-from-git-outer=v1",
            "x-from-http-outer=served",
            "x-outer-local-outer=here"
        ]
    );
}

#[test]
fn remote_builds_match_kubectl_kustomize() {
    if !have_git() {
        return;
    }
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("skipping: kubectl is not available");
        return;
    }
    let http = HttpServer::start();
    let (repo, _) = base_repo(&[]);
    // kubectl's kustomize fetches http(s) files itself and clones file:// repositories with git
    // (it refuses git:// URLs, which is why the daemon forms are not compared here).
    let dir = overlay(&[
        format!("{}/files/two.yaml", http.base),
        format!("{}//base?ref=v1", repo.url()),
    ]);
    let ours = flotilla_build(dir.path(), &[]);
    assert!(
        ours.status.success(),
        "flotilla build: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let theirs = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .expect("kubectl");
    assert!(
        theirs.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    let ours = String::from_utf8_lossy(&ours.stdout);
    assert!(
        ours.contains("name: x-from-git") && ours.contains("name: x-http-two"),
        "{ours}"
    );
    assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout));
}

// ---------------------------------------------------------------- failures

#[test]
fn http_errors_are_reported_with_the_url() {
    let http = HttpServer::start();
    let cases = [
        // Also a repository URL by kustomize's rules, so git is tried too (and fails).
        (
            format!("{}/files/missing.yaml", http.base),
            "HTTP Error: status code 404 (Not Found); as a git repository",
        ),
        (
            format!("{}/missing.yaml", http.base),
            "HTTP Error: status code 404 (Not Found)",
        ),
        (format!("{}/loop", http.base), "redirect"),
        (
            format!("{}/big", http.base),
            "larger than the limit of 1048576 bytes",
        ),
        (format!("{}/slow", http.base), "timed out"),
    ];
    for (url, want) in cases {
        let dir = overlay(std::slice::from_ref(&url));
        let e = build(dir.path(), fetcher(test_limits())).expect_err(&url);
        assert!(e.contains(want), "{url}: {e}");
        assert!(e.contains(&url), "the message names the URL: {e}");
    }
}

#[test]
fn git_failures_time_out_and_name_the_repository() {
    if !have_git() {
        return;
    }
    let (_listener, port) = silent_port();
    let url = format!("git://127.0.0.1:{port}/hung.git//base?timeout=1");
    let dir = overlay(std::slice::from_ref(&url));
    let e = build(dir.path(), fetcher(test_limits())).expect_err("hung server");
    assert!(e.contains("timed out"), "{e}");
    assert!(e.contains("hung.git"), "{e}");

    let (repo, _) = base_repo(&[]);
    let Some((_daemon, url)) = repo.serve() else {
        return;
    };
    for (reference, want) in [
        (format!("{url}//base?ref=no-such-ref"), "no-such-ref"),
        (format!("{url}//nope?ref=v1"), "no such file or directory"),
        (format!("{url}//base/cm.yaml?ref=v1"), "must be a directory"),
    ] {
        let dir = overlay(std::slice::from_ref(&reference));
        let e = build(dir.path(), fetcher(test_limits())).expect_err(&reference);
        assert!(e.contains(want), "{reference}: {e}");
    }
}

#[test]
fn cycles_through_remotes_are_detected() {
    if !have_git() {
        return;
    }
    // One repository whose base includes itself through its URL.
    let repo = Repo::new();
    let Some((_daemon, url)) = repo.serve() else {
        return;
    };
    repo.write(
        "base/kustomization.yaml",
        &format!("resources:\n  - cm.yaml\n  - {url}//base?ref=main\n"),
    );
    repo.write("base/cm.yaml", &configmap_yaml("loop", "x"));
    repo.commit("self-including base");
    let dir = overlay(&[format!("{url}//base?ref=main")]);
    let e = build(dir.path(), fetcher(test_limits())).expect_err("cycle");
    assert!(e.contains("cycle detected"), "{e}");

    // Two repositories including each other.
    let a = Repo::new();
    let b = Repo::new();
    let (Some((_da, a_url)), Some((_db, b_url))) = (a.serve(), b.serve()) else {
        return;
    };
    a.write(
        "k/kustomization.yaml",
        &format!("resources:\n  - {b_url}//k\n"),
    );
    b.write(
        "k/kustomization.yaml",
        &format!("resources:\n  - {a_url}//k\n"),
    );
    a.commit("a");
    b.commit("b");
    let dir = overlay(&[format!("{a_url}//k")]);
    let e = build(dir.path(), fetcher(test_limits())).expect_err("cycle");
    assert!(e.contains("cycle detected"), "{e}");
}

#[test]
fn no_remote_bases_refuses_with_fluxs_wording_and_secrets_are_masked() {
    let dir = overlay(&["https://alice:s3cret@git.example.com/org/repo//base?ref=v1".to_string()]);
    let out = flotilla_build(dir.path(), &["--no-remote-bases"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fs-security-constraint"), "{err}");
    assert!(err.contains("--no-remote-bases"), "{err}");
    assert!(!err.contains("s3cret"), "password masked: {err}");
    assert!(err.contains("alice:xxxxx@git.example.com"), "{err}");

    // Without a loader (library default) remote resources are unsupported, not fetched.
    let e = build(dir.path(), RemoteResources::Unsupported).expect_err("unsupported");
    assert!(e.contains("not supported"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
}

// ---------------------------------------------------------------- memory budget

/// A 1 MiB string under five levels of ×10 aliases: ~1 MB of text, 100 GiB decoded.
fn alias_bomb() -> String {
    let mut y = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a0: &a0 \"{}\"\n",
        "x".repeat(1 << 20)
    );
    for level in 1..=5 {
        let refs = vec![format!("*a{}", level - 1); 10].join(", ");
        y.push_str(&format!("  a{level}: &a{level} [{refs}]\n"));
    }
    y
}

/// A 30 MB scalar expanded by a few aliases.
fn big_scalar_under_aliases() -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  a: &a \"{}\"\n  b: [*a, *a, *a]\n",
        "y".repeat(30_000_000)
    )
}

#[test]
fn alias_bomb_and_huge_scalar_fail_the_build_clearly() {
    for (name, text) in [
        ("bomb.yaml", alias_bomb()),
        ("big.yaml", big_scalar_under_aliases()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("kustomization.yaml"),
            format!("resources:\n  - {name}\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join(name), text).unwrap();
        let out = flotilla_build(dir.path(), &[]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name), "names the file: {err}");
        assert!(err.contains("exceeds the limit"), "{name}: {err}");
    }
}

// ---------------------------------------------------------------- controller

fn api(client: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn ks_api(client: &kube::Client) -> Api<DynamicObject> {
    api(
        client,
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    )
}

fn git_api(client: &kube::Client) -> Api<DynamicObject> {
    api(
        client,
        "source.toolkit.fluxcd.io",
        "GitRepository",
        "gitrepositories",
    )
}

async fn create(api: &Api<DynamicObject>, obj: Value) {
    let o: DynamicObject = serde_json::from_value(obj).expect("object");
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
}

fn ready(obj: &Value) -> Option<&Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

async fn wait_ready(client: &kube::Client, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let api = ks_api(client);
    wait_until(what, PATIENCE, || async {
        let o = api.get_opt("app").await.ok().flatten()?;
        let o = serde_json::to_value(o).ok()?;
        let r = ready(&o)?;
        pred(r).then_some(o)
    })
    .await
}

async fn start_controller(client: &kube::Client, data: &Path, no_remote_bases: bool) -> Controller {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "apps"}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    let opts = ControllerOptions {
        data_dir: data.to_path_buf(),
        health_poll: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(10),
        allow_file_urls: true,
        no_remote_bases,
        ..ControllerOptions::default()
    };
    Controller::start(vec![("test".to_string(), client.clone())], &opts)
}

async fn source_and_kustomization(client: &kube::Client, url: &str) {
    create(
        &git_api(client),
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": "default"},
            "spec": {"url": url, "interval": "10m", "ref": {"branch": "main"}}
        }),
    )
    .await;
    create(
        &ks_api(client),
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"interval": "10m", "retryInterval": "2s", "timeout": "20s", "path": "./app",
                     "prune": true, "targetNamespace": "apps",
                     "sourceRef": {"kind": "GitRepository", "name": "repo"}}
        }),
    )
    .await;
}

async fn poke_source(client: &kube::Client, token: &str) {
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    git_api(client)
        .patch("repo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
}

async fn config_map(client: &kube::Client, name: &str) -> Option<ConfigMap> {
    Api::<ConfigMap>::namespaced(client.clone(), "apps")
        .get_opt(name)
        .await
        .expect("get cm")
}

#[tokio::test]
async fn controller_applies_remote_bases_and_refuses_bombs_without_pruning() {
    if !have_git() {
        return;
    }
    let (remote, _) = base_repo(&[]);
    let Some((_daemon, remote_url)) = remote.serve() else {
        return;
    };
    let repo = Repo::new();
    repo.write(
        "app/kustomization.yaml",
        &format!("resources:\n  - local.yaml\n  - {remote_url}//base?ref=v1\n"),
    );
    repo.write("app/local.yaml", &configmap_yaml("keep-me", "x"));
    repo.commit("app with a remote base");
    let (_cluster, client) = in_process(common::quiet_options());
    let data = tempfile::tempdir().unwrap();
    let controller = start_controller(&client, data.path(), false).await;
    source_and_kustomization(&client, &repo.url()).await;
    wait_ready(&client, "applied with the remote base", |r| {
        r["status"] == "True"
    })
    .await;
    assert!(config_map(&client, "from-git").await.is_some());
    assert!(config_map(&client, "keep-me").await.is_some());

    for (i, (name, text)) in [
        ("bomb.yaml", alias_bomb()),
        ("big.yaml", big_scalar_under_aliases()),
    ]
    .into_iter()
    .enumerate()
    {
        repo.write(&format!("app/{name}"), &text);
        repo.write(
            "app/kustomization.yaml",
            &format!("resources:\n  - local.yaml\n  - {name}\n"),
        );
        repo.commit(name);
        poke_source(&client, &i.to_string()).await;
        let obj = wait_ready(&client, &format!("{name}: BuildFailed"), |r| {
            r["status"] == "False"
                && r["reason"] == "BuildFailed"
                && r["message"].as_str().is_some_and(|m| m.contains(name))
        })
        .await;
        let msg = ready(&obj).unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(msg.contains("exceeds the limit"), "{msg}");
        assert!(
            config_map(&client, "from-git").await.is_some(),
            "nothing pruned after {name}"
        );
        assert!(config_map(&client, "keep-me").await.is_some());
        repo.remove(&format!("app/{name}"));
    }
    controller.shutdown().await;
}

#[tokio::test]
async fn controller_with_no_remote_bases_refuses_them() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write(
        "app/kustomization.yaml",
        "resources:\n  - https://github.com/example/never-fetched//base?ref=v1\n",
    );
    repo.commit("remote base");
    let (_cluster, client) = in_process(common::quiet_options());
    let data = tempfile::tempdir().unwrap();
    let controller = start_controller(&client, data.path(), true).await;
    source_and_kustomization(&client, &repo.url()).await;
    let obj = wait_ready(&client, "BuildFailed", |r| r["reason"] == "BuildFailed").await;
    let msg = ready(&obj).unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("fs-security-constraint"), "{msg}");
    assert!(msg.contains("--no-remote-bases"), "{msg}");
    controller.shutdown().await;
}
