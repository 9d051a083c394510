//! The image decisions view against real components: the embedded API server over TCP (two
//! contexts), a real `docker-registry`, a real git remote and the bundled controller running the
//! GitRepository, ImageRepository, ImagePolicy and ImageUpdateAutomation; then `flotilla images` as a
//! user runs it. Also bad input (missing repository, registry down, artifact 404, a dead context) and
//! the snapshot of a policy with every fate.

use crate::common;
use crate::image_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::gitrepo::{Repo, have_git};
use common::{TcpServer, wait_until};
use flotilla::apiserver::ClusterOptions;
use flotilla::cluster::{Clients, Contexts, Timeouts};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use flotilla::controllers::image::policy::{CompiledPolicy, PolicySpec, TagFate};
use flotilla::views::images::decisions::{ImageOptions, ImageTarget, image_decisions_with};
use flotilla::views::images::report::{
    ImageDecisions, ImageRef, MarkerRef, PolicyDecisions, TagDecisions, render_text, tag_rows,
};
use image_support::start_registry;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(60);

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

fn image_api(client: &kube::Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    api(client, "image.toolkit.fluxcd.io", "v1", kind, plural)
}

async fn create(client: &kube::Client, obj: Value) {
    let api_version = obj["apiVersion"].as_str().expect("apiVersion").to_string();
    let kind = obj["kind"].as_str().expect("kind").to_string();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
    let plural = match kind.as_str() {
        "ImagePolicy" => "imagepolicies".to_string(),
        "ImageRepository" => "imagerepositories".to_string(),
        "GitRepository" => "gitrepositories".to_string(),
        other => format!("{}s", other.to_ascii_lowercase()),
    };
    let api = api(client, group, version, &kind, &plural);
    let o: DynamicObject = serde_json::from_value(obj).expect("object");
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
}

fn deployment(name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

fn policy(name: &str, repo: &str, range: &str) -> Value {
    json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"imageRepositoryRef": {"name": repo},
                    "filterTags": {"pattern": "^[0-9]"},
                    "policy": {"semver": {"range": range}}}})
}

fn fates(tags: &TagDecisions) -> BTreeMap<String, TagFate> {
    tags.rows.iter().map(|r| (r.tag.clone(), r.fate)).collect()
}

async fn status_of(api: &Api<DynamicObject>, name: &str) -> Value {
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|o| o.data.get("status").cloned())
        .unwrap_or(Value::Null)
}

/// Runs the real binary; (exit code, stdout, stderr).
async fn flotilla(kubeconfig: &Path, home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .env_remove("XDG_DATA_HOME")
        .output()
        .await
        .expect("flotilla runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn clients(paths: &[PathBuf]) -> Clients {
    let contexts = Contexts::load_files(paths, false).expect("kubeconfig");
    Clients::with_timeouts(
        contexts,
        Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(10),
        },
    )
}

