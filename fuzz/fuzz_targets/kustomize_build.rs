//! A whole kustomize build of a small fuzzer-made tree in a scratch directory; see
//! `checks::kustomize_build`.
#![no_main]

#[allow(dead_code)] // each target uses one of the checks
#[path = "../src/checks.rs"]
mod checks;

use std::path::PathBuf;
use std::sync::LazyLock;

static SCRATCH: LazyLock<PathBuf> = LazyLock::new(|| {
    std::env::temp_dir().join(format!("flotilla-fuzz-build-{}", std::process::id()))
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::kustomize_build(data, &SCRATCH));
