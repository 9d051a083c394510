//! GitRepository building blocks against real repositories made with the `git` CLI:
//! clones over file://, git:// (git daemon) and http:// (git http-backend), ref resolution,
//! revisions, errors, artifacts (digest stability, exclusions, extraction, GC).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flotilla::controllers::source::{
    Artifact, ArtifactStore, Exclusions, GitAuth, GitCredentials, GitError, GitRef, artifact_path,
    fetch, remote_head,
};

const TIMEOUT: Duration = Duration::from_secs(60);

fn have_git() -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: the git CLI is not available");
    }
    ok
}

/// Runs git in `dir` with fixed identities and dates; returns trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    git_at(dir, args, "2024-01-01T00:00:00Z")
}

fn git_at(dir: &Path, args: &[&str], date: &str) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Alice Author")
        .env("GIT_AUTHOR_EMAIL", "alice@example.com")
        .env("GIT_COMMITTER_NAME", "Carol Committer")
        .env("GIT_COMMITTER_EMAIL", "carol@example.com")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(dir: &Path, rel: &str, content: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn commit_all(dir: &Path, message: &str, date: &str) -> String {
    git_at(dir, &["add", "-A"], date);
    git_at(dir, &["commit", "-q", "-m", message], date);
    git(dir, &["rev-parse", "HEAD"])
}

/// A repository with branches, tags (lightweight, annotated, semver-ish) and a pull ref.
struct Upstream {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    first: String,
    second: String,
}

impl Upstream {
    fn new() -> Upstream {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo.git");
        std::fs::create_dir(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "main"]);
        write(&dir, "deploy/app.yaml", "kind: ConfigMap\n");
        write(&dir, "README.md", "hello\n");
        let first = commit_all(&dir, "first commit\n\nbody text", "2024-01-01T00:00:00Z");
        git(&dir, &["tag", "1.0.0"]);
        git(&dir, &["tag", "v0.9"]);
        git(&dir, &["tag", "not-a-version"]);
        write(&dir, "deploy/app.yaml", "kind: ConfigMap\ndata: {v: '2'}\n");
        let second = commit_all(&dir, "second commit", "2024-01-02T00:00:00Z");
        git_at(
            &dir,
            &["tag", "-a", "v1.1.0", "-m", "annotated release"],
            "2024-01-02T00:00:00Z",
        );
        git(&dir, &["tag", "1.2.0-rc.1"]);
        git(&dir, &["tag", "2.0.0"]);
        git(&dir, &["update-ref", "refs/pull/420/head", &first]);
        git(&dir, &["branch", "feature/x", &first]);
        Upstream {
            _tmp: tmp,
            dir,
            first,
            second,
        }
    }

    fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

#[test]
fn branch_checkout_has_flux_revision_and_commit_metadata() {
    if !have_git() {
        return;
    }
    let up = Upstream::new();
    let work = tempfile::tempdir().unwrap();
    let co = fetch(
        &up.url(),
        &GitRef::branch("main"),
        None,
        TIMEOUT,
        work.path(),
    )
    .unwrap();
    assert_eq!(co.commit, up.second);
    assert_eq!(co.reference, "refs/heads/main");
    assert_eq!(co.revision, format!("main@sha1:{}", up.second));
    assert_eq!(co.subject, "second commit");
    assert_eq!(co.author, "Alice Author <alice@example.com>");
    assert_eq!(co.committed_at.to_string(), "2024-01-02T00:00:00Z");
    assert!(read(&co.dir, "deploy/app.yaml").contains("'2'"));
    assert!(!co.dir.join(".git").exists());
    let dir = co.dir.clone();
    drop(co);
    assert!(!dir.exists(), "checkout directory is removed on drop");

    // Default ref is branch master, which this repository lacks.
    let err = fetch(&up.url(), &GitRef::default(), None, TIMEOUT, work.path()).unwrap_err();
    assert!(matches!(err, GitError::RefNotFound { .. }), "{err}");

    let co = fetch(
        &up.url(),
        &GitRef::branch("feature/x"),
        None,
        TIMEOUT,
        work.path(),
    )
    .unwrap();
    assert_eq!(co.revision, format!("feature/x@sha1:{}", up.first));
    assert_eq!(co.subject, "first commit");
}

#[test]
fn tags_annotated_tags_commits_and_names() {
    if !have_git() {
        return;
    }
    let up = Upstream::new();
    let work = tempfile::tempdir().unwrap();
    let url = up.url();
    let co = fetch(&url, &GitRef::tag("1.0.0"), None, TIMEOUT, work.path()).unwrap();
    assert_eq!(co.revision, format!("1.0.0@sha1:{}", up.first));
    assert_eq!(co.reference, "refs/tags/1.0.0");

    // An annotated tag resolves to the commit, not the tag object.
    let tag_object = git(&up.dir, &["rev-parse", "v1.1.0"]);
    assert_ne!(tag_object, up.second);
    let co = fetch(&url, &GitRef::tag("v1.1.0"), None, TIMEOUT, work.path()).unwrap();
    assert_eq!(co.commit, up.second);
    assert_eq!(co.revision, format!("v1.1.0@sha1:{}", up.second));

    let co = fetch(&url, &GitRef::commit(&up.first), None, TIMEOUT, work.path()).unwrap();
    assert_eq!(co.revision, format!("sha1:{}", up.first));
    assert_eq!(co.reference, "");
    assert!(!read(&co.dir, "deploy/app.yaml").contains("'2'"));

    let with_branch = GitRef {
        branch: Some("main".into()),
        commit: Some(up.first.to_uppercase()),
        ..GitRef::default()
    };
    let co = fetch(&url, &with_branch, None, TIMEOUT, work.path()).unwrap();
    assert_eq!(co.revision, format!("main@sha1:{}", up.first));

    let co = fetch(
        &url,
        &GitRef::name("refs/pull/420/head"),
        None,
        TIMEOUT,
        work.path(),
    )
    .unwrap();
    assert_eq!(co.revision, format!("refs/pull/420/head@sha1:{}", up.first));

    // Tag and semver together: the tag wins, as in Flux's clone code.
    let both = GitRef {
        tag: Some("1.0.0".into()),
        semver: Some(">=2.0.0".into()),
        ..GitRef::default()
    };
    let co = fetch(&url, &both, None, TIMEOUT, work.path()).unwrap();
    assert_eq!(co.revision, format!("1.0.0@sha1:{}", up.first));

    let missing = "0123456789012345678901234567890123456789";
    let err = fetch(&url, &GitRef::commit(missing), None, TIMEOUT, work.path()).unwrap_err();
    assert!(matches!(err, GitError::RefNotFound { .. }), "{err}");
    let err = fetch(&url, &GitRef::tag("v9.9.9"), None, TIMEOUT, work.path()).unwrap_err();
    assert!(matches!(err, GitError::RefNotFound { .. }), "{err}");
    assert!(err.to_string().contains("v9.9.9"), "{err}");
}

#[test]
fn semver_ranges_pick_the_highest_matching_tag() {
    if !have_git() {
        return;
    }
    let up = Upstream::new();
    let work = tempfile::tempdir().unwrap();
    let url = up.url();
    let pick = |range: &str| fetch(&url, &GitRef::semver(range), None, TIMEOUT, work.path());

    let co = pick(">=1.0.0 <2.0.0").unwrap();
    assert_eq!(co.revision, format!("v1.1.0@sha1:{}", up.second));
    assert_eq!(
        pick("*").unwrap().revision,
        format!("2.0.0@sha1:{}", up.second)
    );
    assert_eq!(
        pick("~1.0").unwrap().revision,
        format!("1.0.0@sha1:{}", up.first)
    );
    // Prereleases only with a prerelease comparator.
    assert_eq!(
        pick(">=1.2.0-0 <2.0.0").unwrap().revision,
        format!("1.2.0-rc.1@sha1:{}", up.second)
    );
    // `v0.9` has fewer than two dots and is ignored.
    let err = pick("<1.0.0").unwrap_err();
    assert!(
        err.to_string()
            .contains("no match found for semver: <1.0.0"),
        "{err}"
    );
    assert_eq!(err.reason(), "GitOperationFailed");
    let err = pick("not a range").unwrap_err();
    assert!(err.to_string().contains("semver parse error"), "{err}");

    // Versions differing only in build metadata: the newest tagged commit wins.
    write(&up.dir, "later.txt", "x");
    let newer = commit_all(&up.dir, "later", "2024-03-01T00:00:00Z");
    git(&up.dir, &["tag", "3.0.0+b", &up.first]);
    git(&up.dir, &["tag", "3.0.0+a", &newer]);
    assert_eq!(
        pick("3.x").unwrap().revision,
        format!("3.0.0+a@sha1:{newer}")
    );
}

#[test]
fn branch_update_gives_a_new_revision_and_remote_head_tracks_it() {
    if !have_git() {
        return;
    }
    let up = Upstream::new();
    let work = tempfile::tempdir().unwrap();
    let url = up.url();
    let main = GitRef::branch("main");
    let before = fetch(&url, &main, None, TIMEOUT, work.path()).unwrap();
    let head = remote_head(&url, &main, None, TIMEOUT, work.path()).unwrap();
    assert_eq!(head.revision, before.revision);

    write(&up.dir, "deploy/new.yaml", "kind: Secret\n");
    let third = commit_all(&up.dir, "third commit", "2024-02-01T00:00:00Z");
    let head = remote_head(&url, &main, None, TIMEOUT, work.path()).unwrap();
    assert_eq!(head.revision, format!("main@sha1:{third}"));
    let after = fetch(&url, &main, None, TIMEOUT, work.path()).unwrap();
    assert_eq!(after.revision, head.revision);
    assert_ne!(after.revision, before.revision);
    assert_eq!(read(&after.dir, "deploy/new.yaml"), "kind: Secret\n");

    // Annotated tags are peeled by ls-remote too; semver and commit refs work without a clone.
    let tag = remote_head(&url, &GitRef::tag("v1.1.0"), None, TIMEOUT, work.path()).unwrap();
    assert_eq!(tag.revision, format!("v1.1.0@sha1:{}", up.second));
    let sv = remote_head(&url, &GitRef::semver("^1.0.0"), None, TIMEOUT, work.path()).unwrap();
    assert_eq!(sv.revision, format!("v1.1.0@sha1:{}", up.second));
    let c = remote_head(&url, &GitRef::commit(&up.first), None, TIMEOUT, work.path()).unwrap();
    assert_eq!(c.revision, format!("sha1:{}", up.first));
    let err = remote_head(&url, &GitRef::branch("nope"), None, TIMEOUT, work.path()).unwrap_err();
    assert!(matches!(err, GitError::RefNotFound { .. }));
}

#[test]
fn bad_urls_and_unreachable_repositories() {
    if !have_git() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    for url in [
        "not a url",
        "ftp://example.com/r.git",
        "https://",
        "git@github.com:o/r.git",
    ] {
        let err = fetch(url, &GitRef::branch("main"), None, TIMEOUT, work.path()).unwrap_err();
        assert!(matches!(err, GitError::UrlInvalid { .. }), "{url}: {err}");
        assert_eq!(err.reason(), "URLInvalid");
        assert!(err.to_string().contains(url), "{err}");
    }
    let missing = format!("file://{}/does-not-exist", work.path().display());
    let err = fetch(
        &missing,
        &GitRef::branch("main"),
        None,
        TIMEOUT,
        work.path(),
    )
    .unwrap_err();
    assert_eq!(err.reason(), "GitOperationFailed", "{err}");
    assert!(err.to_string().contains("does-not-exist"), "{err}");

    let up = Upstream::new();
    let err = fetch(
        &up.url(),
        &GitRef::branch("no-such-branch"),
        None,
        TIMEOUT,
        work.path(),
    )
    .unwrap_err();
    assert!(matches!(err, GitError::RefNotFound { .. }), "{err}");
    assert!(
        err.to_string().contains("no-such-branch") && err.to_string().contains(&up.url()),
        "{err}"
    );
}

#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept connections and never answer.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let work = tempfile::tempdir().unwrap();
    let url = format!("git://127.0.0.1:{port}/repo.git");
    let err = fetch(
        &url,
        &GitRef::branch("main"),
        None,
        Duration::from_millis(500),
        work.path(),
    )
    .unwrap_err();
    assert!(matches!(err, GitError::Timeout { .. }), "{err}");
    assert_eq!(err.reason(), "GitOperationFailed");
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) -> bool {
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn clone_over_git_daemon() {
    if !have_git() {
        return;
    }
    let daemon_ok = Command::new("git")
        .args(["daemon", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
        && Path::new("/usr/lib/git-core/git-daemon").exists();
    if !daemon_ok {
        eprintln!("skipping: git daemon is not installed");
        return;
    }
    let up = Upstream::new();
    let base = up.dir.parent().unwrap();
    let port = free_port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--export-all",
            "--reuseaddr",
            "--informative-errors",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", base.display()),
            &base.display().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        eprintln!("skipping: cannot start git daemon");
        return;
    };
    let _daemon = Daemon(child);
    if !wait_for_port(port) {
        eprintln!("skipping: git daemon did not start listening");
        return;
    }
    let url = format!("git://127.0.0.1:{port}/repo.git");
    let work = tempfile::tempdir().unwrap();
    let co = fetch(&url, &GitRef::branch("main"), None, TIMEOUT, work.path()).unwrap();
    assert_eq!(co.revision, format!("main@sha1:{}", up.second));
    let co = fetch(&url, &GitRef::semver("<2.0.0"), None, TIMEOUT, work.path()).unwrap();
    assert_eq!(co.revision, format!("v1.1.0@sha1:{}", up.second));
    let head = remote_head(&url, &GitRef::tag("v1.1.0"), None, TIMEOUT, work.path()).unwrap();
    assert_eq!(head.commit, up.second);
    let err = fetch(&url, &GitRef::branch("gone"), None, TIMEOUT, work.path()).unwrap_err();
    assert!(matches!(err, GitError::RefNotFound { .. }), "{err}");
}

/// A loopback HTTP/1.1 server running `git http-backend` per request, optionally demanding basic auth.
struct HttpBackend {
    port: u16,
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let size =
            usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if size == 0 {
            let mut end = String::new();
            reader.read_line(&mut end)?;
            return Ok(body);
        }
        let mut chunk = vec![0; size];
        reader.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk);
        let mut crlf = String::new();
        reader.read_line(&mut crlf)?;
    }
}

