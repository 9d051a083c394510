//! ImageRepository and ImagePolicy reconcile against a real `docker-registry` (anonymous and
//! htpasswd basic auth) and against a scripted HTTP server for the token flow, rate limits,
//! malformed answers and a 50,000-tag list. Skips (with a printed reason) without docker-registry.

use crate::image_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use flotilla::apiserver::{Cluster, ClusterOptions};
use flotilla::controllers::image::{
    EventType, RunResult, TagStore, reconcile_image_policy, reconcile_image_repository,
};
use image_support::start_registry;
use jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

fn cluster() -> (Cluster, Client) {
    let cluster = Cluster::new(ClusterOptions {
        simulate: false,
        ..ClusterOptions::default()
    })
    .expect("cluster starts");
    let client = Client::new(cluster.router(), "default");
    (cluster, client)
}

async fn create(client: &Client, obj: Value) {
    let api_version = obj["apiVersion"].as_str().expect("apiVersion");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = obj["kind"].as_str().expect("kind");
    let plural = match kind {
        "ImageRepository" => "imagerepositories".to_string(),
        "ImagePolicy" => "imagepolicies".to_string(),
        other => format!("{}s", other.to_lowercase()),
    };
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let dynamic: DynamicObject = serde_json::from_value(obj).expect("dynamic object");
    api.create(&PostParams::default(), &dynamic)
        .await
        .expect("create object");
}

fn image_repo(name: &str, image: &str, extra: Value) -> Value {
    let mut spec = json!({"image": image, "interval": "5m", "timeout": "10s"});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageRepository",
        "metadata": {"name": name, "namespace": "default", "generation": 1},
        "spec": spec,
    })
}

fn with_status(mut obj: Value, result: &RunResult) -> Value {
    obj["status"] = result.status.clone();
    obj
}

