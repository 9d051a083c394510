//! Measures the resident memory of a real `flotilla apiserver` process holding 10,000 Kustomizations
//! (the benchmark's object, benches/support/kustomization.rs). Numbers in BENCHMARKS.md.
//!
//! ```text
//! cargo build --release
//! cargo run --release --example apiserver_rss -- target/release/flotilla
//! ```
//!
//! It starts `flotilla apiserver --no-simulate --clusters dev --kubeconfig-out <tmp>/kubeconfig`, loads
//! the objects over TCP with kube::Client (create + status patch each, 8 requests in flight), and
//! prints VmRSS / VmHWM from /proc/<pid>/status when idle, after loading, and after five full LISTs.
//! The server process is killed at the end.

#[path = "../benches/support/kustomization.rs"]
mod kustomization;

#[path = "support/process.rs"]
mod child_process;

use anyhow::{Context, Result, bail};
use child_process::{KillOnDrop, memory};
use futures::{StreamExt, TryStreamExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const OBJECTS: usize = 10_000;

fn report(stage: &str, pid: u32) -> Result<()> {
    let (rss, hwm) = memory(pid)?;
    println!(
        "{stage:<34} VmRSS {:>7.1} MiB   VmHWM {:>7.1} MiB",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    Ok(())
}

fn request(
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<http::Request<Vec<u8>>> {
    Ok(http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(body)?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let binary = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/release/flotilla".into()),
    );
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    let child = Command::new(&binary)
        .args([
            "apiserver",
            "--no-simulate",
            "--clusters",
            "dev",
            "--kubeconfig-out",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let server = KillOnDrop(child);
    let pid = server.0.id();
    let t0 = Instant::now();
    while !kubeconfig.exists() {
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("the server wrote no kubeconfig within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The kubeconfig is renamed into place whole, so it is complete once it exists.
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    let client = kube::Client::try_from(config)?;
    println!("server pid {pid} ({})", binary.display());
    report("idle (seeded namespaces + CRDs)", pid)?;

    let t1 = Instant::now();
    client
        .request_text(request(
            "POST",
            "/api/v1/namespaces",
            "application/json",
            kustomization::namespace_body().to_string().into_bytes(),
        )?)
        .await?;
    let coll = format!(
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{}/kustomizations",
        kustomization::NAMESPACE
    );
    futures::stream::iter(0..OBJECTS)
        .map(|i| {
            let client = client.clone();
            let coll = coll.clone();
            async move {
                let body = kustomization::create_body(i).to_string().into_bytes();
                client
                    .request_text(request("POST", &coll, "application/json", body)?)
                    .await?;
                let patch = kustomization::status_patch(i, "2026-01-01T00:00:00Z")
                    .to_string()
                    .into_bytes();
                let path = format!("{}/status", kustomization::object_path(i));
                client
                    .request_text(request(
                        "PATCH",
                        &path,
                        "application/merge-patch+json",
                        patch,
                    )?)
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(8)
        .try_collect::<()>()
        .await?;
    println!(
        "loaded {OBJECTS} Kustomizations (create + status patch) in {:.1?}",
        t1.elapsed()
    );
    report("after loading 10,000 objects", pid)?;

    let mut list_bytes = 0;
    for _ in 0..5 {
        let list = client
            .request_text(request("GET", kustomization::LIST_PATH, "", Vec::new())?)
            .await?;
        list_bytes = list.len();
    }
    println!("full list: {list_bytes} bytes");
    report("after 5 full lists", pid)?;
    Ok(())
}
