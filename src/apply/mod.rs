//! The server-side-apply engine of Flux's controllers (fluxcd/pkg `ssa`), usable by any reconciler
//! that applies a set of objects (Kustomization, HelmRelease post-rendered manifests, Argo CD
//! Applications): inventories ([`inventory`]), staged apply order ([`stages`]), per-object policy
//! ([`policy`]), normalisation ([`normalize`]), drift detection, change sets and prune rules
//! ([`prune`]), kstatus health ([`health`]) and the [`Applier`] that talks to the API server.
//!
//! A stage is server-side dry-run as a whole before anything in it is written (Flux's `ApplyAll`):
//! one failing dry-run aborts the stage and every later one, and the failure names every object
//! whose dry-run failed (flux-semantics §3.5). Errors are this module's own ([`ApplyError`],
//! [`ApplyFailure`], [`health::HealthError`]); callers map them to their condition reasons.

mod cleanup;
mod drift;
pub mod health;
pub mod inventory;
pub mod normalize;
pub mod policy;
pub mod prune;
pub(crate) mod resources;
pub mod stages;

pub use cleanup::{cleanup_patch, fold_managed_fields};
pub use drift::{dry_run_action, has_drifted};
pub use resources::Resource;

use http::Method;
use kube::Client;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::health::{KStatus, kstatus_at};
use crate::model::time::format_duration;
use crate::runtime::rest;
use health::{HealthError, HealthTarget, HealthVerdict, assess};
use inventory::{Inventory, InventoryEntry, ObjectRef};
use policy::{
    ApplyAction, ApplyPolicy, FIELD_MANAGER, Owner, SSA_KEY, apply_policy, change_line, flux_key,
};
use prune::{
    ChangeSetEntry, PruneDecision, SuccessfulApply, deleted_line, deletion_order, prune_decision,
};
use resources::ResourceCache;
use stages::Stage;

/// How often staged cluster definitions are polled for readiness (Flux: 2 s).
pub const STAGE_POLL: Duration = Duration::from_secs(2);
/// How long staged cluster definitions may take to become Current (Flux: 60 s).
pub const STAGE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often deleted objects are polled until they are gone (Flux: 2 s).
pub const TERMINATION_POLL: Duration = Duration::from_secs(2);

/// What failed while talking to the API server about one object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The object cannot be sent: no kind, no name, malformed apiVersion, unusable name.
    #[error("{object}: invalid object: {reason}")]
    InvalidObject {
        /// The object as far as it could be named.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// The server does not serve this kind in this version.
    #[error("no matches for kind \"{kind}\" in version \"{api_version}\"")]
    UnknownKind {
        /// The requested apiVersion.
        api_version: String,
        /// The requested kind.
        kind: String,
    },
    /// A namespaced object without a namespace.
    #[error("{object} namespace not specified")]
    NamespaceMissing {
        /// The object.
        object: String,
    },
    /// Discovery of a group-version failed (other than 404).
    #[error("discovery of {api_version} failed: {message}")]
    Discovery {
        /// The group-version.
        api_version: String,
        /// Why.
        message: String,
    },
    /// The server refused a request.
    #[error("{object} {action} failed{}: {message}", reason_suffix(reason))]
    Api {
        /// The object, `<Kind>/<ns>/<name>`.
        object: String,
        /// What was attempted: `query`, `dry-run`, `apply`, `cleanup`, `delete`.
        action: &'static str,
        /// HTTP status code.
        code: u16,
        /// Kubernetes reason (`Invalid`, `NotFound`…), may be empty.
        reason: String,
        /// The server's message.
        message: String,
    },
    /// The request did not get an answer (transport or decoding failure).
    #[error("{object} {action} failed: {message}")]
    Transport {
        /// The object.
        object: String,
        /// What was attempted.
        action: &'static str,
        /// Why.
        message: String,
    },
    /// An object did not reach the awaited state in time.
    #[error("{object} {what}")]
    Timeout {
        /// The object.
        object: String,
        /// What was awaited, with the last status seen.
        what: String,
    },
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

impl ApplyError {
    fn from_kube(object: &str, action: &'static str, err: kube::Error) -> Self {
        match err {
            kube::Error::Api(status) => ApplyError::Api {
                object: object.to_string(),
                action,
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            other => ApplyError::Transport {
                object: object.to_string(),
                action,
                message: other.to_string(),
            },
        }
    }

    /// Whether Flux treats this error as an immutable-field change that `force` may fix by
    /// recreating the object: any 409/422 answer, or a message saying a field is immutable.
    pub fn is_immutable(&self) -> bool {
        match self {
            ApplyError::Api { code, message, .. } => {
                *code == 409
                    || *code == 422
                    || message.contains("is immutable")
                    || message.contains("immutable field")
            }
            _ => false,
        }
    }
}

/// An apply in which some objects failed: what did succeed and every failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyFailure {
    /// Change-set entries of the objects that were processed without error, in stage order.
    pub applied: Vec<ChangeSetEntry>,
    /// Change lines (`<Kind>/<ns>/<name> created|configured`) of the objects that changed.
    pub lines: Vec<String>,
    /// Every failed object with Flux's message for it (which starts with the object).
    pub errors: Vec<(ObjectRef, String)>,
}

/// One line per failed object, then the change lines of what was really applied (earlier stages).
impl std::fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text: Vec<&str> = self
            .errors
            .iter()
            .map(|(_, m)| m.as_str())
            .chain(self.lines.iter().map(String::as_str))
            .collect();
        f.write_str(&text.join("\n"))
    }
}

