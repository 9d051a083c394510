//! The HelmRelease reconciler (`helm.toolkit.fluxcd.io/v2`), helm-controller's steps as a straight
//! line: dependencies → the chart (a HelmChart it owns, or `chartRef`) and its artifact → values →
//! the next action decided from release storage (install, upgrade, nothing) → the action with
//! Flux's remediation (rollback/uninstall, retries) → tests → drift detection → status (history
//! snapshots, inventory, counters) and events. A failed fetch, render or values read never
//! touches the deployed release.

use super::actions::{ActionError, Helm, OWNER_GROUP, ReleaseOptions};
use super::drift;
use super::spec::{self, ChartSource, ChartTemplate, HelmReleaseSpec, ObjRef};
use super::strings as s;
use super::values;
use crate::apply::inventory::Inventory;
use crate::apply::policy::Owner;
use crate::controllers::source::Artifact;
use crate::controllers::source::ArtifactStore;
use crate::helm::release::{Release, Status};
use crate::model::conditions::{self, ConditionStatus};
use crate::model::kinds;
use crate::model::time::format_duration;
use crate::runtime::events::EventType;
use crate::runtime::status_io::{EventNote, Events};
use crate::runtime::{Adapter, Controller, Failure, ObjectKey, Run, Success, rest};
use http::Method;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

const GROUP: &str = "helm.toolkit.fluxcd.io";
const KIND: &str = "HelmRelease";
const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
/// helm-controller's `--requeue-dependency` default.
const REQUEUE_DEPENDENCY: Duration = Duration::from_secs(5);
/// Largest chart archive fetched (source-controller's default artifact limit is larger; charts
/// are small).
const MAX_CHART_BYTES: u64 = 64 << 20;
/// `reconcile.fluxcd.io/forceAt`.
const FORCE_AT: &str = "reconcile.fluxcd.io/forceAt";
/// `reconcile.fluxcd.io/resetAt`.
const RESET_AT: &str = "reconcile.fluxcd.io/resetAt";

/// Reconciles HelmRelease objects of one cluster.
pub struct HelmReleaseReconciler {
    client: kube::Client,
    config: Option<kube::Config>,
    impersonating: Mutex<HashMap<String, kube::Client>>,
    store: ArtifactStore,
    work_dir: PathBuf,
    poll: Duration,
    events: Events,
}

/// A chart ready to render: its directory and metadata.
struct LoadedChart {
    dir: PathBuf,
    name: String,
    version: String,
    /// The source artifact's digest (OCIRepository revisions carry it).
    digest: String,
}

/// The action a run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Install,
    Upgrade,
    None,
}

impl HelmReleaseReconciler {
    /// A reconciler reading chart artifacts from `store` (or their URLs) and unpacking them
    /// below `work_dir`; waits poll every `poll`.
    pub fn new(client: kube::Client, store: ArtifactStore, work_dir: PathBuf) -> Self {
        let _ = std::fs::remove_dir_all(work_dir.join("charts"));
        HelmReleaseReconciler {
            events: Events::new(client.clone(), "helm-controller"),
            client,
            config: None,
            impersonating: Mutex::new(HashMap::new()),
            store,
            work_dir,
            poll: Duration::from_secs(2),
        }
    }

    /// Uses `config` to impersonate `spec.serviceAccountName`.
    pub fn with_config(mut self, config: kube::Config) -> Self {
        self.config = Some(config);
        self
    }

    /// How often kstatus waits poll (default 2 s).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The client acting as the release's service account (Flux's impersonation), or the
    /// controller's own.
    fn client_for(&self, spec: &HelmReleaseSpec, namespace: &str) -> Result<kube::Client, String> {
        let Some(sa) = &spec.service_account_name else {
            return Ok(self.client.clone());
        };
        let user = format!("system:serviceaccount:{namespace}:{sa}");
        if let Ok(m) = self.impersonating.lock()
            && let Some(c) = m.get(&user)
        {
            return Ok(c.clone());
        }
        let Some(config) = &self.config else {
            return Err(format!(
                "cannot impersonate service account '{namespace}/{sa}': this controller has no kubeconfig for the cluster"
            ));
        };
        let mut config = config.clone();
        config.auth_info.impersonate = Some(user.clone());
        let client = kube::Client::try_from(config)
            .map_err(|e| format!("failed to build a client impersonating '{user}': {e}"))?;
        if let Ok(mut m) = self.impersonating.lock() {
            m.insert(user, client.clone());
        }
        Ok(client)
    }

    /// Every dependency must be a Ready HelmRelease at its current generation.
    async fn check_dependencies(&self, spec: &HelmReleaseSpec) -> Result<(), Failure> {
        for d in &spec.depends_on {
            let path = format!(
                "/apis/{GROUP}/v2/namespaces/{}/helmreleases/{}",
                rest::escape(&d.namespace),
                rest::escape(&d.name)
            );
            let ready = match rest::send(&self.client, Method::GET, &path, None, Vec::new()).await {
                Ok(o) => {
                    let generation = o.pointer("/metadata/generation").and_then(Value::as_i64);
                    let observed = o
                        .pointer("/status/observedGeneration")
                        .and_then(Value::as_i64);
                    generation == observed && conditions::is_true(&o, conditions::READY)
                }
                Err(_) => false,
            };
            if !ready {
                return Err(Failure::waiting(
                    s::DEPENDENCY_NOT_READY,
                    s::dependency_not_ready(&d.namespace, &d.name),
                    REQUEUE_DEPENDENCY,
                ));
            }
        }
        Ok(())
    }

