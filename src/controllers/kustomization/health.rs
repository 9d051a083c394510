//! Which objects a Kustomization health-checks (flux-semantics §3.8); the verdicts, messages and
//! the wait loop are [`crate::apply::health`].

use super::error::ReconcileError;
use super::spec::KustomizationSpec;
use crate::apply::health::{HealthError, HealthTarget};
use crate::apply::inventory::{ObjectRef, split_api_version};
use crate::apply::policy::ApplyAction;
use crate::apply::prune::SuccessfulApply;

impl From<HealthError> for ReconcileError {
    fn from(e: HealthError) -> Self {
        ReconcileError::HealthCheckFailed(e.to_string())
    }
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
                    group: split_api_version(&h.api_version).0.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::inventory::InventoryEntry;
    use crate::apply::prune::ChangeSetEntry;
    use crate::controllers::kustomization::spec::parse_spec;
    use serde_json::{Value, json};

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
}
