//! The resource registry: built-in kinds plus kinds served from CustomResourceDefinitions (§A12).

use super::errors::ApiError;
use super::table::Column;
use crate::patch::{ListType, TypeMeta};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

/// One served version of a resource.
#[derive(Debug, Clone)]
pub struct VersionDef {
    /// `v1`, `v1beta2`, ...
    pub name: String,
    /// Printer columns (CRD `additionalPrinterColumns`; fixed ones for built-ins).
    pub columns: Vec<Column>,
    /// The version's `openAPIV3Schema` (CRDs only), for list types.
    pub schema: Option<Value>,
}

/// A served resource (one kind in one group, any number of versions).
#[derive(Debug, Clone)]
pub struct ResourceDef {
    /// API group, `""` for core.
    pub group: String,
    /// Served versions, preferred first.
    pub versions: Vec<VersionDef>,
    /// The storage version (objects are stored with this apiVersion).
    pub storage_version: String,
    /// Kind.
    pub kind: String,
    /// List kind (`<Kind>List`).
    pub list_kind: String,
    /// Resource plural.
    pub plural: String,
    /// Lowercase singular.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names for discovery.
    pub short_names: Vec<String>,
    /// Categories for discovery (`all`).
    pub categories: Vec<String>,
    /// Whether the kind has a `/status` subresource.
    pub has_status: bool,
    /// Whether create sets `metadata.generation`.
    pub tracks_generation: bool,
    /// Whether the kind comes from a CRD.
    pub custom: bool,
    /// Whether DELETE answers with the object instead of a Status (Pods, ServiceAccounts).
    pub delete_returns_object: bool,
    /// Extra field-selector fields besides metadata.name/namespace.
    pub field_labels: &'static [&'static str],
}

impl ResourceDef {
    /// Storage key of the resource, independent of the version.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// `group/version` (or `v1` for core).
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// The stored apiVersion.
    pub fn storage_api_version(&self) -> String {
        self.api_version(&self.storage_version)
    }

    /// The definition of a served version.
    pub fn version(&self, v: &str) -> Option<&VersionDef> {
        self.versions.iter().find(|x| x.name == v)
    }

    /// Whether a field-selector field is supported.
    pub fn supports_field(&self, field: &str) -> bool {
        matches!(field, "metadata.name" | "metadata.namespace")
            || self.field_labels.contains(&field)
    }

    /// Whether field selectors need the full object (anything beyond name and namespace).
    pub fn field_selector_needs_object(&self) -> bool {
        !self.field_labels.is_empty()
    }

    /// The list type of a field path, for server-side apply.
    pub fn list_type(&self, path: &[&str]) -> ListType {
        match path {
            ["metadata", "finalizers"] => return ListType::Set,
            ["metadata", "ownerReferences"] => return ListType::Map(&["uid"]),
            _ => {}
        }
        if !self.custom {
            let av = self.storage_api_version();
            return crate::patch::list_type(
                TypeMeta {
                    api_version: &av,
                    kind: &self.kind,
                },
                path,
            );
        }
        let schema = self
            .version(&self.storage_version)
            .and_then(|v| v.schema.as_ref());
        match schema {
            Some(s) => schema_list_type(s, path),
            None => ListType::Atomic,
        }
    }
}

/// Follows a field path through an OpenAPI v3 schema and reads `x-kubernetes-list-type`.
fn schema_list_type(schema: &Value, path: &[&str]) -> ListType {
    let mut node = schema;
    for (i, field) in path.iter().enumerate() {
        let Some(next) = node.get("properties").and_then(|p| p.get(*field)) else {
            return ListType::Atomic;
        };
        node = next;
        if i + 1 < path.len() && node.get("type").and_then(Value::as_str) == Some("array") {
            // Descend into list items for deeper paths.
            match node.get("items") {
                Some(items) => node = items,
                None => return ListType::Atomic,
            }
        }
    }
    match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => ListType::Set,
        Some("map") => {
            let keys: Vec<String> = node
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if keys.is_empty() {
                ListType::Atomic
            } else {
                ListType::Map(intern_keys(keys))
            }
        }
        _ => ListType::Atomic,
    }
}

