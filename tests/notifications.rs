//! Notifications end to end over real HTTP: Providers post to local sink servers (the exact JSON,
//! headers and HMAC asserted), Alerts match and deduplicate the bundled reconciler's events and
//! events posted to the Flux event intake, failing or hanging providers block nothing, and
//! signed webhook calls to Receivers set `reconcile.fluxcd.io/requestedAt`.

use crate::common;

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use bytes::Bytes;
use common::{PATIENCE, in_process, quiet_options, wait_until};
use flotilla::controllers::bundle::{Controller, ControllerOptions};
use flotilla::controllers::notification::DispatcherOptions;
use hmac::{Hmac, Mac};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request a sink received.
#[derive(Debug, Clone)]
struct Got {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, k: &str) -> &str {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// How a sink answers.
#[derive(Clone, Copy)]
enum Mode {
    Ok,
    Fail,
    Hang,
}

/// A loopback HTTP server recording every request.
struct Sink {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Sink {
    async fn start(mode: Mode) -> Sink {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let g = Arc::clone(&got);
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let g = Arc::clone(&g);
                async move {
                    let at = Instant::now();
                    let is_get = method == Method::GET;
                    // Like a Git host: the statuses posted so far, newest first.
                    let statuses: Vec<Value> = if is_get {
                        g.lock()
                            .unwrap()
                            .iter()
                            .rev()
                            .filter(|r| r.method == "POST")
                            .map(Got::json)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    g.lock().unwrap().push(Got {
                        method: method.to_string(),
                        path: uri.to_string(),
                        headers,
                        body,
                        at,
                    });
                    match mode {
                        // Commit-status providers list existing statuses first.
                        Mode::Ok if is_get => (StatusCode::OK, Value::from(statuses).to_string()),
                        Mode::Ok => (StatusCode::OK, "ok".to_string()),
                        Mode::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "boom".to_string()),
                        Mode::Hang => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            (StatusCode::OK, String::new())
                        }
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Sink {
            url: format!("http://{addr}"),
            got,
        }
    }

    fn requests(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn posts(&self) -> Vec<Got> {
        self.requests()
            .into_iter()
            .filter(|g| g.method == "POST")
            .collect()
    }

    async fn wait_posts(&self, n: usize) -> Vec<Got> {
        wait_until(&format!("{n} POSTs at {}", self.url), PATIENCE, || async {
            let p = self.posts();
            (p.len() >= n).then_some(p)
        })
        .await
    }
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn api(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), "default", &ar)
}

const NOTIF: &str = "notification.toolkit.fluxcd.io";

async fn create(client: &kube::Client, obj: Value) -> Value {
    let api_version = obj["apiVersion"].as_str().unwrap();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = obj["kind"].as_str().unwrap();
    let plural = match kind {
        "Secret" => "secrets",
        "Provider" => "providers",
        "Alert" => "alerts",
        "Receiver" => "receivers",
        "GitRepository" => "gitrepositories",
        "Kustomization" => "kustomizations",
        other => panic!("{other}"),
    };
    let a = api(client, group, version, kind, plural);
    let o: DynamicObject = serde_json::from_value(obj).unwrap();
    serde_json::to_value(a.create(&PostParams::default(), &o).await.unwrap()).unwrap()
}

async fn secret(client: &kube::Client, name: &str, data: Value) {
    create(
        client,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
            "stringData": data}),
    )
    .await;
}

async fn provider(client: &kube::Client, name: &str, spec: Value) -> Value {
    create(
        client,
        json!({"apiVersion": format!("{NOTIF}/v1beta3"), "kind": "Provider",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}),
    )
    .await
}

async fn alert(client: &kube::Client, name: &str, provider: &str, extra: Value) {
    let mut spec = json!({"providerRef": {"name": provider},
        "eventSources": [{"kind": "Kustomization", "name": "*"}]});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    create(
        client,
        json!({"apiVersion": format!("{NOTIF}/v1beta3"), "kind": "Alert",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}),
    )
    .await;
}

fn start(client: &kube::Client, data: &std::path::Path) -> Controller {
    let opts = ControllerOptions {
        data_dir: data.to_path_buf(),
        shutdown_grace: Duration::from_secs(5),
        health_poll: Duration::from_millis(200),
        events_addr: Some("127.0.0.1:0".parse().unwrap()),
        receiver_addr: Some("127.0.0.1:0".parse().unwrap()),
        dispatcher: DispatcherOptions {
            // Objects created by a test are seen by the next event.
            cache_ttl: Duration::ZERO,
            ..DispatcherOptions::default()
        },
        ..ControllerOptions::default()
    };
    Controller::start(vec![("test".to_string(), client.clone())], &opts)
}

/// A Flux event as kustomize-controller posts it (no reportingInstance).
fn flux_event(name: &str, severity: &str, reason: &str, message: &str) -> Value {
    json!({
        "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "name": name, "namespace": "default", "uid": "7d0cdc51-ddcf-4743-b223-83ca5c699632"},
        "severity": severity,
        "timestamp": "2026-01-01T10:00:00Z",
        "message": message,
        "reason": reason,
        "metadata": {"revision": "main@sha1:0123456789abcdef0123456789abcdef01234567"},
        "reportingController": "kustomize-controller"
    })
}

async fn post_event(c: &Controller, ev: &Value) -> u16 {
    let addr = c.events_addr().unwrap();
    http()
        .post(format!("http://{addr}/"))
        .header("Content-Type", "application/json")
        .body(ev.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn hmac_hex<M: Mac + hmac::digest::KeyInit>(key: &[u8], body: &[u8]) -> String {
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
    m.update(body);
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn every_provider_gets_its_payload_shape() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let c = start(&client, dir.path());
    let sink = Sink::start(Mode::Ok).await;
    let u = &sink.url;
    secret(&client, "hmac", json!({"token": "hmac-key"})).await;
    secret(
        &client,
        "slack-hook",
        json!({"address": format!("{u}/services/T0/B0/SECRETHOOK")}),
    )
    .await;
    secret(
        &client,
        "tokens",
        json!({"token": "tok-123", "headers": "X-Team: platform\nX-Env: prod\n"}),
    )
    .await;
    let specs = [
        (
            "generic",
            json!({"type": "generic", "address": format!("{u}/generic"), "secretRef": {"name": "tokens"}}),
        ),
        (
            "hmac",
            json!({"type": "generic-hmac", "address": format!("{u}/hmac"), "secretRef": {"name": "hmac"}}),
        ),
        (
            "slack",
            json!({"type": "slack", "channel": "ops", "secretRef": {"name": "slack-hook"}}),
        ),
        (
            "discord",
            json!({"type": "discord", "address": format!("{u}/discord"), "username": "bot"}),
        ),
        (
            "teams",
            json!({"type": "msteams", "address": format!("{u}/teams")}),
        ),
        (
            "am",
            json!({"type": "alertmanager", "address": format!("{u}/am")}),
        ),
        (
            "github",
            json!({"type": "github", "address": format!("{u}/org/repo"), "secretRef": {"name": "tokens"}}),
        ),
        (
            "gitlab",
            json!({"type": "gitlab", "address": format!("{u}/group/app.git"), "secretRef": {"name": "tokens"}}),
        ),
    ];
    let mut uids = std::collections::HashMap::new();
    for (name, spec) in specs {
        let p = provider(&client, name, spec).await;
        uids.insert(name, p["metadata"]["uid"].as_str().unwrap().to_string());
        alert(&client, name, name, json!({})).await;
    }
    let ev = flux_event(
        "apps",
        "error",
        "BuildFailed",
        "kustomize build failed: boom",
    );
    assert_eq!(post_event(&c, &ev).await, 202);
    let posts = sink.wait_posts(8).await;
    let by = |prefix: &str| {
        posts
            .iter()
            .find(|g| g.path.starts_with(prefix))
            .unwrap_or_else(|| panic!("no POST to {prefix}: {posts:?}"))
            .clone()
    };
    // generic: the event exactly as posted.
    let g = by("/generic");
    assert_eq!(g.json(), ev);
    assert_eq!(g.header("gotk-component"), "kustomize-controller");
    assert_eq!(g.header("content-type"), "application/json");
    assert_eq!(g.header("x-team"), "platform");
    assert_eq!(g.header("x-env"), "prod");
    // generic-hmac: signature over the exact body.
    let h = by("/hmac");
    assert_eq!(
        h.header("x-signature"),
        format!(
            "sha256={}",
            hmac_hex::<Hmac<sha2::Sha256>>(b"hmac-key", &h.body)
        )
    );
    assert_eq!(h.json()["message"], "kustomize build failed: boom");
    // slack: address from the secret, danger colour, metadata as fields.
    let s = by("/services/T0/B0/SECRETHOOK");
    let sj = s.json();
    assert_eq!(sj["channel"], "ops");
    assert_eq!(sj["username"], "kustomize-controller");
    let att = &sj["attachments"][0];
    assert_eq!(att["color"], "danger");
    assert_eq!(att["author_name"], "kustomization/apps.default");
    assert_eq!(att["text"], "kustomize build failed: boom");
    assert_eq!(att["mrkdwn_in"], json!(["text"]));
    assert_eq!(
        att["fields"],
        json!([{"title": "revision", "value": "main@sha1:0123456789abcdef0123456789abcdef01234567", "short": false}])
    );
    // discord: the Slack payload on the /slack path.
    let d = by("/discord/slack");
    assert_eq!(d.json()["username"], "bot");
    // msteams: an Adaptive Card.
    let t = by("/teams").json();
    assert_eq!(t["type"], "message");
    let card = &t["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["version"], "1.4");
    assert_eq!(
        card["content"]["body"][0]["text"],
        "kustomization/apps.default"
    );
    assert_eq!(card["content"]["body"][0]["color"], "attention");
    assert_eq!(
        card["content"]["body"][1]["text"],
        "kustomize build failed: boom"
    );
    // alertmanager.
    let a = by("/am").json();
    assert_eq!(a[0]["status"], "firing");
    assert_eq!(a[0]["labels"]["alertname"], "FluxKustomizationBuildFailed");
    assert_eq!(a[0]["labels"]["severity"], "error");
    assert_eq!(a[0]["labels"]["name"], "apps");
    assert_eq!(
        a[0]["annotations"]["message"],
        "kustomize build failed: boom"
    );
    // github: commit status on the revision's commit.
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let gh = by(&format!("/api/v3/repos/org/repo/statuses/{sha}"));
    assert_eq!(gh.header("authorization"), "Bearer tok-123");
    let uid8 = uids["github"].split('-').next().unwrap().to_string();
    assert_eq!(
        gh.json(),
        json!({"state": "failure", "context": format!("kustomization/apps/{uid8}"), "description": "Build failed"})
    );
    let gl = by(&format!("/api/v4/projects/group%2Fapp/statuses/{sha}"));
    assert_eq!(gl.header("private-token"), "tok-123");
    let uid8 = uids["gitlab"].split('-').next().unwrap().to_string();
    assert_eq!(
        gl.json(),
        json!({"state": "failed", "name": format!("kustomization/apps/{uid8}"), "description": "Build failed"})
    );
    // The feed shows where things went, never the Slack hook path.
    let feed = c.dispatcher().feed();
    assert!(feed.iter().all(|d| d.outcome.is_ok()), "{feed:?}");
    let text = format!("{feed:?}");
    assert!(
        !text.contains("SECRETHOOK") && !text.contains("tok-123"),
        "{text}"
    );
    c.shutdown().await;
}

#[tokio::test]
async fn commit_status_skips_events_without_revision_and_unchanged_statuses() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let c = start(&client, dir.path());
    let sink = Sink::start(Mode::Ok).await;
    secret(&client, "tokens", json!({"token": "t"})).await;
    provider(
        &client,
        "gh",
        json!({"type": "github", "address": format!("{}/org/repo", sink.url),
        "secretRef": {"name": "tokens"}}),
    )
    .await;
    alert(&client, "gh", "gh", json!({})).await;
    let mut ev = flux_event("apps", "info", "Progressing", "no revision here");
    ev["metadata"] = json!({});
    assert_eq!(post_event(&c, &ev).await, 202);
    let ev2 = flux_event("apps", "info", "ReconciliationSucceeded", "applied");
    assert_eq!(post_event(&c, &ev2).await, 202);
    // Same revision and outcome, another message: the status would not change.
    let ev3 = flux_event("apps", "info", "ReconciliationSucceeded", "applied again");
    assert_eq!(post_event(&c, &ev3).await, 202);
    wait_until("three deliveries in the feed", PATIENCE, || async {
        (c.dispatcher().feed().len() >= 3).then_some(())
    })
    .await;
    let posts = sink.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].json()["state"], "success");
    let feed = c.dispatcher().feed();
    assert!(
        feed.iter().any(|d| d
            .outcome
            .as_deref()
            .is_ok_and(|o| o.contains("without a commit revision"))),
        "{feed:?}"
    );
    assert!(
        feed.iter().any(|d| d
            .outcome
            .as_deref()
            .is_ok_and(|o| o.contains("commit status unchanged"))),
        "{feed:?}"
    );
    c.shutdown().await;
}

#[tokio::test]
async fn providers_go_through_their_proxy() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let c = start(&client, dir.path());
    let proxy = Sink::start(Mode::Ok).await;
    provider(
        &client,
        "p",
        json!({"type": "generic", "address": "http://alerts.example.invalid/hook", "proxy": proxy.url}),
    )
    .await;
    alert(&client, "a", "p", json!({})).await;
    assert_eq!(
        post_event(&c, &flux_event("apps", "info", "R", "via proxy")).await,
        202
    );
    let got = proxy.wait_posts(1).await;
    // An HTTP proxy gets the absolute URL.
    assert_eq!(got[0].path, "http://alerts.example.invalid/hook");
    assert_eq!(got[0].json()["message"], "via proxy");
    c.shutdown().await;
}

