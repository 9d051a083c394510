//! Fetching a GitRepository with gix: a bare cache repository per URL under a work directory,
//! fetches limited to the wanted refs, ref resolution as Flux's clone code does it, a checkout of
//! the resolved tree into a fresh directory, and a cheap ls-remote for unchanged upstreams.
//!
//! `file://` URLs never reach gix's transport (which would run `git upload-pack`): they are
//! served in-process by [`super::git_local`], reading the remote repository directly.
//!
//! Everything here is blocking; call it from `tokio::task::spawn_blocking`. Fetches are full
//! (not shallow) so later fetches of the same URL are incremental. The cache of one URL is used
//! by one fetch at a time within the process.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use gix::bstr::ByteSlice;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::git_auth::{GitAuth, GitCredentials, SshAuth};
use super::git_local;
use super::git_ref::{GitRef, ResolvedRef, revision_string};
use crate::model::error_text::error_chain;
use crate::model::semver::{Constraints, Version, parse_tag};

/// A failed git operation; [`GitError::reason`] gives the Flux condition reason. Messages show
/// URLs with their password masked (they end up in status, Events and logs).
#[derive(Debug, Error)]
pub enum GitError {
    /// The URL cannot be used (syntax or scheme).
    #[error("invalid URL '{}': {}", crate::model::redact::redact(.url), crate::model::redact::redact(.reason))]
    UrlInvalid {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The server refused the credentials (or asked for some and none were given).
    #[error("authentication to '{}' failed for {reference}: {}", crate::model::redact::redact(.url), crate::model::redact::redact(.message))]
    Authentication {
        /// The URL.
        url: String,
        /// The ref being fetched, described.
        reference: String,
        /// Details.
        message: String,
    },
    /// The branch, tag, ref, commit or semver range has no match.
    #[error("unable to resolve {reference} in '{}': {}", crate::model::redact::redact(.url), crate::model::redact::redact(.message))]
    RefNotFound {
        /// The URL.
        url: String,
        /// The ref being fetched, described.
        reference: String,
        /// Details, e.g. `no match found for semver: >=9.0.0`.
        message: String,
    },
    /// The operation exceeded `spec.timeout`.
    #[error("git operation on '{}' for {reference} timed out after {after:?}", crate::model::redact::redact(.url))]
    Timeout {
        /// The URL.
        url: String,
        /// The ref being fetched, described.
        reference: String,
        /// The limit.
        after: Duration,
    },
    /// Any other failure talking to the server or reading the repository.
    #[error("unable to clone '{}' at {reference}: {}", crate::model::redact::redact(.url), crate::model::redact::redact(.message))]
    Operation {
        /// The URL.
        url: String,
        /// The ref being fetched, described.
        reference: String,
        /// Details.
        message: String,
    },
    /// A local directory or file could not be created.
    #[error("failed to prepare {path}: {source}")]
    Storage {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl GitError {
    /// The Flux reason for the `FetchFailed` (or `StorageOperationFailed`) condition.
    pub fn reason(&self) -> &'static str {
        match self {
            GitError::UrlInvalid { .. } => "URLInvalid",
            GitError::Authentication { .. } => "AuthenticationFailed",
            GitError::Storage { .. } => "DirectoryCreationFailed",
            GitError::RefNotFound { .. }
            | GitError::Timeout { .. }
            | GitError::Operation { .. } => "GitOperationFailed",
        }
    }

    /// True if retrying cannot help without a spec change (Flux stalls on an invalid URL).
    pub fn is_terminal(&self) -> bool {
        matches!(self, GitError::UrlInvalid { .. })
    }
}

/// A checked-out commit. The directory is removed when this value is dropped (see [`Checkout::keep`]).
#[derive(Debug)]
pub struct Checkout {
    /// Directory holding the commit's tree (no `.git`).
    pub dir: PathBuf,
    /// Commit id, 40 lower-case hex.
    pub commit: String,
    /// Full reference the commit was reached through (`refs/heads/main`), empty for a bare commit.
    pub reference: String,
    /// Revision per Flux (`main@sha1:<hex>`, `sha1:<hex>`, `refs/pull/1/head@sha1:<hex>`).
    pub revision: String,
    /// First line of the commit message.
    pub subject: String,
    /// `Name <email>` of the author.
    pub author: String,
    /// Committer time.
    pub committed_at: jiff::Timestamp,
    keep: bool,
}

impl Checkout {
    /// Keeps the directory on drop and returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.dir.clone()
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if !self.keep {
            // Best effort: a leftover directory is only wasted space.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// What a ref currently points at on the server, without fetching objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteHead {
    /// Full reference name (empty for a bare commit).
    pub reference: String,
    /// Commit id (peeled for annotated tags when the server says so).
    pub commit: String,
    /// Revision string per Flux.
    pub revision: String,
}

const SCHEMES: &[&str] = &["http", "https", "ssh", "git", "file"];

/// Checks that `url` has one of the supported schemes and parses as a git URL.
pub fn validate_url(url: &str) -> Result<(), GitError> {
    let invalid = |reason: String| GitError::UrlInvalid {
        url: url.to_string(),
        reason,
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid(format!(
            "expected a URL starting with one of {}",
            SCHEMES
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    if !SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(invalid(format!("unsupported scheme '{scheme}'")));
    }
    if rest.is_empty() || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(invalid("empty or malformed location".to_string()));
    }
    let parsed = gix::url::parse(url.as_bytes().as_bstr()).map_err(|e| invalid(e.to_string()))?;
    if scheme != "file" && parsed.host().is_none_or(str::is_empty) {
        return Err(invalid("missing host".to_string()));
    }
    if scheme.eq_ignore_ascii_case("file") && git_local::local_path(url).is_none() {
        return Err(invalid(
            "file:// URLs must name a path on this machine".to_string(),
        ));
    }
    Ok(())
}

/// The directory under a work directory holding its bare cache repositories, one per URL.
pub fn cache_root(work_dir: &Path) -> PathBuf {
    work_dir.join("git-cache")
}

/// [`validate_url`] for a GitRepository's `spec.url`: `file://` URLs are refused unless the
/// controller allows them (`--allow-file-urls`), since they would archive and serve any directory
/// the controller can read.
pub fn validate_source_url(url: &str, allow_file_urls: bool) -> Result<(), GitError> {
    validate_url(url)?;
    let file = url
        .split_once("://")
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("file"));
    if file && !allow_file_urls {
        return Err(GitError::UrlInvalid {
            url: url.to_string(),
            reason: "file:// URLs are refused unless the controller runs with --allow-file-urls \
                     (Flux accepts http, https and ssh)"
                .to_string(),
        });
    }
    Ok(())
}

/// The bare cache repository of `url` under a GitRepository's work directory (named after the URL).
pub fn cache_dir(work_dir: &Path, url: &str) -> PathBuf {
    let digest = Sha256::digest(url.as_bytes());
    let name: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    cache_root(work_dir).join(format!("{name}.git"))
}

/// Fetches `git_ref` of `url` into the cache under `work_dir` and checks the commit out into a
/// fresh directory below `work_dir/checkouts`.
pub fn fetch(
    url: &str,
    git_ref: &GitRef,
    auth: Option<&GitAuth>,
    timeout: Duration,
    work_dir: &Path,
) -> Result<Checkout, GitError> {
    let job = Job::new(url, git_ref, auth, work_dir)?;
    run_with_timeout(job, timeout, |job, interrupt| job.fetch(interrupt))
}

/// Lists the remote ref (ls-remote) to learn its commit without fetching; for `semver`, the
/// highest matching tag (ties between builds are broken by name, not commit time, since commit
/// times are unknown without a fetch). A bare commit ref is answered without network access.
pub fn remote_head(
    url: &str,
    git_ref: &GitRef,
    auth: Option<&GitAuth>,
    timeout: Duration,
    work_dir: &Path,
) -> Result<RemoteHead, GitError> {
    let job = Job::new(url, git_ref, auth, work_dir)?;
    if let ResolvedRef::Commit { commit, branch } = &job.resolved {
        let reference = branch
            .as_ref()
            .map(|b| format!("refs/heads/{b}"))
            .unwrap_or_default();
        return Ok(RemoteHead {
            revision: revision_string(&reference, commit, false),
            reference,
            commit: commit.clone(),
        });
    }
    run_with_timeout(job, timeout, |job, _| job.remote_head())
}

/// Async wrapper of [`fetch`] for tokio callers.
pub async fn fetch_async(
    url: String,
    git_ref: GitRef,
    auth: Option<GitAuth>,
    timeout: Duration,
    work_dir: PathBuf,
) -> Result<Checkout, GitError> {
    let url_for_error = url.clone();
    let describe = git_ref.describe();
    tokio::task::spawn_blocking(move || fetch(&url, &git_ref, auth.as_ref(), timeout, &work_dir))
        .await
        .unwrap_or_else(|e| {
            Err(GitError::Operation {
                url: url_for_error,
                reference: describe,
                message: format!("fetch task failed: {e}"),
            })
        })
}

/// Everything a fetch needs, owned so it can move to a worker thread.
struct Job {
    url: String,
    resolved: ResolvedRef,
    auth: Option<GitAuth>,
    work_dir: PathBuf,
}

fn run_with_timeout<T: Send + 'static>(
    job: Job,
    timeout: Duration,
    work: impl FnOnce(&Job, &AtomicBool) -> Result<T, GitError> + Send + 'static,
) -> Result<T, GitError> {
    let url = job.url.clone();
    let reference = job.resolved.describe();
    let interrupt = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = Arc::clone(&interrupt);
    let spawned = std::thread::Builder::new()
        .name("git-fetch".to_string())
        .spawn(move || {
            let result = work(&job, &flag);
            // The receiver is gone after a timeout; the result (and any checkout) is then dropped.
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(GitError::Operation {
            url,
            reference,
            message: format!("cannot start worker thread: {e}"),
        });
    }
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            interrupt.store(true, Ordering::Relaxed);
            Err(GitError::Timeout {
                url,
                reference,
                after: timeout,
            })
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(GitError::Operation {
            url,
            reference,
            message: "worker thread ended without a result".to_string(),
        }),
    }
}

fn cache_locks() -> &'static Mutex<HashMap<PathBuf, Arc<Mutex<()>>>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    LOCKS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock_for(path: &Path) -> Arc<Mutex<()>> {
    let mut map = cache_locks()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(map.entry(path.to_path_buf()).or_default())
}

fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already the process default, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn looks_like_auth_failure(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "authentication",
        "401",
        "403",
        "permission denied",
        "could not read username",
        "host key verification failed",
        "unauthorized",
        "forbidden",
        "credentials",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

fn temp_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Temporary files for SSH credentials; removed on drop.
struct AuthFiles {
    dir: Option<PathBuf>,
    overrides: Vec<String>,
}

impl Drop for AuthFiles {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            // Best effort; the directory holds only copies of Secret data.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

fn write_private(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)
}

/// The `ssh` wrapper script: key, known hosts and (via askpass) passphrase, no agent, no prompts.
fn ssh_wrapper_script(dir: &Path, ssh: &SshAuth, connect_timeout: Duration) -> String {
    let secs = connect_timeout.as_secs().max(1);
    let mut script = String::from("#!/bin/sh\n");
    let batch = if ssh.password.is_some() {
        script.push_str(&format!(
            "SSH_ASKPASS={} SSH_ASKPASS_REQUIRE=force DISPLAY=none; export SSH_ASKPASS SSH_ASKPASS_REQUIRE DISPLAY\n",
            shell_quote(&dir.join("askpass"))
        ));
        "no"
    } else {
        "yes"
    };
    script.push_str(&format!(
        "exec ssh -i {} -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile={} \
         -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode={batch} \
         -o ConnectTimeout={secs} -F /dev/null \"$@\"\n",
        shell_quote(&dir.join("identity")),
        shell_quote(&dir.join("known_hosts")),
    ));
    script
}

impl Job {
    fn new(
        url: &str,
        git_ref: &GitRef,
        auth: Option<&GitAuth>,
        work_dir: &Path,
    ) -> Result<Job, GitError> {
        validate_url(url)?;
        let resolved = git_ref.resolve().map_err(|e| GitError::Operation {
            url: url.to_string(),
            reference: "spec.ref".to_string(),
            message: e.to_string(),
        })?;
        let name = match &resolved {
            ResolvedRef::Branch(n) | ResolvedRef::Tag(n) | ResolvedRef::Name(n) => Some(n),
            ResolvedRef::Commit { branch, .. } => branch.as_ref(),
            ResolvedRef::Semver(_) => None,
        };
        if let Some(name) = name
            && !is_valid_ref_name(name)
        {
            return Err(GitError::RefNotFound {
                url: url.to_string(),
                reference: resolved.describe(),
                message: format!("'{name}' is not a valid git reference name"),
            });
        }
        Ok(Job {
            url: url.to_string(),
            resolved,
            auth: auth.cloned(),
            work_dir: work_dir.to_path_buf(),
        })
    }

    fn op_error(&self, message: impl Into<String>) -> GitError {
        GitError::Operation {
            url: self.url.clone(),
            reference: self.resolved.describe(),
            message: message.into(),
        }
    }

    fn not_found(&self, message: impl Into<String>) -> GitError {
        GitError::RefNotFound {
            url: self.url.clone(),
            reference: self.resolved.describe(),
            message: message.into(),
        }
    }

    /// Maps a gix error, telling authentication failures apart by their text.
    fn gix_error(&self, context: &str, err: &(dyn std::error::Error + 'static)) -> GitError {
        let message = format!("{context}: {}", error_chain(err));
        if looks_like_auth_failure(&message) {
            GitError::Authentication {
                url: self.url.clone(),
                reference: self.resolved.describe(),
                message,
            }
        } else {
            self.op_error(message)
        }
    }

    fn storage_error(path: &Path) -> impl FnOnce(io::Error) -> GitError + '_ {
        move |source| GitError::Storage {
            path: path.display().to_string(),
            source,
        }
    }

    fn cache_dir(&self) -> PathBuf {
        cache_dir(&self.work_dir, &self.url)
    }

    fn auth_files(&self, timeout_hint: Duration) -> Result<AuthFiles, GitError> {
        let mut files = AuthFiles {
            dir: None,
            overrides: Vec::new(),
        };
        let Some(GitAuth {
            credentials: GitCredentials::Ssh(ssh),
            ..
        }) = &self.auth
        else {
            return Ok(files);
        };
        let dir = self.work_dir.join(temp_name("ssh"));
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(Self::storage_error(&dir))?;
        }
        files.dir = Some(dir.clone());
        let write = |name: &str, bytes: &[u8], mode: u32| {
            let path = dir.join(name);
            write_private(&path, bytes, mode).map_err(Self::storage_error(&path))
        };
        write("identity", &ssh.identity, 0o600)?;
        write("known_hosts", &ssh.known_hosts, 0o600)?;
        if let Some(password) = &ssh.password {
            write("passphrase", password.as_bytes(), 0o600)?;
            let askpass = format!("#!/bin/sh\ncat {}\n", shell_quote(&dir.join("passphrase")));
            write("askpass", askpass.as_bytes(), 0o700)?;
        }
        write(
            "ssh",
            ssh_wrapper_script(&dir, ssh, timeout_hint).as_bytes(),
            0o700,
        )?;
        files.overrides = vec![
            format!("core.sshCommand={}", dir.join("ssh").display()),
            "ssh.variant=ssh".to_string(),
        ];
        Ok(files)
    }

    fn open_cache(&self, overrides: &[String]) -> Result<gix::Repository, GitError> {
        let path = self.cache_dir();
        let options = || {
            gix::open::Options::isolated().config_overrides(overrides.iter().map(String::as_str))
        };
        if path.join("HEAD").is_file()
            && let Ok(repo) = gix::open_opts(&path, options())
        {
            return Ok(repo);
        }
        // Missing or unreadable: start over.
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(Self::storage_error(&path))?;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Self::storage_error(parent))?;
        }
        gix::ThreadSafeRepository::init_opts(
            &path,
            gix::create::Kind::Bare,
            gix::create::Options::default(),
            options(),
        )
        .map(gix::Repository::from)
        .map_err(|e| {
            self.op_error(format!(
                "cannot create cache repository {}: {}",
                path.display(),
                error_chain(&e)
            ))
        })
    }

    fn refspecs(&self) -> Vec<String> {
        match &self.resolved {
            ResolvedRef::Branch(b)
            | ResolvedRef::Commit {
                branch: Some(b), ..
            } => {
                vec![format!("+refs/heads/{b}:refs/remotes/origin/{b}")]
            }
            ResolvedRef::Tag(t) => vec![format!("+refs/tags/{t}:refs/tags/{t}")],
            ResolvedRef::Semver(_) => vec!["+refs/tags/*:refs/tags/*".to_string()],
            ResolvedRef::Name(n) => vec![format!("+{n}:refs/flotilla/fetched")],
            ResolvedRef::Commit { branch: None, .. } => vec![
                "+refs/heads/*:refs/remotes/origin/*".to_string(),
                "+refs/tags/*:refs/tags/*".to_string(),
            ],
        }
    }

    /// The full remote ref name this job wants, for single-ref kinds.
    fn wanted_ref(&self) -> Option<String> {
        match &self.resolved {
            ResolvedRef::Branch(b)
            | ResolvedRef::Commit {
                branch: Some(b), ..
            } => Some(format!("refs/heads/{b}")),
            ResolvedRef::Tag(t) => Some(format!("refs/tags/{t}")),
            ResolvedRef::Name(n) => Some(n.clone()),
            ResolvedRef::Semver(_) | ResolvedRef::Commit { branch: None, .. } => None,
        }
    }

    fn http_transport_options(
        &self,
        repo: &gix::Repository,
    ) -> Result<Option<Box<dyn std::any::Any>>, GitError> {
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        // Credentials go out preemptively, as go-git does; this also works over plain http,
        // where gix would refuse to hand out credentials on a challenge.
        let authorization = match &auth.credentials {
            GitCredentials::Bearer(token) => Some(format!("Bearer {token}")),
            GitCredentials::Basic { username, password } => {
                use base64::Engine;
                let pair = format!("{username}:{password}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            _ => None,
        };
        if authorization.is_none() && auth.ca_cert.is_none() && auth.client_cert.is_none() {
            return Ok(None);
        }
        let is_http = self.url.starts_with("http://") || self.url.starts_with("https://");
        if !is_http {
            return Ok(None);
        }
        let base = repo
            .transport_options(self.url.as_str(), None)
            .map_err(|e| self.gix_error("reading transport options", &e))?;
        use gix::protocol::transport::client::blocking_io::http;
        let mut options = base
            .and_then(|b| b.downcast::<http::Options>().ok())
            .map(|b| *b)
            .unwrap_or_default();
        if let Some(value) = authorization {
            options
                .extra_headers
                .push(format!("Authorization: {value}"));
        }
        let ca = auth.ca_cert.clone();
        let client = auth.client_cert.clone();
        if ca.is_some() || client.is_some() {
            let configure: Box<http::reqwest::ConfigureClientFn> = Box::new(move |mut builder| {
                if let Some(ca) = &ca {
                    for cert in
                        reqwest::Certificate::from_pem_bundle(ca).map_err(gix::Error::from_error)?
                    {
                        builder = builder.add_root_certificate(cert);
                    }
                }
                if let Some((cert, key)) = &client {
                    let mut pem = cert.clone();
                    pem.push(b'\n');
                    pem.extend_from_slice(key);
                    let identity =
                        reqwest::Identity::from_pem(&pem).map_err(gix::Error::from_error)?;
                    builder = builder.identity(identity);
                }
                Ok(builder)
            });
            let backend = http::reqwest::Options {
                configure_client: Some(configure),
                configure_request: None,
            };
            options.backend = Some(Arc::new(Mutex::new(backend)));
        }
        Ok(Some(Box::new(options)))
    }

    /// Connects and lists refs; returns the prepared fetch.
    fn with_connection<T>(
        &self,
        repo: &gix::Repository,
        then: impl FnOnce(
            gix::remote::fetch::Prepare<
                '_,
                '_,
                Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
            >,
        ) -> Result<T, GitError>,
    ) -> Result<T, GitError> {
        install_tls_provider();
        let remote = repo
            .remote_at(self.url.as_str())
            .map_err(|e| GitError::UrlInvalid {
                url: self.url.clone(),
                reason: error_chain(&e),
            })?
            .with_fetch_tags(gix::remote::fetch::Tags::None)
            .with_refspecs(
                self.refspecs().iter().map(String::as_str),
                gix::remote::Direction::Fetch,
            )
            .map_err(|e| self.op_error(format!("invalid ref: {}", error_chain(&e))))?;
        let mut connection = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| self.gix_error("connecting", &e))?;
        if let Some(options) = self.http_transport_options(repo)? {
            connection.set_transport_options(options);
        }
        // Never fall back to credential helpers or prompts of the host.
        let connection = connection.with_credentials(|_| Ok(None));
        let prepare = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.gix_error("listing remote refs", &e))?;
        then(prepare)
    }

    fn remote_head(&self) -> Result<RemoteHead, GitError> {
        if let Some(path) = git_local::local_path(&self.url) {
            let repo = self.open_local(&path)?;
            let refs = git_local::advertised_refs(&repo).map_err(|m| self.op_error(m))?;
            return self.select_head(&refs);
        }
        let auth_files = self.auth_files(Duration::from_secs(30))?;
        let cache = self.cache_dir();
        let lock = lock_for(&cache);
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let repo = self.open_cache(&auth_files.overrides)?;
        let refs = self.with_connection(&repo, |prepare| Ok(advertised(prepare.ref_map())))?;
        self.select_head(&refs)
    }

    /// The remote ref (and commit) this job wants among the advertised `refs`, without objects.
    fn select_head(
        &self,
        refs: &[(String, gix::ObjectId, gix::ObjectId)],
    ) -> Result<RemoteHead, GitError> {
        let (reference, commit) = match &self.resolved {
            ResolvedRef::Semver(range) => {
                let range = self.parse_range(range)?;
                // Ref names are unique, so the name tie-break makes the maximum deterministic.
                let (_, (name, _, peeled)) = semver_tags(&range, refs)
                    .max_by(|(va, a), (vb, b)| va.precedence(vb).then_with(|| a.0.cmp(&b.0)))
                    .ok_or_else(|| {
                        self.not_found(format!("no match found for semver: {}", range.as_str()))
                    })?;
                (name.clone(), *peeled)
            }
            _ => {
                let wanted = self.wanted_ref().unwrap_or_default();
                let (_, _, peeled) = refs
                    .iter()
                    .find(|(name, _, _)| *name == wanted)
                    .ok_or_else(|| {
                        self.not_found(format!("couldn't find remote ref '{wanted}'"))
                    })?;
                (wanted, *peeled)
            }
        };
        let commit = commit.to_hex().to_string();
        Ok(RemoteHead {
            revision: self.revision(&reference, &commit),
            reference,
            commit,
        })
    }

    fn parse_range(&self, range: &str) -> Result<Constraints, GitError> {
        Constraints::parse(range).map_err(|e| self.op_error(format!("semver parse error: {e}")))
    }

    fn revision(&self, reference: &str, commit: &str) -> String {
        let full = matches!(self.resolved, ResolvedRef::Name(_));
        match &self.resolved {
            ResolvedRef::Commit { branch: None, .. } => revision_string("", commit, false),
            _ => revision_string(reference, commit, full),
        }
    }

    /// Fails early, before any object moves, when the wanted ref is not advertised, the semver
    /// range does not parse, or a semver ref meets a remote without tags.
    fn check_advertised(
        &self,
        refs: &[(String, gix::ObjectId, gix::ObjectId)],
    ) -> Result<(), GitError> {
        if let Some(wanted) = self.wanted_ref()
            && !refs.iter().any(|(name, _, _)| *name == wanted)
        {
            return Err(self.not_found(format!("couldn't find remote ref '{wanted}'")));
        }
        if let ResolvedRef::Semver(range) = &self.resolved {
            let range = self.parse_range(range)?;
            if !refs
                .iter()
                .any(|(name, _, _)| name.starts_with("refs/tags/"))
            {
                return Err(
                    self.not_found(format!("no match found for semver: {}", range.as_str()))
                );
            }
        }
        Ok(())
    }

    /// Opens the repository of a `file://` URL; a missing path or a non-repository fails like
    /// an unreachable server does (GitOperationFailed).
    fn open_local(&self, path: &Path) -> Result<gix::Repository, GitError> {
        git_local::open(path).map_err(|m| self.op_error(m))
    }

    /// [`Job::fetch`] for a `file://` URL, in-process: refs and objects are read straight from
    /// the remote repository (no cache, no `git upload-pack`), with the same ref selection and
    /// checkout as the network path, so revisions and artifacts are identical.
    fn fetch_local(&self, path: &Path, interrupt: &AtomicBool) -> Result<Checkout, GitError> {
        let repo = self.open_local(path)?;
        let refs = git_local::advertised_refs(&repo).map_err(|m| self.op_error(m))?;
        self.check_advertised(&refs)?;
        if interrupt.load(Ordering::Relaxed) {
            return Err(self.op_error("interrupted"));
        }
        let (reference, commit_id) = self.resolve_fetched(&repo, &refs)?;
        if let ResolvedRef::Commit { .. } = &self.resolved {
            // A fetch only transfers what the fetched refs reach; an unreachable (e.g. dangling)
            // commit must not resolve just because the remote still stores it.
            let tips: Vec<gix::ObjectId> = match self.wanted_ref() {
                Some(wanted) => refs
                    .iter()
                    .filter(|(name, _, _)| *name == wanted)
                    .map(|(_, _, peeled)| *peeled)
                    .collect(),
                None => refs
                    .iter()
                    .filter(|(name, _, _)| {
                        name.starts_with("refs/heads/") || name.starts_with("refs/tags/")
                    })
                    .map(|(_, _, peeled)| *peeled)
                    .collect(),
            };
            let tips: Vec<gix::ObjectId> = tips
                .into_iter()
                .filter(|id| repo.find_commit(*id).is_ok())
                .collect();
            if !git_local::reaches(&repo, &tips, commit_id, interrupt)
                .map_err(|m| self.op_error(m))?
            {
                return Err(self.not_found(format!(
                    "unable to resolve commit '{commit_id}': it is not reachable from the fetched refs"
                )));
            }
        }
        self.checkout(&repo, &reference, commit_id, interrupt)
    }

    fn fetch(&self, interrupt: &AtomicBool) -> Result<Checkout, GitError> {
        if let Some(path) = git_local::local_path(&self.url) {
            return self.fetch_local(&path, interrupt);
        }
        let auth_files = self.auth_files(Duration::from_secs(30))?;
        let cache = self.cache_dir();
        let lock = lock_for(&cache);
        let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let repo = self.open_cache(&auth_files.overrides)?;
        let refs = self.with_connection(&repo, |prepare| {
            let refs = advertised(prepare.ref_map());
            self.check_advertised(&refs)?;
            if interrupt.load(Ordering::Relaxed) {
                return Err(self.op_error("interrupted"));
            }
            prepare
                .receive(gix::progress::Discard, interrupt)
                .map_err(|e| self.gix_error("fetching", &e))?;
            Ok(refs)
        })?;
        let (reference, commit_id) = self.resolve_fetched(&repo, &refs)?;
        self.checkout(&repo, &reference, commit_id, interrupt)
    }

    fn peel(
        &self,
        repo: &gix::Repository,
        id: gix::ObjectId,
        what: &str,
    ) -> Result<gix::ObjectId, GitError> {
        let object = repo.find_object(id).map_err(|e| {
            self.not_found(format!(
                "unable to resolve {what} '{id}': {}",
                error_chain(&e)
            ))
        })?;
        object.peel_to_commit().map(|c| c.id).map_err(|e| {
            self.not_found(format!(
                "{what} '{id}' does not lead to a commit: {}",
                error_chain(&e)
            ))
        })
    }

    fn resolve_fetched(
        &self,
        repo: &gix::Repository,
        refs: &[(String, gix::ObjectId, gix::ObjectId)],
    ) -> Result<(String, gix::ObjectId), GitError> {
        match &self.resolved {
            ResolvedRef::Commit { commit, branch } => {
                let id = gix::ObjectId::from_hex(commit.as_bytes())
                    .map_err(|e| self.op_error(format!("invalid commit id: {e}")))?;
                let id = self.peel(repo, id, "commit")?;
                let reference = branch
                    .as_ref()
                    .map(|b| format!("refs/heads/{b}"))
                    .unwrap_or_default();
                Ok((reference, id))
            }
            ResolvedRef::Semver(range) => {
                let range = self.parse_range(range)?;
                let mut best: Option<(Version<'_>, i64, String, gix::ObjectId)> = None;
                for (version, (name, target, _)) in semver_tags(&range, refs) {
                    let commit = self.peel(repo, *target, "tag")?;
                    let time = repo
                        .find_commit(commit)
                        .ok()
                        .and_then(|c| c.time().ok())
                        .map(|t| t.seconds)
                        .unwrap_or(0);
                    let better = match &best {
                        None => true,
                        Some((v, t, n, _)) => version
                            .precedence(v)
                            .then(time.cmp(t))
                            .then_with(|| name.as_str().cmp(n.as_str()))
                            .is_gt(),
                    };
                    if better {
                        best = Some((version, time, name.clone(), commit));
                    }
                }
                let (_, _, name, commit) = best.ok_or_else(|| {
                    self.not_found(format!("no match found for semver: {}", range.as_str()))
                })?;
                Ok((name, commit))
            }
            _ => {
                let wanted = self.wanted_ref().unwrap_or_default();
                let (_, target, _) = refs
                    .iter()
                    .find(|(name, _, _)| *name == wanted)
                    .ok_or_else(|| {
                        self.not_found(format!("couldn't find remote ref '{wanted}'"))
                    })?;
                let id = self.peel(repo, *target, "ref")?;
                Ok((wanted, id))
            }
        }
    }

    fn checkout(
        &self,
        repo: &gix::Repository,
        reference: &str,
        commit_id: gix::ObjectId,
        interrupt: &AtomicBool,
    ) -> Result<Checkout, GitError> {
        let commit = repo.find_commit(commit_id).map_err(|e| {
            self.op_error(format!(
                "unable to read commit {commit_id}: {}",
                error_chain(&e)
            ))
        })?;
        let subject = commit
            .message()
            .map(|m| m.summary().to_string())
            .unwrap_or_default();
        let (author, committed_at) = {
            let author = commit
                .author()
                .map(|a| {
                    format!(
                        "{} <{}>",
                        a.name.trim().to_str_lossy(),
                        a.email.trim().to_str_lossy()
                    )
                })
                .unwrap_or_default();
            let seconds = commit.time().map(|t| t.seconds).unwrap_or(0);
            (
                author,
                jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            )
        };
        let tree_id = commit
            .tree_id()
            .map_err(|e| {
                self.op_error(format!(
                    "unable to read tree of {commit_id}: {}",
                    error_chain(&e)
                ))
            })?
            .detach();
        let checkouts = self.work_dir.join("checkouts");
        std::fs::create_dir_all(&checkouts).map_err(Self::storage_error(&checkouts))?;
        let dir = checkouts.join(temp_name("checkout"));
        std::fs::create_dir(&dir).map_err(Self::storage_error(&dir))?;
        let commit_hex = commit_id.to_hex().to_string();
        let checkout = Checkout {
            dir,
            revision: self.revision(reference, &commit_hex),
            commit: commit_hex,
            reference: reference.to_string(),
            subject,
            author,
            committed_at,
            keep: false,
        };
        // On error the partially written checkout is removed by its Drop.
        write_tree(repo, tree_id, &checkout.dir, interrupt)
            .map_err(|message| self.op_error(message))?;
        Ok(checkout)
    }
}

