//! Health of any object: kstatus rules (what Flux's `wait`/`healthChecks` compute) for built-in
//! workloads and custom resources, Flux-aware rules for the GitOps kinds, and Argo CD's own verdict
//! for Applications — all folded into one [`Health`] the UI can colour.
//!
//! Every function is total: malformed objects degrade to `Unknown` or to the "no news is good news"
//! kstatus default, never panic.

use super::conditions::field::{at, bool_at, group, i64_at, kind, str_at};
use super::conditions::{self, Condition, ConditionStatus};
use super::kinds::{Family, by_group_kind};
use serde_json::Value;

/// One verdict the UI can colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// Reconciled and healthy (kstatus Current, Argo Healthy).
    Ready,
    /// Failed, stalled or degraded.
    Failing,
    /// Work in progress, or the status describes an older generation.
    Progressing,
    /// Deliberately paused (Flux `spec.suspend`, paused Deployment, suspended Job, Argo Suspended).
    Suspended,
    /// Nothing trustworthy to say.
    Unknown,
}

impl Health {
    /// A short label: `Ready`, `Failing`, `Progressing`, `Suspended`, `Unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Failing => "Failing",
            Self::Progressing => "Progressing",
            Self::Suspended => "Suspended",
            Self::Unknown => "Unknown",
        }
    }
}

/// kstatus computed status (kubernetes-sigs/cli-utils vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KStatus {
    /// Not yet at the desired state.
    InProgress,
    /// At the desired state.
    Current,
    /// Cannot reach the desired state without intervention.
    Failed,
    /// Being deleted.
    Terminating,
    /// Absent from the cluster (set by callers that looked and found nothing).
    NotFound,
    /// Status could not be computed.
    Unknown,
}

impl KStatus {
    /// The kstatus spelling, as Flux prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "InProgress",
            Self::Current => "Current",
            Self::Failed => "Failed",
            Self::Terminating => "Terminating",
            Self::NotFound => "NotFound",
            Self::Unknown => "Unknown",
        }
    }

    /// The UI verdict for a kstatus result.
    pub fn health(self) -> Health {
        match self {
            Self::Current => Health::Ready,
            Self::InProgress | Self::Terminating => Health::Progressing,
            Self::Failed | Self::NotFound => Health::Failing,
            Self::Unknown => Health::Unknown,
        }
    }
}

/// Argo CD health status (`status.health.status` of an Application).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgoHealth {
    /// All managed resources healthy.
    Healthy,
    /// Something is still rolling out.
    Progressing,
    /// Something failed.
    Degraded,
    /// Something is paused.
    Suspended,
    /// Managed resources do not exist.
    Missing,
    /// Unknown or unrecognised.
    Unknown,
}

impl ArgoHealth {
    /// Parses Argo's spelling; anything unrecognised is Unknown.
    pub fn parse(s: &str) -> Self {
        match s {
            "Healthy" => Self::Healthy,
            "Progressing" => Self::Progressing,
            "Degraded" => Self::Degraded,
            "Suspended" => Self::Suspended,
            "Missing" => Self::Missing,
            _ => Self::Unknown,
        }
    }

    /// Argo's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Progressing => "Progressing",
            Self::Degraded => "Degraded",
            Self::Suspended => "Suspended",
            Self::Missing => "Missing",
            Self::Unknown => "Unknown",
        }
    }

    /// The UI verdict. Missing counts as failing: nothing the app declares is running.
    pub fn health(self) -> Health {
        match self {
            Self::Healthy => Health::Ready,
            Self::Progressing => Health::Progressing,
            Self::Degraded | Self::Missing => Health::Failing,
            Self::Suspended => Health::Suspended,
            Self::Unknown => Health::Unknown,
        }
    }
}

/// Argo CD sync status (`status.sync.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncStatus {
    /// Live state matches Git.
    Synced,
    /// Live state differs from Git.
    OutOfSync,
    /// Comparison failed or never ran.
    Unknown,
}

impl SyncStatus {
    /// Parses Argo's spelling; anything unrecognised is Unknown.
    pub fn parse(s: &str) -> Self {
        match s {
            "Synced" => Self::Synced,
            "OutOfSync" => Self::OutOfSync,
            _ => Self::Unknown,
        }
    }

    /// Argo's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synced => "Synced",
            Self::OutOfSync => "OutOfSync",
            Self::Unknown => "Unknown",
        }
    }
}

