//! `spec.decryption` (provider `sops`): keys from the referenced Secret, read per reconcile and
//! dropped after the build; SOPS-encrypted resource, patch and generator source files decrypted in
//! memory as the build reads them; Secret `data` entries holding a SOPS document decrypted after
//! the build (Flux's `DecryptResource`). Every failure is `BuildFailed`, naming the file.
//!
//! One difference from Flux, on purpose: Flux decrypts whole objects after `kustomize build` and
//! skips the MAC check (kustomize may have changed the object). Here the file is decrypted before
//! kustomize transforms it, so the MAC is checked as `sops --decrypt` checks it, and a tampered
//! file fails the reconcile instead of applying.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

use super::error::ReconcileError;
use super::spec::KustomizationSpec;
use crate::kustomize::{SourceFilter, SourceUse};
use crate::sops::tree::{Node, scalar_value};
use crate::sops::{self, Format, KeyRing};

/// The only decryption provider.
pub const PROVIDER_SOPS: &str = "sops";
/// Secret entries with this extension hold age identities.
pub const AGE_EXT: &str = ".agekey";
/// Secret entries with this extension hold armored OpenPGP secret keys.
pub const PGP_EXT: &str = ".asc";
/// Secret entries Flux reads for cloud KMS and Vault credentials (not supported here).
const CLOUD_ENTRIES: [&str; 4] = [
    "sops.aws-kms",
    "sops.azure-kv",
    "sops.gcp-kms",
    "sops.vault-token",
];
/// The per-object opt-out annotation.
const DECRYPT_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/decrypt";

/// Whether the spec asks for SOPS decryption.
pub fn enabled(spec: &KustomizationSpec) -> bool {
    spec.decryption
        .as_ref()
        .is_some_and(|d| d.provider == PROVIDER_SOPS)
}

/// Reads the decryption keys of `spec` from its Secret in `namespace` (none when decryption is
/// off or no Secret is referenced).
pub async fn load_keys(
    client: &kube::Client,
    spec: &KustomizationSpec,
    namespace: &str,
) -> Result<Option<Arc<KeyRing>>, ReconcileError> {
    let Some(name) = spec
        .decryption
        .as_ref()
        .filter(|_| enabled(spec))
        .and_then(|d| d.secret_ref.clone())
    else {
        return Ok(enabled(spec).then(|| Arc::new(KeyRing::new())));
    };
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(&name)
        .await
        .map_err(|e| {
            ReconcileError::BuildFailed(format!(
                "cannot get sops decryption Secret '{namespace}/{name}': {e}"
            ))
        })?
        .ok_or_else(|| {
            ReconcileError::BuildFailed(format!(
                "cannot get sops decryption Secret '{namespace}/{name}': secrets \"{name}\" not found"
            ))
        })?;
    // stringData too: a server that stores it as written (not merged into data) still works.
    let mut entries: Vec<(String, Vec<u8>)> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    entries.extend(
        secret
            .string_data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes())),
    );
    keys_from_entries(&format!("{namespace}/{name}"), &entries).map(|k| Some(Arc::new(k)))
}

/// Builds a key ring from a Secret's decoded entries, as Flux imports them: `*.agekey` and
/// `*.asc`; cloud KMS entries are refused with a clear message; other entries are ignored.
pub fn keys_from_entries(
    secret: &str,
    entries: &[(String, Vec<u8>)],
) -> Result<KeyRing, ReconcileError> {
    let mut keys = KeyRing::new();
    for (name, value) in entries {
        let text = || {
            std::str::from_utf8(value).map_err(|_| {
                ReconcileError::BuildFailed(format!(
                    "failed to import '{name}' data from sops decryption Secret '{secret}': not UTF-8"
                ))
            })
        };
        let import = |e: sops::KeyError| {
            ReconcileError::BuildFailed(format!(
                "failed to import '{name}' data from sops decryption Secret '{secret}': {e}"
            ))
        };
        if name.ends_with(AGE_EXT) {
            keys.add_age(name, text()?).map_err(import)?;
        } else if name.ends_with(PGP_EXT) {
            keys.add_pgp(name, text()?).map_err(import)?;
        } else if CLOUD_ENTRIES.contains(&name.as_str()) {
            return Err(ReconcileError::BuildFailed(format!(
                "sops decryption Secret '{secret}' entry '{name}': cloud KMS and Vault keys are not supported here (only age '*.agekey' and OpenPGP '*.asc' keys are)"
            )));
        }
    }
    Ok(keys)
}