/// The parts of `git check-ref-format` that matter here: nothing that could change the meaning
/// of a refspec (`:`, globs) or that git itself rejects.
fn is_valid_ref_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['/', '-', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name.contains("/.")
        && name != "@"
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
}

/// `(full name, advertised target, peeled target)` of every ref the server listed for our refspecs.
/// The tags among `refs` whose name is a version inside `range`, with that version.
fn semver_tags<'r>(
    range: &'r Constraints,
    refs: &'r [(String, gix::ObjectId, gix::ObjectId)],
) -> impl Iterator<Item = (Version<'r>, &'r (String, gix::ObjectId, gix::ObjectId))> {
    refs.iter().filter_map(move |entry| {
        let version = parse_tag(entry.0.strip_prefix("refs/tags/")?).ok()?;
        range.matches(&version).then_some((version, entry))
    })
}

fn advertised(map: &gix::remote::fetch::RefMap) -> Vec<(String, gix::ObjectId, gix::ObjectId)> {
    map.remote_refs
        .iter()
        .filter_map(|r| {
            let (name, target, peeled) = r.unpack();
            let target = target?.to_owned();
            Some((
                name.to_string(),
                target,
                peeled.map(|p| p.to_owned()).unwrap_or(target),
            ))
        })
        .collect()
}

