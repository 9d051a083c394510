//! Action patches: what the console writes to suspend, resume, reconcile, refresh or sync an object,
//! built exactly as the Flux and Argo CD CLIs build them (flux-semantics.md §1.5, argo-cd.md §1.3–1.5).
//!
//! [`plan`] is pure: it reads the current object and returns the merge patches to send, in order.

use super::error::ClusterError;
use crate::model::conditions::field::{at, bool_at, str_at};
use crate::model::kinds::{Family, KindInfo, by_group_kind};
use serde_json::{Map, Value, json};

/// Flux's reconcile-request annotation.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
/// helm-controller's force annotation (honoured when equal to requestedAt).
pub const FORCE_AT: &str = "reconcile.fluxcd.io/forceAt";
/// helm-controller's reset annotation (honoured when equal to requestedAt).
pub const RESET_AT: &str = "reconcile.fluxcd.io/resetAt";
/// Argo CD's refresh annotation (`normal` or `hard`).
pub const ARGO_REFRESH: &str = "argocd.argoproj.io/refresh";
/// Argo CD's companion refresh timestamp (newer controllers; older ones ignore it).
pub const ARGO_REFRESH_TIMESTAMP: &str = "argocd.argoproj.io/refresh-timestamp";

/// Something the user asks flotilla to do to an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Flux: `spec.suspend: true`; Argo CD Application: disable auto-sync (`automated.enabled: false`).
    Suspend,
    /// Flux: remove `spec.suspend`; Argo CD Application: re-enable auto-sync.
    Resume,
    /// Flux: annotate requestedAt; Argo CD Application: normal refresh.
    Reconcile,
    /// Flux Kustomization/HelmRelease: annotate the source first, then the object.
    ReconcileWithSource,
    /// HelmRelease: reconcile with `forceAt` (one-off force upgrade).
    HelmForce,
    /// HelmRelease: reconcile with `resetAt` (reset remediation retries).
    HelmReset,
    /// Argo CD Application: `refresh: normal`.
    Refresh,
    /// Argo CD Application: `refresh: hard`.
    HardRefresh,
    /// Argo CD Application: request a sync by writing `operation`.
    Sync {
        /// `--prune`.
        prune: bool,
    },
    /// Delete the object (no patch: [`plan`] refuses it; `Clients::apply_action` sends a DELETE).
    Delete,
}

impl Action {
    /// Whether the action writes to the cluster (read-only mode refuses those). Every action here
    /// writes: even a refresh or a reconcile request is an annotation patch.
    pub fn is_mutation(&self) -> bool {
        match self {
            Action::Suspend
            | Action::Resume
            | Action::Reconcile
            | Action::ReconcileWithSource
            | Action::HelmForce
            | Action::HelmReset
            | Action::Refresh
            | Action::HardRefresh
            | Action::Sync { .. }
            | Action::Delete => true,
        }
    }

    /// A short name for messages (`suspend`, `reconcile --with-source`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::Reconcile => "reconcile",
            Action::ReconcileWithSource => "reconcile --with-source",
            Action::HelmForce => "reconcile --force",
            Action::HelmReset => "reconcile --reset",
            Action::Refresh => "refresh",
            Action::HardRefresh => "hard refresh",
            Action::Sync { .. } => "sync",
            Action::Delete => "delete",
        }
    }

    /// Whether the action asks the controller to reconcile, so the row can show progress until the
    /// object's last reconcile time catches up with the request.
    pub fn requests_reconcile(&self) -> bool {
        matches!(
            self,
            Action::Reconcile
                | Action::ReconcileWithSource
                | Action::HelmForce
                | Action::HelmReset
                | Action::Refresh
                | Action::HardRefresh
                | Action::Sync { .. }
        )
    }
}

/// An object an action patches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectTarget {
    /// Its kind.
    pub kind: &'static KindInfo,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for ObjectTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind.kind, self.namespace, self.name)
    }
}

/// One JSON merge patch (`application/merge-patch+json`) to send to one object.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPatch {
    /// The object to patch.
    pub target: ObjectTarget,
    /// The merge patch body.
    pub merge_patch: Value,
}

/// Who is recorded as having initiated an Argo CD sync.
pub const DEFAULT_SYNC_USER: &str = "flotilla";