#[tokio::test]
async fn failing_kustomization_alerts_exactly_once() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let c = start(&client, dir.path());
    let sink = Sink::start(Mode::Ok).await;
    provider(
        &client,
        "hook",
        json!({"type": "generic", "address": sink.url}),
    )
    .await;
    alert(&client, "errors", "hook", json!({"eventSeverity": "error"})).await;
    // The source does not exist: every retry fails with the same error event.
    create(
        &client,
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "broken", "namespace": "default"},
            "spec": {"interval": "10m", "retryInterval": "1s", "path": "./", "prune": true,
                "sourceRef": {"kind": "GitRepository", "name": "missing"}}}),
    )
    .await;
    let first = sink.wait_posts(1).await;
    let body = first[0].json();
    assert_eq!(body["involvedObject"]["name"], "broken");
    assert_eq!(body["severity"], "error");
    assert_eq!(body["reportingController"], "kustomize-controller");
    // Several more failing runs produce the same event: still one POST.
    let runs = c.stats().runs();
    wait_until("three more reconciles", PATIENCE, || async {
        (c.stats().runs() >= runs + 3).then_some(())
    })
    .await;
    let s = c.dispatcher().stats();
    assert!(s.duplicates >= 1, "{s:?}");
    assert_eq!(sink.posts().len(), 1, "{:?}", sink.posts());
    c.shutdown().await;
}

