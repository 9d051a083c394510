//! SOPS decryption: files encrypted by the `sops` tool (YAML, JSON, dotenv, binary) read back in memory.
//!
//! Stand-alone engine (like `kustomize`): it knows nothing of Kubernetes objects or controllers. A file
//! is decrypted in four steps, each as `sops` does it:
//! 1. parse the document into an ordered tree ([`yaml`], [`json`] via the YAML reader, [`dotenv`];
//!    binary files are a JSON envelope with one `data` value) and take out the `sops` metadata
//!    ([`metadata`]);
//! 2. recover the 32-byte data key from one of the file's `age` or `pgp` recipients with the
//!    offered [`KeyRing`] ([`keys`]);
//! 3. walk the tree in document order: every value the file's rules say is encrypted
//!    (`ENC[AES256_GCM,…]`) is opened with AES-256-GCM, the additional data being the value's path
//!    (`key:key:`), and typed back (`str`, `int`, `float`, `bool`, `bytes`, `time`); the plaintext
//!    values feed a SHA-512 (all of them, or only the encrypted ones under `mac_only_encrypted`)
//!    ([`tree`], [`cipher`]);
//! 4. compare that hash with the file's MAC (itself encrypted with the data key and `lastmodified`
//!    as additional data) and emit the plaintext in the file's format, as `sops --decrypt` prints
//!    it.
//!
//! Plaintext never leaves the returned value: errors name the file and the path of a value, never
//! its content; data keys and decrypted buffers are zeroized on drop.

pub mod cipher;
pub mod dotenv;
pub mod error;
pub mod json;
pub mod keys;
pub mod metadata;
pub mod tree;
pub mod yaml;

pub use error::SopsError;
pub use keys::{KeyError, KeyRing};

use serde_json::Value;
use std::path::Path;
use zeroize::Zeroizing;

/// Largest encrypted file accepted (bytes), as Flux's decryptor limits it.
pub const MAX_FILE_BYTES: usize = 5 << 20;

/// A file format `sops` reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML, one or more documents.
    Yaml,
    /// A JSON object.
    Json,
    /// `KEY=value` lines.
    Dotenv,
    /// Any bytes, stored as a JSON envelope with one `data` value.
    Binary,
}

impl Format {
    /// The format `sops` picks for a file name: by extension, binary otherwise.
    pub fn for_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            _ => Format::Binary,
        }
    }

    /// The bytes whose presence marks an encrypted file of this format (Flux's detection).
    pub fn marker(self) -> &'static [u8] {
        match self {
            Format::Yaml => b"mac: ENC[",
            Format::Json | Format::Binary => b"\"mac\": \"ENC[",
            Format::Dotenv => b"sops_mac=ENC[",
        }
    }
}

/// Whether `bytes` look like a file `sops` encrypted in `format` (the MAC marker is present).
pub fn is_encrypted(bytes: &[u8], format: Format) -> bool {
    contains(bytes, format.marker())
}

/// Whether `needle` (non-empty) occurs in `hay`: candidates found by their first byte, which is
/// far cheaper than comparing a window at every position (this runs on every file a build reads).
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut at = 0;
    while let Some(i) = hay[at..].iter().position(|b| *b == first) {
        let start = at + i + 1;
        if hay[start..].starts_with(rest) {
            return true;
        }
        at = start;
    }
    false
}

/// A decrypted file.
pub struct Decrypted {
    /// The plaintext in the file's own format, as `sops --decrypt` prints it.
    pub text: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print plaintext, even in a debug dump.
        write!(f, "Decrypted({} bytes)", self.text.len())
    }
}

/// Decrypts `bytes`, a file in `format` that `sops` encrypted; `file` names it in errors.
pub fn decrypt(
    file: &str,
    bytes: &[u8],
    format: Format,
    keys: &KeyRing,
) -> Result<Decrypted, SopsError> {
    let text = checked_text(file, bytes)?;
    match format {
        Format::Yaml => yaml::decrypt(file, text, keys),
        Format::Json => json::decrypt(file, text, keys, false),
        Format::Binary => json::decrypt(file, text, keys, true),
        Format::Dotenv => dotenv::decrypt(file, text, keys),
    }
}

