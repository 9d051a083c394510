//! `flotilla demo` end to end in a real terminal (tmux, 120×40): the table appears, staging's
//! broken `apps` Kustomization opens in the health tree with its root cause (the `checkout`
//! Deployment stuck on the `1.5.0-broken` tag), `x` shows the diff summary, `:q` exits 0 and the
//! terminal is restored. Skipped, with the reason printed, when tmux is not installed.

use crate::console_support::{TMUX_PROMPT, TmuxPane, last_screen_line, tmux_available};
use std::time::Duration;

/// The demo converges within a couple of minutes (the broken Deployment's progress deadline).
const DEMO_PATIENCE: Duration = Duration::from_secs(240);

#[test]
fn demo_in_tmux_tree_root_cause_diff_and_clean_exit() {
    if !tmux_available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("demo-data");
    let tmux = TmuxPane::start("demo", home.path(), 120, 40);
    tmux.wait_for("the shell prompt", DEMO_PATIENCE, |s| {
        last_screen_line(s) == TMUX_PROMPT
    });
    tmux.type_text(&format!(
        "{} demo --data-dir '{}'; echo demo-exit=$?",
        env!("CARGO_BIN_EXE_flotilla"),
        data.display()
    ));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the table", DEMO_PATIENCE, |s| {
        s.contains("staging:live") && s.contains(" all(")
    });
    for cmd in [":ctx staging", ":ks"] {
        tmux.type_text(cmd);
        tmux.keys(&["Enter"]);
    }
    tmux.type_text("/^apps$");
    tmux.keys(&["Enter"]);
    tmux.wait_for("staging's apps Kustomization alone", DEMO_PATIENCE, |s| {
        s.contains("kustomizations(1) /^apps$") && s.contains("staging")
    });
    tmux.type_text("t");
    // Live: the tree re-fetches every 2 s until the Deployment has exceeded its deadline.
    let screen = tmux.wait_for("the root cause of the tree", DEMO_PATIENCE, |s| {
        s.contains("Root cause: Deployment/checkout/checkout Failed")
    });
    assert!(
        screen.contains("Progress deadline exceeded") || screen.contains("timed out progressing"),
        "{screen}"
    );
    tmux.keys(&["Escape"]);
    tmux.type_text("x");
    let screen = tmux.wait_for("the diff summary", DEMO_PATIENCE, |s| {
        s.contains("deleted by prune") || s.contains("cannot diff")
    });
    assert!(
        screen.contains("unchanged") && !screen.contains("cannot diff"),
        "{screen}"
    );
    tmux.keys(&["Escape"]);
    tmux.type_text(":q");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the demo to exit 0", DEMO_PATIENCE, |s| {
        s.contains("demo-exit=0")
    });
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "0",
        "alternate screen left"
    );
    tmux.type_text("echo restored-$((40+2))");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the shell to echo", DEMO_PATIENCE, |s| {
        s.contains("restored-42")
    });
}