#[tokio::test]
async fn severity_exclusion_and_suspend_filter_events() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let c = start(&client, dir.path());
    let info = Sink::start(Mode::Ok).await;
    let errors = Sink::start(Mode::Ok).await;
    let excluded = Sink::start(Mode::Ok).await;
    let suspended_alert = Sink::start(Mode::Ok).await;
    let suspended_provider = Sink::start(Mode::Ok).await;
    provider(
        &client,
        "info",
        json!({"type": "generic", "address": info.url}),
    )
    .await;
    provider(
        &client,
        "errors",
        json!({"type": "generic", "address": errors.url}),
    )
    .await;
    provider(
        &client,
        "excluded",
        json!({"type": "generic", "address": excluded.url}),
    )
    .await;
    provider(
        &client,
        "sa",
        json!({"type": "generic", "address": suspended_alert.url}),
    )
    .await;
    provider(
        &client,
        "sp",
        json!({"type": "generic", "address": suspended_provider.url, "suspend": true}),
    )
    .await;
    alert(&client, "info", "info", json!({"eventSeverity": "info"})).await;
    alert(
        &client,
        "errors",
        "errors",
        json!({"eventSeverity": "error"}),
    )
    .await;
    alert(
        &client,
        "excluded",
        "excluded",
        json!({"exclusionList": ["^Health"],
        "eventMetadata": {"env": "prod"}}),
    )
    .await;
    alert(&client, "sa", "sa", json!({"suspend": true})).await;
    alert(&client, "sp", "sp", json!({})).await;
    assert_eq!(
        post_event(
            &c,
            &flux_event("a", "info", "ReconciliationSucceeded", "Applied revision")
        )
        .await,
        202
    );
    assert_eq!(
        post_event(
            &c,
            &flux_event("a", "info", "Progressing", "Health check passed")
        )
        .await,
        202
    );
    assert_eq!(
        post_event(
            &c,
            &flux_event("a", "error", "HealthCheckFailed", "Health check failed")
        )
        .await,
        202
    );
    // Another namespace's object is not matched by these Alerts.
    let mut other = flux_event("a", "error", "X", "elsewhere");
    other["involvedObject"]["namespace"] = json!("other");
    assert_eq!(post_event(&c, &other).await, 202);
    let got = info.wait_posts(3).await;
    let msgs: Vec<Value> = got.iter().map(|g| g.json()["message"].clone()).collect();
    assert_eq!(
        msgs,
        [
            json!("Applied revision"),
            json!("Health check passed"),
            json!("Health check failed")
        ]
    );
    let e = errors.wait_posts(1).await;
    let x = excluded.wait_posts(1).await;
    // Let everything queued settle (the suspended provider is answered in the feed).
    wait_until("the suspended provider's answers", PATIENCE, || async {
        let n = c
            .dispatcher()
            .feed()
            .iter()
            .filter(|d| d.provider == "default/sp")
            .count();
        (n >= 3).then_some(())
    })
    .await;
    assert_eq!(e.len(), 1);
    assert_eq!(errors.posts().len(), 1);
    assert_eq!(e[0].json()["message"], "Health check failed");
    assert_eq!(excluded.posts().len(), 1);
    assert_eq!(x[0].json()["message"], "Applied revision");
    assert_eq!(x[0].json()["metadata"]["env"], "prod");
    assert!(suspended_alert.requests().is_empty());
    assert!(suspended_provider.requests().is_empty());
    c.shutdown().await;
}

