//! flux-benchmark's source shape: 1,000 OCIRepositories (one artifact pushed to a local
//! `docker-registry`, every object pulling it under its own name) reconciled to Ready by the bundled
//! controller against the embedded API server, in-process. Prints the wall time from creating the
//! objects to the last Ready=True and the process's peak RSS (controller + embedded server +
//! client). Skips when docker-registry is missing. `OCI_BENCH_COUNT` overrides the count.
//!
//! `expect()` here is only on fixture setup: a benchmark whose fixture cannot be built measures
//! nothing, so it stops with the message instead of reporting a number.

#[path = "../tests/image_support/mod.rs"]
mod image_support;

use std::time::{Duration, Instant};

use flotilla::apiserver::{Cluster, ClusterOptions};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use flotilla::controllers::image::registry::oci::{OCI_MANIFEST, OciUrl};
use flotilla::controllers::image::registry::{RegistryClient, RegistryOptions};
use flotilla::controllers::source::artifact::write_archive;
use flotilla::controllers::source::exclusions::Exclusions;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use serde_json::json;

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn push(addr: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..10 {
        std::fs::write(
            dir.path().join(format!("cm-{i}.yaml")),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  k: v\n"),
        )
        .expect("write manifest");
    }
    let (_, layer) =
        write_archive(dir.path(), &Exclusions::new(Vec::new()), Vec::new()).expect("archive");
    let url = OciUrl::parse(&format!("oci://{addr}/bench/podinfo")).expect("url");
    let mut client = RegistryClient::new(
        url.image,
        RegistryOptions {
            insecure: true,
            credentials: None,
            timeout: Duration::from_secs(60),
        },
    )
    .expect("client");
    let config = client.push_blob(b"{}").await.expect("config");
    let layer_digest = client.push_blob(&layer).await.expect("layer");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.cncf.flux.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip",
                    "digest": layer_digest, "size": layer.len()}],
        "annotations": {"org.opencontainers.image.source": "bench", "org.opencontainers.image.revision": "main@sha1:0"}
    }))
    .expect("json");
    client
        .push_manifest("latest", OCI_MANIFEST, &manifest)
        .await
        .expect("manifest");
}

fn main() {
    // cargo bench passes --bench; a filter that is not ours means another bench was asked for.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"oci_sources".contains(a.as_str()))
    {
        return;
    }
    let count: usize = std::env::var("OCI_BENCH_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let Some(registry) = image_support::start_registry(None).await else {
            return;
        };
        push(&registry.addr).await;
        let cluster = Cluster::new(ClusterOptions::default()).expect("cluster");
        let client = kube::Client::new(cluster.router(), "default");
        let data = tempfile::tempdir().expect("tempdir");
        let opts = ControllerOptions {
            data_dir: data.path().to_path_buf(),
            concurrency: 10,
            ..ControllerOptions::default()
        };
        let controller = Controller::start(vec![("bench".to_string(), client.clone())], &opts);
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "OCIRepository"),
            "ocirepositories",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
        let start = Instant::now();
        for i in 0..count {
            let o: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                "metadata": {"name": format!("podinfo-{i:04}"), "namespace": "default"},
                "spec": {"url": format!("oci://{}/bench/podinfo", registry.addr),
                         "ref": {"tag": "latest"}, "interval": "60m"}
            }))
            .expect("object");
            api.create(&PostParams::default(), &o).await.expect("create");
        }
        loop {
            let list = api.list(&ListParams::default()).await.expect("list");
            let ready = list
                .items
                .iter()
                .filter(|o| {
                    o.data
                        .pointer("/status/conditions")
                        .and_then(|c| c.as_array())
                        .is_some_and(|c| {
                            c.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                })
                .count();
            if ready == count {
                break;
            }
            if start.elapsed() > Duration::from_secs(1800) {
                eprintln!("oci_sources: only {ready}/{count} Ready after 30 min");
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let elapsed = start.elapsed();
        println!(
            "oci_sources: {count} OCIRepositories Ready in {:.2} s; peak RSS of the process (controller + embedded API server) {:.1} MiB",
            elapsed.as_secs_f64(),
            status_kib("VmHWM:").unwrap_or(0) as f64 / 1024.0
        );
        controller.shutdown().await;
    });
}
