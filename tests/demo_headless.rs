//! `flotilla demo --headless`, in-process: the three clusters are seeded, every cluster fetches
//! the demo repository, `:demo commit` reaches every cluster, and every Kustomization converges
//! except the intentionally broken one.
//! All assertions go through kube clients built from the kubeconfig the demo writes, over TCP.

use std::time::Duration;

use flotilla::demo::{CLUSTERS, Demo, DemoOptions};
use kube::api::{Api, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

/// Generous: two cores shared with other builds; nothing here asserts a duration.
const CONVERGE_WITHIN: Duration = Duration::from_secs(180);

async fn start(dir: &std::path::Path) -> Demo {
    Demo::start(DemoOptions {
        data_dir: Some(dir.join("data")),
        kubeconfig_out: Some(dir.join("kubeconfig")),
        rollout_delay: Duration::from_millis(300),
        health_poll: Duration::from_millis(250),
        // The registry's timer then publishes every 75 min: only the tests publish.
        speed: 0.01,
    })
    .await
    .expect("demo starts")
}

async fn client(demo: &Demo, context: &str) -> kube::Client {
    let kc = Kubeconfig::read_from(demo.kubeconfig_path()).expect("kubeconfig readable");
    let config = kube::Config::from_custom_kubeconfig(
        kc,
        &KubeConfigOptions {
            context: Some(context.to_string()),
            ..KubeConfigOptions::default()
        },
    )
    .await
    .expect("context in kubeconfig");
    kube::Client::try_from(config).expect("client")
}

fn api(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    ns: &str,
) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind)),
    )
}

fn ready(obj: &DynamicObject) -> Option<(String, String, String)> {
    let conditions = obj.data.pointer("/status/conditions")?.as_array()?;
    let c = conditions.iter().find(|c| c["type"] == "Ready")?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some((s("status"), s("reason"), s("message")))
}

