//! The Application status as Argo CD writes it: `sync`, `health`, `resources[]`, `conditions`,
//! `operationState`, `history`, `summary`, `reconciledAt`; and the writer (no status subresource
//! on the real CRD, so the status goes through `/status` when the server has it and through the
//! object otherwise).

use jiff::Timestamp;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU8, Ordering};

use super::compare::{Comparison, ResourceKey};
use super::spec::AppSpec;
use super::sync::SyncOutcome;
use crate::runtime::merge_diff;

/// Argo's timestamp format (RFC 3339, seconds).
pub fn stamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `status.resources[]` of a comparison.
pub fn resources_value(cmp: &Comparison) -> Value {
    let mut list: Vec<Value> = cmp
        .resources
        .iter()
        .map(|m| {
            let mut v = json!({
                "group": m.key.group, "version": m.key.version, "kind": m.key.kind,
                "namespace": m.key.namespace, "name": m.key.name,
                "status": if m.synced { "Synced" } else { "OutOfSync" },
            });
            if m.wave != 0 {
                v["syncWave"] = json!(m.wave);
            }
            if let Some((h, msg)) = &m.health {
                v["health"] = if msg.is_empty() {
                    json!({"status": h.as_str()})
                } else {
                    json!({"status": h.as_str(), "message": msg})
                };
            }
            if m.requires_pruning {
                v["requiresPruning"] = json!(true);
            }
            v
        })
        .collect();
    // Argo sorts by group, kind, namespace, name.
    list.sort_by_key(|v| {
        let k = ResourceKey::from_status(v);
        (k.group, k.kind, k.namespace, k.name)
    });
    Value::Array(list)
}

/// The keys of the last `status.resources`.
pub fn previous_keys(obj: &Value) -> Vec<ResourceKey> {
    obj.pointer("/status/resources")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(ResourceKey::from_status).collect())
        .unwrap_or_default()
}

/// `status.conditions` with `wanted` (type, message); a condition keeps its `lastTransitionTime`
/// while type and message stay; types not in `wanted` and in `owned` are dropped.
pub fn conditions(obj: &Value, wanted: &[(&str, String)], owned: &[&str], now: &str) -> Value {
    let old: Vec<Value> = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<Value> = old
        .iter()
        .filter(|c| {
            let t = c.get("type").and_then(Value::as_str).unwrap_or("");
            !owned.contains(&t) && !wanted.iter().any(|(w, _)| *w == t)
        })
        .cloned()
        .collect();
    for (t, m) in wanted {
        let keep = old.iter().find(|c| {
            c.get("type").and_then(Value::as_str) == Some(t)
                && c.get("message").and_then(Value::as_str) == Some(m.as_str())
        });
        out.push(match keep {
            Some(c) => c.clone(),
            None => json!({"type": t, "message": m, "lastTransitionTime": now}),
        });
    }
    Value::Array(out)
}

/// `sync.comparedTo`.
pub fn compared_to(spec: &AppSpec) -> Value {
    let mut v = json!({"source": spec.source.raw, "destination": spec.destination_raw});
    if spec.ignore_differences_raw.is_array() {
        v["ignoreDifferences"] = spec.ignore_differences_raw.clone();
    }
    v
}

/// The finished `operationState`.
pub fn operation_state(
    operation: &Value,
    outcome: &SyncOutcome,
    revision: &str,
    spec: &AppSpec,
    started: &str,
    finished: &str,
    retry_count: u32,
) -> Value {
    let mut v = json!({
        "operation": operation,
        "phase": outcome.phase,
        "message": outcome.message,
        "startedAt": started,
        "finishedAt": finished,
        "syncResult": {
            "revision": revision,
            "source": spec.source.raw,
            "resources": outcome.results.iter().map(|r| r.to_value()).collect::<Vec<_>>(),
        },
    });
    if retry_count > 0 {
        v["retryCount"] = json!(retry_count);
    }
    v
}

