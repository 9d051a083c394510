//! Change sets and garbage collection (Flux ssa `ChangeSet` and `DeleteAll` rules): which objects
//! leaving an inventory may be deleted, and in which order.

use serde_json::Value;

use super::inventory::{Inventory, InventoryEntry, ObjectRef};
use super::policy::{ApplyAction, Owner, PRUNE_KEY, RECONCILE_KEY, SSA_KEY};
use super::stages::compare_refs;

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

/// Whether a live stale object may be deleted by `owner`.
pub fn prune_decision(live: Option<&Value>, owner: &Owner) -> PruneDecision {
    let Some(live) = live else {
        return PruneDecision::AlreadyGone;
    };
    if !owner.owns(live) {
        return PruneDecision::Skip(format!(
            "{} is not owned by {}/{}",
            ObjectRef::of(live).display(),
            owner.namespace,
            owner.name
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

/// Flux's change line for a deleted object: `<Kind>/<ns>/<name> deleted`.
pub fn deleted_line(entry: &InventoryEntry) -> String {
    format!("{} deleted", entry.object.display())
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn owner(name: &str, namespace: &str) -> Owner {
        Owner::new("kustomize.toolkit.fluxcd.io", name, namespace)
    }

    #[test]
    fn prune_safety_rules() {
        let mut live = obj("v1", "ConfigMap", Some("a"), "c");
        live["metadata"]["labels"] = json!({"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"});
        assert_eq!(
            prune_decision(Some(&live), &owner("apps", "flux-system")),
            PruneDecision::Delete
        );
        assert_eq!(
            prune_decision(None, &owner("apps", "flux-system")),
            PruneDecision::AlreadyGone
        );
        assert!(matches!(
            prune_decision(Some(&live), &owner("apps", "other")),
            PruneDecision::Skip(_)
        ));
        assert!(matches!(
            prune_decision(Some(&live), &owner("infra", "flux-system")),
            PruneDecision::Skip(_)
        ));
        let mut half = live.clone();
        half["metadata"]["labels"] = json!({"kustomize.toolkit.fluxcd.io/name": "apps"});
        assert!(matches!(
            prune_decision(Some(&half), &owner("apps", "flux-system")),
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
                    prune_decision(Some(&l), &owner("apps", "flux-system")),
                    PruneDecision::Skip(_)
                ),
                "{key}"
            );
        }
        let junk = json!({"metadata": {"labels": 5}});
        assert!(matches!(
            prune_decision(Some(&junk), &owner("apps", "flux-system")),
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
}
