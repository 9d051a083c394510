//! `alertmanager`: one firing alert per event, `alertname=Flux<Kind><Reason>`, the event's
//! metadata and object as labels, the message (and a `summary` metadata key) as annotations.

use serde_json::{Map, Value, json};

use super::{Provider, Sent, metadata_pairs};
use crate::controllers::notification::NotificationError;
use crate::runtime::FluxEvent;

/// The Alertmanager payload (a list of one alert) for `event`.
pub(super) fn payload(event: &FluxEvent) -> Value {
    let o = &event.involved_object;
    let field = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    annotations.insert("message".into(), json!(event.message));
    for (k, v) in metadata_pairs(event) {
        if k == "summary" {
            annotations.insert(k, json!(v));
        } else {
            labels.insert(k, json!(v));
        }
    }
    let kind = field("kind");
    labels.insert(
        "alertname".into(),
        json!(format!("Flux{kind}{}", event.reason)),
    );
    labels.insert("severity".into(), json!(event.severity));
    labels.insert("reason".into(), json!(event.reason));
    labels.insert("timestamp".into(), json!(event.timestamp));
    labels.insert("kind".into(), json!(kind));
    labels.insert("name".into(), json!(field("name")));
    labels.insert("namespace".into(), json!(field("namespace")));
    json!([{
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": event.timestamp,
        "generatorURL": "",
    }])
}

pub(super) async fn send(p: &Provider, event: &FluxEvent) -> Result<Sent, NotificationError> {
    let body = serde_json::to_vec(&payload(event)).unwrap_or_default();
    let mut extra = Vec::new();
    if let Some(t) = &p.token {
        extra.push(("Authorization", format!("Bearer {t}")));
    }
    p.post(&p.address, body, &extra).await
}