#[tokio::test]
async fn failing_and_hanging_providers_block_nothing_else() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let c = start(&client, dir.path());
    let hang = Sink::start(Mode::Hang).await;
    let fail = Sink::start(Mode::Fail).await;
    let ok = Sink::start(Mode::Ok).await;
    secret(
        &client,
        "hook",
        json!({"address": format!("{}/hooks/TOKENPATH", fail.url)}),
    )
    .await;
    provider(
        &client,
        "hang",
        json!({"type": "generic", "address": hang.url, "timeout": "1s"}),
    )
    .await;
    provider(
        &client,
        "fail",
        json!({"type": "slack", "secretRef": {"name": "hook"}}),
    )
    .await;
    provider(&client, "ok", json!({"type": "generic", "address": ok.url})).await;
    for p in ["hang", "fail", "ok"] {
        alert(&client, p, p, json!({})).await;
    }
    for i in 0..20 {
        let ev = flux_event("a", "info", "Progressing", &format!("event {i}"));
        assert_eq!(post_event(&c, &ev).await, 202);
    }
    // The healthy provider gets all of them while the other one hangs, one request at a time.
    ok.wait_posts(20).await;
    assert!(hang.requests().len() < 20, "{}", hang.requests().len());
    fail.wait_posts(20).await;
    // The reconciler keeps working: a Kustomization still gets reconciled.
    create(
        &client,
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "k", "namespace": "default"},
            "spec": {"interval": "10m", "path": "./", "prune": true,
                "sourceRef": {"kind": "GitRepository", "name": "missing"}}}),
    )
    .await;
    let ks = api(
        &client,
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        "kustomizations",
    );
    wait_until("the Kustomization's status", PATIENCE, || async {
        let o = ks.get("k").await.ok()?;
        o.data.pointer("/status/conditions/0").map(|_| ())
    })
    .await;
    let feed = c.dispatcher().feed();
    let failures: Vec<_> = feed
        .iter()
        .filter(|d| d.provider == "default/fail")
        .collect();
    assert!(
        failures
            .iter()
            .all(|d| d.outcome.as_ref().is_err_and(|e| e.contains("500"))),
        "{failures:?}"
    );
    let text = format!("{feed:?}");
    assert!(
        !text.contains("TOKENPATH"),
        "the webhook path leaked: {text}"
    );
    c.shutdown().await;
}

