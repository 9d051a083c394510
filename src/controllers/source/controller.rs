//! The GitRepository reconciler (flux-semantics §1.3 lifecycle, §2): fetch with gix, archive the
//! checkout into the artifact store, write `status.artifact` and Flux's conditions, record events.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

use super::artifact::{Artifact, ArtifactStore, DEFAULT_RETENTION, artifact_path};
use super::exclusions::Exclusions;
use super::git::{self, GitError};
use super::git_auth::GitAuth;
use super::git_ref::GitRef;
use crate::model::conditions::ConditionStatus;
use crate::model::time::parse_duration;
use crate::runtime::events::EventType;
use crate::runtime::status_io::read_secret_data;
use crate::runtime::{Adapter, Controller, Failure, Run, Success};

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
    allow_file_urls: bool,
}

/// The parsed spec of a GitRepository.
pub struct GitSpec {
    url: String,
    git_ref: GitRef,
    interval: Duration,
    timeout: Duration,
    ignore: Option<String>,
    secret: Option<String>,
}

/// A failure of the fetch (sets `FetchFailed=True` beside Ready).
fn fetch_failure(reason: &str, message: String) -> Failure {
    Failure::transient(reason, message).with_condition(FETCH_FAILED, ConditionStatus::True)
}

/// An invalid spec: stalled, with `FetchFailed=True`.
fn stalled(reason: &str, message: String) -> Failure {
    Failure::terminal(reason, message).with_condition(FETCH_FAILED, ConditionStatus::True)
}

fn parse_spec(obj: &Value, allow_file_urls: bool) -> Result<GitSpec, Failure> {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let text = |f: &str| spec.get(f).and_then(Value::as_str).map(str::to_string);
    let url = text("url").unwrap_or_default();
    if let Err(e) = git::validate_source_url(&url, allow_file_urls) {
        return Err(stalled("URLInvalid", e.to_string()));
    }
    let git_ref =
        GitRef::from_spec(spec.get("ref")).map_err(|e| stalled("InvalidSpec", e.to_string()))?;
    if let Err(e) = git_ref.resolve() {
        return Err(stalled("InvalidSpec", e.to_string()));
    }
    let duration = |f: &str, default: Option<Duration>| -> Result<Duration, Failure> {
        match text(f) {
            Some(t) => {
                parse_duration(&t).map_err(|e| stalled("InvalidSpec", format!("spec.{f}: {e}")))
            }
            None => default.ok_or_else(|| stalled("InvalidSpec", format!("spec.{f} is required"))),
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
    })
}

