//! A small OCI distribution client for image scanning: image-name canonicalisation (docker.io
//! rules), credentials from a `kubernetes.io/dockerconfigjson` Secret, the tag list with
//! pagination, and manifest digests.
//!
//! Written on the crate's reqwest (rustls + ring) rather than `oci-client`, which pulls in a
//! second reqwest major version and with it a second HTTP/TLS stack. Authentication follows the
//! registry token flow: a request without credentials; on `401` a `Bearer` challenge is answered
//! from the token endpoint (with basic credentials when known) and a `Basic` challenge with the
//! credentials; a second `401`/`403` is an authentication failure.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::model::error_text::error_chain;
use crate::model::time::format_duration;

/// Docker Hub's canonical registry host.
pub const DOCKER_HUB: &str = "index.docker.io";

/// Tags requested per page (`n`); registries may return fewer.
const PAGE_SIZE: usize = 1000;
/// Upper bound on one response body (a tag-list page or a token), against hostile servers.
const MAX_BODY_BYTES: usize = 64 << 20;
/// Upper bound on pages followed, against Link loops that change the URL every time.
const MAX_PAGES: usize = 10_000;
/// A `429` whose Retry-After is at most this long is waited out inside the scan (once per page).
const MAX_INLINE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Manifest media types accepted when asking for a digest.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A registry operation failed; [`RegistryError::reason`] gives the Flux condition reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// `spec.image` cannot be used.
    #[error("invalid image '{image}': {reason}")]
    InvalidImage {
        /// The image as written.
        image: String,
        /// What is wrong.
        reason: String,
    },
    /// The Secret does not hold usable docker config JSON.
    #[error("invalid docker config in secret: {0}")]
    InvalidDockerConfig(String),
    /// The registry refused the credentials, or asked for some and none were given.
    #[error("authentication to {registry} failed: {message}")]
    Authentication {
        /// Registry host.
        registry: String,
        /// Details.
        message: String,
    },
    /// The registry asked to slow down and the wait is longer than a scan should block.
    #[error("registry {registry} is rate limiting requests (HTTP 429), retry after {}s", retry_after.as_secs())]
    RateLimited {
        /// Registry host.
        registry: String,
        /// How long the registry asked to wait.
        retry_after: Duration,
    },
    /// The registry could not be reached or answered with an error status.
    #[error("{0}")]
    Request(String),
    /// The registry answered with something that is not what the API promises.
    #[error("malformed response from {url}: {message}")]
    Malformed {
        /// The request URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The whole operation took longer than `spec.timeout`.
    #[error("registry operation on {registry} timed out after {}", format_duration(*after))]
    Timeout {
        /// Registry host.
        registry: String,
        /// The limit.
        after: Duration,
    },
}

impl RegistryError {
    /// `AuthenticationFailed` for credential problems, `ReadOperationFailed` otherwise.
    pub fn reason(&self) -> &'static str {
        match self {
            RegistryError::Authentication { .. } | RegistryError::InvalidDockerConfig(_) => {
                "AuthenticationFailed"
            }
            RegistryError::InvalidImage { .. } => "ImageURLInvalid",
            _ => "ReadOperationFailed",
        }
    }

    /// How long the registry asked to wait, for a rate-limit error.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RegistryError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// An image name split into registry host and repository path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// Registry host (and port), `index.docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path within the registry (`library/alpine`).
    pub repository: String,
}