/// Which engine produced a verdict, with its own vocabulary (the UI labels cells by engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetailedStatus {
    /// Console-computed with kstatus rules.
    KStatus(KStatus),
    /// Read from an Argo CD Application (Argo-native).
    Argo(ArgoHealth),
}

impl DetailedStatus {
    /// The engine's own spelling (`Current`, `Degraded`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KStatus(k) => k.as_str(),
            Self::Argo(a) => a.as_str(),
        }
    }
}

/// A kstatus result with its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KStatusReport {
    /// The computed status.
    pub status: KStatus,
    /// Why, in kstatus's words (e.g. `Ready: 1/3`).
    pub message: String,
}

/// The full health verdict of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The colourable verdict.
    pub health: Health,
    /// The engine-specific status behind it.
    pub detail: DetailedStatus,
    /// Why (the Ready message, a kstatus explanation, Argo's health message...).
    pub message: String,
}

fn report(status: KStatus, message: impl Into<String>) -> KStatusReport {
    KStatusReport {
        status,
        message: message.into(),
    }
}

/// Assesses any object: Flux kinds by their conditions and suspend flag, Argo CD kinds by their own
/// status, everything else by kstatus. Time-dependent kstatus rules are skipped (see [`assess_at`]).
pub fn assess(obj: &Value) -> Assessment {
    assess_with(obj, None)
}

/// Like [`assess`], applying kstatus's time-dependent rules (unschedulable Pods fail after 15 s) at
/// `now` (unix seconds).
pub fn assess_at(obj: &Value, now: i64) -> Assessment {
    assess_with(obj, Some(now))
}

fn assess_with(obj: &Value, now: Option<i64>) -> Assessment {
    match by_group_kind(group(obj), kind(obj)) {
        Some(k) if k.family == Family::Flux => flux_assessment(obj),
        Some(k) if k.kind == "Application" => argo_application(obj),
        Some(k) if k.kind == "ApplicationSet" => argo_application_set(obj),
        Some(_) => Assessment {
            // AppProject: configuration only, no status to judge.
            health: Health::Ready,
            detail: DetailedStatus::KStatus(KStatus::Current),
            message: String::new(),
        },
        None => builtin_assessment(obj, now),
    }
}

/// kstatus for any object, without time-dependent rules.
pub fn kstatus(obj: &Value) -> KStatusReport {
    kstatus_with(obj, None)
}

/// kstatus for any object at `now` (unix seconds), with the unschedulable-Pod grace period.
pub fn kstatus_at(obj: &Value, now: i64) -> KStatusReport {
    kstatus_with(obj, Some(now))
}

fn kstatus_with(obj: &Value, now: Option<i64>) -> KStatusReport {
    if !obj.is_object() {
        return report(KStatus::Unknown, "not an object");
    }
    if at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null()) {
        return report(KStatus::Terminating, "Resource scheduled for deletion");
    }
    let generation = i64_at(obj, &["metadata", "generation"]);
    let observed = at(obj, &["status", "observedGeneration"]);
    if let Some(observed) = observed.filter(|o| o.as_i64() != generation) {
        let seen = observed.as_i64().map_or("?".to_string(), |g| g.to_string());
        let want = generation.map_or("?".to_string(), |g| g.to_string());
        return report(
            KStatus::InProgress,
            format!(
                "{} generation is {want}, but latest observed generation is {seen}",
                kind(obj)
            ),
        );
    }
    let conds = conditions::conditions(obj);
    if let Some(c) = conditions::find(&conds, conditions::RECONCILING).filter(|c| c.is_true()) {
        return report(KStatus::InProgress, reason_message(c));
    }
    if let Some(c) = conditions::find(&conds, conditions::STALLED).filter(|c| c.is_true()) {
        return report(KStatus::Failed, reason_message(c));
    }
    let core = group(obj).is_empty();
    let apps = group(obj) == "apps";
    match kind(obj) {
        "Deployment" if apps => deployment(obj, &conds),
        "StatefulSet" if apps => stateful_set(obj),
        "DaemonSet" if apps => daemon_set(obj, generation),
        "ReplicaSet" if apps => replica_set(obj, &conds),
        "Job" if group(obj) == "batch" => job(obj, &conds),
        "Pod" if core => pod(obj, &conds, now),
        "PersistentVolumeClaim" if core => pvc(obj),
        "Service" if core => service(obj),
        "Namespace" if core => namespace(obj),
        "CustomResourceDefinition" if group(obj) == "apiextensions.k8s.io" => crd(&conds),
        "Secret" | "ConfigMap" if core => report(KStatus::Current, "Resource is always ready"),
        "CronJob" | "PodDisruptionBudget" => report(KStatus::Current, "Resource is current"),
        _ => generic(&conds),
    }
}