fn target(context: &str, kind: &str, name: &str) -> ImageTarget {
    ImageTarget {
        context: context.into(),
        kind: kind.into(),
        namespace: "default".into(),
        name: name.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_of_a_live_policy_across_two_contexts() {
    if !have_git() {
        eprintln!("SKIP: git is not installed");
        return;
    }
    let Some(registry) = start_registry(None).await else {
        return;
    };
    for tag in [
        "1.0.0",
        "1.0.1",
        "2.0.0",
        "9nightly",
        "main-abc",
        "1.0.1.sig",
    ] {
        registry.push_image("team/web", tag).await;
    }
    let image = format!("{}/team/web", registry.addr);

    let repo = Repo::new();
    let manifest = format!(
        "# the web app\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n          image: {image}:1.0.0 # {{\"$imagepolicy\": \"default:web\"}}\n        - name: side\n          image: {image}:1.0.0 # {{\"$imagepolicy\": \"default:other\"}}\n"
    );
    repo.write("deploy/web.yaml", &manifest);
    repo.write("elsewhere/web.yaml", &manifest);
    repo.commit("initial");

    let server = TcpServer::start_many(
        &["prod", "staging"],
        ClusterOptions {
            name: "prod".into(),
            ..ClusterOptions::default()
        },
    )
    .await;
    let prod = server.client_for("prod").await;
    let staging = server.client_for("staging").await;
    let data = tempfile::tempdir().expect("tempdir");
    let controller = Controller::start(
        vec![("prod".to_string(), prod.clone())],
        &ControllerOptions {
            data_dir: data.path().to_path_buf(),
            health_poll: Duration::from_millis(200),
            shutdown_grace: Duration::from_secs(10),
            allow_file_urls: true,
            ..ControllerOptions::default()
        },
    );

    create(
        &prod,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": "default"},
        "spec": {"url": repo.url(), "interval": "1s", "ref": {"branch": "main"}}}),
    )
    .await;
    create(
        &prod,
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"image": image, "interval": "10m", "insecure": true}}),
    )
    .await;
    create(&prod, policy("web", "app", ">=1.0.0 <2.0.0")).await;
    create(
        &prod,
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": "auto", "namespace": "default"},
        "spec": {"interval": "1s", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                 "git": {"checkout": {"ref": {"branch": "main"}},
                         "commit": {"author": {"name": "Flux", "email": "flux@example.com"}},
                         "push": {"branch": "main"}},
                 "update": {"path": "./deploy", "strategy": "Setters"}}}),
    )
    .await;
    create(&prod, deployment("web", &format!("{image}:1.0.1"))).await;
    create(&prod, deployment("unrelated", "nginx:1.27")).await;
    create(&staging, deployment("web", &format!("{image}:1.0.0"))).await;

    // The loop: the policy picks 1.0.1, the automation pushes it, the source's artifact follows.
    let automations = image_api(&prod, "ImageUpdateAutomation", "imageupdateautomations");
    let sources = api(
        &prod,
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        "gitrepositories",
    );
    let pushed = wait_until("the automation's push", PATIENCE, || async {
        let s = status_of(&automations, "auto").await;
        s["lastPushCommit"].as_str().map(str::to_string)
    })
    .await;
    wait_until("the artifact at the pushed commit", PATIENCE, || async {
        let s = status_of(&sources, "fleet").await;
        s["artifact"]["revision"]
            .as_str()
            .is_some_and(|r| r.ends_with(&pushed))
            .then_some(())
    })
    .await;

    let clients = clients(std::slice::from_ref(&server.kubeconfig));
    let options = ImageOptions {
        all: true,
        data_dir: Some(data.path().to_path_buf()),
        remote_timeout: Duration::from_secs(10),
    };
    let d = image_decisions_with(&clients, &target("prod", "ImagePolicy", "web"), &options)
        .await
        .expect("decisions");
    assert_eq!(d.policy, "default/web");
    assert_eq!(d.sections.len(), 1);
    let s = &d.sections[0];
    assert_eq!(s.latest.as_ref().map(|l| l.tag.as_str()), Some("1.0.1"));
    assert_eq!(s.repository.tag_count, Some(5), "{:?}", s.repository);
    assert!(s.repository.scan_time.is_some());
    assert_eq!(s.tags.error, None);
    assert!(
        s.tags
            .source
            .as_deref()
            .is_some_and(|src| src.contains(&registry.addr))
    );
    assert!(s.tags.listed_at.is_some());
    assert_eq!(s.tags.total, 5, "the exclusion list drops 1.0.1.sig");
    assert_eq!(s.tags.chosen.as_deref(), Some("1.0.1"));
    assert_eq!(
        fates(&s.tags),
        BTreeMap::from([
            ("1.0.0".to_string(), TagFate::Candidate),
            ("1.0.1".to_string(), TagFate::Chosen),
            ("2.0.0".to_string(), TagFate::OutOfRange),
            ("9nightly".to_string(), TagFate::NotAVersion),
            ("main-abc".to_string(), TagFate::FilteredOut),
        ])
    );
    assert_eq!(s.automations.len(), 1);
    let a = &s.automations[0];
    assert_eq!(a.content_error, None);
    assert_eq!(a.last_push_commit.as_deref(), Some(pushed.as_str()));
    assert!(a.last_push_time.is_some());
    assert_eq!(
        a.markers,
        vec![MarkerRef {
            file: "deploy/web.yaml".into(),
            line: 18,
            setter: "default:web".into(),
            value: Some(format!("{image}:1.0.1")),
            expected: Some(format!("{image}:1.0.1")),
        }]
    );
    let running: Vec<(&str, &str, &str, bool)> = s
        .running
        .iter()
        .map(|r| {
            (
                r.context.as_str(),
                r.name.as_str(),
                r.image.as_str(),
                r.current,
            )
        })
        .collect();
    let (new, old) = (format!("{image}:1.0.1"), format!("{image}:1.0.0"));
    assert_eq!(
        running,
        vec![
            ("prod", "web", new.as_str(), true),
            ("staging", "web", old.as_str(), false)
        ]
    );
    assert!(s.running_errors.is_empty(), "{:?}", s.running_errors);
    let text = render_text(&d);
    assert!(
        text.contains(&format!(
            "deploy/web.yaml:18  default:web  {image}:1.0.1  = latest"
        )),
        "{text}"
    );

    // The same policy through its ImageRepository, and through the workload in the other context.
    let by_repo = image_decisions_with(&clients, &target("prod", "ir", "app"), &options)
        .await
        .expect("by repository");
    let strip = |d: &ImageDecisions| {
        d.sections
            .iter()
            .cloned()
            .map(without_time)
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&by_repo), strip(&d));
    let by_workload = image_decisions_with(&clients, &target("staging", "deploy", "web"), &options)
        .await
        .expect("by workload");
    assert_eq!(by_workload.policy, "default/web");
    assert_eq!(by_workload.sections[0].context, "prod");
    let none = image_decisions_with(
        &clients,
        &target("prod", "Deployment", "unrelated"),
        &options,
    )
    .await
    .expect("unrelated workload");
    assert!(none.sections.is_empty());
    assert!(
        none.notice
            .as_deref()
            .is_some_and(|n| n.contains("no ImagePolicy in any context governs")),
        "{none:?}"
    );

    // The CLI prints the same data.
    let data_dir = data.path().to_str().expect("utf8");
    let (code, out, err) = flotilla(
        &server.kubeconfig,
        server.dir.path(),
        &[
            "images",
            "ip",
            "web",
            "-n",
            "default",
            "--context",
            "prod",
            "--data-dir",
            data_dir,
            "--all",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).expect("json");
    let lib = serde_json::to_value(&d).expect("json");
    for pointer in [
        "/sections/0/tags/rows",
        "/sections/0/automations",
        "/sections/0/running",
        "/sections/0/latest",
    ] {
        assert_eq!(json.pointer(pointer), lib.pointer(pointer), "{pointer}");
    }
    let (code, out, err) = flotilla(
        &server.kubeconfig,
        server.dir.path(),
        &[
            "images",
            "ip",
            "web",
            "-n",
            "default",
            "--context",
            "prod",
            "--data-dir",
            data_dir,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("  chosen: 1.0.1"), "{out}");
    assert!(out.contains("deploy/web.yaml:18"), "{out}");
    let (code, _, err) = flotilla(
        &server.kubeconfig,
        server.dir.path(),
        &[
            "images",
            "ip",
            "missing",
            "-n",
            "default",
            "--context",
            "prod",
        ],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("ImagePolicy default/missing not found in context prod"),
        "{err}"
    );
    let (code, _, err) = flotilla(
        &server.kubeconfig,
        server.dir.path(),
        &["images", "configmap", "x"],
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("not configmap"), "{err}");

    controller.shutdown().await;
}

/// The listing time differs between two gatherings; everything else must not.
fn without_time(mut s: PolicyDecisions) -> PolicyDecisions {
    s.tags.listed_at = None;
    s
}

/// Answers every request with 404.
async fn not_found_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
        }
    });
    addr
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_renders_with_the_errors_named() {
    let server = TcpServer::start(ClusterOptions {
        name: "prod".into(),
        ..ClusterOptions::default()
    })
    .await;
    let prod = server.client().await;
    let http_404 = not_found_server().await;
    let down_registry = format!("127.0.0.1:{}", closed_port());

    create(&prod, policy("orphan", "nope", ">=1.0.0")).await;
    create(&prod, json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
        "metadata": {"name": "down", "namespace": "default"},
        "spec": {"image": format!("{down_registry}/team/web"), "interval": "10m", "insecure": true}})).await;
    create(&prod, policy("unreachable", "down", ">=1.0.0")).await;
    create(&prod, policy("invalid", "down", ">=1.0.0 <<<")).await;
    create(
        &prod,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": "default"},
        "spec": {"url": "https://example.invalid/fleet.git", "interval": "10m"}}),
    )
    .await;
    create(
        &prod,
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": "auto", "namespace": "default"},
        "spec": {"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                 "git": {"commit": {"author": {"name": "a", "email": "a@b"}}},
                 "update": {"path": "./deploy"}}}),
    )
    .await;
    let sources = api(
        &prod,
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        "gitrepositories",
    );
    sources
        .patch_status(
            "fleet",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"artifact": {
                "path": "gitrepository/default/fleet/abc.tar.gz", "revision": "main@sha1:abc",
                "digest": "sha256:00", "size": 10, "lastUpdateTime": "2025-01-01T00:00:00Z",
                "url": format!("http://{http_404}/gitrepository/default/fleet/abc.tar.gz")}}})),
        )
        .await
        .expect("artifact status");
    // A latestRef of the wrong type must not matter.
    image_api(&prod, "ImagePolicy", "imagepolicies")
        .patch_status(
            "unreachable",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"latestRef": 5, "conditions": "x"}})),
        )
        .await
        .expect("odd status");

    // A second kubeconfig with a context nobody answers.
    let extra = server.dir.path().join("down.kubeconfig");
    std::fs::write(
        &extra,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: down\n  cluster:\n    server: https://127.0.0.1:{}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: down\n  context:\n    cluster: down\n    user: down\nusers:\n- name: down\n  user:\n    token: x\n",
            closed_port()
        ),
    )
    .expect("write kubeconfig");
    let clients = clients(&[server.kubeconfig.clone(), extra]);
    let options = ImageOptions {
        all: false,
        data_dir: None,
        remote_timeout: Duration::from_secs(5),
    };

    let orphan = image_decisions_with(&clients, &target("prod", "ip", "orphan"), &options)
        .await
        .expect("orphan renders");
    let s = &orphan.sections[0];
    assert_eq!(
        s.repository.error.as_deref(),
        Some("ImageRepository default/nope not found in context prod")
    );
    assert_eq!(s.automations[0].markers, Vec::new());
    let content_error = s.automations[0]
        .content_error
        .as_deref()
        .unwrap_or_default();
    assert!(content_error.contains("404"), "{content_error}");
    assert!(content_error.contains(&http_404), "{content_error}");
    assert_eq!(s.running_errors.len(), 1, "{:?}", s.running_errors);
    assert_eq!(s.running_errors[0].context, "down");
    let text = render_text(&orphan);
    assert!(text.contains("cannot read the Git content"), "{text}");
    assert!(text.contains("down  error:"), "{text}");

    let unreachable =
        image_decisions_with(&clients, &target("prod", "ip", "unreachable"), &options)
            .await
            .expect("unreachable renders");
    let s = &unreachable.sections[0];
    let err = s.tags.error.as_deref().unwrap_or_default();
    assert!(err.contains("ImageRepository default/down"), "{err}");
    assert!(err.contains(&down_registry), "{err}");
    assert_eq!(s.latest, None);
    assert!(render_text(&unreachable).contains("cannot list tags"));

    let invalid = image_decisions_with(&clients, &target("prod", "ip", "invalid"), &options)
        .await
        .expect("invalid renders");
    assert!(
        invalid.sections[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("ImagePolicy default/invalid")),
        "{:?}",
        invalid.sections[0].error
    );

    let by_repo = image_decisions_with(
        &clients,
        &target("prod", "ImageRepository", "down"),
        &options,
    )
    .await
    .expect("by repository");
    let mut names: Vec<&str> = by_repo.sections.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["invalid", "unreachable"]);
    let lonely = image_decisions_with(&clients, &target("prod", "ir", "nope"), &options).await;
    assert!(
        matches!(&lonely, Err(e) if e.to_string() == "ImageRepository default/nope not found in context prod"),
        "{lonely:?}"
    );
}

