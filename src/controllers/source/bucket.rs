//! The Bucket reconciler (`source.toolkit.fluxcd.io/v1`) for S3-compatible storage, as
//! source-controller runs it with `provider: generic` or `aws` (static keys `accesskey`/`secretkey`
//! from `secretRef`): read `.sourceignore` from the bucket root, list every object under `prefix`
//! (ListObjectsV2, paginated), leave out ignored keys and directory markers, and compute the
//! revision as `sha256:` of the object index (sorted `key etag` lines). An unchanged revision with
//! the artifact in storage downloads nothing; otherwise every object is downloaded (path-style GETs
//! signed with SigV4 in [`s3`], sent with the crate's reqwest/rustls-ring client) and archived.

pub mod s3;

use s3::Keys;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::artifact::{Artifact, ArtifactStore, DEFAULT_RETENTION, artifact_path};
use super::controller::{
    ADVERTISED_ADDRESS, ARTIFACT_OUTDATED, FETCH_FAILED, STORAGE_OPERATION_FAILED,
};
use super::controller::{artifact_in_storage, ns_name, remove_artifacts, stored_revision};
use super::exclusions::Exclusions;
use super::helm_repository::duration_field;
use crate::model::conditions::ConditionStatus;
use crate::runtime::events::EventType;
use crate::runtime::status_io::read_secret_data;
use crate::runtime::{Adapter, Controller, Failure, Run, Success};

/// `BucketOperationFailed`.
pub const BUCKET_OPERATION_FAILED: &str = "BucketOperationFailed";
/// Default `spec.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Most bytes one Bucket may hold under its prefix (flotilla's guard; Flux has none).
pub const DEFAULT_MAX_SIZE: u64 = 512 << 20;

/// Reconciles Bucket objects of one cluster.
pub struct BucketReconciler {
    client: kube::Client,
    store: ArtifactStore,
    work_dir: PathBuf,
    advertised: String,
    max_size: u64,
}

/// The parsed spec of a Bucket.
pub struct BucketSpec {
    bucket_name: String,
    endpoint: String,
    insecure: bool,
    region: String,
    prefix: String,
    interval: Duration,
    timeout: Duration,
    ignore: Option<String>,
    secret: Option<String>,
}

fn fetch_failure(reason: &str, message: String) -> Failure {
    Failure::transient(reason, message).with_condition(FETCH_FAILED, ConditionStatus::True)
}

fn stalled(reason: &str, message: String) -> Failure {
    Failure::terminal(reason, message).with_condition(FETCH_FAILED, ConditionStatus::True)
}

fn bucket_failure(message: String) -> Failure {
    fetch_failure(BUCKET_OPERATION_FAILED, message)
}

