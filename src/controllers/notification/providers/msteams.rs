//! `msteams`: a Teams workflow message carrying an Adaptive Card 1.4 (title `kind/name.namespace`,
//! the message, the metadata as a FactSet; error events in the `attention` colour).

use serde_json::{Value, json};

use super::{Provider, Sent, metadata_pairs, object_title};
use crate::controllers::notification::NotificationError;
use crate::runtime::FluxEvent;

/// The Teams payload for `event`.
pub(super) fn payload(event: &FluxEvent) -> Value {
    let facts: Vec<Value> = metadata_pairs(event)
        .into_iter()
        .map(|(k, v)| json!({"title": k, "value": v}))
        .collect();
    let mut title = json!({"type": "TextBlock", "text": object_title(event), "size": "large",
        "weight": "bolder", "wrap": true});
    if event.severity == "error" {
        title["color"] = json!("attention");
    }
    let mut body = vec![
        title,
        json!({"type": "TextBlock", "text": event.message, "wrap": true}),
    ];
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

pub(super) async fn send(p: &Provider, event: &FluxEvent) -> Result<Sent, NotificationError> {
    let body = serde_json::to_vec(&payload(event)).unwrap_or_default();
    p.post(&p.address, body, &[]).await
}