    /// Creates or updates the HelmChart a `chart.spec` release owns (server-side apply as
    /// helm-controller), returning its reference.
    async fn ensure_chart(
        &self,
        run: &Run,
        tmpl: &ChartTemplate,
        interval: &str,
    ) -> Result<ObjRef, Failure> {
        let name = spec::helm_chart_name(run.namespace(), run.name());
        let ns = tmpl.source.namespace.clone();
        let mut chart_spec = json!({
            "chart": tmpl.chart,
            "version": tmpl.version,
            "sourceRef": {"kind": tmpl.source.kind, "name": tmpl.source.name},
            "interval": tmpl.interval.clone().unwrap_or_else(|| interval.to_string()),
            "reconcileStrategy": tmpl.reconcile_strategy.clone().unwrap_or_else(|| "ChartVersion".into()),
        });
        if !tmpl.values_files.is_empty() {
            chart_spec["valuesFiles"] = json!(tmpl.values_files);
        }
        if tmpl.ignore_missing_values_files {
            chart_spec["ignoreMissingValuesFiles"] = json!(true);
        }
        let mut metadata = json!({"name": name, "namespace": ns});
        if let Some(md) = &tmpl.metadata {
            for key in ["labels", "annotations"] {
                if let Some(m) = md.get(key).filter(|m| m.is_object()) {
                    metadata[key] = m.clone();
                }
            }
        }
        let body = json!({
            "apiVersion": format!("{SOURCE_GROUP}/v1"),
            "kind": "HelmChart",
            "metadata": metadata,
            "spec": chart_spec,
        });
        let path = format!(
            "/apis/{SOURCE_GROUP}/v1/namespaces/{}/helmcharts/{}{}",
            rest::escape(&ns),
            rest::escape(&name),
            rest::query(&[("fieldManager", "helm-controller"), ("force", "true")])
        );
        rest::send(
            &self.client,
            Method::PATCH,
            &path,
            Some(rest::APPLY_PATCH),
            body.to_string().into_bytes(),
        )
        .await
        .map_err(|e| {
            Failure::transient(
                s::ARTIFACT_FAILED,
                format!("failed to create HelmChart '{ns}/{name}': {e}"),
            )
        })?;
        Ok(ObjRef {
            kind: "HelmChart".into(),
            name,
            namespace: ns,
        })
    }

