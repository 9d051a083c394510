//! Helm's release actions against a cluster — install, upgrade, rollback, uninstall — the way a
//! HelmRelease reconciler calls them: render with the native engine ([`crate::helm`]), record the
//! revision in Helm's storage ([`super::storage`]), run the hooks by weight, apply the manifests
//! with the apply layer (server-side apply as field manager `helm-controller`), prune what the new
//! revision no longer renders, wait with kstatus, and mark the revisions as helm does
//! (deployed/superseded/failed with Helm's descriptions).

use super::storage::{Storage, StorageError};
use crate::apply::health::HealthTarget;
use crate::apply::inventory::{Inventory, ObjectRef};
use crate::apply::policy::Owner;
use crate::apply::stages::apply_stages;
use crate::apply::{Applier, DeleteMode};
use crate::helm::gotime::GoTime;
use crate::helm::release::{self, Hook, Release, Status};
use crate::helm::{HelmError, TemplateOptions};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The field manager helm-controller applies with.
pub const FIELD_MANAGER: &str = "helm-controller";
/// The label group helm-controller marks a HelmRelease's objects with
/// (`helm.toolkit.fluxcd.io/name`, `helm.toolkit.fluxcd.io/namespace`).
pub const OWNER_GROUP: &str = "helm.toolkit.fluxcd.io";
/// Flux's `spec.maxHistory` default (the helm CLI's `--history-max` default is 10).
pub const DEFAULT_MAX_HISTORY: usize = 5;
/// Flux's `spec.timeout` default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Go's RFC 3339 layout with nanoseconds, as `time.Time` marshals to JSON.
const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";

/// Kinds that are never namespaced (no namespace is defaulted onto them).
const CLUSTER_KINDS: [&str; 14] = [
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "IngressClass",
    "RuntimeClass",
    "CSIDriver",
    "ValidatingAdmissionPolicy",
];

/// Errors of an action.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// Reading or writing release storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The chart did not render (nothing was recorded or applied).
    #[error("release {release}: {source}")]
    Render {
        /// The release name.
        release: String,
        /// The engine's error.
        #[source]
        source: HelmError,
    },
    /// The chart rendered something that is not a manifest helm can store.
    #[error("release {release}: {message}")]
    Manifest {
        /// The release name.
        release: String,
        /// What is wrong.
        message: String,
    },
    /// No release of that name.
    #[error("release: not found: {0}")]
    NotFound(String),
    /// `helm install` of a name in use.
    #[error("cannot re-use a name that is still in use: {0}")]
    InUse(String),
    /// An install/upgrade/rollback of this release is under way.
    #[error("another operation (install/upgrade/rollback) is in progress: {0}")]
    Pending(String),
    /// Upgrade of a release with no deployed revision.
    #[error("{0:?} has no deployed releases")]
    NoDeployed(String),
    /// A rollback target that does not exist.
    #[error("release {name}: revision {version} not found")]
    NoRevision {
        /// The release.
        name: String,
        /// The missing revision.
        version: u64,
    },
    /// The action ran and failed; its revision is recorded with status failed and this message
    /// as its description.
    #[error("{description}")]
    Failed {
        /// The failed revision as stored.
        release: Box<Release>,
        /// Helm's description (`Upgrade "x" failed: …`).
        description: String,
    },
}

/// What an action renders and how it deploys.
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    /// The release name.
    pub name: String,
    /// The namespace the objects go to (Helm's `--namespace`, Flux's `targetNamespace`).
    pub namespace: String,
    /// The user-supplied values (Helm's `config`).
    pub values: Map<String, Value>,
    /// Wait for the objects to be Current (kstatus) before marking the revision deployed.
    pub wait: bool,
    /// Timeout for hooks, waits and deletions.
    pub timeout: Duration,
    /// Revisions kept (0 = all).
    pub max_history: usize,
    /// Skip hooks.
    pub disable_hooks: bool,
    /// Keep the release records on uninstall (status uninstalled) instead of deleting them.
    pub keep_history: bool,
    /// Labels for the release record.
    pub labels: std::collections::BTreeMap<String, String>,
    /// How often waits poll.
    pub poll: Duration,
    /// The HelmRelease owning the objects (labels `helm.toolkit.fluxcd.io/name|namespace`).
    pub owner: Owner,
    /// Flux's `spec.postRenderers` (each `{kustomize: {patches, images}}`), applied in order to
    /// the rendered manifests (not hooks) through flotilla's kustomize engine.
    pub post_renderers: Vec<Value>,
}