fn write_tree(
    repo: &gix::Repository,
    root: gix::ObjectId,
    dir: &Path,
    interrupt: &AtomicBool,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    // Iterative, so hostile deep trees cannot exhaust the stack.
    let mut pending = vec![(root, dir.to_path_buf())];
    while let Some((tree_id, path)) = pending.pop() {
        if interrupt.load(Ordering::Relaxed) {
            return Err("interrupted".to_string());
        }
        let tree = repo
            .find_tree(tree_id)
            .map_err(|e| format!("unable to read tree {tree_id}: {}", error_chain(&e)))?;
        let decoded = tree
            .decode()
            .map_err(|e| format!("unable to decode tree {tree_id}: {}", error_chain(&e)))?;
        let entries: Vec<(gix::objs::tree::EntryMode, Vec<u8>, gix::ObjectId)> = decoded
            .entries
            .iter()
            .map(|e| (e.mode, e.filename.to_vec(), e.oid.to_owned()))
            .collect();
        for (mode, name, oid) in entries {
            if name.is_empty()
                || name == b"."
                || name == b".."
                || name.contains(&b'/')
                || name.contains(&0)
            {
                return Err(format!(
                    "tree {tree_id} has an unsafe entry name {:?}",
                    name.as_bstr()
                ));
            }
            let target = path.join(os_str(&name));
            let io_err = |e: io::Error| format!("writing {}: {e}", target.display());
            if mode.is_tree() {
                std::fs::create_dir(&target).map_err(io_err)?;
                pending.push((oid, target));
            } else if mode.is_commit() {
                // Submodules are not fetched (recurseSubmodules is not supported); leave an empty dir as git does.
                std::fs::create_dir(&target).map_err(io_err)?;
            } else {
                let blob = repo
                    .find_blob(oid)
                    .map_err(|e| format!("unable to read blob {oid}: {}", error_chain(&e)))?;
                if mode.is_link() {
                    let link = os_str(&blob.data);
                    std::os::unix::fs::symlink(link, &target).map_err(io_err)?;
                } else {
                    std::fs::write(&target, &blob.data).map_err(io_err)?;
                    let perm = if mode.is_executable() { 0o755 } else { 0o644 };
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(perm))
                        .map_err(io_err)?;
                }
            }
        }
    }
    Ok(())
}

