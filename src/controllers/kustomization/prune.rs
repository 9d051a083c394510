//! Garbage collection: which objects leaving the inventory may be deleted, in which order, and what
//! deleting the Kustomization itself does.

use serde_json::Value;

use super::inventory::{Inventory, InventoryEntry, ObjectRef};
use super::spec::{DeletionPolicy, KustomizationSpec};
use super::stages::{
    ApplyAction, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, PRUNE_KEY, RECONCILE_KEY, SSA_KEY,
    compare_refs,
};

/// One object of a change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetEntry {
    /// The inventory entry of the object.
    pub entry: InventoryEntry,
    /// What the apply did.
    pub action: ApplyAction,
}

/// The change set of an apply that fully succeeded. Only this type unlocks pruning, so a failed
/// build or apply can never prune.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessfulApply {
    entries: Vec<ChangeSetEntry>,
}

impl SuccessfulApply {
    /// Records a complete, error-free apply of every staged object, in change-set order.
    pub fn new(entries: Vec<ChangeSetEntry>) -> Self {
        SuccessfulApply { entries }
    }

    /// The change set.
    pub fn entries(&self) -> &[ChangeSetEntry] {
        &self.entries
    }

    /// The new inventory: every change-set entry (skipped ones included), in order.
    pub fn inventory(&self) -> Inventory {
        let mut inv = Inventory::default();
        for e in &self.entries {
            inv.push(e.entry.clone());
        }
        inv
    }
}

/// The stale objects to garbage-collect after `apply`, in deletion order (reverse apply order).
/// Empty when `prune` is off.
pub fn stale_objects(old: &Inventory, apply: &SuccessfulApply, prune: bool) -> Vec<InventoryEntry> {
    if !prune {
        return Vec::new();
    }
    deletion_order(old.stale(&apply.inventory()))
}

/// Sorts entries for deletion: the reverse of Flux's apply order.
pub fn deletion_order(mut entries: Vec<InventoryEntry>) -> Vec<InventoryEntry> {
    entries.sort_by(|a, b| compare_refs(&b.object, &a.object));
    entries
}

/// The verdict on one stale object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneDecision {
    /// Delete it (propagation Background).
    Delete,
    /// Already gone: counts as deleted.
    AlreadyGone,
    /// Leave it: the reason is for the log.
    Skip(String),
}

fn meta_value<'a>(obj: &'a Value, map: &str, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(map)?.get(key)?.as_str()
}

fn flagged(obj: &Value, key: &str, value: &str) -> bool {
    ["labels", "annotations"]
        .iter()
        .any(|m| meta_value(obj, m, key).is_some_and(|v| v.eq_ignore_ascii_case(value)))
}

/// Whether a live stale object may be deleted by the Kustomization `ks_namespace/ks_name`.
pub fn prune_decision(live: Option<&Value>, ks_name: &str, ks_namespace: &str) -> PruneDecision {
    let Some(live) = live else {
        return PruneDecision::AlreadyGone;
    };
    let owned = meta_value(live, "labels", OWNER_NAME_LABEL) == Some(ks_name)
        && meta_value(live, "labels", OWNER_NAMESPACE_LABEL) == Some(ks_namespace);
    if !owned {
        return PruneDecision::Skip(format!(
            "{} is not owned by Kustomization {ks_namespace}/{ks_name}",
            ObjectRef::of(live).display()
        ));
    }
    for (key, value) in [
        (PRUNE_KEY, "disabled"),
        (RECONCILE_KEY, "disabled"),
        (SSA_KEY, "Ignore"),
    ] {
        if flagged(live, key, value) {
            return PruneDecision::Skip(format!(
                "{} has {key}: {value}",
                ObjectRef::of(live).display()
            ));
        }
    }
    PruneDecision::Delete
}

/// The inventory after a prune: the new inventory plus stale objects that could not be deleted
/// (Flux re-adds them so the next run retries).
pub fn inventory_after_prune(new: &Inventory, undeleted: &[InventoryEntry]) -> Inventory {
    let mut inv = new.clone();
    for e in undeleted {
        inv.push(e.clone());
    }
    inv
}

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

