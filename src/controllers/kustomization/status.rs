//! Kustomization status transitions (flux-semantics §3.2 steps 2–11, §3.9) as pure functions over a
//! `status` value, and the dependency readiness check of step 3.

use jiff::Timestamp;
use serde_json::{Map, Value};
use std::time::Duration;

use super::error::ReconcileError;
use super::inventory::Inventory;
use super::spec::{DependencyRef, SourceRef, format_duration};
use crate::model::conditions::{self, Condition, ConditionStatus, HEALTHY, READY};

/// Reason `Progressing`.
pub const PROGRESSING: &str = "Progressing";
/// Reason `ProgressingWithRetry`.
pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
/// Reason `ReconciliationSucceeded`.
pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
/// Reason `Succeeded`.
pub const SUCCEEDED: &str = "Succeeded";

/// Where the run is, for the Reconciling message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Downloading the artifact.
    Fetching,
    /// kustomize build and substitution.
    Building,
    /// Dry-run and apply.
    DetectingDrift,
    /// Waiting for health checks.
    HealthChecks,
}

/// The Reconciling message of a phase, e.g. `Fetching manifests for revision <rev> with a timeout of 5m0s`.
pub fn phase_message(phase: Phase, revision: &str, timeout: Duration) -> String {
    let what = match phase {
        Phase::Fetching => "Fetching manifests",
        Phase::Building => "Building manifests",
        Phase::DetectingDrift => "Detecting drift",
        Phase::HealthChecks => "Running health checks",
    };
    format!(
        "{what} for revision {revision} with a timeout of {}",
        format_duration(timeout)
    )
}

fn cond(type_: &str, status: ConditionStatus, reason: &str, message: &str) -> Condition {
    Condition::new(type_, status, reason, message)
}

fn status_map(status: &mut Value) -> Option<&mut Map<String, Value>> {
    if !status.is_object() {
        *status = Value::Object(Map::new());
    }
    status.as_object_mut()
}

fn set_field(status: &mut Value, key: &str, value: Value) {
    if let Some(m) = status_map(status) {
        m.insert(key.to_string(), value);
    }
}

/// Step 4: `Ready=Unknown Progressing "Reconciliation in progress"` and
/// `Reconciling=True Progressing "Fetching manifests for revision …"`.
pub fn mark_progressing(
    status: &mut Value,
    revision: &str,
    timeout: Duration,
    generation: i64,
    now: Timestamp,
) {
    let ready = cond(
        READY,
        ConditionStatus::Unknown,
        PROGRESSING,
        "Reconciliation in progress",
    );
    conditions::set_condition(status, &ready, generation, now);
    let msg = phase_message(Phase::Fetching, revision, timeout);
    conditions::mark_reconciling(status, PROGRESSING, &msg, generation, now);
}

/// Updates the Reconciling progress message for a later phase.
pub fn mark_phase(
    status: &mut Value,
    phase: Phase,
    revision: &str,
    timeout: Duration,
    generation: i64,
    now: Timestamp,
) {
    let msg = phase_message(phase, revision, timeout);
    conditions::mark_reconciling(status, PROGRESSING, &msg, generation, now);
    if phase == Phase::HealthChecks {
        let healthy = cond(HEALTHY, ConditionStatus::Unknown, PROGRESSING, &msg);
        conditions::set_condition(status, &healthy, generation, now);
    }
}

/// Step 5: records `status.lastAttemptedRevision`.
pub fn set_last_attempted_revision(status: &mut Value, revision: &str) {
    set_field(
        status,
        "lastAttemptedRevision",
        Value::String(revision.into()),
    );
}

/// Step 8: records the new inventory.
pub fn set_inventory(status: &mut Value, inventory: &Inventory) {
    set_field(status, "inventory", inventory.to_value());
}

/// Step 9 success: `Healthy=True Succeeded "Health check passed in <d>"`.
pub fn mark_healthy(status: &mut Value, elapsed: Duration, generation: i64, now: Timestamp) {
    let msg = format!("Health check passed in {}", format_duration(elapsed));
    let c = cond(HEALTHY, ConditionStatus::True, SUCCEEDED, &msg);
    conditions::set_condition(status, &c, generation, now);
}

