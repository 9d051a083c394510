//! Inventories of applied objects (Flux's `status.inventory`): `{id, v}` entries with ids
//! `<namespace>_<name>_<group>_<kind>` (cli-utils `ObjMetadata` format).

use serde_json::{Value, json};

/// The identity of an object: namespace, name, group, kind (version excluded).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// API group, empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
}

impl ObjectRef {
    /// The identity of an object value (missing fields read as empty).
    pub fn of(obj: &Value) -> Self {
        let md = obj.get("metadata");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let (group, _) =
            split_api_version(obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""));
        ObjectRef {
            namespace: text(md.and_then(|m| m.get("namespace"))),
            name: text(md.and_then(|m| m.get("name"))),
            group: group.to_string(),
            kind: text(obj.get("kind")),
        }
    }

    /// The inventory id, e.g. `default_podinfo_apps_Deployment`.
    pub fn id(&self) -> String {
        crate::model::inventory::format_id(&self.namespace, &self.name, &self.group, &self.kind)
    }

    /// Parses an inventory id (see [`crate::model::inventory::parse_id`]).
    pub fn parse_id(id: &str) -> Option<Self> {
        crate::model::inventory::parse_id(id).map(|p| ObjectRef {
            namespace: p.namespace,
            name: p.name,
            group: p.group,
            kind: p.kind,
        })
    }

    /// `<Kind>/<ns>/<name>`, or `<Kind>/<name>` when cluster-scoped (Flux's change-log form).
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Splits `group/version` (core: `v1` → group empty).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// One inventory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryEntry {
    /// The object identity.
    pub object: ObjectRef,
    /// The API version the object was applied with (`v1`, `v1beta1`…).
    pub version: String,
}

impl InventoryEntry {
    /// The entry for an object value.
    pub fn of(obj: &Value) -> Self {
        let av = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        InventoryEntry {
            object: ObjectRef::of(obj),
            version: split_api_version(av).1.to_string(),
        }
    }

    /// The `apiVersion` to address the object with.
    pub fn api_version(&self) -> String {
        if self.object.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.object.group, self.version)
        }
    }
}

/// An inventory (of a Kustomization, a HelmRelease…): entries in change-set order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    /// The entries.
    pub entries: Vec<InventoryEntry>,
}

