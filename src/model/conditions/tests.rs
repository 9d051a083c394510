use super::*;
use serde_json::json;

fn at(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn ks_status() -> Value {
    json!({
        "observedGeneration": 3,
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "BuildFailed",
             "message": "kustomize build failed: accumulating resources",
             "lastTransitionTime": "2026-08-01T10:00:00Z", "observedGeneration": 4},
            {"type": "Reconciling", "status": "True", "reason": "ProgressingWithRetry",
             "message": "Detecting drift", "lastTransitionTime": "2026-08-01T09:59:00Z",
             "observedGeneration": 4}
        ]
    })
}

#[test]
fn reads_typed_conditions_from_status() {
    let obj = json!({"status": ks_status()});
    let all = conditions(&obj);
    assert_eq!(all.len(), 2);
    let r = ready(&obj).expect("ready");
    assert_eq!(r.status, ConditionStatus::False);
    assert_eq!(r.reason, "BuildFailed");
    assert_eq!(r.observed_generation, Some(4));
    assert_eq!(r.last_transition_unix(), Some(1_785_578_400));
    assert!(reconciling(&obj).is_some_and(|c| c.is_true()));
    assert!(stalled(&obj).is_none());
    assert!(is_true(&obj, RECONCILING));
    assert!(!is_true(&obj, READY));
    assert_eq!(
        find(&all, READY).map(|c| c.reason.as_str()),
        Some("BuildFailed")
    );
}

#[test]
fn garbage_conditions_are_skipped_not_fatal() {
    for obj in [
        json!(null),
        json!("status"),
        json!({"status": 5}),
        json!({"status": {"conditions": "Ready"}}),
        json!({"status": {"conditions": [1, null, "x", {"status": "True"}, {"type": 7}]}}),
    ] {
        assert!(conditions(&obj).is_empty(), "{obj}");
        assert!(ready(&obj).is_none());
    }
    let odd = json!({"status": {"conditions": [
        {"type": "Ready", "status": "yes", "reason": 3, "message": ["m"],
         "lastTransitionTime": "yesterday", "observedGeneration": "2"}
    ]}});
    let r = ready(&odd).expect("type is enough");
    assert_eq!(r.status, ConditionStatus::Unknown);
    assert_eq!(r.reason, "");
    assert_eq!(r.message, "");
    assert_eq!(r.observed_generation, None);
    assert_eq!(r.last_transition_unix(), None);
}

#[test]
fn round_trips_through_json() {
    let obj = json!({"status": ks_status()});
    for c in conditions(&obj) {
        assert_eq!(Condition::from_value(&c.to_value()), Some(c));
    }
}

#[test]
fn set_adds_condition_with_time_and_generation() {
    let mut status = json!({});
    let c = Condition::new(READY, ConditionStatus::True, "Succeeded", "stored artifact");
    set_condition(&mut status, &c, 2, at("2026-08-01T10:00:00.75Z"));
    assert_eq!(
        status["conditions"],
        json!([{"type": "Ready", "status": "True", "observedGeneration": 2,
                "lastTransitionTime": "2026-08-01T10:00:00Z", "reason": "Succeeded",
                "message": "stored artifact"}])
    );
}

#[test]
fn transition_time_kept_when_unchanged_and_moved_on_change() {
    let mut status = ks_status();
    // Same status, reason and message: only observedGeneration moves.
    let same = Condition::new(
        READY,
        ConditionStatus::False,
        "BuildFailed",
        "kustomize build failed: accumulating resources",
    );
    set_condition(&mut status, &same, 5, at("2026-08-01T11:00:00Z"));
    let r = ready(&json!({"status": status.clone()})).expect("ready");
    assert_eq!(r.last_transition_time, "2026-08-01T10:00:00Z");
    assert_eq!(r.observed_generation, Some(5));

    // Status flips: the time moves.
    let ok = Condition::new(
        READY,
        ConditionStatus::True,
        "ReconciliationSucceeded",
        "Applied revision: main@sha1:abc",
    );
    set_condition(&mut status, &ok, 5, at("2026-08-01T12:00:00Z"));
    let r = ready(&json!({"status": status.clone()})).expect("ready");
    assert_eq!(r.last_transition_time, "2026-08-01T12:00:00Z");

    // Message change alone also counts as a transition (Flux's setter compares reason and message).
    let msg = Condition::new(
        READY,
        ConditionStatus::True,
        "ReconciliationSucceeded",
        "Applied revision: main@sha1:def",
    );
    set_condition(&mut status, &msg, 6, at("2026-08-01T13:00:00Z"));
    let r = ready(&json!({"status": status})).expect("ready");
    assert_eq!(r.last_transition_time, "2026-08-01T13:00:00Z");
}

