//! The OCIRepository reconciler (`source.toolkit.fluxcd.io/v1`), as source-controller runs it:
//! resolve `spec.ref` (digest, then semver over the tag list with `semverFilter`, then tag, default
//! `latest`), pull the manifest and the selected layer (the first one, or the first matching
//! `layerSelector.mediaType`) with every digest verified, then either extract the layer
//! (`operation: extract`, the default) and archive the tree minus `spec.ignore`, or store the
//! layer as it is (`copy`). The revision is `<tag>@sha256:<digest>` (`sha256:<digest>` for a
//! digest ref); the manifest annotations become `status.artifact.metadata`.
//!
//! Reasons: `OCIArtifactPullFailed` (reference, manifest or registry errors),
//! `OCIArtifactLayerOperationFailed` (layer missing, tampered, oversized or unsafe),
//! `AuthenticationFailed` (the `secretRef` Secret), `URLInvalid`/`InvalidSpec` (stalled).
//! Differences from Flux: symlinks in a layer are refused (Flux skips them); `spec.verify` and the
//! cloud `provider`s are refused as unsupported (stalled) rather than ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::artifact::{
    Artifact, ArtifactStore, DEFAULT_EXTRACT_LIMIT, DEFAULT_RETENTION, artifact_path,
    extract_tar_gz,
};
use super::controller::{
    ADVERTISED_ADDRESS, ARTIFACT_OUTDATED, FETCH_FAILED, STORAGE_OPERATION_FAILED,
};
use super::controller::{artifact_in_storage, remove_artifacts, stored_revision};
use super::exclusions::Exclusions;
use super::helm_index::{gc_files, store_bytes};
use crate::controllers::image::registry::oci::{Descriptor, Manifest, OciUrl};
use crate::controllers::image::registry::{
    Credentials, ImageName, RegistryClient, RegistryError, RegistryOptions,
    credentials_from_secret_data,
};
use crate::model::conditions::ConditionStatus;
use crate::model::semver::{Constraints, parse_loose};
use crate::model::time::parse_duration;
use crate::runtime::events::EventType;
use crate::runtime::status_io::read_secret_data;
use crate::runtime::{Adapter, Controller, Failure, Run, Success};

/// `OCIArtifactPullFailed`.
pub const OCI_PULL_FAILED: &str = "OCIArtifactPullFailed";
/// `OCIArtifactLayerOperationFailed`.
pub const OCI_LAYER_FAILED: &str = "OCIArtifactLayerOperationFailed";
/// Default `spec.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest layer pulled (compressed bytes).
pub const MAX_LAYER_BYTES: u64 = 512 << 20;
/// The media type `flux push artifact` gives the content layer.
pub const FLUX_CONTENT_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";
/// The media type `flux push artifact` gives the config.
pub const FLUX_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.flux.config.v1+json";

/// Reconciles OCIRepository objects of one cluster.
pub struct OciRepositoryReconciler {
    client: kube::Client,
    store: ArtifactStore,
    work_dir: PathBuf,
    advertised: String,
}

/// What `spec.ref` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciRef {
    /// A manifest digest.
    Digest(String),
    /// The highest tag in a semver range (tags filtered by the regex first).
    Semver {
        /// The range.
        range: String,
        /// `semverFilter`.
        filter: Option<String>,
    },
    /// A tag (`latest` when `ref` is empty).
    Tag(String),
}

impl OciRef {
    /// Flux's precedence: digest, then semver, then tag, then `latest`.
    pub fn from_spec(r: Option<&Value>) -> OciRef {
        let text = |f: &str| {
            r.and_then(|r| r.get(f))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        if let Some(d) = text("digest") {
            OciRef::Digest(d)
        } else if let Some(range) = text("semver") {
            OciRef::Semver {
                range,
                filter: text("semverFilter"),
            }
        } else {
            OciRef::Tag(text("tag").unwrap_or_else(|| "latest".to_string()))
        }
    }
}

/// How the selected layer becomes the artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerOperation {
    /// Untar the layer and archive the tree.
    Extract,
    /// Store the layer bytes unchanged.
    Copy,
}

/// The parsed spec of an OCIRepository.
pub struct OciSpec {
    url: String,
    image: ImageName,
    reference: OciRef,
    media_type: Option<String>,
    operation: LayerOperation,
    layer_selector: Option<Value>,
    interval: Duration,
    timeout: Duration,
    ignore: Option<String>,
    secret: Option<String>,
    insecure: bool,
}

