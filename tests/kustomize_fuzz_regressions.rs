//! Replays inputs the fuzz targets (fuzz/fuzz_targets/) found or that guard known edge cases:
//! tests/fixtures/kustomize-fuzz/<target>/<input> goes through the very check the target runs
//! (fuzz/src/checks.rs), which must return without a panic or a stack overflow. Test threads have
//! small stacks (2 MiB, like tokio workers), so unbounded recursion fails here too.

#[allow(dead_code)]
#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kustomize-fuzz")
        .join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("regression input directory exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).expect("regression input readable");
            (p, data)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no regression inputs in {}", dir.display());
    out
}

fn replay(target: &str, check: impl Fn(&[u8])) {
    for (path, data) in inputs(target) {
        eprintln!("replaying {}", path.display());
        check(&data);
    }
}

#[test]
fn kustomization_inputs() {
    replay("kustomization", checks::kustomization);
}

#[test]
fn patch_inputs() {
    replay("patch", checks::patch);
}

#[test]
fn kustomize_build_inputs() {
    let scratch = tempfile::tempdir().expect("temp dir");
    replay("kustomize_build", |data| {
        checks::kustomize_build(data, &scratch.path().join("tree"))
    });
}
