//! kstatus health checks (flux-semantics §3.8): the verdict of one poll over a set of objects and
//! Flux's messages. GitOps kinds (Flux, Argo CD) that carry no status at all have never been
//! reconciled: they count as in progress, never as Current. The polling loop is
//! [`super::Applier::wait_healthy`].

use serde_json::Value;
use std::time::Duration;

use super::inventory::ObjectRef;
use crate::model::health::{KStatus, kstatus_at};
use crate::model::kinds::{Family, by_group_kind};
use crate::model::time::format_duration;

/// An object to health-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTarget {
    /// Its identity.
    pub object: ObjectRef,
    /// The apiVersion to read it with.
    pub api_version: String,
}

/// The health of one object in one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHealth {
    /// The object.
    pub object: ObjectRef,
    /// Its kstatus.
    pub status: KStatus,
    /// A GitOps object without any status: nothing has reconciled it yet.
    pub no_status: bool,
}

/// The verdict of one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthVerdict {
    /// Every object is Current.
    Healthy,
    /// Keep polling; these are not Current yet.
    Pending(Vec<ObjectHealth>),
    /// Stop: these objects are stalled (Failed).
    Stalled(Vec<ObjectHealth>),
}

/// Why a health wait failed, with Flux's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthError {
    /// Some objects are stalled (kstatus Failed); the wait stopped early.
    #[error(
        "health check failed after {}: failed early due to stalled resources: {}",
        format_duration(*elapsed),
        list(items)
    )]
    Stalled {
        /// The stalled objects.
        items: Vec<ObjectHealth>,
        /// Time waited.
        elapsed: Duration,
    },
    /// The timeout passed with objects not Current.
    #[error(
        "health check failed after {}: timeout waiting for: {}",
        format_duration(*elapsed),
        list(items)
    )]
    Timeout {
        /// The objects still pending.
        items: Vec<ObjectHealth>,
        /// Time waited.
        elapsed: Duration,
    },
}

/// Whether an object is of a GitOps kind that reports its reconciliation in `status` (the Ready
/// condition contract) but has no status yet: no conditions and no observedGeneration (Argo CD
/// Applications: no health, sync or conditions either).
pub fn has_no_status(obj: &Value) -> bool {
    let (group, _) = super::inventory::split_api_version(
        obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
    );
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(info) = by_group_kind(group, kind) else {
        return false;
    };
    let status = obj.get("status");
    let present = |field: &str| {
        status
            .and_then(|s| s.get(field))
            .is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
    };
    match info.family {
        // notification v1beta3 Alert and Provider keep no status at all.
        Family::Flux => {
            !matches!(kind, "Alert" | "Provider")
                && !present("conditions")
                && !present("observedGeneration")
        }
        // AppProject is configuration only.
        Family::ArgoCd => {
            kind != "AppProject"
                && !present("conditions")
                && !present("health")
                && !present("sync")
                && !present("observedGeneration")
        }
    }
}

/// The health of one observed object (`None` = NotFound) at `now_unix`.
pub fn object_health(object: &ObjectRef, observed: Option<&Value>, now_unix: i64) -> ObjectHealth {
    let (status, no_status) = match observed {
        None => (KStatus::NotFound, false),
        Some(obj) => {
            let status = kstatus_at(obj, now_unix).status;
            // kstatus calls an object without conditions Current; a GitOps object without any
            // status was never looked at by its controller, so it cannot be healthy yet.
            if has_no_status(obj) && status == KStatus::Current {
                (KStatus::InProgress, true)
            } else {
                (status, false)
            }
        }
    };
    ObjectHealth {
        object: object.clone(),
        status,
        no_status,
    }
}

/// Assesses one poll: `observed[i]` is the live object of `targets[i]` (`None` = NotFound).
/// `fail_fast` (Flux's default) stops at the first Failed object; otherwise only once every object is
/// terminal (Current or Failed).
pub fn assess(
    targets: &[HealthTarget],
    observed: &[Option<&Value>],
    fail_fast: bool,
    now_unix: i64,
) -> HealthVerdict {
    let statuses: Vec<ObjectHealth> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| object_health(&t.object, observed.get(i).copied().flatten(), now_unix))
        .collect();
    let failed: Vec<ObjectHealth> = statuses
        .iter()
        .filter(|h| h.status == KStatus::Failed)
        .cloned()
        .collect();
    let all_terminal = statuses
        .iter()
        .all(|h| matches!(h.status, KStatus::Current | KStatus::Failed));
    if failed.is_empty() && all_terminal {
        return HealthVerdict::Healthy;
    }
    if !failed.is_empty() && (fail_fast || all_terminal) {
        return HealthVerdict::Stalled(failed);
    }
    HealthVerdict::Pending(
        statuses
            .into_iter()
            .filter(|h| h.status != KStatus::Current)
            .collect(),
    )
}