fn ready(status: &Value) -> (String, String, String) {
    let c = status["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or(Value::Null);
    (
        c["status"].as_str().unwrap_or("").to_string(),
        c["reason"].as_str().unwrap_or("").to_string(),
        c["message"].as_str().unwrap_or("").to_string(),
    )
}

fn now() -> Timestamp {
    Timestamp::now()
}

#[tokio::test]
async fn scans_a_real_registry_and_policy_picks_the_semver_tag_with_digest() {
    let Some(registry) = start_registry(None).await else {
        return;
    };
    let d100 = registry.push_image("team/app", "1.0.0").await;
    let d101 = registry.push_image("team/app", "1.0.1").await;
    registry.push_image("team/app", "2.0.0").await;
    registry.push_image("team/app", "sha256-abc.sig").await;
    assert_ne!(d100, d101);
    let (_cluster, client) = cluster();
    let data = tempfile::tempdir().expect("tempdir");
    let store = TagStore::new(data.path().join("tags"));
    let image = format!("{}/team/app", registry.addr);
    let repo = image_repo("app", &image, json!({}));
    let first = reconcile_image_repository(&repo, &client, &store, now()).await;
    let scan = &first.status["lastScanResult"];
    assert_eq!(scan["tagCount"], 3, "{}", first.status);
    assert_eq!(scan["latestTags"], json!(["2.0.0", "1.0.1", "1.0.0"]));
    assert_eq!(
        scan["revision"].as_str(),
        Some(flotilla::controllers::image::tags_revision(&["2.0.0", "1.0.1", "1.0.0"]).as_str())
    );
    assert_eq!(first.status["canonicalImageName"], image);
    assert_eq!(first.status["observedExclusionList"], json!(["^.*\\.sig$"]));
    let (st, reason, message) = ready(&first.status);
    assert_eq!((st.as_str(), reason.as_str()), ("True", "Succeeded"));
    assert_eq!(
        message,
        format!(
            "successful scan: found 3 tags with checksum {}",
            scan["revision"].as_str().unwrap_or("")
        )
    );
    assert_eq!(first.requeue_after, Some(Duration::from_secs(300)));
    assert_eq!(first.events.len(), 1);

    // Not due yet: no scan, no event, requeue for the rest of the interval.
    let repo = with_status(repo, &first);
    let second = reconcile_image_repository(&repo, &client, &store, now()).await;
    assert!(second.events.is_empty());
    assert!(
        second
            .requeue_after
            .is_some_and(|d| d <= Duration::from_secs(300) && d > Duration::from_secs(200))
    );
    assert_eq!(
        second.status["lastScanResult"],
        first.status["lastScanResult"]
    );

    // The policy reads the stored tags; the repository object must exist in the API.
    create(&client, repo.clone()).await;
    let policy = json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImagePolicy",
        "metadata": {"name": "app", "namespace": "default", "generation": 1},
        "spec": {
            "imageRepositoryRef": {"name": "app"},
            "policy": {"semver": {"range": ">=1.0.0 <2.0.0"}},
            "digestReflectionPolicy": "IfNotPresent",
        }
    });
    let picked = reconcile_image_policy(&policy, &client, &store, now()).await;
    assert_eq!(
        picked.status["latestRef"],
        json!({"name": image, "tag": "1.0.1", "digest": d101}),
        "{}",
        picked.status
    );
    assert!(picked.status.get("observedPreviousRef").is_none());
    let (st, _, message) = ready(&picked.status);
    assert_eq!(st, "True");
    assert_eq!(
        message,
        format!("Latest image tag for {image} resolved to 1.0.1 with digest {d101}")
    );

    // Push 1.1.0, rescan on request, the policy moves and remembers the previous ref.
    let d110 = registry.push_image("team/app", "1.1.0").await;
    let mut requested = repo.clone();
    requested["metadata"]["annotations"] = json!({"reconcile.fluxcd.io/requestedAt": "now-1"});
    let third = reconcile_image_repository(&requested, &client, &store, now()).await;
    assert_eq!(third.status["lastScanResult"]["tagCount"], 4);
    assert_eq!(third.status["lastHandledReconcileAt"], "now-1");
    let policy = with_status(policy, &picked);
    let moved = reconcile_image_policy(&policy, &client, &store, now()).await;
    assert_eq!(moved.status["latestRef"]["tag"], "1.1.0");
    assert_eq!(moved.status["latestRef"]["digest"], d110);
    assert_eq!(moved.status["observedPreviousRef"]["tag"], "1.0.1");
    assert!(
        ready(&moved.status)
            .2
            .ends_with(&format!("(previously {image}:1.0.1@{d101})"))
    );
    assert_eq!(moved.events.len(), 1);

    // A range nothing satisfies: Ready=False Failure with the counts; an invalid one stalls.
    let mut none = policy.clone();
    none["spec"]["policy"] = json!({"semver": {"range": ">=5.0.0"}});
    let failed = reconcile_image_policy(&none, &client, &store, now()).await;
    let (st, reason, message) = ready(&failed.status);
    assert_eq!((st.as_str(), reason.as_str()), ("False", "Failure"));
    assert!(message.contains("scanned 4 tags"), "{message}");
    none["spec"]["policy"] = json!({"semver": {"range": "not a range"}});
    let stalled = reconcile_image_policy(&none, &client, &store, now()).await;
    assert_eq!(ready(&stalled.status).1, "InvalidPolicy");
    assert!(stalled.requeue_after.is_none());
}

#[tokio::test]
async fn basic_auth_registry_needs_the_docker_config_secret() {
    let Some(registry) = start_registry(Some(("ci", "s3cret"))).await else {
        return;
    };
    registry.push_image("private/app", "0.1.0").await;
    let (_cluster, client) = cluster();
    let data = tempfile::tempdir().expect("tempdir");
    let store = TagStore::new(data.path());
    let image = format!("{}/private/app", registry.addr);

    let anonymous = image_repo("anon", &image, json!({}));
    let denied = reconcile_image_repository(&anonymous, &client, &store, now()).await;
    let (st, reason, message) = ready(&denied.status);
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("False", "AuthenticationFailed"),
        "{message}"
    );
    assert!(message.starts_with("scan failed: "), "{message}");
    assert!(denied.events.iter().any(|e| e.0 == EventType::Warning));

    for (secret, password) in [("good", "s3cret"), ("bad", "wrong")] {
        let config =
            json!({"auths": {registry.addr.clone(): {"username": "ci", "password": password}}});
        let encoded = base64::engine::general_purpose::STANDARD.encode(config.to_string());
        create(
            &client,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": secret, "namespace": "default"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": encoded},
            }),
        )
        .await;
    }
    let good = image_repo("good", &image, json!({"secretRef": {"name": "good"}}));
    let scanned = reconcile_image_repository(&good, &client, &store, now()).await;
    assert_eq!(ready(&scanned.status).0, "True", "{}", scanned.status);
    assert_eq!(scanned.status["lastScanResult"]["tagCount"], 1);

    let bad = image_repo("bad", &image, json!({"secretRef": {"name": "bad"}}));
    let rejected = reconcile_image_repository(&bad, &client, &store, now()).await;
    assert_eq!(ready(&rejected.status).1, "AuthenticationFailed");

    let missing = image_repo("missing", &image, json!({"secretRef": {"name": "nope"}}));
    let no_secret = reconcile_image_repository(&missing, &client, &store, now()).await;
    let (_, reason, message) = ready(&no_secret.status);
    assert_eq!(reason, "AuthenticationFailed");
    assert!(
        message.contains("secret 'default/nope' not found"),
        "{message}"
    );
}

