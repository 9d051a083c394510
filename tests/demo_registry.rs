//! The demo registry over loopback HTTP: the OCI distribution subset image scanning uses.

use std::net::SocketAddr;
use std::time::Duration;

use flotilla::demo::registry::{Catalogue, DemoRegistry, manifest_digest};

const CATALOGUE: &str = "publishEvery: 1s
images:
  - name: team/app
    tags: ['1.0.0', '1.1.0', '1.2.0', '0.9.0', 'latest']
  - name: solo
    tags: []
timeline:
  - team/app:2.0.0
  - solo:0.1.0
";

async fn start() -> DemoRegistry {
    let catalogue = Catalogue::parse(CATALOGUE).expect("catalogue parses");
    DemoRegistry::start(catalogue, SocketAddr::from(([127, 0, 0, 1], 0)), None)
        .await
        .expect("registry starts")
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).expect("JSON body")
}

fn client() -> reqwest::Client {
    // reqwest is built without a default TLS provider; plain http still needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

#[tokio::test]
async fn base_endpoint_and_tag_pagination() {
    let registry = start().await;
    let base = format!("http://{}", registry.host());
    let http = client();

    let v2 = http
        .get(format!("{base}/v2/"))
        .send()
        .await
        .expect("GET /v2/");
    assert_eq!(v2.status(), 200);
    assert_eq!(
        v2.headers()
            .get("Docker-Distribution-API-Version")
            .and_then(|v| v.to_str().ok()),
        Some("registry/2.0")
    );

    let all: serde_json::Value = http
        .get(format!("{base}/v2/team/app/tags/list"))
        .send()
        .await
        .expect("list")
        .bytes()
        .await
        .map(|b| json(&b))
        .expect("body");
    assert_eq!(all["name"], "team/app");
    assert_eq!(
        all["tags"],
        serde_json::json!(["0.9.0", "1.0.0", "1.1.0", "1.2.0", "latest"])
    );

    // Walk the pages by following the Link header, as a scanner does.
    let mut url = format!("{base}/v2/team/app/tags/list?n=2");
    let mut pages = Vec::new();
    loop {
        let resp = http.get(&url).send().await.expect("page");
        assert_eq!(resp.status(), 200);
        let link = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: serde_json::Value = json(&resp.bytes().await.expect("body"));
        pages.push(body["tags"].clone());
        let Some(link) = link else { break };
        assert!(link.ends_with("; rel=\"next\""), "{link}");
        let path = link
            .trim_start_matches('<')
            .split('>')
            .next()
            .expect("link target");
        url = format!("{base}{path}");
        assert!(pages.len() < 10, "pagination does not end");
    }
    assert_eq!(
        pages,
        vec![
            serde_json::json!(["0.9.0", "1.0.0"]),
            serde_json::json!(["1.1.0", "1.2.0"]),
            serde_json::json!(["latest"]),
        ]
    );

    let after: serde_json::Value = http
        .get(format!("{base}/v2/team/app/tags/list?last=1.1.0"))
        .send()
        .await
        .expect("last")
        .bytes()
        .await
        .map(|b| json(&b))
        .expect("body");
    assert_eq!(after["tags"], serde_json::json!(["1.2.0", "latest"]));

    let empty: serde_json::Value = http
        .get(format!("{base}/v2/solo/tags/list"))
        .send()
        .await
        .expect("empty list")
        .bytes()
        .await
        .map(|b| json(&b))
        .expect("body");
    assert_eq!(empty["tags"], serde_json::json!([]));
    registry.shutdown().await;
}

#[tokio::test]
async fn manifests_have_stable_digests_for_head_and_get() {
    let registry = start().await;
    let base = format!("http://{}", registry.host());
    let http = client();
    let url = format!("{base}/v2/team/app/manifests/1.1.0");

    let head = http.head(&url).send().await.expect("HEAD");
    assert_eq!(head.status(), 200);
    let digest = head
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
        .expect("digest header")
        .to_string();
    assert_eq!(digest, manifest_digest("team/app", "1.1.0"));

    let get = http.get(&url).send().await.expect("GET");
    assert_eq!(get.status(), 200);
    assert_eq!(
        get.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    let same = get
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = get.bytes().await.expect("body");
    assert_eq!(same.as_deref(), Some(digest.as_str()));
    use sha2::Digest as _;
    assert_eq!(digest, format!("sha256:{:x}", sha2::Sha256::digest(&body)));

    let by_digest = http
        .head(format!("{base}/v2/team/app/manifests/{digest}"))
        .send()
        .await
        .expect("HEAD by digest");
    assert_eq!(by_digest.status(), 200);
    registry.shutdown().await;
}

#[tokio::test]
async fn unknown_names_tags_and_bad_parameters_get_registry_errors() {
    let registry = start().await;
    let base = format!("http://{}", registry.host());
    let http = client();
    for (path, status, code) in [
        ("/v2/nope/tags/list", 404, "NAME_UNKNOWN"),
        ("/v2/team/nope/manifests/1.0.0", 404, "NAME_UNKNOWN"),
        ("/v2/team/app/manifests/9.9.9", 404, "MANIFEST_UNKNOWN"),
        ("/v2/team/app/manifests/sha256:00", 404, "MANIFEST_UNKNOWN"),
        (
            "/v2/team/app/tags/list?n=-1",
            400,
            "PAGINATION_NUMBER_INVALID",
        ),
        (
            "/v2/team/app/tags/list?n=99999999999999999999999",
            400,
            "PAGINATION_NUMBER_INVALID",
        ),
        ("/v2/team/app/blobs/sha256:00", 404, "UNSUPPORTED"),
        ("/v3/", 404, "UNSUPPORTED"),
    ] {
        let resp = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), status, "{path}");
        let body: serde_json::Value = json(&resp.bytes().await.expect("body"));
        assert_eq!(body["errors"][0]["code"], code, "{path}: {body}");
    }
    registry.shutdown().await;
}

#[tokio::test]
async fn publishing_adds_the_next_timeline_tag() {
    let registry = start().await;
    let base = format!("http://{}", registry.host());
    let http = client();
    let published = registry.publish_now().expect("something to publish");
    assert_eq!(
        (published.name.as_str(), published.tag.as_str()),
        ("team/app", "2.0.0")
    );
    let tags: serde_json::Value = http
        .get(format!("{base}/v2/team/app/tags/list"))
        .send()
        .await
        .expect("list")
        .bytes()
        .await
        .map(|b| json(&b))
        .expect("body");
    assert!(
        tags["tags"]
            .as_array()
            .expect("array")
            .contains(&serde_json::json!("2.0.0")),
        "{tags}"
    );
    let next = registry.publish_now().expect("second entry");
    assert_eq!(next.name, "solo");
    assert_eq!(registry.tags("solo"), Some(vec!["0.1.0".to_string()]));
    registry.shutdown().await;
}

#[tokio::test]
async fn the_timer_publishes_without_being_asked() {
    let catalogue = Catalogue::parse(CATALOGUE).expect("catalogue parses");
    let registry = DemoRegistry::start(
        catalogue,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        Some(Duration::from_millis(50)),
    )
    .await
    .expect("registry starts");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !registry
        .tags("team/app")
        .is_some_and(|t| t.contains(&"2.0.0".to_string()))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing was published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    registry.shutdown().await;
}