    /// The chart source object; waits while it has no current artifact.
    async fn source_object(&self, r: &ObjRef) -> Result<Value, Failure> {
        let Some(info) = kinds::by_group_kind(SOURCE_GROUP, &r.kind) else {
            return Err(Failure::terminal(
                s::ARTIFACT_FAILED,
                format!("source kind '{}' is not known to this cluster", r.kind),
            ));
        };
        let version = if r.kind == "OCIRepository" {
            "v1"
        } else {
            info.versions.first().copied().unwrap_or("v1")
        };
        let path = format!(
            "/apis/{SOURCE_GROUP}/{version}/namespaces/{}/{}/{}",
            rest::escape(&r.namespace),
            info.plural,
            rest::escape(&r.name)
        );
        let obj = match rest::send(&self.client, Method::GET, &path, None, Vec::new()).await {
            Ok(o) => o,
            Err(e) if rest::is_not_found(&e) => {
                return Err(Failure::waiting(
                    s::ARTIFACT_FAILED,
                    format!(
                        "could not get Source object: {} '{}/{}' not found",
                        r.kind, r.namespace, r.name
                    ),
                    REQUEUE_DEPENDENCY,
                ));
            }
            Err(e) => {
                return Err(Failure::transient(
                    s::ARTIFACT_FAILED,
                    format!("could not get Source object: {e}"),
                ));
            }
        };
        let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
        let observed = obj
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64);
        let has_artifact = obj.pointer("/status/artifact").is_some();
        if generation != observed || !conditions::is_true(&obj, conditions::READY) || !has_artifact
        {
            let mut msg = s::chart_not_ready(&r.kind, &r.namespace, &r.name);
            if let Some(c) = conditions::condition(&obj, conditions::READY)
                && c.status == ConditionStatus::False
                && !c.message.is_empty()
            {
                msg = format!("{msg}: {}", c.message);
            }
            return Err(Failure::waiting(
                s::SOURCE_NOT_READY,
                msg,
                REQUEUE_DEPENDENCY,
            ));
        }
        Ok(obj)
    }

    /// The chart archive of a source: from this controller's artifact store when the artifact
    /// is there, else downloaded from `status.artifact.url`; verified against its digest and
    /// unpacked once per digest.
    async fn load_chart(&self, source: &Value) -> Result<LoadedChart, Failure> {
        let fail = |m: String| Failure::transient(s::ARTIFACT_FAILED, m);
        let a = source.pointer("/status/artifact").unwrap_or(&Value::Null);
        let digest = a
            .get("digest")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let hex = digest.trim_start_matches("sha256:").to_string();
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fail(format!(
                "artifact of the chart source has no sha256 digest ({digest:?})"
            )));
        }
        let dir = self.work_dir.join("charts").join(&hex);
        if !dir.join("Chart.yaml").is_file() {
            let local = Artifact::from_status(a)
                .and_then(|art| self.store.path_of(&art.path).ok())
                .filter(|p| p.is_file());
            let bytes = match local {
                Some(p) => {
                    let b = tokio::fs::read(&p).await.map_err(|e| {
                        fail(format!("failed to read artifact {}: {e}", p.display()))
                    })?;
                    crate::controllers::source::artifact::verify_digest(
                        &b,
                        &digest,
                        &p.display().to_string(),
                    )
                    .map_err(fail)?;
                    b
                }
                None => {
                    let url = a.get("url").and_then(Value::as_str).unwrap_or("");
                    crate::controllers::source::artifact::download(
                        url,
                        &digest,
                        MAX_CHART_BYTES,
                        Duration::from_secs(60),
                    )
                    .await
                    .map_err(|e| fail(format!("failed to download artifact: {e}")))?
                }
            };
            let d = dir.clone();
            tokio::task::spawn_blocking(move || unpack_chart(&bytes, &d))
                .await
                .map_err(|e| fail(format!("failed to unpack chart: {e}")))?
                .map_err(|e| fail(format!("failed to load chart: {e}")))?;
        }
        let meta = std::fs::read_to_string(dir.join("Chart.yaml"))
            .map_err(|e| fail(format!("failed to load chart: Chart.yaml: {e}")))?;
        let meta = crate::helm::yaml::parse_yaml_json(&meta)
            .map_err(|e| fail(format!("failed to load chart: Chart.yaml: {e}")))?;
        let field = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Ok(LoadedChart {
            dir,
            name: field("name"),
            version: field("version"),
            digest,
        })
    }

    /// The whole run after parsing.
    async fn steps(&self, run: &mut Run, spec: &HelmReleaseSpec) -> Result<Success, Failure> {
        run.progressing(s::FULFILLING_PREREQUISITES);
        run.write().await;
        self.check_dependencies(spec).await?;

        let chart_ref = match &spec.chart {
            ChartSource::Template(t) => {
                let interval = run
                    .object()
                    .pointer("/spec/interval")
                    .and_then(Value::as_str)
                    .unwrap_or("10m")
                    .to_string();
                let r = self.ensure_chart(run, t, &interval).await?;
                run.set("helmChart", json!(format!("{}/{}", r.namespace, r.name)));
                r
            }
            ChartSource::Ref(r) => {
                run.remove("helmChart");
                r.clone()
            }
        };
        let source = self.source_object(&chart_ref).await?;
        let chart = self.load_chart(&source).await?;
        let revision = if chart_ref.kind == "OCIRepository" {
            format!(
                "{}+{}",
                chart.version,
                chart.digest.trim_start_matches("sha256:")
            )
        } else {
            chart.version.clone()
        };
        run.set_revision(&chart.version);

        let client = self
            .client_for(spec, run.namespace())
            .map_err(|m| Failure::transient(s::INIT_FAILED, m))?;
        let composed = values::compose(
            &self.client,
            run.namespace(),
            &spec.values_from,
            &spec.values,
        )
        .await
        .map_err(|m| Failure::transient(s::INIT_FAILED, m))?;
        let digest = values::config_digest(&composed);
        let post_digest = post_renderers_digest(&spec.post_renderers);

        // Failure counters restart when what is attempted changes, or on resetAt.
        let st = run.status().clone();
        let prev_rev = st.get("lastAttemptedRevision").and_then(Value::as_str);
        let prev_digest = st.get("lastAttemptedConfigDigest").and_then(Value::as_str);
        let prev_gen = st.get("lastAttemptedGeneration").and_then(Value::as_i64);
        let changed = prev_rev != Some(revision.as_str())
            || prev_digest != Some(digest.as_str())
            || prev_gen != Some(run.generation());
        let reset = annotation(run.object(), RESET_AT)
            .filter(|t| st.get("lastHandledResetAt").and_then(Value::as_str) != Some(t.as_str()));
        if changed || reset.is_some() {
            for k in ["failures", "installFailures", "upgradeFailures"] {
                run.remove(k);
            }
        }
        if let Some(t) = reset {
            run.set("lastHandledResetAt", json!(t));
        }
        let force = annotation(run.object(), FORCE_AT).filter(|t| {
            st.get("lastHandledForceAt").and_then(Value::as_str) != Some(t.as_str())
                && run.requested_at() == Some(t.as_str())
        });
        if let Some(t) = &force {
            run.set("lastHandledForceAt", json!(t));
        }
        run.set("lastAttemptedRevision", json!(revision));
        if chart_ref.kind == "OCIRepository" {
            run.set("lastAttemptedRevisionDigest", json!(chart.digest));
        }
        run.set("lastAttemptedConfigDigest", json!(digest));
        run.remove("lastAttemptedValuesChecksum");
        run.set("lastAttemptedGeneration", json!(run.generation()));
        run.set("storageNamespace", json!(spec.storage_namespace));

        let helm = Helm::new(client.clone(), &spec.storage_namespace);
        let mut history = helm
            .history(&spec.release_name)
            .await
            .map_err(|e| Failure::transient(s::GET_LAST_RELEASE_FAILED, e.to_string()))?;
        // A release left pending by an interrupted run is unlocked (marked failed) first.
        if let Some(last) = history.last_mut()
            && last.info.status.is_pending()
        {
            last.info.status = Status::Failed;
            last.info.description = "Release unlocked from stale state".into();
            helm.storage()
                .update(last)
                .await
                .map_err(|e| Failure::transient(s::GET_LAST_RELEASE_FAILED, e.to_string()))?;
        }
        // New post-renderers change the objects without changing chart or values: upgrade.
        let observed_post = st
            .get("observedPostRenderersDigest")
            .and_then(Value::as_str);
        let post_changed = !history.is_empty() && observed_post != post_digest.as_deref();
        let next = decide(&history, &chart, &digest, force.is_some() || post_changed);
        let opts = release_options(run, spec, composed, self.poll);

        let result = match next {
            Next::None => {
                self.detect_drift(run, spec, &helm, &opts, &history).await;
                Ok(())
            }
            Next::Install | Next::Upgrade => {
                self.release(run, spec, &helm, &opts, &chart, next).await
            }
        };
        let history = helm.history(&spec.release_name).await.unwrap_or_default();
        write_history(run, &history, spec.max_history);
        if let Some(latest) = history
            .iter()
            .rev()
            .find(|r| r.info.status == Status::Deployed)
            && let Ok(objects) = helm.objects_of(latest, &opts)
        {
            run.set("inventory", Inventory::from_objects(&objects).to_value());
        }
        result?;
        match &post_digest {
            Some(d) => run.set("observedPostRenderersDigest", json!(d)),
            None => run.remove("observedPostRenderersDigest"),
        }
        let ready = conditions::condition(&json!({"status": run.status().clone()}), s::RELEASED);
        let (reason, message) = match ready {
            Some(c) if c.status == ConditionStatus::True => (c.reason, c.message),
            _ => (
                s::UPGRADE_SUCCEEDED.to_string(),
                "Release reconciliation succeeded".to_string(),
            ),
        };
        let event = (next != Next::None).then(|| message.clone());
        let mut ok = Success::ready(&reason, message, spec.interval);
        if let Some(m) = &event {
            ok = ok.event(&reason, m.clone());
        }
        Ok(ok)
    }

    /// Installs or upgrades, with tests and Flux's remediation.
    async fn release(
        &self,
        run: &mut Run,
        spec: &HelmReleaseSpec,
        helm: &Helm,
        base: &ReleaseOptions,
        chart: &LoadedChart,
        next: Next,
    ) -> Result<(), Failure> {
        let upgrade = next == Next::Upgrade;
        let (action, act_name, counter) = if upgrade {
            (&spec.upgrade, "upgrade", "upgradeFailures")
        } else {
            (&spec.install, "install", "installFailures")
        };
        let count = |run: &Run, k: &str| run.status().get(k).and_then(Value::as_u64).unwrap_or(0);
        let failures_so_far = count(run, counter);
        if action.remediation.exhausted(failures_so_far) {
            return Err(Failure::terminal(
                s::RETRIES_EXCEEDED,
                s::retries_exceeded(act_name, failures_so_far),
            ));
        }
        let mut opts = base.clone();
        opts.timeout = action.timeout;
        opts.wait = !action.disable_wait;
        opts.disable_hooks = action.disable_hooks;
        run.progressing(&s::running_action(
            act_name,
            &format_duration(action.timeout),
        ));
        run.write().await;
        run.set("lastAttemptedReleaseAction", json!(act_name));
        let ns_name = format!("{}/{}", opts.namespace, opts.name);
        let versioned = s::versioned_chart(&chart.name, &chart.version);
        if action.crds != spec::CrdPolicy::Skip {
            let replace = action.crds == spec::CrdPolicy::CreateReplace;
            if let Err(err) = helm.apply_crds(&chart.dir, replace, &opts).await {
                // Nothing of the release was recorded: no remediation, retried.
                let (reason, msg) = if upgrade {
                    (
                        s::UPGRADE_FAILED,
                        s::upgrade_failed(&ns_name, &versioned, &err),
                    )
                } else {
                    (
                        s::INSTALL_FAILED,
                        s::install_failed(&ns_name, &versioned, &err),
                    )
                };
                run.set_condition(s::RELEASED, ConditionStatus::False, reason, &msg);
                return Err(Failure::transient(reason, msg));
            }
        }
        let outcome = if upgrade {
            helm.upgrade(&chart.dir, &opts).await
        } else {
            helm.install(&chart.dir, &opts).await
        };
        match outcome {
            Ok(rel) => {
                let full = s::full_release_name(&rel.namespace, &rel.name, rel.version);
                let (reason, msg) = if upgrade {
                    (
                        s::UPGRADE_SUCCEEDED,
                        s::upgrade_succeeded(&full, &versioned),
                    )
                } else {
                    (
                        s::INSTALL_SUCCEEDED,
                        s::install_succeeded(&full, &versioned),
                    )
                };
                run.set_condition(s::RELEASED, ConditionStatus::True, reason, &msg);
                run.remove_condition(s::REMEDIATED);
                if spec.test {
                    self.run_tests(run, spec, helm, &opts, &full, &versioned)
                        .await?;
                } else {
                    run.remove_condition(s::TEST_SUCCESS);
                }
                Ok(())
            }
            Err(e) => {
                let err = action_error_text(&e);
                let (reason, msg) = if upgrade {
                    (
                        s::UPGRADE_FAILED,
                        s::upgrade_failed(&ns_name, &versioned, &err),
                    )
                } else {
                    (
                        s::INSTALL_FAILED,
                        s::install_failed(&ns_name, &versioned, &err),
                    )
                };
                run.set_condition(s::RELEASED, ConditionStatus::False, reason, &msg);
                // Nothing was recorded: a render error is not a release failure to remediate.
                if !matches!(e, ActionError::Failed { .. }) {
                    return Err(Failure::transient(reason, msg));
                }
                let n = count(run, counter) + 1;
                run.set(counter, json!(n));
                run.set("failures", json!(count(run, "failures") + 1));
                let exhausted = action.remediation.exhausted(n);
                let remediate = !exhausted || action.remediation.remediate_last(upgrade);
                let mut shown = (reason.to_string(), msg.clone());
                if remediate {
                    run.record(EventType::Warning, reason, &msg);
                    let (r, m, ok) = self.remediate(spec, helm, &opts, upgrade, &ns_name).await;
                    let status = if ok {
                        ConditionStatus::True
                    } else {
                        ConditionStatus::False
                    };
                    run.set_condition(s::REMEDIATED, status, &r, &m);
                    shown = (r, m);
                }
                if exhausted {
                    if remediate {
                        run.record(EventType::Normal, &shown.0, &shown.1);
                    } else {
                        run.record(EventType::Warning, &shown.0, &shown.1);
                    }
                    return Err(Failure::terminal(
                        s::RETRIES_EXCEEDED,
                        s::retries_exceeded(act_name, n),
                    ));
                }
                Err(Failure::transient(&shown.0, shown.1))
            }
        }
    }

    /// Rolls back (or uninstalls) after a failed action: (reason, message, succeeded).
    async fn remediate(
        &self,
        spec: &HelmReleaseSpec,
        helm: &Helm,
        opts: &ReleaseOptions,
        upgrade: bool,
        ns_name: &str,
    ) -> (String, String, bool) {
        let history = helm.history(&opts.name).await.unwrap_or_default();
        if upgrade && !spec.upgrade.remediation.uninstall {
            let Some(prev) = history
                .iter()
                .rev()
                .find(|r| r.info.status == Status::Deployed)
                .cloned()
            else {
                return (
                    s::ROLLBACK_FAILED.into(),
                    format!(
                        "Helm rollback failed for release {ns_name}: no previous deployed release"
                    ),
                    false,
                );
            };
            let full = s::full_release_name(&prev.namespace, &prev.name, prev.version);
            let chart = s::versioned_chart(prev.chart_meta("name"), prev.chart_meta("version"));
            let mut ro = opts.clone();
            ro.timeout = spec.rollback.timeout;
            ro.wait = !spec.rollback.disable_wait;
            match helm.rollback(&ro, Some(prev.version)).await {
                Ok(_) => (
                    s::ROLLBACK_SUCCEEDED.into(),
                    s::rollback_succeeded(&full, &chart),
                    true,
                ),
                Err(e) => (
                    s::ROLLBACK_FAILED.into(),
                    s::rollback_failed(&full, &chart, &action_error_text(&e)),
                    false,
                ),
            }
        } else {
            let Some(last) = history.last().cloned() else {
                return (
                    s::UNINSTALL_FAILED.into(),
                    format!("Helm uninstall failed for release {ns_name}: release not found"),
                    false,
                );
            };
            let full = s::full_release_name(&last.namespace, &last.name, last.version);
            let chart = s::versioned_chart(last.chart_meta("name"), last.chart_meta("version"));
            let mut uo = opts.clone();
            uo.timeout = spec.uninstall.timeout;
            uo.wait = !spec.uninstall.disable_wait;
            uo.keep_history = spec.uninstall.keep_history;
            match helm.uninstall(&uo).await {
                Ok(_) => (
                    s::UNINSTALL_SUCCEEDED.into(),
                    s::uninstall_succeeded(&full, &chart),
                    true,
                ),
                Err(e) => (
                    s::UNINSTALL_FAILED.into(),
                    s::uninstall_failed(&full, &chart, &action_error_text(&e)),
                    false,
                ),
            }
        }
    }

    /// `spec.test`: the test hooks of the new revision; TestSuccess.
    async fn run_tests(
        &self,
        run: &mut Run,
        spec: &HelmReleaseSpec,
        helm: &Helm,
        opts: &ReleaseOptions,
        full: &str,
        chart: &str,
    ) -> Result<(), Failure> {
        run.progressing(&s::running_action("test", &format_duration(opts.timeout)));
        run.write().await;
        match helm.test(opts).await {
            Ok((_, n)) => {
                let msg = s::test_succeeded(full, chart, n);
                run.set_condition(
                    s::TEST_SUCCESS,
                    ConditionStatus::True,
                    s::TEST_SUCCEEDED,
                    &msg,
                );
                run.record(EventType::Normal, s::TEST_SUCCEEDED, &msg);
                Ok(())
            }
            Err(e) => {
                let msg = s::test_failed(full, chart, &action_error_text(&e));
                run.set_condition(
                    s::TEST_SUCCESS,
                    ConditionStatus::False,
                    s::TEST_FAILED,
                    &msg,
                );
                if spec.test_ignore_failures {
                    run.record(EventType::Warning, s::TEST_FAILED, &msg);
                    Ok(())
                } else {
                    Err(Failure::transient(s::TEST_FAILED, msg))
                }
            }
        }
    }

    /// `driftDetection`: compares the deployed revision's objects with the cluster; `enabled`
    /// re-applies them, `warn` only reports.
    async fn detect_drift(
        &self,
        run: &mut Run,
        spec: &HelmReleaseSpec,
        helm: &Helm,
        opts: &ReleaseOptions,
        history: &[Release],
    ) {
        if spec.drift == spec::DriftMode::Disabled {
            return;
        }
        let Some(rel) = history.last() else { return };
        let Ok(objects) = helm.objects_of(rel, opts) else {
            return;
        };
        let changes = drift::drifted(&self.client, &objects, &spec.drift_ignore).await;
        if changes.is_empty() {
            return;
        }
        let full = s::full_release_name(&rel.namespace, &rel.name, rel.version);
        let lines: Vec<String> = changes.iter().map(|c| c.line()).collect();
        if spec.drift == spec::DriftMode::Warn {
            run.record(
                EventType::Warning,
                s::DRIFT_DETECTED,
                &s::drift_detected(&full, &lines),
            );
            return;
        }
        let fix: Vec<Value> = changes.into_iter().map(|c| c.desired).collect();
        match helm.correct(&fix, opts).await {
            Ok(()) => run.record(
                EventType::Normal,
                s::DRIFT_DETECTED,
                &s::drift_corrected(&full, &lines),
            ),
            Err(e) => run.record(
                EventType::Warning,
                s::DRIFT_DETECTED,
                &format!(
                    "{}\ncorrection failed: {e}",
                    s::drift_detected(&full, &lines)
                ),
            ),
        }
    }

    /// Deletion: uninstall the release (unless suspended) and delete the owned HelmChart.
    async fn cleanup(&self, obj: Value) {
        let Ok(spec) = spec::parse_helm_release(&obj) else {
            return;
        };
        let name = text(&obj, "/metadata/name");
        let ns = text(&obj, "/metadata/namespace");
        let mut notes = Vec::new();
        if !crate::runtime::reconcile::is_suspended(&obj) {
            match self.client_for(&spec, &ns) {
                Ok(client) => {
                    let helm = Helm::new(client, &spec.storage_namespace);
                    let mut opts = ReleaseOptions::new(&spec.release_name, &spec.target_namespace);
                    opts.owner = Owner::new(OWNER_GROUP, &name, &ns);
                    opts.timeout = spec.uninstall.timeout;
                    opts.wait = !spec.uninstall.disable_wait;
                    opts.keep_history = spec.uninstall.keep_history;
                    opts.poll = self.poll;
                    if let Ok(Some(last)) = helm.storage().last(&spec.release_name).await
                        && last.info.status != Status::Uninstalled
                    {
                        let full = s::full_release_name(&last.namespace, &last.name, last.version);
                        let chart =
                            s::versioned_chart(last.chart_meta("name"), last.chart_meta("version"));
                        match helm.uninstall(&opts).await {
                            Ok(_) => notes.push(EventNote::normal(
                                s::UNINSTALL_SUCCEEDED,
                                &s::uninstall_succeeded(&full, &chart),
                            )),
                            Err(e) => notes.push(EventNote::warning(
                                s::UNINSTALL_FAILED,
                                &s::uninstall_failed(&full, &chart, &action_error_text(&e)),
                            )),
                        }
                    }
                }
                Err(m) => notes.push(EventNote::warning(s::UNINSTALL_FAILED, &m)),
            }
        }
        if let ChartSource::Template(t) = &spec.chart {
            let path = format!(
                "/apis/{SOURCE_GROUP}/v1/namespaces/{}/helmcharts/{}",
                rest::escape(&t.source.namespace),
                rest::escape(&spec::helm_chart_name(&ns, &name))
            );
            if let Err(e) = rest::send(&self.client, Method::DELETE, &path, None, Vec::new()).await
                && !rest::is_not_found(&e)
            {
                tracing::warn!(helmrelease = %format!("{ns}/{name}"), error = %e, "cannot delete HelmChart");
            }
        }
        self.events.emit(&obj, notes).await;
    }
}

