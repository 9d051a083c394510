//! The [`RemoteLoader`] of `flotilla build` and the kustomization controller: HTTP(S) files with
//! reqwest, Git repositories with the source controller's gix fetch code (a bare cache per URL
//! under the work directory, so the controller fetches incrementally across builds).
//!
//! Limits: a time limit per fetch (`?timeout=` for repositories, capped), a size limit per file and
//! per checked-out repository, a redirect limit. `file://` repositories are refused unless allowed
//! (the controller's `--allow-file-urls`): they would read any repository on the machine.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::controllers::source::git::{self, GitError};
use crate::controllers::source::git_ref::GitRef;
use crate::kustomize::remote::{FetchError, FetchedRepo, RemoteLoader, RepoSpec};
use crate::model::error_text::error_chain;

/// Limits and permissions of a [`RemoteFetcher`].
#[derive(Debug, Clone)]
pub struct RemoteLimits {
    /// Largest HTTP file accepted (bytes).
    pub max_file_bytes: usize,
    /// Largest checked-out repository accepted (bytes of files).
    pub max_repo_bytes: u64,
    /// Most redirects followed for one HTTP file.
    pub max_redirects: usize,
    /// Time limit of one HTTP file.
    pub http_timeout: Duration,
    /// Upper bound of a repository's `?timeout=`.
    pub max_git_timeout: Duration,
    /// Accept `file://` repositories.
    pub allow_file_urls: bool,
}

impl Default for RemoteLimits {
    fn default() -> Self {
        RemoteLimits {
            max_file_bytes: crate::kustomize::yaml::MAX_FILE_BYTES,
            max_repo_bytes: 512 * 1024 * 1024,
            max_redirects: 10,
            http_timeout: crate::kustomize::remote::DEFAULT_TIMEOUT,
            max_git_timeout: Duration::from_secs(300),
            allow_file_urls: false,
        }
    }
}

/// Fetches remote resources; repositories are cached under its work directory.
#[derive(Debug)]
pub struct RemoteFetcher {
    limits: RemoteLimits,
    work_dir: PathBuf,
}

impl RemoteFetcher {
    /// A fetcher keeping git caches and checkouts under `work_dir`.
    pub fn new(work_dir: PathBuf, limits: RemoteLimits) -> Self {
        RemoteFetcher { limits, work_dir }
    }
}

/// `user@host:path` (scp-like) as the `ssh://` URL the git code takes.
fn clone_url(spec: &RepoSpec) -> String {
    let url = spec.clone_url();
    if url.contains("://") {
        return url;
    }
    match spec.host.strip_suffix(':') {
        Some(host) => format!("ssh://{host}/{}", spec.repo_path),
        None => url,
    }
}

/// The refs to try, in git's lookup order: a full id is a commit; `refs/…` is a full name;
/// otherwise a tag, then a branch; none means the remote HEAD.
fn candidates(git_ref: &str) -> Vec<GitRef> {
    if git_ref.is_empty() {
        return vec![GitRef::name("HEAD")];
    }
    if git_ref.len() == 40 && git_ref.bytes().all(|b| b.is_ascii_hexdigit()) {
        return vec![GitRef::commit(git_ref)];
    }
    if git_ref.starts_with("refs/") {
        return vec![GitRef::name(git_ref)];
    }
    vec![GitRef::tag(git_ref), GitRef::branch(git_ref)]
}

fn tree_size(dir: &Path, limit: u64) -> Result<u64, String> {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total = total.saturating_add(meta.len());
                if total > limit {
                    return Ok(total);
                }
            }
        }
    }
    Ok(total)
}

