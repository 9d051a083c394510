//! Remote resources: HTTP(S) files and Git repositories named in `resources` (and `components`).
//!
//! The URL forms and their parsing follow kustomize v5's `repospec.go` (read, not copied):
//! `https://host/org/repo//sub/dir?ref=v1`, `github.com/org/repo/sub?ref=…`, `git::https://…`,
//! `ssh://git@host/org/repo.git`, `git@host:org/repo`, `file:///abs/repo//sub`, `…/_git/repo/…`
//! (Azure), with `?ref=` (or `?version=`), `?timeout=` and `?submodules=`. flotilla also accepts
//! `git://host/repo` (the git daemon protocol), which kustomize refuses.
//!
//! The build does no network I/O itself: a [`RemoteLoader`] supplied by the caller fetches. The
//! build keeps a per-build cache (one fetch per URL and ref), refuses more than
//! [`MAX_REMOTE_FETCHES`] fetches, and detects cycles through remotes like local ones (a repository
//! at one ref is checked out once, so a base reaching itself is the same directory again).

use super::BuildError;
use crate::model::redact::redacted;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// kustomize's default time limit of one git operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(27);
/// Most remote fetches one build may make (files and repositories together).
pub const MAX_REMOTE_FETCHES: usize = 100;

/// A parsed Git remote reference (kustomize's `RepoSpec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// The reference as written.
    pub raw: String,
    /// Scheme, user and host, with the separator (`https://github.com/`, `git@host:`, `file://`).
    pub host: String,
    /// The repository path on the host (`org/repo`, `org/repo.git`, `/abs/path`).
    pub repo_path: String,
    /// The kustomization directory inside the repository (may be empty).
    pub kust_root: String,
    /// `?ref=` (else `?version=`); empty means the remote HEAD.
    pub git_ref: String,
    /// `?submodules=` (default true).
    pub submodules: bool,
    /// `?timeout=` (seconds or a Go duration; default 27 s).
    pub timeout: Duration,
}

impl RepoSpec {
    /// What `git clone` is given.
    pub fn clone_url(&self) -> String {
        format!("{}{}", self.host, self.repo_path)
    }

    /// The per-build cache key: one checkout per repository and ref.
    pub fn key(&self) -> String {
        format!("{}?ref={}", self.clone_url(), self.git_ref)
    }

    /// How messages name it (password masked).
    pub fn label(&self) -> String {
        let mut s = redacted(&self.clone_url());
        if !self.git_ref.is_empty() {
            s.push_str(&format!("?ref={}", self.git_ref));
        }
        s
    }

    /// Parses a Git remote reference; `Err` says why it is not one.
    pub fn parse(reference: &str) -> Result<RepoSpec, String> {
        let n = reference.trim();
        if n.starts_with('/') {
            return Err(format!("uri looks like abs path: {n}"));
        }
        let (n, query) = n.split_once('?').unwrap_or((n, ""));
        let (git_ref, timeout, submodules) = parse_query(query);
        let (host, rest) = extract_host(n)?;
        let segments = if host.starts_with("file://") {
            None
        } else {
            Some(2)
        };
        let (repo_path, kust_root) = split_path(rest, segments)?;
        Ok(RepoSpec {
            raw: reference.to_string(),
            host,
            repo_path,
            kust_root,
            git_ref,
            submodules,
            timeout,
        })
    }
}

fn parse_query(query: &str) -> (String, Duration, bool) {
    let mut version = String::new();
    let mut git_ref = String::new();
    let mut timeout = DEFAULT_TIMEOUT;
    let mut submodules = true;
    // Go's `url.Values.Get` takes the first value of a key.
    let mut seen = std::collections::HashSet::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        if !seen.insert(k.clone()) {
            continue;
        }
        match k.as_str() {
            "version" => version = v,
            "ref" => git_ref = v,
            "timeout" => {
                if let Some(d) = parse_timeout(&v) {
                    timeout = d;
                }
            }
            "submodules" => {
                if let Some(b) = parse_go_bool(&v) {
                    submodules = b;
                }
            }
            _ => {}
        }
    }
    if git_ref.is_empty() {
        git_ref = version;
    }
    (git_ref, timeout, submodules)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `61` (seconds) or a Go duration (`61s`, `1m30s`, `500ms`); non-positive values are ignored.
