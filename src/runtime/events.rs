//! Kubernetes core/v1 Events recorded on reconciled objects, the way Flux's controllers record them
//! through client-go (flux-semantics §1.4, §2.5, §3.9): one Event per distinct (object, type, reason,
//! message), repeated ones bump `count` and `lastTimestamp` instead of creating another.

use http::Method;
use kube::Client;

use super::rest::{self, escape};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use super::status_io::EventNote;

/// Longest message stored on an Event (bytes); longer ones are cut and end in `...`.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// Identical events within this window are aggregated into one.
pub const AGGREGATION_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Remembered distinct events per recorder (oldest forgotten first).
const CACHE_CAPACITY: usize = 4096;
/// `reportingInstance` of every Event.
const REPORTING_INSTANCE: &str = "flotilla";

/// The Event `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Informational.
    Normal,
    /// Something went wrong.
    Warning,
}

impl EventType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// Where [`FluxEvent`]s are delivered (the notification controller's inbox).
pub type EventSink = mpsc::UnboundedSender<FluxEvent>;

/// A Flux event as controllers POST it to notification-controller (`eventv1.Event`): the object,
/// `info`/`error` severity, time, reason, message, metadata from the `<group>/…` annotations
/// (`revision`, `originRevision`, `digest`, …) and the reporting controller.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FluxEvent {
    /// `{kind, namespace, name, uid, apiVersion, resourceVersion}` of the object.
    pub involved_object: Value,
    /// `info` (Normal events) or `error` (Warning events).
    pub severity: String,
    /// RFC 3339, whole seconds, UTC.
    pub timestamp: String,
    /// The event message.
    pub message: String,
    /// The Flux reason.
    pub reason: String,
    /// Annotations of the object's API group, keys without the group prefix.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// e.g. `kustomize-controller`.
    pub reporting_controller: String,
    /// The controller instance (optional in events other controllers post; omitted when empty,
    /// as Flux's Go type does).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reporting_instance: String,
}

impl FluxEvent {
    /// The payload of `note` recorded on `involved` by `controller`.
    pub fn from_note(involved: &Value, note: &EventNote, controller: &str) -> FluxEvent {
        let md = involved.get("metadata");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let mut obj = Map::new();
        obj.insert("kind".into(), json!(text(involved.get("kind"))));
        for key in ["namespace", "name", "uid"] {
            obj.insert(key.into(), json!(text(md.and_then(|m| m.get(key)))));
        }
        obj.insert("apiVersion".into(), json!(text(involved.get("apiVersion"))));
        let rv = text(md.and_then(|m| m.get("resourceVersion")));
        obj.insert("resourceVersion".into(), json!(rv));
        let group = text(involved.get("apiVersion"));
        let group = group.split_once('/').map(|(g, _)| g).unwrap_or("");
        let prefix = format!("{group}/");
        let metadata = note
            .annotations
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), json!(v))))
            .collect();
        FluxEvent {
            involved_object: Value::Object(obj),
            severity: if note.warning { "error" } else { "info" }.to_string(),
            timestamp: now_rfc3339(),
            message: truncate_message(&note.message),
            reason: note.reason.clone(),
            metadata,
            reporting_controller: controller.to_string(),
            reporting_instance: REPORTING_INSTANCE.to_string(),
        }
    }
}

/// What makes two events "the same" (client-go's correlation key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EventKey {
    api_version: String,
    kind: String,
    namespace: String,
    name: String,
    uid: String,
    type_: EventType,
    reason: String,
    message: String,
}

/// An Event already written.
#[derive(Debug, Clone)]
struct Seen {
    namespace: String,
    name: String,
    count: u64,
    last: Instant,
}

/// Records Events for one controller. Cheap to clone; clones share the aggregation cache.
#[derive(Clone)]
pub struct EventRecorder {
    client: Client,
    component: String,
    seen: Arc<Mutex<HashMap<EventKey, Seen>>>,
}

/// Cuts a message to [`MAX_MESSAGE_BYTES`] on a character boundary.
pub fn truncate_message(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_string();
    }
    let mut end = MAX_MESSAGE_BYTES - 3;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// The current time as the API's RFC 3339 seconds timestamp.
fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn unix_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The `involvedObject` reference of an object, and the namespace its Events go to.
fn involved_ref(involved: &Value) -> Option<(Value, String)> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let md = involved.get("metadata");
    let name = text(md.and_then(|m| m.get("name")));
    let kind = text(involved.get("kind"));
    if name.is_empty() || kind.is_empty() {
        return None;
    }
    let namespace = text(md.and_then(|m| m.get("namespace")));
    let mut r = Map::new();
    r.insert("apiVersion".into(), json!(text(involved.get("apiVersion"))));
    r.insert("kind".into(), json!(kind));
    r.insert("name".into(), json!(name));
    if !namespace.is_empty() {
        r.insert("namespace".into(), json!(namespace));
    }
    for key in ["uid", "resourceVersion"] {
        let v = text(md.and_then(|m| m.get(key)));
        if !v.is_empty() {
            r.insert(key.into(), json!(v));
        }
    }
    let event_ns = if namespace.is_empty() {
        "default".to_string()
    } else {
        namespace
    };
    Some((Value::Object(r), event_ns))
}

/// The Event object client-go would create.
#[allow(clippy::too_many_arguments)]
fn new_event(
    involved: &Value,
    namespace: &str,
    name: &str,
    type_: EventType,
    reason: &str,
    message: &str,
    annotations: &[(String, String)],
    component: &str,
    now: &str,
) -> Value {
    let mut md = json!({"name": name, "namespace": namespace});
    if !annotations.is_empty() {
        let a: Map<String, Value> = annotations
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        md["annotations"] = Value::Object(a);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": md,
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": type_.as_str(),
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": REPORTING_INSTANCE,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "eventTime": null,
    })
}

