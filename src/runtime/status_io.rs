//! Small I/O pieces every reconciler shares: events to record, Secret/ConfigMap reads, status fields.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;

use super::events::{EventRecorder, EventType};
use serde_json::{Map, Value};

/// An event a run wants recorded on its object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventNote {
    /// `Warning` (true) or `Normal`.
    pub warning: bool,
    /// The reason.
    pub reason: String,
    /// The message.
    pub message: String,
    /// Annotations (e.g. the revision).
    pub annotations: Vec<(String, String)>,
}

impl EventNote {
    /// A Normal event.
    pub fn normal(reason: &str, message: &str) -> EventNote {
        EventNote {
            warning: false,
            reason: reason.to_string(),
            message: message.to_string(),
            annotations: Vec::new(),
        }
    }

    /// A Warning event.
    pub fn warning(reason: &str, message: &str) -> EventNote {
        EventNote {
            warning: true,
            ..EventNote::normal(reason, message)
        }
    }

    /// Adds an annotation.
    pub fn annotate(mut self, key: &str, value: &str) -> EventNote {
        self.annotations.push((key.to_string(), value.to_string()));
        self
    }
}

/// Records events for one controller component (Kubernetes Events, plus a log line each).
#[derive(Clone)]
pub struct Events {
    recorder: EventRecorder,
}

impl Events {
    /// Events reported as `component` (e.g. `kustomize-controller`).
    pub fn new(client: kube::Client, component: &str) -> Events {
        Events {
            recorder: EventRecorder::new(client, component),
        }
    }

    /// Records the notes on `involved`; failures are logged, never returned.
    pub async fn emit(&self, involved: &Value, notes: Vec<EventNote>) {
        let name = involved
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        for n in notes {
            tracing::debug!(
                component = %self.recorder.component(),
                object = %name,
                reason = %n.reason,
                warning = n.warning,
                "{}",
                n.message
            );
            let type_ = if n.warning {
                EventType::Warning
            } else {
                EventType::Normal
            };
            self.recorder
                .record(involved, type_, &n.reason, &n.message, &n.annotations)
                .await;
        }
    }
}

/// One line from a status: `Ready=<status> <reason>: <message>` (or `no Ready condition`).
pub fn ready_summary(status: &Value) -> String {
    let wrapped = serde_json::json!({ "status": status });
    match crate::model::conditions::ready(&wrapped) {
        Some(c) => format!("Ready={} {}: {}", c.status.as_str(), c.reason, c.message),
        None => "no Ready condition".to_string(),
    }
}

/// `status.observedGeneration`, if set.
pub fn observed_generation(status: &Value) -> Option<i64> {
    status.get("observedGeneration").and_then(Value::as_i64)
}

/// The `data` of a Secret (base64 values, as stored), or a message naming it.
pub async fn read_secret_data(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Value, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(s)) => {
            let mut data = Map::new();
            for (k, v) in s.data.unwrap_or_default() {
                let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, v.0);
                data.insert(k, Value::String(b64));
            }
            for (k, v) in s.string_data.unwrap_or_default() {
                let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, v);
                data.insert(k, Value::String(b64));
            }
            Ok(Value::Object(data))
        }
        Ok(None) => Err(format!("secret '{ns}/{name}' not found")),
        Err(e) => Err(format!("cannot read secret '{ns}/{name}': {e}")),
    }
}

/// The `data` of a ConfigMap as plain strings (`None` when NotFound).
pub async fn read_config_map_data(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Option<Map<String, Value>>, String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(c)) => Ok(Some(
            c.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("cannot read configmap '{ns}/{name}': {e}")),
    }
}
