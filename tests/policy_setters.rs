//! Setter-marker rewrites on tricky YAML: only marked scalars change, every other byte stays.

use std::path::Path;

use flotilla::controllers::image::setters::{
    IgnoreReason, LatestRef, PolicyRefs, SetterError, SetterField, apply_setters_to_dir,
    find_markers, parse_setter, rewrite_text,
};

const DIGEST: &str = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be";

fn refs() -> PolicyRefs {
    let mut refs = PolicyRefs::new();
    refs.insert(
        "automation-ns:policy".into(),
        LatestRef {
            name: "index.repo.fake/updated".into(),
            tag: "v1.0.1".into(),
            digest: String::new(),
        },
    );
    refs.insert(
        "automation-ns:policy-with-digest".into(),
        LatestRef {
            name: "image".into(),
            tag: "v1.0.0".into(),
            digest: DIGEST.into(),
        },
    );
    refs.insert(
        "automation-ns:numeric".into(),
        LatestRef {
            name: "n".into(),
            tag: "2.0".into(),
            digest: String::new(),
        },
    );
    refs
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/policy")
            .join(name),
    )
    .unwrap()
}

#[test]
fn flux_kustomization_fixture() {
    let out = rewrite_text(&fixture("kustomization.yml"), &refs()).unwrap();
    assert_eq!(out.text, fixture("kustomization.expected.yml"));
    let setters: Vec<_> = out.changes.iter().map(|c| c.setter.as_str()).collect();
    assert_eq!(
        setters,
        [
            "automation-ns:policy:name",
            "automation-ns:policy:tag",
            "automation-ns:policy-with-digest:digest",
            "automation-ns:policy-with-digest",
        ]
    );
    assert_eq!(out.changes[1].old_value, "v1");
    assert_eq!(out.changes[1].new_value, "v1.0.1");
    assert_eq!(out.changes[1].line, 9);
    assert_eq!(out.changes[0].object.kind, "Kustomization");
    assert_eq!(
        out.changes[0].object.api_version,
        "kustomize.config.k8s.io/v1beta1"
    );
}

#[test]
fn flux_marked_example_and_other_namespace() {
    let text = "spec:\n  containers:\n  - name: c\n    image: image:v1.0.0 # {\"$imagepolicy\": \"automation-ns:policy\"}\n  - name: d\n    image: user:v1.0.0 # {\"$imagepolicy\": \"other-namespace:policy\"}\n";
    let out = rewrite_text(text, &refs()).unwrap();
    assert_eq!(
        out.text,
        text.replacen(
            "image: image:v1.0.0",
            "image: index.repo.fake/updated:v1.0.1",
            1
        )
    );
    assert_eq!(out.ignored.len(), 1);
    assert_eq!(out.ignored[0].reason, IgnoreReason::UnknownPolicy);
    assert_eq!(out.ignored[0].setter, "other-namespace:policy");
    assert_eq!(out.ignored[0].line, 6);
}