/// `status.history` with one more entry, capped by `revisionHistoryLimit`.
pub fn history_with(
    obj: &Value,
    spec: &AppSpec,
    revision: &str,
    operation: &Value,
    started: &str,
    finished: &str,
) -> Value {
    let mut list: Vec<Value> = obj
        .pointer("/status/history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let id = list
        .iter()
        .filter_map(|h| h.get("id").and_then(Value::as_i64))
        .max()
        .map_or(0, |m| m + 1);
    list.push(json!({
        "id": id,
        "revision": revision,
        "deployedAt": finished,
        "deployStartedAt": started,
        "source": spec.source.raw,
        "initiatedBy": operation.get("initiatedBy").cloned().unwrap_or(json!({})),
    }));
    let limit = spec.revision_history_limit.max(1);
    if list.len() > limit {
        list.drain(..list.len() - limit);
    }
    Value::Array(list)
}

/// Writes Application status: through `/status` where the CRD has it, else through the object.
pub struct StatusWriter {
    /// 0 = unknown, 1 = has a status subresource, 2 = none.
    subresource: AtomicU8,
}

impl Default for StatusWriter {
    fn default() -> Self {
        StatusWriter {
            subresource: AtomicU8::new(0),
        }
    }
}

fn api_error(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

impl StatusWriter {
    /// Writes `new_status` over the object's status (a merge patch of the difference) and
    /// `extra` (top-level fields such as `operation: null`, `metadata`) on the object. Returns the
    /// object as last written.
    pub async fn write(
        &self,
        api: &Api<DynamicObject>,
        obj: &Value,
        new_status: &Value,
        extra: Option<Value>,
    ) -> Result<Value, String> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let old = obj.get("status").cloned().unwrap_or(json!({}));
        let diff = merge_diff(&old, new_status);
        let mut current = obj.clone();
        let pp = PatchParams::default();
        let mut main = extra.unwrap_or(json!({}));
        if let Some(d) = diff {
            let mode = self.subresource.load(Ordering::Relaxed);
            let mut written = false;
            if mode != 2 {
                match api
                    .patch_status(name, &pp, &Patch::Merge(&json!({"status": d})))
                    .await
                {
                    Ok(o) => {
                        self.subresource.store(1, Ordering::Relaxed);
                        current = serde_json::to_value(o).map_err(|e| e.to_string())?;
                        written = true;
                    }
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 405 => {
                        self.subresource.store(2, Ordering::Relaxed);
                    }
                    Err(e) => return Err(api_error(e)),
                }
            }
            if !written {
                main["status"] = d;
            }
        }
        if main.as_object().is_some_and(|m| !m.is_empty()) {
            let o = api
                .patch(name, &pp, &Patch::Merge(&main))
                .await
                .map_err(api_error)?;
            current = serde_json::to_value(o).map_err(|e| e.to_string())?;
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::argo::spec;

    #[test]
    fn conditions_keep_transition_times_and_drop_resolved() {
        let obj = json!({"status": {"conditions": [
            {"type": "ComparisonError", "message": "m", "lastTransitionTime": "t0"},
            {"type": "SyncError", "message": "s", "lastTransitionTime": "t0"},
            {"type": "OrphanedResourceWarning", "message": "o", "lastTransitionTime": "t0"}]}});
        let c = conditions(
            &obj,
            &[("ComparisonError", "m".into())],
            &["ComparisonError", "SyncError", "InvalidSpecError"],
            "t1",
        );
        assert_eq!(
            c,
            json!([
            {"type": "OrphanedResourceWarning", "message": "o", "lastTransitionTime": "t0"},
            {"type": "ComparisonError", "message": "m", "lastTransitionTime": "t0"}])
        );
    }

    #[test]
    fn history_is_capped() {
        let app = json!({"metadata": {"name": "a"}, "spec": {"source": {"repoURL": "u"},
            "destination": {"name": "in-cluster"}, "revisionHistoryLimit": 2}});
        let s = spec::parse(&app).unwrap();
        let mut obj = app.clone();
        for i in 0..3 {
            let h = history_with(
                &obj,
                &s,
                &format!("r{i}"),
                &json!({"initiatedBy": {"automated": true}}),
                "a",
                "b",
            );
            obj["status"] = json!({"history": h});
        }
        let h = obj["status"]["history"].as_array().unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0]["id"], 1);
        assert_eq!(h[1]["revision"], "r2");
        assert_eq!(h[1]["initiatedBy"]["automated"], true);
    }
}
