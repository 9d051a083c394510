//! Source artifacts: normalised `tar.gz` archives of a checkout, their digest, storage under a data
//! directory, safe extraction, and garbage collection.
//!
//! Archives are reproducible: entries in lexical walk order (each directory's entries sorted by
//! name, a directory before its contents), regular files and directories only (symlinks and
//! other special files dropped), uid/gid 0, empty owner names, mtime 0, modes 0750 for
//! directories, 0700 for files with any exec bit and 0600 otherwise, gzip with a zero header
//! time. The same tree therefore always produces the same `sha256:` digest. (Flux adds a `.`
//! entry for the root and uses Go's gzip; neither is reproduced, so digests differ from Flux's.)

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::exclusions::{ExclusionError, Exclusions};

/// Artifacts kept per object by [`ArtifactStore::gc`] unless told otherwise: the current one and
/// the previous one, like source-controller's `--artifact-retention-records=2` default (its TTL
/// is not modelled: older artifacts go as soon as GC runs).
pub const DEFAULT_RETENTION: usize = 2;

/// Largest total of file bytes [`ArtifactStore::extract`] writes before giving up.
pub const DEFAULT_EXTRACT_LIMIT: u64 = 1 << 30;

/// Temporary archive files older than this are considered abandoned by GC.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);
const TEMP_PREFIX: &str = ".tmp-";

