//! The HelmRepository reconciler (`source.toolkit.fluxcd.io/v1`), as source-controller runs it:
//! `type: default` fetches `<url>/index.yaml` (basic auth from `secretRef`, TLS from
//! `certSecretRef`), checks that it parses, and stores it as the artifact
//! `helmrepository/<ns>/<name>/index-<hex>.yaml` whose revision is `sha256:<hex>` of the fetched
//! bytes (Flux's code digests the downloaded file since source-controller PR #1035; its docs still
//! speak of sorting first). `type: oci` produces no artifact.

use serde_json::{Value, json};
use std::time::Duration;

use super::artifact::{Artifact, ArtifactStore, DEFAULT_RETENTION, artifact_path};
use super::controller::{
    ADVERTISED_ADDRESS, ARTIFACT_IN_STORAGE, ARTIFACT_OUTDATED, FETCH_FAILED,
    STORAGE_OPERATION_FAILED,
};
use super::controller::{artifact_in_storage, remove_artifacts, stored_revision};
use super::helm_index::{
    HttpAuth, HttpFetcher, IndexFile, MAX_INDEX_SIZE, gc_files, index_url, sha256_digest,
    store_bytes,
};
use crate::model::conditions::ConditionStatus;
use crate::model::redact::redact;
use crate::model::time::parse_duration;
use crate::runtime::events::EventType;
use crate::runtime::status_io::read_secret_data;
use crate::runtime::{Adapter, Controller, Failure, Run, Success};

/// Default `spec.timeout` of a HelmRepository.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// `spec.interval` when omitted (the field is optional in v1).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);

/// Reconciles HelmRepository objects of one cluster.
pub struct HelmRepositoryReconciler {
    client: kube::Client,
    store: ArtifactStore,
    advertised: String,
}

/// The parsed spec of a HelmRepository.
pub struct HelmRepoSpec {
    url: String,
    oci: bool,
    interval: Duration,
    timeout: Duration,
    secret: Option<String>,
    cert_secret: Option<String>,
}

fn fetch_failure(reason: &str, message: String) -> Failure {
    Failure::transient(reason, message).with_condition(FETCH_FAILED, ConditionStatus::True)
}

fn stalled(reason: &str, message: String) -> Failure {
    Failure::terminal(reason, message).with_condition(FETCH_FAILED, ConditionStatus::True)
}

/// Reads `spec.interval`/`spec.timeout`-style durations.
pub(super) fn duration_field(
    spec: &Value,
    field: &str,
    default: Duration,
) -> Result<Duration, Failure> {
    match spec.get(field).and_then(Value::as_str) {
        Some(t) => parse_duration(t)
            .map_err(|e| Failure::terminal("InvalidSpec", format!("spec.{field}: {e}"))),
        None => Ok(default),
    }
}

fn parse_spec(obj: &Value) -> Result<HelmRepoSpec, Failure> {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let text = |p: &str| spec.pointer(p).and_then(Value::as_str).map(str::to_string);
    let url = text("/url").unwrap_or_default();
    let oci = match text("/type").as_deref() {
        None | Some("") | Some("default") => false,
        Some("oci") => true,
        Some(other) => {
            return Err(stalled(
                "InvalidSpec",
                format!("spec.type: unsupported value '{other}' (expected 'default' or 'oci')"),
            ));
        }
    };
    let scheme_ok = if oci {
        url.starts_with("oci://")
    } else {
        reqwest::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
    };
    if !scheme_ok {
        let want = if oci { "oci://" } else { "http:// or https://" };
        return Err(stalled(
            "URLInvalid",
            format!(
                "invalid Helm repository URL '{}': expected a URL starting with {want}",
                redact(&url)
            ),
        ));
    }
    Ok(HelmRepoSpec {
        url,
        oci,
        interval: duration_field(&spec, "interval", DEFAULT_INTERVAL)?,
        timeout: duration_field(&spec, "timeout", DEFAULT_TIMEOUT)?,
        secret: text("/secretRef/name"),
        cert_secret: text("/certSecretRef/name"),
    })
}

