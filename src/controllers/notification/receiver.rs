//! `Receiver` (`notification.toolkit.fluxcd.io/v1`): the reconciler writes
//! `status.webhookPath` (`/hook/<hex sha256(token + name + namespace)>`) and Ready; the webhook
//! server (`--receiver-addr`, notification-controller's `:9292`) verifies each call the way the
//! Receiver's type demands and then sets `reconcile.fluxcd.io/requestedAt` on every object in
//! `spec.resources`. 404 unknown path, 503 suspended or not Ready, 400 failed verification or an
//! event not allowed, 413 body above [`MAX_BODY_BYTES`], 429 when a path is flooded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use sha2::Digest;

use super::NotificationError;
use super::dispatcher::GROUP;
use super::hex;
use super::intake::HttpServer;
use super::providers::parse_duration;
use crate::runtime::{Controller, Failure, Run, Success};

/// Largest webhook body accepted (GitHub caps payloads at 25 MiB; a push is far smaller).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Calls per path allowed in a burst, and refilled per second.
const BURST: f64 = 20.0;
const REFILL_PER_SEC: f64 = 5.0;
/// The annotation a valid call sets.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// Receiver types flotilla verifies.
pub const TYPES: &[&str] = &[
    "generic",
    "generic-hmac",
    "github",
    "gitlab",
    "bitbucket",
    "harbor",
    "dockerhub",
    "quay",
    "nexus",
    "cdevents",
];

/// The webhook path of a Receiver.
pub fn webhook_path(token: &str, name: &str, namespace: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(token.as_bytes());
    h.update(name.as_bytes());
    h.update(namespace.as_bytes());
    format!("/hook/{}", hex(&h.finalize()))
}

/// The typed Receiver spec.
pub struct ReceiverSpec {
    secret: String,
    interval: Duration,
}

/// The Receiver reconciler.
pub struct ReceiverReconciler {
    client: kube::Client,
}

impl ReceiverReconciler {
    /// A reconciler over `client`.
    pub fn new(client: kube::Client) -> ReceiverReconciler {
        ReceiverReconciler { client }
    }
}

async fn token(client: &kube::Client, ns: &str, name: &str) -> Result<String, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let s = api
        .get_opt(name)
        .await
        .map_err(|e| format!("cannot read secret '{ns}/{name}': {e}"))?
        .ok_or_else(|| format!("secret '{ns}/{name}' not found"))?;
    let from_data = s
        .data
        .as_ref()
        .and_then(|d| d.get("token"))
        .map(|b| String::from_utf8_lossy(&b.0).to_string());
    let from_string = s.string_data.as_ref().and_then(|d| d.get("token")).cloned();
    from_data
        .or(from_string)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("invalid '{ns}/{name}' secret data: required field 'token'"))
}

impl Controller for ReceiverReconciler {
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = "Receiver";
    const COMPONENT: &'static str = "notification-controller";
    type Spec = ReceiverSpec;

    fn parse(&self, obj: &Value) -> Result<ReceiverSpec, Failure> {
        let t = obj
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !TYPES.contains(&t) {
            return Err(Failure::terminal(
                "InvalidReceiverType",
                format!("spec.type {t:?} is not supported ({})", TYPES.join(", ")),
            ));
        }
        let secret = obj
            .pointer("/spec/secretRef/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if secret.is_empty() {
            return Err(Failure::terminal(
                "TokenNotFound",
                "spec.secretRef.name is required",
            ));
        }
        let interval = match obj.pointer("/spec/interval").and_then(Value::as_str) {
            None => Duration::from_secs(600),
            Some(s) => parse_duration(s).ok_or_else(|| {
                Failure::terminal(
                    "InvalidInterval",
                    format!("spec.interval {s:?} is not a duration"),
                )
            })?,
        };
        Ok(ReceiverSpec { secret, interval })
    }

