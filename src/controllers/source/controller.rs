//! The GitRepository reconciler (flux-semantics §1.3 lifecycle, §2): fetch with gix, archive the
//! checkout into the artifact store, write `status.artifact` and Flux's conditions, record events.

use futures::future::BoxFuture;
use jiff::Timestamp;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::artifact::{Artifact, ArtifactStore, DEFAULT_RETENTION, artifact_path};
use super::exclusions::Exclusions;
use super::git::{self, GitError};
use super::git_auth::GitAuth;
use super::git_ref::GitRef;
use crate::controllers::kustomization::spec::parse_duration;
use crate::model::conditions::{self, Condition, ConditionStatus, READY, RECONCILING};
use crate::model::kinds::{self, KindInfo};
use crate::runtime::status_io::{
    EventNote, Events, observed_generation, read_secret_data, ready_summary,
};
use crate::runtime::{self, Next, Outcome, Reconciler};

/// `ArtifactInStorage`.
pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
/// `ArtifactOutdated`.
pub const ARTIFACT_OUTDATED: &str = "ArtifactOutdated";
/// `FetchFailed`.
pub const FETCH_FAILED: &str = "FetchFailed";
/// `StorageOperationFailed`.
pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";
/// Default `spec.timeout` of a GitRepository.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The host artifacts are advertised under (`status.artifact.url`) when no storage server runs.
/// flotilla's reconcilers read artifacts from the local store, so the address only has to be
/// stable and recognisable; with a [`super::storage::StorageServer`] the controller advertises its
/// address instead ([`GitRepositoryReconciler::with_advertised_address`]).
pub const ADVERTISED_ADDRESS: &str = "source-controller.flotilla.local";

/// Reconciles GitRepository objects of one cluster.
pub struct GitRepositoryReconciler {
    client: kube::Client,
    store: ArtifactStore,
    work_dir: PathBuf,
    advertised: String,
    events: Events,
    failures: Mutex<HashMap<String, u32>>,
    allow_file_urls: bool,
}

/// The parsed spec of a GitRepository.
struct GitSpec {
    url: String,
    git_ref: GitRef,
    interval: Duration,
    timeout: Duration,
    ignore: Option<String>,
    secret: Option<String>,
    suspend: bool,
}

/// A failure of one run: the condition it sets, its reason and whether retrying can help.
struct Failure {
    condition: &'static str,
    reason: &'static str,
    message: String,
    terminal: bool,
}

impl Failure {
    fn stalled(reason: &'static str, message: String) -> Failure {
        Failure {
            condition: FETCH_FAILED,
            reason,
            message,
            terminal: true,
        }
    }
}

