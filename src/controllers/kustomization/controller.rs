//! The Kustomization reconciler: flux-semantics §3.2 as a straight line of named steps over the pure
//! building blocks of this module and the cluster I/O of [`crate::apply`].

use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::ReconcileError;
use super::spec::{KustomizationSpec, SourceRef, format_duration, parse_kustomization};
use super::status::{self, Phase};
use super::{decrypt, desired, health, overlay, prune, stages};
use crate::apply::Applier;
use crate::apply::inventory::Inventory;
use crate::apply::policy::ApplyAction;
use crate::controllers::source::{Artifact, ArtifactStore};
use crate::kustomize::RemoteResources;
use crate::model::kinds::{self, KindInfo};
use crate::runtime::events::EventType;
use crate::runtime::status_io::{EventNote, Events};
use crate::runtime::{Adapter, Controller, Failure, ObjectKey, Run, Success, dynamic_api};

/// Reconciles Kustomization objects of one cluster.
pub struct KustomizationReconciler {
    client: kube::Client,
    applier: Applier,
    /// The cluster's client configuration, for `spec.serviceAccountName` impersonation.
    config: Option<kube::Config>,
    impersonating: Mutex<HashMap<String, Applier>>,
    store: ArtifactStore,
    extracted: Arc<ExtractedArtifacts>,
    health_poll: Duration,
    events: Events,
    /// Remote bases: fetched, or refused (`--no-remote-bases`).
    remote: RemoteResources,
}

/// The Kustomization kind (resolved once; the runtime adapter resolves it from the same table).
fn kind_info() -> Result<&'static KindInfo, ReconcileError> {
    kinds::by_group_kind(GROUP, KIND).ok_or_else(|| {
        ReconcileError::ReconciliationFailed(format!("{KIND} is not in the kind registry"))
    })
}

const GROUP: &str = "kustomize.toolkit.fluxcd.io";
const KIND: &str = "Kustomization";

fn source_kind(kind: &str) -> Option<&'static KindInfo> {
    kinds::by_group_kind("source.toolkit.fluxcd.io", kind)
}

impl KustomizationReconciler {
    /// A reconciler reading artifacts from `store` and building under `build_dir`.
    pub fn new(
        client: kube::Client,
        store: ArtifactStore,
        build_dir: PathBuf,
        health_poll: Duration,
    ) -> Self {
        KustomizationReconciler {
            applier: Applier::new(client.clone()),
            config: None,
            impersonating: Mutex::new(HashMap::new()),
            events: Events::new(client.clone(), "kustomize-controller"),
            client,
            store,
            extracted: Arc::new(ExtractedArtifacts::new(build_dir.join("artifacts"))),
            health_poll,
            remote: RemoteResources::Unsupported,
        }
    }

    /// How builds treat remote bases (default: refused as unsupported).
    pub fn with_remote(mut self, remote: RemoteResources) -> Self {
        self.remote = remote;
        self
    }

    /// Uses `config` to impersonate `spec.serviceAccountName` for apply, prune and health checks.
    pub fn with_config(mut self, config: kube::Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The applier acting as the Kustomization's service account (Flux's impersonation), or as
    /// the controller itself when none is set.
    fn applier_for(
        &self,
        spec: &KustomizationSpec,
        namespace: &str,
    ) -> Result<Applier, ReconcileError> {
        let Some(sa) = &spec.service_account_name else {
            return Ok(self.applier.clone());
        };
        let user = format!("system:serviceaccount:{namespace}:{sa}");
        if let Ok(m) = self.impersonating.lock()
            && let Some(a) = m.get(&user)
        {
            return Ok(a.clone());
        }
        let Some(config) = &self.config else {
            return Err(ReconcileError::ReconciliationFailed(format!(
                "cannot impersonate service account '{namespace}/{sa}': this controller has no kubeconfig for the cluster"
            )));
        };
        let mut config = config.clone();
        config.auth_info.impersonate = Some(user.clone());
        let client = kube::Client::try_from(config).map_err(|e| {
            ReconcileError::ReconciliationFailed(format!(
                "failed to build a client impersonating '{user}': {e}"
            ))
        })?;
        let applier = Applier::new(client);
        if let Ok(mut m) = self.impersonating.lock() {
            m.insert(user, applier.clone());
        }
        Ok(applier)
    }