    async fn reconcile(&self, run: &mut Run, spec: ReceiverSpec) -> Result<Success, Failure> {
        run.backoff_cap(spec.interval);
        let ns = run.namespace().to_string();
        let t = token(&self.client, &ns, &spec.secret)
            .await
            .map_err(|m| Failure::transient("TokenNotFound", m))?;
        let path = webhook_path(&t, run.name(), &ns);
        run.set("webhookPath", json!(path));
        Ok(Success::ready(
            "Succeeded",
            format!("Receiver initialized for path: {path}"),
            spec.interval,
        ))
    }
}

/// A token bucket per path.
#[derive(Default)]
struct Limiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    fn allow(&self, key: &str) -> bool {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() > 4096 {
            // Random paths must not grow the map without bound.
            b.clear();
        }
        let now = Instant::now();
        let (tokens, last) = b.entry(key.to_string()).or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * REFILL_PER_SEC).min(BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Hooks {
    clusters: Vec<(String, kube::Client)>,
    limiter: Limiter,
    flood: Limiter,
}

/// Starts the webhook server on `addr` for `clusters`.
pub fn start(
    addr: std::net::SocketAddr,
    clusters: Vec<(String, kube::Client)>,
) -> Result<HttpServer, NotificationError> {
    HttpServer::start(addr, router(clusters), "webhook receiver")
}

/// The webhook routes.
pub fn router(clusters: Vec<(String, kube::Client)>) -> Router {
    let hooks = Arc::new(Hooks {
        clusters,
        limiter: Limiter::default(),
        flood: Limiter::default(),
    });
    Router::new()
        .route("/hook/{digest}", post(hook))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(hooks)
}

fn receivers_api(client: &kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, "v1", "Receiver"),
        "receivers",
    );
    Api::all_with(client.clone(), &ar)
}

type Answer = (StatusCode, String);

fn answer(code: StatusCode, msg: impl Into<String>) -> Answer {
    let mut m = msg.into();
    m.push('\n');
    (code, m)
}

async fn hook(
    State(hooks): State<Arc<Hooks>>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let path = format!("/hook/{digest}");
    if !hooks.flood.allow("*") || !hooks.limiter.allow(&path) {
        return answer(StatusCode::TOO_MANY_REQUESTS, "too many requests");
    }
    let mut found = None;
    for (cluster, client) in &hooks.clusters {
        let list = match receivers_api(client).list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => {
                tracing::warn!(%cluster, error = %e, "cannot list Receivers");
                continue;
            }
        };
        if let Some(r) = list.into_iter().find_map(|r| {
            let v = serde_json::to_value(r).ok()?;
            (v.pointer("/status/webhookPath").and_then(Value::as_str) == Some(path.as_str()))
                .then_some(v)
        }) {
            found = Some((cluster.clone(), client.clone(), r));
            break;
        }
    }
    let Some((cluster, client, receiver)) = found else {
        return answer(StatusCode::NOT_FOUND, "no receiver for this path");
    };
    let name = receiver
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let ns = receiver
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let id = format!("Receiver {ns}/{name}");
    if receiver.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{id} is suspended"),
        );
    }
    let ready = receiver
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    if !ready {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{id} is not ready"),
        );
    }
    let secret = receiver
        .pointer("/spec/secretRef/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let tok = match token(&client, ns, secret).await {
        Ok(t) => t,
        Err(e) => return answer(StatusCode::SERVICE_UNAVAILABLE, format!("{id}: {e}")),
    };
    match verify(&receiver, &tok, &headers, &body) {
        Ok(Verdict::Ping) => return answer(StatusCode::OK, "pong"),
        Ok(Verdict::Accept) => {}
        Err(e) => {
            tracing::info!(%cluster, receiver = %format!("{ns}/{name}"), error = %e, "webhook refused");
            return answer(StatusCode::BAD_REQUEST, format!("{id}: {e}"));
        }
    }
    match request_reconcile(&client, &receiver).await {
        Ok(n) => {
            tracing::info!(%cluster, receiver = %format!("{ns}/{name}"), objects = n, "reconcile requested");
            answer(
                StatusCode::OK,
                format!("reconcile requested for {n} object(s)"),
            )
        }
        Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, format!("{id}: {e}")),
    }
}

