//! The Application reconciler: a straight line of Argo's application-controller steps over the
//! runtime — skip-reconcile → spec → project → render (git + directory/kustomize/helm) →
//! compare → operation (requested, or automated) → sync → status — with the refresh annotation
//! handled and removed. It plugs into the runtime as a plain [`Reconciler`]: Argo's status has no
//! Ready/Reconciling conditions, so the Flux status writer is not used.

use futures::future::BoxFuture;
use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::compare::{Comparison, compare, prepare};
use super::live::Live;
use super::project::Project;
use super::source::{Repos, render_source};
use super::spec::{self, AppSpec, Retry, SyncOptions};
use super::status::{self, StatusWriter, stamp};
use super::strings;
use super::sync::{Selected, SyncRequest, Syncer};
use crate::model::kinds::KindInfo;
use crate::runtime::reconcile::kind_info;
use crate::runtime::{Next, Outcome, Reconciler, UnknownKind};

/// Tunables of the Application reconciler.
#[derive(Debug, Clone)]
pub struct ArgoOptions {
    /// How often an app is compared with Git and the cluster (Argo: `timeout.reconciliation`, 120 s
    /// plus jitter).
    pub resync: Duration,
    /// How often apps with `selfHeal` are compared (Argo reacts to its watch cache within seconds).
    pub self_heal_resync: Duration,
    /// How long a hook or a wave may take before the sync fails.
    pub hook_timeout: Duration,
    /// How often hooks and waves are polled.
    pub poll: Duration,
    /// Accept `file://` repository URLs (tests, local demos).
    pub allow_file_urls: bool,
    /// Least time between an automated sync and a self-heal sync of the same revision (Argo's
    /// `selfHealTimeoutSeconds`, 5 s), so a resource that never converges cannot sync in a loop.
    pub self_heal_timeout: Duration,
}

impl Default for ArgoOptions {
    fn default() -> Self {
        ArgoOptions {
            resync: Duration::from_secs(180),
            self_heal_resync: Duration::from_secs(10),
            hook_timeout: Duration::from_secs(300),
            poll: Duration::from_secs(1),
            allow_file_urls: false,
            self_heal_timeout: Duration::from_secs(5),
        }
    }
}

/// The condition types this controller sets (and clears).
const OWNED: &[&str] = &[
    strings::COMPARISON_ERROR,
    strings::INVALID_SPEC_ERROR,
    strings::SYNC_ERROR,
];

/// What the scheduler's last run left behind, to skip runs our own writes trigger.
struct Memo {
    generation: i64,
    at: Instant,
    retry_at: Option<Instant>,
}

struct Inner {
    client: kube::Client,
    live: Live,
    repos: Arc<Repos>,
    kind: &'static KindInfo,
    opts: ArgoOptions,
    writer: StatusWriter,
    memo: Mutex<HashMap<(String, String), Memo>>,
}

/// Argo CD's application-controller for one cluster.
pub struct ApplicationReconciler {
    inner: Arc<Inner>,
}

impl ApplicationReconciler {
    /// A reconciler over `client`, keeping git caches and checkouts under `dir`.
    pub fn new(
        client: kube::Client,
        dir: PathBuf,
        opts: ArgoOptions,
    ) -> Result<ApplicationReconciler, UnknownKind> {
        let kind = kind_info("argoproj.io", "Application")?;
        Ok(ApplicationReconciler {
            inner: Arc::new(Inner {
                live: Live::new(client.clone()),
                repos: Arc::new(Repos::new(dir, opts.allow_file_urls)),
                client,
                kind,
                opts,
                writer: StatusWriter::default(),
                memo: Mutex::new(HashMap::new()),
            }),
        })
    }
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

impl Reconciler for ApplicationReconciler {
    fn kind(&self) -> &'static KindInfo {
        self.inner.kind
    }
    fn version(&self) -> &'static str {
        "v1alpha1"
    }
    fn reconcile(&self, obj: Value) -> BoxFuture<'static, Outcome> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.run(obj).await })
    }
    fn finalize(&self, obj: Value) -> BoxFuture<'static, ()> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.cascade_delete(obj).await })
    }
    fn finalizer(&self) -> Option<&'static str> {
        // Argo CD's controllers add no finalizer of their own.
        None
    }
    fn wake_token(&self, obj: &Value) -> Option<String> {
        // A refresh request, and lifting skip-reconcile, are metadata-only changes.
        let refresh = annotation(obj, strings::REFRESH).unwrap_or("");
        let at = annotation(obj, "argocd.argoproj.io/refresh-timestamp").unwrap_or("");
        let skip = annotation(obj, strings::SKIP_RECONCILE).unwrap_or("");
        Some(format!("{refresh}@{at}|{skip}"))
    }
}