/// Step 9 with nothing to check: the Healthy condition is removed.
pub fn clear_healthy(status: &mut Value) {
    conditions::remove_condition(status, HEALTHY);
}

/// Step 10: `lastAppliedRevision` (and origin revision). `Ready=True ReconciliationSucceeded
/// "Applied revision: <rev>"`, the failure conditions and step 11 (requestedAt,
/// observedGeneration, ProgressingWithRetry) are the runtime's status writer's
/// ([`crate::runtime::Run::conclude`]).
pub fn record_applied_revision(status: &mut Value, revision: &str, origin_revision: Option<&str>) {
    set_field(
        status,
        "lastAppliedRevision",
        Value::String(revision.into()),
    );
    match origin_revision {
        Some(o) if !o.is_empty() => {
            set_field(status, "lastAppliedOriginRevision", Value::String(o.into()));
        }
        _ => {
            if let Some(m) = status_map(status) {
                m.remove("lastAppliedOriginRevision");
            }
        }
    }
}

/// Step 2: the Ready message when the source object is missing.
pub fn source_not_found_message(source: &SourceRef) -> String {
    format!(
        "Source '{}/{}/{}' not found",
        source.kind, source.namespace, source.name
    )
}

/// Step 2: the Ready message when the source has no artifact yet.
pub fn artifact_not_ready_message() -> String {
    format!(
        "Source artifact not found, retrying in {}",
        format_duration(super::error::REQUEUE_DEPENDENCY)
    )
}

