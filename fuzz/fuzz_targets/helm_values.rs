//! Helm engine: see `helm_checks::values`.
#![no_main]

#[allow(dead_code)] // each target uses one of the checks
#[path = "../src/helm_checks.rs"]
mod helm_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| helm_checks::values(data));
