//! Shared by the `flotilla demo` tests (in-process and through the binary): kube clients from
//! the demo's kubeconfig, polling, and the two end-to-end checks (every cluster
//! converges except the broken staging apps; production runs the tag the automation commits).

use std::path::Path;
use std::time::Duration;

use flotilla::demo::CLUSTERS;
use flotilla::demo::repo::DemoRepo;
use kube::api::{Api, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

/// A client for `context` of the kubeconfig the demo wrote.
pub async fn client_for(kubeconfig: &Path, context: &str) -> kube::Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig readable");
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

/// Generous: two cores shared with other builds; nothing here asserts a duration.
pub const CONVERGE_WITHIN: Duration = Duration::from_secs(180);

pub fn api(
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

pub fn ready(obj: &DynamicObject) -> Option<(String, String, String)> {
    let conditions = obj.data.pointer("/status/conditions")?.as_array()?;
    let c = conditions.iter().find(|c| c["type"] == "Ready")?;
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some((s("status"), s("reason"), s("message")))
}

/// Polls `check` once a quarter second until it returns `Ok`, or fails with its last complaint.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
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

pub async fn git_revision(client: &kube::Client) -> Result<String, String> {
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
pub async fn follows_head(
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

/// The convergence test: every Kustomization Ready except staging's `apps`, which fails
/// its health check on the `1.5.0-broken` checkout Deployment; every environment runs its overlay.
pub async fn assert_all_clusters_converge(kubeconfig: &Path) {
    for cluster in CLUSTERS {
        let client = client_for(kubeconfig, cluster).await;
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
        let client = client_for(kubeconfig, cluster).await;
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
    let staging = client_for(kubeconfig, "staging").await;
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
}

/// The image-automation loop in production: the ImagePolicy picks 6.0.3 (the newest 6.x
/// tag the demo registry starts with), the ImageUpdateAutomation commits it to the marked line of
/// `apps/overlays/production/kustomization.yaml` of `repo`, and production runs it.
pub async fn assert_production_runs_the_committed_tag(kubeconfig: &Path, repo: &DemoRepo) {
    let production = client_for(kubeconfig, "production").await;
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
        let repo = repo.clone();
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
    let text = repo
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
}
