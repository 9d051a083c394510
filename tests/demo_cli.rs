//! `flotilla demo` through the real binary: help, refused options, and a headless run that prints
//! its kubeconfig path, serves it, and cleans up on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn flotilla() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
}

#[test]
fn help_shows_the_options_and_examples() {
    let out = flotilla().args(["demo", "--help"]).output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "--headless",
        "--kubeconfig-out",
        "--data-dir",
        "--speed",
        "Examples:",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
}

#[test]
fn an_unusable_speed_exits_2_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = flotilla()
        .args(["demo", "--headless", "--speed", "0", "--log-file"])
        .arg(dir.path().join("log"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("speed"), "{err}");
}

#[cfg(unix)]
#[test]
fn headless_prints_the_kubeconfig_and_cleans_up_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = flotilla()
        .args(["demo", "--headless", "--log-file"])
        .arg(dir.path().join("log"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(l) => l,
        Err(e) => {
            let _ = child.kill();
            panic!("no kubeconfig path printed: {e}");
        }
    };
    let kubeconfig = PathBuf::from(line.trim());
    let text = std::fs::read_to_string(&kubeconfig).expect("the printed path is a kubeconfig");
    assert!(text.contains("name: \"production\""), "{text}");
    let data_dir = kubeconfig.parent().expect("in the data dir").to_path_buf();
    assert!(data_dir.join("repository.git").is_dir());

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("exits");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(
        !data_dir.exists(),
        "temporary data {} left behind",
        data_dir.display()
    );
}