    /// Steps 2–10 of §3.2; each failure stops the later steps.
    async fn steps(&self, run: &mut Run, spec: &KustomizationSpec) -> Result<(), ReconcileError> {
        let (artifact, origin) = self.source_artifact(&spec.source_ref).await?;
        let revision = artifact.revision.clone();
        self.check_dependencies(spec, &revision).await?;

        let (generation, now) = (run.generation(), run.now());
        status::mark_progressing(run.status_mut(), &revision, spec.timeout, generation, now);
        run.write().await;

        let dir = self.extract(&artifact).await?;
        status::set_last_attempted_revision(run.status_mut(), &revision);
        mark_phase(run, Phase::Building, &revision, spec);
        // Keys are read per reconcile and dropped with the build (Flux imports them per run).
        let keys = decrypt::load_keys(&self.client, spec, run.namespace()).await?;
        let objects = {
            let (dir_path, spec_c, remote) = (Arc::clone(&dir), spec.clone(), self.remote.clone());
            tokio::task::spawn_blocking(move || {
                overlay::build_manifests_with(&dir_path, &spec_c, &remote, keys.as_ref())
            })
            .await
            .map_err(|e| ReconcileError::BuildFailed(format!("kustomize build failed: {e}")))??
        };
        drop(dir);
        let objects = self.substitute(run, spec, objects).await?;

        let stages = stages::prepare_apply(
            objects,
            run.name(),
            run.namespace(),
            spec.common_metadata.as_ref(),
            &[],
        );
        mark_phase(run, Phase::DetectingDrift, &revision, spec);
        run.write().await;
        let applier = self.applier_for(spec, run.namespace())?;
        let applied = applier
            .apply_stages(&stages, spec.force)
            .await
            .map_err(ReconcileError::from)?;
        let changes: Vec<String> = applied
            .entries()
            .iter()
            .filter(|e| matches!(e.action, ApplyAction::Created | ApplyAction::Configured))
            .map(|e| format!("{} {}", e.entry.object.display(), e.action.as_str()))
            .collect();

        // Step 8: the new inventory replaces the old one only now that build and apply succeeded.
        let old = Inventory::from_status(run.status()).unwrap_or_default();
        let new = applied.inventory();
        let stale = crate::apply::prune::stale_objects(&old, &applied, spec.prune);
        let owner = stages::owner(run.name(), run.namespace());
        let outcome = applier.prune(&stale, &owner).await;
        let undeleted: Vec<_> = outcome.failed.iter().map(|(e, _)| e.clone()).collect();
        status::set_inventory(
            run.status_mut(),
            &crate::apply::prune::inventory_after_prune(&new, &undeleted),
        );
        let mut log = changes;
        log.extend(outcome.deleted.iter().cloned());
        if !log.is_empty() {
            run.record(EventType::Normal, "Progressing", &log.join("\n"));
        }
        if let Some(e) = prune::prune_error(&outcome) {
            return Err(e);
        }

        // Step 9: health.
        let targets = health::health_targets(spec, &applied, run.name(), run.namespace());
        if targets.is_empty() {
            status::clear_healthy(run.status_mut());
        } else {
            mark_phase(run, Phase::HealthChecks, &revision, spec);
            run.write().await;
            let elapsed = applier
                .wait_healthy(&targets, spec.timeout, self.health_poll)
                .await?;
            let (generation, now) = (run.generation(), run.now());
            status::mark_healthy(run.status_mut(), round_ms(elapsed), generation, now);
        }

        // Step 10 (Ready=True is the runtime's status writer's, from the Success).
        status::record_applied_revision(run.status_mut(), &revision, origin.as_deref());
        Ok(())
    }