/// Builds the key ring from a Secret object (JSON, `data` base64), for the console's diff view.
pub fn keys_from_secret(secret: &Value, display: &str) -> Result<KeyRing, ReconcileError> {
    let mut entries = Vec::new();
    if let Some(data) = secret.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            let bytes = v
                .as_str()
                .and_then(|s| STANDARD.decode(s).ok())
                .unwrap_or_default();
            entries.push((k.clone(), bytes));
        }
    }
    keys_from_entries(display, &entries)
}

/// The build's source filter: decrypts SOPS files as they are read.
pub fn source_filter(keys: Arc<KeyRing>) -> SourceFilter {
    SourceFilter(Arc::new(move |path, what, bytes| {
        decrypt_source(&keys, path, what, bytes)
    }))
}

/// [`source_filter`] for a build of `source_dir` whose files are shown relative to `boundary`
/// (the artifact directory): the encrypted YAML and JSON files under `source_dir` are decrypted
/// up front, in parallel across the cores, and handed out as the build reads them, in its order.
/// A file whose bytes differ from the ones decrypted (or that was not found up front) is
/// decrypted as it is read. Nothing outlives the build: each build decrypts from scratch.
pub fn prefetching_source_filter(
    keys: Arc<KeyRing>,
    boundary: &Path,
    source_dir: &Path,
) -> SourceFilter {
    let ready = Mutex::new(prefetch(&keys, boundary, source_dir));
    SourceFilter(Arc::new(move |path, what, bytes| {
        if matches!(what, SourceUse::Resource | SourceUse::Patch) {
            // A poisoned lock only means another reader panicked; the map is still consistent.
            let hit = ready.lock().unwrap_or_else(|p| p.into_inner()).remove(path);
            if let Some(mut p) = hit
                && p.input == bytes
            {
                match (&mut p.outcome, what) {
                    (Ok(Some(plain)), _) => return Ok(std::mem::take(&mut **plain)),
                    (Ok(None), SourceUse::Resource) => return Ok(bytes),
                    (Err(e), _) => return Err(std::mem::take(e)),
                    // Opted out as a resource but read as a patch: decrypted below.
                    (Ok(None), _) => {}
                }
            }
        }
        decrypt_source(&keys, path, what, bytes)
    }))
}

/// One file decrypted ahead of the build.
struct Prefetched {
    /// The bytes that were decrypted (the build's read must match them).
    input: Vec<u8>,
    /// The plaintext, `None` when every document opts out of decryption, or the error.
    outcome: Result<Option<Zeroizing<Vec<u8>>>, String>,
}

/// Most files decrypted ahead of one build, and most bytes read for it; beyond, files are
/// decrypted as they are read.
const PREFETCH_MAX_FILES: usize = 10_000;
const PREFETCH_MAX_BYTES: usize = 256 << 20;
/// Fewest files worth a thread of their own (a file takes about 0.1 ms).
const FILES_PER_THREAD: usize = 8;

/// Decrypts the encrypted `*.yaml`, `*.yml` and `*.json` files under `source_dir` in parallel,
/// keyed by their path relative to `boundary` (as the build shows them). Symbolic links are not
/// followed (the build's confined reads resolve them); unreadable entries are left to the build.
fn prefetch(keys: &KeyRing, boundary: &Path, source_dir: &Path) -> HashMap<PathBuf, Prefetched> {
    let (Ok(boundary), Ok(source_dir)) = (boundary.canonicalize(), source_dir.canonicalize())
    else {
        return HashMap::new();
    };
    let mut files = Vec::new();
    let mut budget = PREFETCH_MAX_BYTES;
    let mut dirs = vec![source_dir];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(ty) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if ty.is_dir() {
                dirs.push(path);
                continue;
            }
            let format = match path.extension().and_then(|e| e.to_str()) {
                Some("yaml" | "yml") => Format::Yaml,
                Some("json") => Format::Json,
                _ => continue,
            };
            if !ty.is_file() || files.len() >= PREFETCH_MAX_FILES {
                continue;
            }
            let Ok(rel) = path.strip_prefix(&boundary) else {
                continue;
            };
            let rel = rel.to_path_buf();
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if bytes.len() > budget || !sops::is_encrypted(&bytes, format) {
                continue;
            }
            budget -= bytes.len();
            files.push((rel, format, bytes));
        }
    }
    decrypt_all(keys, files)
}