/// A storage failure; [`ArtifactError::reason`] gives the Flux condition reason.
#[derive(Debug, Error)]
pub enum ArtifactError {
    /// Creating the artifact directory failed.
    #[error("failed to create directory {path}: {source}")]
    CreateDirectory {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Building or writing the archive failed.
    #[error("failed to archive {path}: {source}")]
    Archive {
        /// The directory being archived or the file being written.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The source directory does not exist or is not a directory.
    #[error("invalid dir path: {0}")]
    InvalidDir(String),
    /// Ignore rules could not be read.
    #[error(transparent)]
    Exclusions(#[from] ExclusionError),
    /// A kind, namespace, name or file name would not make a safe path component.
    #[error("invalid artifact path component {what} {value:?}")]
    InvalidComponent {
        /// Which component.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// The artifact path escapes the storage root.
    #[error("artifact path {0:?} is not inside the storage root")]
    PathEscapes(String),
    /// Reading, deleting or listing stored files failed.
    #[error("storage operation {op} failed on {path}: {source}")]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The stored file's digest differs from the recorded one.
    #[error("artifact {path} digest mismatch: expected {expected}, computed {actual}")]
    DigestMismatch {
        /// The file.
        path: String,
        /// Recorded digest.
        expected: String,
        /// Digest of the bytes on disk.
        actual: String,
    },
    /// An archive entry would be written outside the destination, or is a link.
    #[error("refusing archive entry {entry:?} in {path}: {why}")]
    UnsafeEntry {
        /// The archive.
        path: String,
        /// The entry name.
        entry: String,
        /// Why it was refused.
        why: &'static str,
    },
    /// Extraction exceeded the size limit.
    #[error("archive {path} expands beyond {limit} bytes")]
    TooLarge {
        /// The archive.
        path: String,
        /// The limit in bytes.
        limit: u64,
    },
}

impl ArtifactError {
    /// The Flux reason for a `StorageOperationFailed` condition.
    pub fn reason(&self) -> &'static str {
        match self {
            ArtifactError::CreateDirectory { .. } => "DirectoryCreationFailed",
            ArtifactError::Archive { .. }
            | ArtifactError::InvalidDir(_)
            | ArtifactError::Exclusions(_) => "ArchiveOperationFailed",
            _ => "StorageOperationFailed",
        }
    }
}

/// A stored artifact, as recorded in `status.artifact`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Path relative to the storage root, e.g. `gitrepository/ns/name/<commit>.tar.gz`.
    pub path: String,
    /// Source revision, e.g. `main@sha1:<hex>`.
    pub revision: String,
    /// `sha256:<hex>` of the archive bytes.
    pub digest: String,
    /// Archive size in bytes.
    pub size: u64,
    /// When the archive was written (whole seconds).
    pub last_update_time: jiff::Timestamp,
}

impl Artifact {
    /// The download URL for an advertised storage address.
    pub fn url(&self, advertised_addr: &str) -> String {
        artifact_url(advertised_addr, &self.path)
    }

    /// Reads `status.artifact` back (`None` when a field is missing or malformed).
    pub fn from_status(value: &serde_json::Value) -> Option<Artifact> {
        let text = |f: &str| value.get(f).and_then(serde_json::Value::as_str);
        Some(Artifact {
            path: text("path")?.to_string(),
            revision: text("revision")?.to_string(),
            digest: text("digest")?.to_string(),
            size: value
                .get("size")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            last_update_time: text("lastUpdateTime")
                .and_then(|t| t.parse().ok())
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        })
    }

    /// The `status.artifact` object Flux writes (`digest`, `lastUpdateTime`, `path`, `revision`, `size`, `url`).
    pub fn status_value(&self, advertised_addr: &str) -> serde_json::Value {
        serde_json::json!({
            "digest": self.digest,
            "lastUpdateTime": self.last_update_time.to_string(),
            "path": self.path,
            "revision": self.revision,
            "size": self.size,
            "url": self.url(advertised_addr),
        })
    }
}

/// `http://<addr>/<path>`, or `<addr>/<path>` when the address already has a scheme.
pub fn artifact_url(advertised_addr: &str, path: &str) -> String {
    let addr = advertised_addr.trim_end_matches('/');
    let path = path.trim_start_matches('/');
    if addr.contains("://") {
        format!("{addr}/{path}")
    } else {
        format!("http://{addr}/{path}")
    }
}

fn check_component(what: &'static str, value: &str) -> Result<(), ArtifactError> {
    if value.is_empty()
        || value == "."
        || value == ".."
        || value.contains('/')
        || value.contains('\\')
        || value.contains('\0')
    {
        return Err(ArtifactError::InvalidComponent {
            what,
            value: value.to_string(),
        });
    }
    Ok(())
}

/// The storage path `<kind lower-cased>/<namespace>/<name>/<file_name>`.
pub fn artifact_path(
    kind: &str,
    namespace: &str,
    name: &str,
    file_name: &str,
) -> Result<String, ArtifactError> {
    let kind = kind.to_lowercase();
    check_component("kind", &kind)?;
    check_component("namespace", namespace)?;
    check_component("name", name)?;
    check_component("file name", file_name)?;
    Ok(format!("{kind}/{namespace}/{name}/{file_name}"))
}

/// Digest and size of a written archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// `sha256:<hex>` of the gzip bytes.
    pub digest: String,
    /// Number of gzip bytes.
    pub size: u64,
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the normalised `tar.gz` of `dir` (minus excluded paths) to `out`.
pub fn write_archive<W: Write>(
    dir: &Path,
    exclusions: &Exclusions,
    out: W,
) -> Result<(ArchiveSummary, W), ArtifactError> {
    if !fs::metadata(dir).map(|m| m.is_dir()).unwrap_or(false) {
        return Err(ArtifactError::InvalidDir(dir.display().to_string()));
    }
    let archive_err = |source| ArtifactError::Archive {
        path: dir.display().to_string(),
        source,
    };
    let hashing = HashingWriter {
        inner: out,
        hasher: Sha256::new(),
        count: 0,
    };
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(hashing, Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut components = Vec::new();
    append_dir(&mut tar, dir, &mut components, exclusions).map_err(archive_err)?;
    let gz = tar.into_inner().map_err(archive_err)?;
    let mut hashing = gz.finish().map_err(archive_err)?;
    hashing.flush().map_err(archive_err)?;
    let summary = ArchiveSummary {
        digest: format!("sha256:{}", hex(&hashing.hasher.finalize_reset())),
        size: hashing.count,
    };
    Ok((summary, hashing.inner))
}

fn append_dir<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    components: &mut Vec<String>,
    exclusions: &Exclusions,
) -> io::Result<()> {
    let mut names: Vec<std::ffi::OsString> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    // Byte order of names, as Go's filepath.Walk.
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let meta = fs::symlink_metadata(&path)?;
        let file_type = meta.file_type();
        if !(file_type.is_file() || file_type.is_dir()) {
            continue;
        }
        components.push(name.to_string_lossy().into_owned());
        let refs: Vec<&str> = components.iter().map(String::as_str).collect();
        let excluded = exclusions.is_excluded_components(&refs, file_type.is_dir());
        let rel: PathBuf = components.iter().collect();
        let result = if file_type.is_dir() {
            let mut ok = Ok(());
            if !excluded {
                ok = append_entry(tar, &rel, tar::EntryType::Directory, 0o750, 0, io::empty());
            }
            // Excluded directories are still walked: a negation may re-include a file below.
            ok.and_then(|()| append_dir(tar, &path, components, exclusions))
        } else if excluded {
            Ok(())
        } else {
            use std::os::unix::fs::PermissionsExt;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o700
            } else {
                0o600
            };
            let file = File::open(&path)?;
            append_entry(
                tar,
                &rel,
                tar::EntryType::Regular,
                mode,
                meta.len(),
                file.take(meta.len()),
            )
        };
        components.pop();
        result?;
    }
    Ok(())
}

