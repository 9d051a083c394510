use super::*;
use crate::controllers::image::policy::{CompiledPolicy, FilterTags, PolicyChoice, PolicySpec};

fn explain(tags: &[&str]) -> Explanation {
    let spec = PolicySpec {
        choice: PolicyChoice::SemVer {
            range: ">=1.0.0 <2.0.0".to_string(),
        },
        filter: Some(FilterTags {
            pattern: "^[0-9v]".to_string(),
            extract: String::new(),
        }),
    };
    CompiledPolicy::compile(&spec)
        .expect("valid policy")
        .explain(tags)
}

const TAGS: &[&str] = &["latest", "v1.x", "2.0.0", "1.1.0", "1.0.1", "1.0.0"];

fn sample() -> ImageDecisions {
    let explanation = explain(TAGS);
    let (rows, omitted) = tag_rows(&explanation, Some("1.0.1"), false);
    let latest = ImageRef {
        name: "reg.local/team/web".into(),
        tag: "1.1.0".into(),
        digest: String::new(),
    };
    ImageDecisions {
        policy: "apps/web".into(),
        target: "ImagePolicy apps/web (context prod)".into(),
        notice: None,
        sections: vec![PolicyDecisions {
            context: "prod".into(),
            namespace: "apps".into(),
            name: "web".into(),
            rule: Some(explanation.policy.clone()),
            filter: Some("pattern '^[0-9v]'".into()),
            ready: Some(ConditionSummary {
                status: "True".into(),
                reason: "Succeeded".into(),
                message: "Latest image tag for reg.local/team/web resolved to 1.1.0".into(),
            }),
            latest: Some(latest),
            previous: Some(ImageRef {
                name: "reg.local/team/web".into(),
                tag: "1.0.1".into(),
                digest: String::new(),
            }),
            error: None,
            repository: RepositoryScan {
                namespace: "apps".into(),
                name: "web".into(),
                image: Some("reg.local/team/web".into()),
                canonical: Some("reg.local/team/web".into()),
                tag_count: Some(6),
                scan_time: Some("2025-01-02T03:04:05Z".into()),
                ready: None,
                error: None,
            },
            tags: TagDecisions {
                source: Some("registry reg.local/team/web".into()),
                listed_at: Some("2025-01-02T03:05:00Z".into()),
                error: None,
                total: TAGS.len(),
                chosen: explanation.chosen.clone(),
                policy_error: None,
                rows,
                omitted,
            },
            automations: vec![AutomationDecisions {
                namespace: "apps".into(),
                name: "auto".into(),
                source: "GitRepository apps/fleet".into(),
                update_path: "deploy".into(),
                last_push_commit: Some("abc123".into()),
                last_push_time: Some("2025-01-02T03:06:00Z".into()),
                last_run_time: None,
                ready: None,
                content: Some("artifact main@sha1:abc123".into()),
                content_error: None,
                markers: vec![
                    MarkerRef {
                        file: "deploy/web.yaml".into(),
                        line: 17,
                        setter: "apps:web".into(),
                        value: Some("reg.local/team/web:1.1.0".into()),
                        expected: Some("reg.local/team/web:1.1.0".into()),
                    },
                    MarkerRef {
                        file: "deploy/web.yaml".into(),
                        line: 30,
                        setter: "apps:web:tag".into(),
                        value: Some("1.0.1".into()),
                        expected: Some("1.1.0".into()),
                    },
                ],
            }],
            automations_error: None,
            running: vec![
                RunningImage {
                    context: "prod".into(),
                    kind: "Deployment".into(),
                    namespace: "apps".into(),
                    name: "web".into(),
                    container: "web".into(),
                    image: "reg.local/team/web:1.1.0".into(),
                    current: true,
                },
                RunningImage {
                    context: "staging".into(),
                    kind: "Deployment".into(),
                    namespace: "apps".into(),
                    name: "web".into(),
                    container: "web".into(),
                    image: "reg.local/team/web:1.0.1".into(),
                    current: false,
                },
            ],
            running_errors: vec![ContextError {
                context: "dev".into(),
                message: "connection refused".into(),
            }],
        }],
    }
}

fn line_with<'a>(lines: &'a [(Meaning, String)], needle: &str) -> &'a (Meaning, String) {
    lines
        .iter()
        .find(|(_, l)| l.contains(needle))
        .unwrap_or_else(|| panic!("no line contains {needle:?} in {lines:#?}"))
}

#[test]
fn every_fate_is_rendered_with_its_meaning() {
    let lines = render_lines(&sample());
    let chosen = line_with(&lines, "1.1.0   chosen");
    assert_eq!(chosen.0, Meaning::Confirmed);
    assert_eq!(line_with(&lines, "latest  filtered out").0, Meaning::Minor);
    assert_eq!(line_with(&lines, "v1.x    not a version").0, Meaning::Minor);
    assert_eq!(line_with(&lines, "2.0.0   out of range").0, Meaning::Minor);
    assert_eq!(
        line_with(&lines, "1.0.1   candidate, previous").0,
        Meaning::Plain
    );
    assert_eq!(line_with(&lines, "1.0.0   candidate").0, Meaning::Plain);
    assert_eq!(line_with(&lines, "  chosen: 1.1.0").0, Meaning::Confirmed);
    assert!(
        !lines.iter().any(|(_, l)| l.contains("not listed")),
        "short lists are shown whole"
    );
}