/// Decrypts `files` (shown path, format, bytes) as resources, spread over the cores; each
/// result stays with its file.
fn decrypt_all(
    keys: &KeyRing,
    files: Vec<(PathBuf, Format, Vec<u8>)>,
) -> HashMap<PathBuf, Prefetched> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().div_ceil(FILES_PER_THREAD))
        .max(1);
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((rel, format, bytes)) = files.get(i) else {
                return done;
            };
            let outcome = open(keys, &rel.display().to_string(), *format, bytes, true)
                .map(|o| o.map(Zeroizing::new));
            done.push((i, outcome));
        }
    };
    let mut outcomes: Vec<_> = if threads == 1 {
        work()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            // A worker that panicked loses its files, which are then decrypted as they are read.
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    outcomes.sort_unstable_by_key(|(i, _)| *i);
    let mut outcomes = outcomes.into_iter().peekable();
    let mut ready = HashMap::with_capacity(files.len());
    for (i, (rel, _, input)) in files.into_iter().enumerate() {
        if let Some((_, outcome)) = outcomes.next_if(|(j, _)| *j == i) {
            ready.insert(rel, Prefetched { input, outcome });
        }
    }
    ready
}

/// The format a file read for `what` is decrypted as (Flux's choice: by extension; env sources
/// default to dotenv, file sources follow their data key's name).
fn format_for(path: &Path, what: SourceUse<'_>) -> Format {
    match what {
        SourceUse::Resource | SourceUse::Patch => {
            if path.extension().is_some_and(|e| e == "json") {
                Format::Json
            } else {
                Format::Yaml
            }
        }
        SourceUse::GeneratorEnv { .. } => match Format::for_path(path) {
            Format::Binary => Format::Dotenv,
            f => f,
        },
        SourceUse::GeneratorFile { key, .. } => Format::for_path(Path::new(key)),
    }
}

fn decrypt_source(
    keys: &KeyRing,
    path: &Path,
    what: SourceUse<'_>,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let format = format_for(path, what);
    if !sops::is_encrypted(&bytes, format) {
        return Ok(bytes);
    }
    let file = path.display().to_string();
    match open(keys, &file, format, &bytes, what == SourceUse::Resource)? {
        Some(plain) => Ok(plain),
        None => Ok(bytes),
    }
}

/// Decrypts one encrypted source file; `None` when `opt_out` (a resource file) and every
/// document carries `…/decrypt: disabled`.
fn open(
    keys: &KeyRing,
    file: &str,
    format: Format,
    bytes: &[u8],
    opt_out: bool,
) -> Result<Option<Vec<u8>>, String> {
    let failed = |e: sops::SopsError| format!("decryption failed: {}", e.detail());
    // The plaintext moves out of its zeroizing buffer to the build, which parses it next.
    let take = |mut d: sops::Decrypted| std::mem::take(&mut *d.text);
    if opt_out && format == Format::Yaml {
        // One parse for the opt-out check and the decryption.
        return sops::decrypt_yaml_unless(file, bytes, keys, &all_opt_out)
            .map(|d| d.map(take))
            .map_err(failed);
    }
    if opt_out && decryption_disabled(file, bytes) {
        return Ok(None);
    }
    sops::decrypt(file, bytes, format, keys)
        .map(|d| Some(take(d)))
        .map_err(failed)
}

/// Whether every (still encrypted) document opts out with `…/decrypt: disabled`.
fn all_opt_out(docs: &[Node]) -> bool {
    !docs.is_empty()
        && docs.iter().all(|d| {
            let value = d
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(DECRYPT_ANNOTATION));
            match value {
                Some(Node::Leaf(l)) => scalar_value(&l.value)
                    .as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case("disabled")),
                _ => false,
            }
        })
}

/// Whether every document of a resource file opts out with `…/decrypt: disabled`.
fn decryption_disabled(file: &str, bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    sops::yaml::parse(file, text).is_ok_and(|parsed| all_opt_out(&parsed.docs))
}

