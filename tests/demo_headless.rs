//! `flotilla demo --headless`, in-process: the three clusters are seeded, every cluster fetches
//! the demo repository, `:demo commit` reaches every cluster, and every Kustomization converges
//! except the intentionally broken one.
//! All assertions go through kube clients built from the kubeconfig the demo writes, over TCP.
//! The checks shared with `demo_no_git` live in `tests/common/demo.rs`.

use std::time::Duration;

use crate::demo_support::{api, client_for, eventually, follows_head};
use flotilla::demo::{CLUSTERS, Demo, DemoOptions};
use serde_json::Value;

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
    client_for(demo.kubeconfig_path(), context).await
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

    // The age-encrypted Secret in the repository is applied decrypted (infrastructure's
    // spec.decryption with the key Secret the demo seeds).
    let dev = client(&demo, "dev").await;
    eventually("dev: checkout-db decrypted and applied", || {
        let secrets = api(&dev, "", "v1", "Secret", "checkout");
        async move {
            let s = secrets
                .get("checkout-db")
                .await
                .map_err(|e| e.to_string())?;
            let password = s
                .data
                .pointer("/data/password")
                .and_then(Value::as_str)
                .ok_or("no data.password")?;
            // base64 of the plaintext "demo-only-not-a-real-password"
            (password == "ZGVtby1vbmx5LW5vdC1hLXJlYWwtcGFzc3dvcmQ=")
                .then_some(())
                .ok_or_else(|| format!("password is {password}"))
        }
    })
    .await;

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

/// The convergence test (see `demo_support::assert_all_clusters_converge`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_clusters_converge_except_the_broken_staging_apps() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = start(dir.path()).await;
    crate::demo_support::assert_all_clusters_converge(demo.kubeconfig_path()).await;
    demo.shutdown().await;
}

/// The image-automation loop (see `demo_support::assert_production_runs_the_committed_tag`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn production_runs_the_tag_image_automation_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = start(dir.path()).await;
    crate::demo_support::assert_production_runs_the_committed_tag(
        demo.kubeconfig_path(),
        demo.repo(),
    )
    .await;
    demo.shutdown().await;
}
