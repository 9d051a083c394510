//! Image automation: registry scanning, ImagePolicy decisions, setter-marker rewrites.
//!
//! Each kind is a [`crate::runtime::Controller`] (see [`reconcilers`]): a typed spec and a straight
//! line of steps over a [`Run`], concluded by the runtime's status writer. The same steps are
//! also exposed as plain async functions taking the whole object (JSON), a Kubernetes client and
//! explicit stores, returning a [`RunResult`]: the new status, when to run again, and the events
//! to record (what the runtime would write), without writing anything.

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

use serde_json::Value;

use crate::runtime::{Failure, Next, Run, Success};

pub use crate::runtime::events::EventType;
pub use automation::reconcile_image_update_automation;
pub use policy_reconcile::reconcile_image_policy;
pub use repository::reconcile_image_repository;
pub use tag_store::{TagStore, TagStoreError, tags_revision};

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
    /// The runtime's status writer applied to `result` over a detached `run`.
    pub(crate) fn concluded(mut run: Run, result: Result<Success, Failure>) -> RunResult {
        let next = run.conclude(result);
        let (status, notes) = run.into_parts();
        let events = notes
            .into_iter()
            .map(|n| {
                let t = if n.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                };
                (t, n.reason, n.message)
            })
            .collect();
        RunResult {
            status,
            requeue_after: match next {
                Next::After(d) | Next::Backoff(d) => Some(d),
                Next::Wait => None,
            },
            events,
        }
    }
}

/// Requeue delay after a transient failure (the runtime may add its own backoff on top).
pub(crate) fn failure_requeue(interval: Duration) -> Duration {
    interval.clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// Identity and spec bits every kind reads.
pub(crate) struct ObjectMeta<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub spec: &'a Value,
}

impl<'a> ObjectMeta<'a> {
    pub(crate) fn of(obj: &'a Value) -> ObjectMeta<'a> {
        let meta = obj.get("metadata");
        let text = |k: &str| {
            meta.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        ObjectMeta {
            namespace: text("namespace"),
            name: text("name"),
            spec: obj.get("spec").unwrap_or(&Value::Null),
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