fn fetch_failure(reason: &str, message: String) -> Failure {
    Failure::transient(reason, message).with_condition(FETCH_FAILED, ConditionStatus::True)
}

fn stalled(reason: &str, message: String) -> Failure {
    Failure::terminal(reason, message).with_condition(FETCH_FAILED, ConditionStatus::True)
}

fn storage_failure(reason: &str, message: String) -> Failure {
    Failure::transient(reason, message)
        .with_condition(STORAGE_OPERATION_FAILED, ConditionStatus::True)
}

/// Parses an OCIRepository object's spec (invalid specs stall).
pub fn parse_spec(obj: &Value) -> Result<OciSpec, Failure> {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let text = |p: &str| {
        spec.pointer(p)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let url = text("/url").unwrap_or_default();
    let parsed = OciUrl::parse(&url).map_err(|e| {
        stalled(
            "URLInvalid",
            format!("failed to parse repository URL '{url}': {e}"),
        )
    })?;
    if parsed.tag.is_some() || parsed.digest.is_some() {
        return Err(stalled(
            "URLInvalid",
            format!(
                "URL must be in format 'oci://<domain>/<org>/<repo>' without a tag or digest (use spec.ref): '{url}'"
            ),
        ));
    }
    let reference = OciRef::from_spec(spec.get("ref"));
    match &reference {
        OciRef::Digest(d) => {
            if !d.starts_with("sha256:")
                || d.len() != 71
                || !d[7..].bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(stalled(
                    "InvalidSpec",
                    format!("spec.ref.digest '{d}' is not 'sha256:' and 64 hex digits"),
                ));
            }
        }
        OciRef::Semver { range, filter } => {
            Constraints::parse(range).map_err(|e| {
                stalled(
                    "InvalidSpec",
                    format!("spec.ref.semver: semver parse error: {e}"),
                )
            })?;
            if let Some(f) = filter {
                regex::Regex::new(f).map_err(|e| {
                    stalled(
                        "InvalidSpec",
                        format!("spec.ref.semverFilter: invalid regex pattern '{f}': {e}"),
                    )
                })?;
            }
        }
        OciRef::Tag(_) => {}
    }
    let operation = match text("/layerSelector/operation").as_deref() {
        None | Some("extract") => LayerOperation::Extract,
        Some("copy") => LayerOperation::Copy,
        Some(other) => {
            return Err(stalled(
                "InvalidSpec",
                format!(
                    "spec.layerSelector.operation: unsupported value '{other}' (expected 'extract' or 'copy')"
                ),
            ));
        }
    };
    if let Some(p) = text("/provider").filter(|p| p != "generic") {
        return Err(stalled(
            "InvalidSpec",
            format!("spec.provider '{p}' is not supported by flotilla's reconciler (generic is)"),
        ));
    }
    if spec.get("verify").is_some_and(|v| !v.is_null()) {
        return Err(stalled(
            "VerificationError",
            "spec.verify: OCI signature verification is not supported by flotilla's reconciler"
                .to_string(),
        ));
    }
    let duration = |f: &str, default: Option<Duration>| -> Result<Duration, Failure> {
        match text(&format!("/{f}")) {
            Some(t) => {
                parse_duration(&t).map_err(|e| stalled("InvalidSpec", format!("spec.{f}: {e}")))
            }
            None => default.ok_or_else(|| stalled("InvalidSpec", format!("spec.{f} is required"))),
        }
    };
    Ok(OciSpec {
        url,
        image: parsed.image,
        reference,
        media_type: text("/layerSelector/mediaType"),
        operation,
        layer_selector: spec.get("layerSelector").filter(|v| !v.is_null()).cloned(),
        interval: duration("interval", None)?,
        timeout: duration("timeout", Some(DEFAULT_TIMEOUT))?,
        ignore: text("/ignore"),
        secret: text("/secretRef/name"),
        insecure: spec.get("insecure").and_then(Value::as_bool) == Some(true),
    })
}

