//! `kustomize::build` of one overlay of the generated benchmark repository (500 base resources with
//! generators, SMP and JSON 6902 patches, prefix, labels, annotations, images), plus YAML output.
//! The repository comes from benches/gen_kustomize_repo.py (needs `python3`), written to a temp dir.

use criterion::{Criterion, criterion_group, criterion_main};
use flotilla::kustomize::{self, BuildOptions};
use std::path::Path;
use std::process::Command;

fn generate(out: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gen_kustomize_repo.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(out)
        .args(["--overlays", "2"])
        .status()
        .expect("python3 runs the repository generator");
    assert!(status.success(), "gen_kustomize_repo.py failed");
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    generate(dir.path());
    let overlay = dir.path().join("overlays/o01");
    let opts = BuildOptions {
        boundary: Some(dir.path().to_path_buf()),
        source_filter: None,
        ..BuildOptions::default()
    };
    let objects = kustomize::build(&overlay, &opts).expect("the generated overlay builds");
    assert_eq!(objects.len(), 502, "500 resources + 2 generated objects");

    let mut group = c.benchmark_group("kustomize");
    group.sample_size(20);
    group.bench_function("build overlay (502 objects)", |b| {
        b.iter(|| kustomize::build(&overlay, &opts).expect("build"))
    });
    group.bench_function("build overlay + YAML output", |b| {
        b.iter(|| kustomize::to_yaml_stream(&kustomize::build(&overlay, &opts).expect("build")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