impl std::error::Error for ApplyFailure {}

/// The result of deleting stale or finalized objects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PruneOutcome {
    /// `<Kind>/<ns>/<name> deleted` for each object deleted (or already gone).
    pub deleted: Vec<String>,
    /// Objects that could not be deleted, with why.
    pub failed: Vec<(InventoryEntry, String)>,
}

impl PruneOutcome {
    /// One line per object that could not be deleted, if any.
    pub fn error(&self) -> Option<String> {
        if self.failed.is_empty() {
            return None;
        }
        let lines: Vec<&str> = self.failed.iter().map(|(_, m)| m.as_str()).collect();
        Some(lines.join("\n"))
    }

    /// The entries that could not be deleted (to keep in the inventory).
    pub fn undeleted(&self) -> Vec<InventoryEntry> {
        self.failed.iter().map(|(e, _)| e.clone()).collect()
    }
}

/// One object addressed on the server.
#[derive(Debug, Clone)]
struct Target {
    resource: Resource,
    namespace: String,
    name: String,
    display: String,
}

impl Target {
    fn path(&self) -> String {
        self.resource.object_path(&self.namespace, &self.name)
    }
}

/// What happened to one object on prune or deletion.
enum Deletion {
    /// Already absent (NotFound, or its kind is no longer served).
    Gone,
    /// Deleted (propagation Background); it may linger while finalizers run.
    Requested(Target),
    /// Not owned by the owner or protected by an annotation.
    Kept,
}

struct Shared {
    client: Client,
    manager: String,
    resources: ResourceCache,
}

/// How an inventory is deleted when its owner goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Delete (propagation Background) without waiting.
    Background,
    /// Delete, then poll until every object is gone or the timeout passes.
    WaitForTermination,
}

/// An object of a stage whose dry-run passed: what to write once the whole stage passed.
struct Planned<'a> {
    desired: &'a Value,
    target: Target,
    /// None: skipped by policy.
    write: Option<PlannedWrite>,
}

struct PlannedWrite {
    live: Option<Value>,
    dry_run: Value,
    merge: bool,
}

/// Applies, prunes and health-checks objects with one field manager. Cheap to clone.
#[derive(Clone)]
pub struct Applier {
    shared: Arc<Shared>,
    stage_poll: Duration,
    stage_timeout: Duration,
    termination_poll: Duration,
}

/// Deepest manifest nesting sent to the server; deeper ones are refused before encoding (encoding
/// recurses) — real manifests stay far below it.
pub const MAX_MANIFEST_DEPTH: usize = 512;

/// The nesting depth of a value, computed without recursion.
fn depth_of(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// Checks a name can be used as one URL path segment (the API server's own rule).
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("metadata.name is missing".into());
    }
    if name == "." || name == ".." || name.contains('/') || name.contains('%') {
        return Err(format!(
            "metadata.name \"{name}\" may not be '.', '..' or contain '/' or '%'"
        ));
    }
    Ok(())
}