/// [`decrypt`] for a YAML file, unless `skip` says no from its parsed, still encrypted documents
/// (`None` then); one parse serves both.
pub fn decrypt_yaml_unless(
    file: &str,
    bytes: &[u8],
    keys: &KeyRing,
    skip: &dyn Fn(&[tree::Node]) -> bool,
) -> Result<Option<Decrypted>, SopsError> {
    let text = checked_text(file, bytes)?;
    yaml::decrypt_unless(file, text, keys, skip)
}

/// `bytes` as text, within the size limit.
fn checked_text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, SopsError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(SopsError::Format {
            file: file.to_string(),
            message: format!(
                "file too large to decrypt ({} bytes, limit {MAX_FILE_BYTES})",
                bytes.len()
            ),
        });
    }
    std::str::from_utf8(bytes).map_err(|_| SopsError::Format {
        file: file.to_string(),
        message: "file is not valid UTF-8".into(),
    })
}

/// Decrypts a YAML or JSON stream into its documents (for Kubernetes objects); maps come out with
/// sorted keys, as every `serde_json::Value` here.
pub fn decrypt_documents(
    file: &str,
    bytes: &[u8],
    keys: &KeyRing,
) -> Result<Vec<Value>, SopsError> {
    let text = std::str::from_utf8(bytes).map_err(|_| SopsError::Format {
        file: file.to_string(),
        message: "file is not valid UTF-8".into(),
    })?;
    let (docs, _) = yaml::decrypt_tree(file, text, keys)?;
    Ok(docs.iter().map(tree::Node::to_value).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sops")
            .join(rel);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn age_keys() -> KeyRing {
        let mut k = KeyRing::new();
        k.add_key_file("age.agekey", &fixture("age.agekey"))
            .unwrap();
        k
    }

    #[test]
    fn decrypts_each_format_like_sops() {
        let keys = age_keys();
        for (name, format) in [
            ("secret.age.yaml", Format::Yaml),
            ("values.age.yaml", Format::Yaml),
            ("values.suffix.yaml", Format::Yaml),
            ("secret.maconly.yaml", Format::Yaml),
            ("multi.age.yaml", Format::Yaml),
            ("config.age.json", Format::Json),
            ("app.age.env", Format::Dotenv),
            ("blob.age.pem", Format::Binary),
        ] {
            let got = decrypt(name, &fixture(&format!("encrypted/{name}")), format, &keys)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                String::from_utf8_lossy(&got.text),
                String::from_utf8_lossy(&fixture(&format!("expected/{name}"))),
                "{name}"
            );
        }
    }

    #[test]
    fn documents_come_out_as_objects() {
        let docs = decrypt_documents(
            "multi.age.yaml",
            &fixture("encrypted/multi.age.yaml"),
            &age_keys(),
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["stringData"]["token"], "two");
        assert!(docs[0].get("sops").is_none());
    }

    #[test]
    fn finds_substrings() {
        assert!(contains(b"abcmac: ENC[x", b"mac: ENC["));
        assert!(contains(b"mac: ENC[", b"mac: ENC["));
        assert!(!contains(b"mac: ENC", b"mac: ENC["));
        assert!(!contains(b"", b"m"));
        assert!(contains(b"mmac: ENC[", b"mac: ENC["));
        assert!(contains(b"x", b""));
    }

    #[test]
    fn detects_encrypted_files_by_their_mac_marker() {
        assert!(is_encrypted(
            &fixture("encrypted/secret.age.yaml"),
            Format::Yaml
        ));
        assert!(!is_encrypted(
            &fixture("expected/secret.age.yaml"),
            Format::Yaml
        ));
        assert!(is_encrypted(
            &fixture("encrypted/app.age.env"),
            Format::Dotenv
        ));
        assert!(is_encrypted(
            &fixture("encrypted/blob.age.pem"),
            Format::Binary
        ));
    }
}
