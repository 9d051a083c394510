//! The detail view (Enter) of one object: its conditions, the spec fields that matter for its kind, and
//! its recent Events. The object and the Events are fetched by effects; this module only summarises.

use crate::cluster::ObjectEvent;
use crate::model::conditions::{self, Condition};
use crate::model::row::RowKey;
use serde_json::Value;

/// How many Events the detail view keeps (the newest).
pub const RECENT_EVENTS: usize = 20;

/// Something the detail view is waiting for or has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded<T> {
    /// The fetch is running.
    Loading,
    /// It arrived.
    Ready(T),
    /// It failed, with the message.
    Failed(String),
}

/// What the detail view shows of the object itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    /// Every status condition.
    pub conditions: Vec<Condition>,
    /// (field, value) pairs of the spec essentials of this kind, then a few status fields.
    pub fields: Vec<(String, String)>,
}

/// An open detail view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailView {
    /// The object shown.
    pub key: RowKey,
    /// Conditions and spec essentials.
    pub object: Loaded<ObjectSummary>,
    /// Recent Events, oldest first.
    pub events: Loaded<Vec<ObjectEvent>>,
    /// First visible line.
    pub scroll: usize,
    /// Wrapped or scrolled sideways.
    pub fit: super::chrome::Fit,
}

impl DetailView {
    /// A view waiting for both fetches.
    pub fn new(key: RowKey) -> DetailView {
        DetailView {
            key,
            object: Loaded::Loading,
            events: Loaded::Loading,
            scroll: 0,
            fit: super::chrome::Fit::default(),
        }
    }
}

/// Longest value shown on one line (the YAML view shows the rest).
const MAX_VALUE: usize = 160;

/// A value on one line: strings bare, everything else as compact JSON, URL passwords masked,
/// capped.
fn one_line(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.replace('\n', " "),
        other => other.to_string(),
    };
    let s = crate::model::redact::redacted(&s);
    if s.chars().count() > MAX_VALUE {
        let cut: String = s.chars().take(MAX_VALUE).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// Summarises a fetched object for the detail view with its kind's essentials from the registry
/// (tolerant: a malformed object gives fewer fields; an unknown kind shows only conditions).
pub fn summarise(kind: &str, obj: &Value) -> ObjectSummary {
    let essentials = crate::model::KINDS
        .iter()
        .find(|k| k.kind == kind)
        .map_or(&[][..], |k| k.essentials);
    let fields = essentials
        .iter()
        .filter_map(|(label, path)| {
            let mut v = obj;
            for p in *path {
                v = v.get(p)?;
            }
            (!v.is_null()).then(|| (label.to_string(), one_line(v)))
        })
        .collect();
    let mut conditions = conditions::conditions(obj);
    for c in &mut conditions {
        c.message = crate::model::redact::redacted(&c.message);
    }
    ObjectSummary { conditions, fields }
}

/// Keeps the newest [`RECENT_EVENTS`] Events, oldest first.
pub fn recent(mut events: Vec<ObjectEvent>) -> Vec<ObjectEvent> {
    events.sort_by_key(|e| e.last_seen.unwrap_or(i64::MIN));
    let skip = events.len().saturating_sub(RECENT_EVENTS);
    events.split_off(skip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_passwords_are_masked_in_fields_and_condition_messages() {
        let s = summarise(
            "GitRepository",
            &json!({"kind": "GitRepository",
                "spec": {"url": "https://alice:s3cret@git.example.com/r.git"},
                "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "GitOperationFailed",
                    "message": "failed to checkout https://alice:s3cret@git.example.com/r.git"}]}}),
        );
        let all = format!("{:?}", s);
        assert!(!all.contains("s3cret"), "{all}");
        assert!(all.contains("alice:xxxxx@git.example.com"), "{all}");
    }

    #[test]
    fn summarises_conditions_and_kind_fields_tolerantly() {
        let obj = json!({"spec": {"path": "./apps", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "x"},
                                  "dependsOn": null},
                         "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "BuildFailed",
                                                    "message": "boom"}]}});
        let s = summarise("Kustomization", &obj);
        assert_eq!(s.conditions.len(), 1);
        assert_eq!(s.conditions[0].reason, "BuildFailed");
        assert!(s.fields.contains(&("path".into(), "./apps".into())));
        assert!(s.fields.contains(&("prune".into(), "true".into())));
        assert!(
            s.fields
                .iter()
                .any(|(k, v)| k == "source" && v.contains("GitRepository"))
        );
        assert!(!s.fields.iter().any(|(k, _)| k == "dependsOn"));
        for junk in [
            json!(null),
            json!([1, 2]),
            json!({"spec": 7}),
            json!({"status": {"conditions": "x"}}),
        ] {
            let s = summarise("Kustomization", &junk);
            assert!(s.fields.is_empty());
            assert!(s.conditions.is_empty());
        }
        let long = json!({"spec": {"url": "x".repeat(1000)}});
        assert!(
            summarise("GitRepository", &long).fields[0]
                .1
                .chars()
                .count()
                <= MAX_VALUE + 1
        );
    }
}