impl ReleaseOptions {
    /// Options for release `name` in `namespace`, owned by the HelmRelease of the same name and
    /// namespace, with Flux's defaults.
    pub fn new(name: &str, namespace: &str) -> ReleaseOptions {
        ReleaseOptions {
            name: name.to_string(),
            namespace: namespace.to_string(),
            values: Map::new(),
            wait: false,
            timeout: DEFAULT_TIMEOUT,
            max_history: DEFAULT_MAX_HISTORY,
            disable_hooks: false,
            keep_history: false,
            labels: Default::default(),
            poll: Duration::from_millis(500),
            owner: Owner::new(OWNER_GROUP, name, namespace),
            post_renderers: Vec::new(),
        }
    }
}

/// The current time as helm writes it.
pub fn now() -> String {
    GoTime::now().format(RFC3339_NANO)
}

/// Runs release actions against one cluster, storing records in one storage namespace.
#[derive(Clone)]
pub struct Helm {
    applier: Applier,
    storage: Storage,
}

/// A rendered chart ready to record.
struct Render {
    chart: Value,
    manifest: String,
    objects: Vec<Value>,
    hooks: Vec<Hook>,
}

/// The chart as helm stores it in a release: metadata (Chart.yaml), default values, templates and
/// other files with base64 data.
pub fn chart_record(chart_dir: &Path) -> Result<Value, String> {
    let read = |rel: &str| std::fs::read(chart_dir.join(rel));
    let meta = read("Chart.yaml")
        .map_err(|e| format!("{}: {e}", chart_dir.join("Chart.yaml").display()))?;
    let metadata = crate::helm::yaml::parse_yaml_json(&String::from_utf8_lossy(&meta))
        .map_err(|e| format!("Chart.yaml: {e}"))?;
    let values = match read("values.yaml") {
        Ok(b) => crate::helm::yaml::parse_yaml_json(&String::from_utf8_lossy(&b))
            .map_err(|e| format!("values.yaml: {e}"))?,
        Err(_) => Value::Null,
    };
    let values = if values.is_object() {
        values
    } else {
        json!({})
    };
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(chart_dir.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            let r = rel.join(e.file_name());
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                // Subcharts are stored as their own chart objects by helm; not modelled here.
                if r != Path::new("charts") {
                    stack.push(r);
                }
            } else if ft.is_file()
                && let Ok(data) = std::fs::read(e.path())
            {
                files.push((r.to_string_lossy().replace('\\', "/"), data));
            }
        }
    }
    files.sort();
    let entry = |(n, d): &(String, Vec<u8>)| json!({"name": n, "data": STANDARD.encode(d)});
    let templates: Vec<Value> = files
        .iter()
        .filter(|(n, _)| n.starts_with("templates/"))
        .map(entry)
        .collect();
    let other: Vec<Value> = files
        .iter()
        .filter(|(n, _)| {
            !n.starts_with("templates/")
                && !matches!(
                    n.as_str(),
                    "Chart.yaml" | "values.yaml" | "values.schema.json" | "Chart.lock"
                )
        })
        .map(entry)
        .collect();
    let mut chart = json!({
        "metadata": metadata,
        "lock": null,
        "templates": templates,
        "values": values,
        "schema": null,
        "files": other,
    });
    if let Ok(schema) = read("values.schema.json") {
        chart["schema"] = Value::String(STANDARD.encode(schema));
    }
    Ok(chart)
}