#[tokio::test]
async fn registry_down_and_invalid_image_conditions() {
    let (_cluster, client) = cluster();
    let data = tempfile::tempdir().expect("tempdir");
    let store = TagStore::new(data.path());
    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let repo = image_repo("down", &format!("127.0.0.1:{port}/app"), json!({}));
    let result = reconcile_image_repository(&repo, &client, &store, now()).await;
    let (st, reason, message) = ready(&result.status);
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("False", "ReadOperationFailed")
    );
    assert!(
        message.starts_with("scan failed: GET http://127.0.0.1:"),
        "{message}"
    );
    assert!(result.requeue_after.is_some());
    let reconciling = result.status["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == "Reconciling"))
        .cloned()
        .expect("Reconciling kept");
    assert_eq!(reconciling["reason"], "ProgressingWithRetry");
    assert_eq!(reconciling["message"], "scanning: first scan");

    let invalid = image_repo("bad", "https://ghcr.io/app:1.0", json!({}));
    let result = reconcile_image_repository(&invalid, &client, &store, now()).await;
    assert_eq!(ready(&result.status).1, "ImageURLInvalid");
    assert!(
        result.status["conditions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c["type"] == "Stalled"))
    );
    assert!(result.requeue_after.is_none());
}

/// A scripted registry: behaviour chosen by the repository name.
#[derive(Clone, Default)]
struct Script {
    token_requests: Arc<AtomicUsize>,
    hits_429: Arc<AtomicUsize>,
}

async fn tags(
    State(script): State<Script>,
    axum::extract::Path(name): axum::extract::Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match name.as_str() {
        "malformed" => (StatusCode::OK, "{\"name\": \"malformed\", \"tags\": [\"1.0\",").into_response(),
        "wrongtype" => (StatusCode::OK, "{\"name\": \"x\", \"tags\": {\"a\": 1}}").into_response(),
        "limited" => {
            script.hits_429.fetch_add(1, Ordering::SeqCst);
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "120")], "slow down").into_response()
        }
        "brief-limit" => {
            if script.hits_429.fetch_add(1, Ordering::SeqCst) == 0 {
                (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response()
            } else {
                (StatusCode::OK, "{\"tags\": [\"1.0.0\"]}").into_response()
            }
        }
        "tokened" => {
            if auth != "Bearer tok-123" {
                let challenge = format!(
                    "Bearer realm=\"http://{}/token\",service=\"scripted\",scope=\"repository:tokened:pull\"",
                    headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("")
                );
                return (StatusCode::UNAUTHORIZED, [("www-authenticate", challenge)], "").into_response();
            }
            (StatusCode::OK, "{\"tags\": [\"v1\", \"v2\"]}").into_response()
        }
        "huge" => {
            // 50,000 tags in pages of `n`, linked with `last`.
            let n: usize = query.get("n").and_then(|n| n.parse().ok()).unwrap_or(100).min(5000);
            let start: usize = query.get("last").and_then(|l| l.strip_prefix("t").and_then(|x| x.parse::<usize>().ok())).map(|i| i + 1).unwrap_or(0);
            let end = (start + n).min(50_000);
            let page: Vec<String> = (start..end).map(|i| format!("t{i:05}")).collect();
            let body = json!({"name": "huge", "tags": page}).to_string();
            if end < 50_000 {
                let link = format!("</v2/huge/tags/list?n={n}&last=t{:05}>; rel=\"next\"", end - 1);
                (StatusCode::OK, [("link", link)], body).into_response()
            } else {
                (StatusCode::OK, body).into_response()
            }
        }
        "loop" => {
            (StatusCode::OK, [("link", "</v2/loop/tags/list?n=1000>; rel=\"next\"".to_string())], "{\"tags\": [\"a\"]}").into_response()
        }
        _ => (StatusCode::NOT_FOUND, "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"repository name not known to registry\"}]}").into_response(),
    }
}