/// What a verified call asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Annotate the resources.
    Accept,
    /// A ping: answer, do nothing.
    Ping,
}

fn header<'a>(h: &'a HeaderMap, k: &str) -> &'a str {
    h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks `sig_hex` as the HMAC of `body` under `key` with `algo` (constant time).
fn hmac_ok(algo: &str, key: &[u8], body: &[u8], sig_hex: &str) -> bool {
    let Some(sig) = unhex(sig_hex) else {
        return false;
    };
    macro_rules! check {
        ($d:ty) => {
            match Hmac::<$d>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(body);
                    m.verify_slice(&sig).is_ok()
                }
                Err(_) => false,
            }
        };
    }
    match algo {
        "sha1" => check!(sha1::Sha1),
        "sha256" => check!(sha2::Sha256),
        "sha512" => check!(sha2::Sha512),
        _ => false,
    }
}

/// `algo=hex` signature header checked against the body.
fn signed(h: &HeaderMap, name: &str, key: &str, body: &[u8]) -> Result<(), String> {
    let v = header(h, name);
    if v.is_empty() {
        return Err(format!("the {name} header is missing"));
    }
    let Some((algo, sig)) = v.split_once('=') else {
        return Err(format!("the {name} header is not <algorithm>=<hex>"));
    };
    if !hmac_ok(algo, key.as_bytes(), body, sig) {
        return Err(format!("the {name} signature does not match"));
    }
    Ok(())
}

fn allowed(receiver: &Value, event: &str, what: &str) -> Result<(), String> {
    let events: Vec<&str> = receiver
        .pointer("/spec/events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if events.is_empty() || events.iter().any(|e| e.eq_ignore_ascii_case(event)) {
        Ok(())
    } else {
        Err(format!("{what} event {event:?} is not in spec.events"))
    }
}

fn json_body(body: &[u8], what: &str, keys: &[&str]) -> Result<(), String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the {what} payload is not JSON: {e}"))?;
    for k in keys {
        if v.get(*k).is_none() {
            return Err(format!("the {what} payload has no {k:?}"));
        }
    }
    Ok(())
}

