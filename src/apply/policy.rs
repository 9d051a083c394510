//! The per-object server-side-apply policy of Flux (ssa `ApplyOptions` selectors as the
//! kustomize-controller sets them): skip, IfNotPresent, force-recreate and Merge, the metadata
//! cleaned up before apply, and the change lines of a change set.

use serde_json::{Map, Value};

use super::inventory::ObjectRef;

/// Flux's kustomize-controller field manager, the default of [`super::Applier::new`].
pub const FIELD_MANAGER: &str = "kustomize-controller";
/// `disabled` here excludes an object from reconciliation and pruning.
pub const RECONCILE_KEY: &str = "kustomize.toolkit.fluxcd.io/reconcile";
/// SSA policy key (`Ignore`, `IfNotPresent`, `Merge`, `Override`).
pub const SSA_KEY: &str = "kustomize.toolkit.fluxcd.io/ssa";
/// `enabled` here allows recreating the object on immutable-field errors.
pub const FORCE_KEY: &str = "kustomize.toolkit.fluxcd.io/force";
/// `disabled` here keeps the object when it leaves the inventory.
pub const PRUNE_KEY: &str = "kustomize.toolkit.fluxcd.io/prune";

/// The value of a Flux key on an object, from its labels or (if not a label) its annotations.
pub fn flux_key<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    let md = obj.get("metadata")?;
    ["labels", "annotations"]
        .iter()
        .find_map(|k| md.get(*k)?.get(key)?.as_str())
}

fn has_value(obj: Option<&Value>, key: &str, value: &str) -> bool {
    obj.and_then(|o| {
        let md = o.get("metadata")?;
        Some(["labels", "annotations"].iter().any(|k| {
            md.get(*k)
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(value))
        }))
    })
    .unwrap_or(false)
}

/// What to do with one object during apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyPolicy {
    /// Do not apply (reported as `skipped`, still inventoried).
    Skip,
    /// Apply with SSA.
    Apply {
        /// Recreate the object when the dry-run reports an immutable-field change.
        force: bool,
        /// `ssa: Merge`: keep kubectl leftovers (no annotation/managedFields cleanup).
        merge: bool,
    },
}

/// The per-object SSA policy from the desired object, the live one (if it exists) and `spec.force`.
pub fn apply_policy(desired: &Value, live: Option<&Value>, spec_force: bool) -> ApplyPolicy {
    let either = |key: &str, value: &str| {
        has_value(Some(desired), key, value) || has_value(live, key, value)
    };
    if either(RECONCILE_KEY, "disabled") || either(SSA_KEY, "Ignore") {
        return ApplyPolicy::Skip;
    }
    if live.is_some() && has_value(Some(desired), SSA_KEY, "IfNotPresent") {
        return ApplyPolicy::Skip;
    }
    ApplyPolicy::Apply {
        force: spec_force || either(FORCE_KEY, "enabled"),
        merge: has_value(Some(desired), SSA_KEY, "Merge"),
    }
}

/// Annotations removed from live objects before apply unless `ssa: Merge`.
pub const CLEANUP_ANNOTATIONS: [&str; 3] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
];
/// Labels removed from live objects before apply unless `ssa: Merge`.
pub const CLEANUP_LABELS: [&str; 1] = ["fluxcd.io/sync-gc-mark"];

/// The outcome of applying one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyAction {
    /// Newly created.
    Created,
    /// Changed.
    Configured,
    /// No drift, not written.
    Unchanged,
    /// Excluded by policy.
    Skipped,
}

impl ApplyAction {
    /// Flux's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Skipped => "skipped",
        }
    }
}

/// Flux's change line `<Kind>/<ns>/<name> <action>` (namespace omitted when cluster-scoped).
pub fn change_line(obj: &Value, action: ApplyAction) -> String {
    format!("{} {}", ObjectRef::of(obj).display(), action.as_str())
}

/// Owner labels `<group>/name` and `<group>/namespace` naming the object that applies (and may
/// prune) an object, as Flux's ssa `Owner` (e.g. group `kustomize.toolkit.fluxcd.io`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The label prefix (the owning kind's API group).
    pub group: String,
    /// The owner's name.
    pub name: String,
    /// The owner's namespace.
    pub namespace: String,
}

