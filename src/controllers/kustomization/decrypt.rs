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
use std::path::Path;
use std::sync::Arc;

use super::error::ReconcileError;
use super::spec::KustomizationSpec;
use crate::kustomize::{SourceFilter, SourceUse};
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
    if what == SourceUse::Resource && decryption_disabled(&file, &bytes) {
        return Ok(bytes);
    }
    sops::decrypt(&file, &bytes, format, keys)
        .map(|d| d.text.to_vec())
        .map_err(|e| format!("decryption failed: {}", e.detail()))
}

/// Whether every document of a resource file opts out with `…/decrypt: disabled`.
fn decryption_disabled(file: &str, bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let Ok(parsed) = sops::yaml::parse(file, text) else {
        return false;
    };
    !parsed.docs.is_empty()
        && parsed.docs.iter().all(|d| {
            d.to_value()
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(DECRYPT_ANNOTATION))
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
        })
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