fn serve_one(stream: TcpStream, root: &Path, auth: Option<&str>) -> std::io::Result<()> {
    // `auth` is the exact Authorization header value the server demands.
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunked(&mut reader)?
    } else {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        body
    };
    let mut out = stream;
    if let Some(want) = auth
        && header("authorization").as_deref() != Some(want)
    {
        out.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
        return Ok(());
    }
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(ct) = header("content-type") {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(p) = header("git-protocol") {
        cmd.env("GIT_PROTOCOL", p);
    }
    if let Some(enc) = header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output()?;
    let _ = writer.join();
    let raw = output.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    let split = split.or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let (head, body) = match split {
        Some((i, n)) => (
            String::from_utf8_lossy(&raw[..i]).to_string(),
            raw[i + n..].to_vec(),
        ),
        None => (String::new(), raw),
    };
    let mut status = "200 OK".to_string();
    let mut response = Vec::new();
    for line in head.lines() {
        if let Some(s) = line.strip_prefix("Status:") {
            status = s.trim().to_string();
        } else if !line.trim().is_empty() {
            response.extend_from_slice(line.trim_end().as_bytes());
            response.extend_from_slice(b"\r\n");
        }
    }
    out.write_all(format!("HTTP/1.1 {status}\r\n").as_bytes())?;
    out.write_all(&response)?;
    out.write_all(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )?;
    out.write_all(&body)?;
    out.flush()
}

