//! `Row`: the compact summary of one GitOps object that the console table shows and the Store keeps.
//!
//! A Row holds only display-ready strings, small enums and unix-second timestamps — never a copy of the
//! object — because the console keeps 10,000 of them across contexts. Everything is read tolerantly:
//! a malformed object still yields a Row whose unreadable cells are empty and whose health is Unknown.

use super::conditions::field::{at, bool_at, group, kind, str_at};
use super::conditions::{self, ConditionStatus, parse_time};
use super::health::{self, ArgoHealth, DetailedStatus, Health, SyncStatus};
pub use super::kinds::cells::short_revision;
use super::kinds::{self, KindInfo, by_group_kind};
use serde_json::Value;

/// The Store key of a row: (context, kind, namespace, name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    /// Kubeconfig context the object was read from.
    pub context: String,
    /// The Kind, e.g. `Kustomization`.
    pub kind: &'static str,
    /// Namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Object name.
    pub name: String,
}

/// A namespaced reference to another object of the same kind (a `dependsOn` entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DependencyRef {
    /// Namespace, defaulted to the depending object's namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// Whether Argo CD auto-sync is on for an Application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AutoSync {
    /// `syncPolicy.automated` present and not disabled.
    On,
    /// `syncPolicy.automated.enabled: false` (Argo CD ≥ 3.1 suspension; prune/selfHeal kept).
    Disabled,
    /// No `syncPolicy.automated` block: manual sync only.
    Manual,
}

/// The compact summary of one GitOps object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Kubeconfig context (supplied by the caller).
    pub context: String,
    /// The kind, from the registry.
    pub kind: &'static KindInfo,
    /// The version the object was read as (`v1`, `v1beta2`, ...).
    pub version: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// The colourable verdict.
    pub health: Health,
    /// The engine-specific status behind it.
    pub detail: DetailedStatus,
    /// READY cell: the Ready condition (Flux) or Synced+Healthy (Argo CD).
    pub ready: ConditionStatus,
    /// Why: the Ready condition's reason (Flux; the kstatus verdict when there is none), or Argo CD's
    /// error condition type, else its health status.
    pub reason: String,
    /// STATUS cell: the Ready message, or Argo CD's sync/health summary.
    pub message: String,
    /// REVISION cell.
    pub revision: String,
    /// Whether reconciliation (Flux) or auto-sync (Argo CD) is off.
    pub suspended: bool,
    /// When suspension was last written, from managedFields (unix seconds), if known.
    pub suspended_since: Option<i64>,
    /// `metadata.creationTimestamp` (unix seconds).
    pub created: Option<i64>,
    /// Last reconcile (unix seconds).
    pub last_reconcile: Option<i64>,
    /// Per-kind cells, one per column of `kind.cells`.
    pub cells: Box<[String]>,
    /// `spec.dependsOn` of Kustomizations and HelmReleases.
    pub depends_on: Vec<DependencyRef>,
    /// `metadata.labels` (for `-l` filters and `flotilla get`).
    pub labels: Labels,
}

/// An object's `metadata.labels`, sorted by key: one allocation, none when there are no labels.
///
/// Non-string values (which a real API server rejects) are skipped rather than failing the row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Box<[(Box<str>, Box<str>)]>);

impl Labels {
    /// Reads `metadata.labels` of `obj` (empty when absent or not an object).
    pub fn from_object(obj: &Value) -> Labels {
        let Some(map) = at(obj, &["metadata", "labels"]).and_then(Value::as_object) else {
            return Labels::default();
        };
        Labels::from_pairs(
            map.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
        )
    }

