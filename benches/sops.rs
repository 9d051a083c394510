//! The cost of SOPS decryption in a Kustomization build: the Flux build (overlay, kustomize) of a
//! directory with 500 age-encrypted Secrets (each its own file with its own age stanza, as `sops`
//! writes them) against the same build of the 500 plaintext Secrets. The files are copies of the
//! committed fixture `secret.maconly.yaml` (only the unencrypted `metadata.name` differs, which
//! `mac_only_encrypted` leaves out of the MAC), so no `sops` CLI is needed.
//!
//! Both builds go through `build_manifests_with`, the function the reconciler calls (remote
//! bases refused, which these trees do not use). Every iteration decrypts every file from
//! scratch: the build keeps nothing between runs. The third measurement is the plaintext tree
//! with decryption enabled (the scan for encrypted files finds none), which must cost no more
//! than the plain build.

use criterion::{Criterion, criterion_group, criterion_main};
use flotilla::controllers::kustomization::overlay::{build_manifests, build_manifests_with_keys};
use flotilla::controllers::kustomization::spec::parse_kustomization;
use flotilla::sops::KeyRing;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

const SECRETS: usize = 500;

fn fixture(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sops")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn write_tree(dir: &Path, template: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for i in 0..SECRETS {
        let text = template.replacen(
            "name: db-credentials",
            &format!("name: db-credentials-{i:03}"),
            1,
        );
        std::fs::write(dir.join(format!("secret-{i:03}.yaml")), text).expect("write");
    }
}

fn bench(c: &mut Criterion) {
    let root = tempfile::tempdir().expect("temp dir");
    write_tree(
        &root.path().join("encrypted"),
        &fixture("encrypted/secret.maconly.yaml"),
    );
    write_tree(
        &root.path().join("plain"),
        &fixture("expected/secret.maconly.yaml"),
    );
    let spec = |path: &str| {
        parse_kustomization(&json!({
            "metadata": {"name": "secrets", "namespace": "default"},
            "spec": {"path": path, "interval": "10m", "prune": true,
                     "sourceRef": {"kind": "GitRepository", "name": "repo"},
                     "decryption": {"provider": "sops", "secretRef": {"name": "keys"}}}
        }))
        .expect("spec")
    };
    let (enc_spec, plain_spec) = (spec("./encrypted"), spec("./plain"));
    let mut keys = KeyRing::new();
    keys.add_age("age.agekey", &fixture("age.agekey"))
        .expect("age key");
    let keys = Arc::new(keys);

    let decrypted =
        build_manifests_with_keys(root.path(), &enc_spec, Some(&keys)).expect("decrypts");
    let plain = build_manifests(root.path(), &plain_spec).expect("builds");
    assert_eq!(decrypted.len(), SECRETS);
    assert_eq!(
        decrypted, plain,
        "decrypted objects equal the plaintext ones"
    );

    let mut group = c.benchmark_group("sops");
    group.sample_size(20);
    group.bench_function("build 500 plaintext Secrets", |b| {
        b.iter(|| build_manifests(root.path(), &plain_spec).expect("build"))
    });
    group.bench_function("build 500 age-encrypted Secrets (decrypting)", |b| {
        b.iter(|| build_manifests_with_keys(root.path(), &enc_spec, Some(&keys)).expect("build"))
    });
    group.bench_function("build 500 plaintext Secrets (decryption enabled)", |b| {
        b.iter(|| build_manifests_with_keys(root.path(), &plain_spec, Some(&keys)).expect("build"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