fn list(items: &[ObjectHealth]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|h| {
            let line = format!("{} status: '{}'", h.object.display(), h.status.as_str());
            if h.no_status {
                format!("{line} (no status yet: never reconciled)")
            } else {
                line
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(kind: &str, name: &str) -> HealthTarget {
        HealthTarget {
            object: ObjectRef {
                namespace: "a".into(),
                name: name.into(),
                group: "apps".into(),
                kind: kind.into(),
            },
            api_version: "apps/v1".into(),
        }
    }

    #[test]
    fn verdicts_and_messages() {
        let ready = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "generation": 1},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                       "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}});
        let failed = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad", "generation": 1},
            "spec": {"replicas": 1, "progressDeadlineSeconds": 600},
            "status": {"observedGeneration": 1, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}});
        let targets = [
            target("Deployment", "web"),
            target("Deployment", "bad"),
            target("Deployment", "missing"),
        ];
        assert_eq!(
            assess(&targets[..1], &[Some(&ready)], true, 0),
            HealthVerdict::Healthy
        );
        let v = assess(&targets, &[Some(&ready), Some(&failed), None], true, 0);
        let HealthVerdict::Stalled(items) = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            HealthError::Stalled {
                items,
                elapsed: Duration::from_secs(5)
            }
            .to_string(),
            "health check failed after 5s: failed early due to stalled resources: [Deployment/a/bad status: 'Failed']"
        );
        let v = assess(&targets, &[Some(&ready), Some(&failed), None], false, 0);
        let HealthVerdict::Pending(items) = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            HealthError::Timeout {
                items,
                elapsed: Duration::from_secs(300)
            }
            .to_string(),
            "health check failed after 5m0s: timeout waiting for: [Deployment/a/bad status: 'Failed', Deployment/a/missing status: 'NotFound']"
        );
        assert!(matches!(
            assess(&targets[..2], &[Some(&ready), Some(&failed)], false, 0),
            HealthVerdict::Stalled(_)
        ));
        assert!(matches!(
            assess(&targets[..1], &[Some(&json!(5))], true, 0),
            HealthVerdict::Healthy | HealthVerdict::Pending(_) | HealthVerdict::Stalled(_)
        ));
    }

    #[test]
    fn gitops_objects_without_status_are_not_healthy() {
        let hr = |status: Value| {
            json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                   "metadata": {"name": "podinfo", "namespace": "apps", "generation": 1},
                   "spec": {}, "status": status})
        };
        let t = [HealthTarget {
            object: ObjectRef {
                namespace: "apps".into(),
                name: "podinfo".into(),
                group: "helm.toolkit.fluxcd.io".into(),
                kind: "HelmRelease".into(),
            },
            api_version: "helm.toolkit.fluxcd.io/v2".into(),
        }];
        let bare = hr(json!(null));
        let v = assess(&t, &[Some(&bare)], true, 0);
        let HealthVerdict::Pending(items) = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            HealthError::Timeout {
                items,
                elapsed: Duration::from_secs(2)
            }
            .to_string(),
            "health check failed after 2s: timeout waiting for: [HelmRelease/apps/podinfo status: 'InProgress' (no status yet: never reconciled)]"
        );
        let empty = hr(json!({"conditions": []}));
        assert!(matches!(
            assess(&t, &[Some(&empty)], true, 0),
            HealthVerdict::Pending(_)
        ));
        let ready = hr(json!({"observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded"}]}));
        assert_eq!(assess(&t, &[Some(&ready)], true, 0), HealthVerdict::Healthy);
        let old = hr(json!({"observedGeneration": 0,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded"}]}));
        assert!(matches!(
            assess(&t, &[Some(&old)], true, 0),
            HealthVerdict::Pending(_)
        ));
        // Kinds outside the GitOps contract keep kstatus's answer.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(!has_no_status(&cm));
        let project = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "p"}});
        assert!(!has_no_status(&project));
        let app = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "a"}});
        assert!(has_no_status(&app));
        let synced = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "a"},
            "status": {"health": {"status": "Healthy"}}});
        assert!(!has_no_status(&synced));
    }
}
