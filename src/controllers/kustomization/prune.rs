//! Garbage collection decisions specific to the Kustomization: what deleting it does, and its
//! prune failures as [`ReconcileError`]s. The generic rules are [`crate::apply::prune`].

use super::error::ReconcileError;
use super::spec::{DeletionPolicy, KustomizationSpec};
use crate::apply::inventory::Inventory;
use crate::apply::{DeleteMode, PruneOutcome};

/// Whether deleting the Kustomization deletes its inventory (then in [`deletion_order`]).
pub fn delete_on_finalize(spec: &KustomizationSpec, inventory: &Inventory) -> bool {
    if spec.suspend || inventory.is_empty() {
        return false;
    }
    match spec.deletion_policy {
        DeletionPolicy::Delete | DeletionPolicy::WaitForTermination => true,
        DeletionPolicy::MirrorPrune => spec.prune,
        DeletionPolicy::Orphan => false,
    }
}

/// How the inventory is deleted under `policy` (`None`: Orphan, nothing is deleted).
pub fn delete_mode(policy: DeletionPolicy) -> Option<DeleteMode> {
    match policy {
        DeletionPolicy::Orphan => None,
        DeletionPolicy::WaitForTermination => Some(DeleteMode::WaitForTermination),
        DeletionPolicy::Delete | DeletionPolicy::MirrorPrune => Some(DeleteMode::Background),
    }
}

/// `PruneFailed` naming every object that could not be deleted, if any.
pub fn prune_error(outcome: &PruneOutcome) -> Option<ReconcileError> {
    outcome
        .error()
        .map(|m| ReconcileError::PruneFailed(m.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::inventory::InventoryEntry;
    use crate::controllers::kustomization::spec::parse_spec;
    use serde_json::{Value, json};

    fn entry(api: &str, kind: &str, ns: Option<&str>, name: &str) -> InventoryEntry {
        let mut o = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
        if let Some(ns) = ns {
            o["metadata"]["namespace"] = json!(ns);
        }
        InventoryEntry::of(&o)
    }

    #[test]
    fn finalize_deletion_policy() {
        let inv = Inventory {
            entries: vec![entry("v1", "ConfigMap", Some("a"), "c")],
        };
        let spec = |extra: Value| {
            let mut s =
                json!({"interval": "1m", "sourceRef": {"kind": "GitRepository", "name": "r"}});
            for (k, v) in extra.as_object().unwrap() {
                s[k] = v.clone();
            }
            parse_spec(&s, "ns").unwrap()
        };
        assert!(delete_on_finalize(&spec(json!({"prune": true})), &inv));
        assert!(!delete_on_finalize(&spec(json!({"prune": false})), &inv));
        assert!(delete_on_finalize(
            &spec(json!({"prune": false, "deletionPolicy": "Delete"})),
            &inv
        ));
        assert!(delete_on_finalize(
            &spec(json!({"deletionPolicy": "WaitForTermination"})),
            &inv
        ));
        assert!(!delete_on_finalize(
            &spec(json!({"prune": true, "deletionPolicy": "Orphan"})),
            &inv
        ));
        assert!(!delete_on_finalize(
            &spec(json!({"prune": true, "suspend": true})),
            &inv
        ));
        assert!(!delete_on_finalize(
            &spec(json!({"prune": true})),
            &Inventory::default()
        ));
    }
}