impl HttpBackend {
    fn start(root: PathBuf, auth: Option<String>) -> HttpBackend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let root = root.clone();
                let auth = auth.clone();
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &root, auth.as_deref());
                });
            }
        });
        HttpBackend { port }
    }
}

fn have_http_backend() -> bool {
    let ok = Path::new("/usr/lib/git-core/git-http-backend").exists();
    if !ok {
        eprintln!("skipping: git http-backend is not installed");
    }
    ok
}

#[test]
fn clone_over_http_with_basic_auth() {
    if !have_git() || !have_http_backend() {
        return;
    }
    let up = Upstream::new();
    let root = up.dir.parent().unwrap().to_path_buf();
    let server = HttpBackend::start(root, Some("Basic YWxpY2U6czNjcmV0".to_string()));
    let url = format!("http://127.0.0.1:{}/repo.git", server.port);
    let work = tempfile::tempdir().unwrap();

    let good = GitAuth {
        credentials: GitCredentials::Basic {
            username: "alice".into(),
            password: "s3cret".into(),
        },
        ..GitAuth::default()
    };
    let co = fetch(
        &url,
        &GitRef::branch("main"),
        Some(&good),
        TIMEOUT,
        work.path(),
    )
    .unwrap();
    assert_eq!(co.revision, format!("main@sha1:{}", up.second));
    let head = remote_head(
        &url,
        &GitRef::semver(">=1.0.0"),
        Some(&good),
        TIMEOUT,
        work.path(),
    )
    .unwrap();
    assert_eq!(head.revision, format!("2.0.0@sha1:{}", up.second));

    let bad = GitAuth {
        credentials: GitCredentials::Basic {
            username: "alice".into(),
            password: "wrong".into(),
        },
        ..GitAuth::default()
    };
    let err = fetch(
        &url,
        &GitRef::branch("main"),
        Some(&bad),
        TIMEOUT,
        work.path(),
    )
    .unwrap_err();
    assert!(matches!(err, GitError::Authentication { .. }), "{err}");
    assert_eq!(err.reason(), "AuthenticationFailed");
    assert!(!err.to_string().contains("wrong"), "password leaked: {err}");
    let err = fetch(&url, &GitRef::branch("main"), None, TIMEOUT, work.path()).unwrap_err();
    assert_eq!(err.reason(), "AuthenticationFailed", "{err}");
}

