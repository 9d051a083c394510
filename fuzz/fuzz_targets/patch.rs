//! Merge, JSON and strategic merge patches on fuzzer-built documents; see `checks::patch`.
#![no_main]

#[allow(dead_code)] // each target uses one of the checks
#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::patch(data));
