//! Health checks (flux-semantics §3.8): which objects to check and the verdict of one poll, with
//! Flux's messages. Polling and timing belong to the loop.

use serde_json::Value;
use std::time::Duration;

use super::error::ReconcileError;
use super::inventory::ObjectRef;
use super::prune::SuccessfulApply;
use super::spec::{KustomizationSpec, format_duration};
use super::stages::ApplyAction;
use crate::model::health::{KStatus, kstatus_at};

/// An object to health-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTarget {
    /// Its identity.
    pub object: ObjectRef,
    /// The apiVersion to read it with.
    pub api_version: String,
}

/// The objects to check: with `wait`, every change-set entry except skipped ones; otherwise
/// `healthChecks`. The Kustomization itself is excluded. Empty → the Healthy condition is removed.
pub fn health_targets(
    spec: &KustomizationSpec,
    apply: &SuccessfulApply,
    ks_name: &str,
    ks_namespace: &str,
) -> Vec<HealthTarget> {
    let targets: Vec<HealthTarget> = if spec.wait {
        apply
            .entries()
            .iter()
            .filter(|e| e.action != ApplyAction::Skipped)
            .map(|e| HealthTarget {
                object: e.entry.object.clone(),
                api_version: e.entry.api_version(),
            })
            .collect()
    } else {
        spec.health_checks
            .iter()
            .map(|h| HealthTarget {
                object: ObjectRef {
                    namespace: h.namespace.clone(),
                    name: h.name.clone(),
                    group: super::inventory::split_api_version(&h.api_version)
                        .0
                        .to_string(),
                    kind: h.kind.clone(),
                },
                api_version: h.api_version.clone(),
            })
            .collect()
    };
    targets
        .into_iter()
        .filter(|t| {
            !(t.object.kind == "Kustomization"
                && t.object.group == "kustomize.toolkit.fluxcd.io"
                && t.object.name == ks_name
                && t.object.namespace == ks_namespace)
        })
        .collect()
}

/// The verdict of one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthVerdict {
    /// Every object is Current.
    Healthy,
    /// Keep polling; these are not Current yet.
    Pending(Vec<(ObjectRef, KStatus)>),
    /// Stop: these objects are stalled (Failed).
    Stalled(Vec<(ObjectRef, KStatus)>),
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
    let statuses: Vec<(ObjectRef, KStatus)> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let s = match observed.get(i).copied().flatten() {
                Some(obj) => kstatus_at(obj, now_unix).status,
                None => KStatus::NotFound,
            };
            (t.object.clone(), s)
        })
        .collect();
    let failed: Vec<_> = statuses
        .iter()
        .filter(|(_, s)| *s == KStatus::Failed)
        .cloned()
        .collect();
    let all_terminal = statuses
        .iter()
        .all(|(_, s)| matches!(s, KStatus::Current | KStatus::Failed));
    if failed.is_empty() && all_terminal {
        return HealthVerdict::Healthy;
    }
    if !failed.is_empty() && (fail_fast || all_terminal) {
        return HealthVerdict::Stalled(failed);
    }
    HealthVerdict::Pending(
        statuses
            .into_iter()
            .filter(|(_, s)| *s != KStatus::Current)
            .collect(),
    )
}

fn list(items: &[(ObjectRef, KStatus)]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|(o, s)| format!("{} status: '{}'", o.display(), s.as_str()))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The failure for a stalled verdict after `elapsed`.
pub fn stalled_error(items: &[(ObjectRef, KStatus)], elapsed: Duration) -> ReconcileError {
    ReconcileError::HealthCheckFailed(format!(
        "health check failed after {}: failed early due to stalled resources: {}",
        format_duration(elapsed),
        list(items)
    ))
}

/// The failure when the timeout expires with objects still pending.
pub fn timeout_error(pending: &[(ObjectRef, KStatus)], elapsed: Duration) -> ReconcileError {
    ReconcileError::HealthCheckFailed(format!(
        "health check failed after {}: timeout waiting for: {}",
        format_duration(elapsed),
        list(pending)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::kustomization::inventory::InventoryEntry;
    use crate::controllers::kustomization::prune::ChangeSetEntry;
    use crate::controllers::kustomization::spec::parse_spec;
    use serde_json::json;

    fn entry(api: &str, kind: &str, ns: &str, name: &str, action: ApplyAction) -> ChangeSetEntry {
        ChangeSetEntry {
            entry: InventoryEntry::of(
                &json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns}}),
            ),
            action,
        }
    }

    fn spec(extra: Value) -> KustomizationSpec {
        let mut s = json!({"interval": "5m", "sourceRef": {"kind": "GitRepository", "name": "r"}});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        parse_spec(&s, "flux-system").unwrap()
    }

    #[test]
    fn targets_follow_wait_and_health_checks() {
        let apply = SuccessfulApply::new(vec![
            entry("apps/v1", "Deployment", "a", "web", ApplyAction::Created),
            entry("v1", "ConfigMap", "a", "skip", ApplyAction::Skipped),
            entry(
                "kustomize.toolkit.fluxcd.io/v1",
                "Kustomization",
                "flux-system",
                "apps",
                ApplyAction::Unchanged,
            ),
        ]);
        let t = health_targets(
            &spec(json!({"wait": true, "healthChecks": [{"kind": "X", "name": "y"}]})),
            &apply,
            "apps",
            "flux-system",
        );
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].api_version, "apps/v1");
        let t = health_targets(
            &spec(
                json!({"healthChecks": [{"kind": "Deployment", "name": "web", "namespace": "a"}]}),
            ),
            &apply,
            "apps",
            "flux-system",
        );
        assert_eq!(t[0].object.group, "apps");
        assert!(health_targets(&spec(json!({})), &apply, "apps", "flux-system").is_empty());
    }

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
            stalled_error(&items, Duration::from_secs(5)).to_string(),
            "health check failed after 5s: failed early due to stalled resources: [Deployment/a/bad status: 'Failed']"
        );
        let v = assess(&targets, &[Some(&ready), Some(&failed), None], false, 0);
        let HealthVerdict::Pending(items) = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            timeout_error(&items, Duration::from_secs(300)).to_string(),
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
}