fn append_entry<W: Write, R: Read>(
    tar: &mut tar::Builder<W>,
    rel: &Path,
    kind: tar::EntryType,
    mode: u32,
    size: u64,
    data: R,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    tar.append_data(&mut header, rel, data)
}

/// Artifacts stored below a root directory (source-controller's `--storage-path`).
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
}

impl ArtifactStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> ArtifactStore {
        ArtifactStore { root: root.into() }
    }

    /// The storage root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The local file of a relative artifact path; rejects paths leaving the root.
    pub fn path_of(&self, rel_path: &str) -> Result<PathBuf, ArtifactError> {
        let rel = Path::new(rel_path);
        let mut out = self.root.clone();
        let mut depth = 0;
        for component in rel.components() {
            match component {
                Component::Normal(c) => {
                    out.push(c);
                    depth += 1;
                }
                Component::CurDir => {}
                _ => return Err(ArtifactError::PathEscapes(rel_path.to_string())),
            }
        }
        if depth == 0 {
            return Err(ArtifactError::PathEscapes(rel_path.to_string()));
        }
        Ok(out)
    }

    /// True if the artifact's file exists.
    pub fn exists(&self, artifact: &Artifact) -> bool {
        self.path_of(&artifact.path)
            .map(|p| p.is_file())
            .unwrap_or(false)
    }

    /// Archives `dir` to `rel_path` atomically (temp file + rename) and returns the artifact.
    pub fn store(
        &self,
        rel_path: &str,
        revision: &str,
        dir: &Path,
        exclusions: &Exclusions,
    ) -> Result<Artifact, ArtifactError> {
        let target = self.path_of(rel_path)?;
        let parent = target
            .parent()
            .ok_or_else(|| ArtifactError::PathEscapes(rel_path.to_string()))?;
        fs::create_dir_all(parent).map_err(|source| ArtifactError::CreateDirectory {
            path: parent.display().to_string(),
            source,
        })?;
        let temp = parent.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        let write_err = |source| ArtifactError::Archive {
            path: temp.display().to_string(),
            source,
        };
        let result = (|| {
            let file = File::create(&temp).map_err(write_err)?;
            let (summary, writer) = write_archive(dir, exclusions, BufWriter::new(file))?;
            let file = writer.into_inner().map_err(|e| write_err(e.into_error()))?;
            file.sync_all().map_err(write_err)?;
            set_mode(&temp, 0o600).map_err(write_err)?;
            fs::rename(&temp, &target).map_err(write_err)?;
            Ok(summary)
        })();
        let summary = match result {
            Ok(summary) => summary,
            Err(e) => {
                // Best effort: the temp file may not exist.
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
        };
        let now = jiff::Timestamp::now();
        let last_update_time = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
        Ok(Artifact {
            path: rel_path.to_string(),
            revision: revision.to_string(),
            digest: summary.digest,
            size: summary.size,
            last_update_time,
        })
    }

    /// `sha256:<hex>` of a stored file.
    pub fn digest_of(&self, rel_path: &str) -> Result<String, ArtifactError> {
        let path = self.path_of(rel_path)?;
        let io_err = |source| ArtifactError::Io {
            op: "read",
            path: path.display().to_string(),
            source,
        };
        let mut file = File::open(&path).map_err(io_err)?;
        let mut hasher = Sha256::new();
        io::copy(&mut file, &mut hasher).map_err(io_err)?;
        Ok(format!("sha256:{}", hex(&hasher.finalize())))
    }

    /// Verifies the digest, then unpacks the artifact into `dest` (created if needed).
    pub fn extract(&self, artifact: &Artifact, dest: &Path) -> Result<(), ArtifactError> {
        self.extract_with_limit(artifact, dest, DEFAULT_EXTRACT_LIMIT)
    }

    /// Like [`ArtifactStore::extract`] with an explicit limit on the bytes written.
    pub fn extract_with_limit(
        &self,
        artifact: &Artifact,
        dest: &Path,
        limit: u64,
    ) -> Result<(), ArtifactError> {
        let actual = self.digest_of(&artifact.path)?;
        let path = self.path_of(&artifact.path)?;
        if actual != artifact.digest {
            return Err(ArtifactError::DigestMismatch {
                path: path.display().to_string(),
                expected: artifact.digest.clone(),
                actual,
            });
        }
        let file = File::open(&path).map_err(|source| ArtifactError::Io {
            op: "open",
            path: path.display().to_string(),
            source,
        })?;
        extract_tar_gz(file, &path.display().to_string(), dest, limit)
    }

    /// Deletes older archives of the object owning `current`, keeping `current` and the newest
    /// others up to `keep` files in total; also removes abandoned temp files. Returns what was deleted.
    pub fn gc(&self, current: &Artifact, keep: usize) -> Result<Vec<PathBuf>, ArtifactError> {
        let current_path = self.path_of(&current.path)?;
        let Some(dir) = current_path.parent() else {
            return Ok(Vec::new());
        };
        let io_err = |op, path: &Path| {
            let path = path.display().to_string();
            move |source| ArtifactError::Io { op, path, source }
        };
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list", dir)(e)),
        };
        let mut archives = Vec::new();
        let mut deleted = Vec::new();
        let now = SystemTime::now();
        for entry in entries {
            let entry = entry.map_err(io_err("list", dir))?;
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                if now.duration_since(modified).unwrap_or_default() > STALE_TEMP_AGE {
                    fs::remove_file(&path).map_err(io_err("delete", &path))?;
                    deleted.push(path);
                }
                continue;
            }
            if path != current_path && name.ends_with(".tar.gz") {
                archives.push((modified, name, path));
            }
        }
        // Newest first; the name breaks ties so the order is stable.
        archives.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        let keep_others = keep.saturating_sub(1);
        for (_, _, path) in archives.into_iter().skip(keep_others) {
            fs::remove_file(&path).map_err(io_err("delete", &path))?;
            deleted.push(path);
        }
        Ok(deleted)
    }

    /// Removes every stored artifact of one object (for finalizers).
    pub fn remove_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<(), ArtifactError> {
        let rel = artifact_path(kind, namespace, name, "x")?;
        let dir = self
            .path_of(&rel)?
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| ArtifactError::PathEscapes(rel.clone()))?;
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(ArtifactError::Io {
                op: "delete",
                path: dir.display().to_string(),
                source,
            }),
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Unpacks a `tar.gz` stream into `dest`, refusing links and entries that would escape it.
pub fn extract_tar_gz<R: Read>(
    reader: R,
    label: &str,
    dest: &Path,
    limit: u64,
) -> Result<(), ArtifactError> {
    let io_err = |op: &'static str, path: &Path| {
        let path = path.display().to_string();
        move |source| ArtifactError::Io { op, path, source }
    };
    fs::create_dir_all(dest).map_err(|source| ArtifactError::CreateDirectory {
        path: dest.display().to_string(),
        source,
    })?;
    let mut archive = tar::Archive::new(GzDecoder::new(reader));
    let mut written: u64 = 0;
    let label_err = |source| ArtifactError::Io {
        op: "read archive",
        path: label.to_string(),
        source,
    };
    for entry in archive.entries().map_err(label_err)? {
        let mut entry = entry.map_err(label_err)?;
        let raw = entry.path().map_err(label_err)?.into_owned();
        let entry_name = raw.display().to_string();
        let unsafe_entry = |why| ArtifactError::UnsafeEntry {
            path: label.to_string(),
            entry: entry_name.clone(),
            why,
        };
        let mut target = dest.to_path_buf();
        let mut depth = 0;
        for component in raw.components() {
            match component {
                Component::Normal(c) => {
                    target.push(c);
                    depth += 1;
                }
                Component::CurDir => {}
                _ => return Err(unsafe_entry("path leaves the destination")),
            }
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(unsafe_entry("links are not allowed"));
        }
        if depth == 0 {
            continue;
        }
        let mode = entry.header().mode().unwrap_or(0o600) & 0o777;
        if kind.is_dir() {
            fs::create_dir_all(&target).map_err(io_err("create directory", &target))?;
            continue;
        }
        if !kind.is_file() {
            // Devices, fifos, global headers: nothing to write.
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
        }
        // Never write through something that is not a plain file (an earlier entry cannot
        // create links, but the destination may already hold some).
        if let Ok(meta) = fs::symlink_metadata(&target)
            && !meta.is_file()
        {
            return Err(unsafe_entry("destination exists and is not a regular file"));
        }
        let mut out = File::create(&target).map_err(io_err("create", &target))?;
        let remaining = limit.saturating_sub(written);
        let copied = io::copy(&mut (&mut entry).take(remaining + 1), &mut out)
            .map_err(io_err("write", &target))?;
        written += copied;
        if written > limit {
            return Err(ArtifactError::TooLarge {
                path: label.to_string(),
                limit,
            });
        }
        set_mode(&target, if mode == 0 { 0o600 } else { mode | 0o600 })
            .map_err(io_err("chmod", &target))?;
    }
    Ok(())
}

