//! Helm chart repositories over HTTP(S), the parts source-controller's HelmRepository and HelmChart
//! share: fetching with basic auth and TLS from Secrets, bounded downloads, parsing `index.yaml`,
//! resolving a chart version (exact, then a Masterminds range) as Flux does, resolving chart URLs
//! against the repository URL as Helm does, and storing plain files in the artifact store.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::artifact::{Artifact, ArtifactError, ArtifactStore, is_loopback_url};
use crate::model::error_text::error_chain;
use crate::model::redact::redact;
use crate::model::semver::{Constraints, Version, parse_tag};

/// Largest `index.yaml` accepted (source-controller's `helm.MaxIndexSize`, 50 MiB).
pub const MAX_INDEX_SIZE: u64 = 50 << 20;
/// Largest chart archive downloaded (source-controller's default `--helm-chart-max-size`, 10 MiB).
pub const MAX_CHART_SIZE: u64 = 10 << 20;

/// A failed HTTP GET; messages name the URL with any password masked.
#[derive(Debug, Error)]
pub enum FetchError {
    /// The server answered with a non-success status (Helm's getter wording).
    #[error("failed to fetch {} : {status}", redact(.url))]
    Status {
        /// The URL.
        url: String,
        /// `401 Unauthorized`, `404 Not Found`, ...
        status: String,
        /// The numeric code.
        code: u16,
    },
    /// The body is larger than allowed.
    #[error("failed to fetch {} : response larger than the limit of {limit} bytes", redact(.url))]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// Connection, TLS, timeout or client setup failure.
    #[error("failed to fetch {} : {}", redact(.url), redact(.message))]
    Transport {
        /// The URL.
        url: String,
        /// Details.
        message: String,
    },
}

impl FetchError {
    /// True for 401/403 answers (the credentials were refused or are missing).
    pub fn is_auth(&self) -> bool {
        matches!(self, FetchError::Status { code, .. } if *code == 401 || *code == 403)
    }
}

/// Credentials and TLS material of a repository, read from its Secrets.
#[derive(Clone, Default)]
pub struct HttpAuth {
    /// Basic auth `(username, password)`.
    pub basic: Option<(String, String)>,
    /// PEM CA bundle to trust (in addition to the system roots).
    pub ca: Option<Vec<u8>>,
    /// PEM client certificate and key.
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secret material.
        f.debug_struct("HttpAuth")
            .field("basic", &self.basic.as_ref().map(|(u, _)| (u, "***")))
            .field("ca", &self.ca.is_some())
            .field("client_cert", &self.client_cert.is_some())
            .finish()
    }
}

/// Decodes one base64 value of a Secret's `data` (as [`crate::runtime::status_io::read_secret_data`] returns it).
pub fn secret_bytes(data: &Value, key: &str) -> Option<Vec<u8>> {
    let text = data.get(key)?.as_str()?;
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text).ok()
}

impl HttpAuth {
    /// Basic auth from a `secretRef` Secret's data: `username` and `password` must both be set
    /// or both be absent (Flux's rule).
    pub fn basic_from_secret(data: &Value) -> Result<Option<(String, String)>, String> {
        let text =
            |k: &str| secret_bytes(data, k).map(|b| String::from_utf8_lossy(&b).into_owned());
        match (text("username"), text("password")) {
            (Some(u), Some(p)) => Ok(Some((u, p))),
            (None, None) => Ok(None),
            _ => Err("invalid basic auth: username and password must both be set".to_string()),
        }
    }

    /// TLS material from a `certSecretRef` (or legacy `secretRef`) Secret's data: `ca.crt`,
    /// `tls.crt` + `tls.key` (both or neither).
    pub fn tls_from_secret(&mut self, data: &Value) -> Result<(), String> {
        if let Some(ca) = secret_bytes(data, "ca.crt") {
            self.ca = Some(ca);
        }
        match (secret_bytes(data, "tls.crt"), secret_bytes(data, "tls.key")) {
            (Some(c), Some(k)) => self.client_cert = Some((c, k)),
            (None, None) => {}
            _ => return Err("'tls.crt' and 'tls.key' must both be set".to_string()),
        }
        Ok(())
    }
}

/// An HTTP client for one repository.
#[derive(Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    basic: Option<(String, String)>,
}