async fn token(
    State(script): State<Script>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    script.token_requests.fetch_add(1, Ordering::SeqCst);
    if query.get("service").map(String::as_str) != Some("scripted")
        || query.get("scope").map(String::as_str) != Some("repository:tokened:pull")
    {
        return (StatusCode::BAD_REQUEST, "bad token request").into_response();
    }
    (StatusCode::OK, "{\"token\": \"tok-123\"}").into_response()
}

async fn scripted_registry() -> (String, Script) {
    let script = Script::default();
    let app = Router::new()
        .route("/v2/{name}/tags/list", get(tags))
        .route("/token", get(token))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, script)
}

#[tokio::test]
async fn scripted_registry_token_flow_rate_limits_malformed_and_huge_lists() {
    let (addr, script) = scripted_registry().await;
    let (_cluster, client) = cluster();
    let data = tempfile::tempdir().expect("tempdir");
    let store = TagStore::new(data.path());
    let scan = |name: &str| {
        let repo = image_repo(name, &format!("{addr}/{name}"), json!({"insecure": true}));
        let client = client.clone();
        let store = store.clone();
        async move { reconcile_image_repository(&repo, &client, &store, now()).await }
    };

    let tokened = scan("tokened").await;
    assert_eq!(
        tokened.status["lastScanResult"]["latestTags"],
        json!(["v2", "v1"]),
        "{}",
        tokened.status
    );
    assert_eq!(script.token_requests.load(Ordering::SeqCst), 1);

    let limited = scan("limited").await;
    let (st, reason, message) = ready(&limited.status);
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("False", "ReadOperationFailed")
    );
    assert!(
        message.contains("HTTP 429") && message.contains("retry after 120s"),
        "{message}"
    );
    assert_eq!(limited.requeue_after, Some(Duration::from_secs(120)));

    script.hits_429.store(0, Ordering::SeqCst);
    let brief = scan("brief-limit").await;
    assert_eq!(
        brief.status["lastScanResult"]["tagCount"], 1,
        "{}",
        brief.status
    );

    for name in ["malformed", "wrongtype"] {
        let result = scan(name).await;
        let (st, reason, message) = ready(&result.status);
        assert_eq!(
            (st.as_str(), reason.as_str()),
            ("False", "ReadOperationFailed"),
            "{name}"
        );
        assert!(message.contains("malformed response from"), "{message}");
        assert_eq!(
            store.tags("default", name).expect("read"),
            None,
            "nothing stored for {name}"
        );
    }

    let missing = scan("unknown").await;
    assert!(
        ready(&missing.status).2.contains("NAME_UNKNOWN"),
        "{}",
        missing.status
    );

    let looped = scan("loop").await;
    assert!(
        ready(&looped.status).2.contains("already read"),
        "{}",
        looped.status
    );

    let huge = scan("huge").await;
    assert_eq!(
        huge.status["lastScanResult"]["tagCount"], 50_000,
        "{}",
        huge.status
    );
    assert_eq!(huge.status["lastScanResult"]["latestTags"][0], "t49999");
    assert_eq!(
        huge.status["lastScanResult"]["latestTags"]
            .as_array()
            .map(Vec::len),
        Some(10)
    );
    let stored = store
        .tags("default", "huge")
        .expect("read")
        .expect("stored");
    assert_eq!(stored.len(), 50_000);
    // The status stays small: the list lives in the store only.
    assert!(huge.status.to_string().len() < 4096);
}