/// Flux's change line for a deleted object: `<Kind>/<ns>/<name> deleted`.
pub fn deleted_line(entry: &InventoryEntry) -> String {
    format!("{} deleted", entry.object.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::kustomization::spec::parse_spec;
    use serde_json::json;

    fn obj(api: &str, kind: &str, ns: Option<&str>, name: &str) -> Value {
        let mut o = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
        if let Some(ns) = ns {
            o["metadata"]["namespace"] = json!(ns);
        }
        o
    }

    fn entry(api: &str, kind: &str, ns: Option<&str>, name: &str) -> InventoryEntry {
        InventoryEntry::of(&obj(api, kind, ns, name))
    }

    #[test]
    fn stale_objects_are_deleted_in_reverse_apply_order() {
        let old = Inventory {
            entries: vec![
                entry("v1", "Namespace", None, "old"),
                entry(
                    "apiextensions.k8s.io/v1",
                    "CustomResourceDefinition",
                    None,
                    "w.example.com",
                ),
                entry("v1", "ConfigMap", Some("old"), "c"),
                entry("apps/v1", "Deployment", Some("old"), "d"),
                entry("example.com/v1", "Widget", Some("old"), "w"),
                entry("v1", "ConfigMap", Some("apps"), "kept"),
            ],
        };
        let apply = SuccessfulApply::new(vec![ChangeSetEntry {
            entry: entry("v1", "ConfigMap", Some("apps"), "kept"),
            action: ApplyAction::Unchanged,
        }]);
        let ids: Vec<String> = stale_objects(&old, &apply, true)
            .iter()
            .map(|e| e.object.display())
            .collect();
        assert_eq!(
            ids,
            [
                "Widget/old/w",
                "Deployment/old/d",
                "ConfigMap/old/c",
                "Namespace/old",
                "CustomResourceDefinition/w.example.com"
            ]
        );
        assert!(stale_objects(&old, &apply, false).is_empty());
    }

    #[test]
    fn empty_successful_build_prunes_everything() {
        let old = Inventory {
            entries: vec![entry("v1", "ConfigMap", Some("a"), "c")],
        };
        assert_eq!(
            stale_objects(&old, &SuccessfulApply::new(vec![]), true).len(),
            1
        );
    }

    #[test]
    fn prune_safety_rules() {
        let mut live = obj("v1", "ConfigMap", Some("a"), "c");
        live["metadata"]["labels"] =
            json!({OWNER_NAME_LABEL: "apps", OWNER_NAMESPACE_LABEL: "flux-system"});
        assert_eq!(
            prune_decision(Some(&live), "apps", "flux-system"),
            PruneDecision::Delete
        );
        assert_eq!(
            prune_decision(None, "apps", "flux-system"),
            PruneDecision::AlreadyGone
        );
        assert!(matches!(
            prune_decision(Some(&live), "apps", "other"),
            PruneDecision::Skip(_)
        ));
        assert!(matches!(
            prune_decision(Some(&live), "infra", "flux-system"),
            PruneDecision::Skip(_)
        ));
        let mut half = live.clone();
        half["metadata"]["labels"] = json!({OWNER_NAME_LABEL: "apps"});
        assert!(matches!(
            prune_decision(Some(&half), "apps", "flux-system"),
            PruneDecision::Skip(_)
        ));
        for (map, key, value) in [
            ("annotations", PRUNE_KEY, "disabled"),
            ("labels", PRUNE_KEY, "Disabled"),
            ("annotations", RECONCILE_KEY, "disabled"),
            ("annotations", SSA_KEY, "ignore"),
        ] {
            let mut l = live.clone();
            l["metadata"][map][key] = json!(value);
            assert!(
                matches!(
                    prune_decision(Some(&l), "apps", "flux-system"),
                    PruneDecision::Skip(_)
                ),
                "{key}"
            );
        }
        let junk = json!({"metadata": {"labels": 5}});
        assert!(matches!(
            prune_decision(Some(&junk), "apps", "flux-system"),
            PruneDecision::Skip(_)
        ));
    }

    #[test]
    fn undeleted_are_re_added() {
        let new = Inventory {
            entries: vec![entry("v1", "ConfigMap", Some("a"), "n")],
        };
        let left = vec![entry("v1", "ConfigMap", Some("a"), "o")];
        let inv = inventory_after_prune(&new, &left);
        assert_eq!(inv.entries.len(), 2);
        assert_eq!(inv.entries[1].object.name, "o");
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
