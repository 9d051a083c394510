//! Where source data lives on this machine, and the artifact storage server.
//!
//! [`SourceStorage`] is the one place that knows the on-disk layout of a cluster's sources under
//! the controller's data directory (artifact store, GitRepository fetch caches); everything else
//! (the console's views, the image decisions, the controller wiring) asks it.
//!
//! The storage server (source-controller's `--storage-addr`) serves every cluster's artifact store
//! read-only over HTTP, so `status.artifact.url` is a real download address.
//!
//! `GET`/`HEAD /<cluster dir>/<artifact path>` answers with the file under
//! `<data dir>/<cluster dir>/artifacts/<artifact path>`. Only the cluster directories the server
//! was started with are served; paths with `.`-prefixed, empty, backslash or control-character
//! segments are refused (400) and files that resolve (through symlinks) outside their store are
//! not found (404).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use thiserror::Error;
use tokio::io::AsyncReadExt;

use super::artifact::ArtifactStore;

/// One cluster's source data under the controller's data directory:
/// `<data dir>/<cluster dir>/artifacts/` (the artifact store, served under `/<cluster dir>/`) and
/// `<data dir>/<cluster dir>/git/<namespace>/<name>/` (a GitRepository's work directory: its
/// fetch cache and checkouts). Other controllers keep their data beside it in the cluster directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStorage {
    cluster_dir: PathBuf,
}

impl SourceStorage {
    /// The storage of cluster (kubeconfig context) `cluster` under `data_dir`.
    pub fn new(data_dir: &Path, cluster: &str) -> SourceStorage {
        SourceStorage {
            cluster_dir: data_dir.join(cluster_dir_name(cluster)),
        }
    }

    /// The storage whose cluster directory is `cluster_dir` (already chosen by the caller).
    pub fn in_cluster_dir(cluster_dir: impl Into<PathBuf>) -> SourceStorage {
        SourceStorage {
            cluster_dir: cluster_dir.into(),
        }
    }

    /// The cluster's data directory.
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// The cluster's artifact store.
    pub fn artifact_store(&self) -> ArtifactStore {
        ArtifactStore::new(self.cluster_dir.join("artifacts"))
    }

    /// The directory holding every GitRepository's work directory (the reconciler's `work_dir`).
    pub fn git_root(&self) -> PathBuf {
        self.cluster_dir.join("git")
    }

    /// The work directory of GitRepository `namespace/name`.
    pub fn git_work_dir(&self, namespace: &str, name: &str) -> PathBuf {
        self.git_root().join(namespace).join(name)
    }

    /// The fetch cache (a bare repository) the reconciler keeps for GitRepository `namespace/name`
    /// fetching `url`.
    pub fn git_cache(&self, namespace: &str, name: &str, url: &str) -> PathBuf {
        super::git::cache_dir(&self.git_work_dir(namespace, name), url)
    }
}

/// Where a copy of GitRepository `namespace/name`'s history may be on this machine: its `file://`
/// remote, and the fetch cache in `storage` (when this machine runs the reconciler).
pub fn local_git_histories(
    storage: Option<&SourceStorage>,
    namespace: &str,
    name: &str,
    url: &str,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(path) = super::git_local::local_path(url) {
        out.push(path);
    }
    if let Some(storage) = storage
        && !url.is_empty()
    {
        out.push(storage.git_cache(namespace, name, url));
    }
    out
}

/// A cluster (context) name as a directory name: contexts may contain `/` or `:`. Also the
/// cluster's path prefix on the storage server.
pub fn cluster_dir_name(cluster: &str) -> String {
    let s: String = cluster
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        "_".to_string()
    } else {
        s
    }
}

/// Bytes read from an artifact per body chunk.
const CHUNK: usize = 64 * 1024;

/// Why the storage server could not start.
#[derive(Debug, Error)]
pub enum StorageError {
    /// Binding the listen address failed.
    #[error("artifact storage server: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server was started outside a tokio runtime.
    #[error("artifact storage server on {addr}: must be started inside a tokio runtime")]
    NoRuntime {
        /// The address.
        addr: SocketAddr,
    },
}

