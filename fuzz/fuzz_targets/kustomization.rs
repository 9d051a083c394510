//! Kustomization files and YAML streams (strict and Flux-root decoding, both readers, writer round
//! trip); see `checks::kustomization`.
#![no_main]

#[allow(dead_code)] // each target uses one of the checks
#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::kustomization(data));