/// Checks `bytes` against a `sha256:<hex>` artifact digest; other algorithms are not checked.
pub fn verify_digest(bytes: &[u8], digest: &str, label: &str) -> Result<(), String> {
    let Some(expected) = digest.strip_prefix("sha256:") else {
        return Ok(());
    };
    let actual = format!("{:x}", Sha256::digest(bytes));
    if actual != expected {
        return Err(format!(
            "{label}: digest mismatch (status says sha256:{expected}, content is sha256:{actual})"
        ));
    }
    Ok(())
}

/// Downloads an artifact from its `status.artifact.url` (at most `limit` bytes, read chunk by
/// chunk) and verifies it against `digest`. Loopback URLs (the bundled controller's storage
/// server) bypass any proxy from the environment.
pub async fn download(
    url: &str,
    digest: &str,
    limit: u64,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    // Err means a provider is already the process default, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)));
    if is_loopback_url(url) {
        builder = builder.no_proxy();
    }
    let client = builder
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let chain =
        |e: reqwest::Error| format!("GET {url}: {}", crate::model::error_text::error_chain(&e));
    let mut response = client.get(url).send().await.map_err(chain)?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", response.status()));
    }
    let too_big = || format!("GET {url}: larger than {} MiB", limit >> 20);
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(chain)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    verify_digest(&body, digest, url)?;
    Ok(body)
}

