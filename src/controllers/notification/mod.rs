//! notification-controller: `Provider` and `Alert` (`notification.toolkit.fluxcd.io/v1beta3`)
//! route the bundled reconciler's events (and events posted to the Flux event intake) to chat,
//! webhooks, Alertmanager and commit statuses; `Receiver` (`v1`) turns signed webhook calls from
//! Git hosts and registries into `reconcile.fluxcd.io/requestedAt` requests.
//!
//! v1beta3 Alerts and Providers are static objects in Flux (no status, no reconciler: they are
//! read when an event arrives); Receivers are reconciled and carry Ready and `webhookPath`.

pub mod alert;
pub mod dispatcher;
pub mod intake;
pub mod providers;
pub mod receiver;

pub use dispatcher::{Delivery, Dispatcher, DispatcherOptions};

/// Errors of the notification controller; each names the object or provider concerned.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// An object's spec or secret cannot be used.
    #[error("{object}: {message}")]
    Invalid {
        /// `Kind namespace/name`.
        object: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// A provider did not accept an event.
    #[error("provider {provider}: {message}")]
    Send {
        /// `namespace/name` of the Provider.
        provider: String,
        /// What failed (addresses masked).
        message: String,
    },
    /// A server could not listen.
    #[error("cannot listen on {addr} for the {what}: {source}")]
    Bind {
        /// Which server.
        what: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A provider address as it may be shown: `scheme://host[:port]` and `/…` when there is a path or
/// query (Slack, Discord and Teams webhook paths are the secret), never userinfo.
pub fn mask_url(address: &str) -> String {
    match reqwest::Url::parse(address) {
        Ok(u) => {
            let mut out = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
            if let Some(p) = u.port() {
                out.push_str(&format!(":{p}"));
            }
            if u.path().trim_matches('/').is_empty() && u.query().is_none() {
                out
            } else {
                out + "/…"
            }
        }
        Err(_) => "<invalid address>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked() {
        assert_eq!(
            mask_url("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            mask_url("http://u:p@127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(mask_url("not a url"), "<invalid address>");
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
    }
}
