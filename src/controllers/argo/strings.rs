//! Argo CD's words in one table: annotation keys, condition types, phases and the messages the
//! application-controller writes (argoproj/argo-cd controller/{appcontroller,sync,state}.go), so
//! status read by `argocd`, the Argo UI or the console looks the same as Argo's own.

/// The tracking annotation (Argo CD 3 default tracking method).
pub const TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
/// The refresh request annotation (`normal` / `hard`), removed once handled.
pub const REFRESH: &str = "argocd.argoproj.io/refresh";
/// Freezes reconciliation of an Application when `"true"`.
pub const SKIP_RECONCILE: &str = "argocd.argoproj.io/skip-reconcile";
/// The sync wave of a resource (an integer, default 0).
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
/// Marks a resource as a hook (`PreSync`, `Sync`, `PostSync`, `SyncFail`, `Skip`).
pub const HOOK: &str = "argocd.argoproj.io/hook";
/// When a hook is deleted (`HookSucceeded`, `HookFailed`, `BeforeHookCreation`).
pub const HOOK_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
/// Per-resource sync options (`Prune=false`, `Delete=false`, …).
pub const RESOURCE_SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";
/// Excludes a resource from the app's health.
pub const IGNORE_HEALTHCHECK: &str = "argocd.argoproj.io/ignore-healthcheck";
/// The finalizer that makes deleting an Application delete its resources.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// Argo's field manager for server-side apply.
pub const FIELD_MANAGER: &str = "argocd-controller";
/// The in-cluster destination URL.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// The in-cluster destination name.
pub const IN_CLUSTER_NAME: &str = "in-cluster";

/// Condition type: the comparison with Git failed (unreachable repo, unknown revision, render error).
pub const COMPARISON_ERROR: &str = "ComparisonError";
/// Condition type: the spec cannot be used (project, destination, source).
pub const INVALID_SPEC_ERROR: &str = "InvalidSpecError";
/// Condition type: the last sync failed.
pub const SYNC_ERROR: &str = "SyncError";

/// Operation phase: running.
pub const PHASE_RUNNING: &str = "Running";
/// Operation phase: succeeded.
pub const PHASE_SUCCEEDED: &str = "Succeeded";
/// Operation phase: failed (a resource or hook failed).
pub const PHASE_FAILED: &str = "Failed";
/// Operation phase: error (the operation could not run).
pub const PHASE_ERROR: &str = "Error";

/// Per-resource sync result: applied.
pub const RESULT_SYNCED: &str = "Synced";
/// Per-resource sync result: apply failed.
pub const RESULT_SYNC_FAILED: &str = "SyncFailed";
/// Per-resource sync result: deleted.
pub const RESULT_PRUNED: &str = "Pruned";
/// Per-resource sync result: not deleted (prune disabled or `Prune=false`).
pub const RESULT_PRUNE_SKIPPED: &str = "PruneSkipped";

/// `operationState.message` after a successful sync.
pub const MSG_SYNC_SUCCEEDED: &str = "successfully synced (all tasks run)";
/// `operationState.message` while a sync runs.
pub const MSG_SYNC_RUNNING: &str = "waiting for completion of hook and sync tasks";
/// `syncResult.resources[].message` of a pruned resource.
pub const MSG_PRUNED: &str = "pruned";
/// `syncResult.resources[].message` of a resource left in place because prune is off.
pub const MSG_IGNORED_PRUNE: &str = "ignored (requires pruning)";
/// `syncResult.resources[].message` of a resource annotated `Prune=false`.
pub const MSG_PRUNE_DISABLED: &str = "ignored (no prune)";
/// `syncResult.resources[].message` of a hook that ran to completion.
pub const MSG_HOOK_COMPLETED: &str = "Reached expected number of succeeded pods";

/// `InvalidSpecError` for a project that does not exist.
pub fn project_missing(project: &str) -> String {
    format!("Application referencing project {project} which does not exist")
}

/// `InvalidSpecError` for a destination the project does not permit.
pub fn destination_not_permitted(server: &str, namespace: &str, project: &str) -> String {
    format!(
        "application destination server '{server}' and namespace '{namespace}' do not match any of the allowed destinations in project '{project}'"
    )
}

/// `InvalidSpecError` for a repository the project does not permit.
pub fn source_not_permitted(repo: &str, project: &str) -> String {
    format!("application repo {repo} is not permitted in project '{project}'")
}

/// `InvalidSpecError` for a destination other than the local cluster.
pub fn cluster_not_found(server: &str) -> String {
    format!(
        "Unable to find destination server: there are no clusters with this URL: {server} (flotilla reconciles only the in-cluster destination)"
    )
}

/// `InvalidSpecError` for a destination name other than `in-cluster`.
pub fn cluster_name_not_found(name: &str) -> String {
    format!(
        "unable to find destination server: there are no clusters with this name: {name} (flotilla reconciles only the in-cluster destination)"
    )
}

/// `ComparisonError` wrapping a manifest generation failure, as Argo prints it.
pub fn manifest_failure(detail: &str) -> String {
    format!(
        "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = {detail}"
    )
}

/// The repo-server's message for a revision that resolves to nothing.
pub fn unresolved_revision(revision: &str) -> String {
    format!("Unable to resolve '{revision}' to a commit SHA")
}

/// `syncResult.resources[].message` of a resource kind the project does not permit.
pub fn resource_not_permitted(group: &str, kind: &str, project: &str) -> String {
    format!("resource {group}:{kind} is not permitted in project {project}")
}

/// `operationState.message` when one or more resources failed to apply.
pub fn one_or_more_failed() -> &'static str {
    "one or more objects failed to apply"
}

/// `operationState.message` when a hook failed: Argo names the phase and the hook.
pub fn hook_failed(kind: &str, name: &str, message: &str) -> String {
    format!(
        "one or more synchronization tasks completed unsuccessfully, reason: {kind}/{name} failed: {message}"
    )
}

/// `operationState.message` of a retried sync.
pub fn retrying(attempt: u32, message: &str) -> String {
    format!("{message} (retried {attempt} times).")
}
