//! Kubernetes Events about GitOps objects: a compact summary ([`ObjectEvent`]) and a live watch across
//! contexts for the console's `:events` view. Events of other objects (Pods, ...) are dropped here.

use super::clients::Clients;
use super::error::ClusterError;
use crate::model::conditions::field::str_at;
use crate::model::kinds::by_group_kind;
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// One Kubernetes Event, summarised for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// Context it was read from.
    pub context: String,
    /// `metadata.uid` of the Event (a repeated Event keeps its uid and bumps its count).
    pub uid: String,
    /// Namespace of the involved object.
    pub namespace: String,
    /// Kind of the involved object.
    pub kind: String,
    /// Name of the involved object.
    pub name: String,
    /// `Normal` or `Warning`.
    pub type_: String,
    /// The reason (`ReconciliationSucceeded`, `BuildFailed`, ...).
    pub reason: String,
    /// The message.
    pub message: String,
    /// How many times it happened (at least 1).
    pub count: i64,
    /// When it last happened (unix seconds), if the Event says.
    pub last_seen: Option<i64>,
}

impl ObjectEvent {
    /// Summarises a core/v1 Event; None when it is not an object (no involvedObject/regarding).
    pub fn from_value(context: &str, e: &Value) -> Option<ObjectEvent> {
        let involved = e.get("involvedObject").or_else(|| e.get("regarding"))?;
        if !involved.is_object() {
            return None;
        }
        let text = |v: &Value, path: &[&str]| str_at(v, path).unwrap_or("").to_string();
        let count = e
            .get("count")
            .and_then(Value::as_i64)
            .or_else(|| e.pointer("/series/count").and_then(Value::as_i64))
            .unwrap_or(1)
            .max(1);
        Some(ObjectEvent {
            context: context.to_string(),
            uid: text(e, &["metadata", "uid"]),
            namespace: text(involved, &["namespace"]),
            kind: text(involved, &["kind"]),
            name: text(involved, &["name"]),
            type_: text(e, &["type"]),
            reason: text(e, &["reason"]),
            message: e
                .get("message")
                .or_else(|| e.get("note"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            count,
            last_seen: event_time(e),
        })
    }

    /// Whether the Event is a Warning.
    pub fn is_warning(&self) -> bool {
        self.type_ == "Warning"
    }
}

/// Whether an Event is about a GitOps kind flotilla knows (by the involved object's group and kind).
pub fn is_about_gitops(e: &Value) -> bool {
    let Some(involved) = e.get("involvedObject").or_else(|| e.get("regarding")) else {
        return false;
    };
    let group = str_at(involved, &["apiVersion"])
        .and_then(|av| av.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or("");
    let kind = str_at(involved, &["kind"]).unwrap_or("");
    by_group_kind(group, kind).is_some()
}

/// When an Event happened (unix seconds): lastTimestamp, eventTime, series, firstTimestamp or creation.
pub fn event_time(e: &Value) -> Option<i64> {
    let candidates = [
        e.get("lastTimestamp"),
        e.get("eventTime"),
        e.pointer("/series/lastObservedTime"),
        e.get("firstTimestamp"),
        e.pointer("/metadata/creationTimestamp"),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(crate::model::conditions::parse_time)
}

/// The running Event watchers (one per context); dropping it stops them.
pub struct EventWatch {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for EventWatch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl EventWatch {
    /// Watches core/v1 Events in every context (in `namespace`, else all namespaces) and sends those
    /// about GitOps objects to `tx`. A failing context retries with backoff and never blocks the others.
    pub fn start(
        clients: &Clients,
        contexts: &[String],
        namespace: Option<String>,
        tx: UnboundedSender<ObjectEvent>,
    ) -> Result<EventWatch, ClusterError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| ClusterError::NoRuntime)?;
        let tasks = contexts
            .iter()
            .map(|context| {
                handle.spawn(watch_context(
                    clients.clone(),
                    context.clone(),
                    namespace.clone(),
                    tx.clone(),
                ))
            })
            .collect();
        Ok(EventWatch { tasks })
    }
}

async fn watch_context(
    clients: Clients,
    context: String,
    namespace: Option<String>,
    tx: UnboundedSender<ObjectEvent>,
) {
    let client = match clients.client(&context).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(context = %context, "events: no client: {e}");
            return;
        }
    };
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Event"), "events");
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(client, ns, &ar),
        None => Api::all_with(client, &ar),
    };
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(item) = stream.next().await {
        let obj = match item {
            Ok(Event::Apply(obj) | Event::InitApply(obj)) => obj,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(context = %context, "events watch: {e}");
                continue;
            }
        };
        let Ok(value) = serde_json::to_value(&obj) else {
            continue;
        };
        if !is_about_gitops(&value) {
            continue;
        }
        if let Some(ev) = ObjectEvent::from_value(&context, &value)
            && tx.send(ev).is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summarises_events_and_keeps_only_gitops_ones() {
        let e = json!({"metadata": {"uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                               "namespace": "flux-system", "name": "apps"},
            "type": "Warning", "reason": "BuildFailed", "message": "kustomize build failed",
            "count": 3, "lastTimestamp": "2026-01-01T00:05:00Z"});
        assert!(is_about_gitops(&e));
        let ev = ObjectEvent::from_value("dev", &e).unwrap();
        assert_eq!(ev.kind, "Kustomization");
        assert_eq!(ev.count, 3);
        assert!(ev.is_warning());
        assert_eq!(
            ev.last_seen,
            crate::model::conditions::parse_time("2026-01-01T00:05:00Z")
        );
        let pod = json!({"involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "p"}});
        assert!(!is_about_gitops(&pod));
        for junk in [
            json!(null),
            json!([1]),
            json!({"involvedObject": 3}),
            json!({"count": "x"}),
        ] {
            assert!(!is_about_gitops(&junk));
            assert_eq!(ObjectEvent::from_value("dev", &junk), None);
        }
        let bare =
            ObjectEvent::from_value("dev", &json!({"involvedObject": {}, "count": -5})).unwrap();
        assert_eq!(bare.count, 1);
        assert_eq!(bare.last_seen, None);
    }
}