fn reason_message(c: &Condition) -> String {
    match (c.reason.is_empty(), c.message.is_empty()) {
        (_, false) => c.message.clone(),
        (false, true) => c.reason.clone(),
        (true, true) => format!("{} is {}", c.type_, c.status),
    }
}

fn generic(conds: &[Condition]) -> KStatusReport {
    match conditions::find(conds, conditions::READY) {
        Some(c) if c.is_true() => report(KStatus::Current, reason_message(c)),
        Some(c) => report(KStatus::InProgress, reason_message(c)),
        None => report(KStatus::Current, "Resource is current"),
    }
}

fn cond_true(conds: &[Condition], type_: &str) -> bool {
    conditions::find(conds, type_).is_some_and(|c| c.is_true())
}

fn deployment(obj: &Value, conds: &[Condition]) -> KStatusReport {
    if let Some(c) =
        conditions::find(conds, "Progressing").filter(|c| c.reason == "ProgressDeadlineExceeded")
    {
        return report(
            KStatus::Failed,
            format!("Progress deadline exceeded: {}", c.message),
        );
    }
    let spec = i64_at(obj, &["spec", "replicas"]).unwrap_or(1);
    let n = |f: &str| i64_at(obj, &["status", f]).unwrap_or(0);
    let (replicas, updated, ready, available) = (
        n("replicas"),
        n("updatedReplicas"),
        n("readyReplicas"),
        n("availableReplicas"),
    );
    if spec > replicas {
        return report(KStatus::InProgress, format!("Replicas: {replicas}/{spec}"));
    }
    if spec > updated {
        return report(KStatus::InProgress, format!("Updated: {updated}/{spec}"));
    }
    if replicas > spec {
        return report(
            KStatus::InProgress,
            format!("Pending termination: {}", replicas.saturating_sub(spec)),
        );
    }
    if updated > available {
        return report(
            KStatus::InProgress,
            format!("Available: {available}/{updated}"),
        );
    }
    if spec > ready {
        return report(KStatus::InProgress, format!("Ready: {ready}/{spec}"));
    }
    let deadline = at(obj, &["spec", "progressDeadlineSeconds"]).is_some();
    let complete = conditions::find(conds, "Progressing")
        .is_some_and(|c| c.is_true() && c.reason == "NewReplicaSetAvailable");
    if deadline && !complete {
        return report(KStatus::InProgress, "ReplicaSet not Available");
    }
    if !cond_true(conds, "Available") {
        return report(KStatus::InProgress, "Deployment not Available");
    }
    report(
        KStatus::Current,
        format!("Deployment is available. Replicas: {replicas}"),
    )
}