impl ImageName {
    /// Parses `spec.image` the way go-containerregistry does (non-strict, Docker Hub default):
    /// no scheme, no tag or digest, lower-case repository.
    pub fn parse(image: &str) -> Result<ImageName, RegistryError> {
        let invalid = |reason: &str| RegistryError::InvalidImage {
            image: image.to_string(),
            reason: reason.to_string(),
        };
        if image.is_empty() {
            return Err(invalid("the image name is empty"));
        }
        if image.contains("://") {
            return Err(invalid(
                "the image name must not contain a URL scheme (remove the '<scheme>://' prefix)",
            ));
        }
        if image.contains('@') {
            return Err(invalid("the image name must not contain a digest"));
        }
        let last_segment = image.rsplit('/').next().unwrap_or(image);
        if last_segment.contains(':') {
            return Err(invalid("the image name must not contain a tag"));
        }
        let (registry, repository) = match image.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), image.to_string()),
        };
        let registry = match registry.as_str() {
            "docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        if registry
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')))
        {
            return Err(invalid("the registry host contains invalid characters"));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let valid_component = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        };
        if repository.len() > 255 || !repository.split('/').all(valid_component) {
            return Err(invalid(
                "the repository may only contain lower-case letters, digits, '.', '_', '-' and '/' separators",
            ));
        }
        Ok(ImageName {
            registry,
            repository,
        })
    }

    /// `registry/repository`, as `status.canonicalImageName`.
    pub fn canonical(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The URL scheme to use: plain HTTP when `insecure` or for loopback/private registries (as
    /// go-containerregistry decides), HTTPS otherwise.
    pub fn scheme(&self, insecure: bool) -> &'static str {
        let host = self
            .registry
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map(|(h, _)| h)
            .unwrap_or(&self.registry);
        let private = host == "localhost"
            || host.ends_with(".local")
            || host.starts_with("127.")
            || host == "[::1]"
            || host.starts_with("10.")
            || host.starts_with("192.168.")
            || host
                .strip_prefix("172.")
                .and_then(|r| r.split('.').next())
                .and_then(|o| o.parse::<u8>().ok())
                .is_some_and(|o| (16..=31).contains(&o));
        if insecure || private { "http" } else { "https" }
    }
}

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// The host part of a docker config `auths` key (`https://index.docker.io/v1/` → `index.docker.io`).
fn config_key_host(key: &str) -> String {
    let without_scheme = key.split_once("://").map(|(_, r)| r).unwrap_or(key);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    match host {
        "docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        other => other.to_ascii_lowercase(),
    }
}

/// Picks the credentials for `registry` from a `kubernetes.io/dockerconfigjson` Secret's `data`
/// (base64 values); `Ok(None)` when the config has no entry for that registry.
pub fn credentials_from_secret_data(
    data: &Value,
    registry: &str,
) -> Result<Option<Credentials>, RegistryError> {
    let bad = |m: &str| RegistryError::InvalidDockerConfig(m.to_string());
    let encoded = data
        .get(".dockerconfigjson")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("key '.dockerconfigjson' is missing"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| bad(&format!("'.dockerconfigjson' is not base64: {e}")))?;
    credentials_from_docker_config(&decoded, registry)
}

/// Picks the credentials for `registry` from docker config JSON (`{"auths": {host: {...}}}`).
pub fn credentials_from_docker_config(
    json: &[u8],
    registry: &str,
) -> Result<Option<Credentials>, RegistryError> {
    let bad = |m: String| RegistryError::InvalidDockerConfig(m);
    let config: Value =
        serde_json::from_slice(json).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let Some(auths) = config.get("auths") else {
        return Ok(None);
    };
    let auths = auths
        .as_object()
        .ok_or_else(|| bad("'auths' must be an object".to_string()))?;
    let wanted = registry.to_ascii_lowercase();
    let Some((key, entry)) = auths.iter().find(|(k, _)| config_key_host(k) == wanted) else {
        return Ok(None);
    };
    let text = |field: &str| entry.get(field).and_then(Value::as_str).unwrap_or_default();
    if !text("username").is_empty() || !text("password").is_empty() {
        return Ok(Some(Credentials {
            username: text("username").to_string(),
            password: text("password").to_string(),
        }));
    }
    let auth = text("auth");
    if auth.is_empty() {
        return Err(bad(format!(
            "entry '{key}' has neither username/password nor auth"
        )));
    }
    let pair = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|e| bad(format!("entry '{key}': 'auth' is not base64: {e}")))?;
    let pair =
        String::from_utf8(pair).map_err(|_| bad(format!("entry '{key}': 'auth' is not UTF-8")))?;
    let (username, password) = pair
        .split_once(':')
        .ok_or_else(|| bad(format!("entry '{key}': 'auth' is not 'user:password'")))?;
    Ok(Some(Credentials {
        username: username.to_string(),
        password: password.to_string(),
    }))
}

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Plain HTTP (`spec.insecure`).
    pub insecure: bool,
    /// Credentials for basic auth and the token endpoint.
    pub credentials: Option<Credentials>,
    /// Limit for one whole operation (auth + all pages), `spec.timeout`.
    pub timeout: Duration,
}