fn parse_spec(obj: &Value, allow_file_urls: bool) -> Result<GitSpec, Failure> {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let text = |f: &str| spec.get(f).and_then(Value::as_str).map(str::to_string);
    let url = text("url").unwrap_or_default();
    if let Err(e) = git::validate_source_url(&url, allow_file_urls) {
        return Err(Failure::stalled("URLInvalid", e.to_string()));
    }
    let git_ref = GitRef::from_spec(spec.get("ref"))
        .map_err(|e| Failure::stalled("InvalidSpec", e.to_string()))?;
    if let Err(e) = git_ref.resolve() {
        return Err(Failure::stalled("InvalidSpec", e.to_string()));
    }
    let duration = |f: &str, default: Option<Duration>| -> Result<Duration, Failure> {
        match text(f) {
            Some(t) => parse_duration(&t)
                .map_err(|e| Failure::stalled("InvalidSpec", format!("spec.{f}: {e}"))),
            None => default
                .ok_or_else(|| Failure::stalled("InvalidSpec", format!("spec.{f} is required"))),
        }
    };
    Ok(GitSpec {
        url,
        git_ref,
        interval: duration("interval", None)?,
        timeout: duration("timeout", Some(DEFAULT_TIMEOUT))?,
        ignore: text("ignore"),
        secret: spec
            .pointer("/secretRef/name")
            .and_then(Value::as_str)
            .map(str::to_string),
        suspend: spec
            .get("suspend")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

impl GitRepositoryReconciler {
    /// A reconciler storing artifacts in `store` and git caches under `work_dir`.
    pub fn new(client: kube::Client, store: ArtifactStore, work_dir: PathBuf) -> Self {
        GitRepositoryReconciler {
            events: Events::new(client.clone(), "source-controller"),
            client,
            store,
            work_dir,
            advertised: ADVERTISED_ADDRESS.to_string(),
            failures: Mutex::new(HashMap::new()),
            allow_file_urls: false,
        }
    }

    /// Accepts `file://` URLs (`--allow-file-urls`); refused (Stalled, `URLInvalid`) otherwise.
    pub fn with_file_urls(mut self, allow: bool) -> Self {
        self.allow_file_urls = allow;
        self
    }

    /// Advertises artifacts under `addr` (`host:port`, or a URL prefix with a scheme) instead of
    /// [`ADVERTISED_ADDRESS`].
    pub fn with_advertised_address(mut self, addr: impl Into<String>) -> Self {
        self.advertised = addr.into();
        self
    }

    fn kind_info() -> &'static KindInfo {
        // GitRepository is in the registry (a static table); the fallback keeps this total.
        kinds::by_group_kind("source.toolkit.fluxcd.io", "GitRepository")
            .unwrap_or(&kinds::KINDS[0])
    }

    /// The exponential retry delay after the n-th consecutive failure, capped at the interval.
    fn retry_after(&self, key: &str, interval: Duration, failed: bool) -> Duration {
        let Ok(mut f) = self.failures.lock() else {
            return interval;
        };
        if !failed {
            f.remove(key);
            return interval;
        }
        let n = f.entry(key.to_string()).or_insert(0);
        *n += 1;
        let d = Duration::from_secs(1u64 << (*n - 1).min(10));
        d.min(interval.max(Duration::from_secs(1)))
    }

    async fn run(self: Arc<Self>, obj: Value) -> Outcome {
        let (next, status) = self.run_steps(obj).await;
        Outcome::new(next, ready_summary(&status))
    }

    async fn run_steps(self: Arc<Self>, obj: Value) -> (Next, Value) {
        let key = runtime::ObjectKey::of("GitRepository", &obj).to_string();
        let generation = obj
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let mut status = obj.get("status").cloned().unwrap_or(json!({}));
        let spec = match parse_spec(&obj, self.allow_file_urls) {
            Ok(s) => s,
            Err(f) => {
                self.fail(&obj, &mut status, &f, generation).await;
                return (Next::Wait, status);
            }
        };
        if spec.suspend {
            return (Next::Wait, status);
        }
        // §1.3 step 1: Reconciling, Ready Unknown unless already known; patch at once.
        let now = Timestamp::now();
        let msg = match observed_generation(&status) {
            Some(old) if old != generation => {
                format!("processing object: new generation {old} -> {generation}")
            }
            _ => "reconciliation in progress".to_string(),
        };
        conditions::mark_reconciling(&mut status, "Progressing", &msg, generation, now);
        let ready_known = conditions::condition(&json!({"status": status.clone()}), READY)
            .is_some_and(|c| c.status != ConditionStatus::Unknown);
        if !ready_known {
            let c = Condition::new(READY, ConditionStatus::Unknown, "Progressing", &msg);
            conditions::set_condition(&mut status, &c, generation, now);
        }
        let obj = self.write(&obj, &status).await.unwrap_or(obj);

        match self
            .fetch_and_store(&obj, &spec, &mut status, generation)
            .await
        {
            Ok(notes) => {
                let now = Timestamp::now();
                let rev = status
                    .pointer("/artifact/revision")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let message = format!("stored artifact for revision '{rev}'");
                for t in [
                    FETCH_FAILED,
                    ARTIFACT_OUTDATED,
                    STORAGE_OPERATION_FAILED,
                    RECONCILING,
                ] {
                    conditions::remove_condition(&mut status, t);
                }
                conditions::remove_condition(&mut status, conditions::STALLED);
                let c = Condition::new(
                    ARTIFACT_IN_STORAGE,
                    ConditionStatus::True,
                    "Succeeded",
                    &message,
                );
                conditions::set_condition(&mut status, &c, generation, now);
                let c = Condition::new(READY, ConditionStatus::True, "Succeeded", &message);
                conditions::set_condition(&mut status, &c, generation, now);
                finish(&obj, &mut status, generation);
                let written = self.write(&obj, &status).await.unwrap_or(obj);
                self.events.emit(&written, notes).await;
                (
                    Next::After(self.retry_after(&key, spec.interval, false)),
                    status,
                )
            }
            Err(f) => {
                self.fail(&obj, &mut status, &f, generation).await;
                let next = if f.terminal {
                    Next::Wait
                } else {
                    Next::After(self.retry_after(&key, spec.interval, true))
                };
                (next, status)
            }
        }
    }

    /// Records a failure: the failing condition, Ready False with its reason, Reconciling kept as
    /// ProgressingWithRetry (or Stalled for terminal failures), and a Warning event.
    async fn fail(&self, obj: &Value, status: &mut Value, f: &Failure, generation: i64) {
        let now = Timestamp::now();
        let c = Condition::new(f.condition, ConditionStatus::True, f.reason, &f.message);
        conditions::set_condition(status, &c, generation, now);
        let c = Condition::new(READY, ConditionStatus::False, f.reason, &f.message);
        conditions::set_condition(status, &c, generation, now);
        if f.terminal {
            conditions::mark_stalled(status, f.reason, &f.message, generation, now);
            set(status, "observedGeneration", json!(generation));
        } else if let Some(mut rc) = conditions::reconciling(&json!({"status": status.clone()})) {
            rc.reason = "ProgressingWithRetry".into();
            conditions::set_condition(status, &rc, generation, now);
        }
        finish(obj, status, generation);
        let written = self.write(obj, status).await.unwrap_or_else(|| obj.clone());
        self.events
            .emit(&written, vec![EventNote::warning(f.reason, &f.message)])
            .await;
    }

    async fn write(&self, obj: &Value, status: &Value) -> Option<Value> {
        match runtime::write_status(&self.client, Self::kind_info(), "v1", obj, status).await {
            Ok(Some(o)) => Some(o),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(object = %runtime::ObjectKey::of("GitRepository", obj), error = %e, "status update failed");
                None
            }
        }
    }

    async fn fetch_and_store(
        &self,
        obj: &Value,
        spec: &GitSpec,
        status: &mut Value,
        generation: i64,
    ) -> Result<Vec<EventNote>, Failure> {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let auth = match &spec.secret {
            None => None,
            Some(secret) => {
                let data = read_secret_data(&self.client, ns, secret)
                    .await
                    .map_err(|m| Failure {
                        condition: FETCH_FAILED,
                        reason: "AuthenticationFailed",
                        message: m,
                        terminal: false,
                    })?;
                Some(
                    GitAuth::from_secret_data(&spec.url, &data).map_err(|e| Failure {
                        condition: FETCH_FAILED,
                        reason: "AuthenticationFailed",
                        message: format!("invalid '{ns}/{secret}' secret data: {e}"),
                        terminal: false,
                    })?,
                )
            }
        };
        let work_dir = self.work_dir.join(ns).join(name);
        let current: Option<Artifact> = status.get("artifact").and_then(Artifact::from_status);
        let observed_ignore = status
            .get("observedIgnore")
            .and_then(Value::as_str)
            .map(str::to_string);
        // §2.3: the remote head equals the stored revision and nothing else changed → no clone.
        if let Some(cur) = &current
            && observed_ignore == spec.ignore
            && self.store.exists(cur)
        {
            // Like source-controller, refresh the URL on every run: the storage address may have
            // changed since the artifact was stored (a restart on another port).
            if let Some(a) = status.get_mut("artifact").and_then(Value::as_object_mut) {
                a.insert("url".to_string(), json!(cur.url(&self.advertised)));
            }
            let (url, r, a, t, w) = (
                spec.url.clone(),
                spec.git_ref.clone(),
                auth.clone(),
                spec.timeout,
                work_dir.clone(),
            );
            let head =
                tokio::task::spawn_blocking(move || git::remote_head(&url, &r, a.as_ref(), t, &w))
                    .await
                    .map_err(|e| {
                        git_failure(GitError::Operation {
                            url: spec.url.clone(),
                            reference: spec.git_ref.describe(),
                            message: e.to_string(),
                        })
                    })?
                    .map_err(git_failure)?;
            if head.revision == cur.revision {
                return Ok(Vec::new());
            }
        }
        let checkout = git::fetch_async(
            spec.url.clone(),
            spec.git_ref.clone(),
            auth,
            spec.timeout,
            work_dir,
        )
        .await
        .map_err(git_failure)?;
        let revision = checkout.revision.clone();
        if current.as_ref().is_some_and(|c| c.revision != revision) {
            let now = Timestamp::now();
            let m = format!("new upstream revision '{revision}'");
            let c = Condition::new(ARTIFACT_OUTDATED, ConditionStatus::True, "NewRevision", &m);
            conditions::set_condition(status, &c, generation, now);
            conditions::mark_reconciling(
                status,
                "Progressing",
                &format!("building artifact: {m}"),
                generation,
                now,
            );
        }
        let storage = |reason: &'static str, message: String| Failure {
            condition: STORAGE_OPERATION_FAILED,
            reason,
            message,
            terminal: false,
        };
        let exclusions = Exclusions::load(&checkout.dir, spec.ignore.as_deref())
            .map_err(|e| storage("ArchiveOperationFailed", e.to_string()))?;
        let rel = artifact_path(
            "GitRepository",
            ns,
            name,
            &format!("{}.tar.gz", checkout.commit),
        )
        .map_err(|e| storage("ArchiveOperationFailed", e.to_string()))?;
        let (store, dir) = (self.store.clone(), checkout.dir.clone());
        let rev = revision.clone();
        let artifact =
            tokio::task::spawn_blocking(move || store.store(&rel, &rev, &dir, &exclusions))
                .await
                .map_err(|e| storage("ArchiveOperationFailed", e.to_string()))?
                .map_err(|e| storage(e.reason(), e.to_string()))?;
        if let Err(e) = self.store.gc(&artifact, DEFAULT_RETENTION) {
            tracing::warn!(error = %e, "artifact garbage collection failed");
        }
        let changed = current.as_ref().is_none_or(|c| c.digest != artifact.digest);
        set(status, "artifact", artifact.status_value(&self.advertised));
        match &spec.ignore {
            Some(i) => set(status, "observedIgnore", json!(i)),
            None => {
                if let Some(m) = status.as_object_mut() {
                    m.remove("observedIgnore");
                }
            }
        }
        let mut notes = Vec::new();
        if changed {
            notes.push(
                EventNote::normal(
                    "NewArtifact",
                    &format!("stored artifact for commit '{}'", checkout.subject),
                )
                .annotate("source.toolkit.fluxcd.io/revision", &revision),
            );
        }
        Ok(notes)
    }

    /// Removes the object's artifacts (finalizer).
    async fn cleanup(self: Arc<Self>, obj: Value) {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Err(e) = self.store.remove_object("GitRepository", ns, name) {
            tracing::warn!(error = %e, "cannot remove the artifacts of GitRepository {ns}/{name}");
        }
        let _ = std::fs::remove_dir_all(self.work_dir.join(ns).join(name));
    }
}