impl Owner {
    /// The owner `namespace/name` labelling with `<group>/…`.
    pub fn new(group: &str, name: &str, namespace: &str) -> Owner {
        Owner {
            group: group.to_string(),
            name: name.to_string(),
            namespace: namespace.to_string(),
        }
    }

    /// The label holding the owner's name.
    pub fn name_label(&self) -> String {
        format!("{}/name", self.group)
    }

    /// The label holding the owner's namespace.
    pub fn namespace_label(&self) -> String {
        format!("{}/namespace", self.group)
    }

    /// Whether a live object carries both owner labels of this owner.
    pub fn owns(&self, live: &Value) -> bool {
        let label = |k: &str| {
            live.get("metadata")
                .and_then(|m| m.get("labels"))
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
        };
        label(&self.name_label()) == Some(self.name.as_str())
            && label(&self.namespace_label()) == Some(self.namespace.as_str())
    }

    /// Sets both owner labels on a desired object (they win over anything already there).
    pub fn label(&self, obj: &mut Value) {
        let Some(root) = obj.as_object_mut() else {
            return;
        };
        let md = root
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !md.is_object() {
            *md = Value::Object(Map::new());
        }
        let Some(md) = md.as_object_mut() else {
            return;
        };
        let labels = md
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        if let Some(m) = labels.as_object_mut() {
            m.insert(self.name_label(), Value::String(self.name.clone()));
            m.insert(
                self.namespace_label(),
                Value::String(self.namespace.clone()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn o(api: &str, kind: &str, ns: Option<&str>, name: &str) -> Value {
        let mut v = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
        if let Some(ns) = ns {
            v["metadata"]["namespace"] = json!(ns);
        }
        v
    }

    #[test]
    fn per_object_policy() {
        let plain = o("v1", "ConfigMap", Some("a"), "c");
        let with = |kind: &str, key: &str, val: &str| {
            let mut v = plain.clone();
            v["metadata"][kind] = json!({key: val});
            v
        };
        assert_eq!(
            apply_policy(&plain, None, false),
            ApplyPolicy::Apply {
                force: false,
                merge: false
            }
        );
        assert_eq!(
            apply_policy(&plain, None, true),
            ApplyPolicy::Apply {
                force: true,
                merge: false
            }
        );
        assert_eq!(
            apply_policy(&with("labels", SSA_KEY, "ignore"), None, false),
            ApplyPolicy::Skip
        );
        assert_eq!(
            apply_policy(
                &plain,
                Some(&with("annotations", RECONCILE_KEY, "Disabled")),
                false
            ),
            ApplyPolicy::Skip
        );
        let inp = with("annotations", SSA_KEY, "IfNotPresent");
        assert_eq!(apply_policy(&inp, Some(&plain), false), ApplyPolicy::Skip);
        assert!(matches!(
            apply_policy(&inp, None, false),
            ApplyPolicy::Apply { .. }
        ));
        assert_eq!(
            apply_policy(&with("annotations", SSA_KEY, "Merge"), None, false),
            ApplyPolicy::Apply {
                force: false,
                merge: true
            }
        );
        assert_eq!(
            apply_policy(&plain, Some(&with("labels", FORCE_KEY, "Enabled")), false),
            ApplyPolicy::Apply {
                force: true,
                merge: false
            }
        );
    }

    #[test]
    fn change_lines() {
        assert_eq!(
            change_line(&o("v1", "Namespace", None, "apps"), ApplyAction::Created),
            "Namespace/apps created"
        );
        assert_eq!(
            change_line(
                &o("apps/v1", "Deployment", Some("a"), "web"),
                ApplyAction::Configured
            ),
            "Deployment/a/web configured"
        );
    }

    #[test]
    fn owners_label_and_recognise_their_objects() {
        let owner = Owner::new("kustomize.toolkit.fluxcd.io", "apps", "flux-system");
        let mut obj = o("v1", "ConfigMap", Some("a"), "c");
        assert!(!owner.owns(&obj));
        owner.label(&mut obj);
        assert_eq!(
            obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"],
            "apps"
        );
        assert!(owner.owns(&obj));
        assert!(!Owner::new("kustomize.toolkit.fluxcd.io", "apps", "other").owns(&obj));
        assert!(!Owner::new("helm.toolkit.fluxcd.io", "apps", "flux-system").owns(&obj));
    }
}
