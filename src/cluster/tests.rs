use super::*;
use serde_json::{Value, json};

fn ks(name: &str, ready: &str, suspend: bool) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system", "generation": 1},
        "spec": {"suspend": suspend},
        "status": {"observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": ready, "reason": "R", "message": "m",
             "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]}
    })
}

fn row(context: &str, obj: &Value) -> Row {
    Row::from_object(context, obj).unwrap()
}

#[test]
fn resync_replaces_only_its_context_and_kind() {
    let mut s = Store::default();
    s.apply(Update::Upsert(Box::new(row(
        "a",
        &ks("one", "True", false),
    ))));
    s.apply(Update::Upsert(Box::new(row(
        "b",
        &ks("one", "True", false),
    ))));
    s.apply(Update::Resync {
        context: "a".into(),
        kind: "Kustomization",
        rows: vec![row("a", &ks("two", "True", false))],
    });
    let names: Vec<(String, String)> = s
        .rows()
        .map(|r| (r.context.clone(), r.name.clone()))
        .collect();
    assert_eq!(
        names,
        vec![("a".into(), "two".into()), ("b".into(), "one".into())]
    );
    s.apply(Update::Remove(row("b", &ks("one", "True", false)).key()));
    assert_eq!(s.len(), 1);
    s.remove_context("a");
    assert!(s.is_empty());
}

#[test]
fn counts_per_context_partition_rows() {
    let mut s = Store::default();
    for (ctx, name, ready, suspend) in [
        ("a", "r1", "True", false),
        ("a", "r2", "True", false),
        ("a", "f", "False", false),
        ("a", "s", "True", true),
        ("b", "u", "Unknown", false),
        ("b", "f", "False", true),
    ] {
        s.apply(Update::Upsert(Box::new(row(
            ctx,
            &ks(name, ready, suspend),
        ))));
    }
    let a = s.counts_in("a");
    assert_eq!(
        a,
        HealthCounts {
            total: 4,
            ready: 2,
            failing: 1,
            suspended: 1,
            progressing: 0,
            unknown: 0
        }
    );
    let b = s.counts_in("b");
    assert_eq!(b.total, 2);
    assert_eq!(b.suspended, 1);
    assert_eq!(b.ready + b.failing, 0);
    assert_eq!(b.progressing + b.unknown, 1);
    let by = s.counts_by_context();
    assert_eq!(by.len(), 2);
    assert_eq!(by["a"], a);
    let all = s.counts();
    assert_eq!(all.total, 6);
    assert_eq!(
        all.ready + all.failing + all.suspended + all.progressing + all.unknown,
        6
    );
    assert_eq!(s.counts_in("nope"), HealthCounts::default());
    assert_eq!(s.rows_in("b").count(), 2);
    assert_eq!(s.rows_of_kind("Kustomization").count(), 6);
    assert_eq!(s.rows_of_kind("GitRepository").count(), 0);
}

#[test]
fn context_state_labels() {
    assert_eq!(ContextState::Live.label(), "live");
    assert!(ContextState::Live.is_live());
    let stale = ContextState::Stale {
        since: 1,
        message: "x".into(),
    };
    assert_eq!(stale.label(), "stale");
    assert!(!stale.is_live());
}

#[test]
fn slots_are_reused_and_generation_moves_on_row_changes_only() {
    let mut s = Store::default();
    let g0 = s.generation();
    s.apply(Update::Upsert(Box::new(row(
        "a",
        &ks("one", "True", false),
    ))));
    s.apply(Update::Upsert(Box::new(row(
        "a",
        &ks("two", "True", false),
    ))));
    assert!(s.generation() > g0);
    let ids: Vec<usize> = s.ids().collect();
    assert_eq!(ids.len(), 2);
    let g1 = s.generation();
    s.apply(Update::Context {
        context: "a".into(),
        state: ContextState::Live,
    });
    assert_eq!(s.generation(), g1, "a state change is not a row change");
    // Replacing keeps the id; removing frees it for the next new row.
    s.apply(Update::Upsert(Box::new(row(
        "a",
        &ks("one", "False", false),
    ))));
    assert_eq!(s.ids().collect::<Vec<_>>(), ids);
    let one = row("a", &ks("one", "True", false)).key();
    let freed = ids[0];
    assert_eq!(s.row_at(freed).map(|r| r.name.as_str()), Some("one"));
    s.apply(Update::Remove(one.clone()));
    assert_eq!(s.row_at(freed), None);
    assert_eq!(s.get(&one), None);
    s.apply(Update::Upsert(Box::new(row(
        "b",
        &ks("three", "True", false),
    ))));
    assert_eq!(
        s.get(&row("b", &ks("three", "True", false)).key())
            .map(|r| r.name.as_str()),
        Some("three")
    );
    assert!(s.ids().any(|id| id == freed));
    assert_eq!(s.len(), 2);
    assert_eq!(s.rows().count(), 2);
}
