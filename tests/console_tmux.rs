//! The console end to end in a real terminal: the `flotilla` binary runs in a tmux pane (120×40,
//! TERM=xterm-256color) against a spawned `flotilla apiserver`; keys go in with `send-keys`, the screen
//! comes back with `capture-pane`. Start, filter, YAML, suspend (checked on the server), quit, and the
//! terminal is restored (shell prompt back, alternate screen off).
//!
//! Skipped, with the reason printed, when tmux is not installed.
//!
//! The ignored test `measure_release_console_first_table_and_rss` is the measured run of BENCHMARKS.md
//! ("Console"); see there for the command.

use crate::console_support;

use console_support::{ApiserverProcess, PATIENCE, git, hr, ks, ready};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PROMPT: &str = "flotilla-test$";

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A private tmux server (its own socket) with one 120×40 session running `sh`; killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, home: &Path, width: u16, height: u16) -> Tmux {
        let tmux = Tmux {
            socket: format!("flotilla-{name}-{}", std::process::id()),
        };
        let path = std::env::var("PATH").unwrap_or_default();
        let shell = format!(
            "env -i PATH='{path}' HOME='{}' TERM=xterm-256color PS1='{PROMPT} ' sh",
            home.display()
        );
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            &shell,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// The visible pane (the alternate screen while the console runs).
    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "main"]).stdout)
            .into_owned()
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", "main", "-l", text])
                .status
                .success()
        );
    }

    /// Sends named keys (`Enter`, `Escape`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn display(&self, format: &str) -> String {
        String::from_utf8_lossy(&self.run(&["display", "-p", "-t", "main", format]).stdout)
            .trim()
            .to_string()
    }

    /// Polls the pane until `pred` holds; panics with the last screen after `timeout`.
    fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pid of the process the pane's shell is running (the console), if any.
    fn foreground_child(&self) -> Option<u32> {
        let shell: u32 = self.display("#{pane_pid}").parse().ok()?;
        let children =
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// The console binary: `FLOTILLA_BIN` (e.g. a release build) or the one cargo built for this test.
fn console_bin() -> PathBuf {
    std::env::var_os("FLOTILLA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_flotilla")))
}

fn console_command(kubeconfig: &Path, log: &Path) -> String {
    format!(
        "{} --kubeconfig '{}' --log-file '{}'",
        console_bin().display(),
        kubeconfig.display(),
        log.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_tmux_filters_shows_yaml_suspends_and_restores_the_terminal() {
    if !tmux_available() {
        println!("skipped: tmux is not installed (apt-get install tmux)");
        return;
    }
    let server = ApiserverProcess::start(&["dev", "prod"]).await;
    let ok = || {
        ready(
            "True",
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:1a2b3c4",
        )
    };
    server
        .create(
            "dev",
            ks("apps", "flux-system", json!({"app": "web"})),
            Some(ok()),
        )
        .await;
    server
        .create(
            "dev",
            ks("infra", "flux-system", json!({})),
            Some(ready("False", "BuildFailed", "kustomize build failed")),
        )
        .await;
    server
        .create("dev", git("fleet", "flux-system"), Some(ok()))
        .await;
    server
        .create("prod", ks("apps", "web", json!({})), Some(ok()))
        .await;
    server
        .create("prod", hr("podinfo", "web"), Some(ok()))
        .await;

    let home = server.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let tmux = Tmux::start("e2e", &home, 120, 40);
    tmux.wait_for("the shell prompt", PATIENCE, |s| last_line(s) == PROMPT);
    assert_eq!(tmux.display("#{alternate_on}"), "0");

    // Start: the full table of both contexts.
    let log = server.dir.path().join("console.log");
    tmux.type_text(&console_command(&server.kubeconfig, &log));
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the table with 5 rows", PATIENCE, |s| s.contains(" all(5)"));
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "1",
        "the console uses the alternate screen"
    );
    for name in ["apps", "infra", "fleet", "podinfo"] {
        assert!(screen.contains(name), "{name} on screen:\n{screen}");
    }
    assert!(
        screen.contains("dev") && screen.contains("prod"),
        "{screen}"
    );

    // Filter with `/`.
    tmux.type_text("/apps");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the filtered table", PATIENCE, |s| {
        s.contains("all(2) /apps")
    });
    assert!(
        !screen.contains("infra") && !screen.contains("podinfo"),
        "filtered out:\n{screen}"
    );

    // YAML of the selected row (dev's flux-system/apps, first in key order).
    tmux.type_text("y");
    let screen = tmux.wait_for("the YAML view", PATIENCE, |s| {
        s.contains("kind: Kustomization") && s.contains("namespace: flux-system")
    });
    assert!(screen.contains("name: apps"), "{screen}");
    assert!(
        !screen.contains("managedFields"),
        "managedFields hidden:\n{screen}"
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for("the table again", PATIENCE, |s| s.contains("all(2) /apps"));

    // Suspend with `s`, confirmed with `y`; the server has spec.suspend=true.
    tmux.type_text("s");
    tmux.wait_for("the confirmation", PATIENCE, |s| s.contains("y/enter: yes"));
    tmux.type_text("y");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let obj = server
            .get("dev", "Kustomization", "flux-system", "apps")
            .await;
        if obj["spec"]["suspend"] == json!(true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "spec.suspend never became true; screen:\n{}",
            tmux.capture()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let other = server.get("prod", "Kustomization", "web", "apps").await;
    assert_ne!(
        other["spec"]["suspend"],
        json!(true),
        "only the selected row"
    );
    // The watch brings the change back into the table.
    tmux.wait_for("the suspended row", PATIENCE, |s| {
        s.lines()
            .any(|l| l.contains("flux-system") && l.contains("yes"))
    });

    // Quit with `:q`: the shell prompt is back and the alternate screen is off.
    tmux.type_text(":q");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the shell prompt after quitting", PATIENCE, |s| {
        last_line(s) == PROMPT
    });
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "0",
        "alternate screen left"
    );
    assert!(
        screen.contains(&format!("{PROMPT} {}", console_bin().display())),
        "the main screen is back as it was:\n{screen}"
    );
    assert_eq!(tmux.foreground_child(), None, "the console exited");
    // The shell works normally again (raw mode off: a typed line echoes and runs).
    tmux.type_text("echo restored-$((40+2))");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the shell to echo", PATIENCE, |s| s.contains("restored-42"));
}

