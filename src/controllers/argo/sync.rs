//! One sync operation as gitops-engine runs it: tasks filtered by the request (resources subset,
//! `ApplyOutOfSyncOnly`), checked against the project, dry-run all first, then phases PreSync →
//! Sync → PostSync by wave (kinds ordered within a wave as Argo does), hooks with their delete
//! policies, prune (optionally last), SyncFail hooks on failure.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use super::compare::{Comparison, Managed, ResourceKey, hook_type, sync_wave, tracking_id};
use super::health::resource_health;
use super::live::Live;
use super::project::Project;
use super::spec::SyncOptions;
use super::strings;
use crate::model::health::ArgoHealth;

/// Argo's kind order inside a wave (gitops-engine `kindOrder`, the Helm install order).
const KIND_ORDER: &[&str] = &[
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

/// Orders manifests by wave, then kind, then name.
fn order_key(obj: &Value) -> (i64, usize, String) {
    let k = ResourceKey::of(obj);
    (sync_wave(obj), kind_rank(&k.kind), k.name)
}

/// One resource named in a partial sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// Group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (empty = any).
    pub namespace: String,
}

/// What to do.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// Delete resources that are no longer in Git.
    pub prune: bool,
    /// Only dry-run.
    pub dry_run: bool,
    /// Sync options.
    pub options: SyncOptions,
    /// A partial sync's resources.
    pub resources: Option<Vec<Selected>>,
    /// The destination namespace (for CreateNamespace).
    pub namespace: String,
}

/// One entry of `syncResult.resources`.
#[derive(Debug, Clone)]
pub struct ResourceResult {
    /// The resource.
    pub key: ResourceKey,
    /// `Synced`, `SyncFailed`, `Pruned`, `PruneSkipped`.
    pub status: &'static str,
    /// kubectl-style message.
    pub message: String,
    /// The hook type, for hooks.
    pub hook_type: Option<String>,
    /// The hook's phase (`Succeeded`, `Failed`, `Running`), for hooks.
    pub hook_phase: Option<&'static str>,
    /// `PreSync`, `Sync`, `PostSync`, `SyncFail`.
    pub sync_phase: &'static str,
}

impl ResourceResult {
    /// As Argo writes it.
    pub fn to_value(&self) -> Value {
        let mut v = json!({
            "group": self.key.group, "version": self.key.version, "kind": self.key.kind,
            "namespace": self.key.namespace, "name": self.key.name,
            "status": self.status, "message": self.message, "syncPhase": self.sync_phase,
        });
        if let Some(h) = &self.hook_type {
            v["hookType"] = json!(h);
        }
        if let Some(p) = self.hook_phase {
            v["hookPhase"] = json!(p);
        }
        v
    }
}

/// How a sync ended.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// `Succeeded`, `Failed` or `Error`.
    pub phase: &'static str,
    /// `operationState.message`.
    pub message: String,
    /// Per-resource results.
    pub results: Vec<ResourceResult>,
}

/// Runs syncs for one Application.
pub struct Syncer<'a> {
    /// Cluster access.
    pub live: &'a Live,
    /// The app's name.
    pub app: &'a str,
    /// Its project.
    pub project: &'a Project,
    /// How long hooks and waves may take.
    pub timeout: Duration,
    /// How often progress is polled.
    pub poll: Duration,
}

fn selected(req: &SyncRequest, key: &ResourceKey) -> bool {
    match &req.resources {
        None => true,
        Some(list) => list.iter().any(|s| {
            s.group == key.group
                && s.kind == key.kind
                && s.name == key.name
                && (s.namespace.is_empty() || s.namespace == key.namespace)
        }),
    }
}

/// Whether a live object carries `option` in its `argocd.argoproj.io/sync-options` annotation.
pub fn has_resource_option(obj: &Value, option: &str) -> bool {
    resource_option(Some(obj), option)
}

fn resource_option(obj: Option<&Value>, option: &str) -> bool {
    obj.and_then(|o| o.pointer("/metadata/annotations"))
        .and_then(|a| a.get(strings::RESOURCE_SYNC_OPTIONS))
        .and_then(Value::as_str)
        .is_some_and(|s| s.split(',').any(|p| p.trim() == option))
}

fn sync_phase_of(hook: &str) -> &'static str {
    match hook {
        "PreSync" => "PreSync",
        "PostSync" => "PostSync",
        "SyncFail" => "SyncFail",
        _ => "Sync",
    }
}