/// Builds the patches for `action` on `obj` (the current object as read from the cluster), in the
/// order to send them. `now` is the request token (RFC3339Nano, as the Flux CLI writes it); `user` goes
/// into an Argo CD sync's `initiatedBy.username`.
pub fn plan(
    action: &Action,
    obj: &Value,
    now: &str,
    user: &str,
) -> Result<Vec<PlannedPatch>, ClusterError> {
    let target = target_of(obj, action)?;
    let refuse = |reason: &str| ClusterError::Refused {
        action: action.name(),
        target: target.to_string(),
        reason: reason.to_string(),
    };
    let is_app = target.kind.family == Family::ArgoCd && target.kind.kind == "Application";
    let one = |merge_patch: Value| {
        Ok(vec![PlannedPatch {
            target: target.clone(),
            merge_patch,
        }])
    };
    match (action, target.kind.family) {
        (Action::Suspend, Family::Flux) => one(json!({"spec": {"suspend": true}})),
        // `flux resume` sends null: false is the default and is omitted.
        (Action::Resume, Family::Flux) => one(json!({"spec": {"suspend": null}})),
        (Action::Suspend, Family::ArgoCd) if is_app => {
            if !has_automated(obj) {
                return Err(refuse("auto-sync is not enabled (no syncPolicy.automated)"));
            }
            one(json!({"spec": {"syncPolicy": {"automated": {"enabled": false}}}}))
        }
        (Action::Resume, Family::ArgoCd) if is_app => {
            if !has_automated(obj) {
                // Never invent prune/selfHeal: there is no policy to restore.
                return Err(refuse(
                    "no syncPolicy.automated to re-enable; set one in the Application's source",
                ));
            }
            // A null `enabled` counts as enabled: restore the block exactly as it was before pausing.
            one(json!({"spec": {"syncPolicy": {"automated": {"enabled": null}}}}))
        }
        (Action::Reconcile, Family::Flux) => {
            refuse_suspended(obj).map_err(&refuse)?;
            one(annotations(&[(REQUESTED_AT, now)]))
        }
        (Action::HelmForce | Action::HelmReset, Family::Flux)
            if target.kind.kind == "HelmRelease" =>
        {
            refuse_suspended(obj).map_err(&refuse)?;
            let extra = if *action == Action::HelmForce {
                FORCE_AT
            } else {
                RESET_AT
            };
            one(annotations(&[(REQUESTED_AT, now), (extra, now)]))
        }
        (Action::ReconcileWithSource, Family::Flux) => {
            refuse_suspended(obj).map_err(&refuse)?;
            let source = source_of(obj, &target).ok_or_else(|| {
                refuse("this kind has no source to reconcile (or its sourceRef is unreadable)")
            })?;
            Ok(vec![
                PlannedPatch {
                    target: source,
                    merge_patch: annotations(&[(REQUESTED_AT, now)]),
                },
                PlannedPatch {
                    target: target.clone(),
                    merge_patch: annotations(&[(REQUESTED_AT, now)]),
                },
            ])
        }
        (Action::Reconcile | Action::Refresh, Family::ArgoCd) if is_app => {
            one(argo_refresh("normal", now))
        }
        (Action::HardRefresh, Family::ArgoCd) if is_app => one(argo_refresh("hard", now)),
        (Action::Sync { prune }, Family::ArgoCd) if is_app => {
            if at(obj, &["operation"]).is_some_and(|o| !o.is_null()) {
                return Err(refuse("another operation is already in progress"));
            }
            one(argo_sync(obj, *prune, user))
        }
        _ => Err(refuse(&format!(
            "not available for {} objects",
            target.kind.kind
        ))),
    }
}

fn target_of(obj: &Value, action: &Action) -> Result<ObjectTarget, ClusterError> {
    let group = crate::model::conditions::field::group(obj);
    let kind = crate::model::conditions::field::kind(obj);
    let info = by_group_kind(group, kind).ok_or_else(|| ClusterError::Refused {
        action: action.name(),
        target: format!("{kind} (apiVersion group {group:?})"),
        reason: "not a GitOps kind flotilla knows".into(),
    })?;
    let name = str_at(obj, &["metadata", "name"]).ok_or_else(|| ClusterError::Refused {
        action: action.name(),
        target: info.kind.to_string(),
        reason: "the object has no metadata.name".into(),
    })?;
    Ok(ObjectTarget {
        kind: info,
        namespace: str_at(obj, &["metadata", "namespace"])
            .unwrap_or("")
            .to_string(),
        name: name.to_string(),
    })
}