/// Renders `NOTES.txt`-less `helm template` output for the release.
async fn render(
    chart_dir: &Path,
    opts: &ReleaseOptions,
    is_upgrade: bool,
) -> Result<Render, ActionError> {
    let mut topts = TemplateOptions {
        release_name: opts.name.clone(),
        namespace: opts.namespace.clone(),
        is_upgrade,
        ..TemplateOptions::default()
    };
    if !opts.values.is_empty() {
        topts.set_json = vec![Value::Object(opts.values.clone()).to_string()];
    }
    let dir = chart_dir.to_path_buf();
    let name = opts.name.clone();
    let text = tokio::task::spawn_blocking(move || crate::helm::template(&dir, &topts))
        .await
        .map_err(|e| ActionError::Manifest {
            release: name.clone(),
            message: format!("renderer task failed: {e}"),
        })?
        .map_err(|source| ActionError::Render {
            release: name.clone(),
            source,
        })?;
    let mut split = release::split_rendered(&text).map_err(|message| ActionError::Manifest {
        release: name.clone(),
        message,
    })?;
    if !opts.post_renderers.is_empty() {
        let (renderers, objects, manifest) = (
            opts.post_renderers.clone(),
            std::mem::take(&mut split.objects),
            std::mem::take(&mut split.manifest),
        );
        let (objects, manifest) =
            tokio::task::spawn_blocking(move || post_render(&renderers, objects, &manifest))
                .await
                .map_err(|e| ActionError::Manifest {
                    release: name.clone(),
                    message: format!("post-renderer task failed: {e}"),
                })?
                .map_err(|message| ActionError::Manifest {
                    release: name.clone(),
                    message,
                })?;
        split.objects = objects;
        split.manifest = manifest;
    }
    let chart = chart_record(chart_dir).map_err(|message| ActionError::Manifest {
        release: name,
        message,
    })?;
    Ok(Render {
        chart,
        manifest: split.manifest,
        objects: split.objects,
        hooks: split.hooks,
    })
}

/// Runs Flux's kustomize post-renderers over the rendered objects: each one is a kustomization
/// (`resources` = the objects, plus its `patches`/`images`) built by flotilla's kustomize engine.
/// Returns the objects and the manifest text rebuilt from them (each object keeps its template's
/// `# Source:` path when it still exists).
fn post_render(
    renderers: &[Value],
    mut objects: Vec<Value>,
    manifest: &str,
) -> Result<(Vec<Value>, String), String> {
    let key = |o: &Value| {
        let t = |p: &str| {
            o.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        (t("/kind"), t("/metadata/name"))
    };
    let mut sources = std::collections::HashMap::new();
    for (path, doc) in release::source_blocks(manifest) {
        if let Ok(v) = crate::helm::yaml::parse_yaml_json(&doc) {
            sources.insert(key(&v), path);
        }
    }
    for (i, r) in renderers.iter().enumerate() {
        let Some(k) = r.get("kustomize").and_then(Value::as_object) else {
            continue;
        };
        let dir = std::env::temp_dir().join(format!(
            "flotilla-post-render-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let result = (|| {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let stream = crate::kustomize::to_yaml_stream(&objects);
            std::fs::write(dir.join("resources.yaml"), stream)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            let mut kz = Map::new();
            kz.insert(
                "apiVersion".into(),
                json!("kustomize.config.k8s.io/v1beta1"),
            );
            kz.insert("kind".into(), json!("Kustomization"));
            kz.insert("resources".into(), json!(["resources.yaml"]));
            for field in [
                "patches",
                "images",
                "patchesStrategicMerge",
                "patchesJson6902",
            ] {
                if let Some(v) = k.get(field) {
                    kz.insert(field.into(), v.clone());
                }
            }
            std::fs::write(
                dir.join("kustomization.yaml"),
                Value::Object(kz).to_string(),
            )
            .map_err(|e| format!("{}: {e}", dir.display()))?;
            let opts = crate::kustomize::BuildOptions {
                order: crate::kustomize::SortOrder::Fifo,
                ..Default::default()
            };
            crate::kustomize::build(&dir, &opts).map_err(|e| format!("postRenderers[{i}]: {e}"))
        })();
        let _ = std::fs::remove_dir_all(&dir);
        objects = result?;
    }
    let mut text = String::new();
    for o in &objects {
        let path = sources
            .get(&key(o))
            .cloned()
            .unwrap_or_else(|| "post-renderer".to_string());
        text.push_str(&format!(
            "---\n# Source: {path}\n{}",
            crate::kustomize::to_yaml(o)
        ));
    }
    Ok((objects, text))
}

/// Sets the namespace (namespaced kinds), Helm's ownership label and annotations, and the
/// owner's labels on an object about to be applied.
fn prepare(mut obj: Value, opts: &ReleaseOptions) -> Value {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let namespaced = !CLUSTER_KINDS.contains(&kind);
    opts.owner.label(&mut obj);
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if namespaced
            && md
                .get("namespace")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            md.insert("namespace".into(), Value::String(opts.namespace.clone()));
        }
        if let Some(labels) = md.get_mut("labels").and_then(Value::as_object_mut) {
            labels.insert("app.kubernetes.io/managed-by".into(), json!("Helm"));
        }
        let ann = md
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if !ann.is_object() {
            *ann = Value::Object(Map::new());
        }
        if let Some(ann) = ann.as_object_mut() {
            ann.insert("meta.helm.sh/release-name".into(), json!(opts.name));
            ann.insert(
                "meta.helm.sh/release-namespace".into(),
                json!(opts.namespace),
            );
        }
    }
    obj
}