/// Interns a list of map keys as a `'static` slice. The set of distinct key lists is bounded by the
/// CRDs ever registered, so leaking them is bounded too.
fn intern_keys(keys: Vec<String>) -> &'static [&'static str] {
    static INTERNED: Mutex<Vec<&'static [&'static str]>> = Mutex::new(Vec::new());
    let mut table = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = table
        .iter()
        .find(|k| k.len() == keys.len() && k.iter().zip(&keys).all(|(a, b)| *a == b))
    {
        return found;
    }
    let leaked: Vec<&'static str> = keys
        .into_iter()
        .map(|k| &*Box::leak(k.into_boxed_str()))
        .collect();
    let slice: &'static [&'static str] = Box::leak(leaked.into_boxed_slice());
    table.push(slice);
    slice
}

/// Sorts versions by Kubernetes preference: GA > beta > alpha, higher numbers first, others last.
pub fn version_priority(v: &str) -> (u8, i64, i64, String) {
    let parsed = (|| {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let major: i64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((0u8, -major, 0i64));
        }
        for (stage, rank) in [("beta", 1u8), ("alpha", 2u8)] {
            if let Some(n) = tail.strip_prefix(stage) {
                let minor: i64 = if n.is_empty() { 0 } else { n.parse().ok()? };
                return Some((rank, -major, -minor));
            }
        }
        None
    })();
    match parsed {
        Some((rank, major, minor)) => (rank, major, minor, String::new()),
        None => (3, 0, 0, v.to_string()),
    }
}

const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "type",
    "reportingComponent",
    "source",
];
const NEW_EVENT_FIELDS: &[&str] = &[
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "reason",
    "type",
    "reportingController",
];
const POD_FIELDS: &[&str] = &["spec.nodeName", "status.phase", "spec.serviceAccountName"];
const SECRET_FIELDS: &[&str] = &["type"];
const NS_FIELDS: &[&str] = &["status.phase"];

fn col(name: &str, type_: &str, json_path: &str, priority: i64) -> Column {
    Column {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: String::new(),
        priority,
        json_path: json_path.into(),
    }
}

fn age() -> Column {
    col("Age", "date", ".metadata.creationTimestamp", 0)
}

/// Fixed printer columns for built-in kinds (after Name). `.flotilla.*` paths are computed cells
/// (see `reads::computed_cells`).
fn builtin_columns(kind: &str) -> Vec<Column> {
    match kind {
        "Deployment" => vec![
            col("Ready", "string", ".flotilla.ready", 0),
            col("Up-to-date", "integer", ".status.updatedReplicas", 0),
            col("Available", "integer", ".status.availableReplicas", 0),
            age(),
        ],
        "StatefulSet" => vec![col("Ready", "string", ".flotilla.ready", 0), age()],
        "ReplicaSet" => vec![
            col("Desired", "integer", ".spec.replicas", 0),
            col("Current", "integer", ".status.replicas", 0),
            col("Ready", "integer", ".status.readyReplicas", 0),
            age(),
        ],
        "DaemonSet" => vec![
            col("Desired", "integer", ".status.desiredNumberScheduled", 0),
            col("Current", "integer", ".status.currentNumberScheduled", 0),
            col("Ready", "integer", ".status.numberReady", 0),
            age(),
        ],
        "Pod" => vec![
            col("Ready", "string", ".flotilla.ready", 0),
            col("Status", "string", ".status.phase", 0),
            col("Restarts", "integer", ".flotilla.restarts", 0),
            age(),
        ],
        "Service" => vec![
            col("Type", "string", ".spec.type", 0),
            col("Cluster-IP", "string", ".spec.clusterIP", 0),
            age(),
        ],
        "Namespace" => vec![col("Status", "string", ".status.phase", 0), age()],
        "ConfigMap" => vec![col("Data", "integer", ".flotilla.data", 0), age()],
        "Secret" => vec![
            col("Type", "string", ".type", 0),
            col("Data", "integer", ".flotilla.data", 0),
            age(),
        ],
        "Job" => vec![
            col("Status", "string", ".flotilla.jobStatus", 0),
            col("Completions", "string", ".flotilla.completions", 0),
            age(),
        ],
        "CronJob" => vec![
            col("Schedule", "string", ".spec.schedule", 0),
            col("Suspend", "boolean", ".spec.suspend", 0),
            col("Last schedule", "date", ".status.lastScheduleTime", 0),
            age(),
        ],
        "PersistentVolumeClaim" => vec![
            col("Status", "string", ".status.phase", 0),
            col("Volume", "string", ".spec.volumeName", 0),
            age(),
        ],
        "Event" => vec![
            col("Type", "string", ".type", 0),
            col("Reason", "string", ".reason", 0),
            col("Message", "string", ".message", 0),
            age(),
        ],
        "CustomResourceDefinition" => {
            vec![col("Created At", "date", ".metadata.creationTimestamp", 0)]
        }
        _ => vec![age()],
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    generation: bool,
    fields: &'static [&'static str],
}