/// After the build: Secret `data` entries whose content is a SOPS document (e.g. generated from
/// a file that was not decrypted as a source) are decrypted in place (Flux's `DecryptResource`
/// for Secrets).
pub fn decrypt_secret_entries(
    mut objects: Vec<Value>,
    keys: &KeyRing,
) -> Result<Vec<Value>, ReconcileError> {
    for obj in &mut objects {
        if obj.get("kind").and_then(Value::as_str) != Some("Secret") {
            continue;
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) else {
            continue;
        };
        for (key, value) in data.iter_mut() {
            let Some(bytes) = value.as_str().and_then(|s| STANDARD.decode(s).ok()) else {
                continue;
            };
            let detected = [Format::Yaml, Format::Json, Format::Dotenv]
                .into_iter()
                .find(|f| sops::is_encrypted(&bytes, *f));
            let Some(input) = detected else {
                continue;
            };
            let shown = format!("Secret '{ns}/{name}' field '{key}'");
            let plain = sops::decrypt(&shown, &bytes, input, keys)
                .map_err(|e| ReconcileError::BuildFailed(format!("decryption failed: {e}")))?;
            // Emitted in the input's format; Flux converts to the key's extension, which only
            // differs for keys named with another format's extension.
            *value = Value::String(STANDARD.encode(&*plain.text));
        }
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_kms_entries_are_refused_and_others_ignored() {
        let err =
            keys_from_entries("ns/keys", &[("sops.aws-kms".into(), b"x".to_vec())]).unwrap_err();
        assert_eq!(err.reason(), "BuildFailed");
        assert!(err.to_string().contains("not supported here"), "{err}");
        let keys = keys_from_entries("ns/keys", &[("README".into(), b"x".to_vec())]).unwrap();
        assert!(keys.is_empty());
        let err =
            keys_from_entries("ns/keys", &[("k.agekey".into(), b"nonsense".to_vec())]).unwrap_err();
        assert!(err.to_string().contains("k.agekey"), "{err}");
    }

    #[test]
    fn formats_follow_flux() {
        let p = Path::new("x/secret.env");
        assert_eq!(
            format_for(p, SourceUse::GeneratorEnv { secret: true }),
            Format::Dotenv
        );
        assert_eq!(
            format_for(
                Path::new("x/vars"),
                SourceUse::GeneratorEnv { secret: true }
            ),
            Format::Dotenv
        );
        assert_eq!(
            format_for(
                p,
                SourceUse::GeneratorFile {
                    secret: true,
                    key: "config.json"
                }
            ),
            Format::Json
        );
        assert_eq!(
            format_for(Path::new("a.yaml"), SourceUse::Resource),
            Format::Yaml
        );
    }
}

#[cfg(test)]
mod prefetch_tests {
    use super::*;
    use crate::controllers::kustomization::overlay::{build_manifests, build_manifests_with_keys};
    use crate::controllers::kustomization::spec::parse_kustomization;
    use serde_json::json;

    const FILES: usize = 40;

    fn fixture(rel: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sops")
            .join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn keys() -> Arc<KeyRing> {
        let mut k = KeyRing::new();
        k.add_age("age.agekey", &fixture("age.agekey")).unwrap();
        Arc::new(k)
    }

    /// `FILES` copies of the mac-only fixture (the name is outside the MAC), in a directory
    /// whose listing order differs from the names' order.
    fn tree(dir: &Path, template: &str) {
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for i in 0..FILES {
            let text = template.replacen(
                "name: db-credentials",
                &format!("name: db-credentials-{i:03}"),
                1,
            );
            let at = if i % 3 == 0 {
                dir.join("sub")
            } else {
                dir.to_path_buf()
            };
            std::fs::write(at.join(format!("s-{:03}.yaml", (i * 7) % FILES)), text).unwrap();
        }
    }

    fn spec(path: &str) -> KustomizationSpec {
        parse_kustomization(&json!({
            "metadata": {"name": "secrets", "namespace": "default"},
            "spec": {"path": path, "interval": "10m", "prune": true,
                     "sourceRef": {"kind": "GitRepository", "name": "repo"},
                     "decryption": {"provider": "sops", "secretRef": {"name": "keys"}}}
        }))
        .unwrap()
    }

    fn names(objects: &[Value]) -> Vec<String> {
        objects
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn parallel_decryption_keeps_the_build_order_and_each_files_plaintext() {
        let root = tempfile::tempdir().unwrap();
        tree(
            &root.path().join("enc"),
            &fixture("encrypted/secret.maconly.yaml"),
        );
        tree(
            &root.path().join("plain"),
            &fixture("expected/secret.maconly.yaml"),
        );
        let got = build_manifests_with_keys(root.path(), &spec("./enc"), Some(&keys())).unwrap();
        let want = build_manifests(root.path(), &spec("./plain")).unwrap();
        assert_eq!(got.len(), FILES);
        assert_eq!(names(&got), names(&want));
        assert_eq!(got, want);
        assert_eq!(got[0]["stringData"]["url"], want[0]["stringData"]["url"]);
        assert!(got.iter().all(|o| o.get("sops").is_none()));
    }

    #[test]
    fn an_error_in_one_file_of_a_parallel_batch_names_that_file_and_fails_the_build() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("enc");
        tree(&dir, &fixture("encrypted/secret.maconly.yaml"));
        let bad = dir.join("s-017.yaml");
        let text = std::fs::read_to_string(&bad).unwrap();
        assert!(text.contains("data:NypUClc1"));
        std::fs::write(&bad, text.replacen("data:NypUClc1", "data:MypUClc1", 1)).unwrap();
        let err = build_manifests_with_keys(root.path(), &spec("./enc"), Some(&keys()))
            .expect_err("a tampered file fails the whole build: nothing of it is applied");
        let msg = err.to_string();
        assert_eq!(err.reason(), "BuildFailed");
        assert!(msg.contains("enc/s-017.yaml"), "{msg}");
        assert!(msg.contains("data:password"), "{msg}");
        assert!(
            !msg.contains("s-016.yaml") && !msg.contains("s-018.yaml"),
            "{msg}"
        );
    }

    #[test]
    fn prefetched_results_are_used_only_for_the_same_bytes_and_use() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("enc");
        tree(&dir, &fixture("encrypted/secret.maconly.yaml"));
        let keys = keys();
        let ready = prefetch(&keys, root.path(), &dir);
        assert_eq!(ready.len(), FILES);
        let shown = Path::new("enc/s-001.yaml");
        let input = ready[shown].input.clone();
        let filter = prefetching_source_filter(Arc::clone(&keys), root.path(), &dir);
        // Other bytes under a prefetched name: handled as read (here: not encrypted, unchanged).
        let other = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n".to_vec();
        assert_eq!(
            (filter.0)(shown, SourceUse::Resource, other.clone()).unwrap(),
            other
        );
        // The prefetched entry was given up; a read of the real bytes decrypts them as read.
        let plain = (filter.0)(shown, SourceUse::Resource, input.clone()).unwrap();
        let plain = String::from_utf8(plain).unwrap();
        assert!(plain.contains("name: db-credentials-"), "{plain}");
        assert!(
            !plain.contains("ENC[") && !plain.contains("sops:"),
            "{plain}"
        );
        // A prefetched file read as a generator source goes the generator's way.
        let shown2 = Path::new("enc/sub/s-002.yaml");
        let input2 = ready[shown2].input.clone();
        let as_env = (filter.0)(
            shown2,
            SourceUse::GeneratorFile {
                secret: true,
                key: "s.yaml",
            },
            input2.clone(),
        )
        .unwrap();
        let as_resource = (filter.0)(shown2, SourceUse::Resource, input2).unwrap();
        assert_eq!(as_env, as_resource);
    }

    #[test]
    fn opted_out_resources_stay_encrypted_with_one_parse() {
        let text = fixture("encrypted/secret.maconly.yaml").replacen(
            "    labels:\n",
            "    annotations:\n        kustomize.toolkit.fluxcd.io/decrypt: Disabled\n    labels:\n",
            1,
        );
        assert!(text.contains("decrypt: Disabled"));
        let keys = keys();
        let out = open(&keys, "a.yaml", Format::Yaml, text.as_bytes(), true).unwrap();
        assert!(out.is_none(), "opted out");
        let out = open(&keys, "a.yaml", Format::Yaml, text.as_bytes(), false).unwrap();
        assert!(out.is_some_and(|p| !String::from_utf8(p).unwrap().contains("ENC[")));
        assert!(decryption_disabled("a.yaml", text.as_bytes()));
        assert!(!decryption_disabled(
            "a.yaml",
            fixture("encrypted/secret.maconly.yaml").as_bytes()
        ));
    }
}