/// Step 3: whether the dependency `dep` (fetched as `dep_obj`, `None` when NotFound) is ready for
/// a Kustomization whose own source is `own_source` at `artifact_revision`. Err is the exact
/// condition message.
pub fn dependency_ready(
    dep: &DependencyRef,
    dep_obj: Option<&Value>,
    own_source: &SourceRef,
    artifact_revision: &str,
) -> Result<(), ReconcileError> {
    let id = format!("{}/{}", dep.namespace, dep.name);
    let not_ready =
        |what: &str| ReconcileError::DependencyNotReady(format!("dependency '{id}' {what}"));
    let Some(obj) = dep_obj else {
        return Err(not_ready(&format!(
            "not found: kustomizations.kustomize.toolkit.fluxcd.io \"{}\" not found",
            dep.name
        )));
    };
    let generation = obj
        .get("metadata")
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let observed = obj
        .get("status")
        .and_then(|s| s.get("observedGeneration"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if conditions::conditions(obj).is_empty() || generation != observed {
        return Err(not_ready("is not ready"));
    }
    if !conditions::is_true(obj, READY) {
        return Err(not_ready("is not ready"));
    }
    let src = obj.get("spec").and_then(|s| s.get("sourceRef"));
    fn text(v: Option<&Value>) -> &str {
        v.and_then(Value::as_str).unwrap_or("")
    }
    let src_kind = text(src.and_then(|s| s.get("kind")));
    let src_name = text(src.and_then(|s| s.get("name")));
    let src_ns = match text(src.and_then(|s| s.get("namespace"))) {
        "" => text(obj.get("metadata").and_then(|m| m.get("namespace"))),
        ns => ns,
    };
    let last_applied = text(obj.get("status").and_then(|s| s.get("lastAppliedRevision")));
    if src_kind == own_source.kind
        && src_name == own_source.name
        && src_ns == own_source.namespace
        && !same_revision(artifact_revision, last_applied)
    {
        return Err(not_ready("revision is not up to date"));
    }
    Ok(())
}

/// Whether two revisions are the same, accepting Flux's legacy `<ref>/<sha>` form for `<ref>@sha1:<sha>`.
pub fn same_revision(current: &str, other: &str) -> bool {
    if current == other {
        return true;
    }
    let to_new = |r: &str| -> Option<String> {
        if r.contains('@') || r.contains(':') {
            return None;
        }
        Some(match r.rsplit_once('/') {
            Some((reference, sha)) => format!("{reference}@sha1:{sha}"),
            None => format!("sha1:{r}"),
        })
    };
    to_new(other).is_some_and(|o| o == current) || to_new(current).is_some_and(|c| c == other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::conditions::{RECONCILING, STALLED};
    use crate::runtime::{Failure, Run, Success};
    use serde_json::json;

    fn now() -> Timestamp {
        Timestamp::from_second(1_785_000_000).unwrap()
    }

    fn cond_of(status: &Value, t: &str) -> Option<Condition> {
        conditions::condition(&json!({"status": status}), t)
    }

    const REV: &str = "main@sha1:0123abc";

    /// The runtime's status writer over `status` of an object at `generation`.
    fn conclude(
        status: Value,
        generation: i64,
        requested: Option<&str>,
        result: Result<Success, ReconcileError>,
    ) -> Value {
        let mut obj =
            json!({"metadata": {"name": "apps", "generation": generation}, "status": status});
        if let Some(t) = requested {
            obj["metadata"]["annotations"] = json!({"reconcile.fluxcd.io/requestedAt": t});
        }
        let mut run = Run::detached(&obj, now());
        run.conclude(result.map_err(Failure::from));
        run.into_parts().0
    }

    fn applied() -> Result<Success, ReconcileError> {
        Ok(Success::ready(
            RECONCILIATION_SUCCEEDED,
            format!("Applied revision: {REV}"),
            Duration::from_secs(60),
        ))
    }

    #[test]
    fn progressing_then_success() {
        let mut s = json!({});
        mark_progressing(&mut s, REV, Duration::from_secs(300), 3, now());
        let r = cond_of(&s, READY).unwrap();
        assert_eq!(
            (r.status, r.reason.as_str(), r.message.as_str()),
            (
                ConditionStatus::Unknown,
                "Progressing",
                "Reconciliation in progress"
            )
        );
        assert_eq!(
            cond_of(&s, RECONCILING).unwrap().message,
            "Fetching manifests for revision main@sha1:0123abc with a timeout of 5m0s"
        );
        set_last_attempted_revision(&mut s, REV);
        mark_phase(
            &mut s,
            Phase::HealthChecks,
            REV,
            Duration::from_secs(300),
            3,
            now(),
        );
        assert_eq!(
            cond_of(&s, HEALTHY).unwrap().status,
            ConditionStatus::Unknown
        );
        mark_healthy(&mut s, Duration::from_millis(1500), 3, now());
        record_applied_revision(&mut s, REV, Some("v1.2.3@sha1:0123abc"));
        let s = conclude(s, 3, Some("2026-08-01T10:00:00Z"), applied());
        assert!(cond_of(&s, RECONCILING).is_none());
        let r = cond_of(&s, READY).unwrap();
        assert_eq!(
            (r.reason.as_str(), r.message.as_str()),
            (
                "ReconciliationSucceeded",
                "Applied revision: main@sha1:0123abc"
            )
        );
        assert_eq!(
            cond_of(&s, HEALTHY).unwrap().message,
            "Health check passed in 1.5s"
        );
        assert_eq!(s["observedGeneration"], 3);
        assert_eq!(s["lastAppliedRevision"], REV);
        assert_eq!(s["lastAttemptedRevision"], REV);
        assert_eq!(s["lastAppliedOriginRevision"], "v1.2.3@sha1:0123abc");
        assert_eq!(s["lastHandledReconcileAt"], "2026-08-01T10:00:00Z");
        let types: Vec<String> = conditions::conditions(&json!({"status": s}))
            .into_iter()
            .map(|c| c.type_)
            .collect();
        assert_eq!(types, ["Ready", "Healthy"]);
    }

    #[test]
    fn transient_failure_keeps_reconciling_with_retry() {
        let mut s = json!({"observedGeneration": 1});
        mark_progressing(&mut s, REV, Duration::from_secs(60), 2, now());
        let err = ReconcileError::BuildFailed("kustomize build failed: boom".into());
        let s = conclude(s, 2, None, Err(err));
        let r = cond_of(&s, READY).unwrap();
        assert_eq!(
            (r.status, r.reason.as_str()),
            (ConditionStatus::False, "BuildFailed")
        );
        assert_eq!(
            cond_of(&s, RECONCILING).unwrap().reason,
            "ProgressingWithRetry"
        );
        assert_eq!(
            s["observedGeneration"], 1,
            "observedGeneration only moves on success"
        );
        assert!(s.get("lastHandledReconcileAt").is_none());
    }

    #[test]
    fn health_failure_marks_healthy_false() {
        let err = ReconcileError::HealthCheckFailed("health check failed after 30s: x".into());
        let s = conclude(json!({}), 1, None, Err(err));
        let h = cond_of(&s, HEALTHY).unwrap();
        assert_eq!(
            (h.status, h.reason.as_str()),
            (ConditionStatus::False, "HealthCheckFailed")
        );
    }

    #[test]
    fn terminal_failure_stalls() {
        let mut s = json!({});
        mark_progressing(&mut s, REV, Duration::from_secs(60), 4, now());
        let err = ReconcileError::AccessDenied("cross-namespace references are not allowed".into());
        let s = conclude(s, 4, None, Err(err));
        assert!(cond_of(&s, RECONCILING).is_none());
        assert_eq!(cond_of(&s, STALLED).unwrap().reason, "AccessDenied");
        assert_eq!(cond_of(&s, READY).unwrap().reason, "AccessDenied");
        assert_eq!(s["observedGeneration"], 4);
    }

    #[test]
    fn garbage_status_is_replaced() {
        let mut s = json!("junk");
        record_applied_revision(&mut s, REV, None);
        assert_eq!(s["lastAppliedRevision"], REV);
        let s = conclude(json!([1]), 1, Some("x"), applied());
        assert_eq!(s["lastHandledReconcileAt"], "x");
    }

    fn own() -> SourceRef {
        SourceRef {
            kind: "GitRepository".into(),
            name: "flux-system".into(),
            namespace: "flux-system".into(),
            api_version: None,
        }
    }

    fn dep() -> DependencyRef {
        DependencyRef {
            name: "infra".into(),
            namespace: "flux-system".into(),
            ready_expr: None,
        }
    }

    fn dep_obj(ready: &str, generation: i64, observed: i64, last: &str) -> Value {
        json!({"metadata": {"name": "infra", "namespace": "flux-system", "generation": generation},
               "spec": {"sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
               "status": {"observedGeneration": observed, "lastAppliedRevision": last,
                          "conditions": [{"type": "Ready", "status": ready, "reason": "x", "message": ""}]}})
    }

    #[test]
    fn dependency_checks_and_messages() {
        let msg = |r: Result<(), ReconcileError>| r.unwrap_err().to_string();
        assert!(dependency_ready(&dep(), Some(&dep_obj("True", 2, 2, REV)), &own(), REV).is_ok());
        assert!(
            dependency_ready(
                &dep(),
                Some(&dep_obj("True", 2, 2, "main/0123abc")),
                &own(),
                REV
            )
            .is_ok()
        );
        assert_eq!(
            msg(dependency_ready(
                &dep(),
                Some(&dep_obj("False", 2, 2, REV)),
                &own(),
                REV
            )),
            "dependency 'flux-system/infra' is not ready"
        );
        assert_eq!(
            msg(dependency_ready(
                &dep(),
                Some(&dep_obj("True", 3, 2, REV)),
                &own(),
                REV
            )),
            "dependency 'flux-system/infra' is not ready"
        );
        assert_eq!(
            msg(dependency_ready(
                &dep(),
                Some(&dep_obj("True", 2, 2, "main@sha1:old")),
                &own(),
                REV
            )),
            "dependency 'flux-system/infra' revision is not up to date"
        );
        let other = SourceRef {
            name: "other".into(),
            ..own()
        };
        assert!(
            dependency_ready(
                &dep(),
                Some(&dep_obj("True", 2, 2, "main@sha1:old")),
                &other,
                REV
            )
            .is_ok()
        );
        let e = dependency_ready(&dep(), None, &own(), REV).unwrap_err();
        assert_eq!(e.reason(), "DependencyNotReady");
        assert!(
            e.to_string()
                .starts_with("dependency 'flux-system/infra' not found")
        );
        assert!(
            dependency_ready(
                &dep(),
                Some(&json!({"status": {"conditions": []}})),
                &own(),
                REV
            )
            .is_err()
        );
        assert!(dependency_ready(&dep(), Some(&json!(7)), &own(), REV).is_err());
    }

    #[test]
    fn messages() {
        assert_eq!(
            artifact_not_ready_message(),
            "Source artifact not found, retrying in 30s"
        );
        assert_eq!(
            source_not_found_message(&own()),
            "Source 'GitRepository/flux-system/flux-system' not found"
        );
    }
}
