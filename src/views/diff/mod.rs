//! Desired-vs-live diffs of a Kustomization, as `flux diff` computes them: the desired objects
//! (built exactly as the reconciler builds them) are server-side-apply dry-run against the
//! cluster and compared with the live objects, with server-owned fields dropped and Secret values
//! masked; stale inventory entries show as deleted by prune.
//!
//! [`ObjectDiff`]/[`DiffReport`] are plain data a view renders (unified hunks, side-by-side rows,
//! a summary); [`render_text`] prints them for the CLI.

pub mod live;
pub mod mask;
pub mod normalize;
pub mod text;

use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;

use crate::apply::dry_run_action;
use crate::apply::policy::{ApplyAction, ApplyPolicy, FIELD_MANAGER, apply_policy};
use crate::apply::stages::Stage;
use crate::kustomize::yaml::to_yaml;
use crate::model::tree::ObjectRef;
use live::{LiveClient, LiveError};
use text::{CONTEXT_LINES, Hunk};

/// What applying would do to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// The object does not exist yet.
    Created,
    /// The object exists and would change.
    Drifted,
    /// The object exists and would not change.
    Unchanged,
    /// Excluded by an `ssa`/`reconcile` policy annotation.
    Skipped,
    /// In the inventory but no longer desired: prune deletes it.
    Deleted,
}

impl Change {
    /// `flux diff`'s word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Drifted => "drifted",
            Self::Unchanged => "unchanged",
            Self::Skipped => "skipped",
            Self::Deleted => "deleted",
        }
    }
}

/// The diff of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectDiff {
    /// The object.
    pub object: ObjectRef,
    /// What applying would do.
    pub change: Change,
    /// Normalised, masked live YAML (empty when absent).
    pub before: String,
    /// Normalised, masked YAML after the apply (empty when deleted).
    pub after: String,
    /// Unified hunks from `before` to `after`.
    pub hunks: Vec<Hunk>,
}

/// One object that could not be compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectError {
    /// The object.
    pub object: ObjectRef,
    /// Why.
    pub message: String,
}

/// Counts per change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Objects to create.
    pub created: usize,
    /// Objects that would change.
    pub changed: usize,
    /// Objects prune would delete.
    pub deleted: usize,
    /// Objects already as desired.
    pub unchanged: usize,
    /// Objects excluded by policy.
    pub skipped: usize,
}

/// The diff of a whole Kustomization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    /// Per object, in apply order, then deletions.
    pub objects: Vec<ObjectDiff>,
    /// Objects whose dry run or read failed.
    pub errors: Vec<ObjectError>,
}

impl DiffReport {
    /// Counts per change.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for o in &self.objects {
            match o.change {
                Change::Created => s.created += 1,
                Change::Drifted => s.changed += 1,
                Change::Deleted => s.deleted += 1,
                Change::Unchanged => s.unchanged += 1,
                Change::Skipped => s.skipped += 1,
            }
        }
        s
    }

    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        self.objects.iter().any(|o| {
            matches!(
                o.change,
                Change::Created | Change::Drifted | Change::Deleted
            )
        })
    }

    /// The whole diff as unified text (what `y` copies).
    pub fn unified_text(&self) -> String {
        self.objects
            .iter()
            .filter(|o| !o.hunks.is_empty())
            .map(|o| {
                let label = o.object.display();
                text::render_unified(
                    &o.hunks,
                    &format!("{label} (live)"),
                    &format!("{label} (desired)"),
                )
            })
            .collect()
    }
}

/// YAML of a normalised object, or "" for none.
fn yaml_of(v: Option<&Value>) -> String {
    v.map(to_yaml).unwrap_or_default()
}

/// Compares one object's live state (if any) with its state after apply (if any): normalises both,
/// masks Secret values and computes the hunks. `change` is decided by the caller.
pub fn object_diff(
    object: ObjectRef,
    change: Change,
    live: Option<&Value>,
    after: Option<&Value>,
) -> ObjectDiff {
    let mut before = live.map(normalize::normalize);
    let mut after = after.map(normalize::normalize);
    mask::mask_secret_data(before.as_mut(), after.as_mut());
    let (before, after) = (yaml_of(before.as_ref()), yaml_of(after.as_ref()));
    let hunks = match change {
        Change::Unchanged | Change::Skipped => Vec::new(),
        _ => text::hunks(&before, &after, CONTEXT_LINES),
    };
    ObjectDiff {
        object,
        change,
        before,
        after,
        hunks,
    }
}