/// Why a request path was refused before touching the file system.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathRefused {
    /// A `%` escape is not two hex digits, or the decoded path is not UTF-8.
    #[error("malformed percent-encoding in {0:?}")]
    Encoding(String),
    /// A segment is empty, `.`/`..`/hidden, or holds a backslash or a control character.
    #[error("refused path segment {0:?}")]
    Segment(String),
    /// The path names no file below a cluster directory.
    #[error("path {0:?} names no artifact")]
    TooShort(String),
}

/// A request path split into the cluster directory and the artifact path inside its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRequest {
    /// The cluster directory (first segment).
    pub cluster_dir: String,
    /// The remaining segments: the artifact path relative to the store root.
    pub path: Vec<String>,
}

/// Percent-decodes `raw`, byte-wise.
fn percent_decode(raw: &str) -> Result<String, PathRefused> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| PathRefused::Encoding(raw.to_string()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PathRefused::Encoding(raw.to_string()))
}

/// Splits and checks a request path (`/<cluster dir>/<artifact path>`, percent-encoded). Every
/// segment must be non-empty, must not start with `.` (so no `.`, `..` or temporary files) and
/// must hold no backslash or control character (NUL included); a doubled or trailing `/` is an
/// empty segment and is refused too.
pub fn parse_request_path(raw: &str) -> Result<ArtifactRequest, PathRefused> {
    let decoded = percent_decode(raw)?;
    let rest = decoded.strip_prefix('/').unwrap_or(&decoded);
    let mut segments = Vec::new();
    for seg in rest.split('/') {
        if seg.is_empty()
            || seg.starts_with('.')
            || seg.contains('\\')
            || seg.chars().any(char::is_control)
        {
            return Err(PathRefused::Segment(seg.to_string()));
        }
        segments.push(seg.to_string());
    }
    if segments.len() < 2 {
        return Err(PathRefused::TooShort(decoded.clone()));
    }
    let cluster_dir = segments.remove(0);
    Ok(ArtifactRequest {
        cluster_dir,
        path: segments,
    })
}

/// The address one cluster's artifacts are advertised under: `http://<adv>/<cluster dir>` (or
/// `<adv>/<cluster dir>` when `adv` already has a scheme).
pub fn advertised_base(adv: &str, cluster_dir: &str) -> String {
    let adv = adv.trim_end_matches('/');
    if adv.contains("://") {
        format!("{adv}/{cluster_dir}")
    } else {
        format!("http://{adv}/{cluster_dir}")
    }
}

/// The address to advertise for a bound socket: itself, or loopback when bound to the
/// unspecified address (which no client can connect to).
pub fn advertisable(bound: SocketAddr) -> SocketAddr {
    let mut a = bound;
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

/// The stores served: cluster directory name → artifact store root.
type Stores = Arc<HashMap<String, PathBuf>>;

/// The running storage server.
pub struct StorageServer {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl StorageServer {
    /// Binds `addr` and serves `stores` (`(cluster dir name, artifact store root)`); must run
    /// inside a tokio runtime.
    pub fn start(
        addr: SocketAddr,
        stores: Vec<(String, PathBuf)>,
    ) -> Result<StorageServer, StorageError> {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return Err(StorageError::NoRuntime { addr });
        };
        let bind = |source| StorageError::Bind { addr, source };
        let std_listener = std::net::TcpListener::bind(addr).map_err(bind)?;
        std_listener.set_nonblocking(true).map_err(bind)?;
        let bound = std_listener.local_addr().map_err(bind)?;
        let listener = {
            let _entered = rt.enter();
            tokio::net::TcpListener::from_std(std_listener).map_err(bind)?
        };
        let stores: Stores = Arc::new(stores.into_iter().collect());
        let app = Router::new().fallback(serve).with_state(stores);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = rt.spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(addr = %bound, error = %e, "artifact storage server failed");
            }
        });
        tracing::info!(addr = %bound, "artifact storage server listening");
        Ok(StorageServer {
            addr: bound,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets running downloads finish for up to `grace`, then stops.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(grace, self.task).await.is_err() {
            abort.abort();
        }
    }
}