#[test]
fn markers_say_whether_they_match_the_latest_ref() {
    let lines = render_lines(&sample());
    let ok = line_with(
        &lines,
        "deploy/web.yaml:17  apps:web  reg.local/team/web:1.1.0  = latest",
    );
    assert_eq!(ok.0, Meaning::Confirmed);
    let stale = line_with(
        &lines,
        "deploy/web.yaml:30  apps:web:tag  1.0.1  ≠ latest 1.1.0",
    );
    assert_eq!(stale.0, Meaning::Problem);
    assert_eq!(
        line_with(&lines, "last push: abc123 at 2025-01-02T03:06:00Z").0,
        Meaning::Plain
    );
}

#[test]
fn running_images_are_good_only_on_the_latest_tag_and_context_errors_show() {
    let lines = render_lines(&sample());
    assert_eq!(
        line_with(&lines, "prod  Deployment apps/web").0,
        Meaning::Confirmed
    );
    let stale = line_with(&lines, "staging  Deployment apps/web");
    assert_eq!(stale.0, Meaning::Problem);
    assert!(stale.1.ends_with("(not 1.1.0)"), "{}", stale.1);
    assert_eq!(
        line_with(&lines, "dev  error: connection refused").0,
        Meaning::Problem
    );
}

#[test]
fn long_lists_keep_chosen_candidates_and_previous_and_count_the_rest() {
    let mut tags: Vec<String> = (0..40).map(|i| format!("feature-{i:02}")).collect();
    tags.extend(["3.0.0", "1.2.0", "1.1.0", "1.0.0", "0.9.0"].map(String::from));
    let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
    let explanation = explain(&refs);
    let (rows, omitted) = tag_rows(&explanation, Some("0.9.0"), false);
    let shown: Vec<&str> = rows.iter().map(|r| r.tag.as_str()).collect();
    assert_eq!(shown, ["1.2.0", "1.1.0", "1.0.0", "0.9.0"]);
    assert!(rows[3].previous);
    assert_eq!(
        omitted,
        vec![
            FateCount {
                fate: TagFate::FilteredOut,
                count: 40
            },
            FateCount {
                fate: TagFate::OutOfRange,
                count: 1
            },
        ]
    );
    let mut d = sample();
    d.sections[0].tags.rows = rows;
    d.sections[0].tags.omitted = omitted;
    let lines = render_lines(&d);
    assert_eq!(
        line_with(&lines, "not listed").1,
        "  … and 40 filtered out, 1 out of range not listed (--all lists them)"
    );
    let (all, none_left) = tag_rows(&explanation, None, true);
    assert_eq!(all.len(), tags.len());
    assert!(none_left.is_empty());
}

#[test]
fn errors_are_named_and_the_rest_still_renders() {
    let mut d = sample();
    let s = &mut d.sections[0];
    s.repository.error = Some("ImageRepository apps/web not found in context prod".into());
    s.repository.tag_count = None;
    s.repository.scan_time = None;
    s.tags = TagDecisions {
        source: Some("registry reg.local/team/web".into()),
        error: Some("cannot reach reg.local: connection refused".into()),
        ..TagDecisions::default()
    };
    s.automations[0].content = None;
    s.automations[0].content_error = Some("GET http://x/a.tar.gz: 404 Not Found".into());
    s.automations[0].markers.clear();
    s.latest = None;
    let text = render_text(&d);
    for needle in [
        "  error: ImageRepository apps/web not found in context prod",
        "  cannot list tags: cannot reach reg.local: connection refused",
        "    cannot read the Git content: GET http://x/a.tar.gz: 404 Not Found",
        "  latest: none resolved yet",
        "staging  Deployment apps/web",
        "(no decision yet)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains("tags seen by the policy"), "{text}");
}

#[test]
fn previous_tag_gone_from_the_registry_is_said() {
    let mut d = sample();
    for row in &mut d.sections[0].tags.rows {
        row.previous = false;
    }
    let text = render_text(&d);
    assert!(
        text.contains("previous tag 1.0.1 is not in the registry any more"),
        "{text}"
    );
}

#[test]
fn notice_and_no_sections() {
    let d = ImageDecisions {
        policy: String::new(),
        target: "ImageRepository apps/web (context prod)".into(),
        notice: Some("no ImagePolicy references ImageRepository apps/web".into()),
        sections: Vec::new(),
    };
    let lines = render_lines(&d);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].0, Meaning::Problem);
}

#[test]
fn json_uses_camel_case_and_fate_names() {
    let json = serde_json::to_value(sample()).expect("serialize");
    let tags = &json["sections"][0]["tags"];
    assert_eq!(tags["listedAt"], "2025-01-02T03:05:00Z");
    assert_eq!(tags["rows"][3]["fate"], "Chosen");
    assert_eq!(json["sections"][0]["runningErrors"][0]["context"], "dev");
}

#[test]
fn ready_condition_is_read_from_any_json_shape() {
    let obj = serde_json::json!({"status": {"conditions": [
        {"type": "Reconciling", "status": "True"},
        {"type": "Ready", "status": "False", "reason": "Failure", "message": "boom"}]}});
    let c = ConditionSummary::ready_of(&obj).expect("ready");
    assert_eq!((c.status.as_str(), c.message.as_str()), ("False", "boom"));
    for bad in [
        serde_json::json!(null),
        serde_json::json!({"status": {"conditions": 3}}),
        serde_json::json!({"status": {"conditions": [1, "x", {"type": 7}]}}),
    ] {
        assert_eq!(ConditionSummary::ready_of(&bad), None);
    }
    let odd = serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": 1}]}});
    assert_eq!(
        ConditionSummary::ready_of(&odd).map(|c| c.status),
        Some(String::new())
    );
}
