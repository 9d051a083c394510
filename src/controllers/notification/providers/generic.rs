//! `generic` and `generic-hmac`: the event JSON as controllers post it, `gotk-component` naming
//! the reporting controller, and for `generic-hmac` `X-Signature: sha256=<hex HMAC(body, token)>`.

use super::{Provider, Sent, hmac_sha256_hex};
use crate::controllers::notification::NotificationError;
use crate::runtime::FluxEvent;

/// The body a generic provider posts.
pub(super) fn body(event: &FluxEvent) -> Result<Vec<u8>, NotificationError> {
    serde_json::to_vec(event).map_err(|e| NotificationError::Invalid {
        object: "event".into(),
        message: e.to_string(),
    })
}

pub(super) async fn send(
    p: &Provider,
    event: &FluxEvent,
    hmac: bool,
) -> Result<Sent, NotificationError> {
    let body = body(event)?;
    let mut extra = vec![("gotk-component", event.reporting_controller.clone())];
    if hmac {
        let key = p.token.as_deref().unwrap_or("");
        extra.push((
            "X-Signature",
            format!("sha256={}", hmac_sha256_hex(key.as_bytes(), &body)),
        ));
    }
    p.post(&p.address, body, &extra).await
}