fn parse_timeout(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.parse::<i64>() {
        return (secs > 0).then(|| Duration::from_secs(secs as u64));
    }
    let mut total = 0f64;
    let mut rest = v;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let num: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += num * scale;
        rest = &rest[unit_end..];
    }
    (total > 0.0 && total.is_finite()).then(|| Duration::from_secs_f64(total))
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// Splits scheme, user and host off; returns (host part with separator, rest).
fn extract_host(n: &str) -> Result<(String, &str), String> {
    // go-getter's forced-protocol prefix, which kustomize strips.
    let n = strip_prefix_ignore_case(n, "git::").unwrap_or(n);
    let mut scheme = "";
    let mut rest = n;
    for s in ["ssh://", "https://", "http://", "file://", "git://"] {
        if let Some(r) = strip_prefix_ignore_case(n, s) {
            scheme = s;
            rest = r;
            break;
        }
    }
    let (user, rest) = extract_user(rest);
    let lower = rest.to_ascii_lowercase();
    let std_github = lower.starts_with("github.com/") || lower.starts_with("github.com:");
    // scp-like syntax (`user@host:path`) has no scheme; kustomize needs a user unless on GitHub.
    let scp = scheme.is_empty() && (!user.is_empty() || std_github);
    if scheme.is_empty() && !scp {
        return Err("failed to parse scheme".into());
    }
    if scheme == "file://" {
        return Ok((scheme.to_string(), &n[scheme.len()..]));
    }
    let mut sep = rest.find('/');
    if scp
        && let Some(colon) = rest.find(':')
        && colon > 0
        && sep.is_none_or(|s| colon < s)
    {
        sep = Some(colon);
    }
    let (host, rest) = match sep {
        Some(i) => (&rest[..=i], &rest[i + 1..]),
        None => (rest, ""),
    };
    if std_github {
        return Ok(if scheme == "ssh://" || !user.is_empty() {
            (format!("{user}github.com:"), rest)
        } else {
            ("https://github.com/".to_string(), rest)
        });
    }
    if host.is_empty() {
        return Err("failed to parse host segment".into());
    }
    Ok((format!("{scheme}{user}{host}"), rest))
}

/// A leading `name@` (a letter, then letters, digits and dashes).
fn extract_user(s: &str) -> (&str, &str) {
    let Some(at) = s.find('@') else {
        return ("", s);
    };
    let name = &s[..at];
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        (&s[..=at], &s[at + 1..])
    } else {
        ("", s)
    }
}

/// Splits the repository path from the kustomization root: at `_git/<repo>`, `//`, or `.git`,
/// else after `segments` path segments (all of them for `file://`).
fn split_path(n: &str, segments: Option<usize>) -> Result<(String, String), String> {
    let (repo, root) = if let Some(i) = n.find("_git/") {
        let after = &n[i + 5..];
        let (name, sub) = after.split_once('/').unwrap_or((after, ""));
        (format!("{}{name}", &n[..i + 5]), sub.to_string())
    } else if let Some(i) = n.find("//") {
        (n[..i].to_string(), n[i + 2..].to_string())
    } else if let Some(i) = n.find(".git") {
        (n[..i + 4].to_string(), n[i + 4..].to_string())
    } else {
        match segments {
            None => (n.to_string(), String::new()),
            Some(k) => {
                let parts: Vec<&str> = n.split('/').collect();
                if parts.len() < k {
                    return Err("failed to parse repo path segment".into());
                }
                (parts[..k].join("/"), parts[k..].join("/"))
            }
        }
    };
    if repo.is_empty() {
        return Err("failed to parse repo path segment".into());
    }
    let root = root.trim_start_matches('/').to_string();
    let mut depth = 0i32;
    for part in root.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("url path exits repo: {n}"));
                }
            }
            _ => depth += 1,
        }
    }
    Ok((repo, root))
}

/// Whether `reference` is an HTTP(S) URL (fetched as a file first, as kustomize does).
pub fn is_http(reference: &str) -> bool {
    let r = reference.trim();
    strip_prefix_ignore_case(r, "http://").is_some()
        || strip_prefix_ignore_case(r, "https://").is_some()
}

/// Whether `reference` names something remote rather than a local path.
pub fn is_remote(reference: &str) -> bool {
    is_http(reference) || RepoSpec::parse(reference).is_ok()
}

/// Why a fetch failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a non-2xx status.
    #[error("HTTP Error: status code {status} ({text})")]
    Status {
        /// The status code.
        status: u16,
        /// Its reason phrase.
        text: String,
    },
    /// Anything else (time limit, size limit, redirects, connection, git).
    #[error("{0}")]
    Other(String),
}

/// A checked-out repository; `guard` keeps the directory until the build ends.
pub struct FetchedRepo {
    /// The repository's root directory.
    pub dir: PathBuf,
    /// Dropped when the build ends (e.g. removes the checkout).
    pub guard: Box<dyn Send>,
}

