//! The demo image registry: the OCI distribution API subset that image scanning uses, served on
//! loopback from the catalogue (`demo/registry/catalogue.yaml`), with new tags "published" over
//! time the way a CI pipeline pushes releases.
//!
//! Served: `GET /v2/` (200), `GET /v2/<name>/tags/list` with `n`/`last` pagination and a
//! `Link: <…>; rel="next"` header, `GET`/`HEAD /v2/<name>/manifests/<tag|digest>` with a stable
//! `Docker-Content-Digest` (sha256 of a small generated OCI manifest). Unknown names, tags and bad
//! parameters get the registry error JSON (`{"errors":[{"code":…}]}`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::task::JoinHandle;

/// Media type of the generated manifests.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The most tags one page returns when the client does not ask for fewer.
const MAX_PAGE: usize = 1000;

/// The catalogue could not be read, or the registry could not start.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// The catalogue YAML is malformed.
    #[error("registry catalogue: {0}")]
    Catalogue(String),
    /// The listener could not be bound.
    #[error("demo registry cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The catalogue's file format.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CatalogueFile {
    publish_every: String,
    images: Vec<CatalogueImageFile>,
    #[serde(default)]
    timeline: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueImageFile {
    name: String,
    #[serde(default)]
    tags: Vec<String>,
}

/// Images, their first tags, and the tags published later in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    /// Time between two publications at speed 1.
    pub publish_every: Duration,
    /// Image name (`stefanprodan/podinfo`) → tags available from the start.
    pub images: BTreeMap<String, Vec<String>>,
    /// `(image, tag)` pairs published one at a time.
    pub timeline: Vec<(String, String)>,
}

/// One published tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Image name.
    pub name: String,
    /// The new tag.
    pub tag: String,
}

impl Catalogue {
    /// The catalogue embedded from `demo/registry/catalogue.yaml`.
    pub fn embedded() -> Result<Catalogue, RegistryError> {
        let bytes = super::template::file(super::template::CATALOGUE_PATH).ok_or_else(|| {
            RegistryError::Catalogue("the embedded demo has no registry/catalogue.yaml".into())
        })?;
        Catalogue::parse(&String::from_utf8_lossy(bytes))
    }

    /// Parses a catalogue; names and tags are checked against the distribution grammar.
    pub fn parse(text: &str) -> Result<Catalogue, RegistryError> {
        let file: CatalogueFile =
            serde_saphyr::from_str(text).map_err(|e| RegistryError::Catalogue(e.to_string()))?;
        let publish_every = parse_duration(&file.publish_every).ok_or_else(|| {
            RegistryError::Catalogue(format!(
                "publishEvery: {:?} is not a duration like 45s, 2m or 500ms",
                file.publish_every
            ))
        })?;
        let mut images = BTreeMap::new();
        for (i, image) in file.images.into_iter().enumerate() {
            if !valid_name(&image.name) {
                return Err(RegistryError::Catalogue(format!(
                    "images[{i}].name: {:?} is not a repository name",
                    image.name
                )));
            }
            if let Some(bad) = image.tags.iter().find(|t| !valid_tag(t)) {
                return Err(RegistryError::Catalogue(format!(
                    "images[{i}] ({}): {bad:?} is not a tag",
                    image.name
                )));
            }
            if images.insert(image.name.clone(), image.tags).is_some() {
                return Err(RegistryError::Catalogue(format!(
                    "images[{i}]: {} is listed twice",
                    image.name
                )));
            }
        }
        let mut timeline = Vec::new();
        for (i, entry) in file.timeline.iter().enumerate() {
            let parsed = entry
                .rsplit_once(':')
                .filter(|(name, tag)| images.contains_key(*name) && valid_tag(tag));
            let Some((name, tag)) = parsed else {
                return Err(RegistryError::Catalogue(format!(
                    "timeline[{i}]: {entry:?} is not <listed image>:<tag>"
                )));
            };
            timeline.push((name.to_string(), tag.to_string()));
        }
        Ok(Catalogue {
            publish_every,
            images,
            timeline,
        })
    }
}

/// A positive Go duration (`45s`, `2m`, `500ms`, `1h30m`).
fn parse_duration(s: &str) -> Option<Duration> {
    crate::model::time::parse_duration(s.trim())
        .ok()
        .filter(|d| !d.is_zero())
}