    /// Step 2: the source object and its artifact.
    async fn source_artifact(
        &self,
        source: &SourceRef,
    ) -> Result<(Artifact, Option<String>), ReconcileError> {
        let Some(info) = source_kind(&source.kind)
            .filter(|k| matches!(k.kind, "GitRepository" | "OCIRepository"))
        else {
            return Err(ReconcileError::ArtifactFailed(format!(
                "source kind '{}' is not supported by flotilla's reconciler (GitRepository and OCIRepository are)",
                source.kind
            )));
        };
        let api = dynamic_api(&self.client, info, "v1", Some(&source.namespace));
        let obj = match api.get_opt(&source.name).await {
            Ok(Some(o)) => serde_json::to_value(o).unwrap_or(Value::Null),
            Ok(None) => {
                return Err(ReconcileError::ArtifactFailed(
                    status::source_not_found_message(source),
                ));
            }
            Err(e) => {
                return Err(ReconcileError::ArtifactFailed(format!(
                    "unable to get source '{}/{}/{}': {e}",
                    source.kind, source.namespace, source.name
                )));
            }
        };
        let artifact = obj
            .pointer("/status/artifact")
            .and_then(Artifact::from_status)
            .ok_or_else(
                || ReconcileError::ArtifactNotReady(status::artifact_not_ready_message()),
            )?;
        let origin = obj
            .pointer("/status/artifact/metadata/org.opencontainers.image.revision")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok((artifact, origin))
    }

    /// Step 3: every dependency must be ready (uncached reads).
    async fn check_dependencies(
        &self,
        spec: &KustomizationSpec,
        revision: &str,
    ) -> Result<(), ReconcileError> {
        let kind = kind_info()?;
        for dep in &spec.depends_on {
            let api = dynamic_api(&self.client, kind, "v1", Some(&dep.namespace));
            let obj = match api.get_opt(&dep.name).await {
                Ok(o) => o.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)),
                Err(e) => {
                    return Err(ReconcileError::DependencyNotReady(format!(
                        "unable to get dependency '{}/{}': {e}",
                        dep.namespace, dep.name
                    )));
                }
            };
            status::dependency_ready(dep, obj.as_ref(), &spec.source_ref, revision)?;
        }
        Ok(())
    }

    /// Step 5: the artifact unpacked (once per digest, shared by every Kustomization using it).
    async fn extract(&self, artifact: &Artifact) -> Result<Arc<PathBuf>, ReconcileError> {
        let (cache, store, artifact) = (
            Arc::clone(&self.extracted),
            self.store.clone(),
            artifact.clone(),
        );
        tokio::task::spawn_blocking(move || cache.get(&store, &artifact))
            .await
            .map_err(|e| {
                ReconcileError::ArtifactFailed(format!("failed to extract artifact: {e}"))
            })?
    }

    /// Step 6's substitution, through the pipeline `flotilla diff` shares ([`desired`]).
    async fn substitute(
        &self,
        run: &Run,
        spec: &KustomizationSpec,
        objects: Vec<Value>,
    ) -> Result<Vec<Value>, ReconcileError> {
        let sources = desired::substitute_sources(&self.client, spec, run.namespace()).await?;
        let refs: Vec<Option<&Value>> = sources.iter().map(Option::as_ref).collect();
        desired::substitute_objects(objects, spec, &refs)
    }

    /// Deletion (§3.7): garbage-collect the inventory per deletionPolicy.
    async fn cleanup(&self, obj: Value) {
        let Ok(spec) = parse_kustomization(&obj) else {
            return;
        };
        let inventory = obj
            .get("status")
            .and_then(Inventory::from_status)
            .unwrap_or_default();
        if !prune::delete_on_finalize(&spec, &inventory) {
            return;
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let applier = match self.applier_for(&spec, ns) {
            Ok(a) => a,
            Err(e) => {
                // Flux: a missing impersonation account skips the garbage collection with an event.
                self.events
                    .emit(&obj, vec![EventNote::warning(e.reason(), &e.message())])
                    .await;
                return;
            }
        };
        let Some(mode) = prune::delete_mode(spec.deletion_policy) else {
            return;
        };
        let outcome = applier
            .delete_inventory(&inventory, mode, &stages::owner(name, ns), spec.timeout)
            .await;
        let mut notes = Vec::new();
        if !outcome.deleted.is_empty() {
            notes.push(EventNote::normal(
                "Progressing",
                &outcome.deleted.join("\n"),
            ));
        }
        if let Some(e) = prune::prune_error(&outcome) {
            notes.push(EventNote::warning(e.reason(), &e.message()));
        }
        self.events.emit(&obj, notes).await;
    }
}

