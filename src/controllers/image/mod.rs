//! Image automation: registry scanning, ImagePolicy decisions, setter-marker rewrites.
//!
//! Each kind has a plain async reconcile function taking the whole object (JSON), a Kubernetes
//! client and explicit stores, and returning a [`RunResult`]: the new status, when to run again,
//! and the events to record. The watch/queue loop that calls them lives in the runtime.

pub mod automation;
pub mod message_template;
pub mod policy;
pub mod policy_reconcile;
pub mod reconcilers;
pub mod registry;
pub mod repository;
pub mod setters;
pub mod tag_store;

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::model::conditions::{self, Condition, ConditionStatus};

pub use automation::reconcile_image_update_automation;
pub use policy_reconcile::reconcile_image_policy;
pub use repository::reconcile_image_repository;
pub use tag_store::{TagStore, TagStoreError, tags_revision};

/// Severity of a recorded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Informational (`Normal`).
    Normal,
    /// Something failed (`Warning`).
    Warning,
}

/// What one reconcile run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// The whole new `status` (written back by the runtime).
    pub status: Value,
    /// Run again after this long; `None` = only on the next watch trigger.
    pub requeue_after: Option<Duration>,
    /// Events to record: type, reason, message.
    pub events: Vec<(EventType, String, String)>,
}

impl RunResult {
    /// A suspended object: status kept as it is, no requeue, no events (Flux skips the run).
    pub(crate) fn suspended(status: Value) -> RunResult {
        RunResult {
            status,
            requeue_after: None,
            events: Vec::new(),
        }
    }
}

/// The request annotation of §1.2.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// Requeue delay after a transient failure (the runtime may add its own backoff on top).
pub(crate) fn failure_requeue(interval: Duration) -> Duration {
    interval.clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// Identity and spec bits every kind reads.
pub(crate) struct ObjectMeta<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub generation: i64,
    pub requested_at: Option<&'a str>,
    pub spec: &'a Value,
    pub status: Value,
}

impl<'a> ObjectMeta<'a> {
    pub(crate) fn of(obj: &'a Value) -> ObjectMeta<'a> {
        let meta = obj.get("metadata");
        let text = |k: &str| {
            meta.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let status = match obj.get("status") {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            _ => Value::Object(Map::new()),
        };
        ObjectMeta {
            namespace: text("namespace"),
            name: text("name"),
            generation: meta
                .and_then(|m| m.get("generation"))
                .and_then(Value::as_i64)
                .unwrap_or(0),
            requested_at: meta
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(REQUESTED_AT))
                .and_then(Value::as_str),
            spec: obj.get("spec").unwrap_or(&Value::Null),
            status,
        }
    }

    /// `spec.suspend == true`.
    pub(crate) fn suspended(&self) -> bool {
        self.spec.get("suspend").and_then(Value::as_bool) == Some(true)
    }
}

/// Small status-writing helpers over [`conditions`].
pub(crate) struct StatusWriter {
    pub status: Value,
    generation: i64,
    now: Timestamp,
}

impl StatusWriter {
    pub(crate) fn new(status: Value, generation: i64, now: Timestamp) -> StatusWriter {
        StatusWriter {
            status,
            generation,
            now,
        }
    }

    pub(crate) fn set(&mut self, key: &str, value: Value) {
        if let Some(m) = self.status.as_object_mut() {
            m.insert(key.to_string(), value);
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.status.get(key)
    }

    fn condition(&mut self, type_: &str, status: ConditionStatus, reason: &str, message: &str) {
        let c = Condition::new(type_, status, reason, message);
        conditions::set_condition(&mut self.status, &c, self.generation, self.now);
    }

    /// Success: Ready True, Reconciling and Stalled gone, observedGeneration current.
    pub(crate) fn ready(&mut self, reason: &str, message: &str) {
        conditions::remove_condition(&mut self.status, conditions::RECONCILING);
        conditions::remove_condition(&mut self.status, conditions::STALLED);
        self.condition(conditions::READY, ConditionStatus::True, reason, message);
        self.set("observedGeneration", Value::from(self.generation));
    }

    /// Transient failure: Ready False, Reconciling kept as `ProgressingWithRetry`.
    pub(crate) fn retrying(&mut self, reason: &str, message: &str, progress: &str) {
        conditions::mark_reconciling(
            &mut self.status,
            "ProgressingWithRetry",
            progress,
            self.generation,
            self.now,
        );
        self.condition(conditions::READY, ConditionStatus::False, reason, message);
    }

    /// Terminal failure: Stalled True, Ready False mirroring it, observedGeneration current.
    pub(crate) fn stalled(&mut self, reason: &str, message: &str) {
        conditions::mark_stalled(&mut self.status, reason, message, self.generation, self.now);
        self.condition(conditions::READY, ConditionStatus::False, reason, message);
        self.set("observedGeneration", Value::from(self.generation));
    }

    /// Copies the request token, as every Flux controller does after a run.
    pub(crate) fn handled(&mut self, requested_at: Option<&str>) {
        if let Some(token) = requested_at {
            self.set("lastHandledReconcileAt", Value::from(token));
        }
    }
}

/// Reads a Flux duration field; `None` when absent.
pub(crate) fn duration_field(spec: &Value, field: &str) -> Result<Option<Duration>, String> {
    match spec.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => crate::model::time::parse_duration(s)
            .map(Some)
            .map_err(|e| format!("spec.{field}: {e}")),
        Some(other) => Err(format!("spec.{field} must be a string, got {other}")),
    }
}

/// Reads a Kubernetes object (as JSON) through the API; `Ok(None)` when it does not exist.
pub(crate) async fn get_object(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, String> {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<DynamicObject> = if namespace.is_empty() {
        Api::all_with(client.clone(), &resource)
    } else {
        Api::namespaced_with(client.clone(), namespace, &resource)
    };
    match api.get_opt(name).await {
        Ok(Some(obj)) => serde_json::to_value(obj)
            .map(Some)
            .map_err(|e| format!("cannot read {kind} '{namespace}/{name}': {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("cannot get {kind} '{namespace}/{name}': {e}")),
    }
}
