//! `Provider` (`notification.toolkit.fluxcd.io/v1beta3`): where an Alert's events are sent, one
//! file per family. The payloads are shaped as notification-controller's notifiers build them.

mod alertmanager;
mod commit_status;
mod generic;
mod msteams;
mod slack;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::Value;

use super::{NotificationError, hex, mask_url};
use crate::runtime::FluxEvent;

pub use commit_status::{commit_sha, status_id};

/// Flux's default for `spec.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The provider families flotilla sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderType {
    /// POST the event JSON.
    Generic,
    /// POST the event JSON signed with `X-Signature`.
    GenericHmac,
    /// Slack webhook or `chat.postMessage`.
    Slack,
    /// Microsoft Teams workflow (Adaptive Card).
    MsTeams,
    /// Discord's Slack-compatible webhook.
    Discord,
    /// Prometheus Alertmanager `/api/v2/alerts`.
    Alertmanager,
    /// GitHub commit status.
    GitHub,
    /// GitLab commit status.
    GitLab,
}

impl ProviderType {
    /// The `spec.type` spelling.
    pub fn parse(s: &str) -> Option<ProviderType> {
        Some(match s {
            "generic" => Self::Generic,
            "generic-hmac" => Self::GenericHmac,
            "slack" => Self::Slack,
            "msteams" => Self::MsTeams,
            "discord" => Self::Discord,
            "alertmanager" => Self::Alertmanager,
            "github" => Self::GitHub,
            "gitlab" => Self::GitLab,
            _ => return None,
        })
    }

    /// Commit-status providers post only events about a commit.
    pub fn is_commit_status(self) -> bool {
        matches!(self, Self::GitHub | Self::GitLab)
    }
}

/// A Provider with its secrets read, ready to send.
pub struct Provider {
    /// `namespace/name`.
    pub id: String,
    /// The family.
    pub type_: ProviderType,
    /// `metadata.uid` (commit status ids derive from it).
    pub uid: String,
    /// Where to send (from the secret's `address` or `spec.address`).
    pub address: String,
    /// The secret's `token`.
    pub token: Option<String>,
    /// The secret's `headers`.
    pub headers: Vec<(String, String)>,
    /// `spec.channel`.
    pub channel: String,
    /// `spec.username`.
    pub username: String,
    /// `spec.suspend`.
    pub suspend: bool,
    /// `spec.timeout`.
    pub timeout: Duration,
    http: reqwest::Client,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token or an unmasked address.
        f.debug_struct("Provider")
            .field("id", &self.id)
            .field("type", &self.type_)
            .field("address", &mask_url(&self.address))
            .finish_non_exhaustive()
    }
}

/// What happened to one event at one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Delivered; the HTTP status.
    Posted(u16),
    /// Not sent on purpose (the reason).
    Skipped(String),
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Parses a Go duration (`30s`, `1m30s`, `500ms`, `1h`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_end] {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return None,
        };
        total += Duration::from_secs_f64(secs);
        rest = &rest[unit_end..];
    }
    Some(total)
}

async fn secret(
    client: &kube::Client,
    ns: &str,
    name: &str,
    what: &str,
) -> Result<std::collections::BTreeMap<String, Vec<u8>>, NotificationError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let s = api
        .get_opt(name)
        .await
        .map_err(|e| NotificationError::Invalid {
            object: what.to_string(),
            message: format!("cannot read secret '{ns}/{name}': {e}"),
        })?
        .ok_or_else(|| NotificationError::Invalid {
            object: what.to_string(),
            message: format!("secret '{ns}/{name}' not found"),
        })?;
    let mut out: std::collections::BTreeMap<String, Vec<u8>> = s
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in s.string_data.unwrap_or_default() {
        out.insert(k, v.into_bytes());
    }
    Ok(out)
}

