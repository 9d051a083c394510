//! Shared by the image-automation tests and the scan bench: a real `docker-registry`
//! (CNCF distribution 2.8) on a loopback port, images pushed through the OCI API, and git helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// A running registry; killed (by its own process handle) on drop.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Storage root and config.
    pub dir: tempfile::TempDir,
    /// Basic-auth user and password, when htpasswd auth is on.
    pub auth: Option<(String, String)>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The registry binary, or None (with the reason printed) so the caller can skip.
pub fn registry_binary() -> Option<PathBuf> {
    for candidate in ["/usr/bin/docker-registry", "/usr/local/bin/docker-registry"] {
        if Path::new(candidate).is_file() {
            return Some(PathBuf::from(candidate));
        }
    }
    eprintln!("SKIP: docker-registry is not installed (apt-get install docker-registry)");
    None
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A bcrypt htpasswd line via python3's crypt, or None (reason printed).
fn htpasswd_line(user: &str, password: &str) -> Option<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
            password,
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let hash = String::from_utf8(out.stdout).ok()?.trim().to_string();
    if !out.status.success() || !hash.starts_with("$2") {
        eprintln!("SKIP: python3 with bcrypt support in crypt is needed to write an htpasswd file");
        return None;
    }
    Some(format!("{user}:{hash}\n"))
}

/// Starts a registry (with htpasswd basic auth when `auth` is given); None = skip.
pub async fn start_registry(auth: Option<(&str, &str)>) -> Option<Registry> {
    // The test's own reqwest clients need a rustls provider; Err = one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let binary = registry_binary()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let auth_yaml = match auth {
        Some((user, password)) => {
            let line = htpasswd_line(user, password)?;
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, line).expect("write htpasswd");
            format!(
                "auth:\n  htpasswd:\n    realm: flotilla-test\n    path: {}\n",
                path.display()
            )
        }
        None => String::new(),
    };
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth_yaml}",
        dir.path().join("storage").display()
    );
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config).expect("write config");
    let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
    let child = Command::new(&binary)
        .arg("serve")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start docker-registry");
    let mut registry = Registry {
        child,
        addr: addr.clone(),
        dir,
        auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
    };
    for _ in 0..200 {
        if let Ok(Some(_)) = registry.child.try_wait() {
            break;
        }
        if reqwest::get(format!("http://{addr}/v2/")).await.is_ok() {
            return Some(registry);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(registry.dir.path().join("registry.log")).unwrap_or_default();
    panic!("docker-registry did not start on {addr}; its log:\n{log}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Registry {
    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let client = reqwest::Client::new();
        let mut r = client.request(method, url);
        if let Some((u, p)) = &self.auth {
            r = r.basic_auth(u, Some(p));
        }
        r
    }

    async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = format!("sha256:{}", sha256_hex(bytes));
        let start = self
            .request(
                reqwest::Method::POST,
                &format!("http://{}/v2/{repo}/blobs/uploads/", self.addr),
            )
            .send()
            .await
            .expect("start upload");
        assert_eq!(start.status().as_u16(), 202, "blob upload start");
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload location")
            .to_string();
        let url = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", self.addr)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let put = self
            .request(reqwest::Method::PUT, &format!("{url}{sep}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("finish upload");
        assert_eq!(put.status().as_u16(), 201, "blob upload finish");
        digest
    }

    /// Pushes a minimal OCI image (config blob + one layer) as `repo:tag`; returns the manifest digest.
    pub async fn push_image(&self, repo: &str, tag: &str) -> String {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"tag":"{tag}"}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
        );
        let config_digest = self.push_blob(repo, config.as_bytes()).await;
        let layer = format!("layer of {tag}");
        let layer_digest = self.push_blob(repo, layer.as_bytes()).await;
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        let put = self
            .request(
                reqwest::Method::PUT,
                &format!("http://{}/v2/{repo}/manifests/{tag}", self.addr),
            )
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await
            .expect("put manifest");
        let status = put.status();
        let body = put.text().await.unwrap_or_default();
        assert_eq!(status.as_u16(), 201, "manifest put: {body}");
        format!("sha256:{}", sha256_hex(manifest.as_bytes()))
    }

    /// Adds many tags pointing at the manifest of `existing` by writing the registry's storage
    /// directly (pushing 10,000 manifests over HTTP would dominate the test time).
    pub fn add_tags_on_disk(
        &self,
        repo: &str,
        existing: &str,
        tags: impl IntoIterator<Item = String>,
    ) {
        let tags_dir = self
            .dir
            .path()
            .join("storage/docker/registry/v2/repositories")
            .join(repo)
            .join("_manifests/tags");
        let link =
            std::fs::read(tags_dir.join(existing).join("current/link")).expect("existing tag link");
        let index = {
            let digest = String::from_utf8(link.clone()).expect("utf8 link");
            let hex = digest.trim().trim_start_matches("sha256:").to_string();
            format!("index/sha256/{hex}")
        };
        for tag in tags {
            let dir = tags_dir.join(&tag);
            std::fs::create_dir_all(dir.join("current")).expect("tag dir");
            std::fs::write(dir.join("current/link"), &link).expect("link");
            let idx = dir.join(&index);
            std::fs::create_dir_all(&idx).expect("index dir");
            std::fs::write(idx.join("link"), &link).expect("index link");
        }
    }
}

/// Runs git with an isolated config; panics with its output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `git` is on PATH (prints a skip reason if not).
pub fn have_git() -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP: git is not installed");
    }
    ok
}