/// Polls `check` once a quarter second until it returns `Ok`, or fails with its last complaint.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + CONVERGE_WITHIN;
    loop {
        match check().await {
            Ok(()) => return,
            Err(why) if tokio::time::Instant::now() >= deadline => {
                panic!("{what} did not happen in time: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

async fn git_revision(client: &kube::Client) -> Result<String, String> {
    let repo = api(
        client,
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        "flux-system",
    )
    .get("flux-system")
    .await
    .map_err(|e| e.to_string())?;
    match ready(&repo) {
        Some((s, _, _)) if s == "True" => repo
            .data
            .pointer("/status/artifact/revision")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| "no artifact revision".to_string()),
        other => Err(format!("GitRepository not Ready: {other:?}")),
    }
}

/// Ok when the cluster's `flux-system` artifact is the repository's current head and that head is
/// `commit` or was made after it (image automation may commit on top at any time; it never
/// rewrites history, so "main has moved past `commit`" means `commit` is an ancestor).
async fn follows_head(
    client: &kube::Client,
    repo: &flotilla::demo::repo::DemoRepo,
    commit: &str,
) -> Result<(), String> {
    let head = repo.head().map_err(|e| e.to_string())?;
    let rev = git_revision(client).await?;
    if rev != format!("main@sha1:{head}") {
        return Err(format!("at {rev}, main is {head}"));
    }
    let git = gix::open(repo.dir()).map_err(|e| e.to_string())?;
    let head_id = gix::ObjectId::from_hex(head.as_bytes()).map_err(|e| e.to_string())?;
    let wanted = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| e.to_string())?;
    let walk = git.rev_walk([head_id]).all().map_err(|e| e.to_string())?;
    for info in walk {
        let info = info.map_err(|e| e.to_string())?;
        if info.id == wanted {
            return Ok(());
        }
    }
    Err(format!("{commit} is not in the history of main ({head})"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_cluster_fetches_the_demo_repository_and_follows_a_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = start(dir.path()).await;
    let kubeconfig = std::fs::read_to_string(demo.kubeconfig_path()).expect("kubeconfig written");
    for c in CLUSTERS {
        assert!(
            kubeconfig.contains(&format!("name: \"{c}\"")),
            "{kubeconfig}"
        );
    }
    let head = demo.repo().head().expect("repository head");

    for cluster in CLUSTERS {
        let client = client(&demo, cluster).await;
        let settings = api(&client, "", "v1", "ConfigMap", "flux-system")
            .get("demo-settings")
            .await
            .expect("demo-settings seeded");
        assert_eq!(settings.data["data"]["CLUSTER_NAME"], *cluster);
        assert_eq!(
            settings.data["data"]["DEMO_REGISTRY"],
            demo.registry().host()
        );
        eventually(&format!("{cluster}: GitRepository fetches main"), || {
            follows_head(&client, demo.repo(), &head)
        })
        .await;
    }

    // Argo CD objects keep the statuses the demo wrote.
    let production = client(&demo, "production").await;
    let apps = api(
        &production,
        "argoproj.io",
        "v1alpha1",
        "Application",
        "argocd",
    );
    let degraded = apps
        .get("payments-gateway")
        .await
        .expect("Application seeded");
    assert_eq!(
        degraded.data.pointer("/status/health/status"),
        Some(&Value::from("Degraded"))
    );
    assert!(
        api(
            &production,
            "argoproj.io",
            "v1alpha1",
            "AppProject",
            "argocd"
        )
        .get("platform")
        .await
        .is_ok()
    );

    // `:demo commit` reaches every cluster without waiting for the 10 s interval.
    let commit = demo.commit_change().await.expect("demo commit");
    assert_ne!(commit.commit, head);
    for cluster in CLUSTERS {
        let client = client(&demo, cluster).await;
        eventually(
            &format!("{cluster}: GitRepository follows the demo commit"),
            || follows_head(&client, demo.repo(), &commit.commit),
        )
        .await;
    }

    // The console's `:demo …` commands, through the handle.
    let handle = demo.handle();
    let said = handle.run_command("commit").await.expect(":demo commit");
    assert!(said.contains("dev: scale podinfo to 3 replicas"), "{said}");
    let said = handle
        .run_command(" publish ")
        .await
        .expect(":demo publish");
    assert_eq!(said, "demo: published stefanprodan/podinfo:6.1.0");
    assert!(
        demo.registry()
            .tags("stefanprodan/podinfo")
            .is_some_and(|t| t.contains(&"6.1.0".to_string()))
    );
    let err = handle.run_command("rollback").await.expect_err("unknown");
    assert!(err.to_string().contains(":demo commit"), "{err}");

    let data = demo.data_dir().to_path_buf();
    demo.shutdown().await;
    assert!(data.join("repository.git").is_dir(), "--data-dir is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_temporary_data_directory_is_removed_on_shutdown() {
    let demo = Demo::start(DemoOptions::default())
        .await
        .expect("demo starts");
    let data = demo.data_dir().to_path_buf();
    assert!(demo.kubeconfig_path().starts_with(&data));
    assert!(data.join("repository.git").is_dir());
    demo.shutdown().await;
    assert!(!data.exists(), "{} was left behind", data.display());
}

/// The convergence test: every Kustomization Ready except staging's `apps`, which fails
/// its health check on the `1.5.0-broken` checkout Deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_clusters_converge_except_the_broken_staging_apps() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = start(dir.path()).await;
    for cluster in CLUSTERS {
        let client = client(&demo, cluster).await;
        eventually(&format!("{cluster}: Kustomizations settle"), || {
            let client = client.clone();
            async move {
                let list = api(
                    &client,
                    "kustomize.toolkit.fluxcd.io",
                    "v1",
                    "Kustomization",
                    "flux-system",
                )
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
                let mut names = Vec::new();
                for ks in &list.items {
                    let name = ks.metadata.name.clone().unwrap_or_default();
                    let state = ready(ks).ok_or_else(|| format!("{name}: no Ready condition"))?;
                    if *cluster == "staging" && name == "apps" {
                        if state.0 != "False" || state.1 != "HealthCheckFailed" {
                            return Err(format!("staging apps: {state:?}"));
                        }
                        if !state.2.contains("Deployment/checkout/checkout") {
                            return Err(format!(
                                "staging apps does not name the Deployment: {}",
                                state.2
                            ));
                        }
                    } else if state.0 != "True" {
                        return Err(format!("{name}: {state:?}"));
                    }
                    names.push(name);
                }
                names.sort();
                if names == ["apps", "flux-system", "infrastructure"] {
                    Ok(())
                } else {
                    Err(format!("Kustomizations {names:?}"))
                }
            }
        })
        .await;
    }
    // The environments run their overlay's Deployments.
    for (cluster, replicas, tag) in [
        ("dev", 1, "6.0.3"),
        ("staging", 2, "6.0.2"),
        ("production", 3, "6.0.0"),
    ] {
        let client = client(&demo, cluster).await;
        let podinfo = api(&client, "apps", "v1", "Deployment", "podinfo")
            .get("podinfo")
            .await
            .unwrap_or_else(|e| panic!("{cluster}: podinfo deployed: {e}"));
        assert_eq!(
            podinfo.data.pointer("/spec/replicas"),
            Some(&Value::from(replicas)),
            "{cluster}"
        );
        let image = podinfo
            .data
            .pointer("/spec/template/spec/containers/0/image")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if cluster == "production" {
            // Image automation may already have moved production past the committed 6.0.0.
            assert!(
                image.starts_with("ghcr.io/stefanprodan/podinfo:6."),
                "{image}"
            );
        } else {
            assert_eq!(
                image,
                format!("ghcr.io/stefanprodan/podinfo:{tag}"),
                "{cluster}"
            );
        }
    }
    // The staging failure is the checkout Deployment's, past its progress deadline.
    let staging = client(&demo, "staging").await;
    let checkout = api(&staging, "apps", "v1", "Deployment", "checkout")
        .get("checkout")
        .await
        .expect("checkout deployed in staging");
    let progressing = checkout
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"))
        .and_then(|c| c["reason"].as_str())
        .map(str::to_string);
    assert_eq!(progressing.as_deref(), Some("ProgressDeadlineExceeded"));
    demo.shutdown().await;
}

/// The image-automation loop in production: the ImagePolicy picks 6.0.3 (the newest 6.x
/// tag the demo registry starts with), the ImageUpdateAutomation commits it to the marked line of
/// `apps/overlays/production/kustomization.yaml`, and production runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn production_runs_the_tag_image_automation_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = start(dir.path()).await;
    let production = client(&demo, "production").await;
    let policies = api(
        &production,
        "image.toolkit.fluxcd.io",
        "v1",
        "ImagePolicy",
        "flux-system",
    );
    eventually("the ImagePolicy picks 6.0.3", || {
        let policies = policies.clone();
        async move {
            let p = policies.get("podinfo").await.map_err(|e| e.to_string())?;
            match p
                .data
                .pointer("/status/latestRef/tag")
                .and_then(Value::as_str)
            {
                Some("6.0.3") => Ok(()),
                other => Err(format!("latestRef.tag {other:?}, Ready {:?}", ready(&p))),
            }
        }
    })
    .await;
    let marked = "newTag: 6.0.3 # {\"$imagepolicy\": \"flux-system:podinfo:tag\"}";
    eventually("the automation commits 6.0.3", || {
        let repo = demo.repo().clone();
        async move {
            let text = repo
                .read_file("apps/overlays/production/kustomization.yaml")
                .map_err(|e| e.to_string())?
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            if text.contains(marked) {
                Ok(())
            } else {
                Err(text)
            }
        }
    })
    .await;
    // Only the marked line changed in that file.
    let text = demo
        .repo()
        .read_file("apps/overlays/production/kustomization.yaml")
        .expect("read")
        .expect("present");
    let original = flotilla::demo::template::file("apps/overlays/production/kustomization.yaml")
        .expect("embedded");
    assert_eq!(
        String::from_utf8_lossy(&text),
        String::from_utf8_lossy(original).replace(
            "newTag: 6.0.0 # {\"$imagepolicy\"",
            "newTag: 6.0.3 # {\"$imagepolicy\""
        )
    );
    let deployments = api(&production, "apps", "v1", "Deployment", "podinfo");
    eventually("production runs 6.0.3", || {
        let deployments = deployments.clone();
        async move {
            let d = deployments
                .get("podinfo")
                .await
                .map_err(|e| e.to_string())?;
            let image = d
                .data
                .pointer("/spec/template/spec/containers/0/image")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if image == "ghcr.io/stefanprodan/podinfo:6.0.3" {
                Ok(())
            } else {
                Err(image)
            }
        }
    })
    .await;
    demo.shutdown().await;
}