impl EventRecorder {
    /// A recorder for `component` ("kustomize-controller", "source-controller", …).
    pub fn new(client: Client, component: &str) -> EventRecorder {
        EventRecorder {
            client,
            component: component.to_string(),
            seen: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The reporting component.
    pub fn component(&self) -> &str {
        &self.component
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<EventKey, Seen>> {
        // A poisoned lock only means a panic elsewhere mid-update; the cache is still a valid map.
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, key: EventKey, seen: Seen) {
        let mut cache = self.cache();
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(&key) {
            let oldest = cache
                .iter()
                .min_by_key(|(_, s)| s.last)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                cache.remove(&k);
            }
        }
        cache.insert(key, seen);
    }

    /// Bumps `count`/`lastTimestamp` of an Event already written; false when it is gone (404) and
    /// a new one must be created. Other failures are logged (true: nothing more to do).
    async fn bump(&self, key: &EventKey, prev: Seen, now: &str) -> bool {
        let count = prev.count + 1;
        let path = format!(
            "/api/v1/namespaces/{}/events/{}",
            escape(&prev.namespace),
            escape(&prev.name)
        );
        let patch = json!({"count": count, "lastTimestamp": now});
        let body = patch.to_string().into_bytes();
        match rest::send(
            &self.client,
            Method::PATCH,
            &path,
            Some(rest::MERGE_PATCH),
            body,
        )
        .await
        {
            Ok(_) => {
                let last = Instant::now();
                self.remember(
                    key.clone(),
                    Seen {
                        count,
                        last,
                        ..prev
                    },
                );
                true
            }
            // The Event expired or was deleted: start a new one.
            Err(kube::Error::Api(s)) if s.code == 404 => false,
            Err(e) => {
                tracing::warn!(event = %prev.name, error = %e, "event not updated");
                true
            }
        }
    }

    /// Records an Event on `involved` (a full object). Identical events within
    /// [`AGGREGATION_WINDOW`] bump `count`/`lastTimestamp` of the existing Event. Failures are logged
    /// and swallowed: an event never fails a reconcile.
    pub async fn record(
        &self,
        involved: &Value,
        type_: EventType,
        reason: &str,
        message: &str,
        annotations: &[(String, String)],
    ) {
        let Some((reference, namespace)) = involved_ref(involved) else {
            tracing::warn!(%reason, "event not recorded: the involved object has no kind or name");
            return;
        };
        // Safety net: no URL password reaches an Event, whatever the caller built.
        let message = truncate_message(&crate::model::redact::redact(message));
        let field = |k: &str| {
            reference
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let key = EventKey {
            api_version: field("apiVersion"),
            kind: field("kind"),
            namespace: field("namespace"),
            name: field("name"),
            uid: field("uid"),
            type_,
            reason: reason.to_string(),
            message: message.clone(),
        };
        let now = now_rfc3339();
        let previous = self
            .cache()
            .get(&key)
            .filter(|s| s.last.elapsed() < AGGREGATION_WINDOW)
            .cloned();
        if let Some(prev) = previous
            && self.bump(&key, prev, &now).await
        {
            return;
        }
        let involved_name = field("name");
        let mut nanos = unix_nanos();
        for _ in 0..3 {
            let name = format!("{involved_name}.{nanos:x}");
            let event = new_event(
                &reference,
                &namespace,
                &name,
                type_,
                reason,
                &message,
                annotations,
                &self.component,
                &now,
            );
            let path = format!("/api/v1/namespaces/{}/events", escape(&namespace));
            match rest::send(
                &self.client,
                Method::POST,
                &path,
                Some(rest::JSON),
                event.to_string().into_bytes(),
            )
            .await
            {
                Ok(_) => {
                    self.remember(
                        key,
                        Seen {
                            namespace,
                            name,
                            count: 1,
                            last: Instant::now(),
                        },
                    );
                    return;
                }
                // Two events in the same nanosecond: take the next name.
                Err(kube::Error::Api(s)) if s.code == 409 => nanos += 1,
                Err(e) => {
                    tracing::warn!(%reason, object = %involved_name, error = %e, "event not recorded");
                    return;
                }
            }
        }
        tracing::warn!(%reason, object = %involved_name, "event not recorded: name collisions");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        assert_eq!(truncate_message("short"), "short");
        let exact = "a".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(truncate_message(&exact), exact);
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let cut = truncate_message(&long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES);
        assert!(cut.ends_with("..."));
        assert!(cut.starts_with("éé"));
    }

    #[test]
    fn references_follow_the_involved_object() {
        let (r, ns) = involved_ref(&json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization", "metadata": {"name": "apps", "namespace": "flux-system",
            "uid": "u1", "resourceVersion": "7", "labels": {"x": "y"}}}))
        .unwrap();
        assert_eq!(ns, "flux-system");
        assert_eq!(
            r,
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                   "name": "apps", "namespace": "flux-system", "uid": "u1", "resourceVersion": "7"})
        );
        let (r, ns) = involved_ref(&json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "apps"}}))
        .unwrap();
        assert_eq!(ns, "default");
        assert!(r.get("namespace").is_none());
        for junk in [
            json!(null),
            json!({"kind": "X"}),
            json!({"metadata": {"name": "a"}}),
            json!({"kind": 3, "metadata": {"name": []}}),
        ] {
            assert!(involved_ref(&junk).is_none(), "{junk}");
        }
    }

    #[test]
    fn notification_payloads_have_flux_shape() {
        let obj = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system", "uid": "u1",
                "resourceVersion": "7"}});
        let note = EventNote::warning("BuildFailed", "kustomize build failed: x")
            .annotate("kustomize.toolkit.fluxcd.io/revision", "main@sha1:abc")
            .annotate("other.io/thing", "ignored");
        let e = FluxEvent::from_note(&obj, &note, "kustomize-controller");
        let v = serde_json::to_value(&e).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "involvedObject",
                "message",
                "metadata",
                "reason",
                "reportingController",
                "reportingInstance",
                "severity",
                "timestamp"
            ]
        );
        assert_eq!(
            v["involvedObject"],
            json!({"kind": "Kustomization", "namespace": "flux-system", "name": "apps",
                   "uid": "u1", "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                   "resourceVersion": "7"})
        );
        assert_eq!(v["severity"], "error");
        assert_eq!(v["reason"], "BuildFailed");
        assert_eq!(v["message"], "kustomize build failed: x");
        assert_eq!(v["metadata"], json!({"revision": "main@sha1:abc"}));
        assert_eq!(v["reportingController"], "kustomize-controller");
        assert_eq!(v["reportingInstance"], "flotilla");
        assert!(
            v["timestamp"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .is_ok()
        );
        let info = FluxEvent::from_note(&obj, &EventNote::normal("Progressing", "m"), "k");
        assert_eq!(info.severity, "info");
        assert!(
            serde_json::to_value(&info)
                .unwrap()
                .get("metadata")
                .is_none()
        );
    }

    #[test]
    fn events_carry_what_kubectl_shows() {
        let e = new_event(
            &json!({"kind": "GitRepository", "name": "repo"}),
            "flux-system",
            "repo.1",
            EventType::Warning,
            "GitOperationFailed",
            "boom",
            &[(
                "source.toolkit.fluxcd.io/revision".into(),
                "main@sha1:abc".into(),
            )],
            "source-controller",
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(e["type"], "Warning");
        assert_eq!(e["source"]["component"], "source-controller");
        assert_eq!(e["reportingComponent"], "source-controller");
        assert_eq!(e["count"], 1);
        assert!(e["eventTime"].is_null());
        assert_eq!(
            e["metadata"]["annotations"]["source.toolkit.fluxcd.io/revision"],
            "main@sha1:abc"
        );
    }
}