impl RemoteLoader for RemoteFetcher {
    fn fetch_file(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let (url, limits) = (url.to_string(), self.limits.clone());
        // The build is synchronous and may run on a runtime's blocking thread: a private
        // current-thread runtime on its own thread works from any caller.
        std::thread::scope(|s| {
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| FetchError::Other(format!("cannot start a runtime: {e}")))?;
                rt.block_on(http_get(&url, &limits))
            })
            .join()
            .unwrap_or_else(|_| Err(FetchError::Other("HTTP fetch thread panicked".into())))
        })
    }

    fn fetch_repo(&self, spec: &RepoSpec) -> Result<FetchedRepo, FetchError> {
        let url = clone_url(spec);
        if url.starts_with("file://") && !self.limits.allow_file_urls {
            return Err(FetchError::Other(
                "file:// repositories are refused unless the controller runs with --allow-file-urls"
                    .into(),
            ));
        }
        let timeout = spec.timeout.min(self.limits.max_git_timeout);
        let mut last = None;
        for git_ref in candidates(&spec.git_ref) {
            match git::fetch(&url, &git_ref, None, timeout, &self.work_dir) {
                Ok(checkout) => {
                    let size = tree_size(&checkout.dir, self.limits.max_repo_bytes)
                        .map_err(FetchError::Other)?;
                    if size > self.limits.max_repo_bytes {
                        return Err(FetchError::Other(format!(
                            "repository is larger than the limit of {} bytes",
                            self.limits.max_repo_bytes
                        )));
                    }
                    return Ok(FetchedRepo {
                        dir: checkout.dir.clone(),
                        guard: Box::new(checkout),
                    });
                }
                Err(e @ GitError::RefNotFound { .. }) => last = Some(e),
                Err(e) => return Err(FetchError::Other(e.to_string())),
            }
        }
        Err(FetchError::Other(last.map_or_else(
            || "no ref to fetch".to_string(),
            |e| e.to_string(),
        )))
    }
}

async fn http_get(url: &str, limits: &RemoteLimits) -> Result<Vec<u8>, FetchError> {
    install_tls_provider();
    let client = reqwest::Client::builder()
        .timeout(limits.http_timeout)
        .redirect(reqwest::redirect::Policy::limited(limits.max_redirects))
        .user_agent(concat!("flotilla/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            FetchError::Other(format!("cannot build an HTTP client: {}", error_chain(&e)))
        })?;
    let describe = |e: reqwest::Error| {
        if e.is_timeout() {
            FetchError::Other(format!("timed out after {:?}", limits.http_timeout))
        } else if e.is_redirect() {
            FetchError::Other(format!(
                "stopped after {} redirects (redirect loop?)",
                limits.max_redirects
            ))
        } else {
            FetchError::Other(error_chain(&e))
        }
    };
    let resp = client.get(url).send().await.map_err(describe)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            status: status.as_u16(),
            text: status.canonical_reason().unwrap_or("").to_string(),
        });
    }
    let too_large = || {
        FetchError::Other(format!(
            "file is larger than the limit of {} bytes",
            limits.max_file_bytes
        ))
    };
    if resp
        .content_length()
        .is_some_and(|n| n > limits.max_file_bytes as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut resp = resp;
    while let Some(chunk) = resp.chunk().await.map_err(describe)? {
        if body.len() + chunk.len() > limits.max_file_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already the process default, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_urls_become_ssh_urls() {
        let spec = RepoSpec::parse("git@host.example:team/repo.git//base").unwrap();
        assert_eq!(clone_url(&spec), "ssh://git@host.example/team/repo.git");
        let spec = RepoSpec::parse("https://host.example/team/repo.git").unwrap();
        assert_eq!(clone_url(&spec), "https://host.example/team/repo.git");
    }

    #[test]
    fn refs_are_tried_like_git() {
        assert_eq!(candidates(""), vec![GitRef::name("HEAD")]);
        assert_eq!(
            candidates("v1"),
            vec![GitRef::tag("v1"), GitRef::branch("v1")]
        );
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(candidates(sha), vec![GitRef::commit(sha)]);
        assert_eq!(
            candidates("refs/pull/1/head"),
            vec![GitRef::name("refs/pull/1/head")]
        );
    }
}