impl Provider {
    /// Reads a Provider object and its secrets.
    pub async fn resolve(
        client: &kube::Client,
        obj: &Value,
    ) -> Result<Provider, NotificationError> {
        let name = text(obj, "/metadata/name");
        let ns = text(obj, "/metadata/namespace");
        let id = format!("{ns}/{name}");
        let what = format!("Provider {id}");
        let invalid = |message: String| NotificationError::Invalid {
            object: what.clone(),
            message,
        };
        let type_ = ProviderType::parse(text(obj, "/spec/type")).ok_or_else(|| {
            invalid(format!(
                "spec.type {:?} is not supported (generic, generic-hmac, slack, msteams, discord, alertmanager, github, gitlab)",
                text(obj, "/spec/type")
            ))
        })?;
        let mut address = text(obj, "/spec/address").to_string();
        let mut proxy = text(obj, "/spec/proxy").to_string();
        let mut token = None;
        let mut headers = Vec::new();
        let secret_name = text(obj, "/spec/secretRef/name");
        if !secret_name.is_empty() {
            let data = secret(client, ns, secret_name, &what).await?;
            let field = |k: &str| {
                data.get(k)
                    .map(|v| String::from_utf8_lossy(v).trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            if let Some(a) = field("address") {
                address = a;
            }
            if let Some(p) = field("proxy") {
                proxy = p;
            }
            token = field("token");
            if let Some(h) = field("headers") {
                let map: std::collections::BTreeMap<String, String> = serde_saphyr::from_str(&h)
                    .map_err(|e| {
                        invalid(format!(
                            "secret '{ns}/{secret_name}' key 'headers' is not a YAML map of strings: {e}"
                        ))
                    })?;
                headers = map.into_iter().collect();
            }
        }
        if address.is_empty() {
            return Err(invalid(
                "no address: set spec.address or the secret's 'address' key".into(),
            ));
        }
        let url = reqwest::Url::parse(&address)
            .map_err(|e| invalid(format!("address {} is not a URL: {e}", mask_url(&address))))?;
        if type_ == ProviderType::GenericHmac && token.is_none() {
            return Err(invalid(
                "generic-hmac needs a secretRef with a 'token' (the HMAC key)".into(),
            ));
        }
        if type_.is_commit_status() && token.is_none() {
            return Err(invalid(format!(
                "{} commit status needs a secretRef with a 'token'",
                text(obj, "/spec/type")
            )));
        }
        let timeout = match text(obj, "/spec/timeout") {
            "" => DEFAULT_TIMEOUT,
            t => parse_duration(t)
                .ok_or_else(|| invalid(format!("spec.timeout {t:?} is not a duration")))?,
        };
        // Err means a provider is already the process default, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)));
        if !proxy.is_empty() {
            let p = reqwest::Proxy::all(&proxy)
                .map_err(|e| invalid(format!("proxy {} is not usable: {e}", mask_url(&proxy))))?;
            builder = builder.proxy(p);
        } else if url.host_str().is_some_and(|h| {
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }) {
            builder = builder.no_proxy();
        }
        let cert_name = text(obj, "/spec/certSecretRef/name");
        if !cert_name.is_empty() {
            let data = secret(client, ns, cert_name, &what).await?;
            let pem = data
                .get("ca.crt")
                .or_else(|| data.get("caFile"))
                .ok_or_else(|| invalid(format!("secret '{ns}/{cert_name}' has no 'ca.crt' key")))?;
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| invalid(format!("secret '{ns}/{cert_name}' 'ca.crt': {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| invalid(format!("cannot build an HTTP client: {e}")))?;
        Ok(Provider {
            type_,
            uid: text(obj, "/metadata/uid").to_string(),
            address,
            token,
            headers,
            channel: text(obj, "/spec/channel").to_string(),
            username: text(obj, "/spec/username").to_string(),
            suspend: obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true),
            timeout,
            http,
            id,
        })
    }

    /// Sends one (already matched and enriched) event.
    pub async fn send(&self, event: &FluxEvent) -> Result<Sent, NotificationError> {
        if self.suspend {
            return Ok(Sent::Skipped("provider suspended".into()));
        }
        match self.type_ {
            ProviderType::Generic => generic::send(self, event, false).await,
            ProviderType::GenericHmac => generic::send(self, event, true).await,
            ProviderType::Slack => slack::send(self, event, false).await,
            ProviderType::Discord => slack::send(self, event, true).await,
            ProviderType::MsTeams => msteams::send(self, event).await,
            ProviderType::Alertmanager => alertmanager::send(self, event).await,
            ProviderType::GitHub => commit_status::github(self, event).await,
            ProviderType::GitLab => commit_status::gitlab(self, event).await,
        }
    }

    /// POSTs `body` as JSON to `url` with the provider's headers plus `extra`.
    async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        extra: &[(&str, String)],
    ) -> Result<Sent, NotificationError> {
        let mut req = self
            .http
            .post(url)
            .header("Content-Type", "application/json");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        for (k, v) in extra {
            req = req.header(*k, v.as_str());
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| self.http_error(url, e))?;
        self.check(url, resp).await
    }

    async fn check(&self, url: &str, resp: reqwest::Response) -> Result<Sent, NotificationError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(Sent::Posted(status.as_u16()));
        }
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        Err(NotificationError::Send {
            provider: self.id.clone(),
            message: format!("POST {} answered {status}: {}", mask_url(url), body.trim()),
        })
    }

    fn http_error(&self, url: &str, e: reqwest::Error) -> NotificationError {
        // without_url: the URL may carry a token (Slack/Discord/Teams webhooks).
        let kind = if e.is_timeout() {
            format!("timed out after {:?}", self.timeout)
        } else {
            crate::model::error_text::error_chain(&e.without_url())
        };
        NotificationError::Send {
            provider: self.id.clone(),
            message: format!("{} {}: {kind}", "POST", mask_url(url)),
        }
    }
}

/// `kind/name.namespace` as Flux's chat notifiers title a message.
fn object_title(event: &FluxEvent) -> String {
    let o = &event.involved_object;
    format!(
        "{}/{}.{}",
        text(o, "/kind").to_lowercase(),
        text(o, "/name"),
        text(o, "/namespace")
    )
}

/// Metadata as sorted `(key, value)` strings.
fn metadata_pairs(event: &FluxEvent) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = event
        .metadata
        .iter()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            (k.clone(), v)
        })
        .collect();
    out.sort();
    out
}

/// HMAC-SHA256 of `body` keyed with `key`, hex.
pub fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => return String::new(),
    };
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}