/// The version-carrying identity of a value.
fn ref_of(obj: &Value) -> ObjectRef {
    ObjectRef::of(obj)
}

/// Diffs the desired `stages` of a Kustomization against the cluster: per object, the live state
/// and the SSA dry run (as the reconciler's field manager, with its skip rules); then the
/// inventory entries of `ks` no longer desired, when `spec.prune` is on and nothing failed.
pub async fn diff_kustomization(live: &LiveClient, ks: &Value, stages: &[Stage]) -> DiffReport {
    let mut report = DiffReport::default();
    let mut desired_ids: HashSet<(String, String, String, String)> = HashSet::new();
    for obj in stages.iter().flat_map(|s| s.objects.iter()) {
        let r = ref_of(obj);
        desired_ids.insert((
            r.group.clone(),
            r.kind.clone(),
            r.namespace.clone(),
            r.name.clone(),
        ));
        match diff_one(live, obj, &r).await {
            Ok(d) => report.objects.push(d),
            Err(e) => report.errors.push(ObjectError {
                object: r,
                message: e.to_string(),
            }),
        }
    }
    let prune = ks
        .pointer("/spec/prune")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !prune || !report.errors.is_empty() {
        return report;
    }
    for stale in crate::model::tree::inventory_of(ks).into_iter().rev() {
        let id = (
            stale.group.clone(),
            stale.kind.clone(),
            stale.namespace.clone(),
            stale.name.clone(),
        );
        if desired_ids.contains(&id) {
            continue;
        }
        match live.get(&stale).await {
            Ok(Some(obj)) => {
                report
                    .objects
                    .push(object_diff(stale, Change::Deleted, Some(&obj), None))
            }
            Ok(None) => {}
            Err(e) => report.errors.push(ObjectError {
                object: stale,
                message: e.to_string(),
            }),
        }
    }
    report
}

/// Diffs desired objects against the cluster one by one (SSA dry run as the reconcilers' field
/// manager), then shows `stale` objects that still exist as deletions (a HelmRelease's diff).
pub async fn diff_objects(live: &LiveClient, desired: &[Value], stale: &[Value]) -> DiffReport {
    let mut report = DiffReport::default();
    for obj in desired {
        let r = ref_of(obj);
        match diff_one(live, obj, &r).await {
            Ok(d) => report.objects.push(d),
            Err(e) => report.errors.push(ObjectError {
                object: r,
                message: e.to_string(),
            }),
        }
    }
    for obj in stale {
        let r = ref_of(obj);
        match live.get(&r).await {
            Ok(Some(current)) => {
                report
                    .objects
                    .push(object_diff(r, Change::Deleted, Some(&current), None))
            }
            Ok(None) => {}
            Err(e) => report.errors.push(ObjectError {
                object: r,
                message: e.to_string(),
            }),
        }
    }
    report
}

async fn diff_one(
    live: &LiveClient,
    desired: &Value,
    r: &ObjectRef,
) -> Result<ObjectDiff, LiveError> {
    let current = live.get(r).await?;
    if apply_policy(desired, current.as_ref(), false) == ApplyPolicy::Skip {
        return Ok(object_diff(
            r.clone(),
            Change::Skipped,
            current.as_ref(),
            current.as_ref(),
        ));
    }
    let dry_run = match live.dry_run_apply(desired, FIELD_MANAGER).await {
        Ok(v) => v,
        // A new object in a namespace the same apply creates first: show the manifest itself.
        Err(e) if current.is_none() && e.is_not_found() => desired.clone(),
        Err(e) => return Err(e),
    };
    let change = match (&current, dry_run_action(current.as_ref(), &dry_run, false)) {
        (None, _) => Change::Created,
        (Some(_), ApplyAction::Unchanged) => Change::Unchanged,
        (Some(_), _) => Change::Drifted,
    };
    Ok(object_diff(
        r.clone(),
        change,
        current.as_ref(),
        Some(&dry_run),
    ))
}