/// Go's `units.HumanSize` (decimal units, four significant digits): `1.021kB`.
pub fn human_size(size: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut s = size as f64;
    let mut i = 0;
    while s >= 1000.0 && i < UNITS.len() - 1 {
        s /= 1000.0;
        i += 1;
    }
    let digits = if s < 1.0 {
        1
    } else {
        s.log10().floor() as i32 + 1
    };
    let decimals = (4 - digits).max(0) as usize;
    let mut text = format!("{s:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS[i])
}

/// Reads the credentials of `secretRef` and `certSecretRef` (shared with HelmChart downloads).
pub(super) async fn repository_auth(
    client: &kube::Client,
    ns: &str,
    secret: Option<&str>,
    cert_secret: Option<&str>,
) -> Result<HttpAuth, Failure> {
    let mut auth = HttpAuth::default();
    if let Some(name) = secret {
        let data = read_secret_data(client, ns, name).await.map_err(|m| {
            fetch_failure(
                "AuthenticationFailed",
                format!("failed to get authentication secret '{ns}/{name}': {m}"),
            )
        })?;
        auth.basic = HttpAuth::basic_from_secret(&data).map_err(|m| {
            fetch_failure(
                "AuthenticationFailed",
                format!("invalid '{ns}/{name}' secret data: {m}"),
            )
        })?;
        // The legacy place for TLS material, still honoured by Flux when certSecretRef is unset.
        if cert_secret.is_none() {
            auth.tls_from_secret(&data).map_err(|m| {
                fetch_failure(
                    "AuthenticationFailed",
                    format!("invalid '{ns}/{name}' secret data: {m}"),
                )
            })?;
        }
    }
    if let Some(name) = cert_secret {
        let data = read_secret_data(client, ns, name).await.map_err(|m| {
            fetch_failure(
                "AuthenticationFailed",
                format!("failed to get TLS secret '{ns}/{name}': {m}"),
            )
        })?;
        auth.tls_from_secret(&data).map_err(|m| {
            fetch_failure(
                "AuthenticationFailed",
                format!("invalid '{ns}/{name}' secret data: {m}"),
            )
        })?;
    }
    Ok(auth)
}

impl HelmRepositoryReconciler {
    /// A reconciler storing index artifacts in `store`.
    pub fn new(client: kube::Client, store: ArtifactStore) -> Self {
        HelmRepositoryReconciler {
            client,
            store,
            advertised: ADVERTISED_ADDRESS.to_string(),
        }
    }

    /// Advertises artifacts under `addr` instead of [`ADVERTISED_ADDRESS`].
    pub fn with_advertised_address(mut self, addr: impl Into<String>) -> Self {
        self.advertised = addr.into();
        self
    }

    /// Fetches and stores the index; leaves `status.artifact` untouched on failure.
    async fn fetch_and_store(&self, run: &mut Run, spec: &HelmRepoSpec) -> Result<(), Failure> {
        let (ns, name) = (run.namespace().to_string(), run.name().to_string());
        let auth = repository_auth(
            &self.client,
            &ns,
            spec.secret.as_deref(),
            spec.cert_secret.as_deref(),
        )
        .await?;
        let url = index_url(&spec.url).map_err(|m| stalled("URLInvalid", m))?;
        let fetcher = HttpFetcher::new(&auth, spec.timeout, &url)
            .map_err(|e| stalled("Failed", format!("failed to construct Helm client: {e}")))?;
        let bytes = fetcher.get(&url, MAX_INDEX_SIZE).await.map_err(|e| {
            let reason = if e.is_auth() {
                "AuthenticationFailed"
            } else {
                "Failed"
            };
            fetch_failure(
                reason,
                format!("failed to fetch Helm repository index: {e}"),
            )
        })?;
        let revision = sha256_digest(&bytes);
        let current: Option<Artifact> =
            run.status().get("artifact").and_then(Artifact::from_status);
        if let Some(cur) = &current
            && cur.revision == revision
            && self.store.exists(cur)
        {
            // The storage address may have changed since the artifact was stored.
            run.set("artifact", cur.status_value(&self.advertised));
            run.remove_condition(FETCH_FAILED);
            return Ok(());
        }
        IndexFile::parse(&bytes).map_err(|e| {
            fetch_failure(
                "IndexationFailed",
                format!("failed to load Helm repository from index YAML: {e}"),
            )
        })?;
        run.remove_condition(FETCH_FAILED);
        let message = format!("new index revision '{revision}'");
        if current.is_some() {
            run.set_condition(
                ARTIFACT_OUTDATED,
                ConditionStatus::True,
                "NewRevision",
                &message,
            );
        }
        run.progressing(&format!("building artifact: {message}"));
        let storage = |reason: &str, message: String| {
            Failure::transient(reason, message)
                .with_condition(STORAGE_OPERATION_FAILED, ConditionStatus::True)
        };
        let hex = revision.trim_start_matches("sha256:");
        let rel = artifact_path("HelmRepository", &ns, &name, &format!("index-{hex}.yaml"))
            .map_err(|e| storage("StorageOperationFailed", e.to_string()))?;
        let artifact = store_bytes(&self.store, &rel, &revision, &bytes)
            .map_err(|e| storage(e.reason(), e.to_string()))?;
        gc_files(&self.store, &artifact, DEFAULT_RETENTION);
        run.set("artifact", artifact.status_value(&self.advertised));
        run.set_revision(&revision);
        run.record(
            EventType::Normal,
            "NewArtifact",
            &format!(
                "stored fetched index of size {} from '{}'",
                human_size(artifact.size),
                redact(&spec.url)
            ),
        );
        Ok(())
    }
}

impl Controller for HelmRepositoryReconciler {
    const GROUP: &'static str = "source.toolkit.fluxcd.io";
    const KIND: &'static str = "HelmRepository";
    const COMPONENT: &'static str = "source-controller";
    type Spec = HelmRepoSpec;

    fn parse(&self, obj: &Value) -> Result<HelmRepoSpec, Failure> {
        parse_spec(obj)
    }

    async fn reconcile(&self, run: &mut Run, spec: HelmRepoSpec) -> Result<Success, Failure> {
        if spec.oci {
            // An OCI HelmRepository is only a data container for HelmCharts (no index, no
            // artifact); drop anything a former `type: default` left behind.
            for t in [
                FETCH_FAILED,
                ARTIFACT_OUTDATED,
                STORAGE_OPERATION_FAILED,
                ARTIFACT_IN_STORAGE,
            ] {
                run.remove_condition(t);
            }
            run.remove("artifact");
            return Ok(
                Success::ready("Succeeded", "Helm repository is ready", spec.interval).wait(),
            );
        }
        run.backoff_cap(spec.interval);
        run.begin().await;
        self.fetch_and_store(run, &spec).await?;
        let rev = stored_revision(run);
        Ok(artifact_in_storage(
            run,
            &[ARTIFACT_OUTDATED, STORAGE_OPERATION_FAILED],
            "Succeeded",
            format!("stored artifact: revision '{rev}'"),
            spec.interval,
        ))
    }

    async fn finalize(&self, obj: Value) {
        remove_artifacts(&self.store, "HelmRepository", &obj);
    }

    fn signal(&self, obj: &Value) -> Option<String> {
        let ready = crate::model::conditions::is_true(obj, crate::model::conditions::READY);
        let rev = obj
            .pointer("/status/artifact/revision")
            .and_then(Value::as_str)
            .unwrap_or("");
        Some(format!("{ready}|{rev}"))
    }
}

/// The runtime adapter of the HelmRepository reconciler.
pub type HelmRepositoryKind = Adapter<HelmRepositoryReconciler>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(312), "312B");
        assert_eq!(human_size(1021), "1.021kB");
        assert_eq!(human_size(1_500_000), "1.5MB");
        assert_eq!(human_size(12_345_678), "12.35MB");
    }

    #[test]
    fn specs_are_checked() {
        let obj = |spec: Value| json!({"metadata": {"name": "r", "namespace": "n"}, "spec": spec});
        assert!(parse_spec(&obj(json!({"url": "https://charts.example.com"}))).is_ok());
        let e = parse_spec(&obj(json!({"url": "ftp://x"}))).err().unwrap();
        assert_eq!(e.reason, "URLInvalid");
        let e = parse_spec(&obj(json!({"url": "https://x", "type": "oci"})))
            .err()
            .unwrap();
        assert_eq!(e.reason, "URLInvalid");
        let s = parse_spec(&obj(json!({"url": "oci://ghcr.io/x", "type": "oci"}))).unwrap();
        assert!(s.oci);
        let e = parse_spec(&obj(json!({"url": "https://x", "interval": "soon"})))
            .err()
            .unwrap();
        assert_eq!(e.reason, "InvalidSpec");
    }
}