/// Fetches remote resources for a build; implemented outside the kustomize module (the CLI and
/// the kustomization controller share one in `controllers::kustomization::remote`).
pub trait RemoteLoader: Send + Sync {
    /// The body of an HTTP(S) URL (non-2xx answers are [`FetchError::Status`]).
    fn fetch_file(&self, url: &str) -> Result<Vec<u8>, FetchError>;
    /// A checkout of `spec.clone_url()` at `spec.git_ref` (empty: the remote HEAD).
    fn fetch_repo(&self, spec: &RepoSpec) -> Result<FetchedRepo, FetchError>;
}

/// What a build does with remote resources.
#[derive(Clone, Default)]
pub enum RemoteResources {
    /// Refused as not supported (no loader given).
    #[default]
    Unsupported,
    /// Refused like Flux's kustomize-controller with `--no-remote-bases`.
    Disabled,
    /// Fetched by this loader.
    Fetch(Arc<dyn RemoteLoader>),
}

impl std::fmt::Debug for RemoteResources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RemoteResources::Unsupported => "Unsupported",
            RemoteResources::Disabled => "Disabled",
            RemoteResources::Fetch(_) => "Fetch(..)",
        })
    }
}

/// Where a remote reference resolved to.
pub enum Resolved {
    /// A fetched file, held in memory under this synthetic path.
    File(PathBuf),
    /// A directory inside a checked-out repository (canonical).
    Dir(PathBuf),
}

/// The remote side of one build: policy, per-build cache and the checkouts it keeps alive.
pub struct RemoteState {
    policy: RemoteResources,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for RemoteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteState")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Cache {
    /// Checked-out repository roots (canonical) with their labels.
    roots: Vec<(PathBuf, String)>,
    /// Repository key → canonical root.
    repos: HashMap<String, PathBuf>,
    /// URL → synthetic path of the fetched file.
    files: HashMap<String, PathBuf>,
    /// Synthetic path → (label, bytes).
    bodies: HashMap<PathBuf, (String, Vec<u8>)>,
    guards: Vec<Box<dyn Send>>,
    fetches: usize,
}

/// The prefix of synthetic paths of fetched files (relative, so it never names a real file:
/// every path a build reads is canonical and absolute).
const FILE_PREFIX: &str = "<remote>";

