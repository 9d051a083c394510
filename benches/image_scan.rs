//! Image automation: scanning a 10,000-tag repository on a local `docker-registry` (list all
//! pages, drop exclusions, sort, store; plus the peak-RSS increase of one scan), and the setter
//! rewrite of a 1,000-file repository. Skips the scan bench when docker-registry is missing.
//!
//! `expect()` here is only on fixture setup and TestBackend drawing: a benchmark whose fixture cannot be
//! built or drawn measures nothing, so it stops with the message instead of reporting a number.

#[path = "../tests/image_support/mod.rs"]
mod image_support;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use flotilla::controllers::image::TagStore;
use flotilla::controllers::image::registry::{ImageName, RegistryClient, RegistryOptions};
use flotilla::controllers::image::repository::filter_and_sort;
use flotilla::controllers::image::setters::{LatestRef, PolicyRefs, apply_setters_to_dir};

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

async fn scan(addr: &str, store: &TagStore) -> usize {
    let image = ImageName::parse(&format!("{addr}/bench/app")).expect("image name");
    let mut client = RegistryClient::new(
        image,
        RegistryOptions {
            insecure: true,
            credentials: None,
            timeout: Duration::from_secs(60),
        },
    )
    .expect("client");
    let exclusions = [regex::Regex::new(r"^.*\.sig$").expect("regex")];
    let tags = filter_and_sort(client.list_tags().await.expect("tags"), &exclusions);
    store.set_tags("bench", "app", &tags).expect("store");
    tags.len()
}

fn scan_bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let Some(registry) = rt.block_on(image_support::start_registry(None)) else {
        return;
    };
    rt.block_on(registry.push_image("bench/app", "1.0.0"));
    registry.add_tags_on_disk(
        "bench/app",
        "1.0.0",
        (1..10_000).map(|i| format!("0.{i}.0")),
    );
    let data = tempfile::tempdir().expect("tempdir");
    let store = TagStore::new(data.path());
    // Peak RSS of one scan: reset the high-water mark (clear_refs 5), scan, read it again.
    let before = status_kib("VmRSS:");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let count = rt.block_on(scan(&registry.addr, &store));
    assert_eq!(count, 10_000);
    if let (true, Some(before), Some(peak)) = (reset, before, status_kib("VmHWM:")) {
        eprintln!(
            "image_scan: one 10,000-tag scan: RSS before {:.1} MiB, peak {:.1} MiB (+{:.1} MiB)",
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak.saturating_sub(before) as f64 / 1024.0
        );
    }
    let mut group = c.benchmark_group("image_scan");
    group.sample_size(20);
    group.bench_function("scan_10000_tags_local_registry", |b| {
        b.iter(|| rt.block_on(scan(&registry.addr, &store)))
    });
    group.finish();
}

fn setter_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..1000 {
        let sub = dir.path().join(format!("apps/app{:03}", i / 10));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let text = format!(
            "# app {i}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\n  namespace: apps\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/team/app:1.0.0 # {{\"$imagepolicy\": \"flux-system:app\"}}\n          env:\n            - name: MODE\n              value: production\n"
        );
        std::fs::write(sub.join(format!("deploy{i}.yaml")), text).expect("write");
    }
    let refs = |tag: &str| -> PolicyRefs {
        [(
            "flux-system:app".to_string(),
            LatestRef {
                name: "ghcr.io/team/app".to_string(),
                tag: tag.to_string(),
                digest: String::new(),
            },
        )]
        .into_iter()
        .collect()
    };
    let (a, b) = (refs("1.0.1"), refs("1.0.0"));
    let mut flip = false;
    let mut group = c.benchmark_group("image_setters");
    group.sample_size(20);
    group.bench_function("rewrite_1000_files", |bench| {
        bench.iter(|| {
            // Alternate the tag so every iteration rewrites all 1,000 files.
            flip = !flip;
            let run =
                apply_setters_to_dir(dir.path(), if flip { &a } else { &b }).expect("setters");
            assert_eq!(run.changed_files().len(), 1000);
        })
    });
    group.finish();
}

criterion_group!(benches, scan_bench, setter_bench);
criterion_main!(benches);