#[test]
fn tricky_yaml_changes_only_marked_values() {
    let original = fixture("tricky.yaml");
    let out = rewrite_text(&original, &refs()).unwrap();
    let new = "index.repo.fake/updated:v1.0.1";
    let expected = original
        .replacen(
            r#"image: "image:v1.0.0"    #"#,
            &format!(r#"image: "{new}"    #"#),
            1,
        )
        .replacen(
            "image: 'image:v1.0.0' #{",
            &format!("image: '{new}' #{{"),
            1,
        )
        .replacen(
            "image: &img image:v1.0.0 #",
            &format!("image: &img {new} #"),
            1,
        )
        .replacen("        image:v1.0.0, #", &format!("        {new}, #"), 1)
        .replacen("tag: 1 #", "tag: \"2.0\" #", 1)
        .replacen("name: 'it''s' #", "name: 'index.repo.fake/updated' #", 1);
    assert_eq!(out.text, expected);
    assert_eq!(out.changes.len(), 6, "{:#?}", out.changes);
    assert!(
        out.changes
            .iter()
            .all(|c| c.object.name == "web" || c.object.name == "cfg")
    );
    let cfg = out
        .changes
        .iter()
        .find(|c| c.object.kind == "ConfigMap")
        .unwrap();
    assert_eq!(cfg.old_value, "it's");
    assert_eq!(cfg.object.namespace, "apps");
    let web = &out.changes[0];
    assert_eq!(
        (
            web.object.kind.as_str(),
            web.object.namespace.as_str(),
            web.object.api_version.as_str()
        ),
        ("Deployment", "apps", "apps/v1")
    );
    let reasons: Vec<_> = out
        .ignored
        .iter()
        .map(|m| (m.setter.as_str(), m.reason.clone()))
        .collect();
    assert!(reasons.contains(&("automation-ns:ghost:tag", IgnoreReason::UnknownPolicy)));
    assert!(reasons.contains(&("other-namespace:policy:tag", IgnoreReason::UnknownPolicy)));
    // Flow mapping, comment-only line and `key:` without a value are not scalar values.
    let not_scalar = reasons
        .iter()
        .filter(|(_, r)| *r == IgnoreReason::NotOnScalarValue)
        .count();
    assert_eq!(not_scalar, 3, "{reasons:#?}");
    // The block scalar's body is text, not a marker.
    assert!(!find_markers(&original).iter().any(|(line, _)| *line == 26));
}

#[test]
fn crlf_and_trailing_bytes_are_kept() {
    let original = fixture("crlf.yaml");
    let out = rewrite_text(&original, &refs()).unwrap();
    assert_eq!(
        out.text,
        original.replace(
            "image: image:v1.0.0 #",
            "image: index.repo.fake/updated:v1.0.1 #"
        )
    );
    assert_eq!(
        out.text.matches("\r\n").count(),
        original.matches("\r\n").count()
    );
}

#[test]
fn unchanged_values_are_not_reported() {
    let text =
        "image: index.repo.fake/updated:v1.0.1 # {\"$imagepolicy\": \"automation-ns:policy\"}\n";
    let out = rewrite_text(text, &refs()).unwrap();
    assert!(out.changes.is_empty());
    assert_eq!(out.text, text);
}

#[test]
fn digest_and_values_needing_quotes() {
    let mut refs = refs();
    refs.insert(
        "ns:odd".into(),
        LatestRef {
            name: "reg.example/x".into(),
            tag: "yes".into(),
            digest: String::new(),
        },
    );
    let text = "a: old # {\"$imagepolicy\": \"ns:odd:tag\"}\nb: sha256:aa # {\"$imagepolicy\": \"ns:odd:digest\"}\nc: x # {\"$imagepolicy\": \"ns:odd:name\"}\n";
    let out = rewrite_text(text, &refs).unwrap();
    assert_eq!(
        out.text,
        "a: \"yes\" # {\"$imagepolicy\": \"ns:odd:tag\"}\nb: \"\" # {\"$imagepolicy\": \"ns:odd:digest\"}\nc: reg.example/x # {\"$imagepolicy\": \"ns:odd:name\"}\n"
    );
}

#[test]
fn non_yaml_text_is_refused_not_corrupted() {
    let err = rewrite_text(&fixture("notyaml.yaml"), &refs()).unwrap_err();
    assert!(matches!(err, SetterError::Unparsable(_)), "{err}");
    // Plain text with a marker that happens to be YAML-shaped is fine; prose around is kept.
    let readme = fixture("readme.txt");
    let out = rewrite_text(&readme, &refs()).unwrap();
    assert_eq!(
        out.text,
        readme.replace("image:v1.0.0", "index.repo.fake/updated:v1.0.1")
    );
}

#[test]
fn malformed_markers_and_setters() {
    assert_eq!(parse_setter("ns:p"), Some(("ns:p", SetterField::Image)));
    assert_eq!(parse_setter("ns:p:tag"), Some(("ns:p", SetterField::Tag)));
    assert_eq!(
        parse_setter("ns:p:digest"),
        Some(("ns:p", SetterField::Digest))
    );
    assert_eq!(parse_setter("ns:p:bogus"), None);
    assert_eq!(parse_setter("nocolon"), None);
    assert_eq!(parse_setter(":p"), None);
    let text = "a: 1 # {\"$imagepolicy\": \"automation-ns:policy:bogus\"}\nb: 2 # {\"$imagepolicy\": 5}\nc: 3 # {$imagepolicy: broken\n";
    let out = rewrite_text(text, &refs()).unwrap();
    assert_eq!(out.text, text);
    assert_eq!(out.ignored.len(), 1);
    assert_eq!(out.ignored[0].reason, IgnoreReason::MalformedSetter);
}

#[test]
fn hostile_text_never_panics() {
    let long_line = format!(
        "k: {} # {{\"$imagepolicy\": \"automation-ns:policy\"}}\n",
        "x".repeat(100_000)
    );
    let deep = format!(
        "{}v # {{\"$imagepolicy\": \"automation-ns:policy\"}}\n",
        "[".repeat(5000)
    );
    let inputs = [
        String::new(),
        "\"unterminated # {\"$imagepolicy\": \"automation-ns:policy\"}\n".to_string(),
        "'a\n  b' # {\"$imagepolicy\": \"automation-ns:policy\"}\n".to_string(),
        "k: é # {\"$imagepolicy\": \"automation-ns:policy\"}\n".to_string(),
        "- - - x # {\"$imagepolicy\": \"automation-ns:policy\"}\n".to_string(),
        "k: \"a\\\" # {\\\"$imagepolicy\\\": 1}\" # {\"$imagepolicy\": \"automation-ns:policy\"}\n"
            .to_string(),
        "]]]}}} # {\"$imagepolicy\": \"automation-ns:policy\"}\n".to_string(),
        "k: |\n# {\"$imagepolicy\": \"automation-ns:policy\"}\n".to_string(),
        "\r\r\r# {\"$imagepolicy\": \"a:b\"}".to_string(),
        long_line,
        deep,
    ];
    for input in &inputs {
        if let Ok(out) = rewrite_text(input, &refs()) {
            // Whatever changed must be exactly marked values: lengths differ only by value edits.
            if out.changes.is_empty() {
                assert_eq!(&out.text, input);
            }
        }
    }
    // The escaped-quote case: the marker-looking text inside the string is not a marker.
    let out = rewrite_text(&inputs[5], &refs()).unwrap();
    assert_eq!(out.changes.len(), 1);
    assert!(
        out.text
            .starts_with("k: \"index.repo.fake/updated:v1.0.1\" #"),
        "{}",
        out.text
    );
}

#[test]
fn directory_walk_rewrites_atomically_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("apps/sub")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    let copy = |name: &str, to: &str| std::fs::write(root.join(to), fixture(name)).unwrap();
    copy("kustomization.yml", "apps/kustomization.yml");
    copy("kustomization.yml", "apps/sub/Kustomization");
    copy("kustomization.yml", ".git/ignored.yaml");
    copy("crlf.yaml", "apps/pod.yaml");
    copy("notyaml.yaml", "apps/chart.yaml");
    copy("readme.txt", "apps/readme.txt");
    std::fs::write(root.join("apps/plain.yaml"), "a: b\n").unwrap();
    std::fs::write(
        root.join("apps/current.yaml"),
        "image: index.repo.fake/updated:v1.0.1 # {\"$imagepolicy\": \"automation-ns:policy\"}\n",
    )
    .unwrap();
    let before_current = std::fs::metadata(root.join("apps/current.yaml"))
        .unwrap()
        .modified()
        .unwrap();

    let run = apply_setters_to_dir(root, &refs()).unwrap();
    assert_eq!(
        run.changed_files(),
        [
            "apps/kustomization.yml",
            "apps/pod.yaml",
            "apps/sub/Kustomization"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(root.join("apps/sub/Kustomization")).unwrap(),
        fixture("kustomization.expected.yml")
    );
    assert_eq!(
        std::fs::read_to_string(root.join(".git/ignored.yaml")).unwrap(),
        fixture("kustomization.yml")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("apps/chart.yaml")).unwrap(),
        fixture("notyaml.yaml")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("apps/readme.txt")).unwrap(),
        fixture("readme.txt")
    );
    assert_eq!(run.problems.len(), 1);
    assert_eq!(run.problems[0].path, "apps/chart.yaml");
    assert_eq!(
        std::fs::metadata(root.join("apps/current.yaml"))
            .unwrap()
            .modified()
            .unwrap(),
        before_current
    );
    let by_file = run.file_changes();
    let kustomization = &by_file["apps/kustomization.yml"];
    assert_eq!(kustomization.len(), 1);
    assert_eq!(kustomization.values().next().unwrap().len(), 4);
    // No temp files left behind.
    let leftovers: Vec<_> = walk(root)
        .into_iter()
        .filter(|p| p.contains(".flotilla-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A second run finds nothing to change.
    let again = apply_setters_to_dir(root, &refs()).unwrap();
    assert!(again.changed_files().is_empty());
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn missing_root_is_an_io_error() {
    let err =
        apply_setters_to_dir(Path::new("/nonexistent/flotilla-setters"), &refs()).unwrap_err();
    assert!(matches!(err, SetterError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/flotilla-setters"));
}