fn stateful_set(obj: &Value) -> KStatusReport {
    if str_at(obj, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
        return report(
            KStatus::Current,
            "StatefulSet is using the OnDelete update strategy",
        );
    }
    let spec = i64_at(obj, &["spec", "replicas"]).unwrap_or(1);
    let n = |f: &str| i64_at(obj, &["status", f]).unwrap_or(0);
    let (replicas, ready, current, updated) = (
        n("replicas"),
        n("readyReplicas"),
        n("currentReplicas"),
        n("updatedReplicas"),
    );
    if spec > replicas {
        return report(KStatus::InProgress, format!("Replicas: {replicas}/{spec}"));
    }
    if spec > ready {
        return report(KStatus::InProgress, format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return report(
            KStatus::InProgress,
            format!("Pending termination: {}", replicas.saturating_sub(spec)),
        );
    }
    if let Some(partition) = i64_at(
        obj,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
    ) {
        let want = spec.saturating_sub(partition);
        if updated < want {
            return report(KStatus::InProgress, format!("updated: {updated}/{want}"));
        }
        return report(
            KStatus::Current,
            format!("Partitioned roll out complete. updated: {updated}"),
        );
    }
    if spec > current {
        return report(KStatus::InProgress, format!("current: {current}/{spec}"));
    }
    let rev = |f: &str| str_at(obj, &["status", f]).unwrap_or("");
    if rev("currentRevision") != rev("updateRevision") {
        return report(
            KStatus::InProgress,
            "Waiting for updated revision to match current",
        );
    }
    report(
        KStatus::Current,
        format!("All replicas scheduled as expected. Replicas: {replicas}"),
    )
}

fn daemon_set(obj: &Value, generation: Option<i64>) -> KStatusReport {
    if generation.is_none() || i64_at(obj, &["status", "observedGeneration"]).is_none() {
        return report(KStatus::InProgress, "DaemonSet generation not yet observed");
    }
    let Some(desired) = i64_at(obj, &["status", "desiredNumberScheduled"]) else {
        return report(
            KStatus::InProgress,
            "Missing .status.desiredNumberScheduled",
        );
    };
    for (field, label) in [
        ("currentNumberScheduled", "Current"),
        ("updatedNumberScheduled", "Updated"),
        ("numberAvailable", "Available"),
        ("numberReady", "Ready"),
    ] {
        let have = i64_at(obj, &["status", field]).unwrap_or(0);
        if desired > have {
            return report(KStatus::InProgress, format!("{label}: {have}/{desired}"));
        }
    }
    report(
        KStatus::Current,
        format!("All replicas scheduled as expected. Replicas: {desired}"),
    )
}

fn replica_set(obj: &Value, conds: &[Condition]) -> KStatusReport {
    if let Some(c) = conditions::find(conds, "ReplicaFailure").filter(|c| c.is_true()) {
        return report(
            KStatus::InProgress,
            format!("Replica Failure condition: {}", reason_message(c)),
        );
    }
    let spec = i64_at(obj, &["spec", "replicas"]).unwrap_or(1);
    let n = |f: &str| i64_at(obj, &["status", f]).unwrap_or(0);
    for (field, label) in [
        ("fullyLabeledReplicas", "Labelled"),
        ("availableReplicas", "Available"),
        ("readyReplicas", "Ready"),
    ] {
        if spec > n(field) {
            return report(KStatus::InProgress, format!("{label}: {}/{spec}", n(field)));
        }
    }
    if n("replicas") > spec {
        return report(
            KStatus::InProgress,
            format!(
                "Pending termination: {}",
                n("replicas").saturating_sub(spec)
            ),
        );
    }
    report(
        KStatus::Current,
        format!("ReplicaSet is available. Replicas: {spec}"),
    )
}

/// Flux's Job reader: suspended or Complete → Current, Failed → Failed, otherwise InProgress.
fn job(obj: &Value, conds: &[Condition]) -> KStatusReport {
    if bool_at(obj, &["spec", "suspend"]) == Some(true) {
        return report(KStatus::Current, "Job is suspended");
    }
    if cond_true(conds, "Complete") {
        return report(KStatus::Current, "Job Completed");
    }
    if let Some(c) = conditions::find(conds, "Failed").filter(|c| c.is_true()) {
        return report(
            KStatus::Failed,
            format!("Job Failed: {}", reason_message(c)),
        );
    }
    if at(obj, &["status", "startTime"]).is_none() {
        return report(KStatus::InProgress, "Job not started");
    }
    report(KStatus::InProgress, "Job in progress")
}

const UNSCHEDULABLE_GRACE_SECS: i64 = 15;

fn pod(obj: &Value, conds: &[Condition], now: Option<i64>) -> KStatusReport {
    let phase = str_at(obj, &["status", "phase"]).unwrap_or("");
    match phase {
        "Succeeded" => return report(KStatus::Current, "Pod has completed successfully"),
        "Failed" => return report(KStatus::Current, "Pod has completed, but not successfully"),
        "Running" if cond_true(conds, "Ready") => return report(KStatus::Current, "Pod is Ready"),
        _ => {}
    }
    let crash_looping = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .any(|list| {
            at(obj, &["status", list])
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        str_at(c, &["state", "waiting", "reason"]) == Some("CrashLoopBackOff")
                    })
                })
        });
    if crash_looping {
        return report(
            KStatus::Failed,
            "Pod has one or more containers in CrashLoopBackOff",
        );
    }
    if phase == "Pending" {
        if let Some(c) = conditions::find(conds, "PodScheduled")
            .filter(|c| c.is_false() && c.reason == "Unschedulable")
        {
            let grace_over = match (now, c.last_transition_unix()) {
                (Some(now), Some(since)) => now.saturating_sub(since) > UNSCHEDULABLE_GRACE_SECS,
                _ => false,
            };
            let status = if grace_over {
                KStatus::Failed
            } else {
                KStatus::InProgress
            };
            return report(status, format!("Pod could not be scheduled: {}", c.message));
        }
        return report(KStatus::InProgress, "Pod is in the Pending phase");
    }
    if phase == "Running" {
        return report(KStatus::InProgress, "Pod is running but is not Ready");
    }
    report(KStatus::InProgress, "Pod phase not available")
}