/// The highest tag within `range` (after `filter`), as Flux picks it: tags that do not parse as
/// versions are skipped; equal versions keep the later tag in the list.
pub fn pick_semver_tag(
    tags: &[String],
    range: &str,
    filter: Option<&str>,
) -> Result<String, String> {
    let constraints = Constraints::parse(range).map_err(|e| format!("semver parse error: {e}"))?;
    let filter = filter
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| format!("invalid regex pattern: {e}"))?;
    let mut best: Option<(&str, crate::model::semver::Version<'_>)> = None;
    for tag in tags {
        if filter.as_ref().is_some_and(|f| !f.is_match(tag)) {
            continue;
        }
        let Ok(v) = parse_loose(tag) else { continue };
        if !constraints.matches(&v) {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|(_, b)| v.precedence(b) != std::cmp::Ordering::Less)
        {
            best = Some((tag, v));
        }
    }
    best.map(|(t, _)| t.to_string())
        .ok_or_else(|| format!("no match found for semver: {range}"))
}

/// Credentials for `registry` from a dockerconfigjson Secret's data.
pub async fn secret_credentials(
    client: &kube::Client,
    ns: &str,
    secret: &str,
    registry: &str,
) -> Result<Option<Credentials>, String> {
    let data = read_secret_data(client, ns, secret).await?;
    credentials_from_secret_data(&data, registry)
        .map_err(|e| format!("invalid '{ns}/{secret}' secret data: {e}"))
}

/// The layer the selector picks (the first layer without one).
pub fn select_layer(layers: &[Descriptor], media_type: Option<&str>) -> Result<Descriptor, String> {
    if layers.is_empty() {
        return Err("no layers found in artifact".to_string());
    }
    match media_type {
        None => Ok(layers[0].clone()),
        Some(mt) => layers
            .iter()
            .find(|l| l.media_type == mt)
            .cloned()
            .ok_or_else(|| format!("failed to find layer: no layer matching media type '{mt}'")),
    }
}

/// What the pull produced, before storing.
struct Pulled {
    revision: String,
    annotations: BTreeMap<String, String>,
    layer: Vec<u8>,
}

impl OciRepositoryReconciler {
    /// A reconciler storing artifacts in `store`, extracting layers under `work_dir`.
    pub fn new(client: kube::Client, store: ArtifactStore, work_dir: PathBuf) -> Self {
        OciRepositoryReconciler {
            client,
            store,
            work_dir,
            advertised: ADVERTISED_ADDRESS.to_string(),
        }
    }

    /// Advertises artifacts under `addr` instead of [`ADVERTISED_ADDRESS`].
    pub fn with_advertised_address(mut self, addr: impl Into<String>) -> Self {
        self.advertised = addr.into();
        self
    }

    async fn registry(&self, ns: &str, spec: &OciSpec) -> Result<RegistryClient, Failure> {
        let credentials = match &spec.secret {
            Some(secret) => secret_credentials(&self.client, ns, secret, &spec.image.registry)
                .await
                .map_err(|m| {
                    fetch_failure(
                        "AuthenticationFailed",
                        format!("failed to get credential: {m}"),
                    )
                })?,
            None => None,
        };
        RegistryClient::new(
            spec.image.clone(),
            RegistryOptions {
                insecure: spec.insecure,
                credentials,
                timeout: spec.timeout,
            },
        )
        .map_err(|e| fetch_failure(OCI_PULL_FAILED, e.to_string()))
    }

    /// Resolves the reference to (manifest reference, revision tag part).
    async fn resolve(
        &self,
        client: &mut RegistryClient,
        spec: &OciSpec,
    ) -> Result<(String, Option<String>), Failure> {
        let fail = |m: String| {
            fetch_failure(
                OCI_PULL_FAILED,
                format!("failed to determine artifact reference: {m}"),
            )
        };
        match &spec.reference {
            OciRef::Digest(d) => Ok((d.clone(), None)),
            OciRef::Tag(t) => Ok((t.clone(), Some(t.clone()))),
            OciRef::Semver { range, filter } => {
                let tags = client
                    .list_tags()
                    .await
                    .map_err(|e| fail(format!("failed to list tags: {e}")))?;
                let tag = pick_semver_tag(&tags, range, filter.as_deref()).map_err(fail)?;
                Ok((tag.clone(), Some(tag)))
            }
        }
    }