/// Whether an http(s) URL's host is a loopback address or `localhost`.
pub(crate) fn is_loopback_url(url: &str) -> bool {
    let Some(host) = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
    else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_checked_for_sha256_only() {
        let sha = format!("sha256:{:x}", Sha256::digest(b"abc"));
        assert!(verify_digest(b"abc", &sha, "x").is_ok());
        let err = verify_digest(b"abd", &sha, "http://h/a.tar.gz").unwrap_err();
        assert!(
            err.starts_with("http://h/a.tar.gz: digest mismatch"),
            "{err}"
        );
        assert!(verify_digest(b"abd", "sha512:zz", "x").is_ok());
    }

    #[test]
    fn loopback_urls_are_recognised() {
        assert!(is_loopback_url("http://127.0.0.1:9090/dev/a.tar.gz"));
        assert!(is_loopback_url("http://localhost/a"));
        assert!(is_loopback_url("http://[::1]:80/a"));
        assert!(!is_loopback_url(
            "http://source-controller.flux-system.svc/a"
        ));
        assert!(!is_loopback_url("not a url"));
    }

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("b/c")).unwrap();
        fs::write(root.join("a.yaml"), "a: 1\n").unwrap();
        fs::write(root.join("b/c/d.txt"), "d").unwrap();
        fs::write(root.join("run.sh"), "#!/bin/sh\n").unwrap();
        set_mode(&root.join("run.sh"), 0o755).unwrap();
        fs::write(root.join("logo.png"), [0u8, 1, 2]).unwrap();
        std::os::unix::fs::symlink("a.yaml", root.join("link.yaml")).unwrap();
    }

    fn entries(bytes: &[u8]) -> Vec<(String, u32, u64)> {
        let mut archive = tar::Archive::new(GzDecoder::new(bytes));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                assert_eq!(h.uid().unwrap(), 0);
                assert_eq!(h.gid().unwrap(), 0);
                assert_eq!(h.mtime().unwrap(), 0);
                assert_eq!(h.username().unwrap(), Some(""));
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.size().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn archive_is_normalised_and_sorted() {
        let tmp = tempfile::tempdir().unwrap();
        tree(tmp.path());
        let (summary, bytes) =
            write_archive(tmp.path(), &Exclusions::new(Vec::new()), Vec::new()).unwrap();
        assert_eq!(summary.size, bytes.len() as u64);
        let want = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
        assert_eq!(summary.digest, want);
        let got = entries(&bytes);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        // logo.png is in the default list, link.yaml is a symlink.
        assert_eq!(names, ["a.yaml", "b", "b/c", "b/c/d.txt", "run.sh"]);
        let modes: Vec<u32> = got.iter().map(|e| e.1).collect();
        assert_eq!(modes, [0o600, 0o750, 0o750, 0o600, 0o700]);
    }

    #[test]
    fn digest_is_stable_and_content_sensitive() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        tree(one.path());
        tree(two.path());
        let ex = Exclusions::new(Vec::new());
        let a = write_archive(one.path(), &ex, Vec::new()).unwrap().0;
        let b = write_archive(two.path(), &ex, Vec::new()).unwrap().0;
        let c = write_archive(one.path(), &ex, Vec::new()).unwrap().0;
        assert_eq!(a, b);
        assert_eq!(a, c);
        fs::write(two.path().join("a.yaml"), "a: 2\n").unwrap();
        let d = write_archive(two.path(), &ex, Vec::new()).unwrap().0;
        assert_ne!(a.digest, d.digest);
    }

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            artifact_url(
                "source-controller.flux-system.svc",
                "gitrepository/a/b/c.tar.gz"
            ),
            "http://source-controller.flux-system.svc/gitrepository/a/b/c.tar.gz"
        );
        assert_eq!(
            artifact_url("https://x:9090/", "/p.tar.gz"),
            "https://x:9090/p.tar.gz"
        );
        assert_eq!(
            artifact_path("GitRepository", "flux-system", "podinfo", "abc.tar.gz").unwrap(),
            "gitrepository/flux-system/podinfo/abc.tar.gz"
        );
        assert!(artifact_path("GitRepository", "..", "x", "y").is_err());
        assert!(artifact_path("GitRepository", "a", "b/c", "y").is_err());
        assert!(artifact_path("GitRepository", "a", "", "y").is_err());
        let store = ArtifactStore::new("/data");
        assert!(store.path_of("../etc/passwd").is_err());
        assert!(store.path_of("/etc/passwd").is_err());
        assert!(store.path_of("").is_err());
        assert_eq!(
            store.path_of("a/b.tar.gz").unwrap(),
            PathBuf::from("/data/a/b.tar.gz")
        );
    }

    fn raw_tar_gz(name: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        let mut builder = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(if kind.is_file() { 1 } else { 0 });
        header.set_mode(0o644);
        {
            // Write the name bytes directly so that `..` survives (set_path refuses it).
            let gnu = header.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        header.set_cksum();
        let data: &[u8] = if kind.is_file() { b"x" } else { b"" };
        builder.append(&header, data).unwrap();
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn extraction_rejects_escapes_links_and_garbage() {
        let dest = tempfile::tempdir().unwrap();
        for (name, kind, link) in [
            ("../evil", tar::EntryType::Regular, None),
            ("a/../../evil", tar::EntryType::Regular, None),
            ("/abs", tar::EntryType::Regular, None),
            ("link", tar::EntryType::Symlink, Some("/etc/passwd")),
            ("hard", tar::EntryType::Link, Some("../x")),
        ] {
            let bytes = raw_tar_gz(name, kind, link);
            let err = extract_tar_gz(&bytes[..], "test", dest.path(), 1024).unwrap_err();
            assert!(
                matches!(err, ArtifactError::UnsafeEntry { .. }),
                "{name}: {err}"
            );
        }
        assert!(!dest.path().parent().unwrap().join("evil").exists());
        // Not gzip at all, truncated gzip, empty input: errors, no panic.
        assert!(extract_tar_gz(&b"not a tarball"[..], "t", dest.path(), 1024).is_err());
        let good = raw_tar_gz("ok.txt", tar::EntryType::Regular, None);
        assert!(extract_tar_gz(&good[..good.len() / 2], "t", dest.path(), 1024).is_err());
        // A size limit stops bombs.
        let err = extract_tar_gz(&good[..], "t", dest.path(), 0).unwrap_err();
        assert!(matches!(err, ArtifactError::TooLarge { .. }));
    }
}