fn pvc(obj: &Value) -> KStatusReport {
    match str_at(obj, &["status", "phase"]) {
        Some("Bound") => report(KStatus::Current, "PVC is Bound"),
        phase => report(
            KStatus::InProgress,
            format!("PVC is not Bound. phase: {}", phase.unwrap_or("")),
        ),
    }
}

fn service(obj: &Value) -> KStatusReport {
    if str_at(obj, &["spec", "type"]) == Some("LoadBalancer")
        && str_at(obj, &["spec", "clusterIP"]).is_none()
    {
        return report(KStatus::InProgress, "ClusterIP not set");
    }
    report(KStatus::Current, "Service is ready")
}

fn namespace(obj: &Value) -> KStatusReport {
    match str_at(obj, &["status", "phase"]) {
        Some("Terminating") => report(KStatus::Terminating, "Namespace is terminating"),
        _ => report(KStatus::Current, "Namespace is active"),
    }
}

fn crd(conds: &[Condition]) -> KStatusReport {
    if let Some(c) = conditions::find(conds, "NamesAccepted").filter(|c| c.is_false()) {
        return report(KStatus::Failed, reason_message(c));
    }
    match conditions::find(conds, "Established") {
        Some(c) if c.is_true() => report(KStatus::Current, "CRD is established"),
        Some(c) if c.is_false() && c.reason != "Installing" => {
            report(KStatus::Failed, reason_message(c))
        }
        _ => report(KStatus::InProgress, "Install in progress"),
    }
}

fn builtin_assessment(obj: &Value, now: Option<i64>) -> Assessment {
    let k = kstatus_with(obj, now);
    let paused = match (group(obj), kind(obj)) {
        ("apps", "Deployment") => bool_at(obj, &["spec", "paused"]) == Some(true),
        ("batch", "Job" | "CronJob") => bool_at(obj, &["spec", "suspend"]) == Some(true),
        _ => false,
    };
    // kstatus has no "paused" concept; the console shows a paused rollout as suspended, as Argo does.
    let health = if paused && k.status != KStatus::Terminating {
        Health::Suspended
    } else {
        k.status.health()
    };
    Assessment {
        health,
        detail: DetailedStatus::KStatus(k.status),
        message: k.message,
    }
}

/// Whether a Flux kind keeps conditions at all (notification v1beta3 Alert/Provider have no status).
fn has_status(obj: &Value) -> bool {
    !matches!(kind(obj), "Alert" | "Provider") || at(obj, &["status", "conditions"]).is_some()
}

/// Flux GitOps kinds: the Ready/Reconciling/Stalled conditions of the current generation decide;
/// unlike plain kstatus, `Ready=False` means failing (Flux sets it on every failed attempt).
fn flux_assessment(obj: &Value) -> Assessment {
    let k = kstatus(obj);
    let detail = DetailedStatus::KStatus(k.status);
    let verdict = |health: Health, message: String| Assessment {
        health,
        detail,
        message,
    };
    if !obj.is_object() {
        return verdict(Health::Unknown, k.message);
    }
    if k.status == KStatus::Terminating {
        return verdict(Health::Progressing, k.message);
    }
    let conds = conditions::conditions(obj);
    let ready = conditions::find(&conds, conditions::READY);
    let ready_message = ready.map(reason_message).unwrap_or_default();
    if bool_at(obj, &["spec", "suspend"]) == Some(true) {
        return verdict(Health::Suspended, ready_message);
    }
    if let Some(c) = conditions::find(&conds, conditions::STALLED).filter(|c| c.is_true()) {
        return verdict(Health::Failing, reason_message(c));
    }
    let generation = i64_at(obj, &["metadata", "generation"]);
    // A condition written for an older generation says nothing about the current spec.
    let stale = |c: &Condition| match (c.observed_generation, generation) {
        (Some(seen), Some(want)) => seen < want,
        _ => false,
    };
    if let Some(c) = ready.filter(|c| c.is_false() && !stale(c)) {
        return verdict(Health::Failing, reason_message(c));
    }
    if let Some(c) = conditions::find(&conds, conditions::RECONCILING).filter(|c| c.is_true()) {
        return verdict(Health::Progressing, reason_message(c));
    }
    let status_stale = match (i64_at(obj, &["status", "observedGeneration"]), generation) {
        (Some(seen), Some(want)) => seen < want,
        _ => false,
    };
    match ready {
        Some(c) if stale(c) || (c.is_true() && status_stale) => verdict(
            Health::Progressing,
            format!(
                "waiting for generation {} to be reconciled",
                generation.unwrap_or_default()
            ),
        ),
        Some(c) => match c.status {
            ConditionStatus::True => verdict(Health::Ready, ready_message),
            ConditionStatus::False => verdict(Health::Failing, ready_message),
            ConditionStatus::Unknown => verdict(Health::Progressing, ready_message),
        },
        None if !has_status(obj) => verdict(Health::Ready, String::new()),
        None => verdict(Health::Unknown, "not reconciled yet".to_string()),
    }
}

