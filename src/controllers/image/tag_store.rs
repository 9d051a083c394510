//! Scanned tags of each ImageRepository, kept outside the object's status: one JSON file per
//! repository under a data directory (so a restart keeps them), read on demand (so memory holds
//! only the lists in use, whatever the number of repositories or tags).
//!
//! Files are keyed by the ImageRepository's namespace and name (Flux keys its database by the
//! canonical image name; keying by object keeps two repositories of one image with different
//! exclusion lists apart). The revision of a list is Flux's default: the decimal Adler-32 of the
//! JSON array.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Reading or writing the tag store failed.
#[derive(Debug, thiserror::Error)]
pub enum TagStoreError {
    /// Namespace or name cannot be used as a file name.
    #[error("cannot store tags for '{namespace}/{name}': not a valid object name")]
    InvalidKey {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// File system error.
    #[error("{action} tag store file {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A stored file is not a JSON array of strings (it is then treated as missing by callers).
    #[error("tag store file {path} is corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Tag lists on disk, one file per ImageRepository.
#[derive(Debug, Clone)]
pub struct TagStore {
    root: PathBuf,
}

/// Decimal Adler-32 of the JSON array of `tags` (`lastScanResult.revision`).
pub fn tags_revision<S: AsRef<str>>(tags: &[S]) -> String {
    adler32(&tags_json(tags)).to_string()
}

fn tags_json<S: AsRef<str>>(tags: &[S]) -> Vec<u8> {
    let list: Vec<&str> = tags.iter().map(AsRef::as_ref).collect();
    // Serialising a list of strings cannot fail.
    serde_json::to_vec(&list).unwrap_or_default()
}

/// Adler-32 (RFC 1950) of `bytes`.
fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    // 5552 is the largest block for which the sums cannot overflow u32.
    let (mut a, mut b) = (1u32, 0u32);
    for block in bytes.chunks(5552) {
        for &byte in block {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

impl TagStore {
    /// A store under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> TagStore {
        TagStore { root: root.into() }
    }

    /// The directory holding the files.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, namespace: &str, name: &str) -> Result<PathBuf, TagStoreError> {
        if !valid_segment(namespace) || !valid_segment(name) {
            return Err(TagStoreError::InvalidKey {
                namespace: namespace.to_string(),
                name: name.to_string(),
            });
        }
        Ok(self.root.join(namespace).join(format!("{name}.json")))
    }

    /// Replaces the list of `namespace/name` and returns its revision. The file is replaced
    /// atomically (temp file + rename), so readers see the old or the new list, never a mix.
    pub fn set_tags<S: AsRef<str>>(
        &self,
        namespace: &str,
        name: &str,
        tags: &[S],
    ) -> Result<String, TagStoreError> {
        let path = self.path(namespace, name)?;
        let json = tags_json(tags);
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| TagStoreError::Io {
                action,
                path,
                source,
            }
        };
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(io("creating the directory of", &path))?;
        let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&json).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("writing", &path)(e));
        }
        Ok(adler32(&json).to_string())
    }

    /// The stored list of `namespace/name` (descending order as scanned); `None` if never stored.
    pub fn tags(&self, namespace: &str, name: &str) -> Result<Option<Vec<String>>, TagStoreError> {
        let path = self.path(namespace, name)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(TagStoreError::Io {
                    action: "reading",
                    path,
                    source,
                });
            }
        };
        serde_json::from_slice::<Vec<String>>(&bytes)
            .map(Some)
            .map_err(|e| TagStoreError::Corrupt {
                path,
                message: e.to_string(),
            })
    }

    /// Forgets `namespace/name` (when the ImageRepository is deleted).
    pub fn remove(&self, namespace: &str, name: &str) -> Result<(), TagStoreError> {
        let path = self.path(namespace, name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(TagStoreError::Io {
                action: "removing",
                path,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_matches_known_values() {
        // RFC 1950 / zlib reference values.
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let long = vec![0xffu8; 100_000];
        // Same as the bytewise definition with modulo at every step.
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &long {
            a = (a + u64::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(u64::from(adler32(&long)), (b << 16) | a);
    }

    #[test]
    fn revision_is_adler32_of_the_json_array() {
        let tags = ["1.0.1", "1.0.0"];
        assert_eq!(
            tags_revision(&tags),
            adler32(br#"["1.0.1","1.0.0"]"#).to_string()
        );
        assert_eq!(tags_revision::<&str>(&[]), adler32(b"[]").to_string());
    }

    #[test]
    fn store_round_trips_and_survives_a_new_instance() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TagStore::new(dir.path());
        assert_eq!(store.tags("ns", "app").expect("read"), None);
        let tags: Vec<String> = (0..10_000).map(|i| format!("1.0.{i}")).collect();
        let rev = store.set_tags("ns", "app", &tags).expect("write");
        assert_eq!(rev, tags_revision(&tags));
        let reopened = TagStore::new(dir.path());
        assert_eq!(reopened.tags("ns", "app").expect("read"), Some(tags));
        reopened.remove("ns", "app").expect("remove");
        assert_eq!(reopened.tags("ns", "app").expect("read"), None);
        reopened
            .remove("ns", "app")
            .expect("removing twice is fine");
    }

    #[test]
    fn bad_keys_and_corrupt_files_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TagStore::new(dir.path());
        for (ns, name) in [
            ("..", "x"),
            ("ns", "../x"),
            ("ns", ""),
            ("NS", "x"),
            ("ns", "a/b"),
        ] {
            assert!(matches!(
                store.set_tags(ns, name, &["1"]),
                Err(TagStoreError::InvalidKey { .. })
            ));
        }
        std::fs::create_dir_all(dir.path().join("ns")).expect("mkdir");
        std::fs::write(dir.path().join("ns/bad.json"), b"{not json").expect("write");
        assert!(matches!(
            store.tags("ns", "bad"),
            Err(TagStoreError::Corrupt { .. })
        ));
    }
}