/// A client for one repository of one registry.
#[derive(Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    image: ImageName,
    base: String,
    options: RegistryOptions,
    /// `Authorization` value learned from a challenge, reused for later requests.
    authorization: Option<String>,
}

fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means a provider is already the process default, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Parses a `WWW-Authenticate` challenge into its scheme and parameters.
fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            // Quoted value: up to the next unescaped quote.
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            value.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.push((key, value));
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_ascii_lowercase(), params)
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

/// Seconds (or an HTTP date) of a `Retry-After` header; a missing or unreadable one means 60s.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    let Some(value) = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    else {
        return Duration::from_secs(60);
    };
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Duration::from_secs(secs.min(24 * 3600));
    }
    match jiff::fmt::rfc2822::parse(value.trim()) {
        Ok(when) => {
            let secs = (when.timestamp().as_second() - jiff::Timestamp::now().as_second())
                .clamp(0, 24 * 3600);
            Duration::from_secs(u64::try_from(secs).unwrap_or(0))
        }
        Err(_) => Duration::from_secs(60),
    }
}

/// Reads a body up to [`MAX_BODY_BYTES`].
async fn read_limited(
    mut response: reqwest::Response,
    url: &str,
) -> Result<Vec<u8>, RegistryError> {
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            RegistryError::Request(format!(
                "reading the response of {url}: {}",
                error_chain(&e)
            ))
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(RegistryError::Malformed {
                url: url.to_string(),
                message: format!("response body exceeds {} MiB", MAX_BODY_BYTES >> 20),
            });
        }
        body.extend_from_slice(&chunk);
    }
}

impl RegistryClient {
    /// A client for `image` (nothing is sent yet).
    pub fn new(
        image: ImageName,
        options: RegistryOptions,
    ) -> Result<RegistryClient, RegistryError> {
        install_tls_provider();
        let timeout = if options.timeout.is_zero() {
            Duration::from_secs(60)
        } else {
            options.timeout
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("flotilla/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                RegistryError::Request(format!("cannot build an HTTP client: {}", error_chain(&e)))
            })?;
        let base = format!("{}://{}", image.scheme(options.insecure), image.registry);
        Ok(RegistryClient {
            http,
            image,
            base,
            options: RegistryOptions { timeout, ..options },
            authorization: None,
        })
    }

    /// The image this client reads.
    pub fn image(&self) -> &ImageName {
        &self.image
    }

    /// Lists every tag (all pages), within the timeout.
    pub async fn list_tags(&mut self) -> Result<Vec<String>, RegistryError> {
        let timeout = self.options.timeout;
        let registry = self.image.registry.clone();
        tokio::time::timeout(timeout, self.list_tags_unbounded())
            .await
            .unwrap_or(Err(RegistryError::Timeout {
                registry,
                after: timeout,
            }))
    }

    /// The manifest digest (`sha256:…`) of `tag`, within the timeout.
    pub async fn manifest_digest(&mut self, tag: &str) -> Result<String, RegistryError> {
        let timeout = self.options.timeout;
        let registry = self.image.registry.clone();
        tokio::time::timeout(timeout, self.manifest_digest_unbounded(tag))
            .await
            .unwrap_or(Err(RegistryError::Timeout {
                registry,
                after: timeout,
            }))
    }

    async fn list_tags_unbounded(&mut self) -> Result<Vec<String>, RegistryError> {
        let mut url = format!(
            "{}/v2/{}/tags/list?n={PAGE_SIZE}",
            self.base, self.image.repository
        );
        let mut tags = Vec::new();
        let mut seen = HashSet::new();
        for _ in 0..MAX_PAGES {
            if !seen.insert(url.clone()) {
                return Err(RegistryError::Malformed {
                    url,
                    message: "the Link header points back to a page already read".to_string(),
                });
            }
            let response = self.send(reqwest::Method::GET, &url, None).await?;
            let link = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = read_limited(response, &url).await?;
            let before = tags.len();
            parse_tag_page(&body, &url, &mut tags)?;
            match link {
                Some(next) => {
                    if tags.len() == before {
                        // A next link after an empty page would loop forever on a broken server.
                        return Ok(tags);
                    }
                    url = self.resolve(&next);
                }
                None => return Ok(tags),
            }
        }
        Err(RegistryError::Malformed {
            url,
            message: format!("more than {MAX_PAGES} pages of tags"),
        })
    }

