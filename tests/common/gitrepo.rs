//! Real git repositories for reconciler tests: a work tree with fixed identities and a bare "remote"
//! it pushes to, served over file:// (and, when asked, over `git daemon` on loopback).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// True when the `git` CLI runs; prints why a test skips otherwise.
pub fn have_git() -> bool {
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

/// Runs git in `dir` with fixed identities; returns trimmed stdout (panics on failure).
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Alice Author")
        .env("GIT_AUTHOR_EMAIL", "alice@example.com")
        .env("GIT_COMMITTER_NAME", "Carol Committer")
        .env("GIT_COMMITTER_EMAIL", "carol@example.com")
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

/// A work tree whose `main` branch is pushed to a bare repository.
pub struct Repo {
    pub work: PathBuf,
    pub bare: PathBuf,
    _dir: tempfile::TempDir,
}

impl Repo {
    /// An empty repository (no commit yet).
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("work");
        let bare = dir.path().join("remote.git");
        std::fs::create_dir_all(&work).expect("mkdir");
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        git(&work, &["init", "-q", "-b", "main"]);
        git(
            &work,
            &["remote", "add", "origin", bare.to_str().expect("utf8 path")],
        );
        Repo {
            work,
            bare,
            _dir: dir,
        }
    }

    /// The file:// URL of the bare remote.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Writes a file in the work tree.
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.work.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    /// Removes a file from the work tree.
    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.work.join(rel)).expect("remove");
    }

    /// Commits everything and pushes `main`; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Serves the bare repository's parent with `git daemon` on a loopback port; returns the
    /// daemon (killed on drop) and the git:// URL. `None` (with a printed reason) when git daemon
    /// cannot start.
    pub fn serve(&self) -> Option<(Daemon, String)> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let base = self.bare.parent()?.to_path_buf();
        let child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                base.to_str()?,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipping the network part: git daemon did not start: {e}");
                return None;
            }
        };
        // Wait until it accepts connections.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some((Daemon(child), format!("git://127.0.0.1:{port}/remote.git")));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        eprintln!("skipping the network part: git daemon did not listen on {port}");
        None
    }
}

/// A running `git daemon`.
pub struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