/// Verifies a call against the Receiver's type, as notification-controller does.
pub fn verify(
    receiver: &Value,
    token: &str,
    h: &HeaderMap,
    body: &[u8],
) -> Result<Verdict, String> {
    let t = receiver
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("");
    match t {
        "generic" => Ok(Verdict::Accept),
        "generic-hmac" => signed(h, "X-Signature", token, body).map(|_| Verdict::Accept),
        "github" => {
            if !header(h, "X-Hub-Signature-256").is_empty() {
                signed(h, "X-Hub-Signature-256", token, body)?;
            } else {
                signed(h, "X-Hub-Signature", token, body)?;
            }
            let event = header(h, "X-GitHub-Event");
            if event.is_empty() {
                return Err("the X-GitHub-Event header is missing".into());
            }
            if event == "ping" {
                return Ok(Verdict::Ping);
            }
            allowed(receiver, event, "GitHub")?;
            Ok(Verdict::Accept)
        }
        "gitlab" => {
            let given = header(h, "X-Gitlab-Token");
            if !constant_eq(given.as_bytes(), token.as_bytes()) {
                return Err("the X-Gitlab-Token header does not match the token".into());
            }
            allowed(receiver, header(h, "X-Gitlab-Event"), "GitLab")?;
            Ok(Verdict::Accept)
        }
        "bitbucket" => {
            signed(h, "X-Hub-Signature", token, body)?;
            let event = header(h, "X-Event-Key");
            if event == "diagnostics:ping" {
                return Ok(Verdict::Ping);
            }
            allowed(receiver, event, "Bitbucket")?;
            Ok(Verdict::Accept)
        }
        "harbor" => {
            if !constant_eq(header(h, "Authorization").as_bytes(), token.as_bytes()) {
                return Err("the Authorization header does not match the token".into());
            }
            Ok(Verdict::Accept)
        }
        "dockerhub" => {
            json_body(body, "DockerHub", &["push_data", "repository"]).map(|_| Verdict::Accept)
        }
        "quay" => json_body(body, "Quay", &["docker_url", "updated_tags"]).map(|_| Verdict::Accept),
        "nexus" => {
            let sig = header(h, "X-Nexus-Webhook-Signature");
            if sig.is_empty() {
                return Err("the X-Nexus-Webhook-Signature header is missing".into());
            }
            if !hmac_ok("sha1", token.as_bytes(), body, sig) {
                return Err("the X-Nexus-Webhook-Signature signature does not match".into());
            }
            json_body(body, "Nexus", &[])?;
            Ok(Verdict::Accept)
        }
        "cdevents" => {
            let ce = header(h, "Ce-Type");
            if ce.is_empty() {
                return Err("the Ce-Type header is missing".into());
            }
            if !ce.starts_with("dev.cdevents.") {
                return Err(format!("Ce-Type {ce:?} is not a CDEvent type"));
            }
            allowed(receiver, ce, "CDEvents")?;
            json_body(body, "CDEvents", &[])?;
            Ok(Verdict::Accept)
        }
        other => Err(format!("receiver type {other:?} is not supported")),
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sets `reconcile.fluxcd.io/requestedAt` on every object of `spec.resources`; the count.
async fn request_reconcile(client: &kube::Client, receiver: &Value) -> Result<usize, String> {
    let own_ns = receiver
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let now = jiff::Timestamp::now().to_string();
    let patch = json!({"metadata": {"annotations": {REQUESTED_AT: now}}});
    let mut n = 0;
    for (i, r) in receiver
        .pointer("/spec/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let f = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
        let kind = f("kind");
        let name = f("name");
        let ns = if f("namespace").is_empty() {
            own_ns
        } else {
            f("namespace")
        };
        let info = match f("apiVersion").split_once('/') {
            Some((g, _)) => crate::model::kinds::by_group_kind(g, kind),
            None => crate::model::kinds::KINDS.iter().find(|k| k.kind == kind),
        }
        .ok_or_else(|| format!("spec.resources[{i}]: kind {kind:?} is not a Flux kind"))?;
        let version = f("apiVersion")
            .split_once('/')
            .map(|(_, v)| v)
            .unwrap_or(info.preferred_version());
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(info.group, version, info.kind),
            info.plural,
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        let names: Vec<String> = if name == "*" {
            let selector = r
                .get("matchLabels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let lp = ListParams::default().labels(&selector);
            api.list(&lp)
                .await
                .map_err(|e| format!("cannot list {} in {ns}: {e}", info.plural))?
                .items
                .into_iter()
                .filter_map(|o| o.metadata.name)
                .collect()
        } else {
            vec![name.to_string()]
        };
        for obj in names {
            api.patch(&obj, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| format!("cannot annotate {kind} {ns}/{obj}: {e}"))?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_signatures() {
        let p = webhook_path("token", "r", "ns");
        assert!(p.starts_with("/hook/") && p.len() == 6 + 64, "{p}");
        assert_ne!(p, webhook_path("token", "r", "other"));
        let body = b"{}";
        let sig = super::super::providers::hmac_sha256_hex(b"k", body);
        assert!(hmac_ok("sha256", b"k", body, &sig));
        assert!(!hmac_ok("sha256", b"other", body, &sig));
        assert!(!hmac_ok("md5", b"k", body, &sig));
        assert!(!hmac_ok("sha256", b"k", body, "zz"));
        assert!(constant_eq(b"abc", b"abc") && !constant_eq(b"abc", b"abd"));
    }
}
