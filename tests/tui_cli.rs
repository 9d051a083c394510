//! The console's start-up checks through the real binary: a broken config.yaml, theme or keymap is
//! reported with file, line and key before the terminal is touched, with exit code 2.

use std::process::Command;

fn run(config_home: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .env("KUBECONFIG", config_home.join("no-such-kubeconfig"))
        .env_remove("TMUX")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn broken_files_exit_2_naming_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("flotilla");
    std::fs::create_dir_all(dir.join("themes")).unwrap();
    std::fs::create_dir_all(dir.join("keymaps")).unwrap();
    let config = dir.join("config.yaml");

    std::fs::write(&config, "theme: default\nreadonly: maybe\n").unwrap();
    let (code, stdout, stderr) = run(home.path(), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty(), "nothing is drawn: {stdout:?}");
    assert!(
        stderr.contains(&format!("{}:2: readonly:", config.display())),
        "{stderr}"
    );

    std::fs::write(&config, "theme: mine\n").unwrap();
    std::fs::write(
        dir.join("themes/mine.yaml"),
        "styles:\n  ready: {fg: green}\n  failing: {fg: nope}\n",
    )
    .unwrap();
    let (code, _, stderr) = run(home.path(), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("mine.yaml:3: styles.failing"), "{stderr}");

    std::fs::write(&config, "keymap: mine\n").unwrap();
    std::fs::write(dir.join("keymaps/mine.yaml"), "table:\n  jump: [j]\n").unwrap();
    let (code, _, stderr) = run(home.path(), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("mine.yaml:2: table.jump"), "{stderr}");

    // A flag wins over the config file: the built-in keymap is fine, so start-up gets past the
    // keymap and fails later on the missing kubeconfig (exit 1, not 2).
    let (code, _, stderr) = run(home.path(), &["--keymap", "default", "-c", "nope"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("-c nope: unknown view"), "{stderr}");
    let (code, _, stderr) = run(home.path(), &["--keymap", "vim"]);
    assert_eq!(code, Some(1), "{stderr}");
}