const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        short,
        all: false,
        status: false,
        generation: false,
        fields: &[],
    }
}

const fn workload(mut x: Builtin) -> Builtin {
    x.all = true;
    x.status = true;
    x.generation = true;
    x
}

const fn with_status(mut x: Builtin) -> Builtin {
    x.status = true;
    x
}

const fn fields(mut x: Builtin, f: &'static [&'static str]) -> Builtin {
    x.fields = f;
    x
}

const RBAC: &str = "rbac.authorization.k8s.io";

const BUILTINS: &[Builtin] = &[
    fields(
        with_status(b("", "v1", "Namespace", "namespaces", false, &["ns"])),
        NS_FIELDS,
    ),
    b("", "v1", "ConfigMap", "configmaps", true, &["cm"]),
    fields(b("", "v1", "Secret", "secrets", true, &[]), SECRET_FIELDS),
    {
        let mut s = with_status(b("", "v1", "Service", "services", true, &["svc"]));
        s.all = true;
        s
    },
    b("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"]),
    {
        let mut p = with_status(b("", "v1", "Pod", "pods", true, &["po"]));
        p.all = true;
        p.fields = POD_FIELDS;
        p
    },
    fields(b("", "v1", "Event", "events", true, &["ev"]), EVENT_FIELDS),
    with_status(b(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
    )),
    workload(b(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        &["deploy"],
    )),
    workload(b(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        &["sts"],
    )),
    workload(b("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"])),
    workload(b("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"])),
    fields(
        b("events.k8s.io", "v1", "Event", "events", true, &["ev"]),
        NEW_EVENT_FIELDS,
    ),
    workload(b("batch", "v1", "Job", "jobs", true, &[])),
    workload(b("batch", "v1", "CronJob", "cronjobs", true, &["cj"])),
    {
        let mut i = workload(b(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            true,
            &["ing"],
        ));
        i.all = false;
        i
    },
    b(RBAC, "v1", "Role", "roles", true, &[]),
    b(RBAC, "v1", "ClusterRole", "clusterroles", false, &[]),
    b(RBAC, "v1", "RoleBinding", "rolebindings", true, &[]),
    b(
        RBAC,
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
    ),
    {
        let mut h = workload(b(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
            &["hpa"],
        ));
        h.generation = false;
        h
    },
    b("coordination.k8s.io", "v1", "Lease", "leases", true, &[]),
    {
        let mut c = with_status(b(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            &["crd", "crds"],
        ));
        c.generation = true;
        c
    },
];

/// The registry of served resources, keyed by storage key (`group/plural`).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    resources: BTreeMap<String, Arc<ResourceDef>>,
    /// Bumped on every change; feeds the OpenAPI hashes.
    pub generation: u64,
}