/// A distribution repository name: lower-case path components of `[a-z0-9]` runs joined by
/// `.`, `_`, `__` or `-`, separated by `/`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        })
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

/// The registry's mutable state: tags per image and what is still to be published.
struct Tags {
    images: BTreeMap<String, Vec<String>>,
    pending: VecDeque<(String, String)>,
}

impl Tags {
    fn publish_next(&mut self) -> Option<Published> {
        let (name, tag) = match self.pending.pop_front() {
            Some(next) => next,
            None => self.next_patch_release()?,
        };
        let tags = self.images.entry(name.clone()).or_default();
        if !tags.contains(&tag) {
            tags.push(tag.clone());
        }
        Some(Published { name, tag })
    }

    /// Once the timeline is used up: the first image's next patch release (6.3.0 → 6.3.1), so a
    /// long-running demo keeps moving.
    fn next_patch_release(&self) -> Option<(String, String)> {
        let (name, tags) = self.images.iter().next()?;
        let (major, minor, patch) = tags.iter().filter_map(|t| plain_version(t)).max()?;
        let next = format!("{major}.{minor}.{}", patch.checked_add(1)?);
        Some((name.clone(), next))
    }
}

/// `x.y.z` with numbers only.
fn plain_version(tag: &str) -> Option<(u64, u64, u64)> {
    let mut parts = tag.split('.');
    let v = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    parts.next().is_none().then_some(v)
}

type Shared = Arc<Mutex<Tags>>;

fn lock(tags: &Shared) -> MutexGuard<'_, Tags> {
    // A poisoned lock is recovered: every write is a single push that cannot be left half-done.
    tags.lock().unwrap_or_else(|e| e.into_inner())
}

/// Publishes the registry's next tag from anywhere (cheap to clone).
#[derive(Clone)]
pub struct Publisher {
    tags: Shared,
}

impl Publisher {
    /// Publishes the next tag at once; `None` if there is nothing left to publish.
    pub fn publish_now(&self) -> Option<Published> {
        lock(&self.tags).publish_next()
    }
}