    async fn manifest_digest_unbounded(&mut self, tag: &str) -> Result<String, RegistryError> {
        let url = format!("{}/v2/{}/manifests/{tag}", self.base, self.image.repository);
        let response = self
            .send(reqwest::Method::HEAD, &url, Some(MANIFEST_ACCEPT))
            .await?;
        if let Some(digest) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| d.starts_with("sha256:"))
        {
            return Ok(digest.to_string());
        }
        // Without the header, the digest is that of the manifest bytes.
        let response = self
            .send(reqwest::Method::GET, &url, Some(MANIFEST_ACCEPT))
            .await?;
        let body = read_limited(response, &url).await?;
        use sha2::Digest;
        let hash = sha2::Sha256::digest(&body);
        Ok(format!(
            "sha256:{}",
            hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ))
    }

    fn resolve(&self, link: &str) -> String {
        if link.starts_with("http://") || link.starts_with("https://") {
            link.to_string()
        } else if link.starts_with('/') {
            format!("{}{link}", self.base)
        } else {
            format!("{}/{link}", self.base)
        }
    }

    /// Sends a request, answering auth challenges and short rate limits; non-2xx is an error.
    async fn send(
        &mut self,
        method: reqwest::Method,
        url: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send_with_body(method, url, accept, None).await
    }

    /// [`RegistryClient::send`] with a request body (content type, bytes), re-sent after a challenge.
    async fn send_with_body(
        &mut self,
        method: reqwest::Method,
        url: &str,
        accept: Option<&str>,
        body: Option<(&str, &[u8])>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut challenged = false;
        let mut waited = false;
        loop {
            let mut request = self.http.request(method.clone(), url);
            if let Some(accept) = accept {
                request = request.header(reqwest::header::ACCEPT, accept);
            }
            if let Some((content_type, bytes)) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(bytes.to_vec());
            }
            if let Some(auth) = &self.authorization {
                request = request.header(reqwest::header::AUTHORIZATION, auth);
            }
            let response = request.send().await.map_err(|e| {
                RegistryError::Request(format!("{method} {url} failed: {}", error_chain(&e)))
            })?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            match status.as_u16() {
                401 if !challenged => {
                    challenged = true;
                    let challenge = response
                        .headers()
                        .get(reqwest::header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    self.authorization = Some(self.answer(&challenge).await?);
                }
                401 | 403 => {
                    return Err(RegistryError::Authentication {
                        registry: self.image.registry.clone(),
                        message: format!(
                            "{method} {url}: HTTP {status}{}",
                            if self.options.credentials.is_some() {
                                " (credentials rejected)"
                            } else {
                                " (no credentials configured; set spec.secretRef)"
                            }
                        ),
                    });
                }
                429 => {
                    let wait = retry_after(response.headers());
                    if waited || wait > MAX_INLINE_RETRY_AFTER {
                        return Err(RegistryError::RateLimited {
                            registry: self.image.registry.clone(),
                            retry_after: wait,
                        });
                    }
                    waited = true;
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    let body = read_limited(response, url).await.unwrap_or_default();
                    let detail = registry_error_text(&body);
                    return Err(RegistryError::Request(format!(
                        "{method} {url}: HTTP {status}{detail}"
                    )));
                }
            }
        }
    }

    /// Builds the `Authorization` value answering a `WWW-Authenticate` challenge.
    async fn answer(&self, challenge: &str) -> Result<String, RegistryError> {
        let registry = self.image.registry.clone();
        let (scheme, params) = parse_challenge(challenge);
        match scheme.as_str() {
            "basic" => match &self.options.credentials {
                Some(creds) => Ok(creds.basic_header()),
                None => Err(RegistryError::Authentication {
                    registry,
                    message: "the registry requires basic authentication and no credentials are configured (set spec.secretRef)".to_string(),
                }),
            },
            "bearer" => {
                let param = |k: &str| {
                    params
                        .iter()
                        .find(|(key, _)| key == k)
                        .map(|(_, v)| v.as_str())
                };
                let realm = param("realm").ok_or_else(|| RegistryError::Authentication {
                    registry: registry.clone(),
                    message: format!("bearer challenge without a realm: {challenge}"),
                })?;
                let mut query: Vec<(&str, String)> = Vec::new();
                if let Some(service) = param("service") {
                    query.push(("service", service.to_string()));
                }
                query.push((
                    "scope",
                    param("scope").map(str::to_string).unwrap_or_else(|| {
                        format!("repository:{}:pull", self.image.repository)
                    }),
                ));
                let token_url = reqwest::Url::parse_with_params(realm, &query).map_err(|e| {
                    RegistryError::Authentication {
                        registry: registry.clone(),
                        message: format!("bearer challenge realm '{realm}' is not a URL: {e}"),
                    }
                })?;
                let mut request = self.http.get(token_url);
                if let Some(creds) = &self.options.credentials {
                    request = request.header(reqwest::header::AUTHORIZATION, creds.basic_header());
                }
                let response = request.send().await.map_err(|e| {
                    RegistryError::Request(format!(
                        "token request to {realm} failed: {}",
                        error_chain(&e)
                    ))
                })?;
                let status = response.status();
                if status.as_u16() == 401 || status.as_u16() == 403 {
                    return Err(RegistryError::Authentication {
                        registry,
                        message: format!("token endpoint {realm} answered HTTP {status}"),
                    });
                }
                if !status.is_success() {
                    return Err(RegistryError::Request(format!(
                        "token endpoint {realm} answered HTTP {status}"
                    )));
                }
                let body = read_limited(response, realm).await?;
                let token: Value =
                    serde_json::from_slice(&body).map_err(|e| RegistryError::Malformed {
                        url: realm.to_string(),
                        message: format!("token response is not JSON: {e}"),
                    })?;
                let token = ["token", "access_token"]
                    .iter()
                    .find_map(|k| token.get(*k).and_then(Value::as_str))
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| RegistryError::Malformed {
                        url: realm.to_string(),
                        message: "token response has no 'token' or 'access_token'".to_string(),
                    })?;
                Ok(format!("Bearer {token}"))
            }
            _ => Err(RegistryError::Authentication {
                registry,
                message: if challenge.is_empty() {
                    "HTTP 401 without a WWW-Authenticate challenge".to_string()
                } else {
                    format!("unsupported authentication challenge: {challenge}")
                },
            }),
        }
    }
}