    /// Builds labels from key/value pairs (a later duplicate key wins).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
        let mut v: Vec<(Box<str>, Box<str>)> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        // Stable sort keeps insertion order among equal keys; keep the last of each run.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Box<str>, Box<str>)> = Vec::with_capacity(v.len());
        for pair in v {
            match out.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => out.push(pair),
            }
        }
        Labels(out.into_boxed_slice())
    }

    /// The value of label `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.0[i].1.as_ref())
    }

    /// Whether these labels satisfy a label selector.
    pub fn satisfy(&self, selector: &crate::model::selector::LabelSelector) -> bool {
        selector.matches_by(|key| self.get(key))
    }

    /// Whether label `key` is set (to any value).
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Every label, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Row {
    /// Summarises `obj` read from `context`; None when its group/kind is not in the registry.
    pub fn from_object(context: &str, obj: &Value) -> Option<Row> {
        let info = by_group_kind(group(obj), kind(obj))?;
        let version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|av| av.rsplit_once('/'))
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let text = |path: &[&str]| str_at(obj, path).unwrap_or("").to_string();
        let namespace = text(&["metadata", "namespace"]);
        let assessment = health::assess(obj);
        let argo_app = info == kinds::APPLICATION;
        let (ready, message) = if argo_app {
            argo_ready_and_message(obj, &assessment.message)
        } else {
            flux_ready_and_message(obj, &assessment)
        };
        let reason = if argo_app {
            health::argo_error_condition(obj)
                .and_then(|c| c.split_once(':').map(|(t, _)| t.to_string()))
                .unwrap_or_else(|| assessment.detail.as_str().to_string())
        } else {
            conditions::ready(obj)
                .map(|c| c.reason)
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| assessment.detail.as_str().to_string())
        };
        let (suspended, suspended_since) = suspension(obj, argo_app);
        Some(Row {
            context: context.to_string(),
            kind: info,
            version,
            uid: text(&["metadata", "uid"]),
            name: text(&["metadata", "name"]),
            health: assessment.health,
            detail: assessment.detail,
            ready,
            reason,
            message,
            revision: (info.revision)(obj).unwrap_or_default(),
            suspended,
            suspended_since,
            created: str_at(obj, &["metadata", "creationTimestamp"]).and_then(parse_time),
            last_reconcile: last_reconcile(info, obj),
            cells: info
                .cells
                .iter()
                .map(|c| (c.value)(obj, &namespace))
                .collect(),
            depends_on: depends_on(info, obj, &namespace),
            labels: Labels::from_object(obj),
            namespace,
        })
    }

    /// The per-kind cells as (column title, value) pairs.
    pub fn titled_cells(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.kind
            .cells
            .iter()
            .zip(self.cells.iter())
            .map(|(c, v)| (c.title, v.as_str()))
    }

    /// The Store key: (context, kind, namespace, name).
    pub fn key(&self) -> RowKey {
        RowKey {
            context: self.context.clone(),
            kind: self.kind.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

fn flux_ready_and_message(
    obj: &Value,
    assessment: &health::Assessment,
) -> (ConditionStatus, String) {
    match conditions::ready(obj) {
        // The console shows what any cluster wrote; URL passwords stay hidden.
        Some(c) => (c.status, super::redact::redacted(&c.message)),
        None => (
            ConditionStatus::Unknown,
            super::redact::redacted(&assessment.message),
        ),
    }
}

/// Argo CD READY: True when Synced and Healthy, False when degraded, missing, out of sync or erroring.
fn argo_ready_and_message(obj: &Value, detail: &str) -> (ConditionStatus, String) {
    let sync = health::argo_sync_status(obj);
    let argo = health::argo_health(obj);
    let erroring = health::argo_error_condition(obj).is_some();
    let ready = match (sync, argo) {
        _ if erroring => ConditionStatus::False,
        (SyncStatus::Synced, ArgoHealth::Healthy) => ConditionStatus::True,
        (SyncStatus::OutOfSync, _) | (_, ArgoHealth::Degraded | ArgoHealth::Missing) => {
            ConditionStatus::False
        }
        _ => ConditionStatus::Unknown,
    };
    let summary = format!("{}, {}", sync.as_str(), argo.as_str());
    let message = if detail.is_empty() {
        summary
    } else {
        format!("{summary}: {detail}")
    };
    (ready, super::redact::redacted(&message))
}

/// Suspension flag and, when a managedFields entry owns the flag, the time it was written.
fn suspension(obj: &Value, argo_app: bool) -> (bool, Option<i64>) {
    if argo_app {
        let state = auto_sync(obj);
        let since = match state {
            AutoSync::Disabled => {
                field_set_time(obj, &["f:spec", "f:syncPolicy", "f:automated", "f:enabled"])
            }
            _ => None,
        };
        return (state != AutoSync::On, since);
    }
    if bool_at(obj, &["spec", "suspend"]) == Some(true) {
        return (true, field_set_time(obj, &["f:spec", "f:suspend"]));
    }
    (false, None)
}

/// The newest `time` of a managedFields entry whose fieldsV1 contains `path`.
fn field_set_time(obj: &Value, path: &[&str]) -> Option<i64> {
    at(obj, &["metadata", "managedFields"])?
        .as_array()?
        .iter()
        .filter(|e| at(e, &["fieldsV1"]).is_some_and(|f| at(f, path).is_some()))
        .filter_map(|e| str_at(e, &["time"]).and_then(parse_time))
        .max()
}

/// Whether auto-sync is on for an Argo CD Application.
pub fn auto_sync(obj: &Value) -> AutoSync {
    match at(obj, &["spec", "syncPolicy", "automated"]) {
        // A null `enabled` counts as enabled (Argo CD docs).
        Some(a) if a.is_object() => match bool_at(a, &["enabled"]) {
            Some(false) => AutoSync::Disabled,
            _ => AutoSync::On,
        },
        _ => AutoSync::Manual,
    }
}

fn last_reconcile(info: &KindInfo, obj: &Value) -> Option<i64> {
    let time = |path: &[&str]| str_at(obj, path).and_then(parse_time);
    if info == kinds::APPLICATION {
        return time(info.last_run);
    }
    let ready = conditions::ready(obj).and_then(|c| c.last_transition_unix());
    let extra = (!info.last_run.is_empty())
        .then(|| time(info.last_run))
        .flatten();
    // lastHandledReconcileAt is an opaque token; it counts only when it happens to be RFC 3339.
    [ready, extra, time(&["status", "lastHandledReconcileAt"])]
        .into_iter()
        .flatten()
        .max()
}

fn depends_on(info: &KindInfo, obj: &Value, own_ns: &str) -> Vec<DependencyRef> {
    if !info.depends_on {
        return Vec::new();
    }
    at(obj, &["spec", "dependsOn"])
        .and_then(Value::as_array)
        .map(|deps| {
            deps.iter()
                .filter_map(|d| {
                    Some(DependencyRef {
                        name: str_at(d, &["name"])?.to_string(),
                        namespace: str_at(d, &["namespace"]).unwrap_or(own_ns).to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