/// The request an `operation` describes.
fn request_from(op: &Value, spec: &AppSpec) -> SyncRequest {
    let sync = op.get("sync").cloned().unwrap_or(json!({}));
    let flag = |k: &str| sync.get(k).and_then(Value::as_bool).unwrap_or(false);
    let options = match sync.get("syncOptions") {
        Some(v) if v.is_array() => SyncOptions::parse(Some(v)),
        _ => spec.sync_options,
    };
    let resources = sync.get("resources").and_then(Value::as_array).map(|list| {
        list.iter()
            .map(|r| {
                let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                Selected {
                    group: s("group"),
                    kind: s("kind"),
                    name: s("name"),
                    namespace: s("namespace"),
                }
            })
            .collect()
    });
    SyncRequest {
        prune: flag("prune"),
        dry_run: flag("dryRun"),
        options,
        resources,
        namespace: spec.destination.namespace.clone(),
    }
}

/// The operation Argo's auto-sync would start, or None (with Argo's reasons to skip).
fn auto_sync(
    obj: &Value,
    spec: &AppSpec,
    cmp: &Comparison,
    self_heal_timeout: Duration,
) -> Option<Value> {
    let a = spec.automated?;
    if cmp.synced {
        return None;
    }
    if !a.prune
        && cmp
            .resources
            .iter()
            .filter(|m| !m.synced)
            .all(|m| m.requires_pruning)
    {
        // "need to prune extra resources only but automated prune is disabled"
        return None;
    }
    if !a.allow_empty && cmp.resources.iter().all(|m| m.desired.is_none()) {
        // "auto-sync will wipe out all resources"
        return None;
    }
    let last = obj.pointer("/status/operationState");
    let last_rev = last
        .and_then(|l| l.pointer("/syncResult/revision"))
        .and_then(Value::as_str);
    if last_rev == Some(cmp.revision.as_str()) {
        let ok = last.and_then(|l| l.get("phase")).and_then(Value::as_str)
            == Some(strings::PHASE_SUCCEEDED);
        if !ok || !a.self_heal {
            // Failed previous sync attempt to this revision, or already synced without selfHeal.
            return None;
        }
        let finished = last
            .and_then(|l| l.get("finishedAt"))
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok());
        if let Some(f) = finished {
            let since = Timestamp::now().duration_since(f);
            if since.as_secs_f64() < self_heal_timeout.as_secs_f64() {
                // Self-heal waits after the last sync; the next comparison retries.
                return None;
            }
        }
    }
    let mut sync = json!({"revision": cmp.revision});
    if a.prune {
        sync["prune"] = json!(true);
    }
    if spec.sync_options_raw.is_array() {
        sync["syncOptions"] = spec.sync_options_raw.clone();
    }
    let mut op = json!({"initiatedBy": {"automated": true}, "sync": sync});
    if spec.retry_raw.is_object() {
        op["retry"] = spec.retry_raw.clone();
    }
    Some(op)
}