/// The sync status of an Argo CD Application.
pub fn argo_sync_status(obj: &Value) -> SyncStatus {
    SyncStatus::parse(str_at(obj, &["status", "sync", "status"]).unwrap_or(""))
}

/// The health status of an Argo CD Application, as Argo CD wrote it.
pub fn argo_health(obj: &Value) -> ArgoHealth {
    ArgoHealth::parse(str_at(obj, &["status", "health", "status"]).unwrap_or(""))
}

/// Application condition types that are errors (the others are warnings).
const ARGO_ERROR_CONDITIONS: &[&str] = &[
    "ComparisonError",
    "InvalidSpecError",
    "SyncError",
    "DeletionError",
    "UnknownError",
];

/// The first error-type condition of an Application, as `Type: message`.
pub fn argo_error_condition(obj: &Value) -> Option<String> {
    at(obj, &["status", "conditions"])?
        .as_array()?
        .iter()
        .filter_map(|c| {
            let t = str_at(c, &["type"])?;
            ARGO_ERROR_CONDITIONS
                .contains(&t)
                .then(|| format!("{t}: {}", str_at(c, &["message"]).unwrap_or("")))
        })
        .next()
}

/// Argo CD Application: `status.health` decides; an error condition or a running sync overrides a
/// healthier verdict.
fn argo_application(obj: &Value) -> Assessment {
    let argo = argo_health(obj);
    let mut health = argo.health();
    let mut message = str_at(obj, &["status", "health", "message"])
        .unwrap_or("")
        .to_string();
    let phase = str_at(obj, &["status", "operationState", "phase"]);
    if let Some(err) = argo_error_condition(obj) {
        health = Health::Failing;
        message = err;
    } else if matches!(phase, Some("Failed" | "Error")) {
        let op = str_at(obj, &["status", "operationState", "message"]).unwrap_or("");
        message = format!("sync failed: {op}");
    } else if matches!(phase, Some("Running" | "Terminating"))
        && matches!(health, Health::Ready | Health::Unknown)
    {
        health = Health::Progressing;
        message = str_at(obj, &["status", "operationState", "message"])
            .unwrap_or("sync in progress")
            .to_string();
    }
    Assessment {
        health,
        detail: DetailedStatus::Argo(argo),
        message,
    }
}

/// Argo CD ApplicationSet: its conditions (`ErrorOccurred`, `RolloutProgressing`,
/// `ResourcesUpToDate`) decide.
fn argo_application_set(obj: &Value) -> Assessment {
    let conds = conditions::conditions(obj);
    let argo = |h: ArgoHealth, message: String| Assessment {
        health: h.health(),
        detail: DetailedStatus::Argo(h),
        message,
    };
    if let Some(c) = conditions::find(&conds, "ErrorOccurred").filter(|c| c.is_true()) {
        return argo(ArgoHealth::Degraded, reason_message(c));
    }
    if let Some(c) = conditions::find(&conds, "RolloutProgressing").filter(|c| c.is_true()) {
        return argo(ArgoHealth::Progressing, reason_message(c));
    }
    if let Some(c) = conditions::find(&conds, "ResourcesUpToDate").filter(|c| c.is_true()) {
        return argo(ArgoHealth::Healthy, reason_message(c));
    }
    match str_at(obj, &["status", "health", "status"]) {
        Some(h) => argo(ArgoHealth::parse(h), String::new()),
        None => argo(ArgoHealth::Unknown, String::new()),
    }
}

#[cfg(test)]
mod tests;