    /// Pulls the manifest; returns `None` when the stored artifact already has this revision.
    async fn pull(&self, run: &mut Run, spec: &OciSpec) -> Result<Option<Pulled>, Failure> {
        let ns = run.namespace().to_string();
        let mut client = self.registry(&ns, spec).await?;
        let (reference, tag) = self.resolve(&mut client, spec).await?;
        let manifest = client.manifest(&reference).await.map_err(|e| {
            fetch_failure(
                OCI_PULL_FAILED,
                format!("failed to determine artifact digest: {e}"),
            )
        })?;
        let revision = match &tag {
            Some(t) => format!("{t}@{}", manifest.digest),
            None => manifest.digest.clone(),
        };
        if self.up_to_date(run, spec, &revision) {
            return Ok(None);
        }
        if let Some(cur) = run.status().get("artifact").and_then(Artifact::from_status)
            && cur.revision != revision
        {
            let m = format!("new revision '{revision}' for '{}'", spec.url);
            run.set_condition(ARTIFACT_OUTDATED, ConditionStatus::True, "NewRevision", &m);
            run.progressing(&format!("building artifact: {m}"));
            run.write().await;
        }
        let pull_err = |e: RegistryError| {
            fetch_failure(
                OCI_PULL_FAILED,
                format!("failed to pull artifact from '{}': {e}", spec.url),
            )
        };
        let image: Manifest = if manifest.is_index() {
            let digest = manifest.platform_digest().ok_or_else(|| {
                fetch_failure(
                    OCI_PULL_FAILED,
                    format!(
                        "failed to pull artifact from '{}': the image index lists no manifests",
                        spec.url
                    ),
                )
            })?;
            client.manifest(&digest).await.map_err(pull_err)?
        } else {
            manifest.clone()
        };
        let layer = select_layer(&image.layers(), spec.media_type.as_deref())
            .map_err(|m| fetch_failure(OCI_LAYER_FAILED, m))?;
        if layer.size > MAX_LAYER_BYTES {
            return Err(fetch_failure(
                OCI_LAYER_FAILED,
                format!(
                    "layer {} is {} bytes, more than the limit of {MAX_LAYER_BYTES}",
                    layer.digest, layer.size
                ),
            ));
        }
        let bytes = client
            .blob(&layer.digest, MAX_LAYER_BYTES)
            .await
            .map_err(|e| {
                fetch_failure(
                    OCI_LAYER_FAILED,
                    format!("failed to extract layer contents from artifact: {e}"),
                )
            })?;
        Ok(Some(Pulled {
            revision,
            annotations: manifest_annotations(&manifest, &image),
            layer: bytes,
        }))
    }

    /// True (with the URL refreshed) when the stored artifact has `revision` and the same
    /// ignore rules and layer selector.
    fn up_to_date(&self, run: &mut Run, spec: &OciSpec, revision: &str) -> bool {
        let Some(cur) = run.status().get("artifact").and_then(Artifact::from_status) else {
            return false;
        };
        let observed_ignore = run.status().get("observedIgnore").and_then(Value::as_str);
        let observed_selector = run.status().get("observedLayerSelector");
        let same = cur.revision == revision
            && observed_ignore == spec.ignore.as_deref()
            && observed_selector == spec.layer_selector.as_ref()
            && self.store.exists(&cur);
        if same {
            let url = json!(cur.url(&self.advertised));
            if let Some(a) = run
                .status_mut()
                .get_mut("artifact")
                .and_then(Value::as_object_mut)
            {
                a.insert("url".to_string(), url.clone());
            }
            run.set("url", url);
        }
        same
    }

