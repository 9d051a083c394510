//! flotilla's run of fluxcd/flux-benchmark's "mean time to production" for Kustomizations.
//!
//! ```text
//! cargo build --release
//! cargo run --release --example flux_benchmark -- target/release/flotilla 100 500 1000
//! ```
//!
//! For each N: starts `flotilla apiserver --clusters bench --rollout-delay 0s` (workload simulator
//! on, zero delay) and `flotilla controller --concurrent C` as separate processes, writes one git
//! repository with N apps (each a Deployment scaled to zero, a ServiceAccount, a Service and an
//! Ingress; plain YAML, so the controller generates the kustomization as Flux does), creates one
//! GitRepository and waits for its artifact, records the controller's idle RSS, then creates the N
//! Kustomizations at once and times creation → every Kustomization Ready=True. Prints the row in
//! flux-benchmark's table format plus idle RSS and peak RSS (VmHWM) of the controller process.
//! `FLOTILLA_BENCH_CONCURRENCY` sets C (default 10); `FLOTILLA_BENCH_LOG=DIR` keeps the controller's
//! log there.

#[path = "support/process.rs"]
mod child_process;

use anyhow::{Context, Result, bail};
use child_process::{KillOnDrop, memory};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The app of flux-benchmark: Deployment (0 replicas), ServiceAccount, Service, Ingress.
fn write_app(root: &Path, i: usize) -> Result<()> {
    let dir = root.join(format!("apps/app-{i}"));
    std::fs::create_dir_all(&dir)?;
    let name = format!("app-{i}");
    std::fs::write(
        dir.join("deployment.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 0\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      serviceAccountName: {name}\n      containers:\n        - name: podinfo\n          image: ghcr.io/stefanprodan/podinfo:6.7.0\n          ports:\n            - containerPort: 9898\n              name: http\n"
        ),
    )?;
    std::fs::write(
        dir.join("serviceaccount.yaml"),
        format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n"),
    )?;
    std::fs::write(
        dir.join("service.yaml"),
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n  ports:\n    - name: http\n      port: 9898\n      targetPort: http\n"
        ),
    )?;
    std::fs::write(
        dir.join("ingress.yaml"),
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\nspec:\n  rules:\n    - host: {name}.example.com\n      http:\n        paths:\n          - path: /\n            pathType: Prefix\n            backend:\n              service:\n                name: {name}\n                port:\n                  name: http\n"
        ),
    )?;
    Ok(())
}

fn dynamic(client: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::namespaced_with(client.clone(), "flux-system", &ar)
}

fn is_ready(o: &DynamicObject) -> bool {
    o.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

async fn wait_file(path: &Path) -> Result<()> {
    let t0 = Instant::now();
    while !path.exists() {
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("{} did not appear within 30 s", path.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn run(binary: &Path, n: usize, concurrency: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    let server = KillOnDrop(
        Command::new(binary)
            .args([
                "apiserver",
                "--clusters",
                "bench",
                "--rollout-delay",
                "0s",
                "--kubeconfig-out",
            ])
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?,
    );
    wait_file(&kubeconfig).await?;
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    let client = kube::Client::try_from(config)?;

    // The repository.
    let work = dir.path().join("work");
    let bare = dir.path().join("remote.git");
    std::fs::create_dir_all(&work)?;
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "remote.git"],
    )?;
    git(&work, &["init", "-q", "-b", "main"])?;
    for i in 0..n {
        write_app(&work, i)?;
    }
    git(&work, &["add", "-A"])?;
    git(&work, &["commit", "-q", "-m", "apps"])?;
    git(
        &work,
        &["push", "-q", bare.to_str().context("path")?, "main"],
    )?;

    for ns in ["flux-system", "apps"] {
        let body: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns}}))?;
        Api::all(client.clone())
            .create(&PostParams::default(), &body)
            .await?;
    }
    let data = dir.path().join("data");
    let controller = KillOnDrop(
        Command::new(binary)
            .args(["controller", "--allow-file-urls", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["--concurrent", &concurrency.to_string(), "--data-dir"])
            .arg(&data)
            .arg("--log-file")
            .arg(dir.path().join("controller.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let pid = controller.0.id();
    let gitrepos = dynamic(
        &client,
        "source.toolkit.fluxcd.io",
        "GitRepository",
        "gitrepositories",
    );
    let repo: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {"url": format!("file://{}", bare.display()), "interval": "1h", "ref": {"branch": "main"}}
    }))?;
    gitrepos.create(&PostParams::default(), &repo).await?;
    let t0 = Instant::now();
    loop {
        if gitrepos
            .get("apps")
            .await
            .map(|o| is_ready(&o))
            .unwrap_or(false)
        {
            break;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            bail!("the GitRepository did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_rss, _) = memory(pid)?;

    let kss = dynamic(
        &client,
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    );
    let start = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let kss = kss.clone();
            async move {
                let ks: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": format!("app-{i}"), "namespace": "flux-system"},
                    "spec": {"interval": "1h", "retryInterval": "5s", "path": format!("./apps/app-{i}"),
                             "prune": true, "targetNamespace": "apps",
                             "sourceRef": {"kind": "GitRepository", "name": "apps"}}
                }))?;
                kss.create(&PostParams::default(), &ks).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<()>()
        .await?;
    let created = start.elapsed();
    let mut ready;
    loop {
        let list = kss.list(&ListParams::default()).await?;
        ready = list.items.iter().filter(|o| is_ready(o)).count();
        if ready == n {
            break;
        }
        if start.elapsed() > Duration::from_secs(1800) {
            bail!("only {ready} of {n} Kustomizations became ready within 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let took = start.elapsed();
    let (rss, hwm) = memory(pid)?;
    println!(
        "| {n} | Kustomization | flotilla controller (concurrency {concurrency}) | {:.1}s | {:.1} MiB | idle {:.1} MiB, end {:.1} MiB, created in {:.1}s |",
        took.as_secs_f64(),
        hwm as f64 / 1024.0,
        idle_rss as f64 / 1024.0,
        rss as f64 / 1024.0,
        created.as_secs_f64()
    );
    drop(controller);
    drop(server);
    if let Some(keep) = std::env::var_os("FLOTILLA_BENCH_LOG") {
        let to = PathBuf::from(keep).join(format!("controller-{n}.log"));
        std::fs::copy(dir.path().join("controller.log"), &to)?;
        eprintln!("controller log kept in {}", to.display());
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/release/flotilla".into()),
    );
    let counts: Vec<usize> = args
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .context("counts must be numbers")?;
    let counts = if counts.is_empty() {
        vec![100, 500, 1000]
    } else {
        counts
    };
    let concurrency = std::env::var("FLOTILLA_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    println!("| Objects | Type | Component | Duration | Max Memory | Notes |");
    println!("|---|---|---|---|---|---|");
    for n in counts {
        run(&binary, n, concurrency).await?;
    }
    Ok(())
}