fn delete_policies(obj: &Value) -> Vec<String> {
    let ann = obj.pointer("/metadata/annotations");
    let get = |k: &str| ann.and_then(|a| a.get(k)).and_then(Value::as_str);
    let raw = get(strings::HOOK_DELETE_POLICY)
        .map(str::to_string)
        .or_else(|| {
            get("helm.sh/hook-delete-policy").map(|h| {
                h.split(',')
                    .map(|p| match p.trim() {
                        "hook-succeeded" => "HookSucceeded",
                        "hook-failed" => "HookFailed",
                        _ => "BeforeHookCreation",
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
        });
    match raw {
        Some(r) => r.split(',').map(|s| s.trim().to_string()).collect(),
        // Argo's default for hooks without a policy.
        None => vec!["BeforeHookCreation".to_string()],
    }
}

/// What a successful apply did, in kubectl's words.
fn applied_message(key: &ResourceKey, existed: bool, changed: bool, dry_run: bool) -> String {
    let what = match (existed, changed) {
        (false, _) => "created",
        (true, true) => "configured",
        (true, false) => "unchanged",
    };
    let suffix = if dry_run { " (dry run)" } else { "" };
    format!("{} {what}{suffix}", key.kubectl_name())
}

impl Syncer<'_> {
    /// Runs the sync of `cmp` as `req` asks.
    pub async fn run(&self, cmp: &Comparison, req: &SyncRequest) -> SyncOutcome {
        let mut results = Vec::new();
        // Tasks.
        let mut tasks: Vec<&Managed> = cmp
            .resources
            .iter()
            .filter(|m| m.desired.is_some() && selected(req, &m.key))
            .filter(|m| !req.options.apply_out_of_sync_only || !m.synced)
            .collect();
        tasks.sort_by_key(|m| m.desired.as_ref().map(order_key));
        let prunes: Vec<&Managed> = cmp
            .resources
            .iter()
            .filter(|m| m.requires_pruning && selected(req, &m.key))
            .collect();
        let hooks: Vec<Value> = if req.resources.is_some() {
            // Partial syncs run no hooks (Argo skips them too).
            Vec::new()
        } else {
            let mut h: Vec<Value> = cmp
                .hooks
                .iter()
                .filter(|h| hook_type(h).as_deref() != Some("Skip"))
                .cloned()
                .collect();
            h.sort_by_key(order_key);
            h
        };
        // Validation: project permissions and dry-run errors from the comparison.
        let mut invalid = false;
        for m in &tasks {
            let namespaced = !m.key.namespace.is_empty();
            if !self.project.permits(&m.key.group, &m.key.kind, namespaced) {
                invalid = true;
                results.push(self.result(
                    &m.key,
                    strings::RESULT_SYNC_FAILED,
                    strings::resource_not_permitted(&m.key.group, &m.key.kind, &self.project.name),
                    None,
                    "Sync",
                ));
            }
        }
        if invalid {
            return SyncOutcome {
                phase: strings::PHASE_FAILED,
                message: "one or more synchronization tasks are not valid".into(),
                results,
            };
        }
        if req.options.create_namespace && !req.namespace.is_empty() && !req.dry_run {
            let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": req.namespace}});
            if let Ok(None) = self.live.get(&ns).await
                && let Err(e) = self.live.apply(&ns, false).await
            {
                return SyncOutcome {
                    phase: strings::PHASE_FAILED,
                    message: format!("failed to create namespace {}: {e}", req.namespace),
                    results,
                };
            }
        }
        // Dry-run everything first: nothing is written when one fails.
        let mut failed = Vec::new();
        for m in &tasks {
            let Some(d) = &m.desired else { continue };
            if let Err(e) = self.live.apply(d, true).await {
                failed.push(e.clone());
                results.push(self.result(&m.key, strings::RESULT_SYNC_FAILED, e, None, "Sync"));
            }
        }
        if !failed.is_empty() {
            return SyncOutcome {
                phase: strings::PHASE_FAILED,
                message: format!(
                    "{}, reason: {}",
                    strings::one_or_more_failed(),
                    failed.join(", ")
                ),
                results,
            };
        }
        if req.dry_run {
            for m in &tasks {
                results.push(self.result(
                    &m.key,
                    strings::RESULT_SYNCED,
                    applied_message(&m.key, m.live.is_some(), !m.synced, true),
                    None,
                    "Sync",
                ));
            }
            for m in &prunes {
                let (status, msg) = self.prune_verdict(m, req);
                results.push(self.result(&m.key, status, format!("{msg} (dry run)"), None, "Sync"));
            }
            return SyncOutcome {
                phase: strings::PHASE_SUCCEEDED,
                message: strings::MSG_SYNC_SUCCEEDED.into(),
                results,
            };
        }
        // PreSync.
        if let Err(m) = self.run_hooks(&hooks, "PreSync", &mut results).await {
            return self.fail(&hooks, m, results).await;
        }
        // Sync, wave by wave (Sync hooks run in their wave).
        let mut waves: Vec<i64> = tasks.iter().map(|m| m.wave).collect();
        waves.extend(
            hooks
                .iter()
                .filter(|h| hook_type(h).as_deref() == Some("Sync"))
                .map(sync_wave),
        );
        waves.sort_unstable();
        waves.dedup();
        for (i, wave) in waves.iter().enumerate() {
            let mut applied = Vec::new();
            let mut errors = Vec::new();
            for m in tasks.iter().filter(|m| m.wave == *wave) {
                let Some(d) = &m.desired else { continue };
                match self.live.apply(d, false).await {
                    Ok(_) => {
                        applied.push(d.clone());
                        results.push(self.result(
                            &m.key,
                            strings::RESULT_SYNCED,
                            applied_message(&m.key, m.live.is_some(), !m.synced, false),
                            None,
                            "Sync",
                        ));
                    }
                    Err(e) => {
                        errors.push(e.clone());
                        results.push(self.result(
                            &m.key,
                            strings::RESULT_SYNC_FAILED,
                            e,
                            None,
                            "Sync",
                        ));
                    }
                }
            }
            if !errors.is_empty() {
                let msg = format!(
                    "{}, reason: {}",
                    strings::one_or_more_failed(),
                    errors.join(", ")
                );
                return self.fail(&hooks, msg, results).await;
            }
            let wave_hooks: Vec<Value> = hooks
                .iter()
                .filter(|h| hook_type(h).as_deref() == Some("Sync") && sync_wave(h) == *wave)
                .cloned()
                .collect();
            if let Err(m) = self.run_hooks(&wave_hooks, "Sync", &mut results).await {
                return self.fail(&hooks, m, results).await;
            }
            let more = i + 1 < waves.len()
                || hooks
                    .iter()
                    .any(|h| hook_type(h).as_deref() == Some("PostSync"));
            if more {
                self.wait_settled(&applied).await;
            }
        }
        // Prune.
        let mut prunes = prunes;
        prunes.sort_by_key(|m| std::cmp::Reverse((m.wave, kind_rank(&m.key.kind))));
        for m in prunes {
            let (status, message) = self.prune_verdict(m, req);
            let message = if status == strings::RESULT_PRUNED {
                match self.live.delete(&m.key.stub()).await {
                    Ok(()) => message,
                    Err(e) => {
                        results.push(self.result(
                            &m.key,
                            strings::RESULT_SYNC_FAILED,
                            e.clone(),
                            None,
                            "Sync",
                        ));
                        return self
                            .fail(
                                &hooks,
                                format!("{}, reason: {e}", strings::one_or_more_failed()),
                                results,
                            )
                            .await;
                    }
                }
            } else {
                message
            };
            results.push(self.result(&m.key, status, message, None, "Sync"));
        }
        // PostSync.
        if let Err(m) = self.run_hooks(&hooks, "PostSync", &mut results).await {
            return self.fail(&hooks, m, results).await;
        }
        SyncOutcome {
            phase: strings::PHASE_SUCCEEDED,
            message: strings::MSG_SYNC_SUCCEEDED.into(),
            results,
        }
    }

    fn prune_verdict(&self, m: &Managed, req: &SyncRequest) -> (&'static str, String) {
        if resource_option(m.live.as_ref(), "Prune=false") {
            (
                strings::RESULT_PRUNE_SKIPPED,
                strings::MSG_PRUNE_DISABLED.into(),
            )
        } else if !req.prune {
            (
                strings::RESULT_PRUNE_SKIPPED,
                strings::MSG_IGNORED_PRUNE.into(),
            )
        } else {
            (strings::RESULT_PRUNED, strings::MSG_PRUNED.into())
        }
    }

    fn result(
        &self,
        key: &ResourceKey,
        status: &'static str,
        message: String,
        hook: Option<(&str, &'static str)>,
        phase: &'static str,
    ) -> ResourceResult {
        ResourceResult {
            key: key.clone(),
            status,
            message,
            hook_type: hook.map(|h| h.0.to_string()),
            hook_phase: hook.map(|h| h.1),
            sync_phase: phase,
        }
    }

    /// Runs the SyncFail hooks and returns the Failed outcome.
    async fn fail(
        &self,
        hooks: &[Value],
        message: String,
        mut results: Vec<ResourceResult>,
    ) -> SyncOutcome {
        let _ = self.run_hooks(hooks, "SyncFail", &mut results).await;
        SyncOutcome {
            phase: strings::PHASE_FAILED,
            message,
            results,
        }
    }

    /// Waits until the applied objects are no longer Progressing (or the timeout passes).
    async fn wait_settled(&self, applied: &[Value]) {
        let start = Instant::now();
        while start.elapsed() < self.timeout {
            let mut pending = false;
            for d in applied {
                if let Ok(Some(l)) = self.live.get(d).await
                    && matches!(resource_health(&l), Some((ArgoHealth::Progressing, _)))
                {
                    pending = true;
                    break;
                }
            }
            if !pending {
                return;
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Runs the hooks of `phase` in order; Err = Argo's failure message.
    async fn run_hooks(
        &self,
        hooks: &[Value],
        phase: &'static str,
        results: &mut Vec<ResourceResult>,
    ) -> Result<(), String> {
        for h in hooks
            .iter()
            .filter(|h| hook_type(h).as_deref().map(sync_phase_of) == Some(phase))
        {
            let mut h = h.clone();
            let hook = hook_type(&h).unwrap_or_default();
            if h.pointer("/metadata/name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                let base = h
                    .pointer("/metadata/generateName")
                    .and_then(Value::as_str)
                    .unwrap_or("hook-")
                    .to_string();
                let suffix: String = uuid::Uuid::new_v4()
                    .simple()
                    .to_string()
                    .chars()
                    .take(5)
                    .collect();
                h["metadata"]["name"] = json!(format!("{base}{suffix}"));
                let key = ResourceKey::of(&h);
                h["metadata"]["annotations"][strings::TRACKING_ID] =
                    json!(tracking_id(self.app, &key));
            }
            let key = ResourceKey::of(&h);
            let policies = delete_policies(&h);
            if policies.iter().any(|p| p == "BeforeHookCreation") {
                self.live
                    .delete(&h)
                    .await
                    .map_err(|e| format!("{}: {e}", key.kubectl_name()))?;
                self.wait_gone(&h).await;
            }
            if let Err(e) = self.live.apply(&h, false).await {
                results.push(self.result(
                    &key,
                    strings::RESULT_SYNC_FAILED,
                    e.clone(),
                    Some((&hook, "Failed")),
                    phase,
                ));
                return Err(strings::hook_failed(&key.kind, &key.name, &e));
            }
            let (ok, message) = self.wait_hook(&h).await;
            let delete = (ok && policies.iter().any(|p| p == "HookSucceeded"))
                || (!ok && policies.iter().any(|p| p == "HookFailed"));
            if delete {
                let _ = self.live.delete(&h).await;
            }
            results.push(self.result(
                &key,
                strings::RESULT_SYNCED,
                message.clone(),
                Some((&hook, if ok { "Succeeded" } else { "Failed" })),
                phase,
            ));
            if !ok {
                return Err(strings::hook_failed(&key.kind, &key.name, &message));
            }
        }
        Ok(())
    }

    async fn wait_gone(&self, obj: &Value) {
        let start = Instant::now();
        while start.elapsed() < self.timeout {
            if let Ok(None) = self.live.get(obj).await {
                return;
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Waits for a hook to complete: (succeeded, message).
    async fn wait_hook(&self, obj: &Value) -> (bool, String) {
        let start = Instant::now();
        loop {
            match self.live.get(obj).await {
                Ok(Some(l)) => match resource_health(&l) {
                    Some((ArgoHealth::Healthy, m)) | Some((ArgoHealth::Suspended, m)) => {
                        let m = if m.is_empty() {
                            strings::MSG_HOOK_COMPLETED.to_string()
                        } else {
                            m
                        };
                        return (true, m);
                    }
                    None => {
                        return (
                            true,
                            format!("{} created", ResourceKey::of(obj).kubectl_name()),
                        );
                    }
                    Some((ArgoHealth::Degraded, m)) => {
                        let m = if m.is_empty() {
                            "Job has reached the specified backoff limit".to_string()
                        } else {
                            m
                        };
                        return (false, m);
                    }
                    _ => {}
                },
                Ok(None) => return (false, "hook object disappeared before it completed".into()),
                Err(e) => return (false, e),
            }
            if start.elapsed() >= self.timeout {
                return (
                    false,
                    format!("hook did not complete within {}s", self.timeout.as_secs()),
                );
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_then_kinds_then_names() {
        let o = |kind: &str, name: &str, wave: Option<&str>| {
            let mut v = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}});
            if let Some(w) = wave {
                v["metadata"]["annotations"] = json!({strings::SYNC_WAVE: w});
            }
            v
        };
        let mut list = [
            o("Deployment", "a", None),
            o("ConfigMap", "z", None),
            o("Namespace", "n", Some("1")),
            o("Service", "s", Some("-1")),
            o("Widget", "w", None),
        ];
        list.sort_by_key(order_key);
        let names: Vec<&str> = list
            .iter()
            .map(|v| v["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["s", "z", "a", "w", "n"]);
    }

    #[test]
    fn hook_policies_default_and_helm_mapping() {
        assert_eq!(delete_policies(&json!({})), ["BeforeHookCreation"]);
        let h =
            json!({"metadata": {"annotations": {"helm.sh/hook-delete-policy": "hook-succeeded"}}});
        assert_eq!(delete_policies(&h), ["HookSucceeded"]);
    }
}