/// The objects of a stored release manifest, prepared like the ones applied.
fn release_objects(rel: &Release, opts: &ReleaseOptions) -> Result<Vec<Value>, ActionError> {
    release::manifest_objects(&rel.manifest)
        .map(|objs| objs.into_iter().map(|o| prepare(o, opts)).collect())
        .map_err(|message| ActionError::Manifest {
            release: rel.name.clone(),
            message,
        })
}

fn health_targets(objects: &[Value]) -> Vec<HealthTarget> {
    objects
        .iter()
        .map(|o| HealthTarget {
            object: ObjectRef::of(o),
            api_version: o
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
        .collect()
}

impl Helm {
    /// Actions with a client, storing records in `storage_namespace`.
    pub fn new(client: kube::Client, storage_namespace: &str) -> Helm {
        Helm {
            applier: Applier::with_field_manager(client.clone(), FIELD_MANAGER),
            storage: Storage::new(client, storage_namespace),
        }
    }

    /// The release storage.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// All revisions of `name`, oldest first.
    pub async fn history(&self, name: &str) -> Result<Vec<Release>, ActionError> {
        Ok(self.storage.history(name).await?)
    }

    /// Applies objects (staged SSA), waits for them when asked.
    async fn deploy(&self, objects: &[Value], opts: &ReleaseOptions) -> Result<(), String> {
        let stages = apply_stages(objects.to_vec(), &[]);
        let applier = self
            .applier
            .clone()
            .with_stage_wait(opts.poll, opts.timeout);
        applier
            .apply_stages(&stages, false)
            .await
            .map_err(|f| f.to_string())?;
        if opts.wait {
            self.applier
                .wait_healthy(&health_targets(objects), opts.timeout, opts.poll)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Deletes objects of `old` that `new` no longer has (Helm deletes what an upgrade dropped).
    async fn prune_dropped(
        &self,
        old: &[Value],
        new: &[Value],
        opts: &ReleaseOptions,
    ) -> Result<(), String> {
        let stale = Inventory::from_objects(old).stale(&Inventory::from_objects(new));
        if stale.is_empty() {
            return Ok(());
        }
        let out = self.applier.prune(&stale, &opts.owner).await;
        match out.error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Deletes one hook object if it exists (and the owner owns it).
    async fn delete_hook(&self, obj: &Value, opts: &ReleaseOptions) -> Result<(), String> {
        let inv = Inventory::from_objects(std::iter::once(obj));
        let out = self
            .applier
            .delete_inventory(
                &inv,
                DeleteMode::WaitForTermination,
                &opts.owner,
                opts.timeout,
            )
            .await;
        match out.error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs the hooks of `event` in weight order, recording each one's last run; stops at the
    /// first failure with Helm's message.
    async fn run_hooks(
        &self,
        rel: &mut Release,
        event: &str,
        opts: &ReleaseOptions,
    ) -> Result<(), String> {
        if opts.disable_hooks {
            return Ok(());
        }
        let order: Vec<(String, String)> = release::hooks_for(&rel.hooks, event)
            .iter()
            .map(|h| (h.path.clone(), h.name.clone()))
            .collect();
        for (path, name) in order {
            let Some(i) = rel
                .hooks
                .iter()
                .position(|h| h.path == path && h.name == name)
            else {
                continue;
            };
            let hook = rel.hooks[i].clone();
            let obj = crate::helm::yaml::parse_yaml_json(&hook.manifest)
                .map_err(|e| format!("{event} hook {path}: {e}"))?;
            let obj = prepare(obj, opts);
            let policies = &hook.delete_policies;
            // Helm's default policy is before-hook-creation.
            if policies.is_empty() || policies.iter().any(|p| p == "before-hook-creation") {
                self.delete_hook(&obj, opts)
                    .await
                    .map_err(|e| format!("{event} hooks failed: {e}"))?;
            }
            rel.hooks[i].last_run.started_at = now();
            rel.hooks[i].last_run.phase = "Running".into();
            let result = self
                .deploy(
                    std::slice::from_ref(&obj),
                    &ReleaseOptions {
                        wait: true,
                        ..opts.clone()
                    },
                )
                .await;
            rel.hooks[i].last_run.completed_at = now();
            let ok = result.is_ok();
            rel.hooks[i].last_run.phase = if ok { "Succeeded" } else { "Failed" }.into();
            let cleanup = if ok { "hook-succeeded" } else { "hook-failed" };
            if policies.iter().any(|p| p == cleanup) {
                self.delete_hook(&obj, opts)
                    .await
                    .map_err(|e| format!("{event} hooks failed: {e}"))?;
            }
            if let Err(e) = result {
                return Err(format!("{event} hooks failed: {e}"));
            }
        }
        Ok(())
    }

    /// Records a failure: the revision becomes failed with `description`.
    async fn fail(&self, mut rel: Release, description: String) -> ActionError {
        rel.info.status = Status::Failed;
        rel.info.description = description.clone();
        if let Err(e) = self.storage.update(&rel).await {
            return ActionError::Storage(e);
        }
        ActionError::Failed {
            release: Box::new(rel),
            description,
        }
    }

    /// Marks every deployed revision other than `keep` superseded.
    async fn supersede_others(&self, name: &str, keep: u64) -> Result<(), ActionError> {
        for mut r in self.storage.history(name).await? {
            if r.version != keep && r.info.status == Status::Deployed {
                r.info.status = Status::Superseded;
                self.storage.update(&r).await?;
            }
        }
        Ok(())
    }

    /// `helm install`: revision 1 (or the next one after an uninstalled/failed release kept in
    /// history) deployed with "Install complete"; a failure leaves it failed with
    /// `Release "NAME" failed: …`.
    pub async fn install(
        &self,
        chart_dir: &Path,
        opts: &ReleaseOptions,
    ) -> Result<Release, ActionError> {
        let history = self.storage.history(&opts.name).await?;
        if let Some(last) = history.last()
            && !matches!(last.info.status, Status::Uninstalled | Status::Failed)
        {
            return Err(ActionError::InUse(opts.name.clone()));
        }
        let r = render(chart_dir, opts, false).await?;
        let ts = now();
        let mut rel = Release {
            name: opts.name.clone(),
            namespace: opts.namespace.clone(),
            version: history.last().map_or(1, |l| l.version + 1),
            chart: r.chart,
            config: opts.values.clone(),
            manifest: r.manifest,
            hooks: r.hooks,
            labels: opts.labels.clone(),
            ..Release::default()
        };
        rel.info.first_deployed = ts.clone();
        rel.info.last_deployed = ts;
        rel.info.status = Status::PendingInstall;
        rel.info.description = "Initial install underway".into();
        self.storage.create(&rel).await?;
        let objects: Vec<Value> = r.objects.into_iter().map(|o| prepare(o, opts)).collect();
        let outcome = async {
            self.run_hooks(&mut rel, "pre-install", opts).await?;
            self.deploy(&objects, opts).await?;
            self.run_hooks(&mut rel, "post-install", opts).await
        }
        .await;
        if let Err(e) = outcome {
            let msg = format!("Release {:?} failed: {e}", opts.name);
            return Err(self.fail(rel, msg).await);
        }
        rel.info.status = Status::Deployed;
        rel.info.description = "Install complete".into();
        self.storage.update(&rel).await?;
        self.storage
            .prune_history(&opts.name, opts.max_history)
            .await?;
        Ok(rel)
    }

    /// The revision an upgrade or rollback replaces, and the latest revision.
    async fn current(&self, name: &str) -> Result<(Release, Release), ActionError> {
        let history = self.storage.history(name).await?;
        let Some(last) = history.last().cloned() else {
            return Err(ActionError::NotFound(name.to_string()));
        };
        if last.info.status.is_pending() {
            return Err(ActionError::Pending(name.to_string()));
        }
        let deployed = history
            .iter()
            .rev()
            .find(|r| r.info.status == Status::Deployed)
            .cloned();
        let current = match deployed {
            Some(d) => d,
            None if matches!(last.info.status, Status::Failed | Status::Superseded) => last.clone(),
            None => return Err(ActionError::NoDeployed(name.to_string())),
        };
        Ok((current, last))
    }

    /// `helm upgrade`: a new revision with the chart rendered from `values`; on success the
    /// previous deployed revision is superseded and the new one deployed ("Upgrade complete"); on
    /// failure the new one is failed (`Upgrade "NAME" failed: …`) and the previous stays deployed.
    pub async fn upgrade(
        &self,
        chart_dir: &Path,
        opts: &ReleaseOptions,
    ) -> Result<Release, ActionError> {
        let (current, last) = self.current(&opts.name).await?;
        let r = render(chart_dir, opts, true).await?;
        let old_objects = release_objects(&current, opts)?;
        let mut rel = Release {
            name: opts.name.clone(),
            namespace: opts.namespace.clone(),
            version: last.version + 1,
            chart: r.chart,
            config: opts.values.clone(),
            manifest: r.manifest,
            hooks: r.hooks,
            labels: opts.labels.clone(),
            ..Release::default()
        };
        rel.info.first_deployed = current.info.first_deployed.clone();
        rel.info.last_deployed = now();
        rel.info.status = Status::PendingUpgrade;
        rel.info.description = "Preparing upgrade".into();
        self.storage.create(&rel).await?;
        let objects: Vec<Value> = r.objects.into_iter().map(|o| prepare(o, opts)).collect();
        let outcome = async {
            self.run_hooks(&mut rel, "pre-upgrade", opts).await?;
            self.deploy(&objects, opts).await?;
            self.prune_dropped(&old_objects, &objects, opts).await?;
            self.run_hooks(&mut rel, "post-upgrade", opts).await
        }
        .await;
        if let Err(e) = outcome {
            let msg = format!("Upgrade {:?} failed: {e}", opts.name);
            return Err(self.fail(rel, msg).await);
        }
        self.supersede_others(&opts.name, rel.version).await?;
        rel.info.status = Status::Deployed;
        rel.info.description = "Upgrade complete".into();
        self.storage.update(&rel).await?;
        self.storage
            .prune_history(&opts.name, opts.max_history)
            .await?;
        Ok(rel)
    }

    /// `helm rollback NAME [REVISION]`: a new revision whose chart, values, manifest and hooks are
    /// revision `to`'s (default: the one before the latest), described `Rollback to N`.
    pub async fn rollback(
        &self,
        opts: &ReleaseOptions,
        to: Option<u64>,
    ) -> Result<Release, ActionError> {
        let (current, last) = self.current(&opts.name).await?;
        let to = to.unwrap_or(last.version.saturating_sub(1));
        let Some(target) = self.storage.get(&opts.name, to).await?.filter(|_| to > 0) else {
            return Err(ActionError::NoRevision {
                name: opts.name.clone(),
                version: to,
            });
        };
        let old_objects = release_objects(&current, opts)?;
        let objects = release_objects(&target, opts)?;
        let mut rel = target.clone();
        rel.version = last.version + 1;
        rel.labels = opts.labels.clone();
        rel.info.first_deployed = current.info.first_deployed.clone();
        rel.info.last_deployed = now();
        rel.info.deleted = String::new();
        rel.info.status = Status::PendingRollback;
        rel.info.description = format!("Rollback to {to}");
        for h in &mut rel.hooks {
            h.last_run = Default::default();
        }
        self.storage.create(&rel).await?;
        let outcome = async {
            self.run_hooks(&mut rel, "pre-rollback", opts).await?;
            self.deploy(&objects, opts).await?;
            self.prune_dropped(&old_objects, &objects, opts).await?;
            self.run_hooks(&mut rel, "post-rollback", opts).await
        }
        .await;
        if let Err(e) = outcome {
            let msg = format!("Rollback {:?} failed: {e}", opts.name);
            self.supersede_others(&opts.name, rel.version).await?;
            return Err(self.fail(rel, msg).await);
        }
        self.supersede_others(&opts.name, rel.version).await?;
        rel.info.status = Status::Deployed;
        self.storage.update(&rel).await?;
        self.storage
            .prune_history(&opts.name, opts.max_history)
            .await?;
        Ok(rel)
    }

    /// `helm test`: runs the latest revision's `test` hooks (by weight) and records their
    /// executions in that revision. Returns the revision and how many test hooks ran.
    pub async fn test(&self, opts: &ReleaseOptions) -> Result<(Release, usize), ActionError> {
        let Some(mut rel) = self.storage.last(&opts.name).await? else {
            return Err(ActionError::NotFound(opts.name.clone()));
        };
        let count = release::hooks_for(&rel.hooks, "test").len();
        let test_opts = ReleaseOptions {
            disable_hooks: false,
            ..opts.clone()
        };
        let outcome = self.run_hooks(&mut rel, "test", &test_opts).await;
        self.storage.update(&rel).await?;
        match outcome {
            Ok(()) => Ok((rel, count)),
            Err(description) => Err(ActionError::Failed {
                release: Box::new(rel),
                description,
            }),
        }
    }

    /// The objects of a stored revision as the actions apply them (namespace, Helm's and the
    /// owner's marks), for drift detection and diffs.
    pub fn objects_of(
        &self,
        rel: &Release,
        opts: &ReleaseOptions,
    ) -> Result<Vec<Value>, ActionError> {
        release_objects(rel, opts)
    }

    /// The objects the chart in `chart_dir` renders for `opts` now (hooks excluded), prepared as
    /// an install or upgrade would apply them; nothing is written (for `flotilla diff hr`).
    pub async fn desired_objects(
        chart_dir: &Path,
        opts: &ReleaseOptions,
        is_upgrade: bool,
    ) -> Result<Vec<Value>, ActionError> {
        let r = render(chart_dir, opts, is_upgrade).await?;
        Ok(r.objects.into_iter().map(|o| prepare(o, opts)).collect())
    }

    /// Installs the chart's `crds/` files (Helm installs them before the templates, unmanaged):
    /// only the absent ones (`replace` false, Flux's `Create`) or all of them with server-side
    /// apply (`CreateReplace`). Returns how many were applied.
    pub async fn apply_crds(
        &self,
        chart_dir: &Path,
        replace: bool,
        opts: &ReleaseOptions,
    ) -> Result<usize, String> {
        let dir = chart_dir.join("crds");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            })
            .collect();
        files.sort();
        let mut crds = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let docs = crate::kustomize::yaml::parse_documents(&text)
                .map_err(|e| format!("{}:{}:{}: {}", f.display(), e.line, e.column, e.message))?;
            crds.extend(docs.into_iter().filter(|d| d.is_object()));
        }
        let mut wanted = Vec::new();
        for crd in crds {
            if !replace {
                let api_version = crd.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                let present = self
                    .applier
                    .get(api_version, &ObjectRef::of(&crd))
                    .await
                    .map_err(|e| e.to_string())?;
                if present.is_some() {
                    continue;
                }
            }
            wanted.push(crd);
        }
        if wanted.is_empty() {
            return Ok(0);
        }
        let n = wanted.len();
        self.deploy(
            &wanted,
            &ReleaseOptions {
                wait: false,
                ..opts.clone()
            },
        )
        .await
        .map_err(|e| format!("failed to install CRDs: {e}"))?;
        Ok(n)
    }

    /// Re-applies objects (server-side apply with force, no wait): drift correction.
    pub async fn correct(&self, objects: &[Value], opts: &ReleaseOptions) -> Result<(), String> {
        self.deploy(
            objects,
            &ReleaseOptions {
                wait: false,
                ..opts.clone()
            },
        )
        .await
    }

    /// `helm uninstall`: runs the delete hooks, deletes the latest revision's objects (those the
    /// owner labels mark) and then deletes every record, or keeps them marked uninstalled
    /// ("Uninstallation complete") with `keep_history`. Returns the last revision.
    pub async fn uninstall(&self, opts: &ReleaseOptions) -> Result<Release, ActionError> {
        let history = self.storage.history(&opts.name).await?;
        let Some(mut rel) = history.last().cloned() else {
            return Err(ActionError::NotFound(opts.name.clone()));
        };
        rel.info.status = Status::Uninstalling;
        rel.info.deleted = now();
        rel.info.description = "Deletion in progress (or silently failed)".into();
        self.storage.update(&rel).await?;
        let objects = release_objects(&rel, opts)?;
        let outcome = async {
            self.run_hooks(&mut rel, "pre-delete", opts).await?;
            let mode = if opts.wait {
                DeleteMode::WaitForTermination
            } else {
                DeleteMode::Background
            };
            let out = self
                .applier
                .delete_inventory(
                    &Inventory::from_objects(&objects),
                    mode,
                    &opts.owner,
                    opts.timeout,
                )
                .await;
            if let Some(e) = out.error() {
                return Err(e);
            }
            self.run_hooks(&mut rel, "post-delete", opts).await
        }
        .await;
        if let Err(e) = outcome {
            let msg = format!("uninstallation completed with 1 error(s): {e}");
            return Err(self.fail(rel, msg).await);
        }
        rel.info.status = Status::Uninstalled;
        rel.info.description = "Uninstallation complete".into();
        if opts.keep_history {
            self.storage.update(&rel).await?;
        } else {
            for r in &history {
                self.storage.delete(&r.name, r.version).await?;
            }
        }
        Ok(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_get_helms_and_fluxs_marks_and_a_namespace() {
        let opts = ReleaseOptions::new("web", "apps");
        let o = prepare(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}}}),
            &opts,
        );
        assert_eq!(o["metadata"]["namespace"], "apps");
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "Helm"
        );
        assert_eq!(
            o["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"],
            "web"
        );
        assert_eq!(
            o["metadata"]["labels"]["helm.toolkit.fluxcd.io/namespace"],
            "apps"
        );
        assert_eq!(
            o["metadata"]["annotations"]["meta.helm.sh/release-name"],
            "web"
        );
        assert_eq!(
            o["metadata"]["annotations"]["meta.helm.sh/release-namespace"],
            "apps"
        );
        let ns = prepare(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}),
            &opts,
        );
        assert!(ns["metadata"].get("namespace").is_none());
    }

    #[test]
    fn post_renderers_patch_objects_and_keep_their_sources() {
        let manifest = "---\n# Source: web/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: \"1\"\n";
        let objects = release::manifest_objects(manifest).unwrap();
        let renderers = vec![json!({"kustomize": {"patches": [{
            "target": {"kind": "ConfigMap", "name": "c"},
            "patch": "- op: add\n  path: /data/b\n  value: \"2\"\n"
        }]}})];
        let (objs, text) = post_render(&renderers, objects, manifest).unwrap();
        assert_eq!(objs[0]["data"], json!({"a": "1", "b": "2"}));
        assert!(
            text.starts_with("---\n# Source: web/templates/cm.yaml\n"),
            "{text}"
        );
        assert_eq!(release::manifest_objects(&text).unwrap(), objs);
        let bad = vec![json!({"kustomize": {"patches": [{"patch": "not: [valid"}]}})];
        let err = post_render(&bad, objs, &text).unwrap_err();
        assert!(err.starts_with("postRenderers[0]: "), "{err}");
    }

    #[test]
    fn times_are_gos_rfc3339_nano() {
        let t = now();
        assert!(t.len() >= 20 && t.as_bytes()[10] == b'T', "{t}");
        assert!(GoTime::parse(RFC3339_NANO, &t).is_ok());
    }
}