/// Whole milliseconds, so messages read `1.5s` rather than nanoseconds.
fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// Extracted artifacts by digest under one directory, shared read-only by concurrent builds; the
/// least recently used ones no build holds are removed beyond [`KEEP_EXTRACTED`].
struct ExtractedArtifacts {
    root: PathBuf,
    entries: Mutex<HashMap<String, (Arc<PathBuf>, Instant)>>,
    /// One gate per digest being extracted, so concurrent builds wait for one extraction.
    extracting: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// How many unused extracted artifacts are kept for reuse.
const KEEP_EXTRACTED: usize = 8;

impl ExtractedArtifacts {
    fn new(root: PathBuf) -> Self {
        // Leftovers of an earlier process are not trusted (they may be half-written).
        let _ = std::fs::remove_dir_all(&root);
        ExtractedArtifacts {
            root,
            entries: Mutex::new(HashMap::new()),
            extracting: Mutex::new(HashMap::new()),
        }
    }

    /// The directory holding `artifact`'s files, extracting (and digest-checking) it on first use.
    fn get(
        &self,
        store: &ArtifactStore,
        artifact: &Artifact,
    ) -> Result<Arc<PathBuf>, ReconcileError> {
        let key = artifact.digest.trim_start_matches("sha256:").to_string();
        if let Some(dir) = self.cached(&key) {
            return Ok(dir);
        }
        let gate = match self.extracting.lock() {
            Ok(mut m) => Arc::clone(m.entry(key.clone()).or_default()),
            Err(_) => Arc::new(Mutex::new(())),
        };
        // A poisoned gate only means another extraction panicked; extracting again is safe.
        let _turn = gate.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = self.cached(&key) {
            return Ok(dir);
        }
        let result = self.extract_new(store, artifact, key.clone());
        if let Ok(mut m) = self.extracting.lock() {
            m.remove(&key);
        }
        result
    }

    /// The extracted directory of a digest, if present (marking it used).
    fn cached(&self, key: &str) -> Option<Arc<PathBuf>> {
        let mut m = self.entries.lock().ok()?;
        let (dir, used) = m.get_mut(key)?;
        *used = Instant::now();
        Some(Arc::clone(dir))
    }

