//! `slack` and `discord`: a Slack message with one attachment coloured `good` (info) or `danger`
//! (error), titled `kind/name.namespace`, the metadata as fields. With a token Slack is called
//! through `chat.postMessage` (Bearer auth); Discord takes the same payload on its `/slack`
//! compatible webhook path.

use serde_json::{Value, json};

use super::{Provider, Sent, metadata_pairs, object_title};
use crate::controllers::notification::NotificationError;
use crate::runtime::FluxEvent;

/// The Slack payload for `event`.
pub(super) fn payload(p: &Provider, event: &FluxEvent) -> Value {
    let username = if p.username.is_empty() {
        event.reporting_controller.clone()
    } else {
        p.username.clone()
    };
    let color = if event.severity == "error" {
        "danger"
    } else {
        "good"
    };
    let fields: Vec<Value> = metadata_pairs(event)
        .into_iter()
        .map(|(k, v)| json!({"title": k, "value": v, "short": false}))
        .collect();
    json!({
        "channel": p.channel,
        "username": username,
        "icon_url": "https://raw.githubusercontent.com/fluxcd/flux2/main/docs/_files/flux-icon@2x.png",
        "icon_emoji": "",
        "attachments": [{
            "color": color,
            "author_name": object_title(event),
            "text": event.message,
            "mrkdwn_in": ["text"],
            "fields": fields,
        }],
    })
}

pub(super) async fn send(
    p: &Provider,
    event: &FluxEvent,
    discord: bool,
) -> Result<Sent, NotificationError> {
    let body = serde_json::to_vec(&payload(p, event)).unwrap_or_default();
    if discord {
        let url = format!("{}/slack", p.address.trim_end_matches('/'));
        return p.post(&url, body, &[]).await;
    }
    let mut extra = Vec::new();
    if let Some(t) = &p.token {
        extra.push(("Authorization", format!("Bearer {t}")));
    }
    p.post(&p.address, body, &extra).await
}
