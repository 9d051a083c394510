//! OCI artifact transfer on top of [`RegistryClient`]: manifests and blobs pulled with their
//! digests verified, blobs and manifests pushed (monolithic upload). Used by the OCIRepository
//! reconciler, OCI Helm charts and `flotilla push artifact` / `diff artifact`.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::Digest;

use super::{ImageName, RegistryClient, RegistryError, error_chain, registry_error_text};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Upper bound on a manifest body.
const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

/// An `oci://host/repo[:tag|@digest]` URL split into image name and optional reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciUrl {
    /// Registry host and repository.
    pub image: ImageName,
    /// The tag, if the URL names one.
    pub tag: Option<String>,
    /// The digest, if the URL names one.
    pub digest: Option<String>,
}

impl OciUrl {
    /// Parses `oci://host/repo`, optionally with `:tag` and/or `@sha256:…`.
    pub fn parse(url: &str) -> Result<OciUrl, RegistryError> {
        let invalid = |reason: &str| RegistryError::InvalidImage {
            image: url.to_string(),
            reason: reason.to_string(),
        };
        let rest = url
            .strip_prefix("oci://")
            .ok_or_else(|| invalid("the URL must start with 'oci://'"))?;
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => {
                if !d.starts_with("sha256:")
                    || d.len() != 71
                    || !d[7..].bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(invalid("the digest must be 'sha256:' and 64 hex digits"));
                }
                (r, Some(d.to_string()))
            }
            None => (rest, None),
        };
        let (rest, tag) = match rest.rsplit_once('/') {
            Some((head, last)) => match last.split_once(':') {
                Some((name, tag)) => (format!("{head}/{name}"), Some(tag.to_string())),
                None => (rest.to_string(), None),
            },
            None => return Err(invalid("the URL needs a registry host and a repository")),
        };
        if let Some(t) = &tag
            && (t.is_empty()
                || t.len() > 128
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')))
        {
            return Err(invalid(
                "the tag may only contain letters, digits, '_', '.' and '-'",
            ));
        }
        let image = ImageName::parse(&rest).map_err(|e| match e {
            RegistryError::InvalidImage { reason, .. } => invalid(&reason),
            other => other,
        })?;
        Ok(OciUrl { image, tag, digest })
    }
}

/// A content descriptor of a manifest (config or layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Descriptor annotations.
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    fn from_json(v: &Value) -> Option<Descriptor> {
        Some(Descriptor {
            media_type: v
                .get("mediaType")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            digest: v.get("digest").and_then(Value::as_str)?.to_string(),
            size: v.get("size").and_then(Value::as_u64).unwrap_or(0),
            annotations: string_map(v.get("annotations")),
        })
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A manifest (or index) as pulled, with the digest of its bytes.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// The media type (from the body, else the Content-Type).
    pub media_type: String,
    /// The parsed body.
    pub json: Value,
}