    fn extract_new(
        &self,
        store: &ArtifactStore,
        artifact: &Artifact,
        key: String,
    ) -> Result<Arc<PathBuf>, ReconcileError> {
        let fail = |e: String| {
            ReconcileError::ArtifactFailed(format!(
                "failed to extract artifact (revision {}): {e}",
                artifact.revision
            ))
        };
        let valid = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid {
            return Err(fail(format!("invalid digest '{}'", artifact.digest)));
        }
        let tmp = self
            .root
            .join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&tmp).map_err(|e| fail(e.to_string()))?;
        if let Err(e) = store.extract(artifact, &tmp) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(fail(e.to_string()));
        }
        let dir = self.root.join(&key);
        let Ok(mut m) = self.entries.lock() else {
            return Ok(Arc::new(tmp));
        };
        if let Some((existing, used)) = m.get_mut(&key) {
            // Another build extracted it meanwhile.
            *used = Instant::now();
            let _ = std::fs::remove_dir_all(&tmp);
            return Ok(Arc::clone(existing));
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir).map_err(|e| fail(e.to_string()))?;
        let dir = Arc::new(dir);
        m.insert(key, (Arc::clone(&dir), Instant::now()));
        let mut idle: Vec<(String, Instant)> = m
            .iter()
            .filter(|(_, (d, _))| Arc::strong_count(d) == 1)
            .map(|(k, (_, t))| (k.clone(), *t))
            .collect();
        if idle.len() > KEEP_EXTRACTED {
            idle.sort_by_key(|(_, t)| *t);
            for (k, _) in idle.iter().take(idle.len() - KEEP_EXTRACTED) {
                if let Some((d, _)) = m.remove(k) {
                    let _ = std::fs::remove_dir_all(d.as_path());
                }
            }
        }
        Ok(dir)
    }
}

impl Controller for KustomizationReconciler {
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = KIND;
    const COMPONENT: &'static str = "kustomize-controller";
    const SUSPENDED_RECORDS_REQUEST: bool = true;
    type Spec = KustomizationSpec;

    fn parse(&self, obj: &Value) -> Result<KustomizationSpec, Failure> {
        parse_kustomization(obj).map_err(|e| ReconcileError::from(e).into())
    }

    /// §3.2 steps 2–10; the status writer does step 11 and the events.
    async fn reconcile(&self, run: &mut Run, spec: KustomizationSpec) -> Result<Success, Failure> {
        let started = Instant::now();
        let result = self.steps(run, &spec).await;
        let revision = run
            .status()
            .get("lastAttemptedRevision")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        run.set_revision(&revision);
        result.map_err(|e| Failure::from(e).retry_after(spec.retry_interval))?;
        let finished = format!(
            "Reconciliation finished in {}, next run in {}",
            format_duration(round_ms(started.elapsed())),
            format_duration(spec.interval)
        );
        let applied = format!("Applied revision: {revision}");
        Ok(
            Success::ready(status::RECONCILIATION_SUCCEEDED, applied, spec.interval)
                .event(status::RECONCILIATION_SUCCEEDED, finished),
        )
    }

    async fn finalize(&self, obj: Value) {
        self.cleanup(obj).await
    }

    fn depends_on(&self, obj: &Value) -> Vec<crate::runtime::Dependency> {
        let Ok(spec) = parse_kustomization(obj) else {
            return Vec::new();
        };
        let mut keys = Vec::new();
        if let Some(k) = source_kind(&spec.source_ref.kind) {
            keys.push(ObjectKey::new(
                k.kind,
                &spec.source_ref.namespace,
                &spec.source_ref.name,
            ));
        }
        for d in &spec.depends_on {
            keys.push(ObjectKey::new("Kustomization", &d.namespace, &d.name));
        }
        keys.into_iter().map(Into::into).collect()
    }

    fn signal(&self, obj: &Value) -> Option<String> {
        let ready = crate::model::conditions::is_true(obj, crate::model::conditions::READY);
        let rev = obj
            .pointer("/status/lastAppliedRevision")
            .and_then(Value::as_str)
            .unwrap_or("");
        Some(format!("{ready}|{rev}"))
    }
}

/// Updates the Reconciling progress message for a later phase.
fn mark_phase(run: &mut Run, phase: Phase, revision: &str, spec: &KustomizationSpec) {
    let (generation, now) = (run.generation(), run.now());
    status::mark_phase(
        run.status_mut(),
        phase,
        revision,
        spec.timeout,
        generation,
        now,
    );
}

/// The runtime adapter of the Kustomization reconciler.
pub type KustomizationKind = Adapter<KustomizationReconciler>;