/// `OsStr` from raw bytes (Unix paths are bytes).
fn os_str(bytes: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_validation() {
        for ok in [
            "https://github.com/org/repo",
            "http://127.0.0.1:8080/repo.git",
            "ssh://git@github.com/org/repo.git",
            "git://127.0.0.1:9418/repo",
            "file:///tmp/repo",
        ] {
            assert!(validate_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "not a url",
            "ftp://example.com/repo",
            "https://",
            "https:///path",
            "git@github.com:org/repo.git",
            "https://exa mple.com/r",
            "http://\u{0}/x",
        ] {
            let err = validate_url(bad).unwrap_err();
            assert_eq!(err.reason(), "URLInvalid", "{bad}");
            assert!(err.is_terminal());
        }
    }

    #[test]
    fn file_urls_need_the_flag() {
        let err = validate_source_url("file:///etc", false).unwrap_err();
        assert_eq!(err.reason(), "URLInvalid");
        assert!(err.is_terminal());
        assert!(err.to_string().contains("--allow-file-urls"), "{err}");
        assert!(validate_source_url("FILE:///etc", false).is_err());
        assert!(validate_source_url("file:///etc", true).is_ok());
        assert!(validate_source_url("https://h/r.git", false).is_ok());
    }

    #[test]
    fn git_errors_mask_url_passwords() {
        let e = GitError::Operation {
            url: "http://alice:secret@127.0.0.1:1/x.git".into(),
            reference: "branch 'main'".into(),
            message: "connect to http://alice:secret@127.0.0.1:1/x.git failed".into(),
        };
        let m = e.to_string();
        assert!(
            !m.contains("secret") && m.contains("http://alice:xxxxx@127.0.0.1:1/x.git"),
            "{m}"
        );
    }

    #[test]
    fn ref_names_that_would_change_a_refspec_are_rejected() {
        for ok in [
            "main",
            "feature/x",
            "v1.0.0",
            "3.0.0+a",
            "refs/pull/420/head",
        ] {
            assert!(is_valid_ref_name(ok), "{ok}");
        }
        for bad in [
            "", "*", "a:b", "a b", "../x", "a..b", "x/", "-x", "a.lock", "a@{1}", "a[0]", "a\\b",
            "x/.y",
        ] {
            assert!(!is_valid_ref_name(bad), "{bad}");
        }
        let err = Job::new(
            "file:///tmp/r",
            &GitRef::branch("a:b"),
            None,
            Path::new("/tmp"),
        )
        .err();
        assert!(matches!(err, Some(GitError::RefNotFound { .. })));
    }

    #[test]
    fn auth_failure_detection() {
        assert!(looks_like_auth_failure("HTTP 401 Unauthorized"));
        assert!(looks_like_auth_failure(
            "git@host: Permission denied (publickey)."
        ));
        assert!(!looks_like_auth_failure("connection refused"));
    }

    #[test]
    fn ssh_wrapper_quotes_paths_and_uses_askpass_only_with_password() {
        let dir = Path::new("/tmp/it's here");
        let mut ssh = SshAuth {
            identity: b"k".to_vec(),
            known_hosts: b"h".to_vec(),
            password: None,
        };
        let script = ssh_wrapper_script(dir, &ssh, Duration::from_secs(10));
        assert!(script.contains("-i '/tmp/it'\\''s here/identity'"));
        assert!(script.contains("BatchMode=yes"));
        assert!(script.contains("StrictHostKeyChecking=yes"));
        assert!(!script.contains("SSH_ASKPASS"));
        ssh.password = Some("pw".into());
        let script = ssh_wrapper_script(dir, &ssh, Duration::from_secs(10));
        assert!(script.contains("SSH_ASKPASS="));
        assert!(script.contains("BatchMode=no"));
    }
}