/// ` (CODE: message)` from a distribution error body, or nothing.
fn registry_error_text(body: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    let first = json
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    match first {
        Some(e) => format!(
            " ({}: {})",
            e.get("code").and_then(Value::as_str).unwrap_or("UNKNOWN"),
            e.get("message").and_then(Value::as_str).unwrap_or("")
        ),
        None => String::new(),
    }
}

/// Appends the tags of one `tags/list` page; `tags: null` is an empty page.
pub fn parse_tag_page(body: &[u8], url: &str, out: &mut Vec<String>) -> Result<(), RegistryError> {
    let malformed = |message: String| RegistryError::Malformed {
        url: url.to_string(),
        message,
    };
    let page: Value = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("the tag list is not JSON: {e}")))?;
    let obj = page
        .as_object()
        .ok_or_else(|| malformed("the tag list is not a JSON object".to_string()))?;
    match obj.get("tags") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) => {
            for item in items {
                let tag = item
                    .as_str()
                    .ok_or_else(|| malformed(format!("'tags' holds a non-string entry: {item}")))?;
                out.push(tag.to_string());
            }
            Ok(())
        }
        Some(other) => Err(malformed(format!("'tags' must be an array, got {other}"))),
    }
}

pub mod oci;

#[cfg(test)]
mod tests;