/// A plain-text error response.
fn refuse(status: StatusCode, message: String) -> Response {
    (status, message).into_response()
}

/// Finds the file for a checked request: `None` when the cluster is unknown, the file is missing,
/// not a regular file, or resolves outside its store.
async fn locate(stores: &Stores, req: &ArtifactRequest) -> Option<PathBuf> {
    let root = stores.get(&req.cluster_dir)?;
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let candidate: PathBuf = req.path.iter().fold(root.clone(), |p, s| p.join(s));
    let resolved = tokio::fs::canonicalize(&candidate).await.ok()?;
    if !resolved.starts_with(&root) {
        tracing::warn!(path = %candidate.display(), "refusing an artifact that resolves outside its store");
        return None;
    }
    Some(resolved)
}

/// Streams the file at `path` in chunks.
fn stream_file(file: tokio::fs::File) -> Body {
    let chunks = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Body::from_stream(chunks)
}

async fn open(path: &Path) -> std::io::Result<(tokio::fs::File, u64)> {
    let file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not a regular file",
        ));
    }
    Ok((file, meta.len()))
}

/// The one handler: `GET`/`HEAD` of an artifact.
async fn serve(State(stores): State<Stores>, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut r = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed; the artifact storage is read-only\n"),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let req = match parse_request_path(uri.path()) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let not_found = || refuse(StatusCode::NOT_FOUND, format!("{} not found\n", uri.path()));
    let Some(path) = locate(&stores, &req).await else {
        return not_found();
    };
    let (file, len) = match open(&path).await {
        Ok(f) => f,
        Err(_) => return not_found(),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        stream_file(file)
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_become_safe_directories() {
        assert_eq!(cluster_dir_name("dev"), "dev");
        assert_eq!(cluster_dir_name("arn:aws:eks/prod"), "arn_aws_eks_prod");
        assert_eq!(cluster_dir_name(".."), "_");
    }

    #[test]
    fn source_storage_layout() {
        let s = SourceStorage::new(Path::new("/data"), "arn:aws/prod");
        assert_eq!(s.cluster_dir(), Path::new("/data/arn_aws_prod"));
        assert_eq!(
            s.artifact_store().root(),
            Path::new("/data/arn_aws_prod/artifacts")
        );
        assert_eq!(s.git_root(), Path::new("/data/arn_aws_prod/git"));
        let url = "https://example.com/org/repo.git";
        let cache = s.git_cache("flux-system", "repo", url);
        assert!(
            cache.starts_with("/data/arn_aws_prod/git/flux-system/repo/git-cache"),
            "{}",
            cache.display()
        );
        assert_eq!(
            local_git_histories(Some(&s), "flux-system", "repo", url),
            vec![cache]
        );
        assert_eq!(
            local_git_histories(Some(&s), "ns", "n", "file:///srv/demo.git"),
            vec![
                PathBuf::from("/srv/demo.git"),
                s.git_cache("ns", "n", "file:///srv/demo.git")
            ]
        );
        assert!(local_git_histories(None, "ns", "n", "").is_empty());
    }

    fn parsed(p: &str) -> Result<(String, Vec<String>), PathRefused> {
        parse_request_path(p).map(|r| (r.cluster_dir, r.path))
    }

    #[test]
    fn artifact_paths_split_into_cluster_and_store_path() {
        let (c, p) = parsed("/dev/gitrepository/flux-system/flux-system/abc.tar.gz").unwrap();
        assert_eq!(c, "dev");
        assert_eq!(
            p,
            ["gitrepository", "flux-system", "flux-system", "abc.tar.gz"]
        );
        let (c, p) = parsed("/arn_aws_eks_prod/a%2Eb/x.tar.gz").unwrap();
        assert_eq!(
            (c.as_str(), p.join("/").as_str()),
            ("arn_aws_eks_prod", "a.b/x.tar.gz")
        );
    }

    #[test]
    fn traversal_and_odd_segments_are_refused() {
        for p in [
            "/dev/../etc/passwd",
            "/../dev/x.tar.gz",
            "/dev/%2e%2e/x",
            "/dev/%2E%2E%2Fsecret",
            "/dev/./x.tar.gz",
            "/dev/.tmp-123",
            "/dev//etc/passwd",
            "//etc/passwd",
            "/dev/a\\..\\b",
            "/dev/a%5c..%5cb",
            "/dev/a%00b",
            "/dev/a%0ab",
            "/dev/x/",
        ] {
            assert!(
                matches!(parsed(p), Err(PathRefused::Segment(_))),
                "{p}: {:?}",
                parsed(p)
            );
        }
    }

    #[test]
    fn malformed_or_short_paths_are_refused() {
        assert!(matches!(parsed("/dev/%zz"), Err(PathRefused::Encoding(_))));
        assert!(matches!(parsed("/dev/%4"), Err(PathRefused::Encoding(_))));
        assert!(matches!(parsed("/dev/%ff"), Err(PathRefused::Encoding(_))));
        assert!(matches!(parsed("/dev"), Err(PathRefused::TooShort(_))));
        assert!(matches!(parsed("/"), Err(PathRefused::Segment(_))));
        assert!(matches!(parsed(""), Err(PathRefused::Segment(_))));
    }

    #[test]
    fn advertised_bases_add_a_scheme_once() {
        assert_eq!(
            advertised_base("127.0.0.1:9090", "dev"),
            "http://127.0.0.1:9090/dev"
        );
        assert_eq!(
            advertised_base("https://artifacts.example/flotilla/", "dev"),
            "https://artifacts.example/flotilla/dev"
        );
        let a = advertisable("0.0.0.0:80".parse().unwrap());
        assert_eq!(a.to_string(), "127.0.0.1:80");
        let a = advertisable("[::]:80".parse().unwrap());
        assert_eq!(a.to_string(), "[::1]:80");
        let a = advertisable("10.0.0.2:80".parse().unwrap());
        assert_eq!(a.to_string(), "10.0.0.2:80");
    }

    /// Real HTTP against a temporary store: GET, HEAD, 404s and a symlink out of the store.
    #[tokio::test]
    async fn serves_files_of_known_stores_only() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("dev").join("artifacts");
        std::fs::create_dir_all(store.join("gitrepository/ns/n")).unwrap();
        std::fs::write(store.join("gitrepository/ns/n/c.tar.gz"), b"archive").unwrap();
        std::fs::write(tmp.path().join("dev").join("secret"), b"secret").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            tmp.path().join("dev").join("secret"),
            store.join("gitrepository/ns/n/link.tar.gz"),
        )
        .unwrap();
        let server =
            StorageServer::start("127.0.0.1:0".parse().unwrap(), vec![("dev".into(), store)])
                .unwrap();
        let base = format!("http://{}", server.local_addr());
        // Err means a provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let get = |p: &str| http.get(format!("{base}{p}")).send();
        let r = get("/dev/gitrepository/ns/n/c.tar.gz").await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/gzip");
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "7");
        assert_eq!(&r.bytes().await.unwrap()[..], b"archive");
        let r = http
            .head(format!("{base}/dev/gitrepository/ns/n/c.tar.gz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "7");
        for (p, code) in [
            ("/dev/gitrepository/ns/n/missing.tar.gz", 404),
            ("/prod/gitrepository/ns/n/c.tar.gz", 404),
            ("/dev/gitrepository/ns/n", 404),
            ("/dev/gitrepository/ns/n/link.tar.gz", 404),
            ("/dev/%2e%2e/secret", 400),
        ] {
            let r = get(p).await.unwrap();
            assert_eq!(r.status(), code, "{p}");
        }
        let r = http
            .delete(format!("{base}/dev/gitrepository/ns/n/c.tar.gz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        server.shutdown(Duration::from_secs(5)).await;
        assert!(
            reqwest::Client::new()
                .get(format!("{base}/dev/gitrepository/ns/n/c.tar.gz"))
                .send()
                .await
                .is_err()
        );
    }
}