impl Inner {
    /// Argo's cascading deletion: only with `resources-finalizer.argocd.argoproj.io`, every
    /// tracked resource of `status.resources` (except `Delete=false` ones) is deleted, then that
    /// finalizer is removed.
    async fn cascade_delete(&self, obj: Value) {
        let finalizers: Vec<String> = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if !finalizers.iter().any(|f| f == strings::RESOURCES_FINALIZER) {
            return;
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        for key in status::previous_keys(&obj) {
            let Ok(Some(live)) = self.live.get(&key.stub()).await else {
                continue;
            };
            let keep = super::sync::has_resource_option(&live, "Delete=false");
            if keep || !super::compare::tracked_by(&live, name, &key) {
                continue;
            }
            if let Err(e) = self.live.delete(&key.stub()).await {
                tracing::warn!(app = name, resource = %key.kubectl_name(), error = %e, "cascade delete failed");
                return;
            }
        }
        let rest: Vec<&String> = finalizers
            .iter()
            .filter(|f| *f != strings::RESOURCES_FINALIZER)
            .collect();
        let patch = json!({"metadata": {"finalizers": rest}});
        if let Err(e) = self
            .api(ns)
            .patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await
        {
            tracing::warn!(app = name, error = %e, "cannot remove the resources finalizer");
        }
    }

    fn api(&self, namespace: &str) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
            "applications",
        );
        Api::namespaced_with(self.client.clone(), namespace, &ar)
    }

    fn remember(&self, key: (String, String), written: &Value, retry_at: Option<Instant>) {
        let generation = written
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        self.memo.lock().unwrap_or_else(|e| e.into_inner()).insert(
            key,
            Memo {
                generation,
                at: Instant::now(),
                retry_at,
            },
        );
    }

    async fn run(self: Arc<Self>, obj: Value) -> Outcome {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if annotation(&obj, strings::SKIP_RECONCILE) == Some("true") {
            return Outcome::new(Next::Wait, "skip-reconcile");
        }
        let refresh = annotation(&obj, strings::REFRESH).map(str::to_string);
        let operation = obj.get("operation").filter(|o| o.is_object()).cloned();
        let generation = obj
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let parsed = spec::parse(&obj);
        let resync = match &parsed {
            Ok(s) if s.automated.is_some_and(|a| a.self_heal) => self.opts.self_heal_resync,
            _ => self.opts.resync,
        };
        let key = (ns.clone(), name.clone());
        {
            let memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(m) = memo.get(&key) {
                if let (Some(at), Some(_)) = (m.retry_at, &operation)
                    && at > Instant::now()
                {
                    return Outcome::new(
                        Next::After(at - Instant::now()),
                        "waiting to retry the sync",
                    );
                }
                if refresh.is_none()
                    && operation.is_none()
                    && m.generation == generation
                    && m.at.elapsed() < resync
                {
                    return Outcome::new(Next::After(resync - m.at.elapsed()), "up to date");
                }
            }
        }
        let api = self.api(&ns);
        let mut extra = json!({});
        if refresh.is_some() {
            extra["metadata"] = json!({"annotations": {strings::REFRESH: null}});
        }
        let (next, summary, written, retry_at) = match parsed {
            Err(e) => {
                let (w, s) = self
                    .stop(
                        &api,
                        &obj,
                        operation.as_ref(),
                        extra,
                        strings::INVALID_SPEC_ERROR,
                        &e.0,
                        None,
                    )
                    .await;
                (Next::After(resync), s, w, None)
            }
            Ok(spec) => {
                self.reconcile_app(&api, &obj, spec, operation, extra, resync)
                    .await
            }
        };
        if let Some(w) = written {
            self.remember(key, &w, retry_at);
        }
        Outcome::new(next, summary)
    }

    /// Ends a run that could not compare: the condition, `sync.status: Unknown`, and a requested
    /// operation failed with the same message (nothing applied or pruned).
    #[allow(clippy::too_many_arguments)]
    async fn stop(
        &self,
        api: &Api<DynamicObject>,
        obj: &Value,
        operation: Option<&Value>,
        mut extra: Value,
        condition: &str,
        message: &str,
        spec: Option<&AppSpec>,
    ) -> (Option<Value>, String) {
        let now = stamp(Timestamp::now());
        let mut st = obj.get("status").cloned().unwrap_or(json!({}));
        if !st.is_object() {
            st = json!({});
        }
        let mut sync = json!({"status": "Unknown"});
        if let Some(s) = spec {
            sync["comparedTo"] = status::compared_to(s);
            if let Some(r) = obj.pointer("/status/sync/revision") {
                sync["revision"] = r.clone();
            }
        }
        st["sync"] = sync;
        if st.pointer("/health/status").is_none() {
            st["health"] = json!({"status": "Unknown"});
        }
        st["conditions"] =
            status::conditions(obj, &[(condition, message.to_string())], OWNED, &now);
        st["reconciledAt"] = json!(now);
        if let Some(op) = operation {
            let text = format!("{condition}: {message}");
            st["operationState"] = json!({
                "operation": op, "phase": strings::PHASE_ERROR, "message": text,
                "startedAt": now, "finishedAt": now,
            });
            extra["operation"] = Value::Null;
        }
        let written = match self.writer.write(api, obj, &st, Some(extra)).await {
            Ok(w) => Some(w),
            Err(e) => return (None, format!("status write failed: {e}")),
        };
        (written, format!("{condition}: {message}"))
    }

    async fn reconcile_app(
        &self,
        api: &Api<DynamicObject>,
        obj: &Value,
        spec: AppSpec,
        operation: Option<Value>,
        mut extra: Value,
        resync: Duration,
    ) -> (Next, String, Option<Value>, Option<Instant>) {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        // Project.
        let project = match Project::load(&self.client, &ns, &spec.project).await {
            Ok(p) => p,
            Err(m) => {
                let (w, s) = self
                    .stop(
                        api,
                        obj,
                        operation.as_ref(),
                        extra,
                        strings::INVALID_SPEC_ERROR,
                        &m,
                        Some(&spec),
                    )
                    .await;
                return (Next::After(resync), s, w, None);
            }
        };
        if let Err(m) = project.check_app(&spec) {
            let (w, s) = self
                .stop(
                    api,
                    obj,
                    operation.as_ref(),
                    extra,
                    strings::INVALID_SPEC_ERROR,
                    &m,
                    Some(&spec),
                )
                .await;
            return (Next::After(resync), s, w, None);
        }
        // Render (the operation may pin another revision).
        let mut source = spec.source.clone();
        if let Some(rev) = operation
            .as_ref()
            .and_then(|o| o.pointer("/sync/revision"))
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            source.target_revision = rev.to_string();
        }
        let repos = Arc::clone(&self.repos);
        let (app, dest_ns) = (name.clone(), spec.destination.namespace.clone());
        let rendered =
            tokio::task::spawn_blocking(move || render_source(&repos, &source, &app, &dest_ns))
                .await
                .unwrap_or_else(|e| {
                    Err(super::source::RenderError(format!(
                        "render task failed: {e}"
                    )))
                });
        let rendered = match rendered {
            Ok(r) => r,
            Err(e) => {
                let (w, s) = self
                    .stop(
                        api,
                        obj,
                        operation.as_ref(),
                        extra,
                        strings::COMPARISON_ERROR,
                        &e.0,
                        Some(&spec),
                    )
                    .await;
                return (Next::Backoff(resync), s, w, None);
            }
        };
        let desired = match prepare(&self.live, &name, &spec, rendered.objects).await {
            Ok(d) => d,
            Err(m) => {
                let (w, s) = self
                    .stop(
                        api,
                        obj,
                        operation.as_ref(),
                        extra,
                        strings::COMPARISON_ERROR,
                        &m,
                        Some(&spec),
                    )
                    .await;
                return (Next::Backoff(resync), s, w, None);
            }
        };
        let previous = status::previous_keys(obj);
        let mut cmp = compare(
            &self.live,
            &name,
            &spec,
            rendered.revision.clone(),
            desired.clone(),
            &previous,
        )
        .await;
        let mut st = obj
            .get("status")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({}));
        let mut current = obj.clone();
        let mut conds: Vec<(&str, String)> = Vec::new();
        let mut retry_at = None;
        let mut next = Next::After(resync);
        let requested = operation.is_some();
        let op = operation.or_else(|| auto_sync(obj, &spec, &cmp, self.opts.self_heal_timeout));
        let mut summary = String::new();
        if let Some(op) = op {
            let continuing = obj
                .pointer("/status/operationState/phase")
                .and_then(Value::as_str)
                == Some(strings::PHASE_RUNNING)
                && obj.pointer("/status/operationState/operation") == Some(&op);
            let retries = if continuing {
                obj.pointer("/status/operationState/retryCount")
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as u32
            } else {
                0
            };
            let started = if continuing {
                obj.pointer("/status/operationState/startedAt")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| stamp(Timestamp::now()))
            } else {
                stamp(Timestamp::now())
            };
            st["operationState"] = json!({
                "operation": op, "phase": strings::PHASE_RUNNING,
                "message": strings::MSG_SYNC_RUNNING, "startedAt": started,
            });
            if retries > 0 {
                st["operationState"]["retryCount"] = json!(retries);
            }
            if let Ok(w) = self.writer.write(api, &current, &st, None).await {
                current = w;
            }
            let req = request_from(&op, &spec);
            let syncer = Syncer {
                live: &self.live,
                app: &name,
                project: &project,
                timeout: self.opts.hook_timeout,
                poll: self.opts.poll,
            };
            let outcome = syncer.run(&cmp, &req).await;
            let finished = stamp(Timestamp::now());
            let retry = Retry::parse(op.get("retry"));
            let may_retry = outcome.phase != strings::PHASE_SUCCEEDED
                && retry.is_some_and(|r| r.limit < 0 || i64::from(retries) < r.limit);
            if let (true, Some(r)) = (may_retry, retry) {
                let delay = r.delay(retries + 1);
                st["operationState"] = json!({
                    "operation": op, "phase": strings::PHASE_RUNNING,
                    "message": strings::retrying(retries + 1, &outcome.message),
                    "startedAt": started, "retryCount": retries + 1,
                    "syncResult": {"revision": cmp.revision, "source": spec.source.raw,
                        "resources": outcome.results.iter().map(|r| r.to_value()).collect::<Vec<_>>()},
                });
                if !requested {
                    // Auto-sync operations live on the object while they are retried, as in Argo.
                    extra["operation"] = op.clone();
                }
                retry_at = Some(Instant::now() + delay);
                next = Next::After(delay);
                summary = format!("sync failed, retrying in {delay:?}: {}", outcome.message);
            } else {
                st["operationState"] = status::operation_state(
                    &op,
                    &outcome,
                    &cmp.revision,
                    &spec,
                    &started,
                    &finished,
                    retries,
                );
                if outcome.phase == strings::PHASE_SUCCEEDED && !req.dry_run {
                    st["history"] =
                        status::history_with(obj, &spec, &cmp.revision, &op, &started, &finished);
                } else if outcome.phase != strings::PHASE_SUCCEEDED {
                    conds.push((strings::SYNC_ERROR, outcome.message.clone()));
                }
                if requested || obj.get("operation").is_some_and(Value::is_object) {
                    extra["operation"] = Value::Null;
                }
                summary = format!("sync {}: {}", outcome.phase, outcome.message);
            }
            // Compare again so the status shows the state the sync left.
            cmp = compare(
                &self.live,
                &name,
                &spec,
                rendered.revision.clone(),
                desired,
                &previous_after(&cmp),
            )
            .await;
        }
        let now = stamp(Timestamp::now());
        st["sync"] = json!({
            "status": if cmp.synced { "Synced" } else { "OutOfSync" },
            "revision": cmp.revision,
            "comparedTo": status::compared_to(&spec),
        });
        let (h, hmsg) = &cmp.health;
        let old_h = obj.pointer("/status/health/status").and_then(Value::as_str);
        let since = match (old_h, obj.pointer("/status/health/lastTransitionTime")) {
            (Some(o), Some(t)) if o == h.as_str() => t.clone(),
            _ => json!(now),
        };
        st["health"] = json!({"status": h.as_str(), "lastTransitionTime": since});
        if !hmsg.is_empty() {
            st["health"]["message"] = json!(hmsg);
        }
        st["resources"] = status::resources_value(&cmp);
        st["reconciledAt"] = json!(now);
        st["sourceType"] = json!(rendered.source_type);
        st["summary"] = if cmp.images.is_empty() {
            json!({})
        } else {
            json!({"images": cmp.images})
        };
        st["conditions"] = status::conditions(&current, &conds, OWNED, &now);
        if st["conditions"].as_array().is_some_and(Vec::is_empty)
            && let Some(m) = st.as_object_mut()
        {
            m.remove("conditions");
        }
        let written = match self.writer.write(api, &current, &st, Some(extra)).await {
            Ok(w) => Some(w),
            Err(e) => {
                return (
                    Next::Backoff(resync),
                    format!("status write failed: {e}"),
                    None,
                    None,
                );
            }
        };
        if summary.is_empty() {
            summary = format!(
                "{} {} at {}",
                if cmp.synced { "Synced" } else { "OutOfSync" },
                h.as_str(),
                short(&cmp.revision)
            );
        }
        (next, summary, written, retry_at)
    }
}

/// The keys to check for pruning after a sync: everything the comparison before it knew.
fn previous_after(cmp: &Comparison) -> Vec<super::compare::ResourceKey> {
    cmp.resources.iter().map(|m| m.key.clone()).collect()
}

fn short(rev: &str) -> &str {
    rev.get(..7).unwrap_or(rev)
}