/// The action the release needs: install when nothing is deployed, upgrade when the deployed
/// revision differs from the desired chart and values (or on forceAt), otherwise nothing.
fn decide(history: &[Release], chart: &LoadedChart, digest: &str, force: bool) -> Next {
    let Some(last) = history.last() else {
        return Next::Install;
    };
    let any_deployed = history.iter().any(|r| r.info.status == Status::Deployed);
    if !any_deployed && matches!(last.info.status, Status::Uninstalled | Status::Failed) {
        return Next::Install;
    }
    if force {
        return Next::Upgrade;
    }
    let in_sync = last.info.status == Status::Deployed
        && last.chart_meta("name") == chart.name
        && last.chart_meta("version") == chart.version
        && values::config_digest(&last.config) == digest;
    if in_sync { Next::None } else { Next::Upgrade }
}

/// The options every action of this run starts from.
fn release_options(
    run: &Run,
    spec: &HelmReleaseSpec,
    values: Map<String, Value>,
    poll: Duration,
) -> ReleaseOptions {
    let mut o = ReleaseOptions::new(&spec.release_name, &spec.target_namespace);
    o.owner = Owner::new(OWNER_GROUP, run.name(), run.namespace());
    o.values = values;
    o.timeout = spec.timeout;
    o.max_history = spec.max_history;
    o.poll = poll;
    o.post_renderers = spec.post_renderers.clone();
    o
}