/// Flux's message for an object whose dry-run failed: an unknown kind is named as the dry-run
/// failure it is; every other error already starts with the object.
fn dry_run_message(r: &ObjectRef, e: &ApplyError) -> String {
    match e {
        ApplyError::UnknownKind { .. } => format!("{} dry-run failed: {e}", r.display()),
        _ => e.to_string(),
    }
}

impl Applier {
    /// An applier with Flux's field manager `kustomize-controller`.
    pub fn new(client: Client) -> Applier {
        Self::with_field_manager(client, FIELD_MANAGER)
    }

    /// An applier with another field manager.
    pub fn with_field_manager(client: Client, manager: &str) -> Applier {
        Applier {
            shared: Arc::new(Shared {
                client,
                manager: manager.to_string(),
                resources: ResourceCache::default(),
            }),
            stage_poll: STAGE_POLL,
            stage_timeout: STAGE_TIMEOUT,
            termination_poll: TERMINATION_POLL,
        }
    }

    /// Overrides the readiness wait of staged definitions (poll interval, timeout), e.g. for tests.
    pub fn with_stage_wait(mut self, poll: Duration, timeout: Duration) -> Applier {
        self.stage_poll = poll;
        self.stage_timeout = timeout;
        self
    }

    /// Overrides how often deleted objects are polled until gone.
    pub fn with_termination_poll(mut self, poll: Duration) -> Applier {
        self.termination_poll = poll;
        self
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// The field manager of every write.
    pub fn field_manager(&self) -> &str {
        &self.shared.manager
    }

    /// Resolves where an object (apiVersion, kind, namespace, name) lives on the server.
    async fn target(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Target, ApplyError> {
        let r = ObjectRef {
            namespace: namespace.to_string(),
            name: name.to_string(),
            group: String::new(),
            kind: kind.to_string(),
        };
        let display = r.display();
        if kind.is_empty() {
            return Err(ApplyError::InvalidObject {
                object: display,
                reason: "kind is missing".into(),
            });
        }
        if api_version.is_empty() {
            return Err(ApplyError::InvalidObject {
                object: display,
                reason: "apiVersion is missing".into(),
            });
        }
        check_name(name).map_err(|reason| ApplyError::InvalidObject {
            object: display.clone(),
            reason,
        })?;
        resources::check_api_version(api_version).map_err(|reason| ApplyError::InvalidObject {
            object: display.clone(),
            reason,
        })?;
        let resource = self
            .shared
            .resources
            .resolve(&self.shared.client, api_version, kind)
            .await?;
        if resource.namespaced && namespace.is_empty() {
            return Err(ApplyError::NamespaceMissing { object: display });
        }
        let namespace = if resource.namespaced {
            namespace.to_string()
        } else {
            String::new()
        };
        Ok(Target {
            resource,
            namespace,
            name: name.to_string(),
            display,
        })
    }

    async fn target_of(&self, obj: &Value) -> Result<Target, ApplyError> {
        if !obj.is_object() {
            return Err(ApplyError::InvalidObject {
                object: "<not an object>".into(),
                reason: "a manifest must be a JSON/YAML mapping".into(),
            });
        }
        fn text(v: Option<&Value>) -> &str {
            v.and_then(Value::as_str).unwrap_or("")
        }
        let md = obj.get("metadata");
        if depth_of(obj) > MAX_MANIFEST_DEPTH {
            return Err(ApplyError::InvalidObject {
                object: ObjectRef::of(obj).display(),
                reason: format!("nested deeper than {MAX_MANIFEST_DEPTH} levels"),
            });
        }
        self.target(
            text(obj.get("apiVersion")),
            text(obj.get("kind")),
            text(md.and_then(|m| m.get("namespace"))),
            text(md.and_then(|m| m.get("name"))),
        )
        .await
    }

    async fn target_of_ref(
        &self,
        api_version: &str,
        object: &ObjectRef,
    ) -> Result<Target, ApplyError> {
        self.target(api_version, &object.kind, &object.namespace, &object.name)
            .await
    }

    async fn read(&self, target: &Target) -> Result<Option<Value>, ApplyError> {
        match rest::send(
            &self.shared.client,
            Method::GET,
            &target.path(),
            None,
            Vec::new(),
        )
        .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if rest::is_not_found(&e) => Ok(None),
            Err(e) => Err(ApplyError::from_kube(&target.display, "query", e)),
        }
    }

    /// Reads one object (None when NotFound).
    pub async fn get(
        &self,
        api_version: &str,
        object: &ObjectRef,
    ) -> Result<Option<Value>, ApplyError> {
        let target = self.target_of_ref(api_version, object).await?;
        self.read(&target).await
    }

    /// Server-side apply with force, optionally as a dry run.
    async fn server_side_apply(
        &self,
        target: &Target,
        desired: &Value,
        dry_run: bool,
    ) -> Result<Value, ApplyError> {
        let action = if dry_run { "dry-run" } else { "apply" };
        let mut pairs = vec![
            ("fieldManager", self.shared.manager.as_str()),
            ("force", "true"),
        ];
        if dry_run {
            pairs.push(("dryRun", "All"));
        }
        let body = serde_json::to_vec(desired).map_err(|e| ApplyError::InvalidObject {
            object: target.display.clone(),
            reason: format!("cannot encode: {e}"),
        })?;
        let url = format!("{}{}", target.path(), rest::query(&pairs));
        rest::send(
            &self.shared.client,
            Method::PATCH,
            &url,
            Some(rest::APPLY_PATCH),
            body,
        )
        .await
        .map_err(|e| ApplyError::from_kube(&target.display, action, e))
    }

    /// Deletes with propagation Background; NotFound counts as success.
    async fn delete_target(&self, target: &Target) -> Result<(), ApplyError> {
        let body =
            json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
        match rest::send(
            &self.shared.client,
            Method::DELETE,
            &target.path(),
            Some(rest::JSON),
            body.to_string().into_bytes(),
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(e) if rest::is_not_found(&e) => Ok(()),
            Err(e) => Err(ApplyError::from_kube(&target.display, "delete", e)),
        }
    }

    /// Polls until every target is NotFound or `timeout` passes; returns those still present.
    async fn wait_gone(&self, targets: &[Target], timeout: Duration) -> Vec<Target> {
        let start = Instant::now();
        let mut remaining: Vec<Target> = targets.to_vec();
        loop {
            let mut still = Vec::new();
            for t in remaining {
                // A read error is not proof of absence: keep waiting for it.
                if !matches!(self.read(&t).await, Ok(None)) {
                    still.push(t);
                }
            }
            remaining = still;
            let elapsed = start.elapsed();
            if remaining.is_empty() || elapsed >= timeout {
                return remaining;
            }
            tokio::time::sleep(self.termination_poll.min(timeout - elapsed)).await;
        }
    }

    /// The dry-run half of §3.5 for one object: policy, server-side dry-run (recreating it first
    /// when `force` allows an immutable-field change). Writes nothing else.
    async fn plan_object<'a>(
        &self,
        desired: &'a Value,
        spec_force: bool,
    ) -> Result<Planned<'a>, ApplyError> {
        let target = self.target_of(desired).await?;
        let mut live = self.read(&target).await?;
        let (force, merge) = match apply_policy(desired, live.as_ref(), spec_force) {
            ApplyPolicy::Skip => {
                return Ok(Planned {
                    desired,
                    target,
                    write: None,
                });
            }
            ApplyPolicy::Apply { force, merge } => (force, merge),
        };
        let dry_run = match self.server_side_apply(&target, desired, true).await {
            Ok(v) => v,
            Err(e) if force && live.is_some() && e.is_immutable() => {
                tracing::info!(object = %target.display, error = %e, "immutable field change: recreating");
                self.delete_target(&target).await?;
                if !self
                    .wait_gone(std::slice::from_ref(&target), self.stage_timeout)
                    .await
                    .is_empty()
                {
                    return Err(ApplyError::Timeout {
                        object: target.display.clone(),
                        what: format!(
                            "immutable field detected, still present {} after deletion",
                            format_duration(self.stage_timeout)
                        ),
                    });
                }
                live = None;
                self.server_side_apply(&target, desired, true).await?
            }
            Err(e) => return Err(e),
        };
        Ok(Planned {
            desired,
            target,
            write: Some(PlannedWrite {
                live,
                dry_run,
                merge,
            }),
        })
    }

    /// The write half of §3.5 for one planned object: metadata cleanup, then apply when drifted.
    async fn write_planned(
        &self,
        target: &Target,
        desired: &Value,
        w: PlannedWrite,
    ) -> Result<ApplyAction, ApplyError> {
        let live_merge = w
            .live
            .as_ref()
            .and_then(|l| flux_key(l, SSA_KEY))
            .is_some_and(|v| v.eq_ignore_ascii_case("Merge"));
        let mut cleaned = false;
        if !w.merge
            && !live_merge
            && let Some(l) = &w.live
            && let Some(patch) = cleanup_patch(l, &self.shared.manager)
        {
            let url = format!(
                "{}{}",
                target.path(),
                rest::query(&[("fieldManager", self.shared.manager.as_str())])
            );
            rest::send(
                &self.shared.client,
                Method::PATCH,
                &url,
                Some(rest::JSON_PATCH),
                patch.to_string().into_bytes(),
            )
            .await
            .map_err(|e| ApplyError::from_kube(&target.display, "metadata cleanup", e))?;
            cleaned = true;
        }
        let action = dry_run_action(w.live.as_ref(), &w.dry_run, cleaned);
        if action != ApplyAction::Unchanged {
            self.server_side_apply(target, desired, false).await?;
        }
        Ok(action)
    }

    /// Polls staged objects until all are Current; returns the errors of those that are not by the
    /// stage timeout.
    async fn wait_current(&self, targets: &[(ObjectRef, Target)]) -> Vec<(ObjectRef, String)> {
        let start = Instant::now();
        loop {
            let mut pending = Vec::new();
            for (r, t) in targets {
                let status = match self.read(t).await {
                    Ok(Some(obj)) => kstatus_at(&obj, crate::model::time::now_unix()).status,
                    Ok(None) => KStatus::NotFound,
                    Err(_) => KStatus::Unknown,
                };
                if status != KStatus::Current {
                    pending.push((r.clone(), t.display.clone(), status));
                }
            }
            let elapsed = start.elapsed();
            if pending.is_empty() {
                return Vec::new();
            }
            if elapsed >= self.stage_timeout {
                return pending
                    .into_iter()
                    .map(|(r, d, s)| {
                        let e = ApplyError::Timeout {
                            object: d,
                            what: format!(
                                "wait failed: timeout after {} waiting for status 'Current', last status '{}'",
                                format_duration(self.stage_timeout),
                                s.as_str()
                            ),
                        };
                        (r, e.to_string())
                    })
                    .collect();
            }
            tokio::time::sleep(self.stage_poll.min(self.stage_timeout - elapsed)).await;
        }
    }

    /// §3.5: applies the stages in order. Each stage is dry-run as a whole first; any dry-run
    /// failure aborts it (nothing of it is written) and the later stages, naming every failing
    /// object. Stages that wait (cluster definitions, classes) are polled until their applied
    /// objects are Current. Ok = the full change set in stage order (skipped objects included).
    pub async fn apply_stages(
        &self,
        stages: &[Stage],
        spec_force: bool,
    ) -> Result<SuccessfulApply, ApplyFailure> {
        let mut applied: Vec<ChangeSetEntry> = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        let mut errors: Vec<(ObjectRef, String)> = Vec::new();
        for stage in stages {
            let mut planned = Vec::with_capacity(stage.objects.len());
            for obj in &stage.objects {
                match self.plan_object(obj, spec_force).await {
                    Ok(p) => planned.push(p),
                    Err(e) => {
                        let r = ObjectRef::of(obj);
                        let message = dry_run_message(&r, &e);
                        tracing::warn!(object = %r.display(), error = %message, "dry-run failed");
                        errors.push((r, message));
                    }
                }
            }
            if !errors.is_empty() {
                break;
            }
            let mut to_wait: Vec<(ObjectRef, Target)> = Vec::new();
            for p in planned {
                let r = ObjectRef::of(p.desired);
                let action = match p.write {
                    None => Ok(ApplyAction::Skipped),
                    Some(w) => self.write_planned(&p.target, p.desired, w).await,
                };
                match action {
                    Ok(action) => {
                        if matches!(action, ApplyAction::Created | ApplyAction::Configured) {
                            lines.push(change_line(p.desired, action));
                        }
                        if stage.wait && action != ApplyAction::Skipped {
                            to_wait.push((r, p.target));
                        }
                        applied.push(ChangeSetEntry {
                            entry: InventoryEntry::of(p.desired),
                            action,
                        });
                    }
                    Err(e) => {
                        let message = e.to_string();
                        tracing::warn!(object = %r.display(), error = %message, "apply failed");
                        errors.push((r, message));
                    }
                }
            }
            if stage.wait && !to_wait.is_empty() {
                errors.extend(self.wait_current(&to_wait).await);
            }
            if !errors.is_empty() {
                break;
            }
        }
        if errors.is_empty() {
            Ok(SuccessfulApply::new(applied))
        } else {
            Err(ApplyFailure {
                applied,
                lines,
                errors,
            })
        }
    }

    /// Deletes one inventory entry if `owner` owns it.
    async fn delete_entry(
        &self,
        entry: &InventoryEntry,
        owner: &Owner,
    ) -> Result<Deletion, String> {
        let shown = entry.object.display();
        let target = match self
            .target_of_ref(&entry.api_version(), &entry.object)
            .await
        {
            Ok(t) => t,
            // A kind nobody serves any more has no objects left (its CRD went first).
            Err(ApplyError::UnknownKind { .. }) => return Ok(Deletion::Gone),
            Err(e) => return Err(format!("{shown} delete failed: {e}")),
        };
        let live = self.read(&target).await.map_err(|e| e.to_string())?;
        match prune_decision(live.as_ref(), owner) {
            PruneDecision::AlreadyGone => Ok(Deletion::Gone),
            PruneDecision::Skip(reason) => {
                tracing::info!(object = %shown, %reason, "not deleting");
                Ok(Deletion::Kept)
            }
            PruneDecision::Delete => {
                self.delete_target(&target)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Deletion::Requested(target))
            }
        }
    }

    /// Deletes entries in deletion order; returns the outcome and the targets whose deletion was
    /// requested.
    async fn delete_entries(
        &self,
        entries: &[InventoryEntry],
        owner: &Owner,
    ) -> (PruneOutcome, Vec<(InventoryEntry, Target)>) {
        let mut out = PruneOutcome::default();
        let mut requested = Vec::new();
        for entry in deletion_order(entries.to_vec()) {
            match self.delete_entry(&entry, owner).await {
                Ok(Deletion::Gone) => out.deleted.push(deleted_line(&entry)),
                Ok(Deletion::Requested(target)) => {
                    out.deleted.push(deleted_line(&entry));
                    requested.push((entry, target));
                }
                Ok(Deletion::Kept) => {}
                Err(message) => {
                    tracing::warn!(object = %entry.object.display(), error = %message, "delete failed");
                    out.failed.push((entry, message));
                }
            }
        }
        (out, requested)
    }

    /// §3.7 prune of stale entries: deletion order (reverse apply order), propagation Background,
    /// only objects [`prune_decision`] allows; NotFound counts as deleted.
    pub async fn prune(&self, stale: &[InventoryEntry], owner: &Owner) -> PruneOutcome {
        self.delete_entries(stale, owner).await.0
    }

    /// §3.8: polls targets every `poll` until they are all Current (Ok(elapsed)), one is stalled,
    /// or `timeout` passes, with Flux's messages.
    pub async fn wait_healthy(
        &self,
        targets: &[HealthTarget],
        timeout: Duration,
        poll: Duration,
    ) -> Result<Duration, HealthError> {
        if targets.is_empty() {
            return Ok(Duration::ZERO);
        }
        let start = Instant::now();
        loop {
            let mut observed: Vec<Option<Value>> = Vec::with_capacity(targets.len());
            for t in targets {
                // Unreadable objects (unknown kind, transport errors) count as not found yet.
                observed.push(self.get(&t.api_version, &t.object).await.ok().flatten());
            }
            let refs: Vec<Option<&Value>> = observed.iter().map(Option::as_ref).collect();
            let verdict = assess(targets, &refs, true, crate::model::time::now_unix());
            let elapsed = start.elapsed();
            match verdict {
                HealthVerdict::Healthy => return Ok(elapsed),
                HealthVerdict::Stalled(items) => {
                    return Err(HealthError::Stalled { items, elapsed });
                }
                HealthVerdict::Pending(items) => {
                    if elapsed >= timeout {
                        return Err(HealthError::Timeout { items, elapsed });
                    }
                }
            }
            tokio::time::sleep(poll.min(timeout - elapsed)).await;
        }
    }

    /// §3.7 on the owner's deletion: deletes the inventory objects `owner` owns (the caller decided
    /// the deletion policy allows it). WaitForTermination then polls every 2 s up to `timeout`;
    /// objects still present are reported as failed.
    pub async fn delete_inventory(
        &self,
        inventory: &Inventory,
        mode: DeleteMode,
        owner: &Owner,
        timeout: Duration,
    ) -> PruneOutcome {
        let (mut out, requested) = self.delete_entries(&inventory.entries, owner).await;
        if mode != DeleteMode::WaitForTermination || requested.is_empty() {
            return out;
        }
        let targets: Vec<Target> = requested.iter().map(|(_, t)| t.clone()).collect();
        let left = self.wait_gone(&targets, timeout).await;
        for t in left {
            if let Some((entry, _)) = requested.iter().find(|(_, r)| r.display == t.display) {
                let line = deleted_line(entry);
                out.deleted.retain(|l| *l != line);
                let e = ApplyError::Timeout {
                    object: t.display.clone(),
                    what: format!(
                        "termination timeout: still present {} after deletion",
                        format_duration(timeout)
                    ),
                };
                out.failed.push((entry.clone(), e.to_string()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_object_like_flux() {
        let e = ApplyError::Api {
            object: "ConfigMap/apps/x".into(),
            action: "dry-run",
            code: 422,
            reason: "Invalid".into(),
            message: "ConfigMap \"x\" is invalid".into(),
        };
        assert_eq!(
            e.to_string(),
            "ConfigMap/apps/x dry-run failed (Invalid): ConfigMap \"x\" is invalid"
        );
        assert!(e.is_immutable());
        let e = ApplyError::Api {
            object: "ConfigMap/apps/x".into(),
            action: "apply",
            code: 500,
            reason: String::new(),
            message: "boom".into(),
        };
        assert_eq!(e.to_string(), "ConfigMap/apps/x apply failed: boom");
        assert!(!e.is_immutable());
        let e = ApplyError::Api {
            object: "X/y".into(),
            action: "dry-run",
            code: 400,
            reason: "BadRequest".into(),
            message: "spec.selector: field is immutable".into(),
        };
        assert!(e.is_immutable());
    }

    #[test]
    fn failures_list_every_object_then_the_change_log() {
        let r = ObjectRef {
            namespace: "a".into(),
            name: "x".into(),
            group: String::new(),
            kind: "ConfigMap".into(),
        };
        let f = ApplyFailure {
            applied: Vec::new(),
            lines: vec!["Namespace/a created".into()],
            errors: vec![(r, "ConfigMap/a/x dry-run failed (Invalid): bad".into())],
        };
        assert_eq!(
            f.to_string(),
            "ConfigMap/a/x dry-run failed (Invalid): bad\nNamespace/a created"
        );
        assert!(PruneOutcome::default().error().is_none());
    }

    #[test]
    fn depth_is_measured_without_recursion() {
        assert_eq!(depth_of(&json!(1)), 1);
        assert_eq!(depth_of(&json!({"a": [1, {"b": 2}]})), 4);
        let mut deep = json!(0);
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(depth_of(&deep), 100_001);
        // Dropping it would recurse 100k frames deep; unwind it iteratively instead.
        let mut cur = deep;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn names_that_break_urls_are_refused() {
        for bad in ["", ".", "..", "a/b", "a%2F"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name("Bad_Name").is_ok());
    }
}