/// `flux reconcile` refuses a suspended object.
fn refuse_suspended(obj: &Value) -> Result<(), &'static str> {
    if bool_at(obj, &["spec", "suspend"]) == Some(true) {
        Err("resource is suspended")
    } else {
        Ok(())
    }
}

fn has_automated(obj: &Value) -> bool {
    at(obj, &["spec", "syncPolicy", "automated"]).is_some_and(Value::is_object)
}

fn annotations(pairs: &[(&str, &str)]) -> Value {
    let map: Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String((*v).to_string())))
        .collect();
    json!({"metadata": {"annotations": map}})
}

fn argo_refresh(mode: &str, now: &str) -> Value {
    annotations(&[(ARGO_REFRESH, mode), (ARGO_REFRESH_TIMESTAMP, now)])
}

/// The source a Kustomization or HelmRelease reconciles from, as `flux reconcile --with-source` finds it.
fn source_of(obj: &Value, target: &ObjectTarget) -> Option<ObjectTarget> {
    let source_ref = match target.kind.kind {
        "Kustomization" => at(obj, &["spec", "sourceRef"])?,
        // chartRef (OCIRepository/HelmChart) wins over the chart template's sourceRef.
        "HelmRelease" => at(obj, &["spec", "chartRef"])
            .filter(|v| v.is_object())
            .or_else(|| at(obj, &["spec", "chart", "spec", "sourceRef"]))?,
        _ => return None,
    };
    let kind = str_at(source_ref, &["kind"])?;
    let name = str_at(source_ref, &["name"])?;
    let group = str_at(source_ref, &["apiVersion"])
        .and_then(|av| av.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or("source.toolkit.fluxcd.io");
    let info = by_group_kind(group, kind)?;
    let namespace = str_at(source_ref, &["namespace"]).unwrap_or(&target.namespace);
    Some(ObjectTarget {
        kind: info,
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

/// The `operation` `argocd app sync` writes, minus what needs the repo-server: the revision is left
/// empty (the controller resolves it), the sources, syncOptions and retry come from the spec.
fn argo_sync(obj: &Value, prune: bool, user: &str) -> Value {
    let mut sync = Map::new();
    match (at(obj, &["spec", "source"]), at(obj, &["spec", "sources"])) {
        (_, Some(sources)) if sources.as_array().is_some_and(|a| !a.is_empty()) => {
            sync.insert("sources".into(), sources.clone());
        }
        (Some(source), _) if source.is_object() => {
            sync.insert("source".into(), source.clone());
        }
        _ => {}
    }
    if prune {
        sync.insert("prune".into(), json!(true));
    }
    if let Some(options) = at(obj, &["spec", "syncPolicy", "syncOptions"])
        .filter(|o| o.as_array().is_some_and(|a| !a.is_empty()))
    {
        sync.insert("syncOptions".into(), options.clone());
    }
    let mut operation = Map::new();
    operation.insert("initiatedBy".into(), json!({"username": user}));
    if let Some(retry) = at(obj, &["spec", "syncPolicy", "retry"]).filter(|r| r.is_object()) {
        operation.insert("retry".into(), retry.clone());
    }
    operation.insert("sync".into(), Value::Object(sync));
    let mut patch = Map::new();
    // The resourceVersion makes the write conditional: a concurrent sync is seen on retry.
    if let Some(rv) = str_at(obj, &["metadata", "resourceVersion"]) {
        patch.insert("metadata".into(), json!({"resourceVersion": rv}));
    }
    patch.insert("operation".into(), Value::Object(operation));
    if at(obj, &["status", "operationState"]).is_some_and(|s| !s.is_null()) {
        patch.insert("status".into(), json!({"operationState": null}));
    }
    Value::Object(patch)
}

/// The current time as a Flux request token (RFC3339 with nanoseconds, like the Flux CLI).
pub fn request_token_now() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests;