    /// Stores the pulled layer (extracted and archived, or copied) and records it.
    async fn store(&self, run: &mut Run, spec: &OciSpec, pulled: Pulled) -> Result<(), Failure> {
        let (ns, name) = (run.namespace().to_string(), run.name().to_string());
        let hex = pulled
            .revision
            .rsplit_once("sha256:")
            .map(|(_, h)| h.to_string())
            .unwrap_or_default();
        let rel = artifact_path("OCIRepository", &ns, &name, &format!("{hex}.tar.gz"))
            .map_err(|e| storage_failure("ArchiveOperationFailed", e.to_string()))?;
        let store = self.store.clone();
        let revision = pulled.revision.clone();
        let artifact = match spec.operation {
            LayerOperation::Copy => {
                let bytes = pulled.layer;
                tokio::task::spawn_blocking(move || store_bytes(&store, &rel, &revision, &bytes))
                    .await
                    .map_err(|e| storage_failure("ArchiveOperationFailed", e.to_string()))?
                    .map_err(|e| storage_failure(e.reason(), e.to_string()))?
            }
            LayerOperation::Extract => {
                let dir = self
                    .work_dir
                    .join(format!("{ns}-{name}-{}", uuid::Uuid::new_v4().simple()));
                let ignore = spec.ignore.clone();
                let bytes = pulled.layer;
                let result = tokio::task::spawn_blocking(move || {
                    let unpacked = extract_tar_gz(
                        bytes.as_slice(),
                        "artifact layer",
                        &dir,
                        DEFAULT_EXTRACT_LIMIT,
                    )
                    .map_err(|e| {
                        fetch_failure(
                            OCI_LAYER_FAILED,
                            format!("failed to extract layer contents from artifact: {e}"),
                        )
                    })
                    .and_then(|()| {
                        let exclusions =
                            Exclusions::load(&dir, ignore.as_deref()).map_err(|e| {
                                storage_failure("ArchiveOperationFailed", e.to_string())
                            })?;
                        store
                            .store(&rel, &revision, &dir, &exclusions)
                            .map_err(|e| storage_failure(e.reason(), e.to_string()))
                    });
                    // Best effort: the work copy is scratch space.
                    let _ = std::fs::remove_dir_all(&dir);
                    unpacked
                })
                .await
                .map_err(|e| storage_failure("ArchiveOperationFailed", e.to_string()))?;
                result?
            }
        };
        match spec.operation {
            LayerOperation::Copy => gc_files(&self.store, &artifact, DEFAULT_RETENTION),
            LayerOperation::Extract => {
                if let Err(e) = self.store.gc(&artifact, DEFAULT_RETENTION) {
                    tracing::warn!(error = %e, "artifact garbage collection failed");
                }
            }
        }
        let current = run.status().get("artifact").and_then(Artifact::from_status);
        let changed = current.as_ref().is_none_or(|c| c.digest != artifact.digest);
        let mut value = artifact.status_value(&self.advertised);
        if !pulled.annotations.is_empty() {
            value["metadata"] = json!(pulled.annotations);
        }
        run.set("url", json!(artifact.url(&self.advertised)));
        run.set("artifact", value);
        match &spec.ignore {
            Some(i) => run.set("observedIgnore", json!(i)),
            None => run.remove("observedIgnore"),
        }
        match &spec.layer_selector {
            Some(s) => run.set("observedLayerSelector", s.clone()),
            None => run.remove("observedLayerSelector"),
        }
        if changed {
            run.set_revision(&artifact.revision);
            let mut message = format!(
                "stored artifact with revision '{}' from '{}'",
                artifact.revision, spec.url
            );
            if let Some(src) = pulled.annotations.get("org.opencontainers.image.source") {
                message.push_str(&format!(", origin source '{src}'"));
            }
            if let Some(rev) = pulled.annotations.get("org.opencontainers.image.revision") {
                message.push_str(&format!(", origin revision '{rev}'"));
            }
            run.record(EventType::Normal, "NewArtifact", &message);
        }
        Ok(())
    }

    fn stored(&self, run: &mut Run, interval: Duration) -> Success {
        let rev = stored_revision(run);
        artifact_in_storage(
            run,
            &[FETCH_FAILED, ARTIFACT_OUTDATED, STORAGE_OPERATION_FAILED],
            "Succeeded",
            format!("stored artifact for digest '{rev}'"),
            interval,
        )
    }
}

/// The manifest annotations (the image's own when the top level is an index without any).
fn manifest_annotations(top: &Manifest, image: &Manifest) -> BTreeMap<String, String> {
    let a = top.annotations();
    if a.is_empty() { image.annotations() } else { a }
}

impl Controller for OciRepositoryReconciler {
    const GROUP: &'static str = "source.toolkit.fluxcd.io";
    const KIND: &'static str = "OCIRepository";
    const COMPONENT: &'static str = "source-controller";
    type Spec = OciSpec;

    fn parse(&self, obj: &Value) -> Result<OciSpec, Failure> {
        parse_spec(obj)
    }