#[tokio::test]
async fn intake_accepts_flux_events_and_refuses_bad_ones() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let c = start(&client, dir.path());
    let sink = Sink::start(Mode::Ok).await;
    provider(
        &client,
        "p",
        json!({"type": "generic", "address": sink.url}),
    )
    .await;
    alert(&client, "a", "p", json!({})).await;
    let addr = c.events_addr().unwrap();
    let h = http();
    let send = |body: Vec<u8>, path: &'static str| {
        let h = h.clone();
        async move {
            h.post(format!("http://{addr}{path}"))
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let ev = flux_event("apps", "info", "ReconciliationSucceeded", "Applied");
    assert_eq!(send(ev.to_string().into_bytes(), "/").await, 202);
    assert_eq!(
        send(ev.to_string().into_bytes(), "/cluster/test").await,
        202
    );
    assert_eq!(
        send(ev.to_string().into_bytes(), "/cluster/nope").await,
        404
    );
    assert_eq!(send(b"{not json".to_vec(), "/").await, 400);
    let mut no_kind = ev.clone();
    no_kind["involvedObject"]["kind"] = json!("");
    assert_eq!(send(no_kind.to_string().into_bytes(), "/").await, 400);
    assert_eq!(send(vec![b' '; 2 << 20], "/").await, 413);
    let got = sink.wait_posts(1).await;
    assert_eq!(got[0].json()["message"], "Applied");
    // The second copy was a duplicate.
    wait_until("the duplicate counted", PATIENCE, || async {
        (c.dispatcher().stats().duplicates >= 1).then_some(())
    })
    .await;
    assert_eq!(sink.posts().len(), 1);
    c.shutdown().await;
}

/// A Receiver of `type_` on GitRepository `repo`; waits for its webhook path.
async fn receiver(client: &kube::Client, name: &str, type_: &str, extra: Value) -> String {
    secret(
        client,
        &format!("{name}-token"),
        json!({"token": format!("{name}-secret")}),
    )
    .await;
    let mut spec = json!({"type": type_, "secretRef": {"name": format!("{name}-token")},
        "resources": [{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "name": "repo"}]});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    create(
        client,
        json!({"apiVersion": format!("{NOTIF}/v1"), "kind": "Receiver",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}),
    )
    .await;
    let r = api(client, NOTIF, "v1", "Receiver", "receivers");
    wait_until(&format!("receiver {name} ready"), PATIENCE, || async {
        let o = r.get(name).await.ok()?;
        let ready = o
            .data
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        let path = o.data.pointer("/status/webhookPath")?.as_str()?.to_string();
        ready.then_some(path)
    })
    .await
}

async fn requested_at(client: &kube::Client) -> Option<String> {
    let g = api(
        client,
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        "gitrepositories",
    );
    let o = g.get("repo").await.unwrap();
    o.metadata
        .annotations
        .and_then(|a| a.get("reconcile.fluxcd.io/requestedAt").cloned())
}

