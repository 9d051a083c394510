//! kustomize conformance: every case under tests/fixtures/kustomize/<case>/ is built with flotilla and
//! compared semantically (same documents, same order, same scalar types) with `expected.yaml`, which
//! was produced once by `kubectl kustomize` v5.5.0 (see regenerate.sh), or its error message is
//! checked against `expected-error.txt`. Cases with a `FLUX` marker run in Flux mode (fifo order)
//! and have hand-written expectations.

use flotilla::kustomize::{self, BuildOptions, SortOrder, yaml};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Cases whose feature is not implemented yet (reported, never counted as passing).
const PENDING: &[&str] = &[];

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kustomize");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixture directory exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input").is_dir())
        .collect();
    out.sort();
    out
}

fn run_case(case: &Path) -> Result<(), String> {
    let input = case.join("input");
    let flux = case.join("FLUX").exists();
    let opts = BuildOptions {
        order: if flux {
            SortOrder::Fifo
        } else {
            SortOrder::Legacy
        },
        flux,
        boundary: Some(input.clone()),
        source_filter: None,
    };
    let result = kustomize::build(&input, &opts);
    let expected_error = case.join("expected-error.txt");
    if expected_error.exists() {
        let want = std::fs::read_to_string(&expected_error).map_err(|e| e.to_string())?;
        let want = want.lines().next().unwrap_or("").trim().to_string();
        return match result {
            Ok(objs) => Err(format!(
                "expected an error containing {want:?}, built {} objects",
                objs.len()
            )),
            Err(e) if e.to_string().to_lowercase().contains(&want.to_lowercase()) => Ok(()),
            Err(e) => Err(format!(
                "error {:?} does not contain {want:?}",
                e.to_string()
            )),
        };
    }
    let got = result.map_err(|e| format!("build failed: {e}"))?;
    let text = std::fs::read_to_string(case.join("expected.yaml"))
        .map_err(|e| format!("expected.yaml: {e}"))?;
    let want =
        yaml::parse_documents(&text).map_err(|e| format!("expected.yaml unreadable: {e:?}"))?;
    compare(&got, &want)?;
    // The serializer must round-trip through our own reader.
    let again = yaml::parse_documents(&kustomize::to_yaml_stream(&got))
        .map_err(|e| format!("own output unreadable: {e:?}"))?;
    if again != got {
        return Err("own YAML output does not read back to the same values".into());
    }
    Ok(())
}

fn id(v: &Value) -> String {
    format!(
        "{}/{} {}/{}",
        v["apiVersion"].as_str().unwrap_or(""),
        v["kind"].as_str().unwrap_or(""),
        v["metadata"]["namespace"].as_str().unwrap_or(""),
        v["metadata"]["name"].as_str().unwrap_or("")
    )
}

fn compare(got: &[Value], want: &[Value]) -> Result<(), String> {
    let got_ids: Vec<String> = got.iter().map(id).collect();
    let want_ids: Vec<String> = want.iter().map(id).collect();
    if got_ids != want_ids {
        return Err(format!(
            "objects differ:\n  got:  {got_ids:?}\n  want: {want_ids:?}"
        ));
    }
    for (g, w) in got.iter().zip(want) {
        if g != w {
            return Err(format!(
                "{} differs:\n  got:  {}\n  want: {}",
                id(w),
                serde_json::to_string(g).unwrap_or_default(),
                serde_json::to_string(w).unwrap_or_default()
            ));
        }
    }
    Ok(())
}

#[test]
fn kustomize_conformance_corpus() {
    let mut failures = Vec::new();
    let mut passed = 0;
    let mut pending_passing = Vec::new();
    let all = cases();
    assert!(all.len() >= 50, "corpus has only {} cases", all.len());
    for case in &all {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let pending = PENDING.contains(&name.as_str());
        match run_case(case) {
            Ok(()) if pending => pending_passing.push(name),
            Ok(()) => passed += 1,
            Err(_) if pending => {}
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    eprintln!("{passed} cases passed, {} pending", PENDING.len());
    assert!(
        pending_passing.is_empty(),
        "pending cases now pass, remove them from PENDING: {pending_passing:?}"
    );
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