fn git_failure(e: GitError) -> Failure {
    Failure {
        condition: FETCH_FAILED,
        reason: e.reason(),
        message: e.to_string(),
        terminal: e.is_terminal(),
    }
}

fn set(status: &mut Value, key: &str, value: Value) {
    if !status.is_object() {
        *status = json!({});
    }
    if let Some(m) = status.as_object_mut() {
        m.insert(key.to_string(), value);
    }
}

/// Common end of a run: requestedAt → lastHandledReconcileAt; observedGeneration on success.
fn finish(obj: &Value, status: &mut Value, generation: i64) {
    if let Some(token) = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(runtime::REQUESTED_AT))
        .and_then(Value::as_str)
    {
        set(status, "lastHandledReconcileAt", json!(token));
    }
    if conditions::is_true(&json!({"status": status.clone()}), READY) {
        set(status, "observedGeneration", json!(generation));
    }
}

/// The runtime adapter.
pub struct GitRepositoryKind(pub Arc<GitRepositoryReconciler>);

impl Reconciler for GitRepositoryKind {
    fn kind(&self) -> &'static KindInfo {
        GitRepositoryReconciler::kind_info()
    }
    fn version(&self) -> &'static str {
        "v1"
    }
    fn reconcile(&self, obj: Value) -> BoxFuture<'static, Outcome> {
        Box::pin(Arc::clone(&self.0).run(obj))
    }
    fn finalize(&self, obj: Value) -> BoxFuture<'static, ()> {
        Box::pin(Arc::clone(&self.0).cleanup(obj))
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
