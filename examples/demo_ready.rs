//! Measures `flotilla demo --headless`: time from process start to every healthy Kustomization
//! Ready (all of them except staging's intentionally broken `apps`), time until production runs
//! the tag the image automation committed, and the process's memory.
//! Numbers in BENCHMARKS.md ("Demo").
//!
//! ```text
//! cargo build --release --bin flotilla --example demo_ready
//! target/release/examples/demo_ready target/release/flotilla 5
//! ```
//!
//! Each run starts the binary with `--kubeconfig-out <tmp>/kubeconfig` (temporary data directory,
//! as a first-time user gets), polls the three contexts over TCP with kube::Client every 50 ms,
//! reads VmRSS/VmHWM from /proc/<pid>/status when ready and again 20 s after production's
//! podinfo Deployment runs `6.0.3` (the automation's commit), then sends SIGTERM
//! and waits for the process to exit. Prints each run and the median.

#[path = "support/process.rs"]
mod child_process;

use anyhow::{Context, Result, bail};
use child_process::{KillOnDrop, memory};
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONTEXTS: [&str; 3] = ["dev", "staging", "production"];
const TIMEOUT: Duration = Duration::from_secs(120);

async fn clients(kubeconfig: &Path) -> Result<Vec<(String, kube::Client)>> {
    let mut out = Vec::new();
    for ctx in CONTEXTS {
        let kc = Kubeconfig::read_from(kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(
            kc,
            &KubeConfigOptions {
                context: Some(ctx.to_string()),
                ..KubeConfigOptions::default()
            },
        )
        .await?;
        out.push((ctx.to_string(), kube::Client::try_from(config)?));
    }
    Ok(out)
}

/// True when the cluster's three Kustomizations exist and all but staging/apps are Ready=True.
async fn healthy_ready(cluster: &str, client: &kube::Client) -> bool {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
        )),
    );
    let Ok(list) = api.list(&ListParams::default()).await else {
        return false;
    };
    list.items.len() == 3
        && list.items.iter().all(|ks| {
            let name = ks.metadata.name.as_deref().unwrap_or_default();
            if cluster == "staging" && name == "apps" {
                return true;
            }
            ks.data
                .pointer("/status/conditions")
                .and_then(|c| c.as_array())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        })
}

/// The image of production's podinfo Deployment, if it exists.
async fn production_podinfo_image(client: &kube::Client) -> Option<String> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "podinfo",
        &ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment")),
    );
    let d = api.get("podinfo").await.ok()?;
    d.data
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

struct Run {
    ready: Duration,
    automated: Duration,
    rss_ready: u64,
    rss_later: u64,
    hwm: u64,
}

async fn one_run(binary: &Path) -> Result<Run> {
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    let start = Instant::now();
    let child = Command::new(binary)
        .args(["demo", "--headless", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .arg("--log-file")
        .arg(dir.path().join("flotilla.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let demo = KillOnDrop(child);
    let pid = demo.0.id();
    while !kubeconfig.exists() {
        if start.elapsed() > TIMEOUT {
            bail!("no kubeconfig after {TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let clients = clients(&kubeconfig).await?;
    loop {
        let mut all = true;
        for (name, client) in &clients {
            all &= healthy_ready(name, client).await;
        }
        if all {
            break;
        }
        if start.elapsed() > TIMEOUT {
            bail!("Kustomizations not Ready after {TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready = start.elapsed();
    let (rss_ready, _) = memory(pid)?;
    // Then the image loop: production runs the tag the automation committed (6.0.3 over 6.0.0).
    let production = &clients[2].1;
    loop {
        let image = production_podinfo_image(production).await;
        if image.as_deref() == Some("ghcr.io/stefanprodan/podinfo:6.0.3") {
            break;
        }
        if start.elapsed() > TIMEOUT {
            bail!("production still runs {image:?} after {TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let automated = start.elapsed();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (rss_later, hwm) = memory(pid)?;
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    if !status.success() {
        bail!("kill -TERM {pid} failed");
    }
    let mut demo = demo;
    let exited = demo.0.wait()?;
    if !exited.success() {
        bail!("the demo exited with {exited} after SIGTERM");
    }
    Ok(Run {
        ready,
        automated,
        rss_ready,
        rss_later,
        hwm,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/release/flotilla".into()),
    );
    let runs: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(5);
    let mut times = Vec::new();
    let mut automated = Vec::new();
    for i in 1..=runs {
        let r = one_run(&binary).await?;
        println!(
            "run {i}: healthy Kustomizations Ready after {:>6.2} s, production on the automated tag after {:>6.2} s   VmRSS {:>6.1} MiB (ready), {:>6.1} MiB (+20 s)   VmHWM {:>6.1} MiB",
            r.ready.as_secs_f64(),
            r.automated.as_secs_f64(),
            r.rss_ready as f64 / 1024.0,
            r.rss_later as f64 / 1024.0,
            r.hwm as f64 / 1024.0
        );
        times.push(r.ready);
        automated.push(r.automated);
    }
    times.sort();
    automated.sort();
    if let (Some(ready), Some(auto)) = (
        times.get(times.len() / 2),
        automated.get(automated.len() / 2),
    ) {
        println!(
            "median of {runs}: {:.2} s to healthy Kustomizations Ready, {:.2} s to production on the automated tag",
            ready.as_secs_f64(),
            auto.as_secs_f64()
        );
    }
    Ok(())
}