impl HttpFetcher {
    /// A client with `auth` and a whole-request `timeout`; loopback hosts bypass proxies.
    pub fn new(auth: &HttpAuth, timeout: Duration, url: &str) -> Result<HttpFetcher, FetchError> {
        // Err means a provider is already the process default, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let setup = |message: String| FetchError::Transport {
            url: url.to_string(),
            message,
        };
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("flotilla/", env!("CARGO_PKG_VERSION")));
        if is_loopback_url(url) {
            builder = builder.no_proxy();
        }
        if let Some(ca) = &auth.ca {
            for cert in reqwest::Certificate::from_pem_bundle(ca)
                .map_err(|e| setup(format!("invalid CA certificate 'ca.crt': {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((cert, key)) = &auth.client_cert {
            let mut pem = cert.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key);
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                setup(format!(
                    "invalid client certificate 'tls.crt'/'tls.key': {e}"
                ))
            })?;
            builder = builder.identity(id);
        }
        let client = builder
            .build()
            .map_err(|e| setup(format!("cannot build an HTTP client: {}", error_chain(&e))))?;
        Ok(HttpFetcher {
            client,
            basic: auth.basic.clone(),
        })
    }

    /// GETs `url`, reading at most `limit` bytes.
    pub async fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
        let transport = |e: reqwest::Error| FetchError::Transport {
            url: url.to_string(),
            message: error_chain(&e),
        };
        let mut req = self.client.get(url);
        if let Some((u, p)) = &self.basic {
            req = req.basic_auth(u, Some(p));
        }
        let mut response = req.send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.to_string(),
                code: status.as_u16(),
            });
        }
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit,
        };
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// One chart version of an index.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartVersion {
    /// Chart name.
    pub name: String,
    /// Version text as written in the index.
    pub version: String,
    /// Download URLs (absolute or relative to the repository URL).
    pub urls: Vec<String>,
    /// Hex sha256 of the archive, when the index gives one.
    pub digest: Option<String>,
    /// `created` timestamp text (orders versions equal but for build metadata).
    pub created: Option<String>,
}

/// A parsed repository index.
#[derive(Debug, Clone, Default)]
pub struct IndexFile {
    /// Chart versions by chart name.
    pub entries: BTreeMap<String, Vec<ChartVersion>>,
}