#[tokio::test]
async fn receivers_verify_every_type() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let c = start(&client, dir.path());
    create(
        &client,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": "default"},
            "spec": {"url": "https://example.invalid/repo.git", "interval": "10m", "ref": {"branch": "main"}}}),
    )
    .await;
    let base = format!("http://{}", c.receiver_addr().unwrap());
    let h = http();
    let body = br#"{"ref":"refs/heads/main","push_data":{"tag":"v1"},"repository":{"repo_name":"x"},"docker_url":"q","updated_tags":["v1"]}"#.to_vec();
    let sha256 = |key: &str, b: &[u8]| {
        format!(
            "sha256={}",
            hmac_hex::<Hmac<sha2::Sha256>>(key.as_bytes(), b)
        )
    };
    let sha1 = |key: &str, b: &[u8]| hmac_hex::<Hmac<sha1::Sha1>>(key.as_bytes(), b);
    // (type, extra spec, valid headers, invalid headers)
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(&str, Value, Headers, Option<Headers>)> = vec![
        ("generic", json!({}), vec![], None),
        (
            "generic-hmac",
            json!({}),
            vec![("X-Signature", sha256("generic-hmac-secret", &body))],
            Some(vec![("X-Signature", sha256("wrong", &body))]),
        ),
        (
            "github",
            json!({"events": ["push"]}),
            vec![
                ("X-Hub-Signature-256", sha256("github-secret", &body)),
                ("X-GitHub-Event", "push".into()),
            ],
            Some(vec![
                ("X-Hub-Signature-256", sha256("wrong", &body)),
                ("X-GitHub-Event", "push".into()),
            ]),
        ),
        (
            "gitlab",
            json!({"events": ["Push Hook"]}),
            vec![
                ("X-Gitlab-Token", "gitlab-secret".into()),
                ("X-Gitlab-Event", "Push Hook".into()),
            ],
            Some(vec![
                ("X-Gitlab-Token", "wrong".into()),
                ("X-Gitlab-Event", "Push Hook".into()),
            ]),
        ),
        (
            "bitbucket",
            json!({"events": ["repo:refs_changed"]}),
            vec![
                ("X-Hub-Signature", sha256("bitbucket-secret", &body)),
                ("X-Event-Key", "repo:refs_changed".into()),
            ],
            Some(vec![
                ("X-Hub-Signature", sha256("wrong", &body)),
                ("X-Event-Key", "repo:refs_changed".into()),
            ]),
        ),
        (
            "harbor",
            json!({}),
            vec![("Authorization", "harbor-secret".into())],
            Some(vec![("Authorization", "wrong".into())]),
        ),
        ("dockerhub", json!({}), vec![], None),
        ("quay", json!({}), vec![], None),
        (
            "nexus",
            json!({}),
            vec![("X-Nexus-Webhook-Signature", sha1("nexus-secret", &body))],
            Some(vec![("X-Nexus-Webhook-Signature", sha1("wrong", &body))]),
        ),
        (
            "cdevents",
            json!({"events": ["dev.cdevents.change.merged.0.1.2"]}),
            vec![("Ce-Type", "dev.cdevents.change.merged.0.1.2".into())],
            Some(vec![("Ce-Type", "dev.cdevents.build.started.0.1.1".into())]),
        ),
    ];
    for (type_, extra, good, bad) in cases {
        let path = receiver(&client, type_, type_, extra).await;
        let call = |headers: Headers, b: Vec<u8>| {
            let h = h.clone();
            let url = format!("{base}{path}");
            async move {
                let mut r = h.post(url).header("Content-Type", "application/json");
                for (k, v) in headers {
                    r = r.header(k, v);
                }
                r.body(b).send().await.unwrap().status().as_u16()
            }
        };
        if let Some(bad) = bad {
            let before = requested_at(&client).await;
            assert_eq!(
                call(bad, body.clone()).await,
                400,
                "{type_}: a bad call is refused"
            );
            assert_eq!(
                requested_at(&client).await,
                before,
                "{type_}: nothing requested"
            );
        }
        let before = requested_at(&client).await;
        // requestedAt has nanoseconds; two calls never share one.
        assert_eq!(
            call(good.clone(), body.clone()).await,
            200,
            "{type_}: a valid call"
        );
        let after = requested_at(&client).await;
        assert!(
            after.is_some() && after != before,
            "{type_}: {before:?} -> {after:?}"
        );
    }
    // Payload receivers refuse what is not their payload.
    let path = api(&client, NOTIF, "v1", "Receiver", "receivers")
        .get("quay")
        .await
        .unwrap()
        .data["status"]["webhookPath"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h
        .post(format!("{base}{path}"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    c.shutdown().await;
}

#[tokio::test]
async fn receivers_refuse_wrong_events_suspension_unknown_paths_and_floods() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let c = start(&client, dir.path());
    for (name, team) in [("repo", "a"), ("other", "b")] {
        create(
            &client,
            json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": name, "namespace": "default", "labels": {"team": team}},
                "spec": {"url": "https://example.invalid/repo.git", "interval": "10m", "ref": {"branch": "main"}}}),
        )
        .await;
    }
    let base = format!("http://{}", c.receiver_addr().unwrap());
    let h = http();
    let body = br#"{"zen":"hi"}"#.to_vec();
    let sig = format!(
        "sha256={}",
        hmac_hex::<Hmac<sha2::Sha256>>(b"gh-secret", &body)
    );
    let path = receiver(
        &client,
        "gh",
        "github",
        json!({"events": ["push"],
        "resources": [{"kind": "GitRepository", "name": "*", "matchLabels": {"team": "a"}}]}),
    )
    .await;
    let call = |event: &'static str, b: Vec<u8>, sig: String, path: String| {
        let h = h.clone();
        let url = format!("{base}{path}");
        async move {
            h.post(url)
                .header("X-GitHub-Event", event)
                .header("X-Hub-Signature-256", sig)
                .body(b)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // ping is answered without a reconcile request; a disallowed event is refused.
    assert_eq!(
        call("ping", body.clone(), sig.clone(), path.clone()).await,
        200
    );
    assert_eq!(requested_at(&client).await, None);
    assert_eq!(
        call("issues", body.clone(), sig.clone(), path.clone()).await,
        400
    );
    assert_eq!(
        call("push", body.clone(), sig.clone(), path.clone()).await,
        200
    );
    assert!(requested_at(&client).await.is_some());
    let g = api(
        &client,
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        "gitrepositories",
    );
    let other = g.get("other").await.unwrap();
    assert!(
        !other
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("reconcile.fluxcd.io/requestedAt"),
        "matchLabels selects only team=a"
    );
    assert_eq!(
        call("push", body.clone(), sig.clone(), "/hook/0123abcd".into()).await,
        404
    );
    assert_eq!(
        call("push", vec![b' '; 2 << 20], sig.clone(), path.clone()).await,
        413
    );
    // Suspended: 503.
    let r = api(&client, NOTIF, "v1", "Receiver", "receivers");
    r.patch(
        "gh",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": true}})),
    )
    .await
    .unwrap();
    assert_eq!(
        call("push", body.clone(), sig.clone(), path.clone()).await,
        503
    );
    // A flood of calls is cut off.
    let mut codes = Vec::new();
    for _ in 0..60 {
        codes.push(call("push", body.clone(), sig.clone(), path.clone()).await);
    }
    assert!(codes.contains(&429), "{codes:?}");
    c.shutdown().await;
}