#[test]
fn snapshot_of_a_policy_with_every_fate() {
    let spec = PolicySpec::from_spec_json(&json!({
        "policy": {"semver": {"range": ">=1.0.0 <2.0.0"}},
        "filterTags": {"pattern": "^v?[0-9]"}
    }))
    .expect("spec");
    let tags = [
        "v1.2.0",
        "main-1a2b3c",
        "latest",
        "9nightly",
        "2.0.0",
        "1.1.0",
        "1.0.1",
        "1.0.0",
    ];
    let explanation = CompiledPolicy::compile(&spec)
        .expect("compile")
        .explain(&tags);
    let (rows, omitted) = tag_rows(&explanation, Some("1.1.0"), false);
    let name = "ghcr.io/acme/web".to_string();
    let latest = ImageRef {
        name: name.clone(),
        tag: "v1.2.0".into(),
        digest: String::new(),
    };
    let d = ImageDecisions {
        policy: "apps/web".into(),
        target: "ImagePolicy apps/web (context prod)".into(),
        notice: None,
        sections: vec![PolicyDecisions {
            context: "prod".into(),
            namespace: "apps".into(),
            name: "web".into(),
            rule: Some(explanation.policy.clone()),
            filter: Some("pattern '^v?[0-9]'".into()),
            latest: Some(latest.clone()),
            previous: Some(ImageRef {
                name: name.clone(),
                tag: "1.1.0".into(),
                digest: String::new(),
            }),
            repository: flotilla::views::images::report::RepositoryScan {
                namespace: "apps".into(),
                name: "web".into(),
                image: Some(name.clone()),
                canonical: Some(name.clone()),
                tag_count: Some(8),
                scan_time: Some("2025-03-01T10:00:00Z".into()),
                ..Default::default()
            },
            tags: TagDecisions {
                source: Some(format!("registry {name}")),
                listed_at: Some("2025-03-01T10:05:00Z".into()),
                total: tags.len(),
                chosen: explanation.chosen.clone(),
                rows,
                omitted,
                ..Default::default()
            },
            automations: vec![flotilla::views::images::report::AutomationDecisions {
                namespace: "apps".into(),
                name: "web".into(),
                source: "GitRepository apps/fleet".into(),
                update_path: "clusters/prod".into(),
                last_push_commit: Some("4f1c2a9".into()),
                last_push_time: Some("2025-03-01T10:06:00Z".into()),
                content: Some("artifact main@sha1:4f1c2a9 of GitRepository apps/fleet".into()),
                markers: vec![
                    MarkerRef {
                        file: "clusters/prod/web.yaml".into(),
                        line: 21,
                        setter: "apps:web".into(),
                        value: Some(latest.image()),
                        expected: Some(latest.image()),
                    },
                    MarkerRef {
                        file: "clusters/prod/values.yaml".into(),
                        line: 4,
                        setter: "apps:web:tag".into(),
                        value: Some("1.1.0".into()),
                        expected: Some("v1.2.0".into()),
                    },
                ],
                ..Default::default()
            }],
            running: vec![flotilla::views::images::report::RunningImage {
                context: "staging".into(),
                kind: "Deployment".into(),
                namespace: "apps".into(),
                name: "web".into(),
                container: "web".into(),
                image: format!("{name}:1.1.0"),
                current: false,
            }],
            ..Default::default()
        }],
    };
    insta::assert_snapshot!(render_text(&d));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_listed_with_the_repository_secret() {
    let Some(registry) = start_registry(Some(("robot", "s3cret"))).await else {
        return;
    };
    for tag in ["1.0.0", "1.2.0"] {
        registry.push_image("team/api", tag).await;
    }
    let server = TcpServer::start(ClusterOptions {
        name: "prod".into(),
        ..ClusterOptions::default()
    })
    .await;
    let prod = server.client().await;
    let config =
        json!({"auths": {registry.addr.clone(): {"username": "robot", "password": "s3cret"}}});
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(config.to_string());
    create(
        &prod,
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "regcred", "namespace": "default"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": encoded}}),
    )
    .await;
    let image = format!("{}/team/api", registry.addr);
    create(&prod, json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
        "metadata": {"name": "private", "namespace": "default"},
        "spec": {"image": image, "interval": "10m", "insecure": true, "secretRef": {"name": "regcred"}}})).await;
    create(
        &prod,
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
        "metadata": {"name": "anonymous", "namespace": "default"},
        "spec": {"image": image, "interval": "10m", "insecure": true}}),
    )
    .await;
    create(&prod, policy("with-secret", "private", ">=1.0.0")).await;
    create(&prod, policy("without-secret", "anonymous", ">=1.0.0")).await;

    let clients = clients(std::slice::from_ref(&server.kubeconfig));
    let options = ImageOptions {
        all: false,
        data_dir: None,
        remote_timeout: Duration::from_secs(10),
    };
    let d = image_decisions_with(&clients, &target("prod", "ip", "with-secret"), &options)
        .await
        .expect("decisions");
    let tags = &d.sections[0].tags;
    assert_eq!(tags.error, None);
    assert_eq!(tags.chosen.as_deref(), Some("1.2.0"));
    let d = image_decisions_with(&clients, &target("prod", "ip", "without-secret"), &options)
        .await
        .expect("decisions");
    let err = d.sections[0].tags.error.as_deref().unwrap_or_default();
    assert!(err.contains("ImageRepository default/anonymous"), "{err}");
    assert!(
        err.contains("401") || err.to_lowercase().contains("auth"),
        "{err}"
    );
}