impl Registry {
    /// The registry with every built-in kind.
    pub fn with_builtins() -> Registry {
        let mut r = Registry::default();
        for x in BUILTINS {
            let def = ResourceDef {
                group: x.group.into(),
                versions: vec![VersionDef {
                    name: x.version.into(),
                    columns: builtin_columns(x.kind),
                    schema: None,
                }],
                storage_version: x.version.into(),
                kind: x.kind.into(),
                list_kind: format!("{}List", x.kind),
                plural: x.plural.into(),
                singular: x.kind.to_ascii_lowercase(),
                namespaced: x.namespaced,
                short_names: x.short.iter().map(|s| s.to_string()).collect(),
                categories: if x.all { vec!["all".into()] } else { vec![] },
                has_status: x.status,
                tracks_generation: x.generation,
                custom: false,
                delete_returns_object: matches!(x.kind, "Pod" | "ServiceAccount"),
                field_labels: x.fields,
            };
            r.resources.insert(def.key(), Arc::new(def));
        }
        r
    }

    /// Every resource.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceDef>> {
        self.resources.values()
    }

    /// The resource served at `group/version/plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        let def = self.resources.get(&format!("{group}/{plural}"))?;
        def.version(version).map(|_| def.clone())
    }

    /// The resource with a storage key.
    pub fn by_key(&self, key: &str) -> Option<Arc<ResourceDef>> {
        self.resources.get(key).cloned()
    }

    /// Whether `group/version` is served by any resource.
    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.resources
            .values()
            .any(|d| d.group == group && d.version(version).is_some())
    }

    /// Groups (excluding core) with their versions ordered by preference; built-ins first.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut order: Vec<String> = Vec::new();
        for x in BUILTINS {
            if !x.group.is_empty() && !order.iter().any(|g| g == x.group) {
                order.push(x.group.into());
            }
        }
        let mut custom: Vec<String> = self
            .resources
            .values()
            .filter(|d| !d.group.is_empty() && !order.contains(&d.group))
            .map(|d| d.group.clone())
            .collect();
        custom.sort();
        custom.dedup();
        order.extend(custom);
        order
            .into_iter()
            .filter_map(|g| {
                let mut versions: Vec<String> = self
                    .resources
                    .values()
                    .filter(|d| d.group == g)
                    .flat_map(|d| d.versions.iter().map(|v| v.name.clone()))
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                if versions.is_empty() {
                    return None;
                }
                versions.sort_by_key(|v| version_priority(v));
                Some((g, versions))
            })
            .collect()
    }

    /// Resources served at `group/version`.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.resources
            .values()
            .filter(|d| d.group == group && d.version(version).is_some())
            .cloned()
            .collect()
    }

    /// Registers (or re-registers) the resource of an already validated CRD.
    pub fn register_crd(&mut self, crd: &Value) -> Result<Arc<ResourceDef>, ApiError> {
        let def = Arc::new(crd_to_def(crd)?);
        self.resources.insert(def.key(), def.clone());
        self.generation += 1;
        Ok(def)
    }

    /// Removes a custom resource by storage key.
    pub fn unregister(&mut self, key: &str) {
        if self.resources.get(key).is_some_and(|d| d.custom) {
            self.resources.remove(key);
            self.generation += 1;
        }
    }

    /// Validates a CRD against the registry (names, scope, versions, collisions) and fills in defaults
    /// and status. `existing` is the stored CRD on update.
    pub fn prepare_crd(
        &self,
        crd: &mut Value,
        existing: Option<&Value>,
        now: &str,
    ) -> Result<(), ApiError> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut causes: Vec<(&str, &'static str, String)> = Vec::new();
        let group = str_at(crd, "/spec/group");
        let plural = str_at(crd, "/spec/names/plural");
        let kind = str_at(crd, "/spec/names/kind");
        if group.is_empty() {
            causes.push(("spec.group", "FieldValueRequired", "Required value".into()));
        }
        if plural.is_empty() {
            causes.push((
                "spec.names.plural",
                "FieldValueRequired",
                "Required value".into(),
            ));
        }
        if kind.is_empty() {
            causes.push((
                "spec.names.kind",
                "FieldValueRequired",
                "Required value".into(),
            ));
        }
        if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
            causes.push((
                "metadata.name",
                "FieldValueInvalid",
                format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
            ));
        }
        let scope = str_at(crd, "/spec/scope");
        if scope != "Namespaced" && scope != "Cluster" {
            causes.push((
                "spec.scope",
                "FieldValueNotSupported",
                format!(
                    "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
                ),
            ));
        }
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let served = versions
            .iter()
            .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
            .count();
        let storage: Vec<&Value> = versions
            .iter()
            .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .collect();
        if versions.is_empty() {
            causes.push((
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: []: must have exactly one version marked as storage version".into(),
            ));
        } else {
            if served == 0 {
                causes.push((
                    "spec.versions",
                    "FieldValueInvalid",
                    "Invalid value: \"\": must have at least one version marked as served".into(),
                ));
            }
            if storage.len() != 1 {
                causes.push((
                    "spec.versions",
                    "FieldValueInvalid",
                    "Invalid value: \"\": must have exactly one version marked as storage version"
                        .into(),
                ));
            }
            for (i, v) in versions.iter().enumerate() {
                if v.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    causes.push((
                        "spec.versions[].name",
                        "FieldValueRequired",
                        format!("Required value: version {i} has no name"),
                    ));
                }
            }
        }
        // Names must not collide with another resource of the same group.
        let key = format!("{group}/{plural}");
        let singular_in = str_at(crd, "/spec/names/singular");
        let singular = if singular_in.is_empty() {
            kind.to_ascii_lowercase()
        } else {
            singular_in
        };
        for other in self.resources.values() {
            if other.group != group || other.key() == key {
                continue;
            }
            let mut theirs: Vec<&str> = vec![&other.plural, &other.singular];
            theirs.extend(other.short_names.iter().map(String::as_str));
            if theirs.contains(&plural.as_str()) || theirs.contains(&singular.as_str()) {
                causes.push((
                    "spec.names",
                    "FieldValueInvalid",
                    format!(
                        "Invalid value: \"{plural}\": names collide with resource {}",
                        other.plural
                    ),
                ));
            }
            if other.kind == kind {
                causes.push((
                    "spec.names.kind",
                    "FieldValueInvalid",
                    format!(
                        "Invalid value: \"{kind}\": kind is already served by {}",
                        other.plural
                    ),
                ));
            }
        }
        if let Some(old) = existing {
            // Objects are stored under their scope: changing it would strand them.
            for field in ["/spec/group", "/spec/names/plural", "/spec/scope"] {
                if old.pointer(field) != crd.pointer(field) {
                    causes.push((
                        "spec",
                        "FieldValueInvalid",
                        format!("Invalid value: {field} is immutable"),
                    ));
                }
            }
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                &name,
                &causes,
            ));
        }
        // Defaults.
        let names = &mut crd["spec"]["names"];
        if names
            .get("singular")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            names["singular"] = json!(singular);
        }
        if names
            .get("listKind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            names["listKind"] = json!(format!("{kind}List"));
        }
        let accepted = names.clone();
        let storage_name = storage
            .first()
            .and_then(|v| v.get("name"))
            .cloned()
            .unwrap_or(Value::Null);
        let mut stored_versions: Vec<Value> = existing
            .and_then(|o| o.pointer("/status/storedVersions"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !stored_versions.contains(&storage_name) {
            stored_versions.push(storage_name);
        }
        let transition = existing
            .and_then(|o| o.pointer("/status/conditions/0/lastTransitionTime"))
            .and_then(Value::as_str)
            .unwrap_or(now)
            .to_string();
        crd["status"] = json!({
            "acceptedNames": accepted,
            "storedVersions": stored_versions,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": transition},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": transition},
            ],
        });
        Ok(())
    }
}