/// Alert dispatch throughput: 1,000 events/s for 5 s through matching to a local sink; prints
/// the p50/p99 latency from intake to the sink and checks that no event is lost.
/// `cargo test --release --test integration notifications::alert_dispatch_benchmark -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run on a quiet machine"]
async fn alert_dispatch_benchmark() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let opts = ControllerOptions {
        data_dir: dir.path().to_path_buf(),
        ..ControllerOptions::default()
    };
    let c = Controller::start(vec![("bench".to_string(), client.clone())], &opts);
    let sink = Sink::start(Mode::Ok).await;
    provider(
        &client,
        "p",
        json!({"type": "generic", "address": sink.url}),
    )
    .await;
    alert(&client, "a", "p", json!({"eventSeverity": "info"})).await;
    const RATE: usize = 1000;
    const SECONDS: usize = 5;
    let total = RATE * SECONDS;
    let mut sent = Vec::with_capacity(total);
    let start = Instant::now();
    for i in 0..total {
        let due = start + Duration::from_micros((i as u64) * 1_000_000 / RATE as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let ev: flotilla::runtime::FluxEvent = serde_json::from_value(flux_event(
            "apps",
            "info",
            "Progressing",
            &format!("event {i}"),
        ))
        .unwrap();
        sent.push(Instant::now());
        assert!(c.dispatcher().submit("bench", ev).await);
    }
    let got = wait_until(
        "every event at the sink",
        Duration::from_secs(120),
        || async {
            let p = sink.posts();
            if p.len() >= total {
                return Some(p);
            }
            let s = c.dispatcher().stats();
            (s.dropped + s.failed > 0).then(|| panic!("events lost: {s:?}"))
        },
    )
    .await;
    let mut lat: Vec<Duration> = got
        .iter()
        .map(|g| {
            let i: usize = g.json()["message"].as_str().unwrap()[6..].parse().unwrap();
            g.at.duration_since(sent[i])
        })
        .collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "alert dispatch: {total} events at {RATE}/s, delivered {}, p50 {:?}, p99 {:?}, max {:?}, lost {}",
        got.len(),
        pct(0.5),
        pct(0.99),
        lat[lat.len() - 1],
        total - got.len()
    );
    assert_eq!(got.len(), total);
    c.shutdown().await;
}

