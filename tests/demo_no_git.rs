//! Issue 8's "nothing but the Rust toolchain": `flotilla demo --headless` through the real binary
//! with `PATH` set to an empty directory, so no `git` (or anything else) can be spawned. The three
//! clusters still converge, the image automation commits the new tag to the demo repository
//! (file://, in-process) and production runs it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::demo_support::{assert_all_clusters_converge, assert_production_runs_the_committed_tag};
use flotilla::demo::repo::DemoRepo;

/// The demo process; SIGTERM then reaped on drop, so a failing assertion leaves nothing behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_converges_and_automates_without_git_on_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty_path = dir.path().join("empty-bin");
    std::fs::create_dir(&empty_path).expect("mkdir");
    let data = dir.path().join("data");
    let log = dir.path().join("demo.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["demo", "--headless", "--speed", "0.01", "--data-dir"])
        .arg(&data)
        .arg("--log-file")
        .arg(&log)
        .env_clear()
        .env("PATH", &empty_path)
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let running = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the demo prints its kubeconfig path");
    let kubeconfig = PathBuf::from(line.trim());
    assert!(kubeconfig.is_file(), "{line:?} is not a kubeconfig");

    assert_all_clusters_converge(&kubeconfig).await;
    let repo = DemoRepo::open_or_init(&data.join("repository.git")).expect("demo repository");
    assert_production_runs_the_committed_tag(&kubeconfig, &repo).await;

    drop(running);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !text.contains("cannot run git") && !text.contains("upload-pack"),
        "something tried to run git:\n{text}"
    );
}