/// `VmHWM` of a process, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The measured run of BENCHMARKS.md "Console": 10,000 GitOps objects across 3 contexts, the console
/// (set `FLOTILLA_BIN=target/release/flotilla`) started in tmux; time from Enter to crumbs showing
/// `all(10000)`, and the console's VmHWM once the table is complete. Prints the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run by hand with FLOTILLA_BIN=target/release/flotilla (see BENCHMARKS.md)"]
async fn measure_release_console_first_table_and_rss() {
    if !tmux_available() {
        println!("skipped: tmux is not installed");
        return;
    }
    const TOTAL: usize = 10_000;
    let contexts = ["dev", "staging", "production"];
    let server = ApiserverProcess::start(&contexts).await;
    let seed_start = Instant::now();
    let jobs = (0..TOTAL).map(|i| {
        let server = &server;
        async move {
            let context = contexts[i % 3];
            let ns = format!("team-{:02}", i % 20);
            let name = format!("obj-{i:05}");
            let status = match i % 10 {
                0 => ready("False", "BuildFailed", "kustomize build failed"),
                _ => ready(
                    "True",
                    "ReconciliationSucceeded",
                    "Applied revision: main@sha1:1a2b3c4",
                ),
            };
            let obj = match i % 5 {
                0..=2 => ks(&name, &ns, json!({"app": name, "team": ns})),
                3 => git(&name, &ns),
                _ => hr(&name, &ns),
            };
            server.create(context, obj, Some(status)).await;
        }
    });
    futures::stream::iter(jobs)
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    println!("seeded {TOTAL} objects in {:?}", seed_start.elapsed());

    let home = server.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let tmux = Tmux::start("measure", &home, 160, 50);
    tmux.wait_for("the shell prompt", PATIENCE, |s| last_line(s) == PROMPT);
    let log = server.dir.path().join("console.log");
    tmux.type_text(&console_command(&server.kubeconfig, &log));
    let start = Instant::now();
    tmux.keys(&["Enter"]);
    tmux.wait_for("the complete table", PATIENCE, |s| {
        s.contains(&format!(" all({TOTAL})"))
    });
    let first_table = start.elapsed();
    // Let the console settle (header counts, a tick) before reading the high-water mark.
    std::thread::sleep(Duration::from_secs(2));
    let pid = tmux.foreground_child().expect("the console is running");
    let hwm = vm_hwm_kib(pid).expect("VmHWM readable");
    println!(
        "console {}: first complete table of {TOTAL} rows after {:.3} s; VmHWM {:.1} MiB",
        console_bin().display(),
        first_table.as_secs_f64(),
        hwm as f64 / 1024.0
    );
    tmux.type_text(":q");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the shell prompt after quitting", PATIENCE, |s| {
        last_line(s) == PROMPT
    });
}

use futures::StreamExt;