#[test]
fn list_is_sorted_in_flux_order() {
    let mut status = json!({"conditions": []});
    let now = at("2026-08-01T10:00:00Z");
    for t in ["Healthy", "ArtifactInStorage", READY, RECONCILING, STALLED] {
        set_condition(
            &mut status,
            &Condition::new(t, ConditionStatus::True, "R", "m"),
            1,
            now,
        );
    }
    let types: Vec<_> = status["conditions"]
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["type"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        types,
        [
            "Stalled",
            "Reconciling",
            "Ready",
            "ArtifactInStorage",
            "Healthy"
        ]
    );
}

#[test]
fn reconciling_and_stalled_exclude_each_other() {
    let now = at("2026-08-01T10:00:00Z");
    let mut status = json!({});
    mark_stalled(&mut status, "InvalidCELExpression", "bad expr", 1, now);
    assert!(is_true(&json!({"status": status.clone()}), STALLED));
    mark_reconciling(
        &mut status,
        "Progressing",
        "reconciliation in progress",
        2,
        now,
    );
    let obj = json!({"status": status.clone()});
    assert!(stalled(&obj).is_none());
    assert!(is_true(&obj, RECONCILING));
    mark_stalled(&mut status, "AccessDenied", "cross-namespace", 2, now);
    let obj = json!({"status": status.clone()});
    assert!(reconciling(&obj).is_none());
    assert!(is_true(&obj, STALLED));
    remove_condition(&mut status, STALLED);
    assert!(conditions(&json!({"status": status})).is_empty());
}

#[test]
fn set_replaces_non_object_status_and_garbage_entries() {
    let now = at("2026-08-01T10:00:00Z");
    for mut status in [
        json!(null),
        json!("x"),
        json!({"conditions": "no"}),
        json!({"conditions": [1, {"x": 1}]}),
    ] {
        set_condition(
            &mut status,
            &Condition::new(READY, ConditionStatus::Unknown, "Progressing", "go"),
            1,
            now,
        );
        assert_eq!(
            status["conditions"].as_array().map(Vec::len),
            Some(1),
            "{status}"
        );
    }
}

#[test]
fn long_messages_are_capped_on_a_char_boundary() {
    let long = "é".repeat(MAX_MESSAGE_BYTES);
    let capped = cap_message(&long);
    assert!(capped.len() <= MAX_MESSAGE_BYTES);
    assert!(capped.ends_with("..."));
    assert_eq!(cap_message("short"), "short");
    let mut status = json!({});
    let c = Condition::new(READY, ConditionStatus::False, "Failed", &long);
    set_condition(&mut status, &c, 1, at("2026-08-01T10:00:00Z"));
    assert!(
        status["conditions"][0]["message"]
            .as_str()
            .is_some_and(|m| m.len() <= MAX_MESSAGE_BYTES)
    );
}

#[test]
fn time_parsing_is_tolerant() {
    assert_eq!(parse_time("1970-01-01T00:01:00Z"), Some(60));
    assert_eq!(
        parse_time("2026-08-01T10:00:00.123456789Z"),
        Some(1_785_578_400)
    );
    assert_eq!(parse_time("2026-08-01 10:00:00.1234 +0000 UTC"), None);
    assert_eq!(parse_time(""), None);
    assert_eq!(
        format_time(at("2026-08-01T10:00:00.9Z")),
        "2026-08-01T10:00:00Z"
    );
}