/// The text of an action error without the release-name prefix helm adds to failed revisions.
fn action_error_text(e: &ActionError) -> String {
    e.to_string()
}

/// `sha256:` digest of the post-renderers as given (Flux's `observedPostRenderersDigest`).
fn post_renderers_digest(p: &[Value]) -> Option<String> {
    if p.is_empty() {
        return None;
    }
    let text = serde_json::to_string(p).unwrap_or_default();
    Some(format!("sha256:{:x}", Sha256::digest(text.as_bytes())))
}

fn annotation(obj: &Value, key: &str) -> Option<String> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn text(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Helm's RFC 3339 nanosecond times as `metav1.Time` (UTC, whole seconds).
fn meta_time(t: &str) -> Value {
    match t.parse::<jiff::Timestamp>() {
        Ok(ts) => json!(
            jiff::Timestamp::from_second(ts.as_second())
                .unwrap_or(ts)
                .to_string()
        ),
        Err(_) => Value::Null,
    }
}

/// One `status.history` snapshot of a release revision.
pub fn snapshot(rel: &Release) -> Value {
    let digest = serde_json::to_vec(rel)
        .map(|b| format!("sha256:{:x}", Sha256::digest(&b)))
        .unwrap_or_default();
    let mut snap = json!({
        "apiVersion": "",
        "appVersion": rel.chart_meta("appVersion"),
        "chartName": rel.chart_meta("name"),
        "chartVersion": rel.chart_meta("version"),
        "configDigest": values::config_digest(&rel.config),
        "digest": digest,
        "firstDeployed": meta_time(&rel.info.first_deployed),
        "lastDeployed": meta_time(&rel.info.last_deployed),
        "name": rel.name,
        "namespace": rel.namespace,
        "status": rel.info.status.as_str(),
        "version": rel.version,
    });
    if let Some(m) = snap.as_object_mut() {
        m.remove("apiVersion");
        if rel.chart_meta("appVersion").is_empty() {
            m.remove("appVersion");
        }
        if !rel.info.deleted.is_empty() {
            m.insert("deleted".into(), meta_time(&rel.info.deleted));
        }
        let tests: Map<String, Value> = rel
            .hooks
            .iter()
            .filter(|h| h.events.iter().any(|e| e == "test"))
            .filter(|h| !h.last_run.phase.is_empty() && !h.last_run.started_at.is_empty())
            .map(|h| {
                (
                    h.name.clone(),
                    json!({
                        "lastStarted": meta_time(&h.last_run.started_at),
                        "lastCompleted": meta_time(&h.last_run.completed_at),
                        "phase": h.last_run.phase,
                    }),
                )
            })
            .collect();
        if !tests.is_empty() {
            m.insert("testHooks".into(), Value::Object(tests));
        }
    }
    snap
}

/// `status.history`: the newest revisions first, at most `max` (0 = all).
fn write_history(run: &mut Run, history: &[Release], max: usize) {
    let mut snaps: Vec<Value> = history.iter().rev().map(snapshot).collect();
    if max > 0 {
        snaps.truncate(max);
    }
    if snaps.is_empty() {
        run.remove("history");
    } else {
        run.set("history", Value::Array(snaps));
    }
}

/// Unpacks a chart archive into `dir` (written to a temporary sibling, then renamed).
pub fn unpack_chart(bytes: &[u8], dir: &Path) -> Result<(), String> {
    let files = crate::helm::archive::unpack("chart.tgz", bytes).map_err(|e| e.to_string())?;
    let parent = dir.parent().ok_or("chart directory has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let tmp = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    for (path, data) in files {
        // unpack() refused absolute paths and `..`, so `path` stays below `tmp`.
        let target = tmp.join(&path);
        if let Some(p) = target.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        std::fs::write(&target, data).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    // Releases sharing a chart may unpack it at once: whoever renames first wins.
    let renamed = if dir.exists() {
        Ok(())
    } else {
        std::fs::rename(&tmp, dir)
    };
    let _ = std::fs::remove_dir_all(&tmp);
    match renamed {
        Err(_) if dir.join("Chart.yaml").is_file() => Ok(()),
        other => other.map_err(|e| format!("{}: {e}", dir.display())),
    }
}

impl Controller for HelmReleaseReconciler {
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = KIND;
    const VERSION: &'static str = "v2";
    const COMPONENT: &'static str = "helm-controller";
    type Spec = HelmReleaseSpec;

    fn parse(&self, obj: &Value) -> Result<HelmReleaseSpec, Failure> {
        spec::parse_helm_release(obj).map_err(|e| Failure::terminal(s::INIT_FAILED, e.to_string()))
    }

    async fn reconcile(&self, run: &mut Run, spec: HelmReleaseSpec) -> Result<Success, Failure> {
        run.backoff_cap(spec.interval);
        self.steps(run, &spec).await
    }

    async fn finalize(&self, obj: Value) {
        self.cleanup(obj).await
    }

    fn depends_on(&self, obj: &Value) -> Vec<crate::runtime::Dependency> {
        let Ok(spec) = spec::parse_helm_release(obj) else {
            return Vec::new();
        };
        let ns = text(obj, "/metadata/namespace");
        let name = text(obj, "/metadata/name");
        let mut keys = Vec::new();
        match &spec.chart {
            ChartSource::Template(t) => keys.push(ObjectKey::new(
                "HelmChart",
                &t.source.namespace,
                &spec::helm_chart_name(&ns, &name),
            )),
            ChartSource::Ref(r) => {
                if let Some(k) = kinds::by_group_kind(SOURCE_GROUP, &r.kind) {
                    keys.push(ObjectKey::new(k.kind, &r.namespace, &r.name));
                }
            }
        }
        for d in &spec.depends_on {
            keys.push(ObjectKey::new(KIND, &d.namespace, &d.name));
        }
        keys.into_iter().map(Into::into).collect()
    }

    fn signal(&self, obj: &Value) -> Option<String> {
        let ready = conditions::is_true(obj, conditions::READY);
        let rev = obj
            .pointer("/status/history/0/version")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        Some(format!("{ready}|{rev}"))
    }
}

/// The runtime adapter of the HelmRelease reconciler.
pub type HelmReleaseKind = Adapter<HelmReleaseReconciler>;

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(version: u64, status: Status, chart_version: &str, config: Value) -> Release {
        let mut r = Release {
            name: "web".into(),
            namespace: "apps".into(),
            version,
            chart: json!({"metadata": {"name": "web", "version": chart_version}}),
            config: config.as_object().cloned().unwrap_or_default(),
            ..Release::default()
        };
        r.info.status = status;
        r
    }

    fn chart(version: &str) -> LoadedChart {
        LoadedChart {
            dir: PathBuf::new(),
            name: "web".into(),
            version: version.into(),
            digest: String::new(),
        }
    }

    #[test]
    fn the_next_action_follows_storage() {
        let empty = values::config_digest(&Map::new());
        assert_eq!(decide(&[], &chart("1.0.0"), &empty, false), Next::Install);
        let h = vec![rel(1, Status::Deployed, "1.0.0", json!({}))];
        assert_eq!(decide(&h, &chart("1.0.0"), &empty, false), Next::None);
        assert_eq!(decide(&h, &chart("1.0.0"), &empty, true), Next::Upgrade);
        assert_eq!(decide(&h, &chart("1.1.0"), &empty, false), Next::Upgrade);
        let other = values::config_digest(json!({"a": 1}).as_object().unwrap());
        assert_eq!(decide(&h, &chart("1.0.0"), &other, false), Next::Upgrade);
        let failed = vec![rel(1, Status::Failed, "1.0.0", json!({}))];
        assert_eq!(
            decide(&failed, &chart("1.0.0"), &empty, false),
            Next::Install
        );
    }

    #[test]
    fn snapshots_carry_flux_fields() {
        let mut r = rel(2, Status::Deployed, "1.0.0", json!({"a": 1}));
        r.info.first_deployed = "2026-01-02T03:04:05.123456789Z".into();
        let s = snapshot(&r);
        assert_eq!(s["chartName"], "web");
        assert_eq!(s["version"], 2);
        assert_eq!(s["status"], "deployed");
        assert_eq!(s["firstDeployed"], "2026-01-02T03:04:05Z");
        assert!(s["digest"].as_str().unwrap().starts_with("sha256:"));
        assert!(s.get("appVersion").is_none());
    }
}