fn archive(
    store: &ArtifactStore,
    name: &str,
    dir: &Path,
    commit: &str,
    revision: &str,
    ignore: Option<&str>,
) -> Artifact {
    let rel = artifact_path(
        "GitRepository",
        "flux-system",
        name,
        &format!("{commit}.tar.gz"),
    )
    .unwrap();
    let exclusions = Exclusions::load(dir, ignore).unwrap();
    store.store(&rel, revision, dir, &exclusions).unwrap()
}

fn list_tar(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn artifacts_are_stable_across_runs_and_clones() {
    if !have_git() {
        return;
    }
    let up = Upstream::new();
    write(&up.dir, "bin/run.sh", "#!/bin/sh\necho hi\n");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            up.dir.join("bin/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    commit_all(&up.dir, "script", "2024-01-03T00:00:00Z");
    let data = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(data.path());

    let work_a = tempfile::tempdir().unwrap();
    let work_b = tempfile::tempdir().unwrap();
    let a = fetch(
        &up.url(),
        &GitRef::branch("main"),
        None,
        TIMEOUT,
        work_a.path(),
    )
    .unwrap();
    let b = fetch(
        &up.url(),
        &GitRef::branch("main"),
        None,
        TIMEOUT,
        work_b.path(),
    )
    .unwrap();
    let first = archive(&store, "one", &a.dir, &a.commit, &a.revision, None);
    let again = archive(&store, "one", &a.dir, &a.commit, &a.revision, None);
    let other_clone = archive(&store, "two", &b.dir, &b.commit, &b.revision, None);
    assert_eq!(first.digest, again.digest);
    assert_eq!(first.digest, other_clone.digest);
    assert_eq!(first.size, other_clone.size);
    assert!(first.digest.starts_with("sha256:") && first.digest.len() == 71);
    assert_eq!(
        first.path,
        format!("gitrepository/flux-system/one/{}.tar.gz", a.commit)
    );
    assert_eq!(first.revision, a.revision);
    let on_disk = store.path_of(&first.path).unwrap();
    assert_eq!(std::fs::metadata(&on_disk).unwrap().len(), first.size);
    assert_eq!(store.digest_of(&first.path).unwrap(), first.digest);
    assert_eq!(
        first.url("source-controller.flux-system.svc.cluster.local."),
        format!(
            "http://source-controller.flux-system.svc.cluster.local./{}",
            first.path
        )
    );
    let status = first.status_value("localhost:9090");
    assert_eq!(status["digest"], first.digest.as_str());
    assert_eq!(status["size"], first.size);
    // No temp files are left behind.
    let dir = on_disk.parent().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());

    // Round trip: extracting gives back the files with normalised modes.
    let out = tempfile::tempdir().unwrap();
    store.extract(&first, out.path()).unwrap();
    assert_eq!(
        read(out.path(), "deploy/app.yaml"),
        read(&a.dir, "deploy/app.yaml")
    );
    assert_eq!(read(out.path(), "bin/run.sh"), "#!/bin/sh\necho hi\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.path().join("bin/run.sh"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    let mode = std::fs::metadata(out.path().join("README.md"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // A tampered artifact is refused.
    let mut forged = first.clone();
    forged.digest = format!("sha256:{}", "0".repeat(64));
    assert!(store.extract(&forged, out.path()).is_err());
}

#[test]
fn exclusions_apply_to_artifacts() {
    if !have_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    std::fs::create_dir(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    write(&dir, "app.yaml", "a");
    write(&dir, "logo.png", "png");
    write(&dir, ".github/workflows/ci.yaml", "ci");
    write(&dir, ".gitignore", "tmp/");
    write(&dir, "docs/guide.md", "g");
    write(&dir, "docs/.sourceignore", "*.md\n!keep.md\n");
    write(&dir, "docs/keep.md", "k");
    write(&dir, "top.md", "t");
    write(&dir, "secrets/.sops.yaml", "s");
    commit_all(&dir, "init", "2024-01-01T00:00:00Z");
    std::os::unix::fs::symlink("app.yaml", dir.join("link.yaml")).unwrap();
    git(&dir, &["add", "link.yaml"]);
    commit_all(&dir, "link", "2024-01-01T00:00:01Z");

    let url = format!("file://{}", dir.display());
    let work = tempfile::tempdir().unwrap();
    let co = fetch(&url, &GitRef::branch("main"), None, TIMEOUT, work.path()).unwrap();
    assert!(
        std::fs::symlink_metadata(co.dir.join("link.yaml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let data = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(data.path());

    // A .sourceignore exists, so the default list is dropped: logo.png, .github and .sops.yaml stay.
    let art = archive(&store, "scoped", &co.dir, &co.commit, &co.revision, None);
    let names = list_tar(&store.path_of(&art.path).unwrap());
    assert_eq!(
        names,
        [
            ".github",
            ".github/workflows",
            ".github/workflows/ci.yaml",
            "app.yaml",
            "docs",
            "docs/.sourceignore",
            "docs/keep.md",
            "logo.png",
            "secrets",
            "secrets/.sops.yaml",
            "top.md",
        ]
    );

    // spec.ignore comes last and can re-include or exclude more.
    let art = archive(
        &store,
        "spec",
        &co.dir,
        &co.commit,
        &co.revision,
        Some("/*.yaml\n!docs/guide.md\n.github/\n"),
    );
    let names = list_tar(&store.path_of(&art.path).unwrap());
    assert!(!names.contains(&"app.yaml".to_string()));
    assert!(names.contains(&"docs/guide.md".to_string()));
    assert!(!names.iter().any(|n| n.starts_with(".github")));

    // Without any user pattern the default list applies.
    std::fs::remove_file(co.dir.join("docs/.sourceignore")).unwrap();
    let art = archive(&store, "defaults", &co.dir, &co.commit, &co.revision, None);
    let names = list_tar(&store.path_of(&art.path).unwrap());
    assert_eq!(
        names,
        [
            "app.yaml",
            "docs",
            "docs/guide.md",
            "docs/keep.md",
            "secrets",
            "top.md"
        ]
    );
}

#[test]
fn garbage_collection_keeps_current_and_newest() {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.yaml", "a");
    let data = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(data.path());
    let base = std::time::SystemTime::now() - Duration::from_secs(1000);
    let mut artifacts = Vec::new();
    for i in 0..5 {
        let art = archive(&store, "gc", src.path(), &format!("{i:040}"), "rev", None);
        let file = std::fs::File::options()
            .write(true)
            .open(store.path_of(&art.path).unwrap())
            .unwrap();
        file.set_modified(base + Duration::from_secs(i * 10))
            .unwrap();
        artifacts.push(art);
    }
    // An abandoned temp file from a crashed write, and a fresh one being written.
    let dir = store
        .path_of(&artifacts[0].path)
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let stale = dir.join(".tmp-stale");
    std::fs::write(&stale, "x").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let fresh = dir.join(".tmp-fresh");
    std::fs::write(&fresh, "x").unwrap();

    // The current artifact is the second oldest: it stays, plus the newest other one.
    let current = &artifacts[1];
    let deleted = store.gc(current, 2).unwrap();
    assert_eq!(deleted.len(), 4);
    let exists = |a: &Artifact| store.exists(a);
    assert!(exists(&artifacts[1]));
    assert!(exists(&artifacts[4]));
    assert!(!exists(&artifacts[0]) && !exists(&artifacts[2]) && !exists(&artifacts[3]));
    assert!(!stale.exists());
    assert!(fresh.exists());
    // Keeping one means only the current artifact.
    store.gc(current, 1).unwrap();
    assert!(!exists(&artifacts[4]));
    assert!(exists(current));
    store
        .remove_object("GitRepository", "flux-system", "gc")
        .unwrap();
    assert!(!exists(current));
    store
        .remove_object("GitRepository", "flux-system", "gc")
        .unwrap();
}

#[test]
fn clone_over_http_with_a_bearer_token_from_a_secret() {
    if !have_git() || !have_http_backend() {
        return;
    }
    use base64::Engine;
    let up = Upstream::new();
    let root = up.dir.parent().unwrap().to_path_buf();
    let server = HttpBackend::start(root, Some("Bearer t0ken".to_string()));
    let url = format!("http://127.0.0.1:{}/repo.git", server.port);
    let work = tempfile::tempdir().unwrap();
    let data = serde_json::json!({"bearerToken": base64::engine::general_purpose::STANDARD.encode("t0ken")});
    let auth = GitAuth::from_secret_data(&url, &data).unwrap();
    let co = fetch(
        &url,
        &GitRef::tag("v1.1.0"),
        Some(&auth),
        TIMEOUT,
        work.path(),
    )
    .unwrap();
    assert_eq!(co.revision, format!("v1.1.0@sha1:{}", up.second));
    let wrong = GitAuth {
        credentials: GitCredentials::Bearer("nope".into()),
        ..GitAuth::default()
    };
    let err = remote_head(
        &url,
        &GitRef::branch("main"),
        Some(&wrong),
        TIMEOUT,
        work.path(),
    )
    .unwrap_err();
    assert_eq!(err.reason(), "AuthenticationFailed", "{err}");
}