/// The revision of the artifact this run stored (`""` when there is none).
pub(super) fn stored_revision(run: &Run) -> String {
    run.status()
        .pointer("/artifact/revision")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The common end of a successful source run: the `clear` failure conditions removed,
/// `ArtifactInStorage=True` and `Ready=True` with `reason` and `message`.
pub(super) fn artifact_in_storage(
    run: &mut Run,
    clear: &[&str],
    reason: &str,
    message: String,
    interval: Duration,
) -> Success {
    for t in clear {
        run.remove_condition(t);
    }
    run.set_condition(ARTIFACT_IN_STORAGE, ConditionStatus::True, reason, &message);
    Success::ready(reason, message, interval)
}

/// The object's namespace (`default` when unset) and name.
pub(super) fn ns_name(obj: &Value) -> (&str, &str) {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    (ns, name)
}

/// Removes the stored artifacts of a deleted source object (its finalizer); a failure is logged.
pub(super) fn remove_artifacts(store: &ArtifactStore, kind: &str, obj: &Value) {
    let (ns, name) = ns_name(obj);
    if let Err(e) = store.remove_object(kind, ns, name) {
        tracing::warn!(error = %e, "cannot remove the artifacts of {kind} {ns}/{name}");
    }
}

impl GitRepositoryReconciler {
    /// A reconciler storing artifacts in `store` and git caches under `work_dir`.
    pub fn new(client: kube::Client, store: ArtifactStore, work_dir: PathBuf) -> Self {
        GitRepositoryReconciler {
            client,
            store,
            work_dir,
            advertised: ADVERTISED_ADDRESS.to_string(),
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

    /// The kind-specific end of a successful fetch: the failure conditions cleared and
    /// `ArtifactInStorage=True`.
    fn stored(&self, run: &mut Run, interval: Duration) -> Success {
        let rev = stored_revision(run);
        artifact_in_storage(
            run,
            &[FETCH_FAILED, ARTIFACT_OUTDATED, STORAGE_OPERATION_FAILED],
            "Succeeded",
            format!("stored artifact for revision '{rev}'"),
            interval,
        )
    }

    /// The credentials of `spec.secretRef`, if any.
    async fn auth(&self, ns: &str, spec: &GitSpec) -> Result<Option<GitAuth>, Failure> {
        let Some(secret) = &spec.secret else {
            return Ok(None);
        };
        let data = read_secret_data(&self.client, ns, secret)
            .await
            .map_err(|m| fetch_failure("AuthenticationFailed", m))?;
        let auth = GitAuth::from_secret_data(&spec.url, &data).map_err(|e| {
            fetch_failure(
                "AuthenticationFailed",
                format!("invalid '{ns}/{secret}' secret data: {e}"),
            )
        })?;
        Ok(Some(auth))
    }

    /// Fetches the ref, archives the checkout into the store and records `status.artifact`; a
    /// changed digest queues the `NewArtifact` event.
    async fn fetch_and_store(&self, run: &mut Run, spec: &GitSpec) -> Result<(), Failure> {
        let (ns, name) = (run.namespace().to_string(), run.name().to_string());
        let (ns, name) = (ns.as_str(), name.as_str());
        let auth = self.auth(ns, spec).await?;
        let work_dir = self.work_dir.join(ns).join(name);
        let current: Option<Artifact> =
            run.status().get("artifact").and_then(Artifact::from_status);
        let observed_ignore = run
            .status()
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
            let url = json!(cur.url(&self.advertised));
            if let Some(a) = run
                .status_mut()
                .get_mut("artifact")
                .and_then(Value::as_object_mut)
            {
                a.insert("url".to_string(), url);
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
                return Ok(());
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
            let m = format!("new upstream revision '{revision}'");
            run.set_condition(ARTIFACT_OUTDATED, ConditionStatus::True, "NewRevision", &m);
            run.progressing(&format!("building artifact: {m}"));
        }
        let storage = |reason: &str, message: String| {
            Failure::transient(reason, message)
                .with_condition(STORAGE_OPERATION_FAILED, ConditionStatus::True)
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
        run.set("artifact", artifact.status_value(&self.advertised));
        match &spec.ignore {
            Some(i) => run.set("observedIgnore", json!(i)),
            None => run.remove("observedIgnore"),
        }
        if changed {
            run.set_revision(&revision);
            let message = format!("stored artifact for commit '{}'", checkout.subject);
            run.record(EventType::Normal, "NewArtifact", &message);
        }
        Ok(())
    }

    /// Removes the object's artifacts (finalizer).
    async fn cleanup(&self, obj: Value) {
        remove_artifacts(&self.store, "GitRepository", &obj);
        let (ns, name) = ns_name(&obj);
        let _ = std::fs::remove_dir_all(self.work_dir.join(ns).join(name));
    }
}

fn git_failure(e: GitError) -> Failure {
    if e.is_terminal() {
        stalled(e.reason(), e.to_string())
    } else {
        fetch_failure(e.reason(), e.to_string())
    }
}

impl Controller for GitRepositoryReconciler {
    const GROUP: &'static str = "source.toolkit.fluxcd.io";
    const KIND: &'static str = "GitRepository";
    const COMPONENT: &'static str = "source-controller";
    type Spec = GitSpec;

    fn parse(&self, obj: &Value) -> Result<GitSpec, Failure> {
        parse_spec(obj, self.allow_file_urls)
    }

    /// §1.3: begin (Reconciling, written at once) → fetch and store → `ArtifactInStorage`.
    async fn reconcile(&self, run: &mut Run, spec: GitSpec) -> Result<Success, Failure> {
        run.backoff_cap(spec.interval);
        run.begin().await;
        self.fetch_and_store(run, &spec).await?;
        Ok(self.stored(run, spec.interval))
    }

    async fn finalize(&self, obj: Value) {
        self.cleanup(obj).await
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

/// The runtime adapter of the GitRepository reconciler.
pub type GitRepositoryKind = Adapter<GitRepositoryReconciler>;