/// `flux diff`-style text: `► <Kind>/<ns>/<name> <change>` per changed object followed by its
/// hunks, errors as `✗ <object> <message>`, and a summary line.
pub fn render_text(report: &DiffReport) -> String {
    let mut out = String::new();
    for o in &report.objects {
        if matches!(o.change, Change::Unchanged) {
            continue;
        }
        out.push_str(&format!("► {} {}\n", o.object.display(), o.change.as_str()));
        for h in &o.hunks {
            out.push_str(&h.to_text());
        }
    }
    for e in &report.errors {
        out.push_str(&format!("✗ {} {}\n", e.object.display(), e.message));
    }
    let s = report.summary();
    out.push_str(&format!(
        "{} created, {} changed, {} deleted by prune, {} unchanged{}{}\n",
        s.created,
        s.changed,
        s.deleted,
        s.unchanged,
        if s.skipped > 0 {
            format!(", {} skipped", s.skipped)
        } else {
            String::new()
        },
        if report.errors.is_empty() {
            String::new()
        } else {
            format!(", {} failed", report.errors.len())
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_diffs_drop_server_fields_and_mask_secrets() {
        let live = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "n", "resourceVersion": "3", "managedFields": [{"manager": "x"}]},
            "data": {"password": "b2xk", "user": "YQ=="}});
        let after = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "n", "resourceVersion": "3"},
            "data": {"password": "bmV3", "user": "YQ=="}});
        let d = object_diff(
            ObjectRef::of(&live),
            Change::Drifted,
            Some(&live),
            Some(&after),
        );
        let text = d.hunks.iter().map(Hunk::to_text).collect::<String>();
        assert!(
            text.contains("-  password: '*** (before)'")
                || text.contains("-  password: \"*** (before)\""),
            "{text}"
        );
        assert!(
            text.contains("+  password: '*** (after)'")
                || text.contains("+  password: \"*** (after)\""),
            "{text}"
        );
        assert!(!text.contains("b2xk") && !text.contains("bmV3"), "{text}");
        assert!(!d.before.contains("managedFields") && !d.before.contains("resourceVersion"));
        assert!(
            d.before.contains("user: '***'") || d.before.contains("user: \"***\""),
            "{}",
            d.before
        );
    }

    #[test]
    fn summary_and_text_count_every_change() {
        let cm = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": {"k": v}});
        let report = DiffReport {
            objects: vec![
                object_diff(
                    ObjectRef::of(&cm("a")),
                    Change::Drifted,
                    Some(&cm("a")),
                    Some(&cm("b")),
                ),
                object_diff(
                    ObjectRef::of(&cm("a")),
                    Change::Unchanged,
                    Some(&cm("a")),
                    Some(&cm("a")),
                ),
                object_diff(
                    ObjectRef::of(&cm("a")),
                    Change::Created,
                    None,
                    Some(&cm("a")),
                ),
                object_diff(
                    ObjectRef::of(&cm("a")),
                    Change::Deleted,
                    Some(&cm("a")),
                    None,
                ),
            ],
            errors: vec![],
        };
        assert!(report.has_changes());
        assert_eq!(
            report.summary(),
            Summary {
                created: 1,
                changed: 1,
                deleted: 1,
                unchanged: 1,
                skipped: 0
            }
        );
        let text = render_text(&report);
        assert!(
            text.starts_with("► ConfigMap/n/c drifted\n@@ -1,6 +1,6 @@\n"),
            "{text}"
        );
        assert!(text.contains("-  k: a\n+  k: b\n"), "{text}");
        assert!(
            text.ends_with("1 created, 1 changed, 1 deleted by prune, 1 unchanged\n"),
            "{text}"
        );
        assert!(
            report
                .unified_text()
                .starts_with("--- ConfigMap/n/c (live)\n+++ ConfigMap/n/c (desired)\n")
        );
        let none = DiffReport::default();
        assert!(!none.has_changes());
    }
}