/// Why an index or a version lookup failed.
#[derive(Debug, Error, PartialEq)]
pub enum IndexError {
    /// Not YAML, or not an index.
    #[error("error unmarshaling JSON: {0}")]
    Invalid(String),
    /// `apiVersion` missing (Helm's `ErrNoAPIVersion`).
    #[error("no API version specified")]
    NoApiVersion,
    /// The chart is not in the index (Helm's `ErrNoChartName`).
    #[error("no chart name found")]
    NoChartName,
    /// The chart has no versions (Helm's `ErrNoChartVersion`).
    #[error("no chart version found")]
    NoChartVersion,
    /// The range does not parse.
    #[error("{0}")]
    BadRange(String),
    /// Nothing satisfies the range.
    #[error("no '{name}' chart with version matching '{version}' found")]
    NoMatch {
        /// Chart name.
        name: String,
        /// The requested version or range.
        version: String,
    },
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl IndexFile {
    /// Parses `index.yaml` bytes (YAML or JSON). Entries without a name or version, as Helm's
    /// loader does, are skipped rather than failing the whole index.
    pub fn parse(bytes: &[u8]) -> Result<IndexFile, IndexError> {
        let text_doc = std::str::from_utf8(bytes)
            .map_err(|e| IndexError::Invalid(format!("index is not UTF-8: {e}")))?;
        let doc: Value =
            serde_saphyr::from_str(text_doc).map_err(|e| IndexError::Invalid(e.to_string()))?;
        let Value::Object(map) = &doc else {
            return Err(IndexError::Invalid(
                "index.yaml is not a mapping".to_string(),
            ));
        };
        if map
            .get("apiVersion")
            .and_then(text)
            .is_none_or(|s| s.is_empty())
        {
            return Err(IndexError::NoApiVersion);
        }
        let mut entries = BTreeMap::new();
        if let Some(Value::Object(e)) = map.get("entries") {
            for (chart, list) in e {
                let mut versions = Vec::new();
                for cv in list.as_array().map(Vec::as_slice).unwrap_or_default() {
                    let field = |k: &str| cv.get(k).and_then(text).filter(|s| !s.is_empty());
                    let Some(version) = field("version") else {
                        continue;
                    };
                    versions.push(ChartVersion {
                        name: field("name").unwrap_or_else(|| chart.clone()),
                        version,
                        urls: cv
                            .get("urls")
                            .and_then(Value::as_array)
                            .map(|u| u.iter().filter_map(text).collect())
                            .unwrap_or_default(),
                        digest: field("digest"),
                        created: field("created"),
                    });
                }
                entries.insert(chart.clone(), versions);
            }
        }
        Ok(IndexFile { entries })
    }

    /// The chart version Flux's `GetChartVersion` picks: an exact string match first, then the
    /// highest version satisfying the range (`""`/`*` = latest stable); versions equal but for
    /// build metadata are ordered by `created`.
    pub fn get(&self, name: &str, ver: &str) -> Result<&ChartVersion, IndexError> {
        let cvs = self.entries.get(name).ok_or(IndexError::NoChartName)?;
        if cvs.is_empty() {
            return Err(IndexError::NoChartVersion);
        }
        if !ver.is_empty()
            && let Some(cv) = cvs.iter().find(|cv| cv.version == ver)
        {
            return Ok(cv);
        }
        let range = if ver.is_empty() { "*" } else { ver };
        let constraint =
            Constraints::parse(range).map_err(|e| IndexError::BadRange(e.to_string()))?;
        let mut best: Option<(Version<'_>, &ChartVersion)> = None;
        for cv in cvs {
            let Ok(v) = parse_tag(&cv.version) else {
                continue;
            };
            if !constraint.matches(&v) {
                continue;
            }
            let better = match &best {
                None => true,
                Some((b, bcv)) => match v.precedence(b) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Less => false,
                    std::cmp::Ordering::Equal => created(cv) > created(bcv),
                },
            };
            if better {
                best = Some((v, cv));
            }
        }
        best.map(|(_, cv)| cv).ok_or_else(|| IndexError::NoMatch {
            name: name.to_string(),
            version: ver.to_string(),
        })
    }
}

fn created(cv: &ChartVersion) -> Option<jiff::Timestamp> {
    cv.created.as_deref().and_then(|c| c.parse().ok())
}

/// Helm's `ResolveReferenceURL`: an absolute chart URL as is, a relative one against the
/// repository URL taken as a directory, keeping the repository URL's query.
pub fn resolve_chart_url(repo_url: &str, chart_url: &str) -> Result<String, String> {
    if let Ok(abs) = reqwest::Url::parse(chart_url) {
        return Ok(abs.to_string());
    }
    let mut base = reqwest::Url::parse(repo_url)
        .map_err(|e| format!("invalid repository URL '{}': {e}", redact(repo_url)))?;
    let path = format!("{}/", base.path().trim_end_matches('/'));
    base.set_path(&path);
    let query = base.query().map(str::to_string);
    let mut resolved = base
        .join(chart_url)
        .map_err(|e| format!("invalid chart URL '{chart_url}': {e}"))?;
    resolved.set_query(query.as_deref());
    Ok(resolved.to_string())
}

/// `<repo url>/index.yaml` (Helm appends it to the URL taken as a directory, keeping the query).
pub fn index_url(repo_url: &str) -> Result<String, String> {
    resolve_chart_url(repo_url, "index.yaml")
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Writes `bytes` to `rel_path` in the store atomically (temp file + rename) and returns the
/// artifact with `revision`.
pub fn store_bytes(
    store: &ArtifactStore,
    rel_path: &str,
    revision: &str,
    bytes: &[u8],
) -> Result<Artifact, ArtifactError> {
    let target = store.path_of(rel_path)?;
    let parent = target
        .parent()
        .ok_or_else(|| ArtifactError::PathEscapes(rel_path.to_string()))?;
    fs::create_dir_all(parent).map_err(|source| ArtifactError::CreateDirectory {
        path: parent.display().to_string(),
        source,
    })?;
    let temp = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let write_err = |source| ArtifactError::Archive {
        path: temp.display().to_string(),
        source,
    };
    let result = (|| {
        let mut file = fs::File::create(&temp).map_err(write_err)?;
        file.write_all(bytes).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        fs::rename(&temp, &target).map_err(write_err)
    })();
    if let Err(e) = result {
        // Best effort: the temp file may not exist.
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    let now = jiff::Timestamp::now();
    Ok(Artifact {
        path: rel_path.to_string(),
        revision: revision.to_string(),
        digest: sha256_digest(bytes),
        size: bytes.len() as u64,
        last_update_time: jiff::Timestamp::from_second(now.as_second()).unwrap_or(now),
    })
}

/// Deletes the files next to `current` but the newest `keep - 1` others (source-controller's
/// retention of two artifacts per object); temp files are left to [`ArtifactStore::gc`].
pub fn gc_files(store: &ArtifactStore, current: &Artifact, keep: usize) {
    let Ok(current_path) = store.path_of(&current.path) else {
        return;
    };
    let Some(dir) = current_path.parent() else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut others: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p != &current_path
                && p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
        })
        .map(|p| {
            let t = fs::metadata(&p)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
            (t, p)
        })
        .collect();
    others.sort_by(|a, b| b.cmp(a));
    for (_, p) in others.into_iter().skip(keep.saturating_sub(1)) {
        if let Err(e) = fs::remove_file(&p) {
            tracing::warn!(path = %p.display(), error = %e, "artifact garbage collection failed");
        }
    }
}

/// Reads a stored artifact's bytes after checking its digest.
pub fn read_artifact(store: &ArtifactStore, artifact: &Artifact) -> Result<Vec<u8>, String> {
    let path = store.path_of(&artifact.path).map_err(|e| e.to_string())?;
    let bytes = read_file(&path)?;
    super::artifact::verify_digest(&bytes, &artifact.digest, &artifact.path)?;
    Ok(bytes)
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"apiVersion: v1
entries:
  podinfo:
  - name: podinfo
    version: 1.0.0
    urls: [podinfo-1.0.0.tgz]
    digest: aaaa
  - name: podinfo
    version: 1.5.0
    urls: [charts/podinfo-1.5.0.tgz]
  - name: podinfo
    version: 2.0.0
    urls: [https://cdn.example.com/podinfo-2.0.0.tgz]
  - name: podinfo
    version: 2.1.0-rc.1
    urls: [podinfo-2.1.0-rc.1.tgz]
  - name: podinfo
    version: 1.5.0+b2
    created: "2024-02-01T00:00:00Z"
    urls: [b2.tgz]
  - name: podinfo
    version: 1.5.0+b1
    created: "2024-01-01T00:00:00Z"
    urls: [b1.tgz]
  empty: []
generated: "2024-01-01T00:00:00Z"
"#;

    #[test]
    fn versions_resolve_like_flux() {
        let idx = IndexFile::parse(INDEX.as_bytes()).unwrap();
        assert_eq!(idx.get("podinfo", "").unwrap().version, "2.0.0");
        assert_eq!(idx.get("podinfo", "*").unwrap().version, "2.0.0");
        assert_eq!(
            idx.get("podinfo", ">=1.0.0 <2.0.0").unwrap().version,
            "1.5.0+b2"
        );
        assert_eq!(idx.get("podinfo", "1.0.0").unwrap().version, "1.0.0");
        assert_eq!(idx.get("podinfo", "1.5.0+b1").unwrap().version, "1.5.0+b1");
        assert_eq!(
            idx.get("podinfo", ">=2.1.0-0").unwrap().version,
            "2.1.0-rc.1"
        );
        assert_eq!(
            idx.get("podinfo", ">=3").unwrap_err().to_string(),
            "no 'podinfo' chart with version matching '>=3' found"
        );
        assert_eq!(idx.get("nginx", "*").unwrap_err(), IndexError::NoChartName);
        assert_eq!(
            idx.get("empty", "*").unwrap_err(),
            IndexError::NoChartVersion
        );
        assert!(matches!(
            idx.get("podinfo", "not a range"),
            Err(IndexError::BadRange(_))
        ));
    }

    #[test]
    fn bad_indexes_are_refused() {
        assert_eq!(
            IndexFile::parse(b"entries: {}\n").unwrap_err(),
            IndexError::NoApiVersion
        );
        assert!(matches!(
            IndexFile::parse(b"- a\n- b\n"),
            Err(IndexError::Invalid(_))
        ));
        assert!(matches!(
            IndexFile::parse(b"apiVersion: v1\nentries: [\n"),
            Err(IndexError::Invalid(_))
        ));
    }

    #[test]
    fn chart_urls_resolve_like_helm() {
        let r = |base: &str, u: &str| resolve_chart_url(base, u).unwrap();
        assert_eq!(r("http://h/charts", "a-1.tgz"), "http://h/charts/a-1.tgz");
        assert_eq!(
            r("http://h/charts/", "sub/a-1.tgz"),
            "http://h/charts/sub/a-1.tgz"
        );
        assert_eq!(
            r("http://h/charts?token=x", "a-1.tgz"),
            "http://h/charts/a-1.tgz?token=x"
        );
        assert_eq!(r("http://h/charts", "https://o/a.tgz"), "https://o/a.tgz");
        assert_eq!(
            index_url("http://h:8080").unwrap(),
            "http://h:8080/index.yaml"
        );
    }

    #[test]
    fn stored_bytes_have_digest_and_are_collected() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::new(dir.path());
        let a = store_bytes(&store, "helmchart/ns/c/c-1.tgz", "1", b"one").unwrap();
        assert_eq!(a.digest, sha256_digest(b"one"));
        assert_eq!(read_artifact(&store, &a).unwrap(), b"one");
        std::thread::sleep(Duration::from_millis(10));
        let _b = store_bytes(&store, "helmchart/ns/c/c-2.tgz", "2", b"two").unwrap();
        std::thread::sleep(Duration::from_millis(10));
        let c = store_bytes(&store, "helmchart/ns/c/c-3.tgz", "3", b"three").unwrap();
        gc_files(&store, &c, 2);
        assert!(!store.exists(&a));
        assert!(store.path_of("helmchart/ns/c/c-2.tgz").unwrap().is_file());
        assert!(store.exists(&c));
    }
}