fn parse_spec(obj: &Value) -> Result<BucketSpec, Failure> {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let text = |f: &str| spec.get(f).and_then(Value::as_str).map(str::to_string);
    match text("provider").as_deref() {
        None | Some("") | Some("generic") | Some("aws") => {}
        Some(other) => {
            return Err(stalled(
                "InvalidSpec",
                format!(
                    "spec.provider: '{other}' is not supported by flotilla (generic and aws are)"
                ),
            ));
        }
    }
    let bucket_name = text("bucketName").unwrap_or_default();
    if bucket_name.is_empty() {
        return Err(stalled("InvalidSpec", "spec.bucketName is required".into()));
    }
    let endpoint = text("endpoint").unwrap_or_default();
    if endpoint.is_empty() || endpoint.contains("://") || endpoint.contains('/') {
        return Err(stalled(
            "InvalidSpec",
            format!("spec.endpoint '{endpoint}' must be a host[:port] without scheme or path"),
        ));
    }
    let interval = match text("interval") {
        Some(_) => duration_field(&spec, "interval", DEFAULT_TIMEOUT)?,
        None => return Err(stalled("InvalidSpec", "spec.interval is required".into())),
    };
    Ok(BucketSpec {
        bucket_name,
        endpoint,
        insecure: spec
            .get("insecure")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        region: text("region").unwrap_or_else(|| "us-east-1".to_string()),
        prefix: text("prefix").unwrap_or_default(),
        interval,
        timeout: duration_field(&spec, "timeout", DEFAULT_TIMEOUT)?,
        ignore: text("ignore"),
        secret: spec
            .pointer("/secretRef/name")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// `sha256:<hex>` of the index: one `key etag` line per object, keys sorted (source-controller's
/// index digest).
pub fn index_revision(index: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (k, v) in index {
        h.update(k.as_bytes());
        h.update(b" ");
        h.update(v.as_bytes());
        h.update(b"\n");
    }
    format!("sha256:{:x}", h.finalize())
}

/// An S3 error answer reduced to a message (status, `<Code>`, `<Message>`).
fn s3_error(op: &str, bucket: &str, status: reqwest::StatusCode, body: &str) -> String {
    let tag = |t: &str| {
        body.split_once(&format!("<{t}>"))
            .and_then(|(_, r)| r.split_once(&format!("</{t}>")))
            .map(|(v, _)| v.to_string())
    };
    let code = tag("Code").unwrap_or_default();
    let detail = tag("Message").unwrap_or_default();
    let what = match (status.as_u16(), code.as_str()) {
        (404, "NoSuchBucket") => format!("bucket '{bucket}' does not exist"),
        (403, _) | (401, _) => "authentication failed (check the accesskey/secretkey)".to_string(),
        _ => "request failed".to_string(),
    };
    format!("{op} '{bucket}': {what}: HTTP {status} {code} {detail}")
        .trim_end()
        .to_string()
}

/// An S3 session for one reconcile.
struct Session {
    http: reqwest::Client,
    base: String,
    host: String,
    region: String,
    keys: Option<Keys>,
    name: String,
}

impl Session {
    fn new(spec: &BucketSpec, keys: Option<Keys>) -> Result<Session, Failure> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let scheme = if spec.insecure { "http" } else { "https" };
        let base = format!("{scheme}://{}", spec.endpoint);
        reqwest::Url::parse(&base)
            .map_err(|e| stalled("InvalidSpec", format!("spec.endpoint: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(spec.timeout)
            .connect_timeout(spec.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| bucket_failure(format!("cannot build an HTTP client: {e}")))?;
        Ok(Session {
            http,
            base,
            host: spec.endpoint.clone(),
            region: spec.region.clone(),
            keys,
            name: spec.bucket_name.clone(),
        })
    }

    /// Sends a signed GET for `path` (encoded) with `query`; transport errors are failures.
    async fn send(
        &self,
        path: &str,
        query: &[(&str, &str)],
        op: &str,
    ) -> Result<reqwest::Response, Failure> {
        let qs = query
            .iter()
            .map(|(k, v)| format!("{}={}", s3::uri_encode(k, false), s3::uri_encode(v, false)))
            .collect::<Vec<_>>()
            .join("&");
        let url = if qs.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{qs}", self.base)
        };
        let mut req = self.http.get(&url);
        if let Some(keys) = &self.keys {
            let target = s3::Request {
                method: "GET",
                host: &self.host,
                path,
                query,
                payload_sha256: s3::EMPTY_SHA256,
            };
            let headers = s3::sign(&target, &self.region, keys, jiff::Timestamp::now());
            for (k, v) in headers {
                req = req.header(k, v);
            }
        }
        req.send().await.map_err(|e| {
            bucket_failure(format!(
                "{op} '{}': {}",
                self.name,
                crate::model::error_text::error_chain(&e)
            ))
        })
    }

    /// Every object under `prefix` (all pages).
    async fn list(&self, prefix: &str) -> Result<Vec<s3::Listed>, Failure> {
        const OP: &str = "failed to list objects from bucket";
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let path = format!("/{}/", s3::uri_encode(&self.name, false));
        loop {
            let mut query = vec![("list-type", "2")];
            if !prefix.is_empty() {
                query.push(("prefix", prefix));
            }
            if let Some(t) = &token {
                query.push(("continuation-token", t.as_str()));
            }
            let resp = self.send(&path, &query, OP).await?;
            let status = resp.status();
            let body = resp
                .text()
                .await
                .map_err(|e| bucket_failure(format!("{OP} '{}': {e}", self.name)))?;
            if !status.is_success() {
                return Err(bucket_failure(s3_error(OP, &self.name, status, &body)));
            }
            let (page, next) = s3::parse_list(&body)
                .map_err(|m| bucket_failure(format!("{OP} '{}': {m}", self.name)))?;
            out.extend(page);
            match next {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Downloads `key` to `dest` (at most `limit` bytes); `Ok(false)` when the object is absent.
    async fn download(&self, key: &str, dest: &Path, limit: u64) -> Result<bool, Failure> {
        let op = format!("failed to get object '{key}' from bucket");
        let path = format!(
            "/{}/{}",
            s3::uri_encode(&self.name, false),
            s3::uri_encode(key, true)
        );
        let mut resp = self.send(&path, &[], &op).await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            return Err(bucket_failure(s3_error(&op, &self.name, status, &body)));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| bucket_failure(format!("downloading '{key}' from '{}': {e}", self.name)))?
        {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(bucket_failure(format!(
                    "bucket '{}' holds more than {limit} bytes under the prefix",
                    self.name
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                bucket_failure(format!("cannot create '{}': {e}", parent.display()))
            })?;
        }
        std::fs::write(dest, &body)
            .map_err(|e| bucket_failure(format!("cannot write '{}': {e}", dest.display())))?;
        Ok(true)
    }
}

/// `dir/key` when the key is a plain relative path (no `..`, not absolute).
fn key_path(dir: &Path, key: &str) -> Option<PathBuf> {
    let mut p = dir.to_path_buf();
    for c in Path::new(key).components() {
        match c {
            Component::Normal(n) => p.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (p != dir).then_some(p)
}

impl BucketReconciler {
    /// A reconciler storing artifacts in `store`, downloading under `work_dir`.
    pub fn new(client: kube::Client, store: ArtifactStore, work_dir: PathBuf) -> Self {
        BucketReconciler {
            client,
            store,
            work_dir,
            advertised: ADVERTISED_ADDRESS.to_string(),
            max_size: DEFAULT_MAX_SIZE,
        }
    }

    /// Advertises artifacts under `addr` instead of [`ADVERTISED_ADDRESS`].
    pub fn with_advertised_address(mut self, addr: impl Into<String>) -> Self {
        self.advertised = addr.into();
        self
    }

    /// Refuses buckets holding more than `bytes` under their prefix.
    pub fn with_max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    async fn credentials(&self, ns: &str, spec: &BucketSpec) -> Result<Option<Keys>, Failure> {
        let Some(name) = &spec.secret else {
            return Ok(None);
        };
        let data = read_secret_data(&self.client, ns, name)
            .await
            .map_err(|m| {
                fetch_failure(
                    "AuthenticationFailed",
                    format!("failed to get secret '{ns}/{name}': {m}"),
                )
            })?;
        let field = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .and_then(|b| {
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).ok()
                })
                .map(|v| String::from_utf8_lossy(&v).trim().to_string())
                .filter(|v| !v.is_empty())
        };
        match (field("accesskey"), field("secretkey")) {
            (Some(access), Some(secret)) => Ok(Some(Keys { access, secret })),
            _ => Err(fetch_failure(
                "AuthenticationFailed",
                format!(
                    "invalid '{ns}/{name}' secret data: required fields 'accesskey' and 'secretkey'"
                ),
            )),
        }
    }

    async fn fetch_and_store(&self, run: &mut Run, spec: &BucketSpec) -> Result<(), Failure> {
        let (ns, name) = (run.namespace().to_string(), run.name().to_string());
        let creds = self.credentials(&ns, spec).await?;
        let session = Session::new(spec, creds)?;
        let tmp = self
            .work_dir
            .join(&ns)
            .join(&name)
            .join(uuid::Uuid::new_v4().simple().to_string());
        let result = self.fetch_into(run, spec, &session, &tmp).await;
        let _ = std::fs::remove_dir_all(&tmp);
        result
    }

    async fn fetch_into(
        &self,
        run: &mut Run,
        spec: &BucketSpec,
        session: &Session,
        tmp: &Path,
    ) -> Result<(), Failure> {
        let (ns, name) = (run.namespace().to_string(), run.name().to_string());
        let ignore_dir = tmp.join("ignore");
        let files = tmp.join("files");
        std::fs::create_dir_all(&ignore_dir)
            .and_then(|_| std::fs::create_dir_all(&files))
            .map_err(|e| bucket_failure(format!("cannot create '{}': {e}", tmp.display())))?;
        // The bucket root's .sourceignore (not under the prefix), as source-controller reads it.
        session
            .download(".sourceignore", &ignore_dir.join(".sourceignore"), 1 << 20)
            .await?;
        let exclusions = Exclusions::load(&ignore_dir, spec.ignore.as_deref())
            .map_err(|e| bucket_failure(format!("invalid ignore patterns: {e}")))?;
        let objects = session.list(&spec.prefix).await?;
        let mut index = BTreeMap::new();
        let mut sizes = BTreeMap::new();
        for o in objects {
            if o.key.ends_with('/') || exclusions.is_excluded(&o.key, false) {
                continue;
            }
            sizes.insert(o.key.clone(), o.size);
            index.insert(o.key, o.etag);
        }
        let total: u64 = sizes.values().sum();
        if total > self.max_size {
            return Err(bucket_failure(format!(
                "bucket '{}' holds {total} bytes under prefix '{}', more than the limit of {} bytes",
                spec.bucket_name, spec.prefix, self.max_size
            )));
        }
        let revision = index_revision(&index);
        let current: Option<Artifact> =
            run.status().get("artifact").and_then(Artifact::from_status);
        if let Some(cur) = &current
            && cur.revision == revision
            && self.store.exists(cur)
        {
            run.set("artifact", cur.status_value(&self.advertised));
            return Ok(());
        }
        if current.is_some() {
            let m = format!("new upstream revision '{revision}'");
            run.set_condition(ARTIFACT_OUTDATED, ConditionStatus::True, "NewRevision", &m);
        }
        run.progressing(&format!(
            "building artifact: new upstream revision '{revision}'"
        ));
        run.write().await;
        let mut fetched = 0usize;
        let mut left = self.max_size;
        for key in index.keys() {
            let Some(dest) = key_path(&files, key) else {
                tracing::warn!(
                    key,
                    "skipping a bucket key that is not a plain relative path"
                );
                continue;
            };
            if session.download(key, &dest, left).await? {
                fetched += 1;
                left = left.saturating_sub(sizes.get(key).copied().unwrap_or(0));
            }
        }
        let storage = |reason: &str, message: String| {
            Failure::transient(reason, message)
                .with_condition(STORAGE_OPERATION_FAILED, ConditionStatus::True)
        };
        let hex = revision.trim_start_matches("sha256:");
        let rel = artifact_path("Bucket", &ns, &name, &format!("{hex}.tar.gz"))
            .map_err(|e| storage("ArchiveOperationFailed", e.to_string()))?;
        let (store, dir, rev) = (self.store.clone(), files.clone(), revision.clone());
        let artifact = tokio::task::spawn_blocking(move || {
            store.store(&rel, &rev, &dir, &Exclusions::new(Vec::new()))
        })
        .await
        .map_err(|e| storage("ArchiveOperationFailed", e.to_string()))?
        .map_err(|e| storage(e.reason(), e.to_string()))?;
        if let Err(e) = self.store.gc(&artifact, DEFAULT_RETENTION) {
            tracing::warn!(error = %e, "artifact garbage collection failed");
        }
        run.set("artifact", artifact.status_value(&self.advertised));
        match &spec.ignore {
            Some(i) => run.set("observedIgnore", json!(i)),
            None => run.remove("observedIgnore"),
        }
        run.set_revision(&revision);
        run.record(
            EventType::Normal,
            "NewArtifact",
            &format!(
                "stored artifact with {fetched} fetched files from '{}' bucket",
                spec.bucket_name
            ),
        );
        Ok(())
    }
}

impl Controller for BucketReconciler {
    const GROUP: &'static str = "source.toolkit.fluxcd.io";
    const KIND: &'static str = "Bucket";
    const COMPONENT: &'static str = "source-controller";
    type Spec = BucketSpec;

    fn parse(&self, obj: &Value) -> Result<BucketSpec, Failure> {
        parse_spec(obj)
    }

    /// Begin → list, index, download if the revision moved, archive → `ArtifactInStorage`.
    async fn reconcile(&self, run: &mut Run, spec: BucketSpec) -> Result<Success, Failure> {
        run.backoff_cap(spec.interval);
        run.begin().await;
        self.fetch_and_store(run, &spec).await?;
        let rev = stored_revision(run);
        Ok(artifact_in_storage(
            run,
            &[FETCH_FAILED, ARTIFACT_OUTDATED, STORAGE_OPERATION_FAILED],
            "Succeeded",
            format!("stored artifact: revision '{rev}'"),
            spec.interval,
        ))
    }

    async fn finalize(&self, obj: Value) {
        remove_artifacts(&self.store, "Bucket", &obj);
        let (ns, name) = ns_name(&obj);
        let _ = std::fs::remove_dir_all(self.work_dir.join(ns).join(name));
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

/// The runtime adapter of the Bucket reconciler.
pub type BucketKind = Adapter<BucketReconciler>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_revision_is_sorted_key_etag_lines() {
        let mut index = BTreeMap::new();
        index.insert("b.yaml".to_string(), "e2".to_string());
        index.insert("a.yaml".to_string(), "e1".to_string());
        use sha2::{Digest, Sha256};
        let want = format!("sha256:{:x}", Sha256::digest(b"a.yaml e1\nb.yaml e2\n"));
        assert_eq!(index_revision(&index), want);
    }

    #[test]
    fn spec_errors_name_the_field() {
        let bad = [
            (
                json!({"interval": "1m", "endpoint": "h:9000"}),
                "spec.bucketName",
            ),
            (
                json!({"interval": "1m", "bucketName": "b", "endpoint": "http://h"}),
                "spec.endpoint",
            ),
            (json!({"bucketName": "b", "endpoint": "h"}), "spec.interval"),
            (
                json!({"interval": "1m", "bucketName": "b", "endpoint": "h", "provider": "gcp"}),
                "spec.provider",
            ),
        ];
        for (spec, want) in bad {
            let e = parse_spec(&json!({"spec": spec})).err().expect("refused");
            assert!(format!("{e:?}").contains(want), "{want}: {e:?}");
        }
    }

    #[test]
    fn keys_must_stay_inside() {
        let d = Path::new("/tmp/x");
        assert_eq!(
            key_path(d, "a/b.yaml"),
            Some(PathBuf::from("/tmp/x/a/b.yaml"))
        );
        assert_eq!(key_path(d, "../etc/passwd"), None);
        assert_eq!(key_path(d, "/abs"), None);
    }

    #[test]
    fn s3_errors_say_what_went_wrong() {
        let body =
            "<Error><Code>InvalidAccessKeyId</Code><Message>The key is wrong</Message></Error>";
        let m = s3_error(
            "failed to list objects from bucket",
            "b",
            reqwest::StatusCode::FORBIDDEN,
            body,
        );
        assert!(
            m.contains("authentication failed") && m.contains("InvalidAccessKeyId"),
            "{m}"
        );
        let m = s3_error(
            "x",
            "b",
            reqwest::StatusCode::NOT_FOUND,
            "<Code>NoSuchBucket</Code>",
        );
        assert!(m.contains("bucket 'b' does not exist"), "{m}");
    }
}