    async fn reconcile(&self, run: &mut Run, spec: OciSpec) -> Result<Success, Failure> {
        run.backoff_cap(spec.interval);
        run.begin().await;
        let timeout = spec.timeout;
        let pulled = tokio::time::timeout(timeout, self.pull(run, &spec))
            .await
            .map_err(|_| {
                fetch_failure(
                    OCI_PULL_FAILED,
                    format!(
                        "failed to pull artifact from '{}': timed out after {}",
                        spec.url,
                        crate::model::time::format_duration(timeout)
                    ),
                )
            })??;
        if let Some(pulled) = pulled {
            self.store(run, &spec, pulled).await?;
        }
        Ok(self.stored(run, spec.interval))
    }

    async fn finalize(&self, obj: Value) {
        remove_artifacts(&self.store, "OCIRepository", &obj);
    }

    fn signal(&self, obj: &Value) -> Option<String> {
        let a = obj.pointer("/status/artifact")?;
        Some(format!(
            "{}|{}",
            a.get("revision").and_then(Value::as_str).unwrap_or(""),
            a.get("digest").and_then(Value::as_str).unwrap_or("")
        ))
    }
}

/// The runtime adapter of the OCIRepository reconciler.
pub type OciRepositoryKind = Adapter<OciRepositoryReconciler>;

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(spec: Value) -> Value {
        json!({"metadata": {"name": "o", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn ref_precedence_is_digest_then_semver_then_tag() {
        let d = format!("sha256:{}", "b".repeat(64));
        let r = json!({"tag": "v1", "semver": ">=1", "digest": d});
        assert_eq!(OciRef::from_spec(Some(&r)), OciRef::Digest(d));
        let r = json!({"tag": "v1", "semver": ">=1"});
        assert!(matches!(OciRef::from_spec(Some(&r)), OciRef::Semver { .. }));
        assert_eq!(OciRef::from_spec(None), OciRef::Tag("latest".into()));
    }

    #[test]
    fn semver_picks_the_highest_matching_tag_after_the_filter() {
        let tags: Vec<String> = ["1.0.0", "1.2.0", "2.0.0", "1.3.0-rc.1", "latest", "v1.2.5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pick_semver_tag(&tags, "1.x", None).unwrap(), "v1.2.5");
        assert_eq!(pick_semver_tag(&tags, ">=1.0.0", None).unwrap(), "2.0.0");
        assert_eq!(
            pick_semver_tag(&tags, ">=1.0.0", Some("^1\\.")).unwrap(),
            "1.2.0"
        );
        assert_eq!(
            pick_semver_tag(&tags, ">=3", None).unwrap_err(),
            "no match found for semver: >=3"
        );
    }

    #[test]
    fn invalid_specs_stall_with_flux_reasons() {
        let reason = |s: Value| {
            parse_spec(&obj(s))
                .err()
                .map(|f| f.reason)
                .unwrap_or_default()
        };
        assert_eq!(
            reason(json!({"url": "https://x/y", "interval": "1m"})),
            "URLInvalid"
        );
        assert_eq!(
            reason(json!({"url": "oci://x.io/y:v1", "interval": "1m"})),
            "URLInvalid"
        );
        assert_eq!(
            reason(json!({"url": "oci://x.io/y", "interval": "1m", "ref": {"digest": "sha256:1"}})),
            "InvalidSpec"
        );
        assert_eq!(
            reason(
                json!({"url": "oci://x.io/y", "interval": "1m", "layerSelector": {"operation": "move"}})
            ),
            "InvalidSpec"
        );
        assert_eq!(reason(json!({"url": "oci://x.io/y"})), "InvalidSpec");
        let s = parse_spec(&obj(
            json!({"url": "oci://localhost:5000/a/b", "interval": "1m",
            "layerSelector": {"mediaType": "x", "operation": "copy"}}),
        ))
        .unwrap();
        assert_eq!(s.operation, LayerOperation::Copy);
        assert_eq!(s.media_type.as_deref(), Some("x"));
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn layer_selection_defaults_to_the_first_layer() {
        let l = |mt: &str, d: &str| Descriptor {
            media_type: mt.into(),
            digest: d.into(),
            size: 1,
            annotations: BTreeMap::new(),
        };
        let layers = [l("a", "sha256:1"), l("b", "sha256:2")];
        assert_eq!(select_layer(&layers, None).unwrap().digest, "sha256:1");
        assert_eq!(select_layer(&layers, Some("b")).unwrap().digest, "sha256:2");
        assert!(select_layer(&layers, Some("c")).is_err());
        assert_eq!(
            select_layer(&[], None).unwrap_err(),
            "no layers found in artifact"
        );
    }
}