impl Inventory {
    /// Builds an inventory from objects in apply (change-set) order; duplicates keep the first.
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut inv = Inventory::default();
        for o in objects {
            inv.push(InventoryEntry::of(o));
        }
        inv
    }

    /// Appends an entry unless its object is already present.
    pub fn push(&mut self, entry: InventoryEntry) {
        if !self.contains(&entry.object) {
            self.entries.push(entry);
        }
    }

    /// Whether the object is in the inventory.
    pub fn contains(&self, object: &ObjectRef) -> bool {
        self.entries.iter().any(|e| &e.object == object)
    }

    /// Whether the inventory is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads `status.inventory` from a status value; malformed entries are skipped, a missing or
    /// malformed inventory is `None`.
    pub fn from_status(status: &Value) -> Option<Self> {
        let entries = status.get("inventory")?.get("entries");
        let list = match entries {
            None | Some(Value::Null) => return Some(Inventory::default()),
            Some(Value::Array(a)) => a,
            Some(_) => return None,
        };
        let mut inv = Inventory::default();
        for e in list {
            let Some(object) = e
                .get("id")
                .and_then(Value::as_str)
                .and_then(ObjectRef::parse_id)
            else {
                continue;
            };
            let version = e.get("v").and_then(Value::as_str).unwrap_or("").to_string();
            inv.push(InventoryEntry { object, version });
        }
        Some(inv)
    }

    /// The `status.inventory` value.
    pub fn to_value(&self) -> Value {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|e| json!({"id": e.object.id(), "v": e.version}))
            .collect();
        json!({ "entries": entries })
    }

    /// Entries of `self` (the old inventory) whose objects are not in `new`, in old order.
    pub fn stale(&self, new: &Inventory) -> Vec<InventoryEntry> {
        self.entries
            .iter()
            .filter(|e| !new.contains(&e.object))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(api: &str, kind: &str, ns: Option<&str>, name: &str) -> Value {
        let mut o = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
        if let Some(ns) = ns {
            o["metadata"]["namespace"] = json!(ns);
        }
        o
    }

    #[test]
    fn ids_match_flux_format_byte_for_byte() {
        let cases = [
            (
                obj("v1", "Service", Some("default"), "podinfo"),
                "default_podinfo__Service",
                "v1",
            ),
            (
                obj("apps/v1", "Deployment", Some("default"), "podinfo"),
                "default_podinfo_apps_Deployment",
                "v1",
            ),
            (
                obj("v1", "Namespace", None, "podinfo"),
                "_podinfo__Namespace",
                "v1",
            ),
            (
                obj(
                    "rbac.authorization.k8s.io/v1",
                    "ClusterRole",
                    None,
                    "system:foo",
                ),
                "_system__foo_rbac.authorization.k8s.io_ClusterRole",
                "v1",
            ),
            (
                obj("networking.k8s.io/v1beta1", "Ingress", Some("web"), "a:b"),
                "web_a:b_networking.k8s.io_Ingress",
                "v1beta1",
            ),
        ];
        for (o, id, v) in cases {
            let e = InventoryEntry::of(&o);
            assert_eq!(e.object.id(), id);
            assert_eq!(e.version, v);
            assert_eq!(ObjectRef::parse_id(id).unwrap(), e.object, "{id}");
        }
    }

    #[test]
    fn parse_handles_underscores_in_names() {
        let r = ObjectRef::parse_id("ns_my_name_apps_Deployment").unwrap();
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("ns", "my_name"));
        assert_eq!(r.group, "apps");
        for bad in ["", "abc", "a_b", "ns__apps_Deployment", "ns_x_g_"] {
            assert!(ObjectRef::parse_id(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn status_round_trip_and_garbage() {
        let inv = Inventory::from_objects(&[
            obj("v1", "Namespace", None, "apps"),
            obj("apps/v1", "Deployment", Some("apps"), "web"),
        ]);
        let status = json!({"inventory": inv.to_value()});
        assert_eq!(
            status["inventory"],
            json!({"entries": [{"id": "_apps__Namespace", "v": "v1"}, {"id": "apps_web_apps_Deployment", "v": "v1"}]})
        );
        assert_eq!(Inventory::from_status(&status).unwrap(), inv);
        let garbage = json!({"inventory": {"entries": [1, {"id": 3}, {"id": "bad"}, {"id": "a_b_c_D", "v": 5}]}});
        let parsed = Inventory::from_status(&garbage).unwrap();
        assert_eq!(parsed.entries.len(), 1);
        assert_eq!(parsed.entries[0].version, "");
        assert!(Inventory::from_status(&json!({})).is_none());
        assert!(Inventory::from_status(&json!({"inventory": {"entries": "x"}})).is_none());
        assert!(Inventory::from_status(&json!("nope")).is_none());
    }

    #[test]
    fn stale_compares_identity_not_version() {
        let old = Inventory::from_objects(&[
            obj("v1", "ConfigMap", Some("a"), "keep"),
            obj(
                "autoscaling/v2beta2",
                "HorizontalPodAutoscaler",
                Some("a"),
                "h",
            ),
            obj("v1", "ConfigMap", Some("a"), "gone"),
        ]);
        let new = Inventory::from_objects(&[
            obj("v1", "ConfigMap", Some("a"), "keep"),
            obj("autoscaling/v2", "HorizontalPodAutoscaler", Some("a"), "h"),
        ]);
        let stale = old.stale(&new);
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].object.id(), "a_gone__ConfigMap");
        assert_eq!(stale[0].api_version(), "v1");
    }
}
