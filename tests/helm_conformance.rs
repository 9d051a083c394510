//! Helm conformance: every case under tests/fixtures/helm/<case>/ (a chart written for flotilla, as
//! a directory or a `.tgz` file, its `args`, and `expected.yaml` produced once by the real
//! `helm template` v4.3.1 — see regenerate.sh) is rendered with
//! `flotilla helm template rel chart <args>` and compared byte for byte. A second test re-renders
//! every case with the real `helm` when it is on PATH and fails on drift between it and the
//! committed expectations.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixture directory exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        // `chart` is a directory, or a chart archive (.tgz) file.
        .filter(|p| p.join("chart").exists() && p.join("expected.yaml").is_file())
        .collect();
    out.sort();
    out
}

fn args(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("args"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs `<program> [prefix…] template rel chart <args>` in the case directory; stdout on success.
fn render(program: &str, prefix: &[&str], case: &Path) -> Result<String, String> {
    let out = Command::new(program)
        .args(prefix)
        .args(["template", "rel", "chart"])
        .args(args(case))
        .current_dir(case)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

fn first_difference(want: &str, got: &str) -> String {
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("line {}:\n  want: {w:?}\n  got:  {g:?}", i + 1);
        }
    }
    format!(
        "line counts differ (want {}, got {}) or trailing bytes differ",
        want.lines().count(),
        got.lines().count()
    )
}

#[test]
fn corpus_matches_helm_byte_for_byte() {
    let all = cases();
    assert!(all.len() >= 20, "corpus too small: {}", all.len());
    let mut failures = Vec::new();
    for case in &all {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let want =
            std::fs::read_to_string(case.join("expected.yaml")).expect("expected.yaml readable");
        match render(env!("CARGO_BIN_EXE_flotilla"), &["helm"], case) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!("{name}: {}", first_difference(&want, &got))),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_expectations_match_live_helm() {
    let helm_ok = Command::new("helm")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !helm_ok {
        eprintln!(
            "skipped: no `helm` on PATH (tests/tools/install-helm.sh installs the pinned v4.3.1; .ci/run puts it on PATH)"
        );
        return;
    }
    let mut drift = Vec::new();
    for case in cases() {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let want =
            std::fs::read_to_string(case.join("expected.yaml")).expect("expected.yaml readable");
        match render("helm", &[], &case) {
            Ok(got) if got == want => {}
            Ok(got) => drift.push(format!("{name}: {}", first_difference(&want, &got))),
            Err(e) => drift.push(format!("{name}: {e}")),
        }
    }
    assert!(
        drift.is_empty(),
        "live helm disagrees with committed expectations (run regenerate.sh?):\n{}",
        drift.join("\n")
    );
}

#[test]
fn errors_exit_nonzero_with_helm_substance() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm-errors");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("error fixtures exist")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected-error.txt").is_file())
        .collect();
    entries.sort();
    assert!(!entries.is_empty());
    for case in entries {
        let want = std::fs::read_to_string(case.join("expected-error.txt")).expect("readable");
        let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .args(["helm", "template", "rel", "chart"])
            .args(args(&case))
            .current_dir(&case)
            .output()
            .expect("flotilla runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", case.display());
        assert!(
            stderr.contains(want.trim()),
            "{}: want {:?} in {stderr:?}",
            case.display(),
            want.trim()
        );
    }
}