impl RemoteState {
    /// State for one build.
    pub fn new(policy: RemoteResources) -> Self {
        RemoteState {
            policy,
            cache: Mutex::new(Cache::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A poisoned lock only means a fetch panicked; the cache itself stays consistent.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The root of the checkout containing `path`, if it lies in one.
    pub fn root_of(&self, path: &Path) -> Option<PathBuf> {
        self.lock()
            .roots
            .iter()
            .filter(|(r, _)| path.starts_with(r))
            .max_by_key(|(r, _)| r.as_os_str().len())
            .map(|(r, _)| r.clone())
    }

    /// How messages show `path` when it is remote (`<repo label>//<sub path>`, or a file's URL).
    pub fn display(&self, path: &Path) -> Option<PathBuf> {
        let cache = self.lock();
        if let Some((label, _)) = cache.bodies.get(path) {
            return Some(PathBuf::from(label));
        }
        cache
            .roots
            .iter()
            .filter(|(r, _)| path.starts_with(r))
            .max_by_key(|(r, _)| r.as_os_str().len())
            .map(|(r, label)| match path.strip_prefix(r) {
                Ok(rel) if !rel.as_os_str().is_empty() => {
                    PathBuf::from(format!("{label}//{}", rel.display()))
                }
                _ => PathBuf::from(label),
            })
    }

    /// The bytes of a fetched file.
    pub fn body(&self, path: &Path) -> Option<Vec<u8>> {
        self.lock().bodies.get(path).map(|(_, b)| b.clone())
    }

    /// Resolves a remote reference written in `kfile` (shown as `from`).
    pub fn resolve(&self, reference: &str, from: &Path) -> Result<Resolved, BuildError> {
        let reference = reference.trim();
        let shown = redacted(reference);
        let fail = |message: String| BuildError::Kustomization {
            file: from.to_path_buf(),
            message: format!("accumulating resources from '{shown}': {message}"),
        };
        let loader = match &self.policy {
            RemoteResources::Unsupported => {
                return Err(BuildError::Unsupported {
                    file: from.to_path_buf(),
                    what: format!(
                        "remote resource {shown:?} (only local paths are supported here)"
                    ),
                });
            }
            // Flux's secure file system refuses the clone directory outside the source root.
            RemoteResources::Disabled => {
                return Err(fail(format!(
                    "fs-security-constraint: path '{shown}' is not in or below the source root \
                     (remote bases are disabled: --no-remote-bases)"
                )));
            }
            RemoteResources::Fetch(l) => Arc::clone(l),
        };
        if is_http(reference) {
            if let Some(p) = self.lock().files.get(reference) {
                return Ok(Resolved::File(p.clone()));
            }
            if let Some(dir) = self.cached_repo(reference) {
                return Ok(Resolved::Dir(dir));
            }
            self.count_fetch().map_err(fail)?;
            let repo = RepoSpec::parse(reference).ok();
            match loader.fetch_file(reference) {
                Ok(bytes) => {
                    // kustomize reads the URL as a file first and falls back to git when the
                    // body is not Kubernetes YAML and the URL is also a repository URL.
                    if let Some(spec) = &repo
                        && !looks_like_objects(&bytes)
                        && let Ok(dir) = self.repo(&*loader, spec)
                    {
                        return Ok(Resolved::Dir(dir));
                    }
                    let mut cache = self.lock();
                    let path = PathBuf::from(format!("{FILE_PREFIX}/{}", cache.bodies.len()));
                    cache.files.insert(reference.to_string(), path.clone());
                    cache.bodies.insert(path.clone(), (shown.clone(), bytes));
                    Ok(Resolved::File(path))
                }
                // Like kustomize: an HTTP error on a URL that is also a repository URL means
                // "try it as a git repository"; when that fails too, both errors are shown.
                Err(e @ FetchError::Status { .. }) => match &repo {
                    Some(spec) => self
                        .repo(&*loader, spec)
                        .map(Resolved::Dir)
                        .map_err(|g| fail(format!("{e}; as a git repository: {}", redacted(&g)))),
                    None => Err(fail(e.to_string())),
                },
                Err(e) => Err(fail(redacted(&e.to_string()))),
            }
        } else {
            let spec = RepoSpec::parse(reference).map_err(fail)?;
            if let Some(dir) = self.cached_repo(reference) {
                return Ok(Resolved::Dir(dir));
            }
            self.repo(&*loader, &spec)
                .map(Resolved::Dir)
                .map_err(|m| fail(redacted(&m)))
        }
    }

    fn cached_repo(&self, reference: &str) -> Option<PathBuf> {
        let spec = RepoSpec::parse(reference).ok()?;
        let root = self.lock().repos.get(&spec.key()).cloned()?;
        Some(root.join(&spec.kust_root))
    }

    fn count_fetch(&self) -> Result<(), String> {
        let mut cache = self.lock();
        cache.fetches += 1;
        if cache.fetches > MAX_REMOTE_FETCHES {
            return Err(format!(
                "more than {MAX_REMOTE_FETCHES} remote fetches in one build"
            ));
        }
        Ok(())
    }

    /// Fetches (once per build) the repository of `spec`; returns the kustomization directory.
    fn repo(&self, loader: &dyn RemoteLoader, spec: &RepoSpec) -> Result<PathBuf, String> {
        let cached = self.lock().repos.get(&spec.key()).cloned();
        let root = match cached {
            Some(root) => root,
            None => {
                self.count_fetch()?;
                let fetched = loader.fetch_repo(spec).map_err(|e| e.to_string())?;
                let root = fetched
                    .dir
                    .canonicalize()
                    .map_err(|e| format!("checkout {}: {e}", fetched.dir.display()))?;
                let mut cache = self.lock();
                cache.guards.push(fetched.guard);
                cache.roots.push((root.clone(), spec.label()));
                cache.repos.insert(spec.key(), root.clone());
                root
            }
        };
        let dir = root.join(&spec.kust_root);
        let canonical = dir.canonicalize().map_err(|e| {
            format!(
                "path '{}' in the repository: {}",
                spec.kust_root,
                if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file or directory".to_string()
                } else {
                    e.to_string()
                }
            )
        })?;
        if !canonical.starts_with(&root) {
            return Err(format!("url path exits repo: {}", spec.kust_root));
        }
        if !canonical.is_dir() {
            return Err(format!(
                "'{}' must be a directory so that it can be used as a build root",
                spec.kust_root
            ));
        }
        Ok(canonical)
    }
}

/// Whether fetched bytes read as Kubernetes objects (YAML mappings).
fn looks_like_objects(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    match super::yaml::parse_documents(text) {
        Ok(docs) => !docs.is_empty() && docs.iter().all(serde_json::Value::is_object),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> RepoSpec {
        RepoSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn github_short_forms_normalize_to_https() {
        let r = spec("github.com/org/repo/path/to/base?ref=v1");
        assert_eq!(r.clone_url(), "https://github.com/org/repo");
        assert_eq!(r.kust_root, "path/to/base");
        assert_eq!(r.git_ref, "v1");
        let r = spec("https://github.com/org/repo//deploy?ref=main&timeout=90");
        assert_eq!(r.clone_url(), "https://github.com/org/repo");
        assert_eq!(r.kust_root, "deploy");
        assert_eq!(r.timeout, Duration::from_secs(90));
        // Without a user or ssh://, kustomize normalizes GitHub to https even in scp form.
        let r = spec("github.com:org/repo.git/sub");
        assert_eq!(r.clone_url(), "https://github.com/org/repo.git");
        assert_eq!(r.kust_root, "sub");
    }

    #[test]
    fn scp_ssh_and_git_prefixed_forms() {
        let r = spec("git@gitlab.example.com:team/repo.git//overlays/prod?ref=v2");
        assert_eq!(r.clone_url(), "git@gitlab.example.com:team/repo.git");
        assert_eq!(r.kust_root, "overlays/prod");
        let r = spec("ssh://git@host.example/team/repo.git/base");
        assert_eq!(r.clone_url(), "ssh://git@host.example/team/repo.git");
        assert_eq!(r.kust_root, "base");
        let r = spec("git::https://host.example/team/repo.git//base?ref=abc&submodules=false");
        assert_eq!(r.clone_url(), "https://host.example/team/repo.git");
        assert!(!r.submodules);
        let r = spec("ssh://git@github.com/org/repo");
        assert_eq!(r.clone_url(), "git@github.com:org/repo");
    }

    #[test]
    fn azure_file_and_git_daemon_forms() {
        let r = spec("https://dev.azure.com/org/project/_git/repo/path/x?version=GBmain");
        assert_eq!(r.clone_url(), "https://dev.azure.com/org/project/_git/repo");
        assert_eq!(r.kust_root, "path/x");
        assert_eq!(r.git_ref, "GBmain");
        let r = spec("file:///srv/repos/app//deploy?ref=v1");
        assert_eq!(r.clone_url(), "file:///srv/repos/app");
        assert_eq!(r.kust_root, "deploy");
        let r = spec("file:///srv/repos/app");
        assert_eq!(r.clone_url(), "file:///srv/repos/app");
        assert_eq!(r.kust_root, "");
        let r = spec("git://127.0.0.1:9418/repo.git//base");
        assert_eq!(r.clone_url(), "git://127.0.0.1:9418/repo.git");
        assert_eq!(r.kust_root, "base");
    }

    #[test]
    fn query_rules_follow_go() {
        let r = spec("https://h.example/o/r.git?version=v1&ref=v2");
        assert_eq!(r.git_ref, "v2", "ref wins over version");
        let r = spec("https://h.example/o/r.git?timeout=1m30s");
        assert_eq!(r.timeout, Duration::from_secs(90));
        let r = spec("https://h.example/o/r.git?timeout=-3");
        assert_eq!(r.timeout, DEFAULT_TIMEOUT);
        let r = spec("https://h.example/o/r.git?timeout=junk&submodules=maybe");
        assert_eq!(r.timeout, DEFAULT_TIMEOUT);
        assert!(r.submodules);
    }

    #[test]
    fn local_paths_and_bad_urls_are_not_repos() {
        for s in [
            "base",
            "../base",
            "deploy.yaml",
            "/abs/path",
            "https://h.example/onlyone",
            "https://github.com/org/repo//../../etc",
            "ftp://host/x",
        ] {
            assert!(RepoSpec::parse(s).is_err(), "{s} parsed");
        }
        assert!(is_remote("https://h.example/file.yaml"));
        assert!(!is_remote("overlays/prod"));
        assert!(is_remote("github.com/org/repo"));
    }

    #[test]
    fn labels_mask_passwords() {
        let r = spec("https://user:s3cret@h.example/o/r.git//x?ref=v1");
        assert_eq!(r.label(), "https://user:xxxxx@h.example/o/r.git?ref=v1");
    }

    #[test]
    fn malformed_input_does_not_panic() {
        for s in [
            "",
            "?",
            "git::",
            "git@",
            "@:",
            "file://",
            "https://",
            "%zz?ref=%",
            "a@b:",
        ] {
            let _ = RepoSpec::parse(s);
            let _ = is_remote(s);
        }
        assert_eq!(percent_decode("a%2Fb%"), "a/b%");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
