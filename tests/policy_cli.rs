//! `flotilla policy eval` run as a process: output, --explain, exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn flotilla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .output()
        .expect("run flotilla")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn semver_prints_the_chosen_tag() {
    let o = flotilla(&[
        "policy",
        "eval",
        "--semver",
        ">=1.0.0 <2.0.0",
        "2.0.0",
        "1.4.2",
        "v1.5.0-rc.1",
        "1.0.0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "1.4.2\n");
}

#[test]
fn alphabetical_order_and_tag_given_back() {
    let o = flotilla(&["policy", "eval", "--alphabetical", "desc", "b", "a", "c"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "a\n");
    // "zz" is not an order, so it is a tag and the order is asc.
    let o = flotilla(&["policy", "eval", "--alphabetical", "zz", "a"]);
    assert_eq!(stdout(&o), "zz\n");
}

#[test]
fn numerical_with_extract() {
    let o = flotilla(&[
        "policy",
        "eval",
        "--numerical",
        "asc",
        "--pattern",
        "^main-[a-f0-9]+-(?P<ts>[0-9]+)$",
        "--extract",
        "$ts",
        "main-abc-100",
        "main-def-200",
        "dev-000-999",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "main-def-200\n");
}

#[test]
fn explain_prints_every_tag() {
    let o = flotilla(&[
        "policy",
        "eval",
        "--semver",
        "^1",
        "--explain",
        "2.0.0",
        "1.3.0",
        "latest",
        "1.2.0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let line = |tag: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(tag))
            .unwrap_or_else(|| panic!("no row for {tag} in\n{out}"))
            .to_string()
    };
    assert!(line("2.0.0").contains("out of range"), "{out}");
    assert!(line("1.3.0").contains("chosen"), "{out}");
    assert!(line("latest").contains("not a version"), "{out}");
    assert!(line("1.2.0").contains("candidate"), "{out}");
    assert!(out.trim_end().ends_with("chosen: 1.3.0"), "{out}");
}

#[test]
fn explain_json_is_machine_readable() {
    let o = flotilla(&[
        "policy",
        "eval",
        "--semver",
        "*",
        "--explain",
        "--json",
        "1.0.0",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["chosen"], "1.0.0");
    assert_eq!(v["tags"][1]["fate"], "NotAVersion");
}

#[test]
fn no_qualifying_tag_exits_1() {
    let o = flotilla(&["policy", "eval", "--semver", ">=3", "1.0.0", "2.0.0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
    assert!(
        stderr(&o).contains("unable to determine latest version from provided list"),
        "{}",
        stderr(&o)
    );
    let o = flotilla(&["policy", "eval", "--numerical", "1", "latest"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("failed to parse invalid numeric value 'latest'"));
    // --explain still prints the table, and still exits 1.
    let o = flotilla(&["policy", "eval", "--semver", ">=3", "--explain", "1.0.0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("out of range"));
}

#[test]
fn invalid_policy_and_usage_exit_2() {
    let o = flotilla(&["policy", "eval", "--semver", "1x", "1.0.0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("improper constraint"), "{}", stderr(&o));
    let o = flotilla(&["policy", "eval", "--semver", "*", "--pattern", "(", "1.0.0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid regular expression pattern"));
    // No policy rule.
    let o = flotilla(&["policy", "eval", "1.0.0"]);
    assert_eq!(o.status.code(), Some(2));
    // Two policy rules.
    let o = flotilla(&["policy", "eval", "--semver", "*", "--numerical", "1.0.0"]);
    assert_eq!(o.status.code(), Some(2));
    // No tags at all.
    let o = flotilla(&["policy", "eval", "--semver", "*"]);
    assert_eq!(o.status.code(), Some(2));
    // Missing tags file.
    let o = flotilla(&[
        "policy",
        "eval",
        "--semver",
        "*",
        "--tags-file",
        "/nonexistent/tags",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/tags"));
}

#[test]
fn tags_file_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tags.txt");
    std::fs::write(&path, "1.0.0\r\n\n  1.2.0  \nlatest\n").unwrap();
    let o = flotilla(&[
        "policy",
        "eval",
        "--semver",
        "*",
        "--tags-file",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "1.2.0\n");

    let mut child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["policy", "eval", "--alphabetical", "--tags-file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"RELEASE.2023\nRELEASE.2024\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "RELEASE.2024\n");
}

#[test]
fn help_shows_examples() {
    let o = flotilla(&["policy", "eval", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("Examples:"), "{out}");
    assert!(out.contains("--semver"), "{out}");
}