/// The running demo registry.
pub struct DemoRegistry {
    addr: SocketAddr,
    tags: Shared,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DemoRegistry {
    /// Serves `catalogue` on `listen` and publishes the next timeline tag every `publish_every`
    /// (`None`: only [`DemoRegistry::publish_now`] publishes).
    pub async fn start(
        catalogue: Catalogue,
        listen: SocketAddr,
        publish_every: Option<Duration>,
    ) -> Result<DemoRegistry, RegistryError> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| RegistryError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| RegistryError::Bind {
                addr: listen,
                source,
            })?;
        let tags: Shared = Arc::new(Mutex::new(Tags {
            images: catalogue.images,
            pending: catalogue.timeline.into(),
        }));
        let (stop, _) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        let app = router(tags.clone());
        let mut stop_serving = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_serving.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!("demo registry on {addr} failed: {e}");
            }
        }));
        if let Some(every) = publish_every.filter(|d| !d.is_zero()) {
            let tags = tags.clone();
            let mut stop_publishing = stop.subscribe();
            tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tokio::select! {
                        _ = ticks.tick() => {
                            match lock(&tags).publish_next() {
                                Some(p) => tracing::info!("demo registry published {}:{}", p.name, p.tag),
                                None => break,
                            }
                        }
                        _ = stop_publishing.wait_for(|s| *s) => break,
                    }
                }
            }));
        }
        Ok(DemoRegistry {
            addr,
            tags,
            stop,
            tasks,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>`, the host part of image references (`127.0.0.1:<port>/stefanprodan/podinfo`).
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Publishes the next tag at once; `None` if there is nothing left to publish.
    pub fn publish_now(&self) -> Option<Published> {
        lock(&self.tags).publish_next()
    }

    /// A cloneable handle that can publish while the registry runs (for `:demo publish`).
    pub fn publisher(&self) -> Publisher {
        Publisher {
            tags: self.tags.clone(),
        }
    }

    /// The tags of one image, in publication order (`None` for an unknown image).
    pub fn tags(&self, name: &str) -> Option<Vec<String>> {
        lock(&self.tags).images.get(name).cloned()
    }

    /// Stops serving and publishing.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn router(tags: Shared) -> Router {
    Router::new()
        .route("/v2/", get(base))
        .route("/v2", get(base))
        .route("/v2/{*rest}", get(repository_route))
        .fallback(|| async {
            registry_error(StatusCode::NOT_FOUND, "UNSUPPORTED", "not found", None)
        })
        .with_state(tags)
}

fn with_api_version(mut response: Response) -> Response {
    response.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

async fn base() -> Response {
    with_api_version(
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response(),
    )
}

/// A registry error body: `{"errors":[{"code","message","detail"}]}`.
fn registry_error(
    status: StatusCode,
    code: &str,
    message: &str,
    detail: Option<serde_json::Value>,
) -> Response {
    let body = serde_json::json!({"errors": [{
        "code": code,
        "message": message,
        "detail": detail.unwrap_or(serde_json::Value::Null),
    }]});
    with_api_version(
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
    )
}

fn name_unknown(name: &str) -> Response {
    registry_error(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        "repository name not known to registry",
        Some(serde_json::json!({"name": name})),
    )
}

async fn repository_route(
    State(tags): State<Shared>,
    UrlPath(rest): UrlPath<String>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Some(name) = rest.strip_suffix("/tags/list") {
        let Ok(Query(query)) = query else {
            return registry_error(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                "invalid query",
                None,
            );
        };
        return tags_list(&tags, name, &query);
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        return manifest(&tags, name, reference);
    }
    registry_error(
        StatusCode::NOT_FOUND,
        "UNSUPPORTED",
        "the demo registry serves tags and manifests only",
        None,
    )
}

fn tags_list(tags: &Shared, name: &str, query: &HashMap<String, String>) -> Response {
    let n = match query.get("n").map(|n| n.parse::<usize>()) {
        None => MAX_PAGE,
        Some(Ok(n)) => n.min(MAX_PAGE),
        Some(Err(_)) => {
            return registry_error(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                "invalid number of results requested",
                Some(serde_json::json!({"n": query.get("n")})),
            );
        }
    };
    let mut all = match lock(tags).images.get(name) {
        Some(t) => t.clone(),
        None => return name_unknown(name),
    };
    // Like distribution: lexical order, and `last` resumes strictly after the given tag.
    all.sort();
    if let Some(last) = query.get("last") {
        all.retain(|t| t.as_str() > last.as_str());
    }
    let more = all.len() > n;
    all.truncate(n);
    let body = serde_json::json!({"name": name, "tags": all});
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if more && let Some(last) = all.last() {
        let link = format!(
            "</v2/{name}/tags/list?last={}&n={n}>; rel=\"next\"",
            percent_encode(last)
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, v);
        }
    }
    with_api_version((StatusCode::OK, headers, body.to_string()).into_response())
}

/// Percent-encodes everything outside the URL-safe tag alphabet.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The generated manifest of `name:tag`: an OCI image manifest with a config and one layer whose
/// digests derive from the name and tag, so every run serves the same bytes.
pub fn manifest_bytes(name: &str, tag: &str) -> Vec<u8> {
    let sha = |s: String| format!("sha256:{:x}", Sha256::digest(s.as_bytes()));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha(format!("config {name}:{tag}")),
            "size": 512,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": sha(format!("layer {name}:{tag}")),
            "size": 2_097_152,
        }],
        "annotations": {
            "org.opencontainers.image.version": tag,
            "org.opencontainers.image.source": format!("https://github.com/{name}"),
        },
    });
    manifest.to_string().into_bytes()
}

/// `sha256:<hex>` of [`manifest_bytes`].
pub fn manifest_digest(name: &str, tag: &str) -> String {
    format!("sha256:{:x}", Sha256::digest(manifest_bytes(name, tag)))
}

fn manifest(tags: &Shared, name: &str, reference: &str) -> Response {
    let known = match lock(tags).images.get(name) {
        Some(t) => t.clone(),
        None => return name_unknown(name),
    };
    let tag = if reference.starts_with("sha256:") {
        known.iter().find(|t| manifest_digest(name, t) == reference)
    } else {
        known.iter().find(|t| *t == reference)
    };
    let Some(tag) = tag else {
        return registry_error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
            Some(serde_json::json!({"name": name, "reference": reference})),
        );
    };
    let body = manifest_bytes(name, tag);
    let digest = format!("sha256:{:x}", Sha256::digest(&body));
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(&digest) {
        headers.insert("Docker-Content-Digest", v);
    }
    with_api_version((StatusCode::OK, headers, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalogue_parses() {
        let c = Catalogue::embedded().expect("embedded catalogue parses");
        assert!(c.images.contains_key("stefanprodan/podinfo"));
        assert!(c.publish_every >= Duration::from_secs(1));
        assert!(!c.timeline.is_empty());
    }

    #[test]
    fn malformed_catalogues_are_errors_not_panics() {
        for (text, wanted) in [
            ("", "registry catalogue"),
            ("[1, 2", "registry catalogue"),
            ("publishEvery: 10s\nimages: 3\n", "registry catalogue"),
            ("publishEvery: soon\nimages: []\n", "publishEvery"),
            (
                "publishEvery: 99999999999999999999h\nimages: []\n",
                "publishEvery",
            ),
            ("publishEvery: 0s\nimages: []\n", "publishEvery"),
            (
                "publishEvery: 1s\nimages: [{name: Bad/Name}]\n",
                "images[0].name",
            ),
            (
                "publishEvery: 1s\nimages: [{name: a, tags: ['-x']}]\n",
                "images[0]",
            ),
            (
                "publishEvery: 1s\nimages: [{name: a}, {name: a}]\n",
                "listed twice",
            ),
            (
                "publishEvery: 1s\nimages: [{name: a}]\ntimeline: [b:1.0.0]\n",
                "timeline[0]",
            ),
            (
                "publishEvery: 1s\nimages: [{name: a}]\ntimeline: [a]\n",
                "timeline[0]",
            ),
            (
                "publishEvery: 1s\nimages: [{name: a}]\nextra: 1\n",
                "registry catalogue",
            ),
        ] {
            let err = Catalogue::parse(text).expect_err(text);
            assert!(err.to_string().contains(wanted), "{text:?}: {err}");
        }
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(Catalogue::parse(&deep).is_err());
    }

    #[test]
    fn names_and_tags_follow_the_distribution_grammar() {
        assert!(valid_name("stefanprodan/podinfo"));
        assert!(valid_name("a.b_c-d/e"));
        assert!(!valid_name("UPPER/x"));
        assert!(!valid_name("a//b"));
        assert!(!valid_name("-a"));
        assert!(valid_tag("6.0.0"));
        assert!(valid_tag("_x"));
        assert!(!valid_tag(".x"));
        assert!(!valid_tag(&"x".repeat(129)));
    }

    #[test]
    fn publishing_follows_the_timeline_then_bumps_patches() {
        let c = Catalogue::parse(
            "publishEvery: 1s\nimages: [{name: a, tags: ['1.0.0', 'latest']}, {name: b}]\ntimeline: ['b:2.0.0']\n",
        )
        .expect("parses");
        let mut tags = Tags {
            images: c.images,
            pending: c.timeline.into(),
        };
        let first = tags.publish_next().expect("timeline entry");
        assert_eq!((first.name.as_str(), first.tag.as_str()), ("b", "2.0.0"));
        let second = tags.publish_next().expect("patch bump");
        assert_eq!((second.name.as_str(), second.tag.as_str()), ("a", "1.0.1"));
        let third = tags.publish_next().expect("patch bump");
        assert_eq!(third.tag, "1.0.2");
        assert_eq!(
            tags.images.get("a").cloned(),
            Some(vec![
                "1.0.0".into(),
                "latest".into(),
                "1.0.1".into(),
                "1.0.2".into()
            ])
        );
    }

    #[test]
    fn manifest_digests_are_stable_and_distinct() {
        assert_eq!(manifest_digest("a", "1"), manifest_digest("a", "1"));
        assert_ne!(manifest_digest("a", "1"), manifest_digest("a", "2"));
        assert_ne!(manifest_digest("a", "1"), manifest_digest("b", "1"));
        assert!(manifest_digest("a", "1").starts_with("sha256:"));
    }
}