impl Manifest {
    /// True for an image index / manifest list.
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX
            || self.media_type == DOCKER_LIST
            || (self.json.get("manifests").is_some() && self.json.get("layers").is_none())
    }

    /// The config descriptor.
    pub fn config(&self) -> Option<Descriptor> {
        self.json.get("config").and_then(Descriptor::from_json)
    }

    /// The layer descriptors, in order.
    pub fn layers(&self) -> Vec<Descriptor> {
        self.json
            .get("layers")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Descriptor::from_json).collect())
            .unwrap_or_default()
    }

    /// The manifest annotations.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        string_map(self.json.get("annotations"))
    }

    /// The digest of the index entry for linux/amd64, else the first entry.
    pub fn platform_digest(&self) -> Option<String> {
        let entries = self.json.get("manifests")?.as_array()?;
        let wanted = entries.iter().find(|m| {
            m.pointer("/platform/os").and_then(Value::as_str) == Some("linux")
                && m.pointer("/platform/architecture").and_then(Value::as_str) == Some("amd64")
        });
        wanted
            .or_else(|| entries.first())?
            .get("digest")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

impl RegistryClient {
    /// The manifest of `reference` (tag or digest), its digest checked against the reference
    /// (a digest) or the registry's `Docker-Content-Digest`.
    pub async fn manifest(&mut self, reference: &str) -> Result<Manifest, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            self.base, self.image.repository
        );
        let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ");
        let response = self.send(reqwest::Method::GET, &url, Some(&accept)).await?;
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = read_up_to(response, &url, MAX_MANIFEST_BYTES as u64).await?;
        let digest = sha256_digest(&body);
        let expected = if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            header_digest.filter(|d| d.starts_with("sha256:"))
        };
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(RegistryError::Malformed {
                url,
                message: format!(
                    "manifest digest mismatch: expected {expected}, content is {digest}"
                ),
            });
        }
        let json: Value = serde_json::from_slice(&body).map_err(|e| RegistryError::Malformed {
            url: url.clone(),
            message: format!("the manifest is not JSON: {e}"),
        })?;
        let media_type = json
            .get("mediaType")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or(content_type);
        Ok(Manifest {
            digest,
            media_type,
            json,
        })
    }

    /// The blob `digest`, at most `limit` bytes, its sha256 verified.
    pub async fn blob(&mut self, digest: &str, limit: u64) -> Result<Vec<u8>, RegistryError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.image.repository);
        if !digest.starts_with("sha256:") {
            return Err(RegistryError::Malformed {
                url,
                message: format!("unsupported digest algorithm in '{digest}' (sha256 only)"),
            });
        }
        let response = self.send(reqwest::Method::GET, &url, None).await?;
        let body = read_up_to(response, &url, limit).await?;
        let actual = sha256_digest(&body);
        if actual != digest {
            return Err(RegistryError::Malformed {
                url,
                message: format!("blob digest mismatch: expected {digest}, content is {actual}"),
            });
        }
        Ok(body)
    }

    /// Uploads a blob (skipped when the registry has it already); returns its digest.
    pub async fn push_blob(&mut self, bytes: &[u8]) -> Result<String, RegistryError> {
        let digest = sha256_digest(bytes);
        let head = format!("{}/v2/{}/blobs/{digest}", self.base, self.image.repository);
        if self.send(reqwest::Method::HEAD, &head, None).await.is_ok() {
            return Ok(digest);
        }
        let start = format!("{}/v2/{}/blobs/uploads/", self.base, self.image.repository);
        let response = self
            .send_with_body(
                reqwest::Method::POST,
                &start,
                None,
                Some(("application/octet-stream", &[])),
            )
            .await?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Malformed {
                url: start.clone(),
                message: "the upload answer has no Location header".to_string(),
            })?
            .to_string();
        let location = self.resolve(&location);
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        self.send_with_body(
            reqwest::Method::PUT,
            &put,
            None,
            Some(("application/octet-stream", bytes)),
        )
        .await?;
        Ok(digest)
    }

    /// Puts a manifest under `reference` (a tag); returns the manifest digest.
    pub async fn push_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            self.base, self.image.repository
        );
        self.send_with_body(reqwest::Method::PUT, &url, None, Some((media_type, bytes)))
            .await?;
        Ok(sha256_digest(bytes))
    }
}

/// Reads a body up to `limit` bytes (an error beyond).
async fn read_up_to(
    mut response: reqwest::Response,
    url: &str,
    limit: u64,
) -> Result<Vec<u8>, RegistryError> {
    let too_big = || RegistryError::Malformed {
        url: url.to_string(),
        message: format!("the content exceeds the size limit of {limit} bytes"),
    };
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        RegistryError::Request(format!(
            "reading the response of {url}: {}",
            error_chain(&e)
        ))
    })? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// ` (CODE: message)` of a registry error body (re-exported for callers building messages).
pub fn error_detail(body: &[u8]) -> String {
    registry_error_text(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_urls_split_into_image_tag_and_digest() {
        let u = OciUrl::parse("oci://localhost:5000/apps/podinfo:v1.2.3").unwrap();
        assert_eq!(u.image.registry, "localhost:5000");
        assert_eq!(u.image.repository, "apps/podinfo");
        assert_eq!(u.tag.as_deref(), Some("v1.2.3"));
        assert_eq!(u.digest, None);
        let d = format!("sha256:{}", "a".repeat(64));
        let u = OciUrl::parse(&format!("oci://ghcr.io/org/manifests@{d}")).unwrap();
        assert_eq!(u.tag, None);
        assert_eq!(u.digest.as_deref(), Some(d.as_str()));
        let u = OciUrl::parse("oci://ghcr.io/org/manifests").unwrap();
        assert_eq!((u.tag, u.digest), (None, None));
        for bad in [
            "https://ghcr.io/org/x",
            "oci://ghcr.io",
            "oci://ghcr.io/org/x@sha256:12",
            "oci://ghcr.io/Org/x",
            "oci://ghcr.io/org/x:bad/tag",
        ] {
            assert!(OciUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifests_expose_layers_annotations_and_platforms() {
        let m = Manifest {
            digest: String::new(),
            media_type: OCI_MANIFEST.to_string(),
            json: serde_json::json!({
                "config": {"mediaType": "c", "digest": "sha256:1", "size": 2},
                "layers": [{"mediaType": "l", "digest": "sha256:2", "size": 3}],
                "annotations": {"org.opencontainers.image.revision": "main@sha1:x"}
            }),
        };
        assert!(!m.is_index());
        assert_eq!(m.config().unwrap().digest, "sha256:1");
        assert_eq!(m.layers()[0].size, 3);
        assert_eq!(
            m.annotations()["org.opencontainers.image.revision"],
            "main@sha1:x"
        );
        let idx = Manifest {
            digest: String::new(),
            media_type: OCI_INDEX.to_string(),
            json: serde_json::json!({"manifests": [
                {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64"}},
                {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}}
            ]}),
        };
        assert!(idx.is_index());
        assert_eq!(idx.platform_digest().as_deref(), Some("sha256:amd"));
    }
}