fn str_at(v: &Value, ptr: &str) -> String {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Builds the served resource of a prepared CRD.
fn crd_to_def(crd: &Value) -> Result<ResourceDef, ApiError> {
    let name = str_at(crd, "/metadata/name");
    let group = str_at(crd, "/spec/group");
    let kind = str_at(crd, "/spec/names/kind");
    let plural = str_at(crd, "/spec/names/plural");
    let strings = |ptr: &str| -> Vec<String> {
        crd.pointer(ptr)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let all_versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut storage_version = String::new();
    let mut has_status = false;
    let mut versions = Vec::new();
    for v in &all_versions {
        let vname = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage_version = vname.clone();
        }
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        if v.pointer("/subresources/status").is_some() {
            has_status = true;
        }
        let mut columns: Vec<Column> = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| Column {
                        name: c.get("name").and_then(Value::as_str).unwrap_or("").into(),
                        type_: c
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("string")
                            .into(),
                        format: c.get("format").and_then(Value::as_str).unwrap_or("").into(),
                        description: c
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .into(),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        json_path: c
                            .get("jsonPath")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .into(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if columns.is_empty() {
            columns.push(age());
        }
        versions.push(VersionDef {
            name: vname,
            columns,
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
        });
    }
    if versions.is_empty() || storage_version.is_empty() {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            &name,
            &[(
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: no served or no storage version".into(),
            )],
        ));
    }
    versions.sort_by_key(|v| version_priority(&v.name));
    let list_kind = {
        let lk = str_at(crd, "/spec/names/listKind");
        if lk.is_empty() {
            format!("{kind}List")
        } else {
            lk
        }
    };
    let singular = {
        let s = str_at(crd, "/spec/names/singular");
        if s.is_empty() {
            kind.to_ascii_lowercase()
        } else {
            s
        }
    };
    Ok(ResourceDef {
        group,
        versions,
        storage_version,
        kind,
        list_kind,
        plural,
        singular,
        namespaced: str_at(crd, "/spec/scope") == "Namespaced",
        short_names: strings("/spec/names/shortNames"),
        categories: strings("/spec/names/categories"),
        has_status,
        tracks_generation: true,
        custom: true,
        delete_returns_object: false,
        field_labels: &[],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_kubernetes_preference() {
        let mut v = vec!["v1beta1", "v1alpha1", "v2", "v1", "v1beta2", "foo"];
        v.sort_by_key(|x| version_priority(x));
        assert_eq!(v, ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }

    #[test]
    fn compact_crds_register() {
        let mut r = Registry::with_builtins();
        for mut crd in crate::model::crd::compact_crds() {
            r.prepare_crd(&mut crd, None, "2026-01-01T00:00:00Z")
                .unwrap();
            r.register_crd(&crd).unwrap();
        }
        let ks = r
            .find("kustomize.toolkit.fluxcd.io", "v1beta2", "kustomizations")
            .unwrap();
        assert_eq!(ks.storage_version, "v1");
        assert!(ks.has_status);
    }

    #[test]
    fn crd_with_wrong_name_is_invalid() {
        let r = Registry::with_builtins();
        let mut crd = json!({"metadata":{"name":"x"},"spec":{"group":"example.dev","scope":"Namespaced",
            "names":{"plural":"widgets","kind":"Widget"},"versions":[{"name":"v1","served":true,"storage":true}]}});
        let e = r.prepare_crd(&mut crd, None, "now").unwrap_err();
        assert_eq!(e.code, 422);
    }

    #[test]
    fn crd_scope_is_immutable() {
        let r = Registry::with_builtins();
        let crd = |scope: &str| {
            json!({"metadata":{"name":"widgets.example.dev"},"spec":{"group":"example.dev","scope":scope,
                "names":{"plural":"widgets","kind":"Widget"},"versions":[{"name":"v1","served":true,"storage":true}]}})
        };
        let old = crd("Namespaced");
        assert!(
            r.prepare_crd(&mut crd("Namespaced"), Some(&old), "now")
                .is_ok()
        );
        let e = r
            .prepare_crd(&mut crd("Cluster"), Some(&old), "now")
            .unwrap_err();
        assert_eq!(e.code, 422);
        assert!(
            e.message.contains("/spec/scope is immutable"),
            "{}",
            e.message
        );
    }

    #[test]
    fn schema_list_types_are_read() {
        let schema = json!({"type":"object","properties":{"spec":{"type":"object","properties":{
            "items":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"],
              "items":{"type":"object","properties":{"tags":{"type":"array","x-kubernetes-list-type":"set"}}}}}}}});
        assert_eq!(
            schema_list_type(&schema, &["spec", "items"]),
            ListType::Map(&["name"])
        );
        assert_eq!(
            schema_list_type(&schema, &["spec", "items", "tags"]),
            ListType::Set
        );
        assert_eq!(
            schema_list_type(&schema, &["spec", "nope"]),
            ListType::Atomic
        );
    }
}