/// A one-shot HTTPS server (a thread) with a self-signed certificate for `127.0.0.1`; returns
/// its URL, the CA PEM, and the received request's head and body.
fn tls_sink() -> (String, String, std::sync::mpsc::Receiver<(String, Vec<u8>)>) {
    use std::io::{Read, Write};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let ca_pem = cert.pem();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://127.0.0.1:{}/hook",
        listener.local_addr().unwrap().port()
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then Content-Length bytes of body.
            let (head, body) = loop {
                let Ok(n) = tls.read(&mut chunk) else {
                    break (String::new(), Vec::new());
                };
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        let Ok(n) = tls.read(&mut chunk) else { break };
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    break (head, buf[end + 4..].to_vec());
                }
            };
            if head.is_empty() {
                continue;
            }
            let _ =
                tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tls.flush();
            let _ = tx.send((head, body));
        }
    });
    (url, ca_pem, rx)
}

#[tokio::test]
async fn cert_secret_ref_trusts_a_private_ca() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let c = start(&client, dir.path());
    let (url, ca, rx) = tls_sink();
    secret(&client, "ca", json!({"ca.crt": ca})).await;
    provider(
        &client,
        "untrusted",
        json!({"type": "generic", "address": url}),
    )
    .await;
    provider(
        &client,
        "trusted",
        json!({"type": "generic", "address": url, "certSecretRef": {"name": "ca"}}),
    )
    .await;
    alert(&client, "untrusted", "untrusted", json!({})).await;
    alert(&client, "trusted", "trusted", json!({})).await;
    assert_eq!(
        post_event(&c, &flux_event("apps", "info", "R", "over TLS")).await,
        202
    );
    let (head, body) = tokio::task::spawn_blocking(move || rx.recv_timeout(PATIENCE).unwrap())
        .await
        .unwrap();
    assert!(head.starts_with("POST /hook "), "{head}");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["message"],
        "over TLS"
    );
    // Without the CA the certificate is refused.
    wait_until("the untrusted provider's failure", PATIENCE, || async {
        c.dispatcher()
            .feed()
            .iter()
            .any(|d| d.provider == "default/untrusted" && d.outcome.is_err())
            .then_some(())
    })
    .await;
    c.shutdown().await;
}

/// A loopback port free at the time of the call.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn controller_flags_serve_the_intake_and_keep_webhook_secrets_out_of_the_log() {
    let server = common::TcpServer::start(quiet_options()).await;
    let client = server.client().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("controller.log");
    let port = free_port();
    let mut controller = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["controller", "--kubeconfig"])
        .arg(&server.kubeconfig)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--log-file")
        .arg(&log)
        .args(["--events-addr", &format!("127.0.0.1:{port}")])
        .env("HOME", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("controller runs");
    let ok = Sink::start(Mode::Ok).await;
    let fail = Sink::start(Mode::Fail).await;
    secret(
        &client,
        "hook",
        json!({"address": format!("{}/services/T0/B0/TOKENPATH", fail.url)}),
    )
    .await;
    provider(&client, "ok", json!({"type": "generic", "address": ok.url})).await;
    provider(
        &client,
        "slack",
        json!({"type": "slack", "secretRef": {"name": "hook"}}),
    )
    .await;
    alert(&client, "ok", "ok", json!({})).await;
    alert(&client, "slack", "slack", json!({})).await;
    let ev = flux_event("apps", "error", "BuildFailed", "from another controller");
    let h = http();
    let status = wait_until("the event intake", PATIENCE, || async {
        h.post(format!("http://127.0.0.1:{port}/"))
            .body(ev.to_string())
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    })
    .await;
    assert_eq!(status, 202);
    let got = ok.wait_posts(1).await;
    assert_eq!(got[0].json()["message"], "from another controller");
    fail.wait_posts(1).await;
    let pid = controller.id().unwrap() as i32;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let _ = tokio::time::timeout(PATIENCE, controller.wait()).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("event not sent"),
        "the failure is logged: {text}"
    );
    assert!(
        !text.contains("TOKENPATH"),
        "the webhook path leaked: {text}"
    );
}

#[tokio::test]
async fn a_receiver_without_its_token_is_not_ready_and_has_no_path() {
    let (_cluster, client) = in_process(quiet_options());
    let dir = tempfile::tempdir().unwrap();
    let c = start(&client, dir.path());
    create(
        &client,
        json!({"apiVersion": format!("{NOTIF}/v1"), "kind": "Receiver",
            "metadata": {"name": "r", "namespace": "default"},
            "spec": {"type": "generic", "secretRef": {"name": "absent"},
                "resources": [{"kind": "GitRepository", "name": "repo"}]}}),
    )
    .await;
    let r = api(&client, NOTIF, "v1", "Receiver", "receivers");
    let ready = wait_until("Ready=False", PATIENCE, || async {
        let o = r.get("r").await.ok()?;
        o.data
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| {
                c["type"] == "Ready" && c["status"] == "False" && c["reason"] != "Progressing"
            })
            .cloned()
    })
    .await;
    assert_eq!(ready["reason"], "TokenNotFound", "{ready}");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("default/absent"),
        "{ready}"
    );
    let o = r.get("r").await.unwrap();
    assert!(o.data.pointer("/status/webhookPath").is_none());
    c.shutdown().await;
}
