//! `kustomize::build` of one overlay of the generated benchmark repository (500 base resources with
//! generators, SMP and JSON 6902 patches, prefix, labels, annotations, images), plus YAML output.
//! The repository comes from benches/gen_kustomize_repo.py (needs `python3`), written to a temp dir.
//! The `kustomize scaling` group builds the root of repositories with 1, 5 and 20 overlays (502 to
//! 10,040 objects): time per object should stay flat (the build is linear in the object count).

use criterion::{Criterion, criterion_group, criterion_main};
use flotilla::kustomize::{self, BuildOptions};
use std::path::Path;
use std::process::Command;

fn generate(out: &Path, overlays: usize) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gen_kustomize_repo.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(out)
        .args(["--overlays", &overlays.to_string()])
        .status()
        .expect("python3 runs the repository generator");
    assert!(status.success(), "gen_kustomize_repo.py failed");
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    generate(dir.path(), 2);
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

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("kustomize scaling");
    group.sample_size(10);
    let mut dirs = Vec::new();
    for overlays in [1usize, 5, 20] {
        let dir = tempfile::tempdir().expect("temp dir");
        generate(dir.path(), overlays);
        let opts = BuildOptions::default();
        let objects = kustomize::build(dir.path(), &opts).expect("the generated root builds");
        assert_eq!(objects.len(), 502 * overlays, "502 objects per overlay");
        group.throughput(criterion::Throughput::Elements(objects.len() as u64));
        group.bench_function(format!("build root ({} objects)", objects.len()), |b| {
            b.iter(|| kustomize::build(dir.path(), &opts).expect("build"))
        });
        dirs.push(dir);
    }
    group.finish();
}

criterion_group!(benches, bench, scaling);
criterion_main!(benches);
